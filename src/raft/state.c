/* The epoch states of KRaft (Kafka's QuorumState): unattached, voted,
 * candidate, leader, follower, resigned. Every change of epoch, leader or
 * vote is written to the quorum-state store here, before the caller can
 * drain a message that depends on it; a restart resumes from what was
 * written, so a node never votes twice in one epoch. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/* Kafka's defaults for the controller.quorum.* settings. */
static void apply_defaults(struct sk_raft_config *c)
{
    if (c->election_timeout_ms <= 0)
        c->election_timeout_ms = 1000;
    if (c->fetch_timeout_ms <= 0)
        c->fetch_timeout_ms = 2000;
    if (c->election_backoff_max_ms <= 0)
        c->election_backoff_max_ms = 1000;
    if (c->request_timeout_ms <= 0)
        c->request_timeout_ms = 2000;
    if (c->retry_backoff_ms <= 0)
        c->retry_backoff_ms = 20;
    if (c->fetch_max_wait_ms <= 0)
        c->fetch_max_wait_ms = 500;
    if (c->fetch_max_bytes == 0)
        c->fetch_max_bytes = 8u << 20;
}

int16_t sk_raft_fail(struct sk_raft *r, int16_t err)
{
    if (!r->failed)
        r->failed = err;
    return err;
}

int sk_raft_persist(struct sk_raft *r, int32_t epoch, int32_t leader, int32_t voted)
{
    struct sk_raft_qstate s = {.epoch = epoch, .leader_id = leader, .voted_id = voted};
    if (r->cfg.store.write(r->cfg.store_ctx, &s) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->q = s;
    return SK_ERR_NONE;
}

int64_t sk_raft_random_timeout(struct sk_raft *r)
{
    uint64_t t = (uint64_t)r->cfg.election_timeout_ms;
    return (int64_t)(t + r->cfg.rand(r->cfg.rand_ctx) % t);
}

struct sk_raft_peer *sk_raft_peer(struct sk_raft *r, int32_t id)
{
    for (int32_t i = 0; i < r->n_peers; i++)
        if (r->peers[i].id == id)
            return &r->peers[i];
    return NULL;
}

/* Of the voter set in use, which the leader may not be part of. */
int32_t sk_raft_majority(const struct sk_raft *r)
{
    return r->n_peers / 2 + 1;
}

bool sk_raft_observer(const struct sk_raft *r)
{
    return r->self < 0;
}

bool sk_raft_is_observer(const struct sk_raft *r)
{
    return sk_raft_observer(r);
}

static void enter(struct sk_raft *r, enum sk_raft_role role, int64_t now)
{
    r->role = role;
    r->election_at_ms = now + sk_raft_random_timeout(r);
    r->backoff_until_ms = 0;
    r->fetch_corr = 0;
    /* A snapshot is taken from the leader that named it; a new one may
     * name another (Kafka's FollowerState starts without one). */
    r->snap_fetching = false;
    /* An observer without a leader asks the voters for one at once. */
    r->fetch_at_ms = now;
    for (int32_t i = 0; i < r->n_peers; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        p->answered = p->granted = p->acked = false;
        p->end_offset = -1;
        p->last_fetch_ms = now;
        p->retry_at_ms = now;
    }
}

/* A node that was already waiting for an election keeps its deadline, as
 * Kafka's QuorumState does: otherwise a candidate whose log can never win
 * would, by bumping the epoch again and again, keep every other voter from
 * ever timing out and standing itself. */
static int64_t election_wait_left(const struct sk_raft *r, int64_t now)
{
    switch (r->role) {
    case SK_RAFT_CANDIDATE:
        return (r->backoff_until_ms ? r->backoff_until_ms : r->election_at_ms) - now;
    case SK_RAFT_UNATTACHED:
    case SK_RAFT_VOTED:
        return r->election_at_ms - now;
    default:
        return -1;
    }
}

int sk_raft_to_unattached(struct sk_raft *r, int32_t epoch, int64_t now)
{
    int64_t left = election_wait_left(r, now);
    int err = sk_raft_persist(r, epoch, SK_RAFT_NO_ID, SK_RAFT_NO_ID);
    if (err)
        return err;
    enter(r, SK_RAFT_UNATTACHED, now);
    if (left >= 0)
        r->election_at_ms = now + left;
    r->election_retries = 0;
    return SK_ERR_NONE;
}

int sk_raft_to_voted(struct sk_raft *r, int32_t epoch, int32_t candidate, int64_t now)
{
    int err = sk_raft_persist(r, epoch, SK_RAFT_NO_ID, candidate);
    if (err)
        return err;
    enter(r, SK_RAFT_VOTED, now);
    return SK_ERR_NONE;
}

/* The vote of this epoch is kept with the leader: a node that restarts as a
 * follower must still refuse a second candidate in the same epoch. */
int sk_raft_to_follower(struct sk_raft *r, int32_t epoch, int32_t leader, int64_t now)
{
    int32_t voted = epoch == r->q.epoch ? r->q.voted_id : SK_RAFT_NO_ID;
    int err = sk_raft_persist(r, epoch, leader, voted);
    if (err)
        return err;
    enter(r, SK_RAFT_FOLLOWER, now);
    r->election_at_ms = now + r->cfg.fetch_timeout_ms;
    r->fetch_at_ms = now;
    r->leader_hw = -1;
    r->election_retries = 0;
    return SK_ERR_NONE;
}

/* Not persisted: the vote of this epoch stays written, so a replica that
 * leaves the set and joins again in the same epoch cannot vote twice. */
void sk_raft_to_nonvoter(struct sk_raft *r, int64_t now)
{
    enter(r, SK_RAFT_UNATTACHED, now);
    r->election_retries = 0;
}

/* A node this one may follow: a static voter, or under KIP-853 any node,
 * since a leader may be a voter our log does not know of yet, or one that
 * removed itself and leads until that commits. */
static bool may_lead(struct sk_raft *r, int32_t id)
{
    if (id < 0)
        return false;
    return r->cfg.kraft_version >= 1 || sk_raft_peer(r, id);
}

/* What any message tells of the quorum: a higher epoch ends ours, and a
 * leader named for our epoch ends an election we were waiting on. */
int sk_raft_observe(struct sk_raft *r, int32_t epoch, int32_t leader, int64_t now)
{
    bool known = leader != r->cfg.node_id && may_lead(r, leader);
    if (epoch > r->q.epoch)
        return known ? sk_raft_to_follower(r, epoch, leader, now)
                     : sk_raft_to_unattached(r, epoch, now);
    if (epoch == r->q.epoch && known && r->q.leader_id == SK_RAFT_NO_ID)
        return sk_raft_to_follower(r, epoch, leader, now);
    return SK_ERR_NONE;
}

/* As Kafka restarts: a former leader comes back resigned, a follower follows
 * again (if its leader is still a voter), a voter keeps its vote; an
 * observer has no vote to keep and no epoch to resign. */
static int restore(struct sk_raft *r, const struct sk_raft_qstate *s, int64_t now)
{
    r->q = *s;
    if (s->leader_id == r->cfg.node_id && !sk_raft_observer(r)) {
        enter(r, SK_RAFT_RESIGNED, now);
        return SK_ERR_NONE;
    }
    if (s->leader_id != r->cfg.node_id && may_lead(r, s->leader_id)) {
        enter(r, SK_RAFT_FOLLOWER, now);
        r->election_at_ms = now + r->cfg.fetch_timeout_ms;
        r->fetch_at_ms = now;
        r->leader_hw = -1;
        return SK_ERR_NONE;
    }
    bool voted = s->voted_id >= 0 && !sk_raft_observer(r);
    enter(r, voted ? SK_RAFT_VOTED : SK_RAFT_UNATTACHED, now);
    return SK_ERR_NONE;
}

static bool valid_set(const int32_t *ids, int32_t n)
{
    if (n <= 0 || n > SK_RAFT_MAX_VOTERS)
        return false;
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < i; j++)
            if (ids[i] < 0 || ids[i] == ids[j])
                return false;
    return true;
}

