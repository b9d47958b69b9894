/* What the fetch files share: one fetch request on its way to an answer. */
#ifndef SKEIN_API_FETCH_INT_H
#define SKEIN_API_FETCH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/buf.h"
#include "skein/config.h"
#include "skein/fetch_session.h"
#include "skein/net-t.h"
#include "skein/plog.h"

/* How the request relates to a fetch session (Kafka's FetchContext kinds). */
enum sk_fetch_ctx {
    SK_FETCH_SESSIONLESS, /* pre-v7, FINAL epoch, or no session wanted */
    SK_FETCH_FULL,        /* epoch 0: answer everything, then open a session */
    SK_FETCH_INCREMENTAL, /* read the session's partitions, answer changes */
    SK_FETCH_ERROR,       /* top-level session error, no partitions */
};

/* One partition the fetch reads. Strings live in the request's arena. */
struct sk_fetch_part {
    kp_str topic; /* v0-12: the name asked for */
    kp_uuid topic_id;
    int32_t partition;
    int64_t fetch_offset;
    int32_t max_bytes;
    int32_t current_leader_epoch;
    int32_t last_fetched_epoch;
    int session_index; /* incremental: where it was in the session */
};

/* The answer for one partition: response fields plus records left in a file. */
struct sk_fetch_result {
    kp_fetch_response_partition_data data;
    struct sk_plog_slice slice;
    uint8_t *converted;  /* v0-3: down-converted records (malloc'd), sent instead of slice */
    int16_t refused;     /* per-topic refusal at this version (sk_fetch_topic_check) */
    bool metadata_error; /* unknown topic or id: does not make the fetch wait less */
    bool throttled;      /* a follower's read of a leader-throttled replica */
};

struct sk_fetch_op {
    struct sk_request *req;
    enum sk_fetch_ctx ctx;
    int16_t ctx_error;
    int32_t session_id;     /* incremental: the session */
    int32_t session_epoch;  /* incremental: its epoch once this request is in */
    bool by_id;             /* v13+: topics by id */
    bool follower;          /* a replica's fetch: replica_id >= 0 */
    int32_t replica_id;
    int64_t replica_epoch;  /* its broker epoch (v15+ ReplicaState), else -1 */
    int8_t isolation_level;
    /* v11+ (Kafka's ClientMetadata): a consumer may read from a follower,
     * and a leader may point it at one in its rack (KIP-392). */
    bool client_metadata;
    kp_str rack;
    int32_t min_bytes;
    uint32_t max_bytes;     /* for the whole response */
    struct sk_fetch_part *parts;
    int nparts;
    struct sk_fetch_result *results; /* nparts, rewritten by each read */
    sk_timer_id timer;
    bool split;           /* reads partitions of other shards (fetch_split.c) */
    bool linked;          /* in the parked list */
    bool reading;         /* split: the owners are reading */
    bool rewake;          /* split: woken while reading, read again */
    uint64_t id;          /* split: what owners' watches name it by */
    uint64_t deadline_ms; /* split: when max_wait_ms is up */
    struct sk_fetch_op *prev, *next; /* parked */
    struct sk_hw_waiter *watches;    /* parked: one per part, on its partition */
};

struct sk_fetch_state {
    struct sk_fetch_sessions sessions;
    struct sk_fetch_op *parked;
    uint64_t next_op_id;
    struct sk_fetch_watch *watches; /* split fetches of other shards waiting here */
    size_t nwatches, sweep_at;
    struct sk_buf dc_stored, dc_scratch; /* down-conversion input, kept between fetches */
};

struct sk_fetch_state *sk_fetch_state(struct sk_broker *b);

/* What a read found, to decide between answering and waiting. */
struct sk_fetch_readout {
    uint64_t bytes;
    bool must_answer; /* an error or divergence: answer now */
    int interesting;  /* partitions that can get data */
};

/* Reads every partition of op into op->results; each slice read holds an fd
 * until the answer takes it or sk_fetch_release closes it. */
void sk_fetch_read_all(struct sk_fetch_op *op, struct sk_fetch_readout *out);
/* Reads partition i of op into op->results[i] on shard b, its owner, within
 * *budget; adds what it found to *ro. */
void sk_fetch_read_one(struct sk_broker *b, const struct sk_fetch_op *op, int i, uint32_t *budget,
                       bool *min_one, struct sk_fetch_readout *ro);
/* An answer of err for a partition, without data. */
void sk_fetch_result_error(struct sk_fetch_result *r, int16_t err);
/* True when some of op's partitions live on other shards than op's. */
bool sk_fetch_spans_shards(const struct sk_fetch_op *op);
/* Reads op's partitions, each on its owner shard, then calls then(op, ro)
 * on op's shard; 0, or -ENOMEM (then is not called). */
typedef void (*sk_fetch_read_fn)(struct sk_fetch_op *op, const struct sk_fetch_readout *ro);
int sk_fetch_read_split(struct sk_fetch_op *op, sk_fetch_read_fn then);
/* Owner side: a split fetch of shard `home` waits for partition i of op
 * (read empty here) until its high watermark moves or expires_ms. */
int sk_fetch_watch_add(struct sk_broker *owner, const struct sk_fetch_op *op, int i);
void sk_fetch_watches_free(struct sk_fetch_state *st);
/* Home side: op_id's partition on another shard has news. */
void sk_fetch_wake(struct sk_broker *b, uint64_t op_id);
/* Closes the fds of op's slices: a parked fetch reads again when it answers,
 * and must not hold files open while it waits. */
void sk_fetch_release(struct sk_fetch_op *op);
/* Builds the response from op->results, sends it, frees op and its request. */
void sk_fetch_answer(struct sk_fetch_op *op);
/* The message format a Fetch version reads: 0, 1, or 2 (as stored). */
int8_t sk_fetch_magic(int16_t version);
/* Kafka's per-topic refusals for old fetch versions: a zstd topic before v10,
 * down-conversion switched off (message.downconversion.enable) before v4. */
int16_t sk_fetch_topic_check(const struct sk_topic_config *tc, int16_t version);
/* Kafka's maybeConvertFetchedData for the kept partitions, when the answer
 * is built: refused partitions become their error, and for v0-v3 records
 * are converted to the version's message format into `converted`. */
void sk_fetch_convert(struct sk_fetch_op *op, const bool *keep);
/* Drops the buffers conversion keeps between fetches. */
void sk_fetch_downconvert_close(struct sk_fetch_state *st);
/* Parks op until min_bytes are there or max_wait_ms passes. */
void sk_fetch_park(struct sk_fetch_op *op, int32_t max_wait_ms);

#endif
