/* __cluster_metadata: the log every cluster change goes through.
 *
 * A change is a list of metadata records appended as one batch (so it is
 * applied whole or not at all), made durable with fdatasync, and only then
 * applied to the image. On open the image is rebuilt by replaying the log. */
#ifndef SKEIN_METALOG_H
#define SKEIN_METALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/meta.h"

#define SK_METALOG_TOPIC "__cluster_metadata"

struct sk_metalog;

/* KRaft's bounds on one batch (the controller's 10,000 records per batch and
 * per user operation, the Raft client's 8 MiB): a change is one batch, so
 * they bound a change too; a larger one is refused with -EMSGSIZE before
 * anything is written. The loader takes batches up to MAX_LOAD_BYTES, so logs
 * written before these bounds existed still load. */
#define SK_METALOG_MAX_BATCH_RECORDS 10000
#define SK_METALOG_MAX_BATCH_BYTES (8 * 1024 * 1024)
#define SK_METALOG_MAX_LOAD_BYTES (256 * 1024 * 1024)

/* Why a replay stopped: the offset of the batch (or snapshot) that did not
 * load, the errno, and what went wrong there. */
struct sk_metalog_failure {
    int64_t offset; /* -1: not at a batch (the files did not open) */
    bool in_snapshot;
    int rc;
    char what[96];
};

struct sk_meta_rec {
    int16_t type;
    int16_t version;
    const void *rec; /* the generated struct for type */
};

/* Opens (or creates) dir/__cluster_metadata-0 and replays it into img, which
 * must be freshly initialised. Returns 0 or negative errno; -EBADMSG if a
 * record does not decode or apply (the log is damaged: refuse to start). */
int sk_metalog_open(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                    struct sk_metalog **out);
/* Same; why (may be NULL) says where a failed replay stopped. With
 * truncate_unloadable, a log batch that does not load is cut off with
 * everything after it (logged) and the rest is replayed: the operator's way
 * out of a node that would otherwise not start. */
int sk_metalog_open_ex(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                       bool truncate_unloadable, struct sk_metalog_failure *why,
                       struct sk_metalog **out);
/* Same, replaying only the batches that end at or below upto (INT64_MAX:
 * all; 0 or below: the snapshot alone). A member of a multi-voter quorum
 * opens so: its log may end in batches no quorum committed, which a new
 * leader can truncate, so they are applied only once the high watermark
 * passes them (sk_metalog_apply_range). *applied_end (may be NULL) gets
 * the offset after what the image holds. */
int sk_metalog_open_upto(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                         bool truncate_unloadable, int64_t upto, struct sk_metalog_failure *why,
                         int64_t *applied_end, struct sk_metalog **out);
/* Applies the batches from the one at from that end at or below upto, in
 * order, control batches skipped: a standby controller's replay of what the
 * quorum committed. *next gets the offset after the last one applied. 0, or
 * -EBADMSG (a record does not apply: img is then partly changed), -errno. */
int sk_metalog_apply_range(struct sk_metalog *ml, struct sk_meta_image *img, int64_t from,
                           int64_t upto, int64_t *next);
void sk_metalog_close(struct sk_metalog *ml);

/* Appends recs as one batch, syncs, then applies them to img. On error
 * nothing was applied; -EMSGSIZE: the batch is over a bound above, and
 * nothing was written either. */
int sk_metalog_append(struct sk_metalog *ml, struct sk_meta_image *img,
                      const struct sk_meta_rec *recs, int n, int64_t now_ms);

int64_t sk_metalog_end_offset(const struct sk_metalog *ml);

/* The asynchronous commit, in three steps (src/controller/submit.c drives it).
 * sk_metalog_write appends recs as one batch and applies them to img (the
 * controller's working state) without syncing; *end gets the offset after
 * the batch. Errors as sk_metalog_append, nothing applied. */
int sk_metalog_write(struct sk_metalog *ml, struct sk_meta_image *img,
                     const struct sk_meta_rec *recs, int n, int64_t now_ms, int64_t *end);
/* Makes everything written so far durable through syncer: done(arg, 0 or
 * -errno) runs once, on the syncer's completion. Returns 0, or -errno and
 * done never runs. */
struct sk_syncer;
int sk_metalog_sync(struct sk_metalog *ml, const struct sk_syncer *syncer,
                    void (*done)(void *arg, int res), void *arg);
/* Everything below end is committed and img is the committed image: moves
 * the recovery point and takes a snapshot when one is due. */
void sk_metalog_committed(struct sk_metalog *ml, const struct sk_meta_image *img, int64_t end,
                          int64_t now_ms);
/* Drops every batch from offset `from` on. When a sync failed (err from its
 * completion, not a sync that could not be submitted) the log also goes
 * offline (writes fail with err) until it is reopened. */
int sk_metalog_discard(struct sk_metalog *ml, int64_t from, int err, bool sync_failed);

/* The pieces the Raft log (skein/meta_raftlog.h) is made of. encode makes
 * recs one batch at base (-EMSGSIZE over the bounds above); append_batch
 * appends whole batches that start at the log end, counting them toward
 * the next snapshot. */
struct sk_buf;
struct sk_plog;
int sk_metalog_encode(const struct sk_meta_rec *recs, int n, int64_t base, int64_t now_ms,
                      struct sk_buf *out);
int sk_metalog_append_batch(struct sk_metalog *ml, const uint8_t *p, size_t len, int64_t now_ms);
/* The log's files: reads, truncation and leader epochs go straight to them. */
struct sk_plog *sk_metalog_plog(struct sk_metalog *ml);

/* Snapshot the image after `bytes` of records (0: never by size), or when
 * records came since a snapshot interval_ms old (0: never by time). */
struct sk_voter_set;
/* The KIP-853 voter set every snapshot from now on carries (KRaftVersion 1
 * and the VotersRecord after its header), as Kafka's snapshots of a
 * kraft.version 1 quorum do: deleting older snapshots then never loses it.
 * 0 or -ENOMEM. */
int sk_metalog_set_voters(struct sk_metalog *ml, const struct sk_voter_set *vs);
/* The voter sets the Raft log adapter notes as it appends, reads and
 * truncates VOTERS batches; each snapshot carries the one at its end. */
struct sk_voter_history;
struct sk_voter_history *sk_metalog_voter_history(struct sk_metalog *ml);
void sk_metalog_set_snapshot_policy(struct sk_metalog *ml, int64_t bytes,
                                    int64_t interval_ms);
/* metadata.log.segment.bytes / .ms for the log's segments, and
 * metadata.max.retention.bytes / .ms for deleting it below snapshots
 * (sk_meta_snapshot_clean). Until called, limits of 0: the log below the
 * newest snapshot and every older snapshot go once it is written. */
void sk_metalog_set_retention(struct sk_metalog *ml, int32_t segment_bytes, int64_t segment_ms,
                              int64_t max_bytes, int64_t max_ms);
/* Snapshots are then synced through syncer (the shard's), not waited for;
 * until this is called they block. The syncer must outlive ml. */
void sk_metalog_set_syncer(struct sk_metalog *ml, const struct sk_syncer *syncer);

#endif
