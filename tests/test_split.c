/* Requests split over shards: a real node answering a real socket, with four
 * shard contexts that each own their partitions (by sk_shard_of_partition)
 * and share one reactor, so every cross-shard step goes through
 * sk_node_post. A request whose partitions are on every shard must come
 * back whole, in its own order, with each partition's own result. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/buf.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/publisher.h"
#include "skein/record.h"
#include "skein/server.h"
#include "testnode.h"
#include "wire.h"

#define NSHARDS 4
#define NPARTS 8

static char dir[64];
static struct sk_config cfg;
static struct sk_node node;
static struct sk_broker home, others[NSHARDS - 1];
static pthread_t loop;
static uint16_t port;

static void *run_loop(void *arg)
{
    (void)arg;
    sk_server_run(&home);
    return NULL;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-split-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    const char *ov[] = {"skein.num.shards=1"}; /* the test makes its own shard contexts */
    sk_test_node_config(&cfg, dir, ov, 1);
    char err[256];
    cr_assert_eq(sk_server_open(&node, &home, &cfg, err, sizeof err), 0, "%s", err);
    node.shards = realloc(node.shards, sizeof *node.shards * NSHARDS);
    for (int s = 1; s < NSHARDS; s++) {
        struct sk_broker *b = &others[s - 1];
        *b = (struct sk_broker){.node = &node, .index = s, .cfg = &cfg, .image = sk_meta_image_ref(home.image),
                                .shard = home.shard, .syncer = home.syncer};
        node.shards[s] = b;
    }
    node.nshards = NSHARDS;
    char msg[256];
    struct sk_topic_spec ts = {.name = kp_str_c("t"), .partitions = NPARTS, .replication_factor = 1};
    cr_assert_eq(sk_topic_create(&home, &ts, false, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    /* The other shards share shard 0's reactor, whose loop has not started:
     * they take the new image now rather than from their posted publication
     * (which then changes nothing). */
    for (int s = 1; s < NSHARDS; s++) {
        struct sk_broker *b = node.shards[s];
        sk_meta_image_release(b->image);
        b->image = sk_meta_image_ref(home.image);
        cr_assert_eq(sk_partitions_sync(b), 0);
    }
    for (int s = 0; s < NSHARDS; s++)
        cr_assert_gt(node.shards[s]->nparts, 0, "shard %d owns none of the partitions", s);
    port = node.advertised_port;
    cr_assert_eq(pthread_create(&loop, NULL, run_loop, NULL), 0);
}

static void teardown(void)
{
    sk_server_stop(&home);
    pthread_join(loop, NULL);
    for (int s = 1; s < NSHARDS; s++) {
        sk_partitions_close_all(node.shards[s]);
        sk_publish_close(node.shards[s]);
    }
    sk_server_close(&home);
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(split, .init = setup, .fini = teardown, .timeout = 120);

static int connect_node(void)
{
    int fd = sk_test_connect(port);
    cr_assert_geq(fd, 0);
    return fd;
}

static int32_t call_send(int fd, int16_t key, int16_t version, const void *body)
{
    return sk_test_send(fd, "split-test", key, version, body);
}

static void call_recv(int fd, int16_t key, int16_t version, int32_t id, void *resp, kp_arena *a)
{
    sk_test_receive(fd, id, key, version, resp, a);
}

static void call(int fd, int16_t key, int16_t version, const void *body, void *resp, kp_arena *a)
{
    sk_test_call(fd, "split-test", key, version, body, resp, a);
}

/* Partitions in an order unlike their shards'. */
static const int32_t order[NPARTS] = {5, 2, 7, 0, 3, 6, 1, 4};

static kp_bytes batch_spec(kp_arena *a, int32_t partition, int records,
                           const struct sk_batch_spec *spec);

static kp_bytes batch_of(kp_arena *a, int32_t partition, int records)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    return batch_spec(a, partition, records, &spec);
}

static kp_bytes batch_spec(kp_arena *a, int32_t partition, int records,
                           const struct sk_batch_spec *spec)
{
    struct sk_buf out = {0};
    struct sk_record_in in[4];
    char val[4][16];
    for (int i = 0; i < records; i++) {
        snprintf(val[i], sizeof val[i], "p%d-%d", partition, i);
        in[i] = (struct sk_record_in){.timestamp = sk_wall_ms(), .key_len = -1, .value = val[i],
                                      .value_len = (int32_t)strlen(val[i])};
    }
    cr_assert_eq(sk_batch_build(&out, spec, in, (size_t)records), 0);
    uint8_t *p = kp_arena_alloc(a, out.len);
    memcpy(p, out.data, out.len);
    kp_bytes b = {p, (int32_t)out.len};
    sk_buf_free(&out);
    return b;
}

/* One produce of every partition, partition p getting (p % 3) + 1 records. */
static void produce(int fd, int16_t acks, kp_arena *a, kp_produce_response *resp)
{
    kp_produce_request req;
    kp_produce_request_init(&req);
    req.acks = acks;
    req.timeout_ms = 30000;
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    kp_produce_request_partition_produce_data pd[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_produce_request_partition_produce_data_init(&pd[i]);
        pd[i].index = order[i];
        pd[i].records = batch_of(a, order[i], order[i] % 3 + 1);
    }
    td.partition_data = (kp_produce_request_partition_produce_data_arr){NPARTS, pd};
    req.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    call(fd, 0, 9, &req, resp, a);
}

static void check_produced(const kp_produce_response *resp, int round)
{
    cr_assert_eq(resp->responses.n, 1);
    cr_assert_eq(resp->responses.v[0].partition_responses.n, NPARTS);
    for (int i = 0; i < NPARTS; i++) {
        const kp_produce_response_partition_produce_response *r =
            &resp->responses.v[0].partition_responses.v[i];
        cr_assert_eq(r->index, order[i], "answer %d is partition %d, expected %d", i, r->index, order[i]);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "partition %d: %s", r->index, sk_err_name(r->error_code));
        cr_assert_eq(r->base_offset, (int64_t)round * (order[i] % 3 + 1),
                     "partition %d: base offset %lld", r->index, (long long)r->base_offset);
    }
}

