/* Micro-benchmark of the generated codecs on the two messages that dominate a
 * broker's protocol work: a Produce v11 request carrying 10 partitions of
 * 16 KiB record batches, and a Metadata v12 response describing 1,000
 * partitions. Decoding includes the arena set-up and release the connection
 * code pays per request; encoding includes size(), which the response path
 * calls to frame the message.
 *
 * Usage: proto_bench [SECONDS_PER_CASE]   (default 0.5) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gen/kp_all.h"

#define RECORDS_BYTES (16 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the optimiser from dropping work whose result is otherwise unused. */
static volatile size_t sink;

struct bench_case {
    const char *name;
    const kp_msg_info *mi;
    int16_t version;
    const void *msg;   /* filled message, for encode */
    uint8_t *wire;     /* its encoding, for decode */
    size_t wire_len;
};

static void run_decode(const struct bench_case *c, uint64_t iters)
{
    /* One struct reused across iterations, as a connection reuses its
     * request slot; the arena is per request. */
    void *m = malloc(c->mi->struct_size);
    for (uint64_t i = 0; i < iters; i++) {
        kp_arena a;
        kp_arena_init(&a, 64 * c->wire_len + 65536);
        kp_reader r;
        kp_reader_init(&r, c->wire, c->wire_len, &a);
        if (c->mi->decode(m, &r, c->version) != 0 || r.p != r.end) {
            fprintf(stderr, "%s: decode failed\n", c->name);
            exit(1);
        }
        sink += a.used;
        kp_arena_free(&a);
    }
    free(m);
}

static void run_encode(const struct bench_case *c, uint64_t iters)
{
    uint8_t *buf = malloc(c->wire_len);
    for (uint64_t i = 0; i < iters; i++) {
        size_t n = c->mi->size(c->msg, c->version);
        kp_writer w;
        kp_writer_init(&w, buf, n);
        if (n != c->wire_len || c->mi->encode(c->msg, &w, c->version) != 0) {
            fprintf(stderr, "%s: encode failed\n", c->name);
            exit(1);
        }
        sink += buf[n - 1];
    }
    free(buf);
}

/* Runs fn in growing batches until min_s has passed; returns ns per op. */
static double measure(void (*fn)(const struct bench_case *, uint64_t),
                      const struct bench_case *c, double min_s, uint64_t *iters_out)
{
    fn(c, 16); /* warm caches and the allocator */
    uint64_t iters = 0, batch = 16;
    double t0 = now_s(), t;
    do {
        fn(c, batch);
        iters += batch;
        if (batch < (1u << 20))
            batch *= 2;
        t = now_s();
    } while (t - t0 < min_s);
    *iters_out = iters;
    return (t - t0) * 1e9 / (double)iters;
}

static const char *const topic_names[10] = {
    "orders.v1",          "payments.settled",     "inventory-updates", "user-events",
    "clickstream.raw",    "audit_log",            "shipment-tracking", "fraud.alerts.v2",
    "search.queries",     "email-notifications",
};

static void build_produce(struct bench_case *c, kp_arena *a)
{
    /* Record bytes are opaque to the codec; a fixed pattern is enough. */
    uint8_t *records = kp_arena_alloc(a, RECORDS_BYTES);
    for (size_t i = 0; i < RECORDS_BYTES; i++)
        records[i] = (uint8_t)(i * 131 + 7);
    kp_produce_request *m = kp_arena_alloc(a, sizeof *m);
    kp_produce_request_init(m);
    m->acks = -1;
    m->timeout_ms = 30000;
    m->topic_data.n = 10;
    m->topic_data.v = kp_arena_calloc(a, 10, sizeof *m->topic_data.v);
    for (int t = 0; t < 10; t++) {
        kp_produce_request_topic_produce_data *td = &m->topic_data.v[t];
        kp_produce_request_topic_produce_data_init(td);
        td->name = kp_str_c(topic_names[t]);
        td->partition_data.n = 1;
        td->partition_data.v = kp_arena_alloc(a, sizeof *td->partition_data.v);
        kp_produce_request_partition_produce_data_init(td->partition_data.v);
        td->partition_data.v->index = t % 3;
        td->partition_data.v->records = (kp_bytes){records, RECORDS_BYTES};
    }
    c->name = "Produce v11 req, 10 x 16 KiB";
    c->mi = &kp_api_get(0)->request;
    c->version = 11;
    c->msg = m;
}

