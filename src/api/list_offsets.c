/* ListOffsets (key 2): the offset for a timestamp, or for one of the special
 * timestamps: -1 latest (the high watermark for consumers), -2 earliest,
 * -3 the record with the largest timestamp, -4 earliest local (= earliest
 * without tiered storage), -5 latest tiered (none without tiered storage). */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "split.h"

#define LATEST (-1)
#define EARLIEST (-2)
#define MAX_TIMESTAMP (-3)
#define EARLIEST_LOCAL (-4)
#define LATEST_TIERED (-5)

#define CONSUMER_REPLICA_ID (-1)
#define DEBUGGING_REPLICA_ID (-2)

typedef kp_list_offsets_request_list_offsets_partition lreq_t;
typedef kp_list_offsets_response_list_offsets_partition_response lresp_t;

/* Consumers see up to the high watermark; followers and debugging tools up
 * to the log end. read_committed would stop at the LSO, which equals the
 * high watermark until transactions exist. */
static int64_t last_fetchable(const kp_list_offsets_request *body, const struct sk_partition *p)
{
    if (body->replica_id != CONSUMER_REPLICA_ID)
        return sk_plog_log_end_offset(p->log);
    return p->high_watermark;
}

/* v1+: one offset with its timestamp and epoch. */
static int16_t offset_for(const kp_list_offsets_request *body, struct sk_partition *p, int64_t ts,
                          lresp_t *o)
{
    int64_t limit = last_fetchable(body, p);
    if (ts == LATEST) {
        o->offset = limit;
        o->leader_epoch = p->leader_epoch;
        return SK_ERR_NONE;
    }
    if (ts == LATEST_TIERED) {
        o->offset = -1;
        return SK_ERR_NONE;
    }
    if (ts == EARLIEST_LOCAL)
        ts = EARLIEST;
    else if (ts < 0 && ts != EARLIEST && ts != MAX_TIMESTAMP)
        ts = 0; /* Kafka searches with it: the first record there is */
    struct sk_plog_time_result r;
    int rc = sk_plog_offset_for_time(p->log, ts, &r);
    if (rc < 0)
        return sk_plog_err_to_kafka(rc);
    /* A found record beyond what consumers may see counts as none. */
    if (r.offset < 0 || (ts != EARLIEST && r.offset >= limit))
        return SK_ERR_NONE;
    o->offset = r.offset;
    o->timestamp = ts == EARLIEST ? -1 : r.timestamp;
    o->leader_epoch = r.leader_epoch;
    return SK_ERR_NONE;
}

/* v0: Kafka's offsets-before-time over segment boundaries. Skein reports
 * the log as one segment: its start and the high watermark, newest first. */
