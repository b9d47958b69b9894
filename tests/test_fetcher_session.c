/* The follower's side of an incremental fetch session (src/replica/fetcher_session.c):
 * which partitions a round names, what it forgets, and how the leader's
 * answers and errors move the session, as Kafka's FetchSessionHandler. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../src/replica/fetcher_int.h"
#include "skein/errors.h"
#include "skein/fetch_session.h"

static struct sk_fsess_entry entry(uint8_t topic, int32_t partition, int64_t offset)
{
    struct sk_fsess_entry e = {.partition = partition, .leader_epoch = 3, .offset = offset,
                               .last_fetched_epoch = 3, .log_start = 0, .max_bytes = 1 << 20};
    e.topic_id.b[0] = topic;
    e.topic_id.b[15] = (uint8_t)(topic * 7);
    return e;
}

/* Builds a round over partitions 0..n-1 of topic 1 at offsets[i] (all 10
 * when offsets is NULL); returns how many the request names. */
/* The entry for (topic, partition) the handler holds, or NULL. */
static const struct sk_fsess_entry *held(const struct sk_fetch_handler *h, uint8_t topic,
                                         int32_t partition)
{
    struct sk_fsess_entry e = entry(topic, partition, 0);
    return sk_fetch_handler_find(h, &e.topic_id, partition);
}

static int round_of(struct sk_fetch_handler *h, int n, const int64_t *offsets)
{
    int named = 0;
    sk_fetch_handler_begin(h);
    for (int i = 0; i < n; i++) {
        struct sk_fsess_entry e = entry(1, i, offsets ? offsets[i] : 10);
        bool send;
        cr_assert_eq(sk_fetch_handler_want(h, &e, &send), 0);
        named += send;
    }
    return named;
}

static void request_is(const struct sk_fetch_handler *h, int32_t id, int32_t epoch)
{
    int32_t rid, repoch;
    sk_fetch_handler_request(h, &rid, &repoch);
    cr_assert_eq(rid, id, "session id %d, expected %d", rid, id);
    cr_assert_eq(repoch, epoch, "session epoch %d, expected %d", repoch, epoch);
}

static int forgotten(struct sk_fetch_handler *h)
{
    struct sk_fsess_entry *gone;
    int n;
    cr_assert_eq(sk_fetch_handler_forget(h, &gone, &n), 0);
    free(gone);
    return n;
}

/* A handler whose first (full) round over n partitions the leader
 * answered with session id. */
static struct sk_fetch_handler opened(int n, int32_t id)
{
    struct sk_fetch_handler h = {0};
    sk_fetch_handler_use_sessions(&h, true);
    round_of(&h, n, NULL);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, id));
    return h;
}

