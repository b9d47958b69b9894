/* The types of the Raft core (src/raft/): the messages it takes and gives as
 * plain structs with the fields of Kafka's KRaft messages (KIP-595), and the
 * two interfaces through which it touches storage. The core does no I/O of its
 * own, so a simulation can drive it on a fake clock and network and a node can
 * wire it to the CONTROLLER listener and the __cluster_metadata log later. */
#ifndef SKEIN_RAFT_T_H
#define SKEIN_RAFT_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most voters a set holds, static (controller.quorum.voters) or
 * dynamic (KIP-853). */
#define SK_RAFT_MAX_VOTERS 9
/* The observers (nodes outside the voter set, such as brokers) a leader
 * tracks for DescribeQuorum and whose fetches it may hold; past it the one
 * heard from least recently is forgotten. */
#define SK_RAFT_MAX_OBSERVERS 64
/* Kafka's cluster ids are 22 base64 characters; room for any sane one. */
#define SK_RAFT_CLUSTER_ID_MAX 64
#define SK_RAFT_NO_ID (-1)
#define SK_RAFT_BOOTSTRAP_ID(i) (-2 - (int32_t)(i))
#define SK_RAFT_MAX_BOOTSTRAP 16

/* Wire bytes with a length; len < 0 is the null of a nullable string (old
 * request versions carry no cluster id, and Kafka then skips the check). */
struct sk_raft_cluster_id {
    int16_t len;
    uint8_t bytes[SK_RAFT_CLUSTER_ID_MAX];
};

/* KIP-853: a replica is named by its node id and the 16-byte id of its
 * metadata log directory (Kafka's ReplicaKey), so a node whose disk was
 * wiped and reformatted is a different replica. An all-zero directory id is
 * Kafka's "none": a kraft.version 0 voter, matched by node id alone. */
#define SK_RAFT_DIR_ID_LEN 16
#define SK_RAFT_MAX_ENDPOINTS 4
#define SK_RAFT_LISTENER_MAX 64
#define SK_RAFT_HOST_MAX 255

/* One listener of a voter, as VotersRecord's Endpoints: wire bytes with a
 * length, never NUL-terminated. */
struct sk_raft_endpoint {
    uint8_t name_len;
    uint8_t host_len;
    uint16_t port;
    uint8_t name[SK_RAFT_LISTENER_MAX];
    uint8_t host[SK_RAFT_HOST_MAX];
};

struct sk_raft_voter {
    int32_t id;
    uint8_t directory_id[SK_RAFT_DIR_ID_LEN];
    /* The kraft.version range it supports (VotersRecord KRaftVersionFeature). */
    int16_t min_kraft_version;
    int16_t max_kraft_version;
    int32_t n_endpoints;
    struct sk_raft_endpoint endpoints[SK_RAFT_MAX_ENDPOINTS];
};

/* A whole voter set, as one VotersRecord carries it. Ids are unique. */
struct sk_raft_voter_set {
    int32_t n;
    struct sk_raft_voter voters[SK_RAFT_MAX_VOTERS];
};

enum sk_raft_batch_kind {
    SK_RAFT_BATCH_DATA,
    /* The control batch a leader writes first in its epoch, as Kafka's
     * LeaderChange record: the log adapter encodes it, data is empty. */
    SK_RAFT_BATCH_LEADER_CHANGE,
    /* KIP-853's VotersRecord control batch: the whole voter set from its
     * offset on. data is the core's encoding (sk_raft_voters_encode), which
     * the log adapter translates to and from the VotersRecord on disk. */
    SK_RAFT_BATCH_VOTERS,
};

/* One record batch of the log: records opaque to the core, counted in
 * offsets, stamped with the epoch of the leader that appended them. */
struct sk_raft_batch {
    int64_t base_offset;
    int32_t epoch;
    int32_t count;
    enum sk_raft_batch_kind kind;
    const uint8_t *data;
    size_t len;
};

