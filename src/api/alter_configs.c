/* AlterConfigs (key 33, v0-v2) and IncrementalAlterConfigs (key 44, v0-v1):
 * both become sk_configs_alter calls; BROKER_LOGGER changes (incremental
 * only) set the log level at once and are not persisted, as in Kafka. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/wire_str.h"

typedef kp_alter_configs_request_alter_configs_resource ac_resource;
typedef kp_incremental_alter_configs_request_alter_configs_resource iac_resource;

typedef kp_alter_configs_response_alter_configs_resource_response ac_result;
typedef kp_incremental_alter_configs_response_alter_configs_resource_response iac_result;

/* What the two APIs differ in: where the i-th resource is read from and its
 * answer written to. The loop over resources is shared. */
struct alter_api {
    int32_t (*prepare)(struct sk_request *req); /* sizes the answer; returns the count */
    void (*key)(const struct sk_request *req, int32_t i, int8_t *type, kp_str *name);
    int16_t (*alter)(struct sk_request *req, int32_t i, char *msg, size_t msglen);
    void (*answer)(struct sk_request *req, int32_t i, int8_t type, kp_str name, int16_t err,
                   kp_str msg);
    /* Before forwarding: a copy of the request body with only the resources
     * keep[] marks (n of them), in the arena; and the answer of the i-th
     * resource taken from the j-th of the controller's answer to it. */
    void *(*select)(struct sk_request *req, const bool *keep, int32_t n, kp_arena *a);
    bool (*take)(struct sk_request *req, int32_t i, const void *resp, int32_t j);
    bool incremental; /* BROKER_LOGGER is known to it */
};

/* Kafka answers every copy of a resource named twice with INVALID_REQUEST. */
static bool repeated(int8_t type, kp_str name, const int8_t *types, const kp_str *names, int32_t n,
                     int32_t self)
{
    for (int32_t j = 0; j < n; j++)
        if (j != self && types[j] == type && kp_str_eq(names[j], name))
            return true;
    return false;
}

/* A resource whose change failed after its handler answered: answered again. */
struct late_answer {
    struct sk_request *req;
    const struct alter_api *api;
    int32_t i;
    int8_t type;
    kp_str name;
};

static void answer_late(void *arg, int16_t err, kp_str msg)
{
    struct late_answer *l = arg;
    l->api->answer(l->req, l->i, l->type, l->name, err, msg);
}

static void alter_each(struct sk_request *req, const struct alter_api *api)
{
    int32_t n = api->prepare(req);
    int8_t *types = sk_request_alloc(req, (size_t)n + 1);
    kp_str *names = sk_request_alloc(req, sizeof *names * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++)
        api->key(req, i, &types[i], &names[i]);
    struct sk_ctl_park *park = sk_admin_park(req);
    for (int32_t i = 0; i < n; i++) {
        char msg[1024] = "";
        struct late_answer *late = sk_request_alloc(req, sizeof *late);
        *late = (struct late_answer){req, api, i, types[i], names[i]};
        sk_ctl_park_on_fail(park, answer_late, late);
        int16_t err = SK_ERR_INVALID_REQUEST;
        if (repeated(types[i], names[i], types, names, n, i))
            snprintf(msg, sizeof msg, "Each resource must appear at most once.");
        else
            err = api->alter(req, i, msg, sizeof msg);
        api->answer(req, i, types[i], names[i], err, sk_admin_msg(req, msg));
    }
    sk_ctl_park_end(park);
}

/* ---- BROKER_LOGGER ------------------------------------------------------- */

