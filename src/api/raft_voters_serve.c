/* AddRaftVoter (80), RemoveRaftVoter (81) and UpdateRaftVoter (82), KIP-853,
 * on the quorum's leader, as Kafka 3.9's KafkaRaftClient and its
 * AddVoterHandler, RemoveVoterHandler and UpdateVoterHandler answer them.
 * The checks in their order are the core's (sk_raft_add_voter and the
 * others); here the request's own: the cluster id, the voter's directory id
 * and an endpoint on this quorum's controller listener. An add or remove is
 * answered once the high watermark passes the VOTERS batch it appended; an
 * add whose replica is not yet following caught up is tried again until
 * its TimeoutMs (REQUEST_TIMED_OUT then); a leadership lost meanwhile
 * answers NOT_LEADER_OR_FOLLOWER. An update is answered at once, as Kafka
 * does. Before an add, as Kafka's AddVoterHandler, the leader asks the new
 * voter ApiVersions at its endpoint on the controller listener: no answer
 * is REQUEST_TIMED_OUT, a kraft.version range without the cluster's level
 * INVALID_REQUEST, and the range it gives is the one the set records. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/net.h"
#include "skein/raft_wire.h"

#define POLL_MS 20
/* RemoveRaftVoter carries no timeout: Kafka's default request timeout. */
#define REMOVE_TIMEOUT_MS 30000

struct sk_raftnet_change {
    struct sk_raftnet_change *next;
    struct sk_request *req;
    struct sk_raft_voter voter; /* an add's; a remove's id and directory id */
    int64_t deadline_ms;
    int64_t offset; /* of the VOTERS batch; -1 while an add waits for catch-up */
    int32_t epoch;
    /* An add's ApiVersions to the new voter: under way on probe, then
     * probed, or probe_err to answer. */
    struct sk_kclient *probe;
    bool probed;
    bool closing; /* the probe's callback, run by its close, does nothing */
    int16_t probe_err;
};

static int64_t now_of(const struct sk_raftnet *rn)
{
    return (int64_t)sk_shard_now_ms(rn->b->shard);
}

static void set_error(struct sk_request *req, int16_t err, const char *msg)
{
    kp_str m = msg ? kp_str_c(msg) : KP_STR_NULL;
    switch (req->api->key) {
    case SK_RAFT_API_ADD_VOTER: {
        kp_add_raft_voter_response *r = req->resp;
        r->error_code = err;
        r->error_message = m;
        break;
    }
    case SK_RAFT_API_REMOVE_VOTER: {
        kp_remove_raft_voter_response *r = req->resp;
        r->error_code = err;
        r->error_message = m;
        break;
    }
    default:
        ((kp_update_raft_voter_response *)req->resp)->error_code = err;
    }
}

static const char *message_of(int16_t err)
{
    switch (err) {
    case SK_ERR_NONE:
        return NULL;
    case SK_ERR_DUPLICATE_VOTER:
        return "The voter id is already part of the set of voters.";
    case SK_ERR_VOTER_NOT_FOUND:
        return "The voter is not part of the set of voters.";
    case SK_ERR_UNSUPPORTED_VERSION:
        return "Cluster doesn't support adding or removing voters because kraft.version is 0";
    case SK_ERR_REQUEST_TIMED_OUT:
        return "Request timed out waiting for the voter change";
    case SK_ERR_NOT_LEADER_OR_FOLLOWER:
        return "This node is not the leader of the metadata quorum";
    default:
        return sk_err_name(err);
    }
}

static void answer(struct sk_request *req, int16_t err)
{
    set_error(req, err, message_of(err));
    sk_request_respond(req);
}

static bool cluster_ok(const struct sk_raftnet *rn, kp_str id)
{
    const struct sk_raft_cluster_id *c = &rn->cfg.cluster_id;
    return id.len < 0 || (id.len == c->len && memcmp(id.ptr, c->bytes, (size_t)c->len) == 0);
}

static bool no_dir(const kp_uuid *u)
{
    static const uint8_t zero[16];
    return memcmp(u->b, zero, 16) == 0;
}

/* The request's listeners as the voter's endpoints; one must be this
 * quorum's controller listener, which the voters reach each other on. */
