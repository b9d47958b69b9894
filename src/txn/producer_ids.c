/* Handing out producer ids from blocks claimed in the metadata log. A block
 * is claimed like any other change, through the controller's submit queue:
 * appended to the working state behind the changes in flight and committed
 * in their order, so a failed sync of an earlier batch, which cuts the log
 * back to the last commit, fails the claim too instead of silently cutting
 * a block whose ids were already out. On a node of a larger quorum the
 * block comes from the active controller (a source, skein/producer_ids.h),
 * which commits it the same way before it answers. */
#include "skein/producer_ids.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/metalog.h"
#include "skein/submit.h"

/* A remote block's next one is asked for once this share of it is out. */
#define PREFETCH_PERCENT 90

struct sk_txn_state {
    int64_t start; /* the current block: [start, end) */
    int64_t next;  /* next id to hand out */
    int64_t end;   /* first id past the committed block */
    int64_t pre_start, pre_end; /* a block fetched ahead, empty when equal */
    bool claiming;
    int64_t claim_start; /* the block in flight starts here (local claims) */
    sk_producer_id_source_fn source; /* NULL: claimed locally */
    struct sk_producer_id_wait *head, *tail;
};

static void claim_block(struct sk_broker *b, struct sk_txn_state *t);

static struct sk_txn_state *state(struct sk_broker *b)
{
    if (!b->node->txn)
        b->node->txn = calloc(1, sizeof *b->node->txn);
    return b->node->txn;
}

static struct sk_producer_id_wait *pop(struct sk_txn_state *t)
{
    struct sk_producer_id_wait *w = t->head;
    t->head = w->next;
    if (!t->head)
        t->tail = NULL;
    return w;
}

/* The current block is used up: the one fetched ahead takes its place. */
static void advance(struct sk_txn_state *t)
{
    if (t->next < t->end || t->pre_start == t->pre_end)
        return;
    t->start = t->next = t->pre_start;
    t->end = t->pre_end;
    t->pre_start = t->pre_end = 0;
}

/* As Kafka's: once the id just handed out is at 90% of the block or past. */
static bool wants_prefetch(const struct sk_txn_state *t)
{
    return t->source && !t->claiming && t->pre_start == t->pre_end && t->next > t->start &&
           (t->next - 1 - t->start) * 100 >= (t->end - t->start) * PREFETCH_PERCENT;
}

static void serve(struct sk_broker *b, struct sk_txn_state *t)
{
    advance(t);
    while (t->head && t->next < t->end) {
        struct sk_producer_id_wait *w = pop(t);
        w->done(w->arg, SK_ERR_NONE, t->next++);
        advance(t);
    }
    if ((t->head && !t->claiming) || wants_prefetch(t))
        claim_block(b, t);
}

/* Each waiter's client retries; the next request claims anew. */
static void fail_waiters(struct sk_txn_state *t)
{
    while (t->head) {
        struct sk_producer_id_wait *w = pop(t);
        w->done(w->arg, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
    }
}

static void got_block(struct sk_broker *b, int16_t err, int64_t start, int32_t len)
{
    struct sk_txn_state *t = b->node->txn;
    t->claiming = false;
    if (err) {
        fail_waiters(t);
        return;
    }
    if (t->next < t->end) {
        t->pre_start = start;
        t->pre_end = start + len;
    } else {
        t->start = t->next = start;
        t->end = start + len;
    }
    serve(b, t);
}

static void claimed(void *arg, int16_t err, const char *msg)
{
    struct sk_broker *b = arg;
    struct sk_txn_state *t = b->node->txn;
    if (err)
        sk_warn("cannot claim producer ids from %lld: %s", (long long)t->claim_start,
                msg ? msg : sk_err_name(err));
    got_block(b, err, t->claim_start, SK_PRODUCER_ID_BLOCK);
}

static void claim_block(struct sk_broker *b, struct sk_txn_state *t)
{
    t->claiming = true;
    if (t->source) {
        t->source(b, got_block);
        return;
    }
    kp_producer_ids_record r;
    kp_producer_ids_record_init(&r);
    /* The controller's working state: it includes every block claimed,
     * committed or in flight, so no two claims overlap. */
    t->claim_start = b->node->image.next_producer_id;
    r.broker_id = b->node->node_id;
    r.broker_epoch = sk_metalog_end_offset(b->node->metalog);
    r.next_producer_id = t->claim_start + SK_PRODUCER_ID_BLOCK;
    struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
    sk_ctl_submit(b, &rec, 1, claimed, b);
}

void sk_producer_id_request(struct sk_broker *b, struct sk_producer_id_wait *w,
                            sk_producer_id_fn done, void *arg)
{
    struct sk_txn_state *t = state(b);
    if (!t) {
        done(arg, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
        return;
    }
    *w = (struct sk_producer_id_wait){NULL, done, arg};
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    serve(b, t);
}

int sk_producer_ids_set_source(struct sk_broker *b, sk_producer_id_source_fn source)
{
    struct sk_txn_state *t = state(b);
    if (!t)
        return -ENOMEM;
    t->source = source;
    return 0;
}

void sk_producer_ids_free(struct sk_broker *b)
{
    free(b->node->txn);
    b->node->txn = NULL;
}
