#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/record.h"

#include "recover.h"

static int scratch_reserve(struct sk_recover_ctx *ctx, size_t n)
{
    if (*ctx->scratch_cap >= n)
        return 0;
    uint8_t *p = realloc(*ctx->scratch, n);
    if (!p)
        return -ENOMEM;
    *ctx->scratch = p;
    *ctx->scratch_cap = n;
    return 0;
}

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t pos)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG;
        buf += n;
        len -= (size_t)n;
        pos += (uint64_t)n;
    }
    return 0;
}

/* Checks the batch at pos completely. 1: valid (h filled); 0: damaged, with
 * h->size filled if at least the framing was plausible (else h->size == 0). */
static int batch_check(struct sk_segment *seg, struct sk_recover_ctx *ctx, uint32_t pos,
                       uint32_t file_size, struct sk_peek *h,
                       struct sk_batch_header *bh)
{
    uint8_t head[SK_BATCH_HEADER_SIZE];
    int r;

    h->size = 0;
    if (file_size - pos < SK_BATCH_HEADER_SIZE)
        return 0;
    if ((r = pread_full(seg->fd, head, sizeof(head), pos)) < 0)
        return r;
    if (!sk_peek_read(head, file_size - pos, h))
        return 0;
    if (h->base < seg->next_offset || h->last - seg->base > INT32_MAX)
        return 0;
    if ((r = scratch_reserve(ctx, h->size)) < 0 ||
        (r = pread_full(seg->fd, *ctx->scratch, h->size, pos)) < 0)
        return r;
    if (sk_batch_header_read(*ctx->scratch, h->size, bh) < 0)
        return 0;
    return sk_batch_crc_ok(*ctx->scratch, bh) ? 1 : 0;
}

/* Whether a valid-looking batch starts at pos: the resynchronisation point after
 * a damaged batch whose length field we chose to believe. */
static bool plausible_at(struct sk_segment *seg, uint32_t pos, uint32_t file_size,
                         int64_t min_base, struct sk_peek *h)
{
    uint8_t head[SK_BATCH_HEADER_SIZE];

    if (file_size - pos < SK_BATCH_HEADER_SIZE ||
        pread_full(seg->fd, head, sizeof(head), pos) < 0)
        return false;
    return sk_peek_read(head, file_size - pos, h) && h->base >= min_base;
}

/* Records damage at pos in an older segment; returns where scanning resumes. */
static int record_bad(struct sk_segment *seg, struct sk_recover_ctx *ctx, uint32_t pos,
                      uint32_t file_size, const struct sk_peek *damaged, uint32_t *resume)
{
    struct sk_bad_range b = {.first = seg->next_offset, .pos = pos};
    struct sk_peek next;
    uint32_t cand = damaged->size ? pos + damaged->size : file_size;

    if (cand < file_size && plausible_at(seg, cand, file_size, seg->next_offset, &next)) {
        b.last = next.base - 1;
        b.len = cand - pos;
    } else {
        cand = file_size;
        b.last = ctx->next_base - 1;
        b.len = file_size - pos;
    }
    *resume = cand;
    seg->next_offset = b.last + 1;
    ctx->bad++;
    return sk_segment_add_bad(seg, &b);
}

static int recover_reset(struct sk_segment *seg, struct sk_recover_ctx *ctx)
{
    int r;

    sk_index_forget(&seg->oidx, 0);
    sk_index_forget(&seg->tidx, 0);
    seg->nbad = 0;
    seg->next_offset = seg->base;
    seg->max_ts = seg->first_ts = -1;
    seg->max_ts_offset = seg->base;
    seg->last_index_pos = 0;
    /* shrinking to nothing first drops stale entries without writing zeros */
    if ((r = sk_index_resize(&seg->oidx, 0)) < 0 || (r = sk_index_resize(&seg->tidx, 0)) < 0)
        return r;
    return sk_segment_unseal(seg, ctx->index_bytes);
}

static int recover_finish(struct sk_segment *seg, struct sk_recover_ctx *ctx, uint32_t pos)
{
    struct stat st;

    if (fstat(seg->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size > pos) {
        ctx->truncated = (uint64_t)st.st_size - pos;
        if (ftruncate(seg->fd, pos) < 0)
            return -errno;
    }
    seg->size = pos;
    return ctx->last ? 0 : sk_segment_seal(seg);
}

int sk_segment_recover(struct sk_segment *seg, struct sk_recover_ctx *ctx)
{
    struct sk_batch_header bh;
    struct sk_peek h;
    uint32_t pos = 0, file_size = seg->size;
    int r;

    ctx->truncated = 0;
    ctx->bad = 0;
    if ((r = sk_segment_log_fd(seg)) < 0)
        return r;
    if ((r = recover_reset(seg, ctx)) < 0)
        return r;
    while (pos < file_size) {
        if ((r = batch_check(seg, ctx, pos, file_size, &h, &bh)) < 0)
            return r;
        if (r == 0) {
            if (ctx->last)
                break;
            if ((r = record_bad(seg, ctx, pos, file_size, &h, &pos)) < 0)
                return r;
            continue;
        }
        if (bh.partition_leader_epoch > sk_epoch_latest(ctx->epochs) &&
            (r = sk_epoch_assign(ctx->epochs, bh.partition_leader_epoch, h.base)) < 0)
            return r;
        if ((r = sk_segment_account(seg, &h, pos, ctx->interval)) < 0)
            return r;
        pos += h.size;
    }
    return recover_finish(seg, ctx, ctx->last ? pos : file_size);
}
