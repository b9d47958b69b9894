/* Starting the node's metadata quorum (skein/meta_quorum.h). */
#include "skein/meta_quorum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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
    struct sk_raft_qstate restored;
    sk_timer_id start_timer;
    struct sk_meta_raftlog *log;
    struct sk_quorum_store store;
    struct sk_broker *ctl;
    uint64_t rng;
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

static void changed(void *arg, struct sk_quorum *q)
{
    (void)q;
    struct sk_meta_quorum *mq = arg;
    sk_ctl_quorum_changed(mq->ctl);
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

static int start(struct sk_meta_quorum *mq, struct sk_broker *b)
{
    struct sk_node *n = b->node;
    int rc;
    /* Blocking until the core is up: the sole voter's LeaderChange is
     * durable, so committed, before the first request. */
    struct sk_meta_raftlog_config lc = {.node_id = n->node_id, .voters = {n->node_id},
                                        .n_voters = 1, .flushed = flushed, .arg = mq};
    if ((rc = sk_meta_raftlog_new(n->metalog, &lc, &mq->log)) < 0)
        return rc;
    if (getrandom(&mq->rng, sizeof mq->rng, 0) != sizeof mq->rng)
        mq->rng = (uint64_t)n->node_id;
    struct sk_raft_config rcfg;
    raft_config(mq, n, &rcfg);
    int64_t applied_end = sk_metalog_end_offset(n->metalog);
    if ((rc = sk_quorum_new(b->shard, &rcfg, &mq->restored, &mq->q)) < 0)
        return rc;
    /* A sole voter that is not leader now failed to write its vote or its
     * LeaderChange: it never will be, and the controller would refuse
     * every change. */
    if (sk_raft_role(sk_quorum_raft(mq->q)) != SK_RAFT_LEADER) {
        sk_quorum_free(mq->q);
        mq->q = NULL;
        return -EIO;
    }
    sk_quorum_set_listener(mq->q, &(struct sk_quorum_listener){changed, mq});
    sk_meta_raftlog_set_syncer(mq->log, &b->syncer);
    sk_ctl_set_quorum(b, &(struct sk_ctl_quorum){q_append, q_raft, mq->q}, applied_end);
    sk_ctl_quorum_changed(b);
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

int sk_meta_quorum_open(struct sk_broker *b, const struct sk_config *cfg, char *err,
                        size_t errlen)
{
    if (cfg->n_voters != 1 || cfg->voters[0].id != cfg->node_id)
        return 0;
    struct sk_meta_quorum *mq = calloc(1, sizeof *mq);
    if (!mq)
        return -ENOMEM;
    mq->ctl = b;
    b->node->mquorum = mq;
    const char *dir = sk_plog_dir(sk_metalog_plog(b->node->metalog));
    int rc = sk_quorum_state_read(dir, &mq->restored, err, errlen);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if ((rc = sk_quorum_store_init(&mq->store, dir, &b->node->node_id, 1)) < 0 ||
        !(mq->start_timer = sk_timer_add(b->shard, 0, start_later, mq))) {
        snprintf(err, errlen, "cannot start the metadata quorum: %s",
                 strerror(rc < 0 ? -rc : ENOMEM));
        return rc < 0 ? rc : -ENOMEM;
    }
    return 0;
}

void sk_meta_quorum_close(struct sk_node *n)
{
    struct sk_meta_quorum *mq = n->mquorum;
    if (!mq)
        return;
    if (mq->start_timer)
        sk_timer_cancel(mq->ctl->shard, mq->start_timer);
    sk_quorum_free(mq->q);
    sk_meta_raftlog_free(mq->log);
    free(mq);
    n->mquorum = NULL;
}
