/* Outbound connection tests: the shard runs on the test's thread and talks
 * to a peer made of plain blocking sockets on a thread of its own. Every
 * wait is the shard's own loop, bounded by a watchdog timer. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "skein/net.h"
#include "skein/timer.h"

#define WATCHDOG_MS 20000
#define MAX_EVENTS 64

enum peer_mode { ECHO, OVERSIZE, CLOSE_FIRST };

struct peer {
	int lfd;
	uint16_t port;
	enum peer_mode mode;
	pthread_t th;
};

struct t {
	struct sk_shard *s;
	struct sk_outconn *oc;
	unsigned sent, got, bad, connects;
	unsigned want_frames;
	int reasons[MAX_EVENTS];
	uint64_t when[MAX_EVENTS];
	unsigned nreasons;
	unsigned stop_after_failures;
	bool timed_out;
	bool close_in_callback;
	bool skip_first_send;     /* the peer drops the first connection */
	struct peer *late_peer;   /* starts listening after stop_after_failures */
};

static int listen_on(uint16_t port, int backlog, uint16_t *bound)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, backlog), 0);
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	*bound = ntohs(a.sin_port);
	return fd;
}

static int read_all(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void echo_frames(int fd)
{
	for (;;) {
		uint32_t be;
		if (read_all(fd, &be, 4))
			return;
		uint32_t len = ntohl(be);
		uint8_t *buf = malloc(4 + (size_t)len);
		memcpy(buf, &be, 4);
		if (read_all(fd, buf + 4, len) || send(fd, buf, 4 + len, MSG_NOSIGNAL) < 0) {
			free(buf);
			return;
		}
		free(buf);
	}
}

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (p->mode == CLOSE_FIRST) {
		close(fd);
		fd = accept(p->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
	}
	if (p->mode == OVERSIZE) {
		uint32_t be = htonl(1025);
		send(fd, &be, 4, MSG_NOSIGNAL);
	}
	echo_frames(fd);
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, uint16_t port, enum peer_mode mode)
{
	p->mode = mode;
	p->lfd = listen_on(port, 16, &p->port);
	cr_assert_eq(pthread_create(&p->th, NULL, peer_run, p), 0);
}

/* Shutting the listener down ends a pending accept; the outconn is closed
 * by then, so an echo loop ends at its peer's close. */
static void peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(p->th, NULL);
	close(p->lfd);
}

static void *frame_of(unsigned i, size_t *len)
{
	unsigned body = 8 + i % 300;
	uint8_t *b = malloc(4 + body);
	uint32_t be = htonl(body);
	memcpy(b, &be, 4);
	for (unsigned k = 0; k < body; k++)
		b[4 + k] = (uint8_t)(i + k);
	memcpy(b + 4, &i, sizeof(i));
	*len = 4 + body;
	return b;
}

static void finish(struct t *t)
{
	if (t->oc)
		sk_outconn_close(t->oc);
	t->oc = NULL;
	sk_shard_stop(t->s);
}

static void on_connected(void *arg, struct sk_outconn *oc)
{
	struct t *t = arg;
	t->connects++;
	if (t->late_peer && t->nreasons) {
		finish(t);
		return;
	}
	if (t->skip_first_send && t->connects == 1)
		return;
	for (unsigned i = 0; i < t->want_frames; i++) {
		size_t len;
		void *b = frame_of(t->sent++, &len);
		cr_assert_eq(sk_outconn_send_buf(oc, b, len), 0);
	}
}

static void on_frame(void *arg, struct sk_outconn *oc, uint8_t *data, uint32_t len)
{
	(void)oc;
	struct t *t = arg;
	size_t want_len;
	uint8_t *want = frame_of(t->got, &want_len);
	if (len != want_len - 4 || memcmp(data, want + 4, len))
		t->bad++;
	free(want);
	free(data);
	if (++t->got == t->want_frames)
		finish(t);
}

