/* Segment files: naming, creation, accounting of appended batches, sealing,
 * truncation and deletion. Reading and recovery live in scan.c and recover.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"

static const char *const seg_suffixes[] = {".log", ".index", ".timeindex"};

int sk_segment_path(char *buf, size_t cap, const char *dir, int64_t base, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%020" PRId64 "%s", dir, base, suffix);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static struct sk_segment *segment_new(const char *dir, int64_t base, int64_t now_ms)
{
    struct sk_segment *seg = calloc(1, sizeof(*seg));
    char path[SK_SEG_PATH_MAX];

    if (!seg)
        return NULL;
    seg->base = base;
    seg->fd = -1;
    seg->oidx.fd = seg->tidx.fd = -1;
    seg->next_offset = base;
    seg->max_ts = -1;
    seg->max_ts_offset = base;
    seg->first_ts = -1;
    seg->created_ms = now_ms;
    if (sk_segment_path(path, sizeof(path), dir, base, ".log") < 0 ||
        !(seg->path = strdup(path))) {
        free(seg);
        return NULL;
    }
    return seg;
}

/* Opens (create: creates, emptied) both indexes. */
static int segment_indexes(struct sk_segment *seg, const char *dir, bool create,
                           int64_t index_bytes, bool *index_fresh)
{
    char path[SK_SEG_PATH_MAX];
    int r;

    for (int i = 1; i <= 2; i++) {
        struct sk_index *ix = i == 1 ? &seg->oidx : &seg->tidx;
        uint32_t esize = i == 1 ? SK_OIDX_ENTRY : SK_TIDX_ENTRY;
        if ((r = sk_segment_path(path, sizeof(path), dir, seg->base, seg_suffixes[i])) < 0)
            return r;
        if (index_fresh && access(path, F_OK) != 0)
            *index_fresh = true;
        r = create ? sk_index_create(ix, path, esize, seg->base, (uint64_t)index_bytes)
                   : sk_index_open(ix, path, esize, seg->base);
        if (r < 0)
            return r;
    }
    return 0;
}

/* O_EXCL: a leftover .log with this base would hold offsets we are about to
 * reuse; better to fail loudly than to append after someone else's data. An
 * empty leftover (a crash right after a roll) is adopted. */
