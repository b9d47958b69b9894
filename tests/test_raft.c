/* The Raft core message by message: the answers Kafka gives to bad requests
 * (stale epoch, foreign cluster, unknown voter), the vote rule, truncation on
 * a DivergingEpoch, the high watermark rule and storage errors. The whole
 * protocol under faults is tests/test_raft_sim.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/raft.h"

struct fix {
    struct sk_raft *r;
    struct sk_raft_memlog *log;
    struct sk_raft_memstore store;
    uint64_t rng;
    int64_t now;
};

static uint64_t lcg(void *ctx)
{
    uint64_t *s = ctx;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static const struct sk_raft_cluster_id cluster = {.len = 5, .bytes = "abcde"};

static void fix_start(struct fix *f, int32_t self, int n_voters, struct sk_raft_qstate st)
{
    struct sk_raft_config cfg = {.node_id = self, .n_voters = n_voters, .cluster_id = cluster};
    for (int i = 0; i < n_voters; i++)
        cfg.voters[i] = i + 1;
    cfg.rand = lcg;
    cfg.rand_ctx = &f->rng;
    if (!f->log)
        f->log = sk_raft_memlog_new();
    sk_raft_memlog_bind(f->log, &cfg);
    f->store.state = st;
    sk_raft_memstore_bind(&f->store, &cfg);
    f->r = sk_raft_new(&cfg, &st, f->now);
    cr_assert(f->r);
}

static void fix_free(struct fix *f)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(f->r, &m))
        sk_raft_msg_release(&m);
    sk_raft_free(f->r);
    sk_raft_memlog_free(f->log);
}

static void log_batch(struct fix *f, int32_t epoch, const char *data)
{
    struct sk_raft_config cfg = {0};
    sk_raft_memlog_bind(f->log, &cfg);
    struct sk_raft_batch b = {.base_offset = cfg.log.end_offset(f->log), .epoch = epoch, .count = 1,
                              .data = (const uint8_t *)data, .len = strlen(data)};
    cr_assert_eq(cfg.log.append(f->log, &b), 0);
    cr_assert_eq(cfg.log.flush(f->log, 0), 0);
}

/* The one message the core queued; fails if there is not exactly one. */
static struct sk_raft_msg one_out(struct fix *f)
{
    struct sk_raft_msg m, extra;
    cr_assert(sk_raft_poll_out(f->r, &m), "nothing was sent");
    cr_assert_not(sk_raft_poll_out(f->r, &extra), "more than one message was sent");
    return m;
}

static void drain(struct fix *f)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(f->r, &m))
        sk_raft_msg_release(&m);
}

static struct sk_raft_msg vote_req(int32_t from, int32_t epoch, int32_t last_epoch, int64_t last_offset)
{
    return (struct sk_raft_msg){.type = SK_RAFT_VOTE_REQ, .src = from, .dst = 1, .corr = 7,
                                .cluster_id = cluster, .epoch = epoch, .leader_id = -1,
                                .u.vote = {.last_epoch = last_epoch, .last_offset = last_offset}};
}

static const struct sk_raft_qstate fresh = {0, SK_RAFT_NO_ID, SK_RAFT_NO_ID};

/* Node 1 of three, its log at epoch 3 with 3 entries. */
static void voter_with_log(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    f->log = sk_raft_memlog_new();
    log_batch(f, 1, "a");
    log_batch(f, 3, "b");
    log_batch(f, 3, "c");
    fix_start(f, 1, 3, (struct sk_raft_qstate){3, SK_RAFT_NO_ID, SK_RAFT_NO_ID});
}

static bool ask_vote(struct fix *f, struct sk_raft_msg req)
{
    cr_assert_eq(sk_raft_receive(f->r, &req, f->now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(f);
    cr_assert_eq(resp.type, SK_RAFT_VOTE_RESP);
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.corr, 7);
    return resp.u.vote_granted;
}

Test(raft, vote_refused_to_a_stale_log)
{
    struct fix f;
    voter_with_log(&f);
    cr_assert_not(ask_vote(&f, vote_req(2, 4, 2, 100)), "older last epoch, longer log");
    cr_assert_not(ask_vote(&f, vote_req(2, 5, 3, 2)), "same last epoch, shorter log");
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED);
    cr_assert_eq(sk_raft_epoch(f.r), 5, "a higher epoch is adopted even when the vote is refused");
    cr_assert(ask_vote(&f, vote_req(3, 5, 3, 3)), "as up to date");
    fix_free(&f);
}

Test(raft, one_vote_per_epoch_written_before_the_answer)
{
    struct fix f;
    voter_with_log(&f);
    cr_assert(ask_vote(&f, vote_req(2, 4, 3, 3)));
    cr_assert_eq(f.store.state.epoch, 4);
    cr_assert_eq(f.store.state.voted_id, 2);
    cr_assert_not(ask_vote(&f, vote_req(3, 4, 4, 10)), "a second candidate in the same epoch");
    cr_assert(ask_vote(&f, vote_req(2, 4, 3, 3)), "the same candidate asking again");
    sk_raft_free(f.r);
    /* A restart keeps the vote. */
    fix_start(&f, 1, 3, f.store.state);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_VOTED);
    cr_assert_not(ask_vote(&f, vote_req(3, 4, 4, 10)));
    fix_free(&f);
}

