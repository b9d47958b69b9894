/* The leader's side of ISR changes, as Kafka 3.9's AlterPartitionManager
 * and Partition do it: every replica.lag.time.max.ms / 2 (and after a fetch
 * of a follower outside the ISR) each led partition of this shard is looked
 * at (isr.c decides); a wanted change becomes the partition's pending ISR
 * and an AlterPartition item, and the items of the shard go to the active
 * controller together, one request in flight at a time, so each partition
 * has at most one change in flight. The answer is applied per partition as
 * Kafka's Partition.handleAlterPartitionError/Update do.
 *
 * Partitions belong to shards and only their shard may touch them, so each
 * shard that leads partitions with followers keeps its own sender and
 * connection: the request is per controller and shard, not per broker.
 * The controller is reached as the broker's lifecycle reaches it: the
 * quorum's known leader first, then the voters in turn on NOT_CONTROLLER
 * or silence. A KIP-853 quorum names no voters in the configuration, and
 * where its leader listens is known on shard 0 alone: the shard asks it by
 * a message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "replica_int.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/raftnet.h"
#include "skein/submit.h"
#include "skein/timer.h"

#define ALTER_PARTITION_API_KEY 56
#define RETRY_MS 100 /* Kafka's retry backoff before the next attempt */
/* A voter whose connection is not ready by then is left for the next: a
 * paused process still accepts connections but never answers. */
#define CONNECT_WAIT_MS 2000

/* One partition's proposed change, as sent. */
struct item {
    kp_uuid topic_id;
    char *topic;
    int32_t partition;
    int32_t leader_epoch, partition_epoch;
    uint32_t gen; /* the partition's isr_gen when proposed */
    int32_t *isr;
    /* The broker epoch each follower's fetches named when the change was
     * decided (KIP-903), -1 where none; the sender's own is filled in when
     * sent. The controller refuses a member whose registration moved on. */
    int64_t *epochs;
    int32_t nisr;
    struct item *next;
};

struct sk_isr_sender {
    struct sk_broker *b;
    struct sk_kclient *kc;
    int voter;
    /* A KIP-853 quorum's active controller, as shard 0 resolved it. */
    struct sk_voter addr;
    bool addr_ok, resolving;
    uint64_t connect_ms; /* when kc was made */
    struct item *queue; /* proposed, not yet sent */
    struct item *sent;  /* in the request in flight */
    bool in_flight, closing;
    sk_timer_id check_timer, send_timer;
    /* The request in flight and what it points into (skein/kclient.h). */
    kp_alter_partition_request req;
    kp_alter_partition_request_topic_data *topics;
    kp_alter_partition_request_partition_data *parts;
    kp_alter_partition_request_broker_state *states;
};

static void send_now(void *arg);

static void item_free(struct item *it)
{
    free(it->topic);
    free(it->isr);
    free(it->epochs);
    free(it);
}

static void items_free(struct item *it)
{
    while (it) {
        struct item *next = it->next;
        item_free(it);
        it = next;
    }
}

static void schedule_send(struct sk_isr_sender *s, uint64_t ms)
{
    if (!s->send_timer && !s->in_flight && !s->closing)
        s->send_timer = sk_timer_add(s->b->shard, ms, send_now, s);
}

/* ---- proposals ------------------------------------------------------------ */

/* KIP-841: the leader does not propose a broker the controller would
 * refuse; KIP-903: nor one whose fetches came from an earlier registration,
 * whose log the broker may have lost in a crash since. */
static bool eligible(void *arg, int32_t id, int64_t fetch_epoch)
{
    const struct sk_broker *b = arg;
    const struct sk_broker_meta *bm = sk_meta_broker(b->image, id);
    return bm && !bm->fenced && !bm->in_controlled_shutdown &&
           (fetch_epoch == -1 || fetch_epoch == bm->epoch);
}

static int64_t follower_epoch(const struct sk_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->nfollowers; i++)
        if (p->followers[i].id == id)
            return p->followers[i].broker_epoch;
    return -1;
}

