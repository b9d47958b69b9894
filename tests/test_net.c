/* Reactor tests: a shard runs on its own thread with a small echo-like
 * handler on 127.0.0.1, and plain blocking sockets play the clients. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "skein/logging.h"
#include "skein/net.h"
#include "skein/timer.h"
/* Internal counters (bytes read straight into frames); test only. */
#include "../src/net/net-int.h"

enum mode { ECHO, DELAY_EVEN, DELAY_ALL, FILE_BODY, PARK_LONG, NONE_ODD, THROTTLE, THROTTLE_HOLD };

struct srv {
	struct sk_shard *s;
	pthread_t th;
	uint16_t port;
	int run_rc;
	enum mode mode;
	unsigned delay_ms;
	/* handler bookkeeping, touched only on the shard thread */
	unsigned inflight, peak, out_of_order, late_notconn;
	uint64_t max_slot_done;
	int file_fd;
	size_t file_len;
	atomic_int quiet;            /* on_quiet calls */
	/* Criterion's assertions are not thread-safe: the handler, on the
	 * shard's thread, counts what went wrong and the test thread asserts
	 * on it after the join. */
	unsigned handler_errors;
	pthread_t loop_thread;       /* set by the loop: frames must run there */
	unsigned wrong_thread;
	unsigned tagged_frames;      /* frames on a connection with tag 7 */
	bool (*may_overtake)(const uint8_t *frame, uint32_t len);
	unsigned overtaken;          /* frames handed over while one was in flight */
	unsigned waited_wrongly;     /* a waiting frame handed over too early */
};

struct parked {
	struct srv *v;
	struct sk_conn *c;
	uint64_t slot;
	uint8_t *data;
	uint32_t len;
};

static uint8_t *echo_bytes(const uint8_t *data, uint32_t len)
{
	uint8_t *r = malloc(4 + (size_t)len);
	uint32_t be = htonl(len);
	memcpy(r, &be, 4);
	memcpy(r + 4, data, len);
	return r;
}

static void respond_parked(struct parked *p)
{
	struct srv *v = p->v;
	if (p->slot < v->max_slot_done)
		v->out_of_order++;
	else
		v->max_slot_done = p->slot;
	v->inflight--;
	int rc = sk_conn_respond_buf(p->c, p->slot, echo_bytes(p->data, p->len), 4 + p->len);
	if (rc == -ENOTCONN)
		v->late_notconn++;
	free(p->data);
	free(p);
}

static void timer_fire(void *arg)
{
	respond_parked(arg);
}

static void respond_file(struct srv *v, struct sk_conn *c, struct sk_frame *f)
{
	uint32_t *hdr = malloc(4);
	*hdr = htonl((uint32_t)v->file_len);
	struct sk_seg segs[2] = {
		sk_seg_mem(hdr, 4, free, hdr),
		sk_seg_file(v->file_fd, 0, v->file_len, NULL, NULL),
	};
	if (sk_conn_respond(c, f->slot, segs, 2) != 0)
		v->handler_errors++;
	free(f->data);
}

static void on_frame(void *arg, struct sk_conn *c, struct sk_frame *f)
{
	struct srv *v = arg;
	if (!pthread_equal(pthread_self(), v->loop_thread))
		v->wrong_thread++;
	if (v->may_overtake && v->inflight > 0) {
		if (v->may_overtake(f->data, f->len))
			v->overtaken++;
		else
			v->waited_wrongly++;
	}
	if (++v->inflight > v->peak)
		v->peak = v->inflight;
	if (sk_conn_tag(c) == 7)
		v->tagged_frames++;
	if (v->mode == FILE_BODY) {
		v->inflight--;
		respond_file(v, c, f);
		return;
	}
	if (v->mode == NONE_ODD && f->slot % 2) {
		/* Like produce acks=0: done at once, ahead of the parked even slot. */
		v->inflight--;
		if (sk_conn_respond_none(c, f->slot) != 0)
			v->handler_errors++;
		free(f->data);
		return;
	}
	if (v->mode == THROTTLE || v->mode == THROTTLE_HOLD)
		sk_conn_throttle(c, v->delay_ms, v->mode == THROTTLE_HOLD);
	struct parked *p = malloc(sizeof(*p));
	*p = (struct parked){ v, c, f->slot, f->data, f->len };
	bool delay = v->mode == DELAY_ALL || v->mode == PARK_LONG || v->mode == NONE_ODD ||
		     (v->mode == DELAY_EVEN && f->slot % 2 == 0);
	if (!delay) {
		respond_parked(p);
		return;
	}
	if (!sk_timer_add(sk_conn_shard(c), v->delay_ms, timer_fire, p)) {
		v->handler_errors++;
		respond_parked(p);
	}
}

static void *run_thread(void *arg)
{
	struct srv *v = arg;
	v->loop_thread = pthread_self();
	v->run_rc = sk_shard_run(v->s);
	return NULL;
}

static void small_config(struct sk_net_config *cfg)
{
	sk_net_config_defaults(cfg);
	cfg->max_frame_bytes = 1 << 20;
	cfg->recv_buf_count = 16;
	cfg->recv_buf_size = 256;   /* small, so frames straddle buffers */
}

static void on_quiet(void *arg)
{
	struct srv *v = arg;
	atomic_fetch_add(&v->quiet, 1);
}

static void srv_new(struct srv *v, const struct sk_net_config *cfg, enum mode mode)
{
	v->mode = mode;
	v->delay_ms = v->delay_ms ? v->delay_ms : 5;
	struct sk_net_handler h = { .on_frame = on_frame, .on_quiet = on_quiet,
				    .may_overtake = v->may_overtake, .arg = v };
	cr_assert_eq(sk_shard_new(cfg, &h, &v->s), 0);
}

static void srv_start(struct srv *v, const struct sk_net_config *cfg, enum mode mode)
{
	srv_new(v, cfg, mode);
	cr_assert_eq(sk_shard_listen(v->s, "127.0.0.1", 0, &v->port), 0);
	cr_assert_neq(v->port, 0);
	cr_assert_eq(pthread_create(&v->th, NULL, run_thread, v), 0);
}

static void srv_stop(struct srv *v)
{
	sk_shard_stop(v->s);
	pthread_join(v->th, NULL);
	cr_assert_eq(v->run_rc, 0, "sk_shard_run returned %d", v->run_rc);
	cr_assert_eq(v->handler_errors, 0, "%u failed calls in the handler", v->handler_errors);
	sk_shard_destroy(v->s);
}

static struct sk_net_stats stats(struct srv *v)
{
	struct sk_net_stats st;
	sk_shard_stats(v->s, &st);
	return st;
}

static void wait_for(struct srv *v, uint64_t (*get)(struct sk_net_stats *), uint64_t want)
{
	for (int i = 0; i < 500; i++) {
		struct sk_net_stats st = stats(v);
		if (get(&st) == want)
			return;
		usleep(10000);
	}
	struct sk_net_stats st = stats(v);
	cr_assert_fail("stat stayed at %llu, expected %llu", (unsigned long long)get(&st),
		       (unsigned long long)want);
}

