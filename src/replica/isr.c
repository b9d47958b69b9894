/* The leader's view of the other replicas: the in-sync set the image gives,
 * each follower's log end from its fetches, and the checks Kafka's Partition
 * makes with them (min.insync.replicas before and after an append). The high
 * watermark rule that reads them is in hwm.c; the ISR changes the leader
 * decides on here go to the controller from alter_partition.c.
 *
 * While a change is pending the leader counts the maximal ISR, the union of
 * the committed set and the proposed one (KIP-497): a shrink takes effect
 * only once committed, an expansion counts its new member at once, so the
 * high watermark never rests on a set the controller might not accept. */
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
    /* An AlterPartition answer may have brought a newer ISR than the image
     * this shard has seen yet: keep it until the image catches up. */
    struct sk_partition_meta kept;
    if (p->isr && pm->partition_epoch < p->partition_epoch) {
        kept = (struct sk_partition_meta){.replicas = pm->replicas, .nreplicas = pm->nreplicas,
                                          .isr = p->isr, .nisr = p->nisr,
                                          .partition_epoch = p->partition_epoch};
        pm = &kept;
    } else if (pm->partition_epoch != p->partition_epoch)
        sk_replica_isr_drop_pending(p); /* the partition moved on without it */
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
        f[n++] = old ? *old : (struct sk_follower){pm->replicas[i], -1, -1, -1, -1, -1};
    }
    free(p->isr);
    free(p->followers);
    p->isr = isr;
    p->nisr = pm->nisr;
    if (pm != &kept)
        p->recovering = pm->leader_recovery_state == SK_LEADER_RECOVERING;
    p->partition_epoch = pm->partition_epoch;
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
        p->followers[i].last_fetch_leader_end = -1;
        p->followers[i].last_fetch_ms = -1;
        p->followers[i].broker_epoch = -1;
    }
    p->epoch_start_offset = sk_plog_log_end_offset(p->log);
    sk_replica_isr_drop_pending(p);
}

void sk_replica_clear_replicas(struct sk_partition *p)
{
    free(p->isr);
    free(p->followers);
    p->isr = NULL;
    p->followers = NULL;
    p->nisr = p->nfollowers = 0;
    sk_replica_isr_drop_pending(p);
}

void sk_replica_isr_drop_pending(struct sk_partition *p)
{
    free(p->pending_isr);
    p->pending_isr = NULL;
    p->npending = 0;
    if (p->isr_pending)
        p->isr_gen++;
    p->isr_pending = false;
}

