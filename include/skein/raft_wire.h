/* The Raft messages on the wire (src/api/raft_wire.c): conversion between
 * the generated Kafka structs of Vote, BeginQuorumEpoch, EndQuorumEpoch,
 * FetchSnapshot and the Raft form of Fetch (topic __cluster_metadata partition 0, by name
 * before Fetch v13 and by Kafka's METADATA_TOPIC_ID from v13) and the
 * core's struct sk_raft_msg, at every version the specs list.
 *
 * A log batch travels as a Kafka record batch (magic 2) whose base offset
 * and PartitionLeaderEpoch are the batch's; a data batch's bytes are its
 * uncompressed records section, a LeaderChange batch is a control batch of
 * one LeaderChange record. Whatever is built or decoded lives in the arena
 * given (or points into the decoded frame). */
#ifndef SKEIN_RAFT_WIRE_H
#define SKEIN_RAFT_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/raft-t.h"

#define SK_RAFT_API_FETCH 1
#define SK_RAFT_API_VOTE 52
#define SK_RAFT_API_BEGIN_EPOCH 53
#define SK_RAFT_API_END_EPOCH 54
#define SK_RAFT_API_DESCRIBE_QUORUM 55
#define SK_RAFT_API_FETCH_SNAPSHOT 59
#define SK_RAFT_API_ADD_VOTER 80
#define SK_RAFT_API_REMOVE_VOTER 81
#define SK_RAFT_API_UPDATE_VOTER 82

#define SK_RAFT_TOPIC "__cluster_metadata"
/* Kafka's Uuid.METADATA_TOPIC_ID, AAAAAAAAAAAAAAAAAAAAAQ in base64. */
extern const kp_uuid sk_raft_topic_id;

/* Request q (a Vote, BeginQuorumEpoch, EndQuorumEpoch or DescribeQuorum)
 * names __cluster_metadata partition 0 and nothing else. */
#define SK_RAFT_NAMES_OURS(q)                                                                   \
    ((q)->topics.n == 1 && (q)->topics.v[0].partitions.n == 1 &&                                \
     kp_str_eq_c((q)->topics.v[0].topic_name, SK_RAFT_TOPIC) &&                                 \
     (q)->topics.v[0].partitions.v[0].partition_index == 0)

/* The api key a message travels as. */
int16_t sk_raft_wire_api(enum sk_raft_msg_type t);

/* A decoded request of api key at version, received by node self, as the
 * core's message (corr left 0 for the caller). SK_ERR_NONE, or the error
 * Kafka answers a request it cannot take: INVALID_REQUEST for another topic
 * or partition, or not exactly one; INVALID_VOTER_KEY for a Vote or
 * BeginQuorumEpoch v1 meant for another voter. */
int16_t sk_raft_wire_request_in(int16_t key, int16_t version, const void *body, int32_t self,
                                struct sk_raft_msg *m);
/* The core's response m into the api's response struct resp (initialised). */
int sk_raft_wire_response_out(const struct sk_raft_msg *m, int16_t version, void *resp,
                              kp_arena *a);
/* The core's request m into the api's request struct body (initialised),
 * at the version it will be sent at. */
int sk_raft_wire_request_out(const struct sk_raft_msg *m, int16_t version, void *body,
                             kp_arena *a);
/* A decoded response from node src to request type t as the core's
 * message. SK_ERR_NONE, or CORRUPT_MESSAGE for records that do not parse. */
int16_t sk_raft_wire_response_in(enum sk_raft_msg_type t, int16_t version, const void *resp,
                                 int32_t src, int32_t self, struct sk_raft_msg *m, kp_arena *a);
/* An error-only response to a request of api key (the core answered
 * nothing, or the request was refused before it reached the core). */
void sk_raft_wire_error_response(int16_t key, int16_t err, void *resp);

#endif
