/* Metadata (key 3): brokers, cluster id, controller, topics and partitions. */
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/partition.h"


typedef kp_metadata_response_metadata_response_topic md_topic;
typedef kp_metadata_response_metadata_response_partition md_partition;

static kp_arr_i32 copy_ids(struct sk_request *req, const int32_t *v, int32_t n)
{
    kp_arr_i32 a = {n, sk_request_alloc(req, sizeof(int32_t) * (size_t)(n ? n : 1))};
    memcpy(a.v, v, sizeof(int32_t) * (size_t)n);
    return a;
}

static void fill_brokers(struct sk_request *req, kp_metadata_response *resp)
{
    struct sk_live_broker *lb;
    int n = sk_api_live_brokers(req, &lb);
    resp->brokers.n = n;
    resp->brokers.v = sk_request_alloc(req, sizeof *resp->brokers.v * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        resp->brokers.v[i] = (kp_metadata_response_metadata_response_broker){
            lb[i].id, lb[i].host, lb[i].port, lb[i].rack};
    }
}

static void fill_partitions(struct sk_request *req, md_topic *o, const struct sk_topic_meta *t)
{
    o->partitions.n = t->npartitions;
    o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(t->npartitions + 1));
    for (int32_t i = 0; i < t->npartitions; i++) {
        const struct sk_partition_meta *p = &t->partitions[i];
        md_partition *op = &o->partitions.v[i];
        kp_metadata_response_metadata_response_partition_init(op);
        op->partition_index = p->id;
        op->leader_id = p->leader;
        op->leader_epoch = p->leader_epoch;
        op->replica_nodes = copy_ids(req, p->replicas, p->nreplicas);
        op->isr_nodes = copy_ids(req, p->isr, p->nisr);
        op->offline_replicas = (kp_arr_i32){0, NULL};
        op->error_code = p->leader < 0 ? SK_ERR_LEADER_NOT_AVAILABLE : SK_ERR_NONE;
        /* A log that did not open is an offline replica; with no other one
         * to lead, Kafka's controller leaves the partition without a leader. */
        if (sk_partition_offline(req->broker, t, p->id)) {
            op->leader_id = -1;
            op->offline_replicas = copy_ids(req, &p->leader, 1);
            op->error_code = SK_ERR_LEADER_NOT_AVAILABLE;
        }
    }
}

static void fill_topic(struct sk_request *req, md_topic *o, const struct sk_topic_meta *t,
                       bool with_ops)
{
    kp_metadata_response_metadata_response_topic_init(o);
    o->name = kp_str_c(t->name);
    o->topic_id = t->id;
    o->is_internal = sk_topic_is_internal(t->name);
    o->topic_authorized_operations = with_ops ? SK_TOPIC_OPERATIONS : SK_OPERATIONS_OMITTED;
    fill_partitions(req, o, t);
}

/* A requested topic that does not exist: by name UNKNOWN_TOPIC_OR_PARTITION,
 * by id UNKNOWN_TOPIC_ID (v10+), and an unusable name INVALID_TOPIC_EXCEPTION. */
static void fill_missing(md_topic *o, const kp_metadata_request_metadata_request_topic *rt)
{
    kp_metadata_response_metadata_response_topic_init(o);
    o->name = rt->name;
    o->topic_id = rt->topic_id;
    o->topic_authorized_operations = SK_OPERATIONS_OMITTED;
    if (rt->name.len < 0)
        o->error_code = SK_ERR_UNKNOWN_TOPIC_ID;
    else if (!sk_topic_name_valid(rt->name))
        o->error_code = SK_ERR_INVALID_TOPIC_EXCEPTION;
    else
        o->error_code = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
}

static void fill_requested(struct sk_request *req, kp_metadata_response *resp, bool with_ops)
{
    const kp_metadata_request *body = req->body;
    const struct sk_meta_image *img = &req->broker->image;
    resp->topics.n = body->topics.n;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(body->topics.n + 1));
    for (int32_t i = 0; i < body->topics.n; i++) {
        const kp_metadata_request_metadata_request_topic *rt = &body->topics.v[i];
        const struct sk_topic_meta *t =
            rt->name.len >= 0 ? sk_meta_topic(img, rt->name.ptr, (size_t)rt->name.len)
                              : sk_meta_topic_by_id(img, &rt->topic_id);
        if (!t && rt->name.len >= 0 && body->allow_auto_topic_creation &&
            sk_topic_auto_create(req->broker, rt->name) == 0)
            t = sk_meta_topic(img, rt->name.ptr, (size_t)rt->name.len);
        if (t)
            fill_topic(req, &resp->topics.v[i], t, with_ops);
        else
            fill_missing(&resp->topics.v[i], rt);
    }
}

static void fill_all(struct sk_request *req, kp_metadata_response *resp, bool with_ops)
{
    const struct sk_meta_image *img = &req->broker->image;
    resp->topics.n = img->ntopics;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(img->ntopics + 1));
    for (int i = 0; i < img->ntopics; i++)
        fill_topic(req, &resp->topics.v[i], img->topics[i], with_ops);
}

void sk_api_metadata(struct sk_request *req)
{
    const kp_metadata_request *body = req->body;
    kp_metadata_response *resp = req->resp;
    fill_brokers(req, resp);
    resp->cluster_id = kp_str_c(req->broker->cluster_id);
    resp->controller_id = req->broker->node_id;
    bool with_ops = req->version >= 8 && body->include_topic_authorized_operations;
    /* v0: an empty list means all topics; v1+: null means all, empty none. */
    bool all = body->topics.n < 0 || (req->version == 0 && body->topics.n == 0);
    if (all)
        fill_all(req, resp, with_ops);
    else
        fill_requested(req, resp, with_ops);
    resp->cluster_authorized_operations =
        req->version >= 8 && req->version <= 10 && body->include_cluster_authorized_operations
            ? SK_CLUSTER_OPERATIONS
            : SK_OPERATIONS_OMITTED;
    sk_request_respond(req);
}
