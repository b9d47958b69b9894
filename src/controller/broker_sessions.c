/* Broker registration, heartbeats and fencing on the active controller
 * (skein/broker_sessions.h). The image says who is registered and fenced;
 * the sessions say only when each broker was last heard from, which is
 * why they live beside the image rather than in it: Kafka keeps them out
 * of the log too, so replaying the log never fences anyone. */
#include "skein/broker_sessions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "elect.h"
#include "internal.h"
#include "kp_tables.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/timer.h"

/* Kafka's MINIMUM_KRAFT_VERSION (3.0-IV1): what a broker that names no
 * metadata.version range is taken to support. */
#define SK_MV_MINIMUM_KRAFT 1

struct session {
    int32_t id;
    int64_t last_ms; /* last heartbeat (or registration, or activation) */
};

struct sk_broker_sessions {
    struct session *v;
    int n, cap;
    bool was_active;  /* the controller was active at the last look */
    sk_timer_id timer; /* the expiry check, 0 when not armed */
    int64_t next_balance_ms; /* the leader balance's next run, 0 unscheduled */
};

static struct sk_broker_sessions *sessions_of(struct sk_node *n)
{
    if (!n->broker_sessions) {
        n->broker_sessions = calloc(1, sizeof *n->broker_sessions);
        if (!n->broker_sessions)
            abort();
    }
    return n->broker_sessions;
}

static struct session *find(struct sk_broker_sessions *s, int32_t id)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i].id == id)
            return &s->v[i];
    return NULL;
}

static void touch(struct sk_broker_sessions *s, int32_t id, int64_t now_ms)
{
    struct session *e = find(s, id);
    if (!e) {
        if (s->n == s->cap) {
            int cap = s->cap ? s->cap * 2 : 8;
            struct session *nv = realloc(s->v, sizeof *nv * (size_t)cap);
            if (!nv)
                abort();
            s->v = nv;
            s->cap = cap;
        }
        e = &s->v[s->n++];
        e->id = id;
    }
    e->last_ms = now_ms;
}

int32_t sk_brokers_session_ms(const struct sk_node *n)
{
    struct sk_config_value v;
    if (!n->cfg || sk_config_describe_broker(n->cfg, "broker.session.timeout.ms", &v) != 0 ||
        !v.value)
        return 9000;
    return (int32_t)strtol(v.value, NULL, 10);
}

static void arm(struct sk_broker *ctl);

/* The sessions a controller starts with when it becomes active, rebuilt
 * from the image as Kafka's BrokerHeartbeatManager is on activation: every
 * registered, unfenced broker keeps its epoch (the image holds it) and gets
 * a session that starts now, since no one can know when it last
 * heartbeated to the predecessor; so one that died with the old controller
 * is fenced a session after this one took over, and no live one registers
 * again. Fenced brokers get none: they stay fenced until a heartbeat
 * catches up. A sole voter's own registration, written locally by a node
 * that never heartbeats, is left out so that time never fences it. */
static void seed_from_image(struct sk_broker *ctl, struct sk_broker_sessions *s, int64_t now_ms)
{
    const struct sk_meta_image *img = sk_ctl_working(ctl);
    s->n = 0;
    for (int i = 0; i < img->nbrokers; i++) {
        const struct sk_broker_meta *bm = &img->brokers[i];
        bool local_only = bm->id == ctl->node->node_id && !ctl->node->lifecycle;
        if (!bm->fenced && !local_only)
            touch(s, bm->id, now_ms);
    }
    if (s->n)
        arm(ctl);
}

static bool active_now(struct sk_broker *ctl, int64_t now_ms)
{
    struct sk_broker_sessions *s = sessions_of(ctl->node);
    char why[128];
    bool active = sk_ctl_check_active(ctl, why, sizeof why) == SK_ERR_NONE;
    if (active && !s->was_active)
        seed_from_image(ctl, s, now_ms);
    s->was_active = active;
    return active;
}

void sk_brokers_quorum_changed(struct sk_broker *ctl)
{
    if (ctl->shard)
        (void)active_now(ctl, (int64_t)sk_shard_now_ms(ctl->shard));
}

/* ---- the expiry timer ---------------------------------------------------- */

/* How often the active controller looks for lapsed sessions: often enough
 * that a broker is fenced within a tenth of its session after it lapsed. */
