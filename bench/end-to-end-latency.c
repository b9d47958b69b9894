/* kafka.tools.EndToEndLatency on librdkafka: send one record synchronously,
 * poll until it comes back, repeat; Kafka's arguments and report lines. */
#include "common.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define POLL_TIMEOUT_MS 60000

static rd_kafka_resp_err_t g_dr_err;
static bool g_dr_done;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    g_dr_err = m->err;
    g_dr_done = true;
}

static int usage(void)
{
    fprintf(stderr, "USAGE: java org.apache.kafka.tools.EndToEndLatency broker_list topic num_messages producer_acks "
                    "message_size_bytes [optional] properties_file\n"
                    "(--json anywhere adds one JSON summary line; not in Kafka's tool)\n");
    return 1;
}

int main(int argc, char **argv)
{
    char *args[6];
    int nargs = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (nargs < 6)
            args[nargs++] = argv[i];
        else
            return usage();
    }
    if (nargs != 5 && nargs != 6)
        return usage();
    const char *brokers = args[0], *topic = args[1], *acks = args[3];
    int64_t num, size;
    if (bench_parse_i64(args[2], &num) || bench_parse_i64(args[4], &size) || num <= 0 || size < 0) {
        fprintf(stderr, "For input string: \"%s\"\n", bench_parse_i64(args[2], &num) ? args[2] : args[4]);
        return 1;
    }
    if (strcmp(acks, "1") && strcmp(acks, "all")) {
        fprintf(stderr, "Latency testing requires synchronous acknowledgement. Please use 1 or all\n");
        return 1;
    }
    struct bench_props props = { 0 };
    if (nargs == 6 && args[5][0] && bench_props_load(&props, args[5]) < 0) {
        fprintf(stderr, "%s (No such file or directory)\n", args[5]);
        return 1;
    }
    bench_props_put(&props, "bootstrap.servers", brokers);

    char errstr[512], group[64];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    if (bench_conf_apply(pc, &props) < 0)
        return 1;
    bench_conf_set(pc, "linger.ms", "0");
    bench_conf_set(pc, "acks", acks);
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    if (!prod) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    if (bench_conf_apply(cc, &props) < 0)
        return 1;
    snprintf(group, sizeof(group), "test-group-%" PRId64, bench_now_ms());
    bench_conf_set(cc, "group.id", group);
    bench_conf_set(cc, "enable.auto.commit", "false");
    bench_conf_set(cc, "auto.offset.reset", "latest");
    /* No temporal batching: the fetch returns as soon as the record is there. */
    bench_conf_set(cc, "fetch.wait.max.ms", "0");
    bench_conf_set(cc, "fetch.error.backoff.ms", "0");
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr));
    if (!cons) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }

    /* Assign every partition at its end, as setupConsumer does with
     * assign + seekToEnd + position. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *mt = rd_kafka_topic_new(cons, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(cons, 0, mt, &md, 10000);
    rd_kafka_topic_destroy(mt);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        fprintf(stderr, "Topic \"%s\" is not available: %s\n", topic,
                rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        int32_t p = md->topics[0].partitions[i].id;
        if (rd_kafka_query_watermark_offsets(cons, topic, p, &lo, &hi, 10000)) {
            fprintf(stderr, "cannot read the end offset of %s-%d\n", topic, p);
            return 1;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = hi;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_assign(cons, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(prod, topic, NULL);

    int64_t *lat_ms = calloc((size_t)num, sizeof(*lat_ms));
    int64_t *lat_us = calloc((size_t)num, sizeof(*lat_us));
    char *msg = malloc((size_t)size + 1);
    struct java_random random;
    java_random_init(&random, 0);
    double total_ns = 0;
    for (int64_t i = 0; i < num; i++) {
        /* One random letter repeated, as randomBytesOfLen does. */
        memset(msg, java_random_next_int(&random, 26) + 65, (size_t)size);
        int64_t begin = bench_mono_ns();
        g_dr_done = false;
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, msg, (size_t)size, NULL, 0, NULL)) {
            fprintf(stderr, "produce failed: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return 1;
        }
        while (!g_dr_done)
            rd_kafka_poll(prod, 100);
        if (g_dr_err) {
            fprintf(stderr, "send failed: %s\n", rd_kafka_err2str(g_dr_err));
            return 1;
        }
        rd_kafka_message_t *m = NULL;
        int64_t deadline = bench_mono_ns() + (int64_t)POLL_TIMEOUT_MS * 1000000;
        while (!m && bench_mono_ns() < deadline) {
            m = rd_kafka_consumer_poll(cons, 100);
            if (m && m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                m = NULL;
            }
        }
        int64_t elapsed = bench_mono_ns() - begin;
        if (!m) {
            fprintf(stderr, "poll() timed out before finding a result (timeout:[%d])\n", POLL_TIMEOUT_MS);
            return 1;
        }
        if (m->len != (size_t)size || memcmp(m->payload, msg, (size_t)size)) {
            fprintf(stderr, "The message read [%.*s] did not match the message sent [%.*s]\n", (int)m->len,
                    (const char *)m->payload, (int)size, msg);
            return 1;
        }
        rd_kafka_message_destroy(m);
        /* Kafka checks that the poll returned exactly one record; anything
         * queued behind it would come out of the next poll. */
        m = rd_kafka_consumer_poll(cons, 0);
        if (m && !m->err) {
            fprintf(stderr, "Only one result was expected during this test. We found [2]\n");
            return 1;
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (i % 1000 == 0) {
            char d[64];
            java_double_str(d, sizeof(d), (double)elapsed / 1000.0 / 1000.0);
            printf("%" PRId64 "\t%s\n", i, d);
            fflush(stdout);
        }
        total_ns += (double)elapsed;
        lat_ms[i] = elapsed / 1000 / 1000;
        lat_us[i] = elapsed / 1000;
    }
    printf("Avg latency: %.4f ms\n", total_ns / (double)num / 1000.0 / 1000.0);
    bench_sort_i64(lat_ms, (size_t)num);
    printf("Percentiles: 50th = %d, 99th = %d, 99.9th = %d\n", (int)bench_pct_i64(lat_ms, (size_t)num, 0.5),
           (int)bench_pct_i64(lat_ms, (size_t)num, 0.99), (int)bench_pct_i64(lat_ms, (size_t)num, 0.999));
    if (json) {
        bench_sort_i64(lat_us, (size_t)num);
        printf("{\"tool\":\"end-to-end-latency\",\"records\":%" PRId64 ",\"avg_ms\":%.3f,\"max_ms\":%.3f"
               ",\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f}\n",
               num, total_ns / (double)num / 1e6, lat_us[num - 1] / 1000.0,
               bench_pct_i64(lat_us, (size_t)num, 0.5) / 1000.0, bench_pct_i64(lat_us, (size_t)num, 0.95) / 1000.0,
               bench_pct_i64(lat_us, (size_t)num, 0.99) / 1000.0, bench_pct_i64(lat_us, (size_t)num, 0.999) / 1000.0);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_flush(prod, 5000);
    rd_kafka_destroy(prod);
    bench_props_free(&props);
    free(msg);
    free(lat_ms);
    free(lat_us);
    return 0;
}
