/* ListPartitionReassignments (key 46) and AlterPartitionReassignments
 * (key 45), v0. Replicas never move on their own here, so nothing is ever in
 * progress; a target equal to the current replicas is a no-op, as in Kafka. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

typedef kp_alter_partition_reassignments_request_reassignable_partition ar_partition;
typedef kp_alter_partition_reassignments_response_reassignable_partition_response ar_result;

void sk_api_list_partition_reassignments(struct sk_request *req)
{
    kp_list_partition_reassignments_response *resp = req->resp;
    resp->error_code = SK_ERR_NONE;
    resp->error_message = KP_STR_NULL;
    resp->topics.n = 0;
    sk_request_respond(req);
}

static bool same_replicas(const struct sk_partition_meta *p, kp_arr_i32 target)
{
    return target.n == p->nreplicas &&
           memcmp(target.v, p->replicas, sizeof(int32_t) * (size_t)target.n) == 0;
}

static int16_t alter_one(struct sk_request *req, kp_str topic, const ar_partition *rp, char *msg,
                         size_t msglen)
{
    const struct sk_topic_meta *t =
        sk_meta_topic(req->broker->image, topic.ptr, (size_t)topic.len);
    char shown[256];
    sk_wire_str_escape(topic, shown, sizeof shown); /* messages are text: not cut, escaped */
    if (!t) {
        snprintf(msg, msglen, "Unable to find a topic named %s.", shown);
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (rp->partition_index < 0 || rp->partition_index >= t->npartitions) {
        snprintf(msg, msglen, "Unable to find partition %s:%d.", shown, rp->partition_index);
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (rp->replicas.n < 0) {
        snprintf(msg, msglen, "%s", sk_err_message(SK_ERR_NO_REASSIGNMENT_IN_PROGRESS));
        return SK_ERR_NO_REASSIGNMENT_IN_PROGRESS;
    }
    int16_t err = sk_replica_list_check(req->broker->image, rp->replicas, msg, msglen);
    if (err)
        return err;
    if (same_replicas(&t->partitions[rp->partition_index], rp->replicas))
        return SK_ERR_NONE;
    snprintf(msg, msglen, "Moving replicas between brokers is not supported yet.");
    return SK_ERR_INVALID_REPLICA_ASSIGNMENT;
}

void sk_api_alter_partition_reassignments(struct sk_request *req)
{
    const kp_alter_partition_reassignments_request *body = req->body;
    kp_alter_partition_reassignments_response *resp = req->resp;
    resp->error_code = SK_ERR_NONE;
    resp->error_message = KP_STR_NULL;
    int32_t n = body->topics.n < 0 ? 0 : body->topics.n;
    resp->responses.n = n;
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        const kp_alter_partition_reassignments_request_reassignable_topic *t = &body->topics.v[i];
        kp_alter_partition_reassignments_response_reassignable_topic_response *o =
            &resp->responses.v[i];
        kp_alter_partition_reassignments_response_reassignable_topic_response_init(o);
        o->name = t->name;
        o->partitions.n = t->partitions.n < 0 ? 0 : t->partitions.n;
        o->partitions.v = sk_request_alloc(req, sizeof(ar_result) * (size_t)(o->partitions.n + 1));
        for (int32_t k = 0; k < o->partitions.n; k++) {
            ar_result *r = &o->partitions.v[k];
            kp_alter_partition_reassignments_response_reassignable_partition_response_init(r);
            char msg[512] = "";
            r->partition_index = t->partitions.v[k].partition_index;
            r->error_code = alter_one(req, t->name, &t->partitions.v[k], msg, sizeof msg);
            r->error_message = sk_admin_msg(req, msg);
        }
    }
    sk_request_respond(req);
}
