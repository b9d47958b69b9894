/* Images that share what did not change. A published image is read by every
 * shard while the controller builds the next one, so the next one is a clone
 * that shares the topics (the bulk: 10,000 partitions must not be copied for
 * one config change) and copies only the small node-wide lists. */
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "skein/meta.h"
#include "skein/wire_str.h"
#include "topic_table.h"

/* The image cannot be left half-built; as in image.c, running out of memory
 * ends the process. */
static void *memdup_or_die(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (!q)
        abort();
    if (n)
        memcpy(q, p, n);
    return q;
}

static char *strdup_len(const char *s, int32_t len)
{
    if (!s)
        return NULL;
    char *p = memdup_or_die(s, (size_t)len + 1);
    return p;
}

static char *strdup_c(const char *s)
{
    return s ? strdup_len(s, (int32_t)strlen(s)) : NULL;
}

static void kvlist_copy(struct sk_kvlist *dst, const struct sk_kvlist *src)
{
    dst->n = dst->cap = src->n;
    dst->v = src->n ? memdup_or_die(src->v, sizeof *src->v * (size_t)src->n) : NULL;
    for (int i = 0; i < src->n; i++) {
        dst->v[i].key = strdup_len(src->v[i].key, src->v[i].key_len);
        dst->v[i].value = strdup_len(src->v[i].value, src->v[i].value_len);
    }
}

struct sk_topic_meta *sk_meta_topic_copy(const struct sk_topic_meta *t)
{
    struct sk_topic_meta *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->name = strdup_len(t->name, t->name_len);
    c->name_len = t->name_len;
    atomic_init(&c->refs, 1);
    c->id = t->id;
    c->npartitions = t->npartitions;
    c->partitions = memdup_or_die(t->partitions, sizeof *t->partitions * (size_t)t->npartitions);
    for (int32_t i = 0; i < t->npartitions; i++) {
        const struct sk_partition_meta *p = &t->partitions[i];
        c->partitions[i].replicas =
            memdup_or_die(p->replicas, sizeof *p->replicas * (size_t)p->nreplicas);
        c->partitions[i].isr = memdup_or_die(p->isr, sizeof *p->isr * (size_t)p->nisr);
        c->partitions[i].adding =
            p->nadding ? memdup_or_die(p->adding, sizeof *p->adding * (size_t)p->nadding) : NULL;
        c->partitions[i].removing =
            p->nremoving ? memdup_or_die(p->removing, sizeof *p->removing * (size_t)p->nremoving)
                         : NULL;
    }
    kvlist_copy(&c->configs, &t->configs);
    return c;
}

/* Registrations (brokers' or controllers'), deep. */
static struct sk_broker_meta *registrations_copy(const struct sk_broker_meta *src, int n)
{
    struct sk_broker_meta *dst = memdup_or_die(src, sizeof *src * (size_t)n);
    for (int i = 0; i < n; i++) {
        struct sk_broker_meta *b = &dst[i];
        const struct sk_broker_meta *s = &src[i];
        b->rack = strdup_c(s->rack);
        b->endpoints = memdup_or_die(s->endpoints, sizeof *s->endpoints * (size_t)s->nendpoints);
        for (int e = 0; e < s->nendpoints; e++) {
            b->endpoints[e].listener = strdup_c(s->endpoints[e].listener);
            b->endpoints[e].host = strdup_c(s->endpoints[e].host);
        }
    }
    return dst;
}

static void brokers_copy(struct sk_meta_image *dst, const struct sk_meta_image *src)
{
    dst->nbrokers = src->nbrokers;
    dst->brokers = registrations_copy(src->brokers, src->nbrokers);
    dst->ncontrollers = src->ncontrollers;
    dst->controllers = registrations_copy(src->controllers, src->ncontrollers);
}

static void features_copy(struct sk_meta_image *dst, const struct sk_meta_image *src)
{
    dst->nfeatures = src->nfeatures;
    dst->features = memdup_or_die(src->features, sizeof *src->features * (size_t)src->nfeatures);
    for (int i = 0; i < src->nfeatures; i++)
        dst->features[i].name = strdup_c(src->features[i].name);
}

static void quotas_copy(struct sk_meta_image *dst, const struct sk_meta_image *src)
{
    dst->nquotas = src->nquotas;
    dst->quotas = memdup_or_die(src->quotas, sizeof *src->quotas * (size_t)src->nquotas);
    for (int i = 0; i < src->nquotas; i++) {
        struct sk_quota_entry *q = &dst->quotas[i];
        for (int k = 0; k < q->nparts; k++)
            if (sk_wire_str_dup(&q->parts[k].type, src->quotas[i].parts[k].type) < 0 ||
                sk_wire_str_dup(&q->parts[k].name, src->quotas[i].parts[k].name) < 0)
                abort();
        kvlist_copy(&q->values, &src->quotas[i].values);
    }
}

struct sk_meta_image *sk_meta_image_clone(const struct sk_meta_image *img)
{
    struct sk_meta_image *c = malloc(sizeof *c);
    if (!c)
        abort();
    sk_meta_image_init(c);
    c->ntopics = c->topics_cap = img->ntopics;
    c->topics = memdup_or_die(img->topics, sizeof *img->topics * (size_t)img->ntopics);
    for (int i = 0; i < img->ntopics; i++)
        atomic_fetch_add_explicit(&img->topics[i]->refs, 1, memory_order_relaxed);
    sk_topic_table_copy(&c->by_name, &img->by_name);
    sk_topic_table_copy(&c->by_id, &img->by_id);
    brokers_copy(c, img);
    features_copy(c, img);
    c->nbroker_configs = img->nbroker_configs;
    c->broker_configs = img->nbroker_configs
                            ? memdup_or_die(img->broker_configs,
                                            sizeof *img->broker_configs *
                                                (size_t)img->nbroker_configs)
                            : NULL;
    for (int i = 0; i < img->nbroker_configs; i++)
        kvlist_copy(&c->broker_configs[i].kv, &img->broker_configs[i].kv);
    kvlist_copy(&c->cluster_configs, &img->cluster_configs);
    c->configs_version = img->configs_version;
    quotas_copy(c, img);
    c->next_producer_id = img->next_producer_id;
    c->last_offset = img->last_offset;
    atomic_init(&c->refs, 1);
    return c;
}

void sk_meta_image_reset_to(struct sk_meta_image *dst, const struct sk_meta_image *src)
{
    struct sk_meta_image *c = sk_meta_image_clone(src);
    sk_meta_image_free(dst);
    /* The tables point at topics, never into the image: moving it is safe. */
    *dst = *c;
    atomic_init(&dst->refs, 0);
    free(c);
}

struct sk_meta_image *sk_meta_image_ref(struct sk_meta_image *img)
{
    atomic_fetch_add_explicit(&img->refs, 1, memory_order_relaxed);
    return img;
}

void sk_meta_image_release(struct sk_meta_image *img)
{
    if (!img || atomic_fetch_sub_explicit(&img->refs, 1, memory_order_acq_rel) != 1)
        return;
    sk_meta_image_free(img);
    free(img);
}
