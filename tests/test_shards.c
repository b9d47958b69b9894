/* A node with two shards on two threads, as skein.num.shards=2 runs it:
 * in process (sk_server_open / sk_server_run / sk_server_stop, what main()
 * and its SIGTERM handler call) and as the broker process itself.
 *
 * Connections are handed to the shards in turn, so of two connections one
 * is served by each shard: each must produce to partitions of both shards,
 * and reach a group coordinated by either. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/buf.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/group.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/record.h"
#include "skein/server.h"
#include "testnode.h"
#include "wire.h"

#ifndef SK_SKEIN_BIN
#error "meson passes the broker's path as SK_SKEIN_BIN"
#endif

#define NPARTS 6

static char dir[64];
static struct sk_config cfg;
static struct sk_node node;
static struct sk_broker home;
static pthread_t runner;
static int run_rc = -1;
static bool running, closed;
static const char *client_id = "shards-test";

static void *run_node(void *arg)
{
    (void)arg;
    run_rc = sk_server_run(&home);
    return NULL;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-shards-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    const char *ov[] = {"skein.num.shards=2", "offsets.topic.num.partitions=8",
                        /* quota rates over 30 s: no test runs into a window's end */
                        "quota.window.num=2", "quota.window.size.seconds=30"};
    sk_test_node_config(&cfg, dir, ov, 4);
    char err[256];
    cr_assert_eq(sk_server_open(&node, &home, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(node.nshards, 2);
    cr_assert_eq(pthread_create(&runner, NULL, run_node, NULL), 0);
    running = true;
}

/* What the SIGTERM handler does; the run returns once every shard drained. */
static int stop_node(void)
{
    if (running) {
        sk_server_stop(&home);
        pthread_join(runner, NULL);
        running = false;
    }
    return run_rc;
}

static void teardown(void)
{
    stop_node();
    if (!closed)
        sk_server_close(&home);
    closed = false;
    sk_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(shards, .init = setup, .fini = teardown, .timeout = 120);

static int connect_port(uint16_t port)
{
    return sk_test_connect(port);
}

static int32_t send_request(int fd, int16_t key, int16_t version, const void *body)
{
    return sk_test_send(fd, client_id, key, version, body);
}

static void receive(int fd, int32_t id, int16_t key, int16_t version, void *resp, kp_arena *a)
{
    sk_test_receive(fd, id, key, version, resp, a);
}

static void call(int fd, int16_t key, int16_t version, const void *body, void *resp, kp_arena *a)
{
    sk_test_call(fd, client_id, key, version, body, resp, a);
}

static void create_topic(int fd, const char *name, int32_t partitions)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_create_topics_request req;
    kp_create_topics_request_init(&req);
    kp_create_topics_request_creatable_topic t;
    kp_create_topics_request_creatable_topic_init(&t);
    t.name = kp_str_c(name);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    req.topics = (kp_create_topics_request_creatable_topic_arr){1, &t};
    req.timeout_ms = 30000;
    kp_create_topics_response resp;
    call(fd, 19, 5, &req, &resp, &a);
    cr_assert_eq(resp.topics.n, 1);
    cr_assert_eq(resp.topics.v[0].error_code, SK_ERR_NONE, "CreateTopics: %s",
                 sk_err_name(resp.topics.v[0].error_code));
    kp_arena_free(&a);
}

static kp_bytes batch_of(kp_arena *a, int32_t partition, int round)
{
    struct sk_buf out = {0};
    char val[32];
    snprintf(val, sizeof val, "p%d-r%d", partition, round);
    struct sk_record_in in = {.timestamp = sk_wall_ms(), .key_len = -1, .value = val,
                              .value_len = (int32_t)strlen(val)};
    struct sk_batch_spec spec = sk_batch_spec_default();
    cr_assert_eq(sk_batch_build(&out, &spec, &in, 1), 0);
    uint8_t *p = kp_arena_alloc(a, out.len);
    memcpy(p, out.data, out.len);
    kp_bytes b = {p, (int32_t)out.len};
    sk_buf_free(&out);
    return b;
}

/* One record to every partition of "t", acks=all; each answer in order,
 * at offset `round`. */
static void produce_all(int fd, int round)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_produce_request req;
    kp_produce_request_init(&req);
    req.acks = -1;
    req.timeout_ms = 30000;
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    kp_produce_request_partition_produce_data pd[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_produce_request_partition_produce_data_init(&pd[i]);
        pd[i].index = NPARTS - 1 - i;
        pd[i].records = batch_of(&a, pd[i].index, round);
    }
    td.partition_data = (kp_produce_request_partition_produce_data_arr){NPARTS, pd};
    req.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    kp_produce_response resp;
    call(fd, 0, 9, &req, &resp, &a);
    cr_assert_eq(resp.responses.n, 1);
    cr_assert_eq(resp.responses.v[0].partition_responses.n, NPARTS);
    for (int i = 0; i < NPARTS; i++) {
        const kp_produce_response_partition_produce_response *r =
            &resp.responses.v[0].partition_responses.v[i];
        cr_assert_eq(r->index, pd[i].index, "answer %d is partition %d", i, r->index);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "partition %d: %s", r->index,
                     sk_err_name(r->error_code));
        cr_assert_eq(r->base_offset, round, "partition %d at %lld, expected %d", r->index,
                     (long long)r->base_offset, round);
    }
    kp_arena_free(&a);
}

