/* Client quotas: Kafka's windowed rate and throttle time, and which quota
 * entity applies to a client. */
#include <criterion/criterion.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/meta.h"
#include "skein/quota.h"
#include "skein/repl_quota.h"

#define W 1000u /* quota.window.size.seconds=1 */

Test(rate, a_fresh_client_is_measured_over_samples_minus_one_windows)
{
    struct sk_rate r;
    cr_assert_eq(sk_rate_init(&r, 11, W), 0);
    sk_rate_record(&r, 1000, 5000);
    cr_assert_eq(sk_rate_window(&r, 5000), 10 * W);
    cr_assert_float_eq(sk_rate_measure(&r, 5000), 100.0, 1e-9);
    sk_rate_free(&r);
}

Test(rate, throttle_brings_the_rate_back_to_the_bound)
{
    struct sk_rate r;
    sk_rate_init(&r, 11, W);
    sk_rate_record(&r, 1000, 5000);
    /* (O - T) / T * W = (100 - 50) / 50 * 10 s */
    cr_assert_eq(sk_rate_throttle_ms(&r, 50, 5000), 10000);
    cr_assert_eq(sk_rate_throttle_ms(&r, 100, 5000), 0, "at the bound is within it");
    cr_assert_eq(sk_rate_throttle_ms(&r, 0, 5000), 11 * W, "a zero quota waits the span");
    sk_rate_free(&r);
}

Test(rate, the_span_grows_past_the_minimum_and_old_samples_expire)
{
    struct sk_rate r;
    sk_rate_init(&r, 3, W);
    for (uint64_t t = 1000; t <= 3500; t += 500)
        sk_rate_record(&r, 100, t);
    /* samples start at 1000, 2000, 3000: span 2.5 s, 600 units */
    cr_assert_eq(sk_rate_window(&r, 3500), 2500);
    cr_assert_float_eq(sk_rate_measure(&r, 3500), 240.0, 1e-9);
    /* 3 windows after the last sample began, everything is obsolete */
    cr_assert_float_eq(sk_rate_measure(&r, 6000), 0.0, 1e-9);
    sk_rate_free(&r);
}

Test(rate, unrecording_takes_a_value_back)
{
    struct sk_rate r;
    sk_rate_init(&r, 11, W);
    sk_rate_record(&r, 700, 1000);
    sk_rate_record(&r, 500, 1200);
    sk_rate_record(&r, -500, 1200);
    cr_assert_float_eq(sk_rate_measure(&r, 1200), 700.0 / 10.2, 1e-9); /* span 0.2 + 10 s */
    sk_rate_free(&r);
}

/* Applies a ClientQuotaRecord; a NULL name is the default entity. */
static void quota(struct sk_meta_image *img, const char *user, const char *client,
                  const char *key, double value)
{
    kp_client_quota_record_entity_data e[2];
    int n = 0;
    if (client) {
        kp_client_quota_record_entity_data_init(&e[n]);
        e[n].entity_type = kp_str_c("client-id");
        e[n++].entity_name = *client ? kp_str_c(client) : KP_STR_NULL;
    }
    if (user) {
        kp_client_quota_record_entity_data_init(&e[n]);
        e[n].entity_type = kp_str_c("user");
        e[n++].entity_name = *user ? kp_str_c(user) : KP_STR_NULL;
    }
    kp_client_quota_record r;
    kp_client_quota_record_init(&r);
    r.entity = (kp_client_quota_record_entity_data_arr){n, e};
    r.key = kp_str_c(key);
    r.value = value;
    cr_assert_eq(sk_meta_apply(img, SK_META_CLIENT_QUOTA, &r), 0);
}

static double limit(struct sk_meta_image *img, const char *client, struct sk_quota_match *m)
{
    return sk_quota_limit(img, SK_QUOTA_PRODUCE, "ANONYMOUS", kp_str_c(client), m);
}

