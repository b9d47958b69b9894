/* What the replica fetcher's files share (src/replica/fetcher*.c). */
#ifndef SKEIN_REPLICA_FETCHER_INT_H
#define SKEIN_REPLICA_FETCHER_INT_H

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

#endif
