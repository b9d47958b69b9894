/* Metadata (key 3): brokers, cluster id, controller, topics and partitions. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/logging.h"
#include "skein/net.h"
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
    resp->controller_id = sk_api_controller_id(req, lb, n);
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
        if (sk_partition_opening(req->broker, t, p->id)) {
            op->leader_id = -1; /* led here, its log opens in a later turn */
            op->error_code = SK_ERR_LEADER_NOT_AVAILABLE;
        } else if (sk_partition_offline(req->broker, t, p->id)) {
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

typedef kp_metadata_request_metadata_request_topic md_req_topic;

/* Names compare with '.' and '_' as one character: Kafka refuses topics
 * that differ only there, so within one request the later one is dropped. */
static int name_cmp(const void *pa, const void *pb)
{
    const kp_str *a = *(const kp_str *const *)pa, *b = *(const kp_str *const *)pb;
    int32_t n = a->len < b->len ? a->len : b->len;
    for (int32_t i = 0; i < n; i++) {
        char x = a->ptr[i] == '.' ? '_' : a->ptr[i], y = b->ptr[i] == '.' ? '_' : b->ptr[i];
        if (x != y)
            return (unsigned char)x - (unsigned char)y;
    }
    return (a->len > b->len) - (a->len < b->len);
}

/* The distinct names among the wanted ones, in the request's arena. */
static int distinct_names(struct sk_request *req, const bool *wanted, kp_str *out)
{
    const kp_metadata_request *body = req->body;
    const kp_str **v = sk_request_alloc(req, sizeof *v * (size_t)(body->topics.n + 1));
    int n = 0, k = 0;
    for (int32_t i = 0; i < body->topics.n; i++)
        if (wanted[i])
            v[n++] = &body->topics.v[i].name;
    qsort(v, (size_t)n, sizeof *v, name_cmp);
    for (int i = 0; i < n; i++)
        if (i == 0 || name_cmp(&v[i - 1], &v[i]) != 0)
            out[k++] = *v[i];
    return k;
}

/* A Metadata request parked on its auto-creation: the wanted names, and
 * how to answer once the controller has committed (or refused) them. */
struct md_park {
    struct sk_request *req;
    const bool *wanted;
    bool with_ops;
};

static void answer(struct sk_request *req, const bool *wanted, bool with_ops);

static void created(void *arg, int16_t err, const char *msg)
{
    struct md_park *p = arg;
    if (err)
        sk_warn("auto-creation for a Metadata request from %s failed: %s (%s)",
                sk_conn_peer(p->req->conn), sk_err_name(err), msg ? msg : "");
    answer(p->req, p->wanted, p->with_ops);
}

/* One controller operation for every name the request would create. The
 * request parks until it is committed, so it answers with the new topics;
 * what the controller refused or failed to write answers
 * LEADER_NOT_AVAILABLE, as Kafka answers a topic it is still creating, and
 * the client's next Metadata tries again. True if the request parked. */
static bool auto_create(struct sk_request *req, const bool *wanted, bool with_ops)
{
    const kp_metadata_request *body = req->body;
    kp_str *names = sk_request_alloc(req, sizeof *names * (size_t)(body->topics.n + 1));
    int n = distinct_names(req, wanted, names);
    if (n == 0)
        return false;
    int16_t *errs = sk_request_alloc(req, sizeof *errs * (size_t)n);
    struct md_park *p = sk_request_alloc(req, sizeof *p);
    *p = (struct md_park){req, wanted, with_ops};
    if (sk_forward_ctl_creates_remotely(req->broker)) {
        int rc = sk_forward_ctl_auto_create(req->broker, names, n);
        if (rc < 0)
            sk_warn("auto-creation of %d topic(s) for a Metadata request from %s not sent: %d",
                    n, sk_conn_peer(req->conn), rc);
        return false; /* LEADER_NOT_AVAILABLE for them now, as Kafka answers */
    }
    char msg[256] = "";
    int16_t err = sk_topics_auto_create(req->broker, names, n, errs, msg, sizeof msg, created, p);
    if (err)
        sk_warn("auto-creation of %d topic(s) for a Metadata request from %s refused: %s (%s)",
                n, sk_conn_peer(req->conn), sk_err_name(err), msg);
    return err == SK_ERR_NONE;
}

static const struct sk_topic_meta *lookup(const struct sk_meta_image *img, const md_req_topic *rt)
{
    return rt->name.len >= 0 ? sk_meta_topic(img, rt->name.ptr, (size_t)rt->name.len)
                             : sk_meta_topic_by_id(img, &rt->topic_id);
}

/* Kafka's AutoTopicCreationManager takes a name that is legal and new;
 * NULL if none is. */
static const bool *creatable(struct sk_request *req)
{
    const kp_metadata_request *body = req->body;
    const struct sk_meta_image *img = req->broker->image;
    if (!body->allow_auto_topic_creation || !req->broker->cfg->log.auto_create_topics)
        return NULL;
    int32_t n = body->topics.n;
    bool *wanted = sk_request_alloc(req, sizeof *wanted * (size_t)(n + 1));
    bool any = false;
    for (int32_t i = 0; i < n; i++) {
        const md_req_topic *rt = &body->topics.v[i];
        wanted[i] = rt->name.len >= 0 && !lookup(img, rt) && sk_topic_name_valid(rt->name);
        any = any || wanted[i];
    }
    return any ? wanted : NULL;
}

/* The requested topics as this shard's image has them now. */
static void fill_requested(struct sk_request *req, kp_metadata_response *resp,
                           const bool *wanted, bool with_ops)
{
    const kp_metadata_request *body = req->body;
    const struct sk_meta_image *img = req->broker->image;
    int32_t n = body->topics.n;
    resp->topics.n = n;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        const md_req_topic *rt = &body->topics.v[i];
        const struct sk_topic_meta *t = lookup(img, rt);
        if (t) {
            fill_topic(req, &resp->topics.v[i], t, with_ops);
            continue;
        }
        fill_missing(&resp->topics.v[i], rt);
        if (wanted && wanted[i])
            resp->topics.v[i].error_code = SK_ERR_LEADER_NOT_AVAILABLE;
    }
}