Test(raft, stale_epoch_is_fenced)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg req = vote_req(2, 2, 3, 3);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.error, SK_ERR_FENCED_LEADER_EPOCH);
    cr_assert_eq(resp.epoch, 3, "the answer names the current epoch");
    cr_assert_not(resp.u.vote_granted);
    struct sk_raft_msg begin = {.type = SK_RAFT_BEGIN_EPOCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                                .epoch = 1, .leader_id = 2};
    cr_assert_eq(sk_raft_receive(f.r, &begin, f.now), SK_ERR_NONE);
    resp = one_out(&f);
    cr_assert_eq(resp.error, SK_ERR_FENCED_LEADER_EPOCH);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED, "a stale leader is not followed");
    fix_free(&f);
}

Test(raft, cluster_id_mismatch)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg req = vote_req(2, 9, 9, 9);
    req.cluster_id = (struct sk_raft_cluster_id){.len = 5, .bytes = "abcdX"};
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.error, SK_ERR_INCONSISTENT_CLUSTER_ID);
    cr_assert_not(resp.u.vote_granted);
    cr_assert_eq(sk_raft_epoch(f.r), 3, "a foreign cluster's epoch is not adopted");
    req.cluster_id = (struct sk_raft_cluster_id){.len = 4, .bytes = "abcd"};
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    cr_assert_eq(one_out(&f).error, SK_ERR_INCONSISTENT_CLUSTER_ID, "a prefix is not the id");
    req.cluster_id = (struct sk_raft_cluster_id){.len = -1};
    cr_assert(ask_vote(&f, req), "a null cluster id (old versions) is not checked");
    fix_free(&f);
}

Test(raft, request_from_an_unknown_voter)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg req = vote_req(7, 9, 9, 9);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.error, SK_ERR_INCONSISTENT_VOTER_SET);
    cr_assert_eq(resp.dst, 7);
    struct sk_raft_msg begin = {.type = SK_RAFT_BEGIN_EPOCH_REQ, .src = 7, .dst = 1, .cluster_id = cluster,
                                .epoch = 9, .leader_id = 7};
    cr_assert_eq(sk_raft_receive(f.r, &begin, f.now), SK_ERR_NONE);
    cr_assert_eq(one_out(&f).error, SK_ERR_INCONSISTENT_VOTER_SET);
    cr_assert_eq(sk_raft_epoch(f.r), 3);
    cr_assert_eq(sk_raft_leader(f.r), SK_RAFT_NO_ID);
    fix_free(&f);
}

/* Node 1 follows leader 2 in epoch 4. */
static struct sk_raft_msg follow(struct fix *f, int32_t epoch)
{
    struct sk_raft_msg begin = {.type = SK_RAFT_BEGIN_EPOCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                                .epoch = epoch, .leader_id = 2};
    cr_assert_eq(sk_raft_receive(f->r, &begin, f->now), SK_ERR_NONE);
    cr_assert_eq(one_out(f).error, SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f->r), SK_RAFT_FOLLOWER);
    cr_assert_eq(f->store.state.leader_id, 2);
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    struct sk_raft_msg fetch = one_out(f);
    cr_assert_eq(fetch.type, SK_RAFT_FETCH_REQ);
    cr_assert_eq(fetch.dst, 2);
    return fetch;
}

Test(raft, diverging_epoch_truncates)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg fetch = follow(&f, 4);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 3);
    cr_assert_eq(fetch.u.fetch.last_fetched_epoch, 3);
    /* The leader had epoch 3 end at offset 2: our offset 2 diverges. */
    struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_RESP, .src = 2, .dst = 1, .corr = fetch.corr,
                               .cluster_id = cluster, .epoch = 4, .leader_id = 2,
                               .u.fetch_resp = {.high_watermark = 1, .diverging_epoch = 3,
                                                .diverging_end_offset = 2}};
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 2);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    fetch = one_out(&f);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 2);
    cr_assert_eq(fetch.u.fetch.last_fetched_epoch, 3);
    /* Then the leader's entry replaces ours, and the high watermark follows. */
    struct sk_raft_batch b = {.base_offset = 2, .epoch = 4, .count = 1, .data = (const uint8_t *)"L", .len = 1};
    resp.corr = fetch.corr;
    resp.u.fetch_resp = (struct sk_raft_fetch_resp){.high_watermark = 3, .diverging_epoch = -1,
                                                    .diverging_end_offset = -1, .batches = &b, .n_batches = 1};
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 3);
    cr_assert_eq(sk_raft_memlog_at(f.log, 2)->epoch, 4);
    cr_assert_eq(sk_raft_high_watermark(f.r), 3);
    /* A duplicate of an answer already taken is ignored. */
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 3);
    fix_free(&f);
}

Test(raft, no_truncation_below_the_high_watermark)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg fetch = follow(&f, 4);
    struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_RESP, .src = 2, .dst = 1, .corr = fetch.corr,
                               .cluster_id = cluster, .epoch = 4, .leader_id = 2,
                               .u.fetch_resp = {.high_watermark = 3, .diverging_epoch = -1,
                                                .diverging_end_offset = -1}};
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 3);
    f.now += 100;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    fetch = one_out(&f);
    resp.corr = fetch.corr;
    resp.u.fetch_resp.diverging_epoch = 1;
    resp.u.fetch_resp.diverging_end_offset = 1;
    cr_assert_neq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 3, "committed entries stay");
    fix_free(&f);
}