static void on_disconnected(void *arg, struct sk_outconn *oc, int reason)
{
	(void)oc;
	struct t *t = arg;
	if (t->nreasons < MAX_EVENTS) {
		t->when[t->nreasons] = sk_shard_now_ms(t->s);
		t->reasons[t->nreasons++] = reason;
	}
	if (t->late_peer && t->nreasons == t->stop_after_failures) {
		peer_start(t->late_peer, t->late_peer->port, ECHO);
		return;
	}
	if (t->close_in_callback ||
	    (!t->late_peer && t->stop_after_failures && t->nreasons >= t->stop_after_failures))
		finish(t);
}

static void watchdog(void *arg)
{
	struct t *t = arg;
	t->timed_out = true;
	finish(t);
}

static void run(struct t *t, const char *host, uint16_t port, const struct sk_outconn_config *oc)
{
	struct sk_net_config cfg;
	sk_net_config_defaults(&cfg);
	cfg.recv_buf_count = 16;
	cfg.recv_buf_size = 256;   /* small, so frames straddle buffers */
	struct sk_net_handler h = { 0 };
	cr_assert_eq(sk_shard_new(&cfg, &h, &t->s), 0);
	struct sk_outconn_handler oh = { on_connected, on_frame, on_disconnected, t };
	cr_assert_neq(sk_timer_add(t->s, WATCHDOG_MS, watchdog, t), 0);
	cr_assert_eq(sk_outconn_new(t->s, host, port, oc, &oh, &t->oc), 0);
	cr_assert_eq(sk_shard_run(t->s), 0);
	sk_shard_destroy(t->s);
	cr_assert(!t->timed_out, "watchdog fired");
}

static struct sk_outconn_config fast_config(void)
{
	struct sk_outconn_config c;
	sk_outconn_config_defaults(&c);
	c.backoff_ms = 20;
	c.backoff_max_ms = 160;
	c.connect_timeout_ms = 300;
	c.max_frame_bytes = 1024;
	return c;
}

/* A port nobody listens on (bound, then released). */
static uint16_t free_port(void)
{
	uint16_t port;
	close(listen_on(0, 1, &port));
	return port;
}

TestSuite(outconn, .timeout = 60);

Test(outconn, pipelined_frames_come_back_in_order)
{
	struct peer p;
	peer_start(&p, 0, ECHO);
	struct t t = { .want_frames = 500 };
	struct sk_outconn_config c = fast_config();
	run(&t, "127.0.0.1", p.port, &c);
	peer_stop(&p);
	cr_assert_eq(t.got, 500);
	cr_assert_eq(t.bad, 0);
	cr_assert_eq(t.connects, 1);
}

Test(outconn, frame_above_maximum_disconnects)
{
	struct peer p;
	peer_start(&p, 0, OVERSIZE);
	struct t t = { .close_in_callback = true };
	struct sk_outconn_config c = fast_config();
	run(&t, "127.0.0.1", p.port, &c);
	peer_stop(&p);
	cr_assert_eq(t.connects, 1);
	cr_assert_eq(t.nreasons, 1);
	cr_assert_eq(t.reasons[0], -EMSGSIZE);
}

Test(outconn, refused_connects_back_off_exponentially_then_connect)
{
	struct peer p = { .port = free_port() };
	struct t t = { .late_peer = &p, .stop_after_failures = 6 };
	struct sk_outconn_config c = fast_config();
	run(&t, "127.0.0.1", p.port, &c);
	peer_stop(&p);
	cr_assert_eq(t.nreasons, 6);
	for (unsigned i = 0; i < t.nreasons; i++)
		cr_assert_eq(t.reasons[i], -ECONNREFUSED, "attempt %u: %d", i, t.reasons[i]);
	/* 20, 40, 80, 160, 160 ms, each at least 80% of that (the jitter);
	 * a loaded machine only makes the gaps longer. */
	uint64_t want[] = { 20, 40, 80, 160, 160 };
	for (unsigned i = 0; i < 5; i++)
		cr_assert_geq(t.when[i + 1] - t.when[i], want[i] * 8 / 10, "gap %u: %llu ms", i,
			      (unsigned long long)(t.when[i + 1] - t.when[i]));
	cr_assert_eq(t.connects, 1);
}

