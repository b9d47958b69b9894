/* The Raft messages through the generated codecs and back (src/api/
 * raft_wire.c), at every version: what the core sent is what the peer's
 * core receives, batches and all; a request for another topic is refused as
 * Kafka refuses it; errors about the whole request go top level. */
#include <criterion/criterion.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/raft.h"
#include "skein/raft_wire.h"
#include "skein/record.h"

static const struct sk_raft_cluster_id cluster = {.len = 5, .bytes = "abcde"};

/* Encodes body (request or response of key) at version and decodes it into
 * a fresh struct from arena a. */
static void *through_wire(int16_t key, bool request, int16_t version, const void *body, kp_arena *a)
{
    const kp_api_info *api = kp_api_get(key);
    const kp_msg_info *mi = request ? &api->request : &api->response;
    size_t n = mi->size(body, version);
    uint8_t *buf = kp_arena_alloc(a, n + 1);
    kp_writer w;
    kp_writer_init(&w, buf, n);
    cr_assert_eq(mi->encode(body, &w, version), 0, "encode api %d v%d", key, version);
    void *out = kp_arena_calloc(a, 1, mi->struct_size);
    mi->init(out);
    kp_reader r;
    kp_reader_init(&r, buf, n, a);
    cr_assert_eq(mi->decode(out, &r, version), 0, "decode api %d v%d", key, version);
    return out;
}

static void *new_struct(int16_t key, bool request, kp_arena *a)
{
    const kp_api_info *api = kp_api_get(key);
    const kp_msg_info *mi = request ? &api->request : &api->response;
    void *s = kp_arena_calloc(a, 1, mi->struct_size);
    mi->init(s);
    return s;
}

/* A request from node 2 to node 1, through the wire, as node 1 reads it. */
static struct sk_raft_msg request_round_trip(const struct sk_raft_msg *m, int16_t version, kp_arena *a)
{
    int16_t key = sk_raft_wire_api(m->type);
    void *body = new_struct(key, true, a);
    cr_assert_eq(sk_raft_wire_request_out(m, version, body, a), 0);
    void *got = through_wire(key, true, version, body, a);
    struct sk_raft_msg in;
    cr_assert_eq(sk_raft_wire_request_in(key, version, got, 1, &in), SK_ERR_NONE);
    return in;
}

static struct sk_raft_msg response_round_trip(const struct sk_raft_msg *m, int16_t version, kp_arena *a)
{
    int16_t key = sk_raft_wire_api(m->type);
    void *resp = new_struct(key, false, a);
    cr_assert_eq(sk_raft_wire_response_out(m, version, resp, a), 0);
    void *got = through_wire(key, false, version, resp, a);
    struct sk_raft_msg in;
    cr_assert_eq(sk_raft_wire_response_in((enum sk_raft_msg_type)(m->type - 1), version, got, m->src, 2,
                                          &in, a),
                 SK_ERR_NONE);
    return in;
}

Test(raft_wire, vote_at_every_version)
{
    for (int16_t v = KP_VOTE_REQUEST_MIN_VERSION; v <= KP_VOTE_REQUEST_MAX_VERSION; v++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        struct sk_raft_msg m = {.type = SK_RAFT_VOTE_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                                .epoch = 7, .leader_id = SK_RAFT_NO_ID,
                                .u.vote = {.last_epoch = 6, .last_offset = 42}};
        struct sk_raft_msg in = request_round_trip(&m, v, &a);
        cr_assert_eq(in.type, SK_RAFT_VOTE_REQ);
        cr_assert_eq(in.src, 2);
        cr_assert_eq(in.epoch, 7);
        cr_assert_eq(in.u.vote.last_epoch, 6);
        cr_assert_eq(in.u.vote.last_offset, 42);
        cr_assert_eq(in.cluster_id.len, 5);
        cr_assert_eq(memcmp(in.cluster_id.bytes, "abcde", 5), 0);

        struct sk_raft_msg r = {.type = SK_RAFT_VOTE_RESP, .src = 1, .dst = 2, .epoch = 7,
                                .leader_id = SK_RAFT_NO_ID, .u.vote_granted = true};
        struct sk_raft_msg back = response_round_trip(&r, v, &a);
        cr_assert_eq(back.type, SK_RAFT_VOTE_RESP);
        cr_assert(back.u.vote_granted);
        cr_assert_eq(back.epoch, 7);
        cr_assert_eq(back.src, 1);
        kp_arena_free(&a);
    }
}

