/* Quota entities and their sensors. An entity is kept in the metadata image
 * as its parts (a null name meaning the default entity); a sensor is the rate
 * shared by every client that resolves to the same entity tags, as Kafka's
 * DefaultQuotaCallback groups them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/quota.h"
#include "skein/fnv.h"

/* Sensors idle this long are dropped (Kafka: one hour). */
#define SK_QUOTA_IDLE_MS 3600000ull

struct sk_quota_sensor {
    struct sk_quota_sensor *next;
    uint64_t last_ms;
    struct sk_rate rate;
    struct sk_token_bucket bucket; /* controller_mutation_rate only */
    size_t key_len;
    char key[]; /* see sensor_key */
};

static const char *const quota_key[SK_QUOTA_TYPES] = {"producer_byte_rate",
                                                      "consumer_byte_rate",
                                                      "controller_mutation_rate"};

int sk_quotas_init(struct sk_quotas *q, int samples, uint64_t window_ms)
{
    memset(q, 0, sizeof *q);
    q->samples = samples;
    q->window_ms = window_ms;
    q->nbuckets = 64;
    q->buckets = calloc(q->nbuckets, sizeof *q->buckets);
    if (!q->buckets || pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q->buckets);
        q->buckets = NULL;
        return -1;
    }
    return 0;
}

static void sensor_free(struct sk_quota_sensor *s)
{
    sk_rate_free(&s->rate);
    free(s);
}

void sk_quotas_free(struct sk_quotas *q)
{
    for (unsigned i = 0; i < q->nbuckets; i++)
        for (struct sk_quota_sensor *s = q->buckets[i], *n; s; s = n) {
            n = s->next;
            sensor_free(s);
        }
    if (q->buckets)
        pthread_mutex_destroy(&q->lock);
    free(q->buckets);
    q->buckets = NULL;
}

/* Kafka's precedence, most specific first. */
static const struct sk_quota_match order[] = {{1, 1}, {1, 2}, {1, 0}, {2, 1},
                                              {2, 2}, {2, 0}, {0, 1}, {0, 2}};

/* The entity a match names for this user and client id: its parts, the
 * default (null name) where the match says 2. */
static int entity_parts(struct sk_quota_part *out, struct sk_quota_match m, const char *user,
                        kp_str client)
{
    int n = 0;
    if (m.user)
        out[n++] = (struct sk_quota_part){kp_str_c("user"),
                                          m.user == 1 ? kp_str_c(user) : KP_STR_NULL};
    if (m.client)
        out[n++] = (struct sk_quota_part){kp_str_c("client-id"),
                                          m.client == 1 ? client : KP_STR_NULL};
    return n;
}

static const char *entity_value(const struct sk_meta_image *img, struct sk_quota_match m,
                                const char *user, kp_str client, const char *key)
{
    struct sk_quota_part parts[SK_QUOTA_MAX_PARTS];
    int n = entity_parts(parts, m, user, client);
    for (int i = 0; i < img->nquotas; i++)
        if (sk_quota_entry_is(&img->quotas[i], parts, n))
            return sk_kvlist_get(&img->quotas[i].values, key);
    return NULL;
}

double sk_quota_limit(const struct sk_meta_image *img, enum sk_quota_type t, const char *user,
                      kp_str client_id, struct sk_quota_match *match)
{
    if (img->nquotas == 0)
        return -1;
    if (client_id.len < 0)
        client_id = (kp_str){"", 0};
    user = user ? user : "";
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *v = entity_value(img, order[i], user, client_id, quota_key[t]);
        if (!v)
            continue;
        if (match)
            *match = order[i];
        return strtod(v, NULL);
    }
    return -1;
}

/* A sensor's key: the quota type, the match, then the tag values it keeps,
 * each after its length, so any bytes (a zero byte included) keep two
 * clients apart. Written to buf if it fits; returns its length. */
static size_t sensor_key(char *buf, size_t cap, enum sk_quota_type t, struct sk_quota_match m,
                         const char *user, kp_str client)
{
    kp_str vals[2] = {m.user ? kp_str_c(user) : kp_str_c(""),
                      m.client ? client : kp_str_c("")};
    size_t need = 3 + 2 * sizeof(int32_t) + (size_t)vals[0].len + (size_t)vals[1].len;
    if (need > cap)
        return need;
    char *p = buf;
    *p++ = (char)t;
    *p++ = (char)m.user;
    *p++ = (char)m.client;
    for (int i = 0; i < 2; i++) {
        memcpy(p, &vals[i].len, sizeof vals[i].len);
        p += sizeof vals[i].len;
        memcpy(p, vals[i].ptr, (size_t)vals[i].len);
        p += vals[i].len;
    }
    return need;
}

static unsigned hash(const char *s, size_t n)
{
    return sk_fnv1a32(SK_FNV1A32_INIT, s, n);
}