Test(fetcher_session, the_first_round_is_full_then_only_changes_are_named)
{
    struct sk_fetch_handler h = {0};
    sk_fetch_handler_use_sessions(&h, true);
    cr_assert_eq(round_of(&h, 3, NULL), 3);
    request_is(&h, SK_FETCH_INVALID_SESSION_ID, SK_FETCH_INITIAL_EPOCH);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, 77));

    cr_assert_eq(round_of(&h, 3, NULL), 0, "nothing changed: nothing named");
    cr_assert_eq(forgotten(&h), 0);
    request_is(&h, 77, 1);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, 77));

    int64_t moved[] = {10, 25, 10, 10}; /* the fourth for the round with a new partition */
    cr_assert_eq(round_of(&h, 3, moved), 1, "only the partition whose log end moved");
    request_is(&h, 77, 2);
    cr_assert_eq(held(&h, 1, 1)->offset, 25);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, 77));

    cr_assert_eq(round_of(&h, 4, moved), 1, "a new partition is named");
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, a_leader_epoch_or_fetch_size_change_is_named)
{
    struct sk_fetch_handler h = opened(2, 5);
    sk_fetch_handler_begin(&h);
    struct sk_fsess_entry a = entry(1, 0, 10), b = entry(1, 1, 10);
    a.leader_epoch = 4;
    b.max_bytes = 4096;
    bool sa, sb;
    sk_fetch_handler_want(&h, &a, &sa);
    sk_fetch_handler_want(&h, &b, &sb);
    cr_assert(sa && sb);
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, partitions_no_longer_fetched_are_forgotten_once)
{
    struct sk_fetch_handler h = opened(5, 9);
    round_of(&h, 3, NULL);
    struct sk_fsess_entry *gone;
    int n;
    cr_assert_eq(sk_fetch_handler_forget(&h, &gone, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(gone[0].partition >= 3 && gone[1].partition >= 3 &&
              gone[0].partition != gone[1].partition);
    free(gone);
    cr_assert_null(held(&h, 1, 3));
    cr_assert_not_null(held(&h, 1, 2));
    sk_fetch_handler_answered(&h, SK_ERR_NONE, 9);
    round_of(&h, 3, NULL);
    cr_assert_eq(forgotten(&h), 0, "forgotten once, not again");
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, an_unknown_session_starts_afresh_other_errors_close_and_reopen)
{
    struct sk_fetch_handler h = opened(2, 40);
    round_of(&h, 2, NULL);
    cr_assert_not(sk_fetch_handler_answered(&h, SK_ERR_INVALID_FETCH_SESSION_EPOCH, 0));
    cr_assert_eq(round_of(&h, 2, NULL), 2, "the next round is full");
    request_is(&h, 40, SK_FETCH_INITIAL_EPOCH); /* closes 40 as it opens another */
    cr_assert_not(sk_fetch_handler_answered(&h, SK_ERR_FETCH_SESSION_ID_NOT_FOUND, 0));
    cr_assert_eq(round_of(&h, 2, NULL), 2);
    request_is(&h, SK_FETCH_INVALID_SESSION_ID, SK_FETCH_INITIAL_EPOCH);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, 41));
    round_of(&h, 2, NULL);
    request_is(&h, 41, 1);
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, no_room_on_the_leader_or_no_answer_makes_the_next_round_full)
{
    struct sk_fetch_handler h = {0};
    sk_fetch_handler_use_sessions(&h, true);
    round_of(&h, 2, NULL);
    cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, SK_FETCH_INVALID_SESSION_ID));
    cr_assert_eq(round_of(&h, 2, NULL), 2, "no session was made: full again");
    sk_fetch_handler_answered(&h, SK_ERR_NONE, 3);
    round_of(&h, 2, NULL);
    sk_fetch_handler_failed(&h); /* the connection dropped */
    cr_assert_eq(round_of(&h, 2, NULL), 2);
    request_is(&h, 3, SK_FETCH_INITIAL_EPOCH);
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, an_old_leader_without_sessions_gets_every_partition_each_round)
{
    struct sk_fetch_handler h = {0};
    sk_fetch_handler_use_sessions(&h, false);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(round_of(&h, 4, NULL), 4);
        request_is(&h, SK_FETCH_INVALID_SESSION_ID, SK_FETCH_FINAL_EPOCH);
        cr_assert(sk_fetch_handler_answered(&h, SK_ERR_NONE, 0));
        cr_assert_not_null(held(&h, 1, 3));
    }
    sk_fetch_handler_free(&h);
}

Test(fetcher_session, thousands_of_partitions_over_topics_are_found_again)
{
    struct sk_fetch_handler h = {0};
    sk_fetch_handler_use_sessions(&h, true);
    sk_fetch_handler_begin(&h);
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 1000; p++) {
            struct sk_fsess_entry e = entry((uint8_t)t, p, p);
            bool send;
            cr_assert_eq(sk_fetch_handler_want(&h, &e, &send), 0);
            cr_assert(send);
        }
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 1000; p++) {
            const struct sk_fsess_entry *e =
                held(&h, (uint8_t)t, p);
            cr_assert_not_null(e);
            cr_assert_eq(e->offset, p);
        }
    cr_assert_null(held(&h, 11, 0));
    sk_fetch_handler_free(&h);
}
