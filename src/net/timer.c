/* Shard timers: a binary min-heap of indexes into a slot pool. Handles carry
 * a generation so cancelling a timer that already fired (and whose slot was
 * reused) is a harmless -ENOENT, not a cancel of someone else's timer.
 * The loop sleeps in io_uring_submit_and_wait_timeout until the earliest
 * deadline, so no timeout SQE has to be re-armed when the heap changes. */
#include <errno.h>
#include <stdlib.h>

#include "net-int.h"

#define FREE_END UINT32_MAX

int sk_timers_init(struct sk_shard *s)
{
	s->timer_free = FREE_END;
	return 0;
}

void sk_timers_fini(struct sk_shard *s)
{
	free(s->timers);
	free(s->heap);
}

static bool earlier(struct sk_shard *s, uint32_t a, uint32_t b)
{
	return s->timers[s->heap[a]].when_ms < s->timers[s->heap[b]].when_ms;
}

static void heap_swap(struct sk_shard *s, uint32_t a, uint32_t b)
{
	uint32_t t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->timers[s->heap[a]].heap_pos = (int32_t)a;
	s->timers[s->heap[b]].heap_pos = (int32_t)b;
}

static void sift_up(struct sk_shard *s, uint32_t i)
{
	while (i > 0 && earlier(s, i, (i - 1) / 2)) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct sk_shard *s, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->heap_len && earlier(s, l, m))
			m = l;
		if (r < s->heap_len && earlier(s, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

static void heap_remove(struct sk_shard *s, uint32_t pos)
{
	uint32_t last = --s->heap_len;
	if (pos != last) {
		heap_swap(s, pos, last);
		sift_down(s, pos);
		sift_up(s, pos);
	}
}

static int grow(struct sk_shard *s)
{
	uint32_t cap = s->ntimers_cap ? s->ntimers_cap * 2 : 64;
	struct sk_timer_slot *t = realloc(s->timers, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->timers = t;
	uint32_t *h = realloc(s->heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->heap = h;
	for (uint32_t i = cap; i-- > s->ntimers_cap;) {
		t[i] = (struct sk_timer_slot){ .heap_pos = -1, .gen = 0 };
		t[i].arg = NULL;
		t[i].when_ms = s->timer_free;   /* free-list link */
		s->timer_free = i;
	}
	s->ntimers_cap = cap;
	return 0;
}

sk_timer_id sk_timer_add(struct sk_shard *s, uint64_t ms, sk_timer_fn cb, void *arg)
{
	if (s->timer_free == FREE_END && grow(s))
		return 0;
	uint32_t i = s->timer_free;
	struct sk_timer_slot *t = &s->timers[i];
	s->timer_free = (uint32_t)t->when_ms;
	t->when_ms = s->now_ms + ms;
	t->cb = cb;
	t->arg = arg;
	t->gen++;
	t->heap_pos = (int32_t)s->heap_len;
	s->heap[s->heap_len++] = i;
	sift_up(s, s->heap_len - 1);
	return (uint64_t)t->gen << 32 | (i + 1);
}

static void release(struct sk_shard *s, uint32_t i)
{
	s->timers[i].heap_pos = -1;
	s->timers[i].when_ms = s->timer_free;
	s->timer_free = i;
}

int sk_timer_cancel(struct sk_shard *s, sk_timer_id id)
{
	uint32_t i = (uint32_t)id - 1;
	if (!id || i >= s->ntimers_cap)
		return -ENOENT;
	struct sk_timer_slot *t = &s->timers[i];
	if (t->gen != (uint32_t)(id >> 32) || t->heap_pos < 0)
		return -ENOENT;
	heap_remove(s, (uint32_t)t->heap_pos);
	release(s, i);
	return 0;
}

int64_t sk_timers_next_ms(struct sk_shard *s)
{
	if (!s->heap_len)
		return -1;
	uint64_t when = s->timers[s->heap[0]].when_ms;
	return when <= s->now_ms ? 0 : (int64_t)(when - s->now_ms);
}

/* Timers added by a callback for "now" wait for the next pass, so a
 * zero-delay re-arm cannot spin this loop forever. */
void sk_timers_run(struct sk_shard *s)
{
	uint64_t now = s->now_ms;
	uint32_t budget = s->heap_len;
	while (s->heap_len && budget--) {
		uint32_t i = s->heap[0];
		struct sk_timer_slot *t = &s->timers[i];
		if (t->when_ms > now)
			return;
		sk_timer_fn cb = t->cb;
		void *arg = t->arg;
		heap_remove(s, 0);
		release(s, i);
		cb(arg);
	}
}
