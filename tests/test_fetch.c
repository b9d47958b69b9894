/* Fetch: the response writer matches the generated encoder byte for byte at
 * every version while leaving records in files, and the session cache keeps
 * Kafka's epoch and eviction rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/fetch.h"
#include "skein/fetch_session.h"
#include "skein/net.h"

typedef kp_fetch_response_partition_data part_t;
typedef kp_fetch_response_fetchable_topic_response topic_t;

#define NPARTS 4

struct fixture {
    kp_fetch_response resp;
    topic_t topics[2];
    part_t parts[NPARTS];
    kp_fetch_response_aborted_transaction aborted[2];
    kp_fetch_response_node_endpoint endpoint;
    uint8_t data[NPARTS][300];
    int32_t len[NPARTS];
    int fd;
};

static void fill_data(struct fixture *f)
{
    for (int i = 0; i < NPARTS; i++)
        for (int j = 0; j < 300; j++)
            f->data[i][j] = (uint8_t)(i * 31 + j * 7);
    /* Lengths around the one-byte/two-byte varint boundary of compact bytes. */
    f->len[0] = 126;
    f->len[1] = 0;
    f->len[2] = 127;
    f->len[3] = 300;
    char path[] = "/tmp/skein-fetch-XXXXXX";
    f->fd = mkstemp(path);
    cr_assert(f->fd >= 0);
    unlink(path);
    for (int i = 0; i < NPARTS; i++)
        cr_assert_eq(write(f->fd, f->data[i], sizeof f->data[i]), (ssize_t)sizeof f->data[i]);
}

/* A response using every field the version has. */
static void build(struct fixture *f, int16_t v)
{
    kp_fetch_response_init(&f->resp);
    f->resp.throttle_time_ms = v >= 1 ? 17 : 0;
    f->resp.error_code = 0;
    f->resp.session_id = v >= 7 ? 123456 : 0;
    for (int t = 0; t < 2; t++) {
        kp_fetch_response_fetchable_topic_response_init(&f->topics[t]);
        f->topics[t].topic = kp_str_c(t ? "second" : "first");
        memset(f->topics[t].topic_id.b, t + 1, 16);
        f->topics[t].partitions = (kp_fetch_response_partition_data_arr){2, &f->parts[t * 2]};
    }
    f->resp.responses = (kp_fetch_response_fetchable_topic_response_arr){2, f->topics};
    for (int i = 0; i < NPARTS; i++) {
        part_t *p = &f->parts[i];
        kp_fetch_response_partition_data_init(p);
        p->partition_index = i;
        p->high_watermark = 1000 + i;
        if (v >= 4)
            p->last_stable_offset = 900 + i;
        if (v >= 5)
            p->log_start_offset = 10 + i;
        p->aborted_transactions.n = -1;
        p->records = (kp_bytes){f->data[i], f->len[i]};
    }
    if (v >= 4) {
        f->aborted[0] = (kp_fetch_response_aborted_transaction){77, 5};
        f->aborted[1] = (kp_fetch_response_aborted_transaction){78, 6};
        f->parts[1].aborted_transactions = (kp_fetch_response_aborted_transaction_arr){2, f->aborted};
        f->parts[2].aborted_transactions.n = 0;
    }
    if (v >= 11)
        f->parts[3].preferred_read_replica = 3;
    if (v >= 12) {
        f->parts[1].error_code = 74;
        f->parts[1].current_leader = (kp_fetch_response_leader_id_and_epoch){2, 9};
        f->parts[2].diverging_epoch = (kp_fetch_response_epoch_end_offset){4, 400};
        f->parts[3].snapshot_id = (kp_fetch_response_snapshot_id){500, 5};
    }
    if (v >= 16) {
        kp_fetch_response_node_endpoint_init(&f->endpoint);
        f->endpoint.node_id = 2;
        f->endpoint.host = kp_str_c("broker-2.example");
        f->endpoint.port = 9092;
        f->endpoint.rack = kp_str_c("rack-b");
        f->resp.node_endpoints = (kp_fetch_response_node_endpoint_arr){1, &f->endpoint};
    }
}

/* Holes for partitions with records, files pointing at the same bytes;
 * partition 2's records are in memory instead (as down-converted sets are). */
static size_t holes(struct fixture *f, struct sk_fetch_file *files)
{
    size_t n = 0;
    for (int i = 0; i < NPARTS; i++) {
        if (f->len[i] == 0)
            continue;
        f->parts[i].records = (kp_bytes){NULL, f->len[i]};
        if (i == 2) {
            uint8_t *mem = malloc((size_t)f->len[i]);
            memcpy(mem, f->data[i], (size_t)f->len[i]);
            files[n++] = (struct sk_fetch_file){.fd = -1, .len = (uint32_t)f->len[i], .mem = mem};
            continue;
        }
        files[n++] = (struct sk_fetch_file){.fd = dup(f->fd), .pos = (uint64_t)i * 300, .len = (uint32_t)f->len[i]};
    }
    return n;
}

