/* A broker's registration and heartbeats with the active controller of a
 * multi-voter quorum (src/server/broker_lifecycle.c), as Kafka's
 * BrokerLifecycleManager. On shard 0; a sole voter registers locally. */
#ifndef SKEIN_BROKER_LIFECYCLE_H
#define SKEIN_BROKER_LIFECYCLE_H

#include <stdbool.h>

#include "skein/broker.h"

/* Starts registering if b's node has the broker role in a quorum of more
 * than one voter (nothing otherwise). 0 or -ENOMEM / -EIO. */
int sk_broker_lifecycle_start(struct sk_broker *b);
/* The epoch of the broker's current registration, -1 until it is
 * registered (or with no lifecycle, lc NULL). */
int64_t sk_broker_lifecycle_epoch(const struct sk_broker_lifecycle *lc);
/* The epoch of the registration this process made (its incarnation id) as
 * img holds it, -1 while img holds none (or with no lifecycle, lc NULL).
 * Any shard may ask: only the incarnation id, fixed at start, is read. */
int64_t sk_broker_lifecycle_epoch_in(const struct sk_broker_lifecycle *lc,
                                     const struct sk_meta_image *img);
/* Whether img holds the registration this process made (its incarnation
 * id), unfenced: the controller takes one only once the previous process's
 * session has lapsed and its leaderships have moved away, and unfences it
 * once this node has applied the metadata up to it; from such an image on
 * the node acts on nothing its previous life led, and clients may use it.
 * True with no lifecycle (lc NULL). */
bool sk_broker_lifecycle_unfenced_in(const struct sk_broker_lifecycle *lc,
                                     const struct sk_meta_image *img);
/* A SIGTERM's request for a controlled shutdown (async-signal-safe: sets
 * a flag shard 0 looks at): true if the broker now shuts down under
 * control and stops by itself later; false when there is no lifecycle (lc
 * NULL) or one was asked already, so the caller stops at once. */
bool sk_broker_lifecycle_begin_shutdown(struct sk_broker_lifecycle *lc);
/* Stops it; before the shard's reactor is destroyed. */
void sk_broker_lifecycle_close(struct sk_broker *b);

#endif
