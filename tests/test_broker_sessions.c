/* The active controller's broker registration, heartbeats and fencing
 * (skein/broker_sessions.h), on a node with a real metadata log in a
 * temporary folder and no network: Kafka's errors for a foreign cluster id,
 * a duplicate incarnation, unsupported features and stale epochs, and the
 * fencing that moves a broker's partitions off and back. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/alter_partition.h"
#include "skein/broker_sessions.h"
#include "skein/checkpoints.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/metalog.h"
#include "skein/partition.h"
#include "skein/publisher.h"
#include "skein/submit.h"

#define SESSION_MS 3000

static char dir[64];
static struct sk_config cfg;
static struct sk_node bnode;
static struct sk_broker b;
static struct sk_broker *shard_list[1] = {&b};
static char msg[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-sessions-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char logdirs[128];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[] = {logdirs, "broker.session.timeout.ms=3000"};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 2, err, sizeof err), 0, "%s", err);
    memset(&b, 0, sizeof b);
    memset(&bnode, 0, sizeof bnode);
    b.node = &bnode;
    b.image = &bnode.image;
    bnode.cfg = &cfg;
    b.cfg = &cfg;
    bnode.node_id = cfg.node_id;
    snprintf(bnode.cluster_id, sizeof bnode.cluster_id, "MkU3OEVBNTcwNTJENDM2Qg");
    bnode.shards = shard_list;
    bnode.nshards = 1;
    sk_meta_image_init(b.image);
    cr_assert_eq(sk_metalog_open(dir, b.image, sk_wall_ms(), &bnode.metalog), 0);
    kp_str mv = kp_str_c("metadata.version");
    cr_assert_eq(sk_feature_update(&b, mv, SK_METADATA_VERSION_MAX, 1, false, msg, sizeof msg),
                 SK_ERR_NONE, "%s", msg);
    cr_assert_eq(sk_checkpoints_open(&bnode), 0);
}

static void teardown(void)
{
    sk_partitions_close_all(&b);
    cr_assert_eq(sk_checkpoints_write_final(&bnode), 0);
    sk_checkpoints_close(&bnode);
    free(b.parts);
    sk_brokers_close(&bnode);
    sk_ctl_submit_close(&bnode);
    sk_metalog_close(bnode.metalog);
    sk_publish_close(&b);
    sk_publish_node_close(&bnode);
    sk_meta_image_free(&bnode.image);
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(broker_sessions, .init = setup, .fini = teardown);

/* A request as a Kafka 3.9 broker sends it; incarnation n. */
static kp_broker_registration_request_listener listener;
static kp_broker_registration_request_feature mv_feature;

static kp_broker_registration_request request(int32_t id, int incarnation)
{
    kp_broker_registration_request r;
    kp_broker_registration_request_init(&r);
    r.broker_id = id;
    r.cluster_id = kp_str_c(bnode.cluster_id);
    memset(r.incarnation_id.b, 0, 16);
    r.incarnation_id.b[0] = (uint8_t)incarnation;
    r.incarnation_id.b[15] = 1;
    kp_broker_registration_request_listener_init(&listener);
    listener.name = kp_str_c("PLAINTEXT");
    listener.host = kp_str_c("127.0.0.1");
    listener.port = (uint16_t)(29090 + id);
    r.listeners = (kp_broker_registration_request_listener_arr){1, &listener};
    kp_broker_registration_request_feature_init(&mv_feature);
    mv_feature.name = kp_str_c("metadata.version");
    mv_feature.min_supported_version = 1;
    mv_feature.max_supported_version = SK_METADATA_VERSION_MAX;
    r.features = (kp_broker_registration_request_feature_arr){1, &mv_feature};
    r.rack = kp_str_c("rack-a");
    return r;
}

static int64_t register_ok(int32_t id, int incarnation, int64_t now)
{
    kp_broker_registration_request r = request(id, incarnation);
    int64_t epoch = -2;
    int64_t next = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(sk_brokers_register(&b, &r, now, &epoch, msg, sizeof msg), SK_ERR_NONE, "%s",
                 msg);
    cr_assert_eq(epoch, next, "the epoch is the record's offset");
    return epoch;
}

static int16_t beat(int32_t id, int64_t epoch, int64_t offset, int64_t now,
                    struct sk_heartbeat_reply *out)
{
    kp_broker_heartbeat_request h;
    kp_broker_heartbeat_request_init(&h);
    h.broker_id = id;
    h.broker_epoch = epoch;
    h.current_metadata_offset = offset;
    return sk_brokers_heartbeat(&b, &h, now, out, msg, sizeof msg);
}

Test(broker_sessions, registration_is_fenced_and_checked_as_kafka_checks_it)
{
    kp_broker_registration_request r = request(2, 1);
    int64_t epoch;
    r.cluster_id = kp_str_c("another-cluster");
    cr_assert_eq(sk_brokers_register(&b, &r, 1000, &epoch, msg, sizeof msg),
                 SK_ERR_INCONSISTENT_CLUSTER_ID);
    cr_assert_eq(epoch, -1);
    cr_assert(strstr(msg, "but got cluster ID another-cluster"), "%s", msg);

    mv_feature.max_supported_version = 5; /* finalized is 21 */
    r = request(2, 1);
    mv_feature.max_supported_version = 5;
    cr_assert_eq(sk_brokers_register(&b, &r, 1000, &epoch, msg, sizeof msg),
                 SK_ERR_UNSUPPORTED_VERSION);
    cr_assert(strstr(msg, "does not support version 21 of metadata.version"), "%s", msg);
    r = request(2, 1);
    r.features.n = 0; /* taken as 3.0-IV1 only */
    cr_assert_eq(sk_brokers_register(&b, &r, 1000, &epoch, msg, sizeof msg),
                 SK_ERR_UNSUPPORTED_VERSION);
    cr_assert_null(sk_meta_broker(b.image, 2));

    register_ok(2, 1, 1000);
    const struct sk_broker_meta *bm = sk_meta_broker(b.image, 2);
    cr_assert_not_null(bm);
    cr_assert(bm->fenced, "a new registration starts fenced");
    cr_assert_str_eq(bm->rack, "rack-a");
    cr_assert_eq(sk_meta_endpoint(bm, "PLAINTEXT")->port, 29092);

    /* Another incarnation while the session lives; the same one re-registers. */
    r = request(2, 7);
    cr_assert_eq(sk_brokers_register(&b, &r, 1000 + SESSION_MS, &epoch, msg, sizeof msg),
                 SK_ERR_DUPLICATE_BROKER_REGISTRATION);
    cr_assert_str_eq(msg, "Another broker is registered with that broker id.");
    register_ok(2, 1, 1500);
    /* Once the session lapsed, a new incarnation takes the id over. */
    register_ok(2, 7, 1500 + SESSION_MS + 1);
}

