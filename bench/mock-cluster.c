/* The benchmark's peer: librdkafka's mock cluster in a process of its own, so
 * clients reach it over loopback and its CPU is read from /proc like the
 * broker's. It keeps everything in memory, so it is an upper bound for what
 * the wire protocol costs a client, not a durable broker. */
#include "common.h"

#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    int brokers = 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    /* The handle only hosts the cluster's threads; it never connects. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock-cluster: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "mock-cluster: cannot create the mock cluster\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            /* NAME:PARTITIONS, created up front because auto-creation in the
             * mock picks its own partition count. */
            char *spec = argv[++i], *colon = strrchr(spec, ':');
            int parts = colon ? atoi(colon + 1) : 1;
            if (colon)
                *colon = 0;
            rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, spec, parts, 1);
            if (err) {
                fprintf(stderr, "mock-cluster: topic %s: %s\n", spec, rd_kafka_err2str(err));
                return 1;
            }
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("bootstrap.servers=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    fprintf(stderr, "Mock cluster started\n");
    while (!g_stop)
        pause();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
