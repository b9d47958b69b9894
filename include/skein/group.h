/* The group coordinator, classic protocol: membership, rebalances and the
 * groups' state machine.
 *
 *   Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
 *   CompletingRebalance --leader's SyncGroup stored--> Stable
 *   Stable/CompletingRebalance --join, leave, expiry--> PreparingRebalance
 *   PreparingRebalance --nobody left--> Empty;  Empty --deleted/expired--> Dead
 *
 * Invariants:
 *  - A member has at most one parked JoinGroup and one parked SyncGroup; every
 *    parked callback is called exactly once (answer, error, or shutdown).
 *  - generation only grows; it grows by one each time a rebalance completes.
 *  - A member has a session timer armed exactly when it is not waiting in a
 *    JoinGroup (the rebalance timeout covers it then), as in Kafka.
 *  - A group is freed only when it is out of the table and no operation in
 *    flight (a write to __consumer_offsets) holds a reference to it.
 *
 * The coordinator never touches the network or the disk itself: timers, the
 * clock and appends to __consumer_offsets come through struct sk_group_env,
 * so the state machine runs the same in the broker and in unit tests. */
#ifndef SKEIN_GROUP_H
#define SKEIN_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"
#include "skein/controller.h" /* sk_topic_spec */
#include "skein/java_hash.h" /* sk_group_partition_for */
#include "skein/wire_str.h"

struct sk_record_in;

#define SK_GROUP_OFFSETS_TOPIC "__consumer_offsets"

enum sk_group_state {
    SK_GROUP_EMPTY,
    SK_GROUP_PREPARING_REBALANCE,
    SK_GROUP_COMPLETING_REBALANCE,
    SK_GROUP_STABLE,
    SK_GROUP_DEAD,
};

/* Kafka's names ("PreparingRebalance", ...), as DescribeGroups/ListGroups show them. */
const char *sk_group_state_name(enum sk_group_state s);
/* Case-insensitive, as ListGroups' states filter; -1 if no state has the name. */
int sk_group_state_parse(kp_str name);

typedef void (*sk_group_done_fn)(void *arg, int16_t err);
typedef void (*sk_group_timer_fn)(void *arg);

/* What the coordinator needs from its surroundings. */
struct sk_group_env {
    void *ctx;
    uint64_t (*timer_add)(void *ctx, uint64_t ms, sk_group_timer_fn fn, void *arg); /* 0: failed */
    void (*timer_cancel)(void *ctx, uint64_t id);
    int64_t (*now_ms)(void *ctx); /* wall clock, for timestamps and retention */
    /* Appends records to a __consumer_offsets partition and calls done once
     * they are durable (or with the error that stopped them); done may run
     * before append returns. */
    void (*append)(void *ctx, int32_t partition, const struct sk_record_in *recs, size_t n,
                   sk_group_done_fn done, void *arg);
};

/* Broker settings the coordinator obeys (Kafka's names). */
struct sk_group_limits {
    int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
    int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
    int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
    int32_t max_size;                   /* group.max.size */
    int32_t metadata_max_bytes;         /* offset.metadata.max.bytes */
    int64_t retention_ms;               /* offsets.retention.minutes */
    int64_t retention_check_ms;         /* offsets.retention.check.interval.ms */
    int32_t num_partitions;             /* offsets.topic.num.partitions */
    int32_t load_buffer_size;           /* offsets.load.buffer.size */
};

/* Every string below is an owned wire string (skein/wire_str.h): bytes with a
 * length, zero bytes included, as the client sent them. */
struct sk_group_protocol {
    kp_str name;
    uint8_t *metadata;
    int32_t metadata_len;
};

struct sk_join_result;
struct sk_sync_result;
typedef void (*sk_join_fn)(void *arg, const struct sk_join_result *r);
typedef void (*sk_sync_fn)(void *arg, const struct sk_sync_result *r);

struct sk_group;

struct sk_member {
    struct sk_group *group;
    kp_str id;
    kp_str instance_id; /* static membership (KIP-345), null if dynamic */
    kp_str client_id;
    kp_str client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct sk_group_protocol *protocols; /* in the member's order of preference */
    int nprotocols;
    uint8_t *assignment;
    int32_t assignment_len;
    sk_join_fn join_cb; /* parked JoinGroup, NULL if none */
    void *join_arg;
    sk_sync_fn sync_cb; /* parked SyncGroup */
    void *sync_arg;
    uint64_t session_timer;
    bool is_new;     /* joined in this rebalance: expires on the short new-member timeout */
    bool pending;    /* got MEMBER_ID_REQUIRED and has not rejoined yet */
    bool awaiting_sync; /* CompletingRebalance: has not sent SyncGroup */
    struct sk_member *next;
};

struct sk_offset_table {
    struct sk_offset_entry **buckets;
    size_t nbuckets, n;
};

