/* Producer-id blocks for brokers (AllocateProducerIds), as Kafka 3.9's
 * ProducerIdControlManager hands them out: the broker's epoch must be that
 * of its registration, and a block is one ProducerIdsRecord naming the
 * broker, committed through the quorum before the broker gets it. Blocks
 * come from the working image, which holds every block claimed, committed
 * or in flight (the node's own ones too), so no two overlap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/metalog.h"
#include "skein/producer_ids.h"
#include "skein/submit.h"

struct block_claim {
    sk_ctl_block_fn done;
    void *arg;
    int64_t start;
};

static void committed(void *arg, int16_t err, const char *msg)
{
    struct block_claim *c = arg;
    c->done(c->arg, err, msg, err ? -1 : c->start, err ? 0 : SK_PRODUCER_ID_BLOCK);
    free(c);
}

int16_t sk_ctl_broker_epoch_check(const struct sk_meta_image *img, int32_t broker_id,
                                  int64_t broker_epoch, char *msg, size_t msglen)
{
    const struct sk_broker_meta *b = sk_meta_broker(img, broker_id);
    if (!b) {
        snprintf(msg, msglen, "No broker registration found for broker %d", broker_id);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    if (b->epoch != broker_epoch) {
        snprintf(msg, msglen, "Expected broker epoch %lld, but got broker epoch %lld",
                 (long long)b->epoch, (long long)broker_epoch);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    return SK_ERR_NONE;
}

void sk_ctl_allocate_producer_ids(struct sk_broker *ctl, int32_t broker_id, int64_t broker_epoch,
                                  sk_ctl_block_fn done, void *arg)
{
    char msg[160];
    const struct sk_meta_image *img = &ctl->node->image;
    int16_t err = sk_ctl_broker_epoch_check(img, broker_id, broker_epoch, msg, sizeof msg);
    if (err) {
        done(arg, err, msg, -1, 0);
        return;
    }
    int64_t start = img->next_producer_id;
    if (start > INT64_MAX - SK_PRODUCER_ID_BLOCK) {
        snprintf(msg, sizeof msg, "Exhausted all producerIds as the next block's end producerId "
                 "has exceeded the int64 type limit");
        done(arg, SK_ERR_UNKNOWN_SERVER_ERROR, msg, -1, 0);
        return;
    }
    struct block_claim *c = malloc(sizeof *c);
    if (!c) {
        done(arg, SK_ERR_UNKNOWN_SERVER_ERROR, NULL, -1, 0);
        return;
    }
    *c = (struct block_claim){done, arg, start};
    kp_producer_ids_record r;
    kp_producer_ids_record_init(&r);
    r.broker_id = broker_id;
    r.broker_epoch = broker_epoch;
    r.next_producer_id = start + SK_PRODUCER_ID_BLOCK;
    struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
    sk_ctl_submit(ctl, &rec, 1, committed, c);
}
