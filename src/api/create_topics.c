/* CreateTopics (key 19), v0-v7. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/admission.h"
#include "skein/api.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

typedef kp_create_topics_request_creatable_topic ct_topic;
typedef kp_create_topics_response_creatable_topic_result ct_result;
typedef kp_create_topics_response_creatable_topic_configs ct_config;

static int cmp_def_name(const void *a, const void *b)
{
    return strcmp((*(const struct sk_config_def *const *)a)->name,
                  (*(const struct sk_config_def *const *)b)->name);
}

/* v5+: the topic's effective configs, sorted by name as Kafka lists them. */
static void fill_configs(struct sk_request *req, ct_result *o, const ct_topic *t)
{
    size_t ndefs;
    const struct sk_config_def *defs = sk_topic_config_defs(&ndefs);
    const struct sk_config_def **sorted = sk_request_alloc(req, sizeof *sorted * (ndefs + 1));
    for (size_t i = 0; i < ndefs; i++)
        sorted[i] = &defs[i];
    qsort(sorted, ndefs, sizeof *sorted, cmp_def_name);
    struct sk_config_entry *ov = sk_request_alloc(req, sizeof *ov * (size_t)(t->configs.n + 1));
    kp_str *bytes = sk_request_alloc(req, sizeof *bytes * (size_t)(t->configs.n + 1));
    size_t nov = 0;
    for (int32_t i = 0; i < t->configs.n; i++) {
        /* As the controller stored them (the creation succeeded). */
        kp_str name, value;
        char msg[8];
        if (sk_config_from_wire(SK_RESOURCE_TOPIC, t->configs.v[i].name, t->configs.v[i].value,
                                &name, &value, msg, sizeof msg) != 0)
            continue;
        bytes[nov] = sk_request_keep(req, value);
        ov[nov] = (struct sk_config_entry){sk_admin_cstr(req, name), bytes[nov].ptr};
        nov++;
        sk_wire_str_free(&name);
        sk_wire_str_free(&value);
    }
    o->configs.v = sk_request_alloc(req, sizeof *o->configs.v * (ndefs + 1));
    for (size_t i = 0; i < ndefs; i++) {
        struct sk_config_value cv;
        if (sk_config_describe_topic(req->broker->cfg, ov, nov, sorted[i]->name,
                                     &cv) != 0)
            continue;
        ct_config *c = &o->configs.v[o->configs.n++];
        kp_create_topics_response_creatable_topic_configs_init(c);
        c->name = kp_str_c(sorted[i]->name);
        c->value = sk_request_strdup(req, cv.value);
        /* An override is shown as its bytes, which may hold a zero byte. */
        for (size_t k = 0; k < nov && cv.source == SK_CONFIG_SOURCE_TOPIC; k++)
            if (strcmp(ov[k].name, sorted[i]->name) == 0)
                c->value = bytes[k];
        c->read_only = cv.read_only;
        c->config_source = (int8_t)cv.source;
        c->is_sensitive = cv.sensitive;
    }
}

static struct sk_topic_spec spec_of(struct sk_request *req, const ct_topic *t)
{
    struct sk_topic_spec s = {.name = t->name, .partitions = t->num_partitions,
                              .replication_factor = t->replication_factor};
    int32_t nc = t->configs.n < 0 ? 0 : t->configs.n;
    kp_str *names = sk_request_alloc(req, sizeof *names * (size_t)(nc + 1));
    kp_str *values = sk_request_alloc(req, sizeof *values * (size_t)(nc + 1));
    for (int32_t i = 0; i < nc; i++) {
        names[i] = t->configs.v[i].name;
        values[i] = t->configs.v[i].value;
    }
    int32_t na = t->assignments.n < 0 ? 0 : t->assignments.n;
    struct sk_replica_assignment *as = sk_request_alloc(req, sizeof *as * (size_t)(na + 1));
    for (int32_t i = 0; i < na; i++)
        as[i] = (struct sk_replica_assignment){t->assignments.v[i].partition_index,
                                               t->assignments.v[i].broker_ids};
    s.config_names = names;
    s.config_values = values;
    s.nconfigs = nc;
    s.assignments = as;
    s.nassignments = na;
    return s;
}

static bool duplicated(const kp_create_topics_request *body, int32_t i)
{
    for (int32_t j = 0; j < body->topics.n; j++)
        if (j != i && kp_str_eq(body->topics.v[j].name, body->topics.v[i].name))
            return true;
    return false;
}