struct sk_group {
    struct sk_group_coordinator *co;
    kp_str id;
    int32_t partition; /* of __consumer_offsets */
    enum sk_group_state state;
    int64_t state_ts; /* wall ms of the last state change */
    int32_t generation;
    kp_str protocol_type; /* null until a member joins (or for simple commit groups) */
    kp_str protocol_name; /* the selected protocol, null while none */
    kp_str leader;        /* member id, null if no members */
    struct sk_member *members;
    int nmembers;
    struct sk_member *pending; /* MEMBER_ID_REQUIRED, waiting for their rejoin */
    int npending;
    uint64_t join_timer;    /* rebalance timeout or initial delay */
    uint64_t sync_timer;    /* CompletingRebalance timeout */
    bool initial_delay;     /* join_timer is group.initial.rebalance.delay.ms */
    bool new_member_added;  /* during the initial delay */
    int64_t delay_remaining_ms;
    struct sk_offset_table offsets;
    int pending_writes;     /* commits in flight (for DeleteGroups) */
    int refs;
    bool removed;           /* out of the table: freed when refs reaches 0 */
    struct sk_group *hnext;
};

/* Where one __consumer_offsets partition's groups stand on this node: not
 * in memory (another node leads it), being read from its log in slices
 * (its groups' requests get COORDINATOR_LOAD_IN_PROGRESS), or in memory. */
enum sk_group_load_state { SK_GROUP_UNLOADED, SK_GROUP_LOADING, SK_GROUP_LOADED };

struct sk_group_load {
    enum sk_group_load_state state;
    int64_t next; /* LOADING: the next offset of the log to read */
};

struct sk_group_coordinator {
    struct sk_group_env env;
    struct sk_group_limits lim;
    struct sk_group **buckets;
    size_t nbuckets, ngroups;
    bool available;      /* __consumer_offsets exists: otherwise COORDINATOR_NOT_AVAILABLE */
    uint64_t expiry_timer;
    struct sk_broker *broker; /* NULL in unit tests */
    /* Each __consumer_offsets partition's groups: a partition this node
     * comes to lead (at start-up, a restarted quorum member's image
     * catching up, a topic created later, a leader moved here) is loaded
     * then, a slice at a time so the shard serves everything else meanwhile
     * (Kafka loads on a scheduler thread). */
    struct sk_group_load *loads;
    int32_t nloads;
    uint64_t load_timer;
};

/* ---- the coordinator ------------------------------------------------------ */

struct sk_group_coordinator *sk_group_coordinator_new(const struct sk_group_env *env,
                                                      const struct sk_group_limits *lim);
/* Answers every parked request with COORDINATOR_NOT_AVAILABLE, cancels the
 * timers, frees everything. */
void sk_group_coordinator_free(struct sk_group_coordinator *co);

/* The error every group request gets before it reaches a group: no
 * __consumer_offsets yet; SK_ERR_NONE when ready. */
int16_t sk_group_coordinator_error(const struct sk_group_coordinator *co);
/* False while the partition's groups are being read from its log: they are
 * not whole yet, so nothing may be decided from them (offset expiry). */
bool sk_group_partition_ready(const struct sk_group_coordinator *co, int32_t partition);


struct sk_group *sk_group_find(struct sk_group_coordinator *co, kp_str id);
/* Finds or creates (Empty); NULL on out of memory. */
struct sk_group *sk_group_get_or_create(struct sk_group_coordinator *co, kp_str id);
/* Out of the table and Dead; freed once no reference is left. */
void sk_group_remove(struct sk_group *g);
void sk_group_ref(struct sk_group *g);
void sk_group_unref(struct sk_group *g);
void sk_group_set_state(struct sk_group *g, enum sk_group_state s);
/* Calls fn for each group, in no particular order; fn must not remove groups. */
void sk_group_each(struct sk_group_coordinator *co, void (*fn)(struct sk_group *g, void *arg),
                   void *arg);

/* ---- in the broker (src/group/broker.c) ------------------------------------ */

/* Creates the coordinator and loads __consumer_offsets; call once the
 * partitions are open. */
int sk_groups_open(struct sk_broker *b);
/* Before the shard goes away: parked requests are answered first. */
void sk_groups_close(struct sk_broker *b);
/* After a new image: the coordinator serves once __consumer_offsets exists. */
void sk_groups_image_changed(struct sk_broker *b);
/* The error a request for group_id gets before it reaches the group:
 * sk_group_coordinator_error's, or, in a broker, NOT_COORDINATOR when this
 * shard does not lead the group's __consumer_offsets partition (its groups
 * are not in memory here), COORDINATOR_NOT_AVAILABLE when it leads it but
 * could not open it. */
int16_t sk_group_owner_error(const struct sk_group_coordinator *co, kp_str group_id);
/* Creates __consumer_offsets with the offsets.topic.* settings if missing. */
int sk_groups_ensure_topic(struct sk_broker *b);
/* __consumer_offsets as Kafka creates it (offsets.topic.* settings, compacted,
 * the replication factor capped to the live brokers); spec points into os. */
struct sk_offsets_topic {
    struct sk_topic_spec spec;
    char segment_bytes[32];
    kp_str names[3], values[3];
};
void sk_groups_offsets_topic(const struct sk_broker *b, struct sk_offsets_topic *os);

