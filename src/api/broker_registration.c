/* BrokerRegistration (key 62) v0-4, BrokerHeartbeat (key 63) v0-1 and
 * ControllerRegistration (key 70) v0 (KIP-919) on the CONTROLLER listener,
 * as Kafka's ControllerApis serves them: decided
 * by the active controller (skein/broker_sessions.h), answered once what
 * they changed is committed. A controller that is not the quorum's leader
 * answers NOT_CONTROLLER, so the broker tries the next voter. */
#include "admin.h"
#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/broker_sessions.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/raft.h"

/* Only the controller shard holds the sessions and the working image; the
 * CONTROLLER listener is kept there. A node whose quorum leader is another
 * voter is not the active controller even if its own queue (not yet bound
 * to the quorum) would take changes. */
static bool not_controller(const struct sk_request *req)
{
    const struct sk_raftnet *rn = req->broker->node->raftnet;
    if (req->broker->index != 0)
        return true;
    return rn && sk_raft_role(sk_quorum_raft(rn->q)) != SK_RAFT_LEADER;
}

void sk_api_broker_registration(struct sk_request *req)
{
    const kp_broker_registration_request *body = req->body;
    kp_broker_registration_response *resp = req->resp;
    resp->broker_epoch = -1;
    if (not_controller(req)) {
        resp->error_code = SK_ERR_NOT_CONTROLLER;
        sk_request_respond(req);
        return;
    }
    kp_str *ignored = sk_request_alloc(req, sizeof *ignored);
    char msg[512] = "";
    struct sk_ctl_park *park = sk_admin_park(req);
    sk_ctl_park_slot(park, &resp->error_code, ignored);
    resp->error_code = sk_brokers_register(req->broker, body, (int64_t)sk_shard_now_ms(req->broker->shard), &resp->broker_epoch,
                                           msg, sizeof msg);
    if (resp->error_code)
        resp->broker_epoch = -1;
    sk_ctl_park_end(park);
}

void sk_api_broker_heartbeat(struct sk_request *req)
{
    const kp_broker_heartbeat_request *body = req->body;
    kp_broker_heartbeat_response *resp = req->resp;
    resp->is_fenced = true;
    if (not_controller(req)) {
        resp->error_code = SK_ERR_NOT_CONTROLLER;
        sk_request_respond(req);
        return;
    }
    kp_str *ignored = sk_request_alloc(req, sizeof *ignored);
    char msg[512] = "";
    struct sk_heartbeat_reply out;
    struct sk_ctl_park *park = sk_admin_park(req);
    sk_ctl_park_slot(park, &resp->error_code, ignored);
    resp->error_code = sk_brokers_heartbeat(req->broker, body, (int64_t)sk_shard_now_ms(req->broker->shard), &out, msg,
                                            sizeof msg);
    resp->is_caught_up = out.caught_up;
    resp->is_fenced = out.fenced;
    resp->should_shut_down = out.shut_down;
    sk_ctl_park_end(park);
}

void sk_api_controller_registration(struct sk_request *req)
{
    const kp_controller_registration_request *body = req->body;
    kp_controller_registration_response *resp = req->resp;
    if (not_controller(req)) {
        resp->error_code = SK_ERR_NOT_CONTROLLER;
        sk_request_respond(req);
        return;
    }
    char msg[512] = "";
    struct sk_ctl_park *park = sk_admin_park(req);
    sk_ctl_park_slot(park, &resp->error_code, &resp->error_message);
    resp->error_code = sk_controllers_register(req->broker, body, msg, sizeof msg);
    if (resp->error_code && msg[0])
        resp->error_message = sk_request_strdup(req, msg);
    sk_ctl_park_end(park);
}
