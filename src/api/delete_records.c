/* DeleteRecords (key 21): move a partition's log start offset forward, on
 * the shard that owns the partition. On a single node every replica has it
 * as soon as the leader does; the answer waits only for the checkpoint that
 * makes the new log start survive a restart. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/partition.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/plog.h"
#include "split.h"

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

/* ---- one partition, on its owner shard (split.h) ---------------------------- */

struct dr_split {
    struct sk_request *req; /* home only */
    const kp_delete_records_request *body;
    int n;
    struct dr_item {
        int32_t ti, pi;
        dresult_t *resp; /* home only */
    } *items;
};

static const kp_delete_records_request_delete_records_partition *
item_request(const struct dr_split *ds, int i, kp_str *topic)
{
    const kp_delete_records_request_delete_records_topic *t = &ds->body->topics.v[ds->items[i].ti];
    *topic = t->name;
    return &t->partitions.v[ds->items[i].pi];
}

static int dr_owner(void *ctx, int i)
{
    const struct dr_split *ds = ctx;
    kp_str topic;
    const kp_delete_records_request_delete_records_partition *rp = item_request(ds, i, &topic);
    return sk_shard_of_partition(ds->req->broker->node, topic, rp->partition_index);
}

/* The node's log-start-offset checkpoint holding the move is durable;
 * deleted now but not durably so, the client must not rely on it. */
static void checkpointed(void *arg, int err)
{
    struct sk_split_item *it = arg;
    if (err < 0)
        ((dresult_t *)it->out)->error_code = SK_ERR_KAFKA_STORAGE_ERROR;
    sk_split_item_done(it);
}

static void dr_run(void *ctx, struct sk_split_item *it)
{
    const struct dr_split *ds = ctx;
    kp_str topic;
    const kp_delete_records_request_delete_records_partition *rp = item_request(ds, it->index, &topic);
    dresult_t *r = it->out;
    kp_delete_records_response_delete_records_partition_result_init(r);
    r->partition_index = rp->partition_index;
    r->low_watermark = -1;
    struct sk_partition *p = sk_partition_lookup(it->owner, topic, rp->partition_index, true,
                                                 &r->error_code);
    if (p)
        r->error_code = delete_below(p, rp->offset, &r->low_watermark);
    /* The new log start must survive a restart, or deleted records return:
     * the answer waits for the checkpoint, written on the node's writer. */
    if (p && r->error_code == SK_ERR_NONE) {
        if (sk_partitions_checkpoint(it->owner, SK_CHECKPOINT_LOG_START, checkpointed, it) == 0)
            return;
        r->error_code = SK_ERR_KAFKA_STORAGE_ERROR;
    }
    sk_split_item_done(it);
}

static void dr_done(void *ctx, struct sk_split *sp)
{
    struct dr_split *ds = ctx;
    for (int i = 0; i < ds->n; i++) {
        int err = sk_split_item_error(sp, i);
        if (err == SK_ERR_NONE)
            *ds->items[i].resp = *(dresult_t *)sk_split_out(sp, i);
        else
            ds->items[i].resp->error_code = (int16_t)err;
    }
    sk_request_respond(ds->req);
    sk_split_release(sp);
}

static void dr_free(void *ctx)
{
    struct dr_split *ds = ctx;
    free(ds->items);
    free(ds);
}

static const struct sk_split_ops dr_ops = {
    .out_size = sizeof(dresult_t), .run = dr_run, .done = dr_done, .free_ctx = dr_free};

/* Every partition runs on the shard that owns it (inline when that is this
 * one); the skeleton of the answer is laid out here, in request order. */
void sk_api_delete_records(struct sk_request *req)
{
    const kp_delete_records_request *body = req->body;
    kp_delete_records_response *resp = req->resp;
    int32_t nt = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    int total = 0;
    for (int32_t i = 0; i < nt; i++)
        total += body->topics.v[i].partitions.n < 0 ? 0 : body->topics.v[i].partitions.n;
    struct dr_split *ds = calloc(1, sizeof *ds);
    if (ds)
        ds->items = calloc((size_t)total + 1, sizeof *ds->items);
    if (!ds || !ds->items) {
        if (ds)
            free(ds->items);
        free(ds);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    ds->req = req;
    ds->body = body;
    for (int32_t i = 0; i < nt; i++) {
        const kp_delete_records_request_delete_records_topic *t = &body->topics.v[i];
        kp_delete_records_response_delete_records_topic_result *o = &resp->topics.v[i];
        kp_delete_records_response_delete_records_topic_result_init(o);
        o->name = t->name;
        int32_t np = t->partitions.n < 0 ? 0 : t->partitions.n;
        o->partitions.n = np;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
        for (int32_t j = 0; j < np; j++) {
            dresult_t *r = &o->partitions.v[j];
            kp_delete_records_response_delete_records_partition_result_init(r);
            r->partition_index = t->partitions.v[j].partition_index;
            r->low_watermark = -1;
            ds->items[ds->n++] = (struct dr_item){i, j, r};
        }
    }
    /* Laid out first: the split asks each item's owner as it is made. */
    struct sk_split *sp = sk_split_new(req->broker, total, dr_owner, &dr_ops, ds);
    if (!sp) {
        dr_free(ds);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    sk_split_start(sp);
}
