/* Reactor internals shared by the files of src/net/; nothing outside includes it. */
#ifndef SKEIN_NET_INT_H
#define SKEIN_NET_INT_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "skein/net.h"
#include "skein/timer.h"

/* A completion's user_data is a pointer with the op kind in its low 4 bits
 * (every target is malloc'd, so 16-byte aligned). */
enum sk_op {
	SK_OP_IGNORE = 0,   /* cancel requests: result is not needed */
	SK_OP_ACCEPT,
	SK_OP_RECV,
	SK_OP_SEND,
	SK_OP_SPLICE_IN,
	SK_OP_SPLICE_OUT,
	SK_OP_WAKE,
	SK_OP_FSYNC,
	SK_OP_RECV_DIRECT,  /* plain recv straight into a large frame's buffer */
	SK_OP_ACCEPT_POLL,  /* a listener out of fds waits for a connection to shed */
	SK_OP_CONNECT,      /* an outbound connection's connect */
};
#define SK_OP_MASK 15u

static inline uint64_t sk_op_tag(void *p, enum sk_op op)
{
	return (uint64_t)(uintptr_t)p | op;
}

/* A response waiting to leave; one allocation holds all its segments. */
struct sk_out {
	struct sk_out *next;
	unsigned nsegs;
	unsigned cur;                /* first segment not fully sent */
	size_t cur_off;              /* bytes of segs[cur] already sent */
	struct sk_seg segs[];
};

enum sk_slot_state { SK_SLOT_FREE, SK_SLOT_PENDING, SK_SLOT_READY, SK_SLOT_NONE };

struct sk_slot {
	enum sk_slot_state state;
	struct sk_out *out;
	uint32_t len;                    /* the request's frame bytes, while pending */
};

#define SK_IOV_MAX 64

struct sk_conn {
	struct sk_shard *shard;
	struct sk_conn *prev, *next;     /* shard->conns */
	struct sk_conn *dirty_next;
	bool dirty;
	bool open;                       /* false once closing started */
	bool fd_closed;
	bool recv_armed;                 /* a provided-buffer recv SQE is live */
	bool recv_oneshot;               /* it is a single-shot one (one buffer) */
	bool recv_cancelling;            /* and a cancel for it was sent */
	bool big_last;                   /* the last frame started was a large one */
	bool direct_armed;               /* a direct recv into frame is live */
	bool direct_cancelling;          /* and a cancel for it was sent */
	bool send_busy;                  /* a send or splice SQE is live */
	bool outbound;                   /* ours to a server (outconn.c), not accepted */
	struct sk_outconn *outconn;      /* its owner, NULL once it let go */
	int close_err;                   /* why it closed, negative errno; 0 = unknown */
	uint32_t max_frame;              /* larger frames are refused */
	int fd;
	unsigned ops;                    /* SQEs in flight that point at this conn */
	void *user;
	int tag;                         /* its listener's, 0 for a handed-off one */
	uint64_t last_active_ms;
	char peer[64];
	uint8_t addr[16];                /* peer address, IPv6 form (ip_count.c) */
	struct sk_shard *counted_by;     /* whose ips count it: its acceptor (handoff.c) */
	bool waits_queue;                /* paused at the shard's queued.max.* */
	uint64_t held_bytes;             /* frame bytes of pending requests */

	/* quota throttling (throttle.c): no request is read before mute_until_ms,
	 * and with mute_holds no response leaves before it either */
	uint64_t mute_until_ms;
	bool mute_holds;
	sk_timer_id mute_timer;          /* holds one ops reference while set */

	/* framing */
	uint8_t hdr[4];
	unsigned hdr_have;
	uint8_t *frame;                  /* body being filled, NULL between frames */
	uint32_t frame_len, frame_have;
	bool frame_waits;                /* frame is whole, held until earlier answers */
	uint8_t *stash;                  /* bytes received while reading was paused */
	size_t stash_len, stash_cap;

	/* request slots: [head, next) are outstanding; a ring of slots_cap that
	 * grows up to max_inflight, so idle connections stay small */
	struct sk_slot *slots;
	unsigned slots_cap;
	uint64_t slot_head, slot_next;
	unsigned pending;                /* slots the handler still holds */

	/* send queue */
	struct sk_out *sq_head, *sq_tail;
	unsigned sq_count;               /* responses queued, not fully sent */
	struct msghdr msg;
	struct iovec iov[SK_IOV_MAX];
	int pipe[2];                     /* for file segments, made on first use */
	size_t pipe_bytes;               /* spliced in, not yet out */
};

