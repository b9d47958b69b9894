/* OffsetForLeaderEpoch (key 23): where a leader epoch ended in this log, from
 * the leader epoch cache. Consumers send it after a leader change to check
 * that their position was not truncated away (KIP-320); followers use it to
 * find where their log diverges. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/partition.h"
#include "skein/plog.h"

typedef kp_offset_for_leader_epoch_request_offset_for_leader_partition ereq_t;
typedef kp_offset_for_leader_epoch_response_epoch_end_offset eresp_t;

static void answer_partition(struct sk_request *req, kp_str topic, const ereq_t *rp, eresp_t *o)
{
    kp_offset_for_leader_epoch_response_epoch_end_offset_init(o);
    o->partition = rp->partition;
    struct sk_partition *p = sk_partition_lookup(req->broker, topic, rp->partition, false,
                                                 &o->error_code);
    if (!p)
        return;
    o->error_code = sk_partition_check_epoch(p, req->version >= 2 ? rp->current_leader_epoch : -1);
    if (o->error_code == SK_ERR_NONE)
        sk_plog_epoch_end_offset(p->log, rp->leader_epoch, &o->leader_epoch, &o->end_offset);
}

void sk_api_offset_for_leader_epoch(struct sk_request *req)
{
    const kp_offset_for_leader_epoch_request *body = req->body;
    kp_offset_for_leader_epoch_response *resp = req->resp;
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
        for (int32_t j = 0; j < np; j++)
            answer_partition(req, t->topic, &t->partitions.v[j], &o->partitions.v[j]);
    }
    sk_request_respond(req);
}
