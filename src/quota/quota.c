/* Quota entities and their sensors. An entity is stored in the metadata image
 * as "client-id=<name>,user=<name>" (types sorted, an empty name meaning the
 * default entity); a sensor is the rate shared by every client that resolves
 * to the same entity tags, as Kafka's DefaultQuotaCallback groups them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/quota.h"

/* Sensors idle this long are dropped (Kafka: one hour). */
#define SK_QUOTA_IDLE_MS 3600000ull

struct sk_quota_sensor {
    struct sk_quota_sensor *next;
    uint64_t last_ms;
    struct sk_rate rate;
    struct sk_token_bucket bucket; /* controller_mutation_rate only */
    char name[];
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
    return q->buckets ? 0 : -1;
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
    free(q->buckets);
    q->buckets = NULL;
}

static const char *entity_value(const struct sk_meta_image *img, const char *entity,
                                const char *key)
{
    for (int i = 0; i < img->nquotas; i++)
        if (strcmp(img->quotas[i].entity, entity) == 0)
            return sk_kvlist_get(&img->quotas[i].values, key);
    return NULL;
}

/* Kafka's precedence, most specific first. with_user/with_client say which
 * tags the sensor keeps: a default entity still meters each client apart. */
static const struct {
    int user, client; /* 0 absent, 1 this one, 2 the default */
} order[] = {{1, 1}, {1, 2}, {1, 0}, {2, 1}, {2, 2}, {2, 0}, {0, 1}, {0, 2}};

static void entity_name(char *out, size_t len, int user_kind, const char *user, int client_kind,
                        kp_str client)
{
    int n = 0;
    if (client_kind)
        n = snprintf(out, len, "client-id=%.*s", client_kind == 1 ? (int)client.len : 0,
                     client_kind == 1 ? client.ptr : "");
    if (user_kind && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, "%suser=%s", client_kind ? "," : "",
                 user_kind == 1 ? user : "");
}

double sk_quota_limit(const struct sk_meta_image *img, enum sk_quota_type t, const char *user,
                      kp_str client_id, char *bucket, size_t bucket_len)
{
    if (img->nquotas == 0)
        return -1;
    if (client_id.len < 0)
        client_id = (kp_str){"", 0};
    char entity[600];
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        entity_name(entity, sizeof entity, order[i].user, user, order[i].client, client_id);
        const char *v = entity_value(img, entity, quota_key[t]);
        if (!v)
            continue;
        snprintf(bucket, bucket_len, "%d\x1f%s\x1f%.*s", (int)t, order[i].user ? user : "",
                 order[i].client ? (int)client_id.len : 0, client_id.ptr);
        return strtod(v, NULL);
    }
    return -1;
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
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

static struct sk_quota_sensor *sensor(struct sk_quotas *q, const char *name, uint64_t now_ms)
{
    if (now_ms - q->last_purge_ms >= SK_QUOTA_IDLE_MS)
        purge_idle(q, now_ms);
    struct sk_quota_sensor **head = &q->buckets[hash(name) % q->nbuckets];
    for (struct sk_quota_sensor *s = *head; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    size_t len = strlen(name) + 1;
    struct sk_quota_sensor *s = calloc(1, sizeof *s + len);
    if (!s || sk_rate_init(&s->rate, q->samples, q->window_ms)) {
        free(s);
        return NULL;
    }
    memcpy(s->name, name, len);
    s->next = *head;
    *head = s;
    q->count++;
    return s;
}

static struct sk_quota_sensor *lookup(struct sk_quotas *q, const struct sk_meta_image *img,
                                      enum sk_quota_type t, const char *user, kp_str client_id,
                                      uint64_t now_ms, double *limit)
{
    char name[700];
    *limit = sk_quota_limit(img, t, user, client_id, name, sizeof name);
    if (*limit < 0)
        return NULL;
    struct sk_quota_sensor *s = sensor(q, name, now_ms);
    if (s)
        s->last_ms = now_ms;
    return s;
}

int32_t sk_quota_record(struct sk_quotas *q, const struct sk_meta_image *img,
                        enum sk_quota_type t, const char *user, kp_str client_id, double value,
                        uint64_t now_ms)
{
    double limit;
    struct sk_quota_sensor *s = lookup(q, img, t, user, client_id, now_ms, &limit);
    if (!s)
        return 0;
    sk_rate_record(&s->rate, value, now_ms);
    return sk_rate_throttle_ms(&s->rate, limit, now_ms);
}

void sk_quota_unrecord(struct sk_quotas *q, const struct sk_meta_image *img,
                       enum sk_quota_type t, const char *user, kp_str client_id, double value,
                       uint64_t now_ms)
{
    double limit;
    struct sk_quota_sensor *s = lookup(q, img, t, user, client_id, now_ms, &limit);
    if (s)
        sk_rate_record(&s->rate, -value, now_ms);
}

bool sk_quota_mutation(struct sk_quotas *q, const struct sk_meta_image *img, const char *user,
                       kp_str client_id, double permits, bool strict, uint64_t now_ms,
                       int32_t *throttle_ms)
{
    double limit;
    *throttle_ms = 0;
    struct sk_quota_sensor *s =
        lookup(q, img, SK_QUOTA_CONTROLLER_MUTATION, user, client_id, now_ms, &limit);
    if (!s)
        return true;
    double burst = limit * SK_MUTATION_QUOTA_SAMPLES * SK_MUTATION_QUOTA_WINDOW_MS / 1000.0;
    bool over = sk_token_bucket_exceeded(&s->bucket, limit, burst, now_ms);
    if (!(over && strict))
        sk_token_bucket_record(&s->bucket, limit, burst, permits, now_ms);
    *throttle_ms = sk_token_bucket_throttle_ms(&s->bucket, limit);
    return !(over && strict);
}

uint32_t sk_quota_max_in_window(const struct sk_quotas *q, const struct sk_meta_image *img,
                                enum sk_quota_type t, const char *user, kp_str client_id)
{
    char name[700];
    double limit = sk_quota_limit(img, t, user, client_id, name, sizeof name);
    if (limit < 0)
        return UINT32_MAX;
    double max = limit * (double)(q->samples - 1) * (double)q->window_ms / 1000.0;
    return max >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)max;
}