static uint8_t *flatten(const struct sk_fetch_frame *fr)
{
    uint8_t *out = malloc(fr->len + 1);
    size_t at = 0;
    for (unsigned i = 0; i < fr->nsegs; i++) {
        const struct sk_seg *s = &fr->segs[i];
        if (s->kind == SK_SEG_MEM)
            memcpy(out + at, s->u.mem, s->len);
        else
            cr_assert_eq(pread(s->u.file.fd, out + at, s->len, s->u.file.off), (ssize_t)s->len);
        at += s->len;
    }
    cr_assert_eq(at, fr->len);
    return out;
}

static void check_version(struct fixture *f, int16_t v)
{
    build(f, v);
    size_t len = kp_fetch_response_size(&f->resp, v);
    uint8_t *want = malloc(len);
    kp_writer w;
    kp_writer_init(&w, want, len);
    cr_assert_eq(kp_fetch_response_encode(&f->resp, &w, v), 0, "v%d: generated encode", v);

    struct sk_fetch_file files[NPARTS];
    size_t n = holes(f, files);
    struct sk_fetch_frame fr;
    cr_assert_eq(sk_fetch_frame_encode(&f->resp, v, files, n, &fr), 0, "v%d: frame encode", v);
    cr_assert_eq(fr.len, len, "v%d: %zu bytes, generated %zu", v, fr.len, len);
    unsigned nfile = 0, nowned = 0;
    for (unsigned i = 0; i < fr.nsegs; i++) {
        nfile += fr.segs[i].kind == SK_SEG_FILE;
        nowned += fr.segs[i].kind == SK_SEG_MEM && fr.segs[i].u.mem == files[1].mem;
    }
    cr_assert_eq(nfile, n - 1, "v%d: every file record set is a file segment", v);
    cr_assert_eq(nowned, 1, "v%d: memory records are sent from their own buffer", v);
    uint8_t *got = flatten(&fr);
    cr_assert_eq(memcmp(got, want, len), 0, "v%d: bytes differ from the generated encoder", v);

    kp_arena a;
    kp_arena_init(&a, 0);
    kp_fetch_response back;
    kp_reader r;
    kp_reader_init(&r, got, len, &a);
    cr_assert_eq(kp_fetch_response_decode(&back, &r, v), 0, "v%d: decode", v);
    cr_assert_eq(r.p, r.end);
    cr_assert_eq(back.responses.n, 2);
    for (int i = 0; i < NPARTS; i++) {
        const part_t *p = &back.responses.v[i / 2].partitions.v[i % 2];
        cr_assert_eq(p->records.len, f->len[i]);
        cr_assert_eq(memcmp(p->records.ptr, f->data[i], (size_t)f->len[i]), 0);
    }
    kp_arena_free(&a);
    sk_fetch_frame_release(&fr);
    free(got);
    free(want);
}

Test(fetch_frame, matches_generated_encoder_at_every_version)
{
    struct fixture f;
    fill_data(&f);
    for (int16_t v = 0; v <= kp_api_get(1)->max_version; v++)
        check_version(&f, v);
    close(f.fd);
}

Test(fetch_frame, refuses_a_hole_without_a_file)
{
    struct fixture f;
    fill_data(&f);
    build(&f, 12);
    f.parts[0].records = (kp_bytes){NULL, 126};
    struct sk_fetch_frame fr;
    cr_assert_lt(sk_fetch_frame_encode(&f.resp, 12, NULL, 0, &fr), 0);
    close(f.fd);
}

Test(fetch_frame, frees_memory_records_on_error)
{
    struct fixture f;
    fill_data(&f);
    build(&f, 4);
    struct sk_fetch_file files[NPARTS];
    size_t n = holes(&f, files);
    files[n - 1].len--; /* no longer matches its partition: the encode fails */
    struct sk_fetch_frame fr;
    cr_assert_lt(sk_fetch_frame_encode(&f.resp, 4, files, n, &fr), 0);
    close(f.fd); /* the memory and the dup'd fds are released by the frame (ASan checks) */
}

Test(fetch_frame, empty_response_is_one_buffer)
{
    kp_fetch_response r;
    kp_fetch_response_init(&r);
    struct sk_fetch_frame fr;
    cr_assert_eq(sk_fetch_frame_encode(&r, 12, NULL, 0, &fr), 0);
    cr_assert_eq(fr.len, kp_fetch_response_size(&r, 12));
    cr_assert_leq(fr.nsegs, 2);
    sk_fetch_frame_release(&fr);
}

