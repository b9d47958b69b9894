/* A shard: one thread, one io_uring, and the loop that drives everything on it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"
#include "skein/fault.h"

#define SK_IOWQ_BOUNDED 64

void sk_net_config_defaults(struct sk_net_config *cfg)
{
	*cfg = (struct sk_net_config){
		.max_frame_bytes = 104857600,
		.max_connections = INT32_MAX,
		.max_connections_per_ip = INT32_MAX,
		.queued_max_requests = 500,
		/* Java clients pipeline 5 requests per connection, librdkafka up to
		 * a million: with linger.ms=0 and acks=all each fdatasync cycle
		 * answers every request that arrived during the previous one, and a
		 * cap below what arrives per cycle holds the rest back a whole
		 * cycle. The slot ring starts small and grows to this. */
		.max_inflight = 256,
		.idle_ms = 600000,
		.stop_timeout_ms = 5000,
		.ring_entries = 1024,
		.recv_buf_count = 256,
		.recv_buf_size = 16384,
		.bind_wait_ms = 5000,
	};
}

uint64_t sk_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Counters have one writer (the shard) and are read by tests from other
 * threads; relaxed load+store keeps them plain moves on x86. */
void sk_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void sk_stat_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

/* A full SQ is flushed to the kernel rather than failing the caller. */
struct io_uring_sqe *sk_shard_sqe(struct sk_shard *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	while (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

static void wake_arm(struct sk_shard *s)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(s);
	io_uring_prep_read(sqe, s->wake_fd, &s->wake_buf, sizeof(s->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, sk_op_tag(s, SK_OP_WAKE));
}

static int check_config(const struct sk_net_config *c)
{
	if (c->recv_buf_count == 0 || (c->recv_buf_count & (c->recv_buf_count - 1)) ||
	    c->recv_buf_count > 32768 || c->recv_buf_size == 0 || c->max_inflight == 0 ||
	    c->ring_entries == 0 || c->max_frame_bytes > INT32_MAX)
		return -EINVAL;
	return 0;
}

/* fdatasync always runs on io-wq threads, and the kernel bounds them to
 * 4 per CPU: with more dirty partitions than that, a partition's sync would
 * queue behind others' instead of joining the same journal commit. The
 * threads mostly sleep on the disk, so a wider pool costs little. Older
 * kernels without the call keep their default. */
static void widen_iowq(struct sk_shard *s)
{
	unsigned int max[2] = { SK_IOWQ_BOUNDED, 0 };
	(void)io_uring_register_iowq_max_workers(&s->ring, max);
}

static int copy_overrides(struct sk_shard *s, const struct sk_net_config *cfg)
{
	if (!cfg->n_ip_overrides)
		return 0;
	struct sk_net_ip_limit *v = malloc(cfg->n_ip_overrides * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, cfg->ip_overrides, cfg->n_ip_overrides * sizeof(*v));
	s->cfg.ip_overrides = v;
	return 0;
}

int sk_shard_set_conn_limits(struct sk_shard *s, uint32_t max_connections, uint32_t per_ip,
			     const struct sk_net_ip_limit *overrides, size_t n)
{
	struct sk_net_config want = { .ip_overrides = overrides, .n_ip_overrides = n };
	const struct sk_net_ip_limit *old = s->cfg.ip_overrides;
	s->cfg.ip_overrides = NULL;
	int rc = copy_overrides(s, &want);
	if (rc) {
		s->cfg.ip_overrides = old;
		return rc;
	}
	free((void *)old);
	s->cfg.n_ip_overrides = n;
	s->cfg.max_connections = max_connections;
	s->cfg.max_connections_per_ip = per_ip;
	return 0;
}

int sk_shard_new(const struct sk_net_config *cfg, const struct sk_net_handler *h,
		 struct sk_shard **out)
{
	int rc = check_config(cfg);
	if (rc)
		return rc;
	struct sk_shard *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cfg.ip_overrides = NULL;
	s->h = *h;
	s->wake_fd = -1;
	sk_inbox_init(&s->inbox);
	s->now_ms = sk_clock_ms();
	/* Task work runs only when we enter the kernel anyway, sparing IPIs;
	 * kernels before 5.19 lack the flag, so fall back to none. */
	rc = io_uring_queue_init(cfg->ring_entries, &s->ring, IORING_SETUP_COOP_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(cfg->ring_entries, &s->ring, 0);
	if (rc < 0) {
		free(s);
		return rc;
	}
	if ((rc = copy_overrides(s, cfg)) || (rc = sk_bufring_init(s)) || (rc = sk_timers_init(s)))
		goto fail;
	widen_iowq(s);
	s->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	wake_arm(s);
	if (cfg->idle_ms) {
		s->idle_timer = sk_timer_add(s, 0, sk_conns_idle_scan, s);
		if (!s->idle_timer) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	sk_shard_destroy(s);
	return rc;
}

void sk_shard_destroy(struct sk_shard *s)
{
	if (!s)
		return;
	/* Posts accepted before the stop run even if the loop never did. */
	atomic_store(&s->stop_requested, 1);
	sk_inbox_drain_final(s);
	/* Exiting the ring first cancels what is left (the eventfd read, or
	 * sends if run never finished) before the memory they use goes away. */
	io_uring_queue_exit(&s->ring);
	sk_conns_free_all(s);
	sk_outconns_free_all(s);
	sk_ip_counts_free(&s->ips);
	free((void *)s->cfg.ip_overrides);
	free(s->targets);
	sk_listeners_free(s);
	sk_bufring_fini(s);
	sk_timers_fini(s);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->defers);
	free(s);
}

void sk_shard_wake(struct sk_shard *s)
{
	uint64_t one = 1;
	/* write(2) is async-signal-safe; an eventfd counter cannot overflow here. */
	ssize_t n = write(s->wake_fd, &one, sizeof(one));
	(void)n;
}

void sk_shard_stop(struct sk_shard *s)
{
	atomic_store(&s->stop_requested, 1);
	sk_shard_wake(s);
}

bool sk_shard_stopping(const struct sk_shard *s)
{
	return atomic_load(&s->stop_requested) != 0;
}

void sk_shard_quiesce(struct sk_shard *s)
{
	atomic_store(&s->quiesce_requested, 1);
	sk_shard_wake(s);
}

int sk_shard_defer(struct sk_shard *s, sk_defer_fn cb, void *arg)
{
	if (s->ndefers == s->defers_cap) {
		size_t cap = s->defers_cap ? s->defers_cap * 2 : 16;
		struct sk_defer *d = realloc(s->defers, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		s->defers = d;
		s->defers_cap = cap;
	}
	s->defers[s->ndefers++] = (struct sk_defer){ cb, arg };
	return 0;
}

int sk_shard_fsync(struct sk_shard *s, int fd, int datasync, sk_fsync_fn cb, void *arg)
{
	int fault = sk_fault_sync(fd);
	if (fault < 0)
		return fault;
	struct sk_fsync_op *op = malloc(sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->cb = cb;
	op->arg = arg;
	struct io_uring_sqe *sqe = sk_shard_sqe(s);
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	io_uring_sqe_set_data64(sqe, sk_op_tag(op, SK_OP_FSYNC));
	s->misc_ops++;
	return 0;
}

void sk_shard_stats(const struct sk_shard *s, struct sk_net_stats *o)
{
	o->conns_open = atomic_load_explicit(&s->st.conns_open, memory_order_relaxed);
	o->conns_accepted = atomic_load_explicit(&s->st.conns_accepted, memory_order_relaxed);
	o->conns_refused = atomic_load_explicit(&s->st.conns_refused, memory_order_relaxed);
	o->frames_in = atomic_load_explicit(&s->st.frames_in, memory_order_relaxed);
	o->bytes_in = atomic_load_explicit(&s->st.bytes_in, memory_order_relaxed);
	o->bytes_out = atomic_load_explicit(&s->st.bytes_out, memory_order_relaxed);
	o->queued_requests = atomic_load_explicit(&s->st.queued_requests, memory_order_relaxed);
	o->queued_bytes = atomic_load_explicit(&s->st.queued_bytes, memory_order_relaxed);
}

uint64_t sk_shard_now_ms(const struct sk_shard *s)
{
	return s->now_ms;
}

static void fsync_complete(struct sk_shard *s, struct sk_fsync_op *op, int res)
{
	s->misc_ops--;
	sk_fsync_fn cb = op->cb;
	void *arg = op->arg;
	free(op);
	cb(arg, res < 0 ? res : 0);
}

static void dispatch(struct sk_shard *s, struct io_uring_cqe *cqe)
{
	void *p = (void *)(uintptr_t)(cqe->user_data & ~(uint64_t)SK_OP_MASK);
	switch ((enum sk_op)(cqe->user_data & SK_OP_MASK)) {
	case SK_OP_IGNORE:
		break;
	case SK_OP_ACCEPT:
		sk_listener_complete(p, cqe);
		break;
	case SK_OP_ACCEPT_POLL:
		sk_listener_poll_complete(p, cqe);
		break;
	case SK_OP_RECV:
		sk_recv_complete(p, cqe);
		break;
	case SK_OP_RECV_DIRECT:
		sk_recv_direct_complete(p, cqe);
		break;
	case SK_OP_SEND:
	case SK_OP_SPLICE_IN:
	case SK_OP_SPLICE_OUT:
		sk_send_complete(p, cqe, (enum sk_op)(cqe->user_data & SK_OP_MASK));
		break;
	case SK_OP_WAKE:
		wake_arm(s);
		break;
	case SK_OP_FSYNC:
		fsync_complete(s, p, cqe->res);
		break;
	case SK_OP_CONNECT:
		sk_outconn_connect_complete(p, cqe);
		break;
	}
}

/* Defers may respond, responses mark conns dirty, flushing may not defer:
 * loop until both are quiet so one iteration ends with everything submitted.
 * A defer added by a defer runs in the same pass (indexing survives realloc). */
static void run_deferred(struct sk_shard *s)
{
	while (s->ndefers || s->dirty) {
		sk_conn_process_dirty(s);
		for (size_t i = 0; i < s->ndefers; i++)
			s->defers[i].cb(s->defers[i].arg);
		s->ndefers = 0;
	}
}

/* No new connections, no new requests: what was read is still answered. */
static void close_input(struct sk_shard *s)
{
	if (s->closing)
		return;
	s->closing = true;
	s->stop_deadline_ms = s->now_ms + s->cfg.stop_timeout_ms;
	sk_listeners_stop(s);
	for (struct sk_conn *c = s->conns; c; c = c->next)
		if (c->open) {
			sk_recv_stop(c);
			sk_conn_mark_dirty(c);
		}
}

static void begin_stop(struct sk_shard *s)
{
	bool quiet = s->quiet;
	close_input(s);
	s->stopping = true;
	/* After a quiesce the connections are gone: only the ring's own
	 * operations (fsyncs) are left, and they get a deadline of their own. */
	if (quiet)
		s->stop_deadline_ms = s->now_ms + s->cfg.stop_timeout_ms;
	sk_outconns_stop(s);
}

/* Closes each accepted connection once its requests are answered, or at
 * the deadline whatever it still owes; true when none is open. */
static bool close_drained(struct sk_shard *s)
{
	bool late = s->now_ms >= s->stop_deadline_ms;
	for (struct sk_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->open && (late || sk_conn_drained(c)) && (s->stopping || !c->outbound))
			sk_conn_close(c);
	}
	sk_conn_process_dirty(s);
	return s->nopen == 0;
}

/* Done when every connection is closed and no SQE points into our memory. */
static bool stop_finished(struct sk_shard *s)
{
	close_drained(s);
	if (s->misc_ops)
		return false;
	for (struct sk_conn *c = s->conns; c; c = c->next)
		if (c->open || c->ops)
			return false;
	return true;
}

/* A quiescing shard tells its owner once, when its last accepted
 * connection has closed; it goes on running posts and timers (other shards
 * may still need it to answer their requests) until it is stopped. */
static void quiesce_step(struct sk_shard *s)
{
	if (!s->quiescing && atomic_load(&s->quiesce_requested)) {
		s->quiescing = true;
		close_input(s);
	}
	if (!s->quiescing || s->quiet || !close_drained(s))
		return;
	s->quiet = true;
	if (s->h.on_quiet)
		s->h.on_quiet(s->h.arg);
}

static int wait_events(struct sk_shard *s)
{
	int64_t next = sk_timers_next_ms(s);
	if ((s->closing && !s->quiet) || s->stopping) {
		int64_t left = (int64_t)s->stop_deadline_ms - (int64_t)s->now_ms;
		if (left < 0)
			left = 0;
		if (next < 0 || left < next)
			next = left + 1;
	}
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000 };
	int rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, next >= 0 ? &ts : NULL, NULL);
	if (rc == -EAGAIN || rc == -ENOMEM) {
		/* The kernel is short of memory for requests: a broker that stops
		 * here would drop every client, so wait a little and go on. */
		sk_warn("io_uring submit: %s; retrying", strerror(-rc));
		usleep(1000);
		return 0;
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
		return rc;
	return 0;
}

/* What another shard posted before a completion arrived runs before that
 * completion is handled: a client that heard one connection's answer (a
 * topic created, on the controller's shard) and asks on another connection
 * must find this shard's image as new. Hence the count of ready completions
 * is taken first, the inbox run next, and only those completions handled;
 * later ones wait for the next turn, which runs the inbox again. */
static void dispatch_ready(struct sk_shard *s)
{
	unsigned ready = io_uring_cq_ready(&s->ring);
	sk_inbox_run(s);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&s->ring, head, cqe) {
		if (n == ready)
			break;
		dispatch(s, cqe);
		n++;
	}
	io_uring_cq_advance(&s->ring, n);
}

static int loop(struct sk_shard *s)
{
	for (;;) {
		int rc = wait_events(s);
		if (rc)
			return rc;
		s->now_ms = sk_clock_ms();
		dispatch_ready(s);
		sk_timers_run(s);
		sk_inbox_run(s);
		run_deferred(s);
		if (!s->stopping)
			quiesce_step(s);
		if (!s->stopping && atomic_load(&s->stop_requested))
			begin_stop(s);
		if (s->stopping && stop_finished(s))
			return 0;
	}
}

int sk_shard_run(struct sk_shard *s)
{
	sk_shard_set_current(s);
	int rc = loop(s);
	/* What was posted before the stop still runs, on this thread. */
	sk_inbox_drain_final(s);
	run_deferred(s);
	io_uring_submit(&s->ring);
	sk_shard_set_current(NULL);
	return rc;
}
