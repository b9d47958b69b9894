/* Reactor: one shard = one thread + one io_uring, owning its listeners,
 * connections, timers and async file ops. Nothing global: every call takes
 * the shard, and all calls except sk_shard_stop/sk_shard_stats must come
 * from the thread running that shard. */
#ifndef SKEIN_NET_H
#define SKEIN_NET_H

#include <stdbool.h>

#include "skein/net-t.h"

/* Kafka's defaults: 100 MiB frames, 10 min idle, unlimited connections. */
void sk_net_config_defaults(struct sk_net_config *cfg);

/* Creates the ring and the receive buffers; nothing runs until sk_shard_run. */
int sk_shard_new(const struct sk_net_config *cfg, const struct sk_net_handler *h,
		 struct sk_shard **out);
/* Frees everything left. Responses for parked requests must not come after. */
void sk_shard_destroy(struct sk_shard *s);

/* Binds host:port (an address in use is retried for cfg.bind_wait_ms, then
 * -EADDRINUSE) and arms multishot accept. port 0 picks one; *bound_port gets it. */
int sk_shard_listen(struct sk_shard *s, const char *host, uint16_t port,
		    uint16_t *bound_port);

/* The same for a listener whose connections carry tag (non-zero, see
 * sk_conn_tag) and are always served on s, never handed to other shards. */
int sk_shard_listen_tagged(struct sk_shard *s, const char *host, uint16_t port, int tag,
			   uint16_t *bound_port);

/* While held, untagged listeners (the clients') are bound but do not listen:
 * connections are refused, as by a broker not yet up, so clients go to
 * another broker rather than wait. Released once, for good. */
void sk_shard_hold_clients(struct sk_shard *s);
void sk_shard_release_clients(struct sk_shard *s);
bool sk_shard_clients_held(const struct sk_shard *s);

/* Makes s the acceptor of a group of shards: every connection its listeners
 * accept goes to the next of targets in turn (s may be one of them), handed
 * to that shard's thread, which serves it as its own. max.connections and
 * max.connections.per.ip are counted on s for all of them; a connection
 * closing on another shard gives its place back by a message. Call before
 * sk_shard_run; targets must outlive s's loop, and s must be destroyed after
 * them. 0 or -ENOMEM. */
int sk_shard_distribute(struct sk_shard *s, struct sk_shard *const *targets, size_t n);

/* New max.connections / max.connections.per.ip limits (overrides copied);
 * they apply to the next accepts. 0 or -ENOMEM (then the old ones stay). */
int sk_shard_set_conn_limits(struct sk_shard *s, uint32_t max_connections, uint32_t per_ip,
			     const struct sk_net_ip_limit *overrides, size_t n);

/* Runs the loop until sk_shard_stop; returns 0 or negative errno. */
int sk_shard_run(struct sk_shard *s);
/* Async-signal-safe and thread-safe: stop accepting and reading, send what
 * was accepted (up to stop_timeout_ms), close everything, return from run. */
void sk_shard_stop(struct sk_shard *s);
/* Thread-safe: true once sk_shard_stop was called. */
bool sk_shard_stopping(const struct sk_shard *s);
/* Async-signal-safe and thread-safe: the first half of a stop. The shard
 * accepts and reads nothing more, answers what it read (up to
 * stop_timeout_ms), closes its connections and then calls the handler's
 * on_quiet; unlike a stop it goes on running timers and posts, so shards
 * that wait on each other can all drain before any of them ends. */
void sk_shard_quiesce(struct sk_shard *s);

/* Runs cb(arg) once after the current batch of completions (group commit). */
int sk_shard_defer(struct sk_shard *s, sk_defer_fn cb, void *arg);
/* Thread-safe: runs cb(arg) on shard s's thread, in post order per posting
 * thread, waking its ring if idle. 0, or -ESHUTDOWN once s is stopping /
 * -ENOMEM (cb will not run). A post accepted before the stop always runs,
 * at the latest when the shard's loop ends or it is destroyed; every
 * poster must be done with s before sk_shard_destroy. */
int sk_shard_post(struct sk_shard *s, sk_defer_fn cb, void *arg);
/* The shard whose loop runs on the calling thread, or NULL. */
struct sk_shard *sk_shard_current(void);
/* Monotonic milliseconds, read now (a shard's own now_ms is its turn's). */
uint64_t sk_clock_ms(void);
/* fsync (datasync: fdatasync) via the ring; cb(arg, res) on completion.
 * -EIO without submitting when the fault harness asks (skein/fault.h). */
