/* kafka-producer-perf-test on librdkafka: same options, same payload bytes,
 * same throttling and the same report lines as Kafka's ProducerPerformance,
 * so results read side by side with runs of the Java tool. */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "producer-performance"
#define REPORTING_INTERVAL_MS 5000
#define MAX_SAMPLES 500000
#define DEFAULT_TRANSACTION_DURATION_MS 3000

/* Kafka's Stats, plus a microsecond copy of each sampled latency so the
 * machine-readable summary carries decimals the Kafka lines truncate away. */
struct stats {
    int64_t start, window_start;
    int64_t sampling, iteration, count, bytes, total_latency, total_latency_us;
    int32_t *latencies;
    int64_t *latencies_us;
    int64_t index, nlat;
    int32_t max_latency;
    int64_t max_latency_us;
    int64_t window_count, window_total_latency, window_bytes;
    int32_t window_max_latency;
    bool steady, suppress;
};

static void stats_init(struct stats *s, int64_t num_records, bool steady)
{
    memset(s, 0, sizeof(*s));
    s->start = s->window_start = bench_now_ms();
    s->sampling = num_records / (num_records < MAX_SAMPLES ? num_records : MAX_SAMPLES);
    s->nlat = num_records / s->sampling + 1;
    s->latencies = calloc((size_t)s->nlat, sizeof(*s->latencies));
    s->latencies_us = calloc((size_t)s->nlat, sizeof(*s->latencies_us));
    s->steady = steady;
    if (!s->latencies || !s->latencies_us) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

static void print_window(struct stats *s)
{
    int64_t elapsed = bench_now_ms() - s->window_start;
    double recs = 1000.0 * (double)s->window_count / (double)elapsed;
    double mb = 1000.0 * (double)s->window_bytes / (double)elapsed / (1024.0 * 1024.0);
    printf("%" PRId64 " records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n",
           s->window_count, recs, mb, (double)s->window_total_latency / (double)s->window_count,
           (double)s->window_max_latency);
    fflush(stdout);
}

static void stats_record(struct stats *s, int32_t latency, int64_t latency_us, int64_t bytes, int64_t time)
{
    s->count++;
    s->bytes += bytes;
    s->total_latency += latency;
    s->total_latency_us += latency_us;
    if (latency > s->max_latency)
        s->max_latency = latency;
    if (latency_us > s->max_latency_us)
        s->max_latency_us = latency_us;
    s->window_count++;
    s->window_bytes += bytes;
    s->window_total_latency += latency;
    if (latency > s->window_max_latency)
        s->window_max_latency = latency;
    if (s->iteration % s->sampling == 0 && s->index < s->nlat) {
        s->latencies[s->index] = latency;
        s->latencies_us[s->index] = latency_us;
        s->index++;
    }
    if (time - s->window_start >= REPORTING_INTERVAL_MS) {
        if (s->steady && s->count == s->window_count)
            printf("In steady state.\n");
        if (!s->suppress)
            print_window(s);
        s->window_start = bench_now_ms();
        s->window_count = s->window_max_latency = 0;
        s->window_total_latency = s->window_bytes = 0;
    }
    s->iteration++;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void print_total(struct stats *s, bool json, int64_t errors)
{
    int64_t elapsed = bench_now_ms() - s->start;
    double recs = 1000.0 * (double)s->count / (double)elapsed;
    double mb = 1000.0 * (double)s->bytes / (double)elapsed / (1024.0 * 1024.0);
    size_t n = (size_t)s->index;
    qsort(s->latencies, n, sizeof(*s->latencies), cmp_i32);
    const double q[4] = { 0.5, 0.95, 0.99, 0.999 };
    int32_t p[4] = { 0 };
    for (int i = 0; i < 4 && n; i++)
        p[i] = s->latencies[(size_t)(q[i] * (double)n)];
    /* With nothing delivered Java prints NaN where C's printf says -nan. */
    char avg[32];
    if (s->count)
        snprintf(avg, sizeof(avg), "%.2f", (double)s->total_latency / (double)s->count);
    else
        snprintf(avg, sizeof(avg), "NaN");
    printf("%" PRId64 "%s records sent, %f records/sec (%.2f MB/sec), %s ms avg latency, %.2f ms max latency, "
           "%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
           s->count, s->steady ? " steady state" : "", recs, mb, avg, (double)s->max_latency, p[0], p[1], p[2], p[3]);
    if (json) {
        bench_sort_i64(s->latencies_us, n);
        printf("{\"tool\":\"producer-perf-test\",\"steady_state\":%s,\"records\":%" PRId64 ",\"bytes\":%" PRId64
               ",\"errors\":%" PRId64 ",\"elapsed_s\":%.3f,\"records_per_sec\":%.1f,\"mb_per_sec\":%.3f"
               ",\"avg_ms\":%.3f,\"max_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f}\n",
               s->steady ? "true" : "false", s->count, s->bytes, errors, (double)elapsed / 1000.0, recs, mb,
               s->count ? (double)s->total_latency_us / (double)s->count / 1000.0 : 0.0,
               (double)s->max_latency_us / 1000.0,
               bench_pct_i64(s->latencies_us, n, 0.5) / 1000.0, bench_pct_i64(s->latencies_us, n, 0.95) / 1000.0,
               bench_pct_i64(s->latencies_us, n, 0.99) / 1000.0, bench_pct_i64(s->latencies_us, n, 0.999) / 1000.0);
    }
    fflush(stdout);
}

/* Kafka's ThroughputThrottler, including its float elapsed seconds. */
struct throttler {
    int64_t start_ms, sleep_time_ns, sleep_deficit_ns;
    double target;
};

static bool should_throttle(const struct throttler *t, int64_t amount, int64_t send_start_ms)
{
    if (t->target < 0)
        return false;
    float elapsed_sec = (float)(send_start_ms - t->start_ms) / 1000.f;
    return elapsed_sec > 0 && ((double)amount / elapsed_sec) > t->target;
}

static struct stats g_stats, g_steady;
static bool g_have_steady;
static int64_t g_errors;
static char *g_last_stats_json;

/* Runs inside rd_kafka_poll on the sending thread, as the Java callback runs
 * on the producer's I/O thread: the opaque carries the send time (µs) and
 * whether the record was sent after the warm-up. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    int64_t start_us = (int64_t)(tag >> 1);
    if (m->err) {
        if (g_errors++ < 10)
            fprintf(stderr, "ERROR delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    int64_t now_us = bench_now_us();
    int64_t now = now_us / 1000;
    int32_t latency = (int32_t)(now - start_us / 1000);
    int64_t latency_us = now_us - start_us;
    stats_record(&g_stats, latency, latency_us, (int64_t)m->len, now);
    if ((tag & 1) && g_have_steady)
        stats_record(&g_steady, latency, latency_us, (int64_t)m->len, now);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    (void)opaque;
    free(g_last_stats_json);
    g_last_stats_json = strdup(json);
    return 0;
}

static void throttle(struct throttler *t, rd_kafka_t *rk)
{
    const int64_t min_sleep_ns = 2000000;
    t->sleep_deficit_ns += t->sleep_time_ns;
    if (t->sleep_deficit_ns < min_sleep_ns)
        return;
    /* Sleep by polling so delivery reports keep flowing while we wait, as the
     * Java producer's I/O thread keeps running while the sender sleeps. */
    int64_t start = bench_mono_ns();
    for (;;) {
        int64_t remaining = t->sleep_deficit_ns - (bench_mono_ns() - start);
        if (remaining <= 0)
            break;
        if (remaining >= 1000000) {
            rd_kafka_poll(rk, (int)(remaining / 1000000));
        } else {
            struct timespec ts = { 0, (long)remaining };
            nanosleep(&ts, NULL);
        }
    }
    t->sleep_deficit_ns = 0;
}

/* The topic's partition count, from a metadata request (0 if unknown). */
static int32_t topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    int32_t n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    return n;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " [-h] --topic TOPIC --num-records NUM-RECORDS\n"
        "                 (--record-size RECORD-SIZE | --payload-file PAYLOAD-FILE | --payload-monotonic)\n"
        "                 [--payload-delimiter PAYLOAD-DELIMITER] --throughput THROUGHPUT\n"
        "                 [--producer-props PROP-NAME=PROP-VALUE [PROP-NAME=PROP-VALUE ...]]\n"
        "                 [--producer.config CONFIG-FILE] [--print-metrics] [--transactional-id TRANSACTIONAL-ID]\n"
        "                 [--transaction-duration-ms TRANSACTION-DURATION] [--warmup-records WARMUP-RECORDS]\n"
        "                 [--bootstrap-server BOOTSTRAP-SERVER] [--json] [--records-per-partition N]\n\n"
        "This tool is used to verify the producer performance.\n"
        "--json (not in Kafka's tool) adds one JSON summary line with millisecond decimals.\n"
        "--records-per-partition N (not in Kafka's tool) sends N consecutive records to each\n"
        "partition in turn, cycling over all of them, instead of letting the partitioner choose.\n");
}