/* Node 1 of three wins epoch 1 with node 2's vote. */
/* Node 1 stands at its first election timeout and node 2 grants it. */
static void win_election(struct fix *f, int32_t epoch)
{
    f->now = 2000;
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f->r), SK_RAFT_CANDIDATE);
    cr_assert_eq(f->store.state.voted_id, 1, "the self-vote is written before the requests leave");
    struct sk_raft_msg m;
    uint32_t corr = 0;
    while (sk_raft_poll_out(f->r, &m)) {
        cr_assert_eq(m.type, SK_RAFT_VOTE_REQ);
        if (m.dst == 2)
            corr = m.corr;
    }
    struct sk_raft_msg grant = {.type = SK_RAFT_VOTE_RESP, .src = 2, .dst = 1, .corr = corr,
                                .cluster_id = cluster, .epoch = epoch, .leader_id = -1,
                                .u.vote_granted = true};
    cr_assert_eq(sk_raft_receive(f->r, &grant, f->now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f->r), SK_RAFT_LEADER);
    cr_assert_eq(sk_raft_epoch(f->r), epoch);
    drain(f);
}

static void elect(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    fix_start(f, 1, 3, fresh);
    win_election(f, 1);
    cr_assert_eq(sk_raft_memlog_count(f->log), 1, "the epoch opens with a LeaderChange batch");
    cr_assert_eq(sk_raft_memlog_at(f->log, 0)->kind, SK_RAFT_BATCH_LEADER_CHANGE);
}

static struct sk_raft_msg fetch_from(int32_t from, int32_t epoch, int64_t offset, int32_t last_epoch)
{
    return (struct sk_raft_msg){.type = SK_RAFT_FETCH_REQ, .src = from, .dst = 1, .corr = 9,
                                .cluster_id = cluster, .epoch = epoch, .leader_id = 1,
                                .u.fetch = {.fetch_offset = offset, .last_fetched_epoch = last_epoch}};
}

static struct sk_raft_msg answer(struct fix *f, struct sk_raft_msg req)
{
    cr_assert_eq(sk_raft_receive(f->r, &req, f->now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(f);
    cr_assert_eq(resp.type, SK_RAFT_FETCH_RESP);
    return resp;
}

Test(raft, fetch_errors_on_the_leader)
{
    struct fix f;
    elect(&f);
    struct sk_raft_msg resp = answer(&f, fetch_from(2, 0, 0, 0));
    cr_assert_eq(resp.error, SK_ERR_FENCED_LEADER_EPOCH);
    cr_assert_eq(resp.epoch, 1);
    cr_assert_eq(resp.leader_id, 1);
    cr_assert_eq(answer(&f, fetch_from(2, 2, 0, 0)).error, SK_ERR_UNKNOWN_LEADER_EPOCH);
    struct sk_raft_msg bad = fetch_from(2, 1, 0, 0);
    bad.cluster_id.bytes[0] = 'z';
    cr_assert_eq(answer(&f, bad).error, SK_ERR_INCONSISTENT_CLUSTER_ID);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(off, 1);
    fix_free(&f);
}

Test(raft, fetch_on_a_follower_is_refused)
{
    struct fix f;
    voter_with_log(&f);
    follow(&f, 4);
    struct sk_raft_msg req = fetch_from(3, 4, 0, 0);
    cr_assert_eq(answer(&f, req).error, SK_ERR_NOT_LEADER_OR_FOLLOWER);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off),
                 SK_ERR_NOT_LEADER_OR_FOLLOWER);
    fix_free(&f);
}

Test(raft, high_watermark_needs_a_majority_and_the_leaders_epoch)
{
    struct fix f;
    elect(&f);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    cr_assert_eq(sk_raft_high_watermark(f.r), -1, "the leader alone is no majority");
    /* Node 2 has only the LeaderChange batch: offset 1 is not yet on two. */
    struct sk_raft_msg resp = answer(&f, fetch_from(2, 1, 1, 1));
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1);
    cr_assert_eq(resp.u.fetch_resp.batches[0].base_offset, 1);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1);
    sk_raft_msg_release(&resp);
    resp = answer(&f, fetch_from(3, 1, 2, 1));
    cr_assert_eq(sk_raft_high_watermark(f.r), 2);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 2);
    /* A diverging fetch says where to truncate and acknowledges nothing. */
    resp = answer(&f, fetch_from(2, 1, 5, 1));
    cr_assert_eq(resp.u.fetch_resp.diverging_epoch, 1);
    cr_assert_eq(resp.u.fetch_resp.diverging_end_offset, 2);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);
    fix_free(&f);
}

/* A node that led epoch 1 alone (its LeaderChange on no other log) follows
 * the leader of epoch 2, whose log holds no epoch at or below 1. */
Test(raft, a_fetcher_whose_epoch_the_leader_never_had_is_told_to_truncate)
{
    struct fix leader;
    memset(&leader, 0, sizeof(leader));
    leader.log = sk_raft_memlog_new();
    log_batch(&leader, 2, "lc");
    log_batch(&leader, 2, "x");
    fix_start(&leader, 1, 3, (struct sk_raft_qstate){2, SK_RAFT_NO_ID, SK_RAFT_NO_ID});
    win_election(&leader, 3);

    struct sk_raft_msg resp = answer(&leader, fetch_from(2, 3, 1, 1));
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.diverging_epoch, 1,
                 "the fetcher's own epoch: -1 on the wire would mean no divergence");
    cr_assert_eq(resp.u.fetch_resp.diverging_end_offset, 0);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);

    /* The fetcher truncates its epoch-1 batch and fetches from 0. */
    struct fix f;
    memset(&f, 0, sizeof(f));
    f.log = sk_raft_memlog_new();
    log_batch(&f, 1, "mine");
    fix_start(&f, 2, 3, (struct sk_raft_qstate){3, 1, SK_RAFT_NO_ID});
    struct sk_raft_msg m;
    uint32_t corr = 0;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    while (sk_raft_poll_out(f.r, &m)) {
        if (m.type == SK_RAFT_FETCH_REQ) {
            corr = m.corr;
            cr_assert_eq(m.u.fetch.fetch_offset, 1);
            cr_assert_eq(m.u.fetch.last_fetched_epoch, 1);
        }
        sk_raft_msg_release(&m);
    }
    cr_assert_neq(corr, 0, "the follower fetched");
    resp.src = 1;
    resp.dst = 2;
    resp.corr = corr;
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 0, "its epoch-1 batch is gone");
    sk_raft_msg_release(&resp);
    fix_free(&f);
    fix_free(&leader);
}

