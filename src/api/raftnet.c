/* The quorum's transport (skein/raftnet.h). What the core sends goes out in
 * one of two ways: a response answers the request parked on the CONTROLLER
 * listener with the same corr; a request is encoded for its voter's client
 * connection, whose answer comes back to the core with that corr. A request
 * that finds its connection not ready waits for it (the latest one per
 * voter); one that cannot go (a timeout, a drop) is simply lost: the core
 * times it out and retries, as it would after a lost packet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/meta_props.h"
#include "skein/meta_quorum.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/raft_voters_batch.h"
#include "skein/raft_wire.h"
#include "skein/voters_snapshot.h"

/* One request to a voter in flight; its body lives in its arena until the
 * client calls back. */
struct out_req {
    struct sk_raftnet *rn;
    int32_t dst;
    enum sk_raft_msg_type type;
    uint32_t corr;
    kp_arena arena;
    void *body;
};

static void out_free(struct out_req *o)
{
    kp_arena_free(&o->arena);
    free(o);
}

/* The resignation's wait is over: its successors heard of it, or the bound
 * passed. */
static void resign_done(struct sk_raftnet *rn)
{
    void (*then)(void *) = rn->resigned;
    if (!then)
        return;
    rn->resigned = NULL;
    if (rn->resign_timer)
        sk_timer_cancel(rn->b->shard, rn->resign_timer);
    rn->resign_timer = 0;
    then(rn->resigned_arg);
}

static void resign_timeout(void *arg)
{
    struct sk_raftnet *rn = arg;
    rn->resign_timer = 0;
    resign_done(rn);
}

/* KIP-853: a Fetch answer names where its leader listens (NodeEndpoints),
 * which an observer that knows no voter set yet needs to follow it. */
static void learn_endpoints(struct sk_raftnet *rn, enum sk_raft_msg_type t, const void *resp)
{
    if (t != SK_RAFT_FETCH_REQ)
        return;
    const kp_fetch_response *r = resp;
    for (int32_t i = 0; i < r->node_endpoints.n; i++) {
        const kp_fetch_response_node_endpoint *e = &r->node_endpoints.v[i];
        if (e->host.len > 0)
            sk_raftnet_learn(rn, e->node_id, e->host.ptr, (size_t)e->host.len, e->port);
    }
}

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct out_req *o = arg;
    struct sk_raftnet *rn = o->rn;
    bool ending = o->type == SK_RAFT_END_EPOCH_REQ;
    if (err == SK_ERR_NONE && !rn->closing) {
        struct sk_raft_msg m;
        learn_endpoints(rn, o->type, resp);
        int16_t rc = sk_raft_wire_response_in(o->type, version, resp, o->dst,
                                              rn->cfg.node_id, &m, &o->arena);
        m.corr = o->corr;
        if (rc == SK_ERR_NONE)
            sk_quorum_deliver(rn->q, &m);
        else
            sk_debug("raft: dropped a response from node %d: %s", o->dst, sk_err_name(rc));
    }
    out_free(o);
    if (ending && --rn->ending == 0)
        resign_done(rn);
}

/* The version is fixed here, once the connection knows its peer's, since
 * the fields a request carries depend on it. */
static void send_to(struct sk_raftnet *rn, struct sk_raftnet_peer *p, const struct sk_raft_msg *m)
{
    int16_t key = sk_raft_wire_api(m->type);
    int16_t version = sk_kclient_version(p->kc, key);
    if (version < 0)
        return;
    struct out_req *o = calloc(1, sizeof(*o));
    if (!o)
        return;
    *o = (struct out_req){.rn = rn, .dst = m->dst, .type = m->type, .corr = m->corr};
    kp_arena_init(&o->arena, 0);
    const kp_api_info *api = kp_api_get(key);
    o->body = kp_arena_alloc(&o->arena, api->request.struct_size);
    if (!o->body) {
        out_free(o);
        return;
    }
    api->request.init(o->body);
    if (sk_raft_wire_request_out(m, version, o->body, &o->arena) != 0 ||
        sk_kclient_send(p->kc, key, version, o->body, on_answer, o) != 0)
        out_free(o);
    else if (m->type == SK_RAFT_END_EPOCH_REQ)
        rn->ending++;
}