static void die_arg(const char *msg)
{
    usage(stderr);
    fprintf(stderr, PROG ": error: %s\n", msg);
    exit(1);
}

/* Splits a Java-style delimiter-separated file into payloads; Scanner skips
 * empty tokens between consecutive delimiters, so do we. */
static size_t read_payload_file(const char *path, const char *delim, char ***out, size_t **lens)
{
    FILE *f = fopen(path, "rb");
    char abs[4096];
    printf("Reading payloads from: %s\n", realpath(path, abs) ? abs : path);
    if (!f) {
        fprintf(stderr, "File does not exist or empty file provided.\n");
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size <= 0) {
        fprintf(stderr, "File does not exist or empty file provided.\n");
        exit(1);
    }
    char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf[size] = 0;
    fclose(f);
    size_t n = 0, cap = 0, dl = strlen(delim);
    char *p = buf, *end = buf + size;
    while (p < end) {
        char *q = dl ? memmem(p, (size_t)(end - p), delim, dl) : NULL;
        if (!q)
            q = end;
        if (q > p) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = realloc(*out, cap * sizeof(**out));
                *lens = realloc(*lens, cap * sizeof(**lens));
            }
            (*out)[n] = p;
            (*lens)[n] = (size_t)(q - p);
            n++;
        }
        p = q + (dl ? dl : 1);
    }
    printf("Number of messages read: %zu\n", n);
    return n;
}

