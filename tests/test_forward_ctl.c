/* The active controller's side of forwarding and producer-id blocks, on a
 * node with a real metadata log in a temporary folder and no network: an
 * Envelope's embedded CreateTopics runs with no connection of its own and
 * its answer comes back whole inside the EnvelopeResponse; Envelopes the
 * controller must refuse are refused; NOT_CONTROLLER is found anywhere in a
 * response; AllocateProducerIds checks the broker's epoch as Kafka's
 * ClusterControlManager does and hands out committed, non-overlapping
 * blocks, also beside the node's own claims. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/api.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/envelope.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/metalog.h"
#include "skein/partition.h"
#include "skein/net.h"
#include "skein/producer_ids.h"
#include "skein/publisher.h"
#include "skein/submit.h"

#define CREATE_TOPICS 19
#define METADATA 3
#define PEER_BROKER 2
#define PEER_EPOCH 42

static char dir[64];
static struct sk_config cfg;
static struct sk_node bnode;
static struct sk_broker b;
static struct sk_broker *shard_list[1] = {&b};

static void register_broker(int32_t id, int64_t epoch)
{
    kp_register_broker_record r;
    kp_register_broker_record_init(&r);
    r.broker_id = id;
    r.broker_epoch = epoch;
    r.fenced = false;
    struct sk_meta_rec rec = {SK_META_REGISTER_BROKER, 0, &r};
    cr_assert_eq(sk_metalog_append(bnode.metalog, b.image, &rec, 1, sk_wall_ms()), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-fwdctl-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char logdirs[128];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[] = {logdirs};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 1, err, sizeof err), 0, "%s", err);
    memset(&b, 0, sizeof b);
    memset(&bnode, 0, sizeof bnode);
    b.node = &bnode;
    b.image = &bnode.image;
    bnode.cfg = &cfg;
    b.cfg = &cfg;
    bnode.node_id = cfg.node_id;
    bnode.shards = shard_list;
    bnode.nshards = 1;
    sk_meta_image_init(b.image);
    cr_assert_eq(sk_metalog_open(dir, b.image, sk_wall_ms(), &bnode.metalog), 0);
    register_broker(bnode.node_id, 0);
    register_broker(PEER_BROKER, PEER_EPOCH);
}

static void teardown(void)
{
    sk_producer_ids_free(&b);
    sk_ctl_submit_close(&bnode);
    sk_metalog_close(bnode.metalog);
    sk_publish_close(&b);
    sk_publish_node_close(&bnode);
    sk_meta_image_free(&bnode.image);
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward_ctl, .init = setup, .fini = teardown);

/* A client's request frame (header and body, no size). */
static size_t client_frame(uint8_t *buf, size_t cap, int16_t key, int16_t version, int32_t corr,
                           const void *body)
{
    const kp_api_info *api = kp_api_get(key);
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = key;
    h.request_api_version = version;
    h.correlation_id = corr;
    h.client_id = kp_str_c("adminclient-1");
    kp_writer w;
    kp_writer_init(&w, buf, cap);
    cr_assert_eq(kp_request_header_encode(&h, &w, kp_request_header_version(api, version)), 0);
    cr_assert_eq(api->request.encode(body, &w, version), 0);
    return (size_t)(w.p - buf);
}

static size_t create_topics_frame(uint8_t *buf, size_t cap, int16_t version, int32_t corr)
{
    static kp_create_topics_request_creatable_topic t;
    kp_create_topics_request_creatable_topic_init(&t);
    t.name = kp_str_c("forwarded");
    t.num_partitions = 3;
    t.replication_factor = 1;
    kp_create_topics_request q;
    kp_create_topics_request_init(&q);
    q.topics = (kp_create_topics_request_creatable_topic_arr){1, &t};
    q.timeout_ms = 15000;
    return client_frame(buf, cap, CREATE_TOPICS, version, corr, &q);
}

