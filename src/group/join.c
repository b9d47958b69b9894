/* JoinGroup: admitting members, static membership (KIP-345), the
 * MEMBER_ID_REQUIRED round trip (KIP-394) and triggering rebalances. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "skein/errors.h"
#include "skein/group.h"

static void fail(sk_join_fn cb, void *arg, int16_t err, kp_str member_id)
{
    struct sk_join_result r = sk_join_failed(err, member_id);
    cb(arg, &r);
}

#define UUID_TEXT_LEN 36

/* "<prefix>-<uuid v4>", as Kafka names members after their client id (or
 * their instance id for static members); the prefix is copied as bytes, so
 * one with a zero byte is kept whole. Null on failure. */
static kp_str new_member_id(kp_str prefix)
{
    uint8_t u[16];
    if (getrandom(u, sizeof u, 0) != sizeof u)
        return KP_STR_NULL;
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    size_t plen = prefix.len > 0 ? (size_t)prefix.len : 0;
    char *s = malloc(plen + 1 + UUID_TEXT_LEN + 1);
    if (!s)
        return KP_STR_NULL;
    if (plen)
        memcpy(s, prefix.ptr, plen);
    snprintf(s + plen, 1 + UUID_TEXT_LEN + 1,
             "-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    return (kp_str){s, (int32_t)(plen + 1 + UUID_TEXT_LEN)};
}

static void free_protocols(struct sk_group_protocol *v, int n)
{
    for (int i = 0; i < n; i++) {
        sk_wire_str_free(&v[i].name);
        free(v[i].metadata);
    }
    free(v);
}

/* All or nothing: on -ENOMEM the member keeps its previous protocols. */
static int set_protocols(struct sk_member *m, const struct sk_join_params *p)
{
    struct sk_group_protocol *v = calloc((size_t)p->nprotocols + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (int i = 0; i < p->nprotocols; i++) {
        int32_t len = p->protocols[i].metadata.len > 0 ? p->protocols[i].metadata.len : 0;
        v[i].metadata = malloc((size_t)len + 1);
        v[i].metadata_len = len;
        if (!v[i].metadata || sk_wire_str_dup(&v[i].name, p->protocols[i].name) < 0) {
            free_protocols(v, i + 1);
            return -ENOMEM;
        }
        if (len)
            memcpy(v[i].metadata, p->protocols[i].metadata.ptr, (size_t)len);
    }
    free_protocols(m->protocols, m->nprotocols);
    m->protocols = v;
    m->nprotocols = p->nprotocols;
    return 0;
}

/* Same protocols, same order, same metadata: a rejoin that changes nothing. */
static bool protocols_match(const struct sk_member *m, const struct sk_join_params *p)
{
    if (m->nprotocols != p->nprotocols)
        return false;
    for (int i = 0; i < p->nprotocols; i++) {
        const struct sk_group_protocol *a = &m->protocols[i];
        const struct sk_join_protocol_in *b = &p->protocols[i];
        int32_t blen = b->metadata.len > 0 ? b->metadata.len : 0;
        if (!kp_str_eq(b->name, a->name) || a->metadata_len != blen ||
            (blen && memcmp(a->metadata, b->metadata.ptr, (size_t)blen) != 0))
            return false;
    }
    return true;
}

/* 0, or -ENOMEM with the member's protocols unchanged (its client id and
 * host may be the new ones already: still the same client). */
static int update_member(struct sk_member *m, const struct sk_join_params *p)
{
    m->session_timeout_ms = p->session_timeout_ms;
    m->rebalance_timeout_ms = p->rebalance_timeout_ms;
    if (sk_wire_str_set(&m->client_id, p->client_id.len >= 0 ? p->client_id : kp_str_c("")) < 0 ||
        sk_wire_str_set(&m->client_host, p->client_host) < 0)
        return -ENOMEM;
    return set_protocols(m, p);
}

static void park_join(struct sk_member *m, sk_join_fn cb, void *arg)
{
    /* A retried JoinGroup replaces the one already waiting. */
    sk_member_complete_join(m, SK_ERR_REBALANCE_IN_PROGRESS);
    m->join_cb = cb;
    m->join_arg = arg;
    sk_member_cancel_session(m);
}

/* Kafka's supportsProtocols: an empty group takes any non-empty protocol set;
 * otherwise the type must match and one protocol must be common to all. */
static bool group_accepts(const struct sk_group *g, const struct sk_join_params *p)
{
    if (g->nmembers == 0)
        return true;
    if (!kp_str_eq(p->protocol_type, g->protocol_type))
        return false;
    for (int i = 0; i < p->nprotocols; i++) {
        bool all = true;
        for (struct sk_member *m = g->members; m && all; m = m->next) {
            bool has = false;
            for (int j = 0; j < m->nprotocols && !has; j++)
                has = kp_str_eq(p->protocols[i].name, m->protocols[j].name);
            all = has;
        }
        if (all)
            return true;
    }
    return false;
}

static int awaiting_join(const struct sk_group *g)
{
    int n = 0;
    for (struct sk_member *m = g->members; m; m = m->next)
        n += m->join_cb != NULL;
    return n;
}

/* group.max.size: during a rebalance only rejoining members count. */
static bool has_room(const struct sk_group *g, const struct sk_member *m)
{
    int32_t max = g->co->lim.max_size;
    switch (g->state) {
    case SK_GROUP_EMPTY:
    case SK_GROUP_DEAD:
        return true;
    case SK_GROUP_PREPARING_REBALANCE:
        return (m && m->join_cb) || awaiting_join(g) < max;
    default:
        return m || g->nmembers < max;
    }
}

static void trigger(struct sk_group *g)
{
    if (g->state == SK_GROUP_STABLE || g->state == SK_GROUP_COMPLETING_REBALANCE ||
        g->state == SK_GROUP_EMPTY)
        sk_group_prepare_rebalance(g);
    else
        sk_group_maybe_complete_join(g);
}

/* A member with its strings; takes id. NULL on out of memory. */
static struct sk_member *new_member(struct sk_group *g, kp_str id, kp_str instance_id)
{
    struct sk_member *m = calloc(1, sizeof *m);
    if (!m || sk_wire_str_dup(&m->instance_id, instance_id) < 0) {
        free(m);
        return NULL;
    }
    m->group = g;
    m->id = id;
    m->client_id = m->client_host = KP_STR_NULL;
    return m;
}

/* Takes id. */
static void add_member(struct sk_group *g, kp_str id, const struct sk_join_params *p,
                       sk_join_fn cb, void *arg)
{
    struct sk_member *m = new_member(g, id, p->instance_id);
    if (!m || update_member(m, p) < 0 ||
        (g->nmembers == 0 && sk_wire_str_set(&g->protocol_type, p->protocol_type) < 0)) {
        fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, id);
        if (m)
            sk_member_free(m);
        else
            sk_wire_str_free(&id);
        return;
    }
    m->is_new = true;
    m->next = NULL;
    struct sk_member **pp = &g->members;
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
    g->nmembers++;
    if (g->leader.len < 0)
        sk_wire_str_dup(&g->leader, m->id); /* out of memory: elected at the join's end */
    if (g->state == SK_GROUP_PREPARING_REBALANCE && g->initial_delay)
        g->new_member_added = true;
    park_join(m, cb, arg);
    trigger(g);
}

struct static_store {
    struct sk_group *g;
    int32_t generation;
    kp_str member_id;
    bool skip;
    sk_join_fn cb;
    void *arg;
};

static void static_stored(void *arg, int16_t err)
{
    struct static_store *s = arg;
    struct sk_group *g = s->g;
    struct sk_member *m = g->removed ? NULL : sk_member_find(g, s->member_id);
    if (err)
        fail(s->cb, s->arg, sk_group_store_error(err), s->member_id);
    else if (!m || g->generation != s->generation)
        fail(s->cb, s->arg, SK_ERR_REBALANCE_IN_PROGRESS, s->member_id);
    else
        sk_group_join_answer(g, m, s->skip, s->cb, s->arg);
    sk_group_unref(g);
    sk_wire_str_free(&s->member_id);
    free(s);
}

/* A static member rejoining with no member id takes over its instance's
 * membership under a new id; the old id is fenced. A Stable group whose
 * selected protocol stays the same keeps its assignment: no rebalance. */
static void replace_static(struct sk_group *g, struct sk_member *m, kp_str id,
                           const struct sk_join_params *p, sk_join_fn cb, void *arg)
{
    sk_member_complete_join(m, SK_ERR_FENCED_INSTANCE_ID);
    sk_member_complete_sync(m, SK_ERR_FENCED_INSTANCE_ID);
    if (sk_member_is_leader(m) && sk_wire_str_set(&g->leader, id) < 0)
        sk_wire_str_free(&g->leader); /* elected again at the next join */
    sk_wire_str_free(&m->id);
    m->id = id;
    if (update_member(m, p) < 0) {
        /* The old incarnation is fenced either way; the client rejoins. */
        fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, m->id);
        return;
    }
    kp_str next;
    switch (g->state) {
    case SK_GROUP_STABLE:
        next = sk_group_select_protocol(g);
        if (next.len >= 0 && kp_str_eq(next, g->protocol_name)) {
            struct static_store *s = calloc(1, sizeof *s);
            kp_str copy;
            if (!s || sk_wire_str_dup(&copy, id) < 0) {
                free(s);
                fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, id);
                return;
            }
            *s = (struct static_store){g, g->generation, copy, p->supports_skip_assignment, cb,
                                        arg};
            sk_member_schedule_session(m, m->session_timeout_ms);
            sk_group_ref(g);
            sk_group_store_metadata(g, static_stored, s);
            return;
        }
        park_join(m, cb, arg);
        sk_group_prepare_rebalance(g);
        return;
    case SK_GROUP_COMPLETING_REBALANCE:
        sk_member_schedule_session(m, m->session_timeout_ms);
        sk_group_join_answer(g, m, false, cb, arg);
        return;
    default:
        park_join(m, cb, arg);
        sk_group_maybe_complete_join(g);
        return;
    }
}

