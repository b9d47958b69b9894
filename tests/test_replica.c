/* src/replica/: the durability state machine driven through a substitute
 * reactor (syncs completed in any order or failed, timers fired at will),
 * the high watermark waiters, and the partition hash tables. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../src/replica/fs_syncer.h"
#include "../src/replica/replica_int.h"
#include "../src/meta/topic_table.h"
#include "skein/broker.h"
#include "skein/buf.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/partition.h"
#include "skein/producer_state.h"
#include "skein/plog.h"
#include "skein/record.h"

/* ---- a reactor the test drives -------------------------------------------------------- */

#define MAX_FSYNCS 256
#define MAX_SYNCFS 8

struct fake_fsync {
    int fd;
    sk_fsync_fn cb;
    void *arg;
    bool done;
};

struct fake_syncfs {
    sk_fsync_fn cb;
    void *arg;
    bool done;
};

struct fake_io {
    struct fake_fsync fsyncs[MAX_FSYNCS];
    int nfsyncs;
    struct fake_syncfs syncfs[MAX_SYNCFS];
    int nsyncfs;
    sk_defer_fn defer_cb;
    void *defer_arg;
    sk_timer_fn timer_cb;
    void *timer_arg;
    sk_timer_id next_timer;
};

static int f_fsync(void *ctx, int fd, sk_fsync_fn cb, void *arg)
{
    struct fake_io *io = ctx;
    cr_assert_lt(io->nfsyncs, MAX_FSYNCS);
    io->fsyncs[io->nfsyncs++] = (struct fake_fsync){fd, cb, arg, false};
    return 0;
}

static int f_syncfs(void *ctx, sk_fsync_fn cb, void *arg)
{
    struct fake_io *io = ctx;
    cr_assert_lt(io->nsyncfs, MAX_SYNCFS);
    io->syncfs[io->nsyncfs++] = (struct fake_syncfs){cb, arg, false};
    return 0;
}

static int f_defer(void *ctx, sk_defer_fn cb, void *arg)
{
    struct fake_io *io = ctx;
    io->defer_cb = cb;
    io->defer_arg = arg;
    return 0;
}

static sk_timer_id f_timer_add(void *ctx, uint64_t ms, sk_timer_fn cb, void *arg)
{
    struct fake_io *io = ctx;
    (void)ms;
    io->timer_cb = cb;
    io->timer_arg = arg;
    return ++io->next_timer;
}

static void f_timer_cancel(void *ctx, sk_timer_id id)
{
    struct fake_io *io = ctx;
    (void)id;
    io->timer_cb = NULL;
}

static struct fake_io io;
static const struct sk_replica_io fake = {f_fsync, f_defer, f_timer_add, f_timer_cancel, &io,
                                          f_syncfs};

/* The end of a loop iteration: the group commit runs. */
static void run_deferred(void)
{
    sk_defer_fn cb = io.defer_cb;
    io.defer_cb = NULL;
    if (cb)
        cb(io.defer_arg);
}

/* The syncs started so far, as the ops that own them (one op per partition
 * sync, each with one fsync per file). */
static int nsyncs(void)
{
    int n = 0;
    for (int i = 0; i < io.nfsyncs; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen = seen || io.fsyncs[j].arg == io.fsyncs[i].arg;
        n += !seen;
    }
    return n;
}

static void *sync_arg(int k)
{
    int n = 0;
    for (int i = 0; i < io.nfsyncs; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen = seen || io.fsyncs[j].arg == io.fsyncs[i].arg;
        if (!seen && n++ == k)
            return io.fsyncs[i].arg;
    }
    cr_assert_fail("no sync %d", k);
    return NULL;
}

/* Completes every fdatasync of the k-th sync with res (the real fdatasync
 * runs first on success, so the log's files are as the broker expects). */
static void complete_sync(int k, int res)
{
    void *arg = sync_arg(k);
    for (int i = 0; i < io.nfsyncs; i++)
        if (io.fsyncs[i].arg == arg && !io.fsyncs[i].done) {
            io.fsyncs[i].done = true;
            if (res == 0)
                cr_assert_eq(fdatasync(io.fsyncs[i].fd), 0);
            io.fsyncs[i].cb(arg, res);
        }
}

/* ---- a shard with partitions from a hand-made image -------------------------------------- */

static char root[] = "/tmp/skein-replica-XXXXXX";
static struct sk_config cfg;
static struct sk_node node;
static struct sk_broker shard;
static struct sk_topic_meta topic_a, topic_relaxed;
static struct sk_topic_meta *topics[2];
static struct sk_partition_meta parts_a[2], parts_relaxed[1];
static struct sk_kv relaxed_kv = {"flush.messages", "1000", 14, 4};

/* Points img at the topics v[0..n) and indexes them, as an image built by
 * applying records would be. */
static void set_topics(struct sk_meta_image *img, struct sk_topic_meta **v, int n)
{
    sk_topic_table_free(&img->by_name);
    sk_topic_table_free(&img->by_id);
    sk_topic_table_init(&img->by_name, false);
    sk_topic_table_init(&img->by_id, true);
    img->topics = v;
    img->ntopics = n;
    for (int i = 0; i < n; i++) {
        sk_topic_table_put(&img->by_name, v[i]);
        sk_topic_table_put(&img->by_id, v[i]);
    }
}

/* Replica lists: this node (1) alone, or node 2 alone. */
static int32_t on_one[] = {1}, on_two[] = {2};

static void topic_init(struct sk_topic_meta *t, const char *name, uint8_t id,
                       struct sk_partition_meta *pm, int n)
{
    *t = (struct sk_topic_meta){.name = (char *)name, .name_len = (int32_t)strlen(name), .partitions = pm, .npartitions = n};
    memset(t->id.b, id, 16);
    for (int i = 0; i < n; i++)
        pm[i] = (struct sk_partition_meta){.id = i, .leader = 1, .replicas = on_one, .nreplicas = 1,
                                           .isr = on_one, .nisr = 1};
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(root));
    char dirs[128];
    snprintf(dirs, sizeof dirs, "log.dirs=%s", root);
    const char *ov[] = {dirs};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 1, err, sizeof err), 0, "%s", err);
    memset(&io, 0, sizeof io);
    node = (struct sk_node){.cfg = &cfg, .node_id = 1, .nshards = 1};
    shard = (struct sk_broker){.node = &node, .image = &node.image, .cfg = &cfg, .replica_io = &fake};
    topic_init(&topic_a, "orders", 1, parts_a, 2);
    topic_init(&topic_relaxed, "metrics", 2, parts_relaxed, 1);
    topic_relaxed.configs = (struct sk_kvlist){&relaxed_kv, 1, 1};
    topics[0] = &topic_a;
    topics[1] = &topic_relaxed;
    set_topics(&node.image, topics, 2);
    cr_assert_eq(sk_partitions_sync(&shard), 0);
    cr_assert_eq(shard.nparts, 3);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    /* Syncs still held by the test end as the reactor would end them. */
    for (int i = 0; i < io.nsyncfs; i++)
        if (!io.syncfs[i].done) {
            io.syncfs[i].done = true;
            io.syncfs[i].cb(io.syncfs[i].arg, -ECANCELED);
        }
    for (int i = 0; i < io.nfsyncs; i++)
        if (!io.fsyncs[i].done) {
            io.fsyncs[i].done = true;
            io.fsyncs[i].cb(io.fsyncs[i].arg, -ECANCELED);
        }
    shard.replica_io = NULL;
    sk_partitions_close_all(&shard);
    sk_topic_table_free(&node.image.by_name);
    sk_topic_table_free(&node.image.by_id);
    sk_config_free(&cfg);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct sk_partition *part(const char *topic, int32_t index)
{
    struct sk_partition *p = sk_partition_get(&shard, kp_str_c(topic), index);
    cr_assert_not_null(p, "%s-%d not open", topic, index);
    return p;
}

/* Appends n records; returns the log end after them. */
static int64_t append(struct sk_partition *p, int n, int16_t want)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    struct sk_record_in recs[16];
    static char val[256];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_record_in){.timestamp = 1000 + i, .key_len = -1, .value = val,
                                        .value_len = (int32_t)sizeof val};
    struct sk_buf b = {0};
    cr_assert_eq(sk_batch_build(&b, &spec, recs, (size_t)n), 0);
    int64_t base = -1;
    int16_t rc = sk_partition_append(p, b.data, b.len, &base, NULL);
    sk_buf_free(&b);
    cr_assert_eq(rc, want, "append: error %d, want %d", rc, want);
    return base + n;
}

struct acks {
    int n;
    int16_t err[16];
};

static void on_durable(void *arg, int16_t err)
{
    struct acks *a = arg;
    cr_assert_lt(a->n, 16);
    a->err[a->n++] = err;
}

TestSuite(replica, .init = setup, .fini = teardown);