static void enqueue(struct sk_isr_sender *s, struct sk_partition *p)
{
    struct item *it = calloc(1, sizeof *it);
    int32_t *isr = malloc(sizeof *isr * (size_t)(p->npending + 1));
    int64_t *epochs = malloc(sizeof *epochs * (size_t)(p->npending + 1));
    char *topic = strdup(p->topic);
    if (!it || !isr || !epochs || !topic) {
        free(it);
        free(isr);
        free(epochs);
        free(topic);
        sk_replica_isr_drop_pending(p); /* proposed again at the next check */
        return;
    }
    memcpy(isr, p->pending_isr, sizeof *isr * (size_t)p->npending);
    for (int32_t i = 0; i < p->npending; i++)
        epochs[i] = follower_epoch(p, isr[i]);
    /* At the head: a shrink of thousands of partitions must not walk the
     * queue each time, and the request's order means nothing. */
    *it = (struct item){p->topic_id, topic, p->id, p->leader_epoch, p->partition_epoch,
                        p->isr_gen, isr, epochs, p->npending, s->queue};
    s->queue = it;
    schedule_send(s, 0);
}

static int64_t lag_ms(const struct sk_broker *b)
{
    return b->cfg->log.replica_lag_time_max_ms > 0 ? b->cfg->log.replica_lag_time_max_ms : 30000;
}

void sk_replica_isr_check(struct sk_partition *p, int64_t now_ms)
{
    struct sk_isr_sender *s = p->broker ? p->broker->isr_sender : NULL;
    if (!s || p->nfollowers == 0)
        return;
    int32_t *want = malloc(sizeof *want * (size_t)(p->nfollowers + 1));
    if (!want)
        return;
    int32_t n = sk_replica_isr_proposal(p, now_ms, lag_ms(s->b), eligible, s->b, want);
    if (n > 0) {
        sk_info("%s-%d: proposing ISR of %d replicas (was %d) at partition epoch %d", p->topic,
                p->id, n, p->nisr, p->partition_epoch);
        sk_replica_isr_propose(p, want, n);
        enqueue(s, p);
    }
    free(want);
}

static void check_all(void *arg)
{
    struct sk_isr_sender *s = arg;
    s->check_timer = 0;
    int64_t now = (int64_t)sk_shard_now_ms(s->b->shard);
    for (int i = 0; i < s->b->nparts; i++)
        sk_replica_isr_check(s->b->parts[i], now);
    /* Kafka's isr-expiration task runs every half of the lag bound. */
    s->check_timer = sk_timer_add(s->b->shard, (uint64_t)lag_ms(s->b) / 2, check_all, s);
}

/* ---- the request ------------------------------------------------------------ */

static int voter_index(const struct sk_node *n, int32_t id)
{
    for (size_t i = 0; i < n->cfg->n_voters; i++)
        if (n->cfg->voters[i].id == id)
            return (int)i;
    return -1;
}

/* The voter tried last did not answer as the active controller: the
 * quorum's leader as this node knows it, or the next voter; under KIP-853,
 * the leader's address asked anew. */
static void next_voter(struct sk_isr_sender *s)
{
    if (s->kc)
        sk_kclient_close(s->kc);
    s->kc = NULL;
    s->addr_ok = false;
    const struct sk_node *n = s->b->node;
    if (n->cfg->dynamic_quorum || n->cfg->n_voters == 0)
        return;
    int leader = voter_index(n, sk_ctl_quorum_leader(n));
    s->voter = leader >= 0 && leader != s->voter ? leader
                                                 : (s->voter + 1) % (int)n->cfg->n_voters;
}

struct resolve {
    int from; /* the asking shard */
    int32_t id;
    bool ok;
    struct sk_voter v;
};

static void resolved(struct sk_broker *b, void *arg)
{
    struct resolve *r = arg;
    struct sk_isr_sender *s = b->isr_sender;
    if (s) {
        s->resolving = false;
        s->addr_ok = r->ok;
        s->addr = r->v;
    }
    free(r);
}

static void resolve_on_shard0(struct sk_broker *zero, void *arg)
{
    struct resolve *r = arg;
    r->ok = sk_raftnet_controller(zero->node, r->id, &r->v);
    if (sk_node_post(zero->node, r->from, resolved, r) < 0)
        free(r);
}

