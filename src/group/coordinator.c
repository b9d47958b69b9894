/* The group table: lookup, creation, removal and the lifetime of groups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "skein/errors.h"
#include "skein/group.h"
#include "skein/java_hash.h"
#include "skein/group_offsets.h"
#include "skein/fnv.h"

static const char *const state_names[] = {
    [SK_GROUP_EMPTY] = "Empty",
    [SK_GROUP_PREPARING_REBALANCE] = "PreparingRebalance",
    [SK_GROUP_COMPLETING_REBALANCE] = "CompletingRebalance",
    [SK_GROUP_STABLE] = "Stable",
    [SK_GROUP_DEAD] = "Dead",
};

const char *sk_group_state_name(enum sk_group_state s)
{
    return s <= SK_GROUP_DEAD ? state_names[s] : "Unknown";
}

int sk_group_state_parse(kp_str name)
{
    for (int s = 0; s <= SK_GROUP_DEAD; s++)
        if (name.len == (int32_t)strlen(state_names[s]) &&
            strncasecmp(name.ptr, state_names[s], (size_t)name.len) == 0)
            return s;
    return -1;
}

struct sk_group_coordinator *sk_group_coordinator_new(const struct sk_group_env *env,
                                                      const struct sk_group_limits *lim)
{
    struct sk_group_coordinator *co = calloc(1, sizeof *co);
    if (!co)
        return NULL;
    co->env = *env;
    co->lim = *lim;
    co->nbuckets = 64;
    co->buckets = calloc(co->nbuckets, sizeof *co->buckets);
    if (!co->buckets) {
        free(co);
        return NULL;
    }
    co->available = true;
    return co;
}

int16_t sk_group_coordinator_error(const struct sk_group_coordinator *co)
{
    if (!co)
        return SK_ERR_COORDINATOR_NOT_AVAILABLE;
    return co->available ? SK_ERR_NONE : SK_ERR_COORDINATOR_NOT_AVAILABLE;
}

static uint64_t fnv(kp_str s)
{
    return sk_fnv1a(SK_FNV1A_INIT, s.ptr, (size_t)s.len);
}

struct sk_group *sk_group_find(struct sk_group_coordinator *co, kp_str id)
{
    if (id.len < 0)
        return NULL;
    for (struct sk_group *g = co->buckets[fnv(id) % co->nbuckets]; g; g = g->hnext)
        if (kp_str_eq(id, g->id))
            return g;
    return NULL;
}

static void grow(struct sk_group_coordinator *co)
{
    size_t n = co->nbuckets * 2;
    struct sk_group **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < co->nbuckets; i++)
        for (struct sk_group *g = co->buckets[i], *next; g; g = next) {
            next = g->hnext;
            size_t k = fnv(g->id) % n;
            g->hnext = b[k];
            b[k] = g;
        }
    free(co->buckets);
    co->buckets = b;
    co->nbuckets = n;
}

struct sk_group *sk_group_get_or_create(struct sk_group_coordinator *co, kp_str id)
{
    struct sk_group *g = sk_group_find(co, id);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || sk_wire_str_dup(&g->id, id) < 0) {
        free(g);
        return NULL;
    }
    g->co = co;
    g->protocol_type = g->protocol_name = g->leader = KP_STR_NULL;
    g->partition = sk_group_partition_for(id, co->lim.num_partitions);
    g->state = SK_GROUP_EMPTY;
    g->state_ts = co->env.now_ms(co->env.ctx);
    if (co->ngroups >= co->nbuckets)
        grow(co);
    size_t k = fnv(id) % co->nbuckets;
    g->hnext = co->buckets[k];
    co->buckets[k] = g;
    co->ngroups++;
    return g;
}

void sk_group_set_state(struct sk_group *g, enum sk_group_state s)
{
    g->state = s;
    g->state_ts = g->co->env.now_ms(g->co->env.ctx);
}

/* A removed group answers its parked requests and stops its timers at once,
 * even if writes in flight keep the struct alive a little longer. */
static void group_clear(struct sk_group *g)
{
    struct sk_group_env *env = &g->co->env;
    if (g->join_timer)
        env->timer_cancel(env->ctx, g->join_timer);
    if (g->sync_timer)
        env->timer_cancel(env->ctx, g->sync_timer);
    g->join_timer = g->sync_timer = 0;
    while (g->members) {
        struct sk_member *m = g->members;
        g->members = m->next;
        sk_member_complete_join(m, SK_ERR_COORDINATOR_NOT_AVAILABLE);
        sk_member_complete_sync(m, SK_ERR_COORDINATOR_NOT_AVAILABLE);
        sk_member_free(m);
    }
    while (g->pending) {
        struct sk_member *m = g->pending;
        g->pending = m->next;
        sk_member_free(m);
    }
    g->nmembers = g->npending = 0;
}

static void group_free(struct sk_group *g)
{
    sk_offsets_free(&g->offsets);
    sk_wire_str_free(&g->protocol_type);
    sk_wire_str_free(&g->protocol_name);
    sk_wire_str_free(&g->leader);
    sk_wire_str_free(&g->id);
    free(g);
}

void sk_group_remove(struct sk_group *g)
{
    struct sk_group_coordinator *co = g->co;
    if (g->removed)
        return;
    struct sk_group **pp = &co->buckets[fnv(g->id) % co->nbuckets];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = g->hnext;
        co->ngroups--;
    }
    g->removed = true;
    sk_group_set_state(g, SK_GROUP_DEAD);
    group_clear(g);
    if (g->refs == 0)
        group_free(g);
}

void sk_group_ref(struct sk_group *g)
{
    g->refs++;
}

void sk_group_unref(struct sk_group *g)
{
    if (--g->refs == 0 && g->removed)
        group_free(g);
}

void sk_group_each(struct sk_group_coordinator *co, void (*fn)(struct sk_group *g, void *arg),
                   void *arg)
{
    for (size_t i = 0; i < co->nbuckets; i++)
        for (struct sk_group *g = co->buckets[i]; g; g = g->hnext)
            fn(g, arg);
}

void sk_group_coordinator_free(struct sk_group_coordinator *co)
{
    if (!co)
        return;
    if (co->expiry_timer)
        co->env.timer_cancel(co->env.ctx, co->expiry_timer);
    if (co->load_timer)
        co->env.timer_cancel(co->env.ctx, co->load_timer);
    for (size_t i = 0; i < co->nbuckets; i++)
        while (co->buckets[i])
            sk_group_remove(co->buckets[i]);
    free(co->buckets);
    free(co->loads);
    free(co);
}
