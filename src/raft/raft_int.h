/* The Raft core's private state, shared by its files: state.c (the epoch
 * states and the quorum-state writes), election.c (candidates and votes),
 * leader.c (BeginQuorumEpoch, appends, the high watermark, check-quorum,
 * resignation), follower.c (fetching and truncation), snapshot.c
 * (FetchSnapshot on both sides), receive.c (request validation) and
 * outbox.c (the messages the caller drains), voters.c (the voter set and
 * its history in the log, KIP-853) and reconfig.c (the leader's voter
 * changes). */
#ifndef SKEIN_RAFT_INT_H
#define SKEIN_RAFT_INT_H

#include "skein/errors.h"
#include "skein/raft.h"

/* What the node knows of each voter, itself included. Which fields mean
 * something depends on the role: a candidate's answered/granted, a leader's
 * end_offset/last_fetch_ms/acked (BeginQuorumEpoch), a resigned leader's
 * acked (EndQuorumEpoch). */
struct sk_raft_peer {
    int32_t id;
    /* An observer's ReplicaDirectoryId, as its last fetch named it. */
    uint8_t dir[SK_RAFT_DIR_ID_LEN];
    bool answered;
    bool granted;
    bool acked;
    int64_t end_offset;
    int64_t last_fetch_ms;
    int64_t caught_up_ms;
    bool fetched;
    int64_t retry_at_ms;
    /* Leader: the voter's fetch it holds (Kafka's fetch purgatory), until
     * park_until_ms or until the log end or the high watermark moves past
     * what it was when parked (park_hw). */
    bool parked;
    struct sk_raft_msg park;
    int64_t park_until_ms;
    int64_t park_hw;
    /* Leader: the high watermark its last answer carried (-1: none yet in
     * this epoch). A fetch is not held while the fetcher lacks the current
     * one, so every node learns a commit within a round trip (the problem
     * Kafka's KIP-1166 names: a voter outside the committing majority
     * otherwise learns it only when its held fetch times out). */
    int64_t told_hw;
};

struct sk_raft_outq {
    struct sk_raft_msg *msgs;
    size_t head;
    size_t len;
    size_t cap;
};

/* One voter set and the offset of the VOTERS batch that made it (-1 for
 * the configured initial set, the snapshot's end - 1 for a snapshot's). */
struct sk_raft_voter_hist {
    int64_t offset;
    struct sk_raft_voter_set set;
};

struct sk_raft {
    struct sk_raft_config cfg;
    enum sk_raft_role role;
    struct sk_raft_qstate q;
    /* The current voter set (the last of hist), one peer per voter in the
     * set's order. */
    struct sk_raft_peer peers[SK_RAFT_MAX_VOTERS];
    int32_t n_peers;
    int32_t self; /* index of this node in peers; -1 for an observer */
    /* Kafka's VoterSetHistory: every VOTERS batch in the log above the
     * newest one known committed, which stays first. The last is the set in
     * use, committed or not; a truncation drops the ones above it. */
    struct sk_raft_voter_hist *hist;
    size_t n_hist;
    size_t cap_hist;
    /* The time of the entry point running, for peers a set change adds. */
    int64_t now;
    /* Leader: the observers that fetch from it (leader.c). */
    struct sk_raft_peer observers[SK_RAFT_MAX_OBSERVERS];
    int32_t n_observers;
    /* Observer without a leader: the voter it asks next (follower.c). */
    int32_t bootstrap_next;
    int64_t hw;
    /* Durability of the log (flush.c): below flushed_end survives a crash.
     * A truncation bumps flush_gen so that a flush started before it does
     * not count for what was appended after. */
    int64_t flushed_end;
    bool unflushed;
    bool flush_pending;
    uint64_t flush_gen;
    /* Follower: the largest high watermark the leader of this epoch sent. */
    int64_t leader_hw;
    /* Unattached, voted, candidate, resigned: when to start an election.
     * Follower: the fetch timeout, after which it does. */
    int64_t election_at_ms;
    /* Candidate: a lost election waits until then; 0 when not backing off. */
    int64_t backoff_until_ms;
    int32_t election_retries;
    /* Leader: the offset of its LeaderChange batch; nothing before it
     * counts toward moving the high watermark in this epoch. */
    int64_t epoch_start_offset;
    /* Follower: the outstanding fetch (0 for none), when it is resent, and
     * when the next one goes. */
    uint32_t fetch_corr;
    int64_t fetch_retry_ms;
    int64_t fetch_at_ms;
    /* Follower: the snapshot it is taking (snapshot.c) in place of fetching,
     * and how much of it it holds. */
    bool snap_fetching;
    struct sk_raft_snapshot_id snap_id;
    int64_t snap_pos;
    uint32_t next_corr;
    int16_t failed; /* a storage error stops the core */
    struct sk_raft_outq out;
};