struct sk_listener {
	struct sk_listener *next;
	struct sk_shard *shard;
	int fd;
	bool armed;
	bool polling;                    /* SK_OP_ACCEPT_POLL is live */
	int reserve_fd;                  /* given up to shed a connection on EMFILE */
	uint64_t shed;                   /* connections shed since the last report */
	uint64_t shed_reported_ms;
	int tag;                         /* given to its connections (sk_conn_tag) */
};

struct sk_timer_slot {
	uint64_t when_ms;
	sk_timer_fn cb;
	void *arg;
	uint32_t gen;
	int32_t heap_pos;                /* -1 when free */
};

struct sk_defer { sk_defer_fn cb; void *arg; };

/* One message in a shard's inbox (inbox.c); `next` is the only field
 * another thread writes after the cell is published. */
struct sk_msg {
	_Atomic(struct sk_msg *) next;
	sk_defer_fn cb;
	void *arg;
};

/* Multi-producer single-consumer queue (intrusive, Vyukov's): producers
 * swap `tail`, the shard alone walks from `head`; `stub` keeps it non-empty. */
struct sk_inbox {
	_Atomic(struct sk_msg *) tail;
	struct sk_msg *head;
	struct sk_msg stub;
	atomic_int posting;              /* posters between their stop check and push */
	atomic_int wake_pending;         /* an eventfd write is on its way */
};

struct sk_fsync_op { sk_fsync_fn cb; void *arg; };

struct sk_ip_counts {
	struct sk_ip_entry **buckets;    /* a power of two of them, or none yet */
	size_t nbuckets, nentries;
};

struct sk_stats_atomic {
	_Atomic uint64_t conns_open, conns_accepted, conns_refused, frames_in, bytes_in,
		bytes_out, queued_requests, queued_bytes;
	_Atomic uint64_t bytes_in_direct;   /* of bytes_in, read straight into frames */
};

struct sk_shard {
	struct io_uring ring;
	struct sk_net_config cfg;
	struct sk_net_handler h;
	uint64_t now_ms;

	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	size_t br_bytes;

	struct sk_listener *listeners;
	struct sk_conn *conns;
	struct sk_outconn *outconns;
	struct sk_conn *dirty;
	unsigned nopen;
	struct sk_ip_counts ips;         /* open connections per peer address, on the
					  * acceptor for every shard it serves */
	struct sk_shard **targets;       /* acceptor: the shards it hands connections to */
	size_t ntargets, next_target;
	uint32_t nhanded;                /* acceptor: open connections it handed off */
	uint32_t queued_reqs;            /* pending requests over all connections */
	uint64_t queued_bytes;           /* and their frame bytes */
	unsigned queue_waiters;          /* conns with waits_queue set */
	unsigned misc_ops;               /* fsync and listener SQEs in flight */

	struct sk_timer_slot *timers;    /* pool; heap holds indexes into it */
	uint32_t *heap;
	uint32_t ntimers_cap, heap_len, timer_free;   /* free list threaded via heap_pos */
	sk_timer_id idle_timer;

	struct sk_defer *defers;
	size_t ndefers, defers_cap;

	int wake_fd;
	uint64_t wake_buf;
	atomic_int stop_requested;
	atomic_int quiesce_requested;
	struct sk_inbox inbox;
	bool closing;                    /* quiescing or stopping: no new input */
	bool clients_held;               /* untagged listeners bound, not listening yet */
	bool quiescing;                  /* no new input; the loop and inbox go on */
	bool quiet;                      /* and every accepted connection is closed */
	bool stopping;
	uint64_t stop_deadline_ms;

	struct sk_stats_atomic st;
};

/* shard.c */
struct io_uring_sqe *sk_shard_sqe(struct sk_shard *s);
void sk_shard_wake(struct sk_shard *s);

/* inbox.c */
void sk_inbox_init(struct sk_inbox *q);
void sk_shard_set_current(struct sk_shard *s);
/* Runs every message posted so far; returns how many ran. */
size_t sk_inbox_run(struct sk_shard *s);
/* After stop: waits out posters in flight, then runs what they left. */
void sk_inbox_drain_final(struct sk_shard *s);
void sk_stat_add(_Atomic uint64_t *c, uint64_t n);
void sk_stat_sub(_Atomic uint64_t *c, uint64_t n);

