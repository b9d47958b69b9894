/* A shard's inbox: how other threads hand it work (sk_shard_post).
 *
 * Lock-free on both sides: a poster swaps the tail and links its cell, the
 * shard walks from its private head. The cell's link is the release that
 * publishes cb/arg; the shard's acquire load of it is what lets it read them.
 * Per poster, cells are linked in call order, so FIFO per sender holds.
 *
 * Waking: the eventfd read kept armed on the ring (shard.c) completes when
 * written. Only the poster that turns wake_pending 0 -> 1 writes it; the
 * shard clears the flag before it walks the queue, so a cell pushed after
 * the walk began either is seen by it or finds the flag clear and wakes. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "net-int.h"

static _Thread_local struct sk_shard *current_shard;

struct sk_shard *sk_shard_current(void)
{
	return current_shard;
}

void sk_shard_set_current(struct sk_shard *s)
{
	current_shard = s;
}

void sk_inbox_init(struct sk_inbox *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->tail, &q->stub);
	q->head = &q->stub;
	atomic_init(&q->posting, 0);
	atomic_init(&q->wake_pending, 0);
}

static void push(struct sk_inbox *q, struct sk_msg *m)
{
	atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
	struct sk_msg *prev = atomic_exchange_explicit(&q->tail, m, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, m, memory_order_release);
}

/* NULL when empty, or when a poster swapped the tail but has not linked yet
 * (its wake is still to come, see above). */
static struct sk_msg *pop(struct sk_inbox *q)
{
	struct sk_msg *head = q->head;
	struct sk_msg *next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (head == &q->stub) {
		if (!next)
			return NULL;
		q->head = next;
		head = next;
		next = atomic_load_explicit(&head->next, memory_order_acquire);
	}
	if (next) {
		q->head = next;
		return head;
	}
	if (head != atomic_load_explicit(&q->tail, memory_order_acquire))
		return NULL;
	/* head is the last cell: put the stub behind it so it can be taken. */
	push(q, &q->stub);
	next = atomic_load_explicit(&head->next, memory_order_acquire);
	if (!next)
		return NULL;
	q->head = next;
	return head;
}

int sk_shard_post(struct sk_shard *s, sk_defer_fn cb, void *arg)
{
	struct sk_inbox *q = &s->inbox;
	/* Announce before checking stop: the shard's final drain waits for
	 * posting to reach 0 after setting stop, so no accepted cell is missed. */
	atomic_fetch_add(&q->posting, 1);
	if (atomic_load(&s->stop_requested)) {
		atomic_fetch_sub(&q->posting, 1);
		return -ESHUTDOWN;
	}
	struct sk_msg *m = malloc(sizeof(*m));
	if (!m) {
		atomic_fetch_sub(&q->posting, 1);
		return -ENOMEM;
	}
	m->cb = cb;
	m->arg = arg;
	push(q, m);
	if (!atomic_exchange(&q->wake_pending, 1))
		sk_shard_wake(s);
	atomic_fetch_sub(&q->posting, 1);
	return 0;
}

size_t sk_inbox_run(struct sk_shard *s)
{
	struct sk_inbox *q = &s->inbox;
	atomic_store(&q->wake_pending, 0);
	size_t n = 0;
	struct sk_msg *m;
	while ((m = pop(q))) {
		sk_defer_fn cb = m->cb;
		void *arg = m->arg;
		free(m);
		cb(arg);
		n++;
	}
	return n;
}

void sk_inbox_drain_final(struct sk_shard *s)
{
	/* A poster past its stop check is a few instructions from done. */
	while (atomic_load(&s->inbox.posting))
		sched_yield();
	while (sk_inbox_run(s))
		;
}
