/* Applying __cluster_metadata records to the in-memory image. */
#include "skein/meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "image_int.h"
#include "skein/wire_str.h"
#include "topic_table.h"

static char *dup_str(kp_str s)
{
    if (s.len < 0)
        return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (!p)
        abort(); /* the image cannot be left half-applied */
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

static void *grow(void *arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return arr;
    int ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(arr, (size_t)ncap * elem);
    if (!p)
        abort();
    *cap = ncap;
    return p;
}

static int32_t *dup_i32(kp_arr_i32 a, int32_t *n)
{
    *n = a.n < 0 ? 0 : a.n;
    int32_t *p = malloc(sizeof *p * (size_t)(*n ? *n : 1));
    if (!p)
        abort();
    if (*n)
        memcpy(p, a.v, sizeof *p * (size_t)*n);
    return p;
}

/* ---- key/value lists ---------------------------------------------------- */

static int kvlist_find(const struct sk_kvlist *l, kp_str key)
{
    for (int i = 0; i < l->n; i++)
        if (kp_str_eq((kp_str){l->v[i].key, l->v[i].key_len}, key))
            return i;
    return -1;
}

const char *sk_kvlist_get(const struct sk_kvlist *l, const char *key)
{
    int i = kvlist_find(l, kp_str_c(key));
    return i < 0 ? NULL : l->v[i].value;
}

kp_str sk_kvlist_bytes(const struct sk_kvlist *l, const char *key)
{
    int i = kvlist_find(l, kp_str_c(key));
    return i < 0 ? KP_STR_NULL : (kp_str){l->v[i].value, l->v[i].value_len};
}

/* value null deletes the key, as a ConfigRecord with a null value does. */
static void kvlist_set(struct sk_kvlist *l, kp_str key, kp_str value)
{
    int i = kvlist_find(l, key);
    if (i >= 0) {
        free(l->v[i].value);
        if (value.len < 0) {
            free(l->v[i].key);
            l->v[i] = l->v[--l->n];
        } else {
            l->v[i].value = dup_str(value);
            l->v[i].value_len = value.len;
        }
        return;
    }
    if (value.len < 0 || key.len < 0)
        return;
    l->v = grow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = (struct sk_kv){dup_str(key), dup_str(value), key.len, value.len};
}

static int broker_configs_index(const struct sk_meta_image *img, int32_t id)
{
    for (int i = 0; i < img->nbroker_configs; i++)
        if (img->broker_configs[i].id == id)
            return i;
    return -1;
}

const struct sk_kvlist *sk_meta_broker_configs(const struct sk_meta_image *img, int32_t id)
{
    static const struct sk_kvlist none;
    int i = broker_configs_index(img, id);
    return i >= 0 ? &img->broker_configs[i].kv : &none;
}

static struct sk_kvlist *broker_configs_mut(struct sk_meta_image *img, int32_t id)
{
    int i = broker_configs_index(img, id);
    if (i >= 0)
        return &img->broker_configs[i].kv;
    struct sk_broker_configs *v = realloc(
        img->broker_configs, sizeof *v * (size_t)(img->nbroker_configs + 1));
    if (!v)
        abort(); /* as kvlist_set: a half-applied record would fork the image */
    img->broker_configs = v;
    v[img->nbroker_configs] = (struct sk_broker_configs){.id = id};
    return &v[img->nbroker_configs++].kv;
}

static void kvlist_free(struct sk_kvlist *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- lookups ------------------------------------------------------------ */

void sk_meta_image_init(struct sk_meta_image *img)
{
    memset(img, 0, sizeof *img);
    sk_topic_table_init(&img->by_name, false);
    sk_topic_table_init(&img->by_id, true);
    img->last_offset = -1;
}

const struct sk_topic_meta *sk_meta_topic(const struct sk_meta_image *img, const char *name,
                                          size_t len)
{
    return sk_topic_table_by_name(&img->by_name, name, len);
}

const struct sk_topic_meta *sk_meta_topic_by_id(const struct sk_meta_image *img,
                                                const kp_uuid *id)
{
    return sk_topic_table_by_id(&img->by_id, id);
}

static int topic_index(const struct sk_meta_image *img, const struct sk_topic_meta *t)
{
    for (int i = 0; i < img->ntopics; i++)
        if (img->topics[i] == t)
            return i;
    return -1;
}

/* The topic as this image may change it: a topic another image shares is
 * copied first, so the other image keeps seeing what it was published with. */
static struct sk_topic_meta *topic_mut(struct sk_meta_image *img, struct sk_topic_meta *t)
{
    if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1)
        return t;
    struct sk_topic_meta *copy = sk_meta_topic_copy(t);
    img->topics[topic_index(img, t)] = copy;
    sk_topic_table_replace(&img->by_name, t, copy);
    sk_topic_table_replace(&img->by_id, t, copy);
    sk_meta_topic_release(t);
    return copy;
}

static struct sk_topic_meta *topic_mut_by_id(struct sk_meta_image *img, const kp_uuid *id)
{
    struct sk_topic_meta *t = sk_topic_table_by_id(&img->by_id, id);
    return t ? topic_mut(img, t) : NULL;
}

static const struct sk_broker_meta *registration(const struct sk_broker_meta *v, int n,
                                                  int32_t id)
{
    for (int i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

const struct sk_broker_meta *sk_meta_broker(const struct sk_meta_image *img, int32_t id)
{
    return registration(img->brokers, img->nbrokers, id);
}

const struct sk_broker_meta *sk_meta_controller(const struct sk_meta_image *img, int32_t id)
{
    return registration(img->controllers, img->ncontrollers, id);
}

bool sk_partition_meta_has_replica(const struct sk_partition_meta *pm, int32_t id)
{
    for (int32_t i = 0; i < pm->nreplicas; i++)
        if (pm->replicas[i] == id)
            return true;
    return false;
}

int16_t sk_meta_feature(const struct sk_meta_image *img, const char *name)
{
    for (int i = 0; i < img->nfeatures; i++)
        if (strcmp(img->features[i].name, name) == 0)
            return img->features[i].level;
    return 0;
}

/* ---- topics and partitions ---------------------------------------------- */

static void partition_free(struct sk_partition_meta *p)
{
    free(p->replicas);
    free(p->isr);
    free(p->adding);
    free(p->removing);
}

/* A nullable list of a record: left as it is when null (a change record's
 * "unchanged"), else replaced; empty lists are held as NULL. */
static void set_list(int32_t **dst, int32_t *n, kp_arr_i32 a)
{
    if (a.n < 0)
        return;
    free(*dst);
    *dst = a.n > 0 ? dup_i32(a, n) : NULL;
    *n = a.n;
}

void sk_meta_topic_release(struct sk_topic_meta *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int32_t i = 0; i < t->npartitions; i++)
        partition_free(&t->partitions[i]);
    free(t->partitions);
    free(t->name);
    kvlist_free(&t->configs);
    free(t);
}

static int apply_topic(struct sk_meta_image *img, const kp_topic_record *r)
{
    if (r->name.len < 0 || sk_meta_topic(img, r->name.ptr, (size_t)r->name.len) ||
        sk_meta_topic_by_id(img, &r->topic_id))
        return -EINVAL;
    struct sk_topic_meta *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->name = dup_str(r->name);
    t->name_len = r->name.len;
    atomic_init(&t->refs, 1);
    t->id = r->topic_id;
    img->topics = grow(img->topics, &img->topics_cap, img->ntopics + 1, sizeof *img->topics);
    img->topics[img->ntopics++] = t;
    sk_topic_table_put(&img->by_name, t);
    sk_topic_table_put(&img->by_id, t);
    return 0;
}

static int apply_partition(struct sk_meta_image *img, const kp_partition_record *r)
{
    if (r->partition_id < 0)
        return -EINVAL;
    struct sk_topic_meta *t = topic_mut_by_id(img, &r->topic_id);
    if (!t)
        return -EINVAL;
    if (r->partition_id >= t->npartitions) {
        struct sk_partition_meta *np =
            realloc(t->partitions, sizeof *np * (size_t)(r->partition_id + 1));
        if (!np)
            abort();
        memset(np + t->npartitions, 0,
               sizeof *np * (size_t)(r->partition_id + 1 - t->npartitions));
        t->partitions = np;
        t->npartitions = r->partition_id + 1;
    }
    struct sk_partition_meta *p = &t->partitions[r->partition_id];
    partition_free(p);
    p->id = r->partition_id;
    p->leader = r->leader;
    p->leader_epoch = r->leader_epoch;
    p->partition_epoch = r->partition_epoch;
    p->replicas = dup_i32(r->replicas, &p->nreplicas);
    p->isr = dup_i32(r->isr, &p->nisr);
    p->adding = p->removing = NULL;
    p->nadding = p->nremoving = 0;
    set_list(&p->adding, &p->nadding, r->adding_replicas);
    set_list(&p->removing, &p->nremoving, r->removing_replicas);
    p->leader_recovery_state = r->leader_recovery_state;
    return 0;
}

/* Kafka's PartitionChangeRecord: Leader -2 means unchanged, -1 no leader; a
 * null array means unchanged. A new leader starts a new leader epoch; every
 * change starts a new partition epoch. */
static int apply_partition_change(struct sk_meta_image *img, const kp_partition_change_record *r)
{
    const struct sk_topic_meta *seen = sk_meta_topic_by_id(img, &r->topic_id);
    if (!seen || r->partition_id < 0 || r->partition_id >= seen->npartitions)
        return -EINVAL;
    struct sk_topic_meta *t = topic_mut(img, (struct sk_topic_meta *)seen);
    struct sk_partition_meta *p = &t->partitions[r->partition_id];
    if (r->leader != -2 && r->leader != p->leader) {
        p->leader = r->leader;
        p->leader_epoch++;
    }
    if (r->isr.n >= 0) {
        free(p->isr);
        p->isr = dup_i32(r->isr, &p->nisr);
    }
    if (r->replicas.n >= 0) {
        free(p->replicas);
        p->replicas = dup_i32(r->replicas, &p->nreplicas);
    }
    set_list(&p->adding, &p->nadding, r->adding_replicas);
    set_list(&p->removing, &p->nremoving, r->removing_replicas);
    if (r->leader_recovery_state != -1) /* -1: unchanged */
        p->leader_recovery_state = r->leader_recovery_state;
    p->partition_epoch++;
    return 0;
}

static int apply_remove_topic(struct sk_meta_image *img, const kp_remove_topic_record *r)
{
    struct sk_topic_meta *t = sk_topic_table_by_id(&img->by_id, &r->topic_id);
    if (!t)
        return -EINVAL;
    int ti = topic_index(img, t);
    sk_topic_table_del(&img->by_name, t);
    sk_topic_table_del(&img->by_id, t);
    sk_meta_topic_release(t);
    memmove(&img->topics[ti], &img->topics[ti + 1],
            sizeof *img->topics * (size_t)(img->ntopics - ti - 1));
    img->ntopics--;
    return 0;
}

/* ---- brokers ------------------------------------------------------------ */

static void broker_clear(struct sk_broker_meta *b)
{
    for (int i = 0; i < b->nendpoints; i++) {
        free(b->endpoints[i].listener);
        free(b->endpoints[i].host);
    }
    free(b->endpoints);
    free(b->rack);
    memset(b, 0, sizeof *b);
}

/* The registration of id in *v (n of them), added if new. */
static struct sk_broker_meta *registration_slot(struct sk_broker_meta **v, int *n, int32_t id)
{
    struct sk_broker_meta *b = (struct sk_broker_meta *)registration(*v, *n, id);
    if (b)
        return b;
    struct sk_broker_meta *nb = realloc(*v, sizeof *nb * (size_t)(*n + 1));
    if (!nb)
        abort();
    *v = nb;
    b = &nb[(*n)++];
    memset(b, 0, sizeof *b);
    b->id = id;
    return b;
}

static struct sk_broker_meta *broker_slot(struct sk_meta_image *img, int32_t id)
{
    return registration_slot(&img->brokers, &img->nbrokers, id);
}

static int apply_register_broker(struct sk_meta_image *img, const kp_register_broker_record *r)
{
    struct sk_broker_meta *b = broker_slot(img, r->broker_id);
    broker_clear(b);
    b->id = r->broker_id;
    b->epoch = r->broker_epoch;
    b->incarnation = r->incarnation_id;
    b->rack = dup_str(r->rack);
    b->fenced = r->fenced;
    b->in_controlled_shutdown = r->in_controlled_shutdown;
    int n = r->end_points.n < 0 ? 0 : r->end_points.n;
    b->endpoints = calloc((size_t)(n ? n : 1), sizeof *b->endpoints);
    if (!b->endpoints)
        abort();
    for (int i = 0; i < n; i++) {
        const kp_register_broker_record_broker_endpoint *e = &r->end_points.v[i];
        b->endpoints[i] = (struct sk_endpoint_meta){dup_str(e->name), dup_str(e->host), e->port,
                                                    e->security_protocol};
    }
    b->nendpoints = n;
    return 0;
}

/* KIP-919: a controller's registration replaces its previous one. */
static int apply_register_controller(struct sk_meta_image *img,
                                     const kp_register_controller_record *r)
{
    struct sk_broker_meta *c =
        registration_slot(&img->controllers, &img->ncontrollers, r->controller_id);
    broker_clear(c);
    c->id = r->controller_id;
    c->epoch = -1;
    c->incarnation = r->incarnation_id;
    int n = r->end_points.n < 0 ? 0 : r->end_points.n;
    c->endpoints = calloc((size_t)(n ? n : 1), sizeof *c->endpoints);
    if (!c->endpoints)
        abort();
    for (int i = 0; i < n; i++) {
        const kp_register_controller_record_controller_endpoint *e = &r->end_points.v[i];
        c->endpoints[i] = (struct sk_endpoint_meta){dup_str(e->name), dup_str(e->host), e->port,
                                                    e->security_protocol};
    }
    c->nendpoints = n;
    return 0;
}

static int apply_unregister_broker(struct sk_meta_image *img, const kp_unregister_broker_record *r)
{
    for (int i = 0; i < img->nbrokers; i++) {
        if (img->brokers[i].id == r->broker_id) {
            broker_clear(&img->brokers[i]);
            img->brokers[i] = img->brokers[--img->nbrokers];
            return 0;
        }
    }
    return -EINVAL;
}

static int apply_fence(struct sk_meta_image *img, int32_t id, bool fenced)
{
    struct sk_broker_meta *b = (struct sk_broker_meta *)sk_meta_broker(img, id);
    if (!b)
        return -EINVAL;
    b->fenced = fenced;
    return 0;
}

/* What Kafka 3.3+ controllers write for fencing and controlled shutdown:
 * fenced -1 unfences, 0 leaves it, 1 fences. A change for another epoch
 * than the registration's contradicts the log, as Kafka's replay says. */
static int apply_registration_change(struct sk_meta_image *img,
                                     const kp_broker_registration_change_record *r)
{
    struct sk_broker_meta *b = (struct sk_broker_meta *)sk_meta_broker(img, r->broker_id);
    if (!b || b->epoch != r->broker_epoch || r->fenced < -1 || r->fenced > 1 ||
        r->in_controlled_shutdown < 0 || r->in_controlled_shutdown > 1)
        return -EINVAL;
    if (r->fenced != 0)
        b->fenced = r->fenced == 1;
    if (r->in_controlled_shutdown == 1)
        b->in_controlled_shutdown = true;
    return 0;
}

/* ---- configs, features, quotas ------------------------------------------ */

static int apply_config(struct sk_meta_image *img, const kp_config_record *r)
{
    switch (r->resource_type) {
    case SK_RESOURCE_TOPIC: {
        struct sk_topic_meta *t =
            r->resource_name.len < 0
                ? NULL
                : sk_topic_table_by_name(&img->by_name, r->resource_name.ptr,
                                         (size_t)r->resource_name.len);
        if (!t)
            return -EINVAL;
        t = topic_mut(img, t);
        kvlist_set(&t->configs, r->name, r->value);
        return 0;
    }
    case SK_RESOURCE_BROKER: {
        /* An empty resource name is the cluster-wide default; every node
         * keeps every broker's, so the active controller can plan a change
         * to any broker, and each node applies its own. */
        int32_t id = -1;
        if (r->resource_name.len > 0 && sk_wire_str_to_i32(r->resource_name, &id) < 0)
            return 0; /* refused when written; nothing a broker could apply */
        kvlist_set(id < 0 ? &img->cluster_configs : broker_configs_mut(img, id), r->name,
                   r->value);
        img->configs_version++;
        return 0;
    }
    default:
        return 0; /* other resource types carry nothing a single node applies */
    }
}

static int apply_feature(struct sk_meta_image *img, const kp_feature_level_record *r)
{
    for (int i = 0; i < img->nfeatures; i++) {
        struct sk_feature_level *f = &img->features[i];
        if ((int32_t)strlen(f->name) == r->name.len &&
            memcmp(f->name, r->name.ptr, (size_t)r->name.len) == 0) {
            f->level = r->feature_level;
            return 0;
        }
    }
    struct sk_feature_level *nf =
        realloc(img->features, sizeof *nf * (size_t)(img->nfeatures + 1));
    if (!nf)
        abort();
    img->features = nf;
    img->features[img->nfeatures++] = (struct sk_feature_level){dup_str(r->name), r->feature_level};
    return 0;
}

bool sk_quota_entry_is(const struct sk_quota_entry *q, const struct sk_quota_part *parts, int n)
{
    if (q->nparts != n)
        return false;
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int j = 0; j < q->nparts && !found; j++)
            found = kp_str_eq(q->parts[j].type, parts[i].type) &&
                    kp_str_eq(q->parts[j].name, parts[i].name);
        if (!found)
            return false;
    }
    return true;
}