static void build_metadata(struct bench_case *c, kp_arena *a)
{
    kp_metadata_response *m = kp_arena_alloc(a, sizeof *m);
    kp_metadata_response_init(m);
    m->cluster_id = kp_str_c("skein-bench-cluster-0001");
    m->controller_id = 1;
    m->brokers.n = 3;
    m->brokers.v = kp_arena_calloc(a, 3, sizeof *m->brokers.v);
    static const char *const hosts[3] = {"broker-1.kafka.internal", "broker-2.kafka.internal",
                                         "broker-3.kafka.internal"};
    for (int b = 0; b < 3; b++) {
        kp_metadata_response_metadata_response_broker_init(&m->brokers.v[b]);
        m->brokers.v[b].node_id = b + 1;
        m->brokers.v[b].host = kp_str_c(hosts[b]);
        m->brokers.v[b].port = 9092;
        m->brokers.v[b].rack = kp_str_c(b == 2 ? "us-east-1c" : "us-east-1a");
    }
    m->topics.n = 10;
    m->topics.v = kp_arena_calloc(a, 10, sizeof *m->topics.v);
    for (int t = 0; t < 10; t++) {
        kp_metadata_response_metadata_response_topic *tp = &m->topics.v[t];
        kp_metadata_response_metadata_response_topic_init(tp);
        tp->name = kp_str_c(topic_names[t]);
        for (int k = 0; k < 16; k++)
            tp->topic_id.b[k] = (uint8_t)(t * 16 + k + 1);
        tp->topic_authorized_operations = INT32_MIN;
        tp->partitions.n = 100;
        tp->partitions.v = kp_arena_calloc(a, 100, sizeof *tp->partitions.v);
        for (int p = 0; p < 100; p++) {
            kp_metadata_response_metadata_response_partition *pp = &tp->partitions.v[p];
            kp_metadata_response_metadata_response_partition_init(pp);
            pp->partition_index = p;
            pp->leader_id = 1 + (p % 3);
            pp->leader_epoch = 7;
            kp_arr_i32 *lists[2] = {&pp->replica_nodes, &pp->isr_nodes};
            for (int l = 0; l < 2; l++) {
                lists[l]->n = 3;
                lists[l]->v = kp_arena_alloc(a, 3 * sizeof(int32_t));
                for (int r = 0; r < 3; r++)
                    lists[l]->v[r] = 1 + (p + r) % 3;
            }
        }
    }
    c->name = "Metadata v12 resp, 1000 parts";
    c->mi = &kp_api_get(3)->response;
    c->version = 12;
    c->msg = m;
}

static void encode_once(struct bench_case *c, kp_arena *a)
{
    c->wire_len = c->mi->size(c->msg, c->version);
    c->wire = kp_arena_alloc(a, c->wire_len);
    kp_writer w;
    kp_writer_init(&w, c->wire, c->wire_len);
    if (c->mi->encode(c->msg, &w, c->version) != 0 || w.p != w.end) {
        fprintf(stderr, "%s: encode failed\n", c->name);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    double min_s = argc > 1 ? atof(argv[1]) : 0.5;
    if (min_s <= 0)
        min_s = 0.5;
    kp_arena a;
    kp_arena_init(&a, 0);
    struct bench_case cases[2];
    build_produce(&cases[0], &a);
    build_metadata(&cases[1], &a);

    printf("%-30s %-6s %10s %12s %10s %10s\n", "message", "op", "bytes", "iterations",
           "ns/op", "MB/s");
    for (int i = 0; i < 2; i++) {
        struct bench_case *c = &cases[i];
        encode_once(c, &a);
        struct {
            const char *op;
            void (*fn)(const struct bench_case *, uint64_t);
        } ops[2] = {{"decode", run_decode}, {"encode", run_encode}};
        for (int o = 0; o < 2; o++) {
            uint64_t iters;
            double ns = measure(ops[o].fn, c, min_s, &iters);
            /* MB/s in 10^6 bytes of wire format per second. */
            printf("%-30s %-6s %10zu %12llu %10.0f %10.1f\n", c->name, ops[o].op, c->wire_len,
                   (unsigned long long)iters, ns, (double)c->wire_len / ns * 1e3);
        }
    }
    kp_arena_free(&a);
    return 0;
}