static uint64_t get_open(struct sk_net_stats *st) { return st->conns_open; }

static int cli_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s",
		     strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Frame i carries "frame-<i>" so order is checkable. */
static size_t make_frame(uint8_t *buf, unsigned i)
{
	int n = sprintf((char *)buf + 4, "frame-%u", i);
	uint32_t be = htonl((uint32_t)n);
	memcpy(buf, &be, 4);
	return 4 + (size_t)n;
}

static void expect_frame(int fd, unsigned i)
{
	uint8_t want[64], got[64];
	size_t n = make_frame(want, i);
	cr_assert_eq(recv_all(fd, got, 4), 0, "no response %u: %s", i, strerror(errno));
	uint32_t len = ntohl(*(uint32_t *)got);
	cr_assert_eq(len, n - 4, "response %u: length %u, expected %zu", i, len, n - 4);
	cr_assert_eq(recv_all(fd, got + 4, len), 0);
	cr_assert_arr_eq(got, want, n, "response %u out of order or corrupt", i);
}

static void roundtrip(int fd, unsigned i)
{
	uint8_t buf[64];
	cr_assert_eq(send_all(fd, buf, make_frame(buf, i)), 0);
	expect_frame(fd, i);
}

/* The peer closed: EOF, or RST if it had unread bytes. */
static void expect_closed(int fd)
{
	uint8_t b[64];
	ssize_t n;
	while ((n = recv(fd, b, sizeof(b), 0)) > 0)
		;
	cr_assert(n == 0 || errno == ECONNRESET, "expected close, got %zd (%s)", n,
		  strerror(errno));
}

static void send_size(int fd, uint32_t size)
{
	uint32_t be = htonl(size);
	cr_assert_eq(send_all(fd, &be, 4), 0);
}

/* n frames sent in one go on a new connection: every answer in order. */
static void pipeline(struct srv *v, unsigned n)
{
	int fd = cli_connect(v->port);
	uint8_t *all = malloc((size_t)n * 64);
	size_t len = 0;
	for (unsigned i = 0; i < n; i++)
		len += make_frame(all + len, i);
	cr_assert_eq(send_all(fd, all, len), 0);
	free(all);
	for (unsigned i = 0; i < n; i++)
		expect_frame(fd, i);
	cr_assert_eq(stats(v).frames_in, n);
	close(fd);
	wait_for(v, get_open, 0);
}

TestSuite(net, .init = NULL);

Test(net, pipelined_out_of_order_completion_answers_in_order, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, DELAY_EVEN);
	pipeline(&v, 1000);
	srv_stop(&v);
	cr_assert_gt(v.out_of_order, 0, "handler never completed out of order");
}

/* Frames "frame-<even>" may overtake, odd ones wait their turn. */
static bool even_overtakes(const uint8_t *frame, uint32_t len)
{
	return len > 6 && (frame[len - 1] - '0') % 2 == 0;
}

Test(net, a_frame_that_may_not_overtake_waits_for_the_earlier_answers, .timeout = 30)
{
	struct srv v = { .may_overtake = even_overtakes };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, DELAY_ALL);
	pipeline(&v, 200);
	srv_stop(&v);
	cr_assert_eq(v.waited_wrongly, 0, "%u frames handed over before their turn",
		     v.waited_wrongly);
	cr_assert_gt(v.overtaken, 0, "no frame ever overtook: the test proves nothing");
}

Test(net, no_response_slots_keep_order, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, NONE_ODD);
	int fd = cli_connect(v.port);
	uint8_t all[200 * 64];
	size_t len = 0;
	for (unsigned i = 0; i < 200; i++)
		len += make_frame(all + len, i);
	cr_assert_eq(send_all(fd, all, len), 0);
	for (unsigned i = 0; i < 200; i += 2)
		expect_frame(fd, i);
	roundtrip(fd, 1000);   /* nothing extra was queued before it */
	close(fd);
	srv_stop(&v);
}

Test(net, frames_split_byte_by_byte, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int fd = cli_connect(v.port);
	for (unsigned i = 0; i < 20; i++) {
		uint8_t buf[64];
		size_t n = make_frame(buf, i);
		for (size_t k = 0; k < n; k++) {
			cr_assert_eq(send_all(fd, buf + k, 1), 0);
			if (k % 3 == 0)
				usleep(200);
		}
	}
	for (unsigned i = 0; i < 20; i++)
		expect_frame(fd, i);
	close(fd);
	srv_stop(&v);
}

Test(net, large_frame_spans_many_buffers, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int fd = cli_connect(v.port);
	size_t n = 300000;
	uint8_t *buf = malloc(4 + n), *got = malloc(4 + n);
	*(uint32_t *)buf = htonl((uint32_t)n);
	for (size_t i = 0; i < n; i++)
		buf[4 + i] = (uint8_t)(i * 7);
	cr_assert_eq(send_all(fd, buf, 4 + n), 0);
	cr_assert_eq(recv_all(fd, got, 4 + n), 0);
	cr_assert_arr_eq(got, buf, 4 + n);
	free(buf);
	free(got);
	close(fd);
	srv_stop(&v);
}

static uint64_t direct_bytes(struct srv *v)
{
	return atomic_load_explicit(&v->s->st.bytes_in_direct, memory_order_relaxed);
}

/* A stream of small frames with large ones among them. */
enum { BIG_LEN = 300000, BIG_N = 4 };

static uint8_t big_byte(unsigned k, size_t i)
{
	return (uint8_t)(i * 7 + k * 31 + (i >> 11));
}

struct chunked { int fd; const uint8_t *p; size_t len; int rc; };

/* Writes in pieces of 1..1500 bytes, pausing now and then, so frames
 * (and the large frames' size prefixes) straddle writes and receives. */
static void *write_chunked(void *arg)
{
	struct chunked *w = arg;
	uint32_t r = 12345;
	size_t off = 0;
	unsigned n = 0;
	while (off < w->len) {
		r = r * 1103515245u + 12345u;
		size_t k = 1 + (r >> 16) % 1500;
		if (k > w->len - off)
			k = w->len - off;
		if (send_all(w->fd, w->p + off, k)) {
			w->rc = -1;
			return NULL;
		}
		off += k;
		if (++n % 16 == 0)
			usleep(100);
	}
	return NULL;
}

