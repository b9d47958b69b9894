/* The broker's side of its registration with the active controller, as
 * Kafka 3.9's BrokerLifecycleManager does it, for a node with the broker
 * role in a multi-voter quorum (a sole voter registers itself locally):
 * BrokerRegistration with an incarnation id made at start, then
 * BrokerHeartbeat every broker.heartbeat.interval.ms with the offset of the
 * metadata this node has applied, which is what unfences it. A controller
 * that answers NOT_CONTROLLER, or none at all, is left for the next voter
 * of controller.quorum.voters; STALE_BROKER_EPOCH means the controller no
 * longer knows this registration, so the broker registers again.
 *
 * On SIGTERM the broker shuts down under control, as Kafka's does: it
 * keeps serving while its heartbeats carry WantShutDown, so the controller
 * moves its leaderships to other in-sync replicas before it stops, and it
 * stops once the controller answers ShouldShutDown, or after
 * broker.session.timeout.ms in any case (the controller would fence it by
 * then anyway).
 *
 * One request is in flight at a time, on shard 0 (the quorum's shard),
 * through one Kafka client connection to the voter tried. */
#include "skein/broker_lifecycle.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/raftnet.h"
#include "skein/submit.h"
#include "skein/timer.h"
#include "server-int.h"

#define SK_LIFECYCLE_RETRY_MS 200 /* before the next voter after a refusal */
#define SK_LIFECYCLE_MAX_FEATURES 8
/* How often shard 0 looks whether a signal asked for a controlled
 * shutdown: a signal handler can only set a flag. */
#define SK_LIFECYCLE_WATCH_MS 50

struct sk_broker_lifecycle {
    struct sk_broker *b;
    struct sk_kclient *kc;
    int voter; /* index in cfg->voters of the one kc talks to */
    int32_t tried_leader; /* the quorum leader last tried, -1: the voters' turn */
    kp_uuid incarnation;
    int64_t epoch; /* -1 until registered */
    int16_t refused; /* the last refusal logged, so a repeated one is not */
    bool in_flight, closing;
    sk_timer_id timer;
    uint32_t interval_ms;
    atomic_int shutdown_asked; /* set by the signal handler */
    bool shutting_down;        /* heartbeats carry WantShutDown */
    uint64_t shutdown_deadline_ms;
    uint32_t session_ms;
    sk_timer_id watch;
    /* Request bodies stay valid until their answer (skein/kclient.h). */
    kp_broker_registration_request reg;
    kp_broker_registration_request_listener listener;
    kp_broker_registration_request_feature features[SK_LIFECYCLE_MAX_FEATURES];
    kp_broker_heartbeat_request hb;
};

static void tick(void *arg);

static void schedule(struct sk_broker_lifecycle *lc, uint32_t ms)
{
    if (lc->timer)
        sk_timer_cancel(lc->b->shard, lc->timer);
    lc->timer = sk_timer_add(lc->b->shard, ms, tick, lc);
}

/* The voter tried last did not answer as the active controller. */
static void next_voter(struct sk_broker_lifecycle *lc)
{
    if (lc->kc)
        sk_kclient_close(lc->kc);
    lc->kc = NULL;
    size_t n = lc->b->node->cfg->n_voters;
    lc->voter = n ? (lc->voter + 1) % (int)n : 0;
}

/* The quorum's leader, where the quorum knows one and where it listens
 * (under KIP-853 the voters change at run time); else the voters in turn. */
static bool controller_address(struct sk_broker_lifecycle *lc, struct sk_voter *out)
{
    struct sk_node *n = lc->b->node;
    int32_t leader = sk_ctl_quorum_leader(n);
    if (leader >= 0 && leader != lc->tried_leader && sk_raftnet_controller(n, leader, out)) {
        lc->tried_leader = leader;
        return true;
    }
    lc->tried_leader = -1;
    if (n->cfg->n_voters == 0)
        return false;
    *out = n->cfg->voters[lc->voter % (int)n->cfg->n_voters];
    return true;
}

static bool connect_voter(struct sk_broker_lifecycle *lc)
{
    if (lc->kc)
        return true;
    struct sk_voter addr;
    if (!controller_address(lc, &addr))
        return false;
    const struct sk_voter *v = &addr;
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    /* A dead voter must not hold the broker past its session. */
    kc.request_timeout_ms = lc->interval_ms;
    kc.client_id = "broker-lifecycle";
    struct sk_kclient_handler h = {0};
    return sk_kclient_new(lc->b->shard, v->host, v->port, &kc, &h, &lc->kc) == 0;
}

