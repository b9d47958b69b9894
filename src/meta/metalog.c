/* Appending to and replaying __cluster_metadata. */
#include "skein/metalog.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/logging.h"
#include "skein/meta_snapshot.h"
#include "skein/plog.h"
#include "skein/record.h"
#include "skein/syncer.h"
#include "skein/raft_voters_batch.h"
#include "skein/voter_history.h"
#include "skein/voters_snapshot.h"

struct sk_metalog {
    struct sk_plog *plog;
    int64_t snapshot_bytes;   /* metadata.log.max.record.bytes.between.snapshots */
    int64_t since_snapshot;   /* bytes appended since the last snapshot */
    int64_t snapshot_ms;      /* metadata.log.max.snapshot.interval.ms, 0: none */
    int64_t last_snapshot_ms; /* when the last one was started (or the log opened) */
    const struct sk_syncer *syncer;   /* snapshots' syncs (the shard's); NULL: blocking */
    struct sk_atomic_writer *snapper; /* made at the first snapshot */
    int64_t snapshot_end;             /* of the snapshot in flight */
    int64_t retention_bytes;          /* metadata.max.retention.bytes, -1: none */
    int64_t retention_ms;             /* metadata.max.retention.ms, -1: none */
    struct sk_voter_set *voters;      /* KIP-853's, carried into every snapshot; or NULL */
    struct sk_voter_history vh;       /* the sets above the start, as the Raft log saw them */
};

#define SK_METALOG_READ_CHUNK (1u << 20)

static int apply_value(struct sk_meta_image *img, const uint8_t *v, int32_t len, int64_t offset)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    int16_t type, version;
    void *rec;
    int rc = len < 0 ? -EBADMSG : sk_meta_record_decode(v, (size_t)len, &a, &type, &version, &rec);
    if (rc == 0)
        rc = sk_meta_apply(img, type, rec) < 0 ? -EBADMSG : 0;
    if (rc == 0)
        img->last_offset = offset;
    kp_arena_free(&a);
    return rc;
}

/* Applies whole batches that end at or below upto; *next gets the offset
 * after the last one read and, on failure, *failed the base offset of the
 * batch that did not apply. */
static int apply_batches(struct sk_meta_image *img, const uint8_t *p, size_t len,
                         bool skip_control, int64_t upto, int64_t *next, int64_t *failed)
{
    struct sk_buf scratch = {0};
    int rc = 0;
    while (rc == 0 && len > 0) {
        struct sk_batch_header h;
        if (sk_batch_header_read(p, len, &h) < 0) {
            rc = -EBADMSG;
            break;
        }
        if (h.base_offset + h.last_offset_delta + 1 > upto)
            break;
        if (failed)
            *failed = h.base_offset;
        struct sk_record_iter it;
        struct sk_record r;
        bool skip = skip_control && (h.attributes & SK_BATCH_CONTROL);
        if (!skip && sk_record_iter_init(&it, p, sk_batch_size(&h), &scratch) != 0)
            rc = -EBADMSG;
        int more;
        while (!skip && rc == 0 && (more = sk_record_iter_next(&it, &r)) != 0)
            rc = more < 0 ? -EBADMSG : apply_value(img, r.value, r.value_len, r.offset);
        if (rc == 0 && next)
            *next = h.base_offset + h.last_offset_delta + 1;
        p += sk_batch_size(&h);
        len -= sk_batch_size(&h);
        scratch.len = 0;
    }
    sk_buf_free(&scratch);
    return rc;
}

int sk_meta_apply_batches(struct sk_meta_image *img, const uint8_t *p, size_t len,
                          bool skip_control)
{
    return apply_batches(img, p, len, skip_control, INT64_MAX, NULL, NULL);
}

static void fail(struct sk_metalog_failure *why, int64_t offset, int rc, const char *what)
{
    if (!why)
        return;
    why->offset = offset;
    why->rc = rc;
    snprintf(why->what, sizeof why->what, "%s", what);
}