/* Takes m: sent now, or kept until the connection is ready. */
static void send_request(struct sk_raftnet *rn, struct sk_raft_msg *m)
{
    struct sk_raftnet_peer *p = sk_raftnet_peer_for(rn, m->dst);
    if (!p) {
        sk_raft_msg_release(m);
        return;
    }
    if (!sk_kclient_ready(p->kc)) {
        if (p->has_pending)
            sk_raft_msg_release(&p->pending);
        p->pending = *m;
        p->has_pending = true;
        return;
    }
    send_to(rn, p, m);
    sk_raft_msg_release(m);
}

void sk_raftnet_peer_ready(void *arg, struct sk_kclient *kc)
{
    struct sk_raftnet_peer *p = arg;
    if (!p->has_pending || p->rn->closing || p->kc != kc)
        return;
    struct sk_raft_msg m = p->pending;
    p->has_pending = false;
    send_to(p->rn, p, &m);
    sk_raft_msg_release(&m);
}

static void transport_send(void *arg, struct sk_raft_msg *m)
{
    struct sk_raftnet *rn = arg;
    if (m->type % 2 == 0 && !rn->closing) {
        send_request(rn, m);
        return;
    }
    if (m->type % 2 == 1)
        sk_raftnet_answer(rn, m);
    sk_raft_msg_release(m);
}

