/* What the replica fetcher's files share (src/replica/fetcher*.c). */
#ifndef SKEIN_REPLICA_FETCHER_INT_H
#define SKEIN_REPLICA_FETCHER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/kclient.h"

struct sk_broker;

/* A partition the leader answered OFFSET_OUT_OF_RANGE for: where the
 * follower stood when it asked. */
struct sk_range_item {
    kp_uuid topic_id;
    int32_t partition;
    int32_t leader_epoch;
    int64_t offset;
};

/* fetcher_range.c: asks the leader over kc where its log ends and starts
 * and truncates each still-unchanged partition as Kafka's fetcher does;
 * done(arg) runs once it is over (also when the connection fails). 0, or
 * -1 (nothing to ask, or no memory) and done does not run. */
int sk_replica_range_probe(struct sk_broker *b, struct sk_kclient *kc,
                           const struct sk_range_item *items, int n, void (*done)(void *arg),
                           void *arg);

/* fetcher_session.c: the follower's side of an incremental fetch session
 * (KIP-227), Kafka's FetchSessionHandler. One partition's fetch state as the
 * leader's session holds it. */
struct sk_fsess_entry {
    kp_uuid topic_id;
    int32_t partition;
    int32_t leader_epoch;
    int32_t last_fetched_epoch;
    int64_t offset;
    int64_t log_start;
    int32_t max_bytes;
    bool used;   /* slot taken */
    bool wanted; /* named by the round being built */
};

struct sk_fetch_handler {
    bool sessions; /* the leader speaks Fetch v7+: rounds use a session */
    bool full;     /* the round being built (or in flight) names every partition */
    int32_t id;    /* the leader's session, or 0 */
    int32_t epoch; /* of the next incremental round; 0: the next round is full */
    struct sk_fsess_entry *slots;
    uint32_t cap, n;
};

void sk_fetch_handler_use_sessions(struct sk_fetch_handler *h, bool on);
void sk_fetch_handler_free(struct sk_fetch_handler *h);
/* Starts building a round: every partition unwanted until named again. */
void sk_fetch_handler_begin(struct sk_fetch_handler *h);
/* Names a partition the round fetches; *send says whether the request must
 * carry it (a full round, a new partition, or one whose state changed). */
int sk_fetch_handler_want(struct sk_fetch_handler *h, const struct sk_fsess_entry *want,
                          bool *send);
/* The partitions of the session this round did not name: the request's
 * forgotten topics. They leave the table; *out is the caller's to free. */
int sk_fetch_handler_forget(struct sk_fetch_handler *h, struct sk_fsess_entry **out, int *nout);
const struct sk_fsess_entry *sk_fetch_handler_find(const struct sk_fetch_handler *h,
                                                   const kp_uuid *topic_id, int32_t partition);
/* The SessionId and SessionEpoch the round carries. */
void sk_fetch_handler_request(const struct sk_fetch_handler *h, int32_t *id, int32_t *epoch);
/* The answer's top-level error and session id: false if the round's
 * partitions must not be read (a session error; the next round is full). */
bool sk_fetch_handler_answered(struct sk_fetch_handler *h, int16_t error, int32_t session_id);
/* The round got no answer: the next one is full. */
void sk_fetch_handler_failed(struct sk_fetch_handler *h);

#endif
