/* Putting a cleaned segment in place of the segments it was made from, so that a
 * crash at any point leaves either the old segments or the new one, never a mix
 * and never neither (Kafka's replaceSegments):
 *   1. <base>.log.cleaned (+ .index.cleaned, .timeindex.cleaned) written, fsynced;
 *   2. renamed to *.swap, directory fsynced: from here on the new data wins;
 *   3. the old segments' files removed;
 *   4. *.swap renamed to the final names.
 * A load that finds a .log.swap redoes 3 and 4 (sk_plog_complete_swaps); a
 * .cleaned file is an unfinished step 1 and is removed with the other strays.
 * Open fds of the old files (a fetch's dup'ed fd) keep their data readable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/sync_stats.h"
#include "skein/syncer.h"

#include "atomic_file.h"
#include "cleaner_int.h"
#include "plog-int.h"

static const char *const suffixes[] = {".log", ".index", ".timeindex"};

static int file_path(char *buf, size_t cap, const char *dir, int64_t base, int i,
                     const char *state)
{
    char s[32];

    snprintf(s, sizeof(s), "%s%s", suffixes[i], state);
    return sk_segment_path(buf, cap, dir, base, s);
}

int sk_clean_segment_create(const char *dir, int64_t base, int64_t index_bytes, int64_t now_ms,
                            struct sk_segment **out)
{
    struct sk_segment *seg = calloc(1, sizeof(*seg));
    char path[SK_SEG_PATH_MAX];
    int r;

    if (!seg)
        return -ENOMEM;
    *seg = (struct sk_segment){.base = base, .fd = -1, .next_offset = base, .max_ts = -1,
                               .max_ts_offset = base, .first_ts = -1, .created_ms = now_ms};
    seg->oidx.fd = seg->tidx.fd = -1;
    if ((r = file_path(path, sizeof(path), dir, base, 0, ".cleaned")) == 0 &&
        !(seg->path = strdup(path)))
        r = -ENOMEM;
    if (r == 0) {
        seg->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        r = seg->fd < 0 ? -errno : 0;
    }
    for (int i = 1; r == 0 && i <= 2; i++) {
        if ((r = file_path(path, sizeof(path), dir, base, i, ".cleaned")) < 0)
            break;
        r = sk_index_create(i == 1 ? &seg->oidx : &seg->tidx, path,
                            i == 1 ? SK_OIDX_ENTRY : SK_TIDX_ENTRY, base, (uint64_t)index_bytes);
    }
    if (r < 0) {
        sk_clean_segment_discard(dir, seg);
        return r;
    }
    *out = seg;
    return 0;
}

void sk_clean_segment_discard(const char *dir, struct sk_segment *seg)
{
    char path[SK_SEG_PATH_MAX];

    if (!seg)
        return;
    for (int i = 0; i < 3; i++) {
        if (file_path(path, sizeof(path), dir, seg->base, i, ".cleaned") == 0)
            unlink(path);
        if (file_path(path, sizeof(path), dir, seg->base, i, ".swap") == 0)
            unlink(path);
    }
    sk_segment_close(seg, false);
}

static int rename_state(const char *dir, int64_t base, const char *from, const char *to)
{
    char a[SK_SEG_PATH_MAX], b[SK_SEG_PATH_MAX];
    int err = 0;

    for (int i = 0; i < 3; i++) {
        if (file_path(a, sizeof(a), dir, base, i, from) < 0 ||
            file_path(b, sizeof(b), dir, base, i, to) < 0)
            return -ENAMETOOLONG;
        if (rename(a, b) < 0 && !err)
            err = -errno;
    }
    return err;
}

/* ---- steps 1 and 2, through the syncer ----------------------------------------
 * fdatasync of a freshly written group and a directory fsync can take long
 * (hundreds of ms for a large group on a busy disk); they go to the shard's
 * syncer (its io_uring) on dup'ed fds, and the job polls until they are done
 * while the shard goes on serving. The files are ones no one else knows of
 * yet, so nothing waits on them but the job.
 *
 * A failed sync aborts the swap: the .cleaned files are never renamed, and
 * the job's failure removes them, leaving the old segments. Never retry, and
 * never treat what the page cache holds as good after a failed fsync: Linux
 * may have dropped the dirty pages and report success for the next fsync of
 * the same file ("fsyncgate", PostgreSQL 2018), so the new segment could be
 * missing data that the old ones, already durable, still hold. */

struct sk_clean_sync {
    const struct sk_syncer *syncer;
    char *dir;
    int64_t base;
    int fds[3];
    int dirfd;
    int pending;     /* data syncs not yet completed (+1 while submitting) */
    int result;
    bool running;    /* the job may poll; false once steps 1-2 ended */
    bool cancelled;  /* the job is gone: the completion frees s */
};

static void sync_free(struct sk_clean_sync *s)
{
    for (int i = 0; i < 3; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s);
}

static void sync_end(struct sk_clean_sync *s, int r)
{
    s->result = r;
    s->running = false;
    if (s->cancelled)
        sync_free(s); /* the job's discard removed the files, .swap names too */
}

static void dir_synced(void *arg, int res)
{
    sync_end(arg, res);
}