/* ---- members ---------------------------------------------------------------- */

struct sk_member *sk_member_find(const struct sk_group *g, kp_str id);
struct sk_member *sk_member_find_instance(const struct sk_group *g, kp_str instance_id);
/* The member's metadata for a protocol, NULL if it does not support it. */
const struct sk_group_protocol *sk_member_protocol(const struct sk_member *m, kp_str name);
/* True if m is the group's leader. */
bool sk_member_is_leader(const struct sk_member *m);
/* Kafka's selectProtocol: among the protocols every member supports, the one
 * most members list first; ties go to the leader's (else the first member's)
 * preference. Null if there are no members or no common protocol. */
kp_str sk_group_select_protocol(const struct sk_group *g);

/* ---- JoinGroup --------------------------------------------------------------- */

struct sk_join_protocol_in {
    kp_str name;
    kp_bytes metadata;
};

struct sk_join_params {
    kp_str group_id, member_id, instance_id, protocol_type, client_id, client_host, reason;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    const struct sk_join_protocol_in *protocols;
    int nprotocols;
    bool require_known_member; /* v4+: MEMBER_ID_REQUIRED for new dynamic members */
    bool supports_skip_assignment; /* v9+ */
};

struct sk_join_member_out {
    kp_str member_id, instance_id;
    const uint8_t *metadata;
    int32_t metadata_len;
};

/* Valid only during the callback: copy what is kept. A null member_id means
 * the request's own. */
struct sk_join_result {
    int16_t err;
    int32_t generation;
    kp_str protocol_type, protocol_name, leader, member_id;
    bool skip_assignment;
    const struct sk_join_member_out *members; /* the leader's view; empty for followers */
    int nmembers;
};

/* A failed JoinGroup: no generation, null protocol type and name, empty
 * leader, as Kafka answers one. */
static inline struct sk_join_result sk_join_failed(int16_t err, kp_str member_id)
{
    return (struct sk_join_result){.err = err, .generation = -1, .protocol_type = KP_STR_NULL,
                                   .protocol_name = KP_STR_NULL, .leader = KP_STR_NULL,
                                   .member_id = member_id};
}

void sk_group_join(struct sk_group_coordinator *co, const struct sk_join_params *p,
                   sk_join_fn cb, void *arg);

/* ---- SyncGroup ----------------------------------------------------------------- */

struct sk_sync_assignment_in {
    kp_str member_id;
    kp_bytes assignment;
};

struct sk_sync_params {
    kp_str group_id, member_id, instance_id, protocol_type, protocol_name; /* type/name: null if absent */
    int32_t generation;
    const struct sk_sync_assignment_in *assignments;
    int nassignments;
};

struct sk_sync_result {
    int16_t err;
    kp_str protocol_type, protocol_name;
    const uint8_t *assignment;
    int32_t assignment_len;
};

void sk_group_sync(struct sk_group_coordinator *co, const struct sk_sync_params *p,
                   sk_sync_fn cb, void *arg);

/* UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID unless member_id (with its
 * instance id, if static) is a current member; *out gets it. */
int16_t sk_group_check_member(const struct sk_group *g, kp_str member_id, kp_str instance_id,
                              struct sk_member **out);

/* ---- Heartbeat and LeaveGroup ----------------------------------------------------- */

int16_t sk_group_heartbeat(struct sk_group_coordinator *co, kp_str group_id, kp_str member_id,
                           kp_str instance_id, int32_t generation);

/* Removes one member (by member id, or by instance id for static members).
 * Returns the member-level error. */
int16_t sk_group_leave(struct sk_group *g, kp_str member_id, kp_str instance_id);

/* ---- rebalance internals shared by join/sync/leave/expiry ----------------------- */

void sk_group_prepare_rebalance(struct sk_group *g);
/* PreparingRebalance and everyone is back: completes the join phase. */
void sk_group_maybe_complete_join(struct sk_group *g);
void sk_member_remove(struct sk_member *m, int16_t err_for_parked);
void sk_member_schedule_session(struct sk_member *m, int32_t timeout_ms);
void sk_member_cancel_session(struct sk_member *m);
void sk_member_free(struct sk_member *m);
/* Answers a parked JoinGroup with the group's current generation. */
void sk_member_complete_join(struct sk_member *m, int16_t err);
void sk_member_complete_sync(struct sk_member *m, int16_t err);
/* Answers a JoinGroup for m with the current generation, without parking. */
void sk_group_join_answer(struct sk_group *g, struct sk_member *m, bool skip, sk_join_fn cb,
                          void *arg);
/* Kafka's mapping of a failed __consumer_offsets write to what a group
 * request reports (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...). */
int16_t sk_group_store_error(int16_t err);
/* The largest rebalance timeout of the members: how long a rebalance waits. */
int32_t sk_group_rebalance_timeout(const struct sk_group *g);
/* Writes the group's metadata record; done(arg, err) when durable. */
void sk_group_store_metadata(struct sk_group *g, sk_group_done_fn done, void *arg);

#endif
