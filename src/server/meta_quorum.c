/* Starting the node's metadata quorum (skein/meta_quorum.h). */
#include "skein/meta_quorum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server-int.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/logging.h"
#include "skein/meta_raftlog.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/quorum.h"
#include "skein/quorum_state.h"
#include "skein/submit.h"
#include "skein/timer.h"

struct sk_meta_quorum {
    struct sk_quorum *q;
    bool owns_q; /* the sole voter's; a larger quorum's is its transport's */
    struct sk_raft_qstate restored;
    sk_timer_id start_timer;
    sk_timer_id changed_timer;
    struct sk_meta_raftlog *log;
    struct sk_quorum_store store;
    struct sk_broker *ctl;
    uint64_t rng;
    int64_t applied_end; /* where the replayed image's log ends */
    bool registered;     /* this start's records are committed */
    bool writing;        /* start-up records are in flight */
};

/* splitmix64: the election jitter needs spread, not secrecy. */
static uint64_t next_rand(void *ctx)
{
    uint64_t *s = ctx;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void flushed(void *arg, uint64_t token, int64_t end, int err)
{
    struct sk_meta_quorum *mq = arg;
    if (err < 0) {
        sk_warn("metadata log: fdatasync failed (%s); metadata changes are refused until "
                "a restart", strerror(-err));
        sk_ctl_quorum_failed(mq->ctl, err);
        return;
    }
    int rc = sk_quorum_flushed(mq->q, token, end);
    if (rc)
        sk_warn("metadata quorum stopped: Kafka error %d", rc);
}

static void written(void *arg, int16_t err, const char *msg)
{
    struct sk_meta_quorum *mq = arg;
    mq->writing = false;
    if (err == 0)
        mq->registered = true;
    else
        sk_info("metadata quorum: start-up records not committed (%s); retried when this "
                "node next leads", msg ? msg : "no reason given");
}

/* A larger quorum's active controller commits what a fresh cluster needs:
 * metadata.version's bootstrap if the image has none, as Kafka's controller
 * does on the first activation of an empty log. Its own broker registers
 * as every other does, through its lifecycle (broker_lifecycle.c): a
 * registration written here would take a new epoch, so the broker's next
 * heartbeat would be refused as stale and it would register again, fenced,
 * its partitions losing their leader on every change of controller. */
static void startup_writes(struct sk_meta_quorum *mq)
{
    struct sk_broker *b = mq->ctl;
    if (mq->owns_q || mq->writing || mq->registered || !sk_ctl_quorum_active(b->node))
        return;
    struct sk_startup_records st;
    struct sk_meta_rec recs[2];
    int n = sk_startup_records(b, false, &st, recs);
    if (n < 0) {
        sk_warn("metadata quorum: cannot build the start-up records");
        return;
    }
    if (n == 0) {
        mq->registered = true;
        return;
    }
    mq->writing = true;
    sk_ctl_submit(b, recs, n, written, mq);
}

static void changed(void *arg, struct sk_quorum *q)
{
    (void)q;
    struct sk_meta_quorum *mq = arg;
    sk_ctl_quorum_changed(mq->ctl);
    startup_writes(mq);
}

static int q_append(void *ctx, const uint8_t *data, size_t len, int32_t count, int64_t *offset)
{
    return sk_quorum_append(ctx, data, len, count, offset);
}

static const struct sk_raft *q_raft(const void *ctx)
{
    return sk_quorum_raft(ctx);
}

static void raft_config(struct sk_meta_quorum *mq, const struct sk_node *n,
                        struct sk_raft_config *rc)
{
    memset(rc, 0, sizeof *rc);
    rc->node_id = n->node_id;
    rc->voters[0] = n->node_id;
    rc->n_voters = 1;
    size_t len = strnlen(n->cluster_id, sizeof n->cluster_id);
    memcpy(rc->cluster_id.bytes, n->cluster_id, len);
    rc->cluster_id.len = (int16_t)len;
    rc->rand = next_rand;
    rc->rand_ctx = &mq->rng;
    sk_meta_raftlog_bind(mq->log, rc);
    sk_quorum_store_bind(&mq->store, rc);
}

static int new_log(struct sk_meta_quorum *mq, const struct sk_node *n)
{
    struct sk_meta_raftlog_config lc = {.node_id = n->node_id, .n_voters = mq->store.n_voters,
                                        .flushed = flushed, .arg = mq};
    memcpy(lc.voters, mq->store.voters, sizeof lc.voters);
    return sk_meta_raftlog_new(n->metalog, &lc, &mq->log);
}

static void changed_later(void *arg)
{
    struct sk_meta_quorum *mq = arg;
    mq->changed_timer = 0;
    changed(mq, mq->q);
}

/* The controller commits through q from now on. A networked quorum is
 * attached before the shards run, and a KIP-853 voter alone in its set is
 * leader already then: what that changes is taken on the shard's first
 * pass, once every shard has its first image (server.c). */
static void attach(struct sk_meta_quorum *mq, struct sk_quorum *q)
{
    struct sk_broker *b = mq->ctl;
    mq->q = q;
    sk_quorum_set_listener(q, &(struct sk_quorum_listener){changed, mq});
    sk_meta_raftlog_set_syncer(mq->log, &b->syncer);
    sk_ctl_set_quorum(b, &(struct sk_ctl_quorum){q_append, q_raft, q}, mq->applied_end,
                      mq->owns_q);
    if (mq->owns_q || !(mq->changed_timer = sk_timer_add(b->shard, 0, changed_later, mq)))
        sk_ctl_quorum_changed(b);
}

static int start(struct sk_meta_quorum *mq, struct sk_broker *b)
{
    struct sk_node *n = b->node;
    int rc;
    /* Blocking until the core is up: the sole voter's LeaderChange is
     * durable, so committed, before the first request. */
    if ((rc = new_log(mq, n)) < 0)
        return rc;
    if (getrandom(&mq->rng, sizeof mq->rng, 0) != sizeof mq->rng)
        mq->rng = (uint64_t)n->node_id;
    struct sk_raft_config rcfg;
    raft_config(mq, n, &rcfg);
    mq->applied_end = sk_metalog_end_offset(n->metalog);
    struct sk_quorum *q;
    if ((rc = sk_quorum_new(b->shard, &rcfg, &mq->restored, &q)) < 0)
        return rc;
    /* A sole voter that is not leader now failed to write its vote or its
     * LeaderChange: it never will be, and the controller would refuse
     * every change. */
    if (sk_raft_role(sk_quorum_raft(q)) != SK_RAFT_LEADER) {
        sk_quorum_free(q);
        return -EIO;
    }
    mq->owns_q = true;
    attach(mq, q);
    return 0;
}

/* On the shard's first pass, once the commits made before it (start-up,
 * in-process tests' set-up, all blocking) are done: a change is either
 * written directly before the quorum or through it, never half of each. */
static void start_later(void *arg)
{
    struct sk_meta_quorum *mq = arg;
    struct sk_broker *b = mq->ctl;
    mq->start_timer = 0;
    if (sk_ctl_in_flight(b->node) > 0) {
        if (!(mq->start_timer = sk_timer_add(b->shard, 1, start_later, mq)))
            sk_warn("metadata quorum: cannot arm its start; changes stay on the log's syncs");
        return;
    }
    int rc = start(mq, b);
    if (rc < 0)
        sk_warn("metadata quorum: cannot start (%s); changes stay on the log's syncs",
                strerror(-rc));
}

/* The voters' ids, as controller.quorum.voters lists them. */
static int32_t voter_ids(const struct sk_config *cfg, int32_t *ids)
{
    int32_t n = 0;
    for (size_t i = 0; i < cfg->n_voters && n < SK_RAFT_MAX_VOTERS; i++)
        ids[n++] = cfg->voters[i].id;
    return n;
}

int sk_meta_quorum_open(struct sk_broker *b, const struct sk_config *cfg, int64_t applied_end,
                        char *err, size_t errlen)
{
    bool sole = cfg->n_voters == 1 && !sk_config_quorum_on_wire(cfg);
    if (cfg->n_voters == 0 && !cfg->dynamic_quorum)
        return 0;
    struct sk_meta_quorum *mq = calloc(1, sizeof *mq);
    if (!mq)
        return -ENOMEM;
    mq->ctl = b;
    mq->applied_end = applied_end;
    b->node->mquorum = mq;
    const char *dir = sk_plog_dir(sk_metalog_plog(b->node->metalog));
    int rc = sk_quorum_state_read(dir, &mq->restored, err, errlen);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    int32_t ids[SK_RAFT_MAX_VOTERS];
    int32_t nv = voter_ids(cfg, ids);
    rc = sk_quorum_store_init(&mq->store, dir, ids, nv);
    mq->store.data_version = cfg->dynamic_quorum ? 1 : 0; /* kraft.version's, as Kafka 3.9 */
    if (rc == 0 && !sole)
        rc = new_log(mq, b->node);
    if (rc == 0 && sole && !(mq->start_timer = sk_timer_add(b->shard, 0, start_later, mq)))
        rc = -ENOMEM;
    if (rc < 0)
        snprintf(err, errlen, "cannot start the metadata quorum: %s", strerror(-rc));
    return rc;
}

int sk_meta_quorum_bind(struct sk_node *n, struct sk_raft_config *rc,
                        const struct sk_raft_qstate **restored)
{
    struct sk_meta_quorum *mq = n->mquorum;
    if (!mq || !mq->log)
        return -EINVAL;
    sk_meta_raftlog_bind(mq->log, rc);
    sk_quorum_store_bind(&mq->store, rc);
    *restored = &mq->restored;
    return 0;
}

void sk_meta_quorum_attach(struct sk_node *n, struct sk_quorum *q)
{
    attach(n->mquorum, q);
}

void sk_meta_quorum_close(struct sk_node *n)
{
    struct sk_meta_quorum *mq = n->mquorum;
    if (!mq)
        return;
    if (mq->start_timer)
        sk_timer_cancel(mq->ctl->shard, mq->start_timer);
    if (mq->changed_timer)
        sk_timer_cancel(mq->ctl->shard, mq->changed_timer);
    if (mq->owns_q)
        sk_quorum_free(mq->q);
    sk_meta_raftlog_free(mq->log);
    free(mq);
    n->mquorum = NULL;
}
