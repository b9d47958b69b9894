/* DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), v0-v1.
 * The image keeps each entity as its parts (type, name; a null name for the
 * default entity), in record order. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"

#define SK_MATCH_EXACT 0
#define SK_MATCH_DEFAULT 1
#define SK_MATCH_SPECIFIED 2
#define SK_MAX_ENTITY_PARTS 3

typedef kp_describe_client_quotas_response_entity_data dq_entity;

/* The entity's parts as the response shows them (bytes with a length). */
static int entity_of(struct sk_request *req, const struct sk_quota_entry *q, dq_entity *out)
{
    for (int i = 0; i < q->nparts; i++) {
        kp_describe_client_quotas_response_entity_data_init(&out[i]);
        out[i].entity_type = sk_request_keep(req, q->parts[i].type);
        out[i].entity_name = sk_request_keep(req, q->parts[i].name);
    }
    return q->nparts;
}

static bool component_matches(const kp_describe_client_quotas_request_component_data *c,
                              const dq_entity *parts, int n)
{
    for (int i = 0; i < n; i++) {
        if (!kp_str_eq(parts[i].entity_type, c->entity_type))
            continue;
        if (c->match_type == SK_MATCH_EXACT)
            return kp_str_eq(parts[i].entity_name, c->match);
        if (c->match_type == SK_MATCH_DEFAULT)
            return parts[i].entity_name.len < 0;
        return parts[i].entity_name.len >= 0;
    }
    return false;
}

static bool entry_matches(const kp_describe_client_quotas_request *body, const dq_entity *parts,
                          int n)
{
    for (int32_t i = 0; i < body->components.n; i++)
        if (!component_matches(&body->components.v[i], parts, n))
            return false;
    return !body->strict || n == body->components.n;
}

static int16_t check_filter(const kp_describe_client_quotas_request *body, const char **msg)
{
    for (int32_t i = 0; i < body->components.n; i++) {
        const kp_describe_client_quotas_request_component_data *c = &body->components.v[i];
        for (int32_t j = 0; j < i; j++)
            if (kp_str_eq(c->entity_type, body->components.v[j].entity_type)) {
                *msg = "Duplicate entity type in filter";
                return SK_ERR_INVALID_REQUEST;
            }
        if (c->match_type < SK_MATCH_EXACT || c->match_type > SK_MATCH_SPECIFIED ||
            (c->match_type == SK_MATCH_EXACT && c->match.len < 0)) {
            *msg = "Invalid match type or missing match string";
            return SK_ERR_INVALID_REQUEST;
        }
    }
    return SK_ERR_NONE;
}

static void fill_entry(struct sk_request *req, kp_describe_client_quotas_response_entry_data *o,
                       dq_entity *parts, int n, const struct sk_quota_entry *q)
{
    kp_describe_client_quotas_response_entry_data_init(o);
    o->entity = (kp_describe_client_quotas_response_entity_data_arr){n, parts};
    o->values.n = q->values.n;
    o->values.v = sk_request_alloc(req, sizeof *o->values.v * (size_t)(q->values.n + 1));
    for (int k = 0; k < q->values.n; k++) {
        kp_describe_client_quotas_response_value_data_init(&o->values.v[k]);
        o->values.v[k].key = sk_request_strdup(req, q->values.v[k].key);
        o->values.v[k].value = strtod(q->values.v[k].value, NULL);
    }
}

void sk_api_describe_client_quotas(struct sk_request *req)
{
    const kp_describe_client_quotas_request *body = req->body;
    kp_describe_client_quotas_response *resp = req->resp;
    const struct sk_meta_image *img = req->broker->image;
    const char *msg = NULL;
    resp->error_code = check_filter(body, &msg);
    resp->error_message = msg ? kp_str_c(msg) : KP_STR_NULL;
    if (resp->error_code) {
        resp->entries.n = -1;
        sk_request_respond(req);
        return;
    }
    resp->entries.v = sk_request_alloc(req, sizeof *resp->entries.v * (size_t)(img->nquotas + 1));
    for (int i = 0; i < img->nquotas; i++) {
        const struct sk_quota_entry *q = &img->quotas[i];
        dq_entity *parts = sk_request_alloc(req, sizeof *parts * SK_MAX_ENTITY_PARTS);
        int n = entity_of(req, q, parts);
        if (q->values.n == 0 || !entry_matches(body, parts, n))
            continue;
        fill_entry(req, &resp->entries.v[resp->entries.n++], parts, n, q);
    }
    sk_request_respond(req);
}

void sk_api_alter_client_quotas(struct sk_request *req)
{
    const kp_alter_client_quotas_request *body = req->body;
    kp_alter_client_quotas_response *resp = req->resp;
    int32_t n = body->entries.n < 0 ? 0 : body->entries.n;
    resp->entries.n = n;
    resp->entries.v = sk_request_alloc(req, sizeof *resp->entries.v * (size_t)(n + 1));
    struct sk_ctl_park *park = sk_admin_park(req);
    for (int32_t i = 0; i < n; i++) {
        const kp_alter_client_quotas_request_entry_data *e = &body->entries.v[i];
        kp_alter_client_quotas_response_entry_data *o = &resp->entries.v[i];
        kp_alter_client_quotas_response_entry_data_init(o);
        int32_t ne = e->entity.n < 0 ? 0 : e->entity.n, no = e->ops.n < 0 ? 0 : e->ops.n;
        struct sk_quota_entity *ent = sk_request_alloc(req, sizeof *ent * (size_t)(ne + 1));
        struct sk_quota_op *ops = sk_request_alloc(req, sizeof *ops * (size_t)(no + 1));
        o->entity.n = ne;
        o->entity.v = sk_request_alloc(req, sizeof *o->entity.v * (size_t)(ne + 1));
        for (int32_t k = 0; k < ne; k++) {
            ent[k] = (struct sk_quota_entity){e->entity.v[k].entity_type, e->entity.v[k].entity_name};
            kp_alter_client_quotas_response_entity_data_init(&o->entity.v[k]);
            o->entity.v[k].entity_type = e->entity.v[k].entity_type;
            o->entity.v[k].entity_name = e->entity.v[k].entity_name;
        }
        for (int32_t k = 0; k < no; k++)
            ops[k] = (struct sk_quota_op){e->ops.v[k].key, e->ops.v[k].value, e->ops.v[k].remove};
        char msg[512] = "";
        sk_ctl_park_slot(park, &o->error_code, &o->error_message);
        o->error_code = sk_quotas_alter(req->broker, ent, ne, ops, no, body->validate_only, msg,
                                        sizeof msg);
        o->error_message = sk_admin_msg(req, msg);
    }
    sk_ctl_park_end(park);
}
