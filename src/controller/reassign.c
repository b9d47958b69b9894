/* Partition reassignment (KIP-455) on the active controller, as Kafka 3.9's
 * ReplicationControlManager with PartitionReassignmentReplicas and
 * PartitionReassignmentRevert decides it.
 *
 * A reassignment to target T of a partition with replicas C writes
 * replicas = T then C - T, adding = T - C, removing = C - T. The new
 * replicas open their logs and fetch like any follower; their leader adds
 * them to the ISR as they catch up (AlterPartition), and the change that
 * leaves every adding replica in the ISR (less the removing ones, and not
 * empty) completes it: replicas = T, the ISR without the removed ones, a
 * new leader if the old one was removed. A cancel reverts to C without the
 * adding replicas. Each step is one PartitionChangeRecord. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"

static bool has(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* out = a without the members of b; returns its length. */
static int32_t minus(const int32_t *a, int32_t na, const int32_t *b, int32_t nb, int32_t *out)
{
    int32_t n = 0;
    for (int32_t i = 0; i < na; i++)
        if (!has(b, nb, a[i]))
            out[n++] = a[i];
    return n;
}

bool sk_reassign_in_progress(const struct sk_partition_meta *pm)
{
    return pm->nadding > 0 || pm->nremoving > 0;
}

/* The first replica in order that is in the ISR and may lead; -1 if none. */
static int32_t leader_from(const struct sk_meta_image *img, const int32_t *replicas,
                           int32_t nrep, const int32_t *isr, int32_t nisr)
{
    struct sk_elect_event ev = {.removed = -1, .added = -1};
    for (int32_t i = 0; i < nrep; i++)
        if (has(isr, nisr, replicas[i]) && sk_elect_acceptable(img, &ev, replicas[i]))
            return replicas[i];
    return -1;
}

/* The leader stays if it may (in the new replicas and ISR); else another. */
static void keep_or_elect(const struct sk_meta_image *img, const struct sk_partition_meta *pm,
                          struct sk_reassign_step *s)
{
    if (pm->leader >= 0 && has(s->replicas, s->nreplicas, pm->leader) &&
        has(s->isr, s->nisr, pm->leader))
        return;
    int32_t l = leader_from(img, s->replicas, s->nreplicas, s->isr, s->nisr);
    if (l != pm->leader)
        s->leader = l;
}

/* Whether every adding replica is in isr less the removing ones, and that
 * set is not empty. */
static bool completes(const int32_t *adding, int32_t nadding, const int32_t *removing,
                      int32_t nremoving, const int32_t *isr, int32_t nisr)
{
    bool left = false;
    for (int32_t i = 0; i < nisr; i++)
        left |= !has(removing, nremoving, isr[i]);
    for (int32_t i = 0; i < nadding; i++)
        if (!has(isr, nisr, adding[i]) || has(removing, nremoving, adding[i]))
            return false;
    return left;
}

bool sk_reassign_complete(const struct sk_meta_image *img, const struct sk_partition_meta *pm,
                          const int32_t *replicas, int32_t nrep, const int32_t *adding,
                          int32_t nadding, const int32_t *removing, int32_t nremoving,
                          const int32_t *isr, int32_t nisr, struct sk_reassign_step *s)
{
    if ((nadding == 0 && nremoving == 0) ||
        !completes(adding, nadding, removing, nremoving, isr, nisr))
        return false;
    /* minus() filters forward, so s may hold the inputs themselves. */
    s->nisr = minus(isr, nisr, removing, nremoving, s->isr);
    s->nreplicas = minus(replicas, nrep, removing, nremoving, s->replicas);
    s->nadding = s->nremoving = 0;
    s->leader = -2;
    keep_or_elect(img, pm, s);
    return true;
}

static void to_record(const struct sk_topic_meta *tm, int32_t partition,
                      const struct sk_reassign_step *s, kp_partition_change_record *ch)
{
    kp_partition_change_record_init(ch);
    ch->topic_id = tm->id;
    ch->partition_id = partition;
    ch->leader = s->leader;
    ch->replicas = (kp_arr_i32){s->nreplicas, s->replicas};
    ch->isr = (kp_arr_i32){s->nisr, s->isr};
    ch->adding_replicas = (kp_arr_i32){s->nadding, s->adding};
    ch->removing_replicas = (kp_arr_i32){s->nremoving, s->removing};
}

