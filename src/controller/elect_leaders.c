/* ElectLeaders on the active controller, as Kafka 3.9's
 * ReplicationControlManager.electLeaders: a preferred election makes the
 * first replica lead when it is in sync and live, an unclean one gives a
 * leaderless partition any live replica; either is a PartitionChangeRecord
 * committed through the controller, decided by the same rules as the
 * elections broker events run (elect.c). */
#include <stdio.h>
#include <stdlib.h>

#include "elect.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"

static int16_t refuse(int16_t err, char *msg, size_t msglen)
{
    snprintf(msg, msglen, "%s", sk_err_message(err));
    return err;
}

bool sk_ctl_election_needed(const struct sk_partition_meta *pm, int8_t type)
{
    if (type == SK_ELECT_PREFERRED)
        return pm->nreplicas > 0 && pm->leader != pm->replicas[0];
    return pm->leader < 0;
}

int16_t sk_ctl_elect_leader(struct sk_broker *b, const struct sk_topic_meta *tm, int32_t partition,
                            int8_t type, char *msg, size_t msglen)
{
    const struct sk_partition_meta *pm = &tm->partitions[partition];
    if (!sk_ctl_election_needed(pm, type))
        return refuse(SK_ERR_ELECTION_NOT_NEEDED, msg, msglen);
    bool unclean_default = b->node->cfg && b->node->cfg->topic_defaults.unclean_leader_election;
    struct sk_elect_event ev = {.type = type == SK_ELECT_PREFERRED ? SK_ELECT_PREFERRED
                                                                   : SK_ELECT_UNCLEAN,
                                .removed = -1, .added = -1,
                                .unclean = sk_elect_unclean_allowed(tm, unclean_default)};
    int32_t *isr = calloc((size_t)pm->nreplicas + 1, sizeof *isr);
    if (!isr)
        abort(); /* as the image: out of memory never half-decides a change */
    kp_partition_change_record ch;
    bool changed = sk_elect_partition(sk_ctl_working(b), &tm->id, pm, &ev, isr, &ch);
    int16_t err = SK_ERR_NONE;
    if (type == SK_ELECT_PREFERRED && (!changed || ch.leader != pm->replicas[0]))
        err = refuse(SK_ERR_PREFERRED_LEADER_NOT_AVAILABLE, msg, msglen);
    else if (!changed || ch.leader < 0)
        err = refuse(SK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE, msg, msglen);
    struct sk_meta_rec rec = {SK_META_PARTITION_CHANGE, 0, &ch};
    if (!err)
        err = sk_ctl_commit(b, &rec, 1, msg, msglen);
    free(isr);
    return err;
}
