/* The asynchronous commit (skein/submit.h): batches appended at once,
 * committed in order as the syncs the test holds complete, and all failed,
 * rolled back and cut from the log when one sync fails. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/controller/internal.h"
#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/controller.h"
#include "skein/config.h"
#include "skein/ctl_park.h"
#include "skein/errors.h"
#include "skein/metalog.h"
#include "skein/producer_ids.h"
#include "skein/publisher.h"
#include "skein/submit.h"

#include "deferred_syncer.h"

static char dir[256];
static struct sk_node node;
static struct sk_broker shard, *shards[1];
static struct deferred_syncer ds;

/* Each done call, in order, with what the shard's image held then. */
#define MAX_DONE 8
static struct done_call {
    const char *tag;
    int16_t err;
    char msg[256];
    bool shard_had_topic;
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
    cr_assert_lt(ncalls, MAX_DONE);
    struct done_call *c = &calls[ncalls++];
    c->tag = arg;
    c->err = err;
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "");
    c->shard_had_topic = sk_meta_topic(shard.image, c->tag, strlen(c->tag)) != NULL;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-commit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&node, 0, sizeof node);
    memset(&shard, 0, sizeof shard);
    ncalls = 0;
    ds_init(&ds);
    sk_meta_image_init(&node.image);
    cr_assert_eq(sk_metalog_open(dir, &node.image, 1000, &node.metalog), 0);
    shards[0] = &shard;
    node.shards = shards;
    node.nshards = 1;
    node.subscriber = subscriber;
    shard.node = &node;
    shard.image = &node.image;
    shard.syncer = ds.syncer;
    /* As at start-up: the shard reads a published clone, never the
     * controller's working state. */
    cr_assert_eq(sk_publish(&shard), 0);
}

