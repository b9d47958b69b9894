/* Helpers shared by the benchmark clients: Kafka-style properties, mapping of
 * Java client config names onto librdkafka, Java's random generators (so the
 * payloads are the very bytes Kafka's tools send), clocks and percentiles. */
#ifndef SKEIN_BENCH_COMMON_H
#define SKEIN_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <librdkafka/rdkafka.h>

/* An ordered list of key=value pairs; later entries win, as in
 * java.util.Properties when props are layered. */
struct bench_props {
    char **keys;
    char **vals;
    size_t n, cap;
};

void bench_props_put(struct bench_props *p, const char *k, const char *v);
const char *bench_props_get(const struct bench_props *p, const char *k);
/* Loads a java.util.Properties file; returns 0 or -errno. */
int bench_props_load(struct bench_props *p, const char *path);
void bench_props_free(struct bench_props *p);

/* Applies Java client property names to a librdkafka config: names librdkafka
 * shares are passed through, Java-only ones are translated or dropped with a
 * warning, as the Java client warns about unknown keys. Returns 0, or -1 after
 * printing why a value was refused. */
int bench_conf_apply(rd_kafka_conf_t *conf, const struct bench_props *p);
int bench_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v);

/* java.util.SplittableRandom, as ProducerPerformance seeds it with 0. */
struct java_splittable { uint64_t seed; };
void java_splittable_init(struct java_splittable *r, uint64_t seed);
int32_t java_splittable_next_int(struct java_splittable *r, int32_t bound);

/* java.util.Random (48-bit LCG), as EndToEndLatency seeds it with 0. */
struct java_random { uint64_t seed; };
void java_random_init(struct java_random *r, uint64_t seed);
int32_t java_random_next_int(struct java_random *r, int32_t bound);

int64_t bench_now_ms(void);   /* wall clock, as System.currentTimeMillis() */
int64_t bench_now_us(void);   /* wall clock in microseconds */
int64_t bench_mono_ns(void);  /* monotonic, as System.nanoTime() */

/* Java's Double.toString for the values the tools print (shortest digits that
 * read back the same, always with a fraction part). */
void java_double_str(char *buf, size_t len, double v);

/* Sorts v[0..n) and returns the value at index (int)(q * n), Kafka's rule. */
void bench_sort_i64(int64_t *v, size_t n);
int64_t bench_pct_i64(const int64_t *sorted, size_t n, double q);

/* Strictly parsed integers/doubles for command-line values. */
int bench_parse_i64(const char *s, int64_t *out);
int bench_parse_double(const char *s, double *out);

#endif
