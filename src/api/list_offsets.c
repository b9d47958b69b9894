/* ListOffsets (key 2): the offset for a timestamp, or for one of the special
 * timestamps: -1 latest (the high watermark for consumers), -2 earliest,
 * -3 the record with the largest timestamp, -4 earliest local (= earliest
 * without tiered storage), -5 latest tiered (none without tiered storage). */
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/partition.h"
#include "skein/plog.h"

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
static int64_t last_fetchable(const struct sk_request *req, const struct sk_partition *p)
{
    const kp_list_offsets_request *body = req->body;
    if (body->replica_id != CONSUMER_REPLICA_ID)
        return sk_plog_log_end_offset(p->log);
    return p->high_watermark;
}

/* v1+: one offset with its timestamp and epoch. */
static int16_t offset_for(struct sk_request *req, struct sk_partition *p, int64_t ts, lresp_t *o)
{
    int64_t limit = last_fetchable(req, p);
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
static void old_style(struct sk_request *req, struct sk_partition *p, const lreq_t *rp,
                      lresp_t *o)
{
    int64_t start = sk_plog_log_start_offset(p->log);
    int64_t end = last_fetchable(req, p);
    int64_t *v = sk_request_alloc(req, sizeof *v * 2);
    int32_t n = 0;
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

static void answer_partition(struct sk_request *req, int32_t ti, int32_t pi, lresp_t *o)
{
    const kp_list_offsets_request *body = req->body;
    const kp_list_offsets_request_list_offsets_topic *t = &body->topics.v[ti];
    const lreq_t *rp = &t->partitions.v[pi];
    kp_list_offsets_response_list_offsets_partition_response_init(o);
    o->partition_index = rp->partition_index;
    o->old_style_offsets = (kp_arr_i64){0, NULL};
    if (req->version >= 1 && duplicate(body, ti, pi)) {
        o->error_code = SK_ERR_INVALID_REQUEST;
        return;
    }
    struct sk_partition *p =
        sk_partition_lookup(req->broker, t->name, rp->partition_index, false, &o->error_code);
    if (!p)
        return;
    o->error_code = sk_partition_check_epoch(p, req->version >= 4 ? rp->current_leader_epoch : -1);
    if (o->error_code != SK_ERR_NONE)
        return;
    if (req->version == 0)
        old_style(req, p, rp, o);
    else
        o->error_code = offset_for(req, p, rp->timestamp, o);
    if (req->version < 4)
        o->leader_epoch = -1; /* not on the wire before v4 */
}

void sk_api_list_offsets(struct sk_request *req)
{
    const kp_list_offsets_request *body = req->body;
    kp_list_offsets_response *resp = req->resp;
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
        for (int32_t j = 0; j < np; j++)
            answer_partition(req, i, j, &o->partitions.v[j]);
    }
    sk_request_respond(req);
}
