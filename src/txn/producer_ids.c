/* Handing out producer ids from blocks claimed in the metadata log. A block
 * is claimed like any other change, through the controller's submit queue:
 * appended to the working state behind the changes in flight and committed
 * in their order, so a failed sync of an earlier batch, which cuts the log
 * back to the last commit, fails the claim too instead of silently cutting
 * a block whose ids were already out. */
#include "skein/producer_ids.h"

#include <stdbool.h>
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/metalog.h"
#include "skein/submit.h"

struct sk_txn_state {
    int64_t next; /* next id to hand out */
    int64_t end;  /* first id past the committed block */
    bool claiming;
    int64_t claim_start; /* the block in flight starts here */
    struct sk_producer_id_wait *head, *tail;
};

static void claim_block(struct sk_broker *b, struct sk_txn_state *t);

static struct sk_producer_id_wait *pop(struct sk_txn_state *t)
{
    struct sk_producer_id_wait *w = t->head;
    t->head = w->next;
    if (!t->head)
        t->tail = NULL;
    return w;
}

static void serve(struct sk_txn_state *t)
{
    while (t->head && t->next < t->end) {
        struct sk_producer_id_wait *w = pop(t);
        w->done(w->arg, SK_ERR_NONE, t->next++);
    }
}

static void claimed(void *arg, int16_t err, const char *msg)
{
    struct sk_broker *b = arg;
    struct sk_txn_state *t = b->node->txn;
    t->claiming = false;
    if (err) {
        sk_warn("cannot claim producer ids from %lld: %s", (long long)t->claim_start,
                msg ? msg : sk_err_name(err));
        /* Each waiter's client retries; the next request claims anew. */
        while (t->head) {
            struct sk_producer_id_wait *w = pop(t);
            w->done(w->arg, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
        }
        return;
    }
    t->next = t->claim_start;
    t->end = t->claim_start + SK_PRODUCER_ID_BLOCK;
    serve(t);
    if (t->head)
        claim_block(b, t);
}

static void claim_block(struct sk_broker *b, struct sk_txn_state *t)
{
    kp_producer_ids_record r;
    kp_producer_ids_record_init(&r);
    /* The controller's working state: it includes every block claimed,
     * committed or in flight, so no two claims overlap. */
    t->claim_start = b->node->image.next_producer_id;
    r.broker_id = b->node->node_id;
    r.broker_epoch = sk_metalog_end_offset(b->node->metalog);
    r.next_producer_id = t->claim_start + SK_PRODUCER_ID_BLOCK;
    struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
    t->claiming = true;
    sk_ctl_submit(b, &rec, 1, claimed, b);
}

void sk_producer_id_request(struct sk_broker *b, struct sk_producer_id_wait *w,
                            sk_producer_id_fn done, void *arg)
{
    if (!b->node->txn && !(b->node->txn = calloc(1, sizeof *b->node->txn))) {
        done(arg, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1);
        return;
    }
    struct sk_txn_state *t = b->node->txn;
    *w = (struct sk_producer_id_wait){NULL, done, arg};
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    serve(t);
    if (t->head && !t->claiming)
        claim_block(b, t);
}

void sk_producer_ids_free(struct sk_broker *b)
{
    free(b->node->txn);
    b->node->txn = NULL;
}
