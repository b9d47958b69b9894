/* The metadata image, its log and its snapshots. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/meta_snapshot.h"

#include "deferred_syncer.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/record.h"

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
    pr[1].leader_recovery_state = SK_LEADER_RECOVERING; /* an unclean election's (KIP-704) */
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
    cr_assert_eq(t->partitions[1].leader_recovery_state, SK_LEADER_RECOVERING);
    cr_assert_eq(t->partitions[2].leader_recovery_state, SK_LEADER_RECOVERED);
    cr_assert_str_eq(sk_kvlist_get(&t->configs, "retention.ms"), "1234");
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(img, 1), "log.retention.ms"), "5678");
    const struct sk_broker_meta *b = sk_meta_broker(img, 1);
    cr_assert_not_null(b);
    cr_assert_eq(b->endpoints[0].port, 9092);
    cr_assert_eq(sk_meta_feature(img, "metadata.version"), 21);
    cr_assert_eq(img->nquotas, 1);
    struct sk_quota_part alice = {kp_str_c("user"), kp_str_c("alice")};
    cr_assert(sk_quota_entry_is(&img->quotas[0], &alice, 1));
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
    sk_metalog_set_snapshot_policy(ml, 1, 0); /* snapshot after every append */
    populate(ml, &img);
    /* One more change after the snapshot: a removed topic. */
    kp_remove_topic_record rt;
    kp_remove_topic_record_init(&rt);
    rt.topic_id.b[0] = 42;
    struct sk_meta_rec rec = {SK_META_REMOVE_TOPIC, 0, &rt};
    sk_metalog_set_snapshot_policy(ml, 0, 0);
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

/* metadata.log.max.snapshot.interval.ms: a snapshot once the last is that
 * old and records came since; none by time while nothing changes. */
static void feature(struct sk_metalog *ml, struct sk_meta_image *img, int16_t level, int64_t now)
{
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = kp_str_c("metadata.version");
    fl.feature_level = level;
    struct sk_meta_rec rec = {SK_META_FEATURE_LEVEL, 0, &fl};
    cr_assert_eq(sk_metalog_append(ml, img, &rec, 1, now), 0);
}

Test(meta, snapshot_by_time_once_the_interval_passes_with_records_since, .init = setup,
     .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    char part[400];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", dir);
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    sk_metalog_set_snapshot_policy(ml, 0, 60000);
    feature(ml, &img, 20, 2000);
    cr_assert_lt(sk_meta_snapshot_latest(part, INT64_MAX), 0, "not yet: the interval runs");
    feature(ml, &img, 21, 61000);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), 2, "the interval passed");
    feature(ml, &img, 21, 62000);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), 2, "the interval starts again");
    feature(ml, &img, 20, 122000);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), 4);
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

/* ---- bounds of the metadata log ------------------------------------------------ */

/* Appends one batch straight to the log, as a writer without the bounds
 * (or a damaged one) could have: values[i] of lens[i] bytes. */
static void append_raw(const uint8_t *const *values, const int32_t *lens, int n)
{
    struct sk_plog_config cfg;
    sk_plog_config_default(&cfg);
    struct sk_plog_open_opts opts = {.log_dir = dir, .topic = SK_METALOG_TOPIC,
                                     .recovery_point = -1, .log_start_offset = -1,
                                     .now_ms = 1000};
    struct sk_plog *plog;
    cr_assert_eq(sk_plog_open(&opts, &cfg, &plog, NULL), 0);
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = sk_plog_next_offset(plog);
    struct sk_batch_builder b;
    sk_batch_builder_init(&b, &spec);
    for (int i = 0; i < n; i++) {
        struct sk_record_in in = {.timestamp = 1000, .key_len = -1, .value = values[i],
                                  .value_len = lens[i]};
        cr_assert_eq(sk_batch_builder_add(&b, &in), 0);
    }
    struct sk_buf out = {0};
    cr_assert_eq(sk_batch_builder_finish(&b, &out), 0);
    sk_batch_builder_free(&b);
    cr_assert_eq(sk_plog_append(plog, out.data, out.len, 1000, NULL), 0);
    cr_assert_eq(sk_plog_flush(plog, 1000), 0);
    sk_plog_close(plog);
    sk_buf_free(&out);
}

