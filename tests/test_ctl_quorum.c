/* The controller's commits through a Raft quorum (skein/submit.h's
 * sk_ctl_set_quorum): the core itself stands in for the shard's driver,
 * run on the metadata log's files with the test as the network and the
 * disk, and the controller is told of every change as the driver's
 * listener would tell it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/controller/internal.h"
#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/buf.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/meta_raftlog.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/publisher.h"
#include "skein/quorum_state.h"
#include "skein/raft.h"
#include "skein/submit.h"

#include "deferred_syncer.h"

#define VOTERS 3

/* Voter i + 1. Voter 1 is the node under test, whose metalog is node's. */
struct voter {
    int32_t id;
    char dir[300];
    bool own_log; /* voters 2 and 3 keep theirs here */
    struct sk_meta_image img;
    struct sk_metalog *ml;
    struct sk_meta_raftlog *log;
    struct sk_quorum_store store;
    struct deferred_syncer ds;
    struct sk_raft *r;
    uint64_t rng;
    bool cut_off; /* its messages are lost, both ways */
};

static char dir[256];
static struct sk_node node;
static struct sk_broker shard, *shards[1];
static struct deferred_syncer snap_ds;
static struct voter v[VOTERS];
static int n_voters;
static int64_t now;

#define MAX_DONE 8
static struct done_call {
    const char *tag;
    int16_t err;
} calls[MAX_DONE];
static int ncalls;

static int subscriber(struct sk_broker *b, const struct sk_meta_image *old)
{
    (void)b;
    (void)old;
    return 0;
}

static void done(void *arg, int16_t err, const char *msg)
{
    (void)msg;
    cr_assert_lt(ncalls, MAX_DONE);
    calls[ncalls++] = (struct done_call){arg, err};
}

static uint64_t lcg(void *ctx)
{
    uint64_t *s = ctx;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void flushed(void *arg, uint64_t token, int64_t end, int err)
{
    struct voter *x = arg;
    if (err < 0) { /* as the node's quorum does (src/server/meta_quorum.c) */
        cr_assert_eq(x, &v[0]);
        sk_ctl_quorum_failed(&shard, err);
        return;
    }
    cr_assert_eq(sk_raft_flushed(x->r, token, end), SK_ERR_NONE);
    if (x == &v[0])
        sk_ctl_quorum_changed(&shard);
}

static int q_append(void *ctx, const uint8_t *data, size_t len, int32_t count, int64_t *offset)
{
    return sk_raft_append(ctx, data, len, count, offset);
}

static const struct sk_raft *q_raft(const void *ctx)
{
    return ctx;
}

static void voter_start(struct voter *x)
{
    if (x->own_log) {
        sk_meta_image_init(&x->img);
        cr_assert_eq(sk_metalog_open(x->dir, &x->img, 1000, &x->ml), 0);
    } else {
        x->ml = node.metalog;
    }
    ds_init(&x->ds);
    struct sk_meta_raftlog_config lc = {.node_id = x->id, .n_voters = n_voters,
                                        .syncer = &x->ds.syncer, .flushed = flushed, .arg = x};
    struct sk_raft_config cfg = {.node_id = x->id, .n_voters = n_voters, .rand = lcg,
                                 .rand_ctx = &x->rng};
    for (int i = 0; i < n_voters; i++)
        lc.voters[i] = cfg.voters[i] = i + 1;
    cr_assert_eq(sk_meta_raftlog_new(x->ml, &lc, &x->log), 0);
    sk_meta_raftlog_bind(x->log, &cfg);
    cr_assert_eq(sk_quorum_store_init(&x->store, sk_plog_dir(sk_metalog_plog(x->ml)),
                                      cfg.voters, n_voters), 0);
    sk_quorum_store_bind(&x->store, &cfg);
    struct sk_raft_qstate st;
    char err[256];
    int rc = sk_quorum_state_read(x->store.dir, &st, err, sizeof err);
    cr_assert(rc == 0 || rc == -ENOENT, "%s", err);
    x->r = sk_raft_new(&cfg, &st, now);
    cr_assert_not_null(x->r);
}

static void voter_stop(struct voter *x)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(x->r, &m))
        sk_raft_msg_release(&m);
    sk_raft_free(x->r);
    sk_meta_raftlog_free(x->log);
    ds_complete_all(&x->ds, -EIO);
    if (x->own_log) {
        sk_metalog_close(x->ml);
        sk_meta_image_free(&x->img);
    }
}

