/* The metadata publisher: how a committed change reaches the shards.
 *
 * The node's image (node->image) is the controller's committed state; it
 * changes only on the controller's shard. Shards never read it: each holds a
 * published image (b->image), an immutable, reference-counted clone that
 * shares unchanged topics with the node's image (sk_meta_image_clone). On
 * every commit a new clone is published to every shard; the shard swaps
 * b->image to it and runs its subscribers, so what a handler reads cannot
 * change under it while another shard is mid-commit. */
#ifndef SKEIN_PUBLISHER_H
#define SKEIN_PUBLISHER_H

#include "skein/broker.h"

/* What a shard runs on a new image, after b->image is the new one; old is
 * the image it replaced (still readable for the call). Returns 0 or -errno
 * (a partition log that does not open); the submitting shard's result is
 * what its client hears. */
typedef int (*sk_image_subscriber_fn)(struct sk_broker *b, const struct sk_meta_image *old);

/* Makes the node's image current on every shard: on b (the controller's
 * shard, which just committed) before returning, with b's subscriber's
 * result; on the others through sk_node_post. Returns 0 or -errno. */
int sk_publish(struct sk_broker *b);

/* Same for img, a committed image (the caller's reference passes to the
 * publisher), when the node's image has already moved past it. */
int sk_publish_image(struct sk_broker *b, struct sk_meta_image *img);

/* Swaps b->image to img (the caller's reference passes to b) and runs the
 * node's subscriber. The image it replaced is released once the running
 * handler is done with it (on b's next turn), not under its feet. */
int sk_publish_apply(struct sk_broker *b, struct sk_meta_image *img);

/* Every shard's first image and configuration, before any thread runs
 * (start-up): the others' are set, b's applied. empty: an image with
 * nothing in it rather than the node's, for a member of a larger quorum,
 * whose snapshot may be far behind and which publishes once caught up
 * (submit.c). 0 or -ENOMEM. */
int sk_publish_first(struct sk_broker *b, bool empty);

/* Swaps b->cfg to s (the caller's reference passes to b), releasing the
 * old one once the running handler is done, like an image. */
void sk_publish_config_apply(struct sk_broker *b, struct sk_config_shared *s);

/* Drops b's image and configuration (shutdown). */
void sk_publish_close(struct sk_broker *b);
/* Drops the node's last published configuration (shutdown, after every
 * shard's sk_publish_close). */
void sk_publish_node_close(struct sk_node *n);

#endif
