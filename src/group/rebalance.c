/* Rebalances: PreparingRebalance until every member rejoined (or the
 * rebalance timeout), then a new generation in CompletingRebalance, whose
 * members must send SyncGroup within the rebalance timeout. */
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/group.h"

static void on_join_timeout(void *arg);
static void on_sync_timeout(void *arg);

static void cancel(struct sk_group *g, uint64_t *timer)
{
    if (*timer)
        g->co->env.timer_cancel(g->co->env.ctx, *timer);
    *timer = 0;
}

static void arm(struct sk_group *g, uint64_t *timer, int64_t ms, sk_group_timer_fn fn)
{
    cancel(g, timer);
    *timer = g->co->env.timer_add(g->co->env.ctx, (uint64_t)(ms > 0 ? ms : 0), fn, g);
}

void sk_group_prepare_rebalance(struct sk_group *g)
{
    if (g->state == SK_GROUP_COMPLETING_REBALANCE) {
        /* The generation being completed is abandoned: its assignments are
         * void and the members waiting in SyncGroup must rejoin. */
        for (struct sk_member *m = g->members; m; m = m->next) {
            free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            sk_member_complete_sync(m, SK_ERR_REBALANCE_IN_PROGRESS);
        }
    }
    cancel(g, &g->sync_timer);
    int32_t timeout = sk_group_rebalance_timeout(g);
    int32_t delay = g->co->lim.initial_rebalance_delay_ms;
    bool initial = g->state == SK_GROUP_EMPTY && delay > 0;
    sk_group_set_state(g, SK_GROUP_PREPARING_REBALANCE);
    if (initial) {
        /* A new group waits a little so that consumers starting together
         * land in one rebalance instead of one each. */
        g->initial_delay = true;
        g->new_member_added = false;
        int32_t first = delay < timeout ? delay : timeout;
        g->delay_remaining_ms = timeout - delay > 0 ? timeout - delay : 0;
        arm(g, &g->join_timer, first, on_join_timeout);
        return;
    }
    g->initial_delay = false;
    arm(g, &g->join_timer, timeout, on_join_timeout);
    sk_group_maybe_complete_join(g);
}

static bool all_joined(const struct sk_group *g)
{
    if (g->npending > 0)
        return false;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (!m->join_cb)
            return false;
    return true;
}

static void complete_join(struct sk_group *g);

void sk_group_maybe_complete_join(struct sk_group *g)
{
    if (g->state == SK_GROUP_PREPARING_REBALANCE && !g->initial_delay && all_joined(g))
        complete_join(g);
}

static void on_join_timeout(void *arg)
{
    struct sk_group *g = arg;
    g->join_timer = 0;
    if (g->initial_delay && g->new_member_added && g->delay_remaining_ms > 0) {
        int32_t delay = g->co->lim.initial_rebalance_delay_ms;
        int64_t next = delay < g->delay_remaining_ms ? delay : g->delay_remaining_ms;
        g->delay_remaining_ms = g->delay_remaining_ms - delay > 0 ? g->delay_remaining_ms - delay : 0;
        g->new_member_added = false;
        arm(g, &g->join_timer, next, on_join_timeout);
        return;
    }
    g->initial_delay = false;
    complete_join(g);
}

/* Dynamic members that did not rejoin in time are gone; static members stay
 * (their session timeout decides), as in Kafka. */
static void drop_absent_members(struct sk_group *g)
{
    struct sk_member **pp = &g->members;
    while (*pp) {
        struct sk_member *m = *pp;
        if (m->join_cb || m->instance_id.len >= 0) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        g->nmembers--;
        sk_member_complete_sync(m, SK_ERR_UNKNOWN_MEMBER_ID);
        if (sk_member_is_leader(m))
            sk_wire_str_free(&g->leader);
        sk_member_free(m);
    }
}

/* Keeps the leader if it rejoined, else picks a member that did. */
static bool elect_joined_leader(struct sk_group *g)
{
    struct sk_member *cur = sk_member_find(g, g->leader);
    if (cur && cur->join_cb)
        return true;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (m->join_cb) {
            return sk_wire_str_set(&g->leader, m->id) == 0;
        }
    return false;
}

static void stored_empty(void *arg, int16_t err)
{
    (void)err; /* the group is empty either way; the next write supersedes it */
    sk_group_unref(arg);
}

static void complete_join(struct sk_group *g)
{
    cancel(g, &g->join_timer);
    drop_absent_members(g);
    if (g->nmembers > 0 && !elect_joined_leader(g)) {
        /* Only static members that did not rejoin are left: wait another
         * rebalance timeout for them or for their session to expire. */
        arm(g, &g->join_timer, sk_group_rebalance_timeout(g), on_join_timeout);
        return;
    }
    g->generation++;
    sk_wire_str_free(&g->protocol_name);
    if (g->nmembers == 0) {
        sk_wire_str_free(&g->leader);
        sk_group_set_state(g, SK_GROUP_EMPTY);
        sk_group_ref(g);
        sk_group_store_metadata(g, stored_empty, g);
        return;
    }
    /* Out of memory leaves no protocol: members then see an inconsistent
     * group and rejoin, as after a failed selection. */
    sk_wire_str_dup(&g->protocol_name, sk_group_select_protocol(g));
    sk_group_set_state(g, SK_GROUP_COMPLETING_REBALANCE);
    for (struct sk_member *m = g->members; m; m = m->next)
        m->awaiting_sync = true;
    arm(g, &g->sync_timer, sk_group_rebalance_timeout(g), on_sync_timeout);
    for (struct sk_member *m = g->members; m; m = m->next) {
        if (!m->join_cb)
            continue;
        sk_member_complete_join(m, SK_ERR_NONE);
        m->is_new = false;
        sk_member_schedule_session(m, m->session_timeout_ms);
    }
}

/* Members that got their JoinGroup answer but never sent SyncGroup block the
 * group; Kafka removes them after the rebalance timeout and rebalances. */
static void on_sync_timeout(void *arg)
{
    struct sk_group *g = arg;
    g->sync_timer = 0;
    if (g->state != SK_GROUP_COMPLETING_REBALANCE && g->state != SK_GROUP_STABLE)
        return;
    bool removed = false;
    struct sk_member **pp = &g->members;
    while (*pp) {
        struct sk_member *m = *pp;
        if (!m->awaiting_sync) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        g->nmembers--;
        sk_member_complete_sync(m, SK_ERR_UNKNOWN_MEMBER_ID);
        sk_member_complete_join(m, SK_ERR_UNKNOWN_MEMBER_ID);
        if (sk_member_is_leader(m))
            sk_wire_str_free(&g->leader);
        sk_member_free(m);
        removed = true;
    }
    if (removed) {
        if (g->leader.len < 0 && g->members)
            sk_wire_str_dup(&g->leader, g->members->id);
        sk_group_prepare_rebalance(g);
    }
}

int16_t sk_group_store_error(int16_t err)
{
    switch (err) {
    case SK_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case SK_ERR_NOT_ENOUGH_REPLICAS:
    case SK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case SK_ERR_REQUEST_TIMED_OUT:
        return SK_ERR_COORDINATOR_NOT_AVAILABLE;
    case SK_ERR_NOT_LEADER_OR_FOLLOWER:
    case SK_ERR_KAFKA_STORAGE_ERROR:
        return SK_ERR_NOT_COORDINATOR;
    case SK_ERR_MESSAGE_TOO_LARGE:
    case SK_ERR_RECORD_LIST_TOO_LARGE:
    case SK_ERR_INVALID_FETCH_SIZE:
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    default:
        return err;
    }
}
