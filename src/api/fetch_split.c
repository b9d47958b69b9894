/* A fetch whose partitions live on several shards: each is read on its
 * owner (split.h), the session, parking and answer stay on the
 * connection's shard.
 *
 * Owners read in parallel, each partition with the whole response budget,
 * so the budget is applied afterwards, in the request's order, as Kafka's
 * sequential read applies it: a partition whose records no longer fit is
 * answered without them (its high watermark still tells the client where
 * the log is), and the client reads it on its next fetch. A slice holds its
 * own fd, so it may be closed on whichever thread drops it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_int.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "split.h"

struct read_split {
    struct sk_fetch_op *op;
    sk_fetch_read_fn then;
};

static int part_owner(const struct sk_fetch_op *op, int i)
{
    struct sk_broker *b = op->req->broker;
    const struct sk_fetch_part *fp = &op->parts[i];
    if (!op->by_id)
        return sk_shard_of_partition(b->node, fp->topic, fp->partition);
    const struct sk_topic_meta *t = sk_meta_topic_by_id(b->image, &fp->topic_id);
    /* An unknown id is answered as such by home. */
    return t ? sk_shard_of_partition(b->node, kp_str_c(t->name), fp->partition) : b->index;
}

bool sk_fetch_spans_shards(const struct sk_fetch_op *op)
{
    const struct sk_broker *b = op->req->broker;
    if (b->node->nshards <= 1)
        return false;
    for (int i = 0; i < op->nparts; i++)
        if (part_owner(op, i) != b->index)
            return true;
    return false;
}

static int owner_of(void *ctx, int i)
{
    return part_owner(((struct read_split *)ctx)->op, i);
}

/* On the owner: the op is only read here, and only its result i written. */
static void run(void *ctx, struct sk_split_item *it)
{
    const struct sk_fetch_op *op = ((struct read_split *)ctx)->op;
    uint32_t budget = op->max_bytes;
    bool min_one = op->req->version >= 3;
    sk_fetch_read_one(it->owner, op, it->index, &budget, &min_one, it->out);
    const struct sk_fetch_result *r = &op->results[it->index];
    /* Watched from the read on, so no append after it goes unnoticed. */
    if (r->slice.len == 0 && r->data.error_code == SK_ERR_NONE && op->deadline_ms &&
        sk_fetch_watch_add(it->owner, op, it->index) < 0)
        ((struct sk_fetch_readout *)it->out)->must_answer = true; /* cannot wait for it */
    sk_split_item_done(it);
}

/* Home: the response budget over the results, in order. */
static void apply_budget(struct sk_fetch_op *op, struct sk_split *sp, struct sk_fetch_readout *ro)
{
    uint32_t budget = op->max_bytes;
    bool min_one = op->req->version >= 3;
    for (int i = 0; i < op->nparts; i++) {
        struct sk_fetch_result *r = &op->results[i];
        int err = sk_split_item_error(sp, i);
        if (err != SK_ERR_NONE) {
            sk_plog_slice_release(&r->slice);
            r->slice = (struct sk_plog_slice){.fd = -1};
            sk_fetch_result_error(r, (int16_t)err);
            ro->must_answer = true;
            continue;
        }
        const struct sk_fetch_readout *one = sk_split_out(sp, i);
        ro->must_answer |= one->must_answer;
        ro->interesting += one->interesting;
        uint32_t len = r->slice.len;
        if (len == 0)
            continue;
        if (len > budget && !min_one) {
            sk_plog_slice_release(&r->slice);
            r->slice = (struct sk_plog_slice){.fd = -1};
            r->data.records = (kp_bytes){NULL, 0};
            continue;
        }
        budget = len > budget ? 0 : budget - len;
        min_one = false;
        ro->bytes += len;
    }
}

static void done(void *ctx, struct sk_split *sp)
{
    struct read_split *rs = ctx;
    struct sk_fetch_readout ro = {0};
    apply_budget(rs->op, sp, &ro);
    sk_split_release(sp);
    rs->then(rs->op, &ro);
}