int main(int argc, char **argv)
{
    const char *topic = NULL, *payload_file = NULL, *delim = "\n", *config_file = NULL;
    const char *transactional_id = NULL, *bootstrap = NULL;
    int64_t num_records = -1, record_size = -1, txn_duration = -1, warmup = 0;
    double throughput = 0;
    bool have_throughput = false, monotonic = false, print_metrics = false, json = false;
    int64_t per_partition = 0; /* --records-per-partition; 0: the partitioner chooses */
    char **props_args = NULL;
    int nprops = -1, payload_opts = 0;

    if (argc == 1) {
        usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *val = NULL;
        char name[64];
        char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            val = eq + 1;
            a = name;
        }
#define NEXT() (val ? val : (i + 1 < argc ? argv[++i] : (die_arg("expected one argument"), (char *)NULL)))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--topic")) {
            topic = NEXT();
        } else if (!strcmp(a, "--num-records")) {
            if (bench_parse_i64(NEXT(), &num_records))
                die_arg("argument --num-records: could not convert to Long");
        } else if (!strcmp(a, "--record-size")) {
            payload_opts++;
            if (bench_parse_i64(NEXT(), &record_size) || record_size > INT32_MAX)
                die_arg("argument --record-size: could not convert to Integer");
        } else if (!strcmp(a, "--payload-file")) {
            payload_opts++;
            payload_file = NEXT();
        } else if (!strcmp(a, "--payload-monotonic")) {
            payload_opts++;
            monotonic = true;
        } else if (!strcmp(a, "--payload-delimiter")) {
            delim = NEXT();
            if (!strcmp(delim, "\\n"))
                delim = "\n";
        } else if (!strcmp(a, "--throughput")) {
            if (bench_parse_double(NEXT(), &throughput))
                die_arg("argument --throughput: could not convert to Double");
            have_throughput = true;
        } else if (!strcmp(a, "--producer-props")) {
            /* nargs='+': every following word up to the next option; a
             * repeated flag replaces the earlier list, as argparse's store. */
            props_args = &argv[i + 1];
            nprops = 0;
            if (val) {
                props_args = &argv[i];
                argv[i] = val;
                nprops = 1;
            }
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                i++;
                nprops++;
            }
            if (nprops == 0)
                die_arg("argument --producer-props: expected at least one argument");
        } else if (!strcmp(a, "--producer.config")) {
            config_file = NEXT();
        } else if (!strcmp(a, "--print-metrics")) {
            print_metrics = true;
        } else if (!strcmp(a, "--transactional-id")) {
            transactional_id = NEXT();
        } else if (!strcmp(a, "--transaction-duration-ms")) {
            if (bench_parse_i64(NEXT(), &txn_duration))
                die_arg("argument --transaction-duration-ms: could not convert to Long");
            if (txn_duration <= 0)
                die_arg("--transaction-duration-ms should be greater than zero");
        } else if (!strcmp(a, "--warmup-records")) {
            if (bench_parse_i64(NEXT(), &warmup))
                die_arg("argument --warmup-records: could not convert to Long");
        } else if (!strcmp(a, "--bootstrap-server")) {
            bootstrap = NEXT();
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--records-per-partition")) {
            if (bench_parse_i64(NEXT(), &per_partition) || per_partition <= 0)
                die_arg("argument --records-per-partition: a positive number is required");
        } else {
            char msg[256];
            snprintf(msg, sizeof(msg), "unrecognized arguments: '%s'", argv[i]);
            die_arg(msg);
        }