/* A batch bigger than the read buffer is read whole into a bigger one, up to
 * a bound far above what the writer makes (SK_METALOG_MAX_BATCH_BYTES): logs
 * written before that bound existed still load. */
static int grow(uint8_t **buf, size_t *cap)
{
    if (*cap >= SK_METALOG_MAX_LOAD_BYTES)
        return -EMSGSIZE;
    uint8_t *nb = realloc(*buf, *cap * 2);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap *= 2;
    return 0;
}

static int replay_log(struct sk_plog *plog, struct sk_meta_image *img, int64_t off,
                      int64_t upto, struct sk_metalog_failure *why, int64_t *next_out)
{
    size_t cap = SK_METALOG_READ_CHUNK;
    uint8_t *buf = malloc(cap);
    int64_t end = sk_plog_log_end_offset(plog);
    if (end > upto)
        end = upto;
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0 && off < end) {
        size_t len = 0;
        rc = sk_plog_read_copy(plog, off, (uint32_t)cap, INT64_MAX, buf, cap, &len);
        if (rc == -ENOBUFS || (rc == 0 && len == 0)) {
            rc = grow(&buf, &cap);
            if (rc < 0)
                fail(why, off, rc, rc == -EMSGSIZE ? "the batch there is larger than the loader's "
                     "bound" : "there is no memory to read the batch there");
            continue;
        }
        if (rc < 0) {
            fail(why, off, rc, "the log cannot be read");
            break;
        }
        int64_t failed = off, next = off;
        rc = apply_batches(img, buf, len, true, upto, &next, &failed);
        if (rc < 0)
            fail(why, failed, rc, "a record of the batch there does not decode or apply");
        if (next_out && next > off)
            *next_out = next;
        off = next > off ? next : end;
    }
    free(buf);
    return rc;
}

static int replay(struct sk_plog *plog, struct sk_meta_image *img, int64_t upto,
                  struct sk_metalog_failure *why, int64_t *next)
{
    int64_t off = sk_plog_log_start_offset(plog), end = sk_plog_log_end_offset(plog);
    /* Start from the newest snapshot the log continues; a log that starts
     * later than every snapshot has lost records the image needs. */
    int64_t snap = sk_meta_snapshot_latest(sk_plog_dir(plog), end);
    if (snap >= off) {
        int rc = sk_meta_snapshot_load(sk_plog_dir(plog), snap, img);
        if (rc < 0) {
            fail(why, snap, rc, "the snapshot there does not load");
            why->in_snapshot = true;
            return rc;
        }
        off = snap;
    } else if (off > 0) {
        fail(why, off, -EBADMSG, "the log starts there but no snapshot covers what is below");
        why->in_snapshot = true;
        return -EBADMSG;
    }
    *next = off;
    return replay_log(plog, img, off, upto, why, next);
}

/* The way out an operator chose: drop the batch that does not load and
 * everything after it, then rebuild the image from what is left. */
static int truncate_and_replay(struct sk_plog *plog, struct sk_meta_image *img, int64_t upto,
                               struct sk_metalog_failure *why, int64_t *next)
{
    int64_t at = why->offset, end = sk_plog_log_end_offset(plog);
    int rc = sk_plog_truncate_to(plog, at);
    if (rc < 0)
        return rc;
    sk_warn("metadata log: dropped offsets %lld to %lld (skein.metadata.log.truncate.unloadable)",
            (long long)at, (long long)end - 1);
    sk_meta_image_free(img);
    sk_meta_image_init(img);
    struct sk_metalog_failure again = {0};
    rc = replay(plog, img, upto, &again, next);
    if (rc < 0)
        *why = again;
    return rc;
}

