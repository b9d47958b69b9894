/* A change's placement checked against what this node may take: the records
 * it writes (one operation, one batch) and the partitions it would host. */
#include "internal.h"
#include "skein/admission.h"
#include "skein/errors.h"

static bool hosts(const int32_t *replicas, int32_t n, int32_t node)
{
    for (int32_t i = 0; i < n; i++)
        if (replicas[i] == node)
            return true;
    return false;
}

int64_t sk_ctl_hosted_partitions(const struct sk_meta_image *img, int32_t node)
{
    int64_t n = 0;
    for (int i = 0; i < img->ntopics; i++) {
        const struct sk_topic_meta *t = img->topics[i];
        for (int32_t j = 0; j < t->npartitions; j++)
            n += hosts(t->partitions[j].replicas, t->partitions[j].nreplicas, node);
    }
    return n;
}

static int64_t placed_here(const struct sk_placement *pl, int32_t node)
{
    int64_t n = 0;
    for (int32_t i = 0; i < pl->count; i++)
        n += hosts(pl->replicas + (size_t)i * (size_t)pl->rf, pl->rf, node);
    return n;
}

int16_t sk_ctl_admit_placements(struct sk_broker *b, const struct sk_placement *pl, int n,
                                char *msg, size_t msglen)
{
    if (!b->node->budget.set)
        return SK_ERR_NONE;
    int64_t adding = 0;
    for (int i = 0; i < n; i++)
        adding += placed_here(&pl[i], b->node->node_id);
    int64_t hosted = sk_ctl_hosted_partitions(sk_ctl_working(b), b->node->node_id);
    return sk_admit_partitions(&b->node->budget, b->node->node_id, hosted, adding, msg, msglen);
}

int16_t sk_ctl_admit_placement(struct sk_broker *b, const struct sk_placement *pl,
                               int64_t other_records, char *msg, size_t msglen)
{
    int16_t err = sk_admit_records((int64_t)pl->count + other_records, msg, msglen);
    return err ? err : sk_ctl_admit_placements(b, pl, 1, msg, msglen);
}
