/* librdkafka (C API, 2.0.x and later) scenarios for compat-tests/run.py.
 *
 * Run as `rdkafka_compat SCENARIO --bootstrap HOST:PORT --expect JSON --apis K,K..
 * [--topics T,T --out FILE]`; prints `step:` lines and, last, `RESULT {...}` (see
 * skeinlib/scenario.py). The restart scenarios print `control: restart` and wait for a
 * line on stdin while they keep producing and consuming. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLIENT "librdkafka"
#define BASE_TS 1700000000000LL
#define GROUP_PARTITIONS 6
#define GROUP_FIRST 600
#define GROUP_SECOND 300
#define TIMES_N 1000
#define TIMES_STEP 10
#define LARGE (1 << 20)
#define TOPIC_MAX_MESSAGE (2 << 20)
#define TOO_LARGE ((5 << 20) / 2)
#define RESTART_ACKS 300

static const char *CODECS[] = {"none", "gzip", "snappy", "lz4", "zstd"};
static const char *ACKS[] = {"1", "all"};

static int N = 10000, XC_N = 1000;
static const char *bootstrap = "";
static char step_name[512] = "start";
static char notes[8][512];
static int n_notes;
static long long exp_node = 1, exp_controller = 1, exp_port;
/* Against the runner's cluster (--cluster 3): brokers 1..exp_broker_cnt, topics
 * created with exp_rf replicas. */
static long long exp_broker_cnt = 1, exp_rf = 1;
static char exp_cluster[256];
static char exp_host[64] = "127.0.0.1";
static char apis_arg[1024];
static char *topics_arg = "", *out_arg = "";

/* ---- plumbing ---------------------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void emit(const char *status, const char *stp, const char *detail) {
    printf("RESULT {\"status\": ");
    json_str(stdout, status);
    printf(", \"step\": ");
    json_str(stdout, stp);
    printf(", \"detail\": ");
    json_str(stdout, detail);
    printf(", \"notes\": [");
    for (int i = 0; i < n_notes; i++) {
        if (i)
            printf(", ");
        json_str(stdout, notes[i]);
    }
    printf("]}\n");
    fflush(stdout);
}

__attribute__((format(printf, 1, 2), noreturn)) static void failf(const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit("fail", step_name, buf);
    _exit(0);
}

__attribute__((format(printf, 1, 2))) static void step(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(step_name, sizeof step_name, fmt, ap);
    va_end(ap);
    printf("step: %s\n", step_name);
    fflush(stdout);
}

__attribute__((format(printf, 1, 2), unused)) static void note(const char *fmt, ...) {
    if (n_notes >= 8)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes[n_notes], sizeof notes[0], fmt, ap);
    va_end(ap);
    printf("note: %s\n", notes[n_notes++]);
    fflush(stdout);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void eq_ll(const char *what, long long expected, long long got) {
    if (expected != got)
        failf("%s: expected %lld, got %lld", what, expected, got);
}

static bool has_api(int key) {
    char k[16];
    snprintf(k, sizeof k, "%d", key);
    const char *p = apis_arg;
    size_t n = strlen(k);
    while (p && *p) {
        if (strncmp(p, k, n) == 0 && (p[n] == ',' || p[n] == 0))
            return true;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

/* The few fields of --expect, a flat JSON object of strings and numbers. */
static const char *json_field(const char *json, const char *name) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(json, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

static void parse_expect(const char *json) {
    const char *p;
    if ((p = json_field(json, "cluster_id")) && *p == '"') {
        const char *e = strchr(p + 1, '"');
        snprintf(exp_cluster, sizeof exp_cluster, "%.*s", (int)(e - p - 1), p + 1);
    }
    if ((p = json_field(json, "host")) && *p == '"') {
        const char *e = strchr(p + 1, '"');
        snprintf(exp_host, sizeof exp_host, "%.*s", (int)(e - p - 1), p + 1);
    }
    if ((p = json_field(json, "node_id")))
        exp_node = atoll(p);
    if ((p = json_field(json, "controller_id")))
        exp_controller = atoll(p);
    if ((p = json_field(json, "port")))
        exp_port = atoll(p);
    if ((p = json_field(json, "broker_count")))
        exp_broker_cnt = atoll(p);
    if ((p = json_field(json, "replication_factor")))
        exp_rf = atoll(p);
}

/* A broker id a cluster's answer names: the broker itself when there is one. */
static void check_broker_id(const char *what, long long got) {
    if (exp_broker_cnt == 1)
        eq_ll(what, exp_node, got);
    else if (got < 1 || got > exp_broker_cnt)
        failf("%s: expected a broker id in 1..%lld, got %lld", what, exp_broker_cnt, got);
}

/* ---- the records (same functions as skeinlib/records.py) --------------------- */

static int key_of(int i, char *buf) { /* length, or -1 for a null key */
    if (i % 2)
        return -1;
    return sprintf(buf, "k%d", i);
}

static int value_of(int i, const char *t, char *buf) {
    int n = sprintf(buf, "v%d %s ", i, t);
    for (int j = 0; j < i % 20; j++)
        n += sprintf(buf + n, "abcdefghij");
    return n;
}

struct hdr {
    const char *name;
    char val[16];
};

static int headers_of(int i, struct hdr *h) {
    int block = i / 1000;
    if (block % 3 == 0) {
        h[0].name = "block";
        sprintf(h[0].val, "%d", block);
        h[1].name = "empty";
        h[1].val[0] = 0;
        return 2;
    }
    if (block % 3 == 1)
        return 0;
    h[0].name = "dup";
    strcpy(h[0].val, "a");
    h[1].name = "dup";
    strcpy(h[1].val, "b");
    h[2].name = "block";
    sprintf(h[2].val, "%d", block);
    return 3;
}

static rd_kafka_headers_t *make_headers(int i) {
    struct hdr h[3];
    int n = headers_of(i, h);
    if (!n)
        return NULL;
    rd_kafka_headers_t *hs = rd_kafka_headers_new(n);
    for (int j = 0; j < n; j++)
        rd_kafka_header_add(hs, h[j].name, -1, h[j].val, (ssize_t)strlen(h[j].val));
    return hs;
}

/* Compares one consumed record with record i of topic t; NULL or a message. */
static const char *check_record(const rd_kafka_message_t *m, int i, const char *t) {
    static char msg[1024];
    char kb[32], vb[512];
    int kl = key_of(i, kb), vl = value_of(i, t, vb);
    if (m->offset != i) {
        snprintf(msg, sizeof msg, "record %d: got offset %lld", i, (long long)m->offset);
        return msg;
    }
    if (kl < 0 ? m->key != NULL : (m->key == NULL || (int)m->key_len != kl ||
                                   memcmp(m->key, kb, (size_t)kl))) {
        snprintf(msg, sizeof msg, "record %d: key %.*s, expected %s", i,
                 m->key ? (int)m->key_len : 4, m->key ? (const char *)m->key : "null",
                 kl < 0 ? "null" : kb);
        return msg;
    }
    if (!m->payload || (int)m->len != vl || memcmp(m->payload, vb, (size_t)vl)) {
        snprintf(msg, sizeof msg, "record %d: value %.*s, expected %s", i,
                 m->payload ? (int)m->len : 4, m->payload ? (const char *)m->payload : "null",
                 vb);
        return msg;
    }
    struct hdr h[3];
    int n = headers_of(i, h);
    rd_kafka_headers_t *hs = NULL;
    size_t cnt = 0;
    if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        cnt = rd_kafka_header_cnt(hs);
    if ((int)cnt != n) {
        snprintf(msg, sizeof msg, "record %d: %zu headers, expected %d", i, cnt, n);
        return msg;
    }
    for (int j = 0; j < n; j++) {
        const char *name;
        const void *val;
        size_t sz;
        rd_kafka_header_get_all(hs, (size_t)j, &name, &val, &sz);
        if (strcmp(name, h[j].name) || sz != strlen(h[j].val) ||
            (sz && memcmp(val, h[j].val, sz))) {
            snprintf(msg, sizeof msg, "record %d: header %d is %s=%.*s, expected %s=%s", i, j,
                     name, (int)sz, val ? (const char *)val : "", h[j].name, h[j].val);
            return msg;
        }
    }
    return NULL;
}

/* ---- clients ----------------------------------------------------------------- */

static rd_kafka_conf_t *conf_new(void) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(c, "client.id", "skein-compat", err, sizeof err) ||
        rd_kafka_conf_set(c, "broker.address.family", "v4", err, sizeof err))
        failf("conf: %s", err);
    return c;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        failf("conf %s=%s: %s", k, v, err);
}

