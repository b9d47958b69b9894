/* The publisher (skein/publisher.h). The controller commits into the node's
 * image and publishes a clone of it; it calls no broker code itself: what a
 * shard does with a new image is the subscriber the node was given. */
#include <errno.h>
#include <stdatomic.h>

#include "skein/config_shared.h"
#include "skein/controller.h"
#include "skein/logging.h"
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

/* The handler that committed may still hold what b let go of; it finishes
 * before a posted task runs. A shard that takes no more tasks (stopping, or
 * none at all in a test) runs no more handlers either: release at once. */
static void release_later(struct sk_broker *b, sk_node_task_fn release_fn, void *arg)
{
    if (!b->shard || sk_node_post(b->node, b->index, release_fn, arg) < 0)
        release_fn(b, arg);
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
    release_later(b, release_task, old);
    return rc;
}

static void release_config_task(struct sk_broker *b, void *arg)
{
    (void)b;
    sk_config_shared_release(arg);
}

void sk_publish_config_apply(struct sk_broker *b, struct sk_config_shared *s)
{
    struct sk_config_shared *old = b->cfg_held;
    b->cfg = &s->cfg;
    b->cfg_held = s;
    if (old)
        release_later(b, release_config_task, old);
}

static void config_task(struct sk_broker *b, void *arg)
{
    sk_publish_config_apply(b, arg);
}

/* The configuration shards read with img, made anew only when img's
 * dynamic configs moved; NULL when they did not (or when memory ran out:
 * the shards keep the last one, which the log line says). */
static struct sk_config_shared *config_for(struct sk_node *n, const struct sk_meta_image *img)
{
    if (!n->cfg || (n->cfg_pub && n->cfg_pub_version == img->configs_version))
        return NULL;
    struct sk_config_shared *s = sk_controller_config_of(n->cfg, img);
    if (!s) {
        sk_warn("out of memory: a dynamic config change is not applied on the shards");
        return NULL;
    }
    sk_config_shared_release(n->cfg_pub);
    n->cfg_pub = s;
    n->cfg_pub_version = img->configs_version;
    return s;
}

static void post_config(struct sk_node *n, int i, struct sk_config_shared *cfg)
{
    if (cfg && sk_node_post(n, i, config_task, sk_config_shared_ref(cfg)) < 0)
        sk_config_shared_release(cfg);
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
    struct sk_config_shared *cfg = config_for(n, img);
    for (int i = 0; i < n->nshards; i++) {
        if (n->shards[i] == b)
            continue;
        /* Posts from one thread arrive in order: the configuration first. */
        post_config(n, i, cfg);
        if (sk_node_post(n, i, apply_task, sk_meta_image_ref(img)) < 0)
            release(img);
    }
    if (cfg)
        sk_publish_config_apply(b, sk_config_shared_ref(cfg));
    return sk_publish_apply(b, img);
}

int sk_publish_first(struct sk_broker *b, bool empty)
{
    struct sk_node *n = b->node;
    struct sk_meta_image none;
    sk_meta_image_init(&none);
    struct sk_meta_image *img = sk_meta_image_clone(empty ? &none : &n->image);
    sk_meta_image_free(&none);
    struct sk_config_shared *cfg = config_for(n, img);
    if (!cfg) {
        release(img);
        return -ENOMEM;
    }
    for (int i = 0; i < n->nshards; i++) {
        if (n->shards[i] == b)
            continue;
        n->shards[i]->image = sk_meta_image_ref(img);
        sk_publish_config_apply(n->shards[i], sk_config_shared_ref(cfg));
    }
    sk_publish_config_apply(b, sk_config_shared_ref(cfg));
    /* A partition that does not open stays offline and is retried; the node
     * serves the others rather than refusing to start. */
    (void)sk_publish_apply(b, img);
    return 0;
}

void sk_publish_close(struct sk_broker *b)
{
    release(b->image);
    b->image = &b->node->image;
    sk_config_shared_release(b->cfg_held);
    b->cfg_held = NULL;
    b->cfg = b->node->cfg;
}

void sk_publish_node_close(struct sk_node *n)
{
    sk_config_shared_release(n->cfg_pub);
    n->cfg_pub = NULL;
}
