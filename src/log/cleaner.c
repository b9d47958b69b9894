/* The cleaning of one log, as a job advanced in budgeted steps (see
 * skein/log_cleaner.h): first the key map over the dirty section, then the
 * rewrite of the segments below the end in groups that each become one segment. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleaner_int.h"
#include "plog-int.h"
#include "scan.h"

enum job_phase { PHASE_MAP, PHASE_REWRITE, PHASE_DONE };

struct sk_clean_job {
    struct sk_plog *p;
    char *dir;                   /* p->dir, usable after p is gone */
    struct sk_clean_map map;
    struct sk_clean_filter f;
    struct sk_clean_producer *producers;
    struct sk_clean_stats st;
    int64_t first_dirty, end;
    struct sk_segment **src;     /* the segments below end when the job began */
    int64_t *src_base;
    size_t nsrc, done;           /* src[0, done) are already replaced */
    enum job_phase phase;
    size_t si;                   /* current source segment */
    struct sk_scan scan;
    bool scanning;
    int src_fd;                  /* src[si]'s .log while scanning it, -1 if none */
    bool src_own;                /* opened for the scan (older segments keep none) */
    size_t gend;                 /* end of the group being rewritten */
    struct sk_segment *out;      /* its .cleaned segment */
    struct sk_clean_sync *sync;  /* out being made durable */
    const struct sk_syncer *syncer;
    uint32_t wb_started;         /* out's bytes handed to writeback */
    uint8_t *buf;                /* one stored batch */
    size_t cap;
    struct sk_buf obuf;          /* what the filter made of it */
};

/* ---- range ------------------------------------------------------------------ */

static void release_src(struct sk_clean_job *j)
{
    if (j->src_fd >= 0 && j->src_own)
        close(j->src_fd);
    j->src_fd = -1;
    j->scanning = false;
}

/* Only segments wholly below the recovery point are cleaned: a rolled segment
 * keeps its files open until a sync makes it durable, and the sync relies on
 * them; cleaning it first would pull them away. */
static int64_t clean_end(const struct sk_plog *p, int64_t now_ms, int64_t min_lag_ms)
{
    for (size_t i = 0; i + 1 < p->nsegs; i++) {
        if (min_lag_ms > 0 && sk_segment_largest_ts(p->segs[i]) > now_ms - min_lag_ms)
            return p->segs[i]->base;
        if (p->segs[i]->next_offset > p->recovery_point)
            return p->segs[i]->base;
    }
    return sk_plog_active(p)->base;
}

void sk_plog_clean_range(const struct sk_plog *p, int64_t checkpoint, int64_t now_ms,
                         int64_t min_lag_ms, struct sk_clean_range *out)
{
    int64_t start = p->segs[0]->base;

    memset(out, 0, sizeof(*out));
    out->end = clean_end(p, now_ms, min_lag_ms);
    /* as Kafka: a checkpoint outside the log restarts from its start; one past
     * the end (min.compaction.lag.ms moved it back) leaves nothing dirty */
    if (checkpoint < start || checkpoint > sk_plog_log_end_offset(p))
        out->first_dirty = start;
    else
        out->first_dirty = checkpoint < out->end ? checkpoint : out->end;
    out->dirty_since = -1;
    for (size_t i = 0; i + 1 < p->nsegs && p->segs[i]->base < out->end; i++) {
        const struct sk_segment *s = p->segs[i];
        bool next_dirty = p->segs[i + 1]->base > out->first_dirty;
        if (!next_dirty) {
            out->clean_bytes += s->size;
            continue;
        }
        if (out->dirty_since < 0)
            out->dirty_since = s->first_ts >= 0 ? s->first_ts : s->created_ms;
        out->dirty_bytes += s->size;
    }
}

/* ---- job lifecycle -------------------------------------------------------------- */

static int cmp_producer(const void *a, const void *b)
{
    int64_t x = ((const struct sk_clean_producer *)a)->producer_id;
    int64_t y = ((const struct sk_clean_producer *)b)->producer_id;
    return (x > y) - (x < y);
}

