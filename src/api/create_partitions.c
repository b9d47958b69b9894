/* CreatePartitions (key 37), v0-v3. */
#include "admin.h"
#include "gen/kp_all.h"
#include "skein/admission.h"
#include "skein/api.h"
#include "skein/broker.h"
#include "skein/controller.h"
#include "skein/errors.h"

typedef kp_create_partitions_request_create_partitions_topic cp_topic;

static bool duplicated(const kp_create_partitions_request *body, int32_t i, bool *first)
{
    bool dup = false;
    *first = true;
    for (int32_t j = 0; j < body->topics.n; j++) {
        if (j != i && kp_str_eq(body->topics.v[j].name, body->topics.v[i].name)) {
            dup = true;
            *first = *first && j > i;
        }
    }
    return dup;
}

static int32_t partitions_of(struct sk_request *req, kp_str name)
{
    const struct sk_meta_image *img = sk_controller_image(req->broker);
    const struct sk_topic_meta *t =
        sk_meta_topic(img, name.ptr, (size_t)(name.len > 0 ? name.len : 0));
    return t ? t->npartitions : 0;
}

static int16_t grow(struct sk_request *req, const cp_topic *t, bool validate_only, char *msg,
                    size_t msglen)
{
    int32_t na = t->assignments.n;
    kp_arr_i32 *lists = sk_request_alloc(req, sizeof *lists * (size_t)(na > 0 ? na : 1));
    for (int32_t i = 0; i < na; i++)
        lists[i] = t->assignments.v[i].broker_ids;
    return sk_partitions_add(req->broker, t->name, t->count, lists, na, validate_only, msg,
                             msglen);
}

/* PartitionRecords the request would write: one per partition added. */
static int64_t records_of(struct sk_request *req, const kp_create_partitions_request *body)
{
    int64_t n = 0;
    bool first;
    for (int32_t i = 0; i < body->topics.n; i++) {
        const cp_topic *t = &body->topics.v[i];
        const struct sk_topic_meta *tm =
            sk_meta_topic(sk_controller_image(req->broker), t->name.ptr,
                          (size_t)(t->name.len > 0 ? t->name.len : 0));
        if (tm && !duplicated(body, i, &first) && t->count > tm->npartitions)
            n += t->count - tm->npartitions;
    }
    return n;
}

/* As CreateTopics: past Kafka's per-operation bound every topic is refused. */
static bool refuse_oversized(struct sk_request *req, const kp_create_partitions_request *body)
{
    char msg[128];
    int16_t err = sk_admit_records(records_of(req, body), msg, sizeof msg);
    if (!err)
        return false;
    kp_create_partitions_response *resp = req->resp;
    for (int32_t i = 0; i < body->topics.n; i++) {
        bool first;
        if (duplicated(body, i, &first) && !first)
            continue;
        kp_create_partitions_response_create_partitions_topic_result *o =
            &resp->results.v[resp->results.n++];
        kp_create_partitions_response_create_partitions_topic_result_init(o);
        o->name = body->topics.v[i].name;
        o->error_code = err;
        o->error_message = sk_admin_msg(req, msg);
    }
    return true;
}

void sk_api_create_partitions(struct sk_request *req)
{
    const kp_create_partitions_request *body = req->body;
    kp_create_partitions_response *resp = req->resp;
    int32_t n = body->topics.n < 0 ? 0 : body->topics.n;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
    if (refuse_oversized(req, body)) {
        sk_request_respond(req);
        return;
    }
    struct sk_ctl_park *park = sk_admin_park(req);
    for (int32_t i = 0; i < n; i++) {
        const cp_topic *t = &body->topics.v[i];
        bool first;
        bool dup = duplicated(body, i, &first);
        if (dup && !first)
            continue;
        kp_create_partitions_response_create_partitions_topic_result *o =
            &resp->results.v[resp->results.n++];
        kp_create_partitions_response_create_partitions_topic_result_init(o);
        o->name = t->name;
        char msg[512] = "";
        if (dup) {
            o->error_code = SK_ERR_INVALID_REQUEST;
            o->error_message = kp_str_c("Duplicate topic name.");
            continue;
        }
        /* KIP-599: refused over controller_mutation_rate from v3, throttled before. */
        if (!body->validate_only && !sk_request_mutation(req, 0, req->version >= 3)) {
            o->error_code = SK_ERR_THROTTLING_QUOTA_EXCEEDED;
            o->error_message = kp_str_c(SK_THROTTLED_MSG);
            continue;
        }
        int32_t before = partitions_of(req, t->name);
        sk_ctl_park_slot(park, &o->error_code, &o->error_message);
        o->error_code = grow(req, t, body->validate_only, msg, sizeof msg);
        o->error_message = sk_admin_msg(req, msg);
        if (o->error_code == SK_ERR_NONE && !body->validate_only)
            sk_request_mutation(req, t->count - before, false);
    }
    resp->throttle_time_ms = req->throttle_ms;
    sk_ctl_park_end(park);
}