static uint8_t *encoded(int16_t type, const void *rec, int32_t *len)
{
    size_t n = sk_meta_record_size(type, 0, rec);
    uint8_t *v = malloc(n);
    cr_assert_geq(sk_meta_record_encode(v, n, type, 0, rec), 0);
    *len = (int32_t)n;
    return v;
}

/* A topic of n partitions, and nbig configs of 512 KiB each, as one raw batch
 * (what one CreateTopics wrote before changes were bounded). */
static void append_raw_topic(const char *name, uint8_t id, int n, int nbig)
{
    int total = 1 + n + nbig;
    uint8_t **values = calloc((size_t)total, sizeof *values);
    int32_t *lens = calloc((size_t)total, sizeof *lens);
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(name);
    tr.topic_id.b[0] = id;
    values[0] = encoded(SK_META_TOPIC, &tr, &lens[0]);
    int32_t one = 1;
    for (int i = 0; i < n; i++) {
        kp_partition_record pr;
        kp_partition_record_init(&pr);
        pr.partition_id = i;
        pr.topic_id = tr.topic_id;
        pr.replicas = (kp_arr_i32){1, &one};
        pr.isr = (kp_arr_i32){1, &one};
        pr.leader = 1;
        values[i + 1] = encoded(SK_META_PARTITION, &pr, &lens[i + 1]);
    }
    size_t big = 512 * 1024;
    char *v = malloc(big + 1);
    memset(v, 'v', big);
    v[big] = 0;
    for (int i = 0; i < nbig; i++) {
        char key[32];
        snprintf(key, sizeof key, "skein.test.%d", i);
        kp_config_record cr;
        kp_config_record_init(&cr);
        cr.resource_type = 2;
        cr.resource_name = kp_str_c(name);
        cr.name = kp_str_c(key);
        cr.value = kp_str_c(v);
        values[1 + n + i] = encoded(SK_META_CONFIG, &cr, &lens[1 + n + i]);
    }
    free(v);
    append_raw((const uint8_t *const *)values, lens, total);
    for (int i = 0; i < total; i++)
        free(values[i]);
    free(values);
    free(lens);
}

/* The log of issue 17: one batch (there of 100,001 records, about 3 MiB) more
 * than the loader's first read buffer once made the node unable to start. */
Test(meta, a_batch_larger_than_the_read_buffer_loads, .init = setup, .fini = teardown)
{
    append_raw_topic("huge", 7, 5000, 4); /* about 2.1 MiB */
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    const struct sk_topic_meta *t = sk_meta_topic(&img, "huge", 4);
    cr_assert_not_null(t);
    cr_assert_eq(t->npartitions, 5000);
    cr_assert_eq(t->configs.n, 4);
    cr_assert_eq(img.last_offset, 5004);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

Test(meta, a_change_over_the_batch_bounds_is_refused_unwritten, .init = setup, .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    int n = SK_METALOG_MAX_BATCH_RECORDS + 1;
    struct sk_meta_rec *recs = calloc((size_t)n, sizeof *recs);
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = kp_str_c("metadata.version");
    fl.feature_level = 21;
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_meta_rec){SK_META_FEATURE_LEVEL, 0, &fl};
    cr_assert_eq(sk_metalog_append(ml, &img, recs, n, 1000), -EMSGSIZE);
    cr_assert_eq(sk_metalog_end_offset(ml), 0, "nothing was written");
    /* 8 MiB: one config record with a value of 9 MiB. */
    size_t big = 9u << 20;
    char *v = malloc(big + 1);
    memset(v, 'x', big);
    v[big] = 0;
    kp_config_record cr;
    kp_config_record_init(&cr);
    cr.resource_type = 2;
    cr.resource_name = kp_str_c("t");
    cr.name = kp_str_c("k");
    cr.value = kp_str_c(v);
    struct sk_meta_rec one = {SK_META_CONFIG, 0, &cr};
    cr_assert_eq(sk_metalog_append(ml, &img, &one, 1, 1000), -EMSGSIZE);
    cr_assert_eq(sk_metalog_end_offset(ml), 0, "nothing was written");
    cr_assert_eq(sk_metalog_append(ml, &img, recs, SK_METALOG_MAX_BATCH_RECORDS, 1000), 0);
    cr_assert_eq(sk_metalog_end_offset(ml), SK_METALOG_MAX_BATCH_RECORDS);
    free(v);
    free(recs);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

Test(meta, an_unloadable_batch_is_named_and_can_be_cut_off, .init = setup, .fini = teardown)
{
    append_raw_topic("kept", 1, 2, 0);
    const uint8_t junk[] = {0x00, 0x63, 0x00, 0x01, 0x02};
    const uint8_t *values[] = {junk};
    int32_t lens[] = {sizeof junk};
    append_raw(values, lens, 1);          /* offset 3: does not decode */
    append_raw_topic("lost", 2, 1, 0);       /* offsets 4-5: after it */

    struct sk_meta_image img;
    struct sk_metalog *ml = NULL;
    struct sk_metalog_failure why;
    sk_meta_image_init(&img);
    cr_assert_lt(sk_metalog_open_ex(dir, &img, 1000, false, &why, &ml), 0);
    cr_assert_eq(why.offset, 3, "the failure names the batch at offset 3, not %lld",
                 (long long)why.offset);
    cr_assert_not(why.in_snapshot);
    sk_meta_image_free(&img);

    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open_ex(dir, &img, 1000, true, &why, &ml), 0);
    cr_assert_eq(sk_metalog_end_offset(ml), 3, "the log is cut at the batch");
    cr_assert_not_null(sk_meta_topic(&img, "kept", 4));
    cr_assert_null(sk_meta_topic(&img, "lost", 4));
    cr_assert_eq(img.last_offset, 2);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0, "the cut log loads by itself");
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