static void fill_registration(struct sk_broker_lifecycle *lc)
{
    const struct sk_node *n = lc->b->node;
    kp_broker_registration_request *r = &lc->reg;
    kp_broker_registration_request_init(r);
    r->broker_id = n->node_id;
    r->cluster_id = kp_str_c(n->cluster_id);
    r->incarnation_id = lc->incarnation;
    kp_broker_registration_request_listener_init(&lc->listener);
    lc->listener.name = kp_str_c(n->listener_name);
    lc->listener.host = kp_str_c(n->advertised_host);
    lc->listener.port = n->advertised_port;
    lc->listener.security_protocol = 0; /* PLAINTEXT, the only one Skein serves */
    r->listeners = (kp_broker_registration_request_listener_arr){1, &lc->listener};
    size_t nf;
    const struct sk_feature_range *f = sk_features_supported(&nf);
    if (nf > SK_LIFECYCLE_MAX_FEATURES)
        nf = SK_LIFECYCLE_MAX_FEATURES;
    for (size_t i = 0; i < nf; i++) {
        kp_broker_registration_request_feature_init(&lc->features[i]);
        lc->features[i].name = kp_str_c(f[i].name);
        lc->features[i].min_supported_version = f[i].min;
        lc->features[i].max_supported_version = f[i].max;
    }
    r->features = (kp_broker_registration_request_feature_arr){(int32_t)nf, lc->features};
    r->rack = lc->b->cfg->rack ? kp_str_c(lc->b->cfg->rack) : KP_STR_NULL;
    r->log_dirs = (kp_arr_uuid){0, NULL};
    r->previous_broker_epoch = -1;
}

/* A refusal or silence that another voter may not give. */
static bool try_elsewhere(int16_t err)
{
    return err == SK_ERR_NOT_CONTROLLER || err == SK_ERR_NETWORK_EXCEPTION ||
           err == SK_ERR_REQUEST_TIMED_OUT || err == SK_ERR_UNSUPPORTED_VERSION;
}

static void registered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct sk_broker_lifecycle *lc = arg;
    lc->in_flight = false;
    if (lc->closing)
        return;
    const kp_broker_registration_response *r = resp;
    int16_t code = err ? err : r->error_code;
    if (code == SK_ERR_NONE) {
        lc->epoch = r->broker_epoch;
        lc->refused = SK_ERR_NONE;
        sk_info("broker %d registered with epoch %lld", lc->b->node->node_id,
                (long long)lc->epoch);
        schedule(lc, 0);
        return;
    }
    if (try_elsewhere(code)) {
        next_voter(lc);
    } else if (code != lc->refused) {
        /* DUPLICATE_BROKER_REGISTRATION lasts until the previous process's
         * session lapses: said once, not every retry. */
        lc->refused = code;
        sk_warn("broker registration refused: %s (asking again every %d ms)",
                sk_err_name(code), SK_LIFECYCLE_RETRY_MS);
    }
    schedule(lc, SK_LIFECYCLE_RETRY_MS);
}

static void heartbeat_answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct sk_broker_lifecycle *lc = arg;
    lc->in_flight = false;
    if (lc->closing)
        return;
    const kp_broker_heartbeat_response *r = resp;
    int16_t code = err ? err : r->error_code;
    if (lc->shutting_down && code == SK_ERR_NONE && r->should_shut_down) {
        sk_info("the controller let broker %d go: shutting down", lc->b->node->node_id);
        sk_shards_stop(lc->b->node);
        return;
    }
    if (code == SK_ERR_STALE_BROKER_EPOCH) {
        lc->epoch = -1;
    lc->tried_leader = -1; /* the controller lost or replaced the registration */
        schedule(lc, 0);
        return;
    }
    if (try_elsewhere(code)) {
        next_voter(lc);
        schedule(lc, SK_LIFECYCLE_RETRY_MS);
        return;
    }
    schedule(lc, lc->interval_ms);
}

static void send_heartbeat(struct sk_broker_lifecycle *lc)
{
    kp_broker_heartbeat_request_init(&lc->hb);
    lc->hb.broker_id = lc->b->node->node_id;
    lc->hb.broker_epoch = lc->epoch;
    /* What this shard applied: the image it serves from. */
    lc->hb.current_metadata_offset = lc->b->image ? lc->b->image->last_offset : -1;
    lc->hb.want_shut_down = lc->shutting_down;
    lc->in_flight = sk_kclient_send(lc->kc, 63, -1, &lc->hb, heartbeat_answered, lc) == 0;
}

static void tick(void *arg)
{
    struct sk_broker_lifecycle *lc = arg;
    lc->timer = 0;
    if (lc->in_flight || lc->closing)
        return;
    if (!connect_voter(lc)) {
        next_voter(lc);
        schedule(lc, SK_LIFECYCLE_RETRY_MS);
        return;
    }
    if (lc->epoch < 0) {
        fill_registration(lc);
        lc->in_flight = sk_kclient_send(lc->kc, 62, -1, &lc->reg, registered, lc) == 0;
    } else {
        send_heartbeat(lc);
    }
    if (!lc->in_flight)
        schedule(lc, SK_LIFECYCLE_RETRY_MS);
}

