/* AlterPartition (key 56) v0-3 on the CONTROLLER listener, as Kafka's
 * ControllerApis serves it: a partition leader's ISR change, decided by the
 * active controller (skein/alter_partition.h) and answered once committed.
 * Any other node answers NOT_CONTROLLER, so the leader tries the next
 * voter. The leader's side is src/replica/alter_partition.c. */
#include "admin.h"
#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/alter_partition.h"
#include "skein/errors.h"
#include "skein/raft.h"

/* Only the controller shard holds the working image; a node whose quorum
 * leader is another voter is not the active controller. */
static bool not_controller(const struct sk_request *req)
{
    const struct sk_raftnet *rn = req->broker->node->raftnet;
    if (req->broker->index != 0)
        return true;
    return rn && sk_raft_role(sk_quorum_raft(rn->q)) != SK_RAFT_LEADER;
}

/* A commit that failed after the handler returned: every partition it
 * accepted gets the commit's error instead. */
static void commit_failed(void *arg, int16_t err, kp_str msg)
{
    (void)msg; /* the response has no message field */
    kp_alter_partition_response *resp = arg;
    for (int32_t t = 0; t < resp->topics.n; t++)
        for (int32_t i = 0; i < resp->topics.v[t].partitions.n; i++) {
            kp_alter_partition_response_partition_data *pd = &resp->topics.v[t].partitions.v[i];
            if (pd->error_code == SK_ERR_NONE)
                pd->error_code = err;
        }
}

void sk_api_alter_partition(struct sk_request *req)
{
    const kp_alter_partition_request *body = req->body;
    kp_alter_partition_response *resp = req->resp;
    if (not_controller(req)) {
        resp->error_code = SK_ERR_NOT_CONTROLLER;
        sk_request_respond(req);
        return;
    }
    char msg[512] = "";
    struct sk_ctl_park *park = sk_admin_park(req);
    sk_ctl_park_on_fail(park, commit_failed, resp);
    resp->error_code =
        sk_ctl_alter_partition(req->broker, body, req->version, resp, &req->arena, msg, sizeof msg);
    sk_ctl_park_end(park);
}