static int16_t find_coordinator(int fd, const char *group)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_find_coordinator_request req;
    kp_find_coordinator_request_init(&req);
    req.key = kp_str_c(group);
    kp_find_coordinator_response resp;
    call(fd, 10, 1, &req, &resp, &a);
    int16_t err = resp.error_code;
    kp_arena_free(&a);
    return err;
}

static int16_t heartbeat(int fd, const char *group)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_heartbeat_request req;
    kp_heartbeat_request_init(&req);
    req.group_id = kp_str_c(group);
    req.generation_id = 1;
    req.member_id = kp_str_c("m");
    kp_heartbeat_response resp;
    call(fd, 12, 0, &req, &resp, &a);
    int16_t err = resp.error_code;
    kp_arena_free(&a);
    return err;
}

static const char *group_on(int shard, char *buf, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(buf, len, "g%d", i);
        if (sk_shard_of_group(&node, kp_str_c(buf)) == shard)
            return buf;
    }
}

/* The offsets topic is created on first use, on the controller's shard;
 * a coordinator answers once its shard has the new image. */
static void wait_coordinator(int fd, const char *group)
{
    int16_t err = -1;
    for (int i = 0; i < 600 && (err = find_coordinator(fd, group)) != SK_ERR_NONE; i++)
        usleep(50000);
    cr_assert_eq(err, SK_ERR_NONE, "FindCoordinator(%s): %s", group, sk_err_name(err));
}

Test(shards, each_connection_reaches_partitions_and_groups_of_both_shards)
{
    int owners[2] = {0, 0};
    for (int p = 0; p < NPARTS; p++)
        owners[sk_shard_of_partition(&node, kp_str_c("t"), p)]++;
    cr_assert(owners[0] && owners[1], "partitions of t all on one shard");
    int fd[2] = {connect_port(node.advertised_port), connect_port(node.advertised_port)};
    cr_assert(fd[0] >= 0 && fd[1] >= 0);
    create_topic(fd[0], "t", NPARTS);
    for (int round = 0; round < 4; round++)
        produce_all(fd[round % 2], round);
    char g0[16], g1[16];
    group_on(0, g0, sizeof g0);
    group_on(1, g1, sizeof g1);
    wait_coordinator(fd[1], g0);
    wait_coordinator(fd[0], g1);
    for (int c = 0; c < 2; c++) {
        /* Each coordinator runs the heartbeat: it knows no such member. */
        cr_assert_eq(heartbeat(fd[c], g0), SK_ERR_UNKNOWN_MEMBER_ID);
        cr_assert_eq(heartbeat(fd[c], g1), SK_ERR_UNKNOWN_MEMBER_ID, "%s",
                     sk_err_name(heartbeat(fd[c], g1)));
    }
    close(fd[0]);
    close(fd[1]);
    cr_assert_eq(stop_node(), 0);
}