Test(quota, the_most_specific_entity_wins_in_kafkas_order)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    struct sk_quota_match b1, b2;
    cr_assert_lt(limit(&img, "app", NULL), 0, "no quotas, no limit");
    quota(&img, NULL, "", "producer_byte_rate", 1000); /* default client-id */
    cr_assert_float_eq(limit(&img, "app", &b1), 1000, 1e-9);
    cr_assert_float_eq(limit(&img, "other", &b2), 1000, 1e-9);
    cr_assert(b1.client == 2 && b1.user == 0 && b2.client == 2,
              "a default client-id quota keeps the client id: each client is metered apart");
    quota(&img, NULL, "app", "producer_byte_rate", 2000);
    cr_assert_float_eq(limit(&img, "app", NULL), 2000, 1e-9);
    quota(&img, "", NULL, "producer_byte_rate", 3000); /* default user */
    cr_assert_float_eq(limit(&img, "app", &b1), 3000, 1e-9, "a user quota outranks client-id");
    limit(&img, "other", &b2);
    cr_assert(b1.user == 2 && b1.client == 0 && b2.user == 2 && b2.client == 0,
              "a user quota keeps no client id: it is shared by the user's clients");
    quota(&img, "ANONYMOUS", "app", "producer_byte_rate", 4000);
    cr_assert_float_eq(limit(&img, "app", NULL), 4000, 1e-9);
    cr_assert_float_eq(limit(&img, "other", NULL), 3000, 1e-9);
    quota(&img, NULL, "other", "consumer_byte_rate", 5);
    cr_assert_float_eq(limit(&img, "other", NULL), 3000, 1e-9, "another type does not count");
    sk_meta_image_free(&img);
}