static uint64_t check_period_ms(const struct sk_node *n)
{
    int32_t p = sk_brokers_session_ms(n) / 10;
    return (uint64_t)(p < 50 ? 50 : p > 1000 ? 1000 : p);
}

static void expiry_tick(void *arg)
{
    struct sk_broker *ctl = arg;
    struct sk_broker_sessions *s = ctl->node->broker_sessions;
    s->timer = 0;
    int64_t now = (int64_t)sk_shard_now_ms(ctl->shard);
    sk_brokers_expire(ctl, now);
    sk_ctl_balance_tick(ctl, now, &s->next_balance_ms);
    s->timer = sk_timer_add(ctl->shard, check_period_ms(ctl->node), expiry_tick, ctl);
}

/* Armed by the first broker heard from over the wire (tests without a
 * reactor run expiry by hand). */
static void arm(struct sk_broker *ctl)
{
    struct sk_broker_sessions *s = sessions_of(ctl->node);
    if (!s->timer && ctl->shard)
        s->timer = sk_timer_add(ctl->shard, check_period_ms(ctl->node), expiry_tick, ctl);
}

/* ---- records ------------------------------------------------------------- */

static int16_t latest(int16_t type)
{
    return kp_metadata_record_get(type)->max_version;
}

/* The leader and ISR changes a broker event brings (skein/elect.h): a
 * fenced or shutting-down broker leaves the ISRs and its leaderships move
 * to the next in-sync replica; an unfenced one leads what had no leader. */
static void broker_elections(struct sk_broker *ctl, int32_t removed, int32_t added,
                             struct sk_elect_batch *out)
{
    struct sk_elect_event ev = {.type = SK_ELECT_ONLINE, .removed = removed, .added = added};
    bool unclean = ctl->node->cfg && ctl->node->cfg->topic_defaults.unclean_leader_election;
    sk_elect_all(sk_ctl_working(ctl), &ev, unclean, out);
}

/* recs in as few batches as KRaft's bound allows, the first record first. */
static int16_t commit_batches(struct sk_broker *ctl, const struct sk_meta_rec *recs, int n,
                              char *msg, size_t msglen)
{
    int16_t err = SK_ERR_NONE;
    for (int at = 0; at < n && !err; at += SK_MAX_RECORDS_PER_USER_OP) {
        int k = n - at < SK_MAX_RECORDS_PER_USER_OP ? n - at : SK_MAX_RECORDS_PER_USER_OP;
        err = sk_ctl_commit(ctl, recs + at, k, msg, msglen);
    }
    return err;
}

/* The fencing change (fence: 1 fences, -1 unfences; shutdown marks a
 * controlled shutdown) and the leader changes it brings, committed through
 * the controller. Kafka bounds a batch; a change that moves more leaders
 * than one holds goes out in several, the registration change first. */
static int16_t commit_change(struct sk_broker *ctl, const struct sk_broker_meta *bm, int8_t fence,
                             bool shutdown, char *msg, size_t msglen)
{
    kp_broker_registration_change_record rc;
    kp_broker_registration_change_record_init(&rc);
    rc.broker_id = bm->id;
    rc.broker_epoch = bm->epoch;
    rc.fenced = fence;
    rc.in_controlled_shutdown = shutdown ? 1 : 0;
    struct sk_elect_batch eb = {0};
    if (fence == 1 || shutdown)
        broker_elections(ctl, bm->id, -1, &eb);
    else if (fence == -1)
        broker_elections(ctl, -1, bm->id, &eb);
    struct sk_meta_rec *recs = calloc((size_t)eb.n + 1, sizeof *recs);
    if (!recs)
        abort();
    recs[0] = (struct sk_meta_rec){SK_META_BROKER_REGISTRATION_CHANGE,
                                   latest(SK_META_BROKER_REGISTRATION_CHANGE), &rc};
    for (int i = 0; i < eb.n; i++)
        recs[1 + i] = (struct sk_meta_rec){SK_META_PARTITION_CHANGE, 0, &eb.ch[i]};
    int16_t err = commit_batches(ctl, recs, eb.n + 1, msg, msglen);
    free(recs);
    sk_elect_batch_free(&eb);
    return err;
}

/* ---- registration ---------------------------------------------------------- */