/* Step 2 only once every file's data is on disk: .swap wins at a load. */
static void data_synced(void *arg, int res)
{
    struct sk_clean_sync *s = arg;
    if (res < 0 && s->result == 0)
        s->result = res;
    if (--s->pending > 0)
        return;
    int r = s->result;
    if (r == 0 && s->cancelled)
        r = -ECANCELED;
    if (r == 0)
        r = rename_state(s->dir, s->base, ".cleaned", ".swap");
    if (r == 0 && (s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        r = -errno;
    if (r == 0) {
        sk_sync_count(SK_SYNC_DIR, 1);
        r = s->syncer->sync(s->syncer->ctx, s->dirfd, false, dir_synced, s);
    }
    if (r < 0)
        sync_end(s, r);
}

int sk_clean_sync_start(const char *dir, struct sk_segment *seg, const struct sk_syncer *syncer,
                        struct sk_clean_sync **out)
{
    struct sk_clean_sync *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return -ENOMEM;
    s->fds[0] = s->fds[1] = s->fds[2] = s->dirfd = -1;
    s->base = seg->base;
    s->syncer = sk_syncer_or_blocking(syncer);
    if ((r = sk_segment_seal(seg)) < 0 || !(s->dir = strdup(dir))) {
        sync_free(s);
        return r < 0 ? r : -ENOMEM;
    }
    /* The indexes are mapped with their files closed: open all three for the
     * syncs, then let the segment go back to holding none. */
    if ((r = sk_segment_hold(seg)) < 0) {
        sync_free(s);
        return r;
    }
    const int src[3] = {seg->fd, seg->oidx.fd, seg->tidx.fd};
    for (int i = 0; i < 3 && r == 0; i++)
        if ((s->fds[i] = dup(src[i])) < 0)
            r = -errno;
    sk_segment_release(seg);
    if (r < 0) {
        sync_free(s);
        return r;
    }
    s->running = true;
    s->pending = 4; /* the three syncs and this submission, so none ends it early */
    *out = s;
    sk_sync_count(SK_SYNC_CLEANER, 3);
    for (int i = 0; i < 3; i++) {
        r = s->syncer->sync(s->syncer->ctx, s->fds[i], true, data_synced, s);
        if (r < 0)
            data_synced(s, r);
    }
    data_synced(s, 0);
    return 0;
}

int sk_clean_sync_poll(struct sk_clean_sync *s)
{
    if (s->running)
        return 1;
    int r = s->result;
    sync_free(s);
    return r;
}

void sk_clean_sync_cancel(struct sk_clean_sync *s)
{
    if (s->running) {
        s->cancelled = true;
        return;
    }
    /* not committed after all: the .swap names would make a load install it */
    if (s->result == 0)
        (void)rename_state(s->dir, s->base, ".swap", ".cleaned");
    sync_free(s);
}

/* Steps 3 and 4, once the .swap files are durable. No directory fsync after
 * the final renames: a crash that loses them leaves the .swap, which the load
 * completes, and journaling file systems keep the unlinks ordered before the
 * renames that follow them, as Kafka also relies on. */
/* The segment's files go by their final names from here on (its .log and
 * indexes are reopened by path when needed). */
static void adopt_final_paths(struct sk_segment *seg, const char *dir)
{
    char path[SK_SEG_PATH_MAX];
    char **slot[3] = {&seg->path, &seg->oidx.path, &seg->tidx.path};

    for (int i = 0; i < 3; i++) {
        char *c = file_path(path, sizeof(path), dir, seg->base, i, "") == 0 ? strdup(path) : NULL;
        if (!c)
            continue; /* keeps the .cleaned name: a later open fails, as a lost file would */
        free(*slot[i]);
        *slot[i] = c;
    }
}

void sk_plog_replace_segments(struct sk_plog *p, size_t from, size_t n, struct sk_segment *seg)
{
    for (size_t i = 0; i < n; i++)
        (void)sk_segment_delete(p->segs[from + i], p->dir, true);
    (void)rename_state(p->dir, seg->base, ".swap", "");
    adopt_final_paths(seg, p->dir);
    p->segs[from] = seg;
    memmove(p->segs + from + 1, p->segs + from + n, (p->nsegs - from - n) * sizeof(*p->segs));
    p->nsegs -= n - 1;
}

/* ---- at load ------------------------------------------------------------------ */

/* Last offset of the batches in a .log.swap file (framing only), base - 1 if none. */
static int64_t swap_last_offset(const char *path, int64_t base)
{
    uint8_t head[SK_BATCH_HEADER_SIZE];
    struct sk_peek h;
    int64_t last = base - 1;
    uint64_t pos = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return last;
    while (pread(fd, head, sizeof(head), (off_t)pos) == (ssize_t)sizeof(head) &&
           sk_peek_read(head, UINT32_MAX, &h)) {
        last = h.last;
        pos += h.size;
    }
    close(fd);
    return last;
}

/* Removes the old segments [base, last] the swap replaces, then renames it in. */
static int complete_one(const char *dir, int64_t base, uint32_t *fixed)
{
    char path[SK_SEG_PATH_MAX];
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return -errno;
    if (file_path(path, sizeof(path), dir, base, 0, ".swap") < 0) {
        closedir(d);
        return -ENAMETOOLONG;
    }
    int64_t last = swap_last_offset(path, base);
    while ((de = readdir(d))) {
        int64_t b = sk_segment_name_base(de->d_name, ".log");
        if (b < 0 || b < base || (b > last && b != base))
            continue;
        for (int i = 0; i < 3; i++)
            if (file_path(path, sizeof(path), dir, b, i, "") == 0 && unlink(path) == 0)
                (*fixed)++;
    }
    closedir(d);
    /* an index .swap that is missing was already renamed, or the load rebuilds it */
    (void)rename_state(dir, base, ".swap", "");
    (*fixed)++;
    return sk_fsync_dir(dir);
}

int sk_plog_complete_swaps(const char *dir, uint32_t *fixed)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t *bases = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        int64_t b = sk_segment_name_base(de->d_name, ".log.swap");
        if (b < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            int64_t *nb = realloc(bases, cap * sizeof(*nb));
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            bases = nb;
        }
        bases[n++] = b;
    }
    closedir(d);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = complete_one(dir, bases[i], fixed);
    free(bases);
    return r;
}
