/* The process-wide sync counters (skein/sync_stats.h). Formatting is done by
 * hand because the SIGUSR1 handler calls it: no stdio, no locks. */
#include <stdatomic.h>
#include <stdint.h>

#include "skein/sync_stats.h"

static _Atomic uint64_t own[SK_SYNC_KINDS], covered[SK_SYNC_KINDS], syncfs_calls;

static const char *const kind_names[SK_SYNC_KINDS] = {
    "data", "index", "dir", "meta", "checkpoint", "snapshot", "metalog", "cleaner",
};

void sk_sync_count(enum sk_sync_kind k, unsigned n)
{
    atomic_fetch_add_explicit(&own[k], n, memory_order_relaxed);
}

void sk_sync_count_covered(enum sk_sync_kind k, unsigned n)
{
    atomic_fetch_add_explicit(&covered[k], n, memory_order_relaxed);
}

void sk_sync_count_syncfs(void)
{
    atomic_fetch_add_explicit(&syncfs_calls, 1, memory_order_relaxed);
}

struct out {
    char *buf;
    size_t cap, len;
};

static void put_str(struct out *o, const char *s)
{
    for (; *s; s++)
        if (o->len + 1 < o->cap)
            o->buf[o->len++] = *s;
}

static void put_u64(struct out *o, uint64_t v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && o->len + 1 < o->cap)
        o->buf[o->len++] = digits[--n];
}

static void put_kinds(struct out *o, _Atomic uint64_t *counts, int last)
{
    for (int k = 0; k <= last; k++) {
        put_str(o, " ");
        put_str(o, kind_names[k]);
        put_str(o, "=");
        put_u64(o, atomic_load_explicit(&counts[k], memory_order_relaxed));
    }
}

size_t sk_sync_stats_format(char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    if (cap == 0)
        return 0;
    put_str(&o, "sync counts: fdatasync");
    put_kinds(&o, own, SK_SYNC_KINDS - 1);
    put_str(&o, "; syncfs ");
    put_u64(&o, atomic_load_explicit(&syncfs_calls, memory_order_relaxed));
    /* only the partitions' files are ever covered by a syncfs */
    put_str(&o, " covering");
    put_kinds(&o, covered, SK_SYNC_META);
    put_str(&o, "\n");
    buf[o.len] = '\0';
    return o.len;
}
