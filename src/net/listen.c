/* Listening sockets and multishot accept.
 *
 * A listening socket is bound without SO_REUSEPORT: with it, a second
 * process of the same user could bind the same address and the kernel would
 * split new connections between the two (clients of one cluster talking to a
 * stale broker). Binding fails with EADDRINUSE instead, as Kafka's does. The
 * shards of one process that serve a listener are to accept from the one
 * socket's queue, each with its own multishot accept, rather than from a
 * socket group another process may join. SO_REUSEADDR stays: it only lets a
 * restarted broker bind while old connections sit in TIME_WAIT.
 *
 * Without SO_REUSEPORT a restart right after SIGKILL can find the address
 * still taken: the dead process's listening socket lives on for some
 * milliseconds, until the kernel worker that tears down its io_uring drops
 * the ring's reference to it (a JVM's sockets close with the process). So an
 * address in use that no other live process holds (port_holder.c) is retried
 * for bind_wait_ms before start-up fails with it; one that another process
 * holds (a second broker, Kafka) fails at once, as Kafka's bind does. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"

static void accept_arm(struct sk_listener *l)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(l->shard);
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, sk_op_tag(l, SK_OP_ACCEPT));
	l->armed = true;
	l->shard->misc_ops++;
}

/* io_uring's accept takes a descriptor before it looks for a connection, so
 * out of fds it fails at once even with none waiting: re-armed, it would
 * spin. A poll waits for a connection instead, to accept or shed it. */
static void poll_arm(struct sk_listener *l)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(l->shard);
	io_uring_prep_poll_add(sqe, l->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, sk_op_tag(l, SK_OP_ACCEPT_POLL));
	l->polling = true;
	l->shard->misc_ops++;
}

static bool held(const struct sk_listener *l)
{
	return l->tag == 0 && l->shard->clients_held;
}

static void accept_rearm(void *arg)
{
	struct sk_listener *l = arg;
	if (l->reserve_fd < 0)
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!l->shard->closing && !l->armed && !l->polling && !held(l))
		accept_arm(l);
}

void sk_shard_hold_clients(struct sk_shard *s)
{
	s->clients_held = true;
}

/* Bound but not listening, a port refuses connections at once: clients
 * try another broker, as when this one is down, and probes fail fast. */
static int start_listening(struct sk_listener *l)
{
	if (listen(l->fd, 1024) < 0)
		return -errno;
	accept_arm(l);
	return 0;
}

void sk_shard_release_clients(struct sk_shard *s)
{
	if (!s->clients_held)
		return;
	s->clients_held = false;
	for (struct sk_listener *l = s->listeners; l; l = l->next) {
		int rc = l->tag == 0 && !l->armed && !l->polling ? start_listening(l) : 0;
		if (rc < 0)
			sk_error("net: cannot listen for clients: %s", strerror(-rc));
	}
}

bool sk_shard_clients_held(const struct sk_shard *s)
{
	return s->clients_held;
}

static int bind_socket(const struct addrinfo *ai, uint16_t *bound_port)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen))
		goto fail;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	*bound_port = ntohs(ss.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&ss)->sin6_port :
			    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

#define BIND_RETRY_NS 10000000L

static int bind_waiting(const struct addrinfo *ai, uint32_t wait_ms, const char *host,
			uint16_t port, uint16_t *bound_port)
{
	uint64_t deadline = sk_clock_ms() + wait_ms;
	for (bool logged = false;; logged = true) {
		int fd = bind_socket(ai, bound_port);
		if (fd != -EADDRINUSE || sk_clock_ms() >= deadline ||
		    sk_port_held_by_other_process(port))
			return fd;
		if (!logged)
			sk_info("%s:%u is in use; retrying for up to %u ms in case a stopped "
				"process's socket is still being released", host, port, wait_ms);
		struct timespec ts = { .tv_nsec = BIND_RETRY_NS };
		nanosleep(&ts, NULL);
	}
}

int sk_shard_listen(struct sk_shard *s, const char *host, uint16_t port,
		    uint16_t *bound_port)
{
	return sk_shard_listen_tagged(s, host, port, 0, bound_port);
}

