/* Replication quotas (skein/repl_quota.h). As Kafka's
 * ReplicationQuotaManager, a sensor only measures: the leader leaves a
 * throttled partition out of a follower's answer, and the follower leaves
 * it out of its request, while the rate is over the bound; what was sent
 * or fetched for throttled replicas is recorded whether or not it was over. */
#include "skein/repl_quota.h"

#include <ctype.h>
#include <string.h>

#include "skein/wire_str.h"

int sk_repl_quota_init(struct sk_repl_quota *q, int samples, uint64_t window_ms)
{
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        return -1;
    if (sk_rate_init(&q->rate, samples, window_ms) < 0) {
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    return 0;
}

void sk_repl_quota_free(struct sk_repl_quota *q)
{
    sk_rate_free(&q->rate);
    pthread_mutex_destroy(&q->lock);
}

bool sk_repl_quota_exceeded(struct sk_repl_quota *q, int64_t bound, uint64_t now_ms)
{
    if (bound == INT64_MAX)
        return false;
    pthread_mutex_lock(&q->lock);
    double observed = sk_rate_measure(&q->rate, now_ms);
    pthread_mutex_unlock(&q->lock);
    return observed > (double)bound;
}

void sk_repl_quota_record(struct sk_repl_quota *q, uint64_t bytes, uint64_t now_ms)
{
    pthread_mutex_lock(&q->lock);
    sk_rate_record(&q->rate, (double)bytes, now_ms);
    pthread_mutex_unlock(&q->lock);
}

/* [s, e) with blanks trimmed, as Kafka trims each item of the list. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* A decimal in [s, e) equal to want; the list was validated when it was
 * written, so anything else simply does not match. */
static bool number_is(const char *s, const char *e, int32_t want)
{
    trim(&s, &e);
    int32_t v;
    return sk_wire_str_to_i32((kp_str){s, (int32_t)(e - s)}, &v) == 0 && v == want;
}

static bool item_names(const char *s, const char *e, int32_t partition, int32_t broker)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    return colon && number_is(s, colon, partition) && number_is(colon + 1, e, broker);
}

bool sk_repl_throttled(kp_str list, int32_t partition, int32_t broker)
{
    if (!list.ptr || list.len <= 0)
        return false;
    const char *s = list.ptr, *end = list.ptr + list.len;
    const char *ts = s, *te = end;
    trim(&ts, &te);
    if (te - ts == 1 && *ts == '*')
        return true;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        if (item_names(s, e, partition, broker))
            return true;
        s = comma ? comma + 1 : end;
    }
    return false;
}