/* Delivery reports: the opaque of each record points at one of these. */
struct dr {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct dr *d = m->_private;
    if (!d)
        return;
    d->done = 1;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

static rd_kafka_t *producer(rd_kafka_conf_t *c) {
    char err[512];
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk)
        failf("rd_kafka_new producer: %s", err);
    return rk;
}

static rd_kafka_t *consumer(rd_kafka_conf_t *c, const char *group) {
    char err[512];
    set(c, "group.id", group ? group : "skein-compat-unused");
    set(c, "enable.auto.commit", "false");
    set(c, "enable.auto.offset.store", "false");
    set(c, "auto.offset.reset", "earliest");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk)
        failf("rd_kafka_new consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Produces one record, waiting for queue room; ts 0 = now. */
static void produce1(rd_kafka_t *rk, const char *t, int32_t part, const void *k, int kl,
                     const void *v, size_t vl, rd_kafka_headers_t *hs, int64_t ts,
                     struct dr *d) {
    const void *kp = kl < 0 ? NULL : k;
    size_t ksz = kl < 0 ? 0 : (size_t)kl;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(kp, ksz),
            RD_KAFKA_V_VALUE((void *)v, vl), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (e) {
            if (hs)
                rd_kafka_headers_destroy(hs);
            failf("producev to %s: %s", t, rd_kafka_err2str(e));
        }
        break;
    }
    rd_kafka_poll(rk, 0);
}

static void flush(rd_kafka_t *rk, const char *t) {
    if (rd_kafka_flush(rk, 60000))
        failf("%d records to %s still undelivered after 60 s", rd_kafka_outq_len(rk), t);
}

/* Produces records 0..n-1 of the standard set (ts: timestamp(i) or 0) to t/0 and
 * checks that record i was acknowledged at offset i. */
static void produce_std(rd_kafka_t *rk, const char *t, int n, bool ts) {
    struct dr *d = calloc((size_t)n, sizeof *d);
    char kb[32], vb[512];
    for (int i = 0; i < n; i++) {
        int kl = key_of(i, kb);
        int vl = value_of(i, t, vb);
        produce1(rk, t, 0, kb, kl, vb, (size_t)vl, make_headers(i), ts ? BASE_TS + i : 0,
                 &d[i]);
    }
    flush(rk, t);
    for (int i = 0; i < n; i++) {
        if (!d[i].done)
            failf("record %d of %s: no delivery report", i, t);
        if (d[i].err)
            failf("record %d of %s: delivery failed: %s", i, t, rd_kafka_err2str(d[i].err));
        if (d[i].offset != i)
            failf("record %d of %s acknowledged at offset %lld, expected %d", i, t,
                  (long long)d[i].offset, i);
    }
    free(d);
}

static void assign1(rd_kafka_t *c, const char *t, int32_t part, int64_t off) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, part)->offset = off;
    rd_kafka_resp_err_t e = rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        failf("assign %s/%d: %s", t, part, rd_kafka_err2str(e));
}

/* Up to n messages (caller destroys), within timeout seconds. */
static int consume_n(rd_kafka_t *c, rd_kafka_message_t **out, int n, double timeout,
                     const char *what) {
    int got = 0;
    double deadline = now() + timeout;
    while (got < n && now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                failf("consume error on %s: %s", what, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        out[got++] = m;
    }
    return got;
}

static void consume_compare(rd_kafka_t *c, const char *t, int n) {
    rd_kafka_message_t **ms = calloc((size_t)n, sizeof *ms);
    int got = consume_n(c, ms, n, 60, t);
    if (got != n)
        failf("%s: consumed %d records, expected %d", t, got, n);
    for (int i = 0; i < n; i++) {
        const char *e = check_record(ms[i], i, t);
        if (e)
            failf("%s: %s", t, e);
        rd_kafka_message_destroy(ms[i]);
    }
    free(ms);
}

/* ---- admin ------------------------------------------------------------------- */

static rd_kafka_t *admin_new(void) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(), err, sizeof err);
    if (!rk)
        failf("rd_kafka_new (admin): %s", err);
    return rk;
}

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                    const char *what) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev)
        failf("%s: no result in 30 s", what);
    if (rd_kafka_event_type(ev) != type)
        failf("%s: unexpected event %s", what, rd_kafka_event_name(ev));
    if (rd_kafka_event_error(ev))
        failf("%s: %s", what, rd_kafka_event_error_string(ev));
    return ev;
}

static rd_kafka_AdminOptions_t *admin_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op) {
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, 15000, err, sizeof err);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(o, 15000, err, sizeof err);
    return o;
}