/* Kafka's PartitionReassignmentReplicas, then an immediate completion when
 * the ISR already allows it (a pure removal, say). */
static void start(const struct sk_meta_image *img, const struct sk_partition_meta *pm,
                  kp_arr_i32 target, struct sk_reassign_step *s)
{
    int32_t nrem = minus(pm->replicas, pm->nreplicas, target.v, target.n, s->removing);
    s->nadding = minus(target.v, target.n, pm->replicas, pm->nreplicas, s->adding);
    s->nremoving = nrem;
    memcpy(s->replicas, target.v, sizeof *s->replicas * (size_t)target.n);
    memcpy(s->replicas + target.n, s->removing, sizeof *s->replicas * (size_t)nrem);
    s->nreplicas = target.n + nrem;
    memcpy(s->isr, pm->isr, sizeof *s->isr * (size_t)pm->nisr);
    s->nisr = pm->nisr;
    s->leader = -2;
    (void)sk_reassign_complete(img, pm, s->replicas, s->nreplicas, s->adding, s->nadding,
                               s->removing, s->nremoving, s->isr, s->nisr, s);
}

/* Kafka's PartitionReassignmentRevert: back to the replicas without the
 * adding ones; an ISR left empty would need an unclean election. */
static int16_t revert(const struct sk_meta_image *img, const struct sk_topic_meta *tm,
                      const struct sk_partition_meta *pm, bool unclean_default,
                      struct sk_reassign_step *s, char *msg, size_t msglen)
{
    s->nreplicas = minus(pm->replicas, pm->nreplicas, pm->adding, pm->nadding, s->replicas);
    s->nisr = minus(pm->isr, pm->nisr, pm->adding, pm->nadding, s->isr);
    s->nadding = s->nremoving = 0;
    s->leader = -2;
    if (s->nisr == 0) {
        if (!sk_elect_unclean_allowed(tm, unclean_default) || s->nreplicas == 0) {
            snprintf(msg, msglen, "Unable to revert partition assignment for %s:%d because it "
                     "would require an unclean leader election.", tm->name, pm->id);
            return SK_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
        s->isr[s->nisr++] = s->replicas[0];
    }
    keep_or_elect(img, pm, s);
    return SK_ERR_NONE;
}

static bool same_list(const int32_t *a, int32_t na, const int32_t *b, int32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof *a * (size_t)na) == 0);
}

int16_t sk_ctl_reassign(struct sk_broker *b, const struct sk_topic_meta *tm, int32_t partition,
                        kp_arr_i32 target, char *msg, size_t msglen)
{
    const struct sk_meta_image *img = sk_ctl_working(b);
    const struct sk_partition_meta *pm = &tm->partitions[partition];
    int16_t err = SK_ERR_NONE;
    if (target.n < 0 && !sk_reassign_in_progress(pm)) {
        snprintf(msg, msglen, "%s", sk_err_message(SK_ERR_NO_REASSIGNMENT_IN_PROGRESS));
        return SK_ERR_NO_REASSIGNMENT_IN_PROGRESS;
    }
    if (target.n >= 0 && (err = sk_replica_list_check(img, target, msg, msglen)))
        return err;
    if (target.n >= 0 && !sk_reassign_in_progress(pm) &&
        same_list(target.v, target.n, pm->replicas, pm->nreplicas))
        return SK_ERR_NONE; /* Kafka: nothing to change */
    int32_t cap = pm->nreplicas + (target.n > 0 ? target.n : 0) + pm->nisr + 1;
    struct sk_reassign_step s = {0};
    int32_t *pool = calloc((size_t)cap * 4, sizeof *pool);
    if (!pool)
        abort();
    s.replicas = pool;
    s.isr = pool + cap;
    s.adding = pool + 2 * cap;
    s.removing = pool + 3 * cap;
    bool unclean_default = b->node->cfg && b->node->cfg->topic_defaults.unclean_leader_election;
    if (target.n < 0)
        err = revert(img, tm, pm, unclean_default, &s, msg, msglen);
    else
        start(img, pm, target, &s);
    if (!err) {
        kp_partition_change_record ch;
        to_record(tm, partition, &s, &ch);
        struct sk_meta_rec rec = {SK_META_PARTITION_CHANGE, 0, &ch};
        err = sk_ctl_commit(b, &rec, 1, msg, msglen);
    }
    free(pool);
    return err;
}