Test(split, produce_over_every_shard_answers_in_request_order)
{
    int fd = connect_node();
    for (int round = 0; round < 3; round++) {
        kp_arena a;
        kp_arena_init(&a, 0);
        kp_produce_response resp;
        produce(fd, round == 1 ? 1 : -1, &a, &resp);
        check_produced(&resp, round);
        kp_arena_free(&a);
    }
    /* Each record went to the log of its partition, on that partition's shard. */
    for (int s = 0; s < NSHARDS; s++)
        for (int i = 0; i < node.shards[s]->nparts; i++) {
            const struct sk_partition *p = node.shards[s]->parts[i];
            cr_assert_eq(p->broker, node.shards[s]);
            cr_assert_eq(p->high_watermark, 3 * (p->id % 3 + 1), "%s-%d: high watermark %lld",
                         p->topic, p->id, (long long)p->high_watermark);
        }
    close(fd);
}

static void list_offsets(int fd, int16_t version, int64_t ts, kp_arena *a,
                         kp_list_offsets_response *resp)
{
    kp_list_offsets_request req;
    kp_list_offsets_request_init(&req);
    req.replica_id = -1;
    kp_list_offsets_request_list_offsets_topic t;
    kp_list_offsets_request_list_offsets_topic_init(&t);
    t.name = kp_str_c("t");
    kp_list_offsets_request_list_offsets_partition lp[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_list_offsets_request_list_offsets_partition_init(&lp[i]);
        lp[i].partition_index = order[i];
        lp[i].timestamp = ts;
        lp[i].max_num_offsets = version == 0 ? 2 : 1;
    }
    t.partitions = (kp_list_offsets_request_list_offsets_partition_arr){NPARTS, lp};
    req.topics = (kp_list_offsets_request_list_offsets_topic_arr){1, &t};
    call(fd, 2, version, &req, resp, a);
    cr_assert_eq(resp->topics.n, 1);
    cr_assert_eq(resp->topics.v[0].partitions.n, NPARTS);
}