static int apply_quota(struct sk_meta_image *img, const kp_client_quota_record *r)
{
    struct sk_quota_part parts[SK_QUOTA_MAX_PARTS];
    if (r->entity.n < 0 || r->entity.n > SK_QUOTA_MAX_PARTS)
        return -EINVAL; /* the controller never writes one */
    for (int32_t i = 0; i < r->entity.n; i++)
        parts[i] = (struct sk_quota_part){r->entity.v[i].entity_type, r->entity.v[i].entity_name};
    struct sk_quota_entry *q = NULL;
    for (int i = 0; i < img->nquotas && !q; i++)
        if (sk_quota_entry_is(&img->quotas[i], parts, r->entity.n))
            q = &img->quotas[i];
    if (!q) {
        struct sk_quota_entry *nq = realloc(img->quotas, sizeof *nq * (size_t)(img->nquotas + 1));
        if (!nq)
            abort();
        img->quotas = nq;
        q = &img->quotas[img->nquotas++];
        memset(q, 0, sizeof *q);
        for (int32_t i = 0; i < r->entity.n; i++)
            if (sk_wire_str_dup(&q->parts[i].type, parts[i].type) < 0 ||
                sk_wire_str_dup(&q->parts[i].name, parts[i].name) < 0)
                abort(); /* as dup_str */
        q->nparts = r->entity.n;
    }
    char num[64];
    snprintf(num, sizeof num, "%.17g", r->value);
    kvlist_set(&q->values, r->key, r->remove ? KP_STR_NULL : kp_str_c(num));
    return 0;
}