Test(broker_sessions, heartbeats_unfence_a_caught_up_broker_and_refuse_stale_epochs)
{
    struct sk_heartbeat_reply out;
    cr_assert_eq(beat(3, 0, 0, 1000, &out), SK_ERR_STALE_BROKER_EPOCH);
    cr_assert(strstr(msg, "No broker registration found for broker id 3"), "%s", msg);
    int64_t epoch = register_ok(3, 1, 1000);
    cr_assert_eq(beat(3, epoch - 1, epoch, 1000, &out), SK_ERR_STALE_BROKER_EPOCH);
    cr_assert(strstr(msg, "Expected broker epoch"), "%s", msg);

    cr_assert_eq(beat(3, epoch, epoch - 1, 1100, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.caught_up);
    cr_assert(out.fenced, "not caught up with its own registration yet");
    cr_assert(sk_meta_broker(b.image, 3)->fenced);

    cr_assert_eq(beat(3, epoch, epoch, 1200, &out), SK_ERR_NONE, "%s", msg);
    cr_assert(out.caught_up);
    cr_assert_not(out.fenced);
    cr_assert_not(sk_meta_broker(b.image, 3)->fenced);

    /* A re-registration makes the old epoch stale. */
    int64_t again = register_ok(3, 1, 1300);
    cr_assert_gt(again, epoch);
    cr_assert_eq(beat(3, epoch, again, 1400, &out), SK_ERR_STALE_BROKER_EPOCH);
}

static const struct sk_partition_meta *partition0(const char *topic)
{
    const struct sk_topic_meta *t = sk_meta_topic(b.image, topic, strlen(topic));
    cr_assert_not_null(t);
    return &t->partitions[0];
}

Test(broker_sessions, a_lapsed_session_fences_the_broker_and_its_partitions_lose_their_leader)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(4, 1, 1000);
    cr_assert_eq(beat(4, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    int32_t on4 = 4;
    struct sk_replica_assignment a = {0, {1, &on4}};
    struct sk_topic_spec s = {.name = kp_str_c("on-four"), .partitions = -1,
                              .replication_factor = -1, .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(partition0("on-four")->leader, 4);

    cr_assert_eq(sk_brokers_expire(&b, 1000 + SESSION_MS), 0, "the session has not lapsed");
    cr_assert_eq(sk_brokers_expire(&b, 1000 + SESSION_MS + 1), 1);
    cr_assert(sk_meta_broker(b.image, 4)->fenced);
    cr_assert_eq(partition0("on-four")->leader, -1);
    cr_assert_eq(sk_brokers_expire(&b, 1000 + 2 * SESSION_MS), 0, "fenced once");

    /* Back: it heartbeats again, caught up, and leads its partition again. */
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(4, epoch, end, 1000 + 3 * SESSION_MS, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_not(sk_meta_broker(b.image, 4)->fenced);
    cr_assert_eq(partition0("on-four")->leader, 4);
}

Test(broker_sessions, want_shut_down_lets_an_unfenced_broker_go)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(5, 1, 1000);
    cr_assert_eq(beat(5, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    kp_broker_heartbeat_request h;
    kp_broker_heartbeat_request_init(&h);
    h.broker_id = 5;
    h.broker_epoch = epoch;
    h.current_metadata_offset = epoch;
    h.want_shut_down = true;
    cr_assert_eq(sk_brokers_heartbeat(&b, &h, 1100, &out, msg, sizeof msg), SK_ERR_NONE, "%s",
                 msg);
    cr_assert(out.shut_down, "it leads nothing: let go at once");
    cr_assert(out.fenced);
    cr_assert(sk_meta_broker(b.image, 5)->fenced);
    /* WantFence keeps a fenced broker fenced, caught up or not. */
    h.want_shut_down = false;
    h.want_fence = true;
    cr_assert_eq(sk_brokers_heartbeat(&b, &h, 1200, &out, msg, sizeof msg), SK_ERR_NONE);
    cr_assert(out.fenced);
    cr_assert(sk_meta_broker(b.image, 5)->fenced);
}

Test(broker_sessions, a_new_registration_fences_the_partitions_the_broker_led)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(6, 1, 1000);
    cr_assert_eq(beat(6, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    int32_t on6 = 6;
    struct sk_replica_assignment a = {0, {1, &on6}};
    struct sk_topic_spec s = {.name = kp_str_c("on-six"), .partitions = -1,
                              .replication_factor = -1, .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(partition0("on-six")->leader, 6);

    /* Registered again (a restart whose session had lapsed): fenced, leading nothing. */
    int64_t again = register_ok(6, 2, 1000 + SESSION_MS + 1);
    cr_assert(sk_meta_broker(b.image, 6)->fenced);
    cr_assert_eq(partition0("on-six")->leader, -1);
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(6, again, end, 1000 + SESSION_MS + 2, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_eq(partition0("on-six")->leader, 6);
}

/* A controller that becomes active knows only the image: its sessions are
 * gone with the old controller's memory (sk_brokers_close stands for that). */
static void new_active_controller(void)
{
    sk_brokers_close(&bnode);
}

Test(broker_sessions, a_new_active_controller_keeps_the_epochs_the_image_holds)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(7, 1, 1000);
    cr_assert_eq(beat(7, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    int64_t fenced_epoch = register_ok(8, 1, 1000); /* never caught up: stays fenced */

    new_active_controller();
    int64_t now = 100000;
    cr_assert_eq(beat(8, fenced_epoch, fenced_epoch - 1, now, &out), SK_ERR_NONE, "%s", msg);
    cr_assert(out.fenced, "a fenced broker stays fenced until it catches up");
    /* Broker 7 has not reached the new controller yet, but its session
     * lives: another incarnation may not take its id. */
    kp_broker_registration_request r = request(7, 2);
    int64_t e;
    cr_assert_eq(sk_brokers_register(&b, &r, now + 1, &e, msg, sizeof msg),
                 SK_ERR_DUPLICATE_BROKER_REGISTRATION);
    cr_assert_eq(beat(7, epoch, epoch, now + 2, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced, "a live broker is not fenced by a change of controller");
    cr_assert_eq(beat(8, fenced_epoch, fenced_epoch, now, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
}

Test(broker_sessions, a_broker_silent_after_a_change_of_controller_is_fenced_a_session_later)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(9, 1, 1000);
    cr_assert_eq(beat(9, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    int32_t on9 = 9;
    struct sk_replica_assignment a = {0, {1, &on9}};
    struct sk_topic_spec s = {.name = kp_str_c("on-nine"), .partitions = -1,
                              .replication_factor = -1, .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);

    /* Active from `at`, long after the broker's last heartbeat to the old
     * controller: its session is counted from then, not from that heartbeat. */
    new_active_controller();
    int64_t at = 100000;
    cr_assert_eq(sk_brokers_expire(&b, at), 0);
    cr_assert_eq(sk_brokers_expire(&b, at + SESSION_MS), 0, "a fresh session from activation");
    cr_assert_not(sk_meta_broker(b.image, 9)->fenced);
    cr_assert_eq(sk_brokers_expire(&b, at + SESSION_MS + 1), 1,
                 "a broker that never heartbeats to the new controller is fenced");
    cr_assert(sk_meta_broker(b.image, 9)->fenced);
    cr_assert_eq(partition0("on-nine")->leader, -1);
}

Test(broker_sessions, a_sole_voters_own_registration_is_never_fenced_by_time)
{
    /* The node registers itself locally and never heartbeats (no lifecycle):
     * a session seeded for it on activation would fence it. */
    struct sk_heartbeat_reply out;
    int32_t self = bnode.node_id;
    int64_t epoch = register_ok(self, 1, 1000);
    cr_assert_eq(beat(self, epoch, epoch, 1000, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    int64_t other = register_ok(10, 1, 1000);
    cr_assert_eq(beat(10, other, other, 1000, &out), SK_ERR_NONE, "%s", msg);

    new_active_controller();
    int64_t at = 100000;
    cr_assert_eq(sk_brokers_expire(&b, at), 0);
    cr_assert_eq(sk_brokers_expire(&b, at + 10 * SESSION_MS), 1, "only broker 10 lapses");
    cr_assert_not(sk_meta_broker(b.image, self)->fenced);
    cr_assert(sk_meta_broker(b.image, 10)->fenced);
}

/* Registered and unfenced, as a broker that caught up. */
static int64_t live_broker(int32_t id)
{
    struct sk_heartbeat_reply out;
    int64_t epoch = register_ok(id, 1, 1000);
    cr_assert_eq(beat(id, epoch, sk_metalog_end_offset(bnode.metalog), 1000, &out), SK_ERR_NONE,
                 "%s", msg);
    cr_assert_not(out.fenced);
    return epoch;
}

/* This test's shard is not sent the images the controller publishes: it
 * catches up with the image itself, as a shard does with each new one. */
static struct sk_partition *hosted(const char *topic, int32_t id)
{
    cr_assert_eq(sk_partitions_sync(&b), 0);
    return sk_partition_get(&b, kp_str_c(topic), id);
}

Test(broker_sessions, a_replica_that_does_not_lead_is_hosted_as_a_follower_and_serves_no_client)
{
    int64_t mine = live_broker(cfg.node_id);
    live_broker(4);
    int32_t four_then_me[] = {4, cfg.node_id};
    struct sk_replica_assignment a = {0, {2, four_then_me}};
    struct sk_topic_spec s = {.name = kp_str_c("follow"), .partitions = -1,
                              .replication_factor = -1, .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(partition0("follow")->leader, 4);
    struct sk_partition *p = hosted("follow", 0);
    cr_assert_not_null(p, "a follower replica has its log here");
    cr_assert_eq(p->role, SK_REPLICA_FOLLOWER);
    int16_t err = SK_ERR_NONE;
    cr_assert_null(sk_partition_lookup(&b, kp_str_c("follow"), 0, true, &err));
    cr_assert_eq(err, SK_ERR_NOT_LEADER_OR_FOLLOWER);
    cr_assert_null(sk_partition_lookup(&b, kp_str_c("follow"), 0, false, &err));
    cr_assert_eq(err, SK_ERR_NOT_LEADER_OR_FOLLOWER);

    /* Its leader fenced, the in-sync follower here is elected and serves,
     * the same replica with its records. */
    struct sk_heartbeat_reply out;
    cr_assert_eq(beat(cfg.node_id, mine, sk_metalog_end_offset(bnode.metalog), 1000 + SESSION_MS,
                      &out), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(sk_brokers_expire(&b, 1000 + SESSION_MS + 1), 1);
    cr_assert_eq(partition0("follow")->leader, cfg.node_id);
    cr_assert_eq(hosted("follow", 0), p);
    cr_assert_eq(p->role, SK_REPLICA_LEADER);
    cr_assert_eq(sk_partition_lookup(&b, kp_str_c("follow"), 0, true, &err), p);

    int32_t me_then_four[] = {cfg.node_id, 4};
    struct sk_replica_assignment l = {0, {2, me_then_four}};
    s.name = kp_str_c("lead");
    s.assignments = &l;
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(hosted("lead", 0)->role, SK_REPLICA_LEADER);
    cr_assert_eq(sk_partition_lookup(&b, kp_str_c("lead"), 0, true, &err), hosted("lead", 0));
    cr_assert_eq(err, SK_ERR_NONE);
}

Test(broker_sessions, replicas_are_striped_over_the_live_brokers_and_each_hosts_its_own)
{
    live_broker(cfg.node_id);
    live_broker(2);
    live_broker(3);
    struct sk_topic_spec s = {.name = kp_str_c("rf3"), .partitions = 3, .replication_factor = 3};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    const struct sk_topic_meta *t = sk_meta_topic(b.image, "rf3", 3);
    int led_here = 0, leaders = 0;
    for (int32_t i = 0; i < 3; i++) {
        const struct sk_partition_meta *pm = &t->partitions[i];
        cr_assert_eq(pm->nreplicas, 3);
        cr_assert_eq(pm->nisr, 3, "every replica starts in sync");
        int seen = 0;
        for (int r = 0; r < 3; r++) {
            cr_assert_eq(pm->isr[r], pm->replicas[r]);
            seen |= 1 << pm->replicas[r];
        }
        cr_assert_eq(seen, (1 << cfg.node_id) | (1 << 2) | (1 << 3), "three distinct brokers");
        cr_assert_eq(pm->leader, pm->replicas[0], "the first replica leads");
        cr_assert_eq(pm->leader_epoch, 0);
        cr_assert_eq(pm->partition_epoch, 0);
        leaders |= 1 << pm->leader;
        struct sk_partition *p = hosted("rf3", i);
        cr_assert_not_null(p, "this node is a replica of every partition");
        cr_assert_eq(p->role, pm->leader == cfg.node_id ? SK_REPLICA_LEADER : SK_REPLICA_FOLLOWER);
        led_here += p->role == SK_REPLICA_LEADER;
    }
    cr_assert_eq(leaders, (1 << cfg.node_id) | (1 << 2) | (1 << 3), "leadership rotates");
    cr_assert_eq(led_here, 1);

    s.name = kp_str_c("rf4");
    s.replication_factor = 4;
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg),
                 SK_ERR_INVALID_REPLICATION_FACTOR);
    cr_assert_str_eq(msg, "Unable to replicate the partition 4 time(s): The target replication "
                          "factor of 4 cannot be reached because only 3 broker(s) are "
                          "registered.");
}

/* ---- AlterPartition (skein/alter_partition.h) ---------------------------- */

static kp_alter_partition_request_broker_state ap_states[4];
static kp_alter_partition_request_partition_data ap_part;
static kp_alter_partition_request_topic_data ap_topic;
static kp_alter_partition_response ap_resp;
static kp_arena ap_arena;

/* A leader's request for partition 0 of topic: isr with the epochs given
 * (v3), or ids only (earlier versions). */
static kp_alter_partition_request ap_request(int32_t sender, int64_t sender_epoch,
                                             const kp_uuid *topic, int32_t leader_epoch,
                                             int32_t partition_epoch, const int32_t *isr,
                                             const int64_t *epochs, int32_t n)
{
    kp_alter_partition_request r;
    kp_alter_partition_request_init(&r);
    r.broker_id = sender;
    r.broker_epoch = sender_epoch;
    kp_alter_partition_request_partition_data_init(&ap_part);
    ap_part.partition_index = 0;
    ap_part.leader_epoch = leader_epoch;
    ap_part.partition_epoch = partition_epoch;
    for (int32_t i = 0; i < n; i++) {
        kp_alter_partition_request_broker_state_init(&ap_states[i]);
        ap_states[i].broker_id = isr[i];
        ap_states[i].broker_epoch = epochs[i];
    }
    ap_part.new_isr_with_epochs = (kp_alter_partition_request_broker_state_arr){n, ap_states};
    ap_part.new_isr = (kp_arr_i32){n, (int32_t *)isr};
    kp_alter_partition_request_topic_data_init(&ap_topic);
    ap_topic.topic_id = *topic;
    ap_topic.topic_name = kp_str_c("ap");
    ap_topic.partitions = (kp_alter_partition_request_partition_data_arr){1, &ap_part};
    r.topics = (kp_alter_partition_request_topic_data_arr){1, &ap_topic};
    return r;
}

/* The answer's error for the one partition (the top-level error if set). */
static int16_t alter(const kp_alter_partition_request *r, int16_t version)
{
    kp_arena_free(&ap_arena);
    kp_arena_init(&ap_arena, 1 << 20);
    kp_alter_partition_response_init(&ap_resp);
    int16_t top = sk_ctl_alter_partition(&b, r, version, &ap_resp, &ap_arena, msg, sizeof msg);
    if (top)
        return top;
    cr_assert_eq(ap_resp.topics.n, 1);
    cr_assert_eq(ap_resp.topics.v[0].partitions.n, 1);
    return ap_resp.topics.v[0].partitions.v[0].error_code;
}

Test(broker_sessions, alter_partition_is_checked_as_kafkas_controller_checks_it)
{
    kp_arena_init(&ap_arena, 1 << 20);
    int64_t e[5] = {0};
    for (int32_t id = 2; id <= 4; id++)
        e[id] = live_broker(id);
    int32_t replicas[] = {2, 3, 4};
    struct sk_replica_assignment a = {0, {3, replicas}};
    struct sk_topic_spec s = {.name = kp_str_c("ap"), .partitions = -1,
                              .replication_factor = -1, .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    const kp_uuid id = sk_meta_topic(b.image, "ap", 2)->id;
    int32_t two_three[] = {2, 3}, three_four[] = {3, 4}, two_nine[] = {2, 9};
    int64_t ok_epochs[] = {e[2], e[3]}, any[] = {-1, -1};

    kp_alter_partition_request r = ap_request(2, e[2] + 100, &id, 0, 0, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_STALE_BROKER_EPOCH);
    cr_assert(strstr(msg, "Expected broker epoch"), "%s", msg);
    r = ap_request(2, e[2], &id, 1, 0, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_FENCED_LEADER_EPOCH);
    r = ap_request(3, e[3], &id, 0, 0, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "only the leader alters the ISR");
    r = ap_request(2, e[2], &id, 0, 5, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_UPDATE_VERSION);
    r = ap_request(2, e[2], &id, 0, 0, three_four, any, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "the leader must stay in the ISR");
    r = ap_request(2, e[2], &id, 0, 0, two_nine, any, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "9 is no replica");
    int64_t stale3[] = {e[2], e[3] - 1};
    r = ap_request(2, e[2], &id, 0, 0, two_three, stale3, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_INELIGIBLE_REPLICA, "KIP-903: another incarnation of 3");
    kp_uuid unknown = id;
    unknown.b[0] ^= 0xff;
    r = ap_request(2, e[2], &unknown, 0, 0, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_UNKNOWN_TOPIC_ID);
    ap_topic.topic_name = kp_str_c("nope");
    cr_assert_eq(alter(&r, 1), SK_ERR_UNKNOWN_TOPIC_OR_PARTITION, "by name up to v1");
    cr_assert_eq(partition0("ap")->partition_epoch, 0, "nothing refused was written");

    /* A shrink, committed: a new partition epoch, the leader epoch kept. */
    r = ap_request(2, e[2], &id, 0, 0, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_NONE, "%s", msg);
    const kp_alter_partition_response_partition_data *pd = &ap_resp.topics.v[0].partitions.v[0];
    cr_assert_eq(pd->leader_id, 2);
    cr_assert_eq(pd->leader_epoch, 0);
    cr_assert_eq(pd->partition_epoch, 1);
    cr_assert_eq(pd->isr.n, 2);
    const struct sk_partition_meta *pm = partition0("ap");
    cr_assert_eq(pm->nisr, 2);
    cr_assert_eq(pm->isr[0], 2);
    cr_assert_eq(pm->isr[1], 3);
    cr_assert_eq(pm->partition_epoch, 1);
    cr_assert_eq(pm->leader_epoch, 0);
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_UPDATE_VERSION, "the same request again is stale");

    /* A fenced broker may not come back in (KIP-841); v0 says so as
     * OPERATION_NOT_ATTEMPTED. */
    kp_broker_heartbeat_request h;
    kp_broker_heartbeat_request_init(&h);
    h.broker_id = 4;
    h.broker_epoch = e[4];
    h.current_metadata_offset = sk_metalog_end_offset(bnode.metalog);
    h.want_fence = true;
    struct sk_heartbeat_reply out;
    cr_assert_eq(sk_brokers_heartbeat(&b, &h, 1100, &out, msg, sizeof msg), SK_ERR_NONE, "%s",
                 msg);
    cr_assert(sk_meta_broker(b.image, 4)->fenced);
    int32_t all[] = {2, 3, 4};
    int64_t all_epochs[] = {e[2], e[3], e[4]};
    r = ap_request(2, e[2], &id, 0, 1, all, all_epochs, 3);
    cr_assert_eq(alter(&r, 3), SK_ERR_INELIGIBLE_REPLICA);
    cr_assert_eq(alter(&r, 0), SK_ERR_OPERATION_NOT_ATTEMPTED);

    /* The ISR it has already: answered as it is, nothing written. */
    r = ap_request(2, e[2], &id, 0, 1, two_three, ok_epochs, 2);
    cr_assert_eq(alter(&r, 3), SK_ERR_NONE);
    cr_assert_eq(ap_resp.topics.v[0].partitions.v[0].partition_epoch, 1);
    cr_assert_eq(partition0("ap")->partition_epoch, 1);
    kp_arena_free(&ap_arena);
}

/* ---- leader election (src/controller/elect.c) ---------------------------- */

static const struct sk_partition_meta *partition_of(const char *topic, int32_t id)
{
    const struct sk_topic_meta *t = sk_meta_topic(b.image, topic, strlen(topic));
    cr_assert_not_null(t);
    return &t->partitions[id];
}

static void assert_isr(const struct sk_partition_meta *pm, int n, const int32_t *want)
{
    cr_assert_eq(pm->nisr, n, "ISR of %d members, got %d", n, pm->nisr);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pm->isr[i], want[i], "ISR[%d]: %d expected, got %d", i, want[i], pm->isr[i]);
}

/* One partition on replicas (a, b, c), all live and in sync. */
static void three_replicas(const char *name, int32_t a, int32_t bb, int32_t c, const char *unclean)
{
    int32_t list[] = {a, bb, c};
    struct sk_replica_assignment as = {0, {3, list}};
    kp_str cn = kp_str_c("unclean.leader.election.enable"), cv = kp_str_c(unclean ? unclean : "");
    struct sk_topic_spec s = {.name = kp_str_c(name), .partitions = -1, .replication_factor = -1,
                              .assignments = &as, .nassignments = 1,
                              .config_names = &cn, .config_values = &cv, .nconfigs = unclean ? 1 : 0};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
}

static int64_t epochs[16];

static void fence_by_time(int32_t id, int64_t now)
{
    /* Everyone else heartbeats; id does not. */
    struct sk_heartbeat_reply out;
    for (int32_t o = 1; o < 16; o++)
        if (o != id && epochs[o] > 0 && !sk_meta_broker(b.image, o)->fenced)
            cr_assert_eq(beat(o, epochs[o], sk_metalog_end_offset(bnode.metalog), now - 1, &out),
                         SK_ERR_NONE, "%s", msg);
    cr_assert_eq(sk_brokers_expire(&b, now), 1);
    cr_assert(sk_meta_broker(b.image, id)->fenced);
}

Test(broker_sessions, a_fenced_leader_is_replaced_by_the_next_in_sync_replica)
{
    for (int32_t id = 2; id <= 4; id++)
        epochs[id] = live_broker(id);
    three_replicas("elect", 2, 3, 4, NULL);
    const struct sk_partition_meta *pm = partition_of("elect", 0);
    cr_assert_eq(pm->leader, 2);
    int32_t le = pm->leader_epoch, pe = pm->partition_epoch;

    fence_by_time(2, 1000 + SESSION_MS + 1);
    pm = partition_of("elect", 0);
    cr_assert_eq(pm->leader, 3, "the first in-sync replica in assignment order");
    cr_assert_eq(pm->leader_epoch, le + 1);
    cr_assert_eq(pm->partition_epoch, pe + 1);
    assert_isr(pm, 2, (int32_t[]){3, 4});

    /* A fenced follower leaves the ISR; the leader stays, with its epoch. */
    fence_by_time(4, 1000 + 2 * SESSION_MS + 2);
    pm = partition_of("elect", 0);
    cr_assert_eq(pm->leader, 3);
    cr_assert_eq(pm->leader_epoch, le + 1, "an ISR change alone keeps the leader epoch");
    assert_isr(pm, 1, (int32_t[]){3});

    /* The last in-sync replica stays in the ISR when it goes: no one else may lead. */
    fence_by_time(3, 1000 + 3 * SESSION_MS + 3);
    pm = partition_of("elect", 0);
    cr_assert_eq(pm->leader, -1);
    assert_isr(pm, 1, (int32_t[]){3});

    /* 2 comes back: not in the ISR, it may not lead (unclean election is off). */
    struct sk_heartbeat_reply out;
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(2, epochs[2], end, 1000 + 3 * SESSION_MS + 4, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_eq(partition_of("elect", 0)->leader, -1);
    /* 3, the last in-sync replica, comes back and leads again. */
    end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(3, epochs[3], end, 1000 + 3 * SESSION_MS + 5, &out), SK_ERR_NONE, "%s", msg);
    pm = partition_of("elect", 0);
    cr_assert_eq(pm->leader, 3);
    assert_isr(pm, 1, (int32_t[]){3});
}

Test(broker_sessions, unclean_election_lets_a_live_replica_outside_the_isr_lead_alone)
{
    for (int32_t id = 2; id <= 4; id++)
        epochs[id] = live_broker(id);
    three_replicas("unclean", 2, 3, 4, "true");
    fence_by_time(3, 1000 + SESSION_MS + 1);
    fence_by_time(4, 1000 + 2 * SESSION_MS + 2);
    assert_isr(partition_of("unclean", 0), 1, (int32_t[]){2});
    fence_by_time(2, 1000 + 3 * SESSION_MS + 3);
    cr_assert_eq(partition_of("unclean", 0)->leader, -1);

    /* 4 comes back first: out of the ISR, but the topic allows it. */
    struct sk_heartbeat_reply out;
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(4, epochs[4], end, 1000 + 3 * SESSION_MS + 4, &out), SK_ERR_NONE, "%s", msg);
    const struct sk_partition_meta *pm = partition_of("unclean", 0);
    cr_assert_eq(pm->leader, 4);
    assert_isr(pm, 1, (int32_t[]){4});
    cr_assert_eq(pm->leader_recovery_state, SK_LEADER_RECOVERING, "KIP-704");
}

/* KIP-704: the uncleanly elected leader marks its partition RECOVERED
 * through AlterPartition, alone in its ISR; ReplicationControlManager's
 * checks refuse a larger ISR while recovering and a way back. */
Test(broker_sessions, an_unclean_leader_marks_its_partition_recovered)
{
    kp_arena_init(&ap_arena, 1 << 20);
    for (int32_t id = 2; id <= 4; id++)
        epochs[id] = live_broker(id);
    three_replicas("unclean", 2, 3, 4, "true");
    fence_by_time(3, 1000 + SESSION_MS + 1);
    fence_by_time(4, 1000 + 2 * SESSION_MS + 2);
    fence_by_time(2, 1000 + 3 * SESSION_MS + 3);
    struct sk_heartbeat_reply out;
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(beat(4, epochs[4], end, 1000 + 3 * SESSION_MS + 4, &out), SK_ERR_NONE, "%s", msg);
    const struct sk_partition_meta *pm = partition_of("unclean", 0);
    cr_assert_eq(pm->leader, 4);
    cr_assert_eq(pm->leader_recovery_state, SK_LEADER_RECOVERING);
    const kp_uuid id = sk_meta_topic(b.image, "unclean", 7)->id;
    int32_t le = pm->leader_epoch, pe = pm->partition_epoch;
    int32_t four[] = {4}, four_three[] = {4, 3};
    int64_t e4[] = {epochs[4]}, any[] = {-1, -1};

    kp_alter_partition_request r = ap_request(4, epochs[4], &id, le, pe, four_three, any, 2);
    ap_part.leader_recovery_state = SK_LEADER_RECOVERING;
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "recovering with two in the ISR");
    r = ap_request(4, epochs[4], &id, le, pe, four, e4, 1);
    ap_part.leader_recovery_state = 2;
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "no such state");
    ap_part.leader_recovery_state = SK_LEADER_RECOVERING;
    cr_assert_eq(alter(&r, 3), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(ap_resp.topics.v[0].partitions.v[0].partition_epoch, pe, "nothing to write");
    cr_assert_eq(partition_of("unclean", 0)->leader_recovery_state, SK_LEADER_RECOVERING);

    ap_part.leader_recovery_state = SK_LEADER_RECOVERED;
    cr_assert_eq(alter(&r, 3), SK_ERR_NONE, "%s", msg);
    const kp_alter_partition_response_partition_data *pd = &ap_resp.topics.v[0].partitions.v[0];
    cr_assert_eq(pd->leader_recovery_state, SK_LEADER_RECOVERED);
    cr_assert_eq(pd->partition_epoch, pe + 1);
    cr_assert_eq(pd->isr.n, 1);
    pm = partition_of("unclean", 0);
    cr_assert_eq(pm->leader_recovery_state, SK_LEADER_RECOVERED);
    cr_assert_eq(pm->partition_epoch, pe + 1);
    cr_assert_eq(pm->leader_epoch, le, "the same leadership");
    assert_isr(pm, 1, (int32_t[]){4});

    r = ap_request(4, epochs[4], &id, le, pe + 1, four, e4, 1);
    ap_part.leader_recovery_state = SK_LEADER_RECOVERING;
    cr_assert_eq(alter(&r, 3), SK_ERR_INVALID_REQUEST, "RECOVERED never goes back");
    kp_arena_free(&ap_arena);
}

static int16_t shut_down_beat(int32_t id, int64_t now, struct sk_heartbeat_reply *out)
{
    kp_broker_heartbeat_request h;
    kp_broker_heartbeat_request_init(&h);
    h.broker_id = id;
    h.broker_epoch = epochs[id];
    h.current_metadata_offset = sk_metalog_end_offset(bnode.metalog);
    h.want_shut_down = true;
    return sk_brokers_heartbeat(&b, &h, now, out, msg, sizeof msg);
}

Test(broker_sessions, controlled_shutdown_moves_leadership_before_letting_the_broker_go)
{
    for (int32_t id = 2; id <= 4; id++)
        epochs[id] = live_broker(id);
    three_replicas("moves", 2, 3, 4, NULL);
    three_replicas("follows", 3, 2, 4, NULL);

    struct sk_heartbeat_reply out;
    cr_assert_eq(shut_down_beat(2, 1100, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.shut_down, "it led a partition: it must wait for the move");
    cr_assert_not(out.fenced);
    const struct sk_broker_meta *bm = sk_meta_broker(b.image, 2);
    cr_assert(bm->in_controlled_shutdown);
    cr_assert_not(bm->fenced);
    const struct sk_partition_meta *pm = partition_of("moves", 0);
    cr_assert_eq(pm->leader, 3);
    assert_isr(pm, 2, (int32_t[]){3, 4});
    assert_isr(partition_of("follows", 0), 2, (int32_t[]){3, 4});
    cr_assert_eq(partition_of("follows", 0)->leader, 3);

    /* It leads nothing now: the next heartbeat lets it go, fenced. */
    cr_assert_eq(shut_down_beat(2, 1200, &out), SK_ERR_NONE, "%s", msg);
    cr_assert(out.shut_down);
    cr_assert(out.fenced);
    cr_assert(sk_meta_broker(b.image, 2)->fenced);

    /* Back with a new registration, it is not elected while out of the ISR. */
    int64_t at = 1200 + SESSION_MS + 1;
    int64_t again = register_ok(2, 2, at);
    cr_assert_eq(beat(2, again, sk_metalog_end_offset(bnode.metalog), at, &out), SK_ERR_NONE,
                 "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_not(sk_meta_broker(b.image, 2)->in_controlled_shutdown);
    cr_assert_eq(partition_of("moves", 0)->leader, 3);
}

Test(broker_sessions, a_broker_in_controlled_shutdown_is_never_elected)
{
    for (int32_t id = 2; id <= 4; id++)
        epochs[id] = live_broker(id);
    three_replicas("twice", 2, 3, 4, NULL);
    struct sk_heartbeat_reply out;
    /* 3 shuts down (leading nothing, it goes at once, leaving the ISR). */
    cr_assert_eq(shut_down_beat(3, 1100, &out), SK_ERR_NONE, "%s", msg);
    cr_assert(out.shut_down);
    assert_isr(partition_of("twice", 0), 2, (int32_t[]){2, 4});
    /* 2 shuts down: 4 takes over, the only other in-sync replica. */
    cr_assert_eq(shut_down_beat(2, 1200, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.shut_down);
    const struct sk_partition_meta *pm = partition_of("twice", 0);
    cr_assert_eq(pm->leader, 4);
    assert_isr(pm, 1, (int32_t[]){4});
    /* 4 shuts down too: the last in-sync replica keeps its place, no leader. */
    cr_assert_eq(shut_down_beat(4, 1300, &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.shut_down);
    pm = partition_of("twice", 0);
    cr_assert_eq(pm->leader, -1);
    assert_isr(pm, 1, (int32_t[]){4});
    cr_assert_eq(shut_down_beat(4, 1400, &out), SK_ERR_NONE, "%s", msg);
    cr_assert(out.shut_down);
}

/* ---- ElectLeaders on the controller (src/controller/elect_leaders.c) ------ */

static int16_t elect(const char *topic, int8_t type)
{
    const struct sk_topic_meta *t = sk_meta_topic(b.image, topic, strlen(topic));
    cr_assert_not_null(t);
    return sk_ctl_elect_leader(&b, t, 0, type, msg, sizeof msg);
}

static void two_replicas(const char *name, int32_t first, int32_t second)
{
    int32_t list[] = {first, second};
    struct sk_replica_assignment as = {0, {2, list}};
    struct sk_topic_spec s = {.name = kp_str_c(name), .partitions = -1, .replication_factor = -1,
                              .assignments = &as, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
}

static void submitted(void *arg, int16_t err, const char *m)
{
    cr_assert_eq(err, SK_ERR_NONE, "%s", m ? m : "");
    *(bool *)arg = true;
}

/* What AlterPartition would commit when the leader takes a replica back. */
static void set_isr(const char *topic, int32_t a, int32_t bb)
{
    const struct sk_topic_meta *t = sk_meta_topic(b.image, topic, strlen(topic));
    kp_partition_change_record ch;
    kp_partition_change_record_init(&ch);
    ch.topic_id = t->id;
    ch.partition_id = 0;
    int32_t both[] = {a, bb};
    ch.isr = (kp_arr_i32){2, both};
    struct sk_meta_rec rec = {SK_META_PARTITION_CHANGE, 0, &ch};
    bool done = false;
    sk_ctl_submit(&b, &rec, 1, submitted, &done);
    cr_assert(done);
}

Test(broker_sessions, a_preferred_election_makes_the_first_replica_lead_once_it_is_in_sync)
{
    epochs[2] = live_broker(2);
    epochs[3] = live_broker(3);
    two_replicas("pref", 2, 3);
    cr_assert_eq(elect("pref", SK_ELECTION_PREFERRED), SK_ERR_ELECTION_NOT_NEEDED);
    cr_assert_eq(elect("pref", SK_ELECTION_UNCLEAN), SK_ERR_ELECTION_NOT_NEEDED);
    cr_assert_str_eq(msg, "Leader election not needed for topic partition.");

    fence_by_time(2, 1000 + SESSION_MS + 1);
    cr_assert_eq(partition_of("pref", 0)->leader, 3);
    struct sk_heartbeat_reply out;
    cr_assert_eq(beat(2, epochs[2], sk_metalog_end_offset(bnode.metalog), 1000 + SESSION_MS + 2,
                      &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    /* Live but out of the ISR: it may not lead. */
    cr_assert_eq(elect("pref", SK_ELECTION_PREFERRED), SK_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
    cr_assert_eq(partition_of("pref", 0)->leader, 3);

    /* Back in the ISR (as the leader's AlterPartition would put it). */
    set_isr("pref", 3, 2);
    int32_t both[] = {3, 2};
    int32_t epoch = partition_of("pref", 0)->leader_epoch;

    cr_assert_eq(elect("pref", SK_ELECTION_PREFERRED), SK_ERR_NONE, "%s", msg);
    const struct sk_partition_meta *pm = partition_of("pref", 0);
    cr_assert_eq(pm->leader, 2);
    cr_assert_eq(pm->leader_epoch, epoch + 1);
    assert_isr(pm, 2, both);
    cr_assert_eq(elect("pref", SK_ELECTION_PREFERRED), SK_ERR_ELECTION_NOT_NEEDED);
}

Test(broker_sessions, the_leader_balance_moves_leaders_back_to_in_sync_preferred_replicas)
{
    epochs[2] = live_broker(2);
    epochs[3] = live_broker(3);
    two_replicas("bal", 2, 3);
    two_replicas("lagging", 2, 3);
    fence_by_time(2, 1000 + SESSION_MS + 1);
    cr_assert_eq(partition_of("bal", 0)->leader, 3);
    cr_assert_eq(partition_of("lagging", 0)->leader, 3);
    struct sk_heartbeat_reply out;
    cr_assert_eq(beat(2, epochs[2], sk_metalog_end_offset(bnode.metalog), 1000 + SESSION_MS + 2,
                      &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_eq(sk_ctl_balance_leaders(&b, msg, sizeof msg), 0, "2 is in no ISR yet: %s", msg);

    set_isr("bal", 3, 2);
    int32_t epoch = partition_of("bal", 0)->leader_epoch;
    cr_assert_eq(sk_ctl_balance_leaders(&b, msg, sizeof msg), 1, "%s", msg);
    const struct sk_partition_meta *pm = partition_of("bal", 0);
    cr_assert_eq(pm->leader, 2, "the preferred replica leads again");
    cr_assert_eq(pm->leader_epoch, epoch + 1);
    assert_isr(pm, 2, (int32_t[]){3, 2});
    cr_assert_eq(partition_of("lagging", 0)->leader, 3, "out of the ISR: not moved");
    cr_assert_eq(sk_ctl_balance_leaders(&b, msg, sizeof msg), 0, "balanced");
}

Test(broker_sessions, an_unclean_election_gives_a_leaderless_partition_a_live_replica)
{
    epochs[2] = live_broker(2);
    epochs[3] = live_broker(3);
    two_replicas("dark", 2, 3);
    fence_by_time(3, 1000 + SESSION_MS + 1);
    fence_by_time(2, 1000 + 2 * SESSION_MS + 2);
    struct sk_heartbeat_reply out;
    cr_assert_eq(beat(3, epochs[3], sk_metalog_end_offset(bnode.metalog), 1000 + 2 * SESSION_MS + 3,
                      &out), SK_ERR_NONE, "%s", msg);
    cr_assert_not(out.fenced);
    cr_assert_eq(partition_of("dark", 0)->leader, -1, "3 is not in the ISR, unclean is off");

    cr_assert_eq(elect("dark", SK_ELECTION_PREFERRED), SK_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
    cr_assert_eq(elect("dark", SK_ELECTION_UNCLEAN), SK_ERR_NONE, "%s", msg);
    const struct sk_partition_meta *pm = partition_of("dark", 0);
    cr_assert_eq(pm->leader, 3);
    assert_isr(pm, 1, (int32_t[]){3});
    cr_assert_eq(elect("dark", SK_ELECTION_UNCLEAN), SK_ERR_ELECTION_NOT_NEEDED);
}

Test(broker_sessions, an_unclean_election_with_no_live_replica_is_refused)
{
    epochs[2] = live_broker(2);
    epochs[3] = live_broker(3);
    two_replicas("gone", 2, 3);
    fence_by_time(3, 1000 + SESSION_MS + 1);
    fence_by_time(2, 1000 + 2 * SESSION_MS + 2);
    cr_assert_eq(elect("gone", SK_ELECTION_UNCLEAN), SK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE);
    cr_assert_eq(partition_of("gone", 0)->leader, -1);
}

/* ---- Reassignment on the controller (src/controller/reassign.c) ------------ */

static void assert_list(const int32_t *got, int32_t ngot, int n, const int32_t *want,
                        const char *what)
{
    cr_assert_eq(ngot, n, "%s: %d members, got %d", what, n, ngot);
    for (int i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s[%d]: %d, got %d", what, i, want[i], got[i]);
}

static int16_t reassign(const char *topic, int32_t n, int32_t *target)
{
    const struct sk_topic_meta *t = sk_meta_topic(b.image, topic, strlen(topic));
    cr_assert_not_null(t);
    return sk_ctl_reassign(&b, t, 0, (kp_arr_i32){n, target}, msg, sizeof msg);
}

/* The leader's AlterPartition with the partition's current epochs. */
static int16_t leader_alters(const char *topic, const int64_t *e, int32_t n, const int32_t *isr)
{
    const struct sk_partition_meta *pm = partition0(topic);
    int64_t epochs[4] = {-1, -1, -1, -1};
    kp_alter_partition_request r =
        ap_request(pm->leader, e[pm->leader], &sk_meta_topic(b.image, topic, strlen(topic))->id,
                   pm->leader_epoch, pm->partition_epoch, isr, epochs, n);
    return alter(&r, 3);
}

Test(broker_sessions, a_reassignment_adds_the_targets_then_completes_when_they_are_in_sync)
{
    kp_arena_init(&ap_arena, 1 << 20);
    int64_t e[5] = {0};
    for (int32_t id = 2; id <= 4; id++)
        e[id] = live_broker(id);
    int32_t two[] = {2};
    struct sk_replica_assignment a = {0, {1, two}};
    struct sk_topic_spec s = {.name = kp_str_c("rs"), .partitions = -1, .replication_factor = -1,
                              .assignments = &a, .nassignments = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(reassign("rs", -1, NULL), SK_ERR_NO_REASSIGNMENT_IN_PROGRESS);
    int32_t bad[] = {3, 9};
    cr_assert_eq(reassign("rs", 2, bad), SK_ERR_INVALID_REPLICA_ASSIGNMENT);

    int32_t three_four[] = {3, 4};
    cr_assert_eq(reassign("rs", 2, three_four), SK_ERR_NONE, "%s", msg);
    const struct sk_partition_meta *pm = partition0("rs");
    int32_t moving[] = {3, 4, 2};
    assert_list(pm->replicas, pm->nreplicas, 3, moving, "replicas");
    assert_list(pm->adding, pm->nadding, 2, three_four, "adding");
    assert_list(pm->removing, pm->nremoving, 1, two, "removing");
    assert_list(pm->isr, pm->nisr, 1, two, "isr");
    cr_assert_eq(pm->leader, 2);

    int32_t two_three[] = {2, 3}, all[] = {2, 3, 4};
    cr_assert_eq(leader_alters("rs", e, 2, two_three), SK_ERR_NONE, "%s", msg);
    pm = partition0("rs");
    cr_assert_eq(pm->nadding, 2, "4 is not in sync yet");
    int32_t epoch = pm->leader_epoch;
    cr_assert_eq(leader_alters("rs", e, 3, all), SK_ERR_NONE, "%s", msg);
    const kp_alter_partition_response_partition_data *pd = &ap_resp.topics.v[0].partitions.v[0];
    cr_assert_eq(pd->leader_id, 3, "the answer names the new leader");
    pm = partition0("rs");
    assert_list(pm->replicas, pm->nreplicas, 2, three_four, "completed replicas");
    assert_list(pm->isr, pm->nisr, 2, three_four, "completed isr");
    cr_assert_eq(pm->nadding + pm->nremoving, 0);
    cr_assert_eq(pm->leader, 3, "2 was removed: the first target in sync leads");
    cr_assert_eq(pm->leader_epoch, epoch + 1);

    /* A pure removal completes at once; the leader stays. */
    int32_t three[] = {3};
    cr_assert_eq(reassign("rs", 1, three), SK_ERR_NONE, "%s", msg);
    pm = partition0("rs");
    assert_list(pm->replicas, pm->nreplicas, 1, three, "after the removal");
    assert_list(pm->isr, pm->nisr, 1, three, "isr after the removal");
    cr_assert_eq(pm->leader, 3);

    /* A cancel goes back to the replicas without the adding ones. */
    int32_t four[] = {4};
    cr_assert_eq(reassign("rs", 1, four), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(partition0("rs")->nadding, 1);
    cr_assert_eq(reassign("rs", -1, NULL), SK_ERR_NONE, "%s", msg);
    pm = partition0("rs");
    assert_list(pm->replicas, pm->nreplicas, 1, three, "reverted");
    assert_list(pm->isr, pm->nisr, 1, three, "reverted isr");
    cr_assert_eq(pm->nadding + pm->nremoving, 0);
    kp_arena_free(&ap_arena);
}

/* KIP-919: ControllerRegistration on the active controller, as
 * ClusterControlManager.registerController takes it. */
static int16_t register_controller(int32_t id, uint8_t incarnation, int16_t mv_max)
{
    kp_controller_registration_request r;
    kp_controller_registration_request_init(&r);
    r.controller_id = id;
    r.incarnation_id.b[0] = incarnation;
    kp_controller_registration_request_listener l;
    kp_controller_registration_request_listener_init(&l);
    l.name = kp_str_c("CONTROLLER");
    l.host = kp_str_c("127.0.0.1");
    l.port = 9093;
    r.listeners = (kp_controller_registration_request_listener_arr){1, &l};
    kp_controller_registration_request_feature f;
    kp_controller_registration_request_feature_init(&f);
    f.name = kp_str_c("metadata.version");
    f.min_supported_version = 1;
    f.max_supported_version = mv_max;
    r.features = (kp_controller_registration_request_feature_arr){1, &f};
    msg[0] = 0;
    return sk_controllers_register(&b, &r, msg, sizeof msg);
}

Test(broker_sessions, controllers_register_with_the_features_in_force)
{
    cr_assert_eq(register_controller(7, 1, 1), SK_ERR_UNSUPPORTED_VERSION,
                 "metadata.version 1 at most, below the finalized level");
    cr_assert(strstr(msg, "the controller does not support version"), "%s", msg);
    cr_assert_null(sk_meta_controller(b.image, 7));
    cr_assert_eq(register_controller(7, 1, 100), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(register_controller(7, 2, 100), SK_ERR_NONE, "a new incarnation: %s", msg);
    const struct sk_broker_meta *c = sk_meta_controller(b.image, 7);
    cr_assert_not_null(c);
    cr_assert_eq(c->incarnation.b[0], 2);
    cr_assert_eq(c->endpoints[0].port, 9093);
    cr_assert_null(sk_meta_broker(b.image, 7), "not a broker");
}
