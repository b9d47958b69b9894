/* Reading the partitions of a fetch and turning the results into the
 * response: Kafka's ReplicaManager.readFromLog for one broker that leads
 * everything it has, and the session bookkeeping of the fetch contexts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch_int.h"
#include "skein/errors.h"
#include "skein/fetch.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/quota.h"
#include "skein/repl_quota.h"

typedef kp_fetch_response_partition_data part_t;

static int64_t now_ms(const struct sk_fetch_op *op)
{
    return (int64_t)sk_shard_now_ms(op->req->broker->shard);
}

void sk_fetch_result_error(struct sk_fetch_result *r, int16_t err)
{
    r->data.error_code = err;
    r->data.high_watermark = -1;
    r->data.last_stable_offset = -1;
    r->data.log_start_offset = -1;
    r->data.aborted_transactions.n = -1;
}

/* Where the partition's leader is, for clients told to go elsewhere. */
static void point_to_leader(struct sk_fetch_result *r, const struct sk_topic_meta *t,
                            int32_t partition)
{
    r->data.current_leader.leader_id = t->partitions[partition].leader;
    r->data.current_leader.leader_epoch = t->partitions[partition].leader_epoch;
}

/* The partition this fetch may read, or NULL with the error set. */
static struct sk_partition *resolve(struct sk_broker *b, const struct sk_fetch_op *op,
                                    const struct sk_fetch_part *fp, struct sk_fetch_result *r)
{
    const struct sk_topic_meta *t =
        op->by_id ? sk_meta_topic_by_id(b->image, &fp->topic_id)
                  : sk_meta_topic(b->image, fp->topic.ptr, (size_t)(fp->topic.len < 0 ? 0 : fp->topic.len));
    if (!t || fp->partition < 0 || fp->partition >= t->npartitions) {
        r->metadata_error = true;
        sk_fetch_result_error(r, op->by_id && !t ? SK_ERR_UNKNOWN_TOPIC_ID
                                        : SK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        return NULL;
    }
    /* By the image's topic id: a namesake of a deleted topic is not it. */
    struct sk_partition *p = sk_partition_get_by_id(b, &t->id, fp->partition);
    /* A replica fetches from the leader only, and only if it is one of the
     * partition's replicas (Kafka's Partition.followerReplicaOrThrow); a
     * consumer of v11+ may read from a follower too (KIP-392), below the
     * high watermark the follower learned. */
    bool here = p && (p->role == SK_REPLICA_LEADER || op->client_metadata);
    if (!here || (op->follower && !sk_partition_is_follower(p, op->replica_id))) {
        sk_fetch_result_error(r, SK_ERR_NOT_LEADER_OR_FOLLOWER);
        point_to_leader(r, t, fp->partition);
        return NULL;
    }
    int16_t err = sk_partition_sync_failed(p) ? SK_ERR_KAFKA_STORAGE_ERROR
                                          : sk_partition_check_epoch(p, fp->current_leader_epoch);
    if (err != SK_ERR_NONE) {
        sk_fetch_result_error(r, err);
        if (err == SK_ERR_FENCED_LEADER_EPOCH)
            point_to_leader(r, t, fp->partition);
        return NULL;
    }
    return p;
}

/* KIP-392: with the rack-aware selector, a leader answers a consumer whose
 * rack has an in-sync follower holding the offset with that follower's id
 * and no records, as Kafka skips the read. */
static bool points_elsewhere(struct sk_broker *b, const struct sk_fetch_op *op,
                             const struct sk_partition *p, const struct sk_fetch_part *fp,
                             struct sk_fetch_result *r)
{
    if (!op->client_metadata || !b->cfg->rack_aware_reads || op->rack.len <= 0)
        return false;
    int32_t id = sk_partition_read_replica(p, b->image, (const uint8_t *)op->rack.ptr,
                                           (size_t)op->rack.len, fp->fetch_offset);
    r->data.preferred_read_replica = id;
    return id >= 0;
}

/* KIP-320: a fetcher whose last fetched epoch ends earlier here than its
 * offset has diverged and must truncate before reading on. */
static bool diverged(const struct sk_partition *p, const struct sk_fetch_part *fp,
                     struct sk_fetch_result *r)
{
    if (fp->last_fetched_epoch < 0)
        return false;
    int32_t epoch;
    int64_t end;
    sk_plog_epoch_end_offset(p->log, fp->last_fetched_epoch, &epoch, &end);
    if (epoch < 0 || (epoch == fp->last_fetched_epoch && end >= fp->fetch_offset))
        return false;
    r->data.diverging_epoch.epoch = epoch;
    r->data.diverging_epoch.end_offset = end;
    return true;
}

/* Consumers read below the high watermark; a follower reads to the log end
 * (Kafka's FetchIsolation.LOG_END), or the high watermark could never pass
 * what only the leader holds. */
static int64_t read_limit(const struct sk_partition *p, const struct sk_fetch_op *op)
{
    return op->follower ? sk_plog_log_end_offset(p->log) : p->high_watermark;
}

static int16_t read_records(struct sk_partition *p, const struct sk_fetch_op *op,
                            const struct sk_fetch_part *fp, uint32_t *budget, bool *min_one,
                            struct sk_fetch_result *r)
{
    int16_t version = op->req->version;
    uint32_t max = fp->max_bytes < 0 ? 0 : (uint32_t)fp->max_bytes;
    if (max > *budget)
        max = *budget;
    int rc = sk_plog_read(p->log, fp->fetch_offset, max, read_limit(p, op), *min_one, &r->slice);
    if (rc < 0) {
        r->slice.len = 0;
        if (rc != -ERANGE)
            sk_warn("fetch from %s-%d at %lld failed: %s", p->topic, p->id,
                    (long long)fp->fetch_offset, strerror(-rc));
        int16_t err = sk_plog_err_to_kafka(rc);
        /* Kafka: fetchers before v6 do not know KAFKA_STORAGE_ERROR as retriable. */
        return err == SK_ERR_KAFKA_STORAGE_ERROR && version <= 5 ? SK_ERR_NOT_LEADER_OR_FOLLOWER : err;
    }
    if (r->slice.len > 0) {
        *budget -= r->slice.len;
        *min_one = false;
        r->data.records = (kp_bytes){NULL, (int32_t)r->slice.len};
    }
    return SK_ERR_NONE;
}

/* Kafka's ReplicaManager.shouldLeaderThrottle: a follower outside the ISR
 * reading a throttled replica gets no records while what this node sent
 * for throttled replicas is over leader.replication.throttled.rate (an
 * in-sync follower is never held back, or acks=all would wait on it). */
static bool leader_throttles(struct sk_broker *b, const struct sk_fetch_op *op,
                             const struct sk_partition *p, struct sk_fetch_result *r)
{
    r->throttled = op->follower && p->throttle_leader && b->node->repl_quotas;
    return r->throttled && !sk_partition_in_isr(p, op->replica_id) &&
           sk_repl_quota_exceeded(&b->node->repl_quotas[SK_REPL_LEADER],
                                  b->cfg->replication_quota.leader_rate,
                                  sk_shard_now_ms(b->shard));
}

void sk_fetch_read_one(struct sk_broker *b, const struct sk_fetch_op *op, int i, uint32_t *budget,
                       bool *min_one, struct sk_fetch_readout *ro)
{
    const struct sk_fetch_part *fp = &op->parts[i];
    struct sk_fetch_result *r = &op->results[i];
    kp_fetch_response_partition_data_init(&r->data);
    sk_plog_slice_release(&r->slice); /* from an earlier read of a parked fetch */
    r->slice = (struct sk_plog_slice){.fd = -1};
    r->converted = NULL;
    r->refused = SK_ERR_NONE;
    r->metadata_error = false;
    r->throttled = false;
    r->data.partition_index = fp->partition;
    struct sk_partition *p = resolve(b, op, fp, r);
    if (!p) {
        ro->must_answer |= !r->metadata_error;
        return;
    }
    /* Read (and waited for) as usual, refused when answered: as in Kafka. */
    r->refused = sk_fetch_topic_check(&p->cfg, op->req->version);
    ro->interesting++;
    r->data.high_watermark = p->high_watermark;
    /* No transactions yet: everything below the high watermark is stable. */
    r->data.last_stable_offset = p->high_watermark;
    r->data.log_start_offset = sk_plog_log_start_offset(p->log);
    r->data.aborted_transactions.n = op->isolation_level == 1 ? 0 : -1;
    if (points_elsewhere(b, op, p, fp, r)) {
        ro->must_answer = true;
        return;
    }
    if (op->req->version >= 12 && diverged(p, fp, r)) {
        ro->must_answer = true;
        return;
    }
    /* Kafka's updateFollowerFetchState, for a fetch that did not diverge:
     * the offset asked for is what the follower holds, and may move the
     * high watermark this answer carries. */
    if (op->follower) {
        const struct sk_broker_meta *bm = sk_meta_broker(b->image, op->replica_id);
        struct sk_follower_fetch ff = {op->replica_id, op->replica_epoch,
                                       bm && !bm->fenced ? bm->epoch : -1, fp->fetch_offset};
        r->data.error_code =
            sk_partition_follower_fetched(p, &ff, (int64_t)sk_shard_now_ms(b->shard));
        r->data.high_watermark = r->data.last_stable_offset = p->high_watermark;
    }
    if (r->data.error_code == SK_ERR_NONE && !leader_throttles(b, op, p, r))
        r->data.error_code = read_records(p, op, fp, budget, min_one, r);
    if (r->data.error_code != SK_ERR_NONE) {
        r->data.aborted_transactions.n = -1;
        ro->must_answer = true;
    }
    ro->bytes += r->slice.len;
}

void sk_fetch_read_all(struct sk_fetch_op *op, struct sk_fetch_readout *out)
{
    *out = (struct sk_fetch_readout){0};
    uint32_t budget = op->max_bytes;
    /* KIP-74: the first batch goes out whole even beyond the limits, so a
     * large batch cannot stall a consumer; v0-2 limits are hard. */
    bool min_one = op->req->version >= 3;
    for (int i = 0; i < op->nparts; i++)
        sk_fetch_read_one(op->req->broker, op, i, &budget, &min_one, out);
}

/* ---- sessions --------------------------------------------------------------------- */

/* Kafka's CachedPartition.maybeUpdateResponseData: does the partition go in
 * an incremental answer, and what the session remembers as sent. */
static bool news(struct sk_fetch_session_part *sp, const part_t *d)
{
    bool must = d->records.len > 0;
    if (sp->high_watermark != d->high_watermark) {
        must = true;
        sp->high_watermark = d->high_watermark;
    }
    if (sp->log_start_offset != d->log_start_offset) {
        must = true;
        sp->log_start_offset = d->log_start_offset;
    }
    if (d->error_code != SK_ERR_NONE) {
        sp->high_watermark = -1; /* resend once the error clears */
        must = true;
    }
    return must || d->diverging_epoch.epoch != -1 || d->preferred_read_replica != -1;
}

static int session_slot(const struct sk_fetch_op *op, const struct sk_fetch_session *s, int i)
{
    const struct sk_fetch_part *fp = &op->parts[i];
    int k = fp->session_index;
    if (k >= 0 && k < s->nparts && s->parts[k].partition == fp->partition)
        return k;
    return sk_fetch_session_find(s, op->by_id, fp->topic, &fp->topic_id, fp->partition);
}

/* Marks in `keep` the partitions an incremental answer includes. Returns
 * false if the session moved on meanwhile (a duplicate request). */
static bool select_incremental(struct sk_fetch_op *op, bool *keep)
{
    struct sk_fetch_state *st = op->req->broker->fetch;
    struct sk_fetch_session *s = sk_fetch_session_get(&st->sessions, op->session_id);
    if (!s || s->epoch != op->session_epoch)
        return false;
    bool *sent = calloc((size_t)s->nparts + 1, sizeof *sent);
    for (int i = 0; i < op->nparts; i++) {
        int k = session_slot(op, s, i);
        keep[i] = k < 0 || news(&s->parts[k], &op->results[i].data);
        if (sent && k >= 0)
            sent[k] = keep[i];
    }
    if (sent)
        sk_fetch_session_rotate(s, sent);
    free(sent);
    return true;
}

static int32_t open_session(struct sk_fetch_op *op)
{
    struct sk_fetch_state *st = op->req->broker->fetch;
    struct sk_fetch_session_part *sp = calloc((size_t)op->nparts + 1, sizeof *sp);
    if (!sp)
        return SK_FETCH_INVALID_SESSION_ID;
    for (int i = 0; i < op->nparts; i++) {
        const struct sk_fetch_part *fp = &op->parts[i];
        const part_t *d = &op->results[i].data;
        sp[i] = (struct sk_fetch_session_part){
            .topic = op->by_id ? KP_STR_NULL : fp->topic, /* the session copies it */
            .topic_id = fp->topic_id, .partition = fp->partition,
            .fetch_offset = fp->fetch_offset, .max_bytes = fp->max_bytes,
            .current_leader_epoch = fp->current_leader_epoch,
            .last_fetched_epoch = fp->last_fetched_epoch,
            .high_watermark = d->error_code ? -1 : d->high_watermark,
            .log_start_offset = d->log_start_offset,
        };
    }
    int32_t id = sk_fetch_session_create(&st->sessions, now_ms(op), op->follower, op->by_id, sp,
                                         op->nparts);
    free(sp);
    return id;
}

/* ---- the response ------------------------------------------------------------------ */

static bool same_topic(const struct sk_fetch_op *op, int a, int b)
{
    if (op->by_id)
        return memcmp(op->parts[a].topic_id.b, op->parts[b].topic_id.b, 16) == 0;
    return kp_str_eq(op->parts[a].topic, op->parts[b].topic);
}

/* Consecutive partitions of one topic share a topic entry, as in Kafka. */
static void group_topics(struct sk_fetch_op *op, const bool *keep, kp_fetch_response *resp)
{
    resp->responses.v = sk_request_alloc(op->req, sizeof *resp->responses.v * (size_t)(op->nparts + 1));
    kp_fetch_response_fetchable_topic_response *t = NULL;
    int last = -1;
    for (int i = 0; i < op->nparts; i++) {
        if (!keep[i])
            continue;
        if (!t || !same_topic(op, last, i)) {
            t = &resp->responses.v[resp->responses.n++];
            kp_fetch_response_fetchable_topic_response_init(t);
            t->topic = op->parts[i].topic;
            t->topic_id = op->parts[i].topic_id;
            t->partitions.v = sk_request_alloc(op->req, sizeof(part_t) * (size_t)(op->nparts - i + 1));
        }
        t->partitions.v[t->partitions.n++] = op->results[i].data;
        last = i;
    }
}

/* v16+: endpoints of the leaders named in current_leader. */
static void add_endpoints(struct sk_fetch_op *op, kp_fetch_response *resp)
{
    struct sk_broker *b = op->req->broker;
    resp->node_endpoints.v = sk_request_alloc(op->req, sizeof *resp->node_endpoints.v * (size_t)(b->image->nbrokers + 1));
    for (int i = 0; i < b->image->nbrokers; i++) {
        const struct sk_broker_meta *bm = &b->image->brokers[i];
        bool named = false;
        for (int j = 0; j < op->nparts && !named; j++)
            named = op->results[j].data.current_leader.leader_id == bm->id;
        const struct sk_endpoint_meta *ep = sk_meta_endpoint(bm, b->node->listener_name);
        if (!named || !ep)
            continue;
        kp_fetch_response_node_endpoint *e = &resp->node_endpoints.v[resp->node_endpoints.n++];
        kp_fetch_response_node_endpoint_init(e);
        e->node_id = bm->id;
        e->host = kp_str_c(ep->host);
        e->port = ep->port;
        e->rack = kp_str_c(bm->rack);
    }
}

void sk_fetch_release(struct sk_fetch_op *op)
{
    for (int i = 0; op->results && i < op->nparts; i++)
        sk_plog_slice_release(&op->results[i].slice);
}

/* Moves the slices' fds (each its own, see sk_plog_slice) to the frame, which
 * closes them once the splice is done: the log may drop a segment (retention,
 * DeleteRecords) or close an older segment's file while the reactor is still
 * splicing from it. */
static size_t take_files(struct sk_fetch_op *op, const bool *keep, struct sk_fetch_file *files)
{
    size_t n = 0;
    for (int i = 0; i < op->nparts; i++) {
        struct sk_fetch_result *r = &op->results[i];
        if (keep[i] && r->converted) {
            files[n++] = (struct sk_fetch_file){.fd = -1, .len = (uint32_t)r->data.records.len,
                                                .mem = r->converted};
            r->converted = NULL;
            continue;
        }
        if (!keep[i] || r->slice.len == 0)
            continue;
        files[n++] = (struct sk_fetch_file){.fd = r->slice.fd, .pos = r->slice.pos,
                                            .len = r->slice.len};
        r->slice.fd = -1;
    }
    sk_fetch_release(op); /* the slices no answer carries */
    return n;
}

static void fill_response(struct sk_fetch_op *op, bool *keep, kp_fetch_response *resp)
{
    for (int i = 0; i < op->nparts; i++)
        keep[i] = true;
    if (op->ctx == SK_FETCH_INCREMENTAL && !select_incremental(op, keep)) {
        resp->error_code = SK_ERR_INVALID_FETCH_SESSION_EPOCH;
        resp->session_id = op->session_id;
        memset(keep, 0, sizeof *keep * (size_t)op->nparts);
        return;
    }
    if (op->ctx == SK_FETCH_INCREMENTAL)
        resp->session_id = op->session_id;
    else if (op->ctx == SK_FETCH_FULL)
        resp->session_id = open_session(op);
}

/* What a follower's answer carries for throttled replicas counts against
 * the leader's replication rate (Kafka's sizeOfThrottledPartitions), read
 * once the answer is final: a parked fetch reads again before it goes. */
static void record_replication(const struct sk_fetch_op *op, const bool *keep)
{
    struct sk_broker *b = op->req->broker;
    uint64_t bytes = 0;
    for (int i = 0; i < op->nparts; i++)
        if (keep[i] && op->results[i].throttled)
            bytes += op->results[i].slice.len;
    if (bytes && b->node->repl_quotas)
        sk_repl_quota_record(&b->node->repl_quotas[SK_REPL_LEADER], bytes,
                             sk_shard_now_ms(b->shard));
}

/* A consumer over its quota gets an empty answer and its throttle time;
 * the bytes it did not get are taken back off its rate (as Kafka does). */
static size_t apply_quota(struct sk_fetch_op *op, struct sk_fetch_file *files, size_t nfiles,
                          kp_fetch_response *resp)
{
    struct sk_request *req = op->req;
    if (op->follower)
        return nfiles;
    double bytes = 0;
    for (size_t i = 0; i < nfiles; i++)
        bytes += (double)files[i].len;
    resp->throttle_time_ms = sk_request_quota(req, SK_QUOTA_FETCH, bytes);
    if (resp->throttle_time_ms == 0)
        return nfiles;
    struct sk_broker *b = req->broker;
    sk_quota_unrecord(b->quotas, b->image, SK_QUOTA_FETCH, SK_PRINCIPAL_ANONYMOUS,
                      req->client_id, bytes, sk_shard_now_ms(b->shard));
    sk_fetch_files_release(files, 0, nfiles);
    resp->responses.n = 0;
    return 0;
}

void sk_fetch_answer(struct sk_fetch_op *op)
{
    struct sk_request *req = op->req;
    kp_fetch_response *resp = req->resp;
    bool *keep = sk_request_alloc(req, sizeof *keep * (size_t)(op->nparts + 1));
    struct sk_fetch_file *files = sk_request_alloc(req, sizeof *files * (size_t)(op->nparts + 1));
    size_t nfiles = 0;
    if (op->ctx == SK_FETCH_ERROR) {
        resp->error_code = op->ctx_error;
    } else {
        fill_response(op, keep, resp);
        sk_fetch_convert(op, keep);
        if (op->follower)
            record_replication(op, keep);
        /* Files first: a failed dup empties a partition's records. */
        nfiles = take_files(op, keep, files);
        group_topics(op, keep, resp);
        nfiles = apply_quota(op, files, nfiles, resp);
        if (req->version >= 16)
            add_endpoints(op, resp);
    }
    sk_fetch_release(op);
    free(op);
    struct sk_fetch_frame frame;
    int rc = sk_fetch_frame_encode(resp, req->version, files, nfiles, &frame);
    if (rc < 0) {
        sk_warn("fetch response for %s cannot be encoded: %s", sk_conn_peer(req->conn),
                kp_strerror(rc));
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    sk_request_respond_segs(req, frame.segs, frame.nsegs);
    free(frame.segs);
}
