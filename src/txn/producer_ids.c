/* Handing out producer ids from blocks claimed in the metadata log. */
#include "skein/producer_ids.h"

#include <errno.h>
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/metalog.h"
#include "skein/partition.h"

struct sk_txn_state {
    int64_t next; /* next id to hand out */
    int64_t end;  /* first id past the claimed block */
};

static int claim_block(struct sk_broker *b, struct sk_txn_state *t)
{
    kp_producer_ids_record r;
    kp_producer_ids_record_init(&r);
    /* The committed image: ids handed out must never be reused, whatever a
     * shard's published image says. */
    int64_t start = b->node->image.next_producer_id;
    r.broker_id = b->node->node_id;
    r.broker_epoch = sk_metalog_end_offset(b->node->metalog);
    r.next_producer_id = start + SK_PRODUCER_ID_BLOCK;
    struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
    int rc = sk_metalog_append(b->node->metalog, &b->node->image, &rec, 1, sk_wall_ms());
    if (rc < 0)
        return rc;
    t->next = start;
    t->end = start + SK_PRODUCER_ID_BLOCK;
    return 0;
}

int64_t sk_producer_id_next(struct sk_broker *b)
{
    if (!b->node->txn && !(b->node->txn = calloc(1, sizeof *b->node->txn)))
        return -ENOMEM;
    struct sk_txn_state *t = b->node->txn;
    if (t->next >= t->end) {
        int rc = claim_block(b, t);
        if (rc < 0)
            return rc;
    }
    return t->next++;
}

void sk_producer_ids_free(struct sk_broker *b)
{
    free(b->node->txn);
    b->node->txn = NULL;
}
