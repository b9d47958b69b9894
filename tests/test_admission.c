/* Admission arithmetic: Kafka's per-operation record bound and the partition
 * budget derived from descriptors and memory; and the controller refusing,
 * before anything is recorded, what goes past them. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/admission.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/metalog.h"
#include "skein/partition.h"
#include "skein/publisher.h"
#include "skein/submit.h"

#define GIB (1024ull * 1024 * 1024)

static struct sk_partition_budget budget(uint64_t nofile, int64_t conns, uint64_t mem,
                                         int32_t configured)
{
    struct sk_budget_inputs in = {nofile, conns, mem, configured};
    struct sk_partition_budget b;
    sk_partition_budget_compute(&in, &b);
    return b;
}

Test(admission, descriptors_left_after_the_reserve_carry_partitions_with_headroom)
{
    struct sk_partition_budget b = budget(20000, INT32_MAX, 24 * GIB, -1);
    /* 64 fixed + 1024 connections x 3 = 3136; (20000 - 3136) / 1.25 = 13491 */
    cr_assert_eq(b.reserved_fds, 3136);
    cr_assert_eq(b.by_fds, 13491);
    cr_assert_eq(b.by_memory, (int64_t)(24 * GIB / 2 / SK_PARTITION_MEM_BYTES));
    cr_assert_eq(b.limit, 13491);
    cr_assert(b.set);
}

Test(admission, a_lower_max_connections_reserves_less)
{
    struct sk_partition_budget b = budget(1000, 10, 24 * GIB, -1);
    cr_assert_eq(b.reserved_fds, 64 + 30);
    cr_assert_eq(b.limit, (1000 - 94) * 100 / 125);
}

Test(admission, a_limit_below_the_reserve_admits_nothing)
{
    struct sk_partition_budget b = budget(1024, INT32_MAX, 24 * GIB, -1);
    cr_assert_eq(b.by_fds, 0);
    cr_assert_eq(b.limit, 0);
}

Test(admission, memory_and_the_setting_bound_it_too)
{
    cr_assert_eq(budget(1 << 20, INT32_MAX, 1 * GIB, -1).limit,
                 (int64_t)(GIB / 2 / SK_PARTITION_MEM_BYTES));
    cr_assert_eq(budget(20000, INT32_MAX, 24 * GIB, 500).limit, 500);
    /* A setting above what the descriptors carry cannot take their reserve. */
    cr_assert_eq(budget(20000, INT32_MAX, 24 * GIB, 100000).limit, 13491);
}

Test(admission, ten_thousand_records_pass_and_one_more_is_a_policy_violation)
{
    char msg[128] = "";
    cr_assert_eq(sk_admit_records(SK_MAX_RECORDS_PER_USER_OP, msg, sizeof msg), SK_ERR_NONE);
    cr_assert_eq(sk_admit_records(SK_MAX_RECORDS_PER_USER_OP + 1, msg, sizeof msg),
                 SK_ERR_POLICY_VIOLATION);
    cr_assert_str_eq(msg, "Unable to perform excessively large batch operation.");
}

Test(admission, partitions_past_the_budget_are_refused_naming_it_and_the_setting)
{
    struct sk_partition_budget b = budget(20000, INT32_MAX, 24 * GIB, -1);
    char msg[512] = "";
    cr_assert_eq(sk_admit_partitions(&b, 1, 13000, 491, msg, sizeof msg), SK_ERR_NONE);
    cr_assert_eq(sk_admit_partitions(&b, 1, 13000, 492, msg, sizeof msg),
                 SK_ERR_POLICY_VIOLATION);
    cr_assert(strstr(msg, "limit of 13491") && strstr(msg, "skein.max.partitions.per.shard") &&
              strstr(msg, "open-file limit 20000"), "message: %s", msg);
    struct sk_partition_budget none = {0};
    cr_assert_eq(sk_admit_partitions(&none, 1, 1 << 30, 1 << 30, msg, sizeof msg), SK_ERR_NONE);
}

/* ---- the controller ------------------------------------------------------------ */

static char dir[64];
static struct sk_config cfg;
static struct sk_node brnode;
static struct sk_broker br;

/* What the server subscribes a shard with: partitions follow the image. */
static int follow_image(struct sk_broker *shard, const struct sk_meta_image *old)
{
    (void)old;
    return sk_broker_metadata_changed(shard);
}

