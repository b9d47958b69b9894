/* The partitions this broker leads: opening their logs as the metadata image
 * says, appending, and the group commit that makes appends durable. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/record.h"
#include "skein/server.h"
#include "skein/timer.h"

struct sk_waiter {
    int64_t offset;
    sk_durable_fn cb;
    void *arg;
    struct sk_waiter *next;
};

int64_t sk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *data_dir(const struct sk_broker *b)
{
    return b->node->cfg->log_dirs[0];
}

/* ---- lookup ---------------------------------------------------------------- */

struct sk_partition *sk_partition_get(struct sk_broker *b, kp_str topic, int32_t id)
{
    for (int i = 0; i < b->nparts; i++) {
        struct sk_partition *p = b->parts[i];
        if (p->id == id && (int32_t)strlen(p->topic) == topic.len &&
            memcmp(p->topic, topic.ptr, (size_t)topic.len) == 0)
            return p;
    }
    return NULL;
}

struct sk_partition *sk_partition_get_by_id(struct sk_broker *b, const kp_uuid *topic_id,
                                            int32_t id)
{
    for (int i = 0; i < b->nparts; i++) {
        struct sk_partition *p = b->parts[i];
        if (p->id == id && memcmp(p->topic_id.b, topic_id->b, 16) == 0)
            return p;
    }
    return NULL;
}