/* Names and values are bytes: a zero byte or a comma inside one survives
 * the image, the log replay and a snapshot. */
static void check_wire_strings(const struct sk_meta_image *img)
{
    kp_str value = {"0:1,\0" "2:3", 8};
    const struct sk_topic_meta *t = sk_meta_topic(img, "ws", 2);
    cr_assert_not_null(t);
    cr_assert(kp_str_eq(sk_kvlist_bytes(&t->configs, "follower.replication.throttled.replicas"),
                        value));
    struct sk_quota_part want[2] = {{kp_str_c("user"), kp_str_c("CN=a,OU=b")},
                                    {kp_str_c("client-id"), {"x\0y", 3}}};
    struct sk_quota_part cut[2] = {{kp_str_c("user"), kp_str_c("CN=a")},
                                   {kp_str_c("client-id"), kp_str_c("x")}};
    cr_assert_eq(img->nquotas, 1);
    cr_assert(sk_quota_entry_is(&img->quotas[0], want, 2));
    cr_assert(!sk_quota_entry_is(&img->quotas[0], cut, 2));
}

Test(meta, wire_strings_survive_replay_and_snapshot, .init = setup, .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    sk_metalog_set_snapshot_policy(ml, 1, 0);
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c("ws");
    tr.topic_id.b[0] = 7;
    kp_config_record tc;
    kp_config_record_init(&tc);
    tc.resource_type = SK_RESOURCE_TOPIC;
    tc.resource_name = kp_str_c("ws");
    tc.name = kp_str_c("follower.replication.throttled.replicas");
    tc.value = (kp_str){"0:1,\0" "2:3", 8};
    kp_client_quota_record q;
    kp_client_quota_record_init(&q);
    kp_client_quota_record_entity_data ent[2];
    kp_client_quota_record_entity_data_init(&ent[0]);
    kp_client_quota_record_entity_data_init(&ent[1]);
    ent[0].entity_type = kp_str_c("user");
    ent[0].entity_name = kp_str_c("CN=a,OU=b");
    ent[1].entity_type = kp_str_c("client-id");
    ent[1].entity_name = (kp_str){"x\0y", 3};
    q.entity = (kp_client_quota_record_entity_data_arr){2, ent};
    q.key = kp_str_c("producer_byte_rate");
    q.value = 10;
    struct sk_meta_rec recs[] = {{SK_META_TOPIC, 0, &tr}, {SK_META_CONFIG, 0, &tc},
                                 {SK_META_CLIENT_QUOTA, 0, &q}};
    cr_assert_eq(sk_metalog_append(ml, &img, recs, 3, 1000), 0);
    check_wire_strings(&img);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 2000, &ml), 0);
    check_wire_strings(&img);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    char part[400];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", dir);
    int64_t end = sk_meta_snapshot_latest(part, INT64_MAX);
    cr_assert_gt(end, 0);
    sk_meta_image_init(&img);
    cr_assert_eq(sk_meta_snapshot_load(part, end, &img), 0);
    check_wire_strings(&img);
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

