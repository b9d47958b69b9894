/* OffsetFetch (key 9): one group before v8, several from v8; a null topic
 * list means every committed offset of the group. */
#include <stdlib.h>

#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/forward.h"
#include "skein/errors.h"
#include "skein/group_offsets.h"

/* v8+ and v0-7 nest the same partition fields under different struct names;
 * this is the common shape filled before copying into either. */
struct part_out {
    int32_t partition;
    int64_t offset;
    int32_t epoch;
    kp_str metadata;
    int16_t err;
};

struct topic_out {
    kp_str name;
    struct part_out *parts;
    int32_t n;
};

static struct part_out lookup(struct sk_request *req, const struct sk_group *g, kp_str topic,
                              int32_t partition, int16_t err)
{
    struct part_out o = {partition, -1, -1, kp_str_c(""), err};
    const struct sk_offset_entry *e = g ? sk_offsets_get(&g->offsets, topic, partition) : NULL;
    if (e) {
        o.offset = e->offset;
        o.epoch = e->leader_epoch;
        o.metadata = sk_request_keep(req, e->metadata);
    }
    return o;
}

/* Every committed offset, grouped by topic. */
static struct topic_out *all_offsets(struct sk_request *req, const struct sk_group *g, int32_t *nt)
{
    size_t n = 0;
    struct sk_offset_entry **v = g ? sk_offsets_sorted(&g->offsets, &n) : NULL;
    struct topic_out *t = sk_request_alloc(req, sizeof *t * (n + 1));
    *nt = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && kp_str_eq(v[j]->topic, v[i]->topic))
            j++;
        struct topic_out *o = &t[(*nt)++];
        o->name = sk_request_keep(req, v[i]->topic);
        o->n = (int32_t)(j - i);
        o->parts = sk_request_alloc(req, sizeof *o->parts * (j - i));
        for (size_t k = i; k < j; k++)
            o->parts[k - i] = lookup(req, g, o->name, v[k]->partition, SK_ERR_NONE);
        i = j;
    }
    free(v);
    return t;
}

struct topics_in {
    int32_t n; /* -1: all */
    kp_str (*name)(const void *topics, int32_t i);
    kp_arr_i32 (*parts)(const void *topics, int32_t i);
    const void *v;
};

static struct topic_out *requested(struct sk_request *req, const struct sk_group *g,
                                   const struct topics_in *in, int16_t err)
{
    struct topic_out *t = sk_request_alloc(req, sizeof *t * (size_t)(in->n + 1));
    for (int32_t i = 0; i < in->n; i++) {
        kp_arr_i32 p = in->parts(in->v, i);
        t[i].name = in->name(in->v, i);
        t[i].n = p.n > 0 ? p.n : 0;
        t[i].parts = sk_request_alloc(req, sizeof *t[i].parts * (size_t)(t[i].n + 1));
        for (int32_t k = 0; k < t[i].n; k++)
            t[i].parts[k] = lookup(req, g, t[i].name, p.v[k], err);
    }
    return t;
}

static struct topic_out *fetch_group(struct sk_request *req, kp_str group_id,
                                     const struct topics_in *in, int16_t *err, int32_t *nt)
{
    struct sk_group_coordinator *co = req->broker->groups;
    *err = sk_group_owner_error(co, group_id);
    const struct sk_group *g = *err ? NULL : sk_group_find(co, group_id);
    if (in->n < 0) {
        if (*err) {
            *nt = 0;
            return NULL;
        }
        return all_offsets(req, g, nt);
    }
    *nt = in->n;
    return requested(req, g, in, *err);
}

/* ---- v0-v7 ----------------------------------------------------------------- */

typedef kp_offset_fetch_request_offset_fetch_request_topic old_req_topic;

static kp_str old_name(const void *v, int32_t i) { return ((const old_req_topic *)v)[i].name; }
static kp_arr_i32 old_parts(const void *v, int32_t i)
{
    return ((const old_req_topic *)v)[i].partition_indexes;
}

