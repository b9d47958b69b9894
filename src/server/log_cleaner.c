/* The log cleaner of the shard (Kafka's LogCleaner and LogCleanerManager).
 *
 * Every log.cleaner.backoff.ms the cleaner looks for the compacted partition
 * whose dirty ratio is highest above its min.cleanable.dirty.ratio (or whose
 * oldest dirty record passed max.compaction.lag.ms, or whose tombstones passed
 * their delete horizon) and starts a job on it. The job then runs in slices on
 * the shard's timer, one slice per millisecond at most: each slice reads at most
 * SLICE_BYTES of the log and stops early past SLICE_NS (the cleaner's reads are
 * page-cache preads and its writes pwrites, synchronous), so a request waits at
 * most about one slice; between slices the reactor serves I/O. The fdatasyncs
 * that make a cleaned group durable go to the shard's ring through its syncer
 * (cleaner_swap.c), and the job waits for them between slices.
 * Running the whole job on a thread would need the segment list and fds shared
 * across threads, which they are not (DESIGN.md: all state is shard-local).
 *
 * The first dirty offset of each log is kept in cleaner-offset-checkpoint in the
 * log dir, a node-wide file (skein/checkpoints.h): after each completed clean
 * the shard hands its lines to the node's writer, not waited for; a failed
 * write is logged and the next clean writes it again (a stale checkpoint only
 * makes the next clean of that log redo work). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skein/checkpoints.h"
#include "skein/log_cleaner.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/timer.h"

/* A slice ends after SLICE_BYTES or once SLICE_NS have passed, checked every
 * STEP_BYTES: under heavy writeback a single pread or pwrite of the page cache
 * can block for milliseconds, so bytes alone do not bound the stall. */
#define SLICE_BYTES (2u << 20)
#define STEP_BYTES (128u << 10)
#define SLICE_NS 4000000u
#define SLICE_GAP_MS 1

struct cleaner_entry {
    char topic[256];
    int32_t partition;
    int64_t first_dirty;
    int64_t horizon;      /* earliest tombstone horizon to revisit, -1 none */
    bool uncleanable;     /* damaged, or too many keys for the map */
};

struct sk_log_cleaner {
    struct sk_broker *b;
    struct cleaner_entry *e;
    size_t n, cap;
    struct sk_clean_job *job;
    size_t job_entry;
    uint64_t job_ns;          /* time spent in the job's slices */
    uint64_t max_slice_ns;
    sk_timer_id timer;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *log_dir(const struct sk_log_cleaner *c)
{
    return c->b->cfg->log_dirs[0];
}

/* ---- entries and their checkpoint ------------------------------------------------ */

static struct cleaner_entry *entry_get(struct sk_log_cleaner *c, const char *topic, int32_t part)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].partition == part && strcmp(c->e[i].topic, topic) == 0)
            return &c->e[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cleaner_entry *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            return NULL;
        c->e = e;
        c->cap = cap;
    }
    struct cleaner_entry *e = &c->e[c->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    e->partition = part;
    e->first_dirty = -1;
    e->horizon = -1;
    return e;
}

static void checkpoint_load(struct sk_log_cleaner *c)
{
    struct sk_offset_checkpoint_entry *cp;
    size_t n;

    if (sk_offset_checkpoint_read(log_dir(c), SK_CLEANER_OFFSET_CHECKPOINT, &cp, &n) < 0) {
        sk_warn("%s/%s does not parse: every compacted log is cleaned from its start",
                log_dir(c), SK_CLEANER_OFFSET_CHECKPOINT);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct cleaner_entry *e = entry_get(c, cp[i].topic, cp[i].partition);
        if (e)
            e->first_dirty = cp[i].offset;
    }
    free(cp);
}

static struct sk_partition *entry_partition(struct sk_log_cleaner *c, const struct cleaner_entry *e)
{
    for (int i = 0; i < c->b->nparts; i++) {
        struct sk_partition *p = c->b->parts[i];
        if (p->id == e->partition && strcmp(p->topic, e->topic) == 0)
            return p;
    }
    return NULL;
}

