/* DeleteGroups (key 42): answered once every group's tombstones are durable. */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"
#include "skein/forward.h"
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
    /* Relayed over several shards (skein/forward.h): the first run lays out
     * every group, each run deletes its shard's. */
    if (req->relay_hops == 0) {
        resp->results.n = n;
        resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
        for (int32_t i = 0; i < n; i++) {
            kp_delete_groups_response_deletable_group_result_init(&resp->results.v[i]);
            resp->results.v[i].group_id = body->groups_names.v[i];
            resp->results.v[i].error_code = SK_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    struct delete_op *op = sk_request_alloc(req, sizeof *op);
    op->req = req;
    op->pending = 1; /* held until every group has been started */
    for (int32_t i = 0; i < n; i++) {
        kp_delete_groups_response_deletable_group_result *r = &resp->results.v[i];
        if (!sk_request_group_here(req, r->group_id))
            continue;
        r->error_code = SK_ERR_NONE;
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
