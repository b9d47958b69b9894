/* The metadata image, its log and its snapshots. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/meta_snapshot.h"
#include "skein/metalog.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-meta-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A cluster's worth of changes: a broker, a feature, a topic with three
 * partitions and a config, a dynamic broker config, a quota, producer ids. */
static void populate(struct sk_metalog *ml, struct sk_meta_image *img)
{
    kp_register_broker_record rb;
    kp_register_broker_record_init(&rb);
    rb.broker_id = 1;
    rb.broker_epoch = 7;
    kp_register_broker_record_broker_endpoint ep;
    kp_register_broker_record_broker_endpoint_init(&ep);
    ep.name = kp_str_c("PLAINTEXT");
    ep.host = kp_str_c("127.0.0.1");
    ep.port = 9092;
    rb.end_points = (kp_register_broker_record_broker_endpoint_arr){1, &ep};
    rb.fenced = false;
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = kp_str_c("metadata.version");
    fl.feature_level = 21;
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c("orders");
    tr.topic_id.b[0] = 42;
    int32_t one = 1;
    kp_partition_record pr[3];
    struct sk_meta_rec recs[12] = {
        {SK_META_REGISTER_BROKER, 3, &rb}, {SK_META_FEATURE_LEVEL, 0, &fl}, {SK_META_TOPIC, 0, &tr}};
    for (int i = 0; i < 3; i++) {
        kp_partition_record_init(&pr[i]);
        pr[i].partition_id = i;
        pr[i].topic_id = tr.topic_id;
        pr[i].replicas = (kp_arr_i32){1, &one};
        pr[i].isr = (kp_arr_i32){1, &one};
        pr[i].leader = 1;
        pr[i].leader_epoch = i;
        recs[3 + i] = (struct sk_meta_rec){SK_META_PARTITION, 0, &pr[i]};
    }
    kp_config_record tc, bc;
    kp_config_record_init(&tc);
    tc.resource_type = SK_RESOURCE_TOPIC;
    tc.resource_name = kp_str_c("orders");
    tc.name = kp_str_c("retention.ms");
    tc.value = kp_str_c("1234");
    kp_config_record_init(&bc);
    bc.resource_type = SK_RESOURCE_BROKER;
    bc.resource_name = kp_str_c("1");
    bc.name = kp_str_c("log.retention.ms");
    bc.value = kp_str_c("5678");
    kp_client_quota_record q;
    kp_client_quota_record_init(&q);
    kp_client_quota_record_entity_data ent;
    kp_client_quota_record_entity_data_init(&ent);
    ent.entity_type = kp_str_c("user");
    ent.entity_name = kp_str_c("alice");
    q.entity = (kp_client_quota_record_entity_data_arr){1, &ent};
    q.key = kp_str_c("producer_byte_rate");
    q.value = 1024;
    kp_producer_ids_record pid;
    kp_producer_ids_record_init(&pid);
    pid.next_producer_id = 1000;
    recs[6] = (struct sk_meta_rec){SK_META_CONFIG, 0, &tc};
    recs[7] = (struct sk_meta_rec){SK_META_CONFIG, 0, &bc};
    recs[8] = (struct sk_meta_rec){SK_META_CLIENT_QUOTA, 0, &q};
    recs[9] = (struct sk_meta_rec){SK_META_PRODUCER_IDS, 0, &pid};
    cr_assert_eq(sk_metalog_append(ml, img, recs, 10, 1000), 0);
}

static void check_image(const struct sk_meta_image *img)
{
    const struct sk_topic_meta *t = sk_meta_topic(img, "orders", 6);
    cr_assert_not_null(t);
    cr_assert_eq(t->npartitions, 3);
    cr_assert_eq(t->partitions[2].leader_epoch, 2);
    cr_assert_str_eq(sk_kvlist_get(&t->configs, "retention.ms"), "1234");
    cr_assert_str_eq(sk_kvlist_get(&img->broker_configs, "log.retention.ms"), "5678");
    const struct sk_broker_meta *b = sk_meta_broker(img, 1);
    cr_assert_not_null(b);
    cr_assert_eq(b->endpoints[0].port, 9092);
    cr_assert_eq(sk_meta_feature(img, "metadata.version"), 21);
    cr_assert_eq(img->nquotas, 1);
    cr_assert_str_eq(img->quotas[0].entity, "user=alice");
    cr_assert_eq(img->next_producer_id, 1000);
}