#undef NEXT
    }
    if (!topic)
        die_arg("argument --topic is required");
    if (num_records < 0 && num_records != -1)
        die_arg("--num-records should be greater than zero");
    if (num_records == -1)
        die_arg("argument --num-records is required");
    if (!have_throughput)
        die_arg("argument --throughput is required");
    if (payload_opts == 0)
        die_arg("one of the arguments --record-size --payload-file --payload-monotonic is required");
    if (payload_opts > 1)
        die_arg("arguments --record-size, --payload-file and --payload-monotonic are mutually exclusive");
    if (num_records <= 0)
        die_arg("--num-records should be greater than zero");
    if (warmup < 0)
        warmup = 0;
    if (warmup >= num_records)
        die_arg("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.");
    if (payload_opts && record_size != -1 && record_size <= 0)
        die_arg("--record-size should be greater than zero");
    if (nprops < 0 && !config_file && !bootstrap)
        die_arg("Either --bootstrap-server, --producer-props or --producer.config must be specified.");

    char **payloads = NULL;
    size_t *payload_lens = NULL, npayloads = 0;
    if (payload_file)
        npayloads = read_payload_file(payload_file, delim, &payloads, &payload_lens);

    /* Properties layering follows readProps: file, then --producer-props. */
    struct bench_props props = { 0 };
    if (config_file) {
        int r = bench_props_load(&props, config_file);
        if (r < 0) {
            fprintf(stderr, "%s (No such file or directory)\n", config_file);
            return 1;
        }
    }
    for (int i = 0; i < nprops; i++) {
        char *p = props_args[i], *eq = strchr(p, '=');
        /* Java splits on every '=' and wants exactly two pieces. */
        if (!eq || eq == p || eq[1] == 0 || strchr(eq + 1, '=')) {
            fprintf(stderr, "Exception in thread \"main\" java.lang.IllegalArgumentException: Invalid property: %s\n", p);
            return 1;
        }
        *eq = 0;
        bench_props_put(&props, p, eq + 1);
        *eq = '=';
    }
    if (bootstrap)
        bench_props_put(&props, "bootstrap.servers", bootstrap);
    if (!bench_props_get(&props, "client.id"))
        bench_props_put(&props, "client.id", "perf-producer-client");
    bool txn = txn_duration > 0 || transactional_id || bench_props_get(&props, "transactional.id");
    char txn_id_buf[80];
    if (txn) {
        if (!transactional_id)
            transactional_id = bench_props_get(&props, "transactional.id");
        if (!transactional_id) {
            srand((unsigned)bench_now_us());
            snprintf(txn_id_buf, sizeof(txn_id_buf), "performance-producer-%08x-%04x-%04x-%04x-%04x%08x",
                     (unsigned)rand(), rand() & 0xffff, rand() & 0xffff, rand() & 0xffff, rand() & 0xffff,
                     (unsigned)rand());
            transactional_id = txn_id_buf;
        }
        bench_props_put(&props, "transactional.id", transactional_id);
        if (txn_duration <= 0)
            txn_duration = DEFAULT_TRANSACTION_DURATION_MS;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The Java producer buffers at most 32 MiB (buffer.memory); librdkafka's
     * 1 GiB default would turn unthrottled latencies into queueing time. */
    bench_conf_set(conf, "queue.buffering.max.kbytes", "32768");
    bench_conf_set(conf, "queue.buffering.max.messages", "10000000");
    if (bench_conf_apply(conf, &props) < 0)
        return 1;
    if (print_metrics) {
        bench_conf_set(conf, "statistics.interval.ms", "1000");
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "Failed to construct kafka producer: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int32_t nparts = per_partition > 0 ? topic_partitions(rk, rkt) : 0;
    if (per_partition > 0 && nparts <= 0) {
        fprintf(stderr, "cannot read the partition count of %s from the metadata\n", topic);
        return 1;
    }
    if (txn) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, -1);
        if (e) {
            fprintf(stderr, "initTransactions failed: %s\n", rd_kafka_error_string(e));
            return 1;
        }
    }

    char *payload = NULL;
    if (record_size > 0)
        payload = malloc((size_t)record_size);
    struct java_splittable random;
    java_splittable_init(&random, 0);

    if (warmup > 0)
        printf("Warmup first %" PRId64 " records. Steady state results will print after the complete test summary.\n", warmup);
    stats_init(&g_stats, num_records, false);
    int64_t start_ms = bench_now_ms();
    struct throttler th = { start_ms, throughput > 0 ? (int64_t)(1000000000.0 / throughput) : INT64_MAX, 0, throughput };
    int64_t txn_size = 0, txn_start = 0;
    char mono[24];

    for (int64_t i = 0; i < num_records; i++) {
        /* Kafka draws a fresh random payload for every record. */
        const char *val;
        size_t len;
        if (npayloads) {
            int32_t k = java_splittable_next_int(&random, (int32_t)npayloads);
            val = payloads[k];
            len = payload_lens[k];
        } else if (record_size > 0) {
            for (int64_t j = 0; j < record_size; j++)
                payload[j] = (char)(java_splittable_next_int(&random, 26) + 65);
            val = payload;
            len = (size_t)record_size;
        } else if (monotonic) {
            len = (size_t)snprintf(mono, sizeof(mono), "%" PRId64, i);
            val = mono;
        } else {
            fprintf(stderr, "no payload File Path or record Size or payload-monotonic option provided\n");
            return 1;
        }
        if (txn && txn_size == 0) {
            rd_kafka_error_t *e = rd_kafka_begin_transaction(rk);
            if (e) {
                fprintf(stderr, "beginTransaction failed: %s\n", rd_kafka_error_string(e));
                return 1;
            }
            txn_start = bench_now_ms();
        }
        int64_t send_us = bench_now_us();
        int64_t send_ms = send_us / 1000;
        if (warmup > 0 && i == warmup) {
            stats_init(&g_steady, num_records - warmup, true);
            g_have_steady = true;
            g_stats.suppress = true;
        }
        uintptr_t tag = ((uintptr_t)send_us << 1) | (uintptr_t)(warmup > 0 && i >= warmup);
        int32_t part = nparts ? (int32_t)((i / per_partition) % nparts) : RD_KAFKA_PARTITION_UA;
        while (rd_kafka_produce(rkt, part, RD_KAFKA_MSG_F_COPY, (void *)val, len, NULL, 0,
                                (void *)tag) == -1) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce failed: %s\n", rd_kafka_err2str(err));
                return 1;
            }
            /* Java's send() blocks on a full buffer; waiting in poll serves
             * the delivery reports that free it. */
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
        txn_size++;
        if (txn && txn_duration <= send_ms - txn_start) {
            rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, -1);
            if (e) {
                fprintf(stderr, "commitTransaction failed: %s\n", rd_kafka_error_string(e));
                return 1;
            }
            txn_size = 0;
        }
        if (should_throttle(&th, i, send_ms))
            throttle(&th, rk);
    }
    if (txn && txn_size != 0) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, -1);
        if (e) {
            fprintf(stderr, "commitTransaction failed: %s\n", rd_kafka_error_string(e));
            return 1;
        }
    }
    rd_kafka_flush(rk, -1);
    print_total(&g_stats, json, g_errors);
    if (g_have_steady)
        print_total(&g_steady, json, g_errors);
    if (print_metrics) {
        /* librdkafka's counterpart of the Java metrics: its statistics JSON. */
        rd_kafka_poll(rk, 1100);
        printf("\nMetrics (librdkafka statistics):\n%s\n", g_last_stats_json ? g_last_stats_json : "{}");
    }
    if (g_errors)
        fprintf(stderr, "%" PRId64 " records failed\n", g_errors);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    bench_props_free(&props);
    free(payload);
    return g_errors ? 1 : 0;
}