static void respond_single(struct sk_request *req)
{
    const kp_offset_fetch_request *body = req->body;
    kp_offset_fetch_response *resp = req->resp;
    struct topics_in in = {body->topics.n, old_name, old_parts, body->topics.v};
    if (req->version < 2 && in.n < 0)
        in.n = 0;
    int16_t err;
    int32_t nt;
    struct topic_out *t = fetch_group(req, body->group_id, &in, &err, &nt);
    resp->error_code = err;
    resp->topics.n = nt;
    resp->topics.v = sk_request_alloc(req, sizeof *resp->topics.v * (size_t)(nt + 1));
    for (int32_t i = 0; i < nt; i++) {
        kp_offset_fetch_response_offset_fetch_response_topic *o = &resp->topics.v[i];
        kp_offset_fetch_response_offset_fetch_response_topic_init(o);
        o->name = t[i].name;
        o->partitions.n = t[i].n;
        o->partitions.v = sk_request_alloc(req, sizeof *o->partitions.v * (size_t)(t[i].n + 1));
        for (int32_t k = 0; k < t[i].n; k++) {
            kp_offset_fetch_response_offset_fetch_response_partition *p = &o->partitions.v[k];
            kp_offset_fetch_response_offset_fetch_response_partition_init(p);
            p->partition_index = t[i].parts[k].partition;
            p->committed_offset = t[i].parts[k].offset;
            p->committed_leader_epoch = t[i].parts[k].epoch;
            p->metadata = t[i].parts[k].metadata;
            p->error_code = t[i].parts[k].err;
        }
    }
}

/* ---- v8+ --------------------------------------------------------------------- */

typedef kp_offset_fetch_request_offset_fetch_request_topics new_req_topic;

static kp_str new_name(const void *v, int32_t i) { return ((const new_req_topic *)v)[i].name; }
static kp_arr_i32 new_parts(const void *v, int32_t i)
{
    return ((const new_req_topic *)v)[i].partition_indexes;
}

static void fill_group(struct sk_request *req, kp_offset_fetch_response_offset_fetch_response_group *o,
                       const kp_offset_fetch_request_offset_fetch_request_group *rg)
{
    struct topics_in in = {rg->topics.n, new_name, new_parts, rg->topics.v};
    int16_t err;
    int32_t nt;
    struct topic_out *t = fetch_group(req, rg->group_id, &in, &err, &nt);
    kp_offset_fetch_response_offset_fetch_response_group_init(o);
    o->group_id = rg->group_id;
    o->error_code = err;
    o->topics.n = nt;
    o->topics.v = sk_request_alloc(req, sizeof *o->topics.v * (size_t)(nt + 1));
    for (int32_t i = 0; i < nt; i++) {
        kp_offset_fetch_response_offset_fetch_response_topics *ot = &o->topics.v[i];
        kp_offset_fetch_response_offset_fetch_response_topics_init(ot);
        ot->name = t[i].name;
        ot->partitions.n = t[i].n;
        ot->partitions.v = sk_request_alloc(req, sizeof *ot->partitions.v * (size_t)(t[i].n + 1));
        for (int32_t k = 0; k < t[i].n; k++) {
            kp_offset_fetch_response_offset_fetch_response_partitions *p = &ot->partitions.v[k];
            kp_offset_fetch_response_offset_fetch_response_partitions_init(p);
            p->partition_index = t[i].parts[k].partition;
            p->committed_offset = t[i].parts[k].offset;
            p->committed_leader_epoch = t[i].parts[k].epoch;
            p->metadata = t[i].parts[k].metadata;
            p->error_code = t[i].parts[k].err;
        }
    }
}

void sk_api_offset_fetch(struct sk_request *req)
{
    const kp_offset_fetch_request *body = req->body;
    kp_offset_fetch_response *resp = req->resp;
    /* require_stable: no transactional offsets are ever pending here, so
     * every committed offset is stable. */
    if (req->version < 8) {
        respond_single(req);
    } else {
        int32_t n = body->groups.n > 0 ? body->groups.n : 0;
        /* Relayed over several shards (skein/forward.h): the first run
         * lays out every group, each run answers its shard's. */
        if (req->relay_hops == 0) {
            resp->groups.n = n;
            resp->groups.v = sk_request_alloc(req, sizeof *resp->groups.v * (size_t)(n + 1));
        }
        for (int32_t i = 0; i < n; i++) {
            kp_offset_fetch_response_offset_fetch_response_group *o = &resp->groups.v[i];
            if (sk_request_group_here(req, body->groups.v[i].group_id)) {
                fill_group(req, o, &body->groups.v[i]);
            } else if (req->relay_hops == 0) {
                kp_offset_fetch_response_offset_fetch_response_group_init(o);
                o->group_id = body->groups.v[i].group_id;
                o->error_code = SK_ERR_COORDINATOR_NOT_AVAILABLE;
                o->topics.n = 0;
            }
        }
    }
    sk_request_respond(req);
}
