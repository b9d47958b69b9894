/* A request whose items (partitions, groups) live on several shards: each
 * item runs on its owner shard, and the connection's shard (home) gets every
 * result back to answer in the request's order.
 *
 * Threads never share memory while the split runs: an item's result goes to
 * its own slot (and the arena of its shard's batch), written only on the
 * owner's thread; home reads it once the batch came back by message. Items
 * home owns run inline, with no message. An item whose shard cannot be
 * reached (stopping) never runs: home sees it failed, with
 * NOT_LEADER_OR_FOLLOWER, as Kafka answers for a partition going away.
 *
 * The request may be answered before every batch is back (acks=-1 timeout):
 * the split then keeps the decoded request (its frame and arena, which
 * items read) alive until the last batch returns. */
#ifndef SK_API_SPLIT_H
#define SK_API_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/api.h"

struct sk_split;

struct sk_split_item {
    struct sk_split *sp;
    struct sk_broker *owner; /* the shard context the item runs on */
    int index;               /* its place in the request */
    void *out;               /* its result: ops->out_size bytes, zeroed */
    kp_arena *arena;         /* for the result's own allocations (owner's thread) */
};

struct sk_split_ops {
    size_t out_size;
    /* On the owner's thread: fills it->out, then calls sk_split_item_done,
     * at once or later from an event on that thread. */
    void (*run)(void *ctx, struct sk_split_item *it);
    /* On home, once every item is back, unless released before. */
    void (*done)(void *ctx, struct sk_split *sp);
    /* On home, when the split is freed: ctx is no longer read. */
    void (*free_ctx)(void *ctx);
};

/* A split of nitems items, owned by owner_of(ctx, i), answered on home;
 * NULL without memory. */
struct sk_split *sk_split_new(struct sk_broker *home, int nitems, int (*owner_of)(void *ctx, int i),
                              const struct sk_split_ops *ops, void *ctx);
/* For a request that may be answered before its items are back: the split
 * takes over req's frame and arena, which the items read, and req keeps a
 * fresh arena for the answer. */
void sk_split_keep_request(struct sk_split *sp, struct sk_request *req);
/* Posts the remote batches, runs home's items inline; done may run inside. */
void sk_split_start(struct sk_split *sp);
/* On the owner's thread: the item's result is complete. */
void sk_split_item_done(struct sk_split_item *it);
/* On home: the item's result, once it is back (see sk_split_item_error). */
void *sk_split_out(struct sk_split *sp, int item);
/* On home: -1 while the item is out, SK_ERR_NONE once its result is back,
 * NOT_LEADER_OR_FOLLOWER if it could not be run. */
int sk_split_item_error(const struct sk_split *sp, int item);
/* On home, exactly once: done is not called after this, and the split is
 * freed once every batch is back. */
void sk_split_release(struct sk_split *sp);

/* The common case, a request of partitions each answered at once on its
 * owner: answer(ctx, owner, arena, i, out) runs there; on home,
 * place(ctx, i, out, err) puts each answer into the response (err not
 * SK_ERR_NONE: the item did not run, out is NULL), then req is answered
 * and free_ctx(ctx) called. Returns 0, or -ENOMEM with nothing done. */
struct sk_split_parts {
    size_t out_size;
    int (*owner_of)(void *ctx, int i);
    void (*answer)(void *ctx, struct sk_broker *owner, kp_arena *a, int i, void *out);
    void (*place)(void *ctx, int i, const void *out, int16_t err);
    void (*free_ctx)(void *ctx);
};
int sk_split_parts_run(struct sk_request *req, int nitems, const struct sk_split_parts *sp,
                       void *ctx);

#endif