struct sk_partition *sk_partition_lookup(struct sk_broker *b, kp_str topic, int32_t index,
                                         bool client_write, int16_t *err)
{
    const struct sk_topic_meta *t =
        sk_meta_topic(b->image, topic.ptr, (size_t)(topic.len < 0 ? 0 : topic.len));
    if (!t || index < 0 || index >= t->npartitions) {
        *err = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    /* Kafka's ReplicaManager: clients never append to internal topics. */
    if (client_write && sk_topic_is_internal(t->name)) {
        *err = SK_ERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    struct sk_partition *p = sk_partition_get(b, topic, index);
    /* Led here but its log did not open, or offline after a failed sync: as
     * from a Kafka broker whose log dir is offline. */
    if ((!p && t->partitions[index].leader == b->node->node_id) || (p && sk_partition_sync_failed(p))) {
        *err = SK_ERR_KAFKA_STORAGE_ERROR;
        return NULL;
    }
    *err = p ? SK_ERR_NONE : SK_ERR_NOT_LEADER_OR_FOLLOWER;
    return p;
}

bool sk_partition_sync_failed(const struct sk_partition *p)
{
    return sk_plog_sync_error(p->log) != 0;
}

void sk_partition_set_hw_listener(struct sk_broker *b, sk_hw_listener_fn fn)
{
    b->hw_listener = fn;
}

/* ---- configuration ----------------------------------------------------------- */

static int resolve_config(struct sk_broker *b, const struct sk_topic_meta *t,
                          struct sk_topic_config *out)
{
    struct sk_config_entry *e = calloc((size_t)t->configs.n + 1, sizeof *e);
    if (!e)
        return -ENOMEM;
    for (int i = 0; i < t->configs.n; i++)
        e[i] = (struct sk_config_entry){t->configs.v[i].key, t->configs.v[i].value};
    char err[256];
    int rc = sk_topic_config_resolve(b->node->cfg, e, (size_t)t->configs.n, out, err, sizeof err);
    free(e);
    if (rc != SK_ERR_NONE) {
        /* Configs in the image were validated before they were written; a
         * failure here means the broker defaults changed under them. */
        sk_warn("topic %s: config ignored: %s", t->name, err);
        *out = b->node->cfg->topic_defaults;
    }
    return 0;
}

static void plog_config(const struct sk_topic_config *tc, struct sk_plog_config *pc)
{
    sk_plog_config_default(pc);
    pc->segment_bytes = tc->segment_bytes;
    pc->segment_ms = tc->segment_ms;
    pc->index_interval_bytes = tc->index_interval_bytes;
    pc->segment_index_bytes = tc->segment_index_bytes;
    /* Kafka deletes by time or size only under cleanup.policy=delete: a
     * compacted topic (__consumer_offsets) keeps every key's latest record. */
    pc->retention_ms = tc->cleanup_delete ? tc->retention_ms : -1;
    pc->retention_bytes = tc->cleanup_delete ? tc->retention_bytes : -1;
    pc->flush_messages = tc->flush_messages;
    pc->flush_ms = tc->flush_ms;
    pc->file_delete_delay_ms = tc->file_delete_delay_ms;
}

static void apply_config(struct sk_partition *p, const struct sk_topic_config *tc)
{
    struct sk_plog_config pc;
    p->cfg = *tc;
    plog_config(tc, &pc);
    sk_plog_set_config(p->log, &pc);
    /* Kafka's defaults for both are Long.MAX_VALUE: anything else is an
     * operator's explicit choice of flush-by-count/time over fsync-per-commit. */
    p->relaxed = tc->flush_messages != INT64_MAX || tc->flush_ms != INT64_MAX;
}

/* ---- open and close ------------------------------------------------------------ */

/* The log dir's checkpoints, read once per sync rather than once per
 * partition: opening thousands of partitions must not re-read them each time. */
struct sk_checkpoints {
    struct sk_offset_checkpoint_entry *rp, *ls;
    size_t nrp, nls;
    bool loaded;
};

static void checkpoints_load(struct sk_broker *b, struct sk_checkpoints *c)
{
    if (c->loaded)
        return;
    c->loaded = true;
    if (sk_offset_checkpoint_read(data_dir(b), SK_RECOVERY_POINT_CHECKPOINT, &c->rp, &c->nrp) < 0)
        c->nrp = 0;
    if (sk_offset_checkpoint_read(data_dir(b), SK_LOG_START_OFFSET_CHECKPOINT, &c->ls, &c->nls) < 0)
        c->nls = 0;
}

static void checkpoints_free(struct sk_checkpoints *c)
{
    free(c->rp);
    free(c->ls);
}

/* Counted once per partition, so that metadata answers can tell offline
 * partitions apart without a lookup each while none is. recorded: the log
 * already knows (a blocking flush records its own failure). */
static void note_sync_failed(struct sk_partition *p, int err, bool recorded)
{
    if (!recorded && sk_partition_sync_failed(p))
        return;
    sk_plog_sync_failed(p->log, err);
    p->broker->offline_sync_failed++;
    sk_error("a sync of %s-%d failed: %s; the partition is offline until restart", p->topic,
             p->id, strerror(-err));
}

static struct sk_partition *partition_open(struct sk_broker *b, const struct sk_topic_meta *t,
                                           const struct sk_partition_meta *pm,
                                           const struct sk_topic_config *tc,
                                           struct sk_checkpoints *cp, int *err)
{
    checkpoints_load(b, cp);
    struct sk_plog_config pc;
    plog_config(tc, &pc);
    struct sk_plog_open_opts opts = {
        .log_dir = data_dir(b),
        .topic = t->name,
        .partition = pm->id,
        .topic_id = t->id.b,
        .recovery_point = cp->nrp ? sk_offset_checkpoint_find(cp->rp, cp->nrp, t->name, pm->id) : -1,
        .log_start_offset = cp->nls ? sk_offset_checkpoint_find(cp->ls, cp->nls, t->name, pm->id) : -1,
        .now_ms = sk_wall_ms(),
        .syncer = &b->syncer,
    };
    struct sk_partition *p = calloc(1, sizeof *p);
    struct sk_plog_open_report rep = {0};
    int rc = p ? sk_plog_open(&opts, &pc, &p->log, &rep) : -ENOMEM;
    if (rc < 0) {
        *err = rc;
        free(p);
        return NULL;
    }
    if (rep.truncated_bytes || rep.indexes_rebuilt || rep.corrupt_ranges)
        sk_warn("%s-%d recovered: %llu torn bytes truncated, %u indexes rebuilt, %u damaged "
                "ranges", t->name, pm->id, (unsigned long long)rep.truncated_bytes,
                rep.indexes_rebuilt, rep.corrupt_ranges);
    p->topic = strdup(t->name);
    p->topic_id = t->id;
    p->id = pm->id;
    p->leader_epoch = pm->leader_epoch;
    p->broker = b;
    apply_config(p, tc);
    /* Whatever survived on disk is made durable before anyone reads it, so the
     * high watermark can start at the log end. A new or cleanly closed log has
     * nothing to flush, and its directory is synced with its first data. */
    rc = 0;
    if (sk_plog_recovery_point(p->log) < sk_plog_log_end_offset(p->log))
        rc = sk_plog_flush(p->log, sk_wall_ms());
    if (rc < 0 && sk_plog_sync_error(p->log))
        note_sync_failed(p, rc, true);
    p->high_watermark = sk_plog_log_end_offset(p->log);
    sk_producer_state_load(p);
    return p;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void partition_free(struct sk_partition *p, bool delete_data)
{
    bool counted = sk_partition_sync_failed(p);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sk_plog_dir(p->log));
    for (struct sk_waiter *w = p->waiters, *next; w; w = next) {
        next = w->next;
        w->cb(w->arg, delete_data ? SK_ERR_UNKNOWN_TOPIC_OR_PARTITION : SK_ERR_NOT_LEADER_OR_FOLLOWER);
        free(w);
    }
    if (p->sync_retry)
        sk_timer_cancel(p->broker->shard, p->sync_retry);
    if (!delete_data) {
        sk_plog_flush(p->log, sk_wall_ms());
        sk_producer_state_snapshot(p);
    }
    sk_producer_state_free(p);
    sk_plog_close(p->log);
    if (counted)
        p->broker->offline_sync_failed--;
    if (delete_data)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(p->topic);
    free(p);
}

static bool still_led(struct sk_broker *b, const struct sk_partition *p)
{
    const struct sk_topic_meta *t = sk_meta_topic_by_id(b->image, &p->topic_id);
    return t && p->id < t->npartitions && t->partitions[p->id].leader == b->node->node_id;
}

static void drop_removed(struct sk_broker *b)
{
    for (int i = 0; i < b->nparts;) {
        struct sk_partition *p = b->parts[i];
        if (still_led(b, p) || p->flush_in_flight) {
            i++;
            continue;
        }
        bool deleted = sk_meta_topic_by_id(b->image, &p->topic_id) == NULL;
        sk_info("%s partition %s-%d", deleted ? "deleting" : "closing", p->topic, p->id);
        b->parts[i] = b->parts[--b->nparts];
        partition_free(p, deleted);
    }
}

static int add_partition(struct sk_broker *b, struct sk_partition *p)
{
    if (b->nparts == b->parts_cap) {
        int cap = b->parts_cap ? b->parts_cap * 2 : 64;
        struct sk_partition **np = realloc(b->parts, sizeof *np * (size_t)cap);
        if (!np)
            return -ENOMEM;
        b->parts = np;
        b->parts_cap = cap;
    }
    b->parts[b->nparts++] = p;
    return 0;
}

/* What one pass over the image left undone. */
struct sync_pass {
    struct sk_checkpoints cp;
    int failed, over_budget;
    int first_err;
    char first[300]; /* the first partition that failed, "topic-p" */
    bool out_of_fds; /* once EMFILE/ENFILE, the pass stops trying */
};

static void note_failure(struct sync_pass *sp, const struct sk_topic_meta *t, int32_t id, int err)
{
    if (sp->failed++ == 0) {
        sp->first_err = err;
        snprintf(sp->first, sizeof sp->first, "%s-%d", t->name, id);
    }
    sp->out_of_fds = sp->out_of_fds || err == -EMFILE || err == -ENFILE;
}

/* One partition this node leads: kept in line with the image, or opened. A
 * partition that cannot be opened, or would take the node past its budget,
 * stays offline; the others go on. */
static void sync_one(struct sk_broker *b, const struct sk_topic_meta *t,
                     const struct sk_partition_meta *pm, const struct sk_topic_config *tc,
                     struct sync_pass *sp, bool quiet)
{
    struct sk_partition *p = sk_partition_get_by_id(b, &t->id, pm->id);
    if (p) {
        apply_config(p, tc);
        p->leader_epoch = pm->leader_epoch;
        return;
    }
    if (b->node->budget.set && b->nparts >= b->node->budget.limit) {
        sp->over_budget++;
        return;
    }
    /* A stop asked for ends the pass: shutdown must not wait on opens. */
    if (sk_server_stopping(b)) {
        sp->failed++;
        return;
    }
    int err = -EMFILE;
    if (!sp->out_of_fds)
        p = partition_open(b, t, pm, tc, &sp->cp, &err);
    if (p && add_partition(b, p) < 0) {
        partition_free(p, false);
        p = NULL;
        err = -ENOMEM;
    }
    if (p)
        return;
    if (!quiet && !sp->out_of_fds)
        sk_error("partition %s-%d is offline: cannot open its log in %s: %s", t->name, pm->id,
                 data_dir(b), strerror(-err));
    note_failure(sp, t, pm->id, err);
}

/* Said once per change of the counts, not on every retry. */
static void report(struct sk_broker *b, const struct sync_pass *sp)
{
    if (sp->failed != b->offline_failed && sp->failed)
        sk_warn("%d partition logs are offline (first %s: %s); the others serve, and these "
                "are retried", sp->failed, sp->first, strerror(-sp->first_err));
    if (sp->over_budget != b->offline_over_budget && sp->over_budget)
        sk_error("%d partitions stay offline: this node's partition budget is %lld "
                 "(skein.max.partitions.per.shard, the open-file limit and memory); raise "
                 "the limit and restart to open them", sp->over_budget,
                 (long long)b->node->budget.limit);
    b->offline_failed = sp->failed;
    b->offline_over_budget = sp->over_budget;
}

int sk_partitions_sync_ex(struct sk_broker *b, bool quiet)
{
    struct sync_pass sp = {0};
    drop_removed(b);
    for (int i = 0; i < b->image->ntopics; i++) {
        const struct sk_topic_meta *t = b->image->topics[i];
        /* One resolution per topic: all its partitions share the config. */
        struct sk_topic_config tc;
        bool resolved = false;
        for (int32_t j = 0; j < t->npartitions; j++) {
            const struct sk_partition_meta *pm = &t->partitions[j];
            if (pm->leader != b->node->node_id ||
                sk_shard_of_partition(b->node, kp_str_c(t->name), pm->id) != b->index)
                continue;
            if (!resolved)
                resolve_config(b, t, &tc);
            resolved = true;
            sync_one(b, t, pm, &tc, &sp, quiet);
        }
    }
    checkpoints_free(&sp.cp);
    report(b, &sp);
    return sp.failed ? -EIO : 0;
}

int sk_partitions_sync(struct sk_broker *b)
{
    return sk_partitions_sync_ex(b, false);
}

bool sk_partition_offline(struct sk_broker *b, const struct sk_topic_meta *t, int32_t index)
{
    if (b->offline_failed + b->offline_over_budget + b->offline_sync_failed == 0 || index < 0 ||
        index >= t->npartitions || t->partitions[index].leader != b->node->node_id)
        return false;
    const struct sk_partition *p = sk_partition_get_by_id(b, &t->id, index);
    return !p || sk_partition_sync_failed(p);
}

/* Checkpoints let the next start skip recovery of what is known to be flushed. */
int sk_partitions_checkpoint(struct sk_broker *b)
{
    return sk_partitions_checkpoint_async(b, NULL, NULL, NULL);
}

int sk_partitions_checkpoint_async(struct sk_broker *b, struct sk_atomic_writer *const w[2],
                                   void (*done)(void *arg, int err), void *arg)
{
    struct sk_offset_checkpoint_entry *rp = calloc((size_t)b->nparts + 1, sizeof *rp);
    struct sk_offset_checkpoint_entry *ls = calloc((size_t)b->nparts + 1, sizeof *ls);
    int rc = rp && ls ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        snprintf(rp[i].topic, sizeof rp[i].topic, "%s", p->topic);
        snprintf(ls[i].topic, sizeof ls[i].topic, "%s", p->topic);
        rp[i].partition = ls[i].partition = p->id;
        rp[i].offset = sk_plog_recovery_point(p->log);
        ls[i].offset = sk_plog_log_start_offset(p->log);
    }
    size_t n = (size_t)b->nparts;
    if (rc == 0)
        rc = w ? sk_offset_checkpoint_write_async(w[0], SK_RECOVERY_POINT_CHECKPOINT, rp, n,
                                                  done, arg)
               : sk_offset_checkpoint_write(data_dir(b), SK_RECOVERY_POINT_CHECKPOINT, rp, n);
    if (rc == 0)
        rc = w ? sk_offset_checkpoint_write_async(w[1], SK_LOG_START_OFFSET_CHECKPOINT, ls, n,
                                                  done, arg)
               : sk_offset_checkpoint_write(data_dir(b), SK_LOG_START_OFFSET_CHECKPOINT, ls, n);
    free(rp);
    free(ls);
    return rc;
}

/* Partitions closed together at shutdown: their data, index and snapshot
 * syncs are in flight at once, then their directories', so a stop costs a few
 * journal commits per chunk rather than two per partition. The chunk bounds
 * the files held open for it. */
#define CLOSE_CHUNK 256

static int close_chunk(struct sk_partition **parts, size_t n)
{
    struct sk_snapshot_write *sw = malloc(sizeof *sw * n);
    struct sk_plog **logs = malloc(sizeof *logs * n);
    int *fds = malloc(sizeof *fds * n);
    int rc = sw && logs && fds ? 0 : -ENOMEM;
    size_t nf = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        logs[i] = parts[i]->log;
        if (sk_producer_snapshot_write(parts[i], &sw[i], false) < 0)
            sk_warn("%s-%d: cannot write a producer state snapshot", parts[i]->topic, parts[i]->id);
        if (sw[i].fd >= 0)
            fds[nf++] = sw[i].fd;
    }
    if (rc == 0)
        rc = sk_plog_flush_many(logs, n, fds, nf, sk_wall_ms());
    nf = 0;
    for (size_t i = 0; sw && logs && fds && i < n; i++) {
        bool had = sw[i].fd >= 0;
        if (rc == 0 ? sk_producer_snapshot_commit(&sw[i]) < 0 : (close(sw[i].fd), false))
            sk_warn("%s-%d: cannot rename a producer state snapshot", parts[i]->topic, parts[i]->id);
        if (rc == 0 && had && (fds[nf] = open(sk_plog_dir(logs[i]), O_RDONLY | O_DIRECTORY |
                                                                      O_CLOEXEC)) >= 0)
            nf++;
    }
    if (rc == 0)
        rc = sk_sync_many(fds, nf, false);
    while (fds && nf > 0)
        close(fds[--nf]);
    free(sw);
    free(logs);
    free(fds);
    return rc;
}

