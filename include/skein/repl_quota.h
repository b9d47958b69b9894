/* Replication quotas (Kafka's ReplicationQuotaManager, KIP-73): a node
 * bounds the bytes it sends to followers for throttled replicas by
 * leader.replication.throttled.rate, and the bytes it fetches for them as a
 * follower by follower.replication.throttled.rate, each measured over
 * replication.quota.window.num samples of
 * replication.quota.window.size.seconds. Which replicas are throttled is
 * each topic's leader.replication.throttled.replicas and
 * follower.replication.throttled.replicas ("*" or partition:broker pairs,
 * the pairs naming this broker counting here); a reassignment with a
 * throttle sets both.
 *
 * Every shard serves followers and fetches from leaders, so the node keeps
 * one sensor per direction that every shard records into, under a mutex
 * taken only for throttled replicas. */
#ifndef SKEIN_REPL_QUOTA_H
#define SKEIN_REPL_QUOTA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/quota.h"

enum sk_repl_direction { SK_REPL_LEADER, SK_REPL_FOLLOWER, SK_REPL_DIRECTIONS };

struct sk_repl_quota {
    pthread_mutex_t lock; /* guards rate */
    struct sk_rate rate;
};

int sk_repl_quota_init(struct sk_repl_quota *q, int samples, uint64_t window_ms);
void sk_repl_quota_free(struct sk_repl_quota *q);
/* Whether the measured rate is over bound (bytes/s); never for INT64_MAX,
 * Kafka's "no throttle", which takes no lock. */
bool sk_repl_quota_exceeded(struct sk_repl_quota *q, int64_t bound, uint64_t now_ms);
void sk_repl_quota_record(struct sk_repl_quota *q, uint64_t bytes, uint64_t now_ms);

/* Whether a throttled-replicas list (a topic config's bytes, absent or
 * empty: none) names partition on broker: "*" names every replica. */
bool sk_repl_throttled(kp_str list, int32_t partition, int32_t broker);

#endif
