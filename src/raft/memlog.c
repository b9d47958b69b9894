/* An in-memory log and quorum-state store with the durability of the real
 * ones made explicit: appends sit above a flushed mark until flush, and a
 * crash drops them, so a simulation loses exactly what a power cut would.
 * Failures can be injected to test that the core returns storage errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

struct sk_raft_memlog {
    struct sk_raft_batch *batches; /* each owns its data */
    size_t n;
    size_t cap;
    size_t flushed; /* batches below this survive a crash */
    int fail_next;
    bool async;
    /* Flushes started and not yet completed, oldest first. A truncation
     * bumps gen: a flush of an older generation completes without making
     * anything durable, as its sync covered data since dropped. */
    struct pending_flush {
        uint64_t token;
        int64_t end;
        size_t batches;
        uint64_t gen;
    } pending[64];
    size_t n_pending;
    uint64_t gen;
};

struct sk_raft_memlog *sk_raft_memlog_new(void)
{
    return calloc(1, sizeof(struct sk_raft_memlog));
}

static void drop_from(struct sk_raft_memlog *l, size_t i)
{
    for (size_t j = i; j < l->n; j++)
        free((void *)l->batches[j].data);
    l->n = i;
    if (l->flushed > i)
        l->flushed = i;
}

void sk_raft_memlog_free(struct sk_raft_memlog *l)
{
    if (!l)
        return;
    drop_from(l, 0);
    free(l->batches);
    free(l);
}

void sk_raft_memlog_crash(struct sk_raft_memlog *l)
{
    drop_from(l, l->flushed);
    l->n_pending = 0;
    l->gen++;
}

void sk_raft_memlog_set_async(struct sk_raft_memlog *l, bool async)
{
    l->async = async;
}

bool sk_raft_memlog_complete_flush(struct sk_raft_memlog *l, uint64_t *token, int64_t *end)
{
    if (l->n_pending == 0)
        return false;
    struct pending_flush p = l->pending[0];
    memmove(l->pending, l->pending + 1, --l->n_pending * sizeof(p));
    if (p.gen == l->gen && p.batches > l->flushed)
        l->flushed = p.batches;
    *token = p.token;
    *end = p.end;
    return true;
}

void sk_raft_memlog_fail_next(struct sk_raft_memlog *l, int n)
{
    l->fail_next = n;
}

size_t sk_raft_memlog_count(const struct sk_raft_memlog *l)
{
    return l->n;
}

const struct sk_raft_batch *sk_raft_memlog_at(const struct sk_raft_memlog *l, size_t i)
{
    return i < l->n ? &l->batches[i] : NULL;
}

static bool failing(struct sk_raft_memlog *l)
{
    if (l->fail_next <= 0)
        return false;
    l->fail_next--;
    return true;
}

static int64_t end_offset(void *ctx)
{
    struct sk_raft_memlog *l = ctx;
    if (l->n == 0)
        return 0;
    return l->batches[l->n - 1].base_offset + l->batches[l->n - 1].count;
}

static int append(void *ctx, const struct sk_raft_batch *b)
{
    struct sk_raft_memlog *l = ctx;
    if (failing(l))
        return -EIO;
    if (b->base_offset != end_offset(l))
        return -EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct sk_raft_batch *nb = realloc(l->batches, cap * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        l->batches = nb;
        l->cap = cap;
    }
    uint8_t *copy = malloc(b->len + 1);
    if (!copy)
        return -ENOMEM;
    if (b->len)
        memcpy(copy, b->data, b->len);
    l->batches[l->n] = *b;
    l->batches[l->n++].data = copy;
    return 0;
}

/* The first batch at or past offset. */
static size_t find(const struct sk_raft_memlog *l, int64_t offset)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->batches[mid].base_offset + l->batches[mid].count <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int truncate_to(void *ctx, int64_t offset)
{
    struct sk_raft_memlog *l = ctx;
    size_t i = find(l, offset);
    if (i < l->n && l->batches[i].base_offset != offset)
        return -EINVAL;
    drop_from(l, i);
    l->gen++;
    return 0;
}

static int flush(void *ctx, uint64_t token)
{
    struct sk_raft_memlog *l = ctx;
    if (failing(l))
        return -EIO;
    if (!l->async) {
        l->flushed = l->n;
        return 0;
    }
    if (l->n_pending == sizeof(l->pending) / sizeof(l->pending[0]))
        return -EAGAIN;
    l->pending[l->n_pending++] = (struct pending_flush){token, end_offset(l), l->n, l->gen};
    return 1;
}

static int32_t last_epoch(void *ctx)
{
    struct sk_raft_memlog *l = ctx;
    return l->n ? l->batches[l->n - 1].epoch : 0;
}

static void end_for_epoch(void *ctx, int32_t epoch, int32_t *out_epoch, int64_t *out_end)
{
    struct sk_raft_memlog *l = ctx;
    *out_epoch = -1;
    *out_end = 0;
    for (size_t i = l->n; i-- > 0;) {
        if (l->batches[i].epoch > epoch)
            continue;
        *out_epoch = l->batches[i].epoch;
        *out_end = l->batches[i].base_offset + l->batches[i].count;
        return;
    }
}

static int read_from(void *ctx, int64_t offset, size_t max_bytes, struct sk_raft_batch *out,
                size_t max_out, size_t *n_out)
{
    struct sk_raft_memlog *l = ctx;
    size_t bytes = 0;
    *n_out = 0;
    for (size_t i = find(l, offset); i < l->n && *n_out < max_out; i++) {
        if (*n_out > 0 && bytes + l->batches[i].len > max_bytes)
            break;
        bytes += l->batches[i].len;
        out[(*n_out)++] = l->batches[i];
    }
    return 0;
}

void sk_raft_memlog_bind(struct sk_raft_memlog *l, struct sk_raft_config *cfg)
{
    cfg->log = (struct sk_raft_log_ops){
        .append = append,
        .truncate = truncate_to,
        .flush = flush,
        .end_offset = end_offset,
        .last_epoch = last_epoch,
        .end_for_epoch = end_for_epoch,
        .read = read_from,
    };
    cfg->log_ctx = l;
}

static int store_write(void *ctx, const struct sk_raft_qstate *s)
{
    struct sk_raft_memstore *st = ctx;
    if (st->fail_next > 0) {
        st->fail_next--;
        return -EIO;
    }
    st->state = *s;
    st->writes++;
    return 0;
}

void sk_raft_memstore_bind(struct sk_raft_memstore *s, struct sk_raft_config *cfg)
{
    cfg->store = (struct sk_raft_store_ops){.write = store_write};
    cfg->store_ctx = s;
}
