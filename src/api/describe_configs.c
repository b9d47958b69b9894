/* DescribeConfigs (key 32), v0-v4, for TOPIC, BROKER and BROKER_LOGGER
 * resources (Kafka's ConfigHelper.describeConfigs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/wire_str.h"

typedef kp_describe_configs_request_describe_configs_resource dc_resource;
typedef kp_describe_configs_response_describe_configs_result dc_result;
typedef kp_describe_configs_response_describe_configs_resource_result dc_entry;
typedef kp_describe_configs_response_describe_configs_synonym dc_synonym;

#define SK_SOURCE_DYNAMIC_BROKER_LOGGER 6
#define SK_MAX_SYNONYMS 16

/* What a resource describes with: its overrides (topics) or scope (brokers). */
struct subject {
    int8_t type;
    bool cluster_default;
    struct sk_config_entry *overrides;
    size_t noverrides;
    const struct sk_kvlist *topic_configs; /* the overrides' bytes (TOPIC only) */
};

/* A topic override is shown as its bytes: it may hold a zero byte that the
 * text in v->value stops at (see sk_config_from_wire). */
static kp_str value_of(struct sk_request *req, const struct subject *s,
                       const struct sk_config_value *v)
{
    if (s->topic_configs && v->source == SK_CONFIG_SOURCE_TOPIC && v->value)
        return sk_request_keep(req, sk_kvlist_bytes(s->topic_configs, v->name));
    return sk_request_strdup(req, v->value);
}

static bool wanted(const dc_resource *r, const char *name)
{
    if (r->configuration_keys.n <= 0)
        return true; /* null or empty: every key */
    for (int32_t i = 0; i < r->configuration_keys.n; i++)
        if (kp_str_eq_c(r->configuration_keys.v[i], name))
            return true;
    return false;
}

static size_t synonyms_of(struct sk_request *req, const struct subject *s, const char *name,
                          struct sk_config_value *out)
{
    const struct sk_config *cfg = req->broker->cfg;
    size_t n = s->type == SK_RESOURCE_TOPIC
                   ? sk_config_topic_synonyms(cfg, s->overrides, s->noverrides, name, out,
                                              SK_MAX_SYNONYMS)
                   : sk_config_broker_synonyms(cfg, name, out, SK_MAX_SYNONYMS);
    n = n > SK_MAX_SYNONYMS ? SK_MAX_SYNONYMS : n;
    if (!s->cluster_default)
        return n;
    /* The cluster default resource only shows what the default layer holds. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i].source == SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER)
            out[k++] = out[i];
    return k;
}

static void fill_synonyms(struct sk_request *req, const struct subject *s, dc_entry *e,
                          const struct sk_config_value *syn, size_t n)
{
    e->synonyms.v = sk_request_alloc(req, sizeof *e->synonyms.v * (n + 1));
    e->synonyms.n = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        kp_describe_configs_response_describe_configs_synonym_init(&e->synonyms.v[i]);
        e->synonyms.v[i].name = kp_str_c(syn[i].name);
        e->synonyms.v[i].value = value_of(req, s, &syn[i]);
        e->synonyms.v[i].source = (int8_t)syn[i].source;
    }
}

static void fill_entry(struct sk_request *req, const struct subject *s, dc_entry *e,
                       const struct sk_config_value *v)
{
    const kp_describe_configs_request *body = req->body;
    kp_describe_configs_response_describe_configs_resource_result_init(e);
    e->name = kp_str_c(v->name);
    e->value = value_of(req, s, v);
    e->read_only = v->read_only;
    e->is_sensitive = v->sensitive;
    e->config_source = (int8_t)v->source;
    e->config_type = (int8_t)v->def->type;
    e->documentation = body->include_documentation ? kp_str_c(v->def->doc) : KP_STR_NULL;
    struct sk_config_value syn[SK_MAX_SYNONYMS];
    size_t n = synonyms_of(req, s, v->name, syn);
    if (n > 0)
        e->config_source = (int8_t)syn[0].source;
    /* v0 has is_default where later versions have config_source. */
    e->is_default = req->version == 0 && e->config_source == SK_CONFIG_SOURCE_DEFAULT;
    if (req->version >= 1 && body->include_synonyms)
        fill_synonyms(req, s, e, syn, n);
}