static void commit_offset(int fd, const char *group, int64_t offset)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_offset_commit_request req;
    kp_offset_commit_request_init(&req);
    req.group_id = kp_str_c(group);
    req.generation_id_or_member_epoch = -1; /* a simple commit, no membership */
    req.member_id = kp_str_c("");
    kp_offset_commit_request_offset_commit_request_partition p;
    kp_offset_commit_request_offset_commit_request_partition_init(&p);
    p.partition_index = 0;
    p.committed_offset = offset;
    kp_offset_commit_request_offset_commit_request_topic t;
    kp_offset_commit_request_offset_commit_request_topic_init(&t);
    t.name = kp_str_c("t");
    t.partitions = (kp_offset_commit_request_offset_commit_request_partition_arr){1, &p};
    req.topics = (kp_offset_commit_request_offset_commit_request_topic_arr){1, &t};
    kp_offset_commit_response resp;
    call(fd, 8, 8, &req, &resp, &a);
    cr_assert_eq(resp.topics.n, 1);
    cr_assert_eq(resp.topics.v[0].partitions.v[0].error_code, SK_ERR_NONE, "commit to %s: %s",
                 group, sk_err_name(resp.topics.v[0].partitions.v[0].error_code));
    kp_arena_free(&a);
}

/* Requests naming groups of both shards run on each in turn (a relay), and
 * every group is answered by its own coordinator. */
Test(shards, several_groups_requests_reach_every_groups_coordinator)
{
    int fd = connect_port(node.advertised_port);
    cr_assert_geq(fd, 0);
    create_topic(fd, "t", NPARTS);
    char g[4][16];
    group_on(0, g[0], sizeof g[0]);
    group_on(1, g[1], sizeof g[1]);
    snprintf(g[2], sizeof g[2], "%s", "missing-0");
    snprintf(g[3], sizeof g[3], "%s", "missing-1");
    wait_coordinator(fd, g[0]);
    wait_coordinator(fd, g[1]);
    commit_offset(fd, g[0], 40);
    commit_offset(fd, g[1], 41);
    for (int c = 0; c < 2; c++) { /* from a connection on each shard */
        int conn = connect_port(node.advertised_port);
        kp_arena a;
        kp_arena_init(&a, 0);
        kp_offset_fetch_request req;
        kp_offset_fetch_request_init(&req);
        kp_offset_fetch_request_offset_fetch_request_group rg[3];
        const char *names[3] = {g[1], g[2], g[0]};
        for (int i = 0; i < 3; i++) {
            kp_offset_fetch_request_offset_fetch_request_group_init(&rg[i]);
            rg[i].group_id = kp_str_c(names[i]);
            rg[i].topics = (kp_offset_fetch_request_offset_fetch_request_topics_arr){-1, NULL};
        }
        req.groups = (kp_offset_fetch_request_offset_fetch_request_group_arr){3, rg};
        kp_offset_fetch_response resp;
        call(conn, 9, 8, &req, &resp, &a);
        cr_assert_eq(resp.groups.n, 3);
        for (int i = 0; i < 3; i++) {
            const kp_offset_fetch_response_offset_fetch_response_group *o = &resp.groups.v[i];
            cr_assert(kp_str_eq_c(o->group_id, names[i]), "group %d out of order", i);
            cr_assert_eq(o->error_code, SK_ERR_NONE, "%s: %s", names[i], sk_err_name(o->error_code));
            int64_t want = i == 0 ? 41 : i == 2 ? 40 : -1;
            int64_t got = o->topics.n ? o->topics.v[0].partitions.v[0].committed_offset : -1;
            cr_assert_eq(got, want, "%s: committed %lld, expected %lld", names[i], (long long)got,
                         (long long)want);
        }
        kp_describe_groups_request dreq;
        kp_describe_groups_request_init(&dreq);
        kp_str dnames[4] = {kp_str_c(g[0]), kp_str_c(g[3]), kp_str_c(g[1]), kp_str_c(g[2])};
        dreq.groups = (kp_arr_str){4, dnames};
        kp_describe_groups_response dresp;
        call(conn, 15, 5, &dreq, &dresp, &a);
        cr_assert_eq(dresp.groups.n, 4);
        for (int i = 0; i < 4; i++) {
            const kp_describe_groups_response_described_group *o = &dresp.groups.v[i];
            cr_assert(kp_str_eq(o->group_id, dnames[i]), "group %d out of order", i);
            cr_assert_eq(o->error_code, SK_ERR_NONE);
            const char *want = i == 0 || i == 2 ? "Empty" : "Dead";
            cr_assert(kp_str_eq_c(o->group_state, want), "%.*s is %.*s, expected %s",
                      (int)o->group_id.len, o->group_id.ptr, (int)o->group_state.len,
                      o->group_state.ptr, want);
        }
        kp_list_groups_request lreq;
        kp_list_groups_request_init(&lreq);
        kp_list_groups_response lresp;
        call(conn, 16, 4, &lreq, &lresp, &a);
        cr_assert_eq(lresp.error_code, SK_ERR_NONE);
        int seen = 0;
        for (int32_t i = 0; i < lresp.groups.n; i++)
            seen += kp_str_eq_c(lresp.groups.v[i].group_id, g[0]) +
                    kp_str_eq_c(lresp.groups.v[i].group_id, g[1]);
        cr_assert_eq(seen, 2, "ListGroups saw %d of the 2 groups (on both shards)", seen);
        kp_arena_free(&a);
        close(conn);
    }
    close(fd);
}

