/* Producer ids: unique across restarts because each block of ids is claimed
 * with a ProducerIdsRecord through the controller's submit queue
 * (skein/submit.h), and no id of a block is handed out before the block is
 * committed. A claim that fails hands out nothing: the block may have been
 * cut from the log, so its ids would come back after a restart. */
#ifndef SKEIN_PRODUCER_IDS_H
#define SKEIN_PRODUCER_IDS_H

#include <stdint.h>

#include "skein/broker.h"

#define SK_PRODUCER_ID_BLOCK 1000

/* err is a Kafka error code; id is valid when err is 0. */
typedef void (*sk_producer_id_fn)(void *arg, int16_t err, int64_t id);

/* A request for one id, waiting for its block; lives as long as its
 * requester (a request's arena), which answers from done. */
struct sk_producer_id_wait {
    struct sk_producer_id_wait *next;
    sk_producer_id_fn done;
    void *arg;
};

/* On the controller's shard: hands out the next unused id through
 * w->done, at once when the current block has one, or once the next block
 * is committed. A block that cannot be committed answers every waiter
 * COORDINATOR_LOAD_IN_PROGRESS (retriable), as Kafka does while it waits
 * for a block. done may run before the call returns. */
void sk_producer_id_request(struct sk_broker *b, struct sk_producer_id_wait *w,
                            sk_producer_id_fn done, void *arg);
void sk_producer_ids_free(struct sk_broker *b);

/* Where blocks come from. By default the node claims them through its own
 * controller's submit queue (a sole voter); a node of a larger quorum asks
 * the active controller instead (AllocateProducerIds), and then fetches the
 * next block once 90% of the current one is out, as Kafka's
 * RPCProducerIdManager does, so producers rarely wait for a round trip. */
typedef void (*sk_producer_id_block_fn)(struct sk_broker *b, int16_t err, int64_t start,
                                        int32_t len);
typedef void (*sk_producer_id_source_fn)(struct sk_broker *b, sk_producer_id_block_fn got);
/* On the controller's shard, before any id is asked for. 0 or -ENOMEM. */
int sk_producer_ids_set_source(struct sk_broker *b, sk_producer_id_source_fn source);

#endif