/* Where to send: a configured voter, or the KIP-853 leader's address once
 * shard 0 told it (false meanwhile; the next attempt finds it): such a
 * node's voters are the set of its log at start-up, which may have moved. */
static bool controller_addr(struct sk_isr_sender *s, struct sk_voter *out)
{
    struct sk_node *n = s->b->node;
    if (!n->cfg->dynamic_quorum && n->cfg->n_voters > 0) {
        *out = n->cfg->voters[s->voter];
        return true;
    }
    if (s->addr_ok) {
        *out = s->addr;
        return true;
    }
    int32_t leader = sk_ctl_quorum_leader(n);
    struct resolve *r = s->resolving || leader < 0 ? NULL : calloc(1, sizeof *r);
    if (r) {
        *r = (struct resolve){.from = s->b->index, .id = leader};
        s->resolving = sk_node_post(n, 0, resolve_on_shard0, r) == 0;
        if (!s->resolving)
            free(r);
    }
    return false;
}

static bool connect_voter(struct sk_isr_sender *s)
{
    if (s->kc)
        return true;
    struct sk_voter addr;
    if (!controller_addr(s, &addr))
        return false;
    const struct sk_voter *v = &addr;
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    /* A dead voter must not hold ISR changes for a whole request timeout. */
    kc.request_timeout_ms = 5000;
    kc.client_id = "alter-partition";
    struct sk_kclient_handler h = {0};
    s->connect_ms = sk_shard_now_ms(s->b->shard);
    return sk_kclient_new(s->b->shard, v->host, v->port, &kc, &h, &s->kc) == 0;
}

/* Whether the partition still has the change the item carries. */
static struct sk_partition *still_pending(struct sk_broker *b, const struct item *it)
{
    struct sk_partition *p = sk_partition_get_by_id(b, &it->topic_id, it->partition);
    if (!p || !p->isr_pending || p->isr_gen != it->gen || p->role != SK_REPLICA_LEADER)
        return NULL;
    return p;
}

static void free_request(struct sk_isr_sender *s)
{
    free(s->topics);
    free(s->parts);
    free(s->states);
    s->topics = NULL;
    s->parts = NULL;
    s->states = NULL;
}

/* Fills s->req from s->sent, one topic entry per run of the same topic. */
static int build_request(struct sk_isr_sender *s, int64_t broker_epoch, int16_t version)
{
    int n = 0, nstates = 0;
    for (struct item *it = s->sent; it; it = it->next) {
        n++;
        nstates += it->nisr;
    }
    s->topics = calloc((size_t)n, sizeof *s->topics);
    s->parts = calloc((size_t)n, sizeof *s->parts);
    s->states = calloc((size_t)nstates + 1, sizeof *s->states);
    if (!s->topics || !s->parts || !s->states) {
        free_request(s);
        return -ENOMEM;
    }
    kp_alter_partition_request_init(&s->req);
    s->req.broker_id = s->b->node->node_id;
    s->req.broker_epoch = broker_epoch;
    int nt = 0, np = 0, ns = 0;
    for (struct item *it = s->sent; it; it = it->next) {
        int at = np++;
        kp_alter_partition_request_topic_data *t = nt ? &s->topics[nt - 1] : NULL;
        if (!t || memcmp(t->topic_id.b, it->topic_id.b, 16) != 0) {
            t = &s->topics[nt++];
            kp_alter_partition_request_topic_data_init(t);
            /* Names up to v1, ids from v2 (a field a version lacks must
             * stay at its default to encode). */
            if (version >= 2)
                t->topic_id = it->topic_id;
            else
                t->topic_name = kp_str_c(it->topic);
            t->partitions.v = &s->parts[at];
        }
        t->partitions.n++;
        kp_alter_partition_request_partition_data *pd = &s->parts[at];
        kp_alter_partition_request_partition_data_init(pd);
        pd->partition_index = it->partition;
        pd->leader_epoch = it->leader_epoch;
        pd->partition_epoch = it->partition_epoch;
        if (version < 3) {
            pd->new_isr = (kp_arr_i32){it->nisr, it->isr};
            continue;
        }
        pd->new_isr_with_epochs.v = &s->states[ns];
        for (int32_t i = 0; i < it->nisr; i++, ns++) {
            kp_alter_partition_request_broker_state_init(&s->states[ns]);
            s->states[ns].broker_id = it->isr[i];
            s->states[ns].broker_epoch =
                it->isr[i] == s->b->node->node_id ? broker_epoch : it->epochs[i];
        }
        pd->new_isr_with_epochs.n = it->nisr;
    }
    s->req.topics = (kp_alter_partition_request_topic_data_arr){nt, s->topics};
    return 0;
}