/* DeleteRecords of every partition of t, each on its owner shard. */
static void delete_below(int fd, int64_t offset)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_delete_records_request req;
    kp_delete_records_request_init(&req);
    kp_delete_records_request_delete_records_partition p[NPARTS];
    for (int i = 0; i < NPARTS; i++) {
        kp_delete_records_request_delete_records_partition_init(&p[i]);
        p[i].partition_index = NPARTS - 1 - i;
        p[i].offset = offset;
    }
    kp_delete_records_request_delete_records_topic t;
    kp_delete_records_request_delete_records_topic_init(&t);
    t.name = kp_str_c("t");
    t.partitions = (kp_delete_records_request_delete_records_partition_arr){NPARTS, p};
    req.topics = (kp_delete_records_request_delete_records_topic_arr){1, &t};
    req.timeout_ms = 30000;
    kp_delete_records_response resp;
    call(fd, 21, 2, &req, &resp, &a);
    cr_assert_eq(resp.topics.n, 1);
    cr_assert_eq(resp.topics.v[0].partitions.n, NPARTS);
    for (int i = 0; i < NPARTS; i++) {
        const kp_delete_records_response_delete_records_partition_result *r =
            &resp.topics.v[0].partitions.v[i];
        cr_assert_eq(r->partition_index, p[i].partition_index);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "t-%d: %s", r->partition_index,
                     sk_err_name(r->error_code));
        cr_assert_eq(r->low_watermark, offset);
    }
    kp_arena_free(&a);
}

/* ---- a shard held up ------------------------------------------------------ */

/* 0: not yet, 1: shard 1 is held, 2: let go. */
static atomic_int hold_state;

/* Holds shard 1's thread, as a long task would, until the test lets go
 * (bounded, so a failing test cannot hang the node). */
