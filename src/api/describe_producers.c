/* DescribeProducers (key 61): the idempotent producers a partition knows. */
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/producer_state.h"
#include "split.h"

typedef kp_describe_producers_response_partition_response dp_part;

/* On the partition's owner shard b; the list is allocated in a. */
static void describe_partition(struct sk_broker *b, kp_arena *a, kp_str topic, int32_t index,
                               dp_part *o)
{
    kp_describe_producers_response_partition_response_init(o);
    o->partition_index = index;
    struct sk_partition *p = sk_partition_lookup(b, topic, index, false, &o->error_code);
    if (!p)
        return;
    int n = sk_producer_count(p);
    o->active_producers.v = kp_arena_calloc(a, (size_t)n + 1, sizeof *o->active_producers.v);
    if (!o->active_producers.v) {
        o->error_code = SK_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    o->active_producers.n = n;
    for (int i = 0; i < n; i++) {
        struct sk_producer_info pi;
        sk_producer_at(p, i, &pi);
        kp_describe_producers_response_producer_state *ps = &o->active_producers.v[i];
        kp_describe_producers_response_producer_state_init(ps);
        ps->producer_id = pi.producer_id;
        ps->producer_epoch = pi.epoch;
        ps->last_sequence = pi.last_sequence;
        ps->last_timestamp = pi.last_timestamp;
        ps->coordinator_epoch = -1;
        ps->current_txn_start_offset = -1; /* no transactions yet */
    }
}

/* ---- partitions on several shards (split.h) ------------------------------ */

struct dp_split {
    struct sk_node *node;
    int n;
    struct dp_item {
        kp_str topic;
        int32_t index;
        dp_part *resp; /* home only */
    } *items;
};

static int dp_owner(void *ctx, int i)
{
    const struct dp_split *ds = ctx;
    return sk_shard_of_partition(ds->node, ds->items[i].topic, ds->items[i].index);
}

static void dp_answer(void *ctx, struct sk_broker *owner, kp_arena *a, int i, void *out)
{
    const struct dp_split *ds = ctx;
    describe_partition(owner, a, ds->items[i].topic, ds->items[i].index, out);
}

static void dp_place(void *ctx, int i, const void *out, int16_t err)
{
    const struct dp_split *ds = ctx;
    dp_part *o = ds->items[i].resp;
    if (out) {
        *o = *(const dp_part *)out;
        return;
    }
    kp_describe_producers_response_partition_response_init(o);
    o->partition_index = ds->items[i].index;
    o->error_code = err;
}

static void dp_free(void *ctx)
{
    struct dp_split *ds = ctx;
    free(ds->items);
    free(ds);
}

static const struct sk_split_parts dp_parts = {
    .out_size = sizeof(dp_part), .owner_of = dp_owner, .answer = dp_answer, .place = dp_place,
    .free_ctx = dp_free};

static bool spans_shards(const struct sk_request *req)
{
    const struct sk_broker *b = req->broker;
    const kp_describe_producers_request *body = req->body;
    if (b->node->nshards <= 1)
        return false;
    for (int32_t i = 0; i < body->topics.n; i++)
        for (int32_t j = 0; j < body->topics.v[i].partition_indexes.n; j++)
            if (sk_shard_of_partition(b->node, body->topics.v[i].name,
                                      body->topics.v[i].partition_indexes.v[j]) != b->index)
                return true;
    return false;
}

static void split(struct sk_request *req, int total)
{
    const kp_describe_producers_request *body = req->body;
    kp_describe_producers_response *resp = req->resp;
    struct dp_split *ds = calloc(1, sizeof *ds);
    if (ds)
        ds->items = calloc((size_t)total + 1, sizeof *ds->items);
    if (!ds || !ds->items) {
        free(ds);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    ds->node = req->broker->node;
    for (int32_t i = 0; i < resp->topics.n; i++)
        for (int32_t j = 0; j < resp->topics.v[i].partitions.n; j++)
            ds->items[ds->n++] = (struct dp_item){body->topics.v[i].name,
                                                  body->topics.v[i].partition_indexes.v[j],
                                                  &resp->topics.v[i].partitions.v[j]};
    if (sk_split_parts_run(req, ds->n, &dp_parts, ds) < 0) {
        dp_free(ds);
        sk_conn_close(req->conn);
        sk_request_drop(req);
    }
}

void sk_api_describe_producers(struct sk_request *req)
{
    const kp_describe_producers_request *body = req->body;
    kp_describe_producers_response *resp = req->resp;
    bool spans = spans_shards(req);
    int total = 0;
    int32_t nt = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    for (int32_t i = 0; i < nt; i++) {
        const kp_describe_producers_request_topic_request *rt = &body->topics.v[i];
        kp_describe_producers_response_topic_response *t = &resp->topics.v[i];
        kp_describe_producers_response_topic_response_init(t);
        t->name = rt->name;
        int32_t np = rt->partition_indexes.n < 0 ? 0 : rt->partition_indexes.n;
        t->partitions.n = np;
        t->partitions.v = sk_request_alloc(req, sizeof *t->partitions.v * (size_t)(np + 1));
        total += np;
        for (int32_t j = 0; j < np && !spans; j++)
            describe_partition(req->broker, &req->arena, rt->name, rt->partition_indexes.v[j],
                               &t->partitions.v[j]);
    }
    if (spans) {
        split(req, total);
        return;
    }
    sk_request_respond(req);
}
