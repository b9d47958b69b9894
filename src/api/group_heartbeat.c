/* Heartbeat (key 12). */
#include "gen/kp_all.h"
#include "group_api.h"

void sk_api_heartbeat(struct sk_request *req)
{
    const kp_heartbeat_request *body = req->body;
    kp_heartbeat_response *resp = req->resp;
    resp->error_code = sk_group_heartbeat(req->broker->groups, body->group_id, body->member_id,
                                          body->group_instance_id, body->generation_id);
    sk_request_respond(req);
}