Test(raft, old_epoch_entries_commit_only_under_the_leaders_own)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    f.log = sk_raft_memlog_new();
    log_batch(&f, 1, "old");
    /* elect()'s steps on this log: epoch 2, LeaderChange at offset 1. */
    fix_start(&f, 1, 3, (struct sk_raft_qstate){1, SK_RAFT_NO_ID, SK_RAFT_NO_ID});
    f.now = 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg m;
    uint32_t corr = 0;
    while (sk_raft_poll_out(f.r, &m))
        if (m.dst == 2)
            corr = m.corr;
    struct sk_raft_msg grant = {.type = SK_RAFT_VOTE_RESP, .src = 2, .dst = 1, .corr = corr,
                                .cluster_id = cluster, .epoch = 2, .leader_id = -1, .u.vote_granted = true};
    cr_assert_eq(sk_raft_receive(f.r, &grant, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_LEADER);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    /* Node 2 holds the old entry: a majority has offset 0, not the epoch's start. */
    struct sk_raft_msg resp = answer(&f, fetch_from(2, 2, 1, 1));
    sk_raft_msg_release(&resp);
    cr_assert_eq(sk_raft_high_watermark(f.r), -1);
    resp = answer(&f, fetch_from(2, 2, 2, 2));
    cr_assert_eq(sk_raft_high_watermark(f.r), 2);
    fix_free(&f);
}

Test(raft, single_voter_commits_alone)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    fix_start(&f, 1, 1, fresh);
    /* As Kafka's raft client: a sole voter does not wait out an election
     * timeout, and its LeaderChange is committed once flushed. */
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_LEADER, "elected at start");
    cr_assert_eq(sk_raft_epoch(f.r), 1);
    cr_assert_eq(sk_raft_high_watermark(f.r), 1, "the LeaderChange is committed");
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 1, "nothing counts before the flush");
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 2);
    fix_free(&f);
}

Test(raft, storage_errors_are_returned)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    fix_start(&f, 1, 3, fresh);
    f.store.fail_next = 1;
    f.now = 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_KAFKA_STORAGE_ERROR);
    struct sk_raft_msg m;
    cr_assert_not(sk_raft_poll_out(f.r, &m), "no vote request without the written vote");
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_KAFKA_STORAGE_ERROR, "the core stays stopped");
    fix_free(&f);

    memset(&f, 0, sizeof(f));
    f.log = sk_raft_memlog_new();
    sk_raft_memlog_fail_next(f.log, 1);
    fix_start(&f, 1, 1, fresh); /* a sole voter appends its LeaderChange at once */
    f.now = 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_KAFKA_STORAGE_ERROR, "the LeaderChange append");
    fix_free(&f);
}

Test(raft, resign_names_the_most_caught_up_first)
{
    struct fix f;
    elect(&f);
    struct sk_raft_msg resp = answer(&f, fetch_from(3, 1, 1, 1));
    sk_raft_msg_release(&resp);
    cr_assert_eq(sk_raft_resign(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_RESIGNED);
    struct sk_raft_msg m;
    int n = 0;
    while (sk_raft_poll_out(f.r, &m)) {
        cr_assert_eq(m.type, SK_RAFT_END_EPOCH_REQ);
        cr_assert_eq(m.u.end.n_preferred, 2);
        cr_assert_eq(m.u.end.preferred[0], 3);
        cr_assert_eq(m.u.end.preferred[1], 2);
        n++;
    }
    cr_assert_eq(n, 2);
    fix_free(&f);
}

Test(raft, end_quorum_epoch_hastens_the_first_successor)
{
    struct fix f;
    voter_with_log(&f);
    follow(&f, 4);
    struct sk_raft_msg end = {.type = SK_RAFT_END_EPOCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                              .epoch = 4, .leader_id = 2,
                              .u.end = {.preferred = {1, 3}, .n_preferred = 2}};
    cr_assert_eq(sk_raft_receive(f.r, &end, f.now), SK_ERR_NONE);
    cr_assert_eq(one_out(&f).error, SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_CANDIDATE);
    cr_assert_eq(sk_raft_epoch(f.r), 5);
    fix_free(&f);
}

Test(raft, restarted_leader_comes_back_resigned)
{
    struct fix f;
    elect(&f);
    struct sk_raft_qstate st = f.store.state;
    sk_raft_free(f.r);
    fix_start(&f, 1, 3, st);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_RESIGNED);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off),
                 SK_ERR_NOT_LEADER_OR_FOLLOWER);
    fix_free(&f);
}