Test(split, list_offsets_over_every_shard_answers_in_request_order)
{
    int fd = connect_node();
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_produce_response presp;
    produce(fd, 1, &a, &presp);
    produce(fd, 1, &a, &presp);
    check_produced(&presp, 1);
    kp_list_offsets_response resp;
    list_offsets(fd, 7, -1, &a, &resp);
    for (int i = 0; i < NPARTS; i++) {
        const kp_list_offsets_response_list_offsets_partition_response *r =
            &resp.topics.v[0].partitions.v[i];
        cr_assert_eq(r->partition_index, order[i]);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "partition %d: %s", order[i], sk_err_name(r->error_code));
        cr_assert_eq(r->offset, 2 * (order[i] % 3 + 1), "partition %d: latest %lld", order[i],
                     (long long)r->offset);
    }
    /* v0 answers with a list each shard allocates for itself. */
    list_offsets(fd, 0, -1, &a, &resp);
    for (int i = 0; i < NPARTS; i++) {
        const kp_list_offsets_response_list_offsets_partition_response *r =
            &resp.topics.v[0].partitions.v[i];
        cr_assert_eq(r->partition_index, order[i]);
        cr_assert_eq(r->old_style_offsets.n, 2, "partition %d: %d offsets", order[i],
                     r->old_style_offsets.n);
        cr_assert_eq(r->old_style_offsets.v[0], 2 * (order[i] % 3 + 1));
        cr_assert_eq(r->old_style_offsets.v[1], 0);
    }
    kp_arena_free(&a);
    close(fd);
}

static int32_t fetch_send(int fd, int32_t max_wait, int32_t min_bytes, const int64_t *from)
{
    kp_fetch_request req;
    kp_fetch_request_init(&req);
    req.replica_id = -1;
    req.max_wait_ms = max_wait;
    req.min_bytes = min_bytes;
    req.session_epoch = -1; /* no session */
    kp_fetch_request_fetch_topic t;
    kp_fetch_request_fetch_topic_init(&t);
    t.topic = kp_str_c("t");
    kp_fetch_request_fetch_partition fp[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_fetch_request_fetch_partition_init(&fp[i]);
        fp[i].partition = order[i];
        fp[i].fetch_offset = from[i];
        fp[i].partition_max_bytes = 1 << 20;
    }
    t.partitions = (kp_fetch_request_fetch_partition_arr){NPARTS, fp};
    req.topics = (kp_fetch_request_fetch_topic_arr){1, &t};
    return call_send(fd, 1, 12, &req);
}

static void fetch_recv(int fd, int32_t id, kp_arena *a, kp_fetch_response *resp)
{
    call_recv(fd, 1, 12, id, resp, a);
    cr_assert_eq(resp->error_code, SK_ERR_NONE);
    cr_assert_eq(resp->responses.n, 1);
    cr_assert_eq(resp->responses.v[0].partitions.n, NPARTS);
}

/* The records of one partition's answer: first offset and count. */
static void records_of(const kp_fetch_response_partition_data *d, int64_t *first, int *count)
{
    *first = -1;
    *count = 0;
    const uint8_t *p = (const uint8_t *)d->records.ptr;
    size_t left = d->records.len > 0 ? (size_t)d->records.len : 0;
    struct sk_batch_header h;
    while (left > 0 && sk_batch_header_read(p, left, &h) == 0) {
        if (*first < 0)
            *first = h.base_offset;
        *count += h.record_count;
        p += sk_batch_size(&h);
        left -= sk_batch_size(&h);
    }
}

