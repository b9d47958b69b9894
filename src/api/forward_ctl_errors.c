/* The error side of forwarding (skein/forward_ctl.h), per forwarded api:
 * the error response Kafka's AbstractRequest.getErrorResponse builds (every
 * topic or resource of the request with the error), and whether a response
 * carries an error anywhere (AbstractResponse.errorCounts), which the
 * controller checks for NOT_CONTROLLER before it wraps an answer. */
#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"

#define ALLOC_ARR(req, arr, count)                                                             \
    do {                                                                                       \
        (arr).n = (count) > 0 ? (count) : 0;                                                   \
        (arr).v = sk_request_alloc((req), sizeof *(arr).v * (size_t)((arr).n + 1));            \
    } while (0)

static void fail_create_topics(struct sk_request *req, int16_t err)
{
    const kp_create_topics_request *q = req->body;
    kp_create_topics_response *r = req->resp;
    ALLOC_ARR(req, r->topics, q->topics.n);
    for (int32_t i = 0; i < r->topics.n; i++) {
        kp_create_topics_response_creatable_topic_result_init(&r->topics.v[i]);
        r->topics.v[i].name = q->topics.v[i].name;
        r->topics.v[i].error_code = err;
    }
}

static void fail_delete_topics(struct sk_request *req, int16_t err)
{
    const kp_delete_topics_request *q = req->body;
    kp_delete_topics_response *r = req->resp;
    bool by_state = req->version >= 6; /* names or ids in topics[], else topic_names */
    ALLOC_ARR(req, r->responses, by_state ? q->topics.n : q->topic_names.n);
    for (int32_t i = 0; i < r->responses.n; i++) {
        kp_delete_topics_response_deletable_topic_result *t = &r->responses.v[i];
        kp_delete_topics_response_deletable_topic_result_init(t);
        t->name = by_state ? q->topics.v[i].name : q->topic_names.v[i];
        if (by_state)
            t->topic_id = q->topics.v[i].topic_id;
        t->error_code = err;
    }
}

static void fail_create_partitions(struct sk_request *req, int16_t err)
{
    const kp_create_partitions_request *q = req->body;
    kp_create_partitions_response *r = req->resp;
    ALLOC_ARR(req, r->results, q->topics.n);
    for (int32_t i = 0; i < r->results.n; i++) {
        kp_create_partitions_response_create_partitions_topic_result_init(&r->results.v[i]);
        r->results.v[i].name = q->topics.v[i].name;
        r->results.v[i].error_code = err;
    }
}

/* Kafka's ElectLeadersRequest.getErrorResponse: the error at the top (v1+)
 * and on every partition asked for. */
static void fail_elect_leaders(struct sk_request *req, int16_t err)
{
    const kp_elect_leaders_request *q = req->body;
    kp_elect_leaders_response *r = req->resp;
    r->error_code = err;
    ALLOC_ARR(req, r->replica_election_results, q->topic_partitions.n);
    for (int32_t i = 0; i < r->replica_election_results.n; i++) {
        kp_elect_leaders_response_replica_election_result *t = &r->replica_election_results.v[i];
        const kp_elect_leaders_request_topic_partitions *tp = &q->topic_partitions.v[i];
        kp_elect_leaders_response_replica_election_result_init(t);
        t->topic = tp->topic;
        ALLOC_ARR(req, t->partition_result, tp->partitions.n);
        for (int32_t k = 0; k < t->partition_result.n; k++) {
            kp_elect_leaders_response_partition_result_init(&t->partition_result.v[k]);
            t->partition_result.v[k].partition_id = tp->partitions.v[k];
            t->partition_result.v[k].error_code = err;
        }
    }
}

/* Kafka's AlterPartitionReassignmentsRequest.getErrorResponse: the error
 * at the top and on every partition asked for. */
static void fail_reassignments(struct sk_request *req, int16_t err)
{
    const kp_alter_partition_reassignments_request *q = req->body;
    kp_alter_partition_reassignments_response *r = req->resp;
    r->error_code = err;
    ALLOC_ARR(req, r->responses, q->topics.n);
    for (int32_t i = 0; i < r->responses.n; i++) {
        kp_alter_partition_reassignments_response_reassignable_topic_response *t =
            &r->responses.v[i];
        kp_alter_partition_reassignments_response_reassignable_topic_response_init(t);
        t->name = q->topics.v[i].name;
        ALLOC_ARR(req, t->partitions, q->topics.v[i].partitions.n);
        for (int32_t k = 0; k < t->partitions.n; k++) {
            kp_alter_partition_reassignments_response_reassignable_partition_response_init(
                &t->partitions.v[k]);
            t->partitions.v[k].partition_index = q->topics.v[i].partitions.v[k].partition_index;
            t->partitions.v[k].error_code = err;
        }
    }
}

static void fail_alter_configs(struct sk_request *req, int16_t err)
{
    const kp_alter_configs_request *q = req->body;
    kp_alter_configs_response *r = req->resp;
    ALLOC_ARR(req, r->responses, q->resources.n);
    for (int32_t i = 0; i < r->responses.n; i++) {
        kp_alter_configs_response_alter_configs_resource_response_init(&r->responses.v[i]);
        r->responses.v[i].resource_type = q->resources.v[i].resource_type;
        r->responses.v[i].resource_name = q->resources.v[i].resource_name;
        r->responses.v[i].error_code = err;
    }
}