static void hold(struct sk_broker *b, void *arg)
{
    (void)b;
    (void)arg;
    atomic_store(&hold_state, 1);
    for (int i = 0; i < 120000 && atomic_load(&hold_state) != 2; i++)
        usleep(1000);
}

static int32_t send_api_versions(int fd)
{
    kp_api_versions_request req;
    kp_api_versions_request_init(&req);
    return send_request(fd, 18, 0, &req);
}

static void receive_api_versions(int fd, int32_t id)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_api_versions_response resp;
    receive(fd, id, 18, 0, &resp, &a);
    cr_assert_eq(resp.error_code, SK_ERR_NONE);
    kp_arena_free(&a);
}

/* Of two connections in a row (handed to the shards in turn, so one on
 * each), the one answered while shard 1 is held: shard 0's. The other's
 * ApiVersions stays unread, its id in *pending. */
static int served_by_shard0(const int fd[2], int32_t pending[2])
{
    int32_t id[2] = {send_api_versions(fd[0]), send_api_versions(fd[1])};
    struct pollfd p[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
    cr_assert_eq(poll(p, 2, 60000), 1, "exactly one connection is served while shard 1 is held");
    int i = (p[1].revents & POLLIN) != 0;
    receive_api_versions(fd[i], id[i]);
    pending[0] = id[0];
    pending[1] = id[1];
    return i;
}

static int32_t send_produce(int fd, const int32_t *parts, int n, kp_arena *a)
{
    kp_produce_request req;
    kp_produce_request_init(&req);
    req.acks = -1;
    req.timeout_ms = 30000;
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    kp_produce_request_partition_produce_data *pd = kp_arena_alloc(a, sizeof *pd * (size_t)n);
    for (int i = 0; i < n; i++) {
        kp_produce_request_partition_produce_data_init(&pd[i]);
        pd[i].index = parts[i];
        pd[i].records = batch_of(a, parts[i], 0);
    }
    td.partition_data = (kp_produce_request_partition_produce_data_arr){n, pd};
    req.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    return send_request(fd, 0, 9, &req);
}

static void receive_produce(int fd, int32_t id, const int32_t *parts, int n)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_produce_response resp;
    receive(fd, id, 0, 9, &resp, &a);
    cr_assert_eq(resp.responses.n, 1);
    cr_assert_eq(resp.responses.v[0].partition_responses.n, n);
    for (int i = 0; i < n; i++) {
        const kp_produce_response_partition_produce_response *r =
            &resp.responses.v[0].partition_responses.v[i];
        cr_assert_eq(r->index, parts[i]);
        cr_assert_eq(r->error_code, SK_ERR_NONE, "t-%d: %s", r->index, sk_err_name(r->error_code));
    }
    kp_arena_free(&a);
}

/* A request that needs a shard held up waits for it, alone: the held
 * shard's partner keeps serving its other connections, and the waiting
 * request is answered whole once the shard is free again. */
Test(shards, a_held_shard_blocks_no_connection_of_another_shard)
{
    int32_t mine[NPARTS], theirs[NPARTS];
    int nmine = 0, ntheirs = 0;
    for (int p = 0; p < NPARTS; p++) {
        if (sk_shard_of_partition(&node, kp_str_c("t"), p) == 0)
            mine[nmine++] = p;
        else
            theirs[ntheirs++] = p;
    }
    cr_assert(nmine && ntheirs, "partitions of t all on one shard");
    int fd[4];
    for (int i = 0; i < 4; i++)
        cr_assert_geq(fd[i] = connect_port(node.advertised_port), 0);
    create_topic(fd[0], "t", NPARTS);

    atomic_store(&hold_state, 0);
    cr_assert_eq(sk_node_post(&node, 1, hold, NULL), 0);
    for (int i = 0; i < 60000 && atomic_load(&hold_state) != 1; i++)
        usleep(1000);
    cr_assert_eq(atomic_load(&hold_state), 1, "shard 1 never ran the hold");
    int32_t pend_a[2], pend_b[2];
    int x = served_by_shard0(&fd[0], pend_a), y = served_by_shard0(&fd[2], pend_b);
    int both = fd[x], only = fd[2 + y];

    kp_arena a;
    kp_arena_init(&a, 0);
    int32_t mixed[2] = {mine[0], theirs[0]};
    int32_t waits = send_produce(both, mixed, 2, &a);
    int32_t goes = send_produce(only, mine, nmine, &a);
    receive_produce(only, goes, mine, nmine);
    struct pollfd p = {.fd = both, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 0), 0, "answered before the held shard wrote its partition");
    cr_assert_eq(atomic_load(&hold_state), 1);

    atomic_store(&hold_state, 2);
    receive_produce(both, waits, mixed, 2);
    receive_api_versions(fd[1 - x], pend_a[1 - x]);
    receive_api_versions(fd[2 + 1 - y], pend_b[1 - y]);
    kp_arena_free(&a);
    for (int i = 0; i < 4; i++)
        close(fd[i]);
    cr_assert_eq(stop_node(), 0);
}