/* Shard 0's side of a SIGTERM: heartbeat WantShutDown now, and stop at the
 * bound whatever the controller says. A broker not registered leads
 * nothing and stops at once. */
static void watch(void *arg)
{
    struct sk_broker_lifecycle *lc = arg;
    lc->watch = 0;
    uint64_t now = sk_shard_now_ms(lc->b->shard);
    if (atomic_load(&lc->shutdown_asked) && !lc->shutting_down) {
        lc->shutting_down = true;
        lc->shutdown_deadline_ms = now + lc->session_ms;
        sk_info("broker %d shutting down under control: moving its leaderships away",
                lc->b->node->node_id);
        if (lc->epoch < 0) {
            sk_shards_stop(lc->b->node);
            return;
        }
        if (!lc->in_flight)
            schedule(lc, 0);
    }
    if (lc->shutting_down && now >= lc->shutdown_deadline_ms) {
        sk_warn("controlled shutdown of broker %d not confirmed within %u ms: stopping anyway",
                lc->b->node->node_id, lc->session_ms);
        sk_shards_stop(lc->b->node);
        return;
    }
    lc->watch = sk_timer_add(lc->b->shard, SK_LIFECYCLE_WATCH_MS, watch, lc);
}

bool sk_broker_lifecycle_begin_shutdown(struct sk_broker_lifecycle *lc)
{
    if (!lc)
        return false;
    /* A second signal stops at once. */
    return atomic_exchange(&lc->shutdown_asked, 1) == 0;
}

static uint32_t setting(const struct sk_config *cfg, const char *name, uint32_t dflt)
{
    struct sk_config_value v;
    if (sk_config_describe_broker(cfg, name, &v) != 0 || !v.value)
        return dflt;
    long ms = strtol(v.value, NULL, 10);
    return ms > 0 ? (uint32_t)ms : dflt;
}

int64_t sk_broker_lifecycle_epoch(const struct sk_broker_lifecycle *lc)
{
    return lc ? lc->epoch : -1;
}

/* This process's registration in img, NULL when img holds another or none. */
static const struct sk_broker_meta *own_registration(const struct sk_broker_lifecycle *lc,
                                                     const struct sk_meta_image *img)
{
    const struct sk_broker_meta *bm = img ? sk_meta_broker(img, lc->b->node->node_id) : NULL;
    if (!bm || memcmp(bm->incarnation.b, lc->incarnation.b, sizeof bm->incarnation.b) != 0)
        return NULL;
    return bm;
}

int64_t sk_broker_lifecycle_epoch_in(const struct sk_broker_lifecycle *lc,
                                     const struct sk_meta_image *img)
{
    const struct sk_broker_meta *bm = lc ? own_registration(lc, img) : NULL;
    return bm ? bm->epoch : -1;
}

bool sk_broker_lifecycle_unfenced_in(const struct sk_broker_lifecycle *lc,
                                  const struct sk_meta_image *img)
{
    if (!lc)
        return true;
    const struct sk_broker_meta *bm = own_registration(lc, img);
    return bm && !bm->fenced;
}

int sk_broker_lifecycle_start(struct sk_broker *b)
{
    const struct sk_config *cfg = b->node->cfg;
    if (!(cfg->process_roles & SK_ROLE_BROKER) || !sk_config_quorum_on_wire(cfg) || !b->shard)
        return 0;
    struct sk_broker_lifecycle *lc = calloc(1, sizeof *lc);
    if (!lc)
        return -ENOMEM;
    lc->b = b;
    lc->epoch = -1;
    lc->interval_ms = setting(cfg, "broker.heartbeat.interval.ms", 2000);
    lc->session_ms = setting(cfg, "broker.session.timeout.ms", 9000);
    atomic_init(&lc->shutdown_asked, 0);
    if (getrandom(lc->incarnation.b, 16, 0) != 16) {
        free(lc);
        return -EIO;
    }
    b->node->lifecycle = lc;
    schedule(lc, 0);
    lc->watch = sk_timer_add(b->shard, SK_LIFECYCLE_WATCH_MS, watch, lc);
    return 0;
}

void sk_broker_lifecycle_close(struct sk_broker *b)
{
    struct sk_broker_lifecycle *lc = b->node->lifecycle;
    if (!lc)
        return;
    b->node->lifecycle = NULL; /* before the free: a late signal must not see it */
    lc->closing = true;
    if (lc->timer)
        sk_timer_cancel(b->shard, lc->timer);
    if (lc->watch)
        sk_timer_cancel(b->shard, lc->watch);
    if (lc->kc)
        sk_kclient_close(lc->kc);
    free(lc);
}