Test(meta, log_replays_into_the_same_image, .init = setup, .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    populate(ml, &img);
    check_image(&img);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 2000, &ml), 0);
    check_image(&img);
    cr_assert_eq(img.last_offset, 9);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

Test(meta, snapshot_rebuilds_the_image_and_replay_continues_after_it, .init = setup,
     .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    sk_metalog_set_snapshot_policy(ml, 1, 1); /* snapshot after every append */
    populate(ml, &img);
    /* One more change after the snapshot: a removed topic. */
    kp_remove_topic_record rt;
    kp_remove_topic_record_init(&rt);
    rt.topic_id.b[0] = 42;
    struct sk_meta_rec rec = {SK_META_REMOVE_TOPIC, 0, &rt};
    sk_metalog_set_snapshot_policy(ml, 1, 0);
    cr_assert_eq(sk_metalog_append(ml, &img, &rec, 1, 2000), 0);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    char part[400];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", dir);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), 10);

    struct sk_meta_image snap;
    sk_meta_image_init(&snap);
    cr_assert_eq(sk_meta_snapshot_load(part, 10, &snap), 0);
    check_image(&snap);
    sk_meta_image_free(&snap);

    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 3000, &ml), 0);
    cr_assert_null(sk_meta_topic(&img, "orders", 6), "the removal after the snapshot is replayed");
    cr_assert_eq(img.last_offset, 10);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

Test(meta, contradicting_records_are_refused)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    kp_partition_record pr;
    kp_partition_record_init(&pr);
    pr.partition_id = 0; /* of a topic the image does not have */
    cr_assert_lt(sk_meta_apply(&img, SK_META_PARTITION, &pr), 0);
    sk_meta_image_free(&img);
}

static int append_topic(struct sk_metalog *ml, struct sk_meta_image *img, const char *name,
                        uint8_t id)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id.b[0] = id;
    struct sk_meta_rec rec = {SK_META_TOPIC, 0, &tr};
    return sk_metalog_append(ml, img, &rec, 1, 1000);
}

/* A change whose sync failed is not applied, and none after it is taken
 * until a restart: a later sync could succeed on pages the kernel dropped
 * (the partition log's rule, tests/test_log.c). Injected through
 * skein/fault.h as the fault harness does. */
Test(meta, failed_sync_stops_changes_until_restart, .init = setup, .fini = teardown)
{
    char ctl[300];
    snprintf(ctl, sizeof ctl, "%s.fault", dir);
    cr_assert_eq(setenv("SKEIN_FAULT_CTL", ctl, 1), 0);
    cr_assert_eq(setenv("SKEIN_FAULT_DIR", dir, 1), 0);
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    cr_assert_eq(append_topic(ml, &img, "before", 1), 0);
    FILE *f = fopen(ctl, "w");
    cr_assert_not_null(f);
    fputs("fsync\n", f);
    fclose(f);
    cr_assert_lt(append_topic(ml, &img, "failed", 2), 0);
    cr_assert_eq(unlink(ctl), 0);
    int rc = append_topic(ml, &img, "after", 3);
    cr_assert_lt(rc, 0, "a change was taken after a failed sync");
    cr_assert_not_null(sk_meta_topic(&img, "before", 6));
    cr_assert_null(sk_meta_topic(&img, "failed", 6));
    cr_assert_null(sk_meta_topic(&img, "after", 5));
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    /* a restart replays what the disk holds and takes changes again */
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 2000, &ml), 0);
    cr_assert_not_null(sk_meta_topic(&img, "before", 6));
    cr_assert_eq(append_topic(ml, &img, "after", 3), 0);
    cr_assert_not_null(sk_meta_topic(&img, "after", 5));
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}