Test(replica, append_moves_the_high_watermark_and_acks_after_the_group_commit)
{
    struct sk_partition *p = part("orders", 0);
    struct acks a = {0};
    int64_t end = append(p, 3, SK_ERR_NONE);
    cr_assert_eq(end, 3);
    /* Default mode: visible at once, as in Kafka with one replica. */
    cr_assert_eq(p->high_watermark, 3);
    sk_partition_when_durable(p, end, on_durable, &a);
    cr_assert_eq(a.n, 0, "acknowledged before any sync");
    cr_assert_eq(nsyncs(), 0, "synced before the loop iteration ended");
    append(p, 2, SK_ERR_NONE);
    run_deferred();
    cr_assert_eq(nsyncs(), 1, "one fdatasync per partition per iteration");
    complete_sync(0, 0);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE);
    cr_assert_eq(sk_plog_recovery_point(p->log), 5);
}

Test(replica, overlapping_syncs_completing_out_of_order_ack_in_offset_order)
{
    struct sk_partition *p = part("orders", 0);
    struct acks first = {0}, second = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &first);
    run_deferred();
    cr_assert_eq(nsyncs(), 1);
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &second);
    run_deferred();
    cr_assert_eq(nsyncs(), 2, "a waiter past the running sync starts a second one");
    complete_sync(1, 0);
    cr_assert_eq(first.n + second.n, 0, "the later sync alone proves nothing");
    cr_assert_eq(sk_plog_recovery_point(p->log), 0);
    complete_sync(0, 0);
    cr_assert_eq(first.n, 1);
    cr_assert_eq(second.n, 1);
    cr_assert_eq(sk_plog_recovery_point(p->log), 4);
}

Test(replica, overlapping_syncs_completing_in_order_ack_each_at_its_offset)
{
    struct sk_partition *p = part("orders", 1);
    struct acks first = {0}, second = {0};
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &first);
    run_deferred();
    sk_partition_when_durable(p, append(p, 3, SK_ERR_NONE), on_durable, &second);
    run_deferred();
    cr_assert_eq(nsyncs(), 2);
    complete_sync(0, 0);
    cr_assert_eq(first.n, 1);
    cr_assert_eq(second.n, 0, "answered below its offset");
    cr_assert_eq(sk_plog_recovery_point(p->log), 1);
    complete_sync(1, 0);
    cr_assert_eq(second.n, 1);
    cr_assert_eq(sk_plog_recovery_point(p->log), 4);
}

Test(replica, no_third_sync_while_two_run)
{
    struct sk_partition *p = part("orders", 0);
    struct acks a = {0};
    for (int i = 0; i < 3; i++) {
        sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a);
        run_deferred();
    }
    cr_assert_eq(nsyncs(), 2);
    complete_sync(0, 0);
    cr_assert_eq(a.n, 1);
    /* The first ending re-queues the partition for what the others lack. */
    run_deferred();
    cr_assert_eq(nsyncs(), 3);
    complete_sync(1, 0);
    complete_sync(2, 0);
    cr_assert_eq(a.n, 3);
}

Test(replica, failed_fdatasync_takes_the_partition_offline_and_acks_nothing)
{
    struct sk_partition *p = part("orders", 0);
    struct acks first = {0}, second = {0}, later = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &first);
    run_deferred();
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &second);
    run_deferred();
    cr_assert_eq(nsyncs(), 2);
    /* The later sync succeeds first, then the earlier one fails: the kernel
     * may have dropped pages the later one was never told about. */
    complete_sync(1, 0);
    complete_sync(0, -EIO);
    cr_assert_eq(first.n, 1);
    cr_assert_eq(first.err[0], SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_eq(second.n, 1);
    cr_assert_eq(second.err[0], SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_eq(sk_plog_recovery_point(p->log), 0, "a failed range became durable");
    cr_assert(sk_partition_sync_failed(p));
    cr_assert_eq(shard.offline_sync_failed, 1);
    sk_partition_when_durable(p, 4, on_durable, &later);
    cr_assert_eq(later.err[0], SK_ERR_KAFKA_STORAGE_ERROR);
    int16_t err;
    cr_assert_null(sk_partition_lookup(&shard, kp_str_c("orders"), 0, true, &err));
    cr_assert_eq(err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert(sk_partition_offline(&shard, &topic_a, 0));
    cr_assert(!sk_partition_offline(&shard, &topic_a, 1));
}

Test(replica, sync_without_fds_is_retried_when_fds_free_up)
{
    struct sk_partition *p = part("orders", 1);
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &a);
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int top = dup(0);
    close(top);
    struct rlimit tight = {(rlim_t)top, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
    run_deferred();
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(nsyncs(), 0, "a sync started without its fds");
    cr_assert_not_null(io.timer_cb, "no retry scheduled");
    cr_assert(p->flush_in_flight, "the partition could be closed under the retry");
    cr_assert_eq(a.n, 0);
    sk_timer_fn retry = io.timer_cb;
    io.timer_cb = NULL;
    retry(io.timer_arg);
    cr_assert_eq(nsyncs(), 0, "the retry synced outside the group commit");
    run_deferred();
    cr_assert_eq(nsyncs(), 1);
    complete_sync(0, 0);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE);
    cr_assert(!p->flush_in_flight);
}

Test(replica, relaxed_topic_acks_at_the_append_without_a_sync)
{
    struct sk_partition *p = part("metrics", 0);
    cr_assert(p->relaxed);
    struct acks a = {0};
    int64_t end = append(p, 4, SK_ERR_NONE);
    sk_partition_when_durable(p, end, on_durable, &a);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, end);
    run_deferred();
    cr_assert_eq(nsyncs(), 0, "flush.messages=1000 not reached, yet synced");
}

Test(replica, append_on_a_full_disk_fails_and_moves_nothing)
{
    struct sk_partition *p = part("orders", 0);
    int64_t end = append(p, 1, SK_ERR_NONE);
    /* A file size limit makes the next write fail as a full disk would. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, tight;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    tight = (struct rlimit){(rlim_t)sk_plog_size_bytes(p->log), old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
    struct sk_batch_spec spec = sk_batch_spec_default();
    struct sk_record_in rec = {.timestamp = 1, .key_len = -1, .value = "x", .value_len = 1};
    struct sk_buf b = {0};
    cr_assert_eq(sk_batch_build(&b, &spec, &rec, 1), 0);
    int64_t base;
    int16_t rc = sk_partition_append(p, b.data, b.len, &base, NULL);
    sk_buf_free(&b);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_neq(rc, SK_ERR_NONE, "append past the limit succeeded");
    cr_assert_eq(p->high_watermark, end, "a failed append became visible");
    cr_assert_eq(sk_plog_log_end_offset(p->log), end);
    /* The partition goes on once space is back. */
    cr_assert_eq(append(p, 1, SK_ERR_NONE), end + 1);
}

/* ---- high watermark waiters -------------------------------------------------------------------- */

struct watcher {
    struct sk_hw_waiter w;
    int calls;
    bool unwatch;
};

static void on_hw(void *arg, struct sk_partition *p)
{
    struct watcher *x = arg;
    (void)p;
    x->calls++;
    if (x->unwatch)
        sk_partition_unwatch_hw(&x->w);
}

Test(replica, a_high_watermark_move_wakes_only_that_partitions_waiters)
{
    struct sk_partition *p0 = part("orders", 0), *p1 = part("orders", 1);
    struct watcher a = {0}, b = {.unwatch = true}, c = {0};
    sk_partition_watch_hw(p0, &a.w, on_hw, &a);
    sk_partition_watch_hw(p0, &b.w, on_hw, &b);
    sk_partition_watch_hw(p1, &c.w, on_hw, &c);
    append(p0, 1, SK_ERR_NONE);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(b.calls, 1);
    cr_assert_eq(c.calls, 0, "another partition's append woke it");
    append(p0, 1, SK_ERR_NONE);
    cr_assert_eq(a.calls, 2);
    cr_assert_eq(b.calls, 1, "woken after it unwatched");
    /* A sync completing does not move the high watermark in default mode. */
    run_deferred();
    complete_sync(0, 0);
    cr_assert_eq(a.calls, 2);
    sk_partition_unwatch_hw(&a.w);
    sk_partition_unwatch_hw(&c.w);
    append(p0, 1, SK_ERR_NONE);
    cr_assert_eq(a.calls, 2);
}

Test(replica, closing_a_partition_detaches_its_waiters)
{
    struct watcher a = {0};
    sk_partition_watch_hw(part("metrics", 0), &a.w, on_hw, &a);
    set_topics(&node.image, topics, 1); /* metrics deleted */
    cr_assert_eq(sk_replicas_topic_changed(&shard, &topic_relaxed, NULL), 0);
    cr_assert_null(sk_partition_get(&shard, kp_str_c("metrics"), 0));
    sk_partition_unwatch_hw(&a.w); /* after the partition is gone: harmless */
    cr_assert_eq(a.calls, 0);
}

Test(replica, deleting_a_partition_queued_for_the_group_commit)
{
    struct acks a = {0};
    struct sk_partition *p = part("orders", 1);
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a);
    topics[0] = &topic_relaxed;
    set_topics(&node.image, topics, 1); /* orders deleted before the iteration ended */
    cr_assert_eq(sk_replicas_topic_changed(&shard, &topic_a, NULL), 0);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    cr_assert_null(sk_partition_get(&shard, kp_str_c("orders"), 1));
    run_deferred(); /* must not reach the freed partition */
    cr_assert_eq(nsyncs(), 0);
}