Test(raft_wire, end_quorum_epoch_keeps_the_successors_in_order)
{
    for (int16_t v = KP_END_QUORUM_EPOCH_REQUEST_MIN_VERSION; v <= KP_END_QUORUM_EPOCH_REQUEST_MAX_VERSION; v++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        struct sk_raft_msg m = {.type = SK_RAFT_END_EPOCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                                .epoch = 3, .leader_id = 2,
                                .u.end = {.preferred = {3, 1}, .n_preferred = 2}};
        struct sk_raft_msg in = request_round_trip(&m, v, &a);
        cr_assert_eq(in.u.end.n_preferred, 2);
        cr_assert_eq(in.u.end.preferred[0], 3);
        cr_assert_eq(in.u.end.preferred[1], 1);
        cr_assert_eq(in.src, 2);
        cr_assert_eq(in.epoch, 3);
        kp_arena_free(&a);
    }
}

/* Three records as the metadata log stores them: one whole v2 batch. */
static struct sk_buf stored_batch(int64_t base_offset, int32_t epoch)
{
    struct sk_record_in r[3];
    for (int i = 0; i < 3; i++)
        r[i] = (struct sk_record_in){.timestamp = 1000 + i, .key_len = -1, .value = "rec",
                                     .value_len = 3};
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base_offset;
    spec.partition_leader_epoch = epoch;
    struct sk_buf out = {0};
    cr_assert_eq(sk_batch_build(&out, &spec, r, 3), 0);
    return out;
}

/* A Fetch answer's Records are the leader's batches as stored, as Kafka's
 * follower reads them (no envelope of Skein's own). */
Test(raft_wire, fetch_answers_carry_the_stored_batches_as_they_are)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_buf stored = stored_batch(0, 0);
    struct sk_raft_batch b = {.base_offset = 11, .epoch = 5, .count = 3,
                              .kind = SK_RAFT_BATCH_DATA, .data = stored.data, .len = stored.len};
    struct sk_raft_msg r = {.type = SK_RAFT_FETCH_RESP, .src = 1, .dst = 2, .epoch = 5,
                            .leader_id = 1,
                            .u.fetch_resp = {.high_watermark = 14, .diverging_epoch = -1,
                                             .batches = &b, .n_batches = 1}};
    kp_fetch_response *resp = new_struct(1, false, &a);
    cr_assert_eq(sk_raft_wire_response_out(&r, 13, resp, &a), 0);
    kp_bytes recs = resp->responses.v[0].partitions.v[0].records;
    cr_assert_eq((size_t)recs.len, stored.len, "one batch, no envelope");
    struct sk_batch_header h;
    cr_assert_eq(sk_batch_header_read(recs.ptr, (size_t)recs.len, &h), 0);
    cr_assert_eq(h.base_offset, 11, "the core's offset");
    cr_assert_eq(h.partition_leader_epoch, 5, "the core's epoch");
    cr_assert_eq(h.last_offset_delta, 2);
    cr_assert(sk_batch_crc_ok(recs.ptr, &h));
    cr_assert_eq(memcmp(recs.ptr + 17, stored.data + 17, stored.len - 17), 0,
                 "from the magic byte on, the stored bytes");
    sk_buf_free(&stored);
    kp_arena_free(&a);
}