static void teardown(void)
{
    ds_complete_all(&ds, 0);
    sk_ctl_submit_close(&node);
    sk_publish_close(&shard);
    sk_publish_node_close(&node);
    sk_metalog_close(node.metalog);
    sk_meta_image_free(&node.image);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Submits a TopicRecord named tag (also done's arg); returns how many syncs
 * it started, which are ds.q[first .. first + n). */
static int submit_topic(const char *tag, uint8_t id, int *first)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(tag);
    tr.topic_id.b[0] = id;
    struct sk_meta_rec rec = {SK_META_TOPIC, 0, &tr};
    *first = ds.n;
    sk_ctl_submit(&shard, &rec, 1, done, (void *)tag);
    return ds.n - *first;
}

/* Completes held syncs out of the queue's order. */
static void complete_range(int first, int n, int res)
{
    for (int i = first; i < first + n; i++)
        ds.q[i].done(ds.q[i].arg, res);
}

static bool shard_has(const char *name)
{
    return sk_meta_topic(shard.image, name, strlen(name)) != NULL;
}

Test(commit, overlapping_submits_commit_in_order, .init = setup, .fini = teardown)
{
    int fa, fb;
    int na = submit_topic("a", 1, &fa), nb = submit_topic("b", 2, &fb);
    cr_assert_gt(na, 0, "the sync is on the syncer, not inline");
    cr_assert_gt(nb, 0);
    cr_assert_eq(sk_ctl_in_flight(&node), 2);
    cr_assert_eq(ncalls, 0);

    complete_range(fb, nb, 0);
    cr_assert_eq(ncalls, 0, "b waits for a, whose sync is still running");
    cr_assert_not(shard_has("b"), "nothing of b is published before a commits");

    complete_range(fa, na, 0);
    cr_assert_eq(ncalls, 2);
    cr_assert_str_eq(calls[0].tag, "a");
    cr_assert_str_eq(calls[1].tag, "b");
    cr_assert_eq(calls[0].err, SK_ERR_NONE);
    cr_assert_eq(calls[1].err, SK_ERR_NONE);
    cr_assert(shard_has("a") && shard_has("b"));
    cr_assert_eq(sk_ctl_in_flight(&node), 0);
    ds.done = ds.n; /* completed above, by hand */
}

Test(commit, the_working_state_refuses_a_duplicate_in_flight, .init = setup, .fini = teardown)
{
    int first;
    cr_assert_gt(submit_topic("a", 1, &first), 0);
    cr_assert_not(shard_has("a"), "not committed yet");

    struct sk_topic_spec spec = {.name = kp_str_c("a"), .partitions = 1,
                                 .replication_factor = 1};
    char msg[256] = "";
    cr_assert_eq(sk_topic_check_identity(&shard, &spec, msg, sizeof msg),
                 SK_ERR_TOPIC_ALREADY_EXISTS, "checked against the working state: %s", msg);
    cr_assert_str_eq(msg, "Topic 'a' already exists.");
    ds_complete_all(&ds, 0);
    cr_assert_eq(ncalls, 1);
}

Test(commit, a_failed_sync_fails_every_pending_submit_and_is_not_replayed, .init = setup,
     .fini = teardown)
{
    int f0, fa, fb;
    int n0 = submit_topic("kept", 9, &f0);
    complete_range(f0, n0, 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].err, SK_ERR_NONE);
    ds.done = ds.n;

    int na = submit_topic("a", 1, &fa), nb = submit_topic("b", 2, &fb);
    complete_range(fa, na, -EIO);
    cr_assert_eq(ncalls, 3, "both pending submits fail at once");
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(calls[i].err, SK_ERR_KAFKA_STORAGE_ERROR);
        cr_assert_str_eq(calls[i].msg, "The metadata log could not be written: Input/output error");
    }
    cr_assert_str_eq(calls[1].tag, "a");
    cr_assert_str_eq(calls[2].tag, "b");
    cr_assert_null(sk_meta_topic(&node.image, "a", 1), "the working state is rolled back");
    cr_assert_null(sk_meta_topic(&node.image, "b", 1));
    cr_assert_not_null(sk_meta_topic(&node.image, "kept", 4));
    cr_assert_eq(sk_ctl_in_flight(&node), 0);

    complete_range(fb, nb, 0);
    cr_assert_eq(ncalls, 3, "a later sync's success changes nothing");
    ds.done = ds.n;

    int fc;
    cr_assert_eq(submit_topic("c", 3, &fc), 0, "the log is offline: nothing is synced");
    cr_assert_eq(ncalls, 4);
    cr_assert_eq(calls[3].err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_str_eq(calls[3].msg, "The metadata log could not be written: Input/output error");

    /* What a restart finds: the committed change, nothing that failed. */
    sk_metalog_close(node.metalog);
    node.metalog = NULL;
    struct sk_meta_image again;
    sk_meta_image_init(&again);
    struct sk_metalog *ml;
    cr_assert_eq(sk_metalog_open(dir, &again, 2000, &ml), 0);
    cr_assert_not_null(sk_meta_topic(&again, "kept", 4));
    cr_assert_null(sk_meta_topic(&again, "a", 1), "a failed change is not replayed");
    cr_assert_null(sk_meta_topic(&again, "b", 1));
    cr_assert_eq(again.ntopics, 1);
    sk_meta_image_free(&again);
    node.metalog = ml;
}

Test(commit, done_runs_after_the_submitters_shard_has_the_change, .init = setup,
     .fini = teardown)
{
    int first;
    int n = submit_topic("a", 1, &first);
    cr_assert_not(shard_has("a"));
    complete_range(first, n, 0);
    ds.done = ds.n;
    cr_assert_eq(ncalls, 1);
    cr_assert(calls[0].shard_had_topic, "the shard's image had the topic when done ran");
    cr_assert_neq(shard.image, &node.image, "a published clone, not the working state");
}

Test(commit, a_blocking_syncer_commits_before_submit_returns, .init = setup, .fini = teardown)
{
    shard.syncer = (struct sk_syncer){0};
    int first;
    cr_assert_eq(submit_topic("a", 1, &first), 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].err, SK_ERR_NONE);
    cr_assert(calls[0].shard_had_topic);
}

