/* FindCoordinator (key 10): a group's coordinator is the leader of its
 * __consumer_offsets partition, as in Kafka, so in a cluster each node
 * coordinates the groups whose partition it leads; this node coordinates
 * every transactional id. Creates __consumer_offsets on first use, as
 * Kafka does, and answers once the controller has committed it. */
#include <stdio.h>

#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/ctl_park.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/logging.h"

#define SK_KEY_TYPE_GROUP 0
#define SK_KEY_TYPE_TRANSACTION 1

static int16_t coordinator_error(struct sk_request *req, int8_t key_type)
{
    struct sk_broker *b = req->broker;
    if (key_type == SK_KEY_TYPE_TRANSACTION)
        return SK_ERR_NONE;
    if (key_type != SK_KEY_TYPE_GROUP)
        return SK_ERR_INVALID_REQUEST;
    return sk_group_coordinator_error(b->groups);
}

struct answer {
    int16_t err;
    kp_str msg, host;
    int32_t node, port;
};

/* The leader of the group's __consumer_offsets partition as the image
 * says: this node (self), another live broker, or -1 while none leads it
 * (fenced, or the topic not there yet, when this node answers as before). */
static int32_t group_leader(const struct sk_broker *b, kp_str group)
{
    static const char topic[] = "__consumer_offsets";
    const struct sk_topic_meta *t = sk_meta_topic(b->image, topic, sizeof topic - 1);
    if (!t || t->npartitions <= 0)
        return b->node->node_id;
    int32_t p = sk_group_partition_for(group, t->npartitions);
    return t->partitions[p].leader;
}

/* Another broker coordinates the group: its endpoint on this listener. */
static bool remote_answer(struct sk_request *req, kp_str group, struct answer *a)
{
    const struct sk_broker *b = req->broker;
    int32_t leader = group_leader(b, group);
    if (leader == b->node->node_id)
        return false;
    const struct sk_broker_meta *bm = leader < 0 ? NULL : sk_meta_broker(b->image, leader);
    const struct sk_endpoint_meta *ep =
        bm && !bm->fenced ? sk_meta_endpoint(bm, b->node->listener_name) : NULL;
    if (!ep) {
        a->err = SK_ERR_COORDINATOR_NOT_AVAILABLE;
        a->msg = kp_str_c(sk_err_name(a->err));
        return true;
    }
    a->node = leader;
    a->host = kp_str_c(ep->host);
    a->port = ep->port;
    return true;
}

static struct answer answer_for(struct sk_request *req, int8_t key_type, kp_str key)
{
    struct sk_broker *b = req->broker;
    struct answer a = {SK_ERR_NONE, KP_STR_NULL, kp_str_c(""), -1, -1};
    if (key_type == SK_KEY_TYPE_GROUP && remote_answer(req, key, &a))
        return a;
    a.err = coordinator_error(req, key_type);
    if (a.err) {
        a.msg = kp_str_c(sk_err_name(a.err));
        return a;
    }
    a.node = b->node->node_id;
    a.host = kp_str_c(b->node->advertised_host);
    a.port = b->node->advertised_port;
    return a;
}

static void answer(struct sk_request *req)
{
    const kp_find_coordinator_request *body = req->body;
    kp_find_coordinator_response *resp = req->resp;
    if (req->version < 4) {
        struct answer a = answer_for(req, body->key_type, body->key);
        resp->error_code = a.err;
        resp->error_message = a.msg;
        resp->node_id = a.node;
        resp->host = a.host;
        resp->port = a.port;
        sk_request_respond(req);
        return;
    }
    int32_t n = body->coordinator_keys.n > 0 ? body->coordinator_keys.n : 0;
    resp->coordinators.n = n;
    resp->coordinators.v = sk_request_alloc(req, sizeof *resp->coordinators.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        kp_find_coordinator_response_coordinator *c = &resp->coordinators.v[i];
        kp_find_coordinator_response_coordinator_init(c);
        struct answer a = answer_for(req, body->key_type, body->coordinator_keys.v[i]);
        c->key = body->coordinator_keys.v[i];
        c->error_code = a.err;
        c->error_message = a.msg;
        c->node_id = a.node;
        c->host = a.host;
        c->port = a.port;
    }
    sk_request_respond(req);
}

static void answer_parked(void *ctx)
{
    answer(ctx);
}

/* Clients ask again and again while a cluster starts up with fewer brokers
 * than offsets.topic.replication.factor: a line a second tells it. */
static void creation_failed(void *arg, int16_t err, kp_str msg)
{
    (void)arg;
    static _Thread_local struct sk_log_limit limit;
    unsigned long held;
    if (sk_log_limit_pass(&limit, 1, &held))
        sk_warn("cannot create %s: %s %.*s (%lu more like it)", SK_GROUP_OFFSETS_TOPIC,
                sk_err_name(err), msg.len > 0 ? (int)msg.len : 0, msg.ptr ? msg.ptr : "", held);
}

/* Without __consumer_offsets the request parks while the controller
 * creates it: committed, the coordinator is available when it answers;
 * not, it answers COORDINATOR_NOT_AVAILABLE and the client asks again. */
void sk_api_find_coordinator(struct sk_request *req)
{
    const kp_find_coordinator_request *body = req->body;
    const struct sk_group_coordinator *co = req->broker->groups;
    if (body->key_type != SK_KEY_TYPE_GROUP || !co || co->available) {
        answer(req);
        return;
    }
    if (sk_forward_ctl_creates_remotely(req->broker)) {
        /* As Kafka's broker: the active controller creates the topic, and
         * the client asks again after COORDINATOR_NOT_AVAILABLE. */
        struct sk_offsets_topic os;
        sk_groups_offsets_topic(req->broker, &os);
        int rc = sk_forward_ctl_create_topic(req->broker, &os.spec);
        if (rc < 0)
            sk_warn("creation of %s not sent to the active controller: %d",
                    SK_GROUP_OFFSETS_TOPIC, rc);
        answer(req);
        return;
    }
    struct sk_ctl_park *park = sk_request_alloc(req, sizeof *park);
    sk_ctl_park_begin(park, req->broker, &req->arena, answer_parked, req);
    sk_ctl_park_on_fail(park, creation_failed, NULL);
    sk_groups_ensure_topic(req->broker);
    sk_ctl_park_end(park);
}