static int describe_key(struct sk_request *req, const struct subject *s, const char *name,
                        struct sk_config_value *v)
{
    const struct sk_config *cfg = req->broker->cfg;
    if (s->type == SK_RESOURCE_TOPIC)
        return sk_config_describe_topic(cfg, s->overrides, s->noverrides, name, v);
    if (sk_config_describe_broker(cfg, name, v) != 0)
        return -1;
    if (s->cluster_default) {
        v->value = v->sensitive ? NULL : sk_config_list_get(&cfg->dynamic_default, name);
        v->source = SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER;
    }
    return 0;
}

static bool set_dynamically(const struct sk_config *cfg, const char *name, bool default_only)
{
    return sk_config_list_get(&cfg->dynamic_default, name) ||
           (!default_only && sk_config_list_get(&cfg->dynamic_broker, name));
}

static void add_key(struct sk_request *req, const dc_resource *r, const struct subject *s,
                    dc_result *o, const char *name)
{
    struct sk_config_value v;
    if (!wanted(r, name))
        return;
    memset(&v, 0, sizeof v);
    if (describe_key(req, s, name, &v) == 0)
        fill_entry(req, s, &o->configs.v[o->configs.n++], &v);
}

/* Keys Kafka does not define that a broker layer holds, each once (Kafka
 * lists a broker's originals, whatever their name). */
static void add_custom_keys(struct sk_request *req, const dc_resource *r,
                            const struct subject *s, dc_result *o)
{
    const struct sk_config *cfg = req->broker->cfg;
    const struct sk_config_list *layers[] = {&cfg->dynamic_default, &cfg->dynamic_broker,
                                             &cfg->static_props};
    size_t nlayers = s->cluster_default ? 1 : 3;
    for (size_t l = 0; l < nlayers; l++) {
        for (size_t i = 0; i < layers[l]->n; i++) {
            const char *name = layers[l]->items[i].name;
            bool seen = false;
            for (size_t k = 0; k < l && !seen; k++)
                seen = sk_config_list_get(layers[k], name) != NULL;
            if (!seen && !sk_broker_config_find(name))
                add_key(req, r, s, o, name);
        }
    }
}

static void fill_keys(struct sk_request *req, const dc_resource *r, const struct subject *s,
                      dc_result *o)
{
    const struct sk_config *cfg = req->broker->cfg;
    size_t ndefs;
    const struct sk_config_def *defs = s->type == SK_RESOURCE_TOPIC ? sk_topic_config_defs(&ndefs)
                                                                   : sk_broker_config_defs(&ndefs);
    size_t room = ndefs;
    if (s->type == SK_RESOURCE_BROKER)
        room += cfg->dynamic_default.n + cfg->dynamic_broker.n + cfg->static_props.n;
    o->configs.v = sk_request_alloc(req, sizeof *o->configs.v * (room + 1));
    for (size_t i = 0; i < ndefs; i++) {
        const char *name = defs[i].name;
        if (s->cluster_default && !sk_config_list_get(&cfg->dynamic_default, name))
            continue;
        /* Kafka's dynamic-only throttles are no KafkaConfig key: shown once set. */
        if ((defs[i].flags & SK_CONFIG_F_DYNAMIC_ONLY) &&
            !set_dynamically(cfg, name, s->cluster_default))
            continue;
        add_key(req, r, s, o, name);
    }
    if (s->type == SK_RESOURCE_BROKER)
        add_custom_keys(req, r, s, o);
}

static void fail(struct sk_request *req, dc_result *o, int16_t err, const char *msg)
{
    o->error_code = err;
    o->error_message = sk_admin_msg(req, msg);
}