static int16_t endpoints_in(const struct sk_raftnet *rn, int32_t n, const kp_str *names,
                            const kp_str *hosts, const uint16_t *ports, struct sk_raft_voter *v)
{
    const char *ours = rn->b->node->cfg->controller_listener;
    bool found = false;
    if (n < 1 || n > SK_RAFT_MAX_ENDPOINTS)
        return SK_ERR_INVALID_REQUEST;
    for (int32_t i = 0; i < n; i++) {
        struct sk_raft_endpoint *e = &v->endpoints[i];
        if (names[i].len <= 0 || names[i].len > SK_RAFT_LISTENER_MAX || hosts[i].len <= 0 ||
            hosts[i].len > SK_RAFT_HOST_MAX)
            return SK_ERR_INVALID_REQUEST;
        e->name_len = (uint8_t)names[i].len;
        e->host_len = (uint8_t)hosts[i].len;
        memcpy(e->name, names[i].ptr, e->name_len);
        memcpy(e->host, hosts[i].ptr, e->host_len);
        e->port = ports[i];
        /* Listener names are case-blind, as Kafka normalises them. */
        found |= e->name_len == strlen(ours) &&
                 strncasecmp((const char *)e->name, ours, e->name_len) == 0;
    }
    v->n_endpoints = n;
    return found ? SK_ERR_NONE : SK_ERR_INVALID_REQUEST;
}

/* The two requests' Listener structs differ only in type. */
#define COPY_LISTENERS(arr, names, hosts, ports)                                               \
    for (int32_t i_ = 0; i_ < (arr).n && i_ < SK_RAFT_MAX_ENDPOINTS; i_++) {                   \
        (names)[i_] = (arr).v[i_].name;                                                        \
        (hosts)[i_] = (arr).v[i_].host;                                                        \
        (ports)[i_] = (arr).v[i_].port;                                                        \
    }

static int16_t add_listeners(const struct sk_raftnet *rn, const kp_add_raft_voter_request *q,
                             struct sk_raft_voter *v)
{
    kp_str names[SK_RAFT_MAX_ENDPOINTS], hosts[SK_RAFT_MAX_ENDPOINTS];
    uint16_t ports[SK_RAFT_MAX_ENDPOINTS];
    COPY_LISTENERS(q->listeners, names, hosts, ports);
    return endpoints_in(rn, q->listeners.n, names, hosts, ports, v);
}

static int16_t update_listeners(const struct sk_raftnet *rn,
                                const kp_update_raft_voter_request *q, struct sk_raft_voter *v)
{
    kp_str names[SK_RAFT_MAX_ENDPOINTS], hosts[SK_RAFT_MAX_ENDPOINTS];
    uint16_t ports[SK_RAFT_MAX_ENDPOINTS];
    COPY_LISTENERS(q->listeners, names, hosts, ports);
    return endpoints_in(rn, q->listeners.n, names, hosts, ports, v);
}

static void arm(struct sk_raftnet *rn);