Test(replica, deleting_a_partition_while_it_syncs_waits_for_the_sync)
{
    struct acks a = {0};
    struct sk_partition *p = part("orders", 0);
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a);
    run_deferred();
    cr_assert_eq(nsyncs(), 1);
    topics[0] = &topic_relaxed;
    set_topics(&node.image, topics, 1);
    cr_assert_eq(sk_replicas_topic_changed(&shard, &topic_a, NULL), 0);
    cr_assert_eq(sk_partition_get(&shard, kp_str_c("orders"), 0), p, "closed under its sync");
    complete_sync(0, 0);
    cr_assert_eq(a.n, 1);
    cr_assert_null(sk_partition_get(&shard, kp_str_c("orders"), 0), "left open after the sync");
    cr_assert_eq(shard.nparts, 1);
}

/* ---- metadata changes ----------------------------------------------------------------------- */

Test(replica, topic_changes_open_close_and_reconfigure_one_topic)
{
    struct sk_partition_meta more[4];
    struct sk_topic_meta grown = topic_a;
    memcpy(more, parts_a, sizeof parts_a);
    for (int i = 2; i < 4; i++)
        more[i] = (struct sk_partition_meta){.id = i, .leader = 1, .replicas = on_one,
                                             .nreplicas = 1, .isr = on_one, .nisr = 1};
    grown.partitions = more;
    grown.npartitions = 4;
    topics[0] = &grown;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, &topic_a, &grown), 0);
    cr_assert_eq(shard.nparts, 5);
    cr_assert_not_null(sk_partition_get(&shard, kp_str_c("orders"), 3));
    /* Moved to another node: closed, its data kept. */
    struct sk_topic_meta moved = grown;
    struct sk_partition_meta away[4];
    memcpy(away, more, sizeof more);
    away[3].leader = 2;
    away[3].replicas = on_two;
    moved.partitions = away;
    topics[0] = &moved;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, &grown, &moved), 0);
    cr_assert_null(sk_partition_get(&shard, kp_str_c("orders"), 3));
    int16_t err;
    cr_assert_null(sk_partition_lookup(&shard, kp_str_c("orders"), 3, false, &err));
    cr_assert_eq(err, SK_ERR_NOT_LEADER_OR_FOLLOWER);
    /* A config override: relaxed from now on. */
    struct sk_kv kv = {"flush.ms", "1000", 8, 4};
    moved.configs = (struct sk_kvlist){&kv, 1, 1};
    cr_assert_eq(sk_replicas_topic_changed(&shard, &moved, &moved), 0);
    cr_assert(part("orders", 0)->relaxed);
    topics[0] = &topic_a;
    set_topics(&node.image, topics, node.image.ntopics);
}

static int32_t two_then_one[] = {2, 1};

/* A leader that becomes a follower keeps its log and stops answering as
 * leader: what waited for acks=all hears NOT_LEADER_OR_FOLLOWER. */
Test(replica, a_leader_made_follower_stays_open_and_fails_its_waiters)
{
    struct sk_partition *p = part("orders", 0);
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &a);
    struct sk_topic_meta moved = topic_a;
    struct sk_partition_meta away[2];
    memcpy(away, parts_a, sizeof parts_a);
    away[0] = (struct sk_partition_meta){.id = 0, .leader = 2, .leader_epoch = 1,
                                         .replicas = two_then_one, .nreplicas = 2,
                                         .isr = two_then_one, .nisr = 2};
    moved.partitions = away;
    topics[0] = &moved;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, &topic_a, &moved), 0);
    cr_assert_eq(part("orders", 0), p, "a follower keeps its log open");
    cr_assert_eq(p->role, SK_REPLICA_FOLLOWER);
    cr_assert_eq(p->leader_epoch, 1);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NOT_LEADER_OR_FOLLOWER);
    int16_t err;
    cr_assert_null(sk_partition_lookup(&shard, kp_str_c("orders"), 0, true, &err));
    cr_assert_eq(err, SK_ERR_NOT_LEADER_OR_FOLLOWER);
    run_deferred();
    for (int k = 0; k < nsyncs(); k++)
        complete_sync(k, 0);
    topics[0] = &topic_a;
    set_topics(&node.image, topics, node.image.ntopics);
}

Test(replica, broker_config_change_rederives_every_partitions_config)
{
    cr_assert(!part("orders", 0)->relaxed);
    /* The broker default log.flush.interval.ms is set. */
    char dirs[128], err[256];
    snprintf(dirs, sizeof dirs, "log.dirs=%s", root);
    const char *ov[] = {dirs, "log.flush.interval.ms=1000"};
    sk_config_free(&cfg);
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sk_replicas_broker_config_changed(&shard), 0);
    cr_assert(part("orders", 0)->relaxed);
    cr_assert(part("orders", 1)->relaxed);
    cr_assert_eq(part("metrics", 0)->cfg.flush_messages, 1000, "the topic override was lost");
}

/* A change to one topic of a node with 10,000 partitions costs that topic's
 * partitions, not the node's: the shard diffs the images it is handed. */
#define BIG_PARTITIONS 10000
static struct sk_partition_meta big_parts[BIG_PARTITIONS];

struct images {
    struct sk_topic_meta big, grown;
    struct sk_partition_meta more[4];
    struct sk_topic_meta *v1[3], *v2[3];
    struct sk_meta_image img1, img2;
};

static void images_init(struct images *im)
{
    /* Hosted by another node, so the test opens no 10,000 logs; a full pass
     * still has to look at every one to know that. */
    topic_init(&im->big, "big", 3, big_parts, BIG_PARTITIONS);
    for (int i = 0; i < BIG_PARTITIONS; i++) {
        big_parts[i].leader = 2;
        big_parts[i].replicas = on_two;
    }
    im->grown = topic_a;
    memcpy(im->more, parts_a, sizeof parts_a);
    for (int i = 2; i < 4; i++)
        im->more[i] = (struct sk_partition_meta){.id = i, .leader = 1, .replicas = on_one,
                                                 .nreplicas = 1, .isr = on_one, .nisr = 1};
    im->grown.partitions = im->more;
    im->grown.npartitions = 4;
    struct sk_topic_meta *v1[3] = {&topic_a, &topic_relaxed, &im->big};
    struct sk_topic_meta *v2[3] = {&im->grown, &topic_relaxed, &im->big};
    memcpy(im->v1, v1, sizeof v1);
    memcpy(im->v2, v2, sizeof v2);
    sk_meta_image_init(&im->img1);
    sk_meta_image_init(&im->img2);
    set_topics(&im->img1, im->v1, 3);
    set_topics(&im->img2, im->v2, 3);
}

static void images_free(struct images *im)
{
    shard.image = &node.image;
    sk_topic_table_free(&im->img1.by_name);
    sk_topic_table_free(&im->img1.by_id);
    sk_topic_table_free(&im->img2.by_name);
    sk_topic_table_free(&im->img2.by_id);
}

Test(replica, a_change_to_one_topic_visits_only_its_partitions)
{
    struct images im;
    images_init(&im);
    shard.image = &im.img1;
    cr_assert_eq(sk_broker_image_changed(&shard, NULL), 0);
    cr_assert_geq(shard.parts_visited, BIG_PARTITIONS, "a first image is applied whole");
    shard.image = &im.img2;
    shard.parts_visited = 0;
    cr_assert_eq(sk_broker_image_changed(&shard, &im.img1), 0);
    cr_assert_leq(shard.parts_visited, (uint64_t)(topic_a.npartitions + im.grown.npartitions),
                  "visited %llu partitions for a change to a topic of %d",
                  (unsigned long long)shard.parts_visited, im.grown.npartitions);
    cr_assert_eq(shard.nparts, 5);
    cr_assert_not_null(sk_partition_get(&shard, kp_str_c("orders"), 3));
    /* And back: the partitions added are closed (their topic shrank, so
     * they are gone from the image), the others stay open. */
    shard.image = &im.img1;
    shard.parts_visited = 0;
    cr_assert_eq(sk_broker_image_changed(&shard, &im.img2), 0);
    cr_assert_leq(shard.parts_visited, (uint64_t)(topic_a.npartitions + im.grown.npartitions));
    cr_assert_eq(shard.nparts, 3);
    cr_assert_null(sk_partition_get(&shard, kp_str_c("orders"), 3));
    images_free(&im);
}

Test(replica, a_broker_config_change_visits_the_hosted_partitions_only)
{
    struct images im;
    images_init(&im);
    shard.image = &im.img1;
    cr_assert_eq(sk_broker_image_changed(&shard, NULL), 0);
    /* A dynamic broker config: every hosted partition's config derives from
     * the broker defaults, so those are walked, but not the image. */
    im.img2.configs_version = im.img1.configs_version + 1;
    im.v2[0] = &topic_a;
    set_topics(&im.img2, im.v2, 3);
    char dirs[128], err[256];
    snprintf(dirs, sizeof dirs, "log.dirs=%s", root);
    const char *ov[] = {dirs, "log.flush.interval.ms=1000"};
    sk_config_free(&cfg);
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 2, err, sizeof err), 0, "%s", err);
    shard.image = &im.img2;
    shard.parts_visited = 0;
    cr_assert_eq(sk_broker_image_changed(&shard, &im.img1), 0);
    cr_assert_leq(shard.parts_visited, (uint64_t)shard.nparts);
    cr_assert(part("orders", 0)->relaxed, "the broker default did not reach the partition");
    images_free(&im);
}