static void old_style(const kp_list_offsets_request *body, kp_arena *a, struct sk_partition *p,
                      const lreq_t *rp, lresp_t *o)
{
    int64_t start = sk_plog_log_start_offset(p->log);
    int64_t end = last_fetchable(body, p);
    int64_t *v = kp_arena_alloc(a, sizeof *v * 2);
    int32_t n = 0;
    if (!v) {
        o->error_code = SK_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    if (rp->timestamp == EARLIEST) {
        v[n++] = start;
    } else if (rp->timestamp == LATEST || rp->timestamp >= sk_wall_ms()) {
        v[n++] = end;
        if (end != start)
            v[n++] = start;
    }
    o->old_style_offsets = (kp_arr_i64){n < rp->max_num_offsets ? n : rp->max_num_offsets, v};
    if (o->old_style_offsets.n < 0)
        o->old_style_offsets.n = 0;
}

static bool duplicate(const kp_list_offsets_request *body, int32_t ti, int32_t pi)
{
    const kp_list_offsets_request_list_offsets_topic *t = &body->topics.v[ti];
    int32_t index = t->partitions.v[pi].partition_index;
    for (int32_t i = 0; i < body->topics.n; i++) {
        const kp_list_offsets_request_list_offsets_topic *u = &body->topics.v[i];
        if (!kp_str_eq(u->name, t->name))
            continue;
        for (int32_t j = 0; j < u->partitions.n; j++)
            if ((i != ti || j != pi) && u->partitions.v[j].partition_index == index)
                return true;
    }
    return false;
}

/* Runs on the partition's owner shard b; what it allocates goes to a. */
static void answer_partition(struct sk_broker *b, kp_arena *a, const kp_list_offsets_request *body,
                             int16_t version, int32_t ti, int32_t pi, lresp_t *o)
{
    const kp_list_offsets_request_list_offsets_topic *t = &body->topics.v[ti];
    const lreq_t *rp = &t->partitions.v[pi];
    kp_list_offsets_response_list_offsets_partition_response_init(o);
    o->partition_index = rp->partition_index;
    o->old_style_offsets = (kp_arr_i64){0, NULL};
    if (version >= 1 && duplicate(body, ti, pi)) {
        o->error_code = SK_ERR_INVALID_REQUEST;
        return;
    }
    struct sk_partition *p =
        sk_partition_lookup(b, t->name, rp->partition_index, false, &o->error_code);
    if (!p)
        return;
    o->error_code = sk_partition_check_epoch(p, version >= 4 ? rp->current_leader_epoch : -1);
    if (o->error_code != SK_ERR_NONE)
        return;
    if (version == 0)
        old_style(body, a, p, rp, o);
    else
        o->error_code = offset_for(body, p, rp->timestamp, o);
    if (version < 4)
        o->leader_epoch = -1; /* not on the wire before v4 */
}

/* ---- partitions on several shards (split.h) ------------------------------ */

struct lo_split {
    struct sk_request *req; /* home only */
    const kp_list_offsets_request *body;
    int16_t version;
    int n;
    struct lo_item {
        int32_t ti, pi;
        lresp_t *resp; /* home only */
    } *items;
};

static int lo_owner(void *ctx, int i)
{
    const struct lo_split *ls = ctx;
    const kp_list_offsets_request_list_offsets_topic *t = &ls->body->topics.v[ls->items[i].ti];
    return sk_shard_of_partition(ls->req->broker->node, t->name,
                                 t->partitions.v[ls->items[i].pi].partition_index);
}

static void lo_run(void *ctx, struct sk_split_item *it)
{
    const struct lo_split *ls = ctx;
    const struct lo_item *li = &ls->items[it->index];
    answer_partition(it->owner, it->arena, ls->body, ls->version, li->ti, li->pi, it->out);
    sk_split_item_done(it);
}

static void lo_done(void *ctx, struct sk_split *sp)
{
    struct lo_split *ls = ctx;
    for (int i = 0; i < ls->n; i++) {
        int err = sk_split_item_error(sp, i);
        if (err == SK_ERR_NONE)
            *ls->items[i].resp = *(lresp_t *)sk_split_out(sp, i);
        else
            ls->items[i].resp->error_code = (int16_t)err;
    }
    sk_request_respond(ls->req);
    sk_split_release(sp);
}

static void lo_free(void *ctx)
{
    struct lo_split *ls = ctx;
    free(ls->items);
    free(ls);
}

static const struct sk_split_ops lo_ops = {
    .out_size = sizeof(lresp_t), .run = lo_run, .done = lo_done, .free_ctx = lo_free};

static bool spans_shards(const struct sk_request *req)
{
    const struct sk_broker *b = req->broker;
    const kp_list_offsets_request *body = req->body;
    if (b->node->nshards <= 1)
        return false;
    for (int32_t i = 0; i < body->topics.n; i++)
        for (int32_t j = 0; j < body->topics.v[i].partitions.n; j++)
            if (sk_shard_of_partition(b->node, body->topics.v[i].name,
                                      body->topics.v[i].partitions.v[j].partition_index) != b->index)
                return true;
    return false;
}

/* Answers the partitions on their owners; the skeleton of the answer is
 * built (in request order) already. */
static void list_split(struct sk_request *req, int total)
{
    const kp_list_offsets_request *body = req->body;
    kp_list_offsets_response *resp = req->resp;
    struct lo_split *ls = calloc(1, sizeof *ls);
    if (ls)
        ls->items = calloc((size_t)total + 1, sizeof *ls->items);
    if (!ls || !ls->items) {
        free(ls);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    ls->req = req;
    ls->body = body;
    ls->version = req->version;
    for (int32_t i = 0; i < resp->topics.n; i++)
        for (int32_t j = 0; j < resp->topics.v[i].partitions.n; j++) {
            lresp_t *o = &resp->topics.v[i].partitions.v[j];
            kp_list_offsets_response_list_offsets_partition_response_init(o);
            o->partition_index = body->topics.v[i].partitions.v[j].partition_index;
            o->old_style_offsets = (kp_arr_i64){0, NULL};
            ls->items[ls->n++] = (struct lo_item){i, j, o};
        }
    struct sk_split *sp = sk_split_new(req->broker, ls->n, lo_owner, &lo_ops, ls);
    if (!sp) {
        lo_free(ls);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    sk_split_start(sp);
}

void sk_api_list_offsets(struct sk_request *req)
{
    const kp_list_offsets_request *body = req->body;
    kp_list_offsets_response *resp = req->resp;
    bool split = spans_shards(req);
    int total = 0;
    int32_t nt = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    for (int32_t i = 0; i < nt; i++) {
        const kp_list_offsets_request_list_offsets_topic *t = &body->topics.v[i];
        kp_list_offsets_response_list_offsets_topic_response *o = &resp->topics.v[i];
        kp_list_offsets_response_list_offsets_topic_response_init(o);
        o->name = t->name;
        int32_t np = t->partitions.n < 0 ? 0 : t->partitions.n;
        o->partitions.n = np;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(np + 1));
        total += np;
        for (int32_t j = 0; j < np && !split; j++)
            answer_partition(req->broker, &req->arena, body, req->version, i, j,
                             &o->partitions.v[j]);
    }
    if (split) {
        list_split(req, total);
        return;
    }
    sk_request_respond(req);
}