/* While serving, a snapshot goes through the shard's syncer: the append that
 * triggers it does not wait, the log below it stays until the snapshot is
 * durable, and a failed one keeps the log and is tried again. */
Test(meta, snapshot_through_the_syncer_deletes_the_log_only_once_durable, .init = setup,
     .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    struct deferred_syncer ds;
    ds_init(&ds);
    char part[400];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", dir);
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    sk_metalog_set_syncer(ml, &ds.syncer);
    sk_metalog_set_snapshot_policy(ml, 1, 0);
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = kp_str_c("metadata.version");
    fl.feature_level = 20;
    struct sk_meta_rec rec = {SK_META_FEATURE_LEVEL, 0, &fl};
    cr_assert_eq(sk_metalog_append(ml, &img, &rec, 1, 2000), 0);
    cr_assert_eq(ds_pending(&ds), 1, "the snapshot's sync did not go to the syncer");
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), -1, "in place before its sync");
    ds_complete_all(&ds, -EIO);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), -1, "in place after a failed sync");
    fl.feature_level = 21;
    cr_assert_eq(sk_metalog_append(ml, &img, &rec, 1, 3000), 0);
    cr_assert_eq(ds_pending(&ds), 1, "not tried again after the failure");
    ds_complete_all(&ds, 0);
    cr_assert_eq(sk_meta_snapshot_latest(part, INT64_MAX), 2);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    /* both records were kept: by the snapshot, the log or both */
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 4000, &ml), 0);
    cr_assert_eq(img.last_offset, 1);
    cr_assert_eq(sk_meta_feature(&img, "metadata.version"), 21);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

/* KIP-919: a controller's registration is kept by id, replaced by its next
 * incarnation's, and carried by snapshots. */
static void register_controller(struct sk_metalog *ml, struct sk_meta_image *img, int32_t id,
                                uint8_t incarnation, uint16_t port, int64_t now)
{
    kp_register_controller_record r;
    kp_register_controller_record_init(&r);
    r.controller_id = id;
    r.incarnation_id.b[0] = incarnation;
    kp_register_controller_record_controller_endpoint ep;
    kp_register_controller_record_controller_endpoint_init(&ep);
    ep.name = kp_str_c("CONTROLLER");
    ep.host = kp_str_c("127.0.0.1");
    ep.port = port;
    r.end_points = (kp_register_controller_record_controller_endpoint_arr){1, &ep};
    struct sk_meta_rec rec = {SK_META_REGISTER_CONTROLLER, 0, &r};
    cr_assert_eq(sk_metalog_append(ml, img, &rec, 1, now), 0);
}

Test(meta, controller_registrations_replace_by_id_and_survive_snapshots, .init = setup,
     .fini = teardown)
{
    struct sk_meta_image img;
    struct sk_metalog *ml;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open(dir, &img, 1000, &ml), 0);
    register_controller(ml, &img, 1, 7, 9093, 1000);
    register_controller(ml, &img, 2, 7, 9094, 1000);
    sk_metalog_set_snapshot_policy(ml, 1, 0); /* snapshot after the next append */
    register_controller(ml, &img, 1, 8, 9095, 2000);
    cr_assert_eq(img.ncontrollers, 2);
    cr_assert_eq(img.nbrokers, 0, "controllers are not brokers");
    sk_metalog_close(ml);
    sk_meta_image_free(&img);

    char part[400];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", dir);
    struct sk_meta_image snap;
    sk_meta_image_init(&snap);
    cr_assert_eq(sk_meta_snapshot_load(part, sk_meta_snapshot_latest(part, INT64_MAX), &snap), 0);
    const struct sk_broker_meta *c = sk_meta_controller(&snap, 1);
    cr_assert_not_null(c);
    cr_assert_eq(c->incarnation.b[0], 8, "the later incarnation's");
    cr_assert_eq(c->nendpoints, 1);
    cr_assert_str_eq(c->endpoints[0].listener, "CONTROLLER");
    cr_assert_eq(c->endpoints[0].port, 9095);
    cr_assert_not_null(sk_meta_controller(&snap, 2));
    struct sk_meta_image *copy = sk_meta_image_clone(&snap);
    cr_assert_eq(sk_meta_controller(copy, 2)->endpoints[0].port, 9094, "a clone keeps them");
    sk_meta_image_release(copy);
    sk_meta_image_free(&snap);
}
