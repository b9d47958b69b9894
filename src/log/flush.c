/* Durability. Appends only reach the page cache; the recovery point says how far
 * the log is on disk. The caller (the shard's reactor) asks which files to sync,
 * syncs them asynchronously, then moves the recovery point. Because the recovery
 * point only moves past a segment once that segment's files were in a sync set,
 * a rolled segment is always on disk before recovery stops checking it.
 *
 * A failed fdatasync must not be retried as if nothing happened (the kernel may
 * have dropped the dirty pages, and the next fdatasync of the file reports
 * success): the log records the failure and stays offline for the rest of the
 * process's life (sk_plog_sync_failed). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plog-int.h"
#include "skein/fault.h"
#include "skein/sync_stats.h"

static bool sync_add(struct sk_plog_sync *s, int fd, enum sk_sync_kind kind)
{
    if (s->nfds >= SK_PLOG_SYNC_MAX)
        return false;
    s->kinds[s->nfds] = (unsigned char)kind;
    s->fds[s->nfds++] = fd;
    return true;
}

/* Files opened for pending syncs, across every log of the process. Thousands
 * of new partitions syncing at once would each open four; the budget keeps the
 * fds that accept, reads and appends need, and the syncs over it wait. */
#define SYNC_FD_BUDGET 1024
static atomic_int sync_fds_open;

/* Opens path into *fd (unless open) and adds it to the sync. A blocking flush
 * (start-up, shutdown) is outside the budget: it closes its files before it
 * returns, and must not wait for asynchronous syncs that may never complete. */
static int sync_open(struct sk_plog_sync *s, int *fd, const char *path, int flags, bool budget,
                     enum sk_sync_kind kind)
{
    if (*fd < 0) {
        if (atomic_fetch_add(&sync_fds_open, 1) >= SYNC_FD_BUDGET && budget) {
            atomic_fetch_sub(&sync_fds_open, 1);
            return -EAGAIN;
        }
        if ((*fd = open(path, O_RDONLY | O_CLOEXEC | flags)) < 0) {
            atomic_fetch_sub(&sync_fds_open, 1);
            return -errno;
        }
    }
    sync_add(s, *fd, kind);
    return 0;
}

/* The directories and partition.metadata are opened only while a sync of them
 * is pending: held open, they would cost fds per partition for events that
 * happen once per roll, or once in the partition's life. */
static int sync_meta(struct sk_plog *p, struct sk_plog_sync *s, bool budget)
{
    char path[SK_SEG_PATH_MAX];
    bool epoch = p->epochs.unsynced, dir = p->dir_dirty || epoch;
    int n = s->nfds, r = 0;

    /* the flags are cleared only once every file is open: a failed open (fds
     * exhausted) leaves them for the retry, and keeps what it did open */
    if (p->parent_dirty)
        r = sync_open(s, &p->parent_fd, p->log_dir, O_DIRECTORY, budget, SK_SYNC_DIR);
    if (r == 0 && p->meta_dirty) {
        snprintf(path, sizeof(path), "%s/%s", p->dir, SK_PARTITION_META_FILE);
        r = sync_open(s, &p->meta_fd, path, 0, budget, SK_SYNC_META);
    }
    if (r == 0 && epoch) {
        /* renamed into place, so its directory goes too */
        snprintf(path, sizeof(path), "%s/%s", p->dir, SK_EPOCH_CHECKPOINT);
        r = sync_open(s, &p->epoch_fd, path, 0, budget, SK_SYNC_META);
    }
    if (r == 0 && dir)
        r = sync_open(s, &p->dir_fd, p->dir, O_DIRECTORY, budget, SK_SYNC_DIR);
    if (r < 0) {
        s->nfds = n;
        return r;
    }
    p->parent_dirty = p->meta_dirty = p->dir_dirty = false;
    if (epoch) {
        p->epochs.unsynced = false;
        p->epochs.syncing = true;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd < 0)
        return;
    close(*fd);
    *fd = -1;
    atomic_fetch_sub(&sync_fds_open, 1);
}

void sk_plog_close_sync_fds(struct sk_plog *p)
{
    close_fd(&p->parent_fd);
    close_fd(&p->meta_fd);
    close_fd(&p->epoch_fd);
    close_fd(&p->dir_fd);
}

void sk_plog_sync_failed(struct sk_plog *p, int err)
{
    if (p->sync_err == 0)
        p->sync_err = err < 0 ? err : -EIO;
}

int sk_plog_sync_error(const struct sk_plog *p)
{
    return p->sync_err;
}

static int plog_sync_fds(struct sk_plog *p, struct sk_plog_sync *s, bool budget)
{
    int64_t leo = sk_plog_log_end_offset(p);
    ssize_t i = sk_plog_find_segment(p, p->recovery_point);
    int r;

    s->nfds = 0;
    s->upto = p->recovery_point;
    if (p->sync_err)
        return p->sync_err;
    if ((r = sync_meta(p, s, budget)) < 0)
        return r;
    for (i = i < 0 ? 0 : i; (size_t)i < p->nsegs && s->upto < leo; i++) {
        struct sk_segment *seg = p->segs[i];
        bool active = (size_t)i + 1 == p->nsegs;
        /* an inactive segment's indexes are trusted on load once below the
         * recovery point, so they are synced with it; the active one's are
         * rebuilt by recovery and need not be */
        if (s->nfds + (active ? 1 : 3) > SK_PLOG_SYNC_MAX)
            break;
        /* held until mark_flushed: the fds must outlive the sync */
        if ((r = active ? sk_segment_log_fd(seg) : sk_segment_hold(seg)) < 0)
            return s->nfds > 0 ? s->nfds : r;
        sync_add(s, seg->fd, SK_SYNC_DATA);
        if (!active) {
            sync_add(s, seg->oidx.fd, SK_SYNC_INDEX);
            sync_add(s, seg->tidx.fd, SK_SYNC_INDEX);
        }
        s->upto = active ? leo : p->segs[i + 1]->base;
    }
    return s->nfds;
}

