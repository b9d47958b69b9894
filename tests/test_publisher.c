/* The publisher: a commit reaches a shard as a new image that the shard's
 * subscriber sees whole, while images published before stay as they were
 * until their last holder lets go. */
#include <criterion/criterion.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/config_shared.h"
#include "skein/errors.h"
#include "skein/publisher.h"

static struct sk_node node;
static struct sk_broker shard;

/* What the subscriber saw, checked after sk_publish returns. */
static struct {
    int calls;
    const struct sk_meta_image *seen, *old;
    int ntopics;
    bool saw_config;
} sub;

static int subscriber(struct sk_broker *b, const struct sk_meta_image *old)
{
    sub.calls++;
    sub.seen = b->image;
    sub.old = old;
    sub.ntopics = b->image->ntopics;
    const struct sk_topic_meta *t = sk_meta_topic(b->image, "a", 1);
    sub.saw_config = t && sk_kvlist_get(&t->configs, "retention.ms");
    return 0;
}

static void setup(void)
{
    memset(&node, 0, sizeof node);
    memset(&shard, 0, sizeof shard);
    memset(&sub, 0, sizeof sub);
    sk_meta_image_init(&node.image);
    shard.node = &node;
    shard.image = &node.image;
    node.subscriber = subscriber;
}

static void teardown(void)
{
    sk_publish_close(&shard);
    sk_publish_node_close(&node);
    sk_meta_image_free(&node.image);
}

static void commit_topic(const char *name, uint8_t id)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id.b[0] = id;
    cr_assert_eq(sk_meta_apply(&node.image, SK_META_TOPIC, &tr), 0);
}

static void commit_config(const char *topic, const char *value)
{
    kp_config_record c;
    kp_config_record_init(&c);
    c.resource_type = SK_RESOURCE_TOPIC;
    c.resource_name = kp_str_c(topic);
    c.name = kp_str_c("retention.ms");
    c.value = kp_str_c(value);
    cr_assert_eq(sk_meta_apply(&node.image, SK_META_CONFIG, &c), 0);
}

Test(publisher, the_subscriber_sees_the_whole_new_image, .init = setup, .fini = teardown)
{
    commit_topic("a", 1);
    commit_topic("b", 2);
    commit_config("a", "10");
    cr_assert_eq(sk_publish(&shard), 0);
    cr_assert_eq(sub.calls, 1);
    cr_assert_eq(sub.seen, shard.image, "the shard swapped before its subscriber ran");
    cr_assert_neq(shard.image, &node.image, "shards read a published clone");
    cr_assert_eq(sub.old, &node.image);
    cr_assert_eq(sub.ntopics, 2);
    cr_assert(sub.saw_config, "every record of the commit is in the image seen");
}

Test(publisher, an_older_image_stays_as_published_while_held, .init = setup, .fini = teardown)
{
    commit_topic("a", 1);
    commit_topic("b", 2);
    cr_assert_eq(sk_publish(&shard), 0);
    struct sk_meta_image *v1 = sk_meta_image_ref(shard.image);

    commit_config("a", "10");
    cr_assert_eq(sk_publish(&shard), 0);
    struct sk_meta_image *v2 = shard.image;
    cr_assert_neq(v1, v2);
    cr_assert_eq(sub.old, v1);
    /* The committed image changed topic a after v1 was published: v1 must
     * not see it, and topic b must still be one shared object. */
    cr_assert_null(sk_kvlist_get(&sk_meta_topic(v1, "a", 1)->configs, "retention.ms"));
    cr_assert_str_eq(sk_kvlist_get(&sk_meta_topic(v2, "a", 1)->configs, "retention.ms"), "10");
    cr_assert_eq(sk_meta_topic(v1, "b", 1), sk_meta_topic(v2, "b", 1));
    cr_assert_eq(sk_meta_topic(&node.image, "b", 1), sk_meta_topic(v2, "b", 1));
    /* Topic b is held by the committed image, v1 and v2. The shard let go of
     * v1 at the swap; ours is the last hold, and releasing it frees v1 and
     * with it v1's hold on b. */
    const struct sk_topic_meta *b = sk_meta_topic(v2, "b", 1);
    cr_assert_eq(atomic_load(&b->refs), 3);
    cr_assert_eq(atomic_load(&v1->refs), 1);
    sk_meta_image_release(v1);
    cr_assert_eq(atomic_load(&b->refs), 2);
}