Test(replica, a_new_partition_takes_no_checkpoint_line_of_a_deleted_namesake)
{
    /* The log-start checkpoint still has a line of an earlier "fresh",
     * deleted before the file was written again. */
    struct sk_offset_checkpoint_entry line = {.partition = 0, .offset = 100};
    snprintf(line.topic, sizeof line.topic, "fresh");
    cr_assert_eq(sk_offset_checkpoint_write(root, SK_LOG_START_OFFSET_CHECKPOINT, &line, 1), 0);
    struct sk_partition_meta pm[1];
    struct sk_topic_meta fresh;
    topic_init(&fresh, "fresh", 4, pm, 1);
    struct sk_topic_meta *v[3] = {&topic_a, &topic_relaxed, &fresh};
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    set_topics(&img, v, 3);
    shard.image = &img;
    cr_assert_eq(sk_replicas_topic_changed(&shard, NULL, &fresh), 0);
    struct sk_partition *p = part("fresh", 0);
    cr_assert_eq(sk_plog_log_start_offset(p->log), 0, "a new log starts at %lld",
                 (long long)sk_plog_log_start_offset(p->log));
    cr_assert_eq(sk_plog_log_end_offset(p->log), 0);
    shard.image = &node.image;
    sk_topic_table_free(&img.by_name);
    sk_topic_table_free(&img.by_id);
}

/* ---- hash tables ------------------------------------------------------------------------------- */

static struct sk_partition *fake_part(const char *topic, uint8_t id, int32_t index)
{
    struct sk_partition *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->topic = strdup(topic);
    memset(p->topic_id.b, id, 16);
    p->id = index;
    return p;
}

static void fake_free(struct sk_partition *p)
{
    free(p->topic);
    free(p);
}

Test(replica_table, many_partitions_found_by_name_and_id)
{
    struct sk_broker b = {0};
    enum { NT = 100, NP = 100 };
    char name[32];
    for (int t = 0; t < NT; t++)
        for (int i = 0; i < NP; i++) {
            snprintf(name, sizeof name, "topic-%d", t);
            cr_assert_eq(sk_replica_table_add(&b, fake_part(name, (uint8_t)t, i)), 0);
        }
    cr_assert_eq(b.nparts, NT * NP);
    cr_assert_geq(b.nbuckets, (size_t)(NT * NP), "the table did not grow");
    for (int t = 0; t < NT; t++)
        for (int i = 0; i < NP; i++) {
            snprintf(name, sizeof name, "topic-%d", t);
            struct sk_partition *p = sk_partition_get(&b, kp_str_c(name), i);
            cr_assert_not_null(p, "%s-%d", name, i);
            cr_assert_str_eq(p->topic, name);
            cr_assert_eq(p->id, i);
            kp_uuid id;
            memset(id.b, t, 16);
            cr_assert_eq(sk_partition_get_by_id(&b, &id, i), p);
        }
    cr_assert_null(sk_partition_get(&b, kp_str_c("topic-1"), NP));
    cr_assert_null(sk_partition_get(&b, kp_str_c("topic-"), 0));
    while (b.nparts) {
        struct sk_partition *p = b.parts[b.nparts - 1];
        sk_replica_table_remove(&b, p);
        fake_free(p);
    }
    sk_replica_table_free(&b);
}

Test(replica_table, delete_and_recreate_under_a_new_id)
{
    struct sk_broker b = {0};
    struct sk_partition *old[8], *fresh[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(sk_replica_table_add(&b, old[i] = fake_part("t", 1, i)), 0);
    /* Removed from the middle: the others keep their slots valid. */
    for (int i = 0; i < 8; i += 2) {
        sk_replica_table_remove(&b, old[i]);
        fake_free(old[i]);
    }
    for (int i = 1; i < 8; i += 2)
        cr_assert_eq(sk_partition_get(&b, kp_str_c("t"), i), old[i]);
    for (int i = 1; i < 8; i += 2) {
        sk_replica_table_remove(&b, old[i]);
        fake_free(old[i]);
    }
    cr_assert_eq(b.nparts, 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(sk_replica_table_add(&b, fresh[i] = fake_part("t", 2, i)), 0);
    kp_uuid gone, now;
    memset(gone.b, 1, 16);
    memset(now.b, 2, 16);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(sk_partition_get(&b, kp_str_c("t"), i), fresh[i]);
        cr_assert_null(sk_partition_get_by_id(&b, &gone, i));
        cr_assert_eq(sk_partition_get_by_id(&b, &now, i), fresh[i]);
        cr_assert_eq(b.parts[fresh[i]->slot], fresh[i]);
    }
    for (int i = 0; i < 8; i++)
        fake_free(fresh[i]);
    sk_replica_table_free(&b);
}

Test(replica_table, names_are_bytes_with_a_length)
{
    struct sk_broker b = {0};
    struct sk_partition *p = fake_part("ab", 1, 0);
    cr_assert_eq(sk_replica_table_add(&b, p), 0);
    /* A zero byte in a wire name must not make it match a shorter one. */
    cr_assert_null(sk_partition_get(&b, (kp_str){"ab\0c", 4}, 0));
    cr_assert_null(sk_partition_get(&b, (kp_str){"abc", 1}, 0));
    cr_assert_eq(sk_partition_get(&b, (kp_str){"abc", 2}, 0), p);
    cr_assert_null(sk_partition_get(&b, (kp_str){NULL, -1}, 0));
    sk_replica_table_remove(&b, p);
    fake_free(p);
    sk_replica_table_free(&b);
}

Test(replica_table, another_shards_partition_is_not_not_leader)
{
    char dirs[] = "log.dirs=/nonexistent";
    const char *ov[] = {dirs};
    char err[256];
    struct sk_config c;
    cr_assert_eq(sk_config_load(&c, NULL, ov, 1, err, sizeof err), 0, "%s", err);
    struct sk_node n = {.cfg = &c, .node_id = 1, .nshards = 4};
    struct sk_broker s = {.node = &n, .image = &n.image, .cfg = &c, .offline_failed = 1};
    struct sk_partition_meta pm[8];
    struct sk_topic_meta t;
    topic_init(&t, "spread", 3, pm, 8);
    struct sk_topic_meta *tl[] = {&t};
    set_topics(&n.image, tl, 1);
    int other = 0;
    for (int i = 0; i < 8; i++) {
        int owner = sk_partition_owner_shard(&s, kp_str_c("spread"), i);
        cr_assert(owner >= 0 && owner < 4);
        int16_t e;
        cr_assert_null(sk_partition_lookup(&s, kp_str_c("spread"), i, false, &e));
        if (owner != 0) {
            other++;
            cr_assert_eq(e, SK_PARTITION_OTHER_SHARD, "partition %d of shard %d: %d", i, owner, e);
            cr_assert(!sk_partition_offline(&s, &t, i));
        } else {
            cr_assert_eq(e, SK_ERR_KAFKA_STORAGE_ERROR, "led here, owned here, not open");
        }
    }
    cr_assert_gt(other, 0);
    sk_topic_table_free(&n.image.by_name);
    sk_topic_table_free(&n.image.by_id);
    sk_config_free(&c);
}

/* ---- many partitions dirty at once: one syncfs ----------------------------------------- */

#define WIDE 20
static struct sk_topic_meta topic_wide;
static struct sk_partition_meta parts_wide[WIDE];
static struct sk_topic_meta *topics_wide[3];
/* Outlive the test body: teardown answers the waiters still parked. */
static struct acks a[WIDE], later;

static void setup_wide(void)
{
    setup();
    topic_init(&topic_wide, "wide", 3, parts_wide, WIDE);
    topics_wide[0] = &topic_a;
    topics_wide[1] = &topic_relaxed;
    topics_wide[2] = &topic_wide;
    set_topics(&node.image, topics_wide, 3);
    cr_assert_eq(sk_partitions_sync(&shard), 0);
    cr_assert_eq(shard.nparts, 3 + WIDE);
    memset(a, 0, sizeof a);
    memset(&later, 0, sizeof later);
}

/* Completes the k-th syncfs (a real one first on success). */
static void complete_syncfs(int k, int res)
{
    cr_assert_lt(k, io.nsyncfs);
    cr_assert(!io.syncfs[k].done);
    io.syncfs[k].done = true;
    if (res == 0) {
        int fd = open(root, O_RDONLY | O_DIRECTORY);
        cr_assert_geq(fd, 0);
        cr_assert_eq(syncfs(fd), 0);
        close(fd);
    }
    io.syncfs[k].cb(io.syncfs[k].arg, res);
}

/* Appends to the first n partitions of "wide", each with an acks=all waiter. */
static void append_wide(int n)
{
    for (int i = 0; i < n; i++) {
        struct sk_partition *p = part("wide", i);
        sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &a[i]);
    }
}

TestSuite(replica_syncfs, .init = setup_wide, .fini = teardown);

