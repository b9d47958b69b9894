/* DescribeProducers (key 61): the idempotent producers a partition knows. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/partition.h"
#include "skein/producer_state.h"

typedef kp_describe_producers_response_partition_response dp_part;

static void describe_partition(struct sk_request *req, kp_str topic, int32_t index, dp_part *o)
{
    kp_describe_producers_response_partition_response_init(o);
    o->partition_index = index;
    struct sk_partition *p =
        sk_partition_lookup(req->broker, topic, index, false, &o->error_code);
    if (!p)
        return;
    int n = sk_producer_count(p);
    o->active_producers.n = n;
    o->active_producers.v = sk_request_alloc(req, sizeof *o->active_producers.v * (size_t)(n + 1));
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

void sk_api_describe_producers(struct sk_request *req)
{
    const kp_describe_producers_request *body = req->body;
    kp_describe_producers_response *resp = req->resp;
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
        for (int32_t j = 0; j < np; j++)
            describe_partition(req, rt->name, rt->partition_indexes.v[j], &t->partitions.v[j]);
    }
    sk_request_respond(req);
}