/* Creates a topic; returns the topic's error code (0 on success). cfg: k, v, .. NULL */
static rd_kafka_resp_err_t create_topic_err(rd_kafka_t *rk, const char *t, int parts,
                                            const char **cfg, char *msg, size_t msz) {
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(t, parts, (int)exp_rf, err, sizeof err);
    if (!nt)
        failf("NewTopic %s: %s", t, err);
    for (; cfg && *cfg; cfg += 2)
        rd_kafka_NewTopic_set_config(nt, cfg[0], cfg[1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_opts(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics");
    size_t n;
    const rd_kafka_topic_result_t **r =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1)
        failf("CreateTopics %s: %zu topic results", t, n);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r[0]);
    if (msg)
        snprintf(msg, msz, "%s", rd_kafka_topic_result_error_string(r[0])
                                     ? rd_kafka_topic_result_error_string(r[0]) : "");
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return e;
}

static void create_topic(rd_kafka_t *rk, const char *t, int parts, const char **cfg) {
    char msg[512];
    rd_kafka_resp_err_t e = create_topic_err(rk, t, parts, cfg, msg, sizeof msg);
    if (e)
        failf("CreateTopics %s: %s (%s)", t, rd_kafka_err2name(e), msg);
}

static void new_topic(const char *t, int parts, const char **cfg) {
    rd_kafka_t *a = admin_new();
    create_topic(a, t, parts, cfg);
    rd_kafka_destroy(a);
}

/* Partition count of t in the broker's metadata, -1 if absent, -2 on a topic error. */
static int topic_partitions(rd_kafka_t *rk, const char *t, int32_t *leaders) {
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e)
        failf("metadata: %s", rd_kafka_err2str(e));
    int r = -1;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, t))
            continue;
        if (md->topics[i].err) {
            r = -2;
            break;
        }
        r = md->topics[i].partition_cnt;
        for (int p = 0; leaders && p < r; p++)
            leaders[md->topics[i].partitions[p].id] = md->topics[i].partitions[p].leader;
    }
    rd_kafka_metadata_destroy(md);
    return r;
}

/* ---- scenarios --------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* From librdkafka 2.10 on (its #4557: brokers are known by id only) the bootstrap
 * connection stays a handle of its own, id -1, and a request made before the learned
 * broker is up goes through it: orig_broker_id is then -1 from any broker, Kafka's
 * too. The id the broker gives itself is checked on the first answer that comes
 * through a learned handle, which librdkafka prefers once one is up. */
static void check_orig_broker(rd_kafka_t *rk, const struct rd_kafka_metadata *md) {
    if (md->orig_broker_id != -1 || rd_kafka_version() < 0x020a0000) {
        check_broker_id("orig_broker_id", md->orig_broker_id);
        return;
    }
    if (!ends_with(md->orig_broker_name, "/bootstrap"))
        failf("orig_broker_id -1 from %s, not from the bootstrap connection",
              md->orig_broker_name);
    step("rd_kafka_metadata through the learned broker");
    long long id = -1;
    for (double deadline = now() + 30; id == -1 && now() < deadline;) {
        const struct rd_kafka_metadata *again;
        if (rd_kafka_metadata(rk, 1, NULL, &again, 10000))
            continue;
        id = again->orig_broker_id;
        rd_kafka_metadata_destroy(again);
        if (id == -1)
            usleep(100000);
    }
    check_broker_id("orig_broker_id through the learned broker", id);
}

static void s_metadata(void) {
    step("rd_kafka_metadata (all topics)");
    rd_kafka_t *rk = admin_new();
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e)
        failf("metadata: %s", rd_kafka_err2str(e));
    eq_ll("broker count", exp_broker_cnt, md->broker_cnt);
    int at = -1;
    for (int i = 0; i < md->broker_cnt; i++) {
        check_broker_id("broker id", md->brokers[i].id);
        if (md->brokers[i].id == exp_node)
            at = i;
    }
    if (at < 0)
        failf("broker %lld is not in the metadata", exp_node);
    eq_ll("broker port", exp_port, md->brokers[at].port);
    if (strcmp(md->brokers[at].host, exp_host))
        failf("broker host: expected %s, got %s", exp_host, md->brokers[at].host);
    check_orig_broker(rk, md);
    rd_kafka_metadata_destroy(md);
    step("rd_kafka_clusterid, rd_kafka_controllerid");
    char *cid = rd_kafka_clusterid(rk, 10000);
    if (!cid || strcmp(cid, exp_cluster))
        failf("cluster id: expected %s, got %s", exp_cluster, cid ? cid : "(null)");
    rd_kafka_mem_free(rk, cid);
    eq_ll("controller id", exp_controller, rd_kafka_controllerid(rk, 10000));
    const char *name = "librdkafka-auto";
    step("metadata of %s (auto-create)", name);
    rd_kafka_conf_t *c = conf_new();
    set(c, "allow.auto.create.topics", "true");
    rd_kafka_t *p = producer(c);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, name, NULL);
    double deadline = now() + 10;
    int parts = 0;
    int32_t leader = -1;
    while (now() < deadline) {
        e = rd_kafka_metadata(p, 0, rkt, &md, 10000);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt) {
            parts = md->topics[0].partition_cnt;
            leader = md->topics[0].partitions[0].leader;
            rd_kafka_metadata_destroy(md);
            break;
        }
        if (!e)
            rd_kafka_metadata_destroy(md);
        usleep(200000);
    }
    eq_ll("partitions of librdkafka-auto", 1, parts);
    check_broker_id("leader of librdkafka-auto/0", leader);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(p);
    step("metadata after auto-create");
    if (topic_partitions(rk, name, NULL) != 1)
        failf("all topics: expected %s with one partition", name);
    rd_kafka_destroy(rk);
}

static void s_create_topic(void) {
    const char *name = "librdkafka-created";
    rd_kafka_t *a = admin_new();
    step("CreateTopics %s partitions=3", name);
    create_topic(a, name, 3, NULL);
    step("metadata of %s", name);
    int32_t leaders[3] = {-1, -1, -1};
    /* A cluster's broker may answer before it applied the new topic. */
    int parts = -1;
    for (double until = now() + 10; (parts = topic_partitions(a, name, leaders)) != 3 && now() < until;)
        usleep(200000);
    eq_ll("partitions of librdkafka-created", 3, parts);
    for (int i = 0; i < 3; i++)
        check_broker_id("leader", leaders[i]);
    step("CreateTopics %s again", name);
    char msg[512];
    rd_kafka_resp_err_t e = create_topic_err(a, name, 3, NULL, msg, sizeof msg);
    if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        failf("second create: expected TOPIC_ALREADY_EXISTS, got %s (%s)", rd_kafka_err2name(e),
              msg);
    rd_kafka_destroy(a);
}

