/* Snapshots in the Raft core (KIP-630): a leader that has deleted its log
 * below a snapshot answers a fetch from below with the snapshot's id and
 * serves it in chunks with FetchSnapshot, with Kafka's errors for a wrong
 * id, position or epoch; a follower takes the chunks, installs the whole
 * snapshot in place of its log and fetches on from its end. */
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

static void fix_start(struct fix *f, int32_t self, struct sk_raft_qstate st)
{
    struct sk_raft_config cfg = {.node_id = self, .n_voters = 3, .cluster_id = cluster};
    for (int i = 0; i < 3; i++)
        cfg.voters[i] = i + 1;
    cfg.rand = lcg;
    cfg.rand_ctx = &f->rng;
    f->log = sk_raft_memlog_new();
    sk_raft_memlog_bind(f->log, &cfg);
    f->store.state = st;
    sk_raft_memstore_bind(&f->store, &cfg);
    f->r = sk_raft_new(&cfg, &st, f->now);
    cr_assert(f->r);
}

static void drain(struct fix *f)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(f->r, &m))
        sk_raft_msg_release(&m);
}

static void fix_free(struct fix *f)
{
    drain(f);
    sk_raft_free(f->r);
    sk_raft_memlog_free(f->log);
}

static struct sk_raft_msg one_out(struct fix *f)
{
    struct sk_raft_msg m, extra;
    cr_assert(sk_raft_poll_out(f->r, &m), "nothing was sent");
    cr_assert_not(sk_raft_poll_out(f->r, &extra), "more than one message was sent");
    return m;
}

static const char snap_bytes[] = "SNAPSHOT";

/* Node 1 leads epoch 1 with node 2's vote, commits a LeaderChange and two
 * batches with node 2's fetch, snapshots at offset 3 and drops the log
 * below it. */
