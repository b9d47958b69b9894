/* Creates the benchmark topics and waits until every partition has a leader,
 * so a run never measures topic creation or leader election. */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns the partition count once every partition has a leader, else 0. */
static int partitions_ready(rd_kafka_t *rk, const char *topic, int want)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return 0;
    int ok = md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt >= want;
    for (int i = 0; ok && i < md->topics[0].partition_cnt; i++)
        if (md->topics[0].partitions[i].leader < 0)
            ok = 0;
    if (ok)
        ok = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return ok;
}

/* Prints how many records the topic holds (sum of high - low watermarks):
 * the mock peer keeps only a bounded tail per partition, so a consume run
 * asks for what is there. */
static int count_records(const char *bootstrap, const char *topic)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "bootstrap.servers", bootstrap);
    bench_conf_set(conf, "log_level", "3");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        return 1;
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1) {
        fprintf(stderr, "bench-admin: no metadata for %s\n", topic);
        return 1;
    }
    long long total = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo, &hi, 10000)) {
            fprintf(stderr, "bench-admin: no offsets for %s-%d\n", topic, md->topics[0].partitions[i].id);
            return 1;
        }
        total += hi - lo;
    }
    printf("records=%lld\n", total);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[2], "records"))
        return count_records(argv[1], argv[3]);
    if (argc < 5 || strcmp(argv[2], "create")) {
        fprintf(stderr, "usage: bench-admin BOOTSTRAP create TOPIC PARTITIONS [key=value ...]\n"
                        "       bench-admin BOOTSTRAP records TOPIC\n");
        return 1;
    }
    const char *topic = argv[3];
    int parts = atoi(argv[4]);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "bootstrap.servers", argv[1]);
    bench_conf_set(conf, "log_level", "3");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench-admin: %s\n", errstr);
        return 1;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, 1, errstr, sizeof(errstr));
    for (int i = 5; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq) {
            *eq = 0;
            rd_kafka_NewTopic_set_config(nt, argv[i], eq + 1);
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int rc = 0, want = parts;
    if (!ev) {
        /* No CreateTopics (the mock cluster, or a broker without the admin
         * API): fall back to auto-creation through Metadata, which makes the
         * broker's num.partitions partitions. */
        fprintf(stderr, "bench-admin: CreateTopics unanswered; relying on auto-creation\n");
        want = 1;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
        if (!err && n == 1)
            err = rd_kafka_topic_result_error(tr[0]);
        if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION) {
            fprintf(stderr, "bench-admin: CreateTopics unsupported; relying on auto-creation\n");
            want = 1;
        } else if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "bench-admin: create %s: %s\n", topic,
                    n == 1 && rd_kafka_topic_result_error_string(tr[0]) ? rd_kafka_topic_result_error_string(tr[0])
                                                                      : rd_kafka_err2str(err));
            rc = 1;
        }
        rd_kafka_event_destroy(ev);
    }
    if (rc == 0) {
        rc = 1;
        int got = 0;
        for (int i = 0; i < 300 && rc; i++) {
            if ((got = partitions_ready(rk, topic, want)) > 0)
                rc = 0;
            else
                usleep(100000);
        }
        if (rc)
            fprintf(stderr, "bench-admin: %s has no leader for all %d partitions\n", topic, want);
        else
            printf("partitions=%d\n", got);
    }
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