enum sk_raft_msg_type {
    SK_RAFT_VOTE_REQ,
    SK_RAFT_VOTE_RESP,
    SK_RAFT_BEGIN_EPOCH_REQ,
    SK_RAFT_BEGIN_EPOCH_RESP,
    SK_RAFT_END_EPOCH_REQ,
    SK_RAFT_END_EPOCH_RESP,
    SK_RAFT_FETCH_REQ,
    SK_RAFT_FETCH_RESP,
    SK_RAFT_FETCH_SNAPSHOT_REQ,
    SK_RAFT_FETCH_SNAPSHOT_RESP,
};

/* A snapshot is named by the offset it ends at (everything below it) and
 * the epoch of its last entry, as KRaft's <offset>-<epoch>.checkpoint. */
struct sk_raft_snapshot_id {
    int64_t end_offset;
    int32_t epoch;
};

struct sk_raft_vote_req {
    int32_t last_epoch;  /* LastOffsetEpoch */
    int64_t last_offset; /* LastOffset: the candidate's log end offset */
};

struct sk_raft_end_epoch_req {
    int32_t preferred[SK_RAFT_MAX_VOTERS]; /* PreferredCandidates, best first */
    int32_t n_preferred;
};

struct sk_raft_fetch_req {
    int64_t fetch_offset;
    int32_t last_fetched_epoch;
    /* MaxWaitMs: how long the leader may hold a fetch it has nothing new
     * for; 0 answers at once. */
    int32_t max_wait_ms;
    /* ReplicaDirectoryId (Fetch v17): the fetcher's directory id, all zero
     * when it has none; a leader adds an observer only with this one. */
    uint8_t replica_directory_id[SK_RAFT_DIR_ID_LEN];
};

struct sk_raft_fetch_resp {
    int64_t high_watermark;
    /* DivergingEpoch; epoch < 0 when the fetch did not diverge. */
    int32_t diverging_epoch;
    int64_t diverging_end_offset;
    const struct sk_raft_batch *batches;
    size_t n_batches;
    /* SnapshotId: the fetch offset is below the leader's log start, so the
     * follower must take this snapshot first. Absent when end_offset <= 0
     * (no fetch offset is below 0, so a zeroed message means none). */
    struct sk_raft_snapshot_id snapshot;
};

/* FetchSnapshot (KIP-630): a chunk of the snapshot from position. */
struct sk_raft_fetch_snapshot_req {
    struct sk_raft_snapshot_id id;
    int64_t position;
    int32_t max_bytes;
};

struct sk_raft_fetch_snapshot_resp {
    struct sk_raft_snapshot_id id;
    int64_t size; /* of the whole snapshot */
    int64_t position;
    const uint8_t *data;
    size_t len;
};

/* A decoded request or response. src and dst are node ids: a request's src is
 * its CandidateId / LeaderId / ReplicaState.ReplicaId. epoch is the
 * CandidateEpoch, LeaderEpoch or CurrentLeaderEpoch of a request and the
 * responder's LeaderEpoch in a response; leader_id is the LeaderId the
 * message names (the responder's known leader in a response). corr pairs a
 * response with its request, as the wire's correlation id does. */
struct sk_raft_msg {
    enum sk_raft_msg_type type;
    int32_t src;
    int32_t dst;
    uint32_t corr;
    struct sk_raft_cluster_id cluster_id;
    int16_t error; /* responses: Kafka's error code, top level or partition */
    int32_t epoch;
    int32_t leader_id;
    union {
        struct sk_raft_vote_req vote;
        bool vote_granted;
        struct sk_raft_end_epoch_req end;
        struct sk_raft_fetch_req fetch;
        struct sk_raft_fetch_resp fetch_resp;
        struct sk_raft_fetch_snapshot_req snap;
        struct sk_raft_fetch_snapshot_resp snap_resp;
    } u;
    void *owned; /* outgoing messages: the copy of the batches, see release */
};