static void join_new(struct sk_group *g, const struct sk_join_params *p, sk_join_fn cb, void *arg)
{
    if (!has_room(g, NULL)) {
        fail(cb, arg, SK_ERR_GROUP_MAX_SIZE_REACHED, kp_str_c(""));
        return;
    }
    bool is_static = p->instance_id.len >= 0;
    kp_str id = new_member_id(is_static ? p->instance_id : p->client_id);
    if (id.len < 0) {
        fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, kp_str_c(""));
        return;
    }
    struct sk_member *old = is_static ? sk_member_find_instance(g, p->instance_id) : NULL;
    if (old) {
        replace_static(g, old, id, p, cb, arg);
        return;
    }
    if (is_static || !p->require_known_member) {
        add_member(g, id, p, cb, arg);
        return;
    }
    /* KIP-394: the member must come back with this id, so that a client
     * retrying after a lost response does not leave a ghost member behind. */
    struct sk_member *pm = new_member(g, id, KP_STR_NULL);
    if (!pm) {
        sk_wire_str_free(&id);
        fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, kp_str_c(""));
        return;
    }
    pm->pending = true;
    pm->next = g->pending;
    g->pending = pm;
    g->npending++;
    sk_member_schedule_session(pm, p->session_timeout_ms);
    fail(cb, arg, SK_ERR_MEMBER_ID_REQUIRED, id);
}

