/* The node's shards as threads: their contexts, their start, the drain
 * that stops them together, and the end of each on its own thread.
 *
 * Shard 0 runs on the thread that called sk_server_run (the process's main
 * thread); it also holds the listener, the controller and the metadata log.
 * Every other shard gets a thread of its own, which sets up the shard's
 * state (its partitions, groups, quotas, periodic tasks) itself, so that
 * every fsync it starts belongs to its own ring from the first one.
 * Nothing is served before every shard is ready: shard 0's loop, which
 * arms the accept, starts only then.
 *
 * A stop is two phases because shards answer for each other: a request
 * read on shard 1 may wait for shard 0's partition or group. First every
 * shard quiesces (no new connection or request, the ones read answered);
 * only when the last one has no connection left is each stopped, so no
 * answer in flight meets a shard that has already gone. Each shard then
 * closes its own partitions on its own thread. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/api.h"
#include "skein/config.h"
#include "skein/fetch.h"
#include "skein/group.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/publisher.h"
#include "skein/quota.h"
#include "skein/repl_quota.h"
#include "skein/server.h"
#include "skein/raftnet.h"
#include "server-int.h"

struct sk_shard_threads {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int nready, nfailed;
    bool decided, go;
    pthread_t *th; /* [nserved]; th[0] unused (shard 0 is the caller's) */
    int *rc;       /* each shard's result */
    int nstarted;
};

/* The default ("0") is a shard per CPU this process may run on: its
 * affinity mask, which a container's cpuset or taskset narrows, rather
 * than every CPU online. */
int sk_shard_count(const struct sk_config *cfg)
{
    if (cfg->num_shards > 0)
        return cfg->num_shards;
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (cpus <= 0)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? cpus : 1;
}

/* ---- contexts ------------------------------------------------------------------ */

static void stop_all(void *arg)
{
    struct sk_node *n = arg;
    int served = atomic_load(&n->nserved);
    for (int i = 0; i < served; i++)
        sk_shard_stop(n->shards[i]->shard);
}

/* On shard 0, whose thread runs the quorum: its outbound connections and
 * timers still run while quiet. */
static void resign_then_stop(struct sk_broker *b, void *arg)
{
    sk_raftnet_resign(b, stop_all, arg);
}

static void on_quiet(void *arg)
{
    struct sk_broker *b = arg;
    struct sk_node *n = b->node;
    int served = atomic_load(&n->nserved);
    if (atomic_fetch_add(&n->nquiet, 1) + 1 < served)
        return;
    if (!n->raftnet)
        stop_all(n);
    else if (b->index == 0)
        resign_then_stop(b, n);
    else if (sk_node_post(n, 0, resign_then_stop, n) < 0)
        stop_all(n);
}

int sk_shard_reactor_new(struct sk_broker *b, const struct sk_net_config *nc)
{
    struct sk_net_handler h = {.on_frame = sk_api_on_frame, .on_quiet = on_quiet,
                              .may_overtake = sk_api_may_overtake, .arg = b};
    int rc = sk_shard_new(nc, &h, &b->shard);
    if (rc == 0)
        b->syncer = sk_shard_syncer(b->shard);
    return rc;
}

int sk_shards_create(struct sk_node *n, int count, const struct sk_net_config *nc)
{
    for (int i = n->nshards; i < count; i++) {
        struct sk_broker *b = calloc(1, sizeof *b);
        if (!b)
            return -ENOMEM;
        *b = (struct sk_broker){.node = n, .index = i, .image = &n->image, .cfg = n->cfg};
        n->shards[i] = b;
        n->nshards = i + 1;
        int rc = sk_shard_reactor_new(b, nc);
        if (rc < 0) {
            free(b);
            n->nshards = i;
            return rc;
        }
        atomic_store(&n->nserved, i + 1);
    }
    return 0;
}

/* ---- one shard's state -------------------------------------------------------- */

/* The node's replication sensors, made with its client quota table. */
static int repl_quotas_open(struct sk_broker *b)
{
    struct sk_node *n = b->node;
    if (n->repl_quotas)
        return 0;
    struct sk_repl_quota *q = calloc(SK_REPL_DIRECTIONS, sizeof *q);
    if (!q)
        return -ENOMEM;
    uint64_t window_ms = (uint64_t)b->cfg->replication_quota.window_size_seconds * 1000;
    for (int i = 0; i < SK_REPL_DIRECTIONS; i++) {
        if (sk_repl_quota_init(&q[i], b->cfg->replication_quota.window_num, window_ms) < 0) {
            while (i-- > 0)
                sk_repl_quota_free(&q[i]);
            free(q);
            return -ENOMEM;
        }
    }
    n->repl_quotas = q;
    return 0;
}

/* The node's one table of quota sensors (skein/quota.h), made by the first
 * shard to open (shard 0, before the others' threads start). */
static int quotas_open(struct sk_broker *b)
{
    struct sk_node *n = b->node;
    if (!n->quotas) {
        struct sk_quotas *q = malloc(sizeof *q);
        if (!q || sk_quotas_init(q, b->cfg->quota.window_num,
                                 (uint64_t)b->cfg->quota.window_size_seconds * 1000)) {
            free(q);
            return -ENOMEM;
        }
        n->quotas = q;
    }
    b->quotas = n->quotas;
    return repl_quotas_open(b);
}

void sk_node_quotas_close(struct sk_node *n)
{
    if (n->quotas)
        sk_quotas_free(n->quotas);
    free(n->quotas);
    n->quotas = NULL;
    for (int i = 0; n->repl_quotas && i < SK_REPL_DIRECTIONS; i++)
        sk_repl_quota_free(&n->repl_quotas[i]);
    free(n->repl_quotas);
    n->repl_quotas = NULL;
}