Test(split, fetch_over_every_shard_answers_in_request_order)
{
    int fd = connect_node();
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_produce_response presp;
    produce(fd, 1, &a, &presp);
    produce(fd, -1, &a, &presp);
    check_produced(&presp, 1);
    int64_t from[NPARTS];
    for (int i = 0; i < NPARTS; i++)
        from[i] = order[i] % 2; /* the odd ones skip their first record */
    kp_fetch_response resp;
    fetch_recv(fd, fetch_send(fd, 0, 1, from), &a, &resp);
    for (int i = 0; i < NPARTS; i++) {
        const kp_fetch_response_partition_data *d = &resp.responses.v[0].partitions.v[i];
        int per = order[i] % 3 + 1;
        cr_assert_eq(d->partition_index, order[i], "answer %d is partition %d", i, d->partition_index);
        cr_assert_eq(d->error_code, SK_ERR_NONE, "partition %d: %s", order[i], sk_err_name(d->error_code));
        cr_assert_eq(d->high_watermark, 2 * per);
        int64_t first;
        int count;
        records_of(d, &first, &count);
        /* Whole batches of per records: from the one holding the offset. */
        int64_t base = from[i] / per * per;
        cr_assert_eq(first, base, "partition %d: first offset %lld", order[i], (long long)first);
        cr_assert_eq(count, 2 * per - base, "partition %d: %d records", order[i], count);
    }
    kp_arena_free(&a);
    close(fd);
}

/* One record to one partition, acks=1. */
static void produce_to(int fd, int32_t partition, kp_arena *a)
{
    kp_produce_request req;
    kp_produce_request_init(&req);
    req.acks = 1;
    req.timeout_ms = 30000;
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    kp_produce_request_partition_produce_data pd;
    kp_produce_request_partition_produce_data_init(&pd);
    pd.index = partition;
    pd.records = batch_of(a, partition, 1);
    td.partition_data = (kp_produce_request_partition_produce_data_arr){1, &pd};
    req.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    kp_produce_response resp;
    call(fd, 0, 9, &req, &resp, a);
    cr_assert_eq(resp.responses.v[0].partition_responses.v[0].error_code, SK_ERR_NONE);
}

/* A fetch waiting at the log end of every partition is woken by a record
 * appended on another shard, whether it comes before the owners read,
 * while they read, or once the fetch waits; each round a different shard. */
Test(split, parked_fetch_wakes_on_another_shards_append)
{
    int fd = connect_node(), pfd = connect_node();
    kp_arena a;
    kp_arena_init(&a, 0);
    int64_t end[NPARTS] = {0};
    for (int round = 0; round < 6; round++) {
        int target = -1;
        for (int i = 0; i < NPARTS && target < 0; i++)
            if (sk_shard_of_partition(&node, kp_str_c("t"), order[i]) == 1 + round % (NSHARDS - 1))
                target = i;
        cr_assert_geq(target, 0);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* The wait is far beyond the test's bound: only a wake-up answers in time. */
        int32_t id = fetch_send(fd, 100000, 1, end);
        produce_to(pfd, order[target], &a);
        kp_fetch_response resp;
        fetch_recv(fd, id, &a, &resp);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cr_assert_lt(t1.tv_sec - t0.tv_sec, 60, "the fetch waited for its max wait");
        for (int i = 0; i < NPARTS; i++) {
            const kp_fetch_response_partition_data *d = &resp.responses.v[0].partitions.v[i];
            cr_assert_eq(d->partition_index, order[i]);
            cr_assert_eq(d->error_code, SK_ERR_NONE);
            int64_t first;
            int count;
            records_of(d, &first, &count);
            cr_assert_eq(count, i == target ? 1 : 0, "round %d, partition %d: %d records", round,
                         order[i], count);
            if (count)
                cr_assert_eq(first, end[i]);
        }
        end[target]++;
    }
    kp_arena_free(&a);
    close(fd);
    close(pfd);
}

