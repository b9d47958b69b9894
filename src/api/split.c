/* Splitting a request over the shards that own its items (split.h).
 *
 * Items are grouped into one batch per owner shard, so a request costs one
 * message there and one back per shard it touches, whatever its number of
 * partitions. A batch's pending count and arena belong to its owner's
 * thread while it is out; everything else in the split belongs to home. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/node.h"
#include "split.h"

#define ITEM_OUT (-1)

struct batch {
    struct sk_split *sp;
    int shard;
    int first;   /* first item of this shard; items[i].next links the rest */
    int count;
    int pending; /* items not done yet: the owner's thread only */
    kp_arena arena;
};

struct slot {
    struct sk_split_item it;
    int next;
    int16_t err; /* ITEM_OUT, SK_ERR_NONE, or why it did not run */
};

struct sk_split {
    struct sk_broker *home;
    const struct sk_split_ops *ops;
    void *ctx;
    int nitems;
    struct slot *slots;
    struct batch *batches; /* one per shard of the node */
    int nbatches;
    int outstanding; /* batches not back, + 1 while starting: home only */
    bool released;
    bool in_done;
    uint8_t *frame; /* the request's input, kept for the items */
    kp_arena req_arena;
    unsigned char *outs;
};

static void split_free(struct sk_split *sp)
{
    for (int i = 0; i < sp->nbatches; i++)
        kp_arena_free(&sp->batches[i].arena);
    kp_arena_free(&sp->req_arena);
    free(sp->frame);
    if (sp->ops->free_ctx)
        sp->ops->free_ctx(sp->ctx);
    free(sp->outs);
    free(sp->slots);
    free(sp->batches);
    free(sp);
}

static void group_items(struct sk_split *sp, int (*owner_of)(void *ctx, int i))
{
    for (int i = sp->nitems - 1; i >= 0; i--) {
        int s = owner_of(sp->ctx, i);
        if (s < 0 || s >= sp->nbatches)
            s = sp->home->index; /* no owner: home answers it as unknown */
        struct batch *b = &sp->batches[s];
        struct slot *sl = &sp->slots[i];
        sl->it = (struct sk_split_item){sp, NULL, i, sp->outs + (size_t)i * sp->ops->out_size,
                                        &b->arena};
        sl->err = ITEM_OUT;
        sl->next = b->first;
        b->first = i;
        b->count++;
    }
}

struct sk_split *sk_split_new(struct sk_broker *home, int nitems, int (*owner_of)(void *ctx, int i),
                              const struct sk_split_ops *ops, void *ctx)
{
    struct sk_split *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    int n = home->node->nshards;
    sp->home = home;
    sp->ops = ops;
    sp->ctx = ctx;
    sp->nitems = nitems;
    sp->nbatches = n;
    sp->slots = calloc((size_t)nitems + 1, sizeof *sp->slots);
    sp->batches = calloc((size_t)n, sizeof *sp->batches);
    sp->outs = calloc((size_t)nitems + 1, ops->out_size);
    if (!sp->slots || !sp->batches || !sp->outs) {
        free(sp->slots);
        free(sp->batches);
        free(sp->outs);
        free(sp);
        return NULL;
    }
    for (int s = 0; s < n; s++) {
        sp->batches[s] = (struct batch){sp, s, -1, 0, 0, {0}};
        kp_arena_init(&sp->batches[s].arena, 0);
    }
    kp_arena_init(&sp->req_arena, 0);
    group_items(sp, owner_of);
    return sp;
}

void sk_split_keep_request(struct sk_split *sp, struct sk_request *req)
{
    kp_arena_free(&sp->req_arena);
    sp->frame = req->frame;
    sp->req_arena = req->arena;
    req->frame = NULL;
    kp_arena_init(&req->arena, 0);
}

/* Home: one batch (or the start's hold) less to wait for. */
static void settle(struct sk_split *sp)
{
    if (--sp->outstanding > 0)
        return;
    if (!sp->released) {
        sp->in_done = true; /* done may release: the free is ours then */
        sp->ops->done(sp->ctx, sp);
        sp->in_done = false;
    }
    if (sp->released)
        split_free(sp);
}

static void mark_batch(struct sk_split *sp, const struct batch *b, int16_t err)
{
    for (int i = b->first; i >= 0; i = sp->slots[i].next)
        sp->slots[i].err = err;
}

/* Home: a batch is back; its items' results may be read. */
static void batch_back(struct sk_split *sp, struct batch *b, int16_t err)
{
    mark_batch(sp, b, err);
    settle(sp);
}

