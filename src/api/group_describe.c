/* DescribeGroups (key 15). */
#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/forward.h"
#include "skein/errors.h"

/* With no authorizer every group operation is allowed: READ, DELETE, DESCRIBE. */
#define SK_GROUP_OPERATIONS ((1 << 3) | (1 << 6) | (1 << 8))
#define SK_OPERATIONS_OMITTED INT32_MIN

typedef kp_describe_groups_response_described_group described;
typedef kp_describe_groups_response_described_group_member described_member;

/* Members' metadata and assignment are shown only in Stable, as in Kafka:
 * in other states they belong to a generation that is being replaced. */
static void fill_members(struct sk_request *req, described *o, const struct sk_group *g)
{
    bool stable = g->state == SK_GROUP_STABLE;
    o->members.n = g->nmembers;
    o->members.v = sk_request_alloc(req, sizeof *o->members.v * (size_t)(g->nmembers + 1));
    int i = 0;
    for (struct sk_member *m = g->members; m; m = m->next, i++) {
        described_member *dm = &o->members.v[i];
        kp_describe_groups_response_described_group_member_init(dm);
        dm->member_id = sk_api_keep(req, m->id);
        dm->group_instance_id = sk_api_keep(req, m->instance_id);
        dm->client_id = sk_api_keep_or_empty(req, m->client_id);
        dm->client_host = sk_api_keep_or_empty(req, m->client_host);
        const struct sk_group_protocol *p = stable ? sk_member_protocol(m, g->protocol_name) : NULL;
        dm->member_metadata = sk_api_keep_bytes(req, p ? p->metadata : NULL, p ? p->metadata_len : 0);
        dm->member_assignment =
            sk_api_keep_bytes(req, stable ? m->assignment : NULL, stable ? m->assignment_len : 0);
    }
}

static void describe_one(struct sk_request *req, described *o, kp_str id, int16_t err,
                         bool with_ops)
{
    kp_describe_groups_response_described_group_init(o);
    o->group_id = id;
    o->authorized_operations = with_ops ? SK_GROUP_OPERATIONS : SK_OPERATIONS_OMITTED;
    o->protocol_type = kp_str_c("");
    o->protocol_data = kp_str_c("");
    o->members = (kp_describe_groups_response_described_group_member_arr){0, NULL};
    struct sk_group *g = err ? NULL : sk_group_find(req->broker->groups, id);
    o->error_code = err;
    if (err)
        return;
    if (!g) {
        o->group_state = kp_str_c(sk_group_state_name(SK_GROUP_DEAD));
        return;
    }
    o->group_state = kp_str_c(sk_group_state_name(g->state));
    o->protocol_type = sk_api_keep_or_empty(req, g->protocol_type);
    o->protocol_data =
        sk_api_keep_or_empty(req, g->state == SK_GROUP_STABLE ? g->protocol_name : KP_STR_NULL);
    fill_members(req, o, g);
}

void sk_api_describe_groups(struct sk_request *req)
{
    const kp_describe_groups_request *body = req->body;
    kp_describe_groups_response *resp = req->resp;
    int32_t n = body->groups.n > 0 ? body->groups.n : 0;
    bool with_ops = req->version >= 3 && body->include_authorized_operations;
    /* Relayed over several shards (skein/forward.h): the first run lays out
     * every group, each run answers its shard's. */
    if (req->relay_hops == 0) {
        resp->groups.n = n;
        resp->groups.v = sk_request_alloc(req, sizeof *resp->groups.v * (size_t)(n + 1));
    }
    for (int32_t i = 0; i < n; i++) {
        bool here = sk_request_group_here(req, body->groups.v[i]);
        if (here || req->relay_hops == 0)
            describe_one(req, &resp->groups.v[i], body->groups.v[i],
                         here ? sk_group_owner_error(req->broker->groups, body->groups.v[i])
                              : SK_ERR_COORDINATOR_NOT_AVAILABLE,
                         with_ops);
    }
    sk_request_respond(req);
}
