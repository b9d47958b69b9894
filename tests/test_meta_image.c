/* Images as the publisher hands them out: O(1) topic lookups, clones that
 * share unchanged topics, and reference counts that free what nobody holds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/meta.h"

static kp_uuid id_of(int n)
{
    kp_uuid id;
    memset(id.b, 0, 16);
    memcpy(id.b, &n, sizeof n);
    id.b[15] = 1; /* never the zero uuid */
    return id;
}

static void add_topic(struct sk_meta_image *img, int n, int partitions)
{
    char name[32];
    snprintf(name, sizeof name, "topic-%d", n);
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id = id_of(n);
    cr_assert_eq(sk_meta_apply(img, SK_META_TOPIC, &tr), 0);
    int32_t one = 1;
    for (int p = 0; p < partitions; p++) {
        kp_partition_record pr;
        kp_partition_record_init(&pr);
        pr.topic_id = tr.topic_id;
        pr.partition_id = p;
        pr.leader = 1;
        pr.replicas = (kp_arr_i32){1, &one};
        pr.isr = (kp_arr_i32){1, &one};
        cr_assert_eq(sk_meta_apply(img, SK_META_PARTITION, &pr), 0);
    }
}

static void remove_topic(struct sk_meta_image *img, int n)
{
    kp_remove_topic_record rt;
    kp_remove_topic_record_init(&rt);
    rt.topic_id = id_of(n);
    cr_assert_eq(sk_meta_apply(img, SK_META_REMOVE_TOPIC, &rt), 0);
}

static const struct sk_topic_meta *by_name(const struct sk_meta_image *img, int n)
{
    char name[32];
    int len = snprintf(name, sizeof name, "topic-%d", n);
    return sk_meta_topic(img, name, (size_t)len);
}

static void set_topic_config(struct sk_meta_image *img, const char *topic, const char *value)
{
    kp_config_record c;
    kp_config_record_init(&c);
    c.resource_type = SK_RESOURCE_TOPIC;
    c.resource_name = kp_str_c(topic);
    c.name = kp_str_c("retention.ms");
    c.value = kp_str_c(value);
    cr_assert_eq(sk_meta_apply(img, SK_META_CONFIG, &c), 0);
}

Test(meta_image, lookups_survive_many_creates_and_deletes)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    for (int i = 0; i < 2000; i++)
        add_topic(&img, i, 1);
    /* Every third topic gone: deletions in the middle of probe runs must not
     * hide the topics placed after them. */
    for (int i = 0; i < 2000; i += 3)
        remove_topic(&img, i);
    for (int i = 0; i < 2000; i++) {
        kp_uuid id = id_of(i);
        const struct sk_topic_meta *t = by_name(&img, i);
        if (i % 3 == 0) {
            cr_assert_null(t, "topic-%d was removed", i);
            cr_assert_null(sk_meta_topic_by_id(&img, &id));
        } else {
            cr_assert_not_null(t, "topic-%d is still there", i);
            cr_assert_eq(sk_meta_topic_by_id(&img, &id), t);
        }
    }
    cr_assert_null(sk_meta_topic(&img, "topic-1\0x", 9), "names are compared with their length");
    cr_assert_null(sk_meta_topic(&img, "topic-", 6));
    sk_meta_image_free(&img);
}

Test(meta_image, a_clone_shares_the_topics_it_did_not_change)
{
    struct sk_meta_image base;
    sk_meta_image_init(&base);
    for (int i = 0; i < 10; i++)
        add_topic(&base, i, 4);
    struct sk_meta_image *v1 = sk_meta_image_clone(&base);
    struct sk_meta_image *v2 = sk_meta_image_clone(v1);
    set_topic_config(v2, "topic-3", "1000");

    for (int i = 0; i < 10; i++)
        if (i != 3)
            cr_assert_eq(by_name(v2, i), by_name(v1, i), "topic-%d is shared", i);
    cr_assert_neq(by_name(v2, 3), by_name(v1, 3), "the changed topic is v2's own copy");
    cr_assert_null(sk_kvlist_get(&by_name(v1, 3)->configs, "retention.ms"),
                   "the older image still sees the topic as it was");
    cr_assert_str_eq(sk_kvlist_get(&by_name(v2, 3)->configs, "retention.ms"), "1000");
    kp_uuid id3 = id_of(3);
    cr_assert_eq(sk_meta_topic_by_id(v2, &id3), by_name(v2, 3), "both tables point at the copy");

    /* A partition change and a removal on the clone leave v1 whole too. */
    kp_partition_change_record pc;
    kp_partition_change_record_init(&pc);
    pc.topic_id = id_of(5);
    pc.partition_id = 2;
    pc.leader = 7;
    cr_assert_eq(sk_meta_apply(v2, SK_META_PARTITION_CHANGE, &pc), 0);
    remove_topic(v2, 6);
    cr_assert_eq(by_name(v1, 5)->partitions[2].leader, 1);
    cr_assert_eq(by_name(v2, 5)->partitions[2].leader, 7);
    cr_assert_not_null(by_name(v1, 6));
    cr_assert_null(by_name(v2, 6));
    cr_assert_eq(v1->ntopics, 10);
    cr_assert_eq(v2->ntopics, 9);

    sk_meta_image_free(&base);
    sk_meta_image_release(v1);
    sk_meta_image_release(v2);
}

