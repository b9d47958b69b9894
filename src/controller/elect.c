/* Leader election and ISR changes on the controller, as Kafka 3.9's
 * PartitionChangeBuilder decides them for ReplicationControlManager: one
 * pure function per partition (the image and an event in, a
 * PartitionChangeRecord or nothing out), used by fencing, unfencing,
 * controlled shutdown and ElectLeaders alike, so they cannot disagree on
 * who may lead.
 *
 * A broker that leaves (fenced or shutting down) is taken out of the ISR
 * unless it is the last member: Kafka keeps the last one so that the
 * partition remembers which replica holds everything acknowledged, and
 * elects it again when it comes back. The new leader is the first replica
 * in assignment order that is in the ISR and acceptable (registered,
 * unfenced, not shutting down); with none, the partition has no leader
 * unless unclean election lets a live replica outside the ISR lead alone,
 * knowingly losing what only the ISR had. */
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "skein/meta.h"

static bool in_list(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

bool sk_elect_acceptable(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                         int32_t id)
{
    if (id < 0 || id == ev->removed)
        return false;
    if (id == ev->added)
        return true;
    const struct sk_broker_meta *b = sk_meta_broker(img, id);
    return b && !b->fenced && !b->in_controlled_shutdown;
}

bool sk_elect_unclean_allowed(const struct sk_topic_meta *tm, bool broker_default)
{
    const char *v = sk_kvlist_get(&tm->configs, "unclean.leader.election.enable");
    if (!v)
        return broker_default;
    return strcmp(v, "true") == 0;
}

/* The ISR after the event: without the leaving broker, unless it is the
 * last member. Returns its size (isr holds room for every replica). */
static int32_t target_isr(const struct sk_partition_meta *pm, int32_t removed, int32_t *isr)
{
    int32_t n = 0;
    for (int32_t i = 0; i < pm->nisr; i++)
        if (pm->isr[i] != removed)
            isr[n++] = pm->isr[i];
    if (n > 0)
        return n;
    memcpy(isr, pm->isr, sizeof *isr * (size_t)pm->nisr);
    return pm->nisr;
}

static int32_t first_in_isr(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                            const struct sk_partition_meta *pm, const int32_t *isr, int32_t nisr)
{
    for (int32_t i = 0; i < pm->nreplicas; i++) {
        int32_t r = pm->replicas[i];
        if (in_list(isr, nisr, r) && sk_elect_acceptable(img, ev, r))
            return r;
    }
    return -1;
}

static int32_t first_live(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                          const struct sk_partition_meta *pm)
{
    for (int32_t i = 0; i < pm->nreplicas; i++)
        if (sk_elect_acceptable(img, ev, pm->replicas[i]))
            return pm->replicas[i];
    return -1;
}

/* Who leads after the event, and whether that leader was elected from
 * outside the ISR (*unclean). */
static int32_t choose(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                      const struct sk_partition_meta *pm, const int32_t *isr, int32_t nisr,
                      bool *unclean)
{
    *unclean = false;
    if (ev->type == SK_ELECT_PREFERRED) {
        int32_t pref = pm->nreplicas > 0 ? pm->replicas[0] : -1;
        if (in_list(isr, nisr, pref) && sk_elect_acceptable(img, ev, pref))
            return pref;
    }
    /* A leader that may stay, stays: moving it would only cost clients a
     * metadata round trip. */
    if (in_list(isr, nisr, pm->leader) && sk_elect_acceptable(img, ev, pm->leader))
        return pm->leader;
    int32_t l = first_in_isr(img, ev, pm, isr, nisr);
    if (l >= 0 || !(ev->unclean || ev->type == SK_ELECT_UNCLEAN))
        return l;
    l = first_live(img, ev, pm);
    *unclean = l >= 0;
    return l;
}

static bool same_list(const int32_t *a, int32_t na, const int32_t *b, int32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof *a * (size_t)na) == 0);
}

