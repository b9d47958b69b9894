/* The durability pipeline of the default mode: an append joins the shard's
 * group commit; once per loop iteration each dirty partition gets an io_uring
 * fdatasync (two may overlap), or, when many are dirty at once, one syncfs
 * covers them all (see cover_start); completions are applied in the order the
 * syncs started, move the recovery point and answer acks=all waiters. A sync
 * that cannot get fds is retried shortly; a failed one takes the partition
 * offline and acknowledges nothing it covered. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_syncer.h"
#include "replica_int.h"
#include "skein/fault.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/plog.h"
#include "skein/sync_stats.h"
#include "skein/timer.h"

/* Counted once per partition, so that metadata answers can tell offline
 * partitions apart without a lookup each while none is. recorded: the log
 * already knows (a blocking flush records its own failure). */
void sk_replica_note_sync_failed(struct sk_partition *p, int err, bool recorded)
{
    if (!recorded && sk_partition_sync_failed(p))
        return;
    sk_plog_sync_failed(p->log, err);
    p->broker->offline_sync_failed++;
    sk_error("a sync of %s-%d failed: %s; the partition is offline until restart", p->topic,
             p->id, strerror(-err));
}

/* Syncs of one partition overlap: a second fdatasync may start while the
 * first runs, so data appended meanwhile does not wait for the first to end
 * before its own sync begins. Two are enough to keep the disk busy; more
 * would only add io-wq threads on a small machine. */
#define SK_SYNC_DEPTH 2

/* A sync owns duplicates of the fds it syncs: io_uring may resolve an fd only
 * when a worker runs the fdatasync, after an earlier sync's completion let the
 * log close its own copy (an older segment's files close once durable). */
struct sk_sync_op {
    struct sk_partition *p;
    struct sk_sync_op *next;
    int pending;
    int err;
    bool done;
    int64_t from, upto;
    int nfds;
    int fds[SK_PLOG_SYNC_MAX];
    unsigned char kinds[SK_PLOG_SYNC_MAX];
};

static void sync_op_free(struct sk_sync_op *op)
{
    for (int i = 0; i < op->nfds; i++)
        close(op->fds[i]);
    free(op);
}

/* 0, or -errno with nothing kept. */
static int sync_op_take_fds(struct sk_sync_op *op, const struct sk_plog_sync *sync, int n)
{
    for (op->nfds = 0; op->nfds < n; op->nfds++) {
        int fd = fcntl(sync->fds[op->nfds], F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            int err = -errno;
            for (int i = 0; i < op->nfds; i++)
                close(op->fds[i]);
            op->nfds = 0;
            return err;
        }
        op->fds[op->nfds] = fd;
        op->kinds[op->nfds] = sync->kinds[op->nfds];
    }
    return 0;
}

/* What the syncs started so far will make durable once they all end. */
static int64_t sync_covered(const struct sk_partition *p)
{
    return p->syncs_tail ? p->syncs_tail->upto : sk_plog_recovery_point(p->log);
}

static bool needs_sync(const struct sk_partition *p)
{
    return sync_covered(p) < sk_plog_log_end_offset(p->log);
}

/* A sync beside a running one only pays off for an acks=all request waiting
 * past what the running one covers; acks=1 appends wait for it to end. */
static bool sync_wanted(const struct sk_partition *p)
{
    if (!needs_sync(p) || p->sync_retry)
        return false;
    if (p->nsyncs == 0)
        return true;
    return p->nsyncs < SK_SYNC_DEPTH && sk_replica_waiting_past(p, sync_covered(p));
}

static void schedule_commit(struct sk_broker *b);

/* Applies one finished sync. A failed fdatasync also fails the later ones of
 * the partition: they may have been told nothing of pages the kernel dropped
 * (the error is reported once per file), so they prove nothing. */