int sk_plog_sync_fds(struct sk_plog *p, struct sk_plog_sync *s)
{
    return plog_sync_fds(p, s, true);
}

/* Closes the files of segments that became durable, and the directory once
 * its sync is done; nothing else needs them until a read reopens the .log. */
static void release_durable(struct sk_plog *p, int64_t from)
{
    ssize_t i = sk_plog_find_segment(p, from);

    for (i = i < 0 ? 0 : i; (size_t)i + 1 < p->nsegs; i++) {
        if (p->segs[i + 1]->base > p->recovery_point)
            break;
        sk_segment_release(p->segs[i]);
    }
    if (!p->parent_dirty)
        close_fd(&p->parent_fd);
    if (!p->meta_dirty)
        close_fd(&p->meta_fd);
    if (!p->epochs.unsynced) {
        sk_epoch_synced(&p->epochs);
        close_fd(&p->epoch_fd);
    }
    if (!p->dir_dirty)
        close_fd(&p->dir_fd);
}

int sk_plog_mark_flushed(struct sk_plog *p, int64_t upto, int64_t now_ms)
{
    int64_t leo = sk_plog_log_end_offset(p), was = p->recovery_point;

    if (p->sync_err)
        return p->sync_err;
    if (upto > leo)
        upto = leo;
    if (upto > p->recovery_point)
        p->recovery_point = upto;
    p->last_flush_ms = now_ms;
    release_durable(p, was);
    return p->epochs.dirty ? sk_epoch_write(&p->epochs) : 0;
}

int sk_plog_flush(struct sk_plog *p, int64_t now_ms)
{
    struct sk_plog_sync s;

    do {
        int n = plog_sync_fds(p, &s, false);
        if (n < 0)
            return n;
        for (int i = 0; i < s.nfds; i++) {
            int r = sk_fault_sync(s.fds[i]);
            if (r == 0 && fdatasync(s.fds[i]) < 0)
                r = -errno;
            sk_sync_count(s.kinds[i], 1);
            if (r < 0) {
                sk_plog_sync_failed(p, r);
                return r;
            }
        }
        int r = sk_plog_mark_flushed(p, s.upto, now_ms);
        if (r < 0)
            return r;
    } while (p->recovery_point < sk_plog_log_end_offset(p));
    return 0;
}

bool sk_plog_flush_due(const struct sk_plog *p, int64_t now_ms)
{
    int64_t unflushed = sk_plog_log_end_offset(p) - p->recovery_point;

    if (unflushed <= 0)
        return false;
    return unflushed >= p->cfg.flush_messages || now_ms - p->last_flush_ms >= p->cfg.flush_ms;
}

/* One round of sk_plog_flush_many: every log's next sync set, all in flight at
 * once with the caller's extra files. Returns 1 if some recovery point moved
 * and a log is still behind, 0 when done, or -errno. */
static int flush_round(struct sk_plog **logs, size_t n, struct sk_plog_sync *s, int *fds,
                       size_t nf, bool first, int64_t now_ms)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].nfds = 0;
        if (!first && logs[i]->recovery_point >= sk_plog_log_end_offset(logs[i]))
            continue;
        int r = plog_sync_fds(logs[i], &s[i], false);
        if (r < 0) {
            s[i].nfds = 0;
            rc = rc ? rc : r;
            continue;
        }
        memcpy(fds + nf, s[i].fds, sizeof *fds * (size_t)s[i].nfds);
        nf += (size_t)s[i].nfds;
        for (int k = 0; k < s[i].nfds; k++)
            sk_sync_count(s[i].kinds[k], 1);
    }
    int r = sk_sync_many(fds, nf, true);
    if (r < 0) {
        /* nothing is marked: the pages may be gone (see the top), and which
         * file failed is not known, so every log of the round is suspect */
        for (size_t i = 0; i < n; i++)
            if (s[i].nfds > 0)
                sk_plog_sync_failed(logs[i], r);
        return r;
    }
    bool moved = false, behind = false;
    for (size_t i = 0; i < n; i++) {
        int64_t was = logs[i]->recovery_point;
        if ((first || s[i].nfds > 0) && (r = sk_plog_mark_flushed(logs[i], s[i].upto, now_ms)) < 0)
            rc = rc ? rc : r;
        moved |= logs[i]->recovery_point > was;
        behind |= logs[i]->recovery_point < sk_plog_log_end_offset(logs[i]);
    }
    return rc < 0 ? rc : moved && behind;
}

int sk_plog_flush_many(struct sk_plog **logs, size_t n, const int *extra, size_t nextra,
                       int64_t now_ms)
{
    struct sk_plog_sync *s = malloc(sizeof *s * (n ? n : 1));
    int *fds = malloc(sizeof *fds * (n * SK_PLOG_SYNC_MAX + nextra + 1));
    int r = s && fds ? 1 : -ENOMEM;
    if (fds && nextra)
        memcpy(fds, extra, sizeof *fds * nextra);
    for (bool first = true; r > 0; first = false)
        r = flush_round(logs, n, s, fds, first ? nextra : 0, first, now_ms);
    free(s);
    free(fds);
    return r;
}