static int16_t logger_op(const kp_incremental_alter_configs_request_alterable_config *c,
                         bool validate_only, char *msg, size_t msglen)
{
    const char *ops[] = {"SET", "DELETE", "APPEND", "SUBTRACT"};
    char shown[128]; /* messages are text: names and values escaped, not cut */
    if (!kp_str_eq_c(c->name, "root")) {
        snprintf(msg, msglen, "Logger %s does not exist!",
                 sk_wire_str_escape(c->name, shown, sizeof shown));
        return SK_ERR_INVALID_CONFIG;
    }
    if (c->config_operation == SK_CONFIG_OP_DELETE) {
        snprintf(msg, msglen, "Removing the log level of the root logger is not allowed");
        return SK_ERR_INVALID_REQUEST;
    }
    if (c->config_operation != SK_CONFIG_OP_SET) {
        if (c->config_operation == SK_CONFIG_OP_APPEND || c->config_operation == SK_CONFIG_OP_SUBTRACT)
            snprintf(msg, msglen, "%s operation is not allowed for the BROKER_LOGGER resource",
                     ops[c->config_operation]);
        else
            snprintf(msg, msglen, "Unknown operation type %d is not allowed for the "
                     "BROKER_LOGGER resource", c->config_operation);
        return SK_ERR_INVALID_REQUEST;
    }
    /* The whole value is the level: "INFO\0x" is none. */
    char level[16];
    bool fits = c->value.len > 0 && c->value.len < (int32_t)sizeof level &&
                !memchr(c->value.ptr, 0, (size_t)c->value.len);
    if (fits) {
        memcpy(level, c->value.ptr, (size_t)c->value.len);
        level[c->value.len] = 0;
    }
    int l = fits ? sk_log_level_parse(level) : -1;
    if (l < 0) {
        snprintf(msg, msglen, "Cannot set the log level of root to %s as it is not a supported "
                 "log level. Valid log levels are DEBUG, ERROR, INFO, WARN",
                 sk_wire_str_escape(c->value, shown, sizeof shown));
        return SK_ERR_INVALID_CONFIG;
    }
    if (!validate_only)
        sk_log_set_level((enum sk_log_level)l);
    return SK_ERR_NONE;
}

/* ConfigAdminManager.validateResourceNameIsCurrentNodeId, in its words
 * (DescribeConfigs answers "or empty string"). */
static int16_t own_broker_id(struct sk_request *req, kp_str name, char *msg, size_t msglen)
{
    char node[128];
    int32_t id;
    sk_wire_str_escape(name, node, sizeof node);
    if (sk_wire_str_to_i32(name, &id) < 0) {
        snprintf(msg, msglen, "Node id must be an integer, but it is: %s", node);
        return SK_ERR_INVALID_REQUEST;
    }
    if (id != req->broker->node->node_id) {
        snprintf(msg, msglen, "Unexpected broker id, expected %d, but received %s",
                 req->broker->node->node_id, node);
        return SK_ERR_INVALID_REQUEST;
    }
    return SK_ERR_NONE;
}

static int16_t alter_logger(struct sk_request *req, const iac_resource *r, bool validate_only,
                            char *msg, size_t msglen)
{
    int16_t err = own_broker_id(req, r->resource_name, msg, msglen);
    if (err)
        return err;
    /* Checked whole before anything changes. */
    for (int32_t i = 0; i < r->configs.n; i++) {
        int16_t err = logger_op(&r->configs.v[i], true, msg, msglen);
        if (err)
            return err;
    }
    for (int32_t i = 0; i < r->configs.n && !validate_only; i++)
        logger_op(&r->configs.v[i], false, msg, msglen);
    return SK_ERR_NONE;
}

/* ---- before forwarding (Kafka's ConfigAdminManager.preprocess) ----------- */

/* A node that is not the active controller decides some resources itself,
 * as Kafka's broker does before it forwards the rest: a repeated resource,
 * an unknown type, a BROKER resource naming another broker (a broker
 * changes only its own or the cluster default), and BROKER_LOGGER, this
 * node's own log level, never persisted. false: the controller decides. */
static bool decided_here(struct sk_request *req, const struct alter_api *api, int32_t i,
                         const int8_t *types, const kp_str *names, int32_t n)
{
    char msg[1024] = "";
    int16_t err = SK_ERR_INVALID_REQUEST;
    int8_t type = types[i];
    if (repeated(type, names[i], types, names, n, i))
        snprintf(msg, sizeof msg, "Each resource must appear at most once.");
    else if (type == SK_RESOURCE_BROKER_LOGGER && api->incremental)
        err = api->alter(req, i, msg, sizeof msg);
    else if (type == SK_RESOURCE_TOPIC || (type == SK_RESOURCE_BROKER && names[i].len <= 0))
        return false;
    else if (type != SK_RESOURCE_BROKER)
        snprintf(msg, sizeof msg, "Unknown resource type %d", type);
    else if ((err = own_broker_id(req, names[i], msg, sizeof msg)) == SK_ERR_NONE)
        return false;
    api->answer(req, i, type, names[i], err, sk_admin_msg(req, msg));
    return true;
}