int sk_metalog_open_upto(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                         bool truncate_unloadable, int64_t upto, struct sk_metalog_failure *why,
                         int64_t *applied_end, struct sk_metalog **out)
{
    int64_t next = 0;
    struct sk_plog_config cfg;
    sk_plog_config_default(&cfg);
    cfg.retention_ms = -1; /* the log is the state: nothing expires without a snapshot */
    struct sk_plog_open_opts opts = {
        .log_dir = dir, .topic = SK_METALOG_TOPIC, .partition = 0, .topic_id = NULL,
        .recovery_point = -1, .log_start_offset = -1, .now_ms = now_ms,
    };
    struct sk_metalog_failure scratch = {0};
    if (!why)
        why = &scratch;
    *why = (struct sk_metalog_failure){.offset = -1};
    struct sk_metalog *ml = calloc(1, sizeof *ml);
    if (!ml)
        return -ENOMEM;
    int rc = sk_plog_open(&opts, &cfg, &ml->plog, NULL);
    if (rc < 0)
        fail(why, -1, rc, "the log files cannot be opened");
    if (rc == 0)
        rc = replay(ml->plog, img, upto, why, &next);
    if (rc < 0 && ml->plog && truncate_unloadable && why->offset >= 0 && !why->in_snapshot)
        rc = truncate_and_replay(ml->plog, img, upto, why, &next);
    if (rc < 0) {
        if (ml->plog)
            sk_plog_close(ml->plog);
        free(ml);
        return rc;
    }
    if (applied_end)
        *applied_end = next;
    ml->last_snapshot_ms = now_ms;
    *out = ml;
    return 0;
}

int sk_metalog_open_ex(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                       bool truncate_unloadable, struct sk_metalog_failure *why,
                       struct sk_metalog **out)
{
    return sk_metalog_open_upto(dir, img, now_ms, truncate_unloadable, INT64_MAX, why, NULL,
                                out);
}

int sk_metalog_apply_range(struct sk_metalog *ml, struct sk_meta_image *img, int64_t from,
                           int64_t upto, int64_t *next)
{
    struct sk_metalog_failure why = {0};
    *next = from;
    return replay_log(ml->plog, img, from, upto, &why, next);
}

int sk_metalog_open(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                    struct sk_metalog **out)
{
    return sk_metalog_open_ex(dir, img, now_ms, false, NULL, out);
}

void sk_metalog_close(struct sk_metalog *ml)
{
    if (!ml)
        return;
    sk_atomic_writer_free(ml->snapper); /* one in flight completes alone */
    sk_plog_flush(ml->plog, 0);
    sk_plog_close(ml->plog);
    free(ml->voters);
    sk_voter_history_free(&ml->vh);
    free(ml);
}

int sk_metalog_set_voters(struct sk_metalog *ml, const struct sk_voter_set *vs)
{
    if (!ml->voters && !(ml->voters = malloc(sizeof *ml->voters)))
        return -ENOMEM;
    *ml->voters = *vs;
    struct sk_raft_voter_set s;
    if (sk_raft_voters_from_kafka(vs, &s) == 0)
        sk_voter_history_reset(&ml->vh, &s);
    return 0;
}

struct sk_voter_history *sk_metalog_voter_history(struct sk_metalog *ml)
{
    return &ml->vh;
}

/* The set in force at the snapshot's end, when the log has seen one. */
static const struct sk_voter_set *voters_at(struct sk_metalog *ml, int64_t end)
{
    struct sk_raft_voter_set s;
    if (!sk_voter_history_at(&ml->vh, end, &s))
        return ml->voters;
    if (!ml->voters && !(ml->voters = malloc(sizeof *ml->voters)))
        return NULL;
    sk_raft_voters_to_kafka(&s, ml->voters);
    return ml->voters;
}

void sk_metalog_set_snapshot_policy(struct sk_metalog *ml, int64_t bytes, int64_t interval_ms)
{
    ml->snapshot_bytes = bytes;
    ml->snapshot_ms = interval_ms;
}

/* Kafka's SnapshotGenerator: after so many bytes of records, or once the
 * last snapshot is older than the interval and records came since. */