static bool valid_config(const struct sk_raft_config *c)
{
    if (!c->rand || c->node_id < 0 || c->kraft_version < 0 || c->kraft_version > 1)
        return false;
    if (c->kraft_version == 0)
        return valid_set(c->voters, c->n_voters);
    const struct sk_raft_voter_set *s = &c->initial_voters;
    if (c->n_bootstrap < 0 || c->n_bootstrap > SK_RAFT_MAX_BOOTSTRAP)
        return false;
    /* No set yet: an observer that learns one from the log it fetches. */
    if (s->n == 0)
        return c->n_bootstrap > 0;
    int32_t ids[SK_RAFT_MAX_VOTERS];
    for (int32_t i = 0; i < s->n && i < SK_RAFT_MAX_VOTERS; i++)
        ids[i] = s->voters[i].id;
    return valid_set(ids, s->n);
}

struct sk_raft *sk_raft_new(const struct sk_raft_config *cfg, const struct sk_raft_qstate *restored,
                            int64_t now_ms)
{
    if (!valid_config(cfg))
        return NULL;
    struct sk_raft *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = *cfg;
    apply_defaults(&r->cfg);
    r->self = -1;
    r->now = now_ms;
    r->hw = -1;
    r->leader_hw = -1;
    /* Like a fresh connection's: answers meant for a former life of this
     * node must not pair with the new one's requests. */
    r->next_corr = (uint32_t)r->cfg.rand(r->cfg.rand_ctx);
    /* Whatever survived the restart was flushed. */
    r->flushed_end = r->cfg.log.end_offset(r->cfg.log_ctx);
    if (sk_raft_voters_load(r)) {
        sk_raft_free(r);
        return NULL;
    }
    restore(r, restored, now_ms);
    /* Kafka's raft client makes a sole voter a candidate at once rather than
     * after an election timeout: its one vote elects it, and it starts its
     * LeaderChange's flush so that a blocking log commits it on return. A
     * failure stops the core, which says so at the next call. */
    if (r->n_peers == 1 && r->self >= 0 && sk_raft_start_election(r, now_ms) == SK_ERR_NONE)
        (void)sk_raft_flush(r);
    return r;
}