static void leader_with_snapshot(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    fix_start(f, 1, (struct sk_raft_qstate){0, SK_RAFT_NO_ID, SK_RAFT_NO_ID});
    f->now = 2000;
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    struct sk_raft_msg m;
    uint32_t corr = 0;
    while (sk_raft_poll_out(f->r, &m))
        if (m.dst == 2)
            corr = m.corr;
    struct sk_raft_msg grant = {.type = SK_RAFT_VOTE_RESP, .src = 2, .dst = 1, .corr = corr,
                                .cluster_id = cluster, .epoch = 1, .leader_id = -1,
                                .u.vote_granted = true};
    cr_assert_eq(sk_raft_receive(f->r, &grant, f->now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_role(f->r), SK_RAFT_LEADER);
    int64_t off;
    cr_assert_eq(sk_raft_append(f->r, (const uint8_t *)"ab", 2, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_append(f->r, (const uint8_t *)"cd", 2, 1, &off), SK_ERR_NONE);
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    drain(f);
    struct sk_raft_msg fetch = {.type = SK_RAFT_FETCH_REQ, .src = 2, .dst = 1, .corr = 3,
                                .cluster_id = cluster, .epoch = 1, .leader_id = 1,
                                .u.fetch = {.fetch_offset = 3, .last_fetched_epoch = 1}};
    cr_assert_eq(sk_raft_receive(f->r, &fetch, f->now), SK_ERR_NONE);
    drain(f);
    cr_assert_eq(sk_raft_high_watermark(f->r), 3);
    cr_assert_eq(sk_raft_memlog_snapshot(f->log, 3, (const uint8_t *)snap_bytes, 8), 0);
    cr_assert_eq(sk_raft_memlog_start(f->log), 3);
}

static struct sk_raft_msg ask(struct fix *f, struct sk_raft_msg req, enum sk_raft_msg_type want)
{
    cr_assert_eq(sk_raft_receive(f->r, &req, f->now), SK_ERR_NONE);
    struct sk_raft_msg resp = one_out(f);
    cr_assert_eq(resp.type, want);
    cr_assert_eq(resp.corr, req.corr);
    return resp;
}

static struct sk_raft_msg snap_req(int32_t epoch, struct sk_raft_snapshot_id id, int64_t pos,
                                   int32_t max)
{
    return (struct sk_raft_msg){.type = SK_RAFT_FETCH_SNAPSHOT_REQ, .src = 3, .dst = 1, .corr = 5,
                                .cluster_id = cluster, .epoch = epoch, .leader_id = 1,
                                .u.snap = {.id = id, .position = pos, .max_bytes = max}};
}

Test(raft_snapshot, fetch_below_the_log_start_names_the_snapshot)
{
    struct fix f;
    leader_with_snapshot(&f);
    struct sk_raft_msg fetch = {.type = SK_RAFT_FETCH_REQ, .src = 3, .dst = 1, .corr = 4,
                                .cluster_id = cluster, .epoch = 1, .leader_id = 1,
                                .u.fetch = {.fetch_offset = 1, .last_fetched_epoch = 1}};
    struct sk_raft_msg resp = ask(&f, fetch, SK_RAFT_FETCH_RESP);
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.snapshot.end_offset, 3);
    cr_assert_eq(resp.u.fetch_resp.snapshot.epoch, 1);
    cr_assert_eq(resp.u.fetch_resp.n_batches, 0);
    cr_assert_eq(resp.u.fetch_resp.high_watermark, 3);
    sk_raft_msg_release(&resp);
    /* At the log start the log itself answers. */
    fetch.u.fetch.fetch_offset = 3;
    resp = ask(&f, fetch, SK_RAFT_FETCH_RESP);
    cr_assert_leq(resp.u.fetch_resp.snapshot.end_offset, 0);
    sk_raft_msg_release(&resp);
    fix_free(&f);
}

/* Kafka's validateOffsetAndEpoch: a fetcher whose last epoch ends below the
 * log start cannot be told where to truncate (the entries are gone), so it
 * takes the snapshot too. */
Test(raft_snapshot, divergence_below_the_log_start_names_the_snapshot)
{
    struct fix f;
    leader_with_snapshot(&f);
    struct sk_raft_msg fetch = {.type = SK_RAFT_FETCH_REQ, .src = 3, .dst = 1, .corr = 4,
                                .cluster_id = cluster, .epoch = 1, .leader_id = 1,
                                .u.fetch = {.fetch_offset = 3, .last_fetched_epoch = 0}};
    struct sk_raft_msg resp = ask(&f, fetch, SK_RAFT_FETCH_RESP);
    cr_assert_eq(resp.error, SK_ERR_NONE);
    cr_assert_eq(resp.u.fetch_resp.snapshot.end_offset, 3);
    cr_assert_lt(resp.u.fetch_resp.diverging_epoch, 0);
    cr_assert_lt(resp.u.fetch_resp.diverging_end_offset, 0);
    sk_raft_msg_release(&resp);
    fix_free(&f);
}

Test(raft_snapshot, leader_serves_the_snapshot_in_chunks)
{
    struct fix f;
    leader_with_snapshot(&f);
    struct sk_raft_snapshot_id id = {3, 1};
    uint8_t got[8];
    int64_t pos = 0;
    while (pos < 8) {
        struct sk_raft_msg resp = ask(&f, snap_req(1, id, pos, 3), SK_RAFT_FETCH_SNAPSHOT_RESP);
        cr_assert_eq(resp.error, SK_ERR_NONE);
        cr_assert_eq(resp.u.snap_resp.size, 8);
        cr_assert_eq(resp.u.snap_resp.position, pos);
        cr_assert(resp.u.snap_resp.len > 0 && resp.u.snap_resp.len <= 3);
        memcpy(got + pos, resp.u.snap_resp.data, resp.u.snap_resp.len);
        pos += (int64_t)resp.u.snap_resp.len;
        sk_raft_msg_release(&resp);
    }
    cr_assert_eq(memcmp(got, snap_bytes, 8), 0);
    fix_free(&f);
}

Test(raft_snapshot, fetch_snapshot_errors)
{
    struct fix f;
    leader_with_snapshot(&f);
    struct {
        struct sk_raft_msg req;
        int16_t err;
    } cases[] = {
        {snap_req(1, (struct sk_raft_snapshot_id){3, 0}, 0, 8), SK_ERR_SNAPSHOT_NOT_FOUND},
        {snap_req(1, (struct sk_raft_snapshot_id){2, 1}, 0, 8), SK_ERR_SNAPSHOT_NOT_FOUND},
        {snap_req(1, (struct sk_raft_snapshot_id){3, 1}, 8, 8), SK_ERR_POSITION_OUT_OF_RANGE},
        {snap_req(1, (struct sk_raft_snapshot_id){3, 1}, -1, 8), SK_ERR_POSITION_OUT_OF_RANGE},
        {snap_req(0, (struct sk_raft_snapshot_id){3, 1}, 0, 8), SK_ERR_FENCED_LEADER_EPOCH},
        {snap_req(2, (struct sk_raft_snapshot_id){3, 1}, 0, 8), SK_ERR_UNKNOWN_LEADER_EPOCH},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sk_raft_msg resp = ask(&f, cases[i].req, SK_RAFT_FETCH_SNAPSHOT_RESP);
        cr_assert_eq(resp.error, cases[i].err, "case %zu: %d", i, resp.error);
        cr_assert_eq(resp.u.snap_resp.len, 0);
        sk_raft_msg_release(&resp);
    }
    struct sk_raft_msg bad = snap_req(1, (struct sk_raft_snapshot_id){3, 1}, 0, 8);
    bad.cluster_id.bytes[0] = 'x';
    struct sk_raft_msg resp = ask(&f, bad, SK_RAFT_FETCH_SNAPSHOT_RESP);
    cr_assert_eq(resp.error, SK_ERR_INCONSISTENT_CLUSTER_ID);
    fix_free(&f);
}

/* Node 1, an empty voter, follows node 2 in epoch 4; returns its fetch. */
static struct sk_raft_msg empty_follower(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    fix_start(f, 1, (struct sk_raft_qstate){3, SK_RAFT_NO_ID, SK_RAFT_NO_ID});
    struct sk_raft_msg begin = {.type = SK_RAFT_BEGIN_EPOCH_REQ, .src = 2, .dst = 1,
                                .cluster_id = cluster, .epoch = 4, .leader_id = 2};
    ask(f, begin, SK_RAFT_BEGIN_EPOCH_RESP);
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    struct sk_raft_msg fetch = one_out(f);
    cr_assert_eq(fetch.type, SK_RAFT_FETCH_REQ);
    return fetch;
}

static struct sk_raft_msg snapshot_named(const struct sk_raft_msg *fetch)
{
    return (struct sk_raft_msg){.type = SK_RAFT_FETCH_RESP, .src = 2, .dst = 1, .corr = fetch->corr,
                                .cluster_id = cluster, .epoch = 4, .leader_id = 2,
                                .u.fetch_resp = {.high_watermark = 7, .diverging_epoch = -1,
                                                 .diverging_end_offset = -1,
                                                 .snapshot = {5, 3}}};
}

static struct sk_raft_msg chunk(const struct sk_raft_msg *req, int16_t err, int64_t from, size_t len)
{
    return (struct sk_raft_msg){.type = SK_RAFT_FETCH_SNAPSHOT_RESP, .src = 2, .dst = 1,
                                .corr = req->corr, .cluster_id = cluster, .epoch = 4,
                                .leader_id = 2, .error = err,
                                .u.snap_resp = {.id = req->u.snap.id, .size = 8, .position = from,
                                                .data = (const uint8_t *)snap_bytes + from,
                                                .len = len}};
}

static struct sk_raft_msg next_out(struct fix *f, enum sk_raft_msg_type want)
{
    cr_assert_eq(sk_raft_tick(f->r, f->now), SK_ERR_NONE);
    struct sk_raft_msg m = one_out(f);
    cr_assert_eq(m.type, want, "sent %d", m.type);
    return m;
}

Test(raft_snapshot, follower_takes_the_snapshot_and_fetches_on_from_its_end)
{
    struct fix f;
    struct sk_raft_msg fetch = empty_follower(&f);
    struct sk_raft_msg named = snapshot_named(&fetch);
    cr_assert_eq(sk_raft_receive(f.r, &named, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    cr_assert_eq(req.dst, 2);
    cr_assert_eq(req.u.snap.id.end_offset, 5);
    cr_assert_eq(req.u.snap.id.epoch, 3);
    cr_assert_eq(req.u.snap.position, 0);
    struct sk_raft_msg part = chunk(&req, SK_ERR_NONE, 0, 3);
    cr_assert_eq(sk_raft_receive(f.r, &part, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_start(f.log), 0, "nothing installed from a part");
    req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    cr_assert_eq(req.u.snap.position, 3);
    part = chunk(&req, SK_ERR_NONE, 3, 5);
    cr_assert_eq(sk_raft_receive(f.r, &part, f.now), SK_ERR_NONE);
    size_t len;
    const uint8_t *data = sk_raft_memlog_snapshot_data(f.log, &len);
    cr_assert(data && len == 8 && memcmp(data, snap_bytes, 8) == 0);
    cr_assert_eq(sk_raft_memlog_start(f.log), 5);
    cr_assert_eq(sk_raft_high_watermark(f.r), 5, "a snapshot holds committed entries only");
    fetch = next_out(&f, SK_RAFT_FETCH_REQ);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 5);
    cr_assert_eq(fetch.u.fetch.last_fetched_epoch, 3);
    fix_free(&f);
}

Test(raft_snapshot, follower_gives_up_a_snapshot_the_leader_lost)
{
    struct fix f;
    struct sk_raft_msg fetch = empty_follower(&f);
    struct sk_raft_msg named = snapshot_named(&fetch);
    cr_assert_eq(sk_raft_receive(f.r, &named, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    struct sk_raft_msg lost = chunk(&req, SK_ERR_SNAPSHOT_NOT_FOUND, 0, 0);
    cr_assert_eq(sk_raft_receive(f.r, &lost, f.now), SK_ERR_NONE);
    f.now += 1000;
    fetch = next_out(&f, SK_RAFT_FETCH_REQ);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 0);
    cr_assert_eq(sk_raft_memlog_start(f.log), 0);
    fix_free(&f);
}

Test(raft_snapshot, follower_ignores_a_chunk_out_of_place)
{
    struct fix f;
    struct sk_raft_msg fetch = empty_follower(&f);
    struct sk_raft_msg named = snapshot_named(&fetch);
    cr_assert_eq(sk_raft_receive(f.r, &named, f.now), SK_ERR_NONE);
    struct sk_raft_msg req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    struct sk_raft_msg wrong = chunk(&req, SK_ERR_NONE, 3, 5);
    cr_assert_eq(sk_raft_receive(f.r, &wrong, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_start(f.log), 0, "a chunk past the position is not taken");
    cr_assert_null(sk_raft_memlog_snapshot_data(f.log, &(size_t){0}));
    fix_free(&f);
}

Test(raft_snapshot, follower_drops_a_corrupt_snapshot_and_takes_it_again)
{
    struct fix f;
    struct sk_raft_msg fetch = empty_follower(&f);
    struct sk_raft_msg named = snapshot_named(&fetch);
    cr_assert_eq(sk_raft_receive(f.r, &named, f.now), SK_ERR_NONE);
    sk_raft_memlog_corrupt_next(f.log, 1);
    struct sk_raft_msg req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    struct sk_raft_msg whole = chunk(&req, SK_ERR_NONE, 0, 8);
    cr_assert_eq(sk_raft_receive(f.r, &whole, f.now), SK_ERR_NONE, "not a storage failure");
    cr_assert_eq(sk_raft_role(f.r), SK_RAFT_FOLLOWER);
    cr_assert_eq(sk_raft_memlog_start(f.log), 0, "a corrupt snapshot is never installed");
    cr_assert_null(sk_raft_memlog_snapshot_data(f.log, &(size_t){0}));
    /* It fetches the log again, learns the snapshot anew, and takes it
     * from its first byte. */
    f.now += 1000;
    fetch = next_out(&f, SK_RAFT_FETCH_REQ);
    cr_assert_eq(fetch.u.fetch.fetch_offset, 0);
    named = snapshot_named(&fetch);
    cr_assert_eq(sk_raft_receive(f.r, &named, f.now), SK_ERR_NONE);
    req = next_out(&f, SK_RAFT_FETCH_SNAPSHOT_REQ);
    cr_assert_eq(req.u.snap.position, 0);
    whole = chunk(&req, SK_ERR_NONE, 0, 8);
    cr_assert_eq(sk_raft_receive(f.r, &whole, f.now), SK_ERR_NONE);
    cr_assert_eq(sk_raft_memlog_start(f.log), 5);
    fix_free(&f);
}