static int16_t check_feature(const struct sk_meta_image *img, const char *who, kp_str name,
                             int16_t min, int16_t max, char *msg, size_t msglen)
{
    for (int i = 0; i < img->nfeatures; i++) {
        const struct sk_feature_level *f = &img->features[i];
        if (!kp_str_eq_c(name, f->name))
            continue;
        if (f->level < min || f->level > max) {
            snprintf(msg, msglen,
                     "Unable to register because the %s does not support version %d of "
                     "%s. It wants a version between %d and %d, inclusive.",
                     who, f->level, f->name, min, max);
            return SK_ERR_UNSUPPORTED_VERSION;
        }
        return SK_ERR_NONE;
    }
    return SK_ERR_NONE; /* unknown to the controller: Kafka only warns */
}

static int16_t check_features(const struct sk_meta_image *img,
                              const kp_broker_registration_request *r, char *msg, size_t msglen)
{
    bool has_mv = false;
    for (int32_t i = 0; i < r->features.n; i++) {
        const kp_broker_registration_request_feature *f = &r->features.v[i];
        has_mv |= kp_str_eq_c(f->name, "metadata.version");
        int16_t err = check_feature(img, "broker", f->name, f->min_supported_version,
                                    f->max_supported_version, msg, msglen);
        if (err)
            return err;
    }
    if (has_mv)
        return SK_ERR_NONE;
    return check_feature(img, "broker", kp_str_c("metadata.version"), SK_MV_MINIMUM_KRAFT,
                         SK_MV_MINIMUM_KRAFT, msg, msglen);
}

static bool session_live(struct sk_broker_sessions *s, int32_t id, int64_t now_ms,
                         int32_t session_ms)
{
    const struct session *e = find(s, id);
    return e && now_ms - e->last_ms <= session_ms;
}

static int16_t check_registration(struct sk_broker *ctl, const kp_broker_registration_request *r,
                                  int64_t now_ms, char *msg, size_t msglen)
{
    struct sk_node *n = ctl->node;
    if (!kp_str_eq_c(r->cluster_id, n->cluster_id)) {
        snprintf(msg, msglen, "Expected cluster ID %s, but got cluster ID %.*s", n->cluster_id,
                 r->cluster_id.len < 0 ? 4 : (int)r->cluster_id.len,
                 r->cluster_id.len < 0 ? "null" : r->cluster_id.ptr);
        return SK_ERR_INCONSISTENT_CLUSTER_ID;
    }
    const struct sk_broker_meta *old = sk_meta_broker(sk_ctl_working(ctl), r->broker_id);
    if (old && memcmp(old->incarnation.b, r->incarnation_id.b, 16) != 0 &&
        session_live(sessions_of(n), r->broker_id, now_ms, sk_brokers_session_ms(n))) {
        snprintf(msg, msglen, "Another broker is registered with that broker id.");
        return SK_ERR_DUPLICATE_BROKER_REGISTRATION;
    }
    return check_features(sk_ctl_working(ctl), r, msg, msglen);
}

static void fill_record(kp_register_broker_record *rec, const kp_broker_registration_request *r,
                        kp_register_broker_record_broker_endpoint *eps,
                        kp_register_broker_record_broker_feature *fs)
{
    kp_register_broker_record_init(rec);
    rec->broker_id = r->broker_id;
    rec->incarnation_id = r->incarnation_id;
    rec->rack = r->rack;
    rec->fenced = true;
    rec->log_dirs = r->log_dirs;
    for (int32_t i = 0; i < r->listeners.n; i++) {
        kp_register_broker_record_broker_endpoint_init(&eps[i]);
        eps[i].name = r->listeners.v[i].name;
        eps[i].host = r->listeners.v[i].host;
        eps[i].port = r->listeners.v[i].port;
        eps[i].security_protocol = r->listeners.v[i].security_protocol;
    }
    rec->end_points.n = r->listeners.n < 0 ? 0 : r->listeners.n;
    rec->end_points.v = eps;
    int32_t nf = r->features.n < 0 ? 0 : r->features.n;
    for (int32_t i = 0; i < nf; i++) {
        kp_register_broker_record_broker_feature_init(&fs[i]);
        fs[i].name = r->features.v[i].name;
        fs[i].min_supported_version = r->features.v[i].min_supported_version;
        fs[i].max_supported_version = r->features.v[i].max_supported_version;
    }
    rec->features.n = nf;
    rec->features.v = fs;
}