static struct sk_member *take_pending(struct sk_group *g, kp_str id)
{
    for (struct sk_member **pp = &g->pending; *pp; pp = &(*pp)->next) {
        struct sk_member *m = *pp;
        if (kp_str_eq(id, m->id)) {
            *pp = m->next;
            g->npending--;
            return m;
        }
    }
    return NULL;
}

static void join_known(struct sk_group *g, const struct sk_join_params *p, sk_join_fn cb,
                       void *arg)
{
    struct sk_member *pm = take_pending(g, p->member_id);
    if (pm) {
        kp_str id = pm->id;
        pm->id = KP_STR_NULL;
        sk_member_free(pm);
        if (!has_room(g, NULL)) {
            fail(cb, arg, SK_ERR_GROUP_MAX_SIZE_REACHED, id);
            sk_wire_str_free(&id);
            return;
        }
        add_member(g, id, p, cb, arg);
        return;
    }
    struct sk_member *si = sk_member_find_instance(g, p->instance_id);
    if (si && !kp_str_eq(p->member_id, si->id)) {
        fail(cb, arg, SK_ERR_FENCED_INSTANCE_ID, KP_STR_NULL);
        return;
    }
    struct sk_member *m = sk_member_find(g, p->member_id);
    if (!m || g->state == SK_GROUP_EMPTY) {
        fail(cb, arg, SK_ERR_UNKNOWN_MEMBER_ID, KP_STR_NULL);
        return;
    }
    if (!has_room(g, m)) {
        fail(cb, arg, SK_ERR_GROUP_MAX_SIZE_REACHED, m->id);
        return;
    }
    bool same = protocols_match(m, p);
    bool leader = sk_member_is_leader(m);
    if (g->state == SK_GROUP_COMPLETING_REBALANCE && same) {
        sk_group_join_answer(g, m, false, cb, arg);
        return;
    }
    if (g->state == SK_GROUP_STABLE && same && !leader) {
        sk_group_join_answer(g, m, false, cb, arg);
        return;
    }
    if (update_member(m, p) < 0) {
        fail(cb, arg, SK_ERR_UNKNOWN_SERVER_ERROR, m->id);
        return;
    }
    park_join(m, cb, arg);
    trigger(g);
}

static int16_t check_params(const struct sk_group_coordinator *co, const struct sk_join_params *p)
{
    if (p->group_id.len <= 0)
        return SK_ERR_INVALID_GROUP_ID;
    if (p->session_timeout_ms < co->lim.min_session_timeout_ms ||
        p->session_timeout_ms > co->lim.max_session_timeout_ms)
        return SK_ERR_INVALID_SESSION_TIMEOUT;
    if (p->protocol_type.len <= 0 || p->nprotocols <= 0)
        return SK_ERR_INCONSISTENT_GROUP_PROTOCOL;
    return SK_ERR_NONE;
}

void sk_group_join(struct sk_group_coordinator *co, const struct sk_join_params *p,
                   sk_join_fn cb, void *arg)
{
    int16_t err = sk_group_owner_error(co, p->group_id);
    if (!err)
        err = check_params(co, p);
    bool known = p->member_id.len > 0;
    struct sk_group *g = err ? NULL : sk_group_find(co, p->group_id);
    if (!err && !g && known)
        err = SK_ERR_UNKNOWN_MEMBER_ID;
    if (!err && !g && !(g = sk_group_get_or_create(co, p->group_id)))
        err = SK_ERR_UNKNOWN_SERVER_ERROR;
    if (!err && !group_accepts(g, p))
        err = SK_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err) {
        fail(cb, arg, err, KP_STR_NULL);
        return;
    }
    if (known)
        join_known(g, p, cb, arg);
    else
        join_new(g, p, cb, arg);
}
