/* The follower: fetches from the leader at its log end with the epoch of its
 * last batch, truncates where the leader answers with a DivergingEpoch,
 * appends and flushes what it gets before it fetches again (the next fetch
 * offset is its acknowledgement, so it must be durable), and takes the high
 * watermark from the answer. A leader silent for fetch.timeout.ms starts an
 * election. BeginQuorumEpoch makes a voter a follower; EndQuorumEpoch
 * hastens the election, soonest for the first preferred successor.
 * An observer (a node outside the voters, such as a broker) follows the same
 * way, but never stands: without a leader, or when its leader goes silent
 * for fetch.timeout.ms, it fetches from each voter in turn until an answer
 * names the leader of the epoch (Kafka's observers ask the bootstrap
 * servers the same way). */
#include <string.h>

#include "raft_int.h"

static int send_fetch(struct sk_raft *r, int32_t dst, int64_t now)
{
    if (r->snap_fetching)
        return sk_raft_send_fetch_snapshot(r, dst, now);
    struct sk_raft_msg *m = sk_raft_request(r, SK_RAFT_FETCH_REQ, dst);
    if (!m)
        return r->failed;
    m->u.fetch.fetch_offset = r->cfg.log.end_offset(r->cfg.log_ctx);
    m->u.fetch.last_fetched_epoch = r->cfg.log.last_epoch(r->cfg.log_ctx);
    m->u.fetch.max_wait_ms = r->cfg.fetch_max_wait_ms;
    memcpy(m->u.fetch.replica_directory_id, r->cfg.directory_id, SK_RAFT_DIR_ID_LEN);
    r->fetch_corr = m->corr;
    r->fetch_retry_ms = now + r->cfg.request_timeout_ms;
    return SK_ERR_NONE;
}

int sk_raft_tick_follower(struct sk_raft *r, int64_t now)
{
    if (now >= r->election_at_ms)
        return sk_raft_observer(r) ? sk_raft_to_unattached(r, r->q.epoch, now)
                                   : sk_raft_start_election(r, now);
    if (r->fetch_corr ? now >= r->fetch_retry_ms : now >= r->fetch_at_ms && sk_raft_all_flushed(r))
        return send_fetch(r, r->q.leader_id, now);
    return SK_ERR_NONE;
}

/* An observer with no leader: the next voter in turn, once the last one
 * answered without naming a leader or did not answer in time. */
int sk_raft_tick_observer(struct sk_raft *r, int64_t now)
{
    if (r->fetch_corr ? now < r->fetch_retry_ms : now < r->fetch_at_ms)
        return SK_ERR_NONE;
    int32_t n = r->cfg.n_bootstrap > 0 ? r->cfg.n_bootstrap : r->n_peers;
    if (n == 0)
        return SK_ERR_NONE;
    int32_t i = r->bootstrap_next % n;
    r->bootstrap_next = (i + 1) % n;
    return send_fetch(r, r->cfg.n_bootstrap > 0 ? SK_RAFT_BOOTSTRAP_ID(i) : r->peers[i].id, now);
}

/* Never below the high watermark: that would drop a committed entry, a
 * broken invariant rather than a condition to recover from. */
static int truncate_log(struct sk_raft *r, int32_t epoch, int64_t end)
{
    int32_t local_epoch;
    int64_t local_end;
    r->cfg.log.end_for_epoch(r->cfg.log_ctx, epoch, &local_epoch, &local_end);
    int64_t to = local_end < end ? local_end : end;
    if (to < r->hw)
        return sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
    if (to >= r->cfg.log.end_offset(r->cfg.log_ctx))
        return SK_ERR_NONE;
    return sk_raft_truncate_log(r, to);
}

static int append_all(struct sk_raft *r, const struct sk_raft_fetch_resp *f)
{
    for (size_t i = 0; i < f->n_batches; i++) {
        const struct sk_raft_batch *b = &f->batches[i];
        int64_t end = r->cfg.log.end_offset(r->cfg.log_ctx);
        if (b->base_offset + b->count <= end)
            continue;
        if (b->base_offset != end || b->count <= 0)
            break;
        if (r->cfg.log.append(r->cfg.log_ctx, b) < 0)
            return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
        r->unflushed = true;
        int err = sk_raft_voters_on_batch(r, b);
        if (err)
            return err;
    }
    return sk_raft_flush(r);
}