static int job_snapshot(struct sk_clean_job *j)
{
    struct sk_plog *p = j->p;

    while (j->nsrc + 1 < p->nsegs && p->segs[j->nsrc]->base < j->end)
        j->nsrc++;
    j->src = calloc(j->nsrc + 1, sizeof(*j->src));
    j->src_base = calloc(j->nsrc + 1, sizeof(*j->src_base));
    if (!j->src || !j->src_base)
        return -ENOMEM;
    for (size_t i = 0; i < j->nsrc; i++) {
        j->src[i] = p->segs[i];
        j->src_base[i] = p->segs[i]->base;
    }
    return 0;
}

static int job_producers(struct sk_clean_job *j, const struct sk_clean_opts *o)
{
    if (!o->nproducers)
        return 0;
    j->producers = malloc(o->nproducers * sizeof(*j->producers));
    if (!j->producers)
        return -ENOMEM;
    memcpy(j->producers, o->producers, o->nproducers * sizeof(*j->producers));
    qsort(j->producers, o->nproducers, sizeof(*j->producers), cmp_producer);
    j->f.producers = j->producers;
    j->f.nproducers = o->nproducers;
    return 0;
}

static void job_start_phase(struct sk_clean_job *j)
{
    j->si = 0;
    release_src(j);
    if (j->phase == PHASE_MAP) {
        while (j->si + 1 < j->nsrc && j->src_base[j->si + 1] <= j->first_dirty)
            j->si++;
    }
}

int sk_clean_begin(struct sk_plog *p, int64_t checkpoint, const struct sk_clean_opts *o,
                   struct sk_clean_job **out)
{
    struct sk_clean_range rg;
    struct sk_clean_job *j;
    int r;

    *out = NULL;
    sk_plog_clean_range(p, checkpoint, o->now_ms, o->min_lag_ms, &rg);
    if (rg.end <= p->segs[0]->base || p->nsegs < 2)
        return 0;
    if (!(j = calloc(1, sizeof(*j))))
        return -ENOMEM;
    j->p = p;
    j->src_fd = -1;
    j->syncer = o->syncer;
    if (!(j->dir = strdup(p->dir))) {
        free(j);
        return -ENOMEM;
    }
    j->first_dirty = rg.first_dirty;
    j->end = rg.end;
    j->st.max_delete_horizon = j->f.max_horizon = -1;
    sk_clean_map_init(&j->map, o->map_bytes);
    j->f.map = &j->map;
    j->f.now_ms = o->now_ms;
    j->f.delete_retention_ms = o->delete_retention_ms;
    if ((r = job_snapshot(j)) < 0 || (r = job_producers(j, o)) < 0) {
        sk_clean_free(j);
        return r;
    }
    j->phase = j->first_dirty < j->end ? PHASE_MAP : PHASE_REWRITE;
    job_start_phase(j);
    *out = j;
    return 0;
}

void sk_clean_free(struct sk_clean_job *j)
{
    if (!j)
        return;
    if (j->sync)
        sk_clean_sync_cancel(j->sync);
    if (j->out)
        sk_clean_segment_discard(j->dir, j->out);
    sk_clean_map_free(&j->map);
    sk_buf_free(&j->f.dec);
    sk_buf_free(&j->f.recs);
    sk_buf_free(&j->obuf);
    release_src(j);
    free(j->producers);
    free(j->src);
    free(j->src_base);
    free(j->buf);
    free(j->dir);
    free(j);
}

const struct sk_clean_stats *sk_clean_stats(const struct sk_clean_job *j) { return &j->st; }

bool sk_clean_job_is_for(const struct sk_clean_job *j, const struct sk_plog *p)
{
    return j->p == p;
}

/* ---- shared step helpers ----------------------------------------------------------- */

/* Where src[done] is in the log now, or -ESTALE if the log changed under us. */
static ssize_t job_locate(const struct sk_clean_job *j)
{
    const struct sk_plog *p = j->p;

    if (j->done >= j->nsrc)
        return 0;
    ssize_t at = sk_plog_find_segment(p, j->src_base[j->done]);
    if (at < 0 || (size_t)at + (j->nsrc - j->done) >= p->nsegs)
        return -ESTALE;
    for (size_t k = j->done; k < j->nsrc; k++)
        if (p->segs[(size_t)at + k - j->done] != j->src[k] ||
            p->segs[(size_t)at + k - j->done]->base != j->src_base[k])
            return -ESTALE;
    return at;
}