Test(net, large_frames_in_small_writes_are_read_directly, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, DELAY_EVEN);
	int fd = cli_connect(v.port);
	/* small 0, big 0, big 1, small 1, big 2, small 2, small 3, big 3 */
	uint8_t *all = malloc(BIG_N * (4 + BIG_LEN + 3 * 64) + 64);
	size_t len = 0;
	unsigned small = 0;
	len += make_frame(all + len, small++);
	for (unsigned k = 0; k < BIG_N; k++) {
		uint32_t be = htonl(BIG_LEN);
		memcpy(all + len, &be, 4);
		for (size_t i = 0; i < BIG_LEN; i++)
			all[len + 4 + i] = big_byte(k, i);
		len += 4 + BIG_LEN;
		for (unsigned j = 0; j < k % 3; j++)
			len += make_frame(all + len, small++);
	}
	struct chunked w = { fd, all, len, 0 };
	pthread_t th;
	pthread_create(&th, NULL, write_chunked, &w);
	uint8_t *got = malloc(BIG_LEN);
	small = 0;
	expect_frame(fd, small++);
	for (unsigned k = 0; k < BIG_N; k++) {
		uint32_t be;
		cr_assert_eq(recv_all(fd, &be, 4), 0, "no response to large frame %u", k);
		cr_assert_eq(ntohl(be), BIG_LEN);
		cr_assert_eq(recv_all(fd, got, BIG_LEN), 0);
		size_t bad = 0;
		while (bad < BIG_LEN && got[bad] == big_byte(k, bad))
			bad++;
		cr_assert_eq(bad, BIG_LEN, "large frame %u corrupt at %zu", k, bad);
		for (unsigned j = 0; j < k % 3; j++)
			expect_frame(fd, small++);
	}
	pthread_join(th, NULL);
	cr_assert_eq(w.rc, 0);
	roundtrip(fd, 1000);   /* back on the provided buffers */
	struct sk_net_stats st = stats(&v);
	cr_assert_eq(st.frames_in, BIG_N + small + 1);
	cr_assert_eq(st.bytes_in, len + make_frame(all, 1000));
	/* Only what multishot had already taken (16 x 256 bytes here) is copied. */
	cr_assert_geq(direct_bytes(&v), (uint64_t)BIG_N * (BIG_LEN - 64 * 1024),
		      "only %llu bytes read directly",
		      (unsigned long long)direct_bytes(&v));
	free(all);
	free(got);
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* Sends the size of a large frame and part of its body. */
static void send_partial_big(int fd, size_t body)
{
	send_size(fd, BIG_LEN);
	uint8_t *b = calloc(1, body);
	cr_assert_eq(send_all(fd, b, body), 0);
	free(b);
}

static void wait_direct(struct srv *v, uint64_t want)
{
	for (int i = 0; i < 500 && direct_bytes(v) < want; i++)
		usleep(10000);
	cr_assert_geq(direct_bytes(v), want, "no direct recv happened");
}

Test(net, peer_closing_inside_large_frame_frees_it, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int good = cli_connect(v.port), bad = cli_connect(v.port);
	roundtrip(good, 1);
	send_partial_big(bad, 100000);
	wait_direct(&v, 1);   /* the direct recv is live */
	close(bad);
	wait_for(&v, get_open, 1);
	roundtrip(good, 2);
	close(good);
	wait_for(&v, get_open, 0);
	cr_assert_eq(stats(&v).frames_in, 2);
	srv_stop(&v);
	cr_assert_eq(v.peak, 1, "the truncated frame was delivered");
}

Test(net, stop_and_idle_reap_inside_large_frame, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.idle_ms = 400;
	srv_start(&v, &cfg, ECHO);
	int stalled = cli_connect(v.port);
	send_partial_big(stalled, 100000);
	wait_direct(&v, 1);
	expect_closed(stalled);   /* nothing more came: idle, even mid-frame */
	close(stalled);
	wait_for(&v, get_open, 0);
	/* A pending direct recv does not hold up stop. */
	int open_fd = cli_connect(v.port);
	uint64_t before = direct_bytes(&v);
	send_partial_big(open_fd, 100000);
	wait_direct(&v, before + 1);
	cr_assert_eq(stats(&v).frames_in, 0);
	srv_stop(&v);
	expect_closed(open_fd);
	close(open_fd);
}

static void bad_size_closes_only_that_connection(uint32_t size)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int good = cli_connect(v.port), bad = cli_connect(v.port);
	roundtrip(good, 1);
	send_size(bad, size);
	expect_closed(bad);
	roundtrip(good, 2);
	wait_for(&v, get_open, 1);
	close(bad);
	close(good);
	srv_stop(&v);
}

Test(net, frame_of_2gib_is_refused, .timeout = 30)
{
	bad_size_closes_only_that_connection(0x7fffffffu);
}

Test(net, frame_over_max_is_refused, .timeout = 30)
{
	bad_size_closes_only_that_connection((1u << 20) + 1);
}

Test(net, negative_size_is_refused, .timeout = 30)
{
	bad_size_closes_only_that_connection(0xffffffffu);
	bad_size_closes_only_that_connection(0x80000000u);
}

Test(net, frame_at_max_is_accepted, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_frame_bytes = 1000;
	srv_start(&v, &cfg, ECHO);
	int fd = cli_connect(v.port);
	uint8_t buf[1004] = { 0 }, got[1004];
	*(uint32_t *)buf = htonl(1000);
	cr_assert_eq(send_all(fd, buf, sizeof(buf)), 0);
	cr_assert_eq(recv_all(fd, got, sizeof(got)), 0);
	close(fd);
	srv_stop(&v);
}

Test(net, truncated_frame_then_close_frees_it, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int good = cli_connect(v.port), bad = cli_connect(v.port);
	roundtrip(good, 1);
	send_size(bad, 100);
	cr_assert_eq(send_all(bad, "0123456789", 10), 0);
	close(bad);
	wait_for(&v, get_open, 1);
	roundtrip(good, 2);
	close(good);
	srv_stop(&v);
	cr_assert_eq(v.peak, 1);
}

Test(net, max_connections_refuses_extra, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_connections = 2;
	srv_start(&v, &cfg, ECHO);
	int a = cli_connect(v.port), b = cli_connect(v.port);
	roundtrip(a, 1);
	roundtrip(b, 1);
	int c = cli_connect(v.port);
	expect_closed(c);
	cr_assert_eq(stats(&v).conns_refused, 1);
	roundtrip(a, 2);
	roundtrip(b, 2);
	close(a);
	wait_for(&v, get_open, 1);
	int d = cli_connect(v.port);   /* room again */
	roundtrip(d, 3);
	close(b);
	close(c);
	close(d);
	srv_stop(&v);
}

Test(net, idle_connections_are_reaped, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	/* The busy connection talks every 50 ms, 30 times less than the idle
	 * bound, so only a stall of 1.5 s on a loaded machine could reap it. */
	cfg.idle_ms = 1500;
	srv_start(&v, &cfg, ECHO);
	int idle = cli_connect(v.port), busy = cli_connect(v.port);
	roundtrip(idle, 1);
	for (unsigned i = 0; i < 50; i++) {   /* ~2.5 s of chatter */
		roundtrip(busy, i);
		usleep(50000);
	}
	expect_closed(idle);
	roundtrip(busy, 99);
	cr_assert_eq(stats(&v).conns_open, 1);
	close(idle);
	close(busy);
	srv_stop(&v);
}