static const struct sk_split_ops ops = {
    .out_size = sizeof(struct sk_fetch_readout), .run = run, .done = done, .free_ctx = free};

int sk_fetch_read_split(struct sk_fetch_op *op, sk_fetch_read_fn then)
{
    struct read_split *rs = malloc(sizeof *rs);
    if (!rs)
        return -ENOMEM;
    *rs = (struct read_split){op, then};
    struct sk_split *sp = sk_split_new(op->req->broker, op->nparts, owner_of, &ops, rs);
    if (!sp) {
        free(rs);
        return -ENOMEM;
    }
    sk_split_start(sp);
    return 0;
}

/* ---- watches: owners wake split fetches parked on other shards ------------- */

/* A partition a split fetch of shard `home` waits on: a high-watermark
 * waiter on the owner's partition. Dropped when it fires, when the fetch's
 * wait is over (swept), or with the partition (its waiter list goes). */
struct sk_fetch_watch {
    struct sk_fetch_watch *prev, *next; /* the owner's watches, for sweeping */
    struct sk_hw_waiter hw;
    struct sk_fetch_state *st;
    int home;
    uint64_t op_id;
    uint64_t expires_ms;
};

static void watch_drop(struct sk_fetch_watch *w)
{
    struct sk_fetch_state *st = w->st;
    sk_partition_unwatch_hw(&w->hw);
    if (w->prev)
        w->prev->next = w->next;
    else
        st->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    st->nwatches--;
}

/* Watches of partitions that never move would pile up: once their number
 * doubles, the expired ones go (amortised constant per watch). */
static void sweep(struct sk_fetch_state *st, uint64_t now)
{
    if (st->nwatches < st->sweep_at)
        return;
    for (struct sk_fetch_watch *w = st->watches, *next; w; w = next) {
        next = w->next;
        if (now >= w->expires_ms) {
            watch_drop(w);
            free(w);
        }
    }
    st->sweep_at = st->nwatches * 2 > 64 ? st->nwatches * 2 : 64;
}

static void on_wake(struct sk_broker *home, void *arg)
{
    struct sk_fetch_watch *w = arg;
    sk_fetch_wake(home, w->op_id);
    free(w);
}

/* The owner's partition moved: tell the fetch's shard, once. */
static void on_watched_hw(void *arg, struct sk_partition *p)
{
    struct sk_fetch_watch *w = arg;
    (void)p;
    watch_drop(w);
    if (sk_node_post(p->broker->node, w->home, on_wake, w) < 0)
        free(w); /* home stopping: its fetch goes with it */
}

int sk_fetch_watch_add(struct sk_broker *owner, const struct sk_fetch_op *op, int i)
{
    struct sk_fetch_state *st = sk_fetch_state(owner);
    if (!st)
        return -ENOMEM;
    sweep(st, sk_shard_now_ms(owner->shard));
    const struct sk_fetch_part *fp = &op->parts[i];
    struct sk_partition *p = op->by_id ? sk_partition_get_by_id(owner, &fp->topic_id, fp->partition)
                                       : sk_partition_get(owner, fp->topic, fp->partition);
    if (!p)
        return 0; /* nothing here to move: the fetch waits out its time */
    struct sk_fetch_watch *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    /* A watch outlives its fetch's wait by a little: the fetch ignores it. */
    *w = (struct sk_fetch_watch){NULL, st->watches, {0}, st, op->req->broker->index, op->id,
                                 op->deadline_ms + 1000};
    if (w->next)
        w->next->prev = w;
    st->watches = w;
    st->nwatches++;
    sk_partition_watch_hw(p, &w->hw, on_watched_hw, w);
    return 0;
}

void sk_fetch_watches_free(struct sk_fetch_state *st)
{
    while (st->watches) {
        struct sk_fetch_watch *w = st->watches;
        watch_drop(w);
        free(w);
    }
    st->nwatches = 0;
}
