/* Receiving: multishot recv into provided buffers, cut into frames by the
 * 4-byte big-endian size prefix. Each frame is copied into its own heap
 * buffer so the handler may keep it (and slices of it) for as long as the
 * request is parked, while the provided buffer goes straight back.
 *
 * Large frames skip that copy for all but their first bytes: once the size
 * says the body is large, the provided-buffer recv is ended and, when it
 * has (its last bytes still copied, so order holds), the rest is read with
 * plain recvs straight into the frame's buffer. A multishot recv drains
 * everything the socket holds before we see its first completion, so
 * after a large frame the next one is read with a single-shot recv of one
 * provided buffer: if it is large too, at most that buffer is copied. Once
 * a small frame comes, multishot again. At most one recv is live per
 * connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net-int.h"
#include "skein/logging.h"


/* A 1 MiB produce costs more to copy out of 16 KiB buffers than a few
 * extra trips through the ring cost; small requests, many to a recv, stay
 * on the provided buffers. */
#define SK_DIRECT_MIN (64u * 1024)

static bool is_large(const struct sk_conn *c, uint32_t len)
{
	uint32_t min = c->shard->cfg.recv_buf_size;
	if (min < SK_DIRECT_MIN)
		min = SK_DIRECT_MIN;
	return len > min;
}

static bool frame_direct(const struct sk_conn *c)
{
	return c->frame && is_large(c, c->frame_len);
}

/* No MSG_WAITALL: each completion shows progress, so a peer trickling a
 * large frame is not idle, and one that stops mid-frame still is. */
static void direct_arm(struct sk_conn *c)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	io_uring_prep_recv(sqe, c->fd, c->frame + c->frame_have,
			   c->frame_len - c->frame_have, 0);
	io_uring_sqe_set_data64(sqe, sk_op_tag(c, SK_OP_RECV_DIRECT));
	c->direct_armed = true;
	c->direct_cancelling = false;
	c->ops++;
}

void sk_recv_arm(struct sk_conn *c)
{
	if (c->recv_armed || c->direct_armed || !c->open || c->frame_waits)
		return;
	if (frame_direct(c)) {
		direct_arm(c);
		return;
	}
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	c->recv_oneshot = c->big_last;
	if (c->recv_oneshot)
		io_uring_prep_recv(sqe, c->fd, NULL, c->shard->cfg.recv_buf_size, 0);
	else
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, sk_op_tag(c, SK_OP_RECV));
	c->recv_armed = true;
	c->recv_cancelling = false;
	c->ops++;
}

static void cancel(struct sk_conn *c, enum sk_op op)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	io_uring_prep_cancel64(sqe, sk_op_tag(c, op), 0);
	io_uring_sqe_set_data64(sqe, SK_OP_IGNORE);
}

static void buffered_stop(struct sk_conn *c)
{
	if (!c->recv_armed || c->recv_cancelling)
		return;
	c->recv_cancelling = true;
	cancel(c, SK_OP_RECV);
}

/* The recv's own completion (without F_MORE for multishot) says when it is
 * really gone; until then ops keeps the conn and its frame buffer alive. */
void sk_recv_stop(struct sk_conn *c)
{
	buffered_stop(c);
	if (c->direct_armed && !c->direct_cancelling) {
		c->direct_cancelling = true;
		cancel(c, SK_OP_RECV_DIRECT);
	}
}

/* A request counts until its response has left, so a client that sends
 * but never reads cannot grow our send queue without bound; queue.c adds
 * the byte and shard-wide bounds. */
static bool at_cap(struct sk_conn *c)
{
	/* An outbound conn's sends are our requests, its frames their answers:
	 * reading them is what frees the peer, so it never pauses. */
	if (c->outbound)
		return false;
	return c->slot_next - c->slot_head + c->sq_count >= c->shard->cfg.max_inflight ||
	       sk_conn_muted(c) || sk_queue_full(c) || c->frame_waits;
}