/* ---- client quotas count for the node -------------------------------------- */

static void set_produce_quota(int fd, const char *client, double rate)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_alter_client_quotas_request_entity_data ent = {kp_str_c("client-id"), kp_str_c(client)};
    kp_alter_client_quotas_request_op_data op = {kp_str_c("producer_byte_rate"), rate, false};
    kp_alter_client_quotas_request_entry_data e = {{1, &ent}, {1, &op}};
    kp_alter_client_quotas_request req;
    kp_alter_client_quotas_request_init(&req);
    req.entries = (kp_alter_client_quotas_request_entry_data_arr){1, &e};
    kp_alter_client_quotas_response resp;
    call(fd, 49, 1, &req, &resp, &a);
    cr_assert_eq(resp.entries.n, 1);
    cr_assert_eq(resp.entries.v[0].error_code, SK_ERR_NONE);
    kp_arena_free(&a);
}

/* One record of `bytes` to t-0; returns the answer's throttle time. */
static int32_t produce_big(int fd, size_t bytes)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    char *val = kp_arena_alloc(&a, bytes);
    memset(val, 'q', bytes);
    struct sk_buf out = {0};
    struct sk_record_in in = {.timestamp = sk_wall_ms(), .key_len = -1, .value = val,
                              .value_len = (int32_t)bytes};
    struct sk_batch_spec spec = sk_batch_spec_default();
    cr_assert_eq(sk_batch_build(&out, &spec, &in, 1), 0);
    kp_produce_request_partition_produce_data pd;
    kp_produce_request_partition_produce_data_init(&pd);
    pd.records = (kp_bytes){out.data, (int32_t)out.len};
    kp_produce_request_topic_produce_data td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_c("t");
    td.partition_data = (kp_produce_request_partition_produce_data_arr){1, &pd};
    kp_produce_request req;
    kp_produce_request_init(&req);
    req.acks = 1;
    req.timeout_ms = 30000;
    req.topic_data = (kp_produce_request_topic_produce_data_arr){1, &td};
    kp_produce_response resp;
    call(fd, 0, 9, &req, &resp, &a);
    sk_buf_free(&out);
    cr_assert_eq(resp.responses.v[0].partition_responses.v[0].error_code, SK_ERR_NONE);
    int32_t ms = resp.throttle_time_ms;
    kp_arena_free(&a);
    return ms;
}

/* Kafka bounds what a client id takes from the broker, however many
 * connections it has: two connections on two shards, each under the quota
 * alone, are throttled together once their sum is over it. */
