/* Incremental fetch sessions (KIP-227).
 *
 * A consumer with many partitions would otherwise name every partition in
 * every fetch and get every partition back. With a session the broker keeps
 * the partitions and their fetch state; each request carries only what
 * changed and each response only partitions with news (data, a moved high
 * watermark or log start, an error). Requests in a session are numbered by an
 * epoch so a lost or duplicated request is detected.
 *
 * The cache holds max.incremental.fetch.session.cache.slots sessions. When
 * full, a new session may evict one that was unused for eviction_ms, or else
 * the smallest one older than eviction_ms if the new one is larger; followers
 * (privileged) may also evict young consumer sessions. Otherwise the fetcher
 * gets session id 0 and keeps sending full requests. */
#ifndef SKEIN_FETCH_SESSION_H
#define SKEIN_FETCH_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"

#define SK_FETCH_INVALID_SESSION_ID 0
#define SK_FETCH_INITIAL_EPOCH 0
#define SK_FETCH_FINAL_EPOCH (-1)
/* Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS. */
#define SK_FETCH_SESSION_EVICTION_MS 120000

/* One partition of a session: what the fetcher asked for last, and what it
 * was last told, so unchanged partitions can be left out. */
struct sk_fetch_session_part {
    kp_str topic;       /* owned wire string (skein/wire_str.h): the name as the fetcher
                           sent it, unknown ones too; null in sessions by topic id */
    kp_uuid topic_id;
    int32_t partition;
    bool forgotten; /* marked by sk_fetch_session_mark_forgotten, until compacted */
    int64_t fetch_offset;
    int32_t max_bytes;
    int32_t current_leader_epoch;
    int32_t last_fetched_epoch;
    int64_t high_watermark;   /* last sent; -1 forces the next answer to include it */
    int64_t log_start_offset; /* last sent */
};

struct sk_fetch_session {
    int32_t id;
    int32_t epoch; /* the epoch the next request must carry */
    bool privileged;
    bool uses_topic_ids;
    int64_t created_ms, last_used_ms;
    struct sk_fetch_session_part *parts;
    int nparts, cap;
    /* parts by (topic, partition): open addressing over positions in parts
     * (-1 empty), at most half full; NULL if it could not be allocated,
     * and then lookups scan. Rebuilt whenever parts move. */
    int32_t *index;
    uint32_t nindex;
};

struct sk_fetch_sessions {
    struct sk_fetch_session **v;
    int n, max;
    int64_t eviction_ms;
    uint64_t rng;
    uint64_t evictions;
};

void sk_fetch_sessions_init(struct sk_fetch_sessions *c, int max_slots, int64_t eviction_ms,
                            uint64_t seed);
void sk_fetch_sessions_free(struct sk_fetch_sessions *c);

struct sk_fetch_session *sk_fetch_session_get(struct sk_fetch_sessions *c, int32_t id);
/* Creates a session holding copies of parts, evicting another if the rules
 * allow. Returns its id, or SK_FETCH_INVALID_SESSION_ID when there is no room
 * (or no memory). */
int32_t sk_fetch_session_create(struct sk_fetch_sessions *c, int64_t now, bool privileged,
                                bool uses_topic_ids, const struct sk_fetch_session_part *parts,
                                int nparts);
void sk_fetch_session_remove(struct sk_fetch_sessions *c, int32_t id);
void sk_fetch_session_touch(struct sk_fetch_session *s, int64_t now);

/* The epoch after e: 1 after INT32_MAX, FINAL stays FINAL. */
int32_t sk_fetch_next_epoch(int32_t e);

/* Finds a part by topic name (by_id false) or id. -1 if absent. */
int sk_fetch_session_find(const struct sk_fetch_session *s, bool by_id, kp_str topic,
                          const kp_uuid *id, int32_t partition);
/* Adds the part, or updates the request fields of the one already there
 * (the last-sent state is kept). 0 or -ENOMEM. */
int sk_fetch_session_upsert(struct sk_fetch_session *s, const struct sk_fetch_session_part *p);
/* Drops a part (forgotten topics); no-op if absent. */
void sk_fetch_session_forget(struct sk_fetch_session *s, bool by_id, kp_str topic,
                             const kp_uuid *id, int32_t partition);
/* The same for many: each marked (no longer found), then all dropped at
 * once by sk_fetch_session_compact, keeping the others' order. */
void sk_fetch_session_mark_forgotten(struct sk_fetch_session *s, bool by_id, kp_str topic,
                                     const kp_uuid *id, int32_t partition);
void sk_fetch_session_compact(struct sk_fetch_session *s);
/* Moves the parts flagged in `sent` (indexed as s->parts) behind the others,
 * keeping order within both groups, so they are read last next time. */
void sk_fetch_session_rotate(struct sk_fetch_session *s, const bool *sent);

#endif
