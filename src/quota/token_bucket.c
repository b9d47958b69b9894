/* Kafka's TokenBucket, the measure of controller_mutation_rate (KIP-599):
 * a burst of quota x samples x window may be spent at once, tokens come back
 * at the quota's rate, and the quota is exceeded while tokens are below 0.
 * Unlike a windowed rate, a big operation is let through whole and then
 * paid for in time, which is what partition creations need. */
#include <math.h>

#include "skein/quota.h"

static void refill(struct sk_token_bucket *tb, double quota, double burst, uint64_t now_ms)
{
    if (!tb->started) {
        tb->tokens = burst;
        tb->last_ms = now_ms;
        tb->started = true;
        return;
    }
    if (now_ms > tb->last_ms)
        tb->tokens = fmin(burst, tb->tokens + quota * (double)(now_ms - tb->last_ms) / 1000.0);
    tb->last_ms = now_ms > tb->last_ms ? now_ms : tb->last_ms;
}

bool sk_token_bucket_exceeded(struct sk_token_bucket *tb, double quota, double burst,
                              uint64_t now_ms)
{
    refill(tb, quota, burst, now_ms);
    return tb->tokens < 0;
}

void sk_token_bucket_record(struct sk_token_bucket *tb, double quota, double burst,
                            double value, uint64_t now_ms)
{
    refill(tb, quota, burst, now_ms);
    tb->tokens -= value;
}

int32_t sk_token_bucket_throttle_ms(const struct sk_token_bucket *tb, double quota)
{
    if (tb->tokens >= 0 || quota <= 0)
        return 0;
    double ms = ceil(-tb->tokens / quota * 1000.0);
    return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}
