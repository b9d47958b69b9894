/* A configuration the shards share read-only.
 *
 * The controller's shard owns the working configuration (node->cfg) and
 * changes it while it decides a dynamic config change; no other shard may
 * read it then, since a change frees and rebuilds its lists. What shards
 * read is a copy made from a committed image, immutable and reference
 * counted, handed to every shard with the image it was made from
 * (skein/publisher.h): b->cfg. A shard lets go of its old copy once the
 * handler running on it is done, so nothing a handler reads moves. */
#ifndef SKEIN_CONFIG_SHARED_H
#define SKEIN_CONFIG_SHARED_H

#include <stdatomic.h>

#include "skein/config.h"

struct sk_config_shared {
    struct sk_config cfg; /* first: &shared->cfg is what readers hold */
    atomic_int refs;
};

/* A copy of base's static layer alone (one reference): the starting point
 * the dynamic layers are applied to. NULL when out of memory. */
struct sk_config_shared *sk_config_shared_static(const struct sk_config *base);
/* Another holder; any thread. */
struct sk_config_shared *sk_config_shared_ref(struct sk_config_shared *s);
/* Drops a holder; the last frees it. NULL is ignored. Any thread. */
void sk_config_shared_release(struct sk_config_shared *s);
#endif