Test(raft, describe_quorum_on_the_leader_only)
{
    struct fix f;
    elect(&f);
    f.now += 10;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE); /* flushes the LeaderChange batch */
    drain(&f);
    struct sk_raft_msg resp = answer(&f, fetch_from(2, 1, 1, 1));
    sk_raft_msg_release(&resp);
    struct sk_raft_quorum_view v;
    cr_assert_eq(sk_raft_describe(f.r, f.now + 5, &v), SK_ERR_NONE);
    cr_assert_eq(v.leader_id, 1);
    cr_assert_eq(v.epoch, 1);
    cr_assert_eq(v.high_watermark, 1);
    cr_assert_eq(v.n_voters, 3);
    cr_assert_eq(v.voters[0].log_end_offset, 1);
    cr_assert_eq(v.voters[1].log_end_offset, 1);
    cr_assert_eq(v.voters[1].last_fetch_ms, 2010);
    cr_assert_eq(v.voters[1].last_caught_up_ms, 2010);
    cr_assert_eq(v.voters[2].log_end_offset, -1);
    cr_assert_eq(v.voters[2].last_fetch_ms, -1);
    fix_free(&f);

    voter_with_log(&f);
    cr_assert_eq(sk_raft_describe(f.r, f.now, &v), SK_ERR_NOT_LEADER_OR_FOLLOWER);
    fix_free(&f);
}

Test(raft, restart_follows_only_a_voter)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    fix_start(&f, 1, 3, (struct sk_raft_qstate){4, 2, SK_RAFT_NO_ID});
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_FOLLOWER);
    cr_assert_eq(sk_raft_leader(f.r), 2);
    sk_raft_free(f.r);
    fix_start(&f, 1, 3, (struct sk_raft_qstate){4, 8, 3});
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_VOTED, "a leader outside the voters is not fetched from");
    fix_free(&f);
}

Test(raft, follower_fetches_again_only_once_durable)
{
    struct fix f;
    voter_with_log(&f);
    sk_raft_memlog_set_async(f.log, true);
    struct sk_raft_msg fetch = follow(&f, 4);
    struct sk_raft_batch b = {.base_offset = 3, .epoch = 4, .count = 1, .data = (const uint8_t *)"L", .len = 1};
    struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_RESP, .src = 2, .dst = 1, .corr = fetch.corr,
                               .cluster_id = cluster, .epoch = 4, .leader_id = 2,
                               .u.fetch_resp = {.high_watermark = 4, .diverging_epoch = -1,
                                                .diverging_end_offset = -1, .batches = &b, .n_batches = 1}};
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 3, "offset 3 is not durable here yet");
    f.now += 100;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg m;
    cr_assert_not(sk_raft_poll_out(f.r, &m), "a fetch at 4 would acknowledge an unflushed offset");
    cr_assert_gt(sk_raft_next_deadline(f.r), f.now, "nothing to tick for until the flush completes");
    uint64_t token;
    int64_t end;
    cr_assert(sk_raft_memlog_complete_flush(f.log, &token, &end));
    cr_assert_eq(end, 4);
    cr_assert_eq(sk_raft_flushed(f.r, token, end), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 4);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    fetch = one_out(&f);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 4);
    fix_free(&f);
}

Test(raft, leader_counts_its_own_tail_once_flushed)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    f.log = sk_raft_memlog_new();
    sk_raft_memlog_set_async(f.log, true);
    fix_start(&f, 1, 1, fresh);
    f.now = 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_LEADER);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), -1);
    uint64_t token;
    int64_t end;
    cr_assert(sk_raft_memlog_complete_flush(f.log, &token, &end));
    cr_assert_eq(end, 1, "the LeaderChange batch alone; the append waits for the next flush");
    cr_assert_eq(sk_raft_flushed(f.r, token, end), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 1);
    cr_assert(sk_raft_memlog_complete_flush(f.log, &token, &end), "started on the completion");
    cr_assert_eq(sk_raft_flushed(f.r, token, end), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 2);
    fix_free(&f);
}

/* A leader that appended and lost its epoch before its next tick flushed:
 * the append is still flushed, or the new follower, which fetches only once
 * its log is durable, would never fetch and would stand for election every
 * fetch timeout (seen after a SIGSTOP of an active controller). */
Test(raft, appends_made_just_before_losing_the_lead_are_flushed)
{
    struct fix f;
    elect(&f);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(off, 1);
    cr_assert_eq(sk_raft_next_deadline(f.r), INT64_MIN, "the append wants its flush");
    struct sk_raft_msg fetch = follow(&f, 2);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 2);
    cr_assert_eq(fetch.u.fetch.last_fetched_epoch, 1);
    fix_free(&f);
}

Test(raft, a_hopeless_candidate_does_not_hold_off_elections)
{
    struct fix f;
    voter_with_log(&f);
    int64_t due = sk_raft_next_deadline(f.r);
    /* Node 2, whose log is behind, asks again and again in new epochs. */
    for (int32_t epoch = 4; f.now + 50 < due; epoch++) {
        f.now += 50;
        cr_assert_not(ask_vote(&f, vote_req(2, epoch, 1, 1)));
        cr_assert_eq(sk_raft_next_deadline(f.r), due, "the election deadline stays");
    }
    f.now = due;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_CANDIDATE);
    fix_free(&f);
}

/* ---- The leader's long poll (Kafka's fetch purgatory) ------------------- */

static struct sk_raft_msg long_fetch(int32_t from, uint32_t corr, int64_t offset, int32_t last_epoch)
{
    struct sk_raft_msg m = fetch_from(from, 1, offset, last_epoch);
    m.corr = corr;
    m.u.fetch.max_wait_ms = 500;
    return m;
}

static void nothing_out(struct fix *f, const char *why)
{
    struct sk_raft_msg m;
    bool sent = sk_raft_poll_out(f->r, &m);
    if (sent)
        sk_raft_msg_release(&m);
    cr_assert_not(sent, "%s", why);
}

