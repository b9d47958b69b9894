/* SyncGroup: the leader's assignments become the generation's, are stored
 * with the group, and reach every member. */
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/group.h"

static void fail(sk_sync_fn cb, void *arg, int16_t err)
{
    struct sk_sync_result r = {.err = err, .protocol_type = KP_STR_NULL,
                               .protocol_name = KP_STR_NULL};
    cb(arg, &r);
}

/* Static members are checked by instance id first: an old incarnation gets
 * FENCED_INSTANCE_ID, not UNKNOWN_MEMBER_ID (KIP-345). */
int16_t sk_group_check_member(const struct sk_group *g, kp_str member_id, kp_str instance_id,
                              struct sk_member **out)
{
    struct sk_member *si = sk_member_find_instance(g, instance_id);
    if (si && !kp_str_eq(member_id, si->id))
        return SK_ERR_FENCED_INSTANCE_ID;
    struct sk_member *m = sk_member_find(g, member_id);
    if (!m)
        return SK_ERR_UNKNOWN_MEMBER_ID;
    *out = m;
    return SK_ERR_NONE;
}

static void set_assignment(struct sk_member *m, const uint8_t *p, int32_t len)
{
    free(m->assignment);
    m->assignment = malloc((size_t)(len > 0 ? len : 0) + 1);
    m->assignment_len = m->assignment ? (len > 0 ? len : 0) : 0;
    if (m->assignment && len > 0)
        memcpy(m->assignment, p, (size_t)len);
}

struct sync_store {
    struct sk_group *g;
    int32_t generation;
};

static void assignments_stored(void *arg, int16_t err)
{
    struct sync_store *s = arg;
    struct sk_group *g = s->g;
    if (!g->removed && g->state == SK_GROUP_COMPLETING_REBALANCE &&
        g->generation == s->generation) {
        if (err) {
            int16_t e = sk_group_store_error(err);
            for (struct sk_member *m = g->members; m; m = m->next) {
                set_assignment(m, NULL, 0);
                sk_member_complete_sync(m, e);
            }
            sk_group_prepare_rebalance(g);
        } else {
            sk_group_set_state(g, SK_GROUP_STABLE);
            for (struct sk_member *m = g->members; m; m = m->next) {
                if (!m->sync_cb)
                    continue;
                sk_member_complete_sync(m, SK_ERR_NONE);
                sk_member_schedule_session(m, m->session_timeout_ms);
            }
        }
    }
    sk_group_unref(g);
    free(s);
}

static void leader_assigns(struct sk_group *g, const struct sk_sync_params *p)
{
    for (struct sk_member *m = g->members; m; m = m->next) {
        const struct sk_sync_assignment_in *a = NULL;
        for (int i = 0; i < p->nassignments && !a; i++)
            if (kp_str_eq(p->assignments[i].member_id, m->id))
                a = &p->assignments[i];
        set_assignment(m, a ? a->assignment.ptr : NULL, a ? a->assignment.len : 0);
    }
    struct sync_store *s = malloc(sizeof *s);
    if (!s) {
        for (struct sk_member *m = g->members; m; m = m->next)
            sk_member_complete_sync(m, SK_ERR_UNKNOWN_SERVER_ERROR);
        sk_group_prepare_rebalance(g);
        return;
    }
    *s = (struct sync_store){g, g->generation};
    sk_group_ref(g);
    sk_group_store_metadata(g, assignments_stored, s);
}

void sk_group_sync(struct sk_group_coordinator *co, const struct sk_sync_params *p,
                   sk_sync_fn cb, void *arg)
{
    int16_t err = sk_group_owner_error(co, p->group_id);
    struct sk_group *g = err ? NULL : sk_group_find(co, p->group_id);
    struct sk_member *m = NULL;
    if (!err && !g)
        err = SK_ERR_UNKNOWN_MEMBER_ID;
    if (!err)
        err = sk_group_check_member(g, p->member_id, p->instance_id, &m);
    if (!err && p->generation != g->generation)
        err = SK_ERR_ILLEGAL_GENERATION;
    if (!err && ((p->protocol_type.len >= 0 && !kp_str_eq(p->protocol_type, g->protocol_type)) ||
                 (p->protocol_name.len >= 0 && !kp_str_eq(p->protocol_name, g->protocol_name))))
        err = SK_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (!err && g->state == SK_GROUP_EMPTY)
        err = SK_ERR_UNKNOWN_MEMBER_ID;
    if (!err && g->state == SK_GROUP_PREPARING_REBALANCE)
        err = SK_ERR_REBALANCE_IN_PROGRESS;
    if (err) {
        fail(cb, arg, err);
        return;
    }
    m->awaiting_sync = false;
    if (g->state == SK_GROUP_STABLE) {
        struct sk_sync_result r = {SK_ERR_NONE, g->protocol_type, g->protocol_name,
                                   m->assignment, m->assignment_len};
        sk_member_schedule_session(m, m->session_timeout_ms);
        cb(arg, &r);
        return;
    }
    /* CompletingRebalance: everyone waits for the leader's assignments. */
    sk_member_complete_sync(m, SK_ERR_REBALANCE_IN_PROGRESS);
    m->sync_cb = cb;
    m->sync_arg = arg;
    if (sk_member_is_leader(m))
        leader_assigns(g, p);
}
