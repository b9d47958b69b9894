/* Request dispatch: a frame from the reactor becomes a decoded request, a
 * handler fills the response, and the response goes back in request order.
 *
 * A handler either answers at once (sk_request_respond) or parks the request
 * and answers later from an event; it must answer exactly once, or call
 * sk_request_drop for requests that get no response (produce acks=0). */
#ifndef SKEIN_API_H
#define SKEIN_API_H

#include <stdint.h>

#include "kp_tables.h"
#include "skein/broker.h"

struct sk_conn;
struct sk_frame;
struct sk_seg;

struct sk_request {
    struct sk_broker *broker;
    struct sk_conn *conn;
    uint64_t slot;
    uint8_t *frame; /* owned; decoded strings and records point into it */
    uint32_t frame_len;
    kp_arena arena; /* everything decoded or built for this request */
    const kp_api_info *api;
    int16_t version;
    int32_t correlation_id;
    kp_str client_id;
    void *body; /* the decoded request struct */
    void *resp; /* the response struct, initialised to its defaults */
    int32_t throttle_ms; /* quota throttle: the connection is muted this long */
    struct sk_broker *home; /* forwarded (skein/forward.h): the connection's shard */
    uint64_t relay;         /* shards still to run it (skein/forward.h), a bit each */
    int relay_hops;         /* shards that ran it before this one */
    /* A request with no connection of its own (an Envelope's, skein/envelope.h):
     * its answer, encoded as for a client, goes to captured instead, which
     * takes the segments; the request is freed after the call. */
    void (*captured)(struct sk_request *req, const struct sk_seg *segs, unsigned n, bool close);
    void *capture_arg;
};

typedef void (*sk_handler_fn)(struct sk_request *req);

struct sk_api_entry {
    int16_t key;
    int16_t min_version, max_version;
    sk_handler_fn handler;
};

/* The APIs this broker serves: exactly what ApiVersions advertises. */
const struct sk_api_entry *sk_api_entry(int16_t key);
const struct sk_api_entry *sk_api_entries(int *n);
/* What req's listener serves: the CONTROLLER listener its own table. */
const struct sk_api_entry *sk_api_entry_for(const struct sk_request *req, int16_t key);
/* Those entries for ApiVersions: *out[n], and *extra (or NULL) beside them. */
int sk_api_entries_for(const struct sk_request *req, const struct sk_api_entry **out,
                       const struct sk_api_entry **extra);

/* The reactor's on_frame: decodes and dispatches one request. */
void sk_api_on_frame(void *broker, struct sk_conn *conn, struct sk_frame *frame);
/* Whether a frame may be handled before the connection's earlier ones are
 * answered: Produce only. */
bool sk_api_may_overtake(const uint8_t *frame, uint32_t len);
/* A request embedded in another (an Envelope's): frame is its header and
 * body as a client sent them (copied), run on b's shard against the client
 * listener's table, its answer handed to captured(arg). NULL with *err the
 * Kafka error for a frame that does not decode or an api or version this
 * broker does not serve. Run it with sk_request_run. */
struct sk_request *sk_request_embedded(struct sk_broker *b, const uint8_t *frame, size_t len,
                                       void (*captured)(struct sk_request *, const struct sk_seg *,
                                                        unsigned, bool),
                                       void *arg, int16_t *err);
/* Runs req's handler here; it answers through captured. */
void sk_request_run(struct sk_request *req);

/* Encodes req->resp at req->version, sends it, frees the request. */
void sk_request_respond(struct sk_request *req);
/* Sends [size][header] + segs (a handler's own encoding, e.g. fetch's file
 * segments); the segments pass to the reactor in all cases. Frees the request. */
struct sk_seg;
void sk_request_respond_segs(struct sk_request *req, const struct sk_seg *segs, unsigned n);
/* Completes a request that gets no response; frees it. */
void sk_request_drop(struct sk_request *req);
/* The principal quotas see for a connection without authentication. */
#define SK_PRINCIPAL_ANONYMOUS "ANONYMOUS"
/* Records bytes against the client's quota of type t (enum sk_quota_type)
 * and returns its throttle time, also kept in req->throttle_ms. */
int32_t sk_request_quota(struct sk_request *req, int t, double bytes);
/* controller_mutation_rate (KIP-599): records permits (partitions created or
 * deleted) for the client; strict refuses (false, nothing recorded) while it
 * is already over. req->throttle_ms gets the throttle time. */
bool sk_request_mutation(struct sk_request *req, double permits, bool strict);
/* Kafka's message for THROTTLING_QUOTA_EXCEEDED. */
#define SK_THROTTLED_MSG "The throttling quota has been exceeded."

/* Arena allocation that cannot fail silently: a request out of memory is
 * answered by closing its connection. */
void *sk_request_alloc(struct sk_request *req, size_t n);
kp_str sk_request_strdup(struct sk_request *req, const char *s);
/* A wire string copied into the request's arena with its length (zero bytes
 * and all); null stays null. */
kp_str sk_request_keep(struct sk_request *req, kp_str s);

