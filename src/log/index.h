/* The two sparse indexes of a segment, kept in Kafka's file formats.
 *
 * An index file holds fixed-size big-endian entries. While its segment is active
 * the file is preallocated to segment.index.bytes (so the page cache never needs
 * to grow it on the append path) and trimmed to its entries when the segment rolls
 * or the log closes, as Kafka does; Kafka's tools read every byte of the file as
 * entries, so an untrimmed file after a crash carries zero entries at its end.
 * Loading therefore keeps only the longest strictly increasing prefix.
 *
 * As in Kafka the file is memory-mapped read-write and its fd closed: a broker
 * with tens of thousands of segments cannot hold an fd per index. Operations that
 * need one (resizing, disk reservation) open the file for the moment, unless the
 * segment holds the fd because a sync of it is pending (sk_index_hold_fd).
 *
 * Appended entries are not stored through the mapping: once writeback has
 * cleaned a page of it, the kernel write-protects the page again, and the next
 * store faults (page_mkwrite). With one index entry per batch and thousands of
 * partitions, that is a fault per index per batch. So new entries collect in a
 * small buffer and reach the file with one pwrite per page of entries, when the
 * index is trimmed (a roll or a clean close) or by sk_index_flush; lookups read
 * the file's entries through the mapping and the newest from the buffer. The
 * file holds a valid prefix at every moment, so a crash loses at most the
 * buffered entries: a load trusts the prefix and reads the batches past its
 * last entry from the log, or recovery rebuilds the index.
 *
 * Blocks are still reserved with fallocate a chunk ahead of the entries, so a
 * full disk shows up as -ENOSPC from an append, not from a later flush.
 *
 *   .index      int32 offset - base, int32 file position     (8 bytes)
 *   .timeindex  int64 timestamp, int32 offset - base          (12 bytes)
 */
#ifndef SK_LOG_INDEX_H
#define SK_LOG_INDEX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <stddef.h>

#define SK_OIDX_ENTRY 8
#define SK_TIDX_ENTRY 12

struct sk_index {
    int fd;                /* -1 unless held for a pending sync */
    char *path;
    uint32_t esize;
    uint32_t entries;      /* valid entries, a prefix of the file */
    uint32_t max_entries;  /* what the file has room for */
    uint8_t *map;          /* shared read-write view of the whole file */
    uint32_t flushed;      /* entries [0, flushed) are in the file ... */
    uint8_t *pend;         /* ... and [flushed, entries) only here */
    uint32_t pend_cap;     /* entries pend has room for */
    size_t map_len;
    size_t reserved;       /* bytes from 0 known to have disk blocks */
    int64_t base;          /* the segment's base offset */
};

/* Maps an existing (or new, empty) file; entries stays 0 until sk_*idx_load. */
/* pwrite of all len bytes at `at`, retried on EINTR and short writes;
 * 0 or -errno. */
int sk_pwrite_all(int fd, const uint8_t *buf, size_t len, off_t at);
int sk_index_open(struct sk_index *ix, const char *path, uint32_t esize, int64_t base);
/* Creates the file empty (truncating any leftover) and sizes it for bytes. */
int sk_index_create(struct sk_index *ix, const char *path, uint32_t esize, int64_t base,
                    uint64_t bytes);
/* Unmaps the file and closes a held fd. */
void sk_index_close(struct sk_index *ix);
/* Keeps an fd to the file open, for a sync to use; released by sk_index_drop_fd. */
int sk_index_hold_fd(struct sk_index *ix);
void sk_index_drop_fd(struct sk_index *ix);
/* Sets the file length to room for max(bytes / esize, entries) entries. */
int sk_index_resize(struct sk_index *ix, uint64_t bytes);
/* Shrinks the file to exactly its entries. */
int sk_index_trim(struct sk_index *ix);
/* Drops entries from n on, zeroing them on disk so a later load cannot mistake
 * stale entries for live ones. */
int sk_index_truncate(struct sk_index *ix, uint32_t n);
/* Drops entries from n on in memory only (entries past n that reached the
 * file stay there, unreachable: a load's sanity check stops at them). */
void sk_index_forget(struct sk_index *ix, uint32_t n);
int sk_index_append(struct sk_index *ix, const uint8_t *entry);
/* Writes the buffered entries to the file. */
int sk_index_flush(struct sk_index *ix);
/* After a load read the file's valid prefix of n entries. */
void sk_index_loaded(struct sk_index *ix, uint32_t n);
/* Entry i as stored in the file (for loading), and as the index sees it. */
static inline const uint8_t *sk_index_file_at(const struct sk_index *ix, uint32_t i)
{
    return ix->map + (size_t)i * ix->esize;
}
static inline const uint8_t *sk_index_at(const struct sk_index *ix, uint32_t i)
{
    if (i < ix->flushed)
        return sk_index_file_at(ix, i);
    return ix->pend + (size_t)(i - ix->flushed) * ix->esize;
}

/* offset index */
int64_t sk_oidx_offset(const struct sk_index *ix, uint32_t i);
uint32_t sk_oidx_pos(const struct sk_index *ix, uint32_t i);
bool sk_oidx_full(const struct sk_index *ix);
/* Appends (offset, pos) if offset is beyond the last entry and there is room. */
int sk_oidx_append(struct sk_index *ix, int64_t offset, uint32_t pos);
/* Largest entry with offset <= target; (base, 0) if none. */
void sk_oidx_lookup(const struct sk_index *ix, int64_t target, int64_t *offset, uint32_t *pos);
/* Keeps the valid prefix of the file's entries (see the comment at the top). */
void sk_oidx_load(struct sk_index *ix);
int sk_oidx_truncate_to(struct sk_index *ix, int64_t offset);

/* time index */
int64_t sk_tidx_ts(const struct sk_index *ix, uint32_t i);
int64_t sk_tidx_offset(const struct sk_index *ix, uint32_t i);
/* Kafka keeps one slot free so that sealing can always add the final entry. */
bool sk_tidx_full(const struct sk_index *ix);
/* Appends (ts, offset) only if ts is larger than the last entry's. */
int sk_tidx_maybe_append(struct sk_index *ix, int64_t ts, int64_t offset, bool skip_full_check);
/* Offset of the largest entry with timestamp <= ts; base if none. */
int64_t sk_tidx_lookup(const struct sk_index *ix, int64_t ts);
void sk_tidx_load(struct sk_index *ix);
int sk_tidx_truncate_to(struct sk_index *ix, int64_t offset);

#endif
