/* The Raft core of the KRaft metadata quorum: a deterministic state machine.
 * Time, messages and appends go in; messages to send, log and quorum-state
 * writes and the committed high watermark come out. Every entry point
 * returns Kafka's error code: NONE; NOT_LEADER_OR_FOLLOWER for an append off
 * the leader, INVALID_REQUEST for one of no records; KAFKA_STORAGE_ERROR when
 * the log or the store failed, UNKNOWN_SERVER_ERROR when memory ran out or a
 * leader asked to truncate below the high watermark. After those last two
 * the core is stopped and says so at every call, as Kafka's raft client
 * stops after a failed write. */
#ifndef SKEIN_RAFT_H
#define SKEIN_RAFT_H

#include "skein/raft-t.h"

/* restored is what the quorum-state store holds (zeroes and NO_ID for a
 * fresh node). A node id outside the voters makes an observer, as Kafka's
 * brokers are: it never votes or stands, finds the leader by fetching from
 * the voters in turn and follows it. NULL on ENOMEM or a bad config. */
struct sk_raft *sk_raft_new(const struct sk_raft_config *cfg, const struct sk_raft_qstate *restored,
                            int64_t now_ms);
void sk_raft_free(struct sk_raft *r);

/* Fires timers due at now_ms: elections, fetches, retries, check-quorum. */
int sk_raft_tick(struct sk_raft *r, int64_t now_ms);
/* One decoded request or response addressed to this node. Requests are
 * answered through the outbox; records in a message are only borrowed. */
int sk_raft_receive(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now_ms);
/* On the leader: appends one batch of count records in the current epoch
 * and sets *offset to its base offset. */
int sk_raft_append(struct sk_raft *r, const uint8_t *data, size_t len, int32_t count,
                   int64_t *offset);
/* A flush the log started (its flush op returned 1) has completed: every
 * offset below end_offset is durable, if nothing was truncated since. */
int sk_raft_flushed(struct sk_raft *r, uint64_t token, int64_t end_offset);
/* Graceful shutdown of a leader: resigns and tells the voters, preferring
 * the most caught-up ones as successors (EndQuorumEpoch). */
int sk_raft_resign(struct sk_raft *r, int64_t now_ms);

/* A node about to stop answers the fetches its leader holds now, as if
 * their wait were over: its stop waits for every request it read. */
int sk_raft_release_fetches(struct sk_raft *r);

/* Takes the next message to send, oldest first; false when none. The caller
 * owns it and gives it back with sk_raft_msg_release. */
bool sk_raft_poll_out(struct sk_raft *r, struct sk_raft_msg *out);
void sk_raft_msg_release(struct sk_raft_msg *m);

/* The leader's view for DescribeQuorum; NOT_LEADER_OR_FOLLOWER elsewhere,
 * as Kafka answers. */
int sk_raft_describe(const struct sk_raft *r, int64_t now_ms, struct sk_raft_quorum_view *out);

/* KIP-853 voter changes on the leader, for the driver's AddRaftVoter,
 * RemoveRaftVoter and UpdateRaftVoter. Each checks in the order of Kafka
 * 3.9's handlers: NOT_LEADER_OR_FOLLOWER off the leader; REQUEST_TIMED_OUT
 * before the leader committed an entry of its epoch; UNSUPPORTED_VERSION at
 * kraft.version 0; REQUEST_TIMED_OUT while the latest voter set is not yet
 * committed; then DUPLICATE_VOTER (an add of an id already voting) or
 * VOTER_NOT_FOUND (a remove or update of a replica key not voting, or a
 * remove that would leave no voter); INVALID_REQUEST for a voter whose
 * kraft.version range excludes the cluster's or that has no endpoint. On
 * success the new set is appended as a VOTERS batch at *offset: an add or
 * remove is answered once the high watermark passes it, an update at once,
 * as Kafka does. A leader that removed itself resigns once that commits. */
int sk_raft_add_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms,
                      int64_t *offset);
/* Not an error: the replica to add is not an observer that fetched with its
 * directory id up to the high watermark within the fetch timeout. The driver
 * retries until the request's timeout, then answers REQUEST_TIMED_OUT. */
#define SK_RAFT_NOT_CAUGHT_UP 0x7f00
/* The checks of sk_raft_add_voter up to its catch-up test, appending
 * nothing: what a leader answers before it asks the new voter anything. */
int sk_raft_check_add_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms);
int sk_raft_remove_voter(struct sk_raft *r, int32_t id, const uint8_t *directory_id,
                         int64_t now_ms, int64_t *offset);
int sk_raft_update_voter(struct sk_raft *r, const struct sk_raft_voter *v, int64_t now_ms,
                         int64_t *offset);
/* The voter set this node uses: the latest in its log, committed or not. */
const struct sk_raft_voter_set *sk_raft_voters(const struct sk_raft *r);
/* Where that set entered the log; -1 for the initial set. */
int64_t sk_raft_voters_offset(const struct sk_raft *r);