/* The log: __cluster_metadata later, an in-memory log in tests. Every
 * function returns 0 or a negative errno; the core stops and returns
 * KAFKA_STORAGE_ERROR on a failure. Appends are not durable until a flush
 * completes. */
struct sk_raft_log_ops {
    /* b->base_offset is the current end offset. */
    int (*append)(void *ctx, const struct sk_raft_batch *b);
    /* Drops every offset >= offset (a batch boundary). */
    int (*truncate)(void *ctx, int64_t offset);
    /* Starts making everything appended so far survive a crash (an io_uring
     * fdatasync, say). Returns 0 when that is done already, 1 when the
     * caller will report it with sk_raft_flushed(token, the end offset at
     * this call). A flush started before a truncation proves nothing about
     * what was appended after it: the token tells them apart. */
    int (*flush)(void *ctx, uint64_t token);
    int64_t (*end_offset)(void *ctx);
    /* The epoch of the last batch, 0 for an empty log. */
    int32_t (*last_epoch)(void *ctx);
    /* Kafka's endOffsetForEpoch: the largest epoch <= epoch in the log and
     * the offset where it ends (the next epoch's start, or the log end). An
     * epoch below every batch gives epoch -1, offset 0. */
    void (*end_for_epoch)(void *ctx, int32_t epoch, int32_t *out_epoch, int64_t *out_end);
    /* Batches from the one holding offset, at most max_bytes of data (at
     * least one batch); pointers valid until the next log call. */
    int (*read)(void *ctx, int64_t offset, size_t max_bytes, struct sk_raft_batch *out,
                size_t max_out, size_t *n_out);
    /* Snapshots (KIP-630); a log without them leaves all five NULL and
     * starts at 0. The offset of the first entry still held: below it
     * only the latest snapshot has the data. */
    int64_t (*start_offset)(void *ctx);
    /* The latest snapshot; -ENOENT when there is none. */
    int (*snapshot_latest)(void *ctx, struct sk_raft_snapshot_id *id);
    /* Copies up to max bytes of snapshot id from pos into buf and sets *n
     * and the snapshot's *size; -ENOENT when id is not held. */
    int (*snapshot_read)(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                         uint8_t *buf, size_t max, size_t *n, int64_t *size);
    /* A follower taking a snapshot: writes a chunk at pos of a partial
     * snapshot (a .checkpoint.part); pos 0 starts it afresh. */
    int (*snapshot_write)(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                          const uint8_t *data, size_t len);
    /* The partial snapshot is whole: makes it durable and the latest, and
     * replaces the log by it, which then starts and ends at id->end_offset
     * with last epoch id->epoch (KRaft's truncateToLatestSnapshot).
     * -EBADMSG: the snapshot is corrupt and was dropped; the log is as it
     * was and the core fetches again. */
    int (*snapshot_install)(void *ctx, const struct sk_raft_snapshot_id *id);
    /* KIP-853, optional: the voter set at the end of snapshot id (the
     * VotersRecord among its control records); -ENOENT when it has none,
     * and the core then takes the configured initial set. */
    int (*snapshot_voters)(void *ctx, const struct sk_raft_snapshot_id *id,
                           struct sk_raft_voter_set *out);
};

/* What Kafka keeps in the quorum-state file (QuorumStateData v1). */
struct sk_raft_qstate {
    int32_t epoch;
    int32_t leader_id;
    int32_t voted_id;
};

/* Durable on return: the core writes it before any message that depends on
 * it leaves. Returns 0 or a negative errno. */
struct sk_raft_store_ops {
    int (*write)(void *ctx, const struct sk_raft_qstate *s);
};

/* Election jitter comes from the caller so a run is reproducible. */
typedef uint64_t (*sk_raft_rand_fn)(void *ctx);

