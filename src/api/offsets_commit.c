/* OffsetCommit (key 8): answered once the offsets are durable in
 * __consumer_offsets (acks=all). */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"
#include "skein/group_offsets.h"

typedef kp_offset_commit_request_offset_commit_request_topic req_topic;
typedef kp_offset_commit_response_offset_commit_response_topic resp_topic;
typedef kp_offset_commit_response_offset_commit_response_partition resp_part;

struct commit_ctx {
    struct sk_request *req;
    struct sk_commit_in *items;
};

static bool partition_exists(struct sk_request *req, kp_str topic, int32_t partition)
{
    const struct sk_topic_meta *t =
        topic.len > 0 ? sk_meta_topic(req->broker->image, topic.ptr, (size_t)topic.len) : NULL;
    return t && partition >= 0 && partition < t->npartitions;
}

/* One item per partition, in request order; the response mirrors it. */
static struct sk_commit_in *flatten(struct sk_request *req, int *count)
{
    const kp_offset_commit_request *body = req->body;
    int64_t now = sk_group_coordinator_error(req->broker->groups) ? 0 :
                  req->broker->groups->env.now_ms(req->broker->groups->env.ctx);
    int n = 0;
    for (int32_t t = 0; t < body->topics.n; t++)
        n += body->topics.v[t].partitions.n > 0 ? body->topics.v[t].partitions.n : 0;
    struct sk_commit_in *items = sk_request_alloc(req, sizeof *items * (size_t)(n + 1));
    int k = 0;
    for (int32_t t = 0; t < body->topics.n; t++) {
        const req_topic *rt = &body->topics.v[t];
        for (int32_t i = 0; i < rt->partitions.n; i++) {
            const kp_offset_commit_request_offset_commit_request_partition *rp = &rt->partitions.v[i];
            struct sk_commit_in *c = &items[k++];
            c->topic = rt->name;
            c->partition = rp->partition_index;
            c->offset = rp->committed_offset;
            c->leader_epoch = req->version >= 6 ? rp->committed_leader_epoch : -1;
            c->metadata = rp->committed_metadata.len >= 0 ? rp->committed_metadata : kp_str_c("");
            /* v2-v4 carry a retention time that overrides offsets.retention.minutes. */
            c->expire_ts = req->version >= 2 && req->version <= 4 && body->retention_time_ms != -1
                               ? now + body->retention_time_ms
                               : -1;
            if (!partition_exists(req, rt->name, rp->partition_index))
                c->err = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    *count = k;
    return items;
}

static void respond(struct sk_request *req, const struct sk_commit_in *items, int16_t all_err)
{
    const kp_offset_commit_request *body = req->body;
    kp_offset_commit_response *resp = req->resp;
    int32_t nt = body->topics.n > 0 ? body->topics.n : 0;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    int k = 0;
    for (int32_t t = 0; t < nt; t++) {
        const req_topic *rt = &body->topics.v[t];
        resp_topic *o = &resp->topics.v[t];
        kp_offset_commit_response_offset_commit_response_topic_init(o);
        o->name = rt->name;
        int32_t np = rt->partitions.n > 0 ? rt->partitions.n : 0;
        o->partitions.n = np;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
        for (int32_t i = 0; i < np; i++, k++) {
            resp_part *op = &o->partitions.v[i];
            kp_offset_commit_response_offset_commit_response_partition_init(op);
            op->partition_index = rt->partitions.v[i].partition_index;
            op->error_code = all_err ? all_err : items[k].err;
        }
    }
    sk_request_respond(req);
}

static void committed(void *arg, int16_t err)
{
    (void)err; /* already folded into each item */
    struct commit_ctx *c = arg;
    respond(c->req, c->items, SK_ERR_NONE);
}

void sk_api_offset_commit(struct sk_request *req)
{
    const kp_offset_commit_request *body = req->body;
    int n = 0;
    struct sk_commit_in *items = flatten(req, &n);
    struct sk_group *g = NULL;
    int16_t err = sk_group_commit_check(req->broker->groups, body->group_id,
                                        body->generation_id_or_member_epoch, body->member_id,
                                        body->group_instance_id, &g);
    if (err) {
        respond(req, items, err);
        return;
    }
    struct commit_ctx *c = sk_request_alloc(req, sizeof *c);
    *c = (struct commit_ctx){req, items};
    sk_group_commit(g, items, n, committed, c);
}