/* Only the logs this shard still holds are written, as Kafka does for its
 * own; the other shards' lines are theirs. */
static int checkpoint_write(struct sk_log_cleaner *c)
{
    struct sk_offset_checkpoint_entry *cp = calloc(c->n + 1, sizeof(*cp));
    size_t n = 0;

    if (!cp)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].first_dirty < 0 || !entry_partition(c, &c->e[i]))
            continue;
        memcpy(cp[n].topic, c->e[i].topic, sizeof(cp[n].topic));
        cp[n].partition = c->e[i].partition;
        cp[n++].offset = c->e[i].first_dirty;
    }
    return sk_checkpoint_offer(c->b, SK_CHECKPOINT_CLEANER, cp, n, NULL, NULL);
}

/* ---- choosing a log -------------------------------------------------------------- */

/* How much the log wants cleaning: its dirty ratio, 2 if max.compaction.lag.ms
 * forces it, 0 if it need not be cleaned. */
static double log_priority(const struct sk_partition *p, const struct cleaner_entry *e,
                           int64_t now)
{
    struct sk_clean_range rg;

    sk_plog_clean_range(p->log, e->first_dirty, now, p->cfg.min_compaction_lag_ms, &rg);
    uint64_t total = rg.clean_bytes + rg.dirty_bytes;
    double ratio = total ? (double)rg.dirty_bytes / (double)total : 0;
    if (rg.dirty_bytes && rg.dirty_since >= 0 && now - rg.dirty_since > p->cfg.max_compaction_lag_ms)
        return 2;
    if (rg.dirty_bytes && ratio >= p->cfg.min_cleanable_dirty_ratio)
        return ratio > 0 ? ratio : 1e-9;
    if (e->horizon >= 0 && e->horizon <= now)
        return 1e-9;
    return 0;
}

static struct cleaner_entry *pick_log(struct sk_log_cleaner *c, int64_t now)
{
    struct cleaner_entry *best = NULL;
    double best_prio = 0;

    for (int i = 0; i < c->b->nparts; i++) {
        struct sk_partition *p = c->b->parts[i];
        if (!p->cfg.cleanup_compact)
            continue;
        struct cleaner_entry *e = entry_get(c, p->topic, p->id);
        if (!e || e->uncleanable)
            continue;
        double prio = log_priority(p, e, now);
        if (prio > best_prio) {
            best_prio = prio;
            best = e;
        }
    }
    return best;
}

static struct sk_clean_producer *producers_of(const struct sk_partition *p, size_t *n)
{
    int count = sk_producer_count(p);
    struct sk_clean_producer *out = calloc((size_t)(count > 0 ? count : 0) + 1, sizeof(*out));
    struct sk_producer_info info;

    *n = 0;
    for (int i = 0; out && i < count && sk_producer_at(p, i, &info) == 0; i++)
        out[(*n)++] = (struct sk_clean_producer){info.producer_id, info.last_offset};
    return out;
}

static int job_start(struct sk_log_cleaner *c, struct cleaner_entry *e, int64_t now)
{
    struct sk_partition *p = entry_partition(c, e);
    size_t np;
    struct sk_clean_producer *prod = producers_of(p, &np);

    if (!prod)
        return -ENOMEM;
    struct sk_clean_opts o = {
        .now_ms = now,
        .min_lag_ms = p->cfg.min_compaction_lag_ms,
        .delete_retention_ms = p->cfg.delete_retention_ms,
        .map_bytes = (size_t)c->b->cfg->log.cleaner_dedupe_buffer_size,
        .producers = prod,
        .nproducers = np,
        .syncer = &c->b->syncer,
    };
    int r = sk_clean_begin(p->log, e->first_dirty, &o, &c->job);
    free(prod);
    c->job_entry = (size_t)(e - c->e);
    c->job_ns = 0;
    c->max_slice_ns = 0;
    if (r == 0 && !c->job)
        e->horizon = -1; /* nothing below the active segment */
    return r;
}

/* ---- running the job ---------------------------------------------------------------- */

