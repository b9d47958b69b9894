/* The send queue: responses in request order, flushed with one sendmsg over
 * as many memory segments as are ready, and file segments spliced through a
 * per-connection pipe so fetched log data never enters user space. One send
 * op per connection is in flight at a time, which keeps bytes in order. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"

#define SK_SPLICE_CHUNK (64u * 1024)

/* Accounts n bytes as sent: releases finished segments and responses, and
 * skips empty ones, so the head is always a segment with bytes left. */
static void consume(struct sk_conn *c, size_t n)
{
	while (c->sq_head) {
		struct sk_out *o = c->sq_head;
		if (o->cur == o->nsegs) {
			c->sq_head = o->next;
			if (!c->sq_head)
				c->sq_tail = NULL;
			c->sq_count--;
			free(o);
			continue;
		}
		struct sk_seg *seg = &o->segs[o->cur];
		size_t left = seg->len - o->cur_off;
		if (left > n) {
			o->cur_off += n;
			return;
		}
		n -= left;
		if (seg->free_fn)
			seg->free_fn(seg->free_arg);
		o->cur++;
		o->cur_off = 0;
	}
}

static void submit(struct sk_conn *c, struct io_uring_sqe *sqe, enum sk_op op)
{
	io_uring_sqe_set_data64(sqe, sk_op_tag(c, op));
	c->send_busy = true;
	c->ops++;
}

static void splice_out(struct sk_conn *c)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	io_uring_prep_splice(sqe, c->pipe[0], -1, c->fd, -1, (unsigned)c->pipe_bytes, 0);
	submit(c, sqe, SK_OP_SPLICE_OUT);
}

static void splice_in(struct sk_conn *c)
{
	struct sk_out *o = c->sq_head;
	struct sk_seg *seg = &o->segs[o->cur];
	if (c->pipe[0] < 0 && pipe2(c->pipe, O_CLOEXEC)) {
		sk_warn("net: closing connection from %s: pipe for file send: %s", c->peer,
			strerror(errno));
		c->pipe[0] = c->pipe[1] = -1;
		sk_conn_close(c);
		return;
	}
	size_t done = o->cur_off + c->pipe_bytes;
	size_t chunk = seg->len - done;
	if (chunk > SK_SPLICE_CHUNK)
		chunk = SK_SPLICE_CHUNK;
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	io_uring_prep_splice(sqe, seg->u.file.fd, (int64_t)(seg->u.file.off + (off_t)done),
			     c->pipe[1], -1, (unsigned)chunk, 0);
	submit(c, sqe, SK_OP_SPLICE_IN);
}

/* Gathers every ready memory segment up to the next file segment. */
static unsigned gather(struct sk_conn *c)
{
	unsigned n = 0;
	for (struct sk_out *o = c->sq_head; o; o = o->next) {
		for (unsigned i = (o == c->sq_head ? o->cur : 0); i < o->nsegs; i++) {
			struct sk_seg *seg = &o->segs[i];
			if (seg->kind == SK_SEG_FILE || n == SK_IOV_MAX)
				return n;
			size_t skip = (o == c->sq_head && i == o->cur) ? o->cur_off : 0;
			if (seg->len > skip)
				c->iov[n++] = (struct iovec){ (char *)seg->u.mem + skip,
							      seg->len - skip };
		}
	}
	return n;
}

void sk_sendq_push(struct sk_conn *c, struct sk_out *o)
{
	o->next = NULL;
	if (c->sq_tail)
		c->sq_tail->next = o;
	else
		c->sq_head = o;
	c->sq_tail = o;
	c->sq_count++;
}

void sk_sendq_flush(struct sk_conn *c)
{
	if (c->send_busy || !c->open || (c->mute_holds && sk_conn_muted(c)))
		return;
	consume(c, 0);
	if (!c->sq_head)
		return;
	if (c->pipe_bytes) {
		splice_out(c);
		return;
	}
	struct sk_out *o = c->sq_head;
	if (o->segs[o->cur].kind == SK_SEG_FILE) {
		splice_in(c);
		return;
	}
	c->msg = (struct msghdr){ .msg_iov = c->iov, .msg_iovlen = gather(c) };
	struct io_uring_sqe *sqe = sk_shard_sqe(c->shard);
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	submit(c, sqe, SK_OP_SEND);
}

static void sent(struct sk_conn *c, size_t n)
{
	struct sk_shard *s = c->shard;
	sk_stat_add(&s->st.bytes_out, n);
	c->last_active_ms = s->now_ms;
	consume(c, n);
}

static int splice_in_done(struct sk_conn *c, int res)
{
	if (res == 0) {
		/* The log promised bytes the file no longer has (truncated). */
		sk_warn("net: closing connection from %s: file segment ended early", c->peer);
		return -EIO;
	}
	c->pipe_bytes += (size_t)res;
	return 0;
}

void sk_send_complete(struct sk_conn *c, struct io_uring_cqe *cqe, enum sk_op op)
{
	int res = cqe->res;
	c->send_busy = false;
	if (res < 0) {
		if (c->open)
			sk_debug("net: send to %s failed: %s", c->peer, strerror(-res));
		sk_conn_fail(c, res);
	} else if (c->open) {
		if (op == SK_OP_SPLICE_IN) {
			if (splice_in_done(c, res))
				sk_conn_close(c);
		} else {
			if (op == SK_OP_SPLICE_OUT)
				c->pipe_bytes -= (size_t)res;
			sent(c, (size_t)res);
		}
		sk_conn_mark_dirty(c);
	}
	sk_conn_op_done(c);
}

void sk_sendq_free(struct sk_conn *c)
{
	while (c->sq_head) {
		struct sk_out *o = c->sq_head;
		c->sq_head = o->next;
		sk_out_free(o);
	}
	c->sq_tail = NULL;
	c->sq_count = 0;
	c->pipe_bytes = 0;
}