/* elect(), the LeaderChange flushed, node 2 caught up to it: its first
 * fetch moved the high watermark to 1 and was answered at once. */
static void leader_with_caught_up_voter(struct fix *f)
{
    elect(f);
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    drain(f);
    struct sk_raft_msg resp = answer(f, long_fetch(2, 20, 1, 1));
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1, "a fetch that commits is not held");
    sk_raft_msg_release(&resp);
}

Test(raft, leader_holds_an_empty_fetch_until_a_batch_arrives)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    struct sk_raft_msg req = long_fetch(2, 21, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    nothing_out(&f, "a fetch with nothing to read waits at the leader");
    cr_assert_leq(sk_raft_next_deadline(f.r), f.now + 500, "its wait is a deadline");
    f.now += 10;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    nothing_out(&f, "still waiting");
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.type, SK_RAFT_FETCH_RESP);
    cr_assert_eq(resp.corr, 21);
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1, "the new batch, at once");
    cr_assert_eq(resp.u.fetch_resp.batches[0].base_offset, 1);
    sk_raft_msg_release(&resp);
    fix_free(&f);
}

/* Node 3 had the LeaderChange before node 2's fetch committed it: its own
 * empty fetch moves nothing, but it was never told high watermark 1, so it
 * is answered at once rather than after its whole wait. */
Test(raft, a_voter_outside_the_commit_learns_it_at_once)
{
    struct fix f;
    elect(&f);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    struct sk_raft_msg resp = answer(&f, long_fetch(3, 40, 0, 0));
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, -1);
    sk_raft_msg_release(&resp);
    resp = answer(&f, long_fetch(2, 41, 1, 1));
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1);
    sk_raft_msg_release(&resp);
    resp = answer(&f, long_fetch(3, 42, 1, 1));
    cr_assert_eq(resp.corr, 42);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1, "learnt without waiting");
    sk_raft_msg_release(&resp);
    struct sk_raft_msg req = long_fetch(3, 43, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    nothing_out(&f, "told, it waits for something new");
    fix_free(&f);
}

Test(raft, held_fetch_is_answered_empty_when_its_wait_is_over)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    struct sk_raft_msg req = long_fetch(2, 22, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    f.now += 499;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    nothing_out(&f, "MaxWaitMs is not over");
    f.now += 1;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.corr, 22);
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1);
    fix_free(&f);
}

Test(raft, held_fetch_learns_the_commit)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    sk_raft_memlog_set_async(f.log, true);
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    struct sk_raft_msg resp = answer(&f, long_fetch(2, 23, 1, 1));
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1);
    sk_raft_msg_release(&resp);
    /* Node 2 has offset 1; the leader has not flushed it: no majority yet. */
    struct sk_raft_msg req = long_fetch(2, 24, 2, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    nothing_out(&f, "nothing new to read, nothing committed");
    cr_assert_eq(sk_raft_high_watermark(f.r), 1);
    uint64_t token;
    int64_t end;
    cr_assert(sk_raft_memlog_complete_flush(f.log, &token, &end));
    cr_assert_eq(sk_raft_flushed(f.r, token, end), SK_ERR_NONE);
    cr_assert_eq(sk_raft_high_watermark(f.r), 2);
    resp = one_out(&f);
    cr_assert_eq(resp.corr, 24, "the held fetch carries the new high watermark");
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 2);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);
    fix_free(&f);
}

Test(raft, held_fetch_is_answered_when_the_leader_steps_down)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    struct sk_raft_msg req = long_fetch(2, 25, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    nothing_out(&f, "held");
    struct sk_raft_msg vote = vote_req(3, 2, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &vote, f.now), SK_ERR_NONE);
    cr_assert_neq(sk_raft_role(f.r), SK_RAFT_LEADER);
    struct sk_raft_msg m;
    bool answered = false;
    while (sk_raft_poll_out(f.r, &m)) {
        if (m.type == SK_RAFT_FETCH_RESP) {
            cr_assert_eq(m.corr, 25);
            cr_assert_eq(m.error, SK_ERR_FENCED_LEADER_EPOCH, "got %d", m.error);
            cr_assert_eq(m.epoch, 2, "the answer names the new epoch");
            answered = true;
        }
        sk_raft_msg_release(&m);
    }
    cr_assert(answered, "a fetch held by a former leader is answered, not left to time out");
    fix_free(&f);
}

Test(raft, newer_fetch_replaces_the_held_one)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    struct sk_raft_msg first = long_fetch(2, 26, 1, 1), second = long_fetch(2, 27, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &first, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_receive(f.r, &second, f.now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.corr, 26, "the replaced fetch is answered as it stands");
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    resp = one_out(&f);
    cr_assert_eq(resp.corr, 27);
    sk_raft_msg_release(&resp);
    fix_free(&f);
}

Test(raft, follower_fetches_again_at_once_after_an_empty_answer)
{
    struct fix f;
    voter_with_log(&f);
    struct sk_raft_msg fetch = follow(&f, 4);
    cr_assert_eq(fetch.u.fetch.max_wait_ms, 500, "Kafka's fetch.max.wait for the leader to hold it");
    struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_RESP, .src = 2, .dst = 1, .corr = fetch.corr,
                               .cluster_id = cluster, .epoch = 4, .leader_id = 2,
                               .u.fetch_resp = {.high_watermark = 3, .diverging_epoch = -1,
                                                .diverging_end_offset = -1}};
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    fetch = one_out(&f);
    cr_assert_eq(fetch.type, SK_RAFT_FETCH_REQ, "the leader waited already: no idle wait here");
    cr_assert_eq(fetch.u.fetch.fetch_offset, 3);
    fix_free(&f);
}

