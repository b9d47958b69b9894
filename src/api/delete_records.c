/* DeleteRecords (key 21): move a partition's log start offset forward. On a
 * single node every replica has it as soon as the leader does, so the answer
 * needs no waiting. */
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/partition.h"
#include "skein/plog.h"

#define HIGH_WATERMARK (-1)

typedef kp_delete_records_response_delete_records_partition_result dresult_t;

static int16_t delete_below(struct sk_partition *p, int64_t offset, int64_t *low)
{
    if (!p->cfg.cleanup_delete)
        return SK_ERR_POLICY_VIOLATION; /* compact-only topics keep their history */
    if (offset == HIGH_WATERMARK)
        offset = p->high_watermark;
    if (offset < 0 || offset > p->high_watermark)
        return SK_ERR_OFFSET_OUT_OF_RANGE;
    if (offset > sk_plog_log_start_offset(p->log)) {
        int rc = sk_plog_delete_records(p->log, offset);
        if (rc < 0) {
            sk_warn("delete records of %s-%d below %lld failed: %s", p->topic, p->id,
                    (long long)offset, strerror(-rc));
            return sk_plog_err_to_kafka(rc);
        }
    }
    *low = sk_plog_log_start_offset(p->log);
    return SK_ERR_NONE;
}

static void answer_topic(struct sk_request *req,
                         const kp_delete_records_request_delete_records_topic *t,
                         kp_delete_records_response_delete_records_topic_result *o, bool *moved)
{
    kp_delete_records_response_delete_records_topic_result_init(o);
    o->name = t->name;
    int32_t np = t->partitions.n < 0 ? 0 : t->partitions.n;
    o->partitions.n = np;
    o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
    for (int32_t j = 0; j < np; j++) {
        const kp_delete_records_request_delete_records_partition *rp = &t->partitions.v[j];
        dresult_t *r = &o->partitions.v[j];
        kp_delete_records_response_delete_records_partition_result_init(r);
        r->partition_index = rp->partition_index;
        r->low_watermark = -1;
        struct sk_partition *p = sk_partition_lookup(req->broker, t->name, rp->partition_index,
                                                     true, &r->error_code);
        if (p)
            r->error_code = delete_below(p, rp->offset, &r->low_watermark);
        *moved |= p && r->error_code == SK_ERR_NONE;
    }
}

/* Deleted now but not durably so: the client must not rely on it. */
static void fail_moved(kp_delete_records_response *resp)
{
    for (int32_t i = 0; i < resp->topics.n; i++)
        for (int32_t j = 0; j < resp->topics.v[i].partitions.n; j++) {
            dresult_t *r = &resp->topics.v[i].partitions.v[j];
            if (r->error_code == SK_ERR_NONE)
                r->error_code = SK_ERR_KAFKA_STORAGE_ERROR;
        }
}

/* The node's log-start-offset checkpoint holding the moves is durable. */
static void checkpointed(void *arg, int err)
{
    struct sk_request *req = arg;
    if (err < 0)
        fail_moved(req->resp);
    sk_request_respond(req);
}

void sk_api_delete_records(struct sk_request *req)
{
    const kp_delete_records_request *body = req->body;
    kp_delete_records_response *resp = req->resp;
    int32_t nt = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    bool moved = false;
    for (int32_t i = 0; i < nt; i++)
        answer_topic(req, &body->topics.v[i], &resp->topics.v[i], &moved);
    /* The new log start must survive a restart, or deleted records return:
     * the answer waits for the checkpoint, written on the node's writer. */
    if (moved &&
        sk_partitions_checkpoint(req->broker, SK_CHECKPOINT_LOG_START, checkpointed, req) == 0)
        return;
    if (moved)
        fail_moved(resp);
    sk_request_respond(req);
}