/* A shard can be handed the image it already has (one taken directly at
 * start-up, then its posted copy): the second reference is let go, so the
 * image is freed with its last real holder. */
Test(publisher, the_same_image_twice_keeps_one_reference, .init = setup, .fini = teardown)
{
    commit_topic("a", 1);
    struct sk_meta_image *img = sk_meta_image_clone(&node.image);
    cr_assert_eq(sk_publish_apply(&shard, img), 0);
    int refs = atomic_load(&img->refs);
    cr_assert_eq(sk_publish_apply(&shard, sk_meta_image_ref(img)), 0);
    cr_assert_eq(atomic_load(&img->refs), refs, "%d references, expected %d",
                 atomic_load(&img->refs), refs);
    cr_assert_eq(shard.image, img);
}

/* ---- the configuration published with the image ------------------------- */

static struct sk_config cfg;

static void setup_config(void)
{
    setup();
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, NULL, 0, err, sizeof err), SK_ERR_NONE, "%s", err);
    node.cfg = &cfg;
    shard.cfg = &cfg;
}

static void teardown_config(void)
{
    teardown();
    sk_config_free(&cfg);
}

static void commit_broker_config(const char *name, const char *value)
{
    kp_config_record c;
    kp_config_record_init(&c);
    c.resource_type = SK_RESOURCE_BROKER;
    c.resource_name = kp_str_c("1");
    c.name = kp_str_c(name);
    c.value = kp_str_c(value);
    cr_assert_eq(sk_meta_apply(&node.image, SK_META_CONFIG, &c), 0);
}

/* Another shard reads its configuration while the controller's shard
 * decides a change (which rebuilds the working configuration's lists): what
 * a shard holds is a copy that nothing changes, replaced by a new one only
 * when the change is committed and published. */
Test(publisher, a_config_change_reaches_the_shards_as_a_new_copy, .init = setup_config,
     .fini = teardown_config)
{
    cr_assert_eq(sk_publish(&shard), 0);
    const struct sk_config *v1 = shard.cfg;
    cr_assert_neq(v1, node.cfg, "shards never read the working configuration");
    struct sk_config_shared *held = sk_config_shared_ref(shard.cfg_held);
    cr_assert_eq(v1->net.n_ip_overrides, 0);

    char err[256];
    cr_assert_eq(sk_config_set_dynamic(node.cfg, SK_CONFIG_SCOPE_BROKER,
                                       "max.connections.per.ip.overrides", "127.0.0.1:5", err,
                                       sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(shard.cfg, v1, "a change being decided is not seen");
    cr_assert_eq(v1->net.n_ip_overrides, 0);

    commit_broker_config("max.connections.per.ip.overrides", "127.0.0.1:5");
    cr_assert_eq(sk_publish(&shard), 0);
    cr_assert_neq(shard.cfg, v1);
    cr_assert_eq(shard.cfg->net.n_ip_overrides, 1);
    cr_assert_eq(shard.cfg->net.ip_overrides[0].max, 5);
    cr_assert_eq(v1->net.n_ip_overrides, 0, "a copy a handler still holds stays as it was");
    sk_config_shared_release(held);
}

Test(publisher, an_image_without_config_changes_keeps_the_shards_copy, .init = setup_config,
     .fini = teardown_config)
{
    commit_broker_config("log.retention.ms", "1000");
    cr_assert_eq(sk_publish(&shard), 0);
    const struct sk_config *v1 = shard.cfg;
    cr_assert_eq(v1->topic_defaults.retention_ms, 1000);
    commit_topic("a", 1);
    cr_assert_eq(sk_publish(&shard), 0);
    cr_assert_eq(shard.cfg, v1);
    /* A stored value that no longer applies is left out, as at start-up. */
    commit_broker_config("log.retention.ms", "not-a-number");
    cr_assert_eq(sk_publish(&shard), 0);
    cr_assert_eq(shard.cfg->topic_defaults.retention_ms, 604800000LL);
}