Test(shards, a_client_quota_counts_every_shards_connections)
{
    int fd[2] = {connect_port(node.advertised_port), connect_port(node.advertised_port)};
    cr_assert(fd[0] >= 0 && fd[1] >= 0);
    create_topic(fd[0], "t", NPARTS);
    /* Through both: each answer comes after its shard has the quota. */
    set_produce_quota(fd[0], "q", 10000);
    set_produce_quota(fd[1], "q", 10000);
    client_id = "q";
    /* Rates are over at least one 30 s window: 200 KB is 6.8 KB/s. */
    cr_assert_eq(produce_big(fd[0], 200000), 0, "one connection alone is within the quota");
    int32_t ms = produce_big(fd[1], 200000);
    client_id = "shards-test";
    cr_assert_gt(ms, 0, "13.6 KB/s from the two connections is over 10 KB/s, yet not throttled");
    close(fd[0]);
    close(fd[1]);
    cr_assert_eq(stop_node(), 0);
}

/* One recovery-point file for the node, with the lines of both shards:
 * neither shard's write drops the other's partitions. Log start offsets
 * moved by DeleteRecords on both shards are in theirs. */
Test(shards, checkpoints_hold_every_shards_partitions)
{
    int fd = connect_port(node.advertised_port);
    cr_assert_geq(fd, 0);
    create_topic(fd, "t", NPARTS);
    produce_all(fd, 0);
    produce_all(fd, 1);
    delete_below(fd, 1);
    close(fd);
    int owner[NPARTS];
    for (int p = 0; p < NPARTS; p++)
        owner[p] = sk_shard_of_partition(&node, kp_str_c("t"), p);
    cr_assert_eq(stop_node(), 0);
    sk_server_close(&home);
    closed = true;
    const char *files[] = {SK_RECOVERY_POINT_CHECKPOINT, SK_LOG_START_OFFSET_CHECKPOINT};
    for (int f = 0; f < 2; f++) {
        struct sk_offset_checkpoint_entry *e;
        size_t n;
        cr_assert_eq(sk_offset_checkpoint_read(dir, files[f], &e, &n), 0);
        for (int p = 0; p < NPARTS; p++) {
            int64_t want = f == 0 ? 2 : 1;
            cr_assert_eq(sk_offset_checkpoint_find(e, n, "t", p), want,
                         "%s: t-%d (shard %d) at %lld, expected %lld", files[f], p,
                         owner[p], (long long)sk_offset_checkpoint_find(e, n, "t", p), (long long)want);
        }
        free(e);
    }
}

/* ---- the broker process ------------------------------------------------------- */

static pid_t spawn(const char *pdir, uint16_t port, uint16_t ctrl)
{
    const char *shards[] = {"skein.num.shards=2"};
    return sk_test_spawn_broker(SK_SKEIN_BIN, pdir, port, ctrl, shards, 1);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The process: a produce over both shards on a connection of each, then
 * SIGTERM; it exits 0. */
Test(shards_process, produce_on_both_shards_then_sigterm_exits_0, .timeout = 120)
{
    char pdir[64];
    snprintf(pdir, sizeof pdir, "/tmp/skein-shards-proc-XXXXXX");
    cr_assert_not_null(mkdtemp(pdir));
    uint16_t port = sk_test_free_port(), ctrl = sk_test_free_port();
    pid_t pid = spawn(pdir, port, ctrl);
    int fd[2] = {-1, -1};
    for (uint64_t end = mono_ms() + 60000; fd[0] < 0 && mono_ms() < end;)
        if ((fd[0] = connect_port(port)) < 0)
            usleep(20000);
    cr_assert_geq(fd[0], 0, "the broker never listened on %u", port);
    fd[1] = connect_port(port);
    cr_assert_geq(fd[1], 0);
    create_topic(fd[0], "t", NPARTS);
    for (int round = 0; round < 2; round++)
        produce_all(fd[round], round);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status = 0;
    pid_t got = 0;
    for (uint64_t end = mono_ms() + 60000; got == 0 && mono_ms() < end;)
        if ((got = waitpid(pid, &status, WNOHANG)) == 0)
            usleep(20000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("the broker did not exit within 60 s of SIGTERM");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d (signal %d)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    close(fd[0]);
    close(fd[1]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pdir);
    cr_assert_eq(system(cmd), 0);
}