static bool reported_before(const kp_create_topics_request *body, int32_t i)
{
    for (int32_t j = 0; j < i; j++)
        if (kp_str_eq(body->topics.v[j].name, body->topics.v[i].name))
            return true;
    return false;
}

/* KIP-599: from v6 a client over its controller_mutation_rate is refused;
 * older ones are only throttled. Partitions made are the permits. */
static bool mutation_allowed(struct sk_request *req, bool validate_only, ct_result *o)
{
    if (validate_only || sk_request_mutation(req, 0, req->version >= 6))
        return true;
    o->error_code = SK_ERR_THROTTLING_QUOTA_EXCEEDED;
    o->error_message = kp_str_c(SK_THROTTLED_MSG);
    return false;
}

static void create_one(struct sk_request *req, const ct_topic *t, bool validate_only, ct_result *o)
{
    char msg[512];
    struct sk_topic_spec spec = spec_of(req, t);
    struct sk_topic_created made;
    if (!mutation_allowed(req, validate_only, o))
        return;
    o->error_code = sk_topic_create_ex(req->broker, &spec, validate_only, &made, msg, sizeof msg);
    o->error_message = sk_admin_msg(req, msg);
    if (o->error_code != SK_ERR_NONE)
        return;
    if (!validate_only)
        sk_request_mutation(req, made.partitions, false);
    if (!validate_only)
        o->topic_id = made.id;
    o->num_partitions = made.partitions;
    o->replication_factor = made.replication_factor;
    if (req->version >= 5)
        fill_configs(req, o, t);
}

/* Records the topics that can be created would write: their TopicRecords,
 * PartitionRecords and ConfigRecords. */
static int64_t records_of(struct sk_request *req, const kp_create_topics_request *body)
{
    const struct sk_meta_image *img = sk_controller_image(req->broker);
    int64_t n = 0;
    for (int32_t i = 0; i < body->topics.n; i++) {
        const ct_topic *t = &body->topics.v[i];
        if (duplicated(body, i) || !sk_topic_name_valid(t->name) ||
            sk_meta_topic(img, t->name.ptr, (size_t)t->name.len))
            continue;
        int64_t parts = t->assignments.n > 0 ? t->assignments.n : t->num_partitions;
        if (parts == -1)
            parts = req->broker->cfg->log.num_partitions;
        if (parts > 0)
            n += 1 + parts + (t->configs.n > 0 ? t->configs.n : 0);
    }
    return n;
}

/* Kafka's controller collects a request's records in one bounded list: past
 * the bound the whole request fails, every topic with the same error, and
 * nothing is created. */
static bool refuse_oversized(struct sk_request *req, const kp_create_topics_request *body)
{
    char msg[128];
    int16_t err = sk_admit_records(records_of(req, body), msg, sizeof msg);
    if (!err)
        return false;
    kp_create_topics_response *resp = req->resp;
    for (int32_t i = 0; i < body->topics.n; i++) {
        if (reported_before(body, i))
            continue;
        ct_result *o = &resp->topics.v[resp->topics.n++];
        kp_create_topics_response_creatable_topic_result_init(o);
        o->name = body->topics.v[i].name;
        o->error_code = err;
        o->error_message = sk_admin_msg(req, msg);
    }
    return true;
}

void sk_api_create_topics(struct sk_request *req)
{
    const kp_create_topics_request *body = req->body;
    kp_create_topics_response *resp = req->resp;
    int32_t n = body->topics.n < 0 ? 0 : body->topics.n;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(n + 1));
    if (refuse_oversized(req, body)) {
        sk_request_respond(req);
        return;
    }
    /* Every topic's creation is its own commit, all in flight together. */
    struct sk_ctl_park *park = sk_admin_park(req);
    /* A name given twice gets one INVALID_REQUEST answer and is not created. */
    for (int32_t i = 0; i < n; i++) {
        const ct_topic *t = &body->topics.v[i];
        if (reported_before(body, i))
            continue;
        ct_result *o = &resp->topics.v[resp->topics.n++];
        kp_create_topics_response_creatable_topic_result_init(o);
        o->name = t->name;
        if (duplicated(body, i)) {
            o->error_code = SK_ERR_INVALID_REQUEST;
            o->error_message = kp_str_c("Duplicate topic name.");
            continue;
        }
        sk_ctl_park_slot(park, &o->error_code, &o->error_message);
        create_one(req, t, body->validate_only, o);
    }
    resp->throttle_time_ms = req->throttle_ms;
    sk_ctl_park_end(park);
}
