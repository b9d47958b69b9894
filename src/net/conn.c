/* Connection lifetime. A connection is freed only when three things are
 * over: it is closed, no SQE points at it (ops == 0), and the handler holds
 * none of its request slots (pending == 0). So a handler that parked a
 * request may respond after the peer left; the bytes are just dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"

#define SK_SLOTS_FIRST 16u

struct sk_conn *sk_conn_new(struct sk_shard *s, int fd, bool outbound)
{
	struct sk_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slots_cap = s->cfg.max_inflight < SK_SLOTS_FIRST ? s->cfg.max_inflight : SK_SLOTS_FIRST;
	c->slots = calloc(c->slots_cap, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	c->shard = s;
	c->fd = fd;
	c->open = true;
	c->outbound = outbound;
	c->max_frame = s->cfg.max_frame_bytes;
	c->pipe[0] = c->pipe[1] = -1;
	c->last_active_ms = s->now_ms;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	sk_stat_add(&s->st.conns_open, 1);
	if (outbound)
		return c;
	s->nopen++;
	sk_stat_add(&s->st.conns_accepted, 1);
	return c;
}

/* Makes room for one more outstanding request: the ring doubles (up to
 * max_inflight) with its slots kept at their sequence numbers' places. */
int sk_conn_slots_reserve(struct sk_conn *c)
{
	if (c->slot_next - c->slot_head < c->slots_cap)
		return 0;
	unsigned cap = c->slots_cap * 2;
	if (cap > c->shard->cfg.max_inflight)
		cap = c->shard->cfg.max_inflight;
	if (cap <= c->slots_cap)
		return -ENOBUFS;
	struct sk_slot *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint64_t q = c->slot_head; q < c->slot_next; q++)
		n[q % cap] = *sk_conn_slot(c, q);
	free(c->slots);
	c->slots = n;
	c->slots_cap = cap;
	return 0;
}

void sk_conn_mark_dirty(struct sk_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->shard->dirty;
	c->shard->dirty = c;
}

static void unlink_conn(struct sk_conn *c)
{
	struct sk_shard *s = c->shard;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void free_conn(struct sk_conn *c)
{
	for (uint64_t q = c->slot_head; q < c->slot_next; q++)
		sk_out_free(sk_conn_slot(c, q)->out);
	free(c->slots);
	free(c);
}

/* The fd is closed only when no SQE uses it, so its number cannot be reused
 * under an operation still in flight. */
void sk_conn_maybe_free(struct sk_conn *c)
{
	if (c->open || c->ops || c->dirty)
		return;
	if (!c->fd_closed) {
		c->fd_closed = true;
		close(c->fd);
		if (c->pipe[0] >= 0) {
			close(c->pipe[0]);
			close(c->pipe[1]);
		}
		sk_recv_free(c);
		sk_sendq_free(c);
	}
	if (c->pending)
		return;
	unlink_conn(c);
	free_conn(c);
}

void sk_conn_op_done(struct sk_conn *c)
{
	c->ops--;
	sk_conn_maybe_free(c);
}

void sk_conn_close(struct sk_conn *c)
{
	if (!c->open)
		return;
	struct sk_shard *s = c->shard;
	c->open = false;
	if (!c->outbound)
		s->nopen--;
	sk_stat_sub(&s->st.conns_open, 1);
	sk_conn_uncount(c);
	sk_queue_forget(c);
	sk_debug("net: closing connection from %s", c->peer);
	/* Dirty keeps it alive through on_close, whose late responses may drop
	 * the last reference; the loop frees it afterwards. */
	sk_conn_mark_dirty(c);
	/* Shutdown makes a live recv or send complete now instead of waiting
	 * for a peer that may never speak again. */
	shutdown(c->fd, SHUT_RDWR);
	sk_recv_stop(c);
	sk_conn_unmute_on_close(c);
	if (c->outbound)
		sk_outconn_conn_closed(c);
	else if (s->h.on_close)
		s->h.on_close(s->h.arg, c);
}

void sk_conn_fail(struct sk_conn *c, int err)
{
	if (c->open && !c->close_err)
		c->close_err = err;
	sk_conn_close(c);
}

/* Responses and completions mark a conn dirty; once per loop iteration its
 * send queue is flushed (batching many responses into one sendmsg) and
 * reading resumes if it had paused at the in-flight cap. */
void sk_conn_process_dirty(struct sk_shard *s)
{
	while (s->dirty) {
		struct sk_conn *c = s->dirty;
		s->dirty = c->dirty_next;
		c->dirty = false;
		if (c->open) {
			sk_sendq_flush(c);
			if (!s->closing)
				sk_recv_resume(c);
		}
		sk_conn_maybe_free(c);
	}
}

bool sk_conn_drained(const struct sk_conn *c)
{
	return c->slot_head == c->slot_next && !c->sq_head && !c->send_busy;
}

void sk_conns_idle_scan(void *arg)
{
	struct sk_shard *s = arg;
	uint64_t idle = s->cfg.idle_ms;
	for (struct sk_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		/* A connection waiting on us (parked fetch, acks=all) is not idle;
		 * outbound ones are their owner's to end. */
		if (c->open && !c->outbound && c->slot_head == c->slot_next &&
		    s->now_ms - c->last_active_ms >= idle) {
			sk_info("net: closing connection from %s: idle for more than "
				"connections.max.idle.ms=%llu", c->peer, (unsigned long long)idle);
			sk_conn_close(c);
		}
	}
	uint64_t period = idle / 4 < 10 ? 10 : idle / 4 > 30000 ? 30000 : idle / 4;
	s->idle_timer = sk_timer_add(s, period, sk_conns_idle_scan, s);
}

/* Shard teardown: whatever the ring still did is gone with it. */
void sk_conns_free_all(struct sk_shard *s)
{
	while (s->conns) {
		struct sk_conn *c = s->conns;
		if (c->open) {
			c->open = false;
			if (!c->outbound)
				s->nopen--;
			sk_stat_sub(&s->st.conns_open, 1);
		}
		c->ops = 0;
		c->dirty = false;
		c->pending = 0;
		sk_conn_maybe_free(c);
	}
	s->dirty = NULL;
}

int sk_conn_is_open(const struct sk_conn *c) { return c->open; }
const char *sk_conn_peer(const struct sk_conn *c) { return c->peer; }
struct sk_shard *sk_conn_shard(const struct sk_conn *c) { return c->shard; }
void sk_conn_set_user(struct sk_conn *c, void *user) { c->user = user; }
void *sk_conn_user(const struct sk_conn *c) { return c->user; }
int sk_conn_tag(const struct sk_conn *c) { return c->tag; }
