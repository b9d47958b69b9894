/* Entry point for decoded messages, and the checks Kafka makes before a
 * request reaches the state machine: the cluster id (INCONSISTENT_CLUSTER_ID),
 * the epoch (FENCED_LEADER_EPOCH for a stale one) and the sender's place in
 * the voter set (INCONSISTENT_VOTER_SET). */
#include <string.h>

#include "raft_int.h"

/* A null cluster id comes from request versions that had none; Kafka lets
 * those through. */
int16_t sk_raft_check_cluster(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    const struct sk_raft_cluster_id *a = &m->cluster_id, *b = &r->cfg.cluster_id;
    if (a->len < 0)
        return SK_ERR_NONE;
    if (a->len != b->len || memcmp(a->bytes, b->bytes, (size_t)a->len) != 0)
        return SK_ERR_INCONSISTENT_CLUSTER_ID;
    return SK_ERR_NONE;
}

/* Vote, BeginQuorumEpoch and EndQuorumEpoch come only from voters, in an
 * epoch no older than ours. */
int16_t sk_raft_check_voter_request(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    int16_t err = sk_raft_check_cluster(r, m);
    if (err)
        return err;
    if (m->epoch < r->q.epoch)
        return SK_ERR_FENCED_LEADER_EPOCH;
    if (m->src < 0)
        return SK_ERR_INVALID_REQUEST;
    /* Kafka 3.9 checks the sender's membership only for a static quorum:
     * under KIP-853 either side may not have the latest set yet (a voter
     * just added, or one removed that does not know it and stands until a
     * higher epoch tells it of the leader). Votes are still granted only by
     * voters and counted only from the candidate's own set. */
    if (r->cfg.kraft_version >= 1 || sk_raft_peer((struct sk_raft *)r, m->src))
        return SK_ERR_NONE;
    return SK_ERR_INCONSISTENT_VOTER_SET;
}

/* Responses from nodes outside a static voter set are dropped: nothing in
 * them can be trusted to move our epoch. Fetch answers are the exception:
 * they pair with our one outstanding fetch. Under KIP-853 the sender may be
 * a voter our log does not know of yet, as above. */
static bool trusted(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    return r->cfg.kraft_version >= 1 || m->type == SK_RAFT_FETCH_RESP ||
           m->type == SK_RAFT_FETCH_SNAPSHOT_RESP || sk_raft_peer((struct sk_raft *)r, m->src);
}

static int on_response(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    if (!trusted(r, m) || sk_raft_check_cluster(r, m))
        return SK_ERR_NONE;
    switch (m->type) {
    case SK_RAFT_VOTE_RESP:
        return sk_raft_on_vote_resp(r, m, now);
    case SK_RAFT_BEGIN_EPOCH_RESP:
        return sk_raft_on_begin_resp(r, m, now);
    case SK_RAFT_END_EPOCH_RESP:
        return sk_raft_on_end_resp(r, m, now);
    case SK_RAFT_FETCH_RESP:
        return sk_raft_on_fetch_resp(r, m, now);
    case SK_RAFT_FETCH_SNAPSHOT_RESP:
        return sk_raft_on_fetch_snapshot_resp(r, m, now);
    default:
        return SK_ERR_NONE;
    }
}

static int receive(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    if (r->failed)
        return r->failed;
    r->now = now;
    if (m->dst != r->cfg.node_id)
        return SK_ERR_NONE;
    switch (m->type) {
    case SK_RAFT_VOTE_REQ:
        return sk_raft_on_vote_req(r, m, now);
    case SK_RAFT_BEGIN_EPOCH_REQ:
        return sk_raft_on_begin_req(r, m, now);
    case SK_RAFT_END_EPOCH_REQ:
        return sk_raft_on_end_req(r, m, now);
    case SK_RAFT_FETCH_REQ:
        return sk_raft_on_fetch_req(r, m, now);
    case SK_RAFT_FETCH_SNAPSHOT_REQ:
        return sk_raft_on_fetch_snapshot_req(r, m, now);
    default:
        return on_response(r, m, now);
    }
}

int sk_raft_receive(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int err = receive(r, m, now);
    int woke = sk_raft_wake_fetches(r, now);
    return err ? err : woke;
}