static void job_finish(struct sk_log_cleaner *c, struct cleaner_entry *e)
{
    const struct sk_clean_stats *st = sk_clean_stats(c->job);
    double ms = (double)c->job_ns / 1e6;

    e->first_dirty = st->end;
    e->horizon = st->max_delete_horizon;
    sk_info("%s-%d: cleaned %u segment(s) into %u below offset %lld: %llu records kept, %llu "
            "removed, %.1f MB read in %.1f ms of slices (%.0f MB/s), longest slice %.2f ms",
            e->topic, e->partition, st->segments_in, st->segments_out, (long long)st->end,
            (unsigned long long)st->records_kept, (unsigned long long)st->records_dropped,
            (double)st->bytes_read / 1e6, ms, ms > 0 ? (double)st->bytes_read / 1e3 / ms : 0,
            (double)c->max_slice_ns / 1e6);
    sk_clean_free(c->job);
    c->job = NULL;
    if (checkpoint_write(c) < 0)
        sk_warn("cannot write %s/%s", log_dir(c), SK_CLEANER_OFFSET_CHECKPOINT);
}

static void job_fail(struct sk_log_cleaner *c, struct cleaner_entry *e, int r)
{
    if (r != -ESTALE) {
        /* as Kafka: a log the cleaner cannot handle is left alone until restart */
        sk_warn("%s-%d: cannot be cleaned (%s); marked uncleanable", e->topic, e->partition,
                strerror(-r));
        e->uncleanable = true;
    }
    sk_clean_free(c->job);
    c->job = NULL;
}

/* One slice. Returns true if the job goes on. */
static bool job_slice(struct sk_log_cleaner *c)
{
    struct cleaner_entry *e = &c->e[c->job_entry];
    struct sk_partition *p = entry_partition(c, e);

    if (!p || !sk_clean_job_is_for(c->job, p->log)) {
        job_fail(c, e, -ESTALE);
        return false;
    }
    if (p->flush_in_flight)
        return true; /* its fsync holds segment fds the swap would close */
    uint64_t t0 = mono_ns(), dt = 0;
    int r = 1;
    for (uint32_t done = 0; r == 1 && done < SLICE_BYTES && dt < SLICE_NS; done += STEP_BYTES) {
        r = sk_clean_step(c->job, STEP_BYTES);
        dt = mono_ns() - t0;
    }
    c->job_ns += dt;
    if (dt > c->max_slice_ns)
        c->max_slice_ns = dt;
    if (r == 0)
        job_finish(c, e);
    else if (r < 0)
        job_fail(c, e, r);
    return r == 1;
}

static void tick(void *arg)
{
    struct sk_log_cleaner *c = arg;
    int64_t now = sk_wall_ms();
    uint64_t next = (uint64_t)c->b->cfg->log.cleaner_backoff_ms;

    if (c->job && job_slice(c)) {
        next = SLICE_GAP_MS;
    } else {
        struct cleaner_entry *e = pick_log(c, now);
        int r = e ? job_start(c, e, now) : 0;
        if (r < 0)
            job_fail(c, e, r);
        if (c->job)
            next = SLICE_GAP_MS;
    }
    c->timer = sk_timer_add(c->b->shard, next, tick, c);
}

int sk_log_cleaner_start(struct sk_broker *b)
{
    if (!b->cfg->log.cleaner_enable)
        return 0;
    struct sk_log_cleaner *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->b = b;
    checkpoint_load(c);
    b->cleaner = c;
    c->timer = sk_timer_add(b->shard, (uint64_t)b->cfg->log.cleaner_backoff_ms, tick, c);
    return c->timer ? 0 : -ENOMEM;
}

void sk_log_cleaner_stop(struct sk_broker *b)
{
    struct sk_log_cleaner *c = b->cleaner;

    if (!c)
        return;
    if (c->timer)
        sk_timer_cancel(b->shard, c->timer);
    sk_clean_free(c->job); /* its .cleaned files go at the next load */
    free(c->e);
    free(c);
    b->cleaner = NULL;
}
