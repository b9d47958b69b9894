/* LeaveGroup: a member (or, for static members, an instance) leaves now
 * instead of waiting for its session to expire. */
#include "skein/errors.h"
#include "skein/group.h"

int16_t sk_group_leave(struct sk_group *g, kp_str member_id, kp_str instance_id)
{
    struct sk_member *m;
    if (instance_id.len >= 0) {
        m = sk_member_find_instance(g, instance_id);
        if (!m)
            return SK_ERR_UNKNOWN_MEMBER_ID;
        /* An empty member id is an admin removing the instance (KIP-345). */
        if (member_id.len > 0 && !kp_str_eq(member_id, m->id))
            return SK_ERR_FENCED_INSTANCE_ID;
    } else {
        for (struct sk_member **pp = &g->pending; *pp; pp = &(*pp)->next) {
            struct sk_member *pm = *pp;
            if (kp_str_eq(member_id, pm->id)) {
                *pp = pm->next;
                g->npending--;
                sk_member_free(pm);
                sk_group_maybe_complete_join(g);
                return SK_ERR_NONE;
            }
        }
        m = sk_member_find(g, member_id);
        if (!m)
            return SK_ERR_UNKNOWN_MEMBER_ID;
    }
    sk_member_remove(m, SK_ERR_UNKNOWN_MEMBER_ID);
    return SK_ERR_NONE;
}