static void describe_topic(struct sk_request *req, const dc_resource *r, dc_result *o)
{
    char msg[512];
    sk_topic_name_problem(r->resource_name, msg, sizeof msg);
    if (msg[0]) {
        fail(req, o, SK_ERR_INVALID_TOPIC_EXCEPTION, msg);
        return;
    }
    const struct sk_topic_meta *t = sk_meta_topic(req->broker->image, r->resource_name.ptr,
                                                  (size_t)r->resource_name.len);
    if (!t) {
        o->error_code = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    struct subject s = {.type = SK_RESOURCE_TOPIC, .noverrides = (size_t)t->configs.n,
                        .topic_configs = &t->configs};
    s.overrides = sk_request_alloc(req, sizeof *s.overrides * (s.noverrides + 1));
    for (size_t i = 0; i < s.noverrides; i++)
        s.overrides[i] = (struct sk_config_entry){t->configs.v[i].key, t->configs.v[i].value};
    fill_keys(req, r, &s, o);
}

/* "" is the cluster default; anything else must be this node's id. */
static int check_node(struct sk_request *req, const dc_resource *r, dc_result *o, bool logger)
{
    char msg[256], name[128];
    int32_t id;
    sk_wire_str_escape(r->resource_name, name, sizeof name);
    if (sk_wire_str_to_i32(r->resource_name, &id) < 0) {
        snprintf(msg, sizeof msg, r->resource_name.len > 0
                                      ? "Broker id must be an integer, but it is: %s"
                                      : "Broker id must not be empty", name);
    } else if (id != req->broker->node->node_id) {
        snprintf(msg, sizeof msg, logger ? "Unexpected broker id, expected %d but received %s"
                                         : "Unexpected broker id, expected %d or empty string, "
                                           "but received %s",
                 req->broker->node->node_id, name);
    } else {
        return 0;
    }
    fail(req, o, SK_ERR_INVALID_REQUEST, msg);
    return -1;
}

static void describe_broker(struct sk_request *req, const dc_resource *r, dc_result *o)
{
    struct subject s = {.type = SK_RESOURCE_BROKER, .cluster_default = r->resource_name.len <= 0};
    if (!s.cluster_default && check_node(req, r, o, false) < 0)
        return;
    fill_keys(req, r, &s, o);
}

static const char *level_name(enum sk_log_level l)
{
    switch (l) {
    case SK_LOG_DEBUG: return "DEBUG";
    case SK_LOG_INFO: return "INFO";
    case SK_LOG_WARN: return "WARN";
    default: return "ERROR";
    }
}

/* Skein has one logger, Kafka's "root". */
static void describe_logger(struct sk_request *req, const dc_resource *r, dc_result *o)
{
    if (check_node(req, r, o, true) < 0 || !wanted(r, "root"))
        return;
    o->configs.n = 1;
    o->configs.v = sk_request_alloc(req, sizeof *o->configs.v);
    dc_entry *e = &o->configs.v[0];
    kp_describe_configs_response_describe_configs_resource_result_init(e);
    e->name = kp_str_c("root");
    e->value = kp_str_c(level_name(sk_log_get_level()));
    e->config_source = SK_SOURCE_DYNAMIC_BROKER_LOGGER;
    e->config_type = SK_CONFIG_STRING;
    e->documentation = KP_STR_NULL;
}

void sk_api_describe_configs(struct sk_request *req)
{
    const kp_describe_configs_request *body = req->body;
    kp_describe_configs_response *resp = req->resp;
    int32_t n = body->resources.n < 0 ? 0 : body->resources.n;
    resp->results.n = n;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        const dc_resource *r = &body->resources.v[i];
        dc_result *o = &resp->results.v[i];
        kp_describe_configs_response_describe_configs_result_init(o);
        o->resource_type = r->resource_type;
        o->resource_name = r->resource_name;
        o->error_message = KP_STR_NULL;
        char msg[64];
        switch (r->resource_type) {
        case SK_RESOURCE_TOPIC: describe_topic(req, r, o); break;
        case SK_RESOURCE_BROKER: describe_broker(req, r, o); break;
        case SK_RESOURCE_BROKER_LOGGER: describe_logger(req, r, o); break;
        default:
            snprintf(msg, sizeof msg, "Unsupported resource type: %d", r->resource_type);
            fail(req, o, SK_ERR_INVALID_REQUEST, msg);
        }
    }
    sk_request_respond(req);
}
