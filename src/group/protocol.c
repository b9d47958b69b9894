/* Choosing the group's protocol (Kafka's selectProtocol) and checking that
 * a joining member can live with the members already there. */
#include <stdlib.h>
#include <string.h>

#include "skein/group.h"

static bool all_support(const struct sk_group *g, kp_str name)
{
    for (struct sk_member *m = g->members; m; m = m->next)
        if (!sk_member_protocol(m, name))
            return false;
    return true;
}

/* The first protocol in m's list that every member supports. */
static kp_str vote(const struct sk_group *g, const struct sk_member *m)
{
    for (int i = 0; i < m->nprotocols; i++)
        if (all_support(g, m->protocols[i].name))
            return m->protocols[i].name;
    return KP_STR_NULL;
}

static int votes_for(const struct sk_group *g, kp_str name)
{
    int n = 0;
    for (struct sk_member *m = g->members; m; m = m->next)
        n += kp_str_eq(vote(g, m), name);
    return n;
}

kp_str sk_group_select_protocol(const struct sk_group *g)
{
    const struct sk_member *first = NULL;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (!first || sk_member_is_leader(m))
            first = m;
    if (!first)
        return KP_STR_NULL;
    /* Walking candidates in one member's preference order makes ties
     * deterministic (Kafka breaks them by hash order). */
    kp_str best = KP_STR_NULL;
    int best_votes = 0;
    for (int i = 0; i < first->nprotocols; i++) {
        kp_str name = first->protocols[i].name;
        if (!all_support(g, name))
            continue;
        int v = votes_for(g, name);
        if (v > best_votes) {
            best = name;
            best_votes = v;
        }
    }
    return best;
}

int32_t sk_group_rebalance_timeout(const struct sk_group *g)
{
    int32_t t = 0;
    for (struct sk_member *m = g->members; m; m = m->next)
        if (m->rebalance_timeout_ms > t)
            t = m->rebalance_timeout_ms;
    return t;
}