static bool snapshot_due(const struct sk_metalog *ml, int64_t now)
{
    if (ml->snapshot_bytes > 0 && ml->since_snapshot >= ml->snapshot_bytes)
        return true;
    return ml->snapshot_ms > 0 && ml->since_snapshot > 0 &&
           now - ml->last_snapshot_ms >= ml->snapshot_ms;
}

void sk_metalog_set_retention(struct sk_metalog *ml, int32_t segment_bytes, int64_t segment_ms,
                              int64_t max_bytes, int64_t max_ms)
{
    struct sk_plog_config cfg;
    sk_plog_config_default(&cfg);
    cfg.retention_ms = -1;
    if (segment_bytes > 0)
        cfg.segment_bytes = segment_bytes;
    if (segment_ms > 0)
        cfg.segment_ms = segment_ms;
    sk_plog_set_config(ml->plog, &cfg);
    ml->retention_bytes = max_bytes;
    ml->retention_ms = max_ms;
}

void sk_metalog_set_syncer(struct sk_metalog *ml, const struct sk_syncer *syncer)
{
    ml->syncer = syncer;
    sk_atomic_writer_free(ml->snapper); /* made on the blocking syncer */
    ml->snapper = NULL;
}

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The log below a snapshot goes only once the snapshot is durable; a failed
 * one keeps the log, and the next append tries again. */
static void snapshot_written(void *arg, int err)
{
    struct sk_metalog *ml = arg;
    const char *dir = sk_plog_dir(ml->plog);
    int64_t end = ml->snapshot_end;
    if (err < 0) {
        sk_warn("cannot write a metadata snapshot in %s: %s", dir, strerror(-err));
        ml->since_snapshot += ml->snapshot_bytes > 0 ? ml->snapshot_bytes : 1;
        ml->last_snapshot_ms = 0;
        return;
    }
    sk_info("metadata snapshot at offset %lld written", (long long)end);
    int rc = sk_meta_snapshot_clean(ml->plog, ml->retention_bytes, ml->retention_ms, wall_now());
    if (rc < 0)
        sk_warn("cannot delete the metadata log below its snapshots: %s", strerror(-rc));
}

/* The Raft epoch that wrote offset, which names a snapshot ending after
 * it as KRaft's do: each epoch starts where the one before it ended. */
static int32_t epoch_at(const struct sk_plog *p, int64_t offset)
{
    /* Below the log start (a log that is an installed snapshot and no more)
     * the epochs are the snapshot's. */
    int32_t snap_epoch = 0;
    if (offset < sk_plog_log_start_offset(p) &&
        sk_meta_snapshot_latest_id(sk_plog_dir(p), offset + 1, &snap_epoch) == offset + 1)
        return snap_epoch;
    int32_t e = sk_plog_latest_epoch(p);
    while (e > 0) {
        int32_t below;
        int64_t start;
        sk_plog_epoch_end_offset(p, e - 1, &below, &start);
        if (below < 0 || start <= offset)
            return e;
        e = below;
    }
    return 0;
}

/* Once enough has been appended, the image is written as a snapshot and the
 * log below it deleted: start-up then reads the snapshot and a short tail.
 * The write goes through the syncer and is not waited for; one at a time. */
static void maybe_snapshot(struct sk_metalog *ml, const struct sk_meta_image *img, int64_t now)
{
    if (!snapshot_due(ml, now))
        return;
    const char *dir = sk_plog_dir(ml->plog);
    if (!ml->snapper && !(ml->snapper = sk_atomic_writer_new(ml->syncer, dir))) {
        sk_warn("cannot write a metadata snapshot in %s: %s", dir, strerror(ENOMEM));
        return;
    }
    if (sk_atomic_writer_busy(ml->snapper))
        return;
    ml->since_snapshot = 0;
    ml->last_snapshot_ms = now;
    /* A snapshot installed from the leader may already end there. */
    if (sk_meta_snapshot_latest(dir, img->last_offset + 1) == img->last_offset + 1)
        return;
    ml->snapshot_end = img->last_offset + 1;
    int rc = sk_meta_snapshot_write_voters_async(ml->snapper, img, voters_at(ml, ml->snapshot_end),
                                                 epoch_at(ml->plog, img->last_offset), now,
                                                 snapshot_written, ml);
    if (rc < 0)
        snapshot_written(ml, rc);
}