/* What the Envelope's answer was: the whole frame the controller sent. */
static uint8_t answer[4096];
static size_t answer_len;
static int answers;

static void capture(struct sk_request *req, const struct sk_seg *segs, unsigned n, bool close)
{
    (void)req;
    cr_assert(!close, "the Envelope's connection would be closed");
    answer_len = 0;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(segs[i].kind, SK_SEG_MEM);
        cr_assert_leq(answer_len + segs[i].len, sizeof answer);
        memcpy(answer + answer_len, segs[i].u.mem, segs[i].len);
        answer_len += segs[i].len;
        if (segs[i].free_fn)
            segs[i].free_fn(segs[i].free_arg);
    }
    answers++;
}

/* Runs an Envelope around data on the controller as its CONTROLLER
 * listener would (the outer request answered into `answer`), and returns
 * its decoded EnvelopeResponse, in a. */
static kp_envelope_response run_envelope(kp_bytes data, kp_arena *a)
{
    struct sk_request *req = calloc(1, sizeof *req);
    cr_assert_not_null(req);
    req->broker = &b;
    req->api = kp_api_get(SK_API_ENVELOPE);
    req->correlation_id = 99;
    kp_arena_init(&req->arena, 0);
    kp_envelope_request *env = sk_request_alloc(req, sizeof *env);
    kp_arena pa;
    kp_arena_init(&pa, 0);
    kp_bytes principal;
    cr_assert_eq(sk_envelope_principal(&pa, kp_str_c("User"), kp_str_c("ANONYMOUS"), &principal),
                 0);
    const uint8_t addr[4] = {127, 0, 0, 1};
    sk_envelope_wrap(env, data, principal, (kp_bytes){addr, 4});
    req->body = env;
    req->resp = sk_request_alloc(req, req->api->response.struct_size);
    req->api->response.init(req->resp);
    req->captured = capture;
    answers = 0;
    sk_api_envelope(req); /* answers and frees req */
    kp_arena_free(&pa);
    cr_assert_eq(answers, 1, "the Envelope is answered once, at once (a sole node commits)");
    kp_reader r;
    kp_reader_init(&r, answer + 4, answer_len - 4, a);
    kp_response_header h;
    kp_response_header_init(&h);
    cr_assert_eq(kp_response_header_decode(&h, &r, kp_response_header_version(
                                                       kp_api_get(SK_API_ENVELOPE), 0)), 0);
    cr_assert_eq(h.correlation_id, 99);
    kp_envelope_response resp;
    cr_assert_eq(kp_envelope_response_decode(&resp, &r, 0), 0);
    return resp;
}

static void forwarded_create_topics(int16_t version)
{
    uint8_t frame[256];
    size_t n = create_topics_frame(frame, sizeof frame, version, 4711);
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_envelope_response env = run_envelope((kp_bytes){frame, (int32_t)n}, &a);
    cr_assert_eq(env.error_code, SK_ERR_NONE);
    int32_t corr;
    kp_bytes body;
    cr_assert_eq(sk_envelope_open_response(env.response_data, CREATE_TOPICS, version, &a, &corr,
                                           &body), SK_ERR_NONE);
    cr_assert_eq(corr, 4711, "the client's correlation id comes back");
    kp_reader r;
    kp_reader_init(&r, body.ptr, (size_t)body.len, &a);
    kp_create_topics_response got;
    cr_assert_eq(kp_create_topics_response_decode(&got, &r, version), 0);
    cr_assert_eq(kp_left(&r), 0, "the body is the whole response");
    cr_assert_eq(got.topics.n, 1);
    cr_assert(kp_str_eq(got.topics.v[0].name, kp_str_c("forwarded")));
    cr_assert_eq(got.topics.v[0].error_code, SK_ERR_NONE);
    const struct sk_topic_meta *t = sk_meta_topic(b.image, "forwarded", 9);
    cr_assert_not_null(t, "the topic was committed on the controller");
    cr_assert_eq(t->npartitions, 3);
    kp_arena_free(&a);
}

