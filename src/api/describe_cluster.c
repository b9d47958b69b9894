/* DescribeCluster (key 60): the brokers and controller, as the admin client sees them. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"

#define SK_CLUSTER_OPERATIONS                                                                  \
    ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) |           \
     (1 << 13) | (1 << 14))
#define SK_ENDPOINT_TYPE_BROKER 1

void sk_api_describe_cluster(struct sk_request *req)
{
    const kp_describe_cluster_request *body = req->body;
    kp_describe_cluster_response *resp = req->resp;
    const struct sk_meta_image *img = &req->broker->image;
    /* v1: a client may ask for controller endpoints, which a broker listener
     * does not serve (KIP-919). */
    if (req->version >= 1 && body->endpoint_type != SK_ENDPOINT_TYPE_BROKER) {
        resp->error_code = SK_ERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp->error_message = kp_str_c("The request was sent to an endpoint of type BROKER, "
                                       "but we wanted an endpoint of type CONTROLLER");
        resp->endpoint_type = body->endpoint_type;
        sk_request_respond(req);
        return;
    }
    resp->endpoint_type = SK_ENDPOINT_TYPE_BROKER;
    resp->cluster_id = kp_str_c(req->broker->cluster_id);
    resp->controller_id = req->broker->node_id;
    resp->brokers.v = sk_request_alloc(req, sizeof *resp->brokers.v * (size_t)(img->nbrokers + 1));
    for (int i = 0; i < img->nbrokers; i++) {
        const struct sk_broker_meta *b = &img->brokers[i];
        const struct sk_endpoint_meta *ep = sk_meta_endpoint(b, req->broker->listener_name);
        if (!ep || b->fenced)
            continue;
        kp_describe_cluster_response_describe_cluster_broker *o = &resp->brokers.v[resp->brokers.n++];
        kp_describe_cluster_response_describe_cluster_broker_init(o);
        o->broker_id = b->id;
        o->host = kp_str_c(ep->host);
        o->port = ep->port;
        o->rack = kp_str_c(b->rack);
    }
    resp->cluster_authorized_operations =
        body->include_cluster_authorized_operations ? SK_CLUSTER_OPERATIONS : INT32_MIN;
    sk_request_respond(req);
}
