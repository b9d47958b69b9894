/* The shard's request queue: requests read and not yet answered, with their
 * frame bytes, bounded as Kafka bounds its request channel
 * (queued.max.requests) and its memory pool (queued.max.request.bytes).
 *
 * Kafka reads one request per connection and mutes the channel until it is
 * answered, so a request parked in purgatory (a long-polling fetch, a
 * JoinGroup waiting for the rebalance) never blocks another connection.
 * Skein pipelines, so its rule is: a connection with nothing outstanding may
 * always read one request; every further one needs room in the shard's
 * queue, and in the connection's own share (socket.request.max.bytes of
 * unanswered requests). Parked requests therefore cannot starve an idle
 * connection, and what the shard holds stays below the limits plus one
 * request per connection. As in Kafka's non-strict pool, a request is read
 * while the bytes held are below the limit, whatever its own size. */
#include "net-int.h"

static bool over_limits(const struct sk_shard *s)
{
	return (s->cfg.queued_max_requests && s->queued_reqs >= s->cfg.queued_max_requests) ||
	       (s->cfg.queued_max_bytes && s->queued_bytes >= s->cfg.queued_max_bytes);
}

static void set_waiting(struct sk_conn *c, bool w)
{
	if (c->waits_queue == w)
		return;
	c->waits_queue = w;
	if (w)
		c->shard->queue_waiters++;
	else
		c->shard->queue_waiters--;
}

bool sk_queue_full(struct sk_conn *c)
{
	if (c->pending == 0) {
		set_waiting(c, false);
		return false;
	}
	if (c->held_bytes >= c->shard->cfg.max_frame_bytes)
		return true;   /* answers free it; the connection's own dirty pass resumes */
	bool full = over_limits(c->shard);
	set_waiting(c, full);
	return full;
}

static void publish(struct sk_shard *s)
{
	atomic_store_explicit(&s->st.queued_requests, s->queued_reqs, memory_order_relaxed);
	atomic_store_explicit(&s->st.queued_bytes, s->queued_bytes, memory_order_relaxed);
}

void sk_queue_add(struct sk_conn *c, struct sk_slot *sl, uint32_t len)
{
	struct sk_shard *s = c->shard;
	sl->len = len;
	c->pending++;
	c->held_bytes += len;
	s->queued_reqs++;
	s->queued_bytes += len;
	publish(s);
}

/* Room again: every connection that paused for the shard gets a dirty
 * pass, which reads on or pauses again. Waiters are rare (the shard is at
 * its limit), so a scan beats keeping a list that closing must edit. */
static void wake_waiters(struct sk_shard *s)
{
	for (struct sk_conn *c = s->conns; c && s->queue_waiters; c = c->next)
		if (c->waits_queue) {
			set_waiting(c, false);
			sk_conn_mark_dirty(c);
		}
}

void sk_queue_remove(struct sk_conn *c, struct sk_slot *sl)
{
	struct sk_shard *s = c->shard;
	c->pending--;
	c->held_bytes -= sl->len;
	s->queued_reqs--;
	s->queued_bytes -= sl->len;
	sl->len = 0;
	publish(s);
	if (s->queue_waiters && !over_limits(s))
		wake_waiters(s);
}

/* The connection is going away: it no longer waits for anything. */
void sk_queue_forget(struct sk_conn *c)
{
	set_waiting(c, false);
}