static void park(struct sk_raftnet *rn, struct sk_request *req, const struct sk_raft_voter *v,
                 int64_t offset, int64_t timeout_ms)
{
    struct sk_raftnet_change *c = calloc(1, sizeof(*c));
    if (!c) {
        answer(req, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *c = (struct sk_raftnet_change){.next = rn->changes, .req = req, .voter = *v,
                                    .deadline_ms = now_of(rn) + timeout_ms, .offset = offset,
                                    .epoch = sk_raft_epoch(sk_quorum_raft(rn->q))};
    rn->changes = c;
    arm(rn);
}

static void free_change(struct sk_raftnet_change *c)
{
    c->closing = true;
    if (c->probe)
        sk_kclient_close(c->probe);
    free(c);
}

/* Kafka's validVersionRange: the voter names kraft.version and its range
 * holds the cluster's level (1). */
static int16_t kraft_range(struct sk_raftnet_change *c, const kp_api_versions_response *r)
{
    for (int32_t i = 0; i < r->supported_features.n; i++) {
        const kp_api_versions_response_supported_feature_key *f = &r->supported_features.v[i];
        if (!kp_str_eq_c(f->name, "kraft.version"))
            continue;
        if (f->min_version > 1 || f->max_version < 1)
            return SK_ERR_INVALID_REQUEST;
        c->voter.min_kraft_version = f->min_version;
        c->voter.max_kraft_version = f->max_version;
        return SK_ERR_NONE;
    }
    return SK_ERR_INVALID_REQUEST;
}

static void probed(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct sk_raftnet_change *c = arg;
    if (c->closing)
        return;
    const kp_api_versions_response *r = resp;
    if (err || r->error_code)
        c->probe_err = SK_ERR_REQUEST_TIMED_OUT;
    else
        c->probe_err = kraft_range(c, r);
    c->probed = true;
}

/* The new voter's endpoint on the listener the voters reach each other on
 * (endpoints_in made sure it has one). */
static const struct sk_raft_endpoint *controller_endpoint(const struct sk_raftnet *rn,
                                                          const struct sk_raft_voter *v)
{
    const char *ours = rn->b->node->cfg->controller_listener;
    for (int32_t i = 0; i < v->n_endpoints; i++)
        if (v->endpoints[i].name_len == strlen(ours) &&
            strncasecmp((const char *)v->endpoints[i].name, ours, v->endpoints[i].name_len) == 0)
            return &v->endpoints[i];
    return NULL;
}

static void start_probe(struct sk_raftnet *rn, struct sk_raftnet_change *c)
{
    static const kp_api_versions_request body = {{"skein", 5}, {"1", 1}};
    const struct sk_raft_endpoint *ep = controller_endpoint(rn, &c->voter);
    char host[SK_RAFT_HOST_MAX + 1];
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    int64_t left = c->deadline_ms - now_of(rn);
    kc.request_timeout_ms = (uint32_t)(left > 1000 ? left : 1000);
    kc.client_id = "raft-add-voter";
    c->probed = true;
    c->probe_err = SK_ERR_REQUEST_TIMED_OUT;
    if (!ep || memchr(ep->host, 0, ep->host_len))
        return;
    memcpy(host, ep->host, ep->host_len);
    host[ep->host_len] = 0;
    if (sk_kclient_new(rn->b->shard, host, ep->port, &kc, &(struct sk_kclient_handler){0},
                       &c->probe) < 0)
        return;
    c->probed = false;
    if (sk_kclient_send(c->probe, 18, -1, &body, probed, c) < 0)
        c->probed = true;
}

/* An add before its VOTERS batch: the core's checks that need no answer,
 * the probe, then the append once the replica has caught up. True when
 * answered; otherwise waiting, or appended at c->offset. */
static bool add_step(struct sk_raftnet *rn, struct sk_raftnet_change *c)
{
    if (!c->probe && !c->probed) {
        int rc = sk_quorum_check_add_voter(rn->q, &c->voter);
        if (rc != SK_ERR_NONE) {
            answer(c->req, (int16_t)rc);
            return true;
        }
        start_probe(rn, c);
    }
    if (!c->probed)
        return false;
    if (c->probe_err) {
        set_error(c->req, c->probe_err, c->probe_err == SK_ERR_INVALID_REQUEST
                  ? "The new voter's kraft.version range does not hold the finalized version 1"
                  : "The new voter did not answer ApiVersions");
        sk_request_respond(c->req);
        return true;
    }
    int rc = sk_quorum_add_voter(rn->q, &c->voter, &c->offset);
    if (rc == SK_RAFT_NOT_CAUGHT_UP) {
        c->offset = -1;
        if (now_of(rn) < c->deadline_ms)
            return false;
        set_error(c->req, SK_ERR_REQUEST_TIMED_OUT, "The new voter is not caught up to "
                  "the leader's high watermark");
        sk_request_respond(c->req);
        return true;
    }
    if (rc != SK_ERR_NONE) {
        answer(c->req, (int16_t)rc);
        return true;
    }
    c->epoch = sk_raft_epoch(sk_quorum_raft(rn->q));
    return false;
}

/* Where a change stands: answered (true) or still waiting. */
static bool progress(struct sk_raftnet *rn, struct sk_raftnet_change *c)
{
    const struct sk_raft *r = sk_quorum_raft(rn->q);
    if (c->offset < 0) {
        if (add_step(rn, c))
            return true;
        if (c->offset < 0)
            return false;
    }
    /* Within the epoch the batch was appended in, nothing truncates it: a
     * high watermark past it is its commit, even once a leader that removed
     * itself has resigned. */
    if (sk_raft_epoch(r) == c->epoch && sk_raft_high_watermark(r) > c->offset) {
        answer(c->req, SK_ERR_NONE);
        return true;
    }
    if (sk_raft_role(r) != SK_RAFT_LEADER || sk_raft_epoch(r) != c->epoch) {
        answer(c->req, SK_ERR_NOT_LEADER_OR_FOLLOWER);
        return true;
    }
    if (now_of(rn) < c->deadline_ms)
        return false;
    answer(c->req, SK_ERR_REQUEST_TIMED_OUT);
    return true;
}

static void poll_changes(void *arg)
{
    struct sk_raftnet *rn = arg;
    rn->change_timer = 0;
    for (struct sk_raftnet_change **pp = &rn->changes; *pp;) {
        struct sk_raftnet_change *c = *pp;
        if (progress(rn, c)) {
            *pp = c->next;
            free_change(c);
        } else {
            pp = &c->next;
        }
    }
    arm(rn);
}

static void arm(struct sk_raftnet *rn)
{
    if (rn->changes && !rn->change_timer)
        rn->change_timer = sk_timer_add(rn->b->shard, POLL_MS, poll_changes, rn);
}

void sk_raftnet_changes_close(struct sk_raftnet *rn)
{
    if (rn->change_timer)
        sk_timer_cancel(rn->b->shard, rn->change_timer);
    rn->change_timer = 0;
    while (rn->changes) {
        struct sk_raftnet_change *c = rn->changes;
        rn->changes = c->next;
        answer(c->req, SK_ERR_NOT_LEADER_OR_FOLLOWER);
        free_change(c);
    }
}

/* A node without the networked quorum is a static sole voter: its quorum
 * is at kraft.version 0. */
static struct sk_raftnet *quorum_of(struct sk_request *req, kp_str cluster_id)
{
    struct sk_raftnet *rn = req->broker->node->raftnet;
    if (!rn) {
        answer(req, SK_ERR_UNSUPPORTED_VERSION);
        return NULL;
    }
    if (!cluster_ok(rn, cluster_id)) {
        answer(req, SK_ERR_INCONSISTENT_CLUSTER_ID);
        return NULL;
    }
    return rn;
}

void sk_api_add_raft_voter(struct sk_request *req)
{
    const kp_add_raft_voter_request *q = req->body;
    struct sk_raftnet *rn = quorum_of(req, q->cluster_id);
    if (!rn)
        return;
    if (sk_raft_role(sk_quorum_raft(rn->q)) != SK_RAFT_LEADER) {
        answer(req, SK_ERR_NOT_LEADER_OR_FOLLOWER);
        return;
    }
    struct sk_raft_voter v = {.id = q->voter_id, .max_kraft_version = 1};
    memcpy(v.directory_id, q->voter_directory_id.b, SK_RAFT_DIR_ID_LEN);
    int16_t err = no_dir(&q->voter_directory_id) ? SK_ERR_INVALID_REQUEST
                                                  : add_listeners(rn, q, &v);
    if (err) {
        answer(req, err);
        return;
    }
    park(rn, req, &v, -1, q->timeout_ms > 0 ? q->timeout_ms : 0);
    /* The first try at once: most errors answer without a wait. */
    struct sk_raftnet_change *c = rn->changes;
    if (progress(rn, c)) {
        rn->changes = c->next;
        free_change(c);
    }
}

void sk_api_remove_raft_voter(struct sk_request *req)
{
    const kp_remove_raft_voter_request *q = req->body;
    struct sk_raftnet *rn = quorum_of(req, q->cluster_id);
    if (!rn)
        return;
    int64_t offset = -1;
    int rc = sk_quorum_remove_voter(rn->q, q->voter_id, q->voter_directory_id.b, &offset);
    if (rc != SK_ERR_NONE) {
        answer(req, (int16_t)rc);
        return;
    }
    struct sk_raft_voter v = {.id = q->voter_id};
    memcpy(v.directory_id, q->voter_directory_id.b, SK_RAFT_DIR_ID_LEN);
    park(rn, req, &v, offset, REMOVE_TIMEOUT_MS);
}

/* Kafka's answer names the leader and where it listens on the controller
 * listener. */
static void current_leader(struct sk_request *req, struct sk_raftnet *rn)
{
    kp_update_raft_voter_response *r = req->resp;
    const struct sk_raft *raft = sk_quorum_raft(rn->q);
    struct sk_raftnet_addr a;
    r->current_leader.leader_id = sk_raft_leader(raft);
    r->current_leader.leader_epoch = sk_raft_epoch(raft);
    if (r->current_leader.leader_id >= 0 &&
        sk_raftnet_address(rn, r->current_leader.leader_id, &a)) {
        r->current_leader.host = sk_request_strdup(req, a.host);
        r->current_leader.port = a.port;
    }
}

static int16_t update_checks(struct sk_raftnet *rn, const kp_update_raft_voter_request *q)
{
    const struct sk_raft *raft = sk_quorum_raft(rn->q);
    if (q->current_leader_epoch >= 0 && q->current_leader_epoch < sk_raft_epoch(raft))
        return SK_ERR_FENCED_LEADER_EPOCH;
    if (q->current_leader_epoch > sk_raft_epoch(raft))
        return SK_ERR_UNKNOWN_LEADER_EPOCH;
    if (sk_raft_role(raft) != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    if (no_dir(&q->voter_directory_id))
        return SK_ERR_INVALID_REQUEST;
    return SK_ERR_NONE;
}

void sk_api_update_raft_voter(struct sk_request *req)
{
    const kp_update_raft_voter_request *q = req->body;
    struct sk_raftnet *rn = quorum_of(req, q->cluster_id);
    if (!rn)
        return;
    struct sk_raft_voter v = {.id = q->voter_id,
                              .min_kraft_version = q->k_raft_version_feature.min_supported_version,
                              .max_kraft_version = q->k_raft_version_feature.max_supported_version};
    memcpy(v.directory_id, q->voter_directory_id.b, SK_RAFT_DIR_ID_LEN);
    int16_t err = update_checks(rn, q);
    if (!err)
        err = update_listeners(rn, q, &v);
    int64_t offset;
    if (!err)
        err = (int16_t)sk_quorum_update_voter(rn->q, &v, &offset);
    current_leader(req, rn);
    answer(req, err);
}
