/* The CONTROLLER listener's Raft requests and DescribeQuorum. A Raft
 * request is converted and delivered to the core, parked meanwhile; the
 * core's response with the same corr answers it, at once or, for a voter's
 * fetch the leader holds, when the log moves or the fetch's wait is over.
 * DescribeQuorum answers from the leader's view, as KafkaRaftClient does. */
#include <stdatomic.h>
#include <string.h>

#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/raft_wire.h"

static struct sk_raftnet_parked *find_parked(struct sk_raftnet *rn, uint32_t corr)
{
    for (int i = 0; i < SK_RAFTNET_MAX_PARKED; i++)
        if (rn->parked[i].req && rn->parked[i].corr == corr)
            return &rn->parked[i];
    return NULL;
}

static struct sk_raftnet_parked *free_slot(struct sk_raftnet *rn)
{
    for (int i = 0; i < SK_RAFTNET_MAX_PARKED; i++)
        if (!rn->parked[i].req)
            return &rn->parked[i];
    return NULL;
}

/* Fetch v17's NodeEndpoints: where the leader the answer names listens,
 * as Kafka's leader and followers tell fetchers (KIP-853), so an observer
 * that knows no voter set yet can follow it. */
static void leader_endpoint(struct sk_raftnet *rn, struct sk_request *req,
                            const struct sk_raft_msg *m)
{
    struct sk_raftnet_addr a;
    if (req->api->key != SK_RAFT_API_FETCH || req->version < 17 || m->leader_id < 0 ||
        !sk_raftnet_address(rn, m->leader_id, &a))
        return;
    kp_fetch_response *r = req->resp;
    kp_fetch_response_node_endpoint *e = sk_request_alloc(req, sizeof(*e));
    size_t len = strlen(a.host);
    char *host = sk_request_alloc(req, len + 1);
    if (!e || !host)
        return;
    memcpy(host, a.host, len + 1);
    kp_fetch_response_node_endpoint_init(e);
    e->node_id = m->leader_id;
    e->host = (kp_str){host, (int32_t)len};
    e->port = a.port;
    r->node_endpoints = (kp_fetch_response_node_endpoint_arr){1, e};
}

void sk_raftnet_answer(struct sk_raftnet *rn, const struct sk_raft_msg *m)
{
    struct sk_raftnet_parked *slot = find_parked(rn, m->corr);
    if (!slot)
        return;
    struct sk_request *req = slot->req;
    slot->req = NULL;
    if (sk_raft_wire_response_out(m, req->version, req->resp, &req->arena) != 0)
        sk_raft_wire_error_response(req->api->key, SK_ERR_UNKNOWN_SERVER_ERROR, req->resp);
    else
        leader_endpoint(rn, req, m);
    sk_request_respond(req);
}

static bool stop_asked(const struct sk_raftnet *rn)
{
    return atomic_load(&rn->b->node->stop_asked) != 0;
}

static bool holds_any(const struct sk_raftnet *rn)
{
    for (int i = 0; i < SK_RAFTNET_MAX_PARKED; i++)
        if (rn->parked[i].req)
            return true;
    return false;
}

/* Checks every STOP_WATCH_MS whether a stop was asked; the held fetches are
 * then answered, so the stop (and with it the resignation that hands the
 * leadership on) does not wait out their MaxWaitMs. */
#define STOP_WATCH_MS 20

static void watch_stop(void *arg)
{
    struct sk_raftnet *rn = arg;
    rn->stop_watch = 0;
    if (stop_asked(rn))
        sk_quorum_release_fetches(rn->q);
    else if (holds_any(rn))
        rn->stop_watch = sk_timer_add(rn->b->shard, STOP_WATCH_MS, watch_stop, rn);
}

static void refuse(struct sk_request *req, int16_t err)
{
    sk_raft_wire_error_response(req->api->key, err, req->resp);
    sk_request_respond(req);
}

/* A Vote or BeginQuorumEpoch refused before the core saw it, answered as
 * the core would: the error where Kafka puts it, with this node's epoch and
 * leader (and no vote granted). */
static void refuse_as_core(struct sk_request *req, const struct sk_raftnet *rn,
                           const struct sk_raft_msg *in, int16_t err)
{
    const struct sk_raft *raft = sk_quorum_raft(rn->q);
    struct sk_raft_msg m = {.type = (enum sk_raft_msg_type)(in->type + 1), .src = rn->cfg.node_id,
                            .dst = in->src, .error = err, .epoch = sk_raft_epoch(raft),
                            .leader_id = sk_raft_leader(raft)};
    m.cluster_id.len = -1;
    if (sk_raft_wire_response_out(&m, req->version, req->resp, &req->arena) != 0)
        sk_raft_wire_error_response(req->api->key, SK_ERR_UNKNOWN_SERVER_ERROR, req->resp);
    sk_request_respond(req);
}

