/* The requests waiting on one partition: acks=all producers for its durable
 * offset, parked fetches for its high watermark. Each list belongs to its
 * partition, so a move wakes only those that wait on it. */
#include <stdlib.h>

#include "replica_int.h"
#include "skein/errors.h"
#include "skein/plog.h"

struct sk_waiter {
    int64_t offset;
    sk_durable_fn cb;
    void *arg;
    struct sk_waiter *next;
};

/* ---- producers: the durable offset and the high watermark ------------------------------------------------- */

void sk_replica_complete_waiters(struct sk_partition *p)
{
    int64_t acked = sk_replica_ack_offset(p);
    while (p->waiters && p->waiters->offset <= acked) {
        struct sk_waiter *w = p->waiters;
        p->waiters = w->next;
        w->cb(w->arg, sk_replica_after_append_error(p));
        free(w);
    }
    if (!p->waiters)
        p->waiters_tail = NULL;
}

void sk_replica_fail_waiters(struct sk_partition *p, int16_t err)
{
    while (p->waiters) {
        struct sk_waiter *w = p->waiters;
        p->waiters = w->next;
        w->cb(w->arg, err);
        free(w);
    }
    p->waiters_tail = NULL;
}

bool sk_replica_waiting_past(const struct sk_partition *p, int64_t offset)
{
    return p->waiters_tail && p->waiters_tail->offset > offset;
}

/* Waiters come in offset order almost always (appends only grow the log),
 * so the tail is checked first: a deep pipeline must not make each new
 * request walk every waiting one. */
static void insert_waiter(struct sk_partition *p, struct sk_waiter *w)
{
    if (!p->waiters_tail || p->waiters_tail->offset <= w->offset) {
        if (p->waiters_tail)
            p->waiters_tail->next = w;
        else
            p->waiters = w;
        p->waiters_tail = w;
        return;
    }
    struct sk_waiter **pp = &p->waiters;
    while ((*pp)->offset <= w->offset)
        pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
}

void sk_partition_when_durable(struct sk_partition *p, int64_t offset, sk_durable_fn cb, void *arg)
{
    if (sk_partition_sync_failed(p) && offset > sk_plog_recovery_point(p->log)) {
        cb(arg, SK_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    if (offset <= sk_replica_ack_offset(p)) {
        cb(arg, sk_replica_after_append_error(p));
        return;
    }
    struct sk_waiter *w = malloc(sizeof *w);
    if (!w) {
        cb(arg, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *w = (struct sk_waiter){offset, cb, arg, NULL};
    insert_waiter(p, w);
}

/* ---- fetches: the high watermark ----------------------------------------------------- */

static void hw_list_init(struct sk_hw_waiter *head)
{
    head->prev = head->next = head;
}

/* Before a partition is added to the table its list is empty, not zeroed. */
static void hw_list_ensure(struct sk_partition *p)
{
    if (!p->hw_waiters.next)
        hw_list_init(&p->hw_waiters);
}

static void hw_insert_tail(struct sk_hw_waiter *head, struct sk_hw_waiter *w)
{
    w->prev = head->prev;
    w->next = head;
    head->prev->next = w;
    head->prev = w;
}

void sk_partition_watch_hw(struct sk_partition *p, struct sk_hw_waiter *w,
                           void (*fn)(void *arg, struct sk_partition *p), void *arg)
{
    hw_list_ensure(p);
    w->fn = fn;
    w->arg = arg;
    hw_insert_tail(&p->hw_waiters, w);
}

void sk_partition_unwatch_hw(struct sk_hw_waiter *w)
{
    if (!w->next || w->next == w)
        return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    hw_list_init(w);
}

/* The watchers are moved aside and each put back before its wake-up, so one
 * that unwatches itself or others (a fetch answering unwatches all its
 * partitions) leaves both lists whole, and one that stays is called once. */
void sk_replica_wake_hw_waiters(struct sk_partition *p)
{
    struct sk_hw_waiter *head = &p->hw_waiters, pending;
    if (!head->next || head->next == head)
        return;
    pending.next = head->next;
    pending.prev = head->prev;
    pending.next->prev = pending.prev->next = &pending;
    hw_list_init(head);
    while (pending.next != &pending) {
        struct sk_hw_waiter *w = pending.next;
        sk_partition_unwatch_hw(w);
        hw_insert_tail(head, w);
        w->fn(w->arg, p);
    }
}

void sk_replica_detach_hw_waiters(struct sk_partition *p)
{
    struct sk_hw_waiter *head = &p->hw_waiters;
    while (head->next && head->next != head)
        sk_partition_unwatch_hw(head->next);
}