static void purge_idle(struct sk_quotas *q, uint64_t now_ms)
{
    q->last_purge_ms = now_ms;
    for (unsigned i = 0; i < q->nbuckets; i++)
        for (struct sk_quota_sensor **pp = &q->buckets[i]; *pp;) {
            struct sk_quota_sensor *s = *pp;
            if (now_ms - s->last_ms < SK_QUOTA_IDLE_MS) {
                pp = &s->next;
                continue;
            }
            *pp = s->next;
            sensor_free(s);
            q->count--;
        }
}

static struct sk_quota_sensor *sensor(struct sk_quotas *q, const char *key, size_t len,
                                      uint64_t now_ms)
{
    if (now_ms - q->last_purge_ms >= SK_QUOTA_IDLE_MS)
        purge_idle(q, now_ms);
    struct sk_quota_sensor **head = &q->buckets[hash(key, len) % q->nbuckets];
    for (struct sk_quota_sensor *s = *head; s; s = s->next)
        if (s->key_len == len && memcmp(s->key, key, len) == 0)
            return s;
    struct sk_quota_sensor *s = calloc(1, sizeof *s + len);
    if (!s || sk_rate_init(&s->rate, q->samples, q->window_ms)) {
        free(s);
        return NULL;
    }
    memcpy(s->key, key, len);
    s->key_len = len;
    s->next = *head;
    *head = s;
    q->count++;
    return s;
}

static struct sk_quota_sensor *lookup(struct sk_quotas *q, const struct sk_meta_image *img,
                                      enum sk_quota_type t, const char *user, kp_str client_id,
                                      uint64_t now_ms, double *limit)
{
    struct sk_quota_match m;
    *limit = sk_quota_limit(img, t, user, client_id, &m);
    if (*limit < 0)
        return NULL;
    if (client_id.len < 0)
        client_id = (kp_str){"", 0};
    user = user ? user : "";
    /* A client id is at most 32767 bytes; most fit on the stack. */
    char small[512], *key = small;
    size_t len = sensor_key(small, sizeof small, t, m, user, client_id);
    if (len > sizeof small) {
        if (!(key = malloc(len)))
            return NULL;
        sensor_key(key, len, t, m, user, client_id);
    }
    struct sk_quota_sensor *s = sensor(q, key, len, now_ms);
    if (key != small)
        free(key);
    if (s)
        s->last_ms = now_ms;
    return s;
}

int32_t sk_quota_record(struct sk_quotas *q, const struct sk_meta_image *img,
                        enum sk_quota_type t, const char *user, kp_str client_id, double value,
                        uint64_t now_ms)
{
    double limit;
    int32_t ms = 0;
    pthread_mutex_lock(&q->lock);
    struct sk_quota_sensor *s = lookup(q, img, t, user, client_id, now_ms, &limit);
    if (s) {
        sk_rate_record(&s->rate, value, now_ms);
        ms = sk_rate_throttle_ms(&s->rate, limit, now_ms);
    }
    pthread_mutex_unlock(&q->lock);
    return ms;
}

void sk_quota_unrecord(struct sk_quotas *q, const struct sk_meta_image *img,
                       enum sk_quota_type t, const char *user, kp_str client_id, double value,
                       uint64_t now_ms)
{
    double limit;
    pthread_mutex_lock(&q->lock);
    struct sk_quota_sensor *s = lookup(q, img, t, user, client_id, now_ms, &limit);
    if (s)
        sk_rate_record(&s->rate, -value, now_ms);
    pthread_mutex_unlock(&q->lock);
}

bool sk_quota_mutation(struct sk_quotas *q, const struct sk_meta_image *img, const char *user,
                       kp_str client_id, double permits, bool strict, uint64_t now_ms,
                       int32_t *throttle_ms)
{
    double limit;
    *throttle_ms = 0;
    bool over = false;
    pthread_mutex_lock(&q->lock);
    struct sk_quota_sensor *s =
        lookup(q, img, SK_QUOTA_CONTROLLER_MUTATION, user, client_id, now_ms, &limit);
    if (s) {
        double burst = limit * SK_MUTATION_QUOTA_SAMPLES * SK_MUTATION_QUOTA_WINDOW_MS / 1000.0;
        over = sk_token_bucket_exceeded(&s->bucket, limit, burst, now_ms);
        if (!(over && strict))
            sk_token_bucket_record(&s->bucket, limit, burst, permits, now_ms);
        *throttle_ms = sk_token_bucket_throttle_ms(&s->bucket, limit);
    }
    pthread_mutex_unlock(&q->lock);
    return !(over && strict);
}

uint32_t sk_quota_max_in_window(const struct sk_quotas *q, const struct sk_meta_image *img,
                                enum sk_quota_type t, const char *user, kp_str client_id)
{
    double limit = sk_quota_limit(img, t, user, client_id, NULL);
    if (limit < 0)
        return UINT32_MAX;
    double max = limit * (double)(q->samples - 1) * (double)q->window_ms / 1000.0;
    return max >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)max;
}