static void fill_all(struct sk_request *req, kp_metadata_response *resp, bool with_ops)
{
    const struct sk_meta_image *img = req->broker->image;
    resp->topics.n = img->ntopics;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(img->ntopics + 1));
    for (int i = 0; i < img->ntopics; i++)
        fill_topic(req, &resp->topics.v[i], img->topics[i], with_ops);
}

/* Everything from the image the shard has when the answer leaves, so a
 * parked request's brokers and topics are of one image. */
static void answer(struct sk_request *req, const bool *wanted, bool with_ops)
{
    const kp_metadata_request *body = req->body;
    kp_metadata_response *resp = req->resp;
    fill_brokers(req, resp);
    resp->cluster_id = kp_str_c(req->broker->node->cluster_id);
    /* v0: an empty list means all topics; v1+: null means all, empty none. */
    bool all = body->topics.n < 0 || (req->version == 0 && body->topics.n == 0);
    if (all)
        fill_all(req, resp, with_ops);
    else
        fill_requested(req, resp, wanted, with_ops);
    resp->cluster_authorized_operations =
        req->version >= 8 && req->version <= 10 && body->include_cluster_authorized_operations
            ? SK_CLUSTER_OPERATIONS
            : SK_OPERATIONS_OMITTED;
    sk_request_respond(req);
}

void sk_api_metadata(struct sk_request *req)
{
    const kp_metadata_request *body = req->body;
    bool with_ops = req->version >= 8 && body->include_topic_authorized_operations;
    bool all = body->topics.n < 0 || (req->version == 0 && body->topics.n == 0);
    const bool *wanted = all ? NULL : creatable(req);
    if (wanted && auto_create(req, wanted, with_ops))
        return;
    answer(req, wanted, with_ops);
}