Test(raft_wire, fetch_carries_batches_and_divergence_at_every_version)
{
    struct sk_buf stored = stored_batch(11, 5);
    const uint8_t *recs = stored.data;
    for (int16_t v = 4; v <= KP_FETCH_REQUEST_MAX_VERSION; v++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        struct sk_raft_msg m = {.type = SK_RAFT_FETCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                                .epoch = 5, .leader_id = SK_RAFT_NO_ID,
                                .u.fetch = {.fetch_offset = 10, .last_fetched_epoch = 4}};
        struct sk_raft_msg in = request_round_trip(&m, v, &a);
        cr_assert_eq(in.src, 2, "v%d replica id", v);
        if (v >= 9)
            cr_assert_eq(in.epoch, 5);
        cr_assert_eq(in.u.fetch.fetch_offset, 10);
        if (v >= 12)
            cr_assert_eq(in.u.fetch.last_fetched_epoch, 4);

        struct sk_raft_batch b[2] = {
            {.base_offset = 10, .epoch = 5, .count = 1, .kind = SK_RAFT_BATCH_LEADER_CHANGE},
            {.base_offset = 11, .epoch = 5, .count = 3, .kind = SK_RAFT_BATCH_DATA, .data = recs,
             .len = stored.len},
        };
        struct sk_raft_msg r = {.type = SK_RAFT_FETCH_RESP, .src = 1, .dst = 2, .epoch = 5, .leader_id = 1,
                                .u.fetch_resp = {.high_watermark = 11, .diverging_epoch = -1,
                                                 .batches = b, .n_batches = 2}};
        struct sk_raft_msg back = response_round_trip(&r, v, &a);
        cr_assert_eq(back.u.fetch_resp.high_watermark, 11);
        cr_assert_eq(back.u.fetch_resp.diverging_epoch, -1, "v%d: no divergence", v);
        cr_assert_eq(back.u.fetch_resp.diverging_end_offset, -1, "v%d: no divergence", v);
        cr_assert_eq(back.u.fetch_resp.n_batches, 2, "v%d batches", v);
        const struct sk_raft_batch *g = back.u.fetch_resp.batches;
        cr_assert_eq(g[0].kind, SK_RAFT_BATCH_LEADER_CHANGE);
        cr_assert_eq(g[0].base_offset, 10);
        cr_assert_eq(g[0].epoch, 5);
        cr_assert_eq(g[0].count, 1);
        cr_assert_eq(g[1].kind, SK_RAFT_BATCH_DATA);
        cr_assert_eq(g[1].base_offset, 11);
        cr_assert_eq(g[1].count, 3);
        cr_assert_eq(g[1].len, stored.len);
        cr_assert_eq(memcmp(g[1].data, recs, stored.len), 0);
        if (v >= 12) {
            r.u.fetch_resp = (struct sk_raft_fetch_resp){.high_watermark = 3, .diverging_epoch = 2,
                                                         .diverging_end_offset = 8};
            back = response_round_trip(&r, v, &a);
            cr_assert_eq(back.u.fetch_resp.diverging_epoch, 2);
            cr_assert_eq(back.u.fetch_resp.diverging_end_offset, 8);
            cr_assert_eq(back.leader_id, 1);
            cr_assert_eq(back.epoch, 5);
        }
        kp_arena_free(&a);
    }
    sk_buf_free(&stored);
}

/* KIP-853: a VOTERS batch travels as Kafka's control batch of a Voters
 * record (after a KRaftVersion record for one of two offsets) and comes
 * back as the same set; Fetch v17 carries the fetcher's directory id. */
Test(raft_wire, voter_sets_and_directory_ids_cross_the_wire)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_raft_voter_set s = {.n = 1};
    struct sk_raft_voter *v = &s.voters[0];
    v->id = 3;
    memset(v->directory_id, 7, SK_RAFT_DIR_ID_LEN);
    v->max_kraft_version = 1;
    v->n_endpoints = 1;
    v->endpoints[0] = (struct sk_raft_endpoint){.name_len = 10, .host_len = 9, .port = 9093};
    memcpy(v->endpoints[0].name, "CONTROLLER", 10);
    memcpy(v->endpoints[0].host, "127.0.0.1", 9);
    uint8_t enc[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t len = sk_raft_voters_encode(&s, enc, sizeof enc);
    cr_assert_gt(len, 0);
    struct sk_raft_batch b[2] = {
        {.base_offset = 1, .epoch = 2, .count = 2, .kind = SK_RAFT_BATCH_VOTERS, .data = enc,
         .len = len},
        {.base_offset = 3, .epoch = 2, .count = 1, .kind = SK_RAFT_BATCH_VOTERS, .data = enc,
         .len = len},
    };
    struct sk_raft_msg r = {.type = SK_RAFT_FETCH_RESP, .src = 1, .dst = 3, .epoch = 2,
                            .leader_id = 1,
                            .u.fetch_resp = {.high_watermark = 1, .diverging_epoch = -1,
                                             .batches = b, .n_batches = 2}};
    struct sk_raft_msg back = response_round_trip(&r, 17, &a);
    cr_assert_eq(back.u.fetch_resp.n_batches, 2);
    for (int i = 0; i < 2; i++) {
        const struct sk_raft_batch *g = &back.u.fetch_resp.batches[i];
        cr_expect_eq(g->kind, SK_RAFT_BATCH_VOTERS);
        cr_expect_eq(g->base_offset, b[i].base_offset);
        cr_expect_eq(g->count, b[i].count);
        cr_expect_eq(g->epoch, 2);
        cr_assert_eq(g->len, len);
        cr_expect_eq(memcmp(g->data, enc, len), 0);
    }
    struct sk_raft_msg f = {.type = SK_RAFT_FETCH_REQ, .src = 3, .dst = 1, .cluster_id = cluster,
                            .epoch = 2, .leader_id = SK_RAFT_NO_ID, .u.fetch = {.fetch_offset = 5}};
    memset(f.u.fetch.replica_directory_id, 9, SK_RAFT_DIR_ID_LEN);
    struct sk_raft_msg in = request_round_trip(&f, 17, &a);
    cr_expect_eq(in.u.fetch.replica_directory_id[15], 9);
    in = request_round_trip(&f, 16, &a);
    cr_expect_eq(in.u.fetch.replica_directory_id[15], 0, "v16 has no directory id");
    kp_arena_free(&a);
}

