/* Opening and closing a partition log, its segment list, rolling, accessors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/errors.h"

#include "atomic_file.h"
#include "plog-int.h"

void sk_plog_config_default(struct sk_plog_config *cfg)
{
    cfg->segment_bytes = 1073741824;
    cfg->segment_ms = 604800000;
    cfg->index_interval_bytes = 4096;
    cfg->segment_index_bytes = 10485760;
    cfg->retention_ms = 604800000;
    cfg->retention_bytes = -1;
    cfg->flush_messages = INT64_MAX;
    cfg->flush_ms = INT64_MAX;
    cfg->file_delete_delay_ms = 60000;
}

void sk_plog_set_config(struct sk_plog *plog, const struct sk_plog_config *cfg)
{
    plog->cfg = *cfg;
}

/* Kafka's rule for topic names, which become directory names here. */
static bool topic_name_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int plog_make_dir(struct sk_plog *p)
{
    if (mkdir(p->dir, 0755) == 0)
        p->parent_dirty = p->dir_dirty = true;
    else if (errno != EEXIST)
        return -errno;
    return 0;
}

/* partition.metadata: adopt the stored id; a different one from the caller means
 * this directory belongs to another incarnation of the topic. */
static int plog_topic_id(struct sk_plog *p, const uint8_t *want)
{
    bool found;
    int r = sk_partition_meta_read(p->dir, p->topic_id, &found);

    if (r < 0)
        return r;
    p->has_topic_id = found;
    if (!want)
        return 0;
    if (found)
        return memcmp(want, p->topic_id, 16) == 0 ? 0 : -EEXIST;
    memcpy(p->topic_id, want, 16);
    p->has_topic_id = true;
    p->meta_dirty = p->dir_dirty = true;
    return sk_partition_meta_write(p->dir, want);
}

int sk_plog_open(const struct sk_plog_open_opts *opts, const struct sk_plog_config *cfg,
                 struct sk_plog **out, struct sk_plog_open_report *report)
{
    struct sk_plog_open_report local;
    struct sk_plog *p;
    int r;

    if (!topic_name_ok(opts->topic) || opts->partition < 0)
        return -EINVAL;
    if (!(p = calloc(1, sizeof(*p))))
        return -ENOMEM;
    p->dir_fd = p->parent_fd = p->meta_fd = p->epoch_fd = -1;
    p->cfg = *cfg;
    p->partition = opts->partition;
    p->last_flush_ms = opts->now_ms;
    p->topic = strdup(opts->topic);
    p->log_dir = strdup(opts->log_dir);
    if (!p->topic || !p->log_dir || asprintf(&p->dir, "%s/%s-%d", opts->log_dir, opts->topic, opts->partition) < 0) {
        p->dir = NULL;
        sk_plog_close(p);
        return -ENOMEM;
    }
    memset(report ? report : &local, 0, sizeof(local));
    if ((r = plog_make_dir(p)) < 0 || (r = plog_topic_id(p, opts->topic_id)) < 0 ||
        (r = sk_epoch_load(&p->epochs, p->dir, opts->syncer)) < 0 ||
        (r = sk_plog_load(p, opts, report ? report : &local)) < 0) {
        sk_plog_close(p);
        return r;
    }
    *out = p;
    return 0;
}

void sk_plog_close(struct sk_plog *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsegs; i++)
        sk_segment_close(p->segs[i], true);
    for (size_t i = 0; i < p->npending; i++)
        free(p->pending[i].path);
    free(p->pending);
    free(p->segs);
    sk_epoch_free(&p->epochs);
    sk_plog_close_sync_fds(p);
    free(p->log_dir);
    free(p->scratch);
    free(p->dir);
    free(p->topic);
    free(p);
}

const char *sk_plog_dir(const struct sk_plog *p) { return p->dir; }
const char *sk_plog_topic(const struct sk_plog *p) { return p->topic; }
int32_t sk_plog_partition(const struct sk_plog *p) { return p->partition; }
int64_t sk_plog_log_start_offset(const struct sk_plog *p) { return p->log_start; }
int64_t sk_plog_log_end_offset(const struct sk_plog *p) { return sk_plog_active(p)->next_offset; }
int64_t sk_plog_next_offset(const struct sk_plog *p) { return sk_plog_active(p)->next_offset; }
int64_t sk_plog_recovery_point(const struct sk_plog *p) { return p->recovery_point; }
size_t sk_plog_segment_count(const struct sk_plog *p) { return p->nsegs; }
int32_t sk_plog_latest_epoch(const struct sk_plog *p) { return sk_epoch_latest(&p->epochs); }

bool sk_plog_topic_id(const struct sk_plog *p, uint8_t id[16])
{
    if (p->has_topic_id)
        memcpy(id, p->topic_id, 16);
    return p->has_topic_id;
}

uint64_t sk_plog_size_bytes(const struct sk_plog *p)
{
    uint64_t n = 0;

    for (size_t i = 0; i < p->nsegs; i++)
        n += p->segs[i]->size;
    return n;
}