Test(raft, held_fetches_are_released_for_a_stop)
{
    struct fix f;
    leader_with_caught_up_voter(&f);
    struct sk_raft_msg req = long_fetch(2, 28, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &req, f.now), SK_ERR_NONE);
    nothing_out(&f, "held");
    cr_assert_eq(sk_raft_release_fetches(f.r), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(&f);
    cr_assert_eq(resp.corr, 28, "answered before its wait is over");
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_LEADER, "still the leader until it resigns");
    fix_free(&f);
}

/* ---- Observers (nodes outside the voter set, such as brokers) ----------- */

/* Node 4, outside voters 1-3: an observer. */
static void observer(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    fix_start(f, 4, 3, fresh);
    cr_assert(sk_raft_is_observer(f->r));
}

/* The observer's one outstanding fetch, checked and taken. */
static struct sk_raft_msg observer_fetch(struct fix *f, int32_t to)
{
    struct sk_raft_msg m = one_out(f);
    cr_assert_eq(m.type, SK_RAFT_FETCH_REQ);
    cr_assert_eq(m.dst, to);
    cr_assert_eq(m.src, 4, "an observer fetches with its own replica id");
    return m;
}

static struct sk_raft_msg fetch_answer(const struct sk_raft_msg *req, int16_t err, int32_t epoch,
                                       int32_t leader)
{
    return (struct sk_raft_msg){.type = SK_RAFT_FETCH_RESP, .src = req->dst, .dst = 4,
                                .corr = req->corr, .cluster_id = cluster, .error = err,
                                .epoch = epoch, .leader_id = leader,
                                .u.fetch_resp = {.high_watermark = -1, .diverging_epoch = -1,
                                                 .diverging_end_offset = -1}};
}

Test(raft, observer_never_stands_and_asks_the_voters_in_turn)
{
    struct fix f;
    observer(&f);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = observer_fetch(&f, 1);
    /* Voter 1 does not answer: after the request timeout, voter 2. */
    f.now += 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 2);
    /* Voter 2 knows no leader either: after the retry backoff, voter 3. */
    struct sk_raft_msg resp = fetch_answer(&req, SK_ERR_NOT_LEADER_OR_FOLLOWER, 0, -1);
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    nothing_out(&f, "the next voter is asked after a backoff");
    f.now += 20;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 3);
    /* However long there is no leader, no election. */
    for (int i = 0; i < 50; i++) {
        f.now += 1000;
        cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
        drain(&f);
        cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED);
        cr_assert_eq(sk_raft_epoch(f.r), 0, "an observer never bumps the epoch");
    }
    cr_assert_eq(f.store.state.voted_id, SK_RAFT_NO_ID);
    /* A candidate's request: the epoch is learned, the vote not granted. */
    struct sk_raft_msg vote = vote_req(2, 3, 9, 99);
    vote.dst = 4;
    cr_assert_eq(sk_raft_receive(f.r, &vote, f.now), SK_ERR_NONE);
    resp = one_out(&f);
    cr_assert_eq(resp.type, SK_RAFT_VOTE_RESP);
    cr_assert_not(resp.u.vote_granted, "an observer has no vote");
    cr_assert_eq(sk_raft_epoch(f.r), 3);
    cr_assert_eq(f.store.state.voted_id, SK_RAFT_NO_ID);
    fix_free(&f);
}

Test(raft, observer_follows_the_leader_a_voter_names)
{
    struct fix f;
    observer(&f);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = observer_fetch(&f, 1);
    /* Voter 1 follows 2 in epoch 5: our epoch 0 is fenced, the hint names 2. */
    struct sk_raft_msg resp = fetch_answer(&req, SK_ERR_FENCED_LEADER_EPOCH, 5, 2);
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_FOLLOWER);
    cr_assert_eq(sk_raft_leader(f.r), 2);
    cr_assert_eq(sk_raft_epoch(f.r), 5);
    f.now += 20;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 2);
    cr_assert_eq(req.epoch, 5);
    cr_assert_eq(req.u.fetch.fetch_offset, 0);
    /* The leader's batches and high watermark, as a voter takes them. */
    struct sk_raft_batch b[2] = {{.base_offset = 0, .epoch = 5, .count = 1,
                                  .kind = SK_RAFT_BATCH_LEADER_CHANGE},
                                 {.base_offset = 1, .epoch = 5, .count = 2,
                                  .data = (const uint8_t *)"ab", .len = 2}};
    resp = fetch_answer(&req, SK_ERR_NONE, 5, 2);
    resp.u.fetch_resp.batches = b;
    resp.u.fetch_resp.n_batches = 2;
    resp.u.fetch_resp.high_watermark = 1;
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 2);
    cr_assert_eq(sk_raft_high_watermark(f.r), 1);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 2);
    cr_assert_eq(req.u.fetch.fetch_offset, 3, "the next fetch goes on at once");
    /* The leader goes silent for the fetch timeout: back to asking the
     * voters, in the same epoch, without standing. */
    int64_t silent_since = f.now;
    while (sk_raft_role(f.r) == SK_RAFT_FOLLOWER) {
        f.now += 100;
        cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
        drain(&f);
    }
    cr_assert_eq(f.now - silent_since, 2000, "after fetch.timeout.ms");
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED);
    cr_assert_eq(sk_raft_epoch(f.r), 5);
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 2);
    f.now += 2000;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    req = observer_fetch(&f, 3);
    /* Voter 3 leads epoch 6 and answers the fetch itself: it is followed. */
    resp = fetch_answer(&req, SK_ERR_FENCED_LEADER_EPOCH, 6, 3);
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_leader(f.r), 3);
    cr_assert_eq(sk_raft_high_watermark(f.r), 1, "the high watermark never goes back");
    cr_assert_eq(f.store.state.voted_id, SK_RAFT_NO_ID);
    fix_free(&f);
}