bool sk_elect_partition(const struct sk_meta_image *img, const kp_uuid *topic_id,
                        const struct sk_partition_meta *pm, const struct sk_elect_event *ev,
                        int32_t *isr, kp_partition_change_record *out)
{
    int32_t nisr = target_isr(pm, ev->removed, isr);
    bool unclean;
    int32_t leader = choose(img, ev, pm, isr, nisr, &unclean);
    if (unclean) {
        isr[0] = leader;
        nisr = 1;
    }
    bool isr_changed = !same_list(isr, nisr, pm->isr, pm->nisr);
    if (leader == pm->leader && !isr_changed)
        return false;
    kp_partition_change_record_init(out);
    out->topic_id = *topic_id;
    out->partition_id = pm->id;
    if (leader != pm->leader)
        out->leader = leader;
    if (isr_changed)
        out->isr = (kp_arr_i32){nisr, isr};
    /* KIP-704: an uncleanly elected leader starts RECOVERING. */
    if (unclean && pm->leader_recovery_state != SK_LEADER_RECOVERING)
        out->leader_recovery_state = SK_LEADER_RECOVERING;
    return true;
}

static int count_replicas(const struct sk_meta_image *img)
{
    int n = 0;
    for (int t = 0; t < img->ntopics; t++)
        for (int32_t p = 0; p < img->topics[t]->npartitions; p++)
            n += img->topics[t]->partitions[p].nreplicas;
    return n;
}

/* Which partitions an event looks at: those the leaving broker leads or is
 * in the ISR of; those without a leader when one arrives; all for an
 * election asked for by name (the caller filters). */
static bool concerned(const struct sk_partition_meta *pm, const struct sk_elect_event *ev)
{
    if (ev->type == SK_ELECT_PREFERRED)
        return pm->nreplicas > 0 && pm->leader != pm->replicas[0];
    if (ev->removed >= 0)
        return pm->leader == ev->removed || in_list(pm->isr, pm->nisr, ev->removed);
    if (ev->added >= 0)
        return pm->leader < 0;
    return true;
}

int sk_elect_all(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                 bool unclean_default, struct sk_elect_batch *out)
{
    memset(out, 0, sizeof *out);
    int np = 0;
    for (int t = 0; t < img->ntopics; t++)
        np += img->topics[t]->npartitions;
    out->ch = calloc((size_t)np + 1, sizeof *out->ch);
    out->pool = calloc((size_t)count_replicas(img) + 1, sizeof *out->pool);
    if (!out->ch || !out->pool)
        abort(); /* as the image: a half-built change must never reach the log */
    int32_t *next = out->pool;
    for (int t = 0; t < img->ntopics; t++) {
        const struct sk_topic_meta *tm = img->topics[t];
        struct sk_elect_event e = *ev;
        e.unclean = ev->unclean || sk_elect_unclean_allowed(tm, unclean_default);
        for (int32_t p = 0; p < tm->npartitions; p++) {
            const struct sk_partition_meta *pm = &tm->partitions[p];
            if (!concerned(pm, &e))
                continue;
            if (!sk_elect_partition(img, &tm->id, pm, &e, next, &out->ch[out->n]))
                continue;
            /* A balance moves leaders to their preferred replica, nothing else. */
            if (e.type == SK_ELECT_PREFERRED && out->ch[out->n].leader != pm->replicas[0])
                continue;
            next += pm->nreplicas;
            if (++out->n == ev->max_changes)
                return out->n;
        }
    }
    return out->n;
}

void sk_elect_batch_free(struct sk_elect_batch *b)
{
    free(b->ch);
    free(b->pool);
    memset(b, 0, sizeof *b);
}

bool sk_elect_leads_any(const struct sk_meta_image *img, int32_t broker)
{
    for (int t = 0; t < img->ntopics; t++) {
        const struct sk_topic_meta *tm = img->topics[t];
        for (int32_t p = 0; p < tm->npartitions; p++)
            if (tm->partitions[p].leader == broker)
                return true;
    }
    return false;
}
