/* Reactor types: what the broker hands the reactor and what it gets back.
 * The reactor knows nothing of Kafka beyond the 4-byte big-endian size prefix. */
#ifndef SKEIN_NET_T_H
#define SKEIN_NET_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sk_shard;
struct sk_conn;
struct sk_outconn;

/* One max.connections.per.ip.overrides entry: an address in IPv6 form
 * (IPv4 as ::ffff:a.b.c.d) and its own limit. */
struct sk_net_ip_limit {
	uint8_t addr[16];
	uint32_t max;
};

/* Limits, named after the Kafka settings they implement. */
struct sk_net_config {
	uint32_t max_frame_bytes;    /* socket.request.max.bytes; also what one
				      * connection may hold in unanswered requests
				      * before it stops pipelining more */
	uint32_t max_connections;    /* max.connections, for every shard the listener serves */
	uint32_t max_connections_per_ip;       /* max.connections.per.ip, likewise */
	const struct sk_net_ip_limit *ip_overrides;   /* copied by sk_shard_new */
	size_t n_ip_overrides;
	/* queued.max.requests / queued.max.request.bytes (0: no limit), per
	 * shard: requests read and not yet answered, beyond the one every
	 * connection may always have (Kafka's one in flight per channel). */
	uint32_t queued_max_requests;
	uint64_t queued_max_bytes;
	uint32_t max_inflight;       /* requests without a sent response, per connection */
	uint64_t idle_ms;            /* connections.max.idle.ms; 0 = never reap */
	uint32_t stop_timeout_ms;    /* how long sk_shard_stop waits for pending responses */
	uint32_t ring_entries;       /* io_uring submission queue size */
	uint32_t recv_buf_count;     /* provided receive buffers, a power of two */
	uint32_t recv_buf_size;      /* bytes per provided receive buffer */
	int send_buffer_bytes;       /* socket.send.buffer.bytes; <= 0: kernel default */
	int recv_buffer_bytes;       /* socket.receive.buffer.bytes; <= 0: kernel default */
	uint32_t bind_wait_ms;       /* how long sk_shard_listen retries an address in use */
};

/* One complete request frame, size prefix stripped. The handler owns data
 * (release with free()) so it can park the request and keep slices into it. */
struct sk_frame {
	uint64_t slot;               /* response sequence slot, see sk_conn_respond */
	uint8_t *data;
	uint32_t len;
};

struct sk_net_handler {
	void (*on_frame)(void *arg, struct sk_conn *conn, struct sk_frame *frame);
	/* Optional: the connection is gone. Parked requests may still respond
	 * (the bytes are dropped); once on_close returns, the conn pointer is
	 * valid only for responding to slots the handler still holds. */
	void (*on_close)(void *arg, struct sk_conn *conn);
	/* Optional: after sk_shard_quiesce, every accepted connection has
	 * closed (their requests answered, or the stop deadline passed). Runs
	 * once, on the shard's thread. */
	void (*on_quiet)(void *arg);
	/* Optional: whether a whole frame may be handed over while the
	 * connection's earlier requests are still unanswered. Without it,
	 * every frame may (pipelining); a frame refused waits, and reading
	 * pauses, until the connection has no unanswered request. */
	bool (*may_overtake)(const uint8_t *frame, uint32_t len);
	void *arg;
};

typedef void (*sk_free_fn)(void *arg);

/* An outbound connection's settings, named after the Kafka client settings
 * they implement. */
struct sk_outconn_config {
	uint32_t connect_timeout_ms;  /* socket.connection.setup.timeout.ms */
	uint32_t backoff_ms;          /* reconnect.backoff.ms */
	uint32_t backoff_max_ms;      /* reconnect.backoff.max.ms */
	uint32_t max_frame_bytes;     /* larger incoming frames close the connection */
};

/* Callbacks of an outbound connection, all on its shard's thread. */
struct sk_outconn_handler {
	void (*on_connected)(void *arg, struct sk_outconn *oc);
	/* One whole frame, size prefix stripped; the callee owns data (free()). */
	void (*on_frame)(void *arg, struct sk_outconn *oc, uint8_t *data, uint32_t len);
	/* A connect attempt failed or the connection ended; reason is a negative
	 * errno: -ETIMEDOUT (connect timeout), -EMSGSIZE (frame above the
	 * maximum), -ECONNRESET (peer closed), -ECONNREFUSED, what the owner
	 * gave sk_outconn_disconnect, ... A reconnect follows after the backoff. */
	void (*on_disconnected)(void *arg, struct sk_outconn *oc, int reason);
	void *arg;
};

enum sk_seg_kind { SK_SEG_MEM, SK_SEG_FILE };

/* A piece of a response. The reactor owns it once handed over and calls
 * free_fn(free_arg) when the bytes have left (or the connection died). */
struct sk_seg {
	enum sk_seg_kind kind;
	size_t len;
	union {
		const void *mem;
		struct { int fd; off_t off; } file;   /* sent with splice, no user-space copy */
	} u;
	sk_free_fn free_fn;          /* may be NULL */
	void *free_arg;
};

struct sk_net_stats {
	uint64_t conns_open;
	uint64_t conns_accepted;
	uint64_t conns_refused;      /* past max.connections or max.connections.per.ip */
	uint64_t queued_requests;    /* read, not yet answered */
	uint64_t queued_bytes;       /* their frame bytes */
	uint64_t frames_in;
	uint64_t bytes_in;
	uint64_t bytes_out;
};

typedef uint64_t sk_timer_id;    /* 0 is never a valid timer */
typedef void (*sk_timer_fn)(void *arg);
typedef void (*sk_defer_fn)(void *arg);
/* res: 0 or negative errno from fsync/fdatasync. */
typedef void (*sk_fsync_fn)(void *arg, int res);

#endif