/* The handler may have a frame wait for the connection's earlier answers
 * (Kafka's one request at a time per connection, src/api/request.c). */
static bool waits_its_turn(const struct sk_conn *c)
{
	const struct sk_net_handler *h = &c->shard->h;
	if (c->outbound || c->pending == 0 || !h->may_overtake)
		return false;
	return !h->may_overtake(c->frame, c->frame_len);
}

bool sk_recv_paused(struct sk_conn *c)
{
	return at_cap(c) || c->stash_len > 0;
}

static void deliver(struct sk_conn *c)
{
	struct sk_shard *s = c->shard;
	if (c->outbound) {
		uint8_t *data = c->frame;
		c->frame = NULL;
		c->hdr_have = 0;
		sk_stat_add(&s->st.frames_in, 1);
		sk_outconn_frame(c, data, c->frame_len);
		return;
	}
	if (waits_its_turn(c)) {
		c->frame_waits = true;
		return;
	}
	c->frame_waits = false;
	struct sk_frame f = { .slot = c->slot_next++, .data = c->frame, .len = c->frame_len };
	struct sk_slot *sl = sk_conn_slot(c, f.slot);
	*sl = (struct sk_slot){ SK_SLOT_PENDING, NULL, 0 };
	sk_queue_add(c, sl, c->frame_len);
	c->frame = NULL;
	c->hdr_have = 0;
	sk_stat_add(&s->st.frames_in, 1);
	s->h.on_frame(s->h.arg, c, &f);
}

/* Refuses a bad size before allocating anything for it. */
static int start_frame(struct sk_conn *c)
{
	int32_t size = (int32_t)((uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
				 (uint32_t)c->hdr[2] << 8 | c->hdr[3]);
	uint32_t max = c->max_frame;
	if (size < 0 || (uint32_t)size > max) {
		sk_warn("net: closing connection %s %s: frame size %d outside 0..%u%s",
			c->outbound ? "to" : "from", c->peer, size, max,
			c->outbound ? "" : " (socket.request.max.bytes)");
		return -EMSGSIZE;
	}
	if (sk_conn_slots_reserve(c)) {
		sk_warn("net: closing connection from %s: no memory for a request slot", c->peer);
		return -ENOMEM;
	}
	c->frame = malloc(size ? (size_t)size : 1);
	if (!c->frame) {
		sk_warn("net: closing connection from %s: no memory for a %d-byte request",
			c->peer, size);
		return -ENOMEM;
	}
	c->frame_len = (uint32_t)size;
	c->frame_have = 0;
	c->big_last = is_large(c, c->frame_len);
	return 0;
}

/* Returns how many bytes were taken; fewer than n means the in-flight cap
 * was hit before the next frame started. */
static size_t feed(struct sk_conn *c, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && c->open && !c->frame_waits) {
		if (!c->frame) {
			if (c->hdr_have == 0 && at_cap(c))
				break;
			while (c->hdr_have < 4 && i < n)
				c->hdr[c->hdr_have++] = p[i++];
			if (c->hdr_have < 4)
				break;
			int rc = start_frame(c);
			if (rc) {
				sk_conn_fail(c, rc);
				return n;
			}
		}
		size_t take = c->frame_len - c->frame_have;
		if (take > n - i)
			take = n - i;
		memcpy(c->frame + c->frame_have, p + i, take);
		c->frame_have += take;
		i += take;
		if (c->frame_have == c->frame_len)
			deliver(c);
	}
	/* Everything was taken and a large body is still to come: end the
	 * multishot recv (a single-shot one ends by itself); the dirty pass
	 * then reads the rest directly. */
	if (c->open && frame_direct(c) && !c->recv_oneshot)
		buffered_stop(c);
	return c->open ? i : n;
}

