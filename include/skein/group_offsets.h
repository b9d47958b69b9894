/* Committed offsets of a group and the operations that change them.
 *
 * Invariant: the in-memory table only ever holds what is durable in
 * __consumer_offsets. A commit is applied after its records are durable, so an
 * OffsetFetch never returns an offset a crash could take back. */
#ifndef SKEIN_GROUP_OFFSETS_H
#define SKEIN_GROUP_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/group.h"

struct sk_offset_entry {
    kp_str topic;         /* owned wire strings (skein/wire_str.h) */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch; /* -1: none */
    kp_str metadata;      /* never null */
    int64_t commit_ts;
    int64_t expire_ts;    /* -1: by offsets.retention.minutes */
    struct sk_offset_entry *next;
};

/* ---- the table ----------------------------------------------------------- */

struct sk_offset_entry *sk_offsets_get(const struct sk_offset_table *t, kp_str topic,
                                       int32_t partition);
/* Inserts or replaces; 0 or -ENOMEM. */
int sk_offsets_put(struct sk_offset_table *t, kp_str topic, int32_t partition, int64_t offset,
                   int32_t leader_epoch, kp_str metadata, int64_t commit_ts, int64_t expire_ts);
void sk_offsets_del(struct sk_offset_table *t, kp_str topic, int32_t partition);
void sk_offsets_free(struct sk_offset_table *t);
/* All entries sorted by topic, then partition (malloc'd, free it); NULL with
 * *n 0 if empty or out of memory. */
struct sk_offset_entry **sk_offsets_sorted(const struct sk_offset_table *t, size_t *n);

/* ---- OffsetCommit -------------------------------------------------------------- */

struct sk_commit_in {
    kp_str topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    kp_str metadata;
    int64_t expire_ts; /* -1: none */
    int16_t err;       /* out: per-partition result */
};

/* Checks generation/member of a commit and finds the group (creating it for a
 * simple commit with generation < 0). Returns the group-level error. */
int16_t sk_group_commit_check(struct sk_group_coordinator *co, kp_str group_id,
                              int32_t generation, kp_str member_id, kp_str instance_id,
                              struct sk_group **out);

/* Writes the commits whose err is NONE (metadata size is checked here) and
 * applies them once durable; done(arg, err) with the write's error. The items
 * must stay valid until done. */
void sk_group_commit(struct sk_group *g, struct sk_commit_in *items, int n, sk_group_done_fn done,
                     void *arg);

/* ---- deletion ----------------------------------------------------------------- */

/* DeleteGroups for one group: tombstones for its offsets and metadata. Returns
 * an error at once (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP), else 0 and done. */
int16_t sk_group_delete(struct sk_group_coordinator *co, kp_str group_id, sk_group_done_fn done,
                        void *arg);

struct sk_offset_delete_in {
    kp_str topic;
    int32_t partition;
    int16_t err; /* out */
};

/* OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC per partition of subscribed topics,
 * tombstones for the rest. Group-level error at once, else 0 and done. */
int16_t sk_group_offsets_delete(struct sk_group_coordinator *co, kp_str group_id,
                                struct sk_offset_delete_in *items, int n, sk_group_done_fn done,
                                void *arg);

/* True if a member of this consumer group subscribes to topic. */
bool sk_group_subscribed(const struct sk_group *g, kp_str topic);

/* ---- retention ------------------------------------------------------------------ */

/* Expires offsets as offsets.retention.minutes says and removes groups left
 * empty with no offsets. Returns the number of offsets expired. */
int sk_group_expire_offsets(struct sk_group_coordinator *co, int64_t now_ms);
void sk_group_schedule_expiry(struct sk_group_coordinator *co);

#endif
