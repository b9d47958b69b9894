/* The publisher (skein/publisher.h). The controller commits into the node's
 * image and publishes a clone of it; it calls no broker code itself: what a
 * shard does with a new image is the subscriber the node was given. */
#include <errno.h>
#include <stdatomic.h>

#include "skein/node.h"
#include "skein/publisher.h"

/* Only images from sk_meta_image_clone are counted; the node's own image
 * (embedded, refs 0) is never released through here. */
static void release(struct sk_meta_image *img)
{
    if (img && atomic_load_explicit(&img->refs, memory_order_relaxed) > 0)
        sk_meta_image_release(img);
}

static void release_task(struct sk_broker *b, void *arg)
{
    (void)b;
    release(arg);
}

int sk_publish_apply(struct sk_broker *b, struct sk_meta_image *img)
{
    struct sk_meta_image *old = b->image;
    b->image = img;
    int rc = b->node->subscriber ? b->node->subscriber(b, old) : 0;
    if (old == img) {
        release(old); /* the caller's reference, beside the one b already holds */
        return rc;
    }
    /* The handler that committed may still hold topics of the old image; it
     * finishes before a posted task runs. A shard that takes no more tasks
     * (stopping, or none at all in a test) runs no more handlers either. */
    if (!b->shard || sk_node_post(b->node, b->index, release_task, old) < 0)
        release(old);
    return rc;
}

static void apply_task(struct sk_broker *b, void *arg)
{
    /* A shard that cannot open a partition log retries it on its own; there
     * is no client here to tell. */
    (void)sk_publish_apply(b, arg);
}

int sk_publish(struct sk_broker *b)
{
    /* One clone for all: shards only read it, and the last to let go frees it. */
    return sk_publish_image(b, sk_meta_image_clone(&b->node->image));
}

int sk_publish_image(struct sk_broker *b, struct sk_meta_image *img)
{
    struct sk_node *n = b->node;
    for (int i = 0; i < n->nshards; i++) {
        if (n->shards[i] == b)
            continue;
        if (sk_node_post(n, i, apply_task, sk_meta_image_ref(img)) < 0)
            release(img);
    }
    return sk_publish_apply(b, img);
}

void sk_publish_close(struct sk_broker *b)
{
    release(b->image);
    b->image = &b->node->image;
}
