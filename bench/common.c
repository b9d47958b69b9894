#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void bench_props_put(struct bench_props *p, const char *k, const char *v)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i], k) == 0) {
            free(p->vals[i]);
            p->vals[i] = strdup(v);
            return;
        }
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->keys = realloc(p->keys, p->cap * sizeof(*p->keys));
        p->vals = realloc(p->vals, p->cap * sizeof(*p->vals));
        if (!p->keys || !p->vals) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    p->keys[p->n] = strdup(k);
    p->vals[p->n] = strdup(v);
    p->n++;
}

const char *bench_props_get(const struct bench_props *p, const char *k)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i], k) == 0)
            return p->vals[i];
    return NULL;
}

void bench_props_free(struct bench_props *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->keys);
    free(p->vals);
    memset(p, 0, sizeof(*p));
}

/* Appends one logical line's unescaped characters; Properties escapes are
 * \t \n \r \f \uXXXX (ASCII only here) and \x for a literal x. */
static size_t unescape(char *dst, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            c = src[++i];
            if (c == 't') c = '\t';
            else if (c == 'n') c = '\n';
            else if (c == 'r') c = '\r';
            else if (c == 'f') c = '\f';
            else if (c == 'u' && i + 4 < n) {
                char hex[5] = { src[i + 1], src[i + 2], src[i + 3], src[i + 4], 0 };
                c = (char)strtol(hex, NULL, 16);
                i += 4;
            }
        }
        dst[o++] = c;
    }
    dst[o] = 0;
    return o;
}

int bench_props_load(struct bench_props *p, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *line = NULL, *logical = NULL;
    size_t cap = 0, lcap = 0, llen = 0;
    ssize_t got;
    int more = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        char *s = line;
        while (got > 0 && (s[got - 1] == '\n' || s[got - 1] == '\r'))
            s[--got] = 0;
        /* Continuation lines drop their leading blanks, as Properties does. */
        while (*s == ' ' || *s == '\t' || *s == '\f')
            s++;
        if (!more && (*s == '#' || *s == '!' || *s == 0))
            continue;
        size_t n = strlen(s);
        /* An odd number of trailing backslashes continues the line. */
        size_t bs = 0;
        while (bs < n && s[n - 1 - bs] == '\\')
            bs++;
        more = bs % 2 == 1;
        if (more)
            n--;
        if (llen + n + 1 > lcap) {
            lcap = (llen + n + 1) * 2;
            logical = realloc(logical, lcap);
        }
        memcpy(logical + llen, s, n);
        llen += n;
        logical[llen] = 0;
        if (more)
            continue;
        /* The key ends at the first unescaped '=', ':' or blank. */
        size_t i = 0;
        while (i < llen) {
            if (logical[i] == '\\') { i += 2; continue; }
            if (logical[i] == '=' || logical[i] == ':' || isspace((unsigned char)logical[i]))
                break;
            i++;
        }
        if (i > llen)
            i = llen;
        size_t kend = i;
        while (i < llen && isspace((unsigned char)logical[i]))
            i++;
        if (i < llen && (logical[i] == '=' || logical[i] == ':'))
            i++;
        while (i < llen && isspace((unsigned char)logical[i]))
            i++;
        char *k = malloc(kend + 1), *v = malloc(llen - i + 1);
        unescape(k, logical, kend);
        unescape(v, logical + i, llen - i);
        bench_props_put(p, k, v);
        free(k);
        free(v);
        llen = 0;
    }
    free(line);
    free(logical);
    fclose(f);
    return 0;
}

/* Java-only keys with no librdkafka meaning: serializers are implied by raw
 * bytes, blocking and pluggable classes are JVM concepts. */
static const char *const dropped[] = {
    "key.serializer", "value.serializer", "key.deserializer", "value.deserializer",
    "max.block.ms", "partitioner.class", "partitioner.ignore.keys",
    "partitioner.adaptive.partitioning.enable", "partitioner.availability.timeout.ms",
    "interceptor.classes", "metric.reporters", "metrics.num.samples",
    "metrics.recording.level", "metrics.sample.window.ms", "auto.include.jmx.reporter",
    "enable.metrics.push", "max.poll.records", "max.poll.interval.ms.ignored",
    "default.api.timeout.ms", "client.dns.lookup", "exclude.internal.topics",
    "metadata.max.idle.ms", "connections.max.idle.ms.ignored", NULL,
};

static const struct { const char *java, *rd; } renamed[] = {
    { "send.buffer.bytes", "socket.send.buffer.bytes" },
    { "receive.buffer.bytes", "socket.receive.buffer.bytes" },
    { "max.request.size", "message.max.bytes" },
    { "fetch.max.wait.ms", "fetch.wait.max.ms" },
    { "compression.gzip.level", "compression.level" },
    { "compression.lz4.level", "compression.level" },
    { "compression.zstd.level", "compression.level" },
    { NULL, NULL },
};