/* Only as far as this node's log is durable: a committed offset must survive
 * its crash too. flush.c calls it again as flushes complete. */
void sk_raft_learn_hw(struct sk_raft *r)
{
    int64_t hw = r->leader_hw < r->flushed_end ? r->leader_hw : r->flushed_end;
    if (hw > r->hw)
        r->hw = hw;
}

/* A follower's fetch, or an observer's asking a voter for the leader. */
bool sk_raft_awaited(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    bool fetching = r->role == SK_RAFT_FOLLOWER || sk_raft_observer(r);
    return fetching && r->fetch_corr && m->corr == r->fetch_corr;
}

int sk_raft_on_fetch_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    if (!sk_raft_awaited(r, m))
        return SK_ERR_NONE;
    r->fetch_corr = 0;
    int err = sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (!err && r->role != SK_RAFT_FOLLOWER)
        r->fetch_at_ms = now + r->cfg.retry_backoff_ms;
    if (err || r->role != SK_RAFT_FOLLOWER)
        return err;
    if (m->error || m->epoch != r->q.epoch || m->src != r->q.leader_id) {
        r->fetch_at_ms = now + r->cfg.retry_backoff_ms;
        return SK_ERR_NONE;
    }
    const struct sk_raft_fetch_resp *f = &m->u.fetch_resp;
    r->election_at_ms = now + r->cfg.fetch_timeout_ms;
    if (f->diverging_epoch >= 0 || f->diverging_end_offset >= 0) {
        r->fetch_at_ms = now;
        return truncate_log(r, f->diverging_epoch, f->diverging_end_offset);
    }
    if (f->high_watermark > r->leader_hw)
        r->leader_hw = f->high_watermark;
    if (f->snapshot.end_offset > 0)
        return sk_raft_start_snapshot(r, &f->snapshot, now);
    err = append_all(r, f);
    if (err)
        return err;
    sk_raft_learn_hw(r);
    /* The leader held the fetch until it had something or MaxWaitMs passed:
     * no reason to wait before the next one. */
    r->fetch_at_ms = now;
    return SK_ERR_NONE;
}

/* In the same epoch nothing changes for the node that led it (one leader per
 * epoch) or for one already following the sender (its fetch goes on). */
static bool stays(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    if (r->q.epoch != m->epoch)
        return false;
    return r->role == SK_RAFT_LEADER || r->role == SK_RAFT_RESIGNED || r->q.leader_id == m->src;
}

int sk_raft_on_begin_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int16_t bad = sk_raft_check_voter_request(r, m);
    int err = SK_ERR_NONE;
    if (!bad && !stays(r, m))
        err = sk_raft_to_follower(r, m->epoch, m->src, now);
    if (err)
        return err;
    return sk_raft_reply(r, m, bad) ? SK_ERR_NONE : r->failed;
}

/* Kafka's strict exponential backoff by place in the successor list: the
 * first candidate goes at once, the next after retry.backoff, then doubling;
 * a voter not on the list waits a whole election timeout. */
static int64_t end_epoch_backoff(struct sk_raft *r, const struct sk_raft_end_epoch_req *e)
{
    for (int32_t i = 0; i < e->n_preferred && i < SK_RAFT_MAX_VOTERS; i++) {
        if (e->preferred[i] != r->cfg.node_id)
            continue;
        if (i == 0)
            return 0;
        int64_t ms = (int64_t)r->cfg.retry_backoff_ms << (i - 1);
        return ms < r->cfg.election_backoff_max_ms ? ms : r->cfg.election_backoff_max_ms;
    }
    return sk_raft_random_timeout(r);
}

int sk_raft_on_end_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int16_t bad = sk_raft_check_voter_request(r, m);
    int err = bad ? SK_ERR_NONE : sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (err)
        return err;
    if (!bad && r->role == SK_RAFT_FOLLOWER && r->q.epoch == m->epoch && r->q.leader_id == m->src)
        r->election_at_ms = now + end_epoch_backoff(r, &m->u.end);
    return sk_raft_reply(r, m, bad) ? SK_ERR_NONE : r->failed;
}