static void sync_retire(struct sk_partition *p, struct sk_sync_op *op)
{
    if (op->err < 0) {
        /* Kafka takes a log dir offline when a flush fails: the data may or
         * may not be on disk, so nothing waiting on it can be told yes, and
         * a retried sync would succeed on pages the kernel may have dropped.
         * The partition stays offline until a restart recovers it from disk. */
        sk_replica_note_sync_failed(p, op->err, false);
        for (struct sk_sync_op *o = op->next; o; o = o->next)
            o->err = op->err;
        sk_replica_fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    sk_plog_mark_flushed(p->log, op->upto, sk_wall_ms());
    sk_replica_complete_waiters(p);
    sk_replica_update_hw(p);
}

/* Syncs are applied in the order they started, whatever order they end in:
 * only the first after a roll carries the directory and the old segment's
 * indexes, so a later one alone does not make its range recoverable. The
 * waiters are answered here, on the completion itself. */
static void sync_done(void *arg, int res)
{
    struct sk_sync_op *op = arg;
    if (res < 0 && op->err == 0)
        op->err = res;
    if (--op->pending > 0)
        return;
    op->done = true;
    struct sk_partition *p = op->p;
    struct sk_broker *b = p->broker;
    bool ok = true;
    while (p->syncs && p->syncs->done) {
        struct sk_sync_op *head = p->syncs;
        p->syncs = head->next;
        p->nsyncs--;
        b->syncs_running--;
        ok = head->err == 0;
        sync_retire(p, head);
        sync_op_free(head);
    }
    if (!p->syncs)
        p->syncs_tail = NULL;
    p->flush_in_flight = p->syncs != NULL || p->sync_retry;
    if (p->unhosted && !p->flush_in_flight) {
        sk_replica_close_if_unhosted(p);
    } else if (ok && !p->relaxed && needs_sync(p)) {
        /* Appends that came while the sync ran need another one. The partition
         * may already be queued by them: mark_dirty keeps it in the list once. */
        sk_replica_mark_dirty(p);
    }
    /* Partitions held back while this sync ran (group_commit) go now. */
    if (b->dirty)
        schedule_commit(b);
}

int64_t sk_replica_oldest_sync_start(const struct sk_partition *p)
{
    return p->syncs ? p->syncs->from : -1;
}

static void sync_push(struct sk_partition *p, struct sk_sync_op *op)
{
    if (p->syncs_tail)
        p->syncs_tail->next = op;
    else
        p->syncs = op;
    p->syncs_tail = op;
    p->nsyncs++;
    p->flush_in_flight = true;
}

/* Through the group commit, not a sync of its own: thousands of new
 * partitions retried together then share one syncfs instead of each taking
 * an fdatasync whose completion re-queues it alone. */
static void sync_retry(void *arg)
{
    struct sk_partition *p = arg;
    p->sync_retry = 0;
    p->flush_in_flight = p->syncs != NULL;
    sk_replica_mark_dirty(p);
}

/* The files a sync needs (directories and small files of a new partition, an
 * older segment's after a roll) are opened for it. When thousands of new
 * partitions sync at once those can exhaust the fd limit for a moment; the
 * sync is then tried again shortly, as the ones in flight close theirs. It
 * counts as in flight meanwhile, so the partition is not closed under it. */
static bool sync_later(struct sk_partition *p)
{
    p->sync_retry = sk_replica_io_timer_add(p->broker, 5, sync_retry, p);
    if (!p->sync_retry)
        return false;
    p->flush_in_flight = true;
    return true;
}

/* Takes the files p's next sync needs and queues the sync, held once
 * (pending 1) so nothing retires it before it is submitted; NULL when there
 * is nothing to sync or it was failed or put off. A sync a syncfs covers
 * (covered) keeps no duplicates: the syncfs needs no fds, and only its
 * failure, rare, has the op take them (cover_refill); *sync tells the files. */
static struct sk_sync_op *sync_start(struct sk_partition *p, struct sk_plog_sync *sync,
                                     bool covered)
{
    int n = sk_plog_sync_fds(p->log, sync);
    if ((n == -EAGAIN || n == -EMFILE || n == -ENFILE) && sync_later(p))
        return NULL;
    if (n < 0) {
        /* A file to sync could not be opened: as a failed sync, nothing
         * waiting can be told the data is on disk. */
        sk_error("cannot sync %s-%d: %s", p->topic, p->id, strerror(-n));
        sk_replica_fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return NULL;
    }
    if (n == 0)
        return NULL;
    struct sk_sync_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    int r = covered ? 0 : sync_op_take_fds(op, sync, n);
    if (r < 0) {
        free(op);
        if ((r == -EMFILE || r == -ENFILE) && sync_later(p))
            return NULL;
        sk_error("cannot sync %s-%d: %s", p->topic, p->id, strerror(-r));
        sk_replica_fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return NULL;
    }
    op->p = p;
    op->from = sk_plog_recovery_point(p->log);
    op->upto = sync->upto;
    op->pending = 1;
    sync_push(p, op);
    p->broker->syncs_running++;
    return op;
}

/* An fdatasync of each of the op's files, then the hold taken by
 * sync_start is let go: an inline failure cannot retire the op before
 * every fd has its fdatasync. */
static void sync_files(struct sk_sync_op *op)
{
    struct sk_broker *b = op->p->broker;
    int n = op->nfds;
    op->pending += n;
    for (int i = 0; i < n; i++) {
        sk_sync_count(op->kinds[i], 1);
        if (sk_replica_io_fsync(b, op->fds[i], sync_done, op) < 0)
            sync_done(op, -EIO);
    }
    sync_done(op, 0);
}

void sk_partition_flush_async(struct sk_partition *p)
{
    struct sk_plog_sync sync;
    struct sk_sync_op *op = sync_start(p, &sync, false);
    if (op)
        sync_files(op);
}

/* The partitions' syncs one syncfs stands in for. */
struct sk_sync_cover {
    int nops;
    struct sk_sync_op *ops[];
};

/* After a failed syncfs: the op takes the files its partition needs synced
 * now and fdatasyncs them. Its own range is among them, since nothing at or
 * above its start is durable yet (syncs retire in order), unless more files
 * are needed than one sync holds; it then fails as the syncfs did. */
static void cover_refill(struct sk_sync_op *op)
{
    struct sk_plog_sync sync;
    int n = sk_plog_sync_fds(op->p->log, &sync);
    int r = n < 0 ? n : sync.upto < op->upto ? -EIO : sync_op_take_fds(op, &sync, n);
    if (r < 0) {
        sync_done(op, r);
        return;
    }
    sync_files(op);
}

/* A syncfs that succeeded covers every file the ops' partitions needed,
 * directories and index files included: it reports any writeback error on
 * the file system since the syncfs fd was opened (the per-superblock errseq,
 * Linux >= 5.8), so 0 means no page of theirs was dropped. A failed one does
 * not say whose page failed; each op then fdatasyncs its own files
 * (cover_refill), and as every open file keeps its own writeback-error
 * cursor (f_wb_err, which syncfs does not advance), the file whose writeback
 * failed still reports it there and only its partition goes offline. */
static void cover_done(void *arg, int res)
{
    struct sk_sync_cover *c = arg;
    if (c->nops > 0) {
        struct sk_broker *b = c->ops[0]->p->broker;
        /* a lone partition synced since the last time no syncfs was in
         * flight, and nothing queued behind it: the load is light, and
         * fdatasync serves it sooner */
        b->syncfs_streak += c->nops;
        if (--b->syncfs_covers == 0) {
            if (b->syncfs_streak < 2)
                b->syncfs_regime = false;
            b->syncfs_streak = 0;
        }
    }
    if (res < 0)
        sk_warn("a syncfs of the log dir failed: %s; syncing each partition's files",
                strerror(-res));
    for (int i = 0; i < c->nops; i++) {
        if (res == 0)
            sync_done(c->ops[i], 0);
        else
            cover_refill(c->ops[i]);
    }
    free(c);
}

static int io_syncfs(struct sk_broker *b, unsigned parts, sk_fsync_fn cb, void *arg)
{
    if (b->replica_io)
        return b->replica_io->syncfs(b->replica_io->ctx, cb, arg);
    return sk_fs_syncer_submit(b->fs_syncer, parts, cb, arg);
}

static bool syncfs_usable(const struct sk_broker *b)
{
    return b->replica_io ? b->replica_io->syncfs != NULL : b->fs_syncer != NULL;
}

/* Starts the syncs of the n partitions of list that want one under one
 * syncfs. The fault harness sees every file as if it were fdatasynced (it
 * records synced sizes, or fails the sync: then each op syncs its own). */
static void cover_start(struct sk_broker *b, struct sk_partition *list, int n)
{
    struct sk_sync_cover *c = malloc(sizeof *c + sizeof c->ops[0] * (size_t)n);
    int fault = 0;
    if (c)
        c->nops = 0;
    /* Each leaves the list as it is handled, as in the per-file loop: a
     * partition still queued stays in it if something marks it meanwhile. */
    for (struct sk_partition *p = list, *next; p; p = next) {
        next = p->next_dirty;
        p->flush_queued = false;
        p->next_dirty = NULL;
        if (!sync_wanted(p))
            continue;
        bool covered = c && c->nops < n;
        struct sk_plog_sync sync;
        struct sk_sync_op *op = sync_start(p, &sync, covered);
        if (!op)
            continue;
        if (!covered) {
            sync_files(op);
            continue;
        }
        for (int i = 0; i < sync.nfds; i++) {
            if (sk_fault_sync(sync.fds[i]) < 0)
                fault = -EIO;
            sk_sync_count_covered(sync.kinds[i], 1);
        }
        c->ops[c->nops++] = op;
    }
    if (!c)
        return;
    if (c->nops > 0)
        b->syncfs_covers++;
    if (c->nops >= 2)
        b->syncfs_regime = true;
    int r = fault < 0 ? fault : c->nops > 0 ? io_syncfs(b, (unsigned)c->nops, cover_done, c) : 0;
    if (r < 0 || c->nops == 0)
        cover_done(c, r);
}

/* One sync per dirty partition per loop iteration, however many produce
 * requests appended to it in that iteration; one syncfs for all of them when
 * many are dirty.
 *
 * With thousands of partitions a produce request (librdkafka sends one per
 * partition) often brings a loop iteration one or two dirty partitions, and
 * a threshold alone would give each its own fdatasync: a device cache flush
 * each, where one syncfs flushes once for all. So once the shard is in the
 * syncfs regime it stays there while it lasts: a partition dirtied while a
 * syncfs is in flight joins the syncfs thread's queue, where everything that
 * arrives during one syncfs shares the next, and when nothing is in flight,
 * the next dirty partition still goes by syncfs, until syncfs covered a
 * lone partition with nothing queued behind it (cover_done). Partitions held
 * back while fdatasyncs ran (below) go as a syncfs from two on. */
static void group_commit(void *arg)
{
    struct sk_broker *b = arg;
    b->commit_scheduled = false;
    struct sk_partition *list = b->dirty;
    bool held = b->dirty_held;
    b->dirty = NULL;
    b->dirty_held = false;
    int wanted = 0, fresh = 0;
    /* Otherwise sync_done re-queues it when the oldest sync ends. */
    for (struct sk_partition *p = list; p; p = p->next_dirty)
        if (sync_wanted(p)) {
            wanted++;
            fresh += p->nsyncs == 0;
        }
    bool grouped = wanted >= SK_SYNCFS_MIN_PARTITIONS || (held && wanted >= 2) ||
                   (wanted > 0 && (b->syncfs_covers > 0 || b->syncfs_regime));
    if (grouped && syncfs_usable(b)) {
        cover_start(b, list, wanted);
        return;
    }
    /* A few partitions none of whose own syncs runs, while other syncs of
     * the shard do: they wait for one of those to end, and with what comes
     * meanwhile share a syncfs then. With thousands of partitions each batch
     * lands on a partition of its own; started at once, each would take an
     * fdatasync alone. A partition whose own sync runs is not held: its
     * overlapping sync (SK_SYNC_DEPTH) is what keeps one busy partition's
     * acks=all latency down. */
    if (wanted > 0 && fresh == wanted && b->syncs_running > 0 && syncfs_usable(b)) {
        b->dirty = list;
        b->dirty_held = true;
        return;
    }
    for (struct sk_partition *p = list, *next; p; p = next) {
        next = p->next_dirty;
        p->flush_queued = false;
        p->next_dirty = NULL;
        if (sync_wanted(p))
            sk_partition_flush_async(p);
    }
}

static void schedule_commit(struct sk_broker *b)
{
    if (b->commit_scheduled)
        return;
    if (sk_replica_io_defer(b, group_commit, b) == 0)
        b->commit_scheduled = true;
}

void sk_replica_mark_dirty(struct sk_partition *p)
{
    if (p->flush_queued)
        return;
    p->flush_queued = true;
    p->next_dirty = p->broker->dirty;
    p->broker->dirty = p;
    schedule_commit(p->broker);
}


void sk_replica_unmark_dirty(struct sk_partition *p)
{
    if (!p->flush_queued)
        return;
    struct sk_partition **pp = &p->broker->dirty;
    while (*pp && *pp != p)
        pp = &(*pp)->next_dirty;
    if (*pp)
        *pp = p->next_dirty;
    p->flush_queued = false;
    p->next_dirty = NULL;
}

static int post_to_shard(void *ctx, sk_defer_fn fn, void *arg)
{
    return sk_shard_post(ctx, fn, arg);
}

/* Before the shard's first partition opens, so that the syncfs fd is open
 * before any data it covers is written (fs_syncer.h). Without it (no thread,
 * no fd) every sync stays a per-file fdatasync, which is only slower. */
void sk_replica_fs_syncer_open(struct sk_broker *b)
{
    if (b->fs_syncer || b->replica_io || !b->shard)
        return;
    int err = 0;
    b->fs_syncer = sk_fs_syncer_start(b->cfg->log_dirs[0], post_to_shard, b->shard, &err);
    if (!b->fs_syncer)
        sk_warn("no syncfs thread for %s (%s): partitions sync one by one",
                b->cfg->log_dirs[0], strerror(-err));
}

/* Once the shard's loop has ended: the syncs it still runs complete here,
 * before the partitions they cover are closed. */
void sk_replica_fs_syncer_close(struct sk_broker *b)
{
    sk_fs_syncer_stop(b->fs_syncer);
    b->fs_syncer = NULL;
}

/* ---- the reactor, or a substitute --------------------------------------------------- */

int sk_replica_io_fsync(struct sk_broker *b, int fd, sk_fsync_fn cb, void *arg)
{
    if (b->replica_io)
        return b->replica_io->fsync(b->replica_io->ctx, fd, cb, arg);
    return sk_shard_fsync(b->shard, fd, 1, cb, arg);
}

int sk_replica_io_defer(struct sk_broker *b, sk_defer_fn cb, void *arg)
{
    if (b->replica_io)
        return b->replica_io->defer(b->replica_io->ctx, cb, arg);
    return sk_shard_defer(b->shard, cb, arg);
}

sk_timer_id sk_replica_io_timer_add(struct sk_broker *b, uint64_t ms, sk_timer_fn cb, void *arg)
{
    if (b->replica_io)
        return b->replica_io->timer_add(b->replica_io->ctx, ms, cb, arg);
    return sk_timer_add(b->shard, ms, cb, arg);
}

void sk_replica_io_timer_cancel(struct sk_broker *b, sk_timer_id id)
{
    if (b->replica_io)
        b->replica_io->timer_cancel(b->replica_io->ctx, id);
    else
        sk_timer_cancel(b->shard, id);
}
