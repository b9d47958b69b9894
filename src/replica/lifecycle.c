/* A partition's lifecycle on this shard, as the metadata image says: opened
 * when this node is one of its replicas and this shard owns it, as leader or
 * follower, its topic config, role and leader epoch kept current, closed
 * when the node is no longer a replica and deleted with its topic;
 * checkpoints and the closing of everything at shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica_int.h"
#include "skein/checkpoints.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/java_hash.h"
#include "skein/logging.h"
#include "skein/plog.h"
#include "skein/repl_quota.h"
#include "skein/producer_state.h"
#include "skein/net.h"
#include "skein/timer.h"

static const char *data_dir(const struct sk_broker *b)
{
    return b->cfg->log_dirs[0];
}

static enum sk_replica_role role_in(const struct sk_broker *b, const struct sk_partition_meta *pm)
{
    return pm->leader == b->node->node_id ? SK_REPLICA_LEADER : SK_REPLICA_FOLLOWER;
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
    int rc = sk_topic_config_resolve(b->cfg, e, (size_t)t->configs.n, out, err, sizeof err);
    free(e);
    if (rc != SK_ERR_NONE) {
        /* Configs in the image were validated before they were written; a
         * failure here means the broker defaults changed under them. */
        sk_warn("topic %s: config ignored: %s", t->name, err);
        *out = b->cfg->topic_defaults;
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

