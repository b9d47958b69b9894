/* Deleting the metadata log below its snapshots, by Kafka's rules for
 * __cluster_metadata (KafkaMetadataLog's cleaning): the newest snapshot is
 * always kept; the oldest one, and the log below the snapshot after it, go
 * while the log and the snapshots together exceed
 * metadata.max.retention.bytes, or while that oldest snapshot is older
 * than metadata.max.retention.ms. The log start itself counts as the
 * oldest "snapshot" (of no bytes) while no snapshot sits at it, so the log
 * below the first snapshot goes by the byte rule as well. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/meta_snapshot.h"
#include "skein/plog.h"

#define MAX_KEPT 64

struct snap_file {
    int64_t end;
    int64_t bytes;
    int64_t mtime_ms; /* -1: the log start, which has no file */
};

static int by_end(const void *a, const void *b)
{
    const struct snap_file *x = a, *y = b;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The snapshots at or above the log start, oldest first, the log start
 * itself first when no snapshot is there. */
static int list(struct sk_plog *plog, struct snap_file *out)
{
    const char *dir = sk_plog_dir(plog);
    int64_t start = sk_plog_log_start_offset(plog);
    int n = 0;
    int64_t below = sk_plog_log_end_offset(plog);
    while (n < MAX_KEPT - 1) {
        int64_t end = sk_meta_snapshot_latest(dir, below);
        if (end < start || end < 0)
            break;
        char path[4400];
        struct stat st;
        if (sk_meta_snapshot_path(dir, end, path, sizeof path) < 0 || stat(path, &st) < 0)
            break;
        out[n++] = (struct snap_file){end, st.st_size,
                                      (int64_t)st.st_mtim.tv_sec * 1000 +
                                          st.st_mtim.tv_nsec / 1000000};
        below = end - 1;
    }
    if (n == 0 || out[n - 1].end != start)
        out[n++] = (struct snap_file){start, 0, -1};
    qsort(out, (size_t)n, sizeof *out, by_end);
    return n;
}

static bool over(const struct snap_file *oldest, int64_t total, int64_t max_bytes,
                 int64_t max_ms, int64_t now_ms)
{
    if (max_bytes >= 0 && total > max_bytes)
        return true;
    return max_ms >= 0 && oldest->mtime_ms >= 0 && now_ms - oldest->mtime_ms > max_ms;
}

int sk_meta_snapshot_clean(struct sk_plog *plog, int64_t max_bytes, int64_t max_ms,
                           int64_t now_ms)
{
    struct snap_file s[MAX_KEPT];
    int n = list(plog, s), deleted = 0;
    int64_t snap_bytes = 0;
    for (int i = 0; i < n; i++)
        snap_bytes += s[i].bytes;
    for (int i = 0; i + 1 < n; i++) {
        int64_t total = (int64_t)sk_plog_size_bytes(plog) + snap_bytes;
        if (!over(&s[i], total, max_bytes, max_ms, now_ms))
            break;
        int rc = sk_plog_delete_records(plog, s[i + 1].end);
        if (rc < 0)
            return rc;
        if (s[i].mtime_ms >= 0) {
            char path[4400];
            if (sk_meta_snapshot_path(sk_plog_dir(plog), s[i].end, path, sizeof path) == 0)
                unlink(path);
        }
        snap_bytes -= s[i].bytes;
        deleted++;
    }
    return deleted;
}
