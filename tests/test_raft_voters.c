/* KIP-853 in the Raft core: the leader's voter changes and their errors in
 * Kafka 3.9's order, and the voter set rebuilt at start-up from the log and
 * from a snapshot. Truncation reverting a set is checked after every event
 * of the dynamic-quorum simulation (test_raft_sim.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/raft.h"

static uint64_t lcg(void *ctx)
{
    uint64_t *s = ctx;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void voter(int32_t id, uint16_t port, struct sk_raft_voter *v)
{
    memset(v, 0, sizeof(*v));
    v->id = id;
    v->directory_id[0] = (uint8_t)id;
    v->max_kraft_version = 1;
    v->n_endpoints = 1;
    v->endpoints[0].name_len = (uint8_t)snprintf((char *)v->endpoints[0].name, 64, "CONTROLLER");
    v->endpoints[0].host_len = (uint8_t)snprintf((char *)v->endpoints[0].host, 64, "h%d", id);
    v->endpoints[0].port = port;
}

struct fix {
    struct sk_raft *r;
    struct sk_raft_memlog *log;
    struct sk_raft_memstore store;
    struct sk_raft_config cfg;
    uint64_t rng;
};

/* Node 1 alone, formatted --standalone: it elects itself at once. */
static void start(struct fix *f, int16_t kraft_version)
{
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.node_id = 1;
    f->cfg.voters[0] = 1;
    f->cfg.n_voters = 1;
    f->cfg.kraft_version = kraft_version;
    f->cfg.write_initial_voters = true;
    f->cfg.directory_id[0] = 1;
    f->cfg.initial_voters.n = 1;
    voter(1, 9093, &f->cfg.initial_voters.voters[0]);
    f->cfg.rand = lcg;
    f->cfg.rand_ctx = &f->rng;
    if (!f->log) {
        f->log = sk_raft_memlog_new();
        sk_raft_memlog_keep_voters(f->log);
        f->store.state = (struct sk_raft_qstate){0, SK_RAFT_NO_ID, SK_RAFT_NO_ID};
    }
    sk_raft_memlog_bind(f->log, &f->cfg);
    sk_raft_memstore_bind(&f->store, &f->cfg);
    f->r = sk_raft_new(&f->cfg, &f->store.state, 0);
    cr_assert(f->r);
}

static void stop(struct fix *f)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(f->r, &m))
        sk_raft_msg_release(&m);
    sk_raft_free(f->r);
    f->r = NULL;
}

/* The end of a test: the node stopped and its log gone. */
static void finish(struct fix *f)
{
    stop(f);
    sk_raft_memlog_free(f->log);
}

/* A fresh node, and in *v node 2: a replica it has never heard fetch. */
static void start_with_stranger(struct fix *f, int16_t kraft_version, struct sk_raft_voter *v)
{
    *f = (struct fix){0};
    start(f, kraft_version);
    voter(2, 9093, v);
}

