/* The leader's voter changes (KIP-853), as Kafka 3.9's AddVoterHandler,
 * RemoveVoterHandler and UpdateVoterHandler: one change at a time, each a
 * VOTERS batch with the whole new set, which every replica uses as soon as
 * it is in its log. Two rules keep majorities of consecutive sets
 * overlapping, which is what keeps one leader per epoch: no change while the
 * latest set is not committed, and none before the leader has committed an
 * entry of its own epoch (Raft's single-server change needs that fence: a
 * new leader may hold an uncommitted set of a predecessor that another
 * leader's majority never saw). An added replica must already be following
 * and caught up, so that it does not stall the high watermark. The caller
 * answers once the high watermark passes the offset given (an update at
 * once, as Kafka does). */
#include <string.h>

#include "raft_int.h"

/* Kafka checks these in this order in all three handlers. */
static int16_t may_change(const struct sk_raft *r)
{
    if (r->failed)
        return r->failed;
    if (r->role != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    if (r->hw <= r->epoch_start_offset)
        return SK_ERR_REQUEST_TIMED_OUT;
    if (r->cfg.kraft_version < 1)
        return SK_ERR_UNSUPPORTED_VERSION;
    if (sk_raft_voters_offset(r) >= r->hw)
        return SK_ERR_REQUEST_TIMED_OUT;
    return SK_ERR_NONE;
}

static bool supports_ours(const struct sk_raft *r, const struct sk_raft_voter *v)
{
    return v->min_kraft_version <= r->cfg.kraft_version &&
           v->max_kraft_version >= r->cfg.kraft_version;
}

static bool valid_voter(const struct sk_raft *r, const struct sk_raft_voter *v)
{
    return v->id >= 0 && supports_ours(r, v) && v->n_endpoints >= 1 &&
           v->n_endpoints <= SK_RAFT_MAX_ENDPOINTS;
}

/* Kafka's isReplicaCaughtUp, made exact for a log counted in offsets: the
 * replica fetched as this directory within the fetch timeout, from at or
 * past the high watermark. */
static bool caught_up(const struct sk_raft *r, const struct sk_raft_voter *v)
{
    const struct sk_raft_peer *p = sk_raft_find_observer(r, v->id);
    return p && p->fetched && memcmp(p->dir, v->directory_id, SK_RAFT_DIR_ID_LEN) == 0 &&
           r->now - p->last_fetch_ms <= r->cfg.fetch_timeout_ms && p->end_offset >= r->hw;
}

static int append_set(struct sk_raft *r, const struct sk_raft_voter_set *s, int64_t *offset)
{
    uint8_t buf[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t len = sk_raft_voters_encode(s, buf, sizeof(buf));
    if (len == 0)
        return SK_ERR_INVALID_REQUEST;
    int err = sk_raft_leader_append(r, SK_RAFT_BATCH_VOTERS, buf, len, 1, offset);
    if (err)
        return err;
    err = sk_raft_voters_push(r, *offset, s);
    /* A held fetch waits for the new batch. */
    int woke = sk_raft_wake_fetches(r, INT64_MIN);
    return err ? err : woke;
}

/* Two records on disk, KRaftVersion and Voters, as Kafka writes them. */
int sk_raft_voters_rewrite_initial(struct sk_raft *r)
{
    if (r->cfg.kraft_version < 1 || !r->cfg.write_initial_voters || sk_raft_voters_offset(r) >= 0)
        return SK_ERR_NONE;
    struct sk_raft_voter_set s = *sk_raft_voters(r);
    uint8_t buf[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t len = sk_raft_voters_encode(&s, buf, sizeof(buf));
    int64_t offset;
    if (len == 0)
        return sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
    int err = sk_raft_leader_append(r, SK_RAFT_BATCH_VOTERS, buf, len, 2, &offset);
    return err ? err : sk_raft_voters_push(r, offset, &s);
}

int sk_raft_check_add_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms)
{
    r->now = now_ms;
    int16_t err = may_change(r);
    if (err)
        return err;
    const struct sk_raft_voter_set *s = sk_raft_voters(r);
    if (sk_raft_voters_find(s, v->id) >= 0)
        return SK_ERR_DUPLICATE_VOTER;
    if (!valid_voter(r, v) || s->n == SK_RAFT_MAX_VOTERS)
        return SK_ERR_INVALID_REQUEST;
    return SK_ERR_NONE;
}

int sk_raft_add_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms,
                      int64_t *offset)
{
    int err = sk_raft_check_add_voter(r, v, now_ms);
    if (err)
        return err;
    if (!caught_up(r, v))
        return SK_RAFT_NOT_CAUGHT_UP;
    struct sk_raft_voter_set s = *sk_raft_voters(r);
    s.voters[s.n++] = *v;
    return append_set(r, &s, offset);
}

/* Kafka's VoterSet.removeVoter: the exact replica key, and never the last
 * voter. */
int sk_raft_remove_voter(struct sk_raft *r, int32_t id, const uint8_t *directory_id,
                         int64_t now_ms, int64_t *offset)
{
    r->now = now_ms;
    int16_t err = may_change(r);
    if (err)
        return err;
    struct sk_raft_voter_set s = *sk_raft_voters(r);
    int32_t i = sk_raft_voters_find(&s, id);
    if (i < 0 || s.n == 1 ||
        memcmp(s.voters[i].directory_id, directory_id, SK_RAFT_DIR_ID_LEN) != 0)
        return SK_ERR_VOTER_NOT_FOUND;
    memmove(&s.voters[i], &s.voters[i + 1], (size_t)(s.n - i - 1) * sizeof(s.voters[0]));
    s.n--;
    return append_set(r, &s, offset);
}

int sk_raft_update_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms,
                         int64_t *offset)
{
    r->now = now_ms;
    int16_t err = may_change(r);
    if (err)
        return err;
    if (!valid_voter(r, v))
        return SK_ERR_INVALID_REQUEST;
    struct sk_raft_voter_set s = *sk_raft_voters(r);
    int32_t i = sk_raft_voters_find(&s, v->id);
    if (i < 0 || memcmp(s.voters[i].directory_id, v->directory_id, SK_RAFT_DIR_ID_LEN) != 0)
        return SK_ERR_VOTER_NOT_FOUND;
    s.voters[i] = *v;
    return append_set(r, &s, offset);
}
