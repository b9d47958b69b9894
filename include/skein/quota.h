/* Client quotas (Kafka's ClientQuotaManager): producer_byte_rate and
 * consumer_byte_rate from ClientQuotaRecords, measured per quota entity over
 * quota.window.num samples of quota.window.size.seconds, and turned into a
 * throttle time when a client goes over.
 *
 * A quota bounds what a client takes from the node, whichever shards its
 * connections landed on, so the node keeps one table of sensors that every
 * shard records into. Its mutex is taken only for requests a quota may
 * apply to (the caller skips the table while the image names no quota
 * entity), so traffic without quotas stays lock-free. */
#ifndef SKEIN_QUOTA_H
#define SKEIN_QUOTA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/meta.h"

/* Kafka's windowed Rate: a ring of samples; the rate is their sum over the
 * time they span, and that span is never taken as shorter than samples - 1
 * windows, so a fresh client is not judged on its first milliseconds. */
struct sk_rate {
    double *value;
    uint64_t *start_ms; /* when each sample began; 0 = unused */
    int n, cur;
    uint64_t window_ms;
};

int sk_rate_init(struct sk_rate *r, int samples, uint64_t window_ms);
void sk_rate_free(struct sk_rate *r);
void sk_rate_record(struct sk_rate *r, double v, uint64_t now_ms);
/* Span in ms the rate divides by (Kafka's Rate.windowSize). */
uint64_t sk_rate_window(struct sk_rate *r, uint64_t now_ms);
/* Units per second. */
double sk_rate_measure(struct sk_rate *r, uint64_t now_ms);
/* Time to add so the observed rate falls back to bound: (O - T) / T * W. */
int32_t sk_rate_throttle_ms(struct sk_rate *r, double bound, uint64_t now_ms);

/* Kafka's TokenBucket (controller_mutation_rate). */
struct sk_token_bucket {
    double tokens;
    uint64_t last_ms;
    bool started;
};
/* True while the tokens are below 0 (refilled to now first, full at start). */
bool sk_token_bucket_exceeded(struct sk_token_bucket *tb, double quota, double burst,
                              uint64_t now_ms);
void sk_token_bucket_record(struct sk_token_bucket *tb, double quota, double burst,
                            double value, uint64_t now_ms);
/* Time until the tokens are back to 0. */
int32_t sk_token_bucket_throttle_ms(const struct sk_token_bucket *tb, double quota);

/* Kafka's controller.quota.window.num and controller.quota.window.size.seconds
 * defaults: the burst a mutation quota allows is 11 s of its rate. */
#define SK_MUTATION_QUOTA_SAMPLES 11
#define SK_MUTATION_QUOTA_WINDOW_MS 1000

enum sk_quota_type {
    SK_QUOTA_PRODUCE,
    SK_QUOTA_FETCH,
    SK_QUOTA_CONTROLLER_MUTATION,
    SK_QUOTA_TYPES
};

struct sk_quota_sensor;

struct sk_quotas {
    pthread_mutex_t lock; /* guards everything below */
    struct sk_quota_sensor **buckets;
    unsigned nbuckets, count;
    int samples;
    uint64_t window_ms;
    uint64_t last_purge_ms;
};

int sk_quotas_init(struct sk_quotas *q, int samples, uint64_t window_ms);
void sk_quotas_free(struct sk_quotas *q);

/* Which entity a client's quota comes from, per tag: 0 the entity has no such
 * part, 1 the client's own name, 2 the default. Clients with the same type,
 * match and tag values (the user and client id where the match is not 0)
 * share one sensor. */
struct sk_quota_match {
    int user, client;
};

/* The limit (bytes/s) that applies to user/client_id, or < 0 for none; the
 * most specific entity wins, in Kafka's order. *match (if not NULL) says
 * which entity that is. */
double sk_quota_limit(const struct sk_meta_image *img, enum sk_quota_type t, const char *user,
                      kp_str client_id, struct sk_quota_match *match);

/* Records value (bytes) for the client and returns its throttle time in ms,
 * 0 when within quota or without one. */
int32_t sk_quota_record(struct sk_quotas *q, const struct sk_meta_image *img,
                        enum sk_quota_type t, const char *user, kp_str client_id, double value,
                        uint64_t now_ms);
/* Takes back a recorded value (a throttled fetch sends no records). */
void sk_quota_unrecord(struct sk_quotas *q, const struct sk_meta_image *img,
                       enum sk_quota_type t, const char *user, kp_str client_id, double value,
                       uint64_t now_ms);
/* KIP-599: partitions created or deleted against controller_mutation_rate.
 * strict (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+): refused
 * (returns false, nothing recorded) while the quota is already exceeded;
 * otherwise the permits are recorded, even past the quota. *throttle_ms gets
 * the client's throttle time either way (0 within quota or without one). */
bool sk_quota_mutation(struct sk_quotas *q, const struct sk_meta_image *img, const char *user,
                       kp_str client_id, double permits, bool strict, uint64_t now_ms,
                       int32_t *throttle_ms);
/* The most one request may carry without certain throttling: quota times
 * samples - 1 windows (Kafka caps fetch sizes with it); UINT32_MAX without. */
uint32_t sk_quota_max_in_window(const struct sk_quotas *q, const struct sk_meta_image *img,
                                enum sk_quota_type t, const char *user, kp_str client_id);

#endif