Test(commit, a_sync_that_cannot_be_submitted_fails_the_batch_but_not_the_log, .init = setup,
     .fini = teardown)
{
    int first;
    ds.refuse = -EAGAIN;
    cr_assert_eq(submit_topic("a", 1, &first), 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_null(sk_meta_topic(&node.image, "a", 1), "rolled back");
    ds.refuse = 0;
    int n = submit_topic("b", 2, &first);
    cr_assert_gt(n, 0, "the log still takes changes");
    complete_range(first, n, 0);
    ds.done = ds.n;
    cr_assert_eq(ncalls, 2);
    cr_assert_eq(calls[1].err, SK_ERR_NONE);

    sk_metalog_close(node.metalog);
    node.metalog = NULL;
    struct sk_meta_image again;
    sk_meta_image_init(&again);
    struct sk_metalog *ml;
    cr_assert_eq(sk_metalog_open(dir, &again, 2000, &ml), 0);
    cr_assert_null(sk_meta_topic(&again, "a", 1), "the batch that was not synced is cut off");
    cr_assert_not_null(sk_meta_topic(&again, "b", 1));
    sk_meta_image_free(&again);
    node.metalog = ml;
}

/* ---- parked handlers (skein/ctl_park.h) ------------------------------------ */

static int finished;
static bool finished_with_topic;

static void finish(void *ctx)
{
    finished++;
    finished_with_topic = sk_meta_topic(shard.image, ctx, strlen(ctx)) != NULL;
}

static int16_t commit_topic(const char *name, uint8_t id, char *msg, size_t msglen)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id.b[0] = id;
    struct sk_meta_rec rec = {SK_META_TOPIC, 0, &tr};
    return sk_ctl_commit(&shard, &rec, 1, msg, msglen);
}

Test(commit, a_parked_handler_answers_after_its_commits, .init = setup, .fini = teardown)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_ctl_park park;
    int16_t err[2] = {-1, -1};
    kp_str msg[2] = {KP_STR_NULL, KP_STR_NULL};
    char buf[256];
    finished = 0;
    sk_ctl_park_begin(&park, &shard, &a, finish, "b");
    for (int i = 0; i < 2; i++) {
        sk_ctl_park_slot(&park, &err[i], &msg[i]);
        err[i] = commit_topic(i ? "b" : "a", (uint8_t)(i + 1), buf, sizeof buf);
    }
    sk_ctl_park_end(&park);
    cr_assert_eq(err[0], SK_ERR_NONE, "submitted");
    cr_assert_eq(err[1], SK_ERR_NONE);
    cr_assert_eq(finished, 0, "the answer waits for both syncs");
    ds_complete_all(&ds, 0);
    cr_assert_eq(finished, 1);
    cr_assert(finished_with_topic, "answered once the shard has the change");
    kp_arena_free(&a);
}

Test(commit, a_parked_commit_that_fails_later_answers_its_error, .init = setup,
     .fini = teardown)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_ctl_park park;
    int16_t err = -1;
    kp_str msg = KP_STR_NULL;
    char buf[256];
    finished = 0;
    sk_ctl_park_begin(&park, &shard, &a, finish, "a");
    sk_ctl_park_slot(&park, &err, &msg);
    err = commit_topic("a", 1, buf, sizeof buf);
    sk_ctl_park_end(&park);
    cr_assert_eq(err, SK_ERR_NONE);
    ds_complete_all(&ds, -EIO);
    cr_assert_eq(finished, 1);
    cr_assert_eq(err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_eq(msg.len, (int32_t)strlen("The metadata log could not be written: Input/output error"));
    cr_assert(memcmp(msg.ptr, "The metadata log could not be written: Input/output error",
                     (size_t)msg.len) == 0);
    cr_assert_not(finished_with_topic);
    kp_arena_free(&a);
}

/* ---- producer-id blocks (skein/producer_ids.h) ---------------------------- */

struct pid_answer {
    int calls;
    int16_t err;
    int64_t id;
};

static void pid_done(void *arg, int16_t err, int64_t id)
{
    struct pid_answer *a = arg;
    a->calls++;
    a->err = err;
    a->id = id;
}

static void request_pid(struct sk_producer_id_wait *w, struct pid_answer *a)
{
    *a = (struct pid_answer){0, -1, -1};
    sk_producer_id_request(&shard, w, pid_done, a);
}

/* What a restart finds: the log replayed into a fresh working state, and no
 * block in memory. */