static void topic_name(char *buf, const char *codec, const char *acks) {
    sprintf(buf, "%s-%s-acks%s", CLIENT, codec, acks);
}

static void s_produce(void) {
    rd_kafka_t *a = has_api(19) ? admin_new() : NULL;
    for (int ci = 0; ci < 5; ci++) {
        for (int ai = 0; ai < 2; ai++) {
            char t[128];
            topic_name(t, CODECS[ci], ACKS[ai]);
            if (a) {
                step("CreateTopics %s", t);
                create_topic(a, t, 1, NULL);
            }
            step("produce %d records to %s", N, t);
            rd_kafka_conf_t *c = conf_new();
            set(c, "acks", ai == 0 ? "1" : "all");
            set(c, "compression.codec", CODECS[ci]);
            set(c, "linger.ms", "5");
            set(c, "max.in.flight.requests.per.connection", "1");
            set(c, "message.send.max.retries", "0");
            rd_kafka_t *p = producer(c);
            produce_std(p, t, N, false);
            rd_kafka_destroy(p);
        }
    }
    if (a)
        rd_kafka_destroy(a);
}

static void s_consume(void) {
    for (int ci = 0; ci < 5; ci++) {
        for (int ai = 0; ai < 2; ai++) {
            char t[128];
            topic_name(t, CODECS[ci], ACKS[ai]);
            step("consume %s from the beginning", t);
            rd_kafka_t *c = consumer(conf_new(), NULL);
            assign1(c, t, 0, 0);
            consume_compare(c, t, N);
            rd_kafka_consumer_close(c);
            rd_kafka_destroy(c);
        }
    }
}

static void s_idempotent(void) {
    const char *t = "librdkafka-idempotent";
    step("CreateTopics %s", t);
    new_topic(t, 1, NULL);
    step("produce %d records with enable.idempotence", N);
    rd_kafka_conf_t *c = conf_new();
    set(c, "enable.idempotence", "true");
    set(c, "linger.ms", "5");
    rd_kafka_t *p = producer(c);
    produce_std(p, t, N, false);
    step("the producer has an id");
    rd_kafka_destroy(p);
    step("consume %s", t);
    rd_kafka_t *k = consumer(conf_new(), NULL);
    assign1(k, t, 0, 0);
    consume_compare(k, t, N);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
}

/* ---- group -------------------------------------------------------------------- */

static int seen[GROUP_FIRST + GROUP_SECOND];

static rd_kafka_t *member(int n) {
    char id[16];
    snprintf(id, sizeof id, "m%d", n);
    rd_kafka_conf_t *c = conf_new();
    set(c, "session.timeout.ms", "10000");
    set(c, "heartbeat.interval.ms", "500");
    set(c, "client.id", id);
    rd_kafka_t *k = consumer(c, "librdkafka-group-g");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "librdkafka-group", RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        failf("subscribe: %s", rd_kafka_err2str(e));
    return k;
}

static int assigned(rd_kafka_t *k) {
    rd_kafka_topic_partition_list_t *l;
    if (rd_kafka_assignment(k, &l))
        return -1;
    int n = l->cnt;
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

static int distinct_seen(void) {
    int n = 0;
    for (int i = 0; i < GROUP_FIRST + GROUP_SECOND; i++)
        n += seen[i] > 0;
    return n;
}

/* Polls every member in turn, committing (synchronously) what each consumed, until
 * until() or the timeout. */
static void poll_all(rd_kafka_t **cs, int n, bool (*until)(rd_kafka_t **, int), double timeout,
                     const char *what) {
    double deadline = now() + timeout;
    while (now() < deadline) {
        for (int j = 0; j < n; j++) {
            int64_t last[GROUP_PARTITIONS];
            for (int q = 0; q < GROUP_PARTITIONS; q++)
                last[q] = -1;
            int got = 0;
            rd_kafka_message_t *m;
            int wait = 200;
            while (got < 500 && (m = rd_kafka_consumer_poll(cs[j], wait))) {
                wait = 0;
                if (!m->err) {
                    int v = atoi((const char *)m->payload + 1);
                    if (v >= 0 && v < GROUP_FIRST + GROUP_SECOND)
                        seen[v]++;
                    last[m->partition] = m->offset + 1;
                    got++;
                }
                rd_kafka_message_destroy(m);
            }
            if (got) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(6);
                for (int q = 0; q < GROUP_PARTITIONS; q++)
                    if (last[q] >= 0)
                        rd_kafka_topic_partition_list_add(l, "librdkafka-group", q)->offset =
                            last[q];
                rd_kafka_resp_err_t e = rd_kafka_commit(cs[j], l, 0);
                rd_kafka_topic_partition_list_destroy(l);
                if (e)
                    failf("commit: %s", rd_kafka_err2str(e));
            }
        }
        if (until(cs, n))
            return;
    }
    char as[64] = "";
    for (int j = 0; j < n; j++)
        sprintf(as + strlen(as), "%s%d", j ? "," : "", assigned(cs[j]));
    failf("%s: not reached in %.0fs (seen %d distinct records, assignments %s)", what, timeout,
          distinct_seen(), as);
}

static bool first_ready(rd_kafka_t **cs, int n) {
    (void)n;
    return assigned(cs[0]) == GROUP_PARTITIONS && distinct_seen() > 0;
}

static bool balanced(rd_kafka_t **cs, int n) {
    for (int j = 0; j < n; j++)
        if (assigned(cs[j]) != 2)
            return false;
    return distinct_seen() == GROUP_FIRST;
}

static bool resumed(rd_kafka_t **cs, int n) {
    (void)cs;
    (void)n;
    return distinct_seen() >= GROUP_SECOND;
}

static bool always(rd_kafka_t **cs, int n) {
    (void)cs;
    (void)n;
    return true;
}

static void produce_group(rd_kafka_t *p, int from, int to) {
    struct dr *d = calloc((size_t)(to - from), sizeof *d);
    char vb[32];
    for (int i = from; i < to; i++) {
        int vl = sprintf(vb, "g%d", i);
        produce1(p, "librdkafka-group", i % GROUP_PARTITIONS, NULL, -1, vb, (size_t)vl, NULL, 0,
                 &d[i - from]);
    }
    flush(p, "librdkafka-group");
    for (int i = 0; i < to - from; i++)
        if (!d[i].done || d[i].err)
            failf("record %d: delivery failed: %s", from + i, rd_kafka_err2str(d[i].err));
    free(d);
}

