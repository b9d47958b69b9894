/* Elections: a candidate bumps the epoch, votes for itself and asks every
 * voter; a voter grants one vote per epoch, and only to a candidate whose log
 * is at least as up to date as its own (last epoch first, then end offset),
 * which is what keeps committed entries in every later leader's log. A lost
 * or split election backs off for a random, growing time, as Kafka's
 * candidates do, before the next try. */
#include "raft_int.h"

static int send_vote(struct sk_raft *r, struct sk_raft_peer *p, int64_t now)
{
    struct sk_raft_msg *m = sk_raft_request(r, SK_RAFT_VOTE_REQ, p->id);
    if (!m)
        return r->failed;
    m->u.vote.last_epoch = r->cfg.log.last_epoch(r->cfg.log_ctx);
    m->u.vote.last_offset = r->cfg.log.end_offset(r->cfg.log_ctx);
    p->retry_at_ms = now + r->cfg.request_timeout_ms;
    return SK_ERR_NONE;
}

static int32_t count(const struct sk_raft *r, bool granted)
{
    int32_t n = 0;
    for (int32_t i = 0; i < r->n_peers; i++)
        n += r->peers[i].answered && r->peers[i].granted == granted;
    return n;
}

/* A replica outside the voter set never stands; one that led and was
 * removed (now resigned) looks for the next leader as an observer. */
int sk_raft_start_election(struct sk_raft *r, int64_t now)
{
    if (sk_raft_observer(r)) {
        if (r->role != SK_RAFT_UNATTACHED)
            sk_raft_to_nonvoter(r, now);
        return SK_ERR_NONE;
    }
    int32_t retries = r->election_retries + 1;
    int err = sk_raft_to_voted(r, r->q.epoch + 1, r->cfg.node_id, now);
    if (err)
        return err;
    r->role = SK_RAFT_CANDIDATE;
    r->election_retries = retries;
    struct sk_raft_peer *me = &r->peers[r->self];
    me->answered = me->granted = true;
    if (count(r, true) >= sk_raft_majority(r))
        return sk_raft_to_leader(r, now);
    for (int32_t i = 0; i < r->n_peers; i++)
        if (i != r->self && (err = send_vote(r, &r->peers[i], now)))
            return err;
    return SK_ERR_NONE;
}

/* Kafka's binary exponential backoff, capped at election.backoff.max.ms. */
static int64_t backoff_ms(struct sk_raft *r)
{
    int32_t shift = r->election_retries < 20 ? r->election_retries : 20;
    uint64_t slots = (uint64_t)1 << shift;
    uint64_t ms = (uint64_t)r->cfg.retry_backoff_ms * (r->cfg.rand(r->cfg.rand_ctx) % slots);
    uint64_t max = (uint64_t)r->cfg.election_backoff_max_ms;
    return (int64_t)(ms < max ? ms : max);
}

static void back_off(struct sk_raft *r, int64_t now)
{
    if (!r->backoff_until_ms)
        r->backoff_until_ms = now + backoff_ms(r) + 1;
}

int sk_raft_tick_candidate(struct sk_raft *r, int64_t now)
{
    if (r->backoff_until_ms)
        return now >= r->backoff_until_ms ? sk_raft_start_election(r, now) : SK_ERR_NONE;
    if (now >= r->election_at_ms) {
        back_off(r, now);
        return SK_ERR_NONE;
    }
    for (int32_t i = 0; i < r->n_peers; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        if (i == r->self || p->answered || now < p->retry_at_ms)
            continue;
        int err = send_vote(r, p, now);
        if (err)
            return err;
    }
    return SK_ERR_NONE;
}

static bool log_up_to_date(struct sk_raft *r, const struct sk_raft_vote_req *v)
{
    int32_t last_epoch = r->cfg.log.last_epoch(r->cfg.log_ctx);
    if (v->last_epoch != last_epoch)
        return v->last_epoch > last_epoch;
    return v->last_offset >= r->cfg.log.end_offset(r->cfg.log_ctx);
}

/* An observer of a static quorum has no vote: it answers, granting
 * nothing. Under KIP-853 a replica may not know yet that it votes (its log
 * lacks the set that added it), and a candidate counts only the votes of its
 * own set, so any replica grants to an up-to-date log, once per epoch, as
 * Kafka 3.9's UnattachedState does; without that a quorum whose members lag
 * behind the latest set could elect no one. */
static bool may_grant(struct sk_raft *r, const struct sk_raft_msg *m)
{
    if (sk_raft_observer(r) && r->cfg.kraft_version < 1)
        return false;
    /* One vote per epoch whatever the role: a replica that left the set
     * and joined again in this epoch keeps the vote it gave. */
    if (r->q.voted_id != SK_RAFT_NO_ID && r->q.epoch == m->epoch)
        return r->q.voted_id == m->src;
    if (r->role == SK_RAFT_VOTED)
        return r->q.voted_id == m->src;
    return r->role == SK_RAFT_UNATTACHED && log_up_to_date(r, &m->u.vote);
}

/* A replica outside its own set (KIP-853) takes a candidate's epoch only
 * with its vote: a removed voter that does not know it stands again and
 * again with a log behind, and an observer that took its epochs could no
 * longer follow the leader of a lower one. */
static bool stays_out(struct sk_raft *r, const struct sk_raft_msg *m)
{
    return sk_raft_observer(r) && !log_up_to_date(r, &m->u.vote);
}

int sk_raft_on_vote_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int16_t bad = sk_raft_check_voter_request(r, m);
    int err = SK_ERR_NONE;
    bool granted = false;
    if (!bad && m->epoch > r->q.epoch && !stays_out(r, m))
        err = sk_raft_to_unattached(r, m->epoch, now);
    if (!bad && !err && may_grant(r, m)) {
        granted = true;
        if (r->role != SK_RAFT_VOTED)
            err = sk_raft_to_voted(r, m->epoch, m->src, now);
    }
    if (err)
        return err;
    struct sk_raft_msg *resp = sk_raft_reply(r, m, bad);
    if (!resp)
        return r->failed;
    resp->u.vote_granted = granted;
    return SK_ERR_NONE;
}

int sk_raft_on_vote_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int err = sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (err || r->role != SK_RAFT_CANDIDATE || m->epoch != r->q.epoch || m->error)
        return err;
    struct sk_raft_peer *p = sk_raft_peer(r, m->src);
    if (!p)
        return SK_ERR_NONE;
    p->answered = true;
    p->granted = m->u.vote_granted;
    if (count(r, true) >= sk_raft_majority(r))
        return sk_raft_to_leader(r, now);
    if (count(r, false) >= sk_raft_majority(r))
        back_off(r, now);
    return SK_ERR_NONE;
}
