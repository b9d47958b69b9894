/* ElectLeaders (key 43), v0-v2. Every partition's leader here is its first
 * live in-sync replica, so a preferred election is never needed while the
 * preferred replica leads; an unclean one is not needed while any leads. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

#define SK_ELECTION_PREFERRED 0
#define SK_ELECTION_UNCLEAN 1

typedef kp_elect_leaders_response_replica_election_result el_topic;
typedef kp_elect_leaders_response_partition_result el_partition;

static int16_t elect_one(struct sk_request *req, const struct sk_topic_meta *t, kp_str topic,
                         int32_t id, int8_t type, kp_str *msg)
{
    char buf[512];
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
    bool preferred_leads = p->nreplicas > 0 && p->leader == p->replicas[0];
    if ((type == SK_ELECTION_PREFERRED && preferred_leads) ||
        (type == SK_ELECTION_UNCLEAN && p->leader >= 0)) {
        *msg = kp_str_c(sk_err_message(SK_ERR_ELECTION_NOT_NEEDED));
        return SK_ERR_ELECTION_NOT_NEEDED;
    }
    /* A partition without its preferred leader would need a replica that is
     * not in sync or not alive: nothing to elect on this cluster. */
    int16_t err = type == SK_ELECTION_PREFERRED ? SK_ERR_PREFERRED_LEADER_NOT_AVAILABLE
                                                : SK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE;
    *msg = KP_STR_NULL;
    return err;
}

static void add_partition(el_topic *o, int32_t id, int16_t err, kp_str msg)
{
    el_partition *r = &o->partition_result.v[o->partition_result.n++];
    kp_elect_leaders_response_partition_result_init(r);
    r->partition_id = id;
    r->error_code = err;
    r->error_message = msg;
}

static void elect_requested(struct sk_request *req, int8_t type)
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
        const struct sk_topic_meta *t =
            sk_meta_topic(req->broker->image, tp->topic.ptr, (size_t)tp->topic.len);
        for (int32_t k = 0; k < tp->partitions.n; k++) {
            kp_str msg;
            int16_t err = elect_one(req, t, tp->topic, tp->partitions.v[k], type, &msg);
            add_partition(o, tp->partitions.v[k], err, msg);
        }
    }
}

/* Null partitions: every partition, leaving out those that need nothing. */
static void elect_all(struct sk_request *req, int8_t type)
{
    const struct sk_meta_image *img = req->broker->image;
    kp_elect_leaders_response *resp = req->resp;
    resp->replica_election_results.v = sk_request_alloc(req, sizeof(el_topic) * (size_t)(img->ntopics + 1));
    for (int i = 0; i < img->ntopics; i++) {
        const struct sk_topic_meta *t = img->topics[i];
        el_topic *o = &resp->replica_election_results.v[resp->replica_election_results.n];
        kp_elect_leaders_response_replica_election_result_init(o);
        o->topic = kp_str_c(t->name);
        o->partition_result.v = sk_request_alloc(req, sizeof(el_partition) * (size_t)(t->npartitions + 1));
        for (int32_t k = 0; k < t->npartitions; k++) {
            kp_str msg;
            int16_t err = elect_one(req, t, o->topic, k, type, &msg);
            if (err != SK_ERR_ELECTION_NOT_NEEDED)
                add_partition(o, k, err, msg);
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
    if (type != SK_ELECTION_PREFERRED && type != SK_ELECTION_UNCLEAN)
        resp->error_code = SK_ERR_INVALID_REQUEST;
    else if (body->topic_partitions.n < 0)
        elect_all(req, type);
    else
        elect_requested(req, type);
    sk_request_respond(req);
}