void sk_partitions_close_all(struct sk_broker *b)
{
    int rc = 0;
    for (int i = 0; i < b->nparts && rc == 0; i += CLOSE_CHUNK) {
        size_t n = (size_t)(b->nparts - i < CLOSE_CHUNK ? b->nparts - i : CLOSE_CHUNK);
        rc = close_chunk(b->parts + i, n);
    }
    if (rc < 0)
        sk_warn("cannot flush the partition logs in %s at shutdown: %s", data_dir(b),
                strerror(-rc));
    else if (b->nparts && sk_partitions_checkpoint(b) < 0)
        sk_warn("cannot write offset checkpoints in %s", data_dir(b));
    for (int i = 0; i < b->nparts; i++)
        partition_free(b->parts[i], false);
    free(b->parts);
    b->parts = NULL;
    b->nparts = b->parts_cap = 0;
}

/* ---- durability ---------------------------------------------------------------- */

/* As in Kafka with one replica, the high watermark is the log end offset
 * from the moment of the append: consumers and ListOffsets see what acks=1
 * producers were told is written. */
static void set_high_watermark(struct sk_partition *p, int64_t hw)
{
    if (hw <= p->high_watermark)
        return;
    p->high_watermark = hw;
    if (p->broker->hw_listener)
        p->broker->hw_listener(p->broker, p);
}