Test(raft_wire, another_topic_is_an_invalid_request)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_raft_msg m = {.type = SK_RAFT_BEGIN_EPOCH_REQ, .src = 2, .dst = 1, .cluster_id = cluster,
                            .epoch = 3, .leader_id = 2};
    kp_begin_quorum_epoch_request *q = new_struct(SK_RAFT_API_BEGIN_EPOCH, true, &a);
    cr_assert_eq(sk_raft_wire_request_out(&m, 1, q, &a), 0);
    q->topics.v[0].topic_name = kp_str_c("other");
    struct sk_raft_msg in;
    cr_assert_eq(sk_raft_wire_request_in(SK_RAFT_API_BEGIN_EPOCH, 1, q, 1, &in), SK_ERR_INVALID_REQUEST);
    kp_arena_free(&a);
}

Test(raft_wire, a_foreign_cluster_goes_top_level_a_stale_epoch_per_partition)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_raft_msg r = {.type = SK_RAFT_VOTE_RESP, .src = 1, .dst = 2, .epoch = 4, .leader_id = 1,
                            .error = SK_ERR_INCONSISTENT_CLUSTER_ID};
    kp_vote_response *resp = new_struct(SK_RAFT_API_VOTE, false, &a);
    cr_assert_eq(sk_raft_wire_response_out(&r, 0, resp, &a), 0);
    cr_assert_eq(resp->error_code, SK_ERR_INCONSISTENT_CLUSTER_ID);
    r.error = SK_ERR_FENCED_LEADER_EPOCH;
    resp = new_struct(SK_RAFT_API_VOTE, false, &a);
    cr_assert_eq(sk_raft_wire_response_out(&r, 0, resp, &a), 0);
    cr_assert_eq(resp->error_code, SK_ERR_NONE);
    cr_assert_eq(resp->topics.v[0].partitions.v[0].error_code, SK_ERR_FENCED_LEADER_EPOCH);
    kp_arena_free(&a);
}

Test(raft_wire, a_vote_for_another_voter_is_an_invalid_voter_key)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_raft_msg m = {.type = SK_RAFT_VOTE_REQ, .src = 2, .dst = 3, .cluster_id = cluster,
                            .epoch = 7, .leader_id = SK_RAFT_NO_ID};
    kp_vote_request *q = new_struct(SK_RAFT_API_VOTE, true, &a);
    cr_assert_eq(sk_raft_wire_request_out(&m, 1, q, &a), 0);
    cr_assert_eq(q->voter_id, 3);
    struct sk_raft_msg in;
    cr_assert_eq(sk_raft_wire_request_in(SK_RAFT_API_VOTE, 1, q, 1, &in), SK_ERR_INVALID_VOTER_KEY);
    cr_assert_eq(sk_raft_wire_request_in(SK_RAFT_API_VOTE, 1, q, 3, &in), SK_ERR_NONE);
    /* v0 names no voter: any node takes it. */
    cr_assert_eq(sk_raft_wire_request_in(SK_RAFT_API_VOTE, 0, q, 1, &in), SK_ERR_NONE);
    kp_arena_free(&a);
}