static void restart(void)
{
    sk_producer_ids_free(&shard);
    sk_ctl_submit_close(&node);
    sk_metalog_close(node.metalog);
    sk_publish_close(&shard);
    sk_meta_image_free(&node.image);
    sk_meta_image_init(&node.image);
    cr_assert_eq(sk_metalog_open(dir, &node.image, 3000, &node.metalog), 0);
    shard.image = &node.image;
    cr_assert_eq(sk_publish(&shard), 0);
}

Test(commit, an_id_block_waits_for_its_commit, .init = setup, .fini = teardown)
{
    /* Static: a failed assertion leaves them to the teardown's completions. */
    static struct sk_producer_id_wait w[2];
    static struct pid_answer a[2];
    request_pid(&w[0], &a[0]);
    request_pid(&w[1], &a[1]);
    cr_assert_eq(a[0].calls, 0, "no id before its block is durable");
    cr_assert_eq(a[1].calls, 0);
    cr_assert_gt(ds_pending(&ds), 0, "the claim's sync is on the shard's syncer");
    cr_assert_eq(sk_ctl_in_flight(&node), 1, "one claim for both requests");
    ds_complete_all(&ds, 0);
    cr_assert_eq(a[0].calls, 1);
    cr_assert_eq(a[1].calls, 1);
    cr_assert_eq(a[0].err, SK_ERR_NONE);
    cr_assert_eq(a[0].id, 0);
    cr_assert_eq(a[1].id, 1);
    static struct pid_answer c;
    request_pid(&w[0], &c);
    cr_assert_eq(c.calls, 1, "the committed block serves at once");
    cr_assert_eq(c.id, 2);
    cr_assert_eq(ds_pending(&ds), 0);
    sk_producer_ids_free(&shard);
}

/* The claim queues behind an admin batch whose sync then fails: the failure
 * cuts the log back past both, so the claim must fail too, and no id of its
 * block may be out, or a restart hands it out again. */
Test(commit, a_failed_sync_during_a_claim_fails_init_producer_id_and_repeats_no_id,
     .init = setup, .fini = teardown)
{
    static struct sk_producer_id_wait w;
    static struct pid_answer first, failed, later;
    request_pid(&w, &first);
    ds_complete_all(&ds, 0);
    cr_assert_eq(first.err, SK_ERR_NONE);
    int64_t highest = first.id;
    /* Use up the block, so the next request claims. */
    for (int i = 1; i < SK_PRODUCER_ID_BLOCK; i++) {
        static struct pid_answer x;
        request_pid(&w, &x);
        cr_assert_eq(x.calls, 1);
        highest = x.id;
    }
    int fa;
    int na = submit_topic("a", 1, &fa);
    cr_assert_gt(na, 0);
    request_pid(&w, &failed);
    cr_assert_eq(failed.calls, 0, "parked behind a's batch");
    complete_range(fa, na, -EIO);
    ds.done = fa + na;
    ds_complete_all(&ds, 0); /* the claim's own sync: too late to matter */
    cr_assert_eq(failed.calls, 1);
    cr_assert_eq(failed.err, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                 "retriable, as Kafka answers while it waits for a block (got %d)", failed.err);
    cr_assert_eq(calls[ncalls - 1].err, SK_ERR_KAFKA_STORAGE_ERROR, "a's batch failed");
    if (failed.calls && failed.err == SK_ERR_NONE)
        highest = failed.id; /* a client has it */

    restart();
    request_pid(&w, &later);
    ds_complete_all(&ds, 0);
    cr_assert_eq(later.err, SK_ERR_NONE);
    cr_assert_gt(later.id, highest, "id %lld was handed out before the restart (up to %lld)",
                 (long long)later.id, (long long)highest);
    sk_producer_ids_free(&shard);
}

/* ---- auto-creation (Metadata, FindCoordinator) ----------------------------- */

static struct sk_config cfg;

/* A registered broker to place partitions on, and the broker defaults
 * auto-creation uses (two partitions a topic). */
