/* The Raft core put to work on a shard (skein/quorum.h). Every event, be it
 * a timer, a delivered message, an append or a completed flush, ends the same
 * way: what the core queued goes to the transport, the tick timer moves to
 * the core's next deadline, and a change the owner must hear of is posted on
 * a zero timer, so the listener never runs inside its owner's own call. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/quorum.h"
#include "skein/timer.h"

struct sk_quorum {
    struct sk_shard *shard;
    struct sk_raft *raft;
    struct sk_raft_config cfg;
    struct sk_quorum_transport transport;
    struct sk_quorum_listener listener;
    sk_timer_id tick_timer;
    int64_t tick_at;
    sk_timer_id notify_timer;
    /* What the listener last heard, to tell a change from a repeat. */
    int64_t seen_hw;
    enum sk_raft_role seen_role;
    int32_t seen_epoch;
    int32_t seen_leader;
    /* What the log last said, apart from the listener's view: a candidacy
     * that lasts one event is logged though the listener never sees it. */
    enum sk_raft_role logged_role;
    int32_t logged_epoch;
    int32_t logged_leader;
    bool logged_failure;
    /* A timer the driver could not arm leaves it unable to keep time: it
     * stops as the core stops after a failed write, and says so at every
     * call. */
    int16_t err;
};

static int64_t now_ms(const struct sk_quorum *q)
{
    return (int64_t)sk_shard_now_ms(q->shard);
}

static void send_out(struct sk_quorum *q)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(q->raft, &m)) {
        if (q->transport.send)
            q->transport.send(q->transport.arg, &m);
        else
            sk_raft_msg_release(&m);
    }
}

static bool changed(const struct sk_quorum *q)
{
    const struct sk_raft *r = q->raft;
    return sk_raft_high_watermark(r) != q->seen_hw || sk_raft_role(r) != q->seen_role ||
           sk_raft_epoch(r) != q->seen_epoch || sk_raft_leader(r) != q->seen_leader;
}

static void remember(struct sk_quorum *q)
{
    q->seen_hw = sk_raft_high_watermark(q->raft);
    q->seen_role = sk_raft_role(q->raft);
    q->seen_epoch = sk_raft_epoch(q->raft);
    q->seen_leader = sk_raft_leader(q->raft);
}

static void notify(void *arg)
{
    struct sk_quorum *q = arg;
    q->notify_timer = 0;
    if (!changed(q))
        return;
    remember(q);
    if (q->listener.on_change)
        q->listener.on_change(q->listener.arg, q);
}

static void on_tick(void *arg);

/* The core's deadline may lie in the past (work waiting): fire at once. */
static int arm_tick(struct sk_quorum *q)
{
    int64_t at = sk_raft_next_deadline(q->raft);
    if (q->tick_timer && at == q->tick_at)
        return 0;
    if (q->tick_timer)
        sk_timer_cancel(q->shard, q->tick_timer);
    int64_t now = now_ms(q);
    uint64_t ms = at > now ? (uint64_t)(at - now) : 0;
    q->tick_at = at;
    q->tick_timer = sk_timer_add(q->shard, ms, on_tick, q);
    return q->tick_timer ? 0 : -1;
}

static int arm_notify(struct sk_quorum *q)
{
    if (q->notify_timer || !changed(q))
        return 0;
    q->notify_timer = sk_timer_add(q->shard, 0, notify, q);
    return q->notify_timer ? 0 : -1;
}

static const char *role_name(enum sk_raft_role role)
{
    static const char *const names[] = {"unattached", "voted", "candidate",
                                        "leader", "follower", "resigned"};
    return (unsigned)role < sizeof(names) / sizeof(names[0]) ? names[role] : "unknown";
}

/* Every transition at INFO, as Kafka's QuorumState logs them: elections that
 * do not settle are otherwise invisible in an operator's log. */
static void log_transition(struct sk_quorum *q)
{
    const struct sk_raft *r = q->raft;
    enum sk_raft_role role = sk_raft_role(r);
    int32_t epoch = sk_raft_epoch(r), leader = sk_raft_leader(r);
    if (role == q->logged_role && epoch == q->logged_epoch && leader == q->logged_leader)
        return;
    q->logged_role = role;
    q->logged_epoch = epoch;
    q->logged_leader = leader;
    sk_log(SK_LOG_INFO, "raft: %s in epoch %d, leader %d", role_name(role), epoch, leader);
}

/* A stopped core no longer votes, fetches or leads, and nothing else would
 * show it: the node's broker side goes on serving from a frozen image. */
