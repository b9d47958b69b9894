/* ListGroups (key 16): states filter from v4, types filter from v5. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "split.h"

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

/* A copy in the arena of the shard that lists it: the group's own strings
 * are its coordinator's, on its thread. */
static kp_str keep(kp_arena *a, kp_str s)
{
    if (s.len < 0)
        return kp_str_c("");
    char *c = kp_arena_alloc(a, (size_t)s.len + 1);
    if (!c)
        return kp_str_c("");
    memcpy(c, s.ptr, (size_t)s.len);
    return (kp_str){c, s.len};
}

/* One shard's groups, listed on its thread. */
struct shard_list {
    int16_t err;
    int32_t n;
    kp_list_groups_response_listed_group *v;
};

struct list_ctx {
    const kp_list_groups_request *body;
    struct shard_list *out;
    kp_arena *a;
};

static void add_group(struct sk_group *g, void *arg)
{
    struct list_ctx *c = arg;
    if (!state_wanted(c->body, g->state) || !type_wanted(c->body))
        return;
    kp_list_groups_response_listed_group *o = &c->out->v[c->out->n++];
    kp_list_groups_response_listed_group_init(o);
    o->group_id = keep(c->a, g->id);
    o->protocol_type = keep(c->a, g->protocol_type);
    o->group_state = kp_str_c(sk_group_state_name(g->state));
    o->group_type = kp_str_c("classic");
}

static void list_shard(struct sk_broker *b, kp_arena *a, const kp_list_groups_request *body,
                       struct shard_list *out)
{
    struct sk_group_coordinator *co = b->groups;
    out->err = sk_group_coordinator_error(co);
    if (out->err)
        return;
    out->v = kp_arena_calloc(a, co->ngroups + 1, sizeof *out->v);
    if (!out->v) {
        out->err = SK_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    struct list_ctx c = {body, out, a};
    sk_group_each(co, add_group, &c);
}

/* ---- every shard's groups (split.h) -------------------------------------- */

struct lg_split {
    struct sk_request *req;
    int nshards;
};

static int lg_owner(void *ctx, int i)
{
    (void)ctx;
    return i;
}

static void lg_run(void *ctx, struct sk_split_item *it)
{
    struct lg_split *ls = ctx;
    list_shard(it->owner, it->arena, ls->req->body, it->out);
    sk_split_item_done(it);
}

/* Kafka's broker lists its coordinators' groups with the first error one
 * of them has (a loading coordinator: COORDINATOR_LOAD_IN_PROGRESS). */
static void lg_done(void *ctx, struct sk_split *sp)
{
    struct lg_split *ls = ctx;
    struct sk_request *req = ls->req;
    kp_list_groups_response *resp = req->resp;
    int32_t total = 0;
    for (int i = 0; i < ls->nshards; i++) {
        const struct shard_list *o = sk_split_item_error(sp, i) == SK_ERR_NONE ? sk_split_out(sp, i) : NULL;
        total += o ? o->n : 0;
    }
    resp->groups.v = sk_request_alloc(req, sizeof *resp->groups.v * (size_t)(total + 1));
    resp->groups.n = 0;
    for (int i = 0; i < ls->nshards; i++) {
        int err = sk_split_item_error(sp, i);
        const struct shard_list *o = err == SK_ERR_NONE ? sk_split_out(sp, i) : NULL;
        if (!o) {
            resp->error_code = resp->error_code ? resp->error_code : SK_ERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        if (o->err && !resp->error_code)
            resp->error_code = o->err;
        for (int32_t k = 0; k < o->n; k++) {
            kp_list_groups_response_listed_group *g = &resp->groups.v[resp->groups.n++];
            *g = o->v[k];
            g->group_id = sk_request_keep(req, g->group_id);
            g->protocol_type = sk_request_keep(req, g->protocol_type);
        }
    }
    sk_request_respond(req);
    sk_split_release(sp);
}

static const struct sk_split_ops lg_ops = {
    .out_size = sizeof(struct shard_list), .run = lg_run, .done = lg_done, .free_ctx = free};

void sk_api_list_groups(struct sk_request *req)
{
    kp_list_groups_response *resp = req->resp;
    int nshards = req->broker->node->nshards;
    if (nshards > 1) {
        struct lg_split *ls = malloc(sizeof *ls);
        struct sk_split *sp = ls ? sk_split_new(req->broker, nshards, lg_owner, &lg_ops, ls) : NULL;
        if (!sp) {
            free(ls);
            sk_conn_close(req->conn);
            sk_request_drop(req);
            return;
        }
        *ls = (struct lg_split){req, nshards};
        sk_split_start(sp);
        return;
    }
    struct shard_list out = {0};
    list_shard(req->broker, &req->arena, req->body, &out);
    resp->error_code = out.err;
    resp->groups.n = out.n;
    resp->groups.v = out.v;
    sk_request_respond(req);
}
