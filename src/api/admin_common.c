/* Helpers the admin API handlers share. */
#include <string.h>

#include "admin.h"

const char *sk_admin_cstr(struct sk_request *req, kp_str s)
{
    size_t n = s.len < 0 ? 0 : (size_t)s.len;
    char *p = sk_request_alloc(req, n + 1);
    if (n)
        memcpy(p, s.ptr, n);
    return p;
}

kp_str sk_admin_msg(struct sk_request *req, const char *msg)
{
    return msg && msg[0] ? sk_request_strdup(req, msg) : KP_STR_NULL;
}

static void answer_parked(void *ctx)
{
    sk_request_respond(ctx);
}

struct sk_ctl_park *sk_admin_park(struct sk_request *req)
{
    struct sk_ctl_park *p = sk_request_alloc(req, sizeof *p);
    sk_ctl_park_begin(p, req->broker, &req->arena, answer_parked, req);
    return p;
}
