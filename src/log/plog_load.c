/* Loading a partition directory: which segments exist, which can be trusted as
 * they are (wholly below the recovery point, indexes sane) and which must be
 * recovered batch by batch. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/log_cleaner.h"

#include "plog-int.h"
#include "recover.h"
#include "scan.h"

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), sl = strlen(suffix);
    return n >= sl && strcmp(name + n - sl, suffix) == 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Leftovers of interrupted deletions, cleanings and checkpoint writes go. */
static bool stray_file(const char *name)
{
    return has_suffix(name, ".deleted") || has_suffix(name, ".cleaned") ||
           has_suffix(name, ".swap") || has_suffix(name, ".tmp");
}

static int list_bases(struct sk_plog *p, int64_t **bases, size_t *n, uint32_t *strays)
{
    DIR *d = opendir(p->dir);
    struct dirent *de;
    size_t cap = 0;

    *bases = NULL;
    *n = 0;
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        int64_t b = sk_segment_name_base(de->d_name, ".log");
        if (stray_file(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) == 0)
            (*strays)++;
        if (b < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *nb = realloc(*bases, cap * sizeof(*nb));
            if (!nb) {
                closedir(d);
                return -ENOMEM;
            }
            *bases = nb;
        }
        (*bases)[(*n)++] = b;
    }
    closedir(d);
    if (*n > 1)
        qsort(*bases, *n, sizeof(**bases), cmp_i64);
    return 0;
}

/* Index files whose .log is gone would be adopted by a future segment of the same
 * base; remove them. */
static int remove_orphan_indexes(struct sk_plog *p, uint32_t *strays)
{
    DIR *d = opendir(p->dir);
    struct dirent *de;
    char path[SK_SEG_PATH_MAX];

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        int64_t b = sk_segment_name_base(de->d_name, ".index");
        if (b < 0)
            b = sk_segment_name_base(de->d_name, ".timeindex");
        if (b < 0 || sk_segment_path(path, sizeof(path), p->dir, b, ".log") < 0)
            continue;
        if (access(path, F_OK) != 0 && unlinkat(dirfd(d), de->d_name, 0) == 0)
            (*strays)++;
    }
    closedir(d);
    return 0;
}

/* Checks that the last offset index entry points at the batch holding its offset,
 * then walks the batches after it for the segment's end and largest timestamp. */
static int load_trusted(struct sk_segment *seg)
{
    struct sk_scan *s = malloc(sizeof(*s));
    struct sk_scan_item it;
    uint32_t start = 0;
    int k;

    if (!s)
        return -ENOMEM;
    sk_oidx_load(&seg->oidx);
    sk_tidx_load(&seg->tidx);
    if (seg->oidx.entries) {
        int64_t off = sk_oidx_offset(&seg->oidx, seg->oidx.entries - 1);
        start = sk_oidx_pos(&seg->oidx, seg->oidx.entries - 1);
        sk_scan_init(s, seg, seg->fd, start, seg->size);
        k = start < seg->size ? sk_scan_next(s, &it) : -EBADMSG;
        if (k != SK_SCAN_BATCH || it.h.base > off || it.h.last < off) {
            free(s);
            return -EBADMSG;
        }
    }
    if (seg->tidx.entries) {
        seg->max_ts = sk_tidx_ts(&seg->tidx, seg->tidx.entries - 1);
        seg->max_ts_offset = sk_tidx_offset(&seg->tidx, seg->tidx.entries - 1);
    }
    seg->last_index_pos = start;
    sk_scan_init(s, seg, seg->fd, start, seg->size);
    while ((k = sk_scan_next(s, &it)) == SK_SCAN_BATCH) {
        if (it.pos == 0)
            seg->first_ts = it.h.max_ts;
        if (it.h.max_ts > seg->max_ts) {
            seg->max_ts = it.h.max_ts;
            seg->max_ts_offset = it.h.last;
        }
        seg->next_offset = it.h.last + 1;
    }
    free(s);
    return k;
}

/* The max timestamp of the first batch drives segment.ms; it is read, not kept. */
static void load_first_ts(struct sk_segment *seg)
{
    struct sk_scan *s = malloc(sizeof(*s));
    struct sk_scan_item it;

    if (!s)
        return;
    sk_scan_init(s, seg, seg->fd, 0, seg->size);
    if (seg->size && sk_scan_next(s, &it) == SK_SCAN_BATCH)
        seg->first_ts = it.h.max_ts;
    free(s);
}