static void open_broker(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-adm-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char logdirs[128];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[] = {logdirs};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 1, err, sizeof err), 0, "%s", err);
    memset(&br, 0, sizeof br);
    memset(&brnode, 0, sizeof brnode);
    br.node = &brnode;
    br.image = &brnode.image;
    brnode.cfg = &cfg;
    br.cfg = &cfg;
    brnode.node_id = cfg.node_id;
    brnode.subscriber = follow_image;
    sk_meta_image_init(br.image);
    cr_assert_eq(sk_metalog_open(dir, br.image, sk_wall_ms(), &brnode.metalog), 0);
    kp_register_broker_record r;
    kp_register_broker_record_init(&r);
    r.broker_id = brnode.node_id;
    r.fenced = false;
    struct sk_meta_rec rec = {SK_META_REGISTER_BROKER, 0, &r};
    cr_assert_eq(sk_metalog_append(brnode.metalog, br.image, &rec, 1, sk_wall_ms()), 0);
}

static void close_broker(void)
{
    sk_partitions_close_all(&br);
    sk_ctl_submit_close(&brnode);
    sk_metalog_close(brnode.metalog);
    sk_publish_close(&br);
    sk_publish_node_close(&brnode);
    sk_meta_image_free(&brnode.image);
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int16_t create(const char *name, int32_t partitions, bool validate_only, char *msg)
{
    struct sk_topic_spec s = {.name = kp_str_c(name), .partitions = partitions,
                              .replication_factor = 1};
    return sk_topic_create(&br, &s, validate_only, msg, 512);
}

Test(admission, a_topic_of_ten_thousand_partitions_is_refused_unrecorded, .init = open_broker,
     .fini = close_broker)
{
    char msg[512];
    int64_t end = sk_metalog_end_offset(brnode.metalog);
    /* A TopicRecord and 10,000 PartitionRecords: one record too many. */
    cr_assert_eq(create("huge", 10000, true, msg), SK_ERR_POLICY_VIOLATION);
    cr_assert_eq(create("huge", 10000, false, msg), SK_ERR_POLICY_VIOLATION);
    cr_assert_str_eq(msg, "Unable to perform excessively large batch operation.");
    cr_assert_eq(sk_metalog_end_offset(brnode.metalog), end, "nothing was recorded");
    cr_assert_null(sk_meta_topic(br.image, "huge", 4));
}

Test(admission, the_budget_refuses_creations_and_new_partitions_unrecorded, .init = open_broker,
     .fini = close_broker)
{
    char msg[512];
    struct sk_budget_inputs in = {20000, INT32_MAX, 24 * GIB, 5};
    sk_partition_budget_compute(&in, &brnode.budget);
    cr_assert_eq(create("a", 3, false, msg), SK_ERR_NONE, "%s", msg);
    int64_t end = sk_metalog_end_offset(brnode.metalog);
    cr_assert_eq(create("b", 3, false, msg), SK_ERR_POLICY_VIOLATION);
    cr_assert(strstr(msg, "limit of 5"), "%s", msg);
    cr_assert_eq(sk_partitions_add(&br, kp_str_c("a"), 6, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_POLICY_VIOLATION);
    cr_assert_eq(sk_metalog_end_offset(brnode.metalog), end, "nothing was recorded");
    cr_assert_eq(sk_partitions_add(&br, kp_str_c("a"), 5, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_NONE, "%s", msg);
    /* Auto-creation obeys the same budget, one topic or a Metadata request's. */
    cr_assert_neq(sk_topic_auto_create(&br, kp_str_c("auto")), 0);
    cr_assert_null(sk_meta_topic(br.image, "auto", 4));
    kp_str names[] = {kp_str_c("auto1"), kp_str_c("auto2")};
    int16_t errs[2];
    cr_assert_eq(sk_topics_auto_create(&br, names, 2, errs, msg, sizeof msg),
                 SK_ERR_POLICY_VIOLATION);
    cr_assert(strstr(msg, "limit of 5"), "%s", msg);
    cr_assert_null(sk_meta_topic(br.image, "auto1", 5));
    cr_assert_eq(sk_metalog_end_offset(brnode.metalog), end + 2, "only the 2 new partitions were recorded");
}