Test(split, offset_for_leader_epoch_over_every_shard_answers_in_request_order)
{
    int fd = connect_node();
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_produce_response presp;
    produce(fd, 1, &a, &presp);
    kp_offset_for_leader_epoch_request req;
    kp_offset_for_leader_epoch_request_init(&req);
    req.replica_id = -1;
    kp_offset_for_leader_epoch_request_offset_for_leader_topic t;
    kp_offset_for_leader_epoch_request_offset_for_leader_topic_init(&t);
    t.topic = kp_str_c("t");
    kp_offset_for_leader_epoch_request_offset_for_leader_partition ep[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_offset_for_leader_epoch_request_offset_for_leader_partition_init(&ep[i]);
        ep[i].partition = order[i];
        ep[i].leader_epoch = 0;
    }
    t.partitions = (kp_offset_for_leader_epoch_request_offset_for_leader_partition_arr){NPARTS, ep};
    req.topics = (kp_offset_for_leader_epoch_request_offset_for_leader_topic_arr){1, &t};
    kp_offset_for_leader_epoch_response resp;
    call(fd, 23, 3, &req, &resp, &a);
    cr_assert_eq(resp.topics.n, 1);
    cr_assert_eq(resp.topics.v[0].partitions.n, NPARTS);
    for (int i = 0; i < NPARTS; i++) {
        const kp_offset_for_leader_epoch_response_epoch_end_offset *r = &resp.topics.v[0].partitions.v[i];
        cr_assert_eq(r->partition, order[i]);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "partition %d: %s", order[i], sk_err_name(r->error_code));
        cr_assert_eq(r->leader_epoch, 0);
        cr_assert_eq(r->end_offset, order[i] % 3 + 1, "partition %d: end %lld", order[i],
                     (long long)r->end_offset);
    }
    kp_arena_free(&a);
    close(fd);
}

Test(split, describe_producers_over_every_shard_answers_in_request_order)
{
    int fd = connect_node();
    kp_arena a;
    kp_arena_init(&a, 0);
    /* Partition p gets one batch from idempotent producer 1000 + p. */
    kp_produce_request preq;
    kp_produce_request_init(&preq);
    preq.acks = -1;
    preq.timeout_ms = 30000;
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    kp_produce_request_partition_produce_data pd[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        struct sk_batch_spec spec = sk_batch_spec_default();
        spec.producer_id = 1000 + order[i];
        spec.producer_epoch = 0;
        spec.base_sequence = 0;
        kp_produce_request_partition_produce_data_init(&pd[i]);
        pd[i].index = order[i];
        pd[i].records = batch_spec(&a, order[i], order[i] % 3 + 1, &spec);
    }
    td.partition_data = (kp_produce_request_partition_produce_data_arr){NPARTS, pd};
    preq.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    kp_produce_response presp;
    call(fd, 0, 9, &preq, &presp, &a);
    check_produced(&presp, 0);

    kp_describe_producers_request req;
    kp_describe_producers_request_init(&req);
    kp_describe_producers_request_topic_request t;
    kp_describe_producers_request_topic_request_init(&t);
    t.name = kp_str_c("t");
    t.partition_indexes = (kp_arr_i32){NPARTS, (int32_t *)order};
    req.topics = (kp_describe_producers_request_topic_request_arr){1, &t};
    kp_describe_producers_response resp;
    call(fd, 61, 0, &req, &resp, &a);
    cr_assert_eq(resp.topics.n, 1);
    cr_assert_eq(resp.topics.v[0].partitions.n, NPARTS);
    for (int i = 0; i < NPARTS; i++) {
        const kp_describe_producers_response_partition_response *r = &resp.topics.v[0].partitions.v[i];
        cr_assert_eq(r->partition_index, order[i]);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "partition %d: %s", order[i], sk_err_name(r->error_code));
        cr_assert_eq(r->active_producers.n, 1, "partition %d: %d producers", order[i],
                     r->active_producers.n);
        cr_assert_eq(r->active_producers.v[0].producer_id, 1000 + order[i]);
        cr_assert_eq(r->active_producers.v[0].last_sequence, order[i] % 3);
    }
    kp_arena_free(&a);
    close(fd);
}
