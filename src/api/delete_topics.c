/* DeleteTopics (key 20), v0-v6: by name, and at v6 by name or topic id. */
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"

typedef kp_delete_topics_response_deletable_topic_result dt_result;

/* The topics a request names, one entry each, as the controller sees them. */
struct target {
    kp_str name;
    kp_uuid id;
    bool by_id;
};

static dt_result *add_result(struct sk_request *req, kp_str name, const kp_uuid *id, int16_t err,
                             const char *msg)
{
    kp_delete_topics_response *resp = req->resp;
    dt_result *o = &resp->responses.v[resp->responses.n++];
    kp_delete_topics_response_deletable_topic_result_init(o);
    o->name = name;
    if (id)
        o->topic_id = *id;
    o->error_code = err;
    o->error_message = msg ? kp_str_c(msg) : KP_STR_NULL;
    return o;
}

static int32_t collect(struct sk_request *req, struct target *out)
{
    const kp_delete_topics_request *body = req->body;
    int32_t n = 0;
    if (req->version < 6) {
        for (int32_t i = 0; i < body->topic_names.n; i++)
            out[n++] = (struct target){body->topic_names.v[i], {{0}}, false};
        return n;
    }
    for (int32_t i = 0; i < body->topics.n; i++) {
        const kp_delete_topics_request_delete_topic_state *t = &body->topics.v[i];
        bool has_id = !kp_uuid_is_zero(&t->topic_id);
        if (t->name.len < 0 && !has_id)
            add_result(req, KP_STR_NULL, NULL, SK_ERR_INVALID_REQUEST,
                       "Neither topic name nor id were specified.");
        else if (t->name.len >= 0 && has_id)
            add_result(req, t->name, &t->topic_id, SK_ERR_INVALID_REQUEST,
                       "You may not specify both topic name and topic id.");
        else
            out[n++] = (struct target){t->name, t->topic_id, has_id};
    }
    return n;
}

static bool same_target(const struct target *a, const struct target *b)
{
    return a->by_id == b->by_id &&
           (a->by_id ? memcmp(a->id.b, b->id.b, 16) == 0 : kp_str_eq(a->name, b->name));
}

/* A name or id given twice is answered once with INVALID_REQUEST. */
static bool duplicate(const struct target *t, int32_t n, int32_t i, bool *first)
{
    bool dup = false;
    *first = true;
    for (int32_t j = 0; j < n; j++) {
        if (j != i && same_target(&t[i], &t[j])) {
            dup = true;
            *first = *first && j > i;
        }
    }
    return dup;
}

static const struct sk_topic_meta *resolve(struct sk_request *req, const struct target *t)
{
    const struct sk_meta_image *img = sk_controller_image(req->broker);
    if (t->by_id)
        return sk_meta_topic_by_id(img, &t->id);
    return sk_meta_topic(img, t->name.ptr, (size_t)t->name.len);
}

/* Resolves every target; the ones that exist are deleted together. */
/* The topics of one deletion, which commits (or fails) as one. */
struct deletion {
    dt_result **pending;
    int32_t n;
};

static void deletion_failed(void *arg, int16_t err, kp_str msg)
{
    struct deletion *d = arg;
    for (int32_t k = 0; k < d->n; k++) {
        d->pending[k]->error_code = err;
        d->pending[k]->error_message = msg;
    }
}

static void delete_resolved(struct sk_request *req, struct sk_ctl_park *park,
                            const struct target *t, int32_t n)
{
    kp_uuid *ids = sk_request_alloc(req, sizeof *ids * (size_t)(n + 1));
    dt_result **pending = sk_request_alloc(req, sizeof *pending * (size_t)(n + 1));
    int32_t nids = 0;
    double permits = 0;
    for (int32_t i = 0; i < n; i++) {
        bool first;
        if (duplicate(t, n, i, &first)) {
            if (first)
                add_result(req, t[i].by_id ? KP_STR_NULL : t[i].name, t[i].by_id ? &t[i].id : NULL,
                           SK_ERR_INVALID_REQUEST,
                           t[i].by_id ? "Duplicate topic id." : "Duplicate topic name.");
            continue;
        }
        const struct sk_topic_meta *tm = resolve(req, &t[i]);
        int16_t err = t[i].by_id ? SK_ERR_UNKNOWN_TOPIC_ID : SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (!tm) {
            add_result(req, t[i].by_id ? KP_STR_NULL : t[i].name, t[i].by_id ? &t[i].id : NULL,
                       err, sk_err_message(err));
            continue;
        }
        bool again = false;
        for (int32_t k = 0; k < nids && !again; k++)
            again = memcmp(ids[k].b, tm->id.b, 16) == 0;
        if (again) {
            add_result(req, t[i].name, &tm->id, SK_ERR_INVALID_REQUEST,
                       "The provided topic name maps to an ID that was already supplied.");
            continue;
        }
        /* KIP-599: refused over controller_mutation_rate from v5, throttled
         * before; the topic's partitions are the permits. */
        if (!sk_request_mutation(req, 0, req->version >= 5)) {
            add_result(req, sk_request_strdup(req, tm->name), &tm->id,
                       SK_ERR_THROTTLING_QUOTA_EXCEEDED, SK_THROTTLED_MSG);
            continue;
        }
        permits += tm->npartitions;
        /* Copied: the image frees the name once the topic is gone. */
        pending[nids] = add_result(req, sk_request_strdup(req, tm->name), &tm->id, SK_ERR_NONE,
                                   NULL);
        ids[nids++] = tm->id;
    }
    char msg[512];
    struct deletion *d = sk_request_alloc(req, sizeof *d);
    *d = (struct deletion){pending, nids};
    sk_ctl_park_on_fail(park, deletion_failed, d);
    int16_t err = sk_topics_delete(req->broker, ids, nids, msg, sizeof msg);
    if (!err)
        sk_request_mutation(req, permits, false);
    for (int32_t k = 0; err && k < nids; k++) {
        pending[k]->error_code = err;
        pending[k]->error_message = sk_admin_msg(req, msg);
    }
}

static void deletion_disabled(struct sk_request *req, const struct target *t, int32_t n)
{
    int16_t err = req->version < 3 ? SK_ERR_INVALID_REQUEST : SK_ERR_TOPIC_DELETION_DISABLED;
    for (int32_t i = 0; i < n; i++)
        add_result(req, t[i].name, t[i].by_id ? &t[i].id : NULL, err, NULL);
}

void sk_api_delete_topics(struct sk_request *req)
{
    const kp_delete_topics_request *body = req->body;
    kp_delete_topics_response *resp = req->resp;
    int32_t max = (body->topic_names.n > 0 ? body->topic_names.n : 0) +
                  (body->topics.n > 0 ? body->topics.n : 0);
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(max + 1));
    struct target *t = sk_request_alloc(req, sizeof *t * (size_t)(max + 1));
    int32_t n = collect(req, t);
    struct sk_ctl_park *park = sk_admin_park(req);
    if (!req->broker->cfg->log.delete_topic_enable)
        deletion_disabled(req, t, n);
    else
        delete_resolved(req, park, t, n);
    resp->throttle_time_ms = req->throttle_ms;
    sk_ctl_park_end(park);
}
