/* KIP-951's current-leader hints: a partition answered NOT_LEADER_OR_FOLLOWER
 * (Produce v10+; Fetch v16+, FENCED_LEADER_EPOCH too) carries its current
 * leader and epoch as this broker's image has them, and the answer lists
 * those leaders' endpoints, so a client moves to the new leader without a
 * metadata round trip, as Kafka's KafkaApis answers. */
#include <string.h>

#include "skein/api.h"
#include "skein/errors.h"
#include "skein/meta.h"

void sk_hints_init(struct sk_leader_hints *h)
{
    memset(h, 0, sizeof *h);
}

bool sk_hints_wanted(int16_t err, bool fenced_too)
{
    return err == SK_ERR_NOT_LEADER_OR_FOLLOWER || (fenced_too && err == SK_ERR_FENCED_LEADER_EPOCH);
}

void sk_hints_leader(struct sk_request *req, struct sk_leader_hints *h,
                     const struct sk_topic_meta *t, int32_t partition, int32_t *leader,
                     int32_t *epoch)
{
    *leader = -1;
    *epoch = -1;
    if (!t || partition < 0 || partition >= t->npartitions)
        return;
    const struct sk_partition_meta *pm = &t->partitions[partition];
    *leader = pm->leader;
    *epoch = pm->leader_epoch;
    if (pm->leader < 0)
        return;
    if (!h->lb)
        h->nlb = sk_api_live_brokers(req, &h->lb);
    for (int i = 0; i < h->n; i++)
        if (h->ids[i] == pm->leader)
            return;
    for (int i = 0; i < h->nlb && h->n < SK_HINTS_MAX; i++)
        if (h->lb[i].id == pm->leader)
            h->ids[h->n++] = pm->leader;
}

const struct sk_live_broker *sk_hints_endpoint(const struct sk_leader_hints *h, int i)
{
    for (int j = 0; j < h->nlb; j++)
        if (h->lb[j].id == h->ids[i])
            return &h->lb[j];
    return NULL;
}
