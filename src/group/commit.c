/* OffsetCommit: who may commit, and writing the offsets before they count. */
#include <stdlib.h>

#include "record_set.h"
#include "skein/errors.h"
#include "skein/group_offsets.h"
#include "skein/group_records.h"

/* Kafka 3.9's ClassicGroup.validateOffsetCommit. */
static int16_t check_group(struct sk_group *g, int32_t generation, kp_str member_id,
                           kp_str instance_id)
{
    if (g->state == SK_GROUP_DEAD)
        return SK_ERR_COORDINATOR_NOT_AVAILABLE;
    if (generation < 0 && g->state == SK_GROUP_EMPTY)
        return SK_ERR_NONE; /* a "simple" consumer: no group management */
    if (generation >= 0 || member_id.len > 0 || instance_id.len >= 0) {
        struct sk_member *m = NULL;
        int16_t err = sk_group_check_member(g, member_id, instance_id, &m);
        if (err)
            return err;
        if (generation != g->generation)
            return SK_ERR_ILLEGAL_GENERATION;
        if (g->state == SK_GROUP_COMPLETING_REBALANCE)
            return SK_ERR_REBALANCE_IN_PROGRESS;
        /* A commit proves the member is alive, as a heartbeat does. */
        if (!m->join_cb && !m->sync_cb)
            sk_member_schedule_session(m, m->session_timeout_ms);
        return SK_ERR_NONE;
    }
    return SK_ERR_UNKNOWN_MEMBER_ID; /* v0-style commit into a group with members */
}

int16_t sk_group_commit_check(struct sk_group_coordinator *co, kp_str group_id,
                              int32_t generation, kp_str member_id, kp_str instance_id,
                              struct sk_group **out)
{
    int16_t err = sk_group_owner_error(co, group_id);
    if (err)
        return err;
    if (group_id.len <= 0)
        return SK_ERR_INVALID_GROUP_ID;
    struct sk_group *g = sk_group_find(co, group_id);
    if (!g) {
        if (generation >= 0)
            return SK_ERR_ILLEGAL_GENERATION; /* from a generation this broker never had */
        g = sk_group_get_or_create(co, group_id);
        if (!g)
            return SK_ERR_UNKNOWN_SERVER_ERROR;
    }
    err = check_group(g, generation, member_id, instance_id);
    if (!err)
        *out = g;
    return err;
}

struct commit_op {
    struct sk_group *g;
    struct sk_commit_in *items;
    int n;
    int64_t now;
    sk_group_done_fn done;
    void *arg;
};

/* Kafka's mapping for a failed offsets write. */
static int16_t commit_error(int16_t err)
{
    switch (err) {
    case SK_ERR_MESSAGE_TOO_LARGE:
    case SK_ERR_RECORD_LIST_TOO_LARGE:
    case SK_ERR_INVALID_FETCH_SIZE:
        return SK_ERR_INVALID_COMMIT_OFFSET_SIZE;
    default:
        return sk_group_store_error(err);
    }
}

static void committed(void *arg, int16_t err)
{
    struct commit_op *op = arg;
    struct sk_group *g = op->g;
    g->pending_writes--;
    for (int i = 0; i < op->n; i++) {
        struct sk_commit_in *c = &op->items[i];
        if (c->err)
            continue;
        if (err)
            c->err = commit_error(err);
        else if (!g->removed &&
                 sk_offsets_put(&g->offsets, c->topic, c->partition, c->offset, c->leader_epoch,
                                c->metadata, op->now, c->expire_ts) < 0)
            c->err = SK_ERR_UNKNOWN_SERVER_ERROR;
    }
    sk_group_done_fn done = op->done;
    void *darg = op->arg;
    sk_group_unref(g);
    free(op);
    done(darg, err);
}

void sk_group_commit(struct sk_group *g, struct sk_commit_in *items, int n, sk_group_done_fn done,
                     void *arg)
{
    struct sk_group_coordinator *co = g->co;
    struct commit_op *op = malloc(sizeof *op);
    if (!op) {
        for (int i = 0; i < n; i++)
            items[i].err = items[i].err ? items[i].err : SK_ERR_UNKNOWN_SERVER_ERROR;
        done(arg, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *op = (struct commit_op){g, items, n, co->env.now_ms(co->env.ctx), done, arg};
    struct sk_rec_set s = {0};
    kp_str gid = g->id;
    for (int i = 0; i < n; i++) {
        struct sk_commit_in *c = &items[i];
        if (c->err)
            continue;
        if (c->metadata.len > co->lim.metadata_max_bytes) {
            c->err = SK_ERR_OFFSET_METADATA_TOO_LARGE;
            continue;
        }
        size_t k = s.buf.len;
        if (!s.err)
            s.err = sk_group_offset_key(&s.buf, gid, c->topic, c->partition);
        size_t v = s.buf.len;
        if (!s.err)
            s.err = sk_group_offset_value(&s.buf, c->offset, c->leader_epoch, c->metadata, op->now,
                                          c->expire_ts);
        sk_rec_set_add(&s, k, v, false);
    }
    sk_group_ref(g);
    g->pending_writes++;
    sk_rec_set_write(&s, co, g->partition, committed, op);
}