int64_t sk_metalog_end_offset(const struct sk_metalog *ml)
{
    return sk_plog_log_end_offset(ml->plog);
}

static int encode_batch(const struct sk_meta_rec *recs, int n, int64_t base, int64_t now_ms,
                        struct sk_buf *out)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base;
    struct sk_batch_builder b;
    sk_batch_builder_init(&b, &spec);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        size_t len = sk_meta_record_size(recs[i].type, recs[i].version, recs[i].rec);
        uint8_t *v = malloc(len ? len : 1);
        rc = v ? sk_meta_record_encode(v, len, recs[i].type, recs[i].version, recs[i].rec) : -ENOMEM;
        if (rc >= 0) {
            struct sk_record_in in = {.timestamp = now_ms, .key_len = -1, .value = v,
                                      .value_len = (int32_t)len};
            rc = sk_batch_builder_add(&b, &in);
        }
        free(v);
    }
    if (rc >= 0)
        rc = sk_batch_builder_finish(&b, out);
    sk_batch_builder_free(&b);
    return rc < 0 ? rc : 0;
}

int sk_metalog_encode(const struct sk_meta_rec *recs, int n, int64_t base, int64_t now_ms,
                      struct sk_buf *out)
{
    if (n > SK_METALOG_MAX_BATCH_RECORDS)
        return -EMSGSIZE;
    int rc = encode_batch(recs, n, base, now_ms, out);
    /* Checked before anything is written: a batch the loader would refuse
     * must never reach the log. */
    if (rc == 0 && out->len > SK_METALOG_MAX_BATCH_BYTES)
        rc = -EMSGSIZE;
    return rc;
}

int sk_metalog_append_batch(struct sk_metalog *ml, const uint8_t *p, size_t len, int64_t now_ms)
{
    int rc = sk_plog_append(ml->plog, p, len, now_ms, NULL);
    if (rc == 0)
        ml->since_snapshot += (int64_t)len;
    return rc;
}

struct sk_plog *sk_metalog_plog(struct sk_metalog *ml)
{
    return ml->plog;
}

/* Encodes and appends one batch; *batch keeps its bytes for the caller. */
static int write_batch(struct sk_metalog *ml, const struct sk_meta_rec *recs, int n,
                       int64_t now_ms, struct sk_buf *batch)
{
    int rc = sk_metalog_encode(recs, n, sk_plog_next_offset(ml->plog), now_ms, batch);
    if (rc == 0)
        rc = sk_metalog_append_batch(ml, batch->data, batch->len, now_ms);
    return rc;
}

int sk_metalog_write(struct sk_metalog *ml, struct sk_meta_image *img,
                     const struct sk_meta_rec *recs, int n, int64_t now_ms, int64_t *end)
{
    struct sk_buf batch = {0};
    int rc = write_batch(ml, recs, n, now_ms, &batch);
    if (rc == 0)
        rc = sk_meta_apply_batches(img, batch.data, batch.len, false);
    if (rc == 0 && end)
        *end = sk_plog_log_end_offset(ml->plog);
    sk_buf_free(&batch);
    return rc;
}

int sk_metalog_append(struct sk_metalog *ml, struct sk_meta_image *img,
                      const struct sk_meta_rec *recs, int n, int64_t now_ms)
{
    struct sk_buf batch = {0};
    int rc = write_batch(ml, recs, n, now_ms, &batch);
    /* Start-up, tools and tests: nothing is served yet, so blocking in
     * fdatasync is harmless here; serving shards use sk_metalog_sync. */
    if (rc == 0)
        rc = sk_plog_flush(ml->plog, now_ms);
    if (rc == 0)
        rc = sk_meta_apply_batches(img, batch.data, batch.len, false);
    if (rc == 0)
        sk_metalog_committed(ml, img, sk_plog_log_end_offset(ml->plog), now_ms);
    sk_buf_free(&batch);
    return rc;
}