/* A ConfigRecord of resource BROKER id ("" for the cluster default). */
static kp_config_record broker_config(const char *id, const char *key, kp_str value)
{
    kp_config_record r;
    kp_config_record_init(&r);
    r.resource_type = SK_RESOURCE_BROKER;
    r.resource_name = kp_str_c(id);
    r.name = kp_str_c(key);
    r.value = value;
    return r;
}

Test(meta_image, a_clone_copies_the_node_wide_parts)
{
    struct sk_meta_image *v1 = malloc(sizeof *v1);
    cr_assert_not_null(v1);
    sk_meta_image_init(v1);
    atomic_init(&v1->refs, 1);
    kp_config_record bc = broker_config("1", "log.retention.ms", kp_str_c("5678"));
    cr_assert_eq(sk_meta_apply(v1, SK_META_CONFIG, &bc), 0);
    kp_register_broker_record rb;
    kp_register_broker_record_init(&rb);
    rb.broker_id = 1;
    kp_register_broker_record_broker_endpoint ep;
    kp_register_broker_record_broker_endpoint_init(&ep);
    ep.name = kp_str_c("PLAINTEXT");
    ep.host = kp_str_c("127.0.0.1");
    rb.end_points = (kp_register_broker_record_broker_endpoint_arr){1, &ep};
    cr_assert_eq(sk_meta_apply(v1, SK_META_REGISTER_BROKER, &rb), 0);

    struct sk_meta_image *v2 = sk_meta_image_clone(v1);
    bc.value = kp_str_c("9");
    cr_assert_eq(sk_meta_apply(v2, SK_META_CONFIG, &bc), 0);
    /* The older image is released first: the clone must own its copies. */
    sk_meta_image_release(v1);
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(v2, 1), "log.retention.ms"), "9");
    cr_assert_str_eq(sk_meta_endpoint(sk_meta_broker(v2, 1), "PLAINTEXT")->host, "127.0.0.1");
    sk_meta_image_release(v2);
}

Test(meta_image, the_last_holder_frees_the_image)
{
    struct sk_meta_image base;
    sk_meta_image_init(&base);
    add_topic(&base, 1, 2);
    struct sk_meta_image *img = sk_meta_image_clone(&base);
    sk_meta_image_free(&base); /* the clone keeps topic-1 alive alone */
    struct sk_meta_image *held = sk_meta_image_ref(img);
    sk_meta_image_release(img);
    cr_assert_not_null(by_name(held, 1), "one holder left: still readable");
    cr_assert_eq(by_name(held, 1)->npartitions, 2);
    sk_meta_image_release(held); /* ASan reports a leak if this did not free it */
    sk_meta_image_release(NULL);
}

struct diff_seen {
    int created, deleted, changed;
    const struct sk_topic_meta *changed_was, *changed_now;
};

static void count_change(void *arg, const struct sk_topic_meta *was,
                         const struct sk_topic_meta *now)
{
    struct diff_seen *d = arg;
    if (!was) {
        d->created++;
    } else if (!now) {
        d->deleted++;
    } else {
        d->changed++;
        d->changed_was = was;
        d->changed_now = now;
    }
}

