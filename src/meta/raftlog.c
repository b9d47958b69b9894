/* The Raft core's log over __cluster_metadata-0 (skein/meta_raftlog.h). */
#include "skein/meta_raftlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skein/buf.h"
#include "skein/meta_snapshot.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/raft.h"
#include "skein/raft_voters_batch.h"
#include "skein/record.h"
#include "skein/voter_history.h"

#include "raftlog_snapshot.h"

#define READ_CHUNK (64u * 1024)

/* One flush in flight. Detached (l NULL) when the log is freed first. */
struct flush {
    struct flush *next;
    struct sk_meta_raftlog *l;
    uint64_t token;
    uint64_t gen;
    int64_t end;
    bool in_call; /* the syncer may complete before sk_metalog_sync returns */
    bool done;
    int err;
};

struct sk_meta_raftlog {
    struct sk_metalog *ml;
    struct sk_meta_raftlog_config cfg;
    struct flush *flushes;
    uint64_t gen; /* truncations so far */
    struct sk_buf scratch; /* the batch being appended */
    uint8_t *rbuf;         /* what the last read returned */
    size_t rcap;
    struct sk_buf venc;    /* the core's encodings of the VOTERS batches it returned */
    struct sk_snap_part part; /* a snapshot being fetched */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sk_plog *plog_of(const struct sk_meta_raftlog *l)
{
    return sk_metalog_plog(l->ml);
}

static const char *dir_of(const struct sk_meta_raftlog *l)
{
    return sk_plog_dir(plog_of(l));
}

int sk_meta_raftlog_new(struct sk_metalog *ml, const struct sk_meta_raftlog_config *cfg,
                        struct sk_meta_raftlog **out)
{
    struct sk_meta_raftlog *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->ml = ml;
    l->cfg = *cfg;
    l->part.fd = -1;
    *out = l;
    return 0;
}

void sk_meta_raftlog_set_syncer(struct sk_meta_raftlog *l, const struct sk_syncer *syncer)
{
    l->cfg.syncer = syncer;
}

void sk_meta_raftlog_free(struct sk_meta_raftlog *l)
{
    if (!l)
        return;
    for (struct flush *f = l->flushes; f; f = f->next)
        f->l = NULL;
    sk_snap_part_drop(dir_of(l), &l->part);
    sk_buf_free(&l->scratch);
    sk_buf_free(&l->venc);
    free(l->rbuf);
    free(l);
}

static int64_t end_offset(void *ctx)
{
    return sk_plog_log_end_offset(plog_of(ctx));
}

/* The bytes of a batch someone else encoded must be one whole batch of
 * count records, of the kind the core says, intact. */
static int check_batch(const struct sk_raft_batch *b)
{
    struct sk_batch_header h;
    if (sk_batch_header_read(b->data, b->len, &h) < 0 || sk_batch_size(&h) != b->len ||
        h.last_offset_delta + 1 != b->count || !sk_batch_crc_ok(b->data, &h))
        return -EBADMSG;
    bool control = (h.attributes & SK_BATCH_CONTROL) != 0;
    return control == (b->kind != SK_RAFT_BATCH_DATA) ? 0 : -EBADMSG;
}


static struct sk_voter_history *history(struct sk_meta_raftlog *l)
{
    return sk_metalog_voter_history(l->ml);
}

/* A voter set the log now holds at offset: its snapshots carry it. */
static int note_voters(struct sk_meta_raftlog *l, int64_t offset, const uint8_t *enc, size_t len)
{
    struct sk_raft_voter_set s;
    if (sk_raft_voters_decode(enc, len, &s) < 0)
        return -EBADMSG;
    return sk_voter_history_note(history(l), offset, &s);
}

/* The leader's own LeaderChange: the core does not say who granted its
 * votes, so the message names the leader alone among GrantingVoters. Its
 * Voters are the KIP-853 set the log holds, else the configured ones. */
static int encode_leader_change(struct sk_meta_raftlog *l, const struct sk_raft_batch *b)
{
    const struct sk_meta_raftlog_config *c = &l->cfg;
    struct sk_raft_voter_set s;
    int32_t ids[SK_RAFT_MAX_VOTERS];
    const int32_t *voters = c->voters;
    int32_t n = c->n_voters;
    if (sk_voter_history_latest(history(l), &s)) {
        for (int32_t i = 0; i < s.n; i++)
            ids[i] = s.voters[i].id;
        voters = ids;
        n = s.n;
    }
    return sk_leader_change_encode(b->base_offset, b->epoch, wall_ms(), c->node_id, voters, n,
                                   &c->node_id, 1, &l->scratch);
}

/* The core's VOTERS batch in Kafka's form: its Voters control record. */
static int encode_voters(struct sk_meta_raftlog *l, const struct sk_raft_batch *b)
{
    int rc = sk_raft_voters_batch_build(b, wall_ms(), &l->scratch);
    return rc < 0 ? rc : note_voters(l, b->base_offset, b->data, b->len);
}

static int append(void *ctx, const struct sk_raft_batch *b)
{
    struct sk_meta_raftlog *l = ctx;
    if (b->base_offset != end_offset(l) || b->count <= 0)
        return -EINVAL;
    l->scratch.len = 0;
    int rc;
    if (b->kind == SK_RAFT_BATCH_LEADER_CHANGE && b->len == 0) {
        rc = encode_leader_change(l, b);
    } else if (b->kind == SK_RAFT_BATCH_VOTERS) {
        rc = encode_voters(l, b);
    } else {
        rc = check_batch(b);
        if (rc == 0)
            rc = sk_buf_append(&l->scratch, b->data, b->len);
    }
    if (rc < 0)
        return rc;
    /* Neither field is under the batch's CRC, so stamping them keeps it. */
    sk_batch_set_base_offset(l->scratch.data, b->base_offset);
    sk_batch_set_leader_epoch(l->scratch.data, b->epoch);
    return sk_metalog_append_batch(l->ml, l->scratch.data, l->scratch.len, wall_ms());
}

static int truncate_to(void *ctx, int64_t offset)
{
    struct sk_meta_raftlog *l = ctx;
    l->gen++;
    sk_voter_history_truncate(history(l), offset);
    return sk_plog_truncate_to(plog_of(l), offset);
}

/* The recovery point moves with each flush, so a restart trusts what is
 * durable; not after a truncation, past which the flush covered batches
 * that are gone while their offsets now hold new, unsynced ones. */
static int flush_result(struct sk_meta_raftlog *l, const struct flush *f, int err)
{
    if (err < 0) {
        sk_plog_sync_failed(plog_of(l), err);
        return err;
    }
    return f->gen == l->gen ? sk_plog_mark_flushed(plog_of(l), f->end, 0) : 0;
}

static void unlink_flush(struct sk_meta_raftlog *l, struct flush *f)
{
    for (struct flush **pp = &l->flushes; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

static void flush_done(void *arg, int res)
{
    struct flush *f = arg;
    f->done = true;
    f->err = res;
    if (f->in_call)
        return; /* flush() answers for it */
    struct sk_meta_raftlog *l = f->l;
    if (l) {
        unlink_flush(l, f);
        res = flush_result(l, f, res);
        if (l->cfg.flushed)
            l->cfg.flushed(l->cfg.arg, f->token, f->end, res);
    }
    free(f);
}

static int flush(void *ctx, uint64_t token)
{
    struct sk_meta_raftlog *l = ctx;
    struct flush *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    *f = (struct flush){.next = l->flushes, .l = l, .token = token, .gen = l->gen,
                        .end = end_offset(l), .in_call = true};
    int rc = sk_metalog_sync(l->ml, l->cfg.syncer, flush_done, f);
    f->in_call = false;
    if (rc < 0 || f->done) {
        if (rc == 0)
            rc = flush_result(l, f, f->err);
        free(f);
        return rc;
    }
    l->flushes = f;
    return 1;
}

/* A log emptied by an installed snapshot goes on from the snapshot's
 * epoch, as Kafka's KafkaMetadataLog.lastFetchedEpoch does. */
static int32_t last_epoch(void *ctx)
{
    int32_t e = sk_plog_latest_epoch(plog_of(ctx));
    struct sk_raft_snapshot_id id;
    if (e < 0 && sk_snap_file_latest(dir_of(ctx), &id) == 0)
        return id.epoch;
    return e > 0 ? e : 0;
}

/* Epochs below the log start end where the latest snapshot does, as in
 * Kafka's KafkaMetadataLog.endOffsetForEpoch. */
static void below_start(void *ctx, int32_t epoch, int32_t *out_epoch, int64_t *out_end)
{
    struct sk_raft_snapshot_id id;
    if (sk_snap_file_latest(dir_of(ctx), &id) == 0 && id.epoch <= epoch &&
        id.end_offset >= sk_plog_log_start_offset(plog_of(ctx))) {
        *out_epoch = id.epoch;
        *out_end = id.end_offset;
    }
}

/* The checkpoint answers as Kafka's OffsetForLeaderEpoch does, which gives
 * the requested epoch itself when no epoch at or below it is in the log; the
 * core wants -1 then. The two cases differ in the epoch below: with no epoch
 * <= epoch there is none <= epoch - 1 either, and the answer for it ends at
 * the same offset, while a real entry for epoch starts before its end. */
static void end_for_epoch(void *ctx, int32_t epoch, int32_t *out_epoch, int64_t *out_end)
{
    struct sk_plog *p = plog_of(ctx);
    int32_t latest = sk_plog_latest_epoch(p);
    *out_epoch = -1;
    *out_end = 0;
    /* No leader appends in epoch 0: the first election makes epoch 1. */
    if (epoch < 0)
        return;
    if (latest < 0 || epoch == 0) {
        below_start(ctx, epoch, out_epoch, out_end);
        return;
    }
    if (epoch >= latest) {
        *out_epoch = latest;
        *out_end = sk_plog_log_end_offset(p);
        return;
    }
    int32_t e, below_e;
    int64_t end, below_end;
    sk_plog_epoch_end_offset(p, epoch, &e, &end);
    if (e < 0) {
        below_start(ctx, epoch, out_epoch, out_end);
        return;
    }
    sk_plog_epoch_end_offset(p, epoch - 1, &below_e, &below_end);
    if (e == epoch && below_end == end) {
        *out_end = end > sk_plog_log_start_offset(p) ? end : 0;
        below_start(ctx, epoch, out_epoch, out_end);
        return;
    }
    *out_epoch = e;
    *out_end = end;
}

static int grow_read(struct sk_meta_raftlog *l, size_t want)
{
    if (l->rcap >= want)
        return 0;
    uint8_t *nb = realloc(l->rbuf, want);
    if (!nb)
        return -ENOMEM;
    l->rbuf = nb;
    l->rcap = want;
    return 0;
}

/* Whole batches into l->rbuf: at least one, however big, as KIP-74's
 * fetches do, up to the loader's bound. */
static int read_bytes(struct sk_meta_raftlog *l, int64_t offset, size_t max_bytes, size_t *len)
{
    size_t want = max_bytes > READ_CHUNK ? max_bytes : READ_CHUNK;
    for (;;) {
        int rc = grow_read(l, want);
        if (rc == 0)
            rc = sk_plog_read_copy(plog_of(l), offset, (uint32_t)want, INT64_MAX, l->rbuf,
                                   l->rcap, len);
        if (rc < 0 && rc != -ENOBUFS)
            return rc;
        if (rc == 0 && *len > 0)
            return 0;
        if (want >= SK_METALOG_MAX_LOAD_BYTES)
            return -EMSGSIZE;
        want *= 2;
    }
}

/* A control batch holding a Voters record is the core's VOTERS batch: its
 * data becomes the set in the core's encoding, kept in l->venc. */
static int voters_in(struct sk_meta_raftlog *l, struct sk_raft_batch *b)
{
    uint8_t enc[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t n = 0;
    int rc = sk_raft_voters_batch_parse(b->data, b->len, enc, sizeof enc, &n);
    if (rc <= 0)
        return rc;
    if ((rc = sk_buf_append(&l->venc, enc, n)) < 0 ||
        (rc = note_voters(l, b->base_offset, enc, n)) < 0)
        return rc;
    b->kind = SK_RAFT_BATCH_VOTERS;
    b->len = n;
    return 0;
}

static int read_from(void *ctx, int64_t offset, size_t max_bytes, struct sk_raft_batch *out,
                     size_t max_out, size_t *n_out)
{
    struct sk_meta_raftlog *l = ctx;
    *n_out = 0;
    l->venc.len = 0;
    /* Below the log start only a snapshot holds the records: the core
     * answers such a fetch with the snapshot's id, never from here. */
    if (offset < sk_plog_log_start_offset(plog_of(l)) || offset >= end_offset(l))
        return 0;
    size_t len = 0;
    int rc = read_bytes(l, offset, max_bytes, &len);
    const uint8_t *p = l->rbuf;
    while (rc == 0 && len > 0 && *n_out < max_out) {
        struct sk_batch_header h;
        if (sk_batch_header_read(p, len, &h) < 0 || sk_batch_size(&h) > len)
            return -EBADMSG;
        if (*n_out > 0 && (size_t)(p - l->rbuf) + sk_batch_size(&h) > max_bytes)
            break;
        struct sk_raft_batch *b = &out[(*n_out)++];
        *b = (struct sk_raft_batch){
            .base_offset = h.base_offset, .epoch = h.partition_leader_epoch,
            .count = h.last_offset_delta + 1,
            .kind = (h.attributes & SK_BATCH_CONTROL) ? SK_RAFT_BATCH_LEADER_CHANGE
                                                      : SK_RAFT_BATCH_DATA,
            .data = p, .len = sk_batch_size(&h)};
        if (b->kind != SK_RAFT_BATCH_DATA && (rc = voters_in(l, b)) < 0)
            return rc;
        p += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
    /* The encodings are placed once venc stops growing. */
    for (size_t i = 0, at = 0; i < *n_out; i++)
        if (out[i].kind == SK_RAFT_BATCH_VOTERS) {
            out[i].data = l->venc.data + at;
            at += out[i].len;
        }
    return rc;
}

static int64_t start_offset(void *ctx)
{
    return sk_plog_log_start_offset(plog_of(ctx));
}

static int snapshot_latest(void *ctx, struct sk_raft_snapshot_id *id)
{
    return sk_snap_file_latest(dir_of(ctx), id);
}

static int snapshot_read(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                         uint8_t *buf, size_t max, size_t *n, int64_t *size)
{
    return sk_snap_file_read(dir_of(ctx), id, pos, buf, max, n, size);
}

static int snapshot_write(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                          const uint8_t *data, size_t len)
{
    struct sk_meta_raftlog *l = ctx;
    return sk_snap_part_write(dir_of(l), &l->part, id, pos, data, len);
}

/* KIP-853: the set among the checkpoint's control records. */
static int snapshot_voters(void *ctx, const struct sk_raft_snapshot_id *id,
                           struct sk_raft_voter_set *out)
{
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    int rc = sk_voters_snapshot_read_at(dir_of(ctx), id->end_offset, vs);
    if (rc == 0 && sk_raft_voters_from_kafka(vs, out) < 0)
        rc = -EBADMSG;
    free(vs);
    return rc;
}

/* The snapshot replaces the whole log: a follower takes one only when its
 * log ends below the leader's start. Flushes in flight then cover batches
 * that are gone, so they no longer move the recovery point. */
static int snapshot_install(void *ctx, const struct sk_raft_snapshot_id *id)
{
    struct sk_meta_raftlog *l = ctx;
    int rc = sk_snap_part_install(dir_of(l), &l->part, id);
    if (rc < 0)
        return rc;
    l->gen++;
    rc = sk_plog_truncate_fully(plog_of(l), id->end_offset, wall_ms());
    if (rc == 0)
        rc = sk_plog_flush(plog_of(l), wall_ms());
    if (rc == 0)
        sk_meta_snapshot_prune(dir_of(l), id->end_offset);
    if (rc == 0) {
        struct sk_raft_voter_set s;
        sk_voter_history_reset(history(l), snapshot_voters(l, id, &s) == 0 ? &s : NULL);
    }
    return rc;
}

void sk_meta_raftlog_bind(struct sk_meta_raftlog *l, struct sk_raft_config *cfg)
{
    cfg->log = (struct sk_raft_log_ops){
        .append = append,
        .truncate = truncate_to,
        .flush = flush,
        .end_offset = end_offset,
        .last_epoch = last_epoch,
        .end_for_epoch = end_for_epoch,
        .read = read_from,
        .start_offset = start_offset,
        .snapshot_latest = snapshot_latest,
        .snapshot_read = snapshot_read,
        .snapshot_write = snapshot_write,
        .snapshot_install = snapshot_install,
        .snapshot_voters = snapshot_voters,
    };
    cfg->log_ctx = l;
}