/* Kafka's controller.quorum.* settings; 0 takes Kafka's default. */
struct sk_raft_config {
    int32_t node_id;
    /* kraft.version 0: the static voters (controller.quorum.voters). */
    int32_t voters[SK_RAFT_MAX_VOTERS];
    int32_t n_voters;
    /* kraft.version 1 (KIP-853) takes its voters from the log instead: the
     * latest VOTERS batch, else the latest snapshot's set, else this initial
     * set (what `format --standalone/--initial-controllers` wrote; the same
     * on every node; empty on a node formatted without one, which observes
     * until a VOTERS batch naming it reaches its log). voters/n_voters are
     * then unused. */
    int16_t kraft_version;
    struct sk_raft_voter_set initial_voters;
    /* A leader whose set is still initial_voters writes it into the log
     * after its LeaderChange, as a VOTERS batch of two offsets (Kafka's
     * KRaftVersion and Voters records), so that replicas formatted without
     * the bootstrap checkpoint learn it from the log, as Kafka's leader
     * does. Off, the set stays in the checkpoints alone (the simulation's
     * replicas are all configured with it). */
    bool write_initial_voters;
    /* controller.quorum.bootstrap.servers (KIP-853): an observer without a
     * leader asks these in turn, as Kafka's observers do, addressing the
     * i-th as node id SK_RAFT_BOOTSTRAP_ID(i) (negative, as Kafka names
     * them); the transport knows their addresses. 0: it asks the voters. */
    int32_t n_bootstrap;
    /* This node's metadata log directory id (meta.properties directory.id). */
    uint8_t directory_id[SK_RAFT_DIR_ID_LEN];
    struct sk_raft_cluster_id cluster_id;
    int32_t election_timeout_ms;     /* controller.quorum.election.timeout.ms */
    int32_t fetch_timeout_ms;        /* controller.quorum.fetch.timeout.ms */
    int32_t election_backoff_max_ms; /* controller.quorum.election.backoff.max.ms */
    int32_t request_timeout_ms;      /* controller.quorum.request.timeout.ms */
    int32_t retry_backoff_ms;        /* controller.quorum.retry.backoff.ms */
    /* The MaxWaitMs of a follower's fetch (Kafka's fetch.max.wait, 500 ms in
     * KafkaRaftClient): the leader parks a fetch it has nothing new for that
     * long, so the follower fetches again at once after every answer. */
    int32_t fetch_max_wait_ms;
    size_t fetch_max_bytes;
    struct sk_raft_log_ops log;
    void *log_ctx;
    struct sk_raft_store_ops store;
    void *store_ctx;
    sk_raft_rand_fn rand;
    void *rand_ctx;
};

/* What DescribeQuorum answers for one voter: -1 where the leader has not
 * heard from it in this epoch. */
struct sk_raft_replica_view {
    int32_t id;
    uint8_t directory_id[SK_RAFT_DIR_ID_LEN];
    int64_t log_end_offset;
    int64_t last_fetch_ms;
    int64_t last_caught_up_ms;
};

struct sk_raft_quorum_view {
    int32_t leader_id;
    int32_t epoch;
    int64_t high_watermark;
    int32_t n_voters;
    struct sk_raft_replica_view voters[SK_RAFT_MAX_VOTERS];
    /* The observers that fetched in this epoch, in no set order. */
    int32_t n_observers;
    struct sk_raft_replica_view observers[SK_RAFT_MAX_OBSERVERS];
    /* The current voter set with endpoints (DescribeQuorum v2's Nodes). */
    struct sk_raft_voter_set nodes;
};

enum sk_raft_role {
    SK_RAFT_UNATTACHED,
    SK_RAFT_VOTED,
    SK_RAFT_CANDIDATE,
    SK_RAFT_LEADER,
    SK_RAFT_FOLLOWER,
    SK_RAFT_RESIGNED,
};

struct sk_raft;

#endif