static int stash_append(struct sk_conn *c, const uint8_t *p, size_t n)
{
	if (c->stash_len + n > c->stash_cap) {
		size_t cap = c->stash_cap ? c->stash_cap : 4096;
		while (cap < c->stash_len + n)
			cap *= 2;
		uint8_t *b = realloc(c->stash, cap);
		if (!b)
			return -ENOMEM;
		c->stash = b;
		c->stash_cap = cap;
	}
	memcpy(c->stash + c->stash_len, p, n);
	c->stash_len += n;
	return 0;
}

/* Paused at the cap: bytes already received wait in the stash (never
 * dropped) and the recv is cancelled so the socket buffer pushes back. */
static void on_bytes(struct sk_conn *c, const uint8_t *p, size_t n)
{
	size_t used = sk_recv_paused(c) ? 0 : feed(c, p, n);
	if (used == n || !c->open)
		return;
	if (stash_append(c, p + used, n - used)) {
		sk_warn("net: closing connection from %s: no memory to hold input", c->peer);
		sk_conn_fail(c, -ENOMEM);
		return;
	}
	sk_recv_stop(c);
}

void sk_recv_complete(struct sk_conn *c, struct io_uring_cqe *cqe)
{
	struct sk_shard *s = c->shard;
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (res > 0 && c->open && !s->closing) {
			sk_stat_add(&s->st.bytes_in, (uint64_t)res);
			c->last_active_ms = s->now_ms;
			on_bytes(c, sk_bufring_addr(s, bid), (size_t)res);
		}
		sk_bufring_recycle(s, bid);
	}
	if (res == 0 && c->open) {
		sk_debug("net: connection from %s closed by peer", c->peer);
		sk_conn_fail(c, -ECONNRESET);
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && c->open) {
		sk_debug("net: recv from %s failed: %s", c->peer, strerror(-res));
		sk_conn_fail(c, res);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	/* Single-shot done or multishot ended (cancel, ENOBUFS, ...): the dirty
	 * pass re-arms if the connection still wants input. */
	c->recv_armed = false;
	sk_conn_mark_dirty(c);
	sk_conn_op_done(c);
}

void sk_recv_direct_complete(struct sk_conn *c, struct io_uring_cqe *cqe)
{
	struct sk_shard *s = c->shard;
	int res = cqe->res;
	c->direct_armed = false;
	if (res > 0 && c->open && !s->closing) {
		sk_stat_add(&s->st.bytes_in, (uint64_t)res);
		sk_stat_add(&s->st.bytes_in_direct, (uint64_t)res);
		c->last_active_ms = s->now_ms;
		c->frame_have += (uint32_t)res;
		if (c->frame_have == c->frame_len)
			deliver(c);
	} else if (res == 0 && c->open) {
		sk_debug("net: connection from %s closed by peer inside a %u-byte request",
			 c->peer, c->frame_len);
		sk_conn_fail(c, -ECONNRESET);
	} else if (res < 0 && res != -ECANCELED && c->open) {
		sk_debug("net: recv from %s failed: %s", c->peer, strerror(-res));
		sk_conn_fail(c, res);
	}
	/* The dirty pass re-arms: the rest of the frame, or multishot again. */
	sk_conn_mark_dirty(c);
	sk_conn_op_done(c);
}

void sk_recv_resume(struct sk_conn *c)
{
	if (c->frame_waits && c->pending == 0) {
		deliver(c);
		if (!c->open)
			return;
	}
	if (at_cap(c))
		return;
	if (c->stash_len) {
		size_t used = feed(c, c->stash, c->stash_len);
		if (!c->open)
			return;
		memmove(c->stash, c->stash + used, c->stash_len - used);
		c->stash_len -= used;
		if (c->stash_len)
			return;
	}
	sk_recv_arm(c);
}

void sk_recv_free(struct sk_conn *c)
{
	free(c->frame);
	c->frame = NULL;
	free(c->stash);
	c->stash = NULL;
	c->stash_len = c->stash_cap = 0;
}
