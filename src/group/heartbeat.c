/* Heartbeat: keeps a member's session alive and tells it when to rejoin. */
#include "skein/errors.h"
#include "skein/group.h"

int16_t sk_group_heartbeat(struct sk_group_coordinator *co, kp_str group_id, kp_str member_id,
                           kp_str instance_id, int32_t generation)
{
    int16_t err = sk_group_owner_error(co, group_id);
    if (err)
        return err;
    struct sk_group *g = sk_group_find(co, group_id);
    if (!g)
        return SK_ERR_UNKNOWN_MEMBER_ID;
    struct sk_member *m = NULL;
    err = sk_group_check_member(g, member_id, instance_id, &m);
    if (err)
        return err;
    if (generation != g->generation)
        return SK_ERR_ILLEGAL_GENERATION;
    switch (g->state) {
    case SK_GROUP_PREPARING_REBALANCE:
        if (!m->join_cb)
            sk_member_schedule_session(m, m->session_timeout_ms);
        return SK_ERR_REBALANCE_IN_PROGRESS;
    case SK_GROUP_COMPLETING_REBALANCE:
    case SK_GROUP_STABLE:
        /* A member may heartbeat between its JoinGroup answer and its
         * SyncGroup; that is a normal heartbeat (Kafka 2.x+). */
        if (!m->sync_cb)
            sk_member_schedule_session(m, m->session_timeout_ms);
        return SK_ERR_NONE;
    default:
        return SK_ERR_UNKNOWN_MEMBER_ID;
    }
}