int bench_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512], num[32];
    for (int i = 0; dropped[i]; i++)
        if (strcmp(k, dropped[i]) == 0)
            return 0;
    for (int i = 0; renamed[i].java; i++)
        if (strcmp(k, renamed[i].java) == 0)
            k = renamed[i].rd;
    if (strcmp(k, "socket.send.buffer.bytes") == 0 || strcmp(k, "socket.receive.buffer.bytes") == 0) {
        /* Java's -1 means "OS default", librdkafka's 0 does. */
        if (strcmp(v, "-1") == 0)
            v = "0";
    }
    if (strcmp(k, "buffer.memory") == 0) {
        long long b = strtoll(v, NULL, 10);
        snprintf(num, sizeof(num), "%lld", b / 1024 > 0 ? b / 1024 : 1);
        k = "queue.buffering.max.kbytes";
        v = num;
    }
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr));
    if (r == RD_KAFKA_CONF_UNKNOWN) {
        fprintf(stderr, "WARN The configuration '%s' was supplied but isn't a known config.\n", k);
        return 0;
    }
    if (r != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "Invalid value %s for configuration %s: %s\n", v, k, errstr);
        return -1;
    }
    return 0;
}

int bench_conf_apply(rd_kafka_conf_t *conf, const struct bench_props *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (bench_conf_set(conf, p->keys[i], p->vals[i]) < 0)
            return -1;
    return 0;
}

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

void java_splittable_init(struct java_splittable *r, uint64_t seed)
{
    r->seed = seed;
}

static int32_t mix32(uint64_t z)
{
    z = (z ^ (z >> 33)) * 0x62a9d9ed799705f5ULL;
    return (int32_t)(uint32_t)(((z ^ (z >> 28)) * 0xcb24d0a5c88c35b3ULL) >> 32);
}

int32_t java_splittable_next_int(struct java_splittable *r, int32_t bound)
{
    r->seed += GOLDEN_GAMMA;
    int32_t v = mix32(r->seed);
    int32_t m = bound - 1;
    if ((bound & m) == 0)
        return v & m;
    /* Java's rejection loop relies on int overflow (u + m - r < 0); do the
     * sum in 64 bits and test against INT32_MAX instead. */
    int32_t u = (int32_t)((uint32_t)v >> 1);
    for (;;) {
        v = u % bound;
        if ((int64_t)u + m - v <= INT32_MAX)
            return v;
        r->seed += GOLDEN_GAMMA;
        u = (int32_t)((uint32_t)mix32(r->seed) >> 1);
    }
}

#define LCG_MUL 0x5DEECE66DULL
#define LCG_MASK ((1ULL << 48) - 1)

void java_random_init(struct java_random *r, uint64_t seed)
{
    r->seed = (seed ^ LCG_MUL) & LCG_MASK;
}

static int32_t lcg_next(struct java_random *r, int bits)
{
    r->seed = (r->seed * LCG_MUL + 0xB) & LCG_MASK;
    return (int32_t)(r->seed >> (48 - bits));
}

int32_t java_random_next_int(struct java_random *r, int32_t bound)
{
    int32_t v = lcg_next(r, 31);
    int32_t m = bound - 1;
    if ((bound & m) == 0)
        return (int32_t)(((int64_t)bound * v) >> 31);
    for (int32_t u = v;; u = lcg_next(r, 31)) {
        v = u % bound;
        if ((int64_t)u - v + m <= INT32_MAX)
            return v;
    }
}

int64_t bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void java_double_str(char *buf, size_t len, double v)
{
    if (isnan(v)) { snprintf(buf, len, "NaN"); return; }
    if (isinf(v)) { snprintf(buf, len, v > 0 ? "Infinity" : "-Infinity"); return; }
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e7)) {
        /* Java's computerized scientific notation: 1.0E7, 1.234E-5. */
        for (int prec = 0; prec < 17; prec++) {
            snprintf(buf, len, "%.*e", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
        char *e = strchr(buf, 'e');
        char mant[64], out[80];
        int exp = atoi(e + 1);
        snprintf(mant, sizeof(mant), "%.*s", (int)(e - buf), buf);
        if (!strchr(mant, '.'))
            strcat(mant, ".0");
        snprintf(out, sizeof(out), "%sE%d", mant, exp);
        snprintf(buf, len, "%s", out);
        return;
    }
    for (int prec = 0; prec < 17; prec++) {
        snprintf(buf, len, "%.*f", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strchr(buf, '.'))
        strncat(buf, ".0", len - strlen(buf) - 1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void bench_sort_i64(int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
}

int64_t bench_pct_i64(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)n);
    return sorted[i < n ? i : n - 1];
}

int bench_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int bench_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}