void sk_api_raft(struct sk_request *req)
{
    struct sk_raftnet *rn = req->broker->node->raftnet;
    if (!rn) {
        refuse(req, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    struct sk_raft_msg m;
    int16_t err = sk_raft_wire_request_in(req->api->key, req->version, req->body,
                                          rn->cfg.node_id, &m);
    if (err == SK_ERR_INVALID_VOTER_KEY) {
        refuse_as_core(req, rn, &m, err);
        return;
    }
    if (err != SK_ERR_NONE) {
        refuse(req, err);
        return;
    }
    struct sk_raftnet_parked *slot = free_slot(rn);
    if (!slot) {
        refuse(req, SK_ERR_REQUEST_TIMED_OUT);
        return;
    }
    if (++rn->next_corr == 0)
        ++rn->next_corr;
    m.corr = rn->next_corr;
    if (m.type == SK_RAFT_FETCH_REQ && stop_asked(rn))
        m.u.fetch.max_wait_ms = 0;
    *slot = (struct sk_raftnet_parked){.req = req, .corr = m.corr};
    int rc = sk_quorum_deliver(rn->q, &m);
    /* The core answers every request it takes at once but a voter's fetch
     * it holds; one it did not take was refused by a stopped core. */
    bool held = rc == SK_ERR_NONE && m.type == SK_RAFT_FETCH_REQ;
    if (slot->req == req && !held) {
        slot->req = NULL;
        refuse(req, rc != SK_ERR_NONE ? (int16_t)rc : SK_ERR_UNKNOWN_SERVER_ERROR);
    }
    if (slot->req == req && !rn->stop_watch)
        rn->stop_watch = sk_timer_add(rn->b->shard, STOP_WATCH_MS, watch_stop, rn);
}

void sk_raftnet_unpark_all(struct sk_raftnet *rn)
{
    if (rn->stop_watch)
        sk_timer_cancel(rn->b->shard, rn->stop_watch);
    rn->stop_watch = 0;
    for (int i = 0; i < SK_RAFTNET_MAX_PARKED; i++) {
        struct sk_request *req = rn->parked[i].req;
        rn->parked[i].req = NULL;
        if (req)
            refuse(req, SK_ERR_NOT_LEADER_OR_FOLLOWER);
    }
}

/* ---- DescribeQuorum ------------------------------------------------------ */

#define NOT_LEADER_MSG                                                                          \
    "For requests intended only for the leader, this error indicates that the broker is not "   \
    "the current leader. For requests intended for any replica, this error indicates that the " \
    "broker is not a replica of the topic partition."

/* The core keeps the shard's monotonic clock; Kafka reports wall time. */
static int64_t wall_of(int64_t mono, int64_t mono_now, int64_t wall_now)
{
    return mono < 0 ? -1 : wall_now - (mono_now - mono);
}

static kp_describe_quorum_response_replica_state_arr
replica_states(struct sk_request *req, const struct sk_raft_replica_view *views, int32_t n,
               int64_t mono_now)
{
    int64_t wall_now = sk_wall_ms();
    kp_describe_quorum_response_replica_state *rs =
        sk_request_alloc(req, sizeof(*rs) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        kp_describe_quorum_response_replica_state_init(&rs[i]);
        rs[i].replica_id = views[i].id;
        if (req->version >= 2)
            memcpy(rs[i].replica_directory_id.b, views[i].directory_id, SK_RAFT_DIR_ID_LEN);
        rs[i].log_end_offset = views[i].log_end_offset;
        rs[i].last_fetch_timestamp = wall_of(views[i].last_fetch_ms, mono_now, wall_now);
        rs[i].last_caught_up_timestamp = wall_of(views[i].last_caught_up_ms, mono_now, wall_now);
    }
    return (kp_describe_quorum_response_replica_state_arr){n, rs};
}

/* Observers are the nodes outside the voter set that fetch from the leader:
 * brokers following the metadata log, as Kafka lists them. */
static void fill_voters(struct sk_request *req, const struct sk_raft_quorum_view *v,
                        int64_t mono_now, kp_describe_quorum_response_partition_data *p)
{
    p->current_voters = replica_states(req, v->voters, v->n_voters, mono_now);
    p->observers = replica_states(req, v->observers, v->n_observers, mono_now);
}

static kp_str wire_str(struct sk_request *req, const uint8_t *p, size_t n)
{
    char *s = sk_request_alloc(req, n + 1);
    if (s)
        memcpy(s, p, n);
    return (kp_str){s, s ? (int32_t)n : 0};
}

/* v2 under KIP-853: every voter of the set in use with all its endpoints,
 * as the VotersRecord names them. */
static void fill_dynamic_nodes(struct sk_request *req, const struct sk_raft_voter_set *s,
                               kp_describe_quorum_response *r)
{
    kp_describe_quorum_response_node *nodes =
        sk_request_alloc(req, sizeof(*nodes) * (size_t)(s->n + 1));
    for (int32_t i = 0; i < s->n; i++) {
        const struct sk_raft_voter *v = &s->voters[i];
        kp_describe_quorum_response_listener *ls =
            sk_request_alloc(req, sizeof(*ls) * (size_t)(v->n_endpoints + 1));
        for (int32_t e = 0; e < v->n_endpoints; e++) {
            const struct sk_raft_endpoint *ep = &v->endpoints[e];
            kp_describe_quorum_response_listener_init(&ls[e]);
            ls[e].name = wire_str(req, ep->name, ep->name_len);
            ls[e].host = wire_str(req, ep->host, ep->host_len);
            ls[e].port = ep->port;
        }
        kp_describe_quorum_response_node_init(&nodes[i]);
        nodes[i].node_id = v->id;
        nodes[i].listeners = (kp_describe_quorum_response_listener_arr){v->n_endpoints, ls};
    }
    r->nodes = (kp_describe_quorum_response_node_arr){s->n, nodes};
}

/* v2: each voter's controller listener, from controller.quorum.voters. */
static void fill_nodes(struct sk_request *req, kp_describe_quorum_response *r)
{
    const struct sk_config *cfg = req->broker->node->cfg;
    int32_t n = (int32_t)cfg->n_voters;
    kp_describe_quorum_response_node *nodes = sk_request_alloc(req, sizeof(*nodes) * (size_t)(n + 1));
    kp_describe_quorum_response_listener *ls = sk_request_alloc(req, sizeof(*ls) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        kp_describe_quorum_response_node_init(&nodes[i]);
        kp_describe_quorum_response_listener_init(&ls[i]);
        ls[i].name = kp_str_c(cfg->controller_listener);
        ls[i].host = kp_str_c(cfg->voters[i].host);
        ls[i].port = cfg->voters[i].port;
        nodes[i].node_id = cfg->voters[i].id;
        nodes[i].listeners = (kp_describe_quorum_response_listener_arr){1, &ls[i]};
    }
    r->nodes = (kp_describe_quorum_response_node_arr){n, nodes};
}

void sk_api_describe_quorum(struct sk_request *req)
{
    kp_describe_quorum_response *r = req->resp;
    struct sk_raftnet *rn = req->broker->node->raftnet;
    const kp_describe_quorum_request *q = req->body;
    if (!rn || !SK_RAFT_NAMES_OURS(q)) {
        r->error_code = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        sk_request_respond(req);
        return;
    }
    kp_describe_quorum_response_topic_data *t = sk_request_alloc(req, sizeof(*t));
    kp_describe_quorum_response_partition_data *p = sk_request_alloc(req, sizeof(*p));
    kp_describe_quorum_response_topic_data_init(t);
    kp_describe_quorum_response_partition_data_init(p);
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_describe_quorum_response_partition_data_arr){1, p};
    r->topics = (kp_describe_quorum_response_topic_data_arr){1, t};
    const struct sk_raft *raft = sk_quorum_raft(rn->q);
    int64_t now = (int64_t)sk_shard_now_ms(req->broker->shard);
    struct sk_raft_quorum_view v;
    int rc = sk_raft_describe(raft, now, &v);
    if (rc != SK_ERR_NONE) {
        p->error_code = (int16_t)rc;
        if (rc == SK_ERR_NOT_LEADER_OR_FOLLOWER)
            p->error_message = kp_str_c(NOT_LEADER_MSG);
        p->leader_id = sk_raft_leader(raft);
        p->leader_epoch = sk_raft_epoch(raft);
        sk_request_respond(req);
        return;
    }
    p->leader_id = v.leader_id;
    p->leader_epoch = v.epoch;
    p->high_watermark = v.high_watermark;
    fill_voters(req, &v, now, p);
    if (req->version >= 2 && req->broker->node->cfg->dynamic_quorum)
        fill_dynamic_nodes(req, &v.nodes, r);
    else if (req->version >= 2)
        fill_nodes(req, r);
    sk_request_respond(req);
}