int sk_shard_state_open(struct sk_broker *b, char *err, size_t errlen)
{
    b->state_open = true;
    if (sk_groups_open(b) < 0) {
        snprintf(err, errlen, "cannot load the group coordinator's state from __consumer_offsets");
        return -EIO;
    }
    if (quotas_open(b) < 0) {
        snprintf(err, errlen, "cannot set up client quotas");
        return -ENOMEM;
    }
    if (sk_maintenance_start(b) < 0) {
        snprintf(err, errlen, "cannot schedule log maintenance");
        return -ENOMEM;
    }
    if (sk_log_cleaner_start(b) < 0) {
        snprintf(err, errlen, "cannot start the log cleaner");
        return -ENOMEM;
    }
    if (sk_replica_fetchers_start(b) < 0) {
        snprintf(err, errlen, "cannot start the replica fetchers");
        return -ENOMEM;
    }
    if (sk_replica_isr_sender_start(b) < 0) {
        snprintf(err, errlen, "cannot start the ISR change sender");
        return -ENOMEM;
    }
    return 0;
}

void sk_shard_state_close(struct sk_broker *b)
{
    if (!b->state_open)
        return;
    b->state_open = false;
    /* The reactor has stopped: what is written from here on (a checkpoint
     * the closing logs rewrite) must sync on this thread, or never would. */
    b->syncer = sk_syncer_blocking;
    /* Partitions first: their parked requests are answered (and dropped by
     * the stopped reactor) before the shard's connections are freed. */
    sk_replica_fetchers_stop(b);
    sk_replica_isr_sender_stop(b);
    sk_fetch_close(b);
    sk_broker_sync_retry_stop(b);
    sk_log_cleaner_stop(b);
    sk_partitions_close_all(b);
    sk_groups_close(b);
    b->quotas = NULL; /* the node's, freed with it */
    sk_maintenance_stop(b);
}

/* ---- threads ------------------------------------------------------------------ */

/* Reports this shard's start and waits until every shard has reported:
 * true when all started and the node serves. */
static bool ready(struct sk_shard_threads *t, int rc)
{
    pthread_mutex_lock(&t->mu);
    t->nready++;
    t->nfailed += rc < 0;
    pthread_cond_broadcast(&t->cond);
    while (!t->decided)
        pthread_cond_wait(&t->cond, &t->mu);
    bool go = t->go;
    pthread_mutex_unlock(&t->mu);
    return go;
}

static void *shard_main(void *arg)
{
    struct sk_broker *b = arg;
    struct sk_shard_threads *t = b->node->threads;
    char err[256] = "", name[16];
    snprintf(name, sizeof name, "skein-shard-%d", b->index); /* for top -H, perf, gdb */
    pthread_setname_np(pthread_self(), name);
    /* The image was handed over before the thread began (sk_server_open);
     * its partitions open here, on the thread that will serve them. A log
     * that does not open stays offline and is retried, as on shard 0. */
    (void)b->node->subscriber(b, NULL);
    int rc = sk_shard_state_open(b, err, sizeof err);
    if (rc < 0)
        sk_error("shard %d cannot start: %s", b->index, err);
    if (ready(t, rc))
        rc = sk_shard_run(b->shard);
    sk_shard_state_close(b);
    t->rc[b->index] = rc;
    return NULL;
}

static void decide(struct sk_shard_threads *t, bool go)
{
    pthread_mutex_lock(&t->mu);
    t->decided = true;
    t->go = go;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
}

/* Signals go to the main thread, whose handler asks every shard to stop. */
static int spawn(struct sk_node *n, struct sk_shard_threads *t)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = 0;
    for (int i = 1; i < atomic_load(&n->nserved) && rc == 0; i++) {
        rc = -pthread_create(&t->th[i], NULL, shard_main, n->shards[i]);
        if (rc == 0)
            t->nstarted = i;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int sk_shards_start(struct sk_node *n)
{
    int served = atomic_load(&n->nserved);
    struct sk_shard_threads *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->th = calloc((size_t)served, sizeof *t->th);
    t->rc = calloc((size_t)served, sizeof *t->rc);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, NULL);
    n->threads = t;
    if (!t->th || !t->rc)
        return -ENOMEM;
    int rc = spawn(n, t);
    pthread_mutex_lock(&t->mu);
    while (t->nready < t->nstarted)
        pthread_cond_wait(&t->cond, &t->mu);
    bool go = rc == 0 && t->nfailed == 0;
    pthread_mutex_unlock(&t->mu);
    decide(t, go);
    return rc < 0 ? rc : go ? 0 : -EIO;
}

int sk_shards_join(struct sk_node *n)
{
    struct sk_shard_threads *t = n->threads;
    if (!t)
        return 0;
    int rc = 0;
    for (int i = 1; i <= t->nstarted; i++) {
        pthread_join(t->th[i], NULL);
        if (t->rc[i] < 0 && rc == 0)
            rc = t->rc[i];
    }
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
    free(t->th);
    free(t->rc);
    free(t);
    n->threads = NULL;
    return rc;
}

void sk_shards_stop(struct sk_node *n)
{
    atomic_store(&n->stop_asked, 1);
    int served = atomic_load(&n->nserved);
    for (int i = 0; i < served; i++)
        sk_shard_quiesce(n->shards[i]->shard);
}

/* The other shards' reactors go before shard 0's: it is their acceptor,
 * and their closing connections post back to it. */
void sk_shards_free(struct sk_node *n)
{
    int served = atomic_load(&n->nserved);
    for (int i = served - 1; i >= 1; i--) {
        struct sk_broker *b = n->shards[i];
        sk_shard_state_close(b);
        sk_publish_close(b);
        sk_shard_destroy(b->shard);
        free(b);
    }
}