Test(raft_voters, errors_in_kafkas_order)
{
    struct fix f = {0};
    start(&f, 1);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_LEADER);
    /* Its LeaderChange, then the bootstrap set written into the log as
     * Kafka's leader does (KRaftVersion and Voters: two offsets). */
    cr_assert_eq(sk_raft_high_watermark(f.r), 3);
    cr_assert_eq(sk_raft_voters_offset(f.r), 1);
    cr_assert_eq(sk_raft_memlog_at(f.log, 1)->kind, SK_RAFT_BATCH_VOTERS);
    cr_assert_eq(sk_raft_memlog_at(f.log, 1)->count, 2);
    struct sk_raft_voter v;
    int64_t off = -1;
    voter(1, 9093, &v);
    cr_assert_eq(sk_raft_add_voter(f.r, &v, 0, &off), SK_ERR_DUPLICATE_VOTER);
    uint8_t dir9[SK_RAFT_DIR_ID_LEN] = {9};
    cr_assert_eq(sk_raft_remove_voter(f.r, 9, dir9, 0, &off), SK_ERR_VOTER_NOT_FOUND);
    /* The last voter cannot go, as Kafka's VoterSet.removeVoter. */
    cr_assert_eq(sk_raft_remove_voter(f.r, 1, v.directory_id, 0, &off), SK_ERR_VOTER_NOT_FOUND);
    /* A replica the leader never heard fetch is not caught up. */
    voter(2, 9093, &v);
    cr_assert_eq(sk_raft_add_voter(f.r, &v, 0, &off), SK_RAFT_NOT_CAUGHT_UP);
    cr_assert_eq(sk_raft_update_voter(f.r, &v, 0, &off), SK_ERR_VOTER_NOT_FOUND);
    v.max_kraft_version = 0;
    cr_assert_eq(sk_raft_add_voter(f.r, &v, 0, &off), SK_ERR_INVALID_REQUEST);
    /* An update appends the new set; until it commits, no other change. */
    voter(1, 19093, &v);
    cr_assert_eq(sk_raft_update_voter(f.r, &v, 0, &off), SK_ERR_NONE);
    cr_assert_eq(off, 3);
    cr_assert_eq(sk_raft_voters_offset(f.r), 3);
    cr_assert_eq(sk_raft_voters(f.r)->voters[0].endpoints[0].port, 19093);
    cr_assert_eq(sk_raft_update_voter(f.r, &v, 0, &off), SK_ERR_REQUEST_TIMED_OUT);
    cr_assert_eq(sk_raft_tick(f.r, 1), SK_ERR_NONE); /* flushes: committed */
    cr_assert_eq(sk_raft_high_watermark(f.r), 4);
    cr_assert_eq(sk_raft_update_voter(f.r, &v, 1, &off), SK_ERR_NONE);
    struct sk_raft_quorum_view view;
    cr_assert_eq(sk_raft_describe(f.r, 1, &view), SK_ERR_NONE);
    cr_assert_eq(view.nodes.n, 1);
    cr_assert_eq(view.voters[0].directory_id[0], 1);
    finish(&f);
}

Test(raft_voters, static_quorum_refuses_changes)
{
    struct fix f;
    struct sk_raft_voter v;
    int64_t off;
    start_with_stranger(&f, 0, &v);
    cr_assert_eq(sk_raft_add_voter(f.r, &v, 0, &off), SK_ERR_UNSUPPORTED_VERSION);
    cr_assert_eq(sk_raft_remove_voter(f.r, 1, v.directory_id, 0, &off), SK_ERR_UNSUPPORTED_VERSION);
    finish(&f);
}

Test(raft_voters, off_the_leader)
{
    struct fix f;
    struct sk_raft_voter v;
    int64_t off;
    start_with_stranger(&f, 1, &v);
    cr_assert_eq(sk_raft_resign(f.r, 0), SK_ERR_NONE);
    cr_assert_eq(sk_raft_add_voter(f.r, &v, 0, &off), SK_ERR_NOT_LEADER_OR_FOLLOWER);
    finish(&f);
}

/* The set is the log's: a restart finds the update, and so does one whose
 * log was snapshotted past it. */
Test(raft_voters, restart_rebuilds_from_log_and_snapshot)
{
    struct fix f = {0};
    start(&f, 1);
    struct sk_raft_voter v;
    int64_t off;
    voter(1, 19093, &v);
    cr_assert_eq(sk_raft_update_voter(f.r, &v, 0, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, 1), SK_ERR_NONE);
    stop(&f);
    start(&f, 1);
    cr_assert_eq(sk_raft_voters_offset(f.r), 3);
    cr_assert_eq(sk_raft_voters(f.r)->voters[0].endpoints[0].port, 19093);
    int64_t end = sk_raft_high_watermark(f.r);
    stop(&f);
    cr_assert_eq(sk_raft_memlog_snapshot(f.log, end, (const uint8_t *)"S", 1), 0);
    size_t len;
    cr_assert_eq(*sk_raft_memlog_snapshot_data(f.log, &len), 'S');
    cr_assert_eq(len, 1);
    start(&f, 1);
    cr_assert_eq(sk_raft_voters_offset(f.r), end - 1);
    cr_assert_eq(sk_raft_voters(f.r)->voters[0].endpoints[0].port, 19093);
    finish(&f);
}