Test(outconn, peer_close_reconnects)
{
	struct peer p;
	peer_start(&p, 0, CLOSE_FIRST);
	struct t t = { .want_frames = 3, .skip_first_send = true };
	struct sk_outconn_config c = fast_config();
	run(&t, "localhost", p.port, &c);
	peer_stop(&p);
	cr_assert_eq(t.nreasons, 1);
	cr_assert_eq(t.reasons[0], -ECONNRESET);
	cr_assert_eq(t.connects, 2);
	cr_assert_eq(t.got, 3);
}

/* A listener whose accept queue is full drops new SYNs, so the connect
 * hangs until the timeout. */
static int fill_backlog(uint16_t *port, int fds[4])
{
	int lfd = listen_on(0, 0, port);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(*port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (int i = 0; i < 4; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fds[i], (struct sockaddr *)&a, sizeof(a));
	}
	return lfd;
}

Test(outconn, connect_timeout_fires)
{
	uint16_t port;
	int fds[4];
	int lfd = fill_backlog(&port, fds);
	struct t t = { .stop_after_failures = 2 };
	struct sk_outconn_config c = fast_config();
	run(&t, "127.0.0.1", port, &c);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(lfd);
	cr_assert_eq(t.nreasons, 2);
	cr_assert_eq(t.reasons[0], -ETIMEDOUT);
	cr_assert_eq(t.reasons[1], -ETIMEDOUT);
	cr_assert_geq(t.when[1] - t.when[0], 300);
	cr_assert_eq(t.connects, 0);
}

static void close_soon(void *arg)
{
	finish(arg);
}

Test(outconn, close_while_connecting_frees_after_the_connect)
{
	uint16_t port;
	int fds[4];
	int lfd = fill_backlog(&port, fds);
	struct t t = { 0 };
	struct sk_outconn_config c = fast_config();
	c.connect_timeout_ms = 10000;
	struct sk_net_config cfg;
	sk_net_config_defaults(&cfg);
	struct sk_net_handler h = { 0 };
	cr_assert_eq(sk_shard_new(&cfg, &h, &t.s), 0);
	struct sk_outconn_handler oh = { on_connected, on_frame, on_disconnected, &t };
	cr_assert_eq(sk_outconn_new(t.s, "127.0.0.1", port, &c, &oh, &t.oc), 0);
	cr_assert_neq(sk_timer_add(t.s, 50, close_soon, &t), 0);
	cr_assert_neq(sk_timer_add(t.s, WATCHDOG_MS, watchdog, &t), 0);
	cr_assert_eq(sk_shard_run(t.s), 0);
	sk_shard_destroy(t.s);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(lfd);
	cr_assert(!t.timed_out);
	cr_assert_eq(t.nreasons, 0, "no callback after close");
}

Test(outconn, bad_arguments_are_refused)
{
	struct sk_net_config cfg;
	sk_net_config_defaults(&cfg);
	struct sk_net_handler h = { 0 };
	struct sk_shard *s;
	cr_assert_eq(sk_shard_new(&cfg, &h, &s), 0);
	struct sk_outconn_config c = fast_config();
	struct sk_outconn_handler oh = { on_connected, on_frame, on_disconnected, NULL };
	struct sk_outconn *oc;
	cr_assert_eq(sk_outconn_new(s, "127.0.0.1", 0, &c, &oh, &oc), -EINVAL);
	oh.on_frame = NULL;
	cr_assert_eq(sk_outconn_new(s, "127.0.0.1", 9, &c, &oh, &oc), -EINVAL);
	sk_shard_destroy(s);
}