Test(net, inflight_cap_pauses_reading_and_loses_nothing, .timeout = 30)
{
	struct srv v = { .delay_ms = 100 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_inflight = 4;
	srv_start(&v, &cfg, DELAY_ALL);
	int fd = cli_connect(v.port);
	enum { N = 40 };
	uint8_t all[N * 64];
	size_t len = 0;
	for (unsigned i = 0; i < N; i++)
		len += make_frame(all + len, i);
	cr_assert_eq(send_all(fd, all, len), 0);
	usleep(50000);
	/* Well before the first completion only the cap's worth was read. */
	cr_assert_eq(stats(&v).frames_in, 4, "reading did not pause at the cap");
	for (unsigned i = 0; i < N; i++)
		expect_frame(fd, i);
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
	cr_assert_eq(v.peak, 4, "peak in flight %u, cap 4", v.peak);
}

/* The slot ring starts small and grows while requests are outstanding:
 * responses must still leave in request order across the growth. */
Test(net, slot_ring_grows_under_pipelining, .timeout = 30)
{
	struct srv v = { .delay_ms = 100 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_inflight = 100;
	srv_start(&v, &cfg, DELAY_ALL);
	int fd = cli_connect(v.port);
	enum { N = 150 };
	uint8_t all[N * 64];
	size_t len = 0;
	for (unsigned i = 0; i < N; i++)
		len += make_frame(all + len, i);
	cr_assert_eq(send_all(fd, all, len), 0);
	usleep(50000);
	cr_assert_eq(stats(&v).frames_in, 100, "reading did not pause at the cap");
	for (unsigned i = 0; i < N; i++)
		expect_frame(fd, i);
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
	cr_assert_eq(v.peak, 100, "peak in flight %u, cap 100", v.peak);
}

struct writer { int fd; unsigned sent; };

static void *write_stream(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[64];
	for (unsigned i = 0; i < 20000; i++, w->sent++)
		if (send_all(w->fd, buf, make_frame(buf, i)))
			break;
	return NULL;
}

Test(net, stop_during_stream_answers_what_was_accepted, .timeout = 30)
{
	struct srv v = { .delay_ms = 2 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, DELAY_ALL);
	int fd = cli_connect(v.port);
	struct writer w = { fd, 0 };
	pthread_t th;
	pthread_create(&th, NULL, write_stream, &w);
	unsigned got = 0;
	for (; got < 100; got++)
		expect_frame(fd, got);
	sk_shard_stop(v.s);
	/* Responses keep coming in order until the broker closes. */
	for (;; got++) {
		uint8_t want[64], b[64];
		size_t n = make_frame(want, got);
		if (recv_all(fd, b, n))
			break;
		cr_assert_arr_eq(b, want, n, "response %u corrupt after stop", got);
	}
	pthread_join(th, NULL);
	pthread_join(v.th, NULL);
	cr_assert_eq(v.run_rc, 0);
	cr_assert_eq(v.handler_errors, 0, "%u failed calls in the handler", v.handler_errors);
	struct sk_net_stats st = stats(&v);
	cr_assert_geq(st.frames_in, 100);
	cr_assert_leq(got, st.frames_in);
	/* Every accepted frame was answered: 4 + len("frame-i") bytes each. */
	uint64_t want_out = 0;
	for (unsigned i = 0; i < st.frames_in; i++) {
		uint8_t tmp[64];
		want_out += make_frame(tmp, i);
	}
	cr_assert_eq(st.bytes_out, want_out, "bytes out %llu, expected %llu for %llu frames",
		     (unsigned long long)st.bytes_out, (unsigned long long)want_out,
		     (unsigned long long)st.frames_in);
	cr_assert_eq(st.conns_open, 0);
	sk_shard_destroy(v.s);
	close(fd);
}

Test(net, late_response_after_peer_left_is_dropped, .timeout = 30)
{
	struct srv v = { .delay_ms = 200 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, PARK_LONG);
	int fd = cli_connect(v.port);
	uint8_t buf[64];
	cr_assert_eq(send_all(fd, buf, make_frame(buf, 1)), 0);
	usleep(50000);
	close(fd);
	wait_for(&v, get_open, 0);
	usleep(400000);
	srv_stop(&v);
	cr_assert_eq(v.late_notconn, 1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A throttled connection gets its answer at once but is not read from until
 * the throttle time is over (clients that throttle themselves, KIP-219). */
Test(net, throttle_mutes_reading_not_the_answer, .timeout = 30)
{
	struct srv v = { .delay_ms = 300 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, THROTTLE);
	int fd = cli_connect(v.port);
	double t0 = now_ms();
	roundtrip(fd, 1);
	cr_assert_lt(now_ms() - t0, 250, "the answer is not held");
	roundtrip(fd, 2);
	cr_assert_geq(now_ms() - t0, 290, "the next request waits for the mute to end");
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* Older clients ignore throttle_time_ms: their answer waits instead. */
Test(net, throttle_with_hold_delays_the_answer, .timeout = 30)
{
	struct srv v = { .delay_ms = 300 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, THROTTLE_HOLD);
	int fd = cli_connect(v.port);
	double t0 = now_ms();
	roundtrip(fd, 1);
	cr_assert_geq(now_ms() - t0, 290);
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* Closing while muted drops the mute timer's hold on the connection. */
Test(net, close_while_throttled_frees_the_connection, .timeout = 30)
{
	struct srv v = { .delay_ms = 5000 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, THROTTLE);
	int fd = cli_connect(v.port);
	roundtrip(fd, 1);
	close(fd);
	wait_for(&v, get_open, 0);
	double t0 = now_ms();
	srv_stop(&v);
	cr_assert_lt(now_ms() - t0, 4000, "stop does not wait for the mute");
}

Test(net, file_segment_is_spliced, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	char path[] = "/tmp/skein-net-XXXXXX";
	v.file_fd = mkstemp(path);
	cr_assert_geq(v.file_fd, 0);
	unlink(path);
	v.file_len = 200000;   /* several splice chunks */
	uint8_t *data = malloc(v.file_len), *got = malloc(v.file_len);
	for (size_t i = 0; i < v.file_len; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	cr_assert_eq(write(v.file_fd, data, v.file_len), (ssize_t)v.file_len);
	srv_start(&v, &cfg, FILE_BODY);
	int fd = cli_connect(v.port);
	for (unsigned round = 0; round < 2; round++) {
		uint8_t req[64];
		cr_assert_eq(send_all(fd, req, make_frame(req, round)), 0);
		uint32_t be;
		cr_assert_eq(recv_all(fd, &be, 4), 0);
		cr_assert_eq(ntohl(be), v.file_len);
		cr_assert_eq(recv_all(fd, got, v.file_len), 0);
		cr_assert_arr_eq(got, data, v.file_len);
	}
	close(fd);
	srv_stop(&v);
	close(v.file_fd);
	free(data);
	free(got);
}

static struct sk_shard *signal_shard;

static void on_sigusr1(int sig)
{
	(void)sig;
	sk_shard_stop(signal_shard);
}

Test(net, stop_from_signal_handler, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_start(&v, &cfg, ECHO);
	int fd = cli_connect(v.port);
	roundtrip(fd, 1);
	signal_shard = v.s;
	signal(SIGUSR1, on_sigusr1);
	raise(SIGUSR1);
	expect_closed(fd);
	pthread_join(v.th, NULL);
	cr_assert_eq(v.run_rc, 0);
	cr_assert_eq(v.handler_errors, 0, "%u failed calls in the handler", v.handler_errors);
	/* The listener is gone too. */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(v.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(connect(probe, (struct sockaddr *)&a, sizeof(a)), 0);
	close(probe);
	sk_shard_destroy(v.s);
	close(fd);
}

/* Timers, fsync and defer without any connection. */
struct seq { struct sk_shard *s; int order[8]; int n; int fsync_res; int fd; int deferred; };

static void deferred(void *arg)
{
	struct seq *q = arg;
	q->deferred = 1;
	sk_shard_stop(q->s);
}

static void fsynced(void *arg, int res)
{
	struct seq *q = arg;
	q->fsync_res = res;
	cr_assert_eq(sk_shard_defer(q->s, deferred, q), 0);
}

struct tick { struct seq *q; int id; };

static void tick(void *arg)
{
	struct tick *t = arg;
	t->q->order[t->q->n++] = t->id;
	if (t->id == 30)
		cr_assert_eq(sk_shard_fsync(t->q->s, t->q->fd, 1, fsynced, t->q), 0);
}

static void *run_plain(void *arg)
{
	return (void *)(intptr_t)sk_shard_run(arg);
}

Test(net, timers_fsync_and_defer, .timeout = 30)
{
	struct sk_net_config cfg;
	small_config(&cfg);
	struct sk_net_handler h = { .on_frame = on_frame };
	struct seq q = { 0 };
	cr_assert_eq(sk_shard_new(&cfg, &h, &q.s), 0);
	char path[] = "/tmp/skein-net-XXXXXX";
	q.fd = mkstemp(path);
	unlink(path);
	cr_assert_eq(write(q.fd, "x", 1), 1);
	struct tick t30 = { &q, 30 }, t10 = { &q, 10 }, t20 = { &q, 20 }, t15 = { &q, 15 };
	sk_timer_add(q.s, 30, tick, &t30);
	sk_timer_add(q.s, 10, tick, &t10);
	sk_timer_id id15 = sk_timer_add(q.s, 15, tick, &t15);
	sk_timer_add(q.s, 20, tick, &t20);
	cr_assert_eq(sk_timer_cancel(q.s, id15), 0);
	cr_assert_eq(sk_timer_cancel(q.s, id15), -ENOENT);
	pthread_t th;
	void *rc;
	pthread_create(&th, NULL, run_plain, q.s);
	pthread_join(th, &rc);
	cr_assert_eq((intptr_t)rc, 0);
	cr_assert_eq(q.n, 3);
	cr_assert_eq(q.order[0], 10);
	cr_assert_eq(q.order[1], 20);
	cr_assert_eq(q.order[2], 30);
	cr_assert_eq(q.fsync_res, 0);
	cr_assert_eq(q.deferred, 1);
	sk_shard_destroy(q.s);
	close(q.fd);
}

static int cli_connect_from(uint16_t port, const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in b = { .sin_family = AF_INET };
	inet_pton(AF_INET, src, &b.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0, "bind %s: %s", src,
		     strerror(errno));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s",
		     strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Kafka's ConnectionQuotas: one address past its limit is closed at once,
 * other addresses are not affected, and a closed one makes room. */
Test(net, max_connections_per_ip_closes_extra, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_connections_per_ip = 2;
	srv_start(&v, &cfg, ECHO);
	int a = cli_connect_from(v.port, "127.0.0.1"), b = cli_connect_from(v.port, "127.0.0.1");
	roundtrip(a, 1);
	roundtrip(b, 1);
	int c = cli_connect_from(v.port, "127.0.0.1");
	expect_closed(c);
	cr_assert_eq(stats(&v).conns_refused, 1);
	int other = cli_connect_from(v.port, "127.0.0.2");
	roundtrip(other, 1);
	close(a);
	wait_for(&v, get_open, 2);
	int d = cli_connect_from(v.port, "127.0.0.1");
	roundtrip(d, 2);
	close(b);
	close(c);
	close(d);
	close(other);
	srv_stop(&v);
}

/* max.connections.per.ip.overrides wins over the default for its address. */
Test(net, max_connections_per_ip_override, .timeout = 30)
{
	struct srv v = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_connections_per_ip = 0;
	struct sk_net_ip_limit ov = { .max = 1 };
	ov.addr[10] = ov.addr[11] = 0xff;
	inet_pton(AF_INET, "127.0.0.2", ov.addr + 12);
	cfg.ip_overrides = &ov;
	cfg.n_ip_overrides = 1;
	srv_start(&v, &cfg, ECHO);
	int refused = cli_connect_from(v.port, "127.0.0.1");
	expect_closed(refused);
	int a = cli_connect_from(v.port, "127.0.0.2");
	roundtrip(a, 1);
	int b = cli_connect_from(v.port, "127.0.0.2");
	expect_closed(b);
	roundtrip(a, 2);
	cr_assert_eq(stats(&v).conns_refused, 2);
	close(a);
	close(b);
	close(refused);
	srv_stop(&v);
}

static uint64_t get_frames(struct sk_net_stats *st) { return st->frames_in; }

/* Waits until frames_in reaches want, then checks it stays there: reading
 * has paused (the handler holds every request for seconds). */
static void expect_paused_at(struct srv *v, uint64_t want)
{
	wait_for(v, get_frames, want);
	usleep(200000);
	cr_assert_eq(stats(v).frames_in, want, "reading did not pause at %llu frames",
		     (unsigned long long)want);
}

static void send_frames(int fd, unsigned first, unsigned n)
{
	uint8_t buf[64];
	for (unsigned i = first; i < first + n; i++)
		cr_assert_eq(send_all(fd, buf, make_frame(buf, i)), 0);
}

/* queued.max.requests bounds what the shard holds; each connection may
 * still have its one request in, so a parked one never starves another. */
Test(net, queued_max_requests_bounds_the_shard, .timeout = 30)
{
	struct srv v = { .delay_ms = 2000 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.queued_max_requests = 3;
	srv_start(&v, &cfg, DELAY_ALL);
	int a = cli_connect(v.port), b = cli_connect(v.port), c = cli_connect(v.port);
	send_frames(a, 0, 10);
	expect_paused_at(&v, 3);
	send_frames(b, 100, 10);
	expect_paused_at(&v, 4);
	send_frames(c, 200, 10);
	expect_paused_at(&v, 5);
	cr_assert_eq(stats(&v).queued_requests, 5);
	for (unsigned i = 0; i < 10; i++) {
		expect_frame(a, i);
		expect_frame(b, 100 + i);
		expect_frame(c, 200 + i);
	}
	cr_assert_eq(stats(&v).queued_requests, 0);
	close(a);
	close(b);
	close(c);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* Frame i carries "frame-<i>" padded to len bytes of body. */
static size_t make_big_frame(uint8_t *buf, unsigned i, uint32_t len)
{
	memset(buf + 4, 'x', len);
	memcpy(buf + 4, "frame-", 6);
	buf[10] = (uint8_t)('0' + i);
	uint32_t be = htonl(len);
	memcpy(buf, &be, 4);
	return 4 + (size_t)len;
}

static void expect_big_frame(int fd, unsigned i, uint32_t len)
{
	uint8_t want[1024], got[1024];
	size_t n = make_big_frame(want, i, len);
	cr_assert_eq(recv_all(fd, got, n), 0, "no response %u: %s", i, strerror(errno));
	cr_assert_arr_eq(got, want, n, "response %u out of order or corrupt", i);
}

/* One connection holds at most socket.request.max.bytes of unanswered
 * requests (plus the one that crosses it); the next waits for answers. */
Test(net, connection_bytes_bound_pipelining, .timeout = 30)
{
	struct srv v = { .delay_ms = 2000 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_frame_bytes = 1000;
	srv_start(&v, &cfg, DELAY_ALL);
	int fd = cli_connect(v.port);
	uint8_t buf[1024];
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(send_all(fd, buf, make_big_frame(buf, i, 600)), 0);
	expect_paused_at(&v, 2);
	cr_assert_eq(stats(&v).queued_bytes, 1200);
	for (unsigned i = 0; i < 5; i++)
		expect_big_frame(fd, i, 600);
	close(fd);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* queued.max.request.bytes: past it, only idle connections are read. */
Test(net, queued_max_bytes_bounds_the_shard, .timeout = 30)
{
	struct srv v = { .delay_ms = 2000 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_frame_bytes = 4000;
	cfg.queued_max_bytes = 1000;
	srv_start(&v, &cfg, DELAY_ALL);
	int a = cli_connect(v.port), b = cli_connect(v.port);
	uint8_t buf[1024];
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(send_all(a, buf, make_big_frame(buf, i, 600)), 0);
	expect_paused_at(&v, 2);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(send_all(b, buf, make_big_frame(buf, i, 600)), 0);
	expect_paused_at(&v, 3);
	for (unsigned i = 0; i < 3; i++) {
		expect_big_frame(a, i, 600);
		expect_big_frame(b, i, 600);
	}
	close(a);
	close(b);
	wait_for(&v, get_open, 0);
	srv_stop(&v);
}

/* A listening socket on 127.0.0.1:0, as a predecessor process would hold it. */
static int hold_port(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

struct release { int fd; unsigned after_ms; };

static void *release_later(void *arg)
{
	struct release *r = arg;
	struct timespec ts = { .tv_sec = r->after_ms / 1000,
			       .tv_nsec = (long)(r->after_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	close(r->fd);
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A broker killed with SIGKILL keeps its listening socket for some
 * milliseconds after the process is gone (the kernel releases a dead ring's
 * files from a worker): the restart binds once the socket is released. */
Test(net, listen_waits_for_a_released_address, .timeout = 30)
{
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.bind_wait_ms = 10000;
	struct release r = { .after_ms = 150 };
	uint16_t port, bound = 0;
	r.fd = hold_port(&port);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, release_later, &r), 0);
	struct sk_net_handler h = { .on_frame = on_frame };
	struct sk_shard *s;
	cr_assert_eq(sk_shard_new(&cfg, &h, &s), 0);
	int rc = sk_shard_listen(s, "127.0.0.1", port, &bound);
	pthread_join(th, NULL);
	cr_assert_eq(rc, 0, "sk_shard_listen returned %d (%s)", rc, strerror(-rc));
	cr_assert_eq(bound, port);
	sk_shard_destroy(s);
}

/* An address a live process keeps is still refused, as Kafka refuses it,
 * once the wait is over. */
Test(net, listen_refuses_an_address_in_use_after_the_wait, .timeout = 30)
{
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.bind_wait_ms = 200;
	uint16_t port, bound = 0;
	int fd = hold_port(&port);
	struct sk_net_handler h = { .on_frame = on_frame };
	struct sk_shard *s;
	cr_assert_eq(sk_shard_new(&cfg, &h, &s), 0);
	uint64_t t0 = mono_ms();
	int rc = sk_shard_listen(s, "127.0.0.1", port, &bound);
	uint64_t waited = mono_ms() - t0;
	close(fd);
	cr_assert_eq(rc, -EADDRINUSE, "sk_shard_listen returned %d", rc);
	cr_assert(waited >= 200 && waited < 10000, "waited %llu ms", (unsigned long long)waited);
	sk_shard_destroy(s);
}

/* Cross-thread posts into a shard's inbox (src/net/inbox.c). */

#define POSTERS 4
#define POSTS_EACH 20000

struct inbox_probe {
	struct sk_shard *s;
	uint32_t next_seq[POSTERS];      /* shard thread only */
	unsigned out_of_order, wrong_thread;
	atomic_uint ran;
};

struct inbox_msg {
	struct inbox_probe *p;
	unsigned sender;
	uint32_t seq;
};

static void inbox_msg_run(void *arg)
{
	struct inbox_msg *m = arg;
	struct inbox_probe *p = m->p;
	if (sk_shard_current() != p->s)
		p->wrong_thread++;
	if (m->seq != p->next_seq[m->sender])
		p->out_of_order++;
	p->next_seq[m->sender] = m->seq + 1;
	atomic_fetch_add(&p->ran, 1);
	free(m);
}

/* Criterion's assertions are not thread-safe: a poster thread records what
 * went wrong and the test thread asserts on it after the join. */
struct poster {
	struct inbox_probe *p;
	unsigned sender;
	int bad_rc;
	pthread_t th;
};

static void *poster_thread(void *arg)
{
	struct poster *w = arg;
	for (uint32_t i = 0; i < POSTS_EACH; i++) {
		struct inbox_msg *m = malloc(sizeof(*m));
		*m = (struct inbox_msg){ w->p, w->sender, i };
		int rc = sk_shard_post(w->p->s, inbox_msg_run, m);
		if (rc != 0) {
			free(m);
			w->bad_rc = rc;
			break;
		}
	}
	return NULL;
}

static bool wait_ran(struct inbox_probe *p, unsigned want)
{
	for (int i = 0; i < 30000 && atomic_load(&p->ran) < want; i++)
		usleep(1000);
	return atomic_load(&p->ran) == want;
}

static void idle_config(struct sk_net_config *cfg)
{
	small_config(cfg);
	cfg->idle_ms = 0;   /* no timer: the ring sleeps until someone wakes it */
}

Test(net, posts_from_many_threads_run_on_the_shard_in_order_per_sender, .timeout = 60)
{
	struct sk_net_config cfg;
	idle_config(&cfg);
	struct srv v = { 0 };
	srv_start(&v, &cfg, ECHO);
	struct inbox_probe p = { .s = v.s };
	struct poster w[POSTERS];
	for (unsigned i = 0; i < POSTERS; i++) {
		w[i] = (struct poster){ .p = &p, .sender = i };
		cr_assert_eq(pthread_create(&w[i].th, NULL, poster_thread, &w[i]), 0);
	}
	for (unsigned i = 0; i < POSTERS; i++) {
		pthread_join(w[i].th, NULL);
		cr_assert_eq(w[i].bad_rc, 0, "poster %u: post failed with %d", i, w[i].bad_rc);
	}
	cr_assert(wait_ran(&p, POSTERS * POSTS_EACH), "ran %u", atomic_load(&p.ran));
	srv_stop(&v);
	cr_assert_eq(p.out_of_order, 0);
	cr_assert_eq(p.wrong_thread, 0);
	for (unsigned i = 0; i < POSTERS; i++)
		cr_assert_eq(p.next_seq[i], POSTS_EACH);
}

Test(net, post_wakes_an_idle_ring, .timeout = 30)
{
	struct sk_net_config cfg;
	idle_config(&cfg);
	struct srv v = { 0 };
	srv_start(&v, &cfg, ECHO);
	struct inbox_probe p = { .s = v.s };
	for (uint32_t i = 0; i < 3; i++) {
		/* Let the loop go back to sleep in the kernel between posts. */
		usleep(50000);
		struct inbox_msg *m = malloc(sizeof(*m));
		*m = (struct inbox_msg){ &p, 0, i };
		cr_assert_eq(sk_shard_post(v.s, inbox_msg_run, m), 0);
		cr_assert(wait_ran(&p, i + 1), "post %u never ran", i);
	}
	srv_stop(&v);
	cr_assert_eq(p.out_of_order, 0);
}

Test(net, post_to_a_stopping_shard_fails_and_accepted_posts_still_run, .timeout = 30)
{
	struct sk_net_config cfg;
	idle_config(&cfg);
	struct sk_net_handler h = { .on_frame = on_frame, .arg = NULL };
	struct sk_shard *s;
	cr_assert_eq(sk_shard_new(&cfg, &h, &s), 0);
	struct inbox_probe p = { .s = NULL };
	/* Accepted before the stop, never run by a loop: destroy runs them. */
	for (uint32_t i = 0; i < 5; i++) {
		struct inbox_msg *m = malloc(sizeof(*m));
		*m = (struct inbox_msg){ &p, 0, i };
		cr_assert_eq(sk_shard_post(s, inbox_msg_run, m), 0);
	}
	sk_shard_stop(s);
	int marker = 0;
	cr_assert_eq(sk_shard_post(s, (sk_defer_fn)free, &marker), -ESHUTDOWN);
	sk_shard_destroy(s);
	cr_assert_eq(atomic_load(&p.ran), 5);
	cr_assert_eq(p.out_of_order, 0);
}

struct racer {
	struct inbox_probe *p;
	unsigned sender;
	uint32_t accepted;
	int bad_rc;
	pthread_t th;
};

static void *racer_thread(void *arg)
{
	struct racer *w = arg;
	for (;;) {
		struct inbox_msg *m = malloc(sizeof(*m));
		*m = (struct inbox_msg){ w->p, w->sender, w->accepted };
		int rc = sk_shard_post(w->p->s, inbox_msg_run, m);
		if (rc != 0) {
			free(m);
			if (rc != -ESHUTDOWN)
				w->bad_rc = rc;
			return NULL;
		}
		w->accepted++;
	}
}

/* Posters racing the stop: each post is either refused (and stays the
 * poster's) or runs exactly once, in order, before the shard is gone. */
Test(net, posts_racing_a_stop_run_once_or_are_refused, .timeout = 60)
{
	struct sk_net_config cfg;
	idle_config(&cfg);
	struct srv v = { 0 };
	srv_start(&v, &cfg, ECHO);
	struct inbox_probe p = { .s = v.s };
	struct racer w[POSTERS];
	for (unsigned i = 0; i < POSTERS; i++) {
		w[i] = (struct racer){ .p = &p, .sender = i };
		cr_assert_eq(pthread_create(&w[i].th, NULL, racer_thread, &w[i]), 0);
	}
	for (int i = 0; i < 30000 && atomic_load(&p.ran) < 10000; i++)
		usleep(1000);
	sk_shard_stop(v.s);
	pthread_join(v.th, NULL);
	cr_assert_eq(v.run_rc, 0);
	cr_assert_eq(v.handler_errors, 0, "%u failed calls in the handler", v.handler_errors);
	unsigned total = 0;
	for (unsigned i = 0; i < POSTERS; i++) {
		pthread_join(w[i].th, NULL);
		cr_assert_eq(w[i].bad_rc, 0, "racer %u: post failed with %d", i, w[i].bad_rc);
		total += w[i].accepted;
		cr_assert_eq(p.next_seq[i], w[i].accepted);
	}
	sk_shard_destroy(v.s);
	cr_assert_eq(atomic_load(&p.ran), total);
	cr_assert_eq(p.out_of_order, 0);
}

/* ---- the distributing acceptor and the quiesce -------------------------- */

/* Shard a listens and serves too; b only gets what a hands it. */
static void pair_start(struct srv *a, struct srv *b, const struct sk_net_config *cfg,
		       enum mode mode)
{
	srv_new(b, cfg, mode);
	srv_new(a, cfg, mode);
	struct sk_shard *targets[2] = { a->s, b->s };
	cr_assert_eq(sk_shard_distribute(a->s, targets, 2), 0);
	cr_assert_eq(sk_shard_listen(a->s, "127.0.0.1", 0, &a->port), 0);
	cr_assert_eq(pthread_create(&b->th, NULL, run_thread, b), 0);
	cr_assert_eq(pthread_create(&a->th, NULL, run_thread, a), 0);
}

/* Targets go first: their closes post back to the acceptor. */
static void pair_stop(struct srv *a, struct srv *b)
{
	sk_shard_stop(a->s);
	sk_shard_stop(b->s);
	pthread_join(a->th, NULL);
	pthread_join(b->th, NULL);
	cr_assert_eq(a->run_rc, 0);
	cr_assert_eq(b->run_rc, 0);
	sk_shard_destroy(b->s);
	sk_shard_destroy(a->s);
	cr_assert_eq(a->wrong_thread + b->wrong_thread, 0, "a frame ran off its shard's thread");
	cr_assert_eq(a->handler_errors + b->handler_errors, 0, "failed calls in the handler");
}

Test(net, acceptor_hands_connections_to_its_shards_in_turn, .timeout = 30)
{
	struct srv a = { 0 }, b = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	pair_start(&a, &b, &cfg, ECHO);
	int fd[6];
	for (unsigned i = 0; i < 6; i++) {
		fd[i] = cli_connect(a.port);
		for (unsigned k = 0; k < 3; k++)
			roundtrip(fd[i], k);
	}
	cr_assert_eq(stats(&a).conns_open, 3, "acceptor serves %llu",
		     (unsigned long long)stats(&a).conns_open);
	cr_assert_eq(stats(&b).conns_open, 3, "other shard serves %llu",
		     (unsigned long long)stats(&b).conns_open);
	cr_assert_eq(stats(&a).frames_in, 9);
	cr_assert_eq(stats(&b).frames_in, 9);
	for (unsigned i = 0; i < 6; i++)
		close(fd[i]);
	wait_for(&b, get_open, 0);
	pair_stop(&a, &b);
}

/* A tagged listener's connections stay on its shard and carry its tag,
 * while the shard still hands the connections of its other listeners on. */
Test(net, tagged_listener_keeps_its_connections_on_its_shard, .timeout = 30)
{
	struct srv a = { 0 }, b = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	srv_new(&b, &cfg, ECHO);
	srv_new(&a, &cfg, ECHO);
	struct sk_shard *targets[2] = { a.s, b.s };
	cr_assert_eq(sk_shard_distribute(a.s, targets, 2), 0);
	cr_assert_eq(sk_shard_listen(a.s, "127.0.0.1", 0, &a.port), 0);
	uint16_t tagged;
	cr_assert_eq(sk_shard_listen_tagged(a.s, "127.0.0.1", 0, 7, &tagged), 0);
	cr_assert_eq(pthread_create(&b.th, NULL, run_thread, &b), 0);
	cr_assert_eq(pthread_create(&a.th, NULL, run_thread, &a), 0);
	int fd[4];
	for (unsigned i = 0; i < 4; i++) {
		fd[i] = cli_connect(tagged);
		roundtrip(fd[i], i);
	}
	cr_assert_eq(stats(&a).conns_open, 4);
	cr_assert_eq(stats(&b).conns_open, 0);
	int other[2] = { cli_connect(a.port), cli_connect(a.port) };
	roundtrip(other[0], 1);
	roundtrip(other[1], 1);
	cr_assert_eq(stats(&b).conns_open, 1, "the untagged listener hands on no more");
	for (unsigned i = 0; i < 4; i++)
		close(fd[i]);
	close(other[0]);
	close(other[1]);
	wait_for(&b, get_open, 0);
	pair_stop(&a, &b);
	cr_assert_eq(a.tagged_frames, 4);
	cr_assert_eq(b.tagged_frames, 0);
}

/* max.connections holds for the node, not per shard: a connection the
 * other shard serves takes a place, and gives it back when it closes. */
Test(net, max_connections_counts_every_shards_connections, .timeout = 30)
{
	struct srv a = { 0 }, b = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_connections = 2;
	pair_start(&a, &b, &cfg, ECHO);
	int on_a = cli_connect(a.port), on_b = cli_connect(a.port);
	roundtrip(on_a, 1);
	roundtrip(on_b, 1);
	cr_assert_eq(stats(&b).conns_open, 1);
	int extra = cli_connect(a.port);
	expect_closed(extra);
	cr_assert_eq(stats(&a).conns_refused, 1);
	close(on_b);
	wait_for(&b, get_open, 0);
	/* The release travels back by message: the next accept may still see
	 * it missing, but one made after it has arrived is served. */
	int again = -1;
	for (int i = 0; i < 500 && again < 0; i++) {
		int fd = cli_connect(a.port);
		uint8_t buf[64];
		if (send_all(fd, buf, make_frame(buf, 7)) == 0 && recv_all(fd, buf, 4) == 0) {
			again = fd;
			break;
		}
		close(fd);
		usleep(10000);
	}
	cr_assert_geq(again, 0, "the closed connection's place never came back");
	close(again);
	close(on_a);
	close(extra);
	pair_stop(&a, &b);
}

Test(net, max_connections_per_ip_counts_every_shards_connections, .timeout = 30)
{
	struct srv a = { 0 }, b = { 0 };
	struct sk_net_config cfg;
	small_config(&cfg);
	cfg.max_connections_per_ip = 2;
	pair_start(&a, &b, &cfg, ECHO);
	int x = cli_connect_from(a.port, "127.0.0.1"), y = cli_connect_from(a.port, "127.0.0.1");
	roundtrip(x, 1);
	roundtrip(y, 1);
	cr_assert_eq(stats(&a).conns_open + stats(&b).conns_open, 2);
	int z = cli_connect_from(a.port, "127.0.0.1");
	expect_closed(z);
	int other = cli_connect_from(a.port, "127.0.0.2");
	roundtrip(other, 1);
	close(x);
	close(y);
	close(z);
	close(other);
	wait_for(&a, get_open, 0);
	wait_for(&b, get_open, 0);
	pair_stop(&a, &b);
}

/* A quiesce answers what was read, closes the connections, says so once,
 * and leaves the shard running posts for the others until its stop. */
Test(net, quiesce_answers_in_flight_then_reports_and_keeps_running_posts, .timeout = 30)
{
	struct srv v = { .delay_ms = 300 };
	struct sk_net_config cfg;
	idle_config(&cfg);
	srv_start(&v, &cfg, DELAY_ALL);
	int fd = cli_connect(v.port);
	uint8_t all[4 * 64];
	size_t len = 0;
	for (unsigned i = 0; i < 4; i++)
		len += make_frame(all + len, i);
	cr_assert_eq(send_all(fd, all, len), 0);
	wait_for(&v, get_frames, 4);
	sk_shard_quiesce(v.s);
	for (unsigned i = 0; i < 4; i++)
		expect_frame(fd, i);
	expect_closed(fd);
	for (int i = 0; i < 3000 && !atomic_load(&v.quiet); i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&v.quiet), 1, "on_quiet ran %d times", atomic_load(&v.quiet));
	int late = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(v.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(connect(late, (struct sockaddr *)&sa, sizeof(sa)), 0,
		      "a quiet shard still accepts");
	close(late);
	struct inbox_probe p = { .s = v.s };
	struct inbox_msg *m = malloc(sizeof(*m));
	*m = (struct inbox_msg){ &p, 0, 0 };
	cr_assert_eq(sk_shard_post(v.s, inbox_msg_run, m), 0);
	cr_assert(wait_ran(&p, 1), "a quiet shard stopped running posts");
	srv_stop(&v);
	cr_assert_eq(atomic_load(&v.quiet), 1);
	close(fd);
}