static void s_group(void) {
    step("CreateTopics librdkafka-group partitions=%d", GROUP_PARTITIONS);
    new_topic("librdkafka-group", GROUP_PARTITIONS, NULL);
    step("produce %d records", GROUP_FIRST);
    rd_kafka_t *p = producer(conf_new());
    produce_group(p, 0, GROUP_FIRST);
    step("one member takes all %d partitions", GROUP_PARTITIONS);
    rd_kafka_t *cs[3];
    cs[0] = member(1);
    poll_all(cs, 1, first_ready, 30, "first member");
    step("two more members join: rebalance to 2 partitions each");
    cs[1] = member(2);
    cs[2] = member(3);
    poll_all(cs, 3, balanced, 60, "rebalance");
    step("close the members (commits are synchronous)");
    for (int j = 0; j < 3; j++) {
        rd_kafka_consumer_close(cs[j]);
        rd_kafka_destroy(cs[j]);
    }
    step("produce %d more, restart three members: they resume at the commits", GROUP_SECOND);
    produce_group(p, GROUP_FIRST, GROUP_FIRST + GROUP_SECOND);
    memset(seen, 0, sizeof seen);
    for (int j = 0; j < 3; j++)
        cs[j] = member(4 + j);
    poll_all(cs, 3, resumed, 60, "resume");
    sleep(1);
    poll_all(cs, 3, always, 5, "drain");
    for (int j = 0; j < 3; j++) {
        rd_kafka_consumer_close(cs[j]);
        rd_kafka_destroy(cs[j]);
    }
    for (int i = 0; i < GROUP_FIRST + GROUP_SECOND; i++) {
        if (i < GROUP_FIRST && seen[i])
            failf("record %d (committed before the restart) delivered again", i);
        if (i >= GROUP_FIRST && seen[i] != 1)
            failf("record %d delivered %d times after the restart, expected once", i, seen[i]);
    }
    rd_kafka_destroy(p);
}

/* ---- offsets ------------------------------------------------------------------ */

static int64_t offset_for_time(rd_kafka_t *c, const char *t, int64_t ts) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = ts;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(c, l, 10000);
    if (e || l->elems[0].err)
        failf("offsets_for_times %lld: %s", (long long)ts,
              rd_kafka_err2str(e ? e : l->elems[0].err));
    int64_t o = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return o;
}

static void s_offsets(void) {
    const char *t = "librdkafka-times";
    step("produce %d records with timestamps", TIMES_N);
    new_topic(t, 1, NULL);
    rd_kafka_t *p = producer(conf_new());
    struct dr *d = calloc(TIMES_N, sizeof *d);
    char kb[32], vb[512];
    for (int i = 0; i < TIMES_N; i++) {
        int kl = key_of(i, kb), vl = value_of(i, t, vb);
        produce1(p, t, 0, kb, kl, vb, (size_t)vl, make_headers(i), BASE_TS + i * TIMES_STEP,
                 &d[i]);
    }
    flush(p, t);
    for (int i = 0; i < TIMES_N; i++)
        if (d[i].err || d[i].offset != i)
            failf("record %d: %s at offset %lld", i, rd_kafka_err2str(d[i].err),
                  (long long)d[i].offset);
    free(d);
    rd_kafka_destroy(p);
    rd_kafka_t *c = consumer(conf_new(), NULL);
    step("offsets_for_times");
    int probes[] = {0, TIMES_N / 2, TIMES_N - 1};
    for (int j = 0; j < 3; j++) {
        char what[64];
        snprintf(what, sizeof what, "offset for timestamp of record %d", probes[j]);
        eq_ll(what, probes[j], offset_for_time(c, t, BASE_TS + probes[j] * TIMES_STEP));
    }
    eq_ll("offset for a timestamp after the last", -1,
          offset_for_time(c, t, BASE_TS + TIMES_N * TIMES_STEP));
    step("query_watermark_offsets");
    int64_t lo = -5, hi = -5;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, t, 0, &lo, &hi, 10000);
    if (e)
        failf("query_watermark_offsets: %s", rd_kafka_err2str(e));
    eq_ll("low watermark", 0, lo);
    eq_ll("high watermark", TIMES_N, hi);
    step("assign at the middle, consume to the end");
    int64_t mid = offset_for_time(c, t, BASE_TS + TIMES_N / 2 * TIMES_STEP);
    assign1(c, t, 0, mid);
    int want = TIMES_N - TIMES_N / 2;
    rd_kafka_message_t **ms = calloc((size_t)want, sizeof *ms);
    int got = consume_n(c, ms, want, 60, t);
    eq_ll("records from the middle", want, got);
    for (int j = 0; j < got; j++) {
        int i = TIMES_N / 2 + j;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(ms[j], &tt);
        eq_ll("offset", i, ms[j]->offset);
        eq_ll("timestamp", BASE_TS + i * TIMES_STEP, ts);
        eq_ll("timestamp type", RD_KAFKA_TIMESTAMP_CREATE_TIME, tt);
        const char *err = check_record(ms[j], i, t);
        if (err)
            failf("%s", err);
        rd_kafka_message_destroy(ms[j]);
    }
    step("seek back to 100");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = 100;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(c, l, 10000);
    if (err)
        failf("seek_partitions: %s", rd_kafka_error_string(err));
    if (l->elems[0].err)
        failf("seek_partitions: %s", rd_kafka_err2str(l->elems[0].err));
    rd_kafka_topic_partition_list_destroy(l);
    got = consume_n(c, ms, 10, 30, t);
    eq_ll("records after seek", 10, got);
    for (int j = 0; j < got; j++) {
        eq_ll("offset after seek", 100 + j, ms[j]->offset);
        const char *er = check_record(ms[j], 100 + j, t);
        if (er)
            failf("after seek: %s", er);
        rd_kafka_message_destroy(ms[j]);
    }
    free(ms);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* ---- admin -------------------------------------------------------------------- */

/* The value of config name in a DescribeConfigs result of one resource, or NULL. */
static const char *describe(rd_kafka_t *a, rd_kafka_ResourceType_t type, const char *res,
                            const char *name, int *count) {
    static char val[256];
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, res);
    rd_kafka_queue_t *q = rd_kafka_queue_new(a);
    rd_kafka_AdminOptions_t *o = admin_opts(a, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(a, &cr, 1, o, q);
    rd_kafka_event_t *ev =
        admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "DescribeConfigs");
    size_t n;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1)
        failf("DescribeConfigs %s: %zu resources", res, n);
    if (rd_kafka_ConfigResource_error(rs[0]))
        failf("DescribeConfigs %s: %s", res, rd_kafka_ConfigResource_error_string(rs[0]));
    size_t ce;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[0], &ce);
    const char *r = NULL;
    for (size_t i = 0; i < ce; i++) {
        if (!strcmp(rd_kafka_ConfigEntry_name(es[i]), name)) {
            const char *v = rd_kafka_ConfigEntry_value(es[i]);
            snprintf(val, sizeof val, "%s", v ? v : "(null)");
            r = val;
        }
    }
    if (count)
        *count = (int)ce;
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return r;
}