Test(forward_ctl, envelope_runs_create_topics_v2)
{
    forwarded_create_topics(2);
}

Test(forward_ctl, envelope_runs_create_topics_v7_flexible)
{
    forwarded_create_topics(7);
}

static int16_t envelope_error(kp_bytes data)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_envelope_response env = run_envelope(data, &a);
    cr_assert_eq(env.response_data.len, -1, "a refused Envelope carries no response");
    kp_arena_free(&a);
    return env.error_code;
}

Test(forward_ctl, envelope_refuses_what_brokers_do_not_forward)
{
    uint8_t frame[256];
    kp_metadata_request md;
    kp_metadata_request_init(&md);
    size_t n = client_frame(frame, sizeof frame, METADATA, 9, 5, &md);
    cr_assert_eq(envelope_error((kp_bytes){frame, (int32_t)n}), SK_ERR_INVALID_REQUEST,
                 "Metadata is not forwardable");
    uint8_t junk[6] = {0, CREATE_TOPICS, 0, 2, 0, 0};
    cr_assert_eq(envelope_error((kp_bytes){junk, 6}), SK_ERR_INVALID_REQUEST, "a short header");
    n = create_topics_frame(frame, sizeof frame, 2, 6);
    cr_assert_eq(envelope_error((kp_bytes){frame, (int32_t)n - 3}), SK_ERR_INVALID_REQUEST,
                 "a truncated body");
    n = create_topics_frame(frame, sizeof frame, 2, 6);
    frame[3] = 99; /* version 99 */
    cr_assert_eq(envelope_error((kp_bytes){frame, (int32_t)n}), SK_ERR_UNSUPPORTED_VERSION);
    cr_assert_null(sk_meta_topic(b.image, "forwarded", 9), "nothing ran");
}

Test(forward_ctl, not_controller_is_found_anywhere_in_a_response)
{
    kp_create_topics_response_creatable_topic_result t[2];
    kp_create_topics_response_creatable_topic_result_init(&t[0]);
    kp_create_topics_response_creatable_topic_result_init(&t[1]);
    t[1].error_code = SK_ERR_NOT_CONTROLLER;
    kp_create_topics_response ct;
    kp_create_topics_response_init(&ct);
    ct.topics = (kp_create_topics_response_creatable_topic_result_arr){1, t};
    cr_assert_not(sk_forward_ctl_has_error(CREATE_TOPICS, &ct, SK_ERR_NOT_CONTROLLER));
    ct.topics.n = 2;
    cr_assert(sk_forward_ctl_has_error(CREATE_TOPICS, &ct, SK_ERR_NOT_CONTROLLER));
    kp_update_features_response uf;
    kp_update_features_response_init(&uf);
    cr_assert_not(sk_forward_ctl_has_error(57, &uf, SK_ERR_NOT_CONTROLLER));
    uf.error_code = SK_ERR_NOT_CONTROLLER;
    cr_assert(sk_forward_ctl_has_error(57, &uf, SK_ERR_NOT_CONTROLLER));
    cr_assert(sk_forward_ctl_forwardable(CREATE_TOPICS));
    cr_assert_not(sk_forward_ctl_forwardable(METADATA));
    cr_assert_not(sk_forward_ctl_forwardable(SK_API_ENVELOPE));
}

/* ---- AllocateProducerIds ---------------------------------------------------- */

static struct {
    int16_t err;
    char msg[160];
    int64_t start;
    int32_t len;
    int calls;
} got;

static void block(void *arg, int16_t err, const char *msg, int64_t start, int32_t len)
{
    (void)arg;
    got.err = err;
    snprintf(got.msg, sizeof got.msg, "%s", msg ? msg : "");
    got.start = start;
    got.len = len;
    got.calls++;
}

static void allocate(int32_t broker, int64_t epoch)
{
    memset(&got, 0, sizeof got);
    sk_ctl_allocate_producer_ids(&b, broker, epoch, block, NULL);
    cr_assert_eq(got.calls, 1, "answered once (a sole node commits at once)");
}

