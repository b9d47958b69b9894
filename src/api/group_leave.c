/* LeaveGroup (key 13): one member before v3, a batch with per-member errors
 * from v3 on (KIP-345). */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"

typedef kp_leave_group_response_member_response member_resp;

static void leave_batch(struct sk_request *req, struct sk_group *g)
{
    const kp_leave_group_request *body = req->body;
    kp_leave_group_response *resp = req->resp;
    int32_t n = body->members.n > 0 ? body->members.n : 0;
    resp->members.n = n;
    resp->members.v = sk_request_alloc(req, sizeof *resp->members.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        const kp_leave_group_request_member_identity *id = &body->members.v[i];
        member_resp *o = &resp->members.v[i];
        kp_leave_group_response_member_response_init(o);
        o->member_id = id->member_id;
        o->group_instance_id = id->group_instance_id;
        /* An earlier leave may have emptied and removed nothing: the group
         * itself stays until deleted or expired. */
        o->error_code = sk_group_leave(g, id->member_id, id->group_instance_id);
    }
}

void sk_api_leave_group(struct sk_request *req)
{
    const kp_leave_group_request *body = req->body;
    kp_leave_group_response *resp = req->resp;
    struct sk_group_coordinator *co = req->broker->groups;
    int16_t err = sk_group_owner_error(co, body->group_id);
    struct sk_group *g = err ? NULL : sk_group_find(co, body->group_id);
    if (!err && !g)
        err = SK_ERR_UNKNOWN_MEMBER_ID;
    if (err)
        resp->error_code = err;
    else if (req->version < 3)
        resp->error_code = sk_group_leave(g, body->member_id, KP_STR_NULL);
    else
        leave_batch(req, g);
    sk_request_respond(req);
}
