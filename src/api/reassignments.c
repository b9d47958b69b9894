/* AlterPartitionReassignments (key 45) and ListPartitionReassignments
 * (key 46), v0 (KIP-455). Alter runs on the active controller (a broker of
 * a larger cluster forwards it there, as Kafka 3.9 does): each partition's
 * change is decided against the controller's working image and committed
 * (src/controller/reassign.c); the answer waits for the commits. List
 * reads this node's image, where the reassignments in progress are. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/ctl_park.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

typedef kp_alter_partition_reassignments_request_reassignable_partition ar_partition;
typedef kp_alter_partition_reassignments_response_reassignable_partition_response ar_result;
typedef kp_list_partition_reassignments_response_ongoing_topic_reassignment lr_topic;
typedef kp_list_partition_reassignments_response_ongoing_partition_reassignment lr_partition;

static kp_arr_i32 list_of(const int32_t *v, int32_t n)
{
    return (kp_arr_i32){n, (int32_t *)v};
}

/* One topic's partitions in progress among ids (all of them if ids is null). */
static void list_topic(struct sk_request *req, const struct sk_topic_meta *t, kp_arr_i32 ids,
                       kp_list_partition_reassignments_response *resp)
{
    int32_t n = ids.n < 0 ? t->npartitions : ids.n;
    lr_topic *o = &resp->topics.v[resp->topics.n];
    kp_list_partition_reassignments_response_ongoing_topic_reassignment_init(o);
    o->name = sk_request_strdup(req, t->name);
    o->partitions.v = sk_request_alloc(req, sizeof(lr_partition) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        int32_t id = ids.n < 0 ? i : ids.v[i];
        if (id < 0 || id >= t->npartitions || !sk_reassign_in_progress(&t->partitions[id]))
            continue;
        const struct sk_partition_meta *pm = &t->partitions[id];
        lr_partition *p = &o->partitions.v[o->partitions.n++];
        kp_list_partition_reassignments_response_ongoing_partition_reassignment_init(p);
        p->partition_index = id;
        p->replicas = list_of(pm->replicas, pm->nreplicas);
        p->adding_replicas = list_of(pm->adding, pm->nadding);
        p->removing_replicas = list_of(pm->removing, pm->nremoving);
    }
    if (o->partitions.n > 0)
        resp->topics.n++;
}

/* Kafka's listPartitionReassignments: unknown topics and partitions not
 * being reassigned are left out. The answer points into the image, and is
 * encoded before this handler returns. */
void sk_api_list_partition_reassignments(struct sk_request *req)
{
    const kp_list_partition_reassignments_request *body = req->body;
    kp_list_partition_reassignments_response *resp = req->resp;
    const struct sk_meta_image *img = req->broker->image;
    resp->error_code = SK_ERR_NONE;
    resp->error_message = KP_STR_NULL;
    int32_t n = body->topics.n < 0 ? img->ntopics : body->topics.n;
    resp->topics.n = 0;
    resp->topics.v = sk_request_alloc(req, sizeof(lr_topic) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        if (body->topics.n < 0) {
            list_topic(req, img->topics[i], (kp_arr_i32){-1, NULL}, resp);
            continue;
        }
        kp_str name = body->topics.v[i].name;
        const struct sk_topic_meta *t =
            name.len < 0 ? NULL : sk_meta_topic(img, name.ptr, (size_t)name.len);
        if (t)
            list_topic(req, t, body->topics.v[i].partition_indexes, resp);
    }
    sk_request_respond(req);
}

/* The topic is looked up for each partition: a commit may have replaced
 * the working image's copy of it. */
static int16_t alter_one(struct sk_request *req, kp_str topic, const ar_partition *rp,
                         kp_str *msg)
{
    const struct sk_topic_meta *t = sk_meta_topic(sk_controller_image(req->broker), topic.ptr,
                                                  (size_t)(topic.len > 0 ? topic.len : 0));
    char buf[512] = "";
    int16_t err;
    if (!t || rp->partition_index < 0 || rp->partition_index >= t->npartitions) {
        char shown[256]; /* messages are text: the name escaped, not cut */
        sk_wire_str_escape(topic, shown, sizeof shown);
        if (!t)
            snprintf(buf, sizeof buf, "Unable to find a topic named %s.", shown);
        else
            snprintf(buf, sizeof buf, "Unable to find partition %s:%d.", shown,
                     rp->partition_index);
        err = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
        err = sk_ctl_reassign(req->broker, t, rp->partition_index, rp->replicas, buf,
                              sizeof buf);
    }
    *msg = err ? sk_request_strdup(req, buf) : KP_STR_NULL;
    return err;
}

void sk_api_alter_partition_reassignments(struct sk_request *req)
{
    const kp_alter_partition_reassignments_request *body = req->body;
    kp_alter_partition_reassignments_response *resp = req->resp;
    resp->error_code = SK_ERR_NONE;
    resp->error_message = KP_STR_NULL;
    char m[256] = "";
    int16_t err = sk_ctl_check_active(req->broker, m, sizeof m);
    if (err) {
        resp->error_code = err;
        resp->error_message = sk_request_strdup(req, m);
        sk_request_respond(req);
        return;
    }
    int32_t n = body->topics.n < 0 ? 0 : body->topics.n;
    resp->responses.n = n;
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(n + 1));
    struct sk_ctl_park *park = sk_admin_park(req);
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
            r->partition_index = t->partitions.v[k].partition_index;
            sk_ctl_park_slot(park, &r->error_code, &r->error_message);
            r->error_code = alter_one(req, t->name, &t->partitions.v[k], &r->error_message);
        }
    }
    sk_ctl_park_end(park);
}