static void log_failure(struct sk_quorum *q)
{
    const struct sk_raft *r = q->raft;
    int16_t err = sk_raft_failure(r);
    if (!err || q->logged_failure)
        return;
    q->logged_failure = true;
    sk_error("raft: the quorum core stopped (%s) as %s in epoch %d, high watermark %" PRId64
             "; this node takes no part in the quorum until it restarts",
             sk_err_name(err), role_name(sk_raft_role(r)), sk_raft_epoch(r),
             sk_raft_high_watermark(r));
}

/* Ends every event; rc is what the core answered to it. */
static int settle(struct sk_quorum *q, int rc)
{
    log_transition(q);
    log_failure(q);
    send_out(q);
    if (arm_tick(q) || arm_notify(q))
        q->err = SK_ERR_UNKNOWN_SERVER_ERROR;
    return rc != SK_ERR_NONE ? rc : q->err;
}

static void on_tick(void *arg)
{
    struct sk_quorum *q = arg;
    q->tick_timer = 0;
    if (q->err)
        return;
    /* A stopped core has nothing left to do: its error is returned at the
     * owner's next call, and ticking it again would only spin. */
    int rc = sk_raft_tick(q->raft, now_ms(q));
    if (rc == SK_ERR_UNKNOWN_SERVER_ERROR || rc == SK_ERR_KAFKA_STORAGE_ERROR) {
        log_failure(q);
        send_out(q);
        q->err = (int16_t)rc;
        return;
    }
    settle(q, rc);
}

int sk_quorum_new(struct sk_shard *s, const struct sk_raft_config *cfg,
                  const struct sk_raft_qstate *restored, struct sk_quorum **out)
{
    struct sk_quorum *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->shard = s;
    q->cfg = *cfg;
    q->raft = sk_raft_new(&q->cfg, restored, (int64_t)sk_shard_now_ms(s));
    if (!q->raft) {
        free(q);
        return cfg->node_id < 0 ? -EINVAL : -ENOMEM;
    }
    remember(q);
    q->logged_epoch = -1;
    if (settle(q, SK_ERR_NONE)) {
        sk_quorum_free(q);
        return -ENOMEM;
    }
    *out = q;
    return 0;
}

void sk_quorum_free(struct sk_quorum *q)
{
    if (!q)
        return;
    if (q->tick_timer)
        sk_timer_cancel(q->shard, q->tick_timer);
    if (q->notify_timer)
        sk_timer_cancel(q->shard, q->notify_timer);
    struct sk_raft_msg m;
    while (sk_raft_poll_out(q->raft, &m))
        sk_raft_msg_release(&m);
    sk_raft_free(q->raft);
    free(q);
}

void sk_quorum_set_transport(struct sk_quorum *q, const struct sk_quorum_transport *t)
{
    q->transport = *t;
}

void sk_quorum_set_listener(struct sk_quorum *q, const struct sk_quorum_listener *l)
{
    q->listener = *l;
}

int sk_quorum_deliver(struct sk_quorum *q, const struct sk_raft_msg *m)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_receive(q->raft, m, now_ms(q)));
}

int sk_quorum_append(struct sk_quorum *q, const uint8_t *data, size_t len, int32_t count,
                     int64_t *offset)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_append(q->raft, data, len, count, offset));
}

int sk_quorum_flushed(struct sk_quorum *q, uint64_t token, int64_t end)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_flushed(q->raft, token, end));
}

int sk_quorum_resign(struct sk_quorum *q)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_resign(q->raft, now_ms(q)));
}

int sk_quorum_release_fetches(struct sk_quorum *q)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_release_fetches(q->raft));
}

int sk_quorum_add_voter(struct sk_quorum *q, const struct sk_raft_voter *v, int64_t *offset)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_add_voter(q->raft, v, now_ms(q), offset));
}

int sk_quorum_check_add_voter(struct sk_quorum *q, const struct sk_raft_voter *v)
{
    if (q->err)
        return q->err;
    return sk_raft_check_add_voter(q->raft, v, now_ms(q));
}

int sk_quorum_remove_voter(struct sk_quorum *q, int32_t id, const uint8_t *directory_id,
                           int64_t *offset)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_remove_voter(q->raft, id, directory_id, now_ms(q), offset));
}

int sk_quorum_update_voter(struct sk_quorum *q, const struct sk_raft_voter *v, int64_t *offset)
{
    if (q->err)
        return q->err;
    return settle(q, sk_raft_update_voter(q->raft, v, now_ms(q), offset));
}

const struct sk_raft *sk_quorum_raft(const struct sk_quorum *q)
{
    return q->raft;
}