/* bufring.c */
int sk_bufring_init(struct sk_shard *s);
void sk_bufring_fini(struct sk_shard *s);
void sk_bufring_recycle(struct sk_shard *s, unsigned bid);
const uint8_t *sk_bufring_addr(struct sk_shard *s, unsigned bid);

/* ip_count.c */
uint32_t sk_ip_count(struct sk_ip_counts *t, const uint8_t *addr);
int sk_ip_count_inc(struct sk_ip_counts *t, const uint8_t *addr);
void sk_ip_count_dec(struct sk_ip_counts *t, const uint8_t *addr);
void sk_ip_counts_free(struct sk_ip_counts *t);
uint32_t sk_ip_limit(const struct sk_shard *s, const uint8_t *addr);

/* queue.c */
bool sk_queue_full(struct sk_conn *c);
void sk_queue_add(struct sk_conn *c, struct sk_slot *sl, uint32_t len);
void sk_queue_remove(struct sk_conn *c, struct sk_slot *sl);
void sk_queue_forget(struct sk_conn *c);

/* listen.c */
void sk_net_tune_socket(const struct sk_shard *s, int fd);
void sk_listener_complete(struct sk_listener *l, struct io_uring_cqe *cqe);
void sk_listener_poll_complete(struct sk_listener *l, struct io_uring_cqe *cqe);
void sk_listeners_stop(struct sk_shard *s);
void sk_listeners_free(struct sk_shard *s);

static inline struct sk_slot *sk_conn_slot(struct sk_conn *c, uint64_t q)
{
	return &c->slots[q % c->slots_cap];
}

/* outconn.c */
void sk_outconn_connect_complete(struct sk_outconn *oc, struct io_uring_cqe *cqe);
void sk_outconn_frame(struct sk_conn *c, uint8_t *data, uint32_t len);
void sk_outconn_conn_closed(struct sk_conn *c);
void sk_outconns_stop(struct sk_shard *s);
void sk_outconns_free_all(struct sk_shard *s);

/* handoff.c: the acceptor's round robin, node-wide connection counts */
struct sk_shard *sk_handoff_next(struct sk_shard *s);
/* Counts fd's connection on the acceptor and posts it to `to`. 0, or
 * -errno (nothing counted; fd is still the caller's). */
int sk_handoff(struct sk_shard *acceptor, struct sk_shard *to, int fd, const uint8_t *addr,
	       const char *peer);
/* At close: gives the connection's place back to whoever counted it. */
void sk_conn_uncount(struct sk_conn *c);

/* conn.c; outbound conns do not count against max.connections */
struct sk_conn *sk_conn_new(struct sk_shard *s, int fd, bool outbound);
/* Closes with a reason the first time (outbound owners get it). */
void sk_conn_fail(struct sk_conn *c, int err);
int sk_conn_slots_reserve(struct sk_conn *c);
void sk_conn_mark_dirty(struct sk_conn *c);
void sk_conn_process_dirty(struct sk_shard *s);
void sk_conn_op_done(struct sk_conn *c);
void sk_conn_maybe_free(struct sk_conn *c);
void sk_conns_idle_scan(void *arg);
void sk_conns_free_all(struct sk_shard *s);
bool sk_conn_drained(const struct sk_conn *c);

/* recv.c */
void sk_recv_arm(struct sk_conn *c);
void sk_recv_complete(struct sk_conn *c, struct io_uring_cqe *cqe);
void sk_recv_direct_complete(struct sk_conn *c, struct io_uring_cqe *cqe);
bool sk_recv_paused(struct sk_conn *c);
void sk_recv_resume(struct sk_conn *c);
void sk_recv_stop(struct sk_conn *c);
void sk_recv_free(struct sk_conn *c);

/* sendq.c */
void sk_sendq_flush(struct sk_conn *c);
void sk_sendq_push(struct sk_conn *c, struct sk_out *o);
void sk_send_complete(struct sk_conn *c, struct io_uring_cqe *cqe, enum sk_op op);
void sk_sendq_free(struct sk_conn *c);
void sk_out_free(struct sk_out *o);

/* throttle.c */
bool sk_conn_muted(const struct sk_conn *c);
void sk_conn_unmute_on_close(struct sk_conn *c);

/* timer.c */
int sk_timers_init(struct sk_shard *s);
void sk_timers_fini(struct sk_shard *s);
int64_t sk_timers_next_ms(struct sk_shard *s);  /* -1 if none */
void sk_timers_run(struct sk_shard *s);

/* Whether a live process other than this one holds a listening socket on
 * port (port_holder.c). */
bool sk_port_held_by_other_process(uint16_t port);

#endif