int sk_meta_apply(struct sk_meta_image *img, int16_t type, const void *rec)
{
    switch (type) {
    case SK_META_REGISTER_BROKER: return apply_register_broker(img, rec);
    case SK_META_UNREGISTER_BROKER: return apply_unregister_broker(img, rec);
    case SK_META_TOPIC: return apply_topic(img, rec);
    case SK_META_PARTITION: return apply_partition(img, rec);
    case SK_META_CONFIG: return apply_config(img, rec);
    case SK_META_PARTITION_CHANGE: return apply_partition_change(img, rec);
    case SK_META_FENCE_BROKER:
        return apply_fence(img, ((const kp_fence_broker_record *)rec)->id, true);
    case SK_META_UNFENCE_BROKER:
        return apply_fence(img, ((const kp_unfence_broker_record *)rec)->id, false);
    case SK_META_BROKER_REGISTRATION_CHANGE: return apply_registration_change(img, rec);
    case SK_META_REGISTER_CONTROLLER: return apply_register_controller(img, rec);
    case SK_META_REMOVE_TOPIC: return apply_remove_topic(img, rec);
    case SK_META_FEATURE_LEVEL: return apply_feature(img, rec);
    case SK_META_CLIENT_QUOTA: return apply_quota(img, rec);
    case SK_META_PRODUCER_IDS: {
        const kp_producer_ids_record *r = rec;
        if (r->next_producer_id < img->next_producer_id)
            return -EINVAL;
        img->next_producer_id = r->next_producer_id;
        return 0;
    }
    default:
        return 0; /* records for features a single node does not use yet */
    }
}

