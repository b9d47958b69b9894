/* The quorum driver (src/raft/driver.c): three drivers on one test shard,
 * wired by an in-process transport that delivers each message on a later
 * timer, elect a leader on the shard's own timers, commit its LeaderChange
 * batch, fail over when the leader goes, and free everything they hold. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/net.h"
#include "skein/quorum.h"
#include "skein/timer.h"

#define N 3
#define WATCHDOG_MS 20000

struct net;

struct node {
    struct net *net;
    int32_t id;
    struct sk_quorum *q;
    struct sk_raft_memlog *log;
    struct sk_raft_memstore store;
    uint64_t rng;
    int changes;
};

/* One message in flight; the transport owns it until delivered. */
struct flight {
    struct net *net;
    struct sk_raft_msg m;
    sk_timer_id timer;
    struct flight *next, *prev;
};

struct net {
    struct sk_shard *s;
    struct node nodes[N];
    struct flight *flights;
    bool (*done)(struct net *);
    bool timed_out;
    bool in_owner_call;
    bool listener_inside_call;
    int32_t killed; /* its messages are lost */
};

static uint64_t lcg(void *ctx)
{
    uint64_t *st = ctx;
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 33;
}

static void unlink_flight(struct net *n, struct flight *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        n->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
}

static void land(void *arg)
{
    struct flight *f = arg;
    struct net *n = f->net;
    unlink_flight(n, f);
    struct node *dst = f->m.dst >= 1 && f->m.dst <= N ? &n->nodes[f->m.dst - 1] : NULL;
    if (dst && dst->q && dst->id != n->killed) {
        /* Delivering is the owner's call: votes and fetch answers change
         * roles, epochs and high watermarks inside it. */
        n->in_owner_call = true;
        sk_quorum_deliver(dst->q, &f->m);
        n->in_owner_call = false;
    }
    sk_raft_msg_release(&f->m);
    free(f);
}

static void send_msg(void *arg, struct sk_raft_msg *m)
{
    struct node *src = arg;
    struct net *n = src->net;
    struct flight *f = calloc(1, sizeof(*f));
    cr_assert(f);
    f->net = n;
    f->m = *m;
    f->timer = sk_timer_add(n->s, 1, land, f);
    cr_assert(f->timer);
    f->next = n->flights;
    if (f->next)
        f->next->prev = f;
    n->flights = f;
}

static void on_change(void *arg, struct sk_quorum *q)
{
    struct node *nd = arg;
    cr_assert_eq(q, nd->q);
    if (nd->net->in_owner_call)
        nd->net->listener_inside_call = true;
    nd->changes++;
}

static void start_node(struct net *n, int32_t id)
{
    struct node *nd = &n->nodes[id - 1];
    nd->net = n;
    nd->id = id;
    nd->rng = (uint64_t)id * 7919;
    struct sk_raft_config cfg = {
        .node_id = id,
        .n_voters = N,
        .cluster_id = {.len = 5, .bytes = "abcde"},
        .election_timeout_ms = 150,
        .fetch_timeout_ms = 300,
        .election_backoff_max_ms = 100,
        .request_timeout_ms = 100,
        .retry_backoff_ms = 20,
        .fetch_max_wait_ms = 20,
        .rand = lcg,
        .rand_ctx = &nd->rng,
    };
    for (int i = 0; i < N; i++)
        cfg.voters[i] = i + 1;
    if (!nd->log)
        nd->log = sk_raft_memlog_new();
    sk_raft_memlog_bind(nd->log, &cfg);
    sk_raft_memstore_bind(&nd->store, &cfg);
    struct sk_raft_qstate st = nd->store.writes ? nd->store.state
                                                : (struct sk_raft_qstate){0, SK_RAFT_NO_ID, SK_RAFT_NO_ID};
    cr_assert_eq(sk_quorum_new(n->s, &cfg, &st, &nd->q), 0);
    sk_quorum_set_transport(nd->q, &(struct sk_quorum_transport){send_msg, nd});
    sk_quorum_set_listener(nd->q, &(struct sk_quorum_listener){on_change, nd});
}