/* The core's encoding of a VOTERS batch (little-endian, versioned by its
 * first byte). encode returns the length, or 0 when cap is too small;
 * decode returns 0 or -EBADMSG. */
size_t sk_raft_voters_encode(const struct sk_raft_voter_set *s, uint8_t *buf, size_t cap);
int sk_raft_voters_decode(const uint8_t *buf, size_t len, struct sk_raft_voter_set *out);
/* Enough for any set. */
#define SK_RAFT_VOTERS_MAX_ENCODED                                                            \
    (2 + SK_RAFT_MAX_VOTERS * (29 + SK_RAFT_MAX_ENDPOINTS *                                   \
                                       (4 + SK_RAFT_LISTENER_MAX + SK_RAFT_HOST_MAX)))
/* The voter in s with the node id; -1 when none. */
int32_t sk_raft_voters_find(const struct sk_raft_voter_set *s, int32_t id);
/* Whether replica (id, directory id) votes in s: same id, and the same
 * directory id unless the voter has none (kraft.version 0). */
bool sk_raft_voters_has(const struct sk_raft_voter_set *s, int32_t id, const uint8_t *dir);

/* Offsets below it are committed; -1 until this node has learned one in its
 * lifetime. Never goes back. */
int64_t sk_raft_high_watermark(const struct sk_raft *r);
/* The quorum's high watermark as the leader last told it (the leader's own
 * on the leader); -1 while this epoch's leader has not said. A follower's
 * own high watermark stops at its log end, so only this one says whether
 * the follower has caught up. */
int64_t sk_raft_leader_high_watermark(const struct sk_raft *r);
/* The error that stopped the core, 0 while it runs. */
int16_t sk_raft_failure(const struct sk_raft *r);
enum sk_raft_role sk_raft_role(const struct sk_raft *r);
/* True for a node outside the voter set. */
bool sk_raft_is_observer(const struct sk_raft *r);
int32_t sk_raft_epoch(const struct sk_raft *r);
int32_t sk_raft_leader(const struct sk_raft *r);
/* When to tick next: the earliest time a timer is due (in the past when
 * work is waiting, such as a flush on the leader). */
int64_t sk_raft_next_deadline(const struct sk_raft *r);

/* An in-memory log and quorum-state store for tests and simulations: the
 * log keeps a flushed mark and "crashes" back to it. */
struct sk_raft_memlog;
struct sk_raft_memlog *sk_raft_memlog_new(void);
void sk_raft_memlog_free(struct sk_raft_memlog *l);
/* Loses everything appended since the last flush, as a power cut would. */
void sk_raft_memlog_crash(struct sk_raft_memlog *l);
/* Makes the next flush (n = 1) or appends fail, to test error returns. */
void sk_raft_memlog_fail_next(struct sk_raft_memlog *l, int n);
/* Makes the next n snapshot installs find the snapshot corrupt (-EBADMSG):
 * the part is dropped and the log kept, as the on-disk log does. */
void sk_raft_memlog_corrupt_next(struct sk_raft_memlog *l, int n);
/* Asynchronous flushes: each one waits until completed, oldest first. */
void sk_raft_memlog_set_async(struct sk_raft_memlog *l, bool async);
/* Completes the oldest pending flush; false when none. *token and *end are
 * what to pass to sk_raft_flushed. */
bool sk_raft_memlog_complete_flush(struct sk_raft_memlog *l, uint64_t *token, int64_t *end);
size_t sk_raft_memlog_count(const struct sk_raft_memlog *l);
const struct sk_raft_batch *sk_raft_memlog_at(const struct sk_raft_memlog *l, size_t i);
/* Takes a snapshot of data ending at end (a batch boundary in the log) and
 * deletes the log below it, as a node does once a snapshot is written.
 * 0 or a negative errno. */
int sk_raft_memlog_snapshot(struct sk_raft_memlog *l, int64_t end, const uint8_t *data,
                            size_t len);
/* The latest snapshot's bytes, NULL when none; and where the log starts. */
const uint8_t *sk_raft_memlog_snapshot_data(const struct sk_raft_memlog *l, size_t *len);
int64_t sk_raft_memlog_start(const struct sk_raft_memlog *l);
/* KIP-853: every snapshot the log takes or installs from now on carries
 * the voter set at its end (its bytes start with it, as a KRaft snapshot's
 * control records do); off by default, so kraft.version 0 snapshots stay
 * exactly the bytes given. */
void sk_raft_memlog_keep_voters(struct sk_raft_memlog *l);
/* Fills cfg->log and cfg->log_ctx. */
void sk_raft_memlog_bind(struct sk_raft_memlog *l, struct sk_raft_config *cfg);

struct sk_raft_memstore {
    struct sk_raft_qstate state;
    int writes;
    int fail_next;
};
void sk_raft_memstore_bind(struct sk_raft_memstore *s, struct sk_raft_config *cfg);

#endif
