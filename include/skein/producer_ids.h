/* Producer ids: unique across restarts because each block of ids is claimed
 * with a ProducerIdsRecord in the metadata log before any id of it is used. */
#ifndef SKEIN_PRODUCER_IDS_H
#define SKEIN_PRODUCER_IDS_H

#include <stdint.h>

#include "skein/broker.h"

#define SK_PRODUCER_ID_BLOCK 1000

/* Next unused producer id, or a negative errno if no block can be claimed. */
int64_t sk_producer_id_next(struct sk_broker *b);
void sk_producer_ids_free(struct sk_broker *b);

#endif
