/* DescribeCluster (key 60), as Kafka 3.9's brokers and controllers answer
 * it: on a client listener the live brokers; on a CONTROLLER listener
 * (KIP-919, an admin client given --bootstrap-controller) the registered
 * controllers, at their endpoints of that listener, and the quorum's
 * leader as controller id. A request for the other kind of endpoint gets
 * MISMATCHED_ENDPOINT_TYPE, an unknown kind UNSUPPORTED_ENDPOINT_TYPE (v0,
 * which cannot ask, INVALID_REQUEST). */
#include <stdio.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/raftnet.h"
#include "skein/submit.h"

#define SK_ENDPOINT_TYPE_BROKER 1
#define SK_ENDPOINT_TYPE_CONTROLLER 2

static const char *type_name(int8_t t)
{
    return t == SK_ENDPOINT_TYPE_BROKER ? "BROKER" : "CONTROLLER";
}

/* Kafka's AuthHelper.computeDescribeClusterResponse checks. */
static bool endpoint_refused(struct sk_request *req, int8_t expected)
{
    const kp_describe_cluster_request *body = req->body;
    kp_describe_cluster_response *resp = req->resp;
    int8_t asked = req->version >= 1 ? body->endpoint_type : SK_ENDPOINT_TYPE_BROKER;
    char msg[160];
    if (asked != SK_ENDPOINT_TYPE_BROKER && asked != SK_ENDPOINT_TYPE_CONTROLLER) {
        resp->error_code = SK_ERR_UNSUPPORTED_ENDPOINT_TYPE;
        snprintf(msg, sizeof msg, "Unsupported endpoint type %d", asked);
    } else if (asked != expected) {
        resp->error_code = SK_ERR_MISMATCHED_ENDPOINT_TYPE;
        snprintf(msg, sizeof msg,
                 "The request was sent to an endpoint of type %s, but we wanted an endpoint of "
                 "type %s", type_name(expected), type_name(asked));
    } else {
        return false;
    }
    if (req->version == 0)
        resp->error_code = SK_ERR_INVALID_REQUEST;
    resp->error_message = sk_request_strdup(req, msg);
    resp->endpoint_type = asked;
    sk_request_respond(req);
    return true;
}

/* The controllers registered with an endpoint of this listener. */
static void controllers(struct sk_request *req, kp_describe_cluster_response *resp)
{
    const struct sk_meta_image *img = req->broker->image;
    const char *listener = req->broker->node->cfg->controller_listener;
    resp->brokers.v =
        sk_request_alloc(req, sizeof *resp->brokers.v * (size_t)(img->ncontrollers + 1));
    resp->brokers.n = 0;
    for (int i = 0; i < img->ncontrollers; i++) {
        const struct sk_broker_meta *c = &img->controllers[i];
        for (int e = 0; e < c->nendpoints; e++) {
            if (strcmp(c->endpoints[e].listener, listener) != 0)
                continue;
            kp_describe_cluster_response_describe_cluster_broker *o =
                &resp->brokers.v[resp->brokers.n++];
            kp_describe_cluster_response_describe_cluster_broker_init(o);
            o->broker_id = c->id;
            o->host = kp_str_c(c->endpoints[e].host);
            o->port = c->endpoints[e].port;
            break;
        }
    }
    resp->controller_id = sk_ctl_quorum_leader(req->broker->node);
}

static void brokers(struct sk_request *req, kp_describe_cluster_response *resp)
{
    struct sk_live_broker *lb;
    int n = sk_api_live_brokers(req, &lb);
    resp->controller_id = sk_api_controller_id(req, lb, n);
    resp->brokers.n = n;
    resp->brokers.v = sk_request_alloc(req, sizeof *resp->brokers.v * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        resp->brokers.v[i] = (kp_describe_cluster_response_describe_cluster_broker){
            lb[i].id, lb[i].host, lb[i].port, lb[i].rack};
}

void sk_api_describe_cluster(struct sk_request *req)
{
    const kp_describe_cluster_request *body = req->body;
    kp_describe_cluster_response *resp = req->resp;
    bool ctl = req->conn && sk_conn_tag(req->conn) == SK_LISTENER_CONTROLLER;
    int8_t expected = ctl ? SK_ENDPOINT_TYPE_CONTROLLER : SK_ENDPOINT_TYPE_BROKER;
    if (endpoint_refused(req, expected))
        return;
    resp->endpoint_type = expected;
    resp->cluster_id = kp_str_c(req->broker->node->cluster_id);
    if (ctl)
        controllers(req, resp);
    else
        brokers(req, resp);
    resp->cluster_authorized_operations =
        body->include_cluster_authorized_operations ? SK_CLUSTER_OPERATIONS : INT32_MIN;
    sk_request_respond(req);
}