static void expect_config(rd_kafka_t *a, const char *t, const char *name, const char *want) {
    const char *v = describe(a, RD_KAFKA_RESOURCE_TOPIC, t, name, NULL);
    if (!v || strcmp(v, want))
        failf("%s of %s: expected %s, got %s", name, t, want, v ? v : "(absent)");
}

static void s_admin(void) {
    const char *t = "librdkafka-admin";
    rd_kafka_t *a = admin_new();
    step("CreateTopics %s retention.ms=86400000", t);
    const char *cfg[] = {"retention.ms", "86400000", NULL};
    create_topic(a, t, 1, cfg);
    step("DescribeConfigs topic");
    expect_config(a, t, "retention.ms", "86400000");
    expect_config(a, t, "cleanup.policy", "delete");
    step("AlterConfigs retention.ms, segment.bytes");
    {
        rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t);
        rd_kafka_ConfigResource_set_config(cr, "retention.ms", "123456789");
        rd_kafka_ConfigResource_set_config(cr, "segment.bytes", "10485760");
        rd_kafka_queue_t *q = rd_kafka_queue_new(a);
        rd_kafka_AdminOptions_t *o = admin_opts(a, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
        rd_kafka_AlterConfigs(a, &cr, 1, o, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "AlterConfigs");
        size_t n;
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        if (n != 1 || rd_kafka_ConfigResource_error(rs[0]))
            failf("AlterConfigs: %s",
                  n ? rd_kafka_ConfigResource_error_string(rs[0]) : "no resource");
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_ConfigResource_destroy(cr);
        rd_kafka_queue_destroy(q);
    }
    expect_config(a, t, "retention.ms", "123456789");
    expect_config(a, t, "segment.bytes", "10485760");
    step("DescribeConfigs broker %lld", exp_node);
    {
        char id[16];
        int cnt = 0;
        snprintf(id, sizeof id, "%lld", exp_node);
        const char *h = describe(a, RD_KAFKA_RESOURCE_BROKER, id, "log.retention.hours", &cnt);
        const char *m = describe(a, RD_KAFKA_RESOURCE_BROKER, id, "log.retention.ms", NULL);
        if (!h && !m)
            failf("broker configs: no log.retention.* among %d entries", cnt);
    }
    step("CreatePartitions to 3");
    {
        char err[256];
        rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(t, 3, err, sizeof err);
        rd_kafka_queue_t *q = rd_kafka_queue_new(a);
        rd_kafka_AdminOptions_t *o = admin_opts(a, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
        rd_kafka_CreatePartitions(a, &np, 1, o, q);
        rd_kafka_event_t *ev =
            admin_wait(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "CreatePartitions");
        size_t n;
        const rd_kafka_topic_result_t **r = rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(ev), &n);
        if (n != 1 || rd_kafka_topic_result_error(r[0]))
            failf("CreatePartitions: %s", n ? rd_kafka_topic_result_error_string(r[0]) : "none");
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_NewPartitions_destroy(np);
        rd_kafka_queue_destroy(q);
    }
    double deadline = now() + 10;
    int parts = 0;
    while (now() < deadline && (parts = topic_partitions(a, t, NULL)) != 3)
        usleep(200000);
    eq_ll("partitions after CreatePartitions", 3, parts);
    step("produce 10 records to the new partition 2");
    {
        rd_kafka_conf_t *c = conf_new();
        set(c, "topic.metadata.refresh.interval.ms", "1000");
        rd_kafka_t *p = producer(c);
        /* In a cluster the broker this producer asks may not have applied the
         * new partition yet (as with Kafka, brokers learn it after the answer). */
        for (double until = now() + 10; topic_partitions(p, t, NULL) != 3 && now() < until;)
            usleep(200000);
        struct dr d[10];
        memset(d, 0, sizeof d);
        for (int i = 0; i < 10; i++) {
            char vb[16];
            int vl = sprintf(vb, "p2-%d", i);
            produce1(p, t, 2, NULL, -1, vb, (size_t)vl, NULL, 0, &d[i]);
        }
        flush(p, t);
        for (int i = 0; i < 10; i++) {
            if (d[i].err)
                failf("record %d to partition 2: %s", i, rd_kafka_err2str(d[i].err));
            eq_ll("partition", 2, d[i].partition);
            eq_ll("offset in partition 2", i, d[i].offset);
        }
        rd_kafka_destroy(p);
    }
    step("DeleteRecords partition 2 before offset 4");
    {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, t, 2)->offset = 4;
        rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_queue_t *q = rd_kafka_queue_new(a);
        rd_kafka_AdminOptions_t *o = admin_opts(a, RD_KAFKA_ADMIN_OP_DELETERECORDS);
        rd_kafka_DeleteRecords(a, &dr, 1, o, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETERECORDS_RESULT, "DeleteRecords");
        const rd_kafka_topic_partition_list_t *r =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        if (!r || r->cnt != 1)
            failf("DeleteRecords: %d partition results", r ? r->cnt : -1);
        if (r->elems[0].err)
            failf("DeleteRecords: %s", rd_kafka_err2str(r->elems[0].err));
        eq_ll("low watermark returned by DeleteRecords", 4, r->elems[0].offset);
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_DeleteRecords_destroy(dr);
        rd_kafka_queue_destroy(q);
        rd_kafka_t *c = consumer(conf_new(), NULL);
        int64_t lo = -5, hi = -5;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, t, 2, &lo, &hi, 10000);
        if (e)
            failf("query_watermark_offsets: %s", rd_kafka_err2str(e));
        eq_ll("low watermark after DeleteRecords", 4, lo);
        eq_ll("high watermark after DeleteRecords", 10, hi);
        step("consume partition 2 from the beginning: starts at 4");
        assign1(c, t, 2, RD_KAFKA_OFFSET_BEGINNING);
        rd_kafka_message_t *ms[6];
        int got = consume_n(c, ms, 6, 30, t);
        eq_ll("records after DeleteRecords", 6, got);
        for (int j = 0; j < got; j++) {
            eq_ll("offset", 4 + j, ms[j]->offset);
            rd_kafka_message_destroy(ms[j]);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    step("DeleteTopics %s", t);
    {
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(t);
        rd_kafka_queue_t *q = rd_kafka_queue_new(a);
        rd_kafka_AdminOptions_t *o = admin_opts(a, RD_KAFKA_ADMIN_OP_DELETETOPICS);
        rd_kafka_DeleteTopics(a, &dt, 1, o, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "DeleteTopics");
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        if (n != 1 || rd_kafka_topic_result_error(r[0]))
            failf("DeleteTopics: %s", n ? rd_kafka_topic_result_error_string(r[0]) : "none");
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
    }
    /* One answer without the topic: another broker of a cluster may list it a
     * moment longer, as Kafka's brokers apply the deletion after the answer. */
    deadline = now() + 10;
    int left;
    while ((left = topic_partitions(a, t, NULL)) != -1 && now() < deadline)
        usleep(200000);
    if (left != -1)
        failf("topics after delete: %s is still listed", t);
    rd_kafka_destroy(a);
}

