/* Helpers the admin API handlers share. */
#ifndef SKEIN_API_ADMIN_H
#define SKEIN_API_ADMIN_H

#include "skein/api.h"

/* NUL-terminated copy in the request's arena ("" for a null string). */
const char *sk_admin_cstr(struct sk_request *req, kp_str s);
/* kp_str copy of msg in the arena, or null when msg is empty. */
kp_str sk_admin_msg(struct sk_request *req, const char *msg);

/* Topic operations reported when no authorizer is configured (AclOperation
 * bits: READ..DESCRIBE_CONFIGS, ALTER_CONFIGS). */
#define SK_ADMIN_TOPIC_OPERATIONS                                                              \
    ((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11))

#endif
