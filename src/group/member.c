/* Members: lookup, protocol support, removal and their session timers. */
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/group.h"

struct sk_member *sk_member_find(const struct sk_group *g, kp_str id)
{
    if (id.len <= 0)
        return NULL;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (kp_str_eq(id, m->id))
            return m;
    return NULL;
}

struct sk_member *sk_member_find_instance(const struct sk_group *g, kp_str instance_id)
{
    if (instance_id.len < 0)
        return NULL;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (kp_str_eq(instance_id, m->instance_id))
            return m;
    return NULL;
}

const struct sk_group_protocol *sk_member_protocol(const struct sk_member *m, kp_str name)
{
    if (name.len < 0)
        return NULL;
    for (int i = 0; i < m->nprotocols; i++)
        if (kp_str_eq(m->protocols[i].name, name))
            return &m->protocols[i];
    return NULL;
}

bool sk_member_is_leader(const struct sk_member *m)
{
    return m->group->leader.len >= 0 && kp_str_eq(m->group->leader, m->id);
}

static void free_protocols(struct sk_member *m)
{
    for (int i = 0; i < m->nprotocols; i++) {
        sk_wire_str_free(&m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    m->protocols = NULL;
    m->nprotocols = 0;
}

void sk_member_free(struct sk_member *m)
{
    sk_member_cancel_session(m);
    free_protocols(m);
    sk_wire_str_free(&m->id);
    sk_wire_str_free(&m->instance_id);
    sk_wire_str_free(&m->client_id);
    sk_wire_str_free(&m->client_host);
    free(m->assignment);
    free(m);
}

static void on_session_expired(void *arg)
{
    struct sk_member *m = arg;
    m->session_timer = 0;
    struct sk_group *g = m->group;
    if (m->pending) {
        struct sk_member **pp = &g->pending;
        while (*pp != m)
            pp = &(*pp)->next;
        *pp = m->next;
        g->npending--;
        sk_member_free(m);
        /* A rebalance may have been waiting for this member's rejoin. */
        sk_group_maybe_complete_join(g);
        return;
    }
    sk_member_remove(m, SK_ERR_UNKNOWN_MEMBER_ID);
}

void sk_member_cancel_session(struct sk_member *m)
{
    if (!m->session_timer)
        return;
    struct sk_group_env *env = &m->group->co->env;
    env->timer_cancel(env->ctx, m->session_timer);
    m->session_timer = 0;
}

void sk_member_schedule_session(struct sk_member *m, int32_t timeout_ms)
{
    sk_member_cancel_session(m);
    struct sk_group_env *env = &m->group->co->env;
    m->session_timer = env->timer_add(env->ctx, (uint64_t)timeout_ms, on_session_expired, m);
}

/* The leader of a group that lost its leader: any member, preferring one
 * that is rejoining (it gets the member list in its JoinGroup response). */
static void reelect_leader(struct sk_group *g)
{
    sk_wire_str_free(&g->leader);
    struct sk_member *pick = NULL;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (!pick || (m->join_cb && !pick->join_cb))
            pick = m;
    if (pick)
        sk_wire_str_dup(&g->leader, pick->id); /* out of memory: no leader, as if empty */
}

void sk_member_remove(struct sk_member *m, int16_t err_for_parked)
{
    struct sk_group *g = m->group;
    sk_member_complete_join(m, err_for_parked);
    sk_member_complete_sync(m, err_for_parked);
    struct sk_member **pp = &g->members;
    while (*pp != m)
        pp = &(*pp)->next;
    *pp = m->next;
    g->nmembers--;
    bool was_leader = sk_member_is_leader(m);
    sk_member_free(m);
    if (was_leader)
        reelect_leader(g);
    switch (g->state) {
    case SK_GROUP_STABLE:
    case SK_GROUP_COMPLETING_REBALANCE:
        sk_group_prepare_rebalance(g);
        break;
    case SK_GROUP_PREPARING_REBALANCE:
        sk_group_maybe_complete_join(g);
        break;
    default:
        break;
    }
}

void sk_member_complete_sync(struct sk_member *m, int16_t err)
{
    if (!m->sync_cb)
        return;
    sk_sync_fn cb = m->sync_cb;
    m->sync_cb = NULL;
    struct sk_group *g = m->group;
    struct sk_sync_result r = {
        .err = err,
        .protocol_type = g->protocol_type,
        .protocol_name = g->protocol_name,
        .assignment = err ? NULL : m->assignment,
        .assignment_len = err ? 0 : m->assignment_len,
    };
    cb(m->sync_arg, &r);
}

static struct sk_join_member_out *member_list(const struct sk_group *g, int *n)
{
    struct sk_join_member_out *v = calloc((size_t)g->nmembers + 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (struct sk_member *m = g->members; m; m = m->next) {
        const struct sk_group_protocol *p = sk_member_protocol(m, g->protocol_name);
        v[(*n)++] = (struct sk_join_member_out){
            m->id, m->instance_id, p ? p->metadata : (const uint8_t *)"",
            p ? p->metadata_len : 0};
    }
    return v;
}

/* The JoinGroup answer for the group's current generation; the leader gets
 * everyone's metadata for the selected protocol. */
void sk_group_join_answer(struct sk_group *g, struct sk_member *m, bool skip, sk_join_fn cb,
                          void *arg)
{
    bool leader = sk_member_is_leader(m);
    struct sk_join_result r = {
        .err = SK_ERR_NONE,
        .generation = g->generation,
        .protocol_type = g->protocol_type,
        .protocol_name = g->protocol_name,
        .leader = g->leader,
        .member_id = m->id,
        .skip_assignment = leader && skip,
    };
    struct sk_join_member_out *v = NULL;
    if (leader) {
        v = member_list(g, &r.nmembers);
        if (!v)
            r.err = SK_ERR_UNKNOWN_SERVER_ERROR;
        r.members = v;
    }
    cb(arg, &r);
    free(v);
}

void sk_member_complete_join(struct sk_member *m, int16_t err)
{
    if (!m->join_cb)
        return;
    sk_join_fn cb = m->join_cb;
    m->join_cb = NULL;
    if (err == SK_ERR_NONE) {
        sk_group_join_answer(m->group, m, false, cb, m->join_arg);
        return;
    }
    struct sk_join_result r = sk_join_failed(err, m->id);
    cb(m->join_arg, &r);
}