static bool in_set(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

bool sk_partition_in_isr(const struct sk_partition *p, int32_t replica_id)
{
    return sk_replica_in_isr(p, replica_id);
}

bool sk_replica_in_maximal_isr(const struct sk_partition *p, int32_t id)
{
    return sk_replica_in_isr(p, id) ||
           (p->isr_pending && in_set(p->pending_isr, p->npending, id));
}

int32_t sk_replica_maximal_isr_size(const struct sk_partition *p)
{
    int32_t n = p->nisr;
    for (int32_t i = 0; p->isr_pending && i < p->npending; i++)
        n += !sk_replica_in_isr(p, p->pending_isr[i]);
    return n;
}

int64_t sk_replica_isr_end(const struct sk_partition *p)
{
    int64_t end = sk_plog_log_end_offset(p->log);
    for (int32_t i = 0; i < p->nfollowers; i++)
        if (sk_replica_in_maximal_isr(p, p->followers[i].id) && p->followers[i].log_end < end)
            end = p->followers[i].log_end;
    return end;
}

/* Kafka's effectiveMinIsr: min.insync.replicas is not bounded by the
 * replication factor, and a partition with fewer replicas than it asks for
 * counts all of them. */
int32_t sk_replica_min_isr(const struct sk_partition *p)
{
    int32_t replicas = p->nfollowers + 1;
    return p->cfg.min_insync_replicas < replicas ? p->cfg.min_insync_replicas : replicas;
}

int16_t sk_partition_check_min_isr(const struct sk_partition *p, int16_t acks)
{
    if (acks != -1 || p->nisr >= sk_replica_min_isr(p))
        return SK_ERR_NONE;
    return SK_ERR_NOT_ENOUGH_REPLICAS;
}

int16_t sk_replica_after_append_error(const struct sk_partition *p)
{
    /* Kafka's checkEnoughReplicasReachOffset counts the maximal ISR. */
    return sk_replica_maximal_isr_size(p) >= sk_replica_min_isr(p)
               ? SK_ERR_NONE
               : SK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
}

int16_t sk_partition_follower_fetched(struct sk_partition *p, const struct sk_follower_fetch *ff,
                                      int64_t now_ms)
{
    struct sk_follower *f = p->role == SK_REPLICA_LEADER ? follower(p, ff->replica_id) : NULL;
    if (!f)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    if (ff->broker_epoch != -1 && ff->registered_epoch > ff->broker_epoch)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    int64_t fetch_offset = ff->fetch_offset;
    int64_t end = sk_plog_log_end_offset(p->log);
    /* Past our end the fetch reads nothing (OFFSET_OUT_OF_RANGE, as Kafka's
     * read answers it) and tells nothing of what the follower holds. */
    if (fetch_offset > end)
        return SK_ERR_OFFSET_OUT_OF_RANGE;
    f->log_end = fetch_offset;
    /* Kafka's Replica.updateFetchStateOrThrow. */
    if (fetch_offset == end)
        f->caught_up_ms = now_ms;
    else if (f->last_fetch_leader_end >= 0 && fetch_offset >= f->last_fetch_leader_end)
        f->caught_up_ms = f->last_fetch_ms > f->caught_up_ms ? f->last_fetch_ms : f->caught_up_ms;
    f->last_fetch_leader_end = end;
    f->last_fetch_ms = now_ms;
    f->broker_epoch = ff->broker_epoch;
    sk_replica_update_hw(p);
    if (!sk_replica_in_maximal_isr(p, ff->replica_id))
        sk_replica_isr_check(p, now_ms);
    return SK_ERR_NONE;
}

/* ---- the leader's ISR decisions (Kafka's Partition.maybeShrinkIsr and
 * maybeExpandIsr) --------------------------------------------------------- */

/* isFollowerOutOfSync: behind the leader's end and not caught up for
 * lag_ms. A follower never heard of in this leadership starts its clock at
 * the first look, as Kafka starts it when the leadership begins. */
static bool out_of_sync(struct sk_follower *f, int64_t end, int64_t now_ms, int64_t lag_ms)
{
    if (f->caught_up_ms < 0)
        f->caught_up_ms = now_ms;
    return f->log_end != end && now_ms - f->caught_up_ms > lag_ms;
}

/* isFollowerInSync: at the high watermark and within this leadership. */
static bool caught_up(const struct sk_partition *p, const struct sk_follower *f)
{
    return f->log_end >= 0 && f->log_end >= p->high_watermark &&
           f->log_end >= p->epoch_start_offset;
}

int32_t sk_replica_isr_proposal(struct sk_partition *p, int64_t now_ms, int64_t lag_ms,
                                sk_replica_eligible_fn eligible, void *arg, int32_t *out)
{
    if (p->role != SK_REPLICA_LEADER || p->isr_pending || sk_partition_sync_failed(p))
        return 0;
    int64_t end = sk_plog_log_end_offset(p->log);
    int32_t n = 0;
    bool shrink = false;
    for (int32_t i = 0; i < p->nisr; i++) {
        struct sk_follower *f = follower(p, p->isr[i]);
        if (f && out_of_sync(f, end, now_ms, lag_ms))
            shrink = true;
        else
            out[n++] = p->isr[i];
    }
    if (shrink)
        return n;
    bool expand = false;
    for (int32_t i = 0; i < p->nfollowers; i++) {
        const struct sk_follower *f = &p->followers[i];
        if (sk_replica_in_isr(p, f->id) || !caught_up(p, f) ||
            (eligible && !eligible(arg, f->id, f->broker_epoch)))
            continue;
        out[n++] = f->id;
        expand = true;
    }
    /* KIP-704: a leader elected uncleanly has nothing to recover here (no
     * transactions), so, as Kafka's leader does at once, it tells the
     * controller it recovered: its ISR as it is, marked RECOVERED, which
     * every proposal carries. */
    return expand || p->recovering ? n : 0;
}

void sk_replica_isr_propose(struct sk_partition *p, const int32_t *isr, int32_t n)
{
    int32_t *v = malloc(sizeof *v * (size_t)(n + 1));
    if (!v)
        return; /* the next check proposes it again */
    memcpy(v, isr, sizeof *v * (size_t)n);
    sk_replica_isr_drop_pending(p);
    p->pending_isr = v;
    p->npending = n;
    p->isr_pending = true;
    /* An expansion counts its member at once; nothing else can move. */
    sk_replica_update_hw(p);
}

int sk_replica_isr_committed(struct sk_partition *p, int32_t leader_epoch,
                             int32_t partition_epoch, const int32_t *isr, int32_t n)
{
    sk_replica_isr_drop_pending(p);
    if (leader_epoch != p->leader_epoch || partition_epoch <= p->partition_epoch)
        return 0; /* stale: the image says what holds */
    int32_t *v = malloc(sizeof *v * (size_t)(n + 1));
    if (!v)
        return -1;
    memcpy(v, isr, sizeof *v * (size_t)n);
    free(p->isr);
    p->isr = v;
    p->nisr = n;
    p->partition_epoch = partition_epoch;
    /* A shrink lets the high watermark move on without the one left out,
     * and producers waiting for it learn the ISR is now too small. */
    sk_replica_update_hw(p);
    sk_replica_complete_waiters(p);
    return 0;
}
