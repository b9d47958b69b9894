/* The messages the core wants sent, in the order it made them. The caller
 * drains them after each call; a fetch answer owns a copy of its batches, so
 * it stays valid however long the caller holds it while the log moves on. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static struct sk_raft_msg *push(struct sk_raft_outq *q)
{
    if (q->head + q->len == q->cap) {
        if (q->head > 0) {
            memmove(q->msgs, q->msgs + q->head, q->len * sizeof(*q->msgs));
            q->head = 0;
        } else {
            size_t cap = q->cap ? q->cap * 2 : 16;
            struct sk_raft_msg *m = realloc(q->msgs, cap * sizeof(*m));
            if (!m)
                return NULL;
            q->msgs = m;
            q->cap = cap;
        }
    }
    struct sk_raft_msg *m = &q->msgs[q->head + q->len++];
    memset(m, 0, sizeof(*m));
    return m;
}

static struct sk_raft_msg *stamp(struct sk_raft *r, struct sk_raft_msg *m)
{
    if (!m) {
        sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
        return NULL;
    }
    m->src = r->cfg.node_id;
    m->cluster_id = r->cfg.cluster_id;
    m->epoch = r->q.epoch;
    m->leader_id = r->q.leader_id;
    return m;
}

struct sk_raft_msg *sk_raft_request(struct sk_raft *r, enum sk_raft_msg_type t, int32_t dst)
{
    struct sk_raft_msg *m = stamp(r, push(&r->out));
    if (m) {
        m->type = t;
        m->dst = dst;
        if (++r->next_corr == 0) /* 0 stands for no request */
            ++r->next_corr;
        m->corr = r->next_corr;
    }
    return m;
}

struct sk_raft_msg *sk_raft_reply(struct sk_raft *r, const struct sk_raft_msg *req, int16_t err)
{
    struct sk_raft_msg *m = stamp(r, push(&r->out));
    if (m) {
        m->type = (enum sk_raft_msg_type)(req->type + 1);
        m->dst = req->src;
        m->corr = req->corr;
        m->error = err;
    }
    return m;
}

bool sk_raft_poll_out(struct sk_raft *r, struct sk_raft_msg *out)
{
    struct sk_raft_outq *q = &r->out;
    if (q->len == 0)
        return false;
    *out = q->msgs[q->head++];
    q->len--;
    if (q->len == 0)
        q->head = 0;
    return true;
}

void sk_raft_msg_release(struct sk_raft_msg *m)
{
    free(m->owned);
    m->owned = NULL;
}

void sk_raft_outq_free(struct sk_raft_outq *q)
{
    for (size_t i = 0; i < q->len; i++)
        sk_raft_msg_release(&q->msgs[q->head + i]);
    free(q->msgs);
    memset(q, 0, sizeof(*q));
}