static int32_t preprocess(struct sk_request *req, const struct alter_api *api, bool **keep_out,
                          int32_t *total)
{
    int32_t n = api->prepare(req), kept = 0;
    int8_t *types = sk_request_alloc(req, (size_t)n + 1);
    kp_str *names = sk_request_alloc(req, sizeof *names * (size_t)(n + 1));
    bool *keep = *keep_out = sk_request_alloc(req, sizeof *keep * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++)
        api->key(req, i, &types[i], &names[i]);
    for (int32_t i = 0; i < n; i++)
        kept += keep[i] = !decided_here(req, api, i, types, names, n);
    *total = n;
    return kept;
}

/* name(req, keep, n, a): a copy of req's body (a req_t) in a whose
 * resources are the n that keep[] marks, in their order. */
#define DEFINE_SELECT(name, req_t, res_t, arr_t)                                               \
    static void *name(struct sk_request *req, const bool *keep, int32_t n, kp_arena *a)        \
    {                                                                                          \
        const req_t *body = req->body;                                                         \
        req_t *q = kp_arena_alloc(a, sizeof *q);                                               \
        res_t *v = kp_arena_alloc(a, sizeof *v * (size_t)(n + 1));                             \
        if (!q || !v)                                                                          \
            return NULL;                                                                       \
        *q = *body;                                                                            \
        q->resources = (arr_t){n, v};                                                          \
        for (int32_t i = 0, k = 0; i < body->resources.n; i++)                                 \
            if (keep[i])                                                                       \
                v[k++] = body->resources.v[i];                                                 \
        return q;                                                                              \
    }

/* name(req, i, resp, j): answers req's resource i with the j-th result of
 * resp (a resp_t, the reply to a select()ed copy) through answer; false
 * when resp holds fewer results than were sent. */
#define DEFINE_TAKE(name, resp_t, result_t, answer)                                            \
    static bool name(struct sk_request *req, int32_t i, const void *resp, int32_t j)           \
    {                                                                                          \
        const resp_t *r = resp;                                                                \
        if (j >= r->responses.n)                                                               \
            return false;                                                                      \
        const result_t *got = &r->responses.v[j];                                              \
        answer(req, i, got->resource_type, got->resource_name, got->error_code,                \
               got->error_message);                                                            \
        return true;                                                                           \
    }

/* ---- IncrementalAlterConfigs --------------------------------------------- */

static int16_t incremental_one(struct sk_request *req, const iac_resource *r, bool validate_only,
                               char *msg, size_t msglen)
{
    if (r->resource_type == SK_RESOURCE_BROKER_LOGGER)
        return alter_logger(req, r, validate_only, msg, msglen);
    int32_t n = r->configs.n < 0 ? 0 : r->configs.n;
    struct sk_config_op *ops = sk_request_alloc(req, sizeof *ops * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++)
        ops[i] = (struct sk_config_op){r->configs.v[i].name, r->configs.v[i].config_operation,
                                       r->configs.v[i].value};
    return sk_configs_alter(req->broker, r->resource_type, r->resource_name, ops, n, false,
                            validate_only, req->captured != NULL, msg, msglen);
}

static int32_t incremental_prepare(struct sk_request *req)
{
    const kp_incremental_alter_configs_request *body = req->body;
    kp_incremental_alter_configs_response *resp = req->resp;
    int32_t n = body->resources.n < 0 ? 0 : body->resources.n;
    resp->responses.n = n;
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(n + 1));
    return n;
}

static void incremental_key(const struct sk_request *req, int32_t i, int8_t *type, kp_str *name)
{
    const kp_incremental_alter_configs_request *body = req->body;
    const iac_resource *r = &body->resources.v[i];
    *type = r->resource_type;
    *name = r->resource_name;
}

static int16_t incremental_alter(struct sk_request *req, int32_t i, char *msg, size_t msglen)
{
    const kp_incremental_alter_configs_request *body = req->body;
    return incremental_one(req, &body->resources.v[i], body->validate_only, msg, msglen);
}

static void incremental_answer(struct sk_request *req, int32_t i, int8_t type, kp_str name,
                               int16_t err, kp_str msg)
{
    iac_result *o = &((kp_incremental_alter_configs_response *)req->resp)->responses.v[i];
    kp_incremental_alter_configs_response_alter_configs_resource_response_init(o);
    o->resource_type = type;
    o->resource_name = name;
    o->error_code = err;
    o->error_message = msg;
}

DEFINE_SELECT(incremental_select, kp_incremental_alter_configs_request, iac_resource,
              kp_incremental_alter_configs_request_alter_configs_resource_arr)