static void setup_auto(void)
{
    setup();
    char logdirs[300];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[] = {logdirs, "num.partitions=2"};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 2, err, sizeof err), 0, "%s", err);
    node.cfg = &cfg;
    shard.cfg = &cfg;
    node.node_id = cfg.node_id;
    kp_register_broker_record r;
    kp_register_broker_record_init(&r);
    r.broker_id = cfg.node_id;
    r.fenced = false;
    struct sk_meta_rec rec = {SK_META_REGISTER_BROKER, 0, &r};
    /* As start-up does, before the node serves. */
    cr_assert_eq(sk_metalog_append(node.metalog, &node.image, &rec, 1, 1000), 0);
    cr_assert_eq(sk_publish(&shard), 0);
}

static void teardown_auto(void)
{
    teardown();
    sk_config_free(&cfg);
}

static int16_t auto_create(const char *tag, const char *const *names, int n)
{
    kp_str v[4];
    static int16_t errs[4];
    for (int i = 0; i < n; i++)
        v[i] = kp_str_c(names[i]);
    char msg[256] = "";
    return sk_topics_auto_create(&shard, v, n, errs, msg, sizeof msg, done, (void *)tag);
}

Test(commit, auto_creation_answers_once_committed, .init = setup_auto, .fini = teardown_auto)
{
    const char *names[] = {"a"};
    cr_assert_eq(auto_create("a", names, 1), SK_ERR_NONE);
    cr_assert_eq(ncalls, 0, "the requester waits for the commit");
    cr_assert_gt(ds_pending(&ds), 0, "the sync is on the shard's syncer, not this thread");
    cr_assert_not(shard_has("a"));
    ds_complete_all(&ds, 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].err, SK_ERR_NONE, "%s", calls[0].msg);
    cr_assert(calls[0].shard_had_topic, "answered once the shard's image has the topic");
    cr_assert_eq(sk_meta_topic(shard.image, "a", 1)->npartitions, 2);
}

/* The auto-created topics queue behind an admin batch whose sync fails: the
 * requester hears of it, and neither the working state, the shard, nor the
 * log after a restart has any record of them. */
Test(commit, a_failed_sync_during_auto_creation_leaves_no_half_created_topic,
     .init = setup_auto, .fini = teardown_auto)
{
    int fx;
    int nx = submit_topic("x", 9, &fx);
    const char *names[] = {"a", "b"};
    cr_assert_eq(auto_create("a", names, 2), SK_ERR_NONE);
    cr_assert_eq(ncalls, 0);
    complete_range(fx, nx, -EIO);
    ds.done = fx + nx;
    ds_complete_all(&ds, 0);
    cr_assert_eq(ncalls, 2);
    cr_assert_str_eq(calls[1].tag, "a");
    cr_assert_eq(calls[1].err, SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_not(calls[1].shard_had_topic);
    for (int i = 0; i < 2; i++) {
        cr_assert_null(sk_meta_topic(&node.image, names[i], 1), "working state rolled back");
        cr_assert_not(shard_has(names[i]));
    }

    restart();
    cr_assert_eq(node.image.ntopics, 0, "nothing of the failed batches is replayed");
    cr_assert_eq(auto_create("a", names, 2), SK_ERR_NONE, "the client's retry");
    ds_complete_all(&ds, 0);
    cr_assert_eq(ncalls, 3);
    cr_assert_eq(calls[2].err, SK_ERR_NONE, "%s", calls[2].msg);
    cr_assert_eq(node.image.ntopics, 2);
    cr_assert_eq(sk_meta_topic(shard.image, "b", 1)->npartitions, 2);
}

/* Two Metadata requests for one new topic, the second while the first's
 * creation is in flight (librdkafka 2.x pipelines them): the second has
 * nothing to write, yet answers only once the topic is committed, with it. */
Test(commit, a_second_auto_creation_of_a_name_in_flight_waits_for_its_commit,
     .init = setup_auto, .fini = teardown_auto)
{
    const char *names[] = {"a"};
    cr_assert_eq(auto_create("a", names, 1), SK_ERR_NONE);
    int pending = ds_pending(&ds);
    cr_assert_eq(auto_create("a", names, 1), SK_ERR_NONE);
    cr_assert_eq(ds_pending(&ds), pending, "the second writes nothing");
    cr_assert_eq(ncalls, 0, "neither answers before the topic is committed");
    ds_complete_all(&ds, 0);
    cr_assert_eq(ncalls, 2);
    cr_assert(calls[0].shard_had_topic && calls[1].shard_had_topic);
}