Test(replica_syncfs, many_dirty_partitions_share_one_syncfs_acked_only_after_it)
{
    append_wide(WIDE);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 1, "one syncfs for the iteration");
    cr_assert_eq(io.nfsyncs, 0, "no fdatasync beside it");
    for (int i = 0; i < WIDE; i++)
        cr_assert_eq(a[i].n, 0, "wide-%d acknowledged before the syncfs ended", i);
    complete_syncfs(0, 0);
    for (int i = 0; i < WIDE; i++) {
        cr_assert_eq(a[i].n, 1, "wide-%d not acknowledged", i);
        cr_assert_eq(a[i].err[0], SK_ERR_NONE);
        cr_assert_eq(sk_plog_recovery_point(part("wide", i)->log), 2);
    }
}

Test(replica_syncfs, fewer_dirty_partitions_fdatasync_each)
{
    append_wide(SK_SYNCFS_MIN_PARTITIONS - 1);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 0);
    cr_assert_eq(nsyncs(), SK_SYNCFS_MIN_PARTITIONS - 1);
}

Test(replica_syncfs, a_failed_syncfs_finds_the_failing_partition_by_fdatasync)
{
    append_wide(WIDE);
    run_deferred();
    complete_syncfs(0, -EIO);
    cr_assert_eq(nsyncs(), WIDE, "each partition fdatasyncs its own files");
    for (int i = 0; i < WIDE; i++)
        cr_assert_eq(a[i].n, 0, "wide-%d answered on a failed syncfs", i);
    /* The syncs were started in list order; find the one of wide-3. */
    struct sk_partition *bad = part("wide", 3);
    for (int k = 0; k < WIDE; k++) {
        bool is_bad = sync_arg(k) == (void *)bad->syncs;
        complete_sync(k, is_bad ? -EIO : 0);
    }
    for (int i = 0; i < WIDE; i++) {
        cr_assert_eq(a[i].n, 1, "wide-%d not answered", i);
        cr_assert_eq(a[i].err[0], i == 3 ? SK_ERR_KAFKA_STORAGE_ERROR : SK_ERR_NONE, "wide-%d", i);
        cr_assert_eq(sk_partition_sync_failed(part("wide", i)), i == 3);
    }
    cr_assert_eq(shard.offline_sync_failed, 1);
    cr_assert_eq(sk_plog_recovery_point(bad->log), 0);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A syncfs needs no fds of the partitions it covers, so their syncs take no
 * duplicates (two syscalls a batch at thousands of partitions); only when it
 * fails does each take its files, for its own fdatasyncs, and let them go. */
Test(replica_syncfs, a_syncfs_holds_no_fds_and_a_failed_one_takes_them_for_fdatasync)
{
    /* A new partition's first sync opens its directory and small files;
     * the steady state is from the second on. */
    append_wide(WIDE);
    run_deferred();
    complete_syncfs(0, 0);
    for (int i = 0; i < WIDE; i++)
        a[i].n = 0;
    append_wide(WIDE);
    int before = open_fds();
    run_deferred();
    cr_assert_eq(io.nsyncfs, 2);
    cr_assert_eq(open_fds(), before, "fds taken for a syncfs");
    complete_syncfs(1, -EIO);
    cr_assert_eq(nsyncs(), WIDE);
    cr_assert_geq(open_fds(), before + WIDE, "each fdatasync holds its partition's files");
    for (int k = 0; k < WIDE; k++)
        complete_sync(k, 0);
    cr_assert_eq(open_fds(), before, "files kept after the fdatasyncs");
    for (int i = 0; i < WIDE; i++)
        cr_assert_eq(a[i].n, 1, "wide-%d not answered", i);
}

/* While a syncfs is in flight the shard stays with syncfs: a partition
 * dirtied meanwhile, even one whose own sync runs, joins the syncfs queue
 * (the thread runs one syncfs for all that queued during the last) rather
 * than taking an fdatasync of its own. */
Test(replica_syncfs, an_append_during_the_syncfs_joins_the_next_syncfs)
{
    append_wide(WIDE);
    run_deferred();
    struct sk_partition *p = part("wide", 0);
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &later);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 2, "the append queued a second syncfs");
    cr_assert_eq(nsyncs(), 0, "no fdatasync beside the syncfs");
    complete_syncfs(0, 0);
    cr_assert_eq(a[0].n, 1);
    cr_assert_eq(later.n, 0, "acknowledged by a syncfs that started before its append");
    complete_syncfs(1, 0);
    cr_assert_eq(later.n, 1);
    cr_assert_eq(later.err[0], SK_ERR_NONE);
    cr_assert_eq(sk_plog_recovery_point(p->log), 3);
}

/* ---- the syncfs thread ----------------------------------------------------------------- */

/* The owner's side: posts land here, and the test thread runs them. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sk_defer_fn fn;
    void *arg;
    int posts;
    bool refuse;
} owner = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, false};

static int owner_post(void *ctx, sk_defer_fn fn, void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&owner.mu);
    int rc = owner.refuse ? -ESHUTDOWN : 0;
    if (rc == 0) {
        owner.fn = fn;
        owner.arg = arg;
        owner.posts++;
        pthread_cond_signal(&owner.cv);
    }
    pthread_mutex_unlock(&owner.mu);
    return rc;
}

/* Waits (at most 30 s, however loaded the machine) for a post, and runs it. */
static void owner_run_post(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&owner.mu);
    while (!owner.fn && pthread_cond_timedwait(&owner.cv, &owner.mu, &until) == 0)
        ;
    sk_defer_fn fn = owner.fn;
    void *arg = owner.arg;
    owner.fn = NULL;
    pthread_mutex_unlock(&owner.mu);
    cr_assert_not_null(fn, "no completion posted within 30 s");
    fn(arg);
}

struct fs_done {
    int n;
    int res[8];
};

static void on_fs_done(void *arg, int res)
{
    struct fs_done *d = arg;
    cr_assert_lt(d->n, 8);
    d->res[d->n++] = res;
}

static void fs_setup(void)
{
    owner.fn = NULL;
    owner.posts = 0;
    owner.refuse = false;
}

TestSuite(fs_syncer, .init = fs_setup);

Test(fs_syncer, requests_are_answered_on_the_owners_thread_after_a_syncfs)
{
    int err = 0;
    struct sk_fs_syncer *s = sk_fs_syncer_start("/tmp", owner_post, NULL, &err);
    cr_assert_not_null(s, "start: %s", strerror(-err));
    struct fs_done d = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sk_fs_syncer_submit(s, SK_FS_GATHER_PARTS, on_fs_done, &d), 0);
    while (d.n < 3)
        owner_run_post();
    cr_assert_eq(d.n, 3, "answered outside a post");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(d.res[i], 0);
    unsigned long calls = sk_fs_syncer_calls(s);
    cr_assert(calls >= 1 && calls <= 3, "%lu syncfs calls for 3 requests", calls);
    sk_fs_syncer_stop(s);
}

Test(fs_syncer, completions_a_stopping_owner_refuses_are_delivered_by_stop)
{
    int err = 0;
    owner.refuse = true;
    struct sk_fs_syncer *s = sk_fs_syncer_start("/tmp", owner_post, NULL, &err);
    cr_assert_not_null(s, "start: %s", strerror(-err));
    struct fs_done d = {0};
    cr_assert_eq(sk_fs_syncer_submit(s, SK_FS_GATHER_PARTS, on_fs_done, &d), 0);
    cr_assert_eq(sk_fs_syncer_submit(s, SK_FS_GATHER_PARTS, on_fs_done, &d), 0);
    sk_fs_syncer_stop(s);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.res[0], 0);
    cr_assert_eq(d.res[1], 0);
    cr_assert_eq(owner.posts, 0);
}

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A request for fewer partitions than SK_FS_GATHER_PARTS waits for company
 * up to SK_FS_GATHER_MS before its syncfs starts (the requests above, with
 * enough partitions each, do not), and is answered by one syncfs then. */
Test(fs_syncer, few_partitions_wait_for_company_then_share_a_syncfs)
{
    int err = 0;
    struct sk_fs_syncer *s = sk_fs_syncer_start("/tmp", owner_post, NULL, &err);
    cr_assert_not_null(s, "start: %s", strerror(-err));
    struct fs_done d = {0};
    double t0 = mono_ms();
    cr_assert_eq(sk_fs_syncer_submit(s, 1, on_fs_done, &d), 0);
    while (d.n < 1)
        owner_run_post();
    cr_assert_geq(mono_ms() - t0, SK_FS_GATHER_MS, "a lone partition's syncfs did not wait");
    cr_assert_eq(sk_fs_syncer_calls(s), 1);
    sk_fs_syncer_stop(s);
}

Test(fs_syncer, a_missing_directory_is_an_error)
{
    int err = 0;
    cr_assert_null(sk_fs_syncer_start("/nonexistent/skein", owner_post, NULL, &err));
    cr_assert_eq(err, -ENOENT);
}

Test(replica_syncfs, a_lone_new_partition_joins_a_running_syncfs)
{
    append_wide(SK_SYNCFS_MIN_PARTITIONS);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 1);
    struct sk_partition *p = part("wide", SK_SYNCFS_MIN_PARTITIONS);
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &later);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 2, "one partition queued for the next syncfs");
    cr_assert_eq(nsyncs(), 0, "a lone fdatasync while the shard's syncfs runs");
    complete_syncfs(0, 0);
    cr_assert_eq(later.n, 0, "covered by a syncfs that started before its append");
    complete_syncfs(1, 0);
    cr_assert_eq(later.n, 1);
    cr_assert_eq(later.err[0], SK_ERR_NONE);
}

