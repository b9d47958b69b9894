/* OffsetDelete (key 47, KIP-496): drop committed offsets of topics the group
 * no longer consumes. */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/group_offsets.h"

typedef kp_offset_delete_request_offset_delete_request_topic req_topic;

static struct sk_offset_delete_in *flatten(struct sk_request *req, int *count)
{
    const kp_offset_delete_request *body = req->body;
    int n = 0;
    for (int32_t t = 0; t < body->topics.n; t++)
        n += body->topics.v[t].partitions.n > 0 ? body->topics.v[t].partitions.n : 0;
    struct sk_offset_delete_in *items = sk_request_alloc(req, sizeof *items * (size_t)(n + 1));
    int k = 0;
    for (int32_t t = 0; t < body->topics.n; t++)
        for (int32_t i = 0; i < body->topics.v[t].partitions.n; i++)
            items[k++] = (struct sk_offset_delete_in){
                body->topics.v[t].name, body->topics.v[t].partitions.v[i].partition_index, 0};
    *count = k;
    return items;
}

struct odel_ctx {
    struct sk_request *req;
    struct sk_offset_delete_in *items;
};

static void deleted(void *arg, int16_t err)
{
    (void)err; /* folded into the items */
    struct odel_ctx *c = arg;
    struct sk_request *req = c->req;
    const kp_offset_delete_request *body = req->body;
    kp_offset_delete_response *resp = req->resp;
    int32_t nt = body->topics.n > 0 ? body->topics.n : 0;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    int k = 0;
    for (int32_t t = 0; t < nt; t++) {
        const req_topic *rt = &body->topics.v[t];
        kp_offset_delete_response_offset_delete_response_topic *o = &resp->topics.v[t];
        kp_offset_delete_response_offset_delete_response_topic_init(o);
        o->name = rt->name;
        int32_t np = rt->partitions.n > 0 ? rt->partitions.n : 0;
        o->partitions.n = np;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
        for (int32_t i = 0; i < np; i++, k++) {
            kp_offset_delete_response_offset_delete_response_partition *p = &o->partitions.v[i];
            kp_offset_delete_response_offset_delete_response_partition_init(p);
            p->partition_index = rt->partitions.v[i].partition_index;
            p->error_code = c->items[k].err;
        }
    }
    sk_request_respond(req);
}

void sk_api_offset_delete(struct sk_request *req)
{
    const kp_offset_delete_request *body = req->body;
    kp_offset_delete_response *resp = req->resp;
    int n = 0;
    struct odel_ctx *c = sk_request_alloc(req, sizeof *c);
    c->req = req;
    c->items = flatten(req, &n);
    int16_t err = sk_group_offsets_delete(req->broker->groups, body->group_id, c->items, n,
                                          deleted, c);
    if (err) {
        resp->error_code = err;
        sk_request_respond(req);
    }
}