void sk_plog_epoch_end_offset(const struct sk_plog *p, int32_t epoch, int32_t *out_epoch,
                              int64_t *out_end_offset)
{
    sk_epoch_end_offset(&p->epochs, epoch, sk_plog_log_end_offset(p), out_epoch, out_end_offset);
}

ssize_t sk_plog_find_segment(const struct sk_plog *p, int64_t offset)
{
    ssize_t lo = 0, hi = (ssize_t)p->nsegs - 1, found = -1;

    while (lo <= hi) {
        ssize_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid]->base <= offset) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

int sk_plog_push_segment(struct sk_plog *p, struct sk_segment *seg)
{
    if (p->nsegs == p->segs_cap) {
        size_t cap = p->segs_cap ? p->segs_cap * 2 : 8;
        struct sk_segment **s = realloc(p->segs, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        p->segs = s;
        p->segs_cap = cap;
    }
    p->segs[p->nsegs++] = seg;
    return 0;
}

/* Remembers the *.deleted files of a segment for sk_plog_purge_deleted. */
static int plog_defer_delete(struct sk_plog *p, int64_t base, int64_t due_ms)
{
    static const char *const suffix[] = {".log.deleted", ".index.deleted", ".timeindex.deleted"};
    char path[SK_SEG_PATH_MAX];

    for (int i = 0; i < 3; i++) {
        struct sk_pending_delete *d = realloc(p->pending, (p->npending + 1) * sizeof(*d));
        if (!d)
            return -ENOMEM;
        p->pending = d;
        if (sk_segment_path(path, sizeof(path), p->dir, base, suffix[i]) < 0 ||
            !(d[p->npending].path = strdup(path)))
            return -ENOMEM;
        d[p->npending++].due_ms = due_ms;
    }
    return 0;
}

static int plog_delete_segment(struct sk_plog *p, struct sk_segment *seg)
{
    bool now = p->cfg.file_delete_delay_ms <= 0;
    int64_t base = seg->base;
    int r = sk_segment_delete(seg, p->dir, now);

    /* the delay counts from the first purge call that sees the file */
    if (r == 0 && !now)
        r = plog_defer_delete(p, base, INT64_MIN);
    return r;
}

int sk_plog_drop_front(struct sk_plog *p, size_t n)
{
    int err = 0;

    for (size_t i = 0; i < n; i++) {
        int r = plog_delete_segment(p, p->segs[i]);
        if (r < 0 && !err)
            err = r;
    }
    memmove(p->segs, p->segs + n, (p->nsegs - n) * sizeof(*p->segs));
    p->nsegs -= n;
    return err;
}

int sk_plog_drop_back(struct sk_plog *p, size_t from)
{
    int err = 0;

    for (size_t i = from; i < p->nsegs; i++) {
        int r = plog_delete_segment(p, p->segs[i]);
        if (r < 0 && !err)
            err = r;
    }
    p->nsegs = from;
    return err;
}

int sk_plog_roll_at(struct sk_plog *p, int64_t base, int64_t now_ms)
{
    struct sk_segment *a = sk_plog_active(p), *seg;
    int r;

    if (a->size == 0 && a->base == base)
        return 0;
    if (a->size == 0) {
        /* an empty active segment at another base: replace it */
        if ((r = sk_segment_create(p->dir, base, p->cfg.segment_index_bytes, now_ms, &seg)) < 0)
            return r;
        p->segs[p->nsegs - 1] = seg;
        p->dir_dirty = true;
        return plog_delete_segment(p, a);
    }
    if ((r = sk_segment_create(p->dir, base, p->cfg.segment_index_bytes, now_ms, &seg)) < 0)
        return r;
    if ((r = sk_plog_push_segment(p, seg)) < 0) {
        sk_segment_close(seg, false);
        return r;
    }
    p->dir_dirty = true;
    /* The roll has happened whatever sealing does: an untrimmed index only costs
     * the next load a look for its valid prefix, so the error is not the caller's. */
    (void)sk_segment_seal(a);
    return 0;
}

int sk_plog_roll(struct sk_plog *p, int64_t now_ms)
{
    return sk_plog_roll_at(p, sk_plog_log_end_offset(p), now_ms);
}

int sk_plog_set_log_start(struct sk_plog *p, int64_t offset)
{
    if (offset > p->log_start) {
        p->log_start = offset;
        sk_epoch_truncate_from_start(&p->epochs, offset);
    }
    return p->epochs.dirty ? sk_epoch_write(&p->epochs) : 0;
}

int16_t sk_plog_err_to_kafka(int err)
{
    switch (err) {
    case 0:
        return SK_ERR_NONE;
    case -ERANGE:
        return SK_ERR_OFFSET_OUT_OF_RANGE;
    case -EBADMSG:
    case -EINVAL:
        return SK_ERR_CORRUPT_MESSAGE;
    case -EMSGSIZE:
        return SK_ERR_MESSAGE_TOO_LARGE;
    case -EILSEQ:
    case -ENOMEM:
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    default:
        return SK_ERR_KAFKA_STORAGE_ERROR;
    }
}