/* No syncfs in flight, a few partitions fdatasync each; new partitions
 * dirtied meanwhile wait for one of those syncs to end, and then share one
 * syncfs from two on; the shard then stays with syncfs until a syncfs
 * covered a lone partition. */
Test(replica_syncfs, partitions_held_for_running_fdatasyncs_share_a_syncfs)
{
    append_wide(2);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 0);
    cr_assert_eq(nsyncs(), 2);
    for (int i = 2; i < 4; i++) {
        struct sk_partition *p = part("wide", i);
        sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a[i]);
    }
    run_deferred();
    cr_assert_eq(nsyncs(), 2, "held while the two fdatasyncs run");
    cr_assert_eq(io.nsyncfs, 0);
    complete_sync(0, 0);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 1, "the two held partitions share one syncfs when a sync ends");
    cr_assert_eq(nsyncs(), 2, "and take no fdatasync");
    complete_sync(1, 0);
    run_deferred();
    cr_assert_eq(a[0].n + a[1].n, 2);
    cr_assert_eq(io.nsyncfs, 1);
    cr_assert_eq(a[2].n + a[3].n, 0);
    complete_syncfs(0, 0);
    cr_assert_eq(a[2].n, 1);
    cr_assert_eq(a[3].n, 1);
    /* the shard stays with syncfs: the next lone partition goes by syncfs,
     * and once that one covered it alone, the one after takes an fdatasync */
    struct sk_partition *p = part("wide", 4);
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a[4]);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 2, "a lone partition in the syncfs regime");
    complete_syncfs(1, 0);
    cr_assert_eq(a[4].n, 1);
    p = part("wide", 5);
    int before = io.nfsyncs;
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &later);
    run_deferred();
    cr_assert_eq(io.nsyncfs, 2);
    cr_assert_gt(io.nfsyncs, before, "no fdatasync for the lone partition");
    for (int i = before; i < io.nfsyncs; i++) { /* its files, by hand: a freed op's */
        io.fsyncs[i].done = true;               /* address may be reused */
        cr_assert_eq(fdatasync(io.fsyncs[i].fd), 0);
        io.fsyncs[i].cb(io.fsyncs[i].arg, 0);
    }
    cr_assert_eq(later.n, 1);
}

/* ---- in-sync replicas and the high watermark ------------------------------------------------ */

static int32_t three[] = {1, 2, 3};
static struct sk_kv min_isr_two = {"min.insync.replicas", "2", 19, 1};
static struct sk_topic_meta replicated;
static struct sk_partition_meta replicated_parts[2];

/* orders-0 on nodes 1 (this one, leading), 2 and 3, in sync as isr says,
 * with min.insync.replicas=2: applied as a metadata change. */
static void replicate_orders0(int32_t *isr, int32_t nisr)
{
    const struct sk_topic_meta *old = topics[0];
    replicated = topic_a;
    memcpy(replicated_parts, parts_a, sizeof parts_a);
    replicated_parts[0] = (struct sk_partition_meta){.id = 0, .leader = 1, .replicas = three,
                                                     .nreplicas = 3, .isr = isr, .nisr = nisr};
    replicated.partitions = replicated_parts;
    replicated.configs = (struct sk_kvlist){&min_isr_two, 1, 1};
    topics[0] = &replicated;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, old, &replicated), 0);
}

static void sync_all(void)
{
    run_deferred();
    for (int k = 0; k < nsyncs(); k++)
        complete_sync(k, 0);
}

static void restore_orders(void)
{
    sync_all();
    topics[0] = &topic_a;
    set_topics(&node.image, topics, node.image.ntopics);
}


/* A follower's fetch of no broker epoch, as a fetch before v15 names it. */
static int16_t follower_fetched(struct sk_partition *p, int32_t id, int64_t offset, int64_t now)
{
    struct sk_follower_fetch ff = {id, -1, -1, offset};
    return sk_partition_follower_fetched(p, &ff, now);
}

Test(replica, the_high_watermark_is_the_least_log_end_over_the_isr_and_acks_all_waits_for_it)
{
    replicate_orders0(three, 3);
    struct sk_partition *p = part("orders", 0);
    cr_assert_eq(p->cfg.min_insync_replicas, 2);
    struct acks a = {0};
    int64_t end = append(p, 3, SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 0, "no follower has the records");
    sk_partition_when_durable(p, end, on_durable, &a);
    sync_all();
    cr_assert_eq(sk_plog_recovery_point(p->log), 3);
    cr_assert_eq(a.n, 0, "durable here, but not in the ISR");

    cr_assert_eq(follower_fetched(p, 2, 3, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 0, "follower 3 has not fetched");
    cr_assert_eq(follower_fetched(p, 3, 2, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 2);
    cr_assert_eq(a.n, 0);
    cr_assert_eq(follower_fetched(p, 3, 3, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 3);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE);

    cr_assert_eq(follower_fetched(p, 2, 1, 200), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 3, "the high watermark never goes back");
    cr_assert_eq(follower_fetched(p, 9, 3, 200), SK_ERR_NOT_LEADER_OR_FOLLOWER,
                 "not a replica");
    cr_assert_eq(follower_fetched(p, 1, 3, 200), SK_ERR_NOT_LEADER_OR_FOLLOWER,
                 "the leader is not its own follower");
    cr_assert_eq(follower_fetched(p, 3, 4, 200), SK_ERR_OFFSET_OUT_OF_RANGE);
    restore_orders();
}

/* KIP-392's rack-aware choice: the in-sync follower in the consumer's rack
 * that holds the offset, the longest log first; none when the leader is in
 * that rack or the rack is unknown or empty. Racks are bytes. */
Test(replica, the_read_replica_is_an_in_sync_follower_in_the_consumers_rack)
{
    int32_t isr12[] = {1, 2};
    replicate_orders0(isr12, 2);
    struct sk_partition *p = part("orders", 0);
    append(p, 5, SK_ERR_NONE);
    struct sk_broker_meta bm[3] = {{.id = 1, .rack = "east"}, {.id = 2, .rack = "west"},
                                   {.id = 3, .rack = "west"}};
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    img.brokers = bm;
    img.nbrokers = 3;
    const uint8_t *west = (const uint8_t *)"west";
    cr_assert_eq(sk_partition_read_replica(p, &img, west, 4, 0), -1, "no follower fetched yet");
    cr_assert_eq(follower_fetched(p, 2, 3, 100), SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 3, 5, 100), SK_ERR_NONE);
    cr_assert_eq(sk_partition_read_replica(p, &img, west, 4, 0), 2, "3 is out of the ISR");
    cr_assert_eq(sk_partition_read_replica(p, &img, west, 4, 4), -1, "2 does not hold 4 yet");
    cr_assert_eq(sk_partition_read_replica(p, &img, (const uint8_t *)"east", 4, 0), -1,
                 "the leader's own rack");
    cr_assert_eq(sk_partition_read_replica(p, &img, (const uint8_t *)"west\0x", 6, 0), -1,
                 "a rack with a zero byte is another rack");
    cr_assert_eq(sk_partition_read_replica(p, &img, west, 0, 0), -1, "no rack");
    img.brokers = NULL;
    img.nbrokers = 0;
    sk_meta_image_free(&img);
    restore_orders();
}

Test(replica, a_replica_out_of_the_isr_does_not_hold_the_high_watermark)
{
    int32_t two[] = {1, 2};
    replicate_orders0(two, 2);
    struct sk_partition *p = part("orders", 0);
    append(p, 2, SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 2, 2, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 2, "node 3 is out of the ISR");
    restore_orders();
}

Test(replica, min_insync_replicas_refuses_acks_all_before_and_after_the_append)
{
    int32_t alone[] = {1}, two[] = {1, 2};
    replicate_orders0(alone, 1);
    struct sk_partition *p = part("orders", 0);
    cr_assert_eq(sk_partition_check_min_isr(p, -1), SK_ERR_NOT_ENOUGH_REPLICAS);
    cr_assert_eq(sk_partition_check_min_isr(p, 1), SK_ERR_NONE, "acks=1 needs no ISR");
    cr_assert_eq(sk_partition_check_min_isr(p, 0), SK_ERR_NONE);

    replicate_orders0(two, 2);
    cr_assert_eq(sk_partition_check_min_isr(p, -1), SK_ERR_NONE);
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &a);
    sync_all();
    cr_assert_eq(a.n, 0, "node 2 has not fetched");
    /* Node 2 dropped out of the ISR while the producer waited: an ISR below
     * min.insync.replicas commits nothing (Kafka 3.7+), so the producer
     * keeps waiting rather than hearing of an append no replica shares. */
    replicate_orders0(alone, 1);
    cr_assert_eq(p->high_watermark, 0, "the leader alone is under min.insync.replicas");
    cr_assert_eq(a.n, 0);
    replicate_orders0(two, 2);
    cr_assert_eq(follower_fetched(p, 2, 2, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 2);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE);
    restore_orders();
}

/* Kafka's effectiveMinIsr: a partition with fewer replicas than
 * min.insync.replicas needs all of them, not more. */
