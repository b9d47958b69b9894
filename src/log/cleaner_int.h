/* The cleaner's parts, shared by src/log/cleaner*.c only. */
#ifndef SK_LOG_CLEANER_INT_H
#define SK_LOG_CLEANER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/log_cleaner.h"

#include "segment.h"

/* ---- key -> last offset map (cleaner_map.c) --------------------------------
 * Keys are stored as a 128-bit hash, as Kafka stores an MD5: the map's size
 * depends on the number of keys, not their length, and a collision (which
 * would drop a live record) is as unlikely as in Kafka. */
struct sk_clean_map_entry {
    uint64_t h1, h2;   /* h1 == 0 && h2 == 0: free slot */
    int64_t offset;
};

struct sk_clean_map {
    struct sk_clean_map_entry *slots;
    size_t cap;        /* power of two */
    size_t used;
    size_t max_cap;    /* from the memory budget */
};

void sk_clean_map_init(struct sk_clean_map *m, size_t max_bytes);
void sk_clean_map_free(struct sk_clean_map *m);
/* Records offset as the key's latest (offsets only grow). -ENOSPC when full. */
int sk_clean_map_put(struct sk_clean_map *m, const uint8_t *key, size_t len, int64_t offset);
/* The key's latest offset, or -1. */
int64_t sk_clean_map_get(const struct sk_clean_map *m, const uint8_t *key, size_t len);

/* ---- one batch through the filter (cleaner_batch.c) ------------------------ */
struct sk_clean_filter {
    const struct sk_clean_map *map;
    int64_t now_ms;
    int64_t delete_retention_ms;
    const struct sk_clean_producer *producers;   /* sorted by producer id */
    size_t nproducers;
    struct sk_buf dec;       /* decompressed records */
    struct sk_buf recs;      /* re-encoded retained records */
    uint64_t kept, dropped;
    int64_t max_horizon;
};

/* Appends what survives of the batch (len bytes at b) to out: the batch itself if
 * untouched, a rebuilt one, an empty header for a producer's last batch, or
 * nothing. 0 or -errno (-EBADMSG for a batch that does not parse). */
int sk_clean_filter_batch(struct sk_clean_filter *f, const uint8_t *b, size_t len,
                          struct sk_buf *out);
/* Adds the keys of the batch with offset >= from to the map. */
int sk_clean_map_batch(struct sk_clean_map *m, const uint8_t *b, size_t len, int64_t from,
                       struct sk_buf *dec);

/* ---- files (cleaner_swap.c) ------------------------------------------------- */
/* A new segment at base whose files are <base>.log.cleaned etc. */
int sk_clean_segment_create(const char *dir, int64_t base, int64_t index_bytes, int64_t now_ms,
                            struct sk_segment **out);
/* Closes and removes the .cleaned (or .swap) files of an unfinished segment. */
void sk_clean_segment_discard(const char *dir, struct sk_segment *seg);
/* Seals seg and, through syncer (NULL: blocking), makes its files durable and
 * renames them .cleaned -> .swap (steps 1-2 in cleaner_swap.c); a failed sync
 * ends it with the error and no rename. */
struct sk_clean_sync;
struct sk_syncer;
int sk_clean_sync_start(const char *dir, struct sk_segment *seg, const struct sk_syncer *syncer,
                        struct sk_clean_sync **out);
/* 1: still running; else the result (0 or -errno), and s is freed. */
int sk_clean_sync_poll(struct sk_clean_sync *s);
/* Undoes its rename and frees s; one still in flight frees itself when its
 * syncs complete, without renaming (the caller discards the files). */
void sk_clean_sync_cancel(struct sk_clean_sync *s);
struct sk_plog;
/* The .swap segment seg takes the place of the log's segments [from, from + n). */
void sk_plog_replace_segments(struct sk_plog *p, size_t from, size_t n, struct sk_segment *seg);

#endif