int16_t sk_brokers_register(struct sk_broker *ctl, const kp_broker_registration_request *r,
                            int64_t now_ms, int64_t *epoch, char *msg, size_t msglen)
{
    *epoch = -1;
    if (!active_now(ctl, now_ms)) {
        snprintf(msg, msglen, "This is not the correct controller for this cluster.");
        return SK_ERR_NOT_CONTROLLER;
    }
    int16_t err = check_registration(ctl, r, now_ms, msg, msglen);
    if (err)
        return err;
    size_t nl = r->listeners.n > 0 ? (size_t)r->listeners.n : 0;
    size_t nf = r->features.n > 0 ? (size_t)r->features.n : 0;
    kp_register_broker_record_broker_endpoint *eps = calloc(nl + 1, sizeof *eps);
    kp_register_broker_record_broker_feature *fs = calloc(nf + 1, sizeof *fs);
    if (!eps || !fs)
        abort();
    kp_register_broker_record rec;
    fill_record(&rec, r, eps, fs);
    /* Kafka's broker epoch is the offset the record is written at: the
     * log's next offset, since the batch is appended before anything else. */
    rec.broker_epoch = sk_metalog_end_offset(ctl->node->metalog);
    /* A new registration starts fenced, so, as Kafka's handling of an
     * unclean shutdown does, the partitions it led move to the next in-sync
     * replica (or lose their leader) until it is unfenced. */
    struct sk_elect_batch eb = {0};
    broker_elections(ctl, r->broker_id, -1, &eb);
    struct sk_meta_rec *recs = calloc((size_t)eb.n + 1, sizeof *recs);
    if (!recs)
        abort();
    recs[0] = (struct sk_meta_rec){SK_META_REGISTER_BROKER, latest(SK_META_REGISTER_BROKER), &rec};
    for (int i = 0; i < eb.n; i++)
        recs[1 + i] = (struct sk_meta_rec){SK_META_PARTITION_CHANGE, 0, &eb.ch[i]};
    err = commit_batches(ctl, recs, eb.n + 1, msg, msglen);
    free(recs);
    sk_elect_batch_free(&eb);
    free(eps);
    free(fs);
    if (err)
        return err;
    touch(sessions_of(ctl->node), r->broker_id, now_ms);
    arm(ctl);
    *epoch = rec.broker_epoch;
    return SK_ERR_NONE;
}

/* KIP-919, as ClusterControlManager.registerController: the features the
 * controller supports must hold the finalized levels; the registration
 * replaces the controller's previous one. */
int16_t sk_controllers_register(struct sk_broker *ctl, const kp_controller_registration_request *r,
                                char *msg, size_t msglen)
{
    const struct sk_meta_image *img = sk_ctl_working(ctl);
    for (int32_t i = 0; i < r->features.n; i++) {
        const kp_controller_registration_request_feature *f = &r->features.v[i];
        int16_t err = check_feature(img, "controller", f->name, f->min_supported_version,
                                    f->max_supported_version, msg, msglen);
        if (err)
            return err;
    }
    int32_t nl = r->listeners.n < 0 ? 0 : r->listeners.n;
    kp_register_controller_record_controller_endpoint *eps = calloc((size_t)nl + 1, sizeof *eps);
    if (!eps)
        abort();
    kp_register_controller_record rec;
    kp_register_controller_record_init(&rec);
    rec.controller_id = r->controller_id;
    rec.incarnation_id = r->incarnation_id;
    rec.zk_migration_ready = r->zk_migration_ready;
    for (int32_t i = 0; i < nl; i++) {
        kp_register_controller_record_controller_endpoint_init(&eps[i]);
        eps[i].name = r->listeners.v[i].name;
        eps[i].host = r->listeners.v[i].host;
        eps[i].port = r->listeners.v[i].port;
        eps[i].security_protocol = r->listeners.v[i].security_protocol;
    }
    rec.end_points = (kp_register_controller_record_controller_endpoint_arr){nl, eps};
    struct sk_meta_rec mr = {SK_META_REGISTER_CONTROLLER, latest(SK_META_REGISTER_CONTROLLER), &rec};
    int16_t err = sk_ctl_commit(ctl, &mr, 1, msg, msglen);
    free(eps);
    return err;
}

/* ---- heartbeats ------------------------------------------------------------ */