/* Items whose partition moved on since are dropped, not sent. */
static void prune(struct sk_isr_sender *s)
{
    for (struct item **pp = &s->queue; *pp;) {
        if (still_pending(s->b, *pp)) {
            pp = &(*pp)->next;
            continue;
        }
        struct item *dead = *pp;
        *pp = dead->next;
        item_free(dead);
    }
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp);

static void send_now(void *arg)
{
    struct sk_isr_sender *s = arg;
    s->send_timer = 0;
    prune(s);
    if (s->in_flight || !s->queue)
        return;
    const struct sk_broker_meta *self = sk_meta_broker(s->b->image, s->b->node->node_id);
    if (!self || !connect_voter(s)) {
        if (self)
            next_voter(s);
        schedule_send(s, RETRY_MS); /* not registered yet, or no connection */
        return;
    }
    /* The version decides which fields carry the ISR and the topic. */
    int16_t version = sk_kclient_version(s->kc, ALTER_PARTITION_API_KEY);
    if (!sk_kclient_ready(s->kc) || version < 0) {
        /* A voter without AlterPartition, or one that does not answer. */
        if (sk_kclient_ready(s->kc) ||
            sk_shard_now_ms(s->b->shard) - s->connect_ms > CONNECT_WAIT_MS)
            next_voter(s);
        schedule_send(s, RETRY_MS);
        return;
    }
    s->sent = s->queue;
    s->queue = NULL;
    if (build_request(s, self->epoch, version) < 0) {
        s->queue = s->sent;
        s->sent = NULL;
        schedule_send(s, RETRY_MS);
        return;
    }
    s->in_flight =
        sk_kclient_send(s->kc, ALTER_PARTITION_API_KEY, version, &s->req, answered, s) == 0;
    if (!s->in_flight) {
        free_request(s);
        s->queue = s->sent;
        s->sent = NULL;
        schedule_send(s, RETRY_MS);
    }
}

/* ---- the answer ------------------------------------------------------------ */

static struct item *take_item(struct item **list, const kp_alter_partition_response_topic_data *t,
                              int32_t partition, int16_t version)
{
    for (struct item **pp = list; *pp; pp = &(*pp)->next) {
        struct item *it = *pp;
        bool same = version >= 2 ? memcmp(it->topic_id.b, t->topic_id.b, 16) == 0
                                 : kp_str_eq_c(t->topic_name, it->topic);
        if (same && it->partition == partition) {
            *pp = it->next;
            it->next = NULL;
            return it;
        }
    }
    return NULL;
}

/* Kafka's Partition.handleAlterPartitionError: a refused proposal is
 * dropped (the next check may make another); one the controller says is
 * stale waits for the metadata that replaces it; anything else is retried. */
static bool apply_error(struct sk_partition *p, int16_t code)
{
    switch (code) {
    case SK_ERR_OPERATION_NOT_ATTEMPTED:
    case SK_ERR_INELIGIBLE_REPLICA:
        sk_replica_isr_drop_pending(p);
        return false;
    case SK_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case SK_ERR_UNKNOWN_TOPIC_ID:
    case SK_ERR_FENCED_LEADER_EPOCH:
    case SK_ERR_INVALID_UPDATE_VERSION:
    case SK_ERR_NOT_LEADER_OR_FOLLOWER:
    case SK_ERR_INVALID_REQUEST:
        return false;
    default:
        return true;
    }
}

