/* Counts of the syncs the node issues, by what they make durable, so that a
 * benchmark can explain the sync cost of a workload (how many per-file
 * fdatasyncs, how many a syncfs stood in for, and of which files). Counters
 * are process-wide relaxed atomics: one increment per sync, never per record.
 *
 * A running broker writes them to stderr on SIGUSR1 (src/main.c); the line is
 * formatted without locks or allocation, so the signal handler may do it. */
#ifndef SK_SYNC_STATS_H
#define SK_SYNC_STATS_H

#include <stddef.h>

enum sk_sync_kind {
    SK_SYNC_DATA,       /* a segment's .log */
    SK_SYNC_INDEX,      /* .index / .timeindex of a rolled segment */
    SK_SYNC_DIR,        /* a partition's directory or the log dir */
    SK_SYNC_META,       /* partition.metadata, leader-epoch-checkpoint */
    SK_SYNC_CHECKPOINT, /* files written whole and renamed (checkpoints, epochs) */
    SK_SYNC_SNAPSHOT,   /* producer-state snapshots */
    SK_SYNC_METALOG,    /* the metadata log */
    SK_SYNC_CLEANER,    /* the cleaner's swapped segments */
    SK_SYNC_KINDS
};

/* n files of kind k were fdatasynced (or fsynced) one by one. */
void sk_sync_count(enum sk_sync_kind k, unsigned n);
/* n files of kind k were covered by a syncfs instead of their own sync. */
void sk_sync_count_covered(enum sk_sync_kind k, unsigned n);
/* One syncfs of a log dir ran. */
void sk_sync_count_syncfs(void);

/* Writes one line, "sync counts: fdatasync data=N index=N ... ; syncfs N
 * covering data=N ...\n", into buf (NUL-terminated, cut to cap); returns its
 * length. Async-signal-safe. */
size_t sk_sync_stats_format(char *buf, size_t cap);

#endif