static uint64_t random_u64(void *ctx)
{
    uint64_t *s = ctx;
    /* splitmix64: jitter only, seeded from the clock and the node id. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int32_t setting(const struct sk_config *cfg, const char *name)
{
    struct sk_config_value v;
    return sk_config_describe_broker(cfg, name, &v) == 0 ? (int32_t)strtol(v.value, NULL, 10) : 0;
}

static const char *metadata_dir(const struct sk_config *cfg)
{
    return cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
}

/* The set the metadata log's newest snapshot holding one has (the core
 * goes on from there with the VOTERS batches in the log); none for a
 * controller formatted without one. */
static int initial_voters(const struct sk_config *cfg, struct sk_raft_voter_set *out, char *err,
                          size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", metadata_dir(cfg), SK_METADATA_PARTITION_DIR);
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    int rc = sk_voters_snapshot_read(dir, vs);
    if (rc == 0 && sk_raft_voters_from_kafka(vs, out) < 0)
        rc = -E2BIG;
    free(vs);
    if (rc == -ENOENT) {
        out->n = 0;
        return 0;
    }
    if (rc < 0)
        snprintf(err, errlen, "cannot take the KIP-853 voter set in %s: %s", dir,
                 rc == -E2BIG ? "more voters or endpoints than Skein's quorum takes"
                              : strerror(-rc));
    return rc;
}

/* KIP-853: kraft.version 1, the log's voter set, this node's replica key
 * (its metadata directory's directory.id) and the bootstrap servers. */
static int dynamic_config(struct sk_raftnet *rn, const struct sk_config *cfg,
                          struct sk_raft_config *rc, char *err, size_t errlen)
{
    struct sk_config_value v;
    struct sk_meta_props props;
    rc->kraft_version = 1;
    rc->write_initial_voters = true;
    int r = initial_voters(cfg, &rc->initial_voters, err, errlen);
    if (r == 0 && (r = sk_meta_props_read(metadata_dir(cfg), &props, err, errlen)) == 0 &&
        !props.has_dir_id) {
        snprintf(err, errlen, "%s/meta.properties has no directory.id", metadata_dir(cfg));
        r = -EINVAL;
    }
    if (r == 0)
        memcpy(rc->directory_id, props.dir_id, SK_RAFT_DIR_ID_LEN);
    if (r == 0 && sk_config_describe_broker(cfg, "controller.quorum.bootstrap.servers", &v) == 0)
        r = sk_raftnet_parse_bootstrap(rn, v.value, err, errlen);
    rc->n_bootstrap = rn->n_bootstrap;
    return r;
}

static int raft_config(struct sk_raftnet *rn, const struct sk_broker *b, struct sk_raft_config *rc,
                       const struct sk_raft_qstate **restored, char *err, size_t errlen)
{
    const struct sk_config *cfg = b->node->cfg;
    memset(rc, 0, sizeof(*rc));
    rc->node_id = cfg->node_id;
    if (cfg->n_voters > SK_RAFT_MAX_VOTERS) {
        snprintf(err, errlen, "controller.quorum.voters names %zu voters; at most %d are supported",
                 cfg->n_voters, SK_RAFT_MAX_VOTERS);
        return -EINVAL;
    }
    int r = cfg->dynamic_quorum ? dynamic_config(rn, cfg, rc, err, errlen) : 0;
    if (r < 0)
        return r;
    for (size_t i = 0; !cfg->dynamic_quorum && i < cfg->n_voters; i++)
        rc->voters[rc->n_voters++] = cfg->voters[i].id;
    size_t n = strlen(b->node->cluster_id);
    rc->cluster_id.len = (int16_t)n;
    memcpy(rc->cluster_id.bytes, b->node->cluster_id, n);
    rc->election_timeout_ms = setting(cfg, "controller.quorum.election.timeout.ms");
    rc->fetch_timeout_ms = setting(cfg, "controller.quorum.fetch.timeout.ms");
    rc->election_backoff_max_ms = setting(cfg, "controller.quorum.election.backoff.max.ms");
    rc->request_timeout_ms = setting(cfg, "controller.quorum.request.timeout.ms");
    rc->retry_backoff_ms = setting(cfg, "controller.quorum.retry.backoff.ms");
    rn->rng = (uint64_t)sk_wall_ms() * 1000003u + (uint64_t)cfg->node_id;
    rc->rand = random_u64;
    rc->rand_ctx = &rn->rng;
    /* __cluster_metadata-0 and its quorum-state file, as a sole voter's. */
    if (sk_meta_quorum_bind(b->node, rc, restored) < 0) {
        snprintf(err, errlen, "the metadata quorum's storage is not open");
        return -EINVAL;
    }
    return 0;
}

/* The voters known at start-up are connected to at once, so the first
 * requests do not wait for a handshake; others as the core first
 * addresses them. */
static int connect_voters(struct sk_raftnet *rn, const struct sk_config *cfg, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < cfg->n_voters; i++) {
        const struct sk_voter *v = &cfg->voters[i];
        if (v->id != cfg->node_id && !sk_raftnet_peer_for(rn, v->id)) {
            snprintf(err, errlen, "cannot connect to voter %d at %s:%u", v->id, v->host,
                     v->port);
            return -EINVAL;
        }
    }
    return 0;
}

static int listen_controller(struct sk_broker *b, char *err, size_t errlen)
{
    const struct sk_config *cfg = b->node->cfg;
    const struct sk_listener *l = sk_config_listener(cfg, cfg->controller_listener);
    if (!l) {
        snprintf(err, errlen, "controller.listener.names names %s, which listeners does not list",
                 cfg->controller_listener);
        return -EINVAL;
    }
    const char *host = l->host[0] ? l->host : "0.0.0.0";
    uint16_t bound = 0;
    int rc = sk_shard_listen_tagged(b->shard, host, l->port, SK_LISTENER_CONTROLLER, &bound);
    if (rc < 0) {
        snprintf(err, errlen, "Socket server failed to bind to %s:%u: %s.", host, l->port,
                 strerror(-rc));
        return rc;
    }
    sk_info("listening on %s://%s:%u (the Raft quorum)", l->name, host, bound);
    return 0;
}