static void apply_partition(struct sk_isr_sender *s, struct item *it,
                            const kp_alter_partition_response_partition_data *pd,
                            struct item **retry)
{
    struct sk_partition *p = still_pending(s->b, it);
    if (!p) {
        item_free(it);
        return;
    }
    if (pd->error_code != SK_ERR_NONE) {
        sk_info("%s-%d: ISR change refused: %s", p->topic, p->id, sk_err_name(pd->error_code));
        if (apply_error(p, pd->error_code)) {
            it->next = *retry;
            *retry = it;
            return;
        }
        item_free(it);
        return;
    }
    if (sk_replica_isr_committed(p, pd->leader_epoch, pd->partition_epoch, pd->isr.v,
                                 pd->isr.n < 0 ? 0 : pd->isr.n) < 0)
        sk_warn("%s-%d: out of memory taking the committed ISR", p->topic, p->id);
    else
        sk_info("%s-%d: ISR now %d replicas at partition epoch %d", p->topic, p->id, p->nisr,
                p->partition_epoch);
    if (p->partition_epoch == pd->partition_epoch)
        p->recovering = pd->leader_recovery_state == SK_LEADER_RECOVERING;
    item_free(it);
}

/* A whole request refused or unanswered is sent again, to the next voter
 * when this one is not (or no longer) the active controller. */
static bool retry_elsewhere(int16_t code)
{
    return code == SK_ERR_NOT_CONTROLLER || code == SK_ERR_NETWORK_EXCEPTION ||
           code == SK_ERR_REQUEST_TIMED_OUT || code == SK_ERR_UNSUPPORTED_VERSION;
}

static void requeue(struct sk_isr_sender *s, struct item *items)
{
    struct item **tail = &items;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s->queue;
    s->queue = items;
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct sk_isr_sender *s = arg;
    s->in_flight = false;
    if (s->closing)
        return; /* the stop frees what was sent */
    free_request(s);
    struct item *sent = s->sent;
    s->sent = NULL;
    const kp_alter_partition_response *r = resp;
    int16_t code = err ? err : r->error_code;
    if (code != SK_ERR_NONE) {
        if (retry_elsewhere(code))
            next_voter(s);
        requeue(s, sent);
        schedule_send(s, RETRY_MS);
        return;
    }
    struct item *retry = NULL;
    for (int32_t t = 0; t < r->topics.n; t++)
        for (int32_t i = 0; i < r->topics.v[t].partitions.n; i++) {
            const kp_alter_partition_response_partition_data *pd = &r->topics.v[t].partitions.v[i];
            struct item *it = take_item(&sent, &r->topics.v[t], pd->partition_index, version);
            if (it)
                apply_partition(s, it, pd, &retry);
        }
    /* Partitions the answer left out are asked again. */
    requeue(s, sent);
    requeue(s, retry);
    if (s->queue)
        schedule_send(s, RETRY_MS);
}

/* ---- start and stop ---------------------------------------------------------- */

int sk_replica_isr_sender_start(struct sk_broker *b)
{
    /* A combined sole voter is a cluster of one broker: no ISR ever
     * changes. */
    const struct sk_config *cfg = b->node->cfg;
    if (!b->shard || !sk_config_quorum_on_wire(cfg))
        return 0;
    struct sk_isr_sender *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->b = b;
    s->voter = cfg->n_voters ? b->index % (int)cfg->n_voters : 0;
    s->check_timer = sk_timer_add(b->shard, (uint64_t)lag_ms(b) / 2, check_all, s);
    b->isr_sender = s;
    return 0;
}

void sk_replica_isr_sender_stop(struct sk_broker *b)
{
    struct sk_isr_sender *s = b->isr_sender;
    if (!s)
        return;
    b->isr_sender = NULL;
    s->closing = true;
    if (s->check_timer)
        sk_timer_cancel(b->shard, s->check_timer);
    if (s->send_timer)
        sk_timer_cancel(b->shard, s->send_timer);
    s->check_timer = s->send_timer = 0;
    /* Closing fails the request in flight; its callback leaves the items
     * to us once closing is set. */
    struct sk_kclient *kc = s->kc;
    s->kc = NULL;
    if (kc)
        sk_kclient_close(kc);
    items_free(s->queue);
    items_free(s->sent);
    free_request(s);
    free(s);
}