void sk_meta_image_free(struct sk_meta_image *img)
{
    for (int i = 0; i < img->ntopics; i++)
        sk_meta_topic_release(img->topics[i]);
    free(img->topics);
    sk_topic_table_free(&img->by_name);
    sk_topic_table_free(&img->by_id);
    for (int i = 0; i < img->nbrokers; i++)
        broker_clear(&img->brokers[i]);
    free(img->brokers);
    for (int i = 0; i < img->ncontrollers; i++)
        broker_clear(&img->controllers[i]);
    free(img->controllers);
    for (int i = 0; i < img->nfeatures; i++)
        free(img->features[i].name);
    free(img->features);
    for (int i = 0; i < img->nquotas; i++) {
        for (int k = 0; k < img->quotas[i].nparts; k++) {
            sk_wire_str_free(&img->quotas[i].parts[k].type);
            sk_wire_str_free(&img->quotas[i].parts[k].name);
        }
        kvlist_free(&img->quotas[i].values);
    }
    free(img->quotas);
    for (int i = 0; i < img->nbroker_configs; i++)
        kvlist_free(&img->broker_configs[i].kv);
    free(img->broker_configs);
    kvlist_free(&img->cluster_configs);
    sk_meta_image_init(img);
}

const struct sk_endpoint_meta *sk_meta_endpoint(const struct sk_broker_meta *b,
                                                const char *listener)
{
    for (int i = 0; i < b->nendpoints; i++)
        if (strcmp(b->endpoints[i].listener, listener) == 0)
            return &b->endpoints[i];
    return NULL;
}