Test(replica, min_insync_replicas_above_the_replica_count_needs_every_replica)
{
    struct sk_partition *p = part("orders", 1);
    p->cfg.min_insync_replicas = 3;
    cr_assert_eq(sk_partition_check_min_isr(p, -1), SK_ERR_NONE, "one replica, in the ISR");
    append(p, 2, SK_ERR_NONE);
    sync_all();
    cr_assert_eq(p->high_watermark, 2);
}

/* ---- ISR changes: the leader's decisions and the maximal ISR --------------------------------- */

static bool all_eligible(void *arg, int32_t id, int64_t fetch_epoch)
{
    (void)arg;
    (void)id;
    (void)fetch_epoch;
    return true;
}

static bool none_eligible(void *arg, int32_t id, int64_t fetch_epoch)
{
    (void)arg;
    (void)id;
    (void)fetch_epoch;
    return false;
}

/* The image registers every broker at the epoch *arg. */
static bool registered_at(void *arg, int32_t id, int64_t fetch_epoch)
{
    (void)id;
    return fetch_epoch == -1 || fetch_epoch == *(const int64_t *)arg;
}

Test(replica, a_follower_behind_for_the_lag_bound_is_proposed_out_and_counts_until_committed)
{
    replicate_orders0(three, 3);
    struct sk_partition *p = part("orders", 0);
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 3, SK_ERR_NONE), on_durable, &a);
    sync_all();
    cr_assert_eq(follower_fetched(p, 2, 3, 100), SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 3, 1, 100), SK_ERR_NONE);
    int32_t want[4];
    cr_assert_eq(sk_replica_isr_proposal(p, 100, 3000, all_eligible, NULL, want), 0,
                 "never caught up in this leadership: its clock starts at the first look");
    cr_assert_eq(sk_replica_isr_proposal(p, 3000, 3000, all_eligible, NULL, want), 0,
                 "node 3 is behind for less than the bound");
    cr_assert_eq(sk_replica_isr_proposal(p, 3101, 3000, all_eligible, NULL, want), 2);
    cr_assert_eq(want[0], 1);
    cr_assert_eq(want[1], 2, "node 2 reached the log end: in sync however long ago");

    sk_replica_isr_propose(p, want, 2);
    cr_assert_eq(p->high_watermark, 1, "a shrink counts only once committed");
    cr_assert_eq(sk_replica_isr_proposal(p, 9000, 3000, all_eligible, NULL, want), 0,
                 "one change in flight at a time");
    cr_assert_eq(a.n, 0);
    int32_t committed[] = {1, 2};
    cr_assert_eq(sk_replica_isr_committed(p, p->leader_epoch, 1, committed, 2), 0);
    cr_assert_eq(p->nisr, 2);
    cr_assert_eq(p->partition_epoch, 1);
    cr_assert_not(p->isr_pending);
    cr_assert_eq(p->high_watermark, 3, "node 3 no longer holds it back");
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.err[0], SK_ERR_NONE, "two in sync meet min.insync.replicas=2");

    /* An answer for an older partition epoch changes nothing. */
    cr_assert_eq(sk_replica_isr_committed(p, p->leader_epoch, 1, three, 3), 0);
    cr_assert_eq(p->nisr, 2);
    restore_orders();
}

/* orders-0 replicated on 1, 2 and 3 with ISR {1, 2}, led here, holding n
 * records that follower 2 has fetched. */
static struct sk_partition *replicated_with(int n)
{
    static int32_t two[] = {1, 2}; /* the image points at it */
    replicate_orders0(two, 2);
    struct sk_partition *p = part("orders", 0);
    append(p, n, SK_ERR_NONE);
    sync_all();
    cr_assert_eq(follower_fetched(p, 2, n, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, n);
    return p;
}

Test(replica, a_follower_at_the_high_watermark_is_proposed_back_if_eligible)
{
    struct sk_partition *p = replicated_with(3);
    int32_t want[4];
    cr_assert_eq(follower_fetched(p, 3, 2, 100), SK_ERR_NONE);
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, all_eligible, NULL, want), 0,
                 "below the high watermark");
    cr_assert_eq(follower_fetched(p, 3, 3, 200), SK_ERR_NONE);
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, none_eligible, NULL, want), 0,
                 "a fenced or shutting-down broker is not proposed (KIP-841)");
    int64_t start = p->epoch_start_offset;
    p->epoch_start_offset = 4;
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, all_eligible, NULL, want), 0,
                 "not yet at the start of this leadership");
    p->epoch_start_offset = start;
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, all_eligible, NULL, want), 3);
    cr_assert_eq(want[2], 3);

    /* A pending expansion counts its member at once (the maximal ISR). */
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 1, SK_ERR_NONE), on_durable, &a);
    sync_all();
    sk_replica_isr_propose(p, want, 3);
    cr_assert_eq(sk_replica_maximal_isr_size(p), 3);
    cr_assert_eq(follower_fetched(p, 2, 4, 300), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 3, "node 3, pending, holds it too");
    cr_assert_eq(follower_fetched(p, 3, 4, 300), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 4);
    cr_assert_eq(a.n, 1);
    restore_orders();
}

/* KIP-903: the leader keeps the broker epoch each follower's fetches name;
 * a fetch from an earlier registration than the image holds is refused and
 * changes nothing, and a follower whose fetch state came from another
 * registration than the image's is not proposed into the ISR. */
Test(replica, follower_fetch_state_belongs_to_one_broker_registration)
{
    struct sk_partition *p = replicated_with(3);
    struct sk_follower_fetch stale = {3, 5, 7, 3};
    cr_assert_eq(sk_partition_follower_fetched(p, &stale, 100), SK_ERR_NOT_LEADER_OR_FOLLOWER);
    cr_assert_eq(p->followers[1].log_end, -1, "a stale fetch records nothing");
    struct sk_follower_fetch fenced = {3, 5, -1, 3};
    cr_assert_eq(sk_partition_follower_fetched(p, &fenced, 100), SK_ERR_NONE,
                 "no registered epoch to compare with (fenced): taken");
    int64_t image_epoch = 7;
    int32_t want[4];
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, registered_at, &image_epoch, want), 0,
                 "caught up, but as registration 5 while the image holds 7");
    struct sk_follower_fetch current = {3, 7, 7, 3};
    cr_assert_eq(sk_partition_follower_fetched(p, &current, 200), SK_ERR_NONE);
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, registered_at, &image_epoch, want), 3);
    cr_assert_eq(want[2], 3);
    restore_orders();
}

/* A replicated partition opened again (a restart) starts its high
 * watermark at the replication-offset-checkpoint's line, within its log,
 * or at its log start without one: below the line every in-sync replica
 * held the records; above it the log may hold what no other replica has. */
Test(replica, a_reopened_replicated_partition_starts_at_its_checkpointed_high_watermark)
{
    struct sk_partition *p = replicated_with(5);
    sync_all();
    struct sk_offset_checkpoint_entry line = {.partition = 0, .offset = 3};
    snprintf(line.topic, sizeof line.topic, "orders");
    int64_t want[] = {3, 5, 0}; /* the line; one past the log end; none */
    int64_t lines[] = {3, 9, -1};
    for (int i = 0; i < 3; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", root, SK_REPLICATION_OFFSET_CHECKPOINT);
        remove(path);
        line.offset = lines[i];
        if (lines[i] >= 0)
            cr_assert_eq(sk_offset_checkpoint_write(root, SK_REPLICATION_OFFSET_CHECKPOINT,
                                                    &line, 1), 0);
        sk_partitions_close_all(&shard);
        cr_assert_eq(sk_partitions_sync(&shard), 0);
        p = part("orders", 0);
        cr_assert_eq(sk_plog_log_end_offset(p->log), 5);
        cr_assert_eq(p->high_watermark, want[i], "line %lld: high watermark %lld, want %lld",
                     (long long)lines[i], (long long)p->high_watermark, (long long)want[i]);
    }
    restore_orders();
}

/* The ISR shrinks below min.insync.replicas under a waiting acks=all
 * producer: nothing more is committed, so it waits (for the ISR to grow back
 * or its request's timeout), and new acks=all appends are refused. */
Test(replica, acks_all_waiting_when_the_isr_shrinks_below_min_insync_waits)
{
    int32_t two[] = {1, 2}, alone[] = {1};
    replicate_orders0(two, 2);
    struct sk_partition *p = part("orders", 0);
    struct acks a = {0};
    sk_partition_when_durable(p, append(p, 2, SK_ERR_NONE), on_durable, &a);
    sync_all();
    cr_assert_eq(follower_fetched(p, 2, 0, 100), SK_ERR_NONE);
    int32_t want[4];
    cr_assert_eq(sk_replica_isr_proposal(p, 200, 3000, all_eligible, NULL, want), 0);
    cr_assert_eq(sk_replica_isr_proposal(p, 3201, 3000, all_eligible, NULL, want), 1);
    sk_replica_isr_propose(p, want, 1);
    cr_assert_eq(a.n, 0, "pending: node 2 still counts");
    cr_assert_eq(sk_replica_isr_committed(p, p->leader_epoch, 1, alone, 1), 0);
    cr_assert_eq(a.n, 0);
    cr_assert_eq(p->high_watermark, 0);
    cr_assert_eq(sk_partition_check_min_isr(p, -1), SK_ERR_NOT_ENOUGH_REPLICAS);

    /* The image, still at partition epoch 0, does not undo the answer. */
    replicate_orders0(two, 2);
    cr_assert_eq(p->nisr, 1);
    cr_assert_eq(p->partition_epoch, 1);
    restore_orders();
}