static void on_back(struct sk_broker *home, void *arg)
{
    (void)home;
    struct batch *b = arg;
    batch_back(b->sp, b, SK_ERR_NONE);
}

static void run_batch(struct sk_broker *owner, void *arg)
{
    struct batch *b = arg;
    struct sk_split *sp = b->sp;
    /* Held while running, so an item done at once cannot send it back early. */
    b->pending = b->count + 1;
    for (int i = b->first; i >= 0;) {
        struct slot *sl = &sp->slots[i];
        int next = sl->next; /* read before the item may complete the batch */
        sl->it.owner = owner;
        sp->ops->run(sp->ctx, &sl->it);
        i = next;
    }
    sk_split_item_done(&(struct sk_split_item){sp, owner, -1, NULL, &b->arena});
}

void sk_split_item_done(struct sk_split_item *it)
{
    struct sk_split *sp = it->sp;
    struct batch *b = (struct batch *)((char *)it->arena - offsetof(struct batch, arena));
    if (--b->pending > 0)
        return;
    if (b->shard == sp->home->index) {
        batch_back(sp, b, SK_ERR_NONE);
        return;
    }
    /* Home stopping: nothing may touch its state from here, so the
     * request goes with its connection when home's shard closes. */
    (void)sk_node_post(sp->home->node, sp->home->index, on_back, b);
}

void sk_split_start(struct sk_split *sp)
{
    sp->outstanding = 1;
    for (int s = 0; s < sp->nbatches; s++)
        sp->outstanding += sp->batches[s].count > 0;
    /* Remote batches first, so their shards work while home runs its own. */
    for (int s = 0; s < sp->nbatches; s++) {
        struct batch *b = &sp->batches[s];
        if (!b->count || s == sp->home->index)
            continue;
        if (sk_node_post(sp->home->node, s, run_batch, b) < 0) {
            /* The start's hold keeps outstanding above zero here. */
            mark_batch(sp, b, SK_ERR_NOT_LEADER_OR_FOLLOWER);
            sp->outstanding--;
        }
    }
    struct batch *mine = &sp->batches[sp->home->index];
    if (mine->count)
        run_batch(sp->home, mine);
    settle(sp);
}

void *sk_split_out(struct sk_split *sp, int item)
{
    return sp->slots[item].it.out;
}

int sk_split_item_error(const struct sk_split *sp, int item)
{
    return sp->slots[item].err;
}

void sk_split_release(struct sk_split *sp)
{
    sp->released = true;
    if (sp->outstanding == 0 && !sp->in_done)
        split_free(sp);
}

/* ---- partitions answered at once ------------------------------------------ */

struct parts_run {
    struct sk_request *req;
    const struct sk_split_parts *parts;
    void *ctx;
    struct sk_split_ops ops;
};

static int parts_owner(void *ctx, int i)
{
    struct parts_run *pr = ctx;
    return pr->parts->owner_of(pr->ctx, i);
}

static void parts_answer(void *ctx, struct sk_split_item *it)
{
    struct parts_run *pr = ctx;
    pr->parts->answer(pr->ctx, it->owner, it->arena, it->index, it->out);
    sk_split_item_done(it);
}

static void parts_done(void *ctx, struct sk_split *sp)
{
    struct parts_run *pr = ctx;
    for (int i = 0; i < sp->nitems; i++) {
        int err = sk_split_item_error(sp, i);
        pr->parts->place(pr->ctx, i, err == SK_ERR_NONE ? sk_split_out(sp, i) : NULL,
                         (int16_t)err);
    }
    sk_request_respond(pr->req);
    sk_split_release(sp);
}

static void parts_free(void *ctx)
{
    struct parts_run *pr = ctx;
    if (pr->parts->free_ctx)
        pr->parts->free_ctx(pr->ctx);
    free(pr);
}

int sk_split_parts_run(struct sk_request *req, int nitems, const struct sk_split_parts *parts,
                       void *ctx)
{
    struct parts_run *pr = malloc(sizeof *pr);
    if (!pr)
        return -ENOMEM;
    *pr = (struct parts_run){req, parts, ctx,
                             {parts->out_size, parts_answer, parts_done, parts_free}};
    struct sk_split *sp = sk_split_new(req->broker, nitems, parts_owner, &pr->ops, pr);
    if (!sp) {
        free(pr);
        return -ENOMEM;
    }
    sk_split_start(sp);
    return 0;
}
