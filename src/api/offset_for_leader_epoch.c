/* OffsetForLeaderEpoch (key 23): where a leader epoch ended in this log, from
 * the leader epoch cache. Consumers send it after a leader change to check
 * that their position was not truncated away (KIP-320); followers use it to
 * find where their log diverges. */
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "split.h"

typedef kp_offset_for_leader_epoch_request_offset_for_leader_partition ereq_t;
typedef kp_offset_for_leader_epoch_response_epoch_end_offset eresp_t;

/* On the partition's owner shard b. */
static void answer_partition(struct sk_broker *b, int16_t version, kp_str topic, const ereq_t *rp,
                             eresp_t *o)
{
    kp_offset_for_leader_epoch_response_epoch_end_offset_init(o);
    o->partition = rp->partition;
    struct sk_partition *p = sk_partition_lookup(b, topic, rp->partition, false, &o->error_code);
    if (!p)
        return;
    o->error_code = sk_partition_check_epoch(p, version >= 2 ? rp->current_leader_epoch : -1);
    if (o->error_code == SK_ERR_NONE)
        sk_plog_epoch_end_offset(p->log, rp->leader_epoch, &o->leader_epoch, &o->end_offset);
}

/* ---- partitions on several shards (split.h) ------------------------------ */

struct ofl_split {
    struct sk_node *node;
    int16_t version;
    int n;
    struct ofl_item {
        kp_str topic;
        const ereq_t *rp;
        eresp_t *resp; /* home only */
    } *items;
};

static int ofl_owner(void *ctx, int i)
{
    const struct ofl_split *os = ctx;
    return sk_shard_of_partition(os->node, os->items[i].topic, os->items[i].rp->partition);
}

static void ofl_answer(void *ctx, struct sk_broker *owner, kp_arena *a, int i, void *out)
{
    const struct ofl_split *os = ctx;
    (void)a;
    answer_partition(owner, os->version, os->items[i].topic, os->items[i].rp, out);
}

static void ofl_place(void *ctx, int i, const void *out, int16_t err)
{
    const struct ofl_split *os = ctx;
    eresp_t *o = os->items[i].resp;
    if (out) {
        *o = *(const eresp_t *)out;
        return;
    }
    kp_offset_for_leader_epoch_response_epoch_end_offset_init(o);
    o->partition = os->items[i].rp->partition;
    o->error_code = err;
}

static void ofl_free(void *ctx)
{
    struct ofl_split *os = ctx;
    free(os->items);
    free(os);
}

static const struct sk_split_parts ofl_parts = {
    .out_size = sizeof(eresp_t), .owner_of = ofl_owner, .answer = ofl_answer,
    .place = ofl_place, .free_ctx = ofl_free};

static bool spans_shards(const struct sk_request *req)
{
    const struct sk_broker *b = req->broker;
    const kp_offset_for_leader_epoch_request *body = req->body;
    if (b->node->nshards <= 1)
        return false;
    for (int32_t i = 0; i < body->topics.n; i++)
        for (int32_t j = 0; j < body->topics.v[i].partitions.n; j++)
            if (sk_shard_of_partition(b->node, body->topics.v[i].topic,
                                      body->topics.v[i].partitions.v[j].partition) != b->index)
                return true;
    return false;
}

static void split(struct sk_request *req, int total)
{
    const kp_offset_for_leader_epoch_request *body = req->body;
    kp_offset_for_leader_epoch_response *resp = req->resp;
    struct ofl_split *os = calloc(1, sizeof *os);
    if (os)
        os->items = calloc((size_t)total + 1, sizeof *os->items);
    if (!os || !os->items) {
        free(os);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    *os = (struct ofl_split){req->broker->node, req->version, 0, os->items};
    for (int32_t i = 0; i < resp->topics.n; i++)
        for (int32_t j = 0; j < resp->topics.v[i].partitions.n; j++)
            os->items[os->n++] = (struct ofl_item){body->topics.v[i].topic,
                                                   &body->topics.v[i].partitions.v[j],
                                                   &resp->topics.v[i].partitions.v[j]};
    if (sk_split_parts_run(req, os->n, &ofl_parts, os) < 0) {
        ofl_free(os);
        sk_conn_close(req->conn);
        sk_request_drop(req);
    }
}

void sk_api_offset_for_leader_epoch(struct sk_request *req)
{
    const kp_offset_for_leader_epoch_request *body = req->body;
    kp_offset_for_leader_epoch_response *resp = req->resp;
    bool spans = spans_shards(req);
    int total = 0;
    int32_t nt = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    for (int32_t i = 0; i < nt; i++) {
        const kp_offset_for_leader_epoch_request_offset_for_leader_topic *t = &body->topics.v[i];
        kp_offset_for_leader_epoch_response_offset_for_leader_topic_result *o = &resp->topics.v[i];
        kp_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(o);
        o->topic = t->topic;
        int32_t np = t->partitions.n < 0 ? 0 : t->partitions.n;
        o->partitions.n = np;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
        total += np;
        for (int32_t j = 0; j < np && !spans; j++)
            answer_partition(req->broker, req->version, t->topic, &t->partitions.v[j],
                             &o->partitions.v[j]);
    }
    if (spans) {
        split(req, total);
        return;
    }
    sk_request_respond(req);
}