static int recover_one(struct sk_plog *p, size_t i, int64_t next_base,
                       struct sk_plog_open_report *rep)
{
    struct sk_recover_ctx ctx = {
        .scratch = &p->scratch,
        .scratch_cap = &p->scratch_cap,
        .interval = p->cfg.index_interval_bytes,
        .index_bytes = p->cfg.segment_index_bytes,
        .last = i + 1 == p->nsegs,
        .next_base = next_base,
        .epochs = &p->epochs,
    };
    int r = sk_segment_recover(p->segs[i], &ctx);

    rep->truncated_bytes += ctx.truncated;
    rep->corrupt_ranges += ctx.bad;
    return r;
}

/* Trusts or recovers segment i. A segment is trusted as it stands only if its
 * indexes are sane and it ends at or below the recovery point: anything past that
 * point may be writes that never reached the disk, so it is checked batch by
 * batch (Kafka does the same from the segment holding the recovery point on). */
static int load_one(struct sk_plog *p, size_t i, bool index_fresh, int64_t rp,
                    struct sk_plog_open_report *rep)
{
    struct sk_segment *seg = p->segs[i];
    bool last = i + 1 == p->nsegs;
    int64_t next_base = last ? INT64_MAX : p->segs[i + 1]->base;
    int r;

    if ((r = sk_segment_log_fd(seg)) < 0)
        return r;
    if (!index_fresh && load_trusted(seg) == 0 && seg->next_offset <= rp)
        return last ? 0 : sk_segment_seal(seg);
    if (last || next_base > rp)
        rep->segments_recovered++;
    else
        rep->indexes_rebuilt++;
    return recover_one(p, i, next_base, rep);
}

static int open_all(struct sk_plog *p, const int64_t *bases, size_t n, bool *fresh,
                    int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        struct sk_segment *seg;
        int r = sk_segment_open(p->dir, bases[i], now_ms, &seg, &fresh[i]);
        if (r == 0 && (r = sk_plog_push_segment(p, seg)) < 0)
            sk_segment_close(seg, false);
        if (r < 0)
            return r;
    }
    return 0;
}

static int load_segments(struct sk_plog *p, const struct sk_plog_open_opts *o,
                         const int64_t *bases, size_t n, struct sk_plog_open_report *rep)
{
    bool *fresh = calloc(n ? n : 1, sizeof(*fresh));
    int64_t rp = o->recovery_point < 0 ? 0 : o->recovery_point;
    int r;

    if (!fresh)
        return -ENOMEM;
    r = open_all(p, bases, n, fresh, o->now_ms);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = load_one(p, i, fresh[i], rp, rep);
        if (r == 0 && p->segs[i]->first_ts < 0)
            load_first_ts(p->segs[i]);
        /* one segment's files at a time: a log of thousands of segments
         * must load within the fd limit; a sync reopens what it needs */
        if (i + 1 < n)
            sk_segment_release(p->segs[i]);
    }
    free(fresh);
    rep->segments_loaded = (uint32_t)n;
    return r;
}

int sk_plog_load(struct sk_plog *p, const struct sk_plog_open_opts *o,
                 struct sk_plog_open_report *rep)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int r = 0;

    /* a directory created just now has nothing to list: creating thousands of
     * partitions should not read each empty directory twice; before strays
     * go, a .swap may be the only copy of cleaned data */
    if (!p->parent_dirty) {
        if ((r = sk_plog_complete_swaps(p->dir, &rep->stray_files_removed)) < 0 ||
            (r = list_bases(p, &bases, &n, &rep->stray_files_removed)) < 0)
            return r;
        if ((r = remove_orphan_indexes(p, &rep->stray_files_removed)) == 0)
            r = load_segments(p, o, bases, n, rep);
        free(bases);
    }
    if (r == 0 && p->nsegs == 0) {
        struct sk_segment *seg;
        int64_t base = o->log_start_offset > 0 ? o->log_start_offset : 0;
        r = sk_segment_create(p->dir, base, p->cfg.segment_index_bytes, o->now_ms, &seg);
        if (r == 0 && (r = sk_plog_push_segment(p, seg)) < 0)
            sk_segment_close(seg, false);
        p->dir_dirty = true;
    }
    if (r < 0)
        return r;
    if ((r = sk_segment_unseal(sk_plog_active(p), p->cfg.segment_index_bytes)) < 0)
        return r;
    int64_t leo = sk_plog_log_end_offset(p);
    p->log_start = p->segs[0]->base;
    p->recovery_point = o->recovery_point < 0 ? 0 : o->recovery_point;
    if (p->recovery_point > leo)
        p->recovery_point = leo;
    sk_epoch_truncate_from_end(&p->epochs, leo);
    return sk_plog_set_log_start(p, o->log_start_offset > leo ? leo : o->log_start_offset);
}
