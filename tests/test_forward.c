/* Whole-request forwarding: a node with two shard contexts, each with its own
 * reactor on its own thread. The connection lands on shard 0 (the listener's);
 * a Heartbeat for a group that shard 1 coordinates runs there, and its answer
 * comes back to the connection through shard 0. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/group.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/server.h"
#include "testnode.h"
#include "wire.h"

static char dir[64];
static struct sk_config cfg;
static struct sk_node node;
static struct sk_broker home, other;
static pthread_t home_th, other_th;
static bool other_running;

static void *run_home(void *arg)
{
    (void)arg;
    sk_server_run(&home);
    return NULL;
}

static void *run_other(void *arg)
{
    (void)arg;
    sk_shard_run(other.shard);
    return NULL;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-fwd-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    const char *ov[] = {"skein.num.shards=1"}; /* the test makes its own shard contexts */
    sk_test_node_config(&cfg, dir, ov, 1);
    char err[256];
    cr_assert_eq(sk_server_open(&node, &home, &cfg, err, sizeof err), 0, "%s", err);
    node.shards = realloc(node.shards, sizeof *node.shards * 2);
    other = (struct sk_broker){.node = &node, .index = 1, .image = &node.image, .cfg = &cfg};
    struct sk_net_config nc;
    sk_net_config_defaults(&nc);
    nc.idle_ms = 0;
    struct sk_net_handler h = {.on_frame = NULL, .arg = &other};
    cr_assert_eq(sk_shard_new(&nc, &h, &other.shard), 0);
    cr_assert_eq(sk_groups_open(&other), 0);
    /* Tell the coordinators apart: shard 0's answers COORDINATOR_NOT_AVAILABLE,
     * shard 1's knows no such member. */
    home.groups->available = false;
    other.groups->available = true;
    /* ... and shard 1's leads every __consumer_offsets partition. */
    int32_t np = other.groups->lim.num_partitions;
    free(other.groups->loads);
    other.groups->loads = malloc((size_t)np * sizeof *other.groups->loads);
    cr_assert_not_null(other.groups->loads);
    for (int32_t i = 0; i < np; i++)
        other.groups->loads[i] = (struct sk_group_load){SK_GROUP_LOADED, 0};
    other.groups->nloads = np;
    node.shards[1] = &other;
    node.nshards = 2;
    cr_assert_eq(pthread_create(&other_th, NULL, run_other, NULL), 0);
    other_running = true;
    cr_assert_eq(pthread_create(&home_th, NULL, run_home, NULL), 0);
}

static void stop_other(void)
{
    if (!other_running)
        return;
    sk_shard_stop(other.shard);
    pthread_join(other_th, NULL);
    other_running = false;
}

static void teardown(void)
{
    sk_server_stop(&home);
    pthread_join(home_th, NULL);
    stop_other();
    sk_groups_close(&other);
    sk_shard_destroy(other.shard);
    node.nshards = 1;
    sk_server_close(&home);
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward, .init = setup, .fini = teardown, .timeout = 120);

static int connect_node(void)
{
    int fd = sk_test_connect(node.advertised_port);
    cr_assert_geq(fd, 0);
    return fd;
}

static size_t put_str(uint8_t *p, const char *s)
{
    uint16_t n = htons((uint16_t)strlen(s));
    memcpy(p, &n, 2);
    memcpy(p + 2, s, strlen(s));
    return 2 + strlen(s);
}

/* Heartbeat v0 (header v1): group, generation 1, member "m". */
static void send_heartbeat(int fd, const char *group, int32_t corr)
{
    uint8_t b[256];
    size_t n = 4;
    uint16_t key = htons(12), ver = htons(0);
    uint32_t c = htonl((uint32_t)corr), gen = htonl(1);
    memcpy(b + n, &key, 2);
    memcpy(b + n + 2, &ver, 2);
    memcpy(b + n + 4, &c, 4);
    n += 8;
    n += put_str(b + n, "fwd-test");
    n += put_str(b + n, group);
    memcpy(b + n, &gen, 4);
    n += 4;
    n += put_str(b + n, "m");
    uint32_t len = htonl((uint32_t)(n - 4));
    memcpy(b, &len, 4);
    cr_assert_eq(send(fd, b, n, 0), (ssize_t)n);
}

/* A group id that shard 1 coordinates. */
static const char *group_on_other(char *buf, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(buf, len, "g%d", i);
        if (sk_shard_of_group(&node, kp_str_c(buf)) == 1)
            return buf;
    }
}

Test(forward, group_request_runs_on_its_shard_and_answers_on_the_connections)
{
    char g[32];
    group_on_other(g, sizeof g);
    int fd = connect_node();
    for (int32_t corr = 1; corr <= 20; corr++)
        send_heartbeat(fd, g, corr);
    for (int32_t corr = 1; corr <= 20; corr++) {
        uint8_t r[10];
        size_t got = 0;
        while (got < sizeof r) {
            ssize_t k = recv(fd, r + got, sizeof r - got, 0);
            cr_assert_gt(k, 0, "no answer to heartbeat %d", corr);
            got += (size_t)k;
        }
        uint32_t len, c;
        memcpy(&len, r, 4);
        memcpy(&c, r + 4, 4);
        cr_assert_eq(ntohl(len), 6);
        cr_assert_eq((int32_t)ntohl(c), corr, "answers come in request order");
        int16_t code = (int16_t)((r[8] << 8) | r[9]);
        cr_assert_eq(code, 25, "UNKNOWN_MEMBER_ID from shard 1's coordinator, not %d", code);
    }
    close(fd);
}

Test(forward, request_for_a_stopped_owner_closes_the_connection)
{
    stop_other();
    char g[32];
    group_on_other(g, sizeof g);
    int fd = connect_node();
    send_heartbeat(fd, g, 7);
    uint8_t r[16];
    cr_assert_eq(recv(fd, r, sizeof r, 0), 0, "the node should have closed the connection");
    close(fd);
}
