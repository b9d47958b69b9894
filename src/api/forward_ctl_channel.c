/* The channel from a broker to the active controller (skein/forward_ctl.h),
 * as Kafka's NodeToControllerChannelManager: one Kafka client connection,
 * on shard 0, to the CONTROLLER endpoint (controller.quorum.voters) of the
 * node the quorum names leader. A call that meets no leader, a dropped or
 * silent connection or a NOT_CONTROLLER answer waits for the next leader
 * and is sent again, until its deadline; past it the caller gets
 * REQUEST_TIMED_OUT, so losing a majority times requests out rather than
 * holding them. A leader that changes closes the connection, so calls in
 * flight to the old one move on at once instead of after their own timeout. */
#include <errno.h>
#include <stdlib.h>

#include "skein/config.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/raftnet.h"
#include "skein/submit.h"
#include "skein/timer.h"

#define TICK_MS 50 /* how often waiting calls look for a leader */
/* One answer may take this long: a controller that is stopped (not dead)
 * gives no sign but silence, and the call then tries again. */
#define ATTEMPT_TIMEOUT_MS 5000

struct ctl_call {
    struct ctl_call *next;
    struct sk_ctl_channel *ch;
    struct sk_ctl_call_spec spec;
    uint64_t deadline;
    bool in_flight, answered;
};

struct sk_ctl_channel {
    struct sk_broker *b;
    struct sk_kclient *kc;
    int32_t kc_node; /* the voter kc talks to */
    struct ctl_call *calls;
    sk_timer_id timer;
};

static void tick(void *arg);

static uint64_t now(const struct sk_ctl_channel *ch)
{
    return sk_shard_now_ms(ch->b->shard);
}

static void unlink_call(struct sk_ctl_channel *ch, struct ctl_call *c)
{
    for (struct ctl_call **p = &ch->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (c->spec.release)
        c->spec.release(c->spec.arg);
    free(c);
}

static void answer(struct ctl_call *c, int16_t err, int16_t version, const void *resp)
{
    c->answered = true;
    c->spec.done(c->spec.arg, err, version, resp);
}

static void drop_connection(struct sk_ctl_channel *ch)
{
    struct sk_kclient *kc = ch->kc;
    ch->kc = NULL;
    if (kc)
        sk_kclient_close(kc);
}

/* A failure another leader, or the same one later, may not give. */
static bool retriable(int16_t err)
{
    return err == SK_ERR_NETWORK_EXCEPTION || err == SK_ERR_REQUEST_TIMED_OUT ||
           err == SK_ERR_NOT_CONTROLLER;
}

static void schedule(struct sk_ctl_channel *ch)
{
    if (!ch->timer && ch->calls)
        ch->timer = sk_timer_add(ch->b->shard, TICK_MS, tick, ch);
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct ctl_call *c = arg;
    struct sk_ctl_channel *ch = c->ch;
    c->in_flight = false;
    if (c->answered) { /* its deadline passed meanwhile */
        unlink_call(ch, c);
        return;
    }
    if (!err && c->spec.not_controller(resp))
        err = SK_ERR_NOT_CONTROLLER;
    if (retriable(err)) {
        /* The leader we knew is gone or going: ask the quorum again. */
        sk_debug("controller %d: %s, retrying", ch->kc_node, sk_err_name(err));
        drop_connection(ch);
        schedule(ch);
        return;
    }
    answer(c, err, version, resp);
    unlink_call(ch, c);
}

/* A connection to the leader, or false while there is none. */
static bool connect_leader(struct sk_ctl_channel *ch)
{
    int32_t leader = sk_ctl_quorum_leader(ch->b->node);
    if (ch->kc && ch->kc_node == leader)
        return true;
    drop_connection(ch);
    struct sk_voter addr;
    if (leader < 0 || !sk_raftnet_controller(ch->b->node, leader, &addr))
        return false;
    const struct sk_voter *v = &addr;
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    kc.request_timeout_ms = ATTEMPT_TIMEOUT_MS;
    kc.client_id = "forwarding";
    struct sk_kclient_handler h = {0};
    if (sk_kclient_new(ch->b->shard, v->host, v->port, &kc, &h, &ch->kc) < 0)
        return false;
    ch->kc_node = leader;
    return true;
}

static void expire(struct sk_ctl_channel *ch, uint64_t t)
{
    struct ctl_call *c = ch->calls;
    while (c) {
        struct ctl_call *next = c->next;
        if (!c->answered && t >= c->deadline) {
            answer(c, SK_ERR_REQUEST_TIMED_OUT, -1, NULL);
            if (!c->in_flight)
                unlink_call(ch, c);
        }
        c = next;
    }
}

static void send_waiting(struct sk_ctl_channel *ch)
{
    for (struct ctl_call *c = ch->calls; c; c = c->next) {
        if (c->in_flight || c->answered)
            continue;
        if (!ch->kc && !connect_leader(ch))
            return;
        c->in_flight = sk_kclient_send(ch->kc, c->spec.api_key, c->spec.max_version,
                                       c->spec.body, answered, c) == 0;
    }
}

static void tick(void *arg)
{
    struct sk_ctl_channel *ch = arg;
    ch->timer = 0;
    expire(ch, now(ch));
    /* A new leader: calls in flight to the old one come back to be resent. */
    if (ch->kc && ch->kc_node != sk_ctl_quorum_leader(ch->b->node))
        drop_connection(ch);
    send_waiting(ch);
    schedule(ch);
}

int sk_ctl_call(struct sk_broker *b, const struct sk_ctl_call_spec *spec)
{
    struct sk_node *n = b->node;
    if (!n->ctl_channel) {
        if (!(n->ctl_channel = calloc(1, sizeof *n->ctl_channel)))
            return -ENOMEM;
        n->ctl_channel->b = b;
        n->ctl_channel->kc_node = -1;
    }
    struct sk_ctl_channel *ch = n->ctl_channel;
    struct ctl_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = (struct ctl_call){.ch = ch, .spec = *spec, .deadline = now(ch) + spec->timeout_ms};
    c->next = ch->calls;
    ch->calls = c;
    if (ch->kc && ch->kc_node != sk_ctl_quorum_leader(n))
        drop_connection(ch);
    send_waiting(ch);
    schedule(ch);
    return 0;
}

void sk_ctl_channel_close(struct sk_broker *b)
{
    struct sk_ctl_channel *ch = b->node->ctl_channel;
    if (!ch)
        return;
    if (ch->timer)
        sk_timer_cancel(b->shard, ch->timer);
    ch->timer = 0;
    /* Closing answers what is in flight (NETWORK_EXCEPTION): those are
     * released below with the rest, so nothing may pump again. */
    struct sk_kclient *kc = ch->kc;
    ch->kc = NULL;
    for (struct ctl_call *c = ch->calls; c; c = c->next)
        c->answered = true;
    if (kc)
        sk_kclient_close(kc);
    while (ch->calls)
        unlink_call(ch, ch->calls);
    free(ch);
    b->node->ctl_channel = NULL;
}
