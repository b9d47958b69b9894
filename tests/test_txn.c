/* Idempotent producer state (src/txn/): expiry after producer.id.expiration.ms
 * and the per-partition cap, driven through the calls produce and the
 * snapshot loader use. */
#include <criterion/criterion.h>
#include <string.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/partition.h"
#include "skein/producer_state.h"

static struct sk_batch_header batch(int64_t pid, int32_t seq, int64_t offset, int64_t ts)
{
    return (struct sk_batch_header){.base_offset = offset, .magic = 2, .last_offset_delta = 0,
                                    .base_timestamp = ts, .max_timestamp = ts,
                                    .producer_id = pid, .producer_epoch = 0,
                                    .base_sequence = seq, .record_count = 1};
}

static bool has(const struct sk_partition *p, int64_t pid)
{
    struct sk_producer_info pi;
    for (int i = 0; sk_producer_at(p, i, &pi) == 0; i++)
        if (pi.producer_id == pid)
            return true;
    return false;
}

Test(producer_state, expires_after_producer_id_expiration_ms)
{
    struct sk_partition p = {0};
    struct sk_batch_header a = batch(1, 0, 0, 1000), b = batch(2, 0, 1, 5000);
    sk_producer_update(&p, &a, 1000);
    sk_producer_update(&p, &b, 5000);
    cr_assert_eq(sk_producer_expire(&p, 10999, 10000), 0, "not yet 10 s after its write");
    cr_assert_eq(sk_producer_expire(&p, 11000, 10000), 1);
    cr_assert(!has(&p, 1) && has(&p, 2));
    /* Gone means unknown: a continuing sequence is refused, a new one starts. */
    struct sk_batch_header next = batch(1, 1, 2, 11000);
    int64_t dup;
    cr_assert_eq(sk_producer_check(&p, &next, &dup), SK_ERR_UNKNOWN_PRODUCER_ID);
    struct sk_batch_header fresh = batch(1, 0, 2, 11000);
    cr_assert_eq(sk_producer_check(&p, &fresh, &dup), SK_ERR_NONE);
    cr_assert_eq(sk_producer_expire(&p, 15000, 10000), 1);
    cr_assert_eq(sk_producer_count(&p), 0);
    sk_producer_state_free(&p);
}

Test(producer_state, cap_drops_the_oldest_writer)
{
    struct sk_config cfg = {0};
    cfg.txn.max_producers_per_partition = 3;
    struct sk_node bn = {.cfg = &cfg};
    struct sk_broker b = {.node = &bn, .image = &bn.image, .cfg = &cfg};
    struct sk_partition p = {.broker = &b};
    for (int64_t pid = 1; pid <= 3; pid++) {
        struct sk_batch_header h = batch(pid, 0, pid, 100 * pid);
        sk_producer_update(&p, &h, 0);
    }
    /* Producer 1 writes again: now 2 is the oldest. */
    struct sk_batch_header again = batch(1, 1, 10, 1000);
    sk_producer_update(&p, &again, 0);
    for (int64_t pid = 4; pid <= 1000; pid++) {
        struct sk_batch_header h = batch(pid, 0, pid + 10, 1000 + pid);
        sk_producer_update(&p, &h, 0);
        cr_assert_leq(sk_producer_count(&p), 3, "state grew past the cap");
    }
    cr_assert(!has(&p, 2) && !has(&p, 3) && !has(&p, 1));
    cr_assert(has(&p, 998) && has(&p, 999) && has(&p, 1000));
    sk_producer_state_free(&p);
}