static int16_t check_epoch(const struct sk_broker_meta *bm, int32_t id, int64_t epoch, char *msg,
                           size_t msglen)
{
    if (!bm) {
        snprintf(msg, msglen, "No broker registration found for broker id %" PRId32, id);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    if (bm->epoch != epoch) {
        snprintf(msg, msglen, "Expected broker epoch %" PRId64 ", but got broker epoch %" PRId64,
                 bm->epoch, epoch);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    return SK_ERR_NONE;
}

/* Kafka's BrokerHeartbeatManager states: a fenced broker is unfenced once
 * caught up, or let go at once when it wants to shut down; an unfenced one
 * asking to shut down enters controlled shutdown while it leads anything
 * (its leaderships move away and it leaves the ISRs), and is let go, fenced,
 * once it leads nothing in both the working and the committed image, so
 * that what moved is in the log before it stops serving. */
static bool leads_nothing(struct sk_broker *ctl, int32_t id)
{
    return !sk_elect_leads_any(sk_ctl_working(ctl), id) &&
           (!ctl->image || !sk_elect_leads_any(ctl->image, id));
}

static int16_t heartbeat_state(struct sk_broker *ctl, const struct sk_broker_meta *bm,
                               const kp_broker_heartbeat_request *r,
                               struct sk_heartbeat_reply *out, char *msg, size_t msglen)
{
    int8_t fence = 0;
    bool enter_shutdown = false;
    if (bm->fenced) {
        out->shut_down = r->want_shut_down;
        if (!r->want_shut_down && !r->want_fence && out->caught_up)
            fence = -1;
    } else if (r->want_fence) {
        fence = 1;
        out->shut_down = r->want_shut_down;
    } else if (r->want_shut_down || bm->in_controlled_shutdown) {
        if (leads_nothing(ctl, bm->id)) {
            fence = 1;
            out->shut_down = true;
        } else if (!bm->in_controlled_shutdown) {
            enter_shutdown = true;
        }
    }
    out->fenced = fence == 0 ? bm->fenced : fence == 1;
    if (fence == 0 && !enter_shutdown)
        return SK_ERR_NONE;
    return commit_change(ctl, bm, fence, enter_shutdown, msg, msglen);
}

int16_t sk_brokers_heartbeat(struct sk_broker *ctl, const kp_broker_heartbeat_request *r,
                             int64_t now_ms, struct sk_heartbeat_reply *out, char *msg,
                             size_t msglen)
{
    *out = (struct sk_heartbeat_reply){.fenced = true};
    if (!active_now(ctl, now_ms)) {
        snprintf(msg, msglen, "This is not the correct controller for this cluster.");
        return SK_ERR_NOT_CONTROLLER;
    }
    const struct sk_broker_meta *bm = sk_meta_broker(sk_ctl_working(ctl), r->broker_id);
    int16_t err = check_epoch(bm, r->broker_id, r->broker_epoch, msg, msglen);
    if (err)
        return err;
    touch(sessions_of(ctl->node), r->broker_id, now_ms);
    arm(ctl);
    /* The epoch is the registration's offset: a broker that replayed up to
     * it knows at least its own registration. */
    out->caught_up = r->current_metadata_offset >= bm->epoch;
    return heartbeat_state(ctl, bm, r, out, msg, msglen);
}

/* ---- expiry -------------------------------------------------------------- */

int sk_brokers_expire(struct sk_broker *ctl, int64_t now_ms)
{
    struct sk_broker_sessions *s = sessions_of(ctl->node);
    if (!active_now(ctl, now_ms))
        return 0;
    int32_t session_ms = sk_brokers_session_ms(ctl->node);
    int fenced = 0;
    for (int i = 0; i < s->n; i++) {
        const struct sk_broker_meta *bm = sk_meta_broker(sk_ctl_working(ctl), s->v[i].id);
        if (!bm || bm->fenced || now_ms - s->v[i].last_ms <= session_ms)
            continue;
        char msg[256] = "";
        int16_t err = commit_change(ctl, bm, 1, false, msg, sizeof msg);
        if (err)
            sk_warn("cannot fence broker %" PRId32 " after its session expired: %s", bm->id, msg);
        else
            fenced++;
    }
    return fenced;
}

void sk_brokers_close(struct sk_node *n)
{
    struct sk_broker_sessions *s = n->broker_sessions;
    if (!s)
        return;
    free(s->v);
    free(s);
    n->broker_sessions = NULL;
}