Test(forward_ctl, allocate_checks_the_broker_epoch)
{
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    allocate(PEER_BROKER, PEER_EPOCH - 1);
    cr_assert_eq(got.err, SK_ERR_STALE_BROKER_EPOCH);
    cr_assert_str_eq(got.msg, "Expected broker epoch 42, but got broker epoch 41");
    allocate(7, 0);
    cr_assert_eq(got.err, SK_ERR_STALE_BROKER_EPOCH);
    cr_assert_str_eq(got.msg, "No broker registration found for broker 7");
    cr_assert_eq(sk_metalog_end_offset(bnode.metalog), end, "nothing was written");
}

static int64_t local_id = -1;
static void local_answer(void *arg, int16_t err, int64_t id)
{
    (void)arg;
    cr_assert_eq(err, SK_ERR_NONE);
    local_id = id;
}

Test(forward_ctl, allocate_hands_out_committed_blocks_that_never_overlap)
{
    allocate(PEER_BROKER, PEER_EPOCH);
    cr_assert_eq(got.err, SK_ERR_NONE, "%s", got.msg);
    cr_assert_eq(got.start, 0);
    cr_assert_eq(got.len, SK_PRODUCER_ID_BLOCK);
    cr_assert_eq(b.image->next_producer_id, SK_PRODUCER_ID_BLOCK, "the block is committed");
    /* The node's own claim comes from the same working image. */
    struct sk_producer_id_wait w;
    sk_producer_id_request(&b, &w, local_answer, NULL);
    cr_assert_eq(local_id, SK_PRODUCER_ID_BLOCK);
    allocate(PEER_BROKER, PEER_EPOCH);
    cr_assert_eq(got.err, SK_ERR_NONE);
    cr_assert_eq(got.start, 2 * SK_PRODUCER_ID_BLOCK, "after the node's own block");
    cr_assert_eq(b.image->next_producer_id, 3 * SK_PRODUCER_ID_BLOCK);
}

/* A broker fed by a source (the active controller) takes the next block
 * once 90% of the current one is out, and moves to it when that is used. */
static int asks;
static sk_producer_id_block_fn pending;
static void source(struct sk_broker *br, sk_producer_id_block_fn fn)
{
    (void)br;
    asks++;
    pending = fn;
}

Test(forward_ctl, remote_blocks_are_fetched_ahead)
{
    cr_assert_eq(sk_producer_ids_set_source(&b, source), 0);
    struct sk_producer_id_wait w[SK_PRODUCER_ID_BLOCK + 1];
    sk_producer_id_request(&b, &w[0], local_answer, NULL);
    cr_assert_eq(asks, 1);
    cr_assert_eq(local_id, -1, "no id before a block");
    pending(&b, SK_ERR_NONE, 5000, SK_PRODUCER_ID_BLOCK);
    cr_assert_eq(local_id, 5000);
    for (int i = 1; i < 900; i++)
        sk_producer_id_request(&b, &w[i], local_answer, NULL);
    cr_assert_eq(local_id, 5899);
    cr_assert_eq(asks, 1, "below 90%% nothing is asked");
    sk_producer_id_request(&b, &w[900], local_answer, NULL);
    cr_assert_eq(asks, 2, "at 90%% the next block is asked for");
    pending(&b, SK_ERR_NONE, 9000, SK_PRODUCER_ID_BLOCK);
    for (int i = 901; i < SK_PRODUCER_ID_BLOCK; i++)
        sk_producer_id_request(&b, &w[i], local_answer, NULL);
    cr_assert_eq(local_id, 5999);
    sk_producer_id_request(&b, &w[SK_PRODUCER_ID_BLOCK], local_answer, NULL);
    cr_assert_eq(local_id, 9000, "the block fetched ahead follows");
    cr_assert_eq(asks, 2);
}
