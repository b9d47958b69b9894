/* The leader's view of the other replicas: the in-sync set the image gives,
 * each follower's log end from its fetches, and the checks Kafka's Partition
 * makes with them (min.insync.replicas before and after an append). The high
 * watermark rule that reads them is in hwm.c. */
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/plog.h"

static struct sk_follower *follower(struct sk_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->nfollowers; i++)
        if (p->followers[i].id == id)
            return &p->followers[i];
    return NULL;
}

bool sk_partition_is_follower(const struct sk_partition *p, int32_t replica_id)
{
    for (int32_t i = 0; i < p->nfollowers; i++)
        if (p->followers[i].id == replica_id)
            return true;
    return false;
}

bool sk_replica_in_isr(const struct sk_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->nisr; i++)
        if (p->isr[i] == id)
            return true;
    return false;
}

/* A follower that stays a replica keeps what its fetches told, so a change
 * of leader epoch or ISR does not hold the high watermark back until it
 * fetches again. */
int sk_replica_set_replicas(struct sk_partition *p, const struct sk_partition_meta *pm,
                            int32_t self)
{
    int32_t *isr = malloc(sizeof *isr * (size_t)(pm->nisr + 1));
    struct sk_follower *f = calloc((size_t)pm->nreplicas + 1, sizeof *f);
    if (!isr || !f) {
        free(isr);
        free(f);
        return -1;
    }
    if (pm->nisr > 0)
        memcpy(isr, pm->isr, sizeof *isr * (size_t)pm->nisr);
    int32_t n = 0;
    for (int32_t i = 0; i < pm->nreplicas; i++) {
        if (pm->replicas[i] == self)
            continue;
        const struct sk_follower *old = follower(p, pm->replicas[i]);
        f[n++] = old ? *old : (struct sk_follower){pm->replicas[i], -1, -1};
    }
    sk_replica_clear_replicas(p);
    p->isr = isr;
    p->nisr = pm->nisr;
    p->followers = f;
    p->nfollowers = n;
    return 0;
}

/* Kafka's makeLeader resets the remote replicas' state: what an earlier
 * leadership heard of them may have been truncated since, and the high
 * watermark must wait for their fetches in this epoch. */
void sk_replica_forget_followers(struct sk_partition *p)
{
    for (int32_t i = 0; i < p->nfollowers; i++) {
        p->followers[i].log_end = -1;
        p->followers[i].caught_up_ms = -1;
    }
}

void sk_replica_clear_replicas(struct sk_partition *p)
{
    free(p->isr);
    free(p->followers);
    p->isr = NULL;
    p->followers = NULL;
    p->nisr = p->nfollowers = 0;
}

int64_t sk_replica_isr_end(const struct sk_partition *p)
{
    int64_t end = sk_plog_log_end_offset(p->log);
    for (int32_t i = 0; i < p->nfollowers; i++)
        if (sk_replica_in_isr(p, p->followers[i].id) && p->followers[i].log_end < end)
            end = p->followers[i].log_end;
    return end;
}

int16_t sk_partition_check_min_isr(const struct sk_partition *p, int16_t acks)
{
    if (acks != -1 || p->nisr >= p->cfg.min_insync_replicas)
        return SK_ERR_NONE;
    return SK_ERR_NOT_ENOUGH_REPLICAS;
}

int16_t sk_replica_after_append_error(const struct sk_partition *p)
{
    return p->nisr >= p->cfg.min_insync_replicas ? SK_ERR_NONE
                                                 : SK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
}

int16_t sk_partition_follower_fetched(struct sk_partition *p, int32_t replica_id,
                                      int64_t fetch_offset, int64_t now_ms)
{
    struct sk_follower *f = p->role == SK_REPLICA_LEADER ? follower(p, replica_id) : NULL;
    if (!f)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    int64_t end = sk_plog_log_end_offset(p->log);
    /* Past our end the fetch reads nothing (OFFSET_OUT_OF_RANGE, as Kafka's
     * read answers it) and tells nothing of what the follower holds. */
    if (fetch_offset > end)
        return SK_ERR_OFFSET_OUT_OF_RANGE;
    f->log_end = fetch_offset;
    if (fetch_offset == end)
        f->caught_up_ms = now_ms;
    sk_replica_update_hw(p);
    return SK_ERR_NONE;
}