DEFINE_TAKE(incremental_take, kp_incremental_alter_configs_response, iac_result,
            incremental_answer)

static const struct alter_api incremental_api = {
    incremental_prepare, incremental_key, incremental_alter, incremental_answer,
    incremental_select, incremental_take, true};

void sk_api_incremental_alter_configs(struct sk_request *req)
{
    alter_each(req, &incremental_api);
}

/* ---- AlterConfigs ---------------------------------------------------------- */

static int16_t legacy_one(struct sk_request *req, const ac_resource *r, bool validate_only,
                          char *msg, size_t msglen)
{
    if (r->resource_type != SK_RESOURCE_TOPIC && r->resource_type != SK_RESOURCE_BROKER) {
        snprintf(msg, msglen, "Unknown resource type %d", r->resource_type);
        return SK_ERR_INVALID_REQUEST;
    }
    int32_t n = r->configs.n < 0 ? 0 : r->configs.n;
    struct sk_config_op *ops = sk_request_alloc(req, sizeof *ops * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++)
        ops[i] = (struct sk_config_op){r->configs.v[i].name, SK_CONFIG_OP_SET,
                                       r->configs.v[i].value};
    return sk_configs_alter(req->broker, r->resource_type, r->resource_name, ops, n, true,
                            validate_only, req->captured != NULL, msg, msglen);
}

static int32_t legacy_prepare(struct sk_request *req)
{
    const kp_alter_configs_request *body = req->body;
    kp_alter_configs_response *resp = req->resp;
    int32_t n = body->resources.n < 0 ? 0 : body->resources.n;
    resp->responses.n = n;
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(n + 1));
    return n;
}

static void legacy_key(const struct sk_request *req, int32_t i, int8_t *type, kp_str *name)
{
    const ac_resource *r = &((const kp_alter_configs_request *)req->body)->resources.v[i];
    *type = r->resource_type;
    *name = r->resource_name;
}

static int16_t legacy_alter(struct sk_request *req, int32_t i, char *msg, size_t msglen)
{
    const kp_alter_configs_request *body = req->body;
    return legacy_one(req, &body->resources.v[i], body->validate_only, msg, msglen);
}

static void legacy_answer(struct sk_request *req, int32_t i, int8_t type, kp_str name,
                          int16_t err, kp_str msg)
{
    ac_result *o = &((kp_alter_configs_response *)req->resp)->responses.v[i];
    kp_alter_configs_response_alter_configs_resource_response_init(o);
    o->resource_type = type;
    o->resource_name = name;
    o->error_code = err;
    o->error_message = msg;
}

DEFINE_SELECT(legacy_select, kp_alter_configs_request, ac_resource,
              kp_alter_configs_request_alter_configs_resource_arr)

DEFINE_TAKE(legacy_take, kp_alter_configs_response, ac_result, legacy_answer)

static const struct alter_api legacy_api = {legacy_prepare, legacy_key,    legacy_alter,
                                            legacy_answer,  legacy_select, legacy_take,
                                            false};

void sk_api_alter_configs(struct sk_request *req)
{
    alter_each(req, &legacy_api);
}

static const struct alter_api *api_of(const struct sk_request *req)
{
    return req->api->key == 44 ? &incremental_api : &legacy_api; /* IncrementalAlterConfigs */
}

int32_t sk_alter_configs_preprocess(struct sk_request *req, bool **keep, int32_t *total)
{
    return preprocess(req, api_of(req), keep, total);
}

void *sk_alter_configs_select(struct sk_request *req, const bool *keep, int32_t n, kp_arena *a)
{
    return api_of(req)->select(req, keep, n, a);
}

bool sk_alter_configs_merge(struct sk_request *req, const bool *keep, int32_t total,
                            const void *resp)
{
    const struct alter_api *api = api_of(req);
    for (int32_t i = 0, j = 0; i < total; i++)
        if (keep[i] && !api->take(req, i, resp, j++))
            return false;
    return true;
}

void sk_alter_configs_fail_kept(struct sk_request *req, const bool *keep, int32_t total,
                                int16_t err)
{
    const struct alter_api *api = api_of(req);
    for (int32_t i = 0; i < total; i++) {
        int8_t type;
        kp_str name;
        api->key(req, i, &type, &name);
        if (keep[i])
            api->answer(req, i, type, name, err, KP_STR_NULL);
    }
}
