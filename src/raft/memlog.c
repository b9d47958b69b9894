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
    int corrupt_next; /* installs to refuse as a corrupt snapshot */
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
    /* Offsets below start live only in the snapshot; part is the one a
     * follower is taking. Both own their data. */
    int64_t start;
    struct mem_snapshot {
        struct sk_raft_snapshot_id id;
        uint8_t *data;
        size_t len;
        bool held;
    } snap, part;
    /* KIP-853: snapshots start with a header holding the voter set at
     * their end: a 4-byte little-endian length (0: none), then the set in
     * the core's encoding. */
    bool keep_voters;
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
    free(l->snap.data);
    free(l->part.data);
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

void sk_raft_memlog_corrupt_next(struct sk_raft_memlog *l, int n)
{
    l->corrupt_next = n;
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
        return l->start;
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
    if (l->n)
        return l->batches[l->n - 1].epoch;
    return l->snap.held ? l->snap.id.epoch : 0;
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
    /* The epochs below the log start end where the snapshot does, as in
     * Kafka's KafkaMetadataLog.endOffsetForEpoch. */
    if (l->snap.held && l->snap.id.epoch <= epoch) {
        *out_epoch = l->snap.id.epoch;
        *out_end = l->snap.id.end_offset;
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

static int64_t start_offset(void *ctx)
{
    return ((struct sk_raft_memlog *)ctx)->start;
}

static int snapshot_latest(void *ctx, struct sk_raft_snapshot_id *id)
{
    struct sk_raft_memlog *l = ctx;
    if (!l->snap.held)
        return -ENOENT;
    *id = l->snap.id;
    return 0;
}

static int snapshot_read(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                         uint8_t *buf, size_t max, size_t *n, int64_t *size)
{
    struct sk_raft_memlog *l = ctx;
    if (!l->snap.held || l->snap.id.end_offset != id->end_offset || l->snap.id.epoch != id->epoch)
        return -ENOENT;
    *size = (int64_t)l->snap.len;
    *n = 0;
    if (pos >= *size)
        return 0;
    *n = l->snap.len - (size_t)pos < max ? l->snap.len - (size_t)pos : max;
    memcpy(buf, l->snap.data + pos, *n);
    return 0;
}

static int snapshot_write(void *ctx, const struct sk_raft_snapshot_id *id, int64_t pos,
                          const uint8_t *data, size_t len)
{
    struct sk_raft_memlog *l = ctx;
    if (failing(l))
        return -EIO;
    if (pos == 0) {
        free(l->part.data);
        l->part = (struct mem_snapshot){.id = *id};
    }
    if (pos != (int64_t)l->part.len)
        return -EINVAL;
    uint8_t *d = realloc(l->part.data, l->part.len + len + 1);
    if (!d)
        return -ENOMEM;
    if (len)
        memcpy(d + l->part.len, data, len);
    l->part.data = d;
    l->part.len += len;
    l->part.held = true;
    return 0;
}

static int header_voters(const struct mem_snapshot *s, struct sk_raft_voter_set *out,
                         size_t *header_len);

/* The snapshot replaces everything: a follower takes one only when its
 * log ends below the leader's start. */
static int snapshot_install(void *ctx, const struct sk_raft_snapshot_id *id)
{
    struct sk_raft_memlog *l = ctx;
    if (!l->part.held || l->part.id.end_offset != id->end_offset)
        return -EINVAL;
    struct sk_raft_voter_set vs;
    size_t hl;
    bool bad_header = l->keep_voters && header_voters(&l->part, &vs, &hl) == -EBADMSG;
    if (l->corrupt_next > 0 || bad_header) {
        l->corrupt_next -= l->corrupt_next > 0 && !bad_header;
        free(l->part.data);
        l->part = (struct mem_snapshot){0};
        return -EBADMSG;
    }
    free(l->snap.data);
    l->snap = l->part;
    l->part = (struct mem_snapshot){0};
    drop_from(l, 0);
    l->n_pending = 0;
    l->gen++;
    l->start = id->end_offset;
    return 0;
}

void sk_raft_memlog_keep_voters(struct sk_raft_memlog *l)
{
    l->keep_voters = true;
}

/* The voter set in a snapshot's header: 0, -ENOENT for none, -EBADMSG. */
static int header_voters(const struct mem_snapshot *s, struct sk_raft_voter_set *out,
                         size_t *header_len)
{
    if (s->len < 4)
        return -EBADMSG;
    size_t n = (size_t)s->data[0] | (size_t)s->data[1] << 8 | (size_t)s->data[2] << 16 |
               (size_t)s->data[3] << 24;
    if (n > s->len - 4)
        return -EBADMSG;
    *header_len = 4 + n;
    if (n == 0)
        return -ENOENT;
    return sk_raft_voters_decode(s->data + 4, n, out);
}

static int snapshot_voters(void *ctx, const struct sk_raft_snapshot_id *id,
                           struct sk_raft_voter_set *out)
{
    struct sk_raft_memlog *l = ctx;
    size_t hl;
    if (!l->keep_voters || !l->snap.held || l->snap.id.end_offset != id->end_offset ||
        l->snap.id.epoch != id->epoch)
        return -ENOENT;
    return header_voters(&l->snap, out, &hl);
}

/* The set in force below batch i: the latest VOTERS batch before it, else
 * the previous snapshot's. */
static bool voters_below(const struct sk_raft_memlog *l, size_t i, struct sk_raft_voter_set *out)
{
    size_t hl;
    while (i-- > 0)
        if (l->batches[i].kind == SK_RAFT_BATCH_VOTERS &&
            sk_raft_voters_decode(l->batches[i].data, l->batches[i].len, out) == 0)
            return true;
    return l->snap.held && header_voters(&l->snap, out, &hl) == 0;
}

/* The snapshot's bytes: the header when voters are kept, then data. */
static uint8_t *snapshot_bytes(const struct sk_raft_memlog *l, size_t i, const uint8_t *data,
                               size_t *len)
{
    uint8_t enc[SK_RAFT_VOTERS_MAX_ENCODED];
    struct sk_raft_voter_set vs;
    size_t hl = 0;
    if (l->keep_voters)
        hl = voters_below(l, i, &vs) ? sk_raft_voters_encode(&vs, enc, sizeof(enc)) : 0;
    size_t head = l->keep_voters ? 4 + hl : 0;
    uint8_t *copy = malloc(head + *len + 1);
    if (!copy)
        return NULL;
    if (l->keep_voters) {
        for (int b = 0; b < 4; b++)
            copy[b] = (uint8_t)(hl >> (8 * b));
        memcpy(copy + 4, enc, hl);
    }
    if (*len)
        memcpy(copy + head, data, *len);
    *len += head;
    return copy;
}

int sk_raft_memlog_snapshot(struct sk_raft_memlog *l, int64_t end, const uint8_t *data,
                            size_t len)
{
    size_t i = find(l, end);
    if (end <= l->start || end > end_offset(l) || (i < l->n && l->batches[i].base_offset != end))
        return -EINVAL;
    uint8_t *copy = snapshot_bytes(l, i, data, &len);
    if (!copy)
        return -ENOMEM;
    free(l->snap.data);
    l->snap = (struct mem_snapshot){{end, l->batches[i - 1].epoch}, copy, len, true};
    for (size_t j = 0; j < i; j++)
        free((void *)l->batches[j].data);
    memmove(l->batches, l->batches + i, (l->n - i) * sizeof(*l->batches));
    l->n -= i;
    l->flushed = l->flushed > i ? l->flushed - i : 0;
    for (size_t j = 0; j < l->n_pending; j++)
        l->pending[j].batches = l->pending[j].batches > i ? l->pending[j].batches - i : 0;
    l->start = end;
    return 0;
}

const uint8_t *sk_raft_memlog_snapshot_data(const struct sk_raft_memlog *l, size_t *len)
{
    struct sk_raft_voter_set vs;
    size_t hl = 0;
    *len = l->snap.len;
    if (!l->snap.held)
        return NULL;
    if (l->keep_voters && header_voters(&l->snap, &vs, &hl) == -EBADMSG)
        return NULL;
    *len -= hl;
    return l->snap.data + hl;
}

int64_t sk_raft_memlog_start(const struct sk_raft_memlog *l)
{
    return l->start;
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
        .start_offset = start_offset,
        .snapshot_latest = snapshot_latest,
        .snapshot_read = snapshot_read,
        .snapshot_write = snapshot_write,
        .snapshot_install = snapshot_install,
        .snapshot_voters = snapshot_voters,
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
