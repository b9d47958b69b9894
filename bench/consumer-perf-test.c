/* kafka-consumer-perf-test on librdkafka: Kafka's ConsumerPerformance
 * options, CSV header and rows (same rounding, same rebalance/fetch split). */
#include "common.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_POLL_RECORDS 500

static int64_t g_join_ms, g_join_single_round_ms, g_join_start_ms;
static int g_assigned;

/* ConsumerPerfRebListener: time from losing the last partition (or start) to
 * getting the first one back is rebalance time, not fetch time. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (g_assigned == 0) {
            int64_t elapsed = bench_now_ms() - g_join_start_ms;
            g_join_ms += elapsed;
            g_join_single_round_ms += elapsed;
        }
        g_assigned += parts->cnt;
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        g_assigned = cooperative ? g_assigned - parts->cnt : 0;
        if (g_assigned <= 0) {
            g_assigned = 0;
            g_join_start_ms = bench_now_ms();
        }
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* The subset of java.text.SimpleDateFormat that date formats use. */
static void format_date(char *out, size_t cap, const char *fmt, int64_t ms)
{
    static const char *const mon[] = { "January", "February", "March", "April", "May", "June", "July",
                                       "August", "September", "October", "November", "December" };
    static const char *const day[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    size_t o = 0;
#define PUT(...) do { int w_ = snprintf(out + o, o < cap ? cap - o : 0, __VA_ARGS__); if (w_ > 0) o += (size_t)w_; } while (0)
    for (const char *p = fmt; *p;) {
        char c = *p;
        if (c == '\'') {
            p++;
            if (*p == '\'') { PUT("'"); p++; continue; }
            while (*p && !(*p == '\'' && p[1] != '\'')) {
                if (*p == '\'') p++;
                PUT("%c", *p++);
            }
            if (*p) p++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            PUT("%c", c);
            p++;
            continue;
        }
        int n = 0;
        while (p[n] == c)
            n++;
        p += n;
        switch (c) {
        case 'y': if (n == 2) PUT("%02d", (tm.tm_year + 1900) % 100); else PUT("%0*d", n, tm.tm_year + 1900); break;
        case 'M': if (n >= 4) PUT("%s", mon[tm.tm_mon]); else if (n == 3) PUT("%.3s", mon[tm.tm_mon]); else PUT("%0*d", n, tm.tm_mon + 1); break;
        case 'd': PUT("%0*d", n, tm.tm_mday); break;
        case 'D': PUT("%0*d", n, tm.tm_yday + 1); break;
        case 'H': PUT("%0*d", n, tm.tm_hour); break;
        case 'k': PUT("%0*d", n, tm.tm_hour ? tm.tm_hour : 24); break;
        case 'h': PUT("%0*d", n, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12); break;
        case 'K': PUT("%0*d", n, tm.tm_hour % 12); break;
        case 'm': PUT("%0*d", n, tm.tm_min); break;
        case 's': PUT("%0*d", n, tm.tm_sec); break;
        case 'S': PUT("%0*d", n, (int)(ms % 1000)); break;
        case 'a': PUT("%s", tm.tm_hour < 12 ? "AM" : "PM"); break;
        case 'E': if (n >= 4) PUT("%s", day[tm.tm_wday]); else PUT("%.3s", day[tm.tm_wday]); break;
        case 'u': PUT("%0*d", n, tm.tm_wday ? tm.tm_wday : 7); break;
        case 'Z': { long off = tm.tm_gmtoff / 60; PUT("%c%02ld%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60); break; }
        case 'z': PUT("%s", tm.tm_zone); break;
        default: for (int i = 0; i < n; i++) PUT("%c", c); break;
        }
    }
#undef PUT
    if (o >= cap)
        out[cap - 1] = 0;
}

static void usage(FILE *f)
{
    fprintf(f,
        "This tool is used to verify the consumer performance.\n"
        "Option                                   Description\n"
        "------                                   -----------\n"
        "--bootstrap-server <server to connect to> REQUIRED: The server(s) to connect to.\n"
        "--consumer.config <config file>          Consumer config properties file.\n"
        "--date-format <date format>              The date format to use for formatting the time field.\n"
        "                                           (default: yyyy-MM-dd HH:mm:ss:SSS)\n"
        "--fetch-size <size>                      The amount of data to fetch in a single request. (default: 1048576)\n"
        "--from-latest                            Start with the latest message rather than the earliest.\n"
        "--group <gid>                            The group id to consume on. (default: perf-consumer-NNNNN)\n"
        "--help                                   Print usage information.\n"
        "--hide-header                            If set, skips printing the header for the stats\n"
        "--include <Java regex (String)>          Regular expression specifying list of topics to include.\n"
        "--messages <count>                       REQUIRED: The number of messages to consume.\n"
        "--print-metrics                          Print out the metrics.\n"
        "--reporting-interval <interval_ms>       Interval in milliseconds at which to print progress info. (default: 5000)\n"
        "--show-detailed-stats                    If set, stats are reported for each reporting interval\n"
        "--socket-buffer-size <size>              The size of the tcp RECV size. (default: 2097152)\n"
        "--timeout [milliseconds]                 The maximum allowed time in milliseconds between returned records. (default: 10000)\n"
        "--topic <topic>                          The topic to consume from.\n"
        "--json                                   (not in Kafka's tool) one JSON summary line at the end.\n");
}

static void die_arg(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
    usage(stderr);
    exit(1);
}

static void print_progress(int64_t bytes, int64_t last_bytes, int64_t msgs, int64_t last_msgs, int64_t start_ms,
                           int64_t end_ms, const char *datefmt, int64_t join_single)
{
    char date[128];
    double elapsed_ms = (double)(end_ms - start_ms);
    double total_mb = (double)bytes / (1024 * 1024);
    double interval_mb = (double)(bytes - last_bytes) / (1024 * 1024);
    format_date(date, sizeof(date), datefmt, end_ms);
    printf("%s, %d, %.4f, %.4f, %" PRId64 ", %.4f", date, 0, total_mb, 1000.0 * interval_mb / elapsed_ms, msgs,
           ((double)(msgs - last_msgs) / elapsed_ms) * 1000.0);
    int64_t fetch_ms = end_ms - start_ms - join_single;
    printf(", %" PRId64 ", %" PRId64 ", %.4f, %.4f\n", join_single, fetch_ms,
           fetch_ms <= 0 ? 0.0 : 1000.0 * interval_mb / (double)fetch_ms,
           fetch_ms <= 0 ? 0.0 : 1000.0 * (double)(msgs - last_msgs) / (double)fetch_ms);
    fflush(stdout);
}

static char *g_last_stats_json;

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    (void)opaque;
    free(g_last_stats_json);
    g_last_stats_json = strdup(json);
    return 0;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *include = NULL, *group = NULL, *config_file = NULL;
    const char *datefmt = "yyyy-MM-dd HH:mm:ss:SSS";
    int64_t fetch_size = 1024 * 1024, socket_buffer = 2 * 1024 * 1024, timeout = 10000, messages = -1;
    int64_t reporting_interval = 5000;
    bool from_latest = false, print_metrics = false, detailed = false, hide_header = false, json = false;
    char group_buf[64];

    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *val = NULL, name[64];
        char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            val = eq + 1;
            a = name;
        }
#define NEXT() (val ? val : (i + 1 < argc ? argv[++i] : (die_arg("Option requires an argument"), (char *)NULL)))
#define NUM(dst, opt) do { if (bench_parse_i64(NEXT(), &(dst))) die_arg("Cannot parse argument of option " opt); } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--bootstrap-server")) bootstrap = NEXT();
        else if (!strcmp(a, "--topic")) topic = NEXT();
        else if (!strcmp(a, "--include")) include = NEXT();
        else if (!strcmp(a, "--group")) group = NEXT();
        else if (!strcmp(a, "--fetch-size")) NUM(fetch_size, "fetch-size");
        else if (!strcmp(a, "--socket-buffer-size")) NUM(socket_buffer, "socket-buffer-size");
        else if (!strcmp(a, "--from-latest")) from_latest = true;
        else if (!strcmp(a, "--consumer.config")) config_file = NEXT();
        else if (!strcmp(a, "--print-metrics")) print_metrics = true;
        else if (!strcmp(a, "--show-detailed-stats")) detailed = true;
        else if (!strcmp(a, "--timeout")) {
            /* An optional argument in Kafka's parser: a bare --timeout keeps the default. */
            if (val || (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0))
                NUM(timeout, "timeout");
        }
        else if (!strcmp(a, "--messages")) NUM(messages, "messages");
        else if (!strcmp(a, "--reporting-interval")) NUM(reporting_interval, "reporting-interval");
        else if (!strcmp(a, "--date-format")) datefmt = NEXT();
        else if (!strcmp(a, "--hide-header")) hide_header = true;
        else if (!strcmp(a, "--json")) json = true;
        else {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s is not a recognized option", argv[i]);
            die_arg(msg);
        }
#undef NUM
#undef NEXT
    }
    if (argc == 1) { usage(stdout); return 1; }
    if (messages < 0) die_arg("Missing required argument \"[messages]\"");
    if (!topic == !include) die_arg("Exactly one of the following arguments is required: [topic], [include]");
    if (!bootstrap) die_arg("Missing required argument \"[bootstrap-server]\"");
    if (reporting_interval <= 0) {
        fprintf(stderr, "Reporting interval must be greater than 0.\n");
        return 1;
    }
    if (!group) {
        srand((unsigned)bench_now_us());
        snprintf(group_buf, sizeof(group_buf), "perf-consumer-%d", rand() % 100000);
        group = group_buf;
    }

    struct bench_props props = { 0 };
    if (config_file && bench_props_load(&props, config_file) < 0) {
        fprintf(stderr, "%s (No such file or directory)\n", config_file);
        return 1;
    }
    char num[32];
    bench_props_put(&props, "bootstrap.servers", bootstrap);
    bench_props_put(&props, "group.id", group);
    snprintf(num, sizeof(num), "%" PRId64, socket_buffer);
    bench_props_put(&props, "receive.buffer.bytes", num);
    snprintf(num, sizeof(num), "%" PRId64, fetch_size);
    bench_props_put(&props, "max.partition.fetch.bytes", num);
    bench_props_put(&props, "auto.offset.reset", from_latest ? "latest" : "earliest");
    bench_props_put(&props, "check.crcs", "false");
    if (!bench_props_get(&props, "client.id"))
        bench_props_put(&props, "client.id", "perf-consumer-client");

    if (!hide_header) {
        const char *extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
        if (!detailed)
            printf("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec%s\n", extra);
        else
            printf("time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec%s\n", extra);
        fflush(stdout);
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (bench_conf_apply(conf, &props) < 0)
        return 1;
    if (print_metrics) {
        bench_conf_set(conf, "statistics.interval.ms", "1000");
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    int64_t start_ms = bench_now_ms();
    g_join_start_ms = start_ms;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    char pattern[1024];
    if (include)
        snprintf(pattern, sizeof(pattern), "^%s", include);
    rd_kafka_topic_partition_list_add(subs, include ? pattern : topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (serr) {
        fprintf(stderr, "subscribe failed: %s\n", rd_kafka_err2str(serr));
        return 1;
    }

    int64_t bytes = 0, msgs = 0, last_bytes = 0, last_msgs = 0;
    int64_t now = bench_now_ms(), last_report = now, last_consumed = now;
    rd_kafka_message_t *batch[MAX_POLL_RECORDS];
    int errors = 0;
    while (msgs < messages && now - last_consumed <= timeout) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, batch, MAX_POLL_RECORDS);
        now = bench_now_ms();
        bool any = false;
        for (ssize_t k = 0; k < n; k++) {
            rd_kafka_message_t *m = batch[k];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && errors++ < 10)
                    fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            any = true;
            msgs++;
            bytes += (int64_t)m->key_len + (int64_t)m->len;
            rd_kafka_message_destroy(m);
            if (now - last_report >= reporting_interval) {
                if (detailed)
                    print_progress(bytes, last_bytes, msgs, last_msgs, last_report, now, datefmt, g_join_single_round_ms);
                g_join_single_round_ms = 0;
                last_report = now;
                last_msgs = msgs;
                last_bytes = bytes;
            }
        }
        if (any)
            last_consumed = now;
    }
    if (msgs < messages)
        printf("WARNING: Exiting before consuming the expected number of messages: timeout (%" PRId64 " ms) exceeded. "
               "You can use the --timeout option to increase the timeout.\n", timeout);
    int64_t end_ms = bench_now_ms();
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);

    double elapsed_sec = (double)(end_ms - start_ms) / 1000.0;
    int64_t fetch_ms = (end_ms - start_ms) - g_join_ms;
    double total_mb = (double)bytes / (1024 * 1024);
    if (!detailed) {
        char d0[128], d1[128];
        format_date(d0, sizeof(d0), datefmt, start_ms);
        format_date(d1, sizeof(d1), datefmt, end_ms);
        printf("%s, %s, %.4f, %.4f, %" PRId64 ", %.4f, %" PRId64 ", %" PRId64 ", %.4f, %.4f\n", d0, d1, total_mb,
               total_mb / elapsed_sec, msgs, (double)msgs / elapsed_sec, g_join_ms, fetch_ms,
               total_mb / ((double)fetch_ms / 1000.0), (double)msgs / ((double)fetch_ms / 1000.0));
    }
    if (print_metrics)
        printf("\nMetrics (librdkafka statistics):\n%s\n", g_last_stats_json ? g_last_stats_json : "{}");
    if (json)
        printf("{\"tool\":\"consumer-perf-test\",\"records\":%" PRId64 ",\"bytes\":%" PRId64 ",\"elapsed_s\":%.3f"
               ",\"records_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"rebalance_ms\":%" PRId64 ",\"fetch_ms\":%" PRId64
               ",\"fetch_records_per_sec\":%.1f,\"fetch_mb_per_sec\":%.3f}\n",
               msgs, bytes, elapsed_sec, (double)msgs / elapsed_sec, total_mb / elapsed_sec, g_join_ms, fetch_ms,
               fetch_ms > 0 ? (double)msgs / ((double)fetch_ms / 1000.0) : 0.0,
               fetch_ms > 0 ? total_mb / ((double)fetch_ms / 1000.0) : 0.0);
    rd_kafka_destroy(rk);
    bench_props_free(&props);
    /* Kafka exits 0 after the timeout warning too. */
    return 0;
}