static void fail_incremental_alter_configs(struct sk_request *req, int16_t err)
{
    const kp_incremental_alter_configs_request *q = req->body;
    kp_incremental_alter_configs_response *r = req->resp;
    ALLOC_ARR(req, r->responses, q->resources.n);
    for (int32_t i = 0; i < r->responses.n; i++) {
        kp_incremental_alter_configs_response_alter_configs_resource_response_init(
            &r->responses.v[i]);
        r->responses.v[i].resource_type = q->resources.v[i].resource_type;
        r->responses.v[i].resource_name = q->resources.v[i].resource_name;
        r->responses.v[i].error_code = err;
    }
}

/* Kafka's AlterClientQuotasRequest.getErrorResponse: every entry, its
 * entity as asked, with the error. */
static void fail_alter_client_quotas(struct sk_request *req, int16_t err)
{
    const kp_alter_client_quotas_request *q = req->body;
    kp_alter_client_quotas_response *r = req->resp;
    ALLOC_ARR(req, r->entries, q->entries.n);
    for (int32_t i = 0; i < r->entries.n; i++) {
        const kp_alter_client_quotas_request_entry_data *e = &q->entries.v[i];
        kp_alter_client_quotas_response_entry_data *o = &r->entries.v[i];
        kp_alter_client_quotas_response_entry_data_init(o);
        o->error_code = err;
        ALLOC_ARR(req, o->entity, e->entity.n);
        for (int32_t k = 0; k < o->entity.n; k++) {
            kp_alter_client_quotas_response_entity_data_init(&o->entity.v[k]);
            o->entity.v[k].entity_type = e->entity.v[k].entity_type;
            o->entity.v[k].entity_name = e->entity.v[k].entity_name;
        }
    }
}

void sk_forward_ctl_fail(struct sk_request *req, int16_t err)
{
    switch (req->api->key) {
    case 19: fail_create_topics(req, err); break;
    case 20: fail_delete_topics(req, err); break;
    case 33: fail_alter_configs(req, err); break;
    case 37: fail_create_partitions(req, err); break;
    case 43: fail_elect_leaders(req, err); break;
    case 44: fail_incremental_alter_configs(req, err); break;
    case 45: fail_reassignments(req, err); break;
    case 49: fail_alter_client_quotas(req, err); break;
    case 57: ((kp_update_features_response *)req->resp)->error_code = err; break;
    case 80: ((kp_add_raft_voter_response *)req->resp)->error_code = err; break;
    case 81: ((kp_remove_raft_voter_response *)req->resp)->error_code = err; break;
    }
    sk_request_respond(req);
}

/* any_<name>(arr, err): whether an element of arr has error_code err. */
#define DEFINE_ANY(name, arr_type)                                                             \
    static bool any_##name(arr_type a, int16_t err)                                            \
    {                                                                                          \
        for (int32_t i = 0; i < a.n; i++)                                                      \
            if (a.v[i].error_code == err)                                                      \
                return true;                                                                   \
        return false;                                                                          \
    }
DEFINE_ANY(created, kp_create_topics_response_creatable_topic_result_arr)
DEFINE_ANY(deleted, kp_delete_topics_response_deletable_topic_result_arr)
DEFINE_ANY(altered, kp_alter_configs_response_alter_configs_resource_response_arr)
DEFINE_ANY(added, kp_create_partitions_response_create_partitions_topic_result_arr)
DEFINE_ANY(incremented, kp_incremental_alter_configs_response_alter_configs_resource_response_arr)
DEFINE_ANY(features, kp_update_features_response_updatable_feature_result_arr)
DEFINE_ANY(elected, kp_elect_leaders_response_partition_result_arr)
DEFINE_ANY(quotas_altered, kp_alter_client_quotas_response_entry_data_arr)
DEFINE_ANY(reassigned,
           kp_alter_partition_reassignments_response_reassignable_partition_response_arr)

static bool any_reassignment(const kp_alter_partition_reassignments_response *r, int16_t err)
{
    for (int32_t i = 0; i < r->responses.n; i++)
        if (any_reassigned(r->responses.v[i].partitions, err))
            return true;
    return r->error_code == err;
}

static bool any_election(const kp_elect_leaders_response *r, int16_t err)
{
    for (int32_t i = 0; i < r->replica_election_results.n; i++)
        if (any_elected(r->replica_election_results.v[i].partition_result, err))
            return true;
    return r->error_code == err;
}

bool sk_forward_ctl_has_error(int16_t api_key, const void *resp, int16_t err)
{
    switch (api_key) {
    case 19: return any_created(((const kp_create_topics_response *)resp)->topics, err);
    case 20: return any_deleted(((const kp_delete_topics_response *)resp)->responses, err);
    case 33: return any_altered(((const kp_alter_configs_response *)resp)->responses, err);
    case 37: return any_added(((const kp_create_partitions_response *)resp)->results, err);
    case 43: return any_election(resp, err);
    case 45: return any_reassignment(resp, err);
    case 49:
        return any_quotas_altered(((const kp_alter_client_quotas_response *)resp)->entries, err);
    case 44:
        return any_incremented(((const kp_incremental_alter_configs_response *)resp)->responses,
                               err);
    case 57: {
        const kp_update_features_response *r = resp;
        return r->error_code == err || any_features(r->results, err);
    }
    case 80: return ((const kp_add_raft_voter_response *)resp)->error_code == err;
    case 81: return ((const kp_remove_raft_voter_response *)resp)->error_code == err;
    }
    return false;
}