/* ---- sessions ------------------------------------------------------------------ */

static struct sk_fetch_session_part sp(const char *topic, int32_t partition, int64_t off)
{
    return (struct sk_fetch_session_part){
        .topic = kp_str_c(topic), .partition = partition, .fetch_offset = off, .max_bytes = 1 << 20,
        .current_leader_epoch = -1, .last_fetched_epoch = -1, .high_watermark = 5,
        .log_start_offset = 0};
}

Test(fetch_session, create_get_and_epochs)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 10, SK_FETCH_SESSION_EVICTION_MS, 42);
    struct sk_fetch_session_part parts[2] = {sp("a", 0, 1), sp("a", 1, 2)};
    int32_t id = sk_fetch_session_create(&c, 1000, false, false, parts, 2);
    cr_assert_gt(id, 0);
    struct sk_fetch_session *s = sk_fetch_session_get(&c, id);
    cr_assert_not_null(s);
    cr_assert_eq(s->epoch, 1);
    cr_assert_eq(s->nparts, 2);
    cr_assert(kp_str_eq_c(s->parts[1].topic, "a"));
    cr_assert_null(sk_fetch_session_get(&c, id + 1));
    cr_assert_eq(sk_fetch_next_epoch(INT32_MAX), 1);
    cr_assert_eq(sk_fetch_next_epoch(SK_FETCH_FINAL_EPOCH), SK_FETCH_FINAL_EPOCH);
    sk_fetch_session_remove(&c, id);
    cr_assert_null(sk_fetch_session_get(&c, id));
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, upsert_keeps_sent_state_and_forget_removes)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 10, SK_FETCH_SESSION_EVICTION_MS, 7);
    struct sk_fetch_session_part parts[1] = {sp("a", 0, 1)};
    struct sk_fetch_session *s = sk_fetch_session_get(&c, sk_fetch_session_create(&c, 0, false, false, parts, 1));
    struct sk_fetch_session_part upd = sp("a", 0, 9);
    upd.high_watermark = 99;
    cr_assert_eq(sk_fetch_session_upsert(s, &upd), 0);
    cr_assert_eq(s->nparts, 1);
    cr_assert_eq(s->parts[0].fetch_offset, 9);
    cr_assert_eq(s->parts[0].high_watermark, 5, "the last-sent state is the broker's");
    struct sk_fetch_session_part add = sp("b", 3, 4);
    cr_assert_eq(sk_fetch_session_upsert(s, &add), 0);
    cr_assert_eq(s->nparts, 2);
    cr_assert_eq(s->parts[1].high_watermark, -1, "a new partition is always sent next");
    sk_fetch_session_forget(s, false, kp_str_c("a"), &add.topic_id, 0);
    cr_assert_eq(s->nparts, 1);
    cr_assert(kp_str_eq_c(s->parts[0].topic, "b"));
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, a_followers_thousands_of_partitions_are_found_through_the_index)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 10, SK_FETCH_SESSION_EVICTION_MS, 5);
    enum { N = 6000 };
    struct sk_fetch_session_part *parts = calloc(N, sizeof *parts);
    for (int i = 0; i < N; i++) {
        parts[i].topic_id.b[0] = (uint8_t)(i % 3);
        parts[i].partition = i / 3;
        parts[i].fetch_offset = i;
    }
    struct sk_fetch_session *s =
        sk_fetch_session_get(&c, sk_fetch_session_create(&c, 0, true, true, parts, N / 2));
    for (int i = N / 2; i < N; i++)
        cr_assert_eq(sk_fetch_session_upsert(s, &parts[i]), 0);
    cr_assert_eq(s->nparts, N);
    for (int i = 0; i < N; i += 2) /* forget the even ones, in one request */
        sk_fetch_session_mark_forgotten(s, true, KP_STR_NULL, &parts[i].topic_id,
                                        parts[i].partition);
    cr_assert_eq(sk_fetch_session_find(s, true, KP_STR_NULL, &parts[0].topic_id, 0), -1,
                 "a marked part is no longer found");
    sk_fetch_session_compact(s);
    cr_assert_eq(s->nparts, N / 2);
    bool *sent = calloc(N, sizeof *sent);
    sent[0] = sent[7] = true;
    sk_fetch_session_rotate(s, sent);
    for (int i = 0; i < N; i++) {
        int k = sk_fetch_session_find(s, true, KP_STR_NULL, &parts[i].topic_id,
                                      parts[i].partition);
        if (i % 2 == 0) {
            cr_assert_eq(k, -1);
            continue;
        }
        cr_assert_geq(k, 0, "part %d lost", i);
        cr_assert_eq(s->parts[k].fetch_offset, i);
    }
    free(sent);
    free(parts);
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, rotate_moves_sent_partitions_last)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 10, SK_FETCH_SESSION_EVICTION_MS, 7);
    struct sk_fetch_session_part parts[4] = {sp("a", 0, 0), sp("a", 1, 0), sp("a", 2, 0), sp("a", 3, 0)};
    struct sk_fetch_session *s = sk_fetch_session_get(&c, sk_fetch_session_create(&c, 0, false, false, parts, 4));
    bool sent[4] = {true, false, true, false};
    sk_fetch_session_rotate(s, sent);
    int32_t want[4] = {1, 3, 0, 2};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(s->parts[i].partition, want[i]);
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, full_cache_evicts_by_kafka_rules)
{
    struct sk_fetch_sessions c;
    const int64_t ev = SK_FETCH_SESSION_EVICTION_MS;
    sk_fetch_sessions_init(&c, 2, ev, 9);
    struct sk_fetch_session_part parts[3] = {sp("a", 0, 0), sp("a", 1, 0), sp("a", 2, 0)};
    int32_t small = sk_fetch_session_create(&c, 0, false, false, parts, 1);
    int32_t big = sk_fetch_session_create(&c, 0, false, false, parts, 2);
    cr_assert(small && big);
    /* Young sessions are safe from consumers, whatever their size. */
    cr_assert_eq(sk_fetch_session_create(&c, 10, false, false, parts, 3), 0);
    /* A follower may evict a consumer session at any age. */
    int32_t f1 = sk_fetch_session_create(&c, 20, true, false, parts, 1);
    cr_assert_gt(f1, 0);
    cr_assert_null(sk_fetch_session_get(&c, small), "the smallest consumer session goes first");
    /* Old enough: a larger newcomer evicts the smallest evictable session. */
    sk_fetch_session_touch(sk_fetch_session_get(&c, big), ev);
    sk_fetch_session_touch(sk_fetch_session_get(&c, f1), ev);
    int32_t larger = sk_fetch_session_create(&c, ev + 30, false, false, parts, 3);
    cr_assert_gt(larger, 0);
    cr_assert_null(sk_fetch_session_get(&c, big));
    cr_assert_not_null(sk_fetch_session_get(&c, f1), "consumer sessions go before follower sessions");
    /* A smaller newcomer cannot evict, until something is unused too long. */
    cr_assert_eq(sk_fetch_session_create(&c, ev + 40, false, false, parts, 1), 0);
    sk_fetch_session_touch(sk_fetch_session_get(&c, larger), 3 * ev);
    cr_assert_gt(sk_fetch_session_create(&c, 3 * ev, false, false, parts, 1), 0);
    cr_assert_null(sk_fetch_session_get(&c, f1), "the stale session went");
    cr_assert_eq(c.evictions, 3);
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, zero_slots_means_no_sessions)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 0, SK_FETCH_SESSION_EVICTION_MS, 1);
    struct sk_fetch_session_part parts[1] = {sp("a", 0, 0)};
    cr_assert_eq(sk_fetch_session_create(&c, 0, false, false, parts, 1), SK_FETCH_INVALID_SESSION_ID);
    sk_fetch_sessions_free(&c);
}

