/* Helpers shared by the group and offset handlers. */
#ifndef SKEIN_API_GROUP_API_H
#define SKEIN_API_GROUP_API_H

#include "skein/api.h"
#include "skein/group.h"

/* A coordinator string copied into the request's arena (results of the
 * coordinator live only during its callbacks); null stays null. */
static inline kp_str sk_api_keep(struct sk_request *req, kp_str s)
{
    return sk_request_keep(req, s);
}

static inline kp_str sk_api_keep_or_empty(struct sk_request *req, kp_str s)
{
    return s.len >= 0 ? sk_request_keep(req, s) : kp_str_c("");
}

static inline kp_bytes sk_api_keep_bytes(struct sk_request *req, const uint8_t *p, int32_t len)
{
    if (!p || len <= 0)
        return (kp_bytes){(const uint8_t *)"", 0};
    uint8_t *c = sk_request_alloc(req, (size_t)len);
    memcpy(c, p, (size_t)len);
    return (kp_bytes){c, len};
}

/* "/1.2.3.4", as Kafka shows a member's client host. */
kp_str sk_api_client_host(struct sk_request *req);

#endif
