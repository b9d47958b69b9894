/* ElectLeaders (key 43), v0-v2, on the active controller (a broker of a
 * larger cluster forwards it there, as Kafka 3.9 does): each partition's
 * election is decided against the controller's working image and
 * committed through it (skein/controller.h); the answer waits for the
 * commits. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/ctl_park.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

typedef kp_elect_leaders_response_replica_election_result el_topic;
typedef kp_elect_leaders_response_partition_result el_partition;

/* The topic is looked up for each partition: a commit may have replaced
 * the working image's copy of it. */
static int16_t elect_one(struct sk_request *req, kp_str topic, int32_t id, int8_t type,
                         kp_str *msg)
{
    char buf[512];
    const struct sk_topic_meta *t = sk_meta_topic(sk_controller_image(req->broker), topic.ptr,
                                                  (size_t)(topic.len > 0 ? topic.len : 0));
    const struct sk_partition_meta *p = t && id >= 0 && id < t->npartitions ? &t->partitions[id]
                                                                           : NULL;
    if (!t || !p) {
        char shown[256]; /* messages are text: the name escaped, not cut */
        sk_wire_str_escape(topic, shown, sizeof shown);
        if (!t)
            snprintf(buf, sizeof buf, "No such topic as %s", shown);
        else
            snprintf(buf, sizeof buf, "No such partition as %s-%d", shown, id);
        *msg = sk_request_strdup(req, buf);
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    char m[256] = "";
    int16_t err = sk_ctl_elect_leader(req->broker, t, id, type, m, sizeof m);
    *msg = err ? sk_request_strdup(req, m) : KP_STR_NULL;
    return err;
}

static el_partition *add_partition(el_topic *o, int32_t id)
{
    el_partition *r = &o->partition_result.v[o->partition_result.n++];
    kp_elect_leaders_response_partition_result_init(r);
    r->partition_id = id;
    return r;
}

static void elect_requested(struct sk_request *req, struct sk_ctl_park *park, int8_t type)
{
    const kp_elect_leaders_request *body = req->body;
    kp_elect_leaders_response *resp = req->resp;
    resp->replica_election_results.n = body->topic_partitions.n;
    resp->replica_election_results.v =
        sk_request_alloc(req, sizeof(el_topic) * (size_t)(body->topic_partitions.n + 1));
    for (int32_t i = 0; i < body->topic_partitions.n; i++) {
        const kp_elect_leaders_request_topic_partitions *tp = &body->topic_partitions.v[i];
        el_topic *o = &resp->replica_election_results.v[i];
        kp_elect_leaders_response_replica_election_result_init(o);
        o->topic = tp->topic;
        o->partition_result.v = sk_request_alloc(req, sizeof(el_partition) *
                                                          (size_t)(tp->partitions.n + 1));
        for (int32_t k = 0; k < tp->partitions.n; k++) {
            el_partition *r = add_partition(o, tp->partitions.v[k]);
            sk_ctl_park_slot(park, &r->error_code, &r->error_message);
            r->error_code = elect_one(req, tp->topic, tp->partitions.v[k], type,
                                      &r->error_message);
        }
    }
}

/* Null partitions: every partition that needs the election, as Kafka
 * leaves out those that do not. */
static void elect_all(struct sk_request *req, struct sk_ctl_park *park, int8_t type)
{
    const struct sk_meta_image *img = sk_controller_image(req->broker);
    kp_elect_leaders_response *resp = req->resp;
    resp->replica_election_results.v =
        sk_request_alloc(req, sizeof(el_topic) * (size_t)(img->ntopics + 1));
    for (int i = 0; i < img->ntopics; i++) {
        int32_t np = img->topics[i]->npartitions;
        el_topic *o = &resp->replica_election_results.v[resp->replica_election_results.n];
        kp_elect_leaders_response_replica_election_result_init(o);
        o->topic = sk_request_strdup(req, img->topics[i]->name);
        o->partition_result.v = sk_request_alloc(req, sizeof(el_partition) * (size_t)(np + 1));
        for (int32_t k = 0; k < np; k++) {
            if (!sk_ctl_election_needed(&img->topics[i]->partitions[k], type))
                continue;
            el_partition *r = add_partition(o, k);
            sk_ctl_park_slot(park, &r->error_code, &r->error_message);
            r->error_code = elect_one(req, o->topic, k, type, &r->error_message);
        }
        if (o->partition_result.n > 0)
            resp->replica_election_results.n++;
    }
}

void sk_api_elect_leaders(struct sk_request *req)
{
    const kp_elect_leaders_request *body = req->body;
    kp_elect_leaders_response *resp = req->resp;
    int8_t type = req->version >= 1 ? body->election_type : SK_ELECTION_PREFERRED;
    resp->error_code = SK_ERR_NONE;
    if (type != SK_ELECTION_PREFERRED && type != SK_ELECTION_UNCLEAN) {
        resp->error_code = SK_ERR_INVALID_REQUEST;
        sk_request_respond(req);
        return;
    }
    struct sk_ctl_park *park = sk_admin_park(req);
    if (body->topic_partitions.n < 0)
        elect_all(req, park, type);
    else
        elect_requested(req, park, type);
    sk_ctl_park_end(park);
}