void sk_metalog_committed(struct sk_metalog *ml, const struct sk_meta_image *img, int64_t end,
                          int64_t now_ms)
{
    /* Only a committed image is snapshotted: a snapshot of records whose
     * sync then failed would bring them back at the next start. */
    (void)sk_plog_mark_flushed(ml->plog, end, now_ms);
    maybe_snapshot(ml, img, now_ms);
}

/* One sync of the log's files: done runs once every fd of every round has
 * completed, with the first error. A round covers what SK_PLOG_SYNC_MAX fds
 * reach; a log with more unflushed segments than that needs more rounds,
 * each marking its part durable so that the next starts after it. */
struct metalog_sync {
    struct sk_metalog *ml;
    const struct sk_syncer *syncer;
    int64_t target, upto;
    int pending, err;
    void (*done)(void *arg, int res);
    void *arg;
};

static int sync_round(struct metalog_sync *s);

static void sync_finish(struct metalog_sync *s)
{
    while (s->err == 0 && s->upto < s->target) {
        s->err = sk_plog_mark_flushed(s->ml->plog, s->upto, 0);
        if (s->err == 0 && (s->err = sync_round(s)) == 0 && s->pending > 0)
            return;
    }
    s->done(s->arg, s->err);
    free(s);
}

static void sync_fd_done(void *arg, int res)
{
    struct metalog_sync *s = arg;
    if (res < 0 && s->err == 0)
        s->err = res;
    if (--s->pending == 0)
        sync_finish(s);
}

/* Submits a round; s->pending is 0 afterwards if nothing is in flight.
 * Returns -errno only if no sync could be submitted at all: then no sync
 * failed, the caller just could not start one. */
static int sync_round(struct metalog_sync *s)
{
    struct sk_plog_sync fds;
    int n = sk_plog_sync_fds(s->ml->plog, &fds);
    if (n <= 0) {
        s->upto = s->target;
        return n;
    }
    s->upto = fds.upto;
    s->pending = 1; /* the round's own hold, so no completion finishes it early */
    int rc = 0, submitted = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        s->pending++;
        sk_sync_count(SK_SYNC_METALOG, 1);
        rc = s->syncer->sync(s->syncer->ctx, fds.fds[i], true, sync_fd_done, s);
        if (rc < 0)
            s->pending--;
        else
            submitted++;
    }
    s->pending--;
    if (rc < 0 && submitted == 0)
        return rc;
    /* Part of the round is in flight: the rest counts as a failed sync. */
    if (rc < 0 && s->err == 0)
        s->err = rc;
    return 0;
}

int sk_metalog_sync(struct sk_metalog *ml, const struct sk_syncer *syncer,
                    void (*done)(void *arg, int res), void *arg)
{
    struct metalog_sync *s = malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    *s = (struct metalog_sync){.ml = ml, .syncer = sk_syncer_or_blocking(syncer),
                               .target = sk_plog_log_end_offset(ml->plog), .done = done,
                               .arg = arg};
    int rc = sync_round(s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (s->pending == 0)
        sync_finish(s);
    return 0;
}

int sk_metalog_discard(struct sk_metalog *ml, int64_t from, int err, bool sync_failed)
{
    /* fsyncgate: after a failed fsync the kernel may have dropped the dirty
     * pages and a retried fsync can report success for data that never
     * reached the disk, so nothing written since the last commit can be
     * trusted or retried. The log goes offline (later writes fail) and what
     * failed is cut off, so that a restart does not replay changes whose
     * clients were told they failed. */
    if (sync_failed)
        sk_plog_sync_failed(ml->plog, err);
    return sk_plog_truncate_to(ml->plog, from);
}