static void check(void *arg)
{
    struct net *n = arg;
    if (n->done(n)) {
        sk_shard_stop(n->s);
        return;
    }
    cr_assert(sk_timer_add(n->s, 5, check, n));
}

static void watchdog(void *arg)
{
    struct net *n = arg;
    n->timed_out = true;
    sk_shard_stop(n->s);
}

/* Runs the shard until done(n) holds or the watchdog fires. */
static void run_until(struct net *n, bool (*done)(struct net *))
{
    n->done = done;
    cr_assert(sk_timer_add(n->s, 0, check, n));
    sk_timer_id w = sk_timer_add(n->s, WATCHDOG_MS, watchdog, n);
    cr_assert(w);
    cr_assert_eq(sk_shard_run(n->s), 0);
    sk_timer_cancel(n->s, w);
    cr_assert_not(n->timed_out, "the quorum did not get there in time");
}

static void net_start(struct net *n)
{
    memset(n, 0, sizeof(*n));
    n->killed = SK_RAFT_NO_ID;
    struct sk_net_config cfg;
    sk_net_config_defaults(&cfg);
    struct sk_net_handler h = {0};
    cr_assert_eq(sk_shard_new(&cfg, &h, &n->s), 0);
    for (int32_t id = 1; id <= N; id++)
        start_node(n, id);
}

static void net_free(struct net *n)
{
    while (n->flights) {
        struct flight *f = n->flights;
        unlink_flight(n, f);
        sk_timer_cancel(n->s, f->timer);
        sk_raft_msg_release(&f->m);
        free(f);
    }
    for (int i = 0; i < N; i++) {
        sk_quorum_free(n->nodes[i].q);
        sk_raft_memlog_free(n->nodes[i].log);
    }
    sk_shard_destroy(n->s);
}

/* The live node that leads, or NULL. */
static struct node *leader_of(struct net *n)
{
    for (int i = 0; i < N; i++) {
        struct node *nd = &n->nodes[i];
        if (nd->q && nd->id != n->killed && sk_raft_role(sk_quorum_raft(nd->q)) == SK_RAFT_LEADER)
            return nd;
    }
    return NULL;
}

/* Every live node follows one leader in one epoch and has learned a high
 * watermark past its LeaderChange batch. */
static bool agreed(struct net *n)
{
    struct node *l = leader_of(n);
    if (!l)
        return false;
    const struct sk_raft *lr = sk_quorum_raft(l->q);
    for (int i = 0; i < N; i++) {
        struct node *nd = &n->nodes[i];
        if (!nd->q || nd->id == n->killed)
            continue;
        const struct sk_raft *r = sk_quorum_raft(nd->q);
        if (sk_raft_epoch(r) != sk_raft_epoch(lr) || sk_raft_leader(r) != l->id ||
            sk_raft_high_watermark(r) < 1)
            return false;
    }
    return true;
}

Test(quorum, three_drivers_elect_and_commit_on_the_shards_timers)
{
    struct net n;
    net_start(&n);
    run_until(&n, agreed);
    for (int i = 0; i < N; i++)
        cr_assert_gt(n.nodes[i].changes, 0, "node %d heard of no change", i + 1);
    net_free(&n);
}

/* Each test runs the shard once, as a shard cannot run again after a stop:
 * its condition moves through phases and acts between them. */
static int phase;
static int32_t first_epoch;
static int32_t old_leader;
static int64_t appended_at;
static int changes_before;

static bool failed_over(struct net *n)
{
    if (phase == 0) {
        if (!agreed(n))
            return false;
        struct node *old = leader_of(n);
        first_epoch = sk_raft_epoch(sk_quorum_raft(old->q));
        old_leader = old->id;
        n->killed = old->id;
        phase = 1;
        return false;
    }
    struct node *l = leader_of(n);
    return l && sk_raft_epoch(sk_quorum_raft(l->q)) > first_epoch && agreed(n);
}

Test(quorum, a_new_leader_when_the_leader_goes)
{
    struct net n;
    net_start(&n);
    phase = 0;
    run_until(&n, failed_over);
    cr_assert_neq(leader_of(&n)->id, old_leader);
    net_free(&n);
}