Test(quota, record_throttles_and_caps_the_window)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    struct sk_quotas q;
    cr_assert_eq(sk_quotas_init(&q, 11, W), 0);
    kp_str app = kp_str_c("app");
    cr_assert_eq(sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", app, 1e9, 1000), 0);
    quota(&img, NULL, "app", "producer_byte_rate", 100);
    cr_assert_eq(sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", app, 1000, 1000), 0);
    cr_assert_eq(sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", app, 1000, 1000),
                 10000, "200 B/s against 100 B/s over 10 s");
    sk_quota_unrecord(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", app, 1000, 1000);
    cr_assert_eq(sk_quota_record(&q, &img, SK_QUOTA_FETCH, "ANONYMOUS", app, 1e9, 1000), 0,
                 "no consumer quota");
    cr_assert_eq(sk_quota_max_in_window(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", app), 1000);
    cr_assert_eq(sk_quota_max_in_window(&q, &img, SK_QUOTA_FETCH, "ANONYMOUS", app), UINT32_MAX);
    sk_quotas_free(&q);
    sk_meta_image_free(&img);
}

Test(quota, mutations_spend_a_burst_then_strict_mode_refuses_until_tokens_return)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    struct sk_quotas q;
    cr_assert_eq(sk_quotas_init(&q, 11, W), 0);
    kp_str app = kp_str_c("app");
    int32_t ms;
    cr_assert(sk_quota_mutation(&q, &img, "ANONYMOUS", app, 1e6, true, 1000, &ms));
    cr_assert_eq(ms, 0, "no quota, no throttle");
    quota(&img, NULL, "app", "controller_mutation_rate", 2);
    /* Burst: 2/s x 11 samples x 1 s = 22 partitions; 30 goes 8 below. */
    cr_assert(sk_quota_mutation(&q, &img, "ANONYMOUS", app, 30, true, 1000, &ms),
              "a quota not yet exceeded lets the whole operation through");
    cr_assert_eq(ms, 4000, "8 tokens short at 2/s is 4 s");
    cr_assert_not(sk_quota_mutation(&q, &img, "ANONYMOUS", app, 1, true, 2000, &ms),
                  "strict: refused while exceeded");
    cr_assert_eq(ms, 3000);
    cr_assert(sk_quota_mutation(&q, &img, "ANONYMOUS", app, 1, false, 2000, &ms),
              "permissive: recorded and throttled");
    cr_assert_eq(ms, 3500);
    cr_assert(sk_quota_mutation(&q, &img, "ANONYMOUS", app, 1, true, 5500, &ms),
              "accepted once the tokens are back");
    cr_assert_eq(ms, 500);
    kp_str other = kp_str_c("other");
    cr_assert(sk_quota_mutation(&q, &img, "ANONYMOUS", other, 5, true, 5500, &ms));
    cr_assert_eq(ms, 0, "a client without the quota is not throttled");
    sk_quotas_free(&q);
    sk_meta_image_free(&img);
}

Test(quota, client_ids_are_bytes)
{
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    kp_str ab = {"a\0b", 3}, ac = {"a\0c", 3};
    kp_client_quota_record_entity_data e;
    kp_client_quota_record_entity_data_init(&e);
    e.entity_type = kp_str_c("client-id");
    e.entity_name = ab;
    kp_client_quota_record r;
    kp_client_quota_record_init(&r);
    r.entity = (kp_client_quota_record_entity_data_arr){1, &e};
    r.key = kp_str_c("producer_byte_rate");
    r.value = 100;
    cr_assert_eq(sk_meta_apply(&img, SK_META_CLIENT_QUOTA, &r), 0);
    cr_assert_float_eq(sk_quota_limit(&img, SK_QUOTA_PRODUCE, "ANONYMOUS", ab, NULL), 100, 1e-9);
    cr_assert_lt(sk_quota_limit(&img, SK_QUOTA_PRODUCE, "ANONYMOUS", kp_str_c("a"), NULL), 0,
                 "not the client id cut at its zero byte");
    cr_assert_lt(sk_quota_limit(&img, SK_QUOTA_PRODUCE, "ANONYMOUS", ac, NULL), 0);

    /* A default client-id quota meters clients apart, whatever bytes tell them apart. */
    quota(&img, NULL, "", "producer_byte_rate", 100);
    struct sk_quotas q;
    cr_assert_eq(sk_quotas_init(&q, 11, W), 0);
    kp_str x1 = {"x\0" "1", 3}, x2 = {"x\0" "2", 3};
    sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", x1, 1000, 1000);
    cr_assert_gt(sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", x1, 1000, 1000), 0);
    cr_assert_eq(sk_quota_record(&q, &img, SK_QUOTA_PRODUCE, "ANONYMOUS", x2, 1000, 1000), 0,
                 "another client's bytes are not counted against this one");
    cr_assert_eq(q.count, 2);
    sk_quotas_free(&q);
    sk_meta_image_free(&img);
}

/* ---- replication quotas (skein/repl_quota.h) ---------------------------------- */

static bool throttled(const char *list, int32_t partition, int32_t broker)
{
    return sk_repl_throttled(list ? kp_str_c(list) : (kp_str){NULL, -1}, partition, broker);
}

Test(repl_quota, throttled_replica_lists_name_partition_broker_pairs_or_every_replica)
{
    cr_assert(!throttled(NULL, 0, 1));
    cr_assert(!throttled("", 0, 1));
    cr_assert(throttled("*", 7, 3));
    cr_assert(throttled(" * ", 7, 3));
    /* Only the pairs naming this broker count here. */
    cr_assert(throttled("0:1,1:2", 0, 1));
    cr_assert(!throttled("0:1,1:2", 0, 2));
    cr_assert(throttled("0:1,1:2", 1, 2));
    cr_assert(!throttled("0:1,1:2", 2, 1));
    cr_assert(throttled("0:1, 12 : 3", 12, 3), "items are trimmed, as Kafka trims them");
    cr_assert(!throttled("10:1", 1, 1));
    cr_assert(!throttled("1:10", 1, 1));
    cr_assert(!throttled("1:", 1, 1));
}

Test(repl_quota, a_throttled_list_is_bytes_with_a_length)
{
    static const char raw[] = "0:1,5\0:5";
    kp_str s = {raw, (int32_t)sizeof raw - 1};
    cr_assert(sk_repl_throttled(s, 0, 1));
    cr_assert(!sk_repl_throttled(s, 5, 5), "a zero byte is not a blank");
    cr_assert(sk_repl_throttled((kp_str){raw, 3}, 0, 1));
    cr_assert(!sk_repl_throttled((kp_str){raw, 2}, 0, 1), "nothing past the length is read");
}

Test(repl_quota, exceeded_once_the_measured_rate_is_over_the_bound)
{
    struct sk_repl_quota q;
    cr_assert_eq(sk_repl_quota_init(&q, 2, W), 0);
    cr_assert(!sk_repl_quota_exceeded(&q, 1000, 5000));
    sk_repl_quota_record(&q, 1000, 5000);
    cr_assert(!sk_repl_quota_exceeded(&q, 1000, 5000), "1000 B over the 1 s minimum span");
    sk_repl_quota_record(&q, 1, 5000);
    cr_assert(sk_repl_quota_exceeded(&q, 1000, 5000));
    cr_assert(!sk_repl_quota_exceeded(&q, INT64_MAX, 5000), "INT64_MAX is no throttle");
    /* Two samples of a second: once both have aged out the rate is 0. */
    cr_assert(!sk_repl_quota_exceeded(&q, 1000, 8000));
    sk_repl_quota_free(&q);
}