/* ---- large -------------------------------------------------------------------- */

static void s_large(void) {
    const char *t = "librdkafka-large";
    char mm[32];
    snprintf(mm, sizeof mm, "%d", TOPIC_MAX_MESSAGE);
    step("CreateTopics %s max.message.bytes=%d", t, TOPIC_MAX_MESSAGE);
    const char *cfg[] = {"max.message.bytes", mm, NULL};
    new_topic(t, 1, cfg);
    rd_kafka_conf_t *c = conf_new();
    set(c, "message.max.bytes", "4194304");
    set(c, "linger.ms", "0");
    set(c, "message.send.max.retries", "0");
    rd_kafka_t *p = producer(c);
    unsigned char *big = malloc(LARGE);
    for (int i = 0; i < LARGE; i++)
        big[i] = (unsigned char)i;
    step("produce a %d-byte record", LARGE);
    struct dr d = {0};
    rd_kafka_headers_t *hs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hs, "h", -1, "1", 1);
    produce1(p, t, 0, "big", 3, big, LARGE, hs, 0, &d);
    flush(p, t);
    if (d.err)
        failf("delivery: %s", rd_kafka_err2str(d.err));
    eq_ll("offset of the large record", 0, d.offset);
    step("consume the large record");
    rd_kafka_conf_t *cc = conf_new();
    set(cc, "fetch.max.bytes", "4194304");
    set(cc, "max.partition.fetch.bytes", "4194304");
    set(cc, "receive.message.max.bytes", "8388608");
    rd_kafka_t *k = consumer(cc, NULL);
    assign1(k, t, 0, 0);
    rd_kafka_message_t *m;
    if (consume_n(k, &m, 1, 60, t) != 1)
        failf("the large record did not come back");
    if (m->len != LARGE || memcmp(m->payload, big, LARGE) || m->key_len != 3 ||
        memcmp(m->key, "big", 3))
        failf("large record: got %zu bytes (key %zu bytes), not the same %d bytes", m->len,
              m->key_len, LARGE);
    rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    step("produce a %d-byte record over the topic's limit", TOO_LARGE);
    char *huge = malloc(TOO_LARGE);
    memset(huge, 'x', TOO_LARGE);
    struct dr d2 = {0};
    produce1(p, t, 0, NULL, -1, huge, TOO_LARGE, NULL, 0, &d2);
    flush(p, t);
    if (d2.err != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        failf("delivery of a %d-byte record to a topic with max.message.bytes=%d: expected "
              "MSG_SIZE_TOO_LARGE, got %s", TOO_LARGE, TOPIC_MAX_MESSAGE,
              d2.err ? rd_kafka_err2name(d2.err) : "success");
    step("the topic still works");
    struct dr d3 = {0};
    produce1(p, t, 0, NULL, -1, "small", 5, NULL, 0, &d3);
    flush(p, t);
    if (d3.err)
        failf("delivery: %s", rd_kafka_err2str(d3.err));
    eq_ll("offset after the rejected record", 1, d3.offset);
    free(big);
    free(huge);
    rd_kafka_destroy(p);
}

/* ---- restarts ----------------------------------------------------------------- */

static volatile int restarted;

static void *wait_stdin(void *arg) {
    (void)arg;
    char line[64];
    if (fgets(line, sizeof line, stdin))
        __atomic_store_n(&restarted, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

#define RMAX 4096

static void s_restart(const char *name) {
    char t[64];
    snprintf(t, sizeof t, "%s-%s", CLIENT, name);
    step("CreateTopics %s", t);
    new_topic(t, 1, NULL);
    rd_kafka_conf_t *c = conf_new();
    set(c, "acks", "all");
    set(c, "linger.ms", "2");
    set(c, "message.timeout.ms", "60000");
    set(c, "reconnect.backoff.ms", "50");
    set(c, "reconnect.backoff.max.ms", "500");
    rd_kafka_t *p = producer(c);
    rd_kafka_conf_t *cc = conf_new();
    set(cc, "reconnect.backoff.ms", "50");
    set(cc, "reconnect.backoff.max.ms", "500");
    rd_kafka_t *k = consumer(cc, NULL);
    assign1(k, t, 0, 0);
    /* d[i]: delivery of "r<i>"; consumed[o]: index consumed at offset o + 1 */
    struct dr *d = calloc(RMAX, sizeof *d);
    int *consumed = calloc(RMAX * 2, sizeof *consumed);
    int produced = 0, asked = 0, after = -1;
    pthread_t th;
    step("produce and consume in a loop; the broker restarts in the middle");
    double deadline = now() + 120;
    for (;;) {
        if (now() > deadline)
            break;
        int acked = 0;
        for (int i = 0; i < produced; i++)
            acked += d[i].done && !d[i].err;
        /* Until the restart is over up to 3 x RESTART_ACKS (a cluster goes on
         * acknowledging while one node restarts), then RESTART_ACKS more. */
        int want = after < 0 ? RESTART_ACKS * 3 : after + RESTART_ACKS;
        if (acked < want && produced < RMAX &&
            produced - acked < 200) {
            char vb[16];
            int vl = sprintf(vb, "r%d", produced);
            if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE(vb, (size_t)vl),
                                  RD_KAFKA_V_OPAQUE(&d[produced]), RD_KAFKA_V_END) == 0)
                produced++;
        }
        rd_kafka_poll(p, 0);
        rd_kafka_message_t *m;
        while ((m = rd_kafka_consumer_poll(k, 0))) {
            if (!m->err && m->offset >= 0 && m->offset < RMAX * 2 && m->len > 1)
                consumed[m->offset] = atoi((const char *)m->payload + 1) + 1;
            rd_kafka_message_destroy(m);
        }
        if (!asked && acked >= RESTART_ACKS) {
            asked = 1;
            pthread_create(&th, NULL, wait_stdin, NULL);
            printf("control: restart\n");
            fflush(stdout);
        }
        if (asked && after < 0 && __atomic_load_n(&restarted, __ATOMIC_SEQ_CST)) {
            step("broker back; keep going");
            after = acked;
        }
        if (after >= 0 && acked >= after + RESTART_ACKS) {
            int all = 1;
            for (int i = 0; i < produced && all; i++)
                if (d[i].done && !d[i].err &&
                    (d[i].offset >= RMAX * 2 || consumed[d[i].offset] != i + 1))
                    all = 0;
            if (all)
                break;
        }
        usleep(2000);
    }
    rd_kafka_flush(p, 30000);
    if (after < 0)
        failf("broker restart: not done");
    step("read back every acknowledged record");
    for (double until = now() + 30; now() < until;) {
        int all = 1;
        for (int i = 0; i < produced && all; i++)
            if (d[i].done && !d[i].err &&
                (d[i].offset >= RMAX * 2 || consumed[d[i].offset] != i + 1))
                all = 0;
        if (all)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
        if (m) {
            if (!m->err && m->offset >= 0 && m->offset < RMAX * 2 && m->len > 1)
                consumed[m->offset] = atoi((const char *)m->payload + 1) + 1;
            rd_kafka_message_destroy(m);
        }
    }
    int acked = 0, missing = 0, first = -1;
    for (int i = 0; i < produced; i++) {
        if (!d[i].done || d[i].err)
            continue;
        acked++;
        if (d[i].offset >= RMAX * 2 || consumed[d[i].offset] != i + 1) {
            if (first < 0)
                first = (int)d[i].offset;
            missing++;
        }
    }
    if (missing)
        failf("%d acknowledged records the consumer did not get back (first at offset %d; %d "
              "acknowledged, %d after the restart)", missing, first, acked, acked - after);
    if (acked < after + RESTART_ACKS)
        failf("only %d records acknowledged after the restart", acked - after);
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    rd_kafka_destroy(p);
    free(d);
    free(consumed);
}

