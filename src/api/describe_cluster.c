/* DescribeCluster (key 60): the brokers and controller, as the admin client sees them. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"

#define SK_ENDPOINT_TYPE_BROKER 1

void sk_api_describe_cluster(struct sk_request *req)
{
    const kp_describe_cluster_request *body = req->body;
    kp_describe_cluster_response *resp = req->resp;
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
    resp->cluster_id = kp_str_c(req->broker->node->cluster_id);
    struct sk_live_broker *lb;
    int n = sk_api_live_brokers(req, &lb);
    resp->controller_id = sk_api_controller_id(req, lb, n);
    resp->brokers.n = n;
    resp->brokers.v = sk_request_alloc(req, sizeof *resp->brokers.v * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        resp->brokers.v[i] = (kp_describe_cluster_response_describe_cluster_broker){
            lb[i].id, lb[i].host, lb[i].port, lb[i].rack};
    resp->cluster_authorized_operations =
        body->include_cluster_authorized_operations ? SK_CLUSTER_OPERATIONS : INT32_MIN;
    sk_request_respond(req);
}