int sk_raftnet_start(struct sk_broker *b, char *err, size_t errlen)
{
    struct sk_raftnet *rn = calloc(1, sizeof(*rn));
    if (!rn) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rn->b = b;
    b->node->raftnet = rn;
    const struct sk_raft_qstate *restored = NULL;
    int rc = raft_config(rn, b, &rn->cfg, &restored, err, errlen);
    if (rc == 0 && (rc = sk_quorum_new(b->shard, &rn->cfg, restored, &rn->q)) < 0)
        snprintf(err, errlen, rc == -EINVAL ? "node.id %d is not a valid Raft replica id"
                                            : "out of memory", rn->cfg.node_id);
    /* A broker-only node is an observer: it fetches from the controllers
     * and serves no CONTROLLER listener, as Kafka's brokers. */
    bool controller = b->node->cfg->process_roles & SK_ROLE_CONTROLLER;
    if (rc == 0) {
        sk_quorum_set_transport(rn->q, &(struct sk_quorum_transport){transport_send, rn});
        sk_meta_quorum_attach(b->node, rn->q);
        if (controller)
            rc = listen_controller(b, err, errlen);
    }
    if (rc == 0)
        rc = connect_voters(rn, b->node->cfg, err, errlen);
    if (rc == 0)
        sk_raftnet_update_start(rn);
    if (rc == 0)
        sk_info("Raft quorum of %d voters%s: node %d (%s), cluster %s",
                sk_raft_voters(sk_quorum_raft(rn->q))->n,
                rn->cfg.kraft_version ? " (kraft.version 1)" : "", rn->cfg.node_id,
                sk_raft_is_observer(sk_quorum_raft(rn->q)) ? "observer" : "voter",
                b->node->cluster_id);
    return rc;
}

bool sk_raftnet_controller(struct sk_node *n, int32_t id, struct sk_voter *out)
{
    struct sk_raftnet_addr a;
    if (n->raftnet && sk_raftnet_address(n->raftnet, id, &a)) {
        out->id = id;
        memcpy(out->host, a.host, sizeof out->host);
        out->port = a.port;
        return true;
    }
    for (size_t i = 0; i < n->cfg->n_voters; i++)
        if (n->cfg->voters[i].id == id) {
            *out = n->cfg->voters[i];
            return true;
        }
    return false;
}

/* Bounds the wait for the other voters to hear of the resignation: a live
 * one answers at once, a hung one must not hold the stop. */
#define RESIGN_WAIT_MS 1000

void sk_raftnet_resign(struct sk_broker *b, void (*then)(void *arg), void *arg)
{
    struct sk_raftnet *rn = b->node->raftnet;
    if (!rn || rn->closing || sk_raft_role(sk_quorum_raft(rn->q)) != SK_RAFT_LEADER) {
        then(arg);
        return;
    }
    rn->resigned = then;
    rn->resigned_arg = arg;
    int rc = sk_quorum_resign(rn->q);
    if (rc)
        sk_warn("raft: cannot resign: Kafka error %d", rc);
    if (rn->ending == 0 || !(rn->resign_timer = sk_timer_add(b->shard, RESIGN_WAIT_MS,
                                                             resign_timeout, rn)))
        resign_done(rn);
    else
        sk_info("raft: resigned the leadership of epoch %d before stopping",
                sk_raft_epoch(sk_quorum_raft(rn->q)));
}

void sk_raftnet_close(struct sk_broker *b)
{
    struct sk_raftnet *rn = b->node->raftnet;
    if (!rn)
        return;
    rn->closing = true;
    rn->resigned = NULL;
    if (rn->resign_timer)
        sk_timer_cancel(b->shard, rn->resign_timer);
    sk_raftnet_update_stop(rn);
    sk_raftnet_close_peers(rn);
    sk_raftnet_changes_close(rn);
    sk_quorum_free(rn->q);
    sk_raftnet_unpark_all(rn);
    free(rn);
    b->node->raftnet = NULL;
}