/* What is below the durable offset survives a crash: acks=all waits for it. */
static int64_t durable_offset(const struct sk_partition *p)
{
    return p->relaxed ? sk_plog_log_end_offset(p->log) : sk_plog_recovery_point(p->log);
}

static void complete_waiters(struct sk_partition *p)
{
    int64_t durable = durable_offset(p);
    while (p->waiters && p->waiters->offset <= durable) {
        struct sk_waiter *w = p->waiters;
        p->waiters = w->next;
        w->cb(w->arg, SK_ERR_NONE);
        free(w);
    }
    if (!p->waiters)
        p->waiters_tail = NULL;
}

static void fail_waiters(struct sk_partition *p, int16_t err)
{
    while (p->waiters) {
        struct sk_waiter *w = p->waiters;
        p->waiters = w->next;
        w->cb(w->arg, err);
        free(w);
    }
    p->waiters_tail = NULL;
}

/* Waiters come in offset order almost always (appends only grow the log),
 * so the tail is checked first: a deep pipeline must not make each new
 * request walk every waiting one. */
static void insert_waiter(struct sk_partition *p, struct sk_waiter *w)
{
    if (!p->waiters_tail || p->waiters_tail->offset <= w->offset) {
        if (p->waiters_tail)
            p->waiters_tail->next = w;
        else
            p->waiters = w;
        p->waiters_tail = w;
        return;
    }
    struct sk_waiter **pp = &p->waiters;
    while ((*pp)->offset <= w->offset)
        pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
}