static int read_batch(struct sk_clean_job *j, uint32_t pos, uint32_t size)
{
    if (j->cap < size) {
        uint8_t *b = realloc(j->buf, size);
        if (!b)
            return -ENOMEM;
        j->buf = b;
        j->cap = size;
    }
    for (uint32_t done = 0; done < size;) {
        ssize_t n = pread(j->src_fd, j->buf + done, size - done, (off_t)pos + done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EBADMSG;
        done += (uint32_t)n;
    }
    j->st.bytes_read += size;
    return 0;
}

/* Next batch of src[si] into j->buf: 1 with it filled, 0 at the segment's end. */
static int next_batch(struct sk_clean_job *j, struct sk_scan_item *it)
{
    const struct sk_segment *seg = j->src[j->si];

    if (!j->scanning) {
        int fd = sk_segment_borrow_fd(seg, &j->src_own);
        if (fd < 0)
            return fd;
        j->src_fd = fd;
        sk_scan_init(&j->scan, seg, fd, 0, seg->size);
        j->scanning = true;
    }
    int k = sk_scan_next(&j->scan, it);
    if (k == SK_SCAN_END) {
        release_src(j);
        return 0;
    }
    if (k != SK_SCAN_BATCH)
        return k == SK_SCAN_BAD ? -EBADMSG : k; /* damaged data is not rewritten */
    int r = read_batch(j, it->pos, it->h.size);
    return r < 0 ? r : 1;
}

/* ---- map phase ---------------------------------------------------------------------- */

/* The map cannot take this segment's keys: clean up to it, unless it is the first. */
static int map_full(struct sk_clean_job *j)
{
    if (j->src_base[j->si] <= j->first_dirty)
        return -ENOSPC;
    j->end = j->src_base[j->si];
    j->nsrc = j->si;
    return 0;
}

static int map_step(struct sk_clean_job *j, int64_t *budget)
{
    struct sk_scan_item it;
    int r;

    while (*budget > 0 && j->si < j->nsrc) {
        if ((r = next_batch(j, &it)) < 0)
            return r;
        if (r == 0) {
            j->si++;
            continue;
        }
        *budget -= it.h.size;
        if (it.h.last < j->first_dirty)
            continue;
        r = sk_clean_map_batch(&j->map, j->buf, it.h.size, j->first_dirty, &j->f.dec);
        if (r == -ENOSPC) {
            if ((r = map_full(j)) < 0)
                return r;
            break;
        }
        if (r < 0)
            return r;
    }
    if (j->si >= j->nsrc) {
        j->phase = PHASE_REWRITE;
        job_start_phase(j);
    }
    return 0;
}

/* ---- rewrite phase -------------------------------------------------------------------- */

/* Kafka's groupSegmentsBySize: consecutive segments whose data and indexes fit one
 * segment and whose offsets stay within int32 of the first base. */
static size_t group_end(const struct sk_clean_job *j)
{
    const struct sk_plog_config *c = &j->p->cfg;
    uint64_t bytes = 0, oidx = 0, tidx = 0;
    size_t e = j->si;

    for (; e < j->nsrc; e++) {
        const struct sk_segment *s = j->src[e];
        bytes += s->size;
        oidx += (uint64_t)s->oidx.entries * SK_OIDX_ENTRY;
        tidx += (uint64_t)s->tidx.entries * SK_TIDX_ENTRY;
        bool fits = bytes <= (uint64_t)c->segment_bytes && bytes <= INT32_MAX &&
                    oidx <= (uint64_t)c->segment_index_bytes &&
                    tidx <= (uint64_t)c->segment_index_bytes &&
                    s->next_offset - 1 - j->src_base[j->si] <= INT32_MAX;
        if (!fits && e > j->si)
            break;
    }
    return e;
}

static int group_open(struct sk_clean_job *j)
{
    j->gend = group_end(j);
    return sk_clean_segment_create(j->p->dir, j->src_base[j->si], j->p->cfg.segment_index_bytes,
                                   j->f.now_ms, &j->out);
}

/* The group's input is all written: make it durable away from the shard. */
static int group_seal(struct sk_clean_job *j)
{
    return sk_clean_sync_start(j->dir, j->out, j->syncer, &j->sync);
}

/* Once durable, the cleaned segment replaces the group in the log. */
static int group_close(struct sk_clean_job *j)
{
    int r = sk_clean_sync_poll(j->sync);

    if (r == 1)
        return 1;
    j->sync = NULL;
    if (r < 0)
        return r;
    ssize_t at = job_locate(j);
    size_t n = j->gend - j->done;
    if (at < 0)
        return (int)at; /* freeing the job removes the .swap files */
    j->wb_started = 0;
    sk_plog_replace_segments(j->p, (size_t)at, n, j->out);
    j->out = NULL;
    j->st.segments_in += (uint32_t)n;
    j->st.segments_out++;
    j->done = j->gend;
    return 0;
}

static int write_out(struct sk_clean_job *j)
{
    struct sk_segment *out = j->out;
    struct sk_peek h;
    size_t at = 0;
    int r;

    if ((uint64_t)out->size + j->obuf.len > INT32_MAX)
        return -EFBIG;
    for (size_t done = 0; done < j->obuf.len;) {
        ssize_t n = pwrite(out->fd, j->obuf.data + done, j->obuf.len - done,
                           (off_t)out->size + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    j->st.bytes_written += j->obuf.len;
    while (at < j->obuf.len && sk_peek_read(j->obuf.data + at, j->obuf.len - at, &h)) {
        if ((r = sk_segment_account(out, &h, out->size, j->p->cfg.index_interval_bytes)) < 0)
            return r;
        at += h.size;
    }
    return 0;
}

static int rewrite_one(struct sk_clean_job *j, int64_t *budget)
{
    struct sk_scan_item it;
    int r;

    if (!j->out && (r = group_open(j)) < 0)
        return r;
    if ((r = next_batch(j, &it)) < 0)
        return r;
    if (r == 0) {
        if (++j->si == j->gend)
            return group_seal(j);
        return 0;
    }
    *budget -= it.h.size;
    j->obuf.len = 0;
    if ((r = sk_clean_filter_batch(&j->f, j->buf, it.h.size, &j->obuf)) < 0)
        return r;
    return j->obuf.len ? write_out(j) : 0;
}

static int rewrite_step(struct sk_clean_job *j, int64_t *budget)
{
    int r;

    while (*budget > 0) {
        if (j->sync) {
            if ((r = group_close(j)) != 0)
                return r; /* 1: the sync is still running, come back later */
            continue;
        }
        if (j->si >= j->nsrc)
            break;
        if ((r = rewrite_one(j, budget)) < 0)
            return r;
    }
    if (j->si >= j->nsrc && !j->sync) {
        j->phase = PHASE_DONE;
        j->st.end = j->end;
        j->st.records_kept = j->f.kept;
        j->st.records_dropped = j->f.dropped;
        j->st.max_delete_horizon = j->f.max_horizon;
    }
    return 0;
}

/* Starts writeback of what this step wrote, so that the fdatasync before the
 * swap finds little left to do and does not stall the shard. */
static void start_writeback(struct sk_clean_job *j)
{
    if (!j->out || j->out->size <= j->wb_started)
        return;
    (void)sync_file_range(j->out->fd, j->wb_started, j->out->size - j->wb_started,
                          SYNC_FILE_RANGE_WRITE);
    j->wb_started = j->out->size;
}

int sk_clean_step(struct sk_clean_job *j, uint64_t budget)
{
    int64_t left = budget > INT64_MAX ? INT64_MAX : (int64_t)budget;
    ssize_t at = job_locate(j);
    int r = 0;

    if (at < 0)
        return (int)at;
    if (j->phase == PHASE_MAP)
        r = map_step(j, &left);
    if (r == 0 && j->phase == PHASE_REWRITE && left > 0)
        r = rewrite_step(j, &left);
    if (r < 0)
        return r;
    r = 0;
    start_writeback(j);
    return j->phase == PHASE_DONE ? 0 : 1;
}