static void start(int voters)
{
    snprintf(dir, sizeof dir, "/tmp/skein-ctlq-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&node, 0, sizeof node);
    memset(&shard, 0, sizeof shard);
    memset(v, 0, sizeof v);
    ncalls = 0;
    now = 1000;
    n_voters = voters;
    ds_init(&snap_ds);
    sk_meta_image_init(&node.image);
    int64_t applied = 0;
    cr_assert_eq(sk_metalog_open_upto(dir, &node.image, 1000, false, voters > 1 ? 0 : INT64_MAX,
                                      NULL, &applied, &node.metalog), 0);
    shards[0] = &shard;
    node.shards = shards;
    node.nshards = 1;
    node.subscriber = subscriber;
    shard.node = &node;
    shard.image = &node.image;
    shard.syncer = snap_ds.syncer;
    cr_assert_eq(sk_publish(&shard), 0);
    for (int i = 0; i < voters; i++) {
        v[i].id = i + 1;
        v[i].rng = 11 + (uint64_t)i;
        v[i].own_log = i > 0;
        snprintf(v[i].dir, sizeof v[i].dir, "%s/v%d", dir, i + 1);
        if (v[i].own_log)
            cr_assert_eq(mkdir(v[i].dir, 0755), 0);
        voter_start(&v[i]);
    }
    struct sk_ctl_quorum q = {.append = q_append, .raft = q_raft, .ctx = v[0].r};
    sk_ctl_set_quorum(&shard, &q, applied, true);
}

static void start_one(void)
{
    start(1);
}

static void start_three(void)
{
    start(3);
}

static void teardown(void)
{
    for (int i = 0; i < n_voters; i++)
        voter_stop(&v[i]);
    ds_complete_all(&snap_ds, 0);
    sk_ctl_submit_close(&node);
    sk_publish_close(&shard);
    sk_publish_node_close(&node);
    sk_metalog_close(node.metalog);
    sk_meta_image_free(&node.image);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* One round: the network delivers, the disks complete what is pending
 * (unless hold), the timers of the voters in tick fire. */
static void round_of(bool hold, unsigned tick)
{
    for (int i = 0; i < n_voters; i++) {
        struct voter *x = &v[i];
        if (!hold) {
            ds_complete_all(&x->ds, 0);
            x->ds.n = x->ds.done = 0;
        }
        struct sk_raft_msg m;
        while (sk_raft_poll_out(x->r, &m)) {
            struct voter *to = &v[m.dst - 1];
            if (!x->cut_off && !to->cut_off)
                cr_assert_eq(sk_raft_receive(to->r, &m, now), SK_ERR_NONE);
            sk_raft_msg_release(&m);
        }
        if (tick & (1u << i))
            cr_assert_eq(sk_raft_tick(x->r, now), SK_ERR_NONE);
    }
    sk_ctl_quorum_changed(&shard);
    now += 5;
}

#define ALL 7u

static bool shard_has(const char *name)
{
    return sk_meta_topic(shard.image, name, strlen(name)) != NULL;
}

static void submit_topic(const char *tag, uint8_t id)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(tag);
    tr.topic_id.b[0] = id;
    struct sk_meta_rec rec = {SK_META_TOPIC, 0, &tr};
    sk_ctl_submit(&shard, &rec, 1, done, (void *)tag);
}

/* Voter i wins an election: only its timers run until it leads. */
static void elect(int i)
{
    for (int k = 0; k < 4000 && sk_raft_role(v[i].r) != SK_RAFT_LEADER; k++)
        round_of(false, 1u << i);
    cr_assert_eq(sk_raft_role(v[i].r), SK_RAFT_LEADER);
    for (int k = 0; k < 50; k++)
        round_of(false, ALL);
}

Test(ctl_quorum, one_voter_acks_only_once_the_quorum_committed, .init = start_one,
     .fini = teardown)
{
    submit_topic("early", 1);
    cr_assert_eq(ncalls, 1);
    cr_expect_eq(calls[0].err, SK_ERR_NOT_CONTROLLER, "no leader yet");
    for (int k = 0; k < 4000 && sk_raft_role(v[0].r) != SK_RAFT_LEADER; k++)
        round_of(true, 1);
    cr_assert_eq(sk_raft_role(v[0].r), SK_RAFT_LEADER);
    submit_topic("claiming", 2);
    cr_expect_eq(calls[1].err, SK_ERR_NOT_CONTROLLER,
                 "a leader whose LeaderChange is not committed has not claimed yet");
    for (int k = 0; k < 100 && sk_raft_high_watermark(v[0].r) < 1; k++)
        round_of(false, 1);
    submit_topic("a", 3);
    cr_expect_eq(ncalls, 2, "answered before the quorum committed it");
    round_of(true, 1); /* the driver ticks the core, which starts the flush */
    cr_assert(ds_pending(&v[0].ds) > 0, "its fdatasync was asked for");
    cr_expect_eq(ncalls, 2, "committed before its fdatasync completed");
    cr_expect_not(shard_has("a"));
    ds_complete_all(&v[0].ds, 0);
    cr_assert_eq(ncalls, 3);
    cr_expect_eq(calls[2].err, SK_ERR_NONE);
    cr_expect(shard_has("a"));
    /* What was acknowledged is in the log, stamped with the Raft epoch. */
    struct sk_raft_config cfg = {0};
    sk_meta_raftlog_bind(v[0].log, &cfg);
    struct sk_raft_batch got[4];
    size_t n = 0;
    int64_t end = cfg.log.end_offset(cfg.log_ctx);
    cr_assert_eq(cfg.log.read(cfg.log_ctx, end - 1, 1 << 20, got, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(got[0].epoch, sk_raft_epoch(v[0].r));
    cr_expect_eq(got[0].kind, SK_RAFT_BATCH_DATA);
    /* The image knows where it stands in the log: snapshots are named so. */
    cr_expect_eq(node.image.last_offset, end - 1);
    cr_expect_eq(shard.image->last_offset, end - 1);
}

/* A batch as another leader's controller would write it. */
static int64_t leader_writes_topic(struct voter *x, const char *name, uint8_t id)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id.b[0] = id;
    struct sk_meta_rec rec = {SK_META_TOPIC, 0, &tr};
    struct sk_buf b = {0};
    cr_assert_eq(sk_metalog_encode(&rec, 1, 0, now, &b), 0);
    int64_t off;
    cr_assert_eq(sk_raft_append(x->r, b.data, b.len, 1, &off), SK_ERR_NONE);
    sk_buf_free(&b);
    return off;
}

Test(ctl_quorum, a_standby_answers_not_controller_and_replays_what_was_committed,
     .init = start_three, .fini = teardown)
{
    elect(1);
    cr_assert_eq(sk_raft_leader(v[0].r), 2, "voter 1 follows voter 2");
    submit_topic("refused", 1);
    cr_assert_eq(ncalls, 1);
    cr_expect_eq(calls[0].err, SK_ERR_NOT_CONTROLLER);
    cr_expect_not(shard_has("refused"), "nothing of a refused change is applied");
    int64_t off = leader_writes_topic(&v[1], "from-2", 2);
    for (int k = 0; k < 200 && sk_raft_high_watermark(v[0].r) <= off; k++)
        round_of(false, ALL);
    cr_assert_gt(sk_raft_high_watermark(v[0].r), off);
    cr_expect(shard_has("from-2"), "the standby published what the quorum committed");
    cr_expect_eq(sk_ctl_in_flight(&node), 0);
}

/* A standby's image may lag, even hold no broker: judged on it, a creation
 * would get INVALID_REPLICATION_FACTOR, where the client must be sent on to
 * the active controller. */
Test(ctl_quorum, a_standby_refuses_a_creation_as_not_controller_before_judging_it,
     .init = start_three, .fini = teardown)
{
    elect(1);
    cr_assert_eq(shard.image->nbrokers, 0, "no broker is registered");
    struct sk_topic_spec spec = {.name = kp_str_c("lagging"), .partitions = 1,
                                 .replication_factor = 1};
    char msg[256] = "";
    cr_expect_eq(sk_topic_create(&shard, &spec, false, msg, sizeof msg), SK_ERR_NOT_CONTROLLER,
                 "%s", msg);
    cr_expect_str_eq(msg, "This is not the correct controller for this cluster.");
    cr_expect_eq(sk_topic_create(&shard, &spec, true, msg, sizeof msg), SK_ERR_NOT_CONTROLLER,
                 "validate-only too");
}

Test(ctl_quorum, a_standby_does_not_apply_what_is_not_committed, .init = start_three,
     .fini = teardown)
{
    elect(1);
    /* Voter 3 is cut off: voter 1's copy of the batch is all the leader
     * has besides its own, and the leader learns it only from the next
     * fetch, so voter 1 holds it a while above its high watermark. */
    v[2].cut_off = true;
    int64_t off = leader_writes_topic(&v[1], "pending", 3);
    struct sk_plog *p = sk_metalog_plog(node.metalog);
    for (int k = 0; k < 200 && sk_plog_log_end_offset(p) <= off; k++)
        round_of(false, ALL);
    cr_assert_gt(sk_plog_log_end_offset(p), off, "voter 1 has the batch");
    cr_assert_leq(sk_raft_high_watermark(v[0].r), off, "the follower learned it committed");
    cr_expect_not(shard_has("pending"), "applied above the high watermark");
    v[2].cut_off = false;
    for (int k = 0; k < 200 && sk_raft_high_watermark(v[0].r) <= off; k++)
        round_of(false, ALL);
    cr_expect(shard_has("pending"));
}

Test(ctl_quorum, losing_leadership_fails_what_is_in_flight_and_rolls_back,
     .init = start_three, .fini = teardown)
{
    elect(0);
    submit_topic("kept", 1);
    for (int k = 0; k < 200 && ncalls == 0; k++)
        round_of(false, ALL);
    cr_assert_eq(ncalls, 1);
    cr_expect_eq(calls[0].err, SK_ERR_NONE);
    /* Voter 1 is cut off with a change in flight; the others elect voter 2. */
    v[0].cut_off = true;
    submit_topic("lost", 2);
    cr_assert_eq(ncalls, 1, "in flight");
    cr_expect(sk_meta_topic(&node.image, "lost", 4) != NULL, "in the working state");
    for (int k = 0; k < 4000 && sk_raft_role(v[1].r) != SK_RAFT_LEADER; k++)
        round_of(false, 2);
    cr_assert_eq(sk_raft_role(v[1].r), SK_RAFT_LEADER);
    (void)leader_writes_topic(&v[1], "after", 3);
    /* Voter 1 comes back and learns of the new epoch. */
    v[0].cut_off = false;
    for (int k = 0; k < 4000 && !shard_has("after"); k++)
        round_of(false, ALL);
    cr_assert_eq(ncalls, 2);
    cr_expect_str_eq(calls[1].tag, "lost");
    cr_expect_eq(calls[1].err, SK_ERR_NOT_CONTROLLER);
    cr_expect(shard_has("kept"));
    cr_expect(shard_has("after"), "the new leader's change was replayed");
    cr_expect_null(sk_meta_topic(&node.image, "lost", 4), "rolled back");
    cr_expect_not(shard_has("lost"));
    submit_topic("no-longer", 4);
    cr_expect_eq(calls[2].err, SK_ERR_NOT_CONTROLLER);
}

Test(ctl_quorum, a_failed_flush_fails_the_change_and_every_later_one, .init = start_one,
     .fini = teardown)
{
    for (int k = 0; k < 100 && sk_raft_high_watermark(v[0].r) < 1; k++)
        round_of(false, 1);
    submit_topic("a", 1);
    round_of(true, 1);
    cr_assert(ds_pending(&v[0].ds) > 0);
    ds_complete_all(&v[0].ds, -EIO);
    cr_assert_eq(ncalls, 1);
    cr_expect_eq(calls[0].err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_expect_null(sk_meta_topic(&node.image, "a", 1), "rolled back");
    cr_expect_not(shard_has("a"));
    cr_expect_eq(sk_metalog_end_offset(node.metalog), 1, "cut from the log");
    submit_topic("b", 2);
    cr_assert_eq(ncalls, 2);
    cr_expect_eq(calls[1].err, SK_ERR_KAFKA_STORAGE_ERROR, "no change after a failed sync");
}