int sk_shard_listen_tagged(struct sk_shard *s, const char *host, uint16_t port, int tag,
			   uint16_t *bound_port)
{
	char service[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res;
	snprintf(service, sizeof(service), "%u", port);
	int rc = getaddrinfo(host && *host ? host : NULL, service, &hints, &res);
	if (rc)
		return rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	uint16_t got = 0;
	int fd = bind_waiting(res, s->cfg.bind_wait_ms, host && *host ? host : "*", port, &got);
	freeaddrinfo(res);
	if (fd < 0)
		return fd;
	struct sk_listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	/* Non-blocking so that shedding (below) never waits on an empty queue;
	 * io_uring's accept polls either way. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	l->shard = s;
	l->fd = fd;
	l->tag = tag;
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	l->next = s->listeners;
	s->listeners = l;
	if (!held(l) && (rc = start_listening(l)) < 0)
		return rc; /* freed with the shard's other listeners */
	if (bound_port)
		*bound_port = got;
	return 0;
}

/* The peer as text for logs, and as 16 bytes (IPv4 mapped into IPv6) for
 * the per-address count. */
static void peer_of(int fd, char *buf, size_t len, uint8_t addr[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	memset(addr, 0, 16);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
			addr[10] = addr[11] = 0xff;
			memcpy(addr + 12, &a->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
			memcpy(addr, &a->sin6_addr, 16);
		}
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* Kafka's socket options: no Nagle (a response must not wait for the
 * client's delayed ACK: that is 40 ms of latency per request), and the
 * configured buffer sizes, where set (-1 keeps the kernel's autotuning). */
void sk_net_tune_socket(const struct sk_shard *s, int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->cfg.send_buffer_bytes > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->cfg.send_buffer_bytes,
			   sizeof(s->cfg.send_buffer_bytes));
	if (s->cfg.recv_buffer_bytes > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->cfg.recv_buffer_bytes,
			   sizeof(s->cfg.recv_buffer_bytes));
}

/* Kafka's ConnectionQuotas: over max.connections.per.ip (or the address's
 * override) the new connection is closed at once, before any byte is read. */
static bool over_ip_limit(struct sk_shard *s, const uint8_t *addr, const char *peer)
{
	uint32_t max = sk_ip_limit(s, addr);
	if (sk_ip_count(&s->ips, addr) < max)
		return false;
	sk_info("net: rejected connection from %s, address already has the configured "
		"maximum of %u connections (max.connections.per.ip)", peer, max);
	return true;
}

static void refuse(struct sk_shard *s, int fd)
{
	sk_stat_add(&s->st.conns_refused, 1);
	close(fd);
}

static void serve_here(struct sk_shard *s, int fd, const uint8_t *addr, const char *peer,
		       int tag)
{
	sk_net_tune_socket(s, fd);
	struct sk_conn *c = NULL;
	if (sk_ip_count_inc(&s->ips, addr) == 0 && !(c = sk_conn_new(s, fd, false)))
		sk_ip_count_dec(&s->ips, addr);
	if (!c) {
		sk_warn("net: refusing connection from %s: out of memory", peer);
		close(fd);
		return;
	}
	c->counted_by = s;
	c->tag = tag;
	memcpy(c->addr, addr, 16);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	sk_debug("net: connection from %s", peer);
	sk_recv_arm(c);
}

/* The limits are checked here for every shard the acceptor serves
 * (handoff.c): those it handed off count as open until they close. */
static void accept_one(struct sk_shard *s, int fd, int tag)
{
	char peer[64];
	uint8_t addr[16];
	peer_of(fd, peer, sizeof(peer), addr);
	if (s->closing) {
		close(fd);
		return;
	}
	if (s->nopen + s->nhanded >= s->cfg.max_connections) {
		sk_warn("net: refusing connection from %s: max.connections=%u reached",
			peer, s->cfg.max_connections);
		refuse(s, fd);
		return;
	}
	if (over_ip_limit(s, addr, peer)) {
		refuse(s, fd);
		return;
	}
	/* A tagged listener's connections stay on its shard: they are served
	 * by what runs there alone (the Raft quorum). */
	struct sk_shard *to = tag ? s : sk_handoff_next(s);
	if (to == s) {
		serve_here(s, fd, addr, peer, tag);
		return;
	}
	int rc = sk_handoff(s, to, fd, addr, peer);
	if (rc < 0) {
		sk_warn("net: refusing connection from %s: cannot hand it to its shard: %s",
			peer, strerror(-rc));
		close(fd);
	}
}

#define SK_SHED_REPORT_MS 10000

/* Out of descriptors, a connection waiting in the backlog can be neither
 * served nor refused, and accept fails on it again at once. As event-loop
 * servers do (libuv, nginx), a descriptor kept in reserve is given back to
 * take the waiting connections and close them: their clients hear at once
 * and retry, the ones already connected go on, and the loop does not spin.
 * Returns true when the reserve is back (accept may be re-armed at once). */
static bool shed(struct sk_listener *l)
{
	if (l->reserve_fd >= 0) {
		close(l->reserve_fd);
		l->reserve_fd = -1;
		for (int i = 0; i < 64; i++) {
			int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				break;
			close(fd);
			l->shed++;
		}
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	uint64_t now = l->shard->now_ms;
	if (l->shed_reported_ms == 0 || now - l->shed_reported_ms >= SK_SHED_REPORT_MS) {
		sk_warn("net: out of file descriptors; %llu new connections closed unserved "
			"since the last report", (unsigned long long)l->shed);
		l->shed = 0;
		l->shed_reported_ms = now;
	}
	return l->reserve_fd >= 0;
}

void sk_listener_complete(struct sk_listener *l, struct io_uring_cqe *cqe)
{
	struct sk_shard *s = l->shard;
	bool out_of_fds = cqe->res == -EMFILE || cqe->res == -ENFILE;
	bool reserve_back = false;
	if (cqe->res >= 0)
		accept_one(s, cqe->res, l->tag);
	else if (out_of_fds)
		reserve_back = shed(l);
	else if (cqe->res != -ECANCELED && cqe->res != -EINVAL)
		sk_warn("net: accept failed: %s", strerror(-cqe->res));
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	l->armed = false;
	s->misc_ops--;
	/* Multishot ends on errors such as EMFILE; keep listening unless stopping,
	 * where closing at once makes new clients fail fast instead of queueing.
	 * Out of fds with the reserve back, wait for the next connection; after
	 * other errors wait a little: re-arming at once would spin. */
	if (!s->closing && reserve_back) {
		poll_arm(l);
	} else if (!s->closing && cqe->res < 0 && cqe->res != -ECANCELED) {
		if (!sk_timer_add(s, 100, accept_rearm, l))
			accept_arm(l);
	} else if (!s->closing) {
		accept_arm(l);
	} else if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

void sk_listener_poll_complete(struct sk_listener *l, struct io_uring_cqe *cqe)
{
	struct sk_shard *s = l->shard;
	l->polling = false;
	s->misc_ops--;
	if (s->closing) {
		if (!l->armed && l->fd >= 0) {
			close(l->fd);
			l->fd = -1;
		}
	} else if (cqe->res < 0 && cqe->res != -ECANCELED) {
		if (!sk_timer_add(s, 100, accept_rearm, l))
			accept_arm(l);
	} else {
		accept_arm(l);
	}
}

static void cancel(struct sk_shard *s, struct sk_listener *l, enum sk_op op)
{
	struct io_uring_sqe *sqe = sk_shard_sqe(s);
	io_uring_prep_cancel64(sqe, sk_op_tag(l, op), 0);
	io_uring_sqe_set_data64(sqe, SK_OP_IGNORE);
}

void sk_listeners_stop(struct sk_shard *s)
{
	for (struct sk_listener *l = s->listeners; l; l = l->next) {
		if (l->armed)
			cancel(s, l, SK_OP_ACCEPT);
		if (l->polling)
			cancel(s, l, SK_OP_ACCEPT_POLL);
	}
}

void sk_listeners_free(struct sk_shard *s)
{
	while (s->listeners) {
		struct sk_listener *l = s->listeners;
		s->listeners = l->next;
		if (l->fd >= 0)
			close(l->fd);
		if (l->reserve_fd >= 0)
			close(l->reserve_fd);
		free(l);
	}
}