Test(replica, a_newer_image_drops_the_pending_change)
{
    replicate_orders0(three, 3);
    struct sk_partition *p = part("orders", 0);
    int32_t two[] = {1, 2};
    sk_replica_isr_propose(p, two, 2);
    uint32_t gen = p->isr_gen;
    replicated_parts[0].partition_epoch = 2;
    cr_assert_eq(sk_replicas_topic_changed(&shard, &replicated, &replicated), 0);
    cr_assert_not(p->isr_pending, "the partition moved on without it");
    cr_assert_neq(p->isr_gen, gen, "its answer will be ignored");
    cr_assert_eq(p->partition_epoch, 2);
    restore_orders();
}

/* KIP-704: led after an unclean election, the partition proposes its ISR
 * as it is, which every proposal sends marked RECOVERED, until an image
 * or an answer says it recovered. */
Test(replica, a_leader_elected_uncleanly_proposes_its_isr_to_mark_it_recovered)
{
    int32_t alone[] = {1};
    replicate_orders0(alone, 1);
    struct sk_partition *p = part("orders", 0);
    int32_t want[4];
    cr_assert_eq(sk_replica_isr_proposal(p, 100, 3000, all_eligible, NULL, want), 0);
    replicated_parts[0].leader_recovery_state = SK_LEADER_RECOVERING;
    replicated_parts[0].partition_epoch = 1;
    cr_assert_eq(sk_replicas_topic_changed(&shard, &replicated, &replicated), 0);
    cr_assert(p->recovering);
    cr_assert_eq(sk_replica_isr_proposal(p, 100, 3000, all_eligible, NULL, want), 1);
    cr_assert_eq(want[0], 1, "the same ISR");
    replicated_parts[0].leader_recovery_state = SK_LEADER_RECOVERED;
    replicated_parts[0].partition_epoch = 2;
    cr_assert_eq(sk_replicas_topic_changed(&shard, &replicated, &replicated), 0);
    cr_assert_not(p->recovering);
    cr_assert_eq(sk_replica_isr_proposal(p, 100, 3000, all_eligible, NULL, want), 0);
    restore_orders();
}

/* ---- a follower's log: the leader's batches as they are, truncation -------------------------- */

static int32_t two_one_three[] = {2, 1, 3};
static struct sk_topic_meta followed;
static struct sk_partition_meta followed_parts[2];

/* orders-0 led by node 2 in epoch 3, this node (1) a follower. */
static struct sk_partition *follow_orders0(void)
{
    const struct sk_topic_meta *old = topics[0];
    followed = topic_a;
    memcpy(followed_parts, parts_a, sizeof parts_a);
    followed_parts[0] = (struct sk_partition_meta){.id = 0, .leader = 2, .leader_epoch = 3,
                                                   .replicas = two_one_three, .nreplicas = 3,
                                                   .isr = two_one_three, .nisr = 3};
    followed.partitions = followed_parts;
    topics[0] = &followed;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, old, &followed), 0);
    struct sk_partition *p = part("orders", 0);
    cr_assert_eq(p->role, SK_REPLICA_FOLLOWER);
    return p;
}

/* A batch of n records as a leader wrote it: its offsets, its epoch, a
 * producer id and sequence. */
static void leader_batch(struct sk_buf *b, int64_t base, int32_t epoch, int n, int32_t seq)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.producer_id = 4242;
    spec.producer_epoch = 0;
    spec.base_sequence = seq;
    struct sk_record_in recs[16];
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_record_in){.timestamp = 5000 + i, .key_len = -1, .value = "x",
                                        .value_len = 1};
    cr_assert_eq(sk_batch_build(b, &spec, recs, (size_t)n), 0);
    sk_batch_set_base_offset(b->data, base);
    sk_batch_set_leader_epoch(b->data, epoch);
}

static void restore_followed(void)
{
    run_deferred();
    for (int k = 0; k < nsyncs(); k++)
        complete_sync(k, 0);
    topics[0] = &topic_a;
    set_topics(&node.image, topics, node.image.ntopics);
    cr_assert_eq(sk_replicas_topic_changed(&shard, &followed, &topic_a), 0);
}

Test(replica, a_follower_appends_the_leaders_batches_as_they_are)
{
    struct sk_partition *p = follow_orders0();
    struct sk_buf b = {0};
    leader_batch(&b, 0, 2, 3, 0);
    cr_assert_eq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE);
    cr_assert_eq(sk_plog_log_end_offset(p->log), 3);
    cr_assert_eq(sk_plog_latest_epoch(p->log), 2, "the epoch cache follows the leader's batches");
    uint8_t got[4096];
    size_t len = 0;
    cr_assert_eq(sk_plog_read_copy(p->log, 0, sizeof got, 3, got, sizeof got, &len), 0);
    cr_assert_eq(len, b.len);
    cr_assert(memcmp(got, b.data, len) == 0, "the batch is stored byte for byte");
    cr_assert_eq(sk_producer_count(p), 1, "the producer state knows producer 4242");
    cr_assert_eq(p->flush_queued, true, "follower data joins the group commit");
    sk_buf_free(&b);

    leader_batch(&b, 5, 2, 1, 3);
    cr_assert_neq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE, "a gap");
    sk_buf_free(&b);
    leader_batch(&b, 2, 2, 1, 3);
    cr_assert_neq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE, "an overlap");
    sk_buf_free(&b);
    leader_batch(&b, 3, 2, 1, 3);
    b.data[b.len - 1] ^= 0xff;
    cr_assert_eq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_CORRUPT_MESSAGE);
    cr_assert_eq(sk_plog_log_end_offset(p->log), 3, "nothing refused was written");
    sk_buf_free(&b);
    restore_followed();
    cr_assert_eq(sk_partition_append_replica(p, b.data, 0), SK_ERR_NOT_LEADER_OR_FOLLOWER,
                 "a leader takes no replica appends");
}

Test(replica, a_diverged_follower_truncates_to_the_end_of_the_epoch_both_logs_hold)
{
    struct sk_partition *p = follow_orders0();
    struct sk_buf b = {0};
    leader_batch(&b, 0, 1, 3, 0); /* epoch 1: offsets 0-2 */
    cr_assert_eq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE);
    sk_buf_free(&b);
    leader_batch(&b, 3, 2, 3, 3); /* epoch 2: offsets 3-5, which the new leader never had */
    cr_assert_eq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE);
    sk_buf_free(&b);
    p->high_watermark = 2;
    cr_assert_eq(sk_replica_truncation_offset(p, 1, 2), 2, "the leader's epoch 1 ends first");
    cr_assert_eq(sk_replica_truncation_offset(p, 1, 5), 3, "ours ends first");
    cr_assert_eq(sk_replica_truncation_offset(p, 2, 9), 6, "never past our own end");
    cr_assert_eq(sk_replica_truncation_offset(p, -1, -1), 2, "nothing shared: the high watermark");
    cr_assert_eq(sk_partition_truncate(p, 3), SK_ERR_NONE);
    cr_assert_eq(sk_plog_log_end_offset(p->log), 3);
    cr_assert_eq(sk_plog_latest_epoch(p->log), 1, "epoch 2 left with its batches");
    cr_assert_eq(p->high_watermark, 2);
    cr_assert_eq(sk_partition_truncate(p, 1), SK_ERR_NONE, "below the high watermark: as Kafka");
    cr_assert_eq(sk_plog_log_end_offset(p->log), 0, "the batch holding offset 1 goes whole");
    cr_assert_eq(p->high_watermark, 0);
    leader_batch(&b, 0, 3, 2, 0);
    cr_assert_eq(sk_partition_append_replica(p, b.data, b.len), SK_ERR_NONE,
                 "the leader's records go where the diverged ones were");
    sk_buf_free(&b);
    restore_followed();
}

/* Kafka's makeLeader: what an earlier leadership heard of the followers
 * says nothing of their logs now (they may have truncated since). */
Test(replica, a_follower_made_leader_again_waits_for_the_followers_fetches)
{
    replicate_orders0(three, 3);
    struct sk_partition *p = part("orders", 0);
    append(p, 3, SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 2, 3, 100), SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 3, 3, 100), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 3);
    follow_orders0();
    cr_assert_eq(sk_partition_truncate(p, 1), SK_ERR_NONE);
    cr_assert_eq(sk_plog_log_end_offset(p->log), 0);
    replicate_orders0(three, 3);
    cr_assert_eq(p->role, SK_REPLICA_LEADER);
    append(p, 2, SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 0, "the followers have not fetched in this leadership");
    cr_assert_eq(follower_fetched(p, 2, 2, 200), SK_ERR_NONE);
    cr_assert_eq(follower_fetched(p, 3, 2, 200), SK_ERR_NONE);
    cr_assert_eq(p->high_watermark, 2);
    restore_orders();
}