Test(raft_wire, fetch_snapshot_at_every_version)
{
    for (int16_t v = KP_FETCH_SNAPSHOT_REQUEST_MIN_VERSION; v <= KP_FETCH_SNAPSHOT_REQUEST_MAX_VERSION;
         v++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        struct sk_raft_msg req = {.type = SK_RAFT_FETCH_SNAPSHOT_REQ, .src = 2, .dst = 1,
                                  .cluster_id = cluster, .epoch = 7,
                                  .u.snap = {.id = {120, 6}, .position = 4096, .max_bytes = 1000}};
        struct sk_raft_msg in = request_round_trip(&req, v, &a);
        cr_assert_eq(sk_raft_wire_api(req.type), 59);
        cr_assert_eq(in.type, SK_RAFT_FETCH_SNAPSHOT_REQ);
        cr_assert_eq(in.src, 2);
        cr_assert_eq(in.epoch, 7);
        cr_assert_eq(in.cluster_id.len, 5);
        cr_assert_eq(in.u.snap.id.end_offset, 120);
        cr_assert_eq(in.u.snap.id.epoch, 6);
        cr_assert_eq(in.u.snap.position, 4096);
        cr_assert_eq(in.u.snap.max_bytes, 1000);
        const uint8_t chunk[] = {0, 1, 2, 0, 255};
        struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_SNAPSHOT_RESP, .src = 1, .dst = 2,
                                   .epoch = 7, .leader_id = 1,
                                   .u.snap_resp = {.id = {120, 6}, .size = 5000, .position = 4096,
                                                   .data = chunk, .len = sizeof(chunk)}};
        struct sk_raft_msg got = response_round_trip(&resp, v, &a);
        cr_assert_eq(got.type, SK_RAFT_FETCH_SNAPSHOT_RESP);
        cr_assert_eq(got.error, SK_ERR_NONE);
        cr_assert_eq(got.epoch, 7);
        cr_assert_eq(got.leader_id, 1);
        cr_assert_eq(got.u.snap_resp.size, 5000);
        cr_assert_eq(got.u.snap_resp.position, 4096);
        cr_assert_eq(got.u.snap_resp.id.end_offset, 120);
        cr_assert_eq(got.u.snap_resp.len, sizeof(chunk));
        cr_assert_eq(memcmp(got.u.snap_resp.data, chunk, sizeof(chunk)), 0);
        resp.error = SK_ERR_SNAPSHOT_NOT_FOUND;
        resp.u.snap_resp.len = 0;
        got = response_round_trip(&resp, v, &a);
        cr_assert_eq(got.error, SK_ERR_SNAPSHOT_NOT_FOUND);
        kp_arena_free(&a);
    }
}

Test(raft_wire, fetch_names_the_snapshot_below_the_log_start)
{
    for (int16_t v = 12; v <= KP_FETCH_RESPONSE_MAX_VERSION; v++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        struct sk_raft_msg resp = {.type = SK_RAFT_FETCH_RESP, .src = 1, .dst = 2, .epoch = 3,
                                   .leader_id = 1,
                                   .u.fetch_resp = {.high_watermark = 50, .diverging_epoch = -1,
                                                    .diverging_end_offset = -1,
                                                    .snapshot = {40, 2}}};
        struct sk_raft_msg got = response_round_trip(&resp, v, &a);
        cr_assert_eq(got.u.fetch_resp.snapshot.end_offset, 40, "v%d", v);
        cr_assert_eq(got.u.fetch_resp.snapshot.epoch, 2);
        cr_assert_eq(got.u.fetch_resp.diverging_epoch, -1);
        resp.u.fetch_resp.snapshot = (struct sk_raft_snapshot_id){0, 0};
        got = response_round_trip(&resp, v, &a);
        cr_assert_leq(got.u.fetch_resp.snapshot.end_offset, 0, "no snapshot named");
        kp_arena_free(&a);
    }
}

Test(raft_wire, fetch_snapshot_of_another_topic_is_an_invalid_request)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_raft_msg req = {.type = SK_RAFT_FETCH_SNAPSHOT_REQ, .src = 2, .dst = 1,
                              .cluster_id = cluster, .epoch = 7, .u.snap = {.id = {120, 6}}};
    kp_fetch_snapshot_request *body = new_struct(59, true, &a);
    cr_assert_eq(sk_raft_wire_request_out(&req, 1, body, &a), 0);
    body->topics.v[0].name = kp_str_c("other");
    struct sk_raft_msg in;
    cr_assert_eq(sk_raft_wire_request_in(59, 1, body, 1, &in), SK_ERR_INVALID_REQUEST);
    kp_arena_free(&a);
}