static void apply_config(const struct sk_broker *b, struct sk_partition *p,
                         const struct sk_topic_meta *t, const struct sk_topic_config *tc)
{
    struct sk_plog_config pc;
    int32_t me = b->node->node_id;
    p->throttle_leader = sk_repl_throttled(
        sk_kvlist_bytes(&t->configs, "leader.replication.throttled.replicas"), p->id, me);
    p->throttle_follower = sk_repl_throttled(
        sk_kvlist_bytes(&t->configs, "follower.replication.throttled.replicas"), p->id, me);
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
struct sk_replica_checkpoints {
    struct sk_offset_checkpoint_entry *rp, *ls, *hw;
    size_t nrp, nls, nhw;
    bool loaded;
};

static void checkpoints_load(struct sk_broker *b, struct sk_replica_checkpoints *c)
{
    if (c->loaded)
        return;
    c->loaded = true;
    if (sk_offset_checkpoint_read(data_dir(b), SK_RECOVERY_POINT_CHECKPOINT, &c->rp, &c->nrp) < 0)
        c->nrp = 0;
    if (sk_offset_checkpoint_read(data_dir(b), SK_LOG_START_OFFSET_CHECKPOINT, &c->ls, &c->nls) < 0)
        c->nls = 0;
    if (sk_offset_checkpoint_read(data_dir(b), SK_REPLICATION_OFFSET_CHECKPOINT, &c->hw,
                                  &c->nhw) < 0)
        c->nhw = 0;
}

static void checkpoints_free(struct sk_replica_checkpoints *c)
{
    free(c->rp);
    free(c->ls);
    free(c->hw);
}

/* A partition without a directory is new, as in Kafka, whose checkpoints
 * serve only the logs found on disk: a line of a deleted topic of the same
 * name must not give it a start offset, and a create of 1,000 partitions
 * must not parse and search the lines of every partition already hosted
 * (O(added x hosted)). */
static bool log_exists(const struct sk_broker *b, const struct sk_topic_meta *t, int32_t id)
{
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/%s-%d", data_dir(b), t->name, id);
    return stat(dir, &st) == 0;
}

/* As Kafka's Partition.makeLeader says it: which image this node leads
 * from is what an operator (and a test) reads after a restart or a move.
 * Partitions of one replica have no one to take over from, so are not
 * logged (a node may create thousands at once). */
static void note_leader(const struct sk_partition *p, const struct sk_partition_meta *pm)
{
    if (pm->nreplicas > 1)
        sk_info("%s-%d starts at leader epoch %d from offset %lld", p->topic, p->id,
                pm->leader_epoch, (long long)sk_plog_log_end_offset(p->log));
}

/* A replicated log may end in records no other replica holds: appended just
 * before a crash, never acknowledged, and cut by the next leader. So its
 * high watermark starts where the last checkpoint put it (Kafka's
 * replication-offset-checkpoint: below it every in-sync replica held the
 * records), within the log, or at the log start without one; a leader moves
 * it once its in-sync followers have fetched, a follower takes its
 * leader's. Starting at the log end, a restarted leader acknowledged a
 * producer's retry of such a record as a duplicate at once, and a replica
 * without it was elected next (the fault harness's lost write). */
static int64_t replicated_start_hw(const struct sk_partition *p,
                                   const struct sk_replica_checkpoints *cp, const char *topic)
{
    int64_t start = sk_plog_log_start_offset(p->log), end = sk_plog_log_end_offset(p->log);
    int64_t hw = cp && cp->nhw ? sk_offset_checkpoint_find(cp->hw, cp->nhw, topic, p->id) : -1;
    return hw < start ? start : hw > end ? end : hw;
}

static struct sk_partition *partition_open(struct sk_broker *b, const struct sk_topic_meta *t,
                                           const struct sk_partition_meta *pm,
                                           const struct sk_topic_config *tc,
                                           struct sk_replica_checkpoints *cp, int *err)
{
    sk_replica_fs_syncer_open(b);
    bool existed = log_exists(b, t, pm->id);
    if (existed)
        checkpoints_load(b, cp);
    struct sk_plog_config pc;
    plog_config(tc, &pc);
    struct sk_plog_open_opts opts = {
        .log_dir = data_dir(b),
        .topic = t->name,
        .partition = pm->id,
        .topic_id = t->id.b,
        .recovery_point = existed && cp->nrp
                              ? sk_offset_checkpoint_find(cp->rp, cp->nrp, t->name, pm->id) : -1,
        .log_start_offset = existed && cp->nls
                                ? sk_offset_checkpoint_find(cp->ls, cp->nls, t->name, pm->id) : -1,
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
    p->topic_hash = sk_java_string_hash((kp_str){t->name, t->name_len});
    p->topic_id = t->id;
    p->id = pm->id;
    p->leader_epoch = pm->leader_epoch;
    p->broker = b;
    p->role = role_in(b, pm);
    if (p->role == SK_REPLICA_LEADER)
        note_leader(p, pm);
    p->hw_waiters.prev = p->hw_waiters.next = &p->hw_waiters;
    if (sk_replica_set_replicas(p, pm, b->node->node_id) < 0)
        abort(); /* as the image does: a half-known ISR would ack too early */
    apply_config(b, p, t, tc);
    /* Whatever survived on disk is made durable before anyone reads it, so a
     * partition of one replica can start its high watermark at the log end.
     * A new or cleanly closed log has nothing to flush, and its directory is
     * synced with its first data. */
    rc = 0;
    if (sk_plog_recovery_point(p->log) < sk_plog_log_end_offset(p->log))
        rc = sk_plog_flush(p->log, sk_wall_ms());
    if (rc < 0 && sk_plog_sync_error(p->log))
        sk_replica_note_sync_failed(p, rc, true);
    p->high_watermark = sk_plog_log_end_offset(p->log);
    p->epoch_start_offset = p->high_watermark;
    if (pm->nreplicas > 1)
        p->high_watermark = replicated_start_hw(p, existed ? cp : NULL, t->name);
    sk_producer_state_load(p);
    sk_replica_update_hw(p); /* an ISR of the leader alone: its log end */
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
    sk_replica_fail_waiters(p, delete_data ? SK_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                           : SK_ERR_NOT_LEADER_OR_FOLLOWER);
    sk_replica_detach_hw_waiters(p);
    if (p->sync_retry)
        sk_replica_io_timer_cancel(p->broker, p->sync_retry);
    if (!delete_data) {
        sk_plog_flush(p->log, sk_wall_ms());
        sk_producer_state_snapshot(p);
    }
    sk_producer_state_free(p);
    sk_replica_clear_replicas(p);
    sk_plog_close(p->log);
    if (counted)
        p->broker->offline_sync_failed--;
    if (delete_data)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(p->topic);
    free(p);
}

/* This node is one of its replicas and this shard owns it. A replica the
 * image gives no leader (its leader fenced) stays open as a follower, so its
 * records are there when leadership comes back. */
static bool hosted_here(const struct sk_broker *b, const struct sk_topic_meta *t,
                        const struct sk_partition_meta *pm)
{
    return sk_partition_meta_has_replica(pm, b->node->node_id) &&
           sk_partition_is_mine(b, kp_str_c(t->name), pm->id);
}

/* A partition with a sync in flight (or waiting for fds) is closed when the
 * sync ends (sk_replica_close_if_unhosted), not under it. */
static void close_partition(struct sk_broker *b, struct sk_partition *p, bool deleted)
{
    if (p->flush_in_flight) {
        p->unhosted = true;
        return;
    }
    sk_info("%s partition %s-%d", deleted ? "deleting" : "closing", p->topic, p->id);
    sk_replica_unmark_dirty(p);
    sk_replica_table_remove(b, p);
    partition_free(p, deleted);
}

/* O(partitions): the image's partitions hosted here are marked through the
 * hash table, then the unmarked ones go. Image lookups by id are linear in
 * topics, so none is made per partition. */
static void drop_removed(struct sk_broker *b)
{
    b->parts_visited += 2 * (uint64_t)b->nparts;
    for (int i = 0; i < b->nparts; i++)
        b->parts[i]->marked = false;
    for (int i = 0; i < b->image->ntopics; i++) {
        const struct sk_topic_meta *t = b->image->topics[i];
        b->parts_visited += (uint64_t)t->npartitions;
        for (int32_t j = 0; j < t->npartitions; j++) {
            struct sk_partition *p = sk_partition_get_by_id(b, &t->id, j);
            if (p && hosted_here(b, t, &t->partitions[j]))
                p->marked = true;
        }
    }
    for (int i = 0; i < b->nparts;) {
        struct sk_partition *p = b->parts[i];
        bool deleted = !p->marked && !sk_meta_topic_by_id(b->image, &p->topic_id);
        if (p->marked || p->flush_in_flight) {
            p->unhosted = !p->marked;
            i++;
            continue;
        }
        close_partition(b, p, deleted); /* the last partition moves to slot i */
    }
}

void sk_replica_close_if_unhosted(struct sk_partition *p)
{
    if (!p->unhosted || p->flush_in_flight)
        return;
    struct sk_broker *b = p->broker;
    const struct sk_topic_meta *t = sk_meta_topic_by_id(b->image, &p->topic_id);
    p->unhosted = false;
    if (t && p->id < t->npartitions && hosted_here(b, t, &t->partitions[p->id]))
        return;
    close_partition(b, p, t == NULL);
}

/* What one pass over the image left undone. */
struct sync_pass {
    struct sk_replica_checkpoints own, *cp; /* cp: the change's (b->cp_held), else own */
    int failed, over_budget;
    int first_err;
    char first[300]; /* the first partition that failed, "topic-p" */
    bool out_of_fds; /* once EMFILE/ENFILE, the pass stops trying */
    int deferred;    /* left for a later turn: the turn's time for opens ran out */
    bool open_only;  /* a later turn's: what is open was synced by its change */
};

static void pass_init(struct sk_broker *b, struct sync_pass *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->cp = b->cp_held ? b->cp_held : &sp->own;
}

static void pass_done(struct sync_pass *sp)
{
    checkpoints_free(&sp->own);
}

/* Opening a log costs a millisecond or two (files, index blocks, producer
 * state), so an image that brings thousands would hold the shard, its
 * clients and, on shard 0, the Raft voter for seconds: a shard's turn opens
 * for at most SK_OPEN_SLICE_MS and leaves the rest to the next turns
 * (partitions_retry.c), answering for them as for a leader not ready yet.
 * Only on the shard's own running loop: at start-up, before any loop runs,
 * everything opens before the node serves, as Kafka recovers logs first. */
#define SK_OPEN_SLICE_MS 50

static bool open_window_begin(struct sk_broker *b)
{
    if (b->open_until_ms || !b->shard || sk_shard_current() != b->shard)
        return false;
    b->open_until_ms = sk_clock_ms() + SK_OPEN_SLICE_MS;
    return true;
}

static bool open_time_left(const struct sk_broker *b)
{
    return !b->open_until_ms || sk_clock_ms() < b->open_until_ms;
}

void sk_replicas_change_begin(struct sk_broker *b)
{
    if (!b->cp_held)
        b->cp_held = calloc(1, sizeof *b->cp_held); /* NULL: each pass reads its own */
    (void)open_window_begin(b);
}

void sk_replicas_change_end(struct sk_broker *b)
{
    b->open_until_ms = 0;
    if (!b->cp_held)
        return;
    checkpoints_free(b->cp_held);
    free(b->cp_held);
    b->cp_held = NULL;
}

static void note_failure(struct sync_pass *sp, const struct sk_topic_meta *t, int32_t id, int err)
{
    if (sp->failed++ == 0) {
        sp->first_err = err;
        snprintf(sp->first, sizeof sp->first, "%s-%d", t->name, id);
    }
    sp->out_of_fds = sp->out_of_fds || err == -EMFILE || err == -ENFILE;
}

/* A leader that becomes a follower answers nothing more as leader: its
 * acks=all producers get NOT_LEADER_OR_FOLLOWER, as from Kafka's
 * ReplicaManager on makeFollower, and its parked fetches are woken to find
 * it no longer led. */
static void set_role(struct sk_partition *p, enum sk_replica_role role,
                     const struct sk_partition_meta *pm)
{
    enum sk_replica_role was = p->role;
    int32_t leader_epoch = pm->leader_epoch;
    if (role == SK_REPLICA_LEADER && (was != role || leader_epoch != p->leader_epoch))
        note_leader(p, pm);
    p->role = role;
    p->leader_epoch = leader_epoch;
    if (was == SK_REPLICA_LEADER && role == SK_REPLICA_FOLLOWER) {
        sk_replica_fail_waiters(p, SK_ERR_NOT_LEADER_OR_FOLLOWER);
        sk_replica_wake_hw_waiters(p);
    }
    if (was != SK_REPLICA_LEADER && role == SK_REPLICA_LEADER)
        sk_replica_forget_followers(p);
}

/* One partition this node is a replica of: kept in line with the image, or opened. A
 * partition that cannot be opened, or would take the node past its budget,
 * stays offline; the others go on. */
static void sync_one(struct sk_broker *b, const struct sk_topic_meta *t,
                     const struct sk_partition_meta *pm, const struct sk_topic_config *tc,
                     struct sync_pass *sp, bool quiet)
{
    struct sk_partition *p = sk_partition_get_by_id(b, &t->id, pm->id);
    if (p && sp->open_only)
        return;
    if (p) {
        apply_config(b, p, t, tc);
        set_role(p, role_in(b, pm), pm);
        if (sk_replica_set_replicas(p, pm, b->node->node_id) < 0)
            abort();
        /* A smaller ISR may let the high watermark move. */
        if (p->role == SK_REPLICA_LEADER)
            sk_replica_update_hw(p);
        if (p->role == SK_REPLICA_LEADER && p->recovering && b->shard)
            sk_replica_isr_check(p, (int64_t)sk_shard_now_ms(b->shard));
        return;
    }
    if (b->node->budget.set && b->nparts >= b->node->budget.limit) {
        sp->over_budget++;
        return;
    }
    if (!open_time_left(b)) {
        sp->deferred++;
        return;
    }
    /* A stop asked for ends the pass: shutdown must not wait on opens. */
    if (b->shard && sk_shard_stopping(b->shard)) {
        sp->failed++;
        return;
    }
    int err = -EMFILE;
    if (!sp->out_of_fds)
        p = partition_open(b, t, pm, tc, sp->cp, &err);
    if (p && sk_replica_table_add(b, p) < 0) {
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

static void sync_topic(struct sk_broker *b, const struct sk_topic_meta *t, struct sync_pass *sp,
                       bool quiet)
{
    /* One resolution per topic: all its partitions share the config. */
    struct sk_topic_config tc;
    bool resolved = false;
    b->parts_visited += (uint64_t)t->npartitions;
    for (int32_t j = 0; j < t->npartitions; j++) {
        const struct sk_partition_meta *pm = &t->partitions[j];
        if (!hosted_here(b, t, pm))
            continue;
        if (!resolved)
            resolve_config(b, t, &tc);
        resolved = true;
        sync_one(b, t, pm, &tc, sp, quiet);
    }
}

/* -EIO if a log did not open, -EAGAIN if some were left for later turns. */
static int pass_result(const struct sync_pass *sp)
{
    return sp->failed ? -EIO : sp->deferred ? -EAGAIN : 0;
}

int sk_partitions_sync_ex(struct sk_broker *b, enum sk_sync_mode mode)
{
    struct sync_pass sp;
    pass_init(b, &sp);
    sp.open_only = mode == SK_SYNC_OPEN_MISSING;
    bool quiet = mode != SK_SYNC_ALL;
    bool window = open_window_begin(b);
    if (!sp.open_only)
        drop_removed(b);
    for (int i = 0; i < b->image->ntopics; i++)
        sync_topic(b, b->image->topics[i], &sp, quiet);
    if (window)
        b->open_until_ms = 0;
    pass_done(&sp);
    report(b, &sp);
    b->open_deferred = sp.deferred;
    return pass_result(&sp);
}

int sk_partitions_sync(struct sk_broker *b)
{
    return sk_partitions_sync_ex(b, SK_SYNC_ALL);
}

/* The old topic's partitions this shard hosts that the new one does not
 * (deleted topic, or led elsewhere now). */
static void close_unhosted(struct sk_broker *b, const struct sk_topic_meta *old,
                           const struct sk_topic_meta *new)
{
    b->parts_visited += (uint64_t)old->npartitions;
    for (int32_t j = 0; j < old->npartitions; j++) {
        struct sk_partition *p = sk_partition_get_by_id(b, &old->id, j);
        if (!p)
            continue;
        if (new && j < new->npartitions && hosted_here(b, new, &new->partitions[j]))
            continue;
        /* A replica moved off this node (a reassignment) goes with its
         * data, as Kafka's broker deletes a partition it no longer hosts. */
        bool gone = !new || j >= new->npartitions ||
                    !sk_partition_meta_has_replica(&new->partitions[j], b->node->node_id);
        close_partition(b, p, gone);
    }
}

int sk_replicas_topic_changed(struct sk_broker *b, const struct sk_topic_meta *old,
                              const struct sk_topic_meta *new)
{
    /* A topic re-created under its old name has a new id: a different topic. */
    if (old && new && memcmp(old->id.b, new->id.b, 16) != 0) {
        close_unhosted(b, old, NULL);
        old = NULL;
    }
    if (old)
        close_unhosted(b, old, new);
    if (!new)
        return 0;
    struct sync_pass sp;
    pass_init(b, &sp);
    sync_topic(b, new, &sp, false);
    pass_done(&sp);
    /* Counts of a delta add to the node's; the retry's full pass recounts. */
    b->open_deferred += sp.deferred;
    if (sp.failed || sp.over_budget) {
        sp.failed += b->offline_failed;
        sp.over_budget += b->offline_over_budget;
        report(b, &sp);
    }
    return pass_result(&sp);
}

int sk_replicas_broker_config_changed(struct sk_broker *b)
{
    /* Partitions of one topic lie anywhere in the array: each resolves its
     * topic's config, which is O(the topic's overrides). */
    b->parts_visited += (uint64_t)b->nparts;
    for (int i = 0; i < b->nparts; i++) {
        struct sk_partition *p = b->parts[i];
        const struct sk_topic_meta *t = sk_meta_topic(b->image, p->topic, strlen(p->topic));
        struct sk_topic_config tc;
        if (!t || resolve_config(b, t, &tc) < 0)
            continue;
        apply_config(b, p, t, &tc);
    }
    return 0;
}

static int64_t checkpoint_offset(const struct sk_partition *p, enum sk_checkpoint_kind kind)
{
    switch (kind) {
    case SK_CHECKPOINT_RECOVERY_POINT: return sk_plog_recovery_point(p->log);
    case SK_CHECKPOINT_HIGH_WATERMARK: return p->high_watermark;
    default: return sk_plog_log_start_offset(p->log);
    }
}

/* This shard's lines of a checkpoint: recovery points, log start offsets
 * or high watermarks. */
static struct sk_offset_checkpoint_entry *checkpoint_lines(struct sk_broker *b,
                                                           enum sk_checkpoint_kind kind)
{
    struct sk_offset_checkpoint_entry *e = calloc((size_t)b->nparts + 1, sizeof *e);
    for (int i = 0; e && i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        snprintf(e[i].topic, sizeof e[i].topic, "%s", p->topic);
        e[i].partition = p->id;
        e[i].offset = checkpoint_offset(p, kind);
    }
    return e;
}

/* Checkpoints let the next start skip recovery of what is known to be
 * flushed, and keep deleted records deleted. */
int sk_partitions_checkpoint(struct sk_broker *b, enum sk_checkpoint_kind kind,
                             sk_checkpoint_done_fn done, void *arg)
{
    struct sk_offset_checkpoint_entry *e = checkpoint_lines(b, kind);
    if (!e)
        return -ENOMEM;
    return sk_checkpoint_offer(b, kind, e, (size_t)b->nparts, done, arg);
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
    sk_replica_fs_syncer_close(b);
    for (int i = 0; i < b->nparts && rc == 0; i += CLOSE_CHUNK) {
        size_t n = (size_t)(b->nparts - i < CLOSE_CHUNK ? b->nparts - i : CLOSE_CHUNK);
        rc = close_chunk(b->parts + i, n);
    }
    if (rc < 0)
        sk_warn("cannot flush the partition logs in %s at shutdown: %s", data_dir(b),
                strerror(-rc));
    /* The node writes the files once every shard has closed its own. */
    for (int k = 0; rc == 0 && k < SK_CHECKPOINT_CLEANER; k++) {
        struct sk_offset_checkpoint_entry *e = checkpoint_lines(b, (enum sk_checkpoint_kind)k);
        if (e)
            sk_checkpoint_set_final(b, (enum sk_checkpoint_kind)k, e, (size_t)b->nparts);
        else
            sk_warn("cannot write offset checkpoints in %s: out of memory", data_dir(b));
    }
    for (int i = 0; i < b->nparts; i++)
        partition_free(b->parts[i], false);
    sk_replica_table_free(b);
}

