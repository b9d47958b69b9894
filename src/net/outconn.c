/* Outbound connections: a shard's client side. An outconn owns the address
 * and the reconnect policy; once connected, the bytes move through an
 * ordinary struct sk_conn (flagged outbound), so framing, the provided
 * receive buffers and the send queue are the inbound ones. The conn's
 * frames are our answers, so it never pauses reading, and its close is
 * reported here instead of to the shard's handler.
 *
 * Life: resolve -> connect (through the ring, under the connect timeout) ->
 * connected -> dropped -> backoff timer -> resolve ... until closed. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"

/* Kafka's CommonClientConfigs.RECONNECT_BACKOFF_JITTER */
#define SK_BACKOFF_JITTER_PCT 20

enum sk_oc_state { SK_OC_WAITING, SK_OC_CONNECTING, SK_OC_CONNECTED };

struct sk_outconn {
	struct sk_shard *shard;
	struct sk_outconn *prev, *next;     /* shard->outconns */
	struct sk_outconn_config cfg;
	struct sk_outconn_handler h;
	char host[256];
	uint16_t port;
	char peer[300];                     /* "host:port" for logs */
	enum sk_oc_state state;
	bool closed;                        /* the owner let go; freed when idle */
	bool connect_armed;                 /* the connect SQE is live */
	bool timed_out;                     /* its cancel came from the timeout */
	int fd;                             /* the socket being connected */
	struct sockaddr_storage sa;         /* read by the kernel during connect */
	socklen_t salen;
	sk_timer_id timer;                  /* connect timeout or backoff */
	uint32_t failures;
	uint64_t rng;
	struct sk_conn *conn;
};

void sk_outconn_config_defaults(struct sk_outconn_config *cfg)
{
	/* Kafka's client defaults; frames as large as a broker accepts. */
	*cfg = (struct sk_outconn_config){
		.connect_timeout_ms = 10000,
		.backoff_ms = 50,
		.backoff_max_ms = 1000,
		.max_frame_bytes = 104857600,
	};
}

static void start_connect(struct sk_outconn *oc);

static uint32_t next_rand(struct sk_outconn *oc)
{
	/* xorshift64: jitter only has to keep peers from reconnecting in step */
	oc->rng ^= oc->rng << 13;
	oc->rng ^= oc->rng >> 7;
	oc->rng ^= oc->rng << 17;
	return (uint32_t)(oc->rng >> 32);
}

/* As Kafka's ExponentialBackoff: base * 2^(failures-1), capped, then
 * +-20% so nodes that lost the same peer do not all come back at once. */
static uint64_t backoff_ms(struct sk_outconn *oc)
{
	uint64_t ms = oc->cfg.backoff_ms;
	for (uint32_t i = 1; i < oc->failures && ms < oc->cfg.backoff_max_ms; i++)
		ms *= 2;
	if (ms > oc->cfg.backoff_max_ms)
		ms = oc->cfg.backoff_max_ms;
	uint64_t span = ms * SK_BACKOFF_JITTER_PCT / 100;
	if (!span)
		return ms;
	return ms - span + next_rand(oc) % (2 * span + 1);
}

static void retry_timer(void *arg)
{
	struct sk_outconn *oc = arg;
	oc->timer = 0;
	start_connect(oc);
}

static void cancel_timer(struct sk_outconn *oc)
{
	if (oc->timer)
		sk_timer_cancel(oc->shard, oc->timer);
	oc->timer = 0;
}

/* A stopping shard makes no new connections; the owner hears of the loss. */
static void lost(struct sk_outconn *oc, int reason)
{
	oc->state = SK_OC_WAITING;
	oc->failures++;
	if (!oc->shard->stopping) {
		uint64_t ms = backoff_ms(oc);
		oc->timer = sk_timer_add(oc->shard, ms, retry_timer, oc);
		if (!oc->timer)
			sk_warn("net: no timer to reconnect to %s", oc->peer);
	}
	if (oc->h.on_disconnected)
		oc->h.on_disconnected(oc->h.arg, oc, reason);
}

/* Numeric first, so the common case never blocks; a name is looked up
 * here, once per attempt, and successive failed attempts go through its
 * addresses in turn (as Kafka's client.dns.lookup=use_all_dns_ips), so a
 * name whose first address is dead, e.g. localhost as ::1 before
 * 127.0.0.1, still connects. */