/* What Kafka reports when no authorizer is configured: every operation the
 * resource type supports (AclOperation bit positions). */
#define SK_TOPIC_OPERATIONS                                                                    \
    ((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11))
#define SK_CLUSTER_OPERATIONS                                                                  \
    ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) |           \
     (1 << 13) | (1 << 14))
#define SK_OPERATIONS_OMITTED INT32_MIN

/* A broker as clients see it: unfenced, on the listener the request came in on. */
struct sk_live_broker {
    int32_t id;
    kp_str host;
    int32_t port;
    kp_str rack;
};
/* The live brokers, in the request's arena; returns how many. */
int sk_api_live_brokers(struct sk_request *req, struct sk_live_broker **out);
/* KIP-951's current-leader hints (src/api/leader_hints.c): the leaders named
 * in one answer, whose endpoints the answer lists. */
#define SK_HINTS_MAX 64
struct sk_leader_hints {
    struct sk_live_broker *lb; /* the live brokers, looked up once */
    int nlb;
    int32_t ids[SK_HINTS_MAX];
    int n;
};
struct sk_topic_meta;
void sk_hints_init(struct sk_leader_hints *h);
/* Whether a partition error carries a hint (FENCED_LEADER_EPOCH: Fetch). */
bool sk_hints_wanted(int16_t err, bool fenced_too);
/* The current leader and epoch of t's partition (-1 if unknown), noting the
 * leader's endpoint for the answer. */
void sk_hints_leader(struct sk_request *req, struct sk_leader_hints *h,
                     const struct sk_topic_meta *t, int32_t partition, int32_t *leader,
                     int32_t *epoch);
/* The endpoint of the i-th noted leader (NULL if it went away). */
const struct sk_live_broker *sk_hints_endpoint(const struct sk_leader_hints *h, int i);
/* The controller id Metadata and DescribeCluster give, among lb[n]. */
int32_t sk_api_controller_id(const struct sk_request *req, const struct sk_live_broker *lb, int n);

/* Handlers. */
void sk_api_produce(struct sk_request *req);
void sk_api_init_producer_id(struct sk_request *req);
void sk_api_describe_producers(struct sk_request *req);
void sk_api_offset_for_leader_epoch(struct sk_request *req);
void sk_api_describe_acls(struct sk_request *req);
void sk_api_create_acls(struct sk_request *req);
void sk_api_delete_acls(struct sk_request *req);
void sk_api_sasl_handshake(struct sk_request *req);
void sk_api_sasl_authenticate(struct sk_request *req);
void sk_api_versions(struct sk_request *req);
void sk_api_versions_fill(struct sk_request *req); /* the answer, without sending it */
void sk_api_metadata(struct sk_request *req);
void sk_api_describe_cluster(struct sk_request *req);
void sk_api_fetch(struct sk_request *req);
void sk_api_list_offsets(struct sk_request *req);
void sk_api_delete_records(struct sk_request *req);
/* Admin: topics, configs, log dirs, elections, reassignments, quotas, features. */
void sk_api_create_topics(struct sk_request *req);
void sk_api_delete_topics(struct sk_request *req);
void sk_api_create_partitions(struct sk_request *req);
void sk_api_describe_configs(struct sk_request *req);
void sk_api_alter_configs(struct sk_request *req);
void sk_api_incremental_alter_configs(struct sk_request *req);
void sk_api_describe_log_dirs(struct sk_request *req);
void sk_api_elect_leaders(struct sk_request *req);
void sk_api_list_partition_reassignments(struct sk_request *req);
void sk_api_alter_partition_reassignments(struct sk_request *req);
void sk_api_describe_client_quotas(struct sk_request *req);
void sk_api_alter_client_quotas(struct sk_request *req);
void sk_api_update_features(struct sk_request *req);
/* The CONTROLLER listener's broker lifecycle (src/api/broker_registration.c). */
void sk_api_broker_registration(struct sk_request *req);
void sk_api_controller_registration(struct sk_request *req);
void sk_api_broker_heartbeat(struct sk_request *req);
void sk_api_alter_partition(struct sk_request *req);
/* Forwarded admin requests, on the active controller (src/api/envelope_serve.c). */
void sk_api_envelope(struct sk_request *req);
/* Producer-id blocks for brokers, on the active controller. */
void sk_api_allocate_producer_ids(struct sk_request *req);
void sk_api_describe_topic_partitions(struct sk_request *req);
/* Groups and committed offsets (src/api/group_*.c, offsets_*.c). */
void sk_api_find_coordinator(struct sk_request *req);
void sk_api_join_group(struct sk_request *req);
void sk_api_sync_group(struct sk_request *req);
void sk_api_heartbeat(struct sk_request *req);
void sk_api_leave_group(struct sk_request *req);
void sk_api_describe_groups(struct sk_request *req);
void sk_api_list_groups(struct sk_request *req);
void sk_api_delete_groups(struct sk_request *req);
void sk_api_offset_commit(struct sk_request *req);
void sk_api_offset_fetch(struct sk_request *req);
void sk_api_offset_delete(struct sk_request *req);

#endif
