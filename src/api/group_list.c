/* ListGroups (key 16): states filter from v4, types filter from v5. */
#include <strings.h>

#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"

struct list_ctx {
    struct sk_request *req;
    const kp_list_groups_request *body;
    kp_list_groups_response *resp;
    size_t cap;
};

static bool state_wanted(const kp_list_groups_request *body, enum sk_group_state s)
{
    if (body->states_filter.n <= 0)
        return true;
    for (int32_t i = 0; i < body->states_filter.n; i++)
        if (sk_group_state_parse(body->states_filter.v[i]) == (int)s)
            return true;
    return false;
}

/* Every group here is a classic group; the filter is case-insensitive. */
static bool type_wanted(const kp_list_groups_request *body)
{
    if (body->types_filter.n <= 0)
        return true;
    for (int32_t i = 0; i < body->types_filter.n; i++) {
        kp_str t = body->types_filter.v[i];
        if (t.len == 7 && strncasecmp(t.ptr, "classic", 7) == 0)
            return true;
    }
    return false;
}

static void add_group(struct sk_group *g, void *arg)
{
    struct list_ctx *c = arg;
    if (!state_wanted(c->body, g->state) || !type_wanted(c->body))
        return;
    kp_list_groups_response_listed_group *o = &c->resp->groups.v[c->resp->groups.n++];
    kp_list_groups_response_listed_group_init(o);
    o->group_id = sk_api_keep(c->req, g->id);
    o->protocol_type = sk_api_keep_or_empty(c->req, g->protocol_type);
    o->group_state = kp_str_c(sk_group_state_name(g->state));
    o->group_type = kp_str_c("classic");
}

void sk_api_list_groups(struct sk_request *req)
{
    kp_list_groups_response *resp = req->resp;
    struct sk_group_coordinator *co = req->broker->groups;
    resp->error_code = sk_group_coordinator_error(co);
    resp->groups.n = 0;
    if (!resp->error_code) {
        resp->groups.v = sk_request_alloc(req, sizeof *resp->groups.v * (co->ngroups + 1));
        struct list_ctx c = {req, req->body, resp, co->ngroups};
        sk_group_each(co, add_group, &c);
    }
    sk_request_respond(req);
}
