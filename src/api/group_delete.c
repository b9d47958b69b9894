/* DeleteGroups (key 42): answered once every group's tombstones are durable. */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/group_offsets.h"

struct delete_op {
    struct sk_request *req;
    int pending;
};

struct delete_one {
    struct delete_op *op;
    kp_delete_groups_response_deletable_group_result *result;
};

static void finish(struct delete_op *op)
{
    if (--op->pending == 0)
        sk_request_respond(op->req);
}

static void deleted(void *arg, int16_t err)
{
    struct delete_one *one = arg;
    one->result->error_code = err;
    finish(one->op);
}

void sk_api_delete_groups(struct sk_request *req)
{
    const kp_delete_groups_request *body = req->body;
    kp_delete_groups_response *resp = req->resp;
    int32_t n = body->groups_names.n > 0 ? body->groups_names.n : 0;
    resp->results.n = n;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
    struct delete_op *op = sk_request_alloc(req, sizeof *op);
    op->req = req;
    op->pending = 1; /* held until every group has been started */
    for (int32_t i = 0; i < n; i++) {
        kp_delete_groups_response_deletable_group_result *r = &resp->results.v[i];
        kp_delete_groups_response_deletable_group_result_init(r);
        r->group_id = body->groups_names.v[i];
        struct delete_one *one = sk_request_alloc(req, sizeof *one);
        *one = (struct delete_one){op, r};
        op->pending++;
        int16_t err = sk_group_delete(req->broker->groups, r->group_id, deleted, one);
        if (err) {
            r->error_code = err;
            op->pending--;
        }
    }
    finish(op);
}
