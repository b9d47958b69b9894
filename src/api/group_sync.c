/* SyncGroup (key 14): parks until the leader's assignments are stored. */
#include "gen/kp_all.h"
#include "group_api.h"

static void synced(void *arg, const struct sk_sync_result *r)
{
    struct sk_request *req = arg;
    kp_sync_group_response *resp = req->resp;
    resp->error_code = r->err;
    resp->protocol_type = sk_api_keep(req, r->protocol_type);
    resp->protocol_name = sk_api_keep(req, r->protocol_name);
    resp->assignment = sk_api_keep_bytes(req, r->assignment, r->assignment_len);
    sk_request_respond(req);
}

void sk_api_sync_group(struct sk_request *req)
{
    const kp_sync_group_request *body = req->body;
    int n = body->assignments.n > 0 ? body->assignments.n : 0;
    struct sk_sync_assignment_in *as = sk_request_alloc(req, sizeof *as * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        as[i] = (struct sk_sync_assignment_in){body->assignments.v[i].member_id,
                                               body->assignments.v[i].assignment};
    struct sk_sync_params p = {
        .group_id = body->group_id,
        .member_id = body->member_id,
        .instance_id = body->group_instance_id,
        .protocol_type = req->version >= 5 ? body->protocol_type : KP_STR_NULL,
        .protocol_name = req->version >= 5 ? body->protocol_name : KP_STR_NULL,
        .generation = body->generation_id,
        .assignments = as,
        .nassignments = n,
    };
    sk_group_sync(req->broker->groups, &p, synced, req);
}