Test(meta_image, the_diff_names_exactly_the_topics_a_change_touched)
{
    struct sk_meta_image base;
    sk_meta_image_init(&base);
    for (int i = 0; i < 100; i++)
        add_topic(&base, i, 2);
    struct sk_meta_image *v1 = sk_meta_image_clone(&base);
    set_topic_config(&base, "topic-7", "5");
    remove_topic(&base, 8);
    add_topic(&base, 1000, 1);
    struct sk_meta_image *v2 = sk_meta_image_clone(&base);

    struct diff_seen d = {0};
    sk_meta_topics_diff(v1, v2, count_change, &d);
    cr_assert_eq(d.created, 1);
    cr_assert_eq(d.deleted, 1);
    cr_assert_eq(d.changed, 1, "the other 97 topics are shared, not changed");
    cr_assert_eq(d.changed_was, by_name(v1, 7));
    cr_assert_eq(d.changed_now, by_name(v2, 7));

    struct diff_seen none = {0};
    sk_meta_topics_diff(v2, v2, count_change, &none);
    cr_assert_eq(none.created + none.deleted + none.changed, 0);
    sk_meta_image_release(v1);
    sk_meta_image_release(v2);
    sk_meta_image_free(&base);
}

/* Kafka 3.3+ controllers fence and unfence with BrokerRegistrationChangeRecord;
 * a change for another registration's epoch means a damaged log. */
Test(meta_image, registration_changes_fence_and_unfence_one_epoch)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    kp_register_broker_record rb;
    kp_register_broker_record_init(&rb);
    rb.broker_id = 2;
    rb.broker_epoch = 40;
    rb.fenced = true;
    cr_assert_eq(sk_meta_apply(&img, SK_META_REGISTER_BROKER, &rb), 0);
    cr_assert(sk_meta_broker(&img, 2)->fenced);

    kp_broker_registration_change_record ch;
    kp_broker_registration_change_record_init(&ch);
    ch.broker_id = 2;
    ch.broker_epoch = 40;
    ch.fenced = -1;
    cr_assert_eq(sk_meta_apply(&img, SK_META_BROKER_REGISTRATION_CHANGE, &ch), 0);
    cr_assert_not(sk_meta_broker(&img, 2)->fenced);
    ch.fenced = 0;
    ch.in_controlled_shutdown = 1;
    cr_assert_eq(sk_meta_apply(&img, SK_META_BROKER_REGISTRATION_CHANGE, &ch), 0);
    cr_assert_not(sk_meta_broker(&img, 2)->fenced);
    cr_assert(sk_meta_broker(&img, 2)->in_controlled_shutdown);
    ch.fenced = 1;
    cr_assert_eq(sk_meta_apply(&img, SK_META_BROKER_REGISTRATION_CHANGE, &ch), 0);
    cr_assert(sk_meta_broker(&img, 2)->fenced);

    ch.broker_epoch = 39;
    ch.fenced = -1;
    cr_assert_eq(sk_meta_apply(&img, SK_META_BROKER_REGISTRATION_CHANGE, &ch), -EINVAL);
    ch.broker_id = 3;
    ch.broker_epoch = 40;
    cr_assert_eq(sk_meta_apply(&img, SK_META_BROKER_REGISTRATION_CHANGE, &ch), -EINVAL);
    cr_assert(sk_meta_broker(&img, 2)->fenced);
    sk_meta_image_free(&img);
}

Test(meta_image, each_broker_keeps_its_own_dynamic_configs)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    const char *k = "leader.replication.throttled.rate";
    const char *sets[][2] = {{"2", "1000"}, {"", "5000"}, {"3", "3000"}};
    for (size_t i = 0; i < 3; i++) {
        kp_config_record r = broker_config(sets[i][0], k, kp_str_c(sets[i][1]));
        cr_assert_eq(sk_meta_apply(&img, SK_META_CONFIG, &r), 0);
    }
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(&img, 2), k), "1000");
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(&img, 3), k), "3000");
    cr_assert_null(sk_kvlist_get(sk_meta_broker_configs(&img, 1), k), "not broker 2's or 3's");
    cr_assert_str_eq(sk_kvlist_get(&img.cluster_configs, k), "5000");
    /* A removal is a null value. */
    kp_config_record r = broker_config("2", k, KP_STR_NULL);
    cr_assert_eq(sk_meta_apply(&img, SK_META_CONFIG, &r), 0);
    cr_assert_null(sk_kvlist_get(sk_meta_broker_configs(&img, 2), k));
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(&img, 3), k), "3000");
    sk_meta_image_free(&img);
}