Test(fetch_session, topic_names_are_bytes)
{
    struct sk_fetch_sessions c;
    sk_fetch_sessions_init(&c, 10, SK_FETCH_SESSION_EVICTION_MS, 3);
    kp_str unknown = {"a\0b", 3};
    struct sk_fetch_session_part parts[1] = {sp("a", 0, 1)};
    parts[0].topic = unknown;
    struct sk_fetch_session *s =
        sk_fetch_session_get(&c, sk_fetch_session_create(&c, 0, false, false, parts, 1));
    cr_assert(kp_str_eq(s->parts[0].topic, unknown), "kept whole, not cut at its zero byte");
    cr_assert_eq(sk_fetch_session_find(s, false, kp_str_c("a"), &parts[0].topic_id, 0), -1,
                 "a topic named like the cut name is another topic");
    struct sk_fetch_session_part a = sp("a", 0, 5);
    cr_assert_eq(sk_fetch_session_upsert(s, &a), 0);
    cr_assert_eq(s->nparts, 2);
    cr_assert_eq(s->parts[0].fetch_offset, 1, "the unknown topic's part is untouched");
    sk_fetch_session_forget(s, false, unknown, &a.topic_id, 0);
    cr_assert(s->nparts == 1 && kp_str_eq_c(s->parts[0].topic, "a"));
    sk_fetch_sessions_free(&c);
}