/* state.c */
int sk_raft_persist(struct sk_raft *r, int32_t epoch, int32_t leader, int32_t voted);
int sk_raft_to_unattached(struct sk_raft *r, int32_t epoch, int64_t now);
int sk_raft_to_voted(struct sk_raft *r, int32_t epoch, int32_t candidate, int64_t now);
int sk_raft_to_follower(struct sk_raft *r, int32_t epoch, int32_t leader, int64_t now);
int sk_raft_observe(struct sk_raft *r, int32_t epoch, int32_t leader, int64_t now);
int64_t sk_raft_random_timeout(struct sk_raft *r);
struct sk_raft_peer *sk_raft_peer(struct sk_raft *r, int32_t id);
int32_t sk_raft_majority(const struct sk_raft *r);
bool sk_raft_observer(const struct sk_raft *r);
int16_t sk_raft_fail(struct sk_raft *r, int16_t err);
/* leader.c: answers the parked fetches that are due (now = INT64_MIN when
 * no timer fired); every entry point ends with it. */
int sk_raft_wake_fetches(struct sk_raft *r, int64_t now);
/* When the first held fetch runs out of wait; INT64_MAX for none. */
int64_t sk_raft_parked_deadline(const struct sk_raft *r);

/* flush.c */
int sk_raft_flush(struct sk_raft *r);
int sk_raft_truncate_log(struct sk_raft *r, int64_t offset);
bool sk_raft_all_flushed(const struct sk_raft *r);

/* election.c */
int sk_raft_start_election(struct sk_raft *r, int64_t now);
int sk_raft_tick_candidate(struct sk_raft *r, int64_t now);
int sk_raft_on_vote_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_vote_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);

/* leader.c */
void sk_raft_update_hw(struct sk_raft *r);
int sk_raft_to_leader(struct sk_raft *r, int64_t now);
int sk_raft_tick_leader(struct sk_raft *r, int64_t now);
int64_t sk_raft_leader_deadline(const struct sk_raft *r);
int sk_raft_to_resigned(struct sk_raft *r, int64_t now);
int sk_raft_tick_resigned(struct sk_raft *r, int64_t now);
int sk_raft_on_begin_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_end_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_fetch_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);

/* follower.c */
void sk_raft_learn_hw(struct sk_raft *r);
int sk_raft_tick_follower(struct sk_raft *r, int64_t now);
int sk_raft_on_begin_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_end_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_fetch_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_tick_observer(struct sk_raft *r, int64_t now);

/* snapshot.c */
int64_t sk_raft_log_start(const struct sk_raft *r);
int sk_raft_answer_snapshot_id(struct sk_raft *r, struct sk_raft_msg *resp);
int sk_raft_send_fetch_snapshot(struct sk_raft *r, int32_t dst, int64_t now);
int sk_raft_on_fetch_snapshot_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_on_fetch_snapshot_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now);
int sk_raft_start_snapshot(struct sk_raft *r, const struct sk_raft_snapshot_id *id, int64_t now);

/* voters.c */
int sk_raft_voters_load(struct sk_raft *r);
int sk_raft_voters_push(struct sk_raft *r, int64_t offset, const struct sk_raft_voter_set *s);
int sk_raft_voters_on_batch(struct sk_raft *r, const struct sk_raft_batch *b);
void sk_raft_voters_truncated(struct sk_raft *r, int64_t end);
int sk_raft_voters_installed(struct sk_raft *r, const struct sk_raft_snapshot_id *id);
void sk_raft_voters_free(struct sk_raft *r);
/* leader.c: a replica leaving or joining the set keeps what the leader
 * knows of it (a held fetch above all) by moving between the voters' and
 * the observers' tables. */
bool sk_raft_adopt_observer(struct sk_raft *r, int32_t id, struct sk_raft_peer *out);
void sk_raft_keep_observer(struct sk_raft *r, const struct sk_raft_peer *p);
const struct sk_raft_peer *sk_raft_find_observer(const struct sk_raft *r, int32_t id);
/* reconfig.c: a leader whose set is still the configured initial one
 * (the bootstrap checkpoint's) writes it into the log after its
 * LeaderChange, as Kafka's leader does, so that replicas formatted without
 * it learn it. */
int sk_raft_voters_rewrite_initial(struct sk_raft *r);
int sk_raft_leader_append(struct sk_raft *r, enum sk_raft_batch_kind kind, const uint8_t *data,
                          size_t len, int32_t count, int64_t *offset);
bool sk_raft_leader_must_resign(const struct sk_raft *r);
/* state.c: a voter that left the set and may not stand goes back to
 * looking for a leader, its vote of this epoch kept. */
void sk_raft_to_nonvoter(struct sk_raft *r, int64_t now);

/* receive.c */
int16_t sk_raft_check_cluster(const struct sk_raft *r, const struct sk_raft_msg *m);
int16_t sk_raft_check_voter_request(const struct sk_raft *r, const struct sk_raft_msg *m);
int16_t sk_raft_check_fetch(const struct sk_raft *r, const struct sk_raft_msg *m);
bool sk_raft_awaited(const struct sk_raft *r, const struct sk_raft_msg *m);

/* outbox.c: each returns NULL on ENOMEM, which the core reports as
 * UNKNOWN_SERVER_ERROR. */
struct sk_raft_msg *sk_raft_request(struct sk_raft *r, enum sk_raft_msg_type t, int32_t dst);
struct sk_raft_msg *sk_raft_reply(struct sk_raft *r, const struct sk_raft_msg *req, int16_t err);
void sk_raft_outq_free(struct sk_raft_outq *q);

#endif