static int segment_create_log(struct sk_segment *seg)
{
    struct stat st;

    seg->fd = open(seg->path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
    if (seg->fd >= 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    if (stat(seg->path, &st) < 0 || st.st_size != 0)
        return -EEXIST;
    return sk_segment_log_fd(seg);
}

int sk_segment_create(const char *dir, int64_t base, int64_t index_bytes, int64_t now_ms,
                      struct sk_segment **out)
{
    struct sk_segment *seg = segment_new(dir, base, now_ms);
    int r;

    if (!seg)
        return -ENOMEM;
    r = segment_create_log(seg);
    if (r == 0)
        r = segment_indexes(seg, dir, true, index_bytes, NULL);
    if (r < 0) {
        sk_segment_close(seg, false);
        return r;
    }
    *out = seg;
    return 0;
}

int sk_segment_open(const char *dir, int64_t base, int64_t now_ms, struct sk_segment **out,
                    bool *index_fresh)
{
    struct sk_segment *seg = segment_new(dir, base, now_ms);
    struct stat st;
    int r = 0;

    if (!seg)
        return -ENOMEM;
    *index_fresh = false;
    if (stat(seg->path, &st) < 0)
        r = -errno;
    else if (st.st_size > INT32_MAX)
        r = -EFBIG; /* positions in the index are int32 */
    if (r == 0)
        r = segment_indexes(seg, dir, false, 0, index_fresh);
    if (r < 0) {
        sk_segment_close(seg, false);
        return r;
    }
    seg->size = (uint32_t)st.st_size;
    *out = seg;
    return 0;
}

void sk_segment_close(struct sk_segment *seg, bool trim)
{
    if (!seg)
        return;
    if (trim && seg->oidx.path && seg->tidx.path)
        (void)sk_segment_seal(seg); /* best effort: a load rebuilds what is wrong */
    sk_index_close(&seg->oidx);
    sk_index_close(&seg->tidx);
    if (seg->fd >= 0)
        close(seg->fd);
    free(seg->path);
    free(seg->bad);
    free(seg);
}

int sk_segment_log_fd(struct sk_segment *seg)
{
    if (seg->fd < 0 && (seg->fd = open(seg->path, O_RDWR | O_CLOEXEC)) < 0)
        return -errno;
    return seg->fd;
}

int sk_segment_borrow_fd(const struct sk_segment *seg, bool *own)
{
    *own = seg->fd < 0;
    if (!*own)
        return seg->fd;
    int fd = open(seg->path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int sk_segment_hold(struct sk_segment *seg)
{
    int r = sk_segment_log_fd(seg);

    if (r >= 0)
        r = sk_index_hold_fd(&seg->oidx);
    if (r >= 0)
        r = sk_index_hold_fd(&seg->tidx);
    return r < 0 ? r : 0;
}

void sk_segment_release(struct sk_segment *seg)
{
    sk_index_drop_fd(&seg->oidx);
    sk_index_drop_fd(&seg->tidx);
    if (seg->fd >= 0)
        close(seg->fd);
    seg->fd = -1;
}

int sk_segment_index_batch(struct sk_segment *seg, const struct sk_peek *h, uint32_t pos,
                           int64_t interval)
{
    int r;

    if ((int64_t)(pos - seg->last_index_pos) <= interval)
        return 0;
    if ((r = sk_oidx_append(&seg->oidx, h->last, pos)) < 0)
        return r;
    if ((r = sk_tidx_maybe_append(&seg->tidx, seg->max_ts, seg->max_ts_offset, false)) < 0)
        return r;
    seg->last_index_pos = pos;
    return 0;
}

int sk_segment_account(struct sk_segment *seg, const struct sk_peek *h, uint32_t pos,
                       int64_t interval)
{
    if (pos == 0)
        seg->first_ts = h->max_ts;
    if (h->max_ts > seg->max_ts) {
        seg->max_ts = h->max_ts;
        seg->max_ts_offset = h->last;
    }
    int r = sk_segment_index_batch(seg, h, pos, interval);
    seg->size = pos + h->size;
    seg->next_offset = h->last + 1;
    return r;
}

int sk_segment_seal(struct sk_segment *seg)
{
    int r = 0;

    /* As Kafka: the largest timestamp always ends up in the time index, which is
     * where a later load finds it without reading the segment. */
    if (seg->max_ts >= 0)
        r = sk_tidx_maybe_append(&seg->tidx, seg->max_ts, seg->max_ts_offset, true);
    if (r == 0)
        r = sk_index_trim(&seg->oidx);
    if (r == 0)
        r = sk_index_trim(&seg->tidx);
    return r;
}

int sk_segment_unseal(struct sk_segment *seg, int64_t index_bytes)
{
    int r = sk_index_resize(&seg->oidx, (uint64_t)index_bytes);

    if (r == 0)
        r = sk_index_resize(&seg->tidx, (uint64_t)index_bytes);
    if (r == 0 && (r = sk_segment_log_fd(seg)) >= 0)
        r = 0;
    return r;
}

int sk_segment_truncate(struct sk_segment *seg, uint32_t pos, int64_t next)
{
    int r;

    if ((r = sk_segment_log_fd(seg)) < 0)
        return r;
    if (ftruncate(seg->fd, pos) < 0)
        return -errno;
    seg->size = pos;
    seg->next_offset = next;
    if ((r = sk_oidx_truncate_to(&seg->oidx, next)) < 0 ||
        (r = sk_tidx_truncate_to(&seg->tidx, next)) < 0)
        return r;
    seg->last_index_pos = seg->oidx.entries ? sk_oidx_pos(&seg->oidx, seg->oidx.entries - 1) : 0;
    seg->max_ts = -1;
    seg->max_ts_offset = seg->base;
    if (seg->tidx.entries) {
        seg->max_ts = sk_tidx_ts(&seg->tidx, seg->tidx.entries - 1);
        seg->max_ts_offset = sk_tidx_offset(&seg->tidx, seg->tidx.entries - 1);
    }
    if (pos == 0)
        seg->first_ts = -1;
    while (seg->nbad > 0 && seg->bad[seg->nbad - 1].pos >= pos)
        seg->nbad--;
    return 0;
}

int sk_segment_delete(struct sk_segment *seg, const char *dir, bool unlink_now)
{
    char from[SK_SEG_PATH_MAX], to[SK_SEG_PATH_MAX + 16];
    int err = 0;

    for (int i = 0; i < 3; i++) {
        if (sk_segment_path(from, sizeof(from), dir, seg->base, seg_suffixes[i]) < 0)
            return -ENAMETOOLONG;
        snprintf(to, sizeof(to), "%s.deleted", from);
        if (rename(from, to) < 0 && errno != ENOENT && !err)
            err = -errno;
        if (unlink_now && unlink(to) < 0 && errno != ENOENT && !err)
            err = -errno;
    }
    sk_segment_close(seg, false);
    return err;
}

int64_t sk_segment_largest_ts(const struct sk_segment *seg)
{
    struct stat st;

    if (seg->max_ts >= 0)
        return seg->max_ts;
    if (seg->fd >= 0 ? fstat(seg->fd, &st) < 0 : stat(seg->path, &st) < 0)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

const struct sk_bad_range *sk_segment_bad_at(const struct sk_segment *seg, int64_t offset)
{
    for (uint32_t i = 0; i < seg->nbad; i++)
        if (offset >= seg->bad[i].first && offset <= seg->bad[i].last)
            return &seg->bad[i];
    return NULL;
}

int sk_segment_add_bad(struct sk_segment *seg, const struct sk_bad_range *r)
{
    struct sk_bad_range *b = realloc(seg->bad, (seg->nbad + 1) * sizeof(*b));

    if (!b)
        return -ENOMEM;
    b[seg->nbad++] = *r;
    seg->bad = b;
    return 0;
}

/* Parses "<20 digits><suffix>"; -1 if name is not exactly that. */
int64_t sk_segment_name_base(const char *name, const char *suffix)
{
    size_t n = strlen(name), sl = strlen(suffix);
    int64_t v = 0;

    if (n != 20 + sl || strcmp(name + 20, suffix) != 0)
        return -1;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}
