/* KIP-919: a controller registers itself with the active controller, as
 * Kafka 3.9's ControllerRegistrationManager does. Once the quorum has a
 * leader, ControllerRegistration (the node id, an incarnation id made at
 * start, the CONTROLLER endpoint and the features this build supports)
 * goes to it, and again after a refusal or a lost answer, until this
 * node's image holds the registration of this incarnation; the active
 * controller commits it as a RegisterControllerRecord. DescribeCluster on
 * a CONTROLLER listener answers from those records, as an admin client
 * bootstrapped to the controllers (--bootstrap-controller) asks it.
 *
 * One request is in flight at a time, on shard 0, through one Kafka client
 * connection to the leader of the moment. */
#include "skein/controller_registration.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gen/kp_all.h"
#include "server-int.h"
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

#define CONTROLLER_REGISTRATION_KEY 70
#define TICK_MS 500 /* between looks at the image and retries */
#define MAX_FEATURES 8

struct sk_controller_registration {
    struct sk_broker *b;
    struct sk_kclient *kc;
    int32_t kc_for; /* the controller kc talks to */
    kp_uuid incarnation;
    bool in_flight, closing;
    int16_t last_err; /* logged once per change */
    sk_timer_id timer;
    kp_controller_registration_request req;
    kp_controller_registration_request_listener listener;
    kp_controller_registration_request_feature features[MAX_FEATURES];
};

static void fill(struct sk_controller_registration *r)
{
    const struct sk_config *cfg = r->b->node->cfg;
    kp_controller_registration_request *q = &r->req;
    kp_controller_registration_request_init(q);
    q->controller_id = cfg->node_id;
    q->incarnation_id = r->incarnation;
    const struct sk_listener *l = sk_config_listener(cfg, cfg->controller_listener);
    kp_controller_registration_request_listener_init(&r->listener);
    r->listener.name = kp_str_c(cfg->controller_listener);
    r->listener.host = kp_str_c(l ? l->host : "");
    r->listener.port = l ? l->port : 0;
    r->listener.security_protocol = 0; /* PLAINTEXT, the only one Skein serves */
    q->listeners = (kp_controller_registration_request_listener_arr){1, &r->listener};
    size_t nf;
    const struct sk_feature_range *f = sk_features_supported(&nf);
    if (nf > MAX_FEATURES)
        nf = MAX_FEATURES;
    for (size_t i = 0; i < nf; i++) {
        kp_controller_registration_request_feature_init(&r->features[i]);
        r->features[i].name = kp_str_c(f[i].name);
        r->features[i].min_supported_version = f[i].min;
        r->features[i].max_supported_version = f[i].max;
    }
    q->features = (kp_controller_registration_request_feature_arr){(int32_t)nf, r->features};
}

/* This incarnation's registration is in the image this node serves. */
static bool registered(const struct sk_controller_registration *r)
{
    const struct sk_broker_meta *c = sk_meta_controller(r->b->image, r->b->node->node_id);
    return c && memcmp(c->incarnation.b, r->incarnation.b, sizeof c->incarnation.b) == 0;
}

static void drop_connection(struct sk_controller_registration *r)
{
    struct sk_kclient *kc = r->kc;
    r->kc = NULL;
    if (kc)
        sk_kclient_close(kc);
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct sk_controller_registration *r = arg;
    r->in_flight = false;
    if (r->closing)
        return;
    const kp_controller_registration_response *a = resp;
    int16_t code = err ? err : a->error_code;
    if (code != SK_ERR_NONE && code != r->last_err)
        sk_warn("controller registration refused: %s %.*s (asking again every %d ms)",
                sk_err_name(code), !err && a->error_message.len > 0 ? a->error_message.len : 0,
                !err && a->error_message.ptr ? a->error_message.ptr : "", TICK_MS);
    r->last_err = code;
    if (code != SK_ERR_NONE)
        drop_connection(r); /* the leader may have moved */
}

static void send(struct sk_controller_registration *r)
{
    struct sk_node *n = r->b->node;
    int32_t leader = sk_ctl_quorum_leader(n);
    if (leader < 0)
        return;
    if (r->kc && r->kc_for != leader)
        drop_connection(r);
    struct sk_voter v;
    if (!r->kc) {
        if (!sk_raftnet_controller(n, leader, &v))
            return;
        struct sk_kclient_config kc;
        sk_kclient_config_defaults(&kc);
        kc.request_timeout_ms = 5000;
        kc.client_id = "controller-registration";
        struct sk_kclient_handler h = {0};
        if (sk_kclient_new(r->b->shard, v.host, v.port, &kc, &h, &r->kc) < 0)
            return;
        r->kc_for = leader;
    }
    r->in_flight = sk_kclient_send(r->kc, CONTROLLER_REGISTRATION_KEY, 0, &r->req, answered,
                                   r) == 0;
}

static void tick(void *arg)
{
    struct sk_controller_registration *r = arg;
    r->timer = 0;
    if (registered(r)) {
        sk_info("controller %d registered (KIP-919)", r->b->node->node_id);
        drop_connection(r);
        return;
    }
    if (!r->in_flight)
        send(r);
    r->timer = sk_timer_add(r->b->shard, TICK_MS, tick, r);
}

int sk_controller_registration_start(struct sk_broker *b)
{
    const struct sk_config *cfg = b->node->cfg;
    if (!(cfg->process_roles & SK_ROLE_CONTROLLER) || !sk_config_quorum_on_wire(cfg) ||
        !b->shard)
        return 0;
    struct sk_controller_registration *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->b = b;
    r->kc_for = -1;
    if (getrandom(r->incarnation.b, sizeof r->incarnation.b, 0) != sizeof r->incarnation.b) {
        free(r);
        return -EIO;
    }
    fill(r);
    b->node->ctl_registration = r;
    r->timer = sk_timer_add(b->shard, 0, tick, r);
    return r->timer ? 0 : -ENOMEM;
}

void sk_controller_registration_close(struct sk_broker *b)
{
    struct sk_controller_registration *r = b->node->ctl_registration;
    if (!r)
        return;
    b->node->ctl_registration = NULL;
    r->closing = true;
    if (r->timer)
        sk_timer_cancel(b->shard, r->timer);
    drop_connection(r);
    free(r);
}