int sk_shard_fsync(struct sk_shard *s, int fd, int datasync, sk_fsync_fn cb, void *arg);

/* Relaxed snapshot; may be read from any thread. */
void sk_shard_stats(const struct sk_shard *s, struct sk_net_stats *out);
/* Monotonic milliseconds as of the current loop iteration. */
uint64_t sk_shard_now_ms(const struct sk_shard *s);

/* Completes request `slot` with segs (ownership passes in all cases, also on
 * error). Any order; bytes leave in request order. A dead connection just
 * frees the segments and returns -ENOTCONN. */
int sk_conn_respond(struct sk_conn *c, uint64_t slot, const struct sk_seg *segs,
		    unsigned nsegs);
/* Same with one malloc'd buffer, released with free(). */
int sk_conn_respond_buf(struct sk_conn *c, uint64_t slot, void *buf, size_t len);
/* Completes a request that gets no response (produce acks=0). */
int sk_conn_respond_none(struct sk_conn *c, uint64_t slot);

/* Quota throttling (Kafka mutes the channel): reads nothing more from the
 * connection for ms; with hold, responses wait too (clients too old to
 * throttle themselves get theirs late). A longer mute in force stays. */
void sk_conn_throttle(struct sk_conn *c, uint32_t ms, bool hold);

/* Closes the connection (e.g. malformed request); pending slots stay valid. */
void sk_conn_close(struct sk_conn *c);
int sk_conn_is_open(const struct sk_conn *c);
const char *sk_conn_peer(const struct sk_conn *c);   /* "1.2.3.4:5678" */
struct sk_shard *sk_conn_shard(const struct sk_conn *c);
void sk_conn_set_user(struct sk_conn *c, void *user);  /* handler's per-conn state */
void *sk_conn_user(const struct sk_conn *c);
/* The tag of the listener that accepted c (sk_shard_listen_tagged), else 0. */
int sk_conn_tag(const struct sk_conn *c);

/* Outbound connections (outconn.c): a client connection owned by one shard
 * that keeps itself connected to host:port. A numeric host is used as is;
 * a name is resolved with getaddrinfo (blocking) when the connection is
 * created and before each reconnect, never per frame; failed attempts try
 * its addresses in turn. Connects run through
 * the ring under cfg.connect_timeout_ms; after a failure or a drop the next
 * attempt waits an exponential backoff with jitter. */
void sk_outconn_config_defaults(struct sk_outconn_config *cfg);
/* Starts the first connect at once. 0, -EINVAL or -ENOMEM. */
int sk_outconn_new(struct sk_shard *s, const char *host, uint16_t port,
		   const struct sk_outconn_config *cfg, const struct sk_outconn_handler *h,
		   struct sk_outconn **out);
/* Queues one or more whole frames (size prefix included) behind those
 * already sent, so many may be outstanding. Ownership of segs passes in all
 * cases; -ENOTCONN (segs freed) unless connected. */
int sk_outconn_send(struct sk_outconn *oc, const struct sk_seg *segs, unsigned nsegs);
int sk_outconn_send_buf(struct sk_outconn *oc, void *buf, size_t len);
/* Drops the live connection with reason (e.g. a protocol error); the usual
 * on_disconnected and reconnect with backoff follow. No-op unless connected. */
void sk_outconn_disconnect(struct sk_outconn *oc, int reason);
/* Closes for good: no callback after this returns; oc is gone. */
void sk_outconn_close(struct sk_outconn *oc);
bool sk_outconn_connected(const struct sk_outconn *oc);
/* Connect attempts that failed since the last successful one. */
uint32_t sk_outconn_failures(const struct sk_outconn *oc);
struct sk_shard *sk_outconn_shard(const struct sk_outconn *oc);

static inline struct sk_seg sk_seg_mem(const void *p, size_t len, sk_free_fn fn, void *arg)
{
	struct sk_seg s = { .kind = SK_SEG_MEM, .len = len, .u.mem = p,
			    .free_fn = fn, .free_arg = arg };
	return s;
}

static inline struct sk_seg sk_seg_file(int fd, off_t off, size_t len, sk_free_fn fn,
					void *arg)
{
	struct sk_seg s = { .kind = SK_SEG_FILE, .len = len, .u.file = { fd, off },
			    .free_fn = fn, .free_arg = arg };
	return s;
}

#endif