static bool appended_committed(struct net *n)
{
    if (phase == 0) {
        if (!agreed(n))
            return false;
        struct node *l = leader_of(n);
        changes_before = l->changes;
        n->in_owner_call = true;
        cr_assert_eq(sk_quorum_append(l->q, (const uint8_t *)"rec", 3, 1, &appended_at),
                     SK_ERR_NONE);
        n->in_owner_call = false;
        phase = 1;
        return false;
    }
    return sk_raft_high_watermark(sk_quorum_raft(leader_of(n)->q)) > appended_at;
}

Test(quorum, the_listener_runs_after_the_owners_call_not_inside_it)
{
    struct net n;
    net_start(&n);
    phase = 0;
    run_until(&n, appended_committed);
    cr_assert_not(n.listener_inside_call);
    cr_assert_gt(leader_of(&n)->changes, changes_before, "the high watermark moved and nobody was told");
    net_free(&n);
}

Test(quorum, an_append_off_the_leader_is_refused)
{
    struct net n;
    net_start(&n);
    run_until(&n, agreed);
    struct node *f = &n.nodes[leader_of(&n)->id % N];
    int64_t off;
    cr_assert_eq(sk_quorum_append(f->q, (const uint8_t *)"x", 1, 1, &off),
                 SK_ERR_NOT_LEADER_OR_FOLLOWER);
    net_free(&n);
}

/* A node id outside the voters is an observer (a broker following the
 * quorum); only an invalid one is refused. */
Test(quorum, a_node_id_that_is_no_voter_observes)
{
    struct sk_net_config cfg;
    sk_net_config_defaults(&cfg);
    struct sk_net_handler h = {0};
    struct sk_shard *s;
    cr_assert_eq(sk_shard_new(&cfg, &h, &s), 0);
    struct sk_raft_memlog *log = sk_raft_memlog_new();
    struct sk_raft_memstore store = {0};
    uint64_t rng = 1;
    struct sk_raft_config rc = {.node_id = 9, .n_voters = 1, .voters = {1}, .rand = lcg,
                                .rand_ctx = &rng};
    sk_raft_memlog_bind(log, &rc);
    sk_raft_memstore_bind(&store, &rc);
    struct sk_raft_qstate st = {0, SK_RAFT_NO_ID, SK_RAFT_NO_ID};
    struct sk_quorum *q;
    cr_assert_eq(sk_quorum_new(s, &rc, &st, &q), 0);
    cr_assert(sk_raft_is_observer(sk_quorum_raft(q)));
    cr_assert_neq(sk_raft_role(sk_quorum_raft(q)), SK_RAFT_LEADER, "an observer never elects itself");
    sk_quorum_free(q);
    rc.node_id = -1;
    cr_assert_eq(sk_quorum_new(s, &rc, &st, &q), -EINVAL);
    sk_raft_memlog_free(log);
    sk_shard_destroy(s);
}

static bool single_committed(struct net *n)
{
    return sk_raft_high_watermark(sk_quorum_raft(n->nodes[0].q)) >= 1;
}

Test(quorum, a_single_voter_commits_with_no_transport)
{
    struct net n = {.killed = SK_RAFT_NO_ID};
    struct sk_net_config cfg;
    sk_net_config_defaults(&cfg);
    struct sk_net_handler h = {0};
    cr_assert_eq(sk_shard_new(&cfg, &h, &n.s), 0);
    struct node *nd = &n.nodes[0];
    nd->log = sk_raft_memlog_new();
    struct sk_raft_config rc = {.node_id = 1, .n_voters = 1, .voters = {1},
                                .election_timeout_ms = 50, .rand = lcg, .rand_ctx = &nd->rng};
    sk_raft_memlog_bind(nd->log, &rc);
    sk_raft_memstore_bind(&nd->store, &rc);
    struct sk_raft_qstate st = {0, SK_RAFT_NO_ID, SK_RAFT_NO_ID};
    cr_assert_eq(sk_quorum_new(n.s, &rc, &st, &nd->q), 0);
    run_until(&n, single_committed);
    cr_assert_eq(sk_raft_role(sk_quorum_raft(nd->q)), SK_RAFT_LEADER);
    net_free(&n);
}
