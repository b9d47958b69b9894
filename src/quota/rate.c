/* Kafka's Rate over a SampledStat, so a client sees the same throttling here
 * as on Apache Kafka: samples of window_ms each, a sample is obsolete once
 * n windows old, and the span divided by is at least n - 1 windows. */
#include <math.h>
#include <stdlib.h>

#include "skein/quota.h"

int sk_rate_init(struct sk_rate *r, int samples, uint64_t window_ms)
{
    r->n = samples < 2 ? 2 : samples;
    r->window_ms = window_ms ? window_ms : 1;
    r->cur = 0;
    r->value = calloc((size_t)r->n, sizeof *r->value);
    r->start_ms = calloc((size_t)r->n, sizeof *r->start_ms);
    if (!r->value || !r->start_ms) {
        sk_rate_free(r);
        return -1;
    }
    return 0;
}

void sk_rate_free(struct sk_rate *r)
{
    free(r->value);
    free(r->start_ms);
    r->value = NULL;
    r->start_ms = NULL;
}

/* Time starts at 1 for the ring so that 0 can mean "never used". */
static uint64_t stamp(uint64_t now_ms)
{
    return now_ms ? now_ms : 1;
}

static void purge(struct sk_rate *r, uint64_t now_ms)
{
    uint64_t age = (uint64_t)r->n * r->window_ms;
    for (int i = 0; i < r->n; i++)
        if (r->start_ms[i] && now_ms - r->start_ms[i] >= age) {
            r->start_ms[i] = stamp(now_ms);
            r->value[i] = 0;
        }
}

void sk_rate_record(struct sk_rate *r, double v, uint64_t now_ms)
{
    if (!r->start_ms[r->cur]) {
        r->start_ms[r->cur] = stamp(now_ms);
    } else if (now_ms - r->start_ms[r->cur] >= r->window_ms) {
        r->cur = (r->cur + 1) % r->n;
        r->start_ms[r->cur] = stamp(now_ms);
        r->value[r->cur] = 0;
    }
    r->value[r->cur] += v;
}

uint64_t sk_rate_window(struct sk_rate *r, uint64_t now_ms)
{
    purge(r, now_ms);
    uint64_t oldest = stamp(now_ms);
    for (int i = 0; i < r->n; i++)
        if (r->start_ms[i] && r->start_ms[i] < oldest)
            oldest = r->start_ms[i];
    uint64_t span = now_ms > oldest ? now_ms - oldest : 0;
    uint64_t full = span / r->window_ms, min_full = (uint64_t)r->n - 1;
    if (full < min_full)
        span += (min_full - full) * r->window_ms;
    return span ? span : 1;
}

double sk_rate_measure(struct sk_rate *r, uint64_t now_ms)
{
    uint64_t span = sk_rate_window(r, now_ms);
    double total = 0;
    for (int i = 0; i < r->n; i++)
        total += r->value[i];
    return total * 1000.0 / (double)span;
}

/* A zero quota would mean an infinite delay: such a client waits the whole
 * measured span instead, after which its history has aged out. */
int32_t sk_rate_throttle_ms(struct sk_rate *r, double bound, uint64_t now_ms)
{
    double observed = sk_rate_measure(r, now_ms);
    if (observed <= bound)
        return 0;
    double ms = bound > 0 ? (observed - bound) / bound * (double)sk_rate_window(r, now_ms)
                          : (double)r->n * (double)r->window_ms;
    return ms >= (double)INT32_MAX ? INT32_MAX : (int32_t)llround(ms);
}