void sk_raft_free(struct sk_raft *r)
{
    if (!r)
        return;
    sk_raft_outq_free(&r->out);
    sk_raft_voters_free(r);
    free(r);
}

static int tick(struct sk_raft *r, int64_t now)
{
    if (r->failed)
        return r->failed;
    r->now = now;
    /* A leader's appends are flushed at its tick; one that lost its epoch
     * first still owes that flush, and as a follower it fetches only once
     * its log is durable. */
    if (r->role != SK_RAFT_LEADER) {
        int err = sk_raft_flush(r);
        if (err)
            return err;
    }
    switch (r->role) {
    case SK_RAFT_LEADER:
        return sk_raft_tick_leader(r, now);
    case SK_RAFT_FOLLOWER:
        return sk_raft_tick_follower(r, now);
    case SK_RAFT_RESIGNED:
        return sk_raft_tick_resigned(r, now);
    case SK_RAFT_CANDIDATE:
        return sk_raft_tick_candidate(r, now);
    case SK_RAFT_UNATTACHED:
    case SK_RAFT_VOTED:
        break;
    }
    if (sk_raft_observer(r))
        return sk_raft_tick_observer(r, now);
    return now >= r->election_at_ms ? sk_raft_start_election(r, now) : SK_ERR_NONE;
}

int64_t sk_raft_high_watermark(const struct sk_raft *r)
{
    return r->hw;
}

int64_t sk_raft_leader_high_watermark(const struct sk_raft *r)
{
    return r->role == SK_RAFT_LEADER ? r->hw : r->leader_hw;
}

int16_t sk_raft_failure(const struct sk_raft *r)
{
    return r->failed;
}

enum sk_raft_role sk_raft_role(const struct sk_raft *r)
{
    return r->role;
}

int32_t sk_raft_epoch(const struct sk_raft *r)
{
    return r->q.epoch;
}

int32_t sk_raft_leader(const struct sk_raft *r)
{
    return r->q.leader_id;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The requests still owed an answer, per role: votes, BeginQuorumEpoch,
 * EndQuorumEpoch. */
static bool awaits(const struct sk_raft *r, const struct sk_raft_peer *p)
{
    if (r->role == SK_RAFT_CANDIDATE)
        return !p->answered && !r->backoff_until_ms;
    return (r->role == SK_RAFT_LEADER || r->role == SK_RAFT_RESIGNED) && !p->acked;
}

int64_t sk_raft_next_deadline(const struct sk_raft *r)
{
    if (r->unflushed && !r->flush_pending)
        return INT64_MIN;
    if (r->role == SK_RAFT_LEADER && sk_raft_leader_must_resign(r))
        return INT64_MIN;
    if (r->role == SK_RAFT_LEADER)
        return min64(sk_raft_leader_deadline(r), sk_raft_parked_deadline(r));
    /* An observer never stands: its only timers are its fetches and, when
     * following, the fetch timeout after which it looks for a leader. */
    if (sk_raft_observer(r) && r->role != SK_RAFT_FOLLOWER)
        return r->fetch_corr ? r->fetch_retry_ms : r->fetch_at_ms;
    int64_t t = r->election_at_ms;
    if (r->role == SK_RAFT_CANDIDATE && r->backoff_until_ms)
        t = r->backoff_until_ms;
    /* A follower fetches again only once its log is durable: the flush's
     * completion is the caller's event, not a timer. */
    if (r->role == SK_RAFT_FOLLOWER && (r->fetch_corr || sk_raft_all_flushed(r)))
        t = min64(t, r->fetch_corr ? r->fetch_retry_ms : r->fetch_at_ms);
    for (int32_t i = 0; i < r->n_peers; i++)
        if (i != r->self && awaits(r, &r->peers[i]))
            t = min64(t, r->peers[i].retry_at_ms);
    return t;
}

int sk_raft_tick(struct sk_raft *r, int64_t now)
{
    int err = tick(r, now);
    int woke = sk_raft_wake_fetches(r, now);
    return err ? err : woke;
}