/* ---- cross-client ------------------------------------------------------------- */

static void s_xc_produce(void) {
    /* The runner names the topic after the matrix row: two rows may run this program. */
    const char *row = getenv("COMPAT_ROW");
    char t[128];
    snprintf(t, sizeof t, "xc-%s", row ? row : CLIENT);
    step("CreateTopics %s", t);
    new_topic(t, 1, NULL);
    step("produce %d records to %s", XC_N, t);
    rd_kafka_t *p = producer(conf_new());
    produce_std(p, t, XC_N, true);
    rd_kafka_destroy(p);
}

static void hex(FILE *f, const void *b, size_t n) {
    if (!b && !n) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", ((const unsigned char *)b)[i]);
    fputc('"', f);
}

static void s_xc_consume(void) {
    FILE *f = fopen(out_arg, "w");
    if (!f)
        failf("cannot write %s", out_arg);
    char *list = strdup(topics_arg), *save = NULL;
    rd_kafka_message_t **ms = calloc((size_t)XC_N, sizeof *ms);
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        step("consume %s", t);
        rd_kafka_t *c = consumer(conf_new(), NULL);
        assign1(c, t, 0, 0);
        int got = consume_n(c, ms, XC_N, 60, t);
        for (int j = 0; j < got; j++) {
            rd_kafka_message_t *m = ms[j];
            fputc('[', f);
            json_str(f, t);
            fprintf(f, ", %lld, ", (long long)m->offset);
            if (m->key)
                hex(f, m->key, m->key_len);
            else
                fputs("null", f);
            fputs(", ", f);
            if (m->payload)
                hex(f, m->payload, m->len);
            else
                fputs("null", f);
            fputs(", [", f);
            rd_kafka_headers_t *hs;
            if (rd_kafka_message_headers(m, &hs) == 0) {
                for (size_t h = 0; h < rd_kafka_header_cnt(hs); h++) {
                    const char *name;
                    const void *val;
                    size_t sz;
                    rd_kafka_header_get_all(hs, h, &name, &val, &sz);
                    fputs(h ? ", [" : "[", f);
                    json_str(f, name);
                    fputs(", ", f);
                    /* a null header value reads as empty, as confluent-kafka reports it */
                    fputc('"', f);
                    for (size_t i = 0; i < sz; i++)
                        fprintf(f, "%02x", ((const unsigned char *)val)[i]);
                    fputs("\"]", f);
                }
            }
            rd_kafka_timestamp_type_t tt;
            fprintf(f, "], %lld]\n", (long long)rd_kafka_message_timestamp(m, &tt));
            rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    free(ms);
    free(list);
    fclose(f);
}

/* A row that names a librdkafka version must not pass on another one (the loader
 * finding Debian's library first, say): the library loaded, and the header this
 * program was built with, must both be that version. */
static void check_version(void) {
    const char *want = getenv("COMPAT_LIBRDKAFKA_VERSION");
    if (!want)
        return;
    step("librdkafka version");
    if (strcmp(rd_kafka_version_str(), want))
        failf("librdkafka loaded: expected %s, got %s", want, rd_kafka_version_str());
    eq_ll("rd_kafka_version() against RD_KAFKA_VERSION of the header built with",
          RD_KAFKA_VERSION, rd_kafka_version());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCENARIO --bootstrap HOST:PORT [--expect JSON] [--apis K,..]"
                        " [--topics T,..] [--out FILE]\n", argv[0]);
        return 2;
    }
    const char *scenario = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--expect"))
            parse_expect(argv[i + 1]);
        else if (!strcmp(argv[i], "--apis"))
            snprintf(apis_arg, sizeof apis_arg, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--topics"))
            topics_arg = argv[i + 1];
        else if (!strcmp(argv[i], "--out"))
            out_arg = argv[i + 1];
    }
    if (getenv("COMPAT_RECORDS"))
        N = atoi(getenv("COMPAT_RECORDS"));
    if (getenv("COMPAT_XC_RECORDS"))
        XC_N = atoi(getenv("COMPAT_XC_RECORDS"));
    check_version();
    static const struct {
        const char *name;
        void (*fn)(void);
    } table[] = {{"metadata", s_metadata}, {"create-topic", s_create_topic},
                 {"produce", s_produce}, {"consume", s_consume},
                 {"idempotent", s_idempotent}, {"group", s_group},
                 {"offsets", s_offsets}, {"admin", s_admin},
                 {"large", s_large}, {"xc-produce", s_xc_produce},
                 {"xc-consume", s_xc_consume}};
    if (!strcmp(scenario, "restart-term") || !strcmp(scenario, "restart-kill")) {
        s_restart(scenario);
        emit("pass", "", "");
        return 0;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!strcmp(table[i].name, scenario)) {
            table[i].fn();
            emit("pass", "", "");
            return 0;
        }
    }
    emit("unsupported", "", "no such scenario for this client");
    return 0;
}
