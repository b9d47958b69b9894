/* A segment: one .log file of whole batches plus its two indexes.
 *
 * Invariants while the log is open:
 *   - bytes [0, size) of the .log are whole batches whose offsets increase; any
 *     byte past size is garbage the next append overwrites (a failed write leaves
 *     none: it is truncated back);
 *   - every batch's offsets lie in [base, next_offset) and last - base fits int32;
 *   - every index entry points at the start of a batch in [0, size) that is not
 *     inside a bad range;
 *   - bad ranges (damage found by recovery in a segment that is not the last) are
 *     sorted by position and cover whole byte spans that must never be served.
 *
 * Open files: the active segment holds its .log fd; an older segment holds its
 * fds only from its roll until a sync made it durable (so that the sync has
 * them), then closes them. Its indexes stay mapped; reads open the .log for the
 * moment (sk_segment_borrow_fd). So a partition costs one fd at rest. */
#ifndef SK_LOG_SEGMENT_H
#define SK_LOG_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "batch_peek.h"
#include "index.h"

struct sk_bad_range {
    int64_t first, last;   /* offsets that cannot be read */
    uint32_t pos, len;     /* bytes to skip */
};

struct sk_segment {
    int64_t base;
    int fd;                   /* the .log, -1 while closed */
    char *path;               /* of the .log */
    uint32_t size;
    int64_t next_offset;      /* last offset + 1, base when empty */
    int64_t max_ts;           /* largest batch max timestamp, -1 if none */
    int64_t max_ts_offset;    /* last offset of the batch that carried it */
    int64_t first_ts;         /* max timestamp of the first batch: segment.ms clock */
    int64_t created_ms;
    uint32_t last_index_pos;  /* position the last offset index entry points at */
    struct sk_index oidx, tidx;
    struct sk_bad_range *bad;
    uint32_t nbad;
};

#define SK_SEG_PATH_MAX 4096

/* <dir>/<20-digit base><suffix> */
int sk_segment_path(char *buf, size_t cap, const char *dir, int64_t base, const char *suffix);
/* The base of a file named "<20 digits><suffix>"; -1 if name is not exactly that. */
int64_t sk_segment_name_base(const char *name, const char *suffix);

/* New empty segment with indexes preallocated to index_bytes; its .log fd is open. */
int sk_segment_create(const char *dir, int64_t base, int64_t index_bytes, int64_t now_ms,
                      struct sk_segment **out);
/* Maps an existing segment's indexes and sizes its .log, which stays closed; the
 * caller then loads or recovers it. *index_fresh is set if an index file had to
 * be created. */
int sk_segment_open(const char *dir, int64_t base, int64_t now_ms, struct sk_segment **out,
                    bool *index_fresh);
/* Closes fds and maps, trimming the indexes first if trim is set. */
void sk_segment_close(struct sk_segment *seg, bool trim);

/* Opens the .log for writing if it is closed; returns the fd or -errno. */
int sk_segment_log_fd(struct sk_segment *seg);
/* An fd to read the .log through: the open one (*own false) or a fresh read-only
 * one the caller closes (*own true). -errno if it cannot be opened. */
int sk_segment_borrow_fd(const struct sk_segment *seg, bool *own);
/* Opens every file of the segment for a sync to use. */
int sk_segment_hold(struct sk_segment *seg);
/* Closes every fd of the segment; the maps stay. */
void sk_segment_release(struct sk_segment *seg);

/* The one indexing rule, shared by append and recovery so that a rebuilt index
 * equals the one written while appending: a batch gets an entry when more than
 * interval bytes lie between the previous entry's batch and it. */
int sk_segment_index_batch(struct sk_segment *seg, const struct sk_peek *h, uint32_t pos,
                           int64_t interval);
/* Accounts one batch written at pos (size, offsets, timestamps, index). */
int sk_segment_account(struct sk_segment *seg, const struct sk_peek *h, uint32_t pos,
                       int64_t interval);
/* Makes the segment inactive: final time index entry, indexes trimmed. */
int sk_segment_seal(struct sk_segment *seg);
/* Reopens a sealed segment for appends (after truncation made it the last):
 * indexes preallocated again, .log fd open. */
int sk_segment_unseal(struct sk_segment *seg, int64_t index_bytes);
/* Drops the batches from byte pos on; next_offset becomes next. */
int sk_segment_truncate(struct sk_segment *seg, uint32_t pos, int64_t next);
/* Renames the files to *.deleted and closes them; deleted at once if delay is 0. */
int sk_segment_delete(struct sk_segment *seg, const char *dir, bool unlink_now);
/* Largest timestamp for retention: max_ts, else the file's mtime. */
int64_t sk_segment_largest_ts(const struct sk_segment *seg);

/* The bad range that contains offset, or NULL. */
const struct sk_bad_range *sk_segment_bad_at(const struct sk_segment *seg, int64_t offset);
int sk_segment_add_bad(struct sk_segment *seg, const struct sk_bad_range *r);

#endif