static int resolve(struct sk_outconn *oc)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", oc->port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(oc->host, port, &hints, &res);
	if (rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(oc->host, port, &hints, &res);
	}
	if (rc) {
		sk_debug("net: cannot resolve %s: %s", oc->peer, gai_strerror(rc));
		return rc == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
	}
	unsigned n = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		n++;
	struct addrinfo *pick = res;
	for (unsigned i = oc->failures % n; i > 0; i--)
		pick = pick->ai_next;
	memcpy(&oc->sa, pick->ai_addr, pick->ai_addrlen);
	oc->salen = pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void connect_timeout(void *arg)
{
	struct sk_outconn *oc = arg;
	oc->timer = 0;
	oc->timed_out = true;
	struct io_uring_sqe *sqe = sk_shard_sqe(oc->shard);
	io_uring_prep_cancel64(sqe, sk_op_tag(oc, SK_OP_CONNECT), 0);
	io_uring_sqe_set_data64(sqe, SK_OP_IGNORE);
}

static int open_socket(struct sk_outconn *oc)
{
	int rc = resolve(oc);
	if (rc)
		return rc;
	oc->fd = socket(oc->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (oc->fd < 0)
		return -errno;
	/* Requests are whole frames handed over at once: no Nagle delay. */
	int one = 1;
	(void)setsockopt(oc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static void start_connect(struct sk_outconn *oc)
{
	struct sk_shard *s = oc->shard;
	int rc = open_socket(oc);
	if (rc) {
		lost(oc, rc);
		return;
	}
	oc->timer = sk_timer_add(s, oc->cfg.connect_timeout_ms, connect_timeout, oc);
	if (!oc->timer) {
		close(oc->fd);
		oc->fd = -1;
		lost(oc, -ENOMEM);
		return;
	}
	struct io_uring_sqe *sqe = sk_shard_sqe(s);
	io_uring_prep_connect(sqe, oc->fd, (struct sockaddr *)&oc->sa, oc->salen);
	io_uring_sqe_set_data64(sqe, sk_op_tag(oc, SK_OP_CONNECT));
	s->misc_ops++;
	oc->connect_armed = true;
	oc->timed_out = false;
	oc->state = SK_OC_CONNECTING;
}

static void unlink_free(struct sk_outconn *oc)
{
	struct sk_shard *s = oc->shard;
	if (oc->prev)
		oc->prev->next = oc->next;
	else
		s->outconns = oc->next;
	if (oc->next)
		oc->next->prev = oc->prev;
	free(oc);
}

static int established(struct sk_outconn *oc)
{
	struct sk_conn *c = sk_conn_new(oc->shard, oc->fd, true);
	if (!c)
		return -ENOMEM;
	oc->fd = -1;
	c->outconn = oc;
	c->max_frame = oc->cfg.max_frame_bytes;
	snprintf(c->peer, sizeof(c->peer), "%.*s", (int)sizeof(c->peer) - 1, oc->peer);
	oc->conn = c;
	oc->state = SK_OC_CONNECTED;
	oc->failures = 0;
	sk_conn_mark_dirty(c);   /* the dirty pass arms the first recv */
	return 0;
}

void sk_outconn_connect_complete(struct sk_outconn *oc, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	oc->shard->misc_ops--;
	oc->connect_armed = false;
	if (oc->closed) {
		close(oc->fd);
		unlink_free(oc);
		return;
	}
	cancel_timer(oc);
	if (res == 0)
		res = established(oc);
	if (res < 0) {
		if (res == -ECANCELED && oc->timed_out)
			res = -ETIMEDOUT;
		sk_debug("net: connect to %s failed: %s", oc->peer, strerror(-res));
		close(oc->fd);
		oc->fd = -1;
		lost(oc, res);
		return;
	}
	sk_debug("net: connected to %s", oc->peer);
	if (oc->h.on_connected)
		oc->h.on_connected(oc->h.arg, oc);
}

void sk_outconn_frame(struct sk_conn *c, uint8_t *data, uint32_t len)
{
	struct sk_outconn *oc = c->outconn;
	if (!oc) {
		free(data);
		return;
	}
	oc->h.on_frame(oc->h.arg, oc, data, len);
}

void sk_outconn_conn_closed(struct sk_conn *c)
{
	struct sk_outconn *oc = c->outconn;
	c->outconn = NULL;
	if (!oc)
		return;
	oc->conn = NULL;
	sk_debug("net: connection to %s lost: %s", oc->peer,
		 strerror(c->close_err ? -c->close_err : ECONNRESET));
	lost(oc, c->close_err ? c->close_err : -ECONNRESET);
}

int sk_outconn_new(struct sk_shard *s, const char *host, uint16_t port,
		   const struct sk_outconn_config *cfg, const struct sk_outconn_handler *h,
		   struct sk_outconn **out)
{
	if (!host || strlen(host) >= sizeof(((struct sk_outconn *)0)->host) || !port ||
	    !h->on_frame || !cfg->backoff_max_ms || cfg->max_frame_bytes > INT32_MAX)
		return -EINVAL;
	struct sk_outconn *oc = calloc(1, sizeof(*oc));
	if (!oc)
		return -ENOMEM;
	*oc = (struct sk_outconn){ .shard = s, .cfg = *cfg, .h = *h, .port = port, .fd = -1 };
	snprintf(oc->host, sizeof(oc->host), "%s", host);
	snprintf(oc->peer, sizeof(oc->peer), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	oc->rng = (sk_clock_ms() ^ (uint64_t)(uintptr_t)oc) | 1;
	oc->next = s->outconns;
	if (s->outconns)
		s->outconns->prev = oc;
	s->outconns = oc;
	*out = oc;
	start_connect(oc);
	return 0;
}

int sk_outconn_send(struct sk_outconn *oc, const struct sk_seg *segs, unsigned nsegs)
{
	struct sk_conn *c = oc->conn;
	struct sk_out *o = NULL;
	if (c && c->open)
		o = malloc(sizeof(*o) + nsegs * sizeof(*segs));
	if (!o) {
		for (unsigned i = 0; i < nsegs; i++)
			if (segs[i].free_fn)
				segs[i].free_fn(segs[i].free_arg);
		return c && c->open ? -ENOMEM : -ENOTCONN;
	}
	*o = (struct sk_out){ .nsegs = nsegs };
	memcpy(o->segs, segs, nsegs * sizeof(*segs));
	sk_sendq_push(c, o);
	sk_conn_mark_dirty(c);
	return 0;
}

int sk_outconn_send_buf(struct sk_outconn *oc, void *buf, size_t len)
{
	struct sk_seg seg = sk_seg_mem(buf, len, free, buf);
	return sk_outconn_send(oc, &seg, 1);
}

void sk_outconn_disconnect(struct sk_outconn *oc, int reason)
{
	if (oc->conn)
		sk_conn_fail(oc->conn, reason);
}

void sk_outconn_close(struct sk_outconn *oc)
{
	oc->closed = true;
	cancel_timer(oc);
	if (oc->conn) {
		struct sk_conn *c = oc->conn;
		c->outconn = NULL;
		oc->conn = NULL;
		sk_conn_close(c);
	}
	if (!oc->connect_armed) {
		unlink_free(oc);
		return;
	}
	/* The kernel still reads oc->sa: free once the connect completes. */
	struct io_uring_sqe *sqe = sk_shard_sqe(oc->shard);
	io_uring_prep_cancel64(sqe, sk_op_tag(oc, SK_OP_CONNECT), 0);
	io_uring_sqe_set_data64(sqe, SK_OP_IGNORE);
}

bool sk_outconn_connected(const struct sk_outconn *oc)
{
	return oc->state == SK_OC_CONNECTED;
}

uint32_t sk_outconn_failures(const struct sk_outconn *oc)
{
	return oc->failures;
}

struct sk_shard *sk_outconn_shard(const struct sk_outconn *oc)
{
	return oc->shard;
}

/* Shard stop: pending attempts end now, so the loop is not held up to a
 * connect timeout; live connections close with the others. */
void sk_outconns_stop(struct sk_shard *s)
{
	for (struct sk_outconn *oc = s->outconns; oc; oc = oc->next) {
		cancel_timer(oc);
		if (oc->connect_armed && !oc->closed) {
			struct io_uring_sqe *sqe = sk_shard_sqe(s);
			io_uring_prep_cancel64(sqe, sk_op_tag(oc, SK_OP_CONNECT), 0);
			io_uring_sqe_set_data64(sqe, SK_OP_IGNORE);
		}
	}
}

/* Shard teardown, after the ring is gone. */
void sk_outconns_free_all(struct sk_shard *s)
{
	while (s->outconns) {
		struct sk_outconn *oc = s->outconns;
		if (oc->fd >= 0)
			close(oc->fd);
		unlink_free(oc);
	}
}
