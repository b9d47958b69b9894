/* KIP-392's preferred read replica: which replica a leader sends a
 * consumer to, as Kafka's ReplicaManager.findPreferredReadReplica with
 * RackAwareReplicaSelector decides it. */
#include <string.h>

#include "replica_int.h"
#include "skein/meta.h"
#include "skein/partition.h"

static bool same_rack(const struct sk_meta_image *img, int32_t id, const uint8_t *rack,
                      size_t len)
{
    const struct sk_broker_meta *bm = sk_meta_broker(img, id);
    return bm && bm->rack && strlen(bm->rack) == len && memcmp(bm->rack, rack, len) == 0;
}

/* A follower that may serve fetch_offset now: in the ISR (one outside it
 * may lag for good, and the consumer with it) and holding the offset. Its
 * log start is not known here (Kafka has it from the follower's fetches):
 * a follower that deleted below the offset answers OFFSET_OUT_OF_RANGE,
 * and the consumer goes back to the leader. */
static bool may_serve(const struct sk_partition *p, const struct sk_follower *f,
                      int64_t fetch_offset)
{
    return sk_replica_in_isr(p, f->id) && f->log_end >= fetch_offset;
}

/* Of two same-rack candidates the more caught-up: the longer log, then the
 * more recently caught up (Kafka's comparator). */
static bool better(const struct sk_follower *a, const struct sk_follower *b)
{
    if (!b)
        return true;
    if (a->log_end != b->log_end)
        return a->log_end > b->log_end;
    return a->caught_up_ms > b->caught_up_ms;
}

int32_t sk_partition_read_replica(const struct sk_partition *p, const struct sk_meta_image *img,
                                  const uint8_t *rack, size_t rack_len, int64_t fetch_offset)
{
    if (p->role != SK_REPLICA_LEADER || rack_len == 0)
        return -1;
    if (same_rack(img, p->broker->node->node_id, rack, rack_len))
        return -1;
    const struct sk_follower *best = NULL;
    for (int32_t i = 0; i < p->nfollowers; i++) {
        const struct sk_follower *f = &p->followers[i];
        if (same_rack(img, f->id, rack, rack_len) && may_serve(p, f, fetch_offset) &&
            better(f, best))
            best = f;
    }
    return best ? best->id : -1;
}