Test(raft, observer_truncates_on_a_diverging_epoch)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    f.log = sk_raft_memlog_new();
    log_batch(&f, 1, "a");
    log_batch(&f, 2, "b");
    fix_start(&f, 4, 3, (struct sk_raft_qstate){3, 1, SK_RAFT_NO_ID});
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_FOLLOWER, "a restarted observer follows again");
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = observer_fetch(&f, 1);
    cr_assert_eq(req.u.fetch.last_fetched_epoch, 2);
    struct sk_raft_msg resp = fetch_answer(&req, SK_ERR_NONE, 3, 1);
    resp.u.fetch_resp.diverging_epoch = 1;
    resp.u.fetch_resp.diverging_end_offset = 1;
    cr_assert_eq(sk_raft_receive(f.r, &resp, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_count(f.log), 1, "epoch 2's batch is cut");
    fix_free(&f);
}

Test(raft, restarted_observer_never_resumes_a_vote_or_a_leadership)
{
    struct fix f;
    memset(&f, 0, sizeof(f));
    fix_start(&f, 4, 3, (struct sk_raft_qstate){3, 4, 4});
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED);
    sk_raft_free(f.r);
    fix_start(&f, 4, 3, (struct sk_raft_qstate){3, SK_RAFT_NO_ID, 2});
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_UNATTACHED);
    fix_free(&f);
}

Test(raft, leader_serves_observers_without_counting_them)
{
    struct fix f;
    elect(&f);
    f.now += 10;
    cr_assert_eq(sk_raft_tick(f.r, f.now), SK_ERR_NONE);
    drain(&f);
    /* Observers 7 and 8 have everything: the high watermark does not move. */
    struct sk_raft_msg resp = answer(&f, fetch_from(7, 1, 1, 1));
    cr_assert_eq(resp.error, SK_ERR_NONE);
    resp = answer(&f, fetch_from(8, 1, 0, 0));
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1);
    sk_raft_msg_release(&resp);
    resp = answer(&f, fetch_from(8, 1, 1, 1));
    cr_assert_eq(sk_raft_high_watermark(f.r), -1, "observers are no majority");
    /* Voter 2 is. */
    resp = answer(&f, fetch_from(2, 1, 1, 1));
    cr_assert_eq(sk_raft_high_watermark(f.r), 1);
    struct sk_raft_quorum_view v;
    f.now += 5;
    cr_assert_eq(sk_raft_describe(f.r, f.now, &v), SK_ERR_NONE);
    cr_assert_eq(v.n_voters, 3);
    cr_assert_eq(v.n_observers, 2);
    cr_assert_eq(v.observers[0].id, 7);
    cr_assert_eq(v.observers[0].log_end_offset, 1);
    cr_assert_eq(v.observers[0].last_fetch_ms, 2010);
    cr_assert_eq(v.observers[1].id, 8);
    /* Observer 7 was last told high watermark -1: its long fetch is answered
     * at once with the commit voter 2 made, not held until its wait ends. */
    resp = answer(&f, long_fetch(7, 30, 1, 1));
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 1);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);
    sk_raft_msg_release(&resp);
    /* Told it, its next empty fetch is held like a voter's. */
    struct sk_raft_msg held = long_fetch(7, 31, 1, 1);
    cr_assert_eq(sk_raft_receive(f.r, &held, f.now), SK_ERR_NONE);
    nothing_out(&f, "the observer's fetch waits at the leader");
    int64_t off;
    cr_assert_eq(sk_raft_append(f.r, (const uint8_t *)"x", 1, 1, &off), SK_ERR_NONE);
    resp = one_out(&f);
    cr_assert_eq(resp.corr, 31);
    cr_assert_eq(resp.dst, 7);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 1);
    sk_raft_msg_release(&resp);
    /* A fetch with no replica id is served, not listed. */
    resp = answer(&f, fetch_from(-1, 1, 0, 0));
    cr_assert_eq(resp.error, SK_ERR_NONE);
    sk_raft_msg_release(&resp);
    /* Forgotten after Kafka's observer session of five minutes. */
    cr_assert_eq(sk_raft_describe(f.r, f.now + 300001, &v), SK_ERR_NONE);
    cr_assert_eq(v.n_observers, 0);
    fix_free(&f);
}

Test(raft, leader_tracks_at_most_its_observer_slots)
{
    struct fix f;
    elect(&f);
    for (int32_t id = 100; id < 100 + SK_RAFT_MAX_OBSERVERS + 5; id++) {
        f.now++;
        struct sk_raft_msg resp = answer(&f, fetch_from(id, 1, 0, 0));
        sk_raft_msg_release(&resp);
    }
    struct sk_raft_quorum_view v;
    cr_assert_eq(sk_raft_describe(f.r, f.now, &v), SK_ERR_NONE);
    cr_assert_eq(v.n_observers, SK_RAFT_MAX_OBSERVERS);
    for (int32_t i = 0; i < v.n_observers; i++)
        cr_assert_geq(v.observers[i].id, 105, "the least recently heard are forgotten");
    fix_free(&f);
}