void sk_partition_when_durable(struct sk_partition *p, int64_t offset, sk_durable_fn cb, void *arg)
{
    if (sk_partition_sync_failed(p) && offset > sk_plog_recovery_point(p->log)) {
        cb(arg, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    if (offset <= durable_offset(p)) {
        cb(arg, SK_ERR_NONE);
        return;
    }
    struct sk_waiter *w = malloc(sizeof *w);
    if (!w) {
        cb(arg, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *w = (struct sk_waiter){offset, cb, arg, NULL};
    insert_waiter(p, w);
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
    }
    return 0;
}

static void mark_dirty(struct sk_partition *p);

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
    return p->nsyncs < SK_SYNC_DEPTH && p->waiters_tail &&
           p->waiters_tail->offset > sync_covered(p);
}

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
        note_sync_failed(p, op->err, false);
        for (struct sk_sync_op *o = op->next; o; o = o->next)
            o->err = op->err;
        fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    sk_plog_mark_flushed(p->log, op->upto, sk_wall_ms());
    complete_waiters(p);
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
    bool ok = true;
    while (p->syncs && p->syncs->done) {
        struct sk_sync_op *head = p->syncs;
        p->syncs = head->next;
        p->nsyncs--;
        ok = head->err == 0;
        sync_retire(p, head);
        sync_op_free(head);
    }
    if (!p->syncs)
        p->syncs_tail = NULL;
    p->flush_in_flight = p->syncs != NULL || p->sync_retry;
    /* Appends that came while the sync ran need another one. The partition
     * may already be queued by them: mark_dirty keeps it in the list once. */
    if (ok && !p->relaxed && needs_sync(p))
        mark_dirty(p);
}

/* Syncs start at the segment holding the recovery point of their start, and
 * the oldest running one started lowest (the point only moves up). */
int64_t sk_partition_retention_limit(const struct sk_partition *p)
{
    if (p->syncs && p->syncs->from < p->high_watermark)
        return p->syncs->from;
    return p->high_watermark;
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

static void sync_retry(void *arg)
{
    struct sk_partition *p = arg;
    p->sync_retry = 0;
    p->flush_in_flight = p->syncs != NULL;
    sk_partition_flush_async(p);
}

/* The files a sync needs (directories and small files of a new partition, an
 * older segment's after a roll) are opened for it. When thousands of new
 * partitions sync at once those can exhaust the fd limit for a moment; the
 * sync is then tried again shortly, as the ones in flight close theirs. It
 * counts as in flight meanwhile, so the partition is not closed under it. */
static bool sync_later(struct sk_partition *p)
{
    p->sync_retry = sk_timer_add(p->broker->shard, 5, sync_retry, p);
    if (!p->sync_retry)
        return false;
    p->flush_in_flight = true;
    return true;
}

void sk_partition_flush_async(struct sk_partition *p)
{
    struct sk_plog_sync sync;
    int n = sk_plog_sync_fds(p->log, &sync);
    if ((n == -EAGAIN || n == -EMFILE || n == -ENFILE) && sync_later(p))
        return;
    if (n < 0) {
        /* A file to sync could not be opened: as a failed sync, nothing
         * waiting can be told the data is on disk. */
        sk_error("cannot sync %s-%d: %s", p->topic, p->id, strerror(-n));
        fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    if (n == 0)
        return;
    struct sk_sync_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    int r = sync_op_take_fds(op, &sync, n);
    if (r < 0) {
        free(op);
        if ((r == -EMFILE || r == -ENFILE) && sync_later(p))
            return;
        sk_error("cannot sync %s-%d: %s", p->topic, p->id, strerror(-r));
        fail_waiters(p, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    op->p = p;
    op->from = sk_plog_recovery_point(p->log);
    op->upto = sync.upto;
    /* Held while submitting so that an inline failure cannot retire it
     * before every fd has its fdatasync. */
    op->pending = n + 1;
    sync_push(p, op);
    for (int i = 0; i < n; i++)
        if (sk_shard_fsync(p->broker->shard, op->fds[i], 1, sync_done, op) < 0)
            sync_done(op, -EIO);
    sync_done(op, 0);
}

/* One fdatasync per dirty partition per loop iteration, however many
 * produce requests appended to it in that iteration. */
static void group_commit(void *arg)
{
    struct sk_broker *b = arg;
    b->commit_scheduled = false;
    struct sk_partition *p = b->dirty;
    b->dirty = NULL;
    while (p) {
        struct sk_partition *next = p->next_dirty;
        p->flush_queued = false;
        p->next_dirty = NULL;
        /* Otherwise sync_done re-queues it when the oldest sync ends. */
        if (sync_wanted(p))
            sk_partition_flush_async(p);
        p = next;
    }
}

static void schedule_commit(struct sk_broker *b)
{
    if (b->commit_scheduled)
        return;
    if (sk_shard_defer(b->shard, group_commit, b) == 0)
        b->commit_scheduled = true;
}

static void mark_dirty(struct sk_partition *p)
{
    if (p->flush_queued)
        return;
    p->flush_queued = true;
    p->next_dirty = p->broker->dirty;
    p->broker->dirty = p;
    schedule_commit(p->broker);
}

/* ---- append ------------------------------------------------------------------------ */

/* Walks the batches of an append; with base >= 0 it assigns offsets and the
 * leader epoch, otherwise it records them in the producer state. */
static void for_batches(struct sk_partition *p, uint8_t *buf, size_t len, int64_t base,
                        int64_t now)
{
    int64_t next = base;
    while (len >= SK_BATCH_HEADER_SIZE) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf, len, &h) < 0)
            return;
        if (base >= 0) {
            sk_batch_set_base_offset(buf, next);
            sk_batch_set_leader_epoch(buf, p->leader_epoch);
            next += h.last_offset_delta + 1;
        } else {
            sk_producer_update(p, &h, now);
        }
        buf += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
}

int16_t sk_partition_append(struct sk_partition *p, uint8_t *batches, size_t len, int64_t *base,
                            int64_t *log_append_time)
{
    int64_t now = sk_wall_ms();
    *base = sk_plog_next_offset(p->log);
    for_batches(p, batches, len, *base, now);
    struct sk_plog_append_info info;
    int rc = sk_plog_append(p->log, batches, len, now, &info);
    if (rc < 0) {
        sk_warn("append to %s-%d failed: %s", p->topic, p->id, strerror(-rc));
        return sk_plog_err_to_kafka(rc);
    }
    for_batches(p, batches, len, -1, now);
    /* A snapshot per segment bounds the scan that rebuilds producer state
     * after a crash to the active segment, as in Kafka. */
    if (info.rolled && sk_producer_snapshot_async(p, &p->broker->syncer) < 0)
        sk_warn("%s-%d: cannot write a producer state snapshot", p->topic, p->id);
    if (log_append_time)
        *log_append_time = p->cfg.timestamp_type == SK_TIMESTAMP_LOG_APPEND_TIME ? now : -1;
    set_high_watermark(p, sk_plog_log_end_offset(p->log));
    if (!p->relaxed) {
        mark_dirty(p);
        return SK_ERR_NONE;
    }
    complete_waiters(p);
    if (sk_plog_flush_due(p->log, now) && !p->flush_in_flight)
        sk_partition_flush_async(p);
    return SK_ERR_NONE;
}

int16_t sk_partition_check_epoch(const struct sk_partition *p, int32_t current_leader_epoch)
{
    if (current_leader_epoch < 0 || current_leader_epoch == p->leader_epoch)
        return SK_ERR_NONE;
    return current_leader_epoch < p->leader_epoch ? SK_ERR_FENCED_LEADER_EPOCH
                                                  : SK_ERR_UNKNOWN_LEADER_EPOCH;
}
