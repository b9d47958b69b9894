/* The distributing acceptor: one shard listens and hands what it accepts to
 * the shards of its node in turn.
 *
 * Why one acceptor and not a listener per shard: without SO_REUSEPORT (see
 * listen.c) only one socket can own the address, and several rings each
 * with a multishot accept on that one socket would let the kernel pick the
 * shard, piling connections on whichever ring is least busy at that moment.
 * Round robin from one acceptor spreads them evenly and keeps the limits
 * exact: max.connections and max.connections.per.ip are node-wide in Kafka,
 * so they are counted in one place, the acceptor, before the descriptor
 * leaves it. A connection that another shard serves is released back to the
 * acceptor when it closes, by a message (the acceptor's counts are its own
 * and no other thread touches them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-int.h"
#include "skein/logging.h"

/* An accepted socket on its way to its shard. */
struct handoff {
	struct sk_shard *to, *acceptor;
	int fd;
	uint8_t addr[16];
	char peer[64];
};

/* A closed connection's counts on their way back to the acceptor. */
struct release {
	struct sk_shard *acceptor;
	uint8_t addr[16];
};

int sk_shard_distribute(struct sk_shard *s, struct sk_shard *const *targets, size_t n)
{
	struct sk_shard **v = NULL;
	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, targets, n * sizeof(*v));
	}
	free(s->targets);
	s->targets = v;
	s->ntargets = n;
	s->next_target = 0;
	return 0;
}

struct sk_shard *sk_handoff_next(struct sk_shard *s)
{
	if (!s->ntargets)
		return s;
	return s->targets[s->next_target++ % s->ntargets];
}

/* On the acceptor: one connection fewer, on the shard that served it. */
static void uncount(struct sk_shard *acceptor, const uint8_t *addr)
{
	acceptor->nhanded--;
	sk_ip_count_dec(&acceptor->ips, addr);
}

static void release_run(void *arg)
{
	struct release *r = arg;
	uncount(r->acceptor, r->addr);
	free(r);
}

/* From the serving shard's thread. An acceptor that is stopping takes no
 * more messages; it accepts nothing more either, so its counts no longer
 * matter. */
static void release_post(struct sk_shard *acceptor, const uint8_t *addr)
{
	struct release *r = malloc(sizeof(*r));
	if (!r)
		return;
	r->acceptor = acceptor;
	memcpy(r->addr, addr, 16);
	if (sk_shard_post(acceptor, release_run, r) < 0)
		free(r);
}

void sk_conn_uncount(struct sk_conn *c)
{
	struct sk_shard *acceptor = c->counted_by;
	c->counted_by = NULL;
	if (!acceptor)
		return;
	if (acceptor == c->shard)
		sk_ip_count_dec(&acceptor->ips, c->addr);
	else
		release_post(acceptor, c->addr);
}

/* On the receiving shard's thread. A shard that is closing (or whose loop
 * has ended: posts accepted before a stop still run) closes it unserved. */
static void adopt_run(void *arg)
{
	struct handoff *h = arg;
	struct sk_shard *s = h->to;
	struct sk_conn *c = s->closing || atomic_load(&s->stop_requested) ? NULL :
			    sk_conn_new(s, h->fd, false);
	if (!c) {
		close(h->fd);
		release_post(h->acceptor, h->addr);
		free(h);
		return;
	}
	sk_net_tune_socket(s, h->fd);
	c->counted_by = h->acceptor;
	memcpy(c->addr, h->addr, 16);
	memcpy(c->peer, h->peer, sizeof(c->peer));
	sk_debug("net: connection from %s", c->peer);
	sk_recv_arm(c);
	free(h);
}

int sk_handoff(struct sk_shard *acceptor, struct sk_shard *to, int fd, const uint8_t *addr,
	       const char *peer)
{
	struct handoff *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (sk_ip_count_inc(&acceptor->ips, addr) < 0) {
		free(h);
		return -ENOMEM;
	}
	acceptor->nhanded++;
	*h = (struct handoff){ .to = to, .acceptor = acceptor, .fd = fd };
	memcpy(h->addr, addr, 16);
	snprintf(h->peer, sizeof(h->peer), "%s", peer);
	int rc = sk_shard_post(to, adopt_run, h);
	if (rc < 0) {
		uncount(acceptor, addr);
		free(h);
	}
	return rc;
}
