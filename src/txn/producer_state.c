/* Per-partition idempotent producer state, bounded two ways: Kafka's
 * producer.id.expiration.ms drops a producer whose last batch is that old
 * (ProducerStateManager.removeExpiredProducers, on the
 * producer.id.expiration.check.interval.ms schedule and at load), and
 * skein.max.producers.per.partition caps how many a partition keeps, so a
 * flood of new producer ids cannot grow it without bound within the
 * expiration time. At the cap the producer with the oldest last batch goes
 * first, as if it had expired: if it writes again it gets
 * UNKNOWN_PRODUCER_ID (or starts over at sequence 0), which idempotent
 * clients handle since KIP-360. */
#include "skein/producer_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/plog.h"

struct sk_pbatch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
};

struct sk_pentry {
    int64_t pid;
    int16_t epoch;
    int nbatches; /* newest last */
    struct sk_pbatch batches[SK_PRODUCER_BATCHES_KEPT];
    int64_t last_ts;
};

struct sk_producer_state {
    struct sk_pentry *v;
    int n, cap;
};

static struct sk_pentry *find(const struct sk_partition *p, int64_t pid)
{
    const struct sk_producer_state *s = p->producers;
    for (int i = 0; s && i < s->n; i++)
        if (s->v[i].pid == pid)
            return &s->v[i];
    return NULL;
}

static int max_producers(const struct sk_partition *p)
{
    if (p->broker && p->broker->cfg)
        return p->broker->cfg->txn.max_producers_per_partition;
    return SK_PRODUCERS_PER_PARTITION_DEFAULT;
}

static void remove_at(struct sk_producer_state *s, int i)
{
    s->v[i] = s->v[--s->n];
}

static void evict_oldest(struct sk_producer_state *s)
{
    int oldest = 0;
    for (int i = 1; i < s->n; i++)
        if (s->v[i].last_ts < s->v[oldest].last_ts)
            oldest = i;
    remove_at(s, oldest);
}

static struct sk_pentry *find_or_add(struct sk_partition *p, int64_t pid)
{
    struct sk_pentry *e = find(p, pid);
    if (e)
        return e;
    if (!p->producers && !(p->producers = calloc(1, sizeof *p->producers)))
        abort();
    struct sk_producer_state *s = p->producers;
    while (s->n > 0 && s->n >= max_producers(p))
        evict_oldest(s);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        if (!(s->v = realloc(s->v, sizeof *s->v * (size_t)s->cap)))
            abort();
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof *e);
    e->pid = pid;
    e->epoch = -1;
    return e;
}

static int32_t last_seq_of(const struct sk_batch_header *h)
{
    /* Sequences wrap at INT32_MAX back to 0. */
    int64_t last = (int64_t)h->base_sequence + h->last_offset_delta;
    return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

static bool in_sequence(int32_t last, int32_t next)
{
    return next == (last == INT32_MAX ? 0 : last + 1);
}

/* A refused batch is rare between a well-behaved client and a broker that
 * kept its state, and the client may act on it by starting a new epoch,
 * where no broker can catch a duplicate any more: so refusals are said,
 * with what this partition knew of the producer, a few a second per shard
 * (a client that keeps sending out of order must not fill the log). */
#define SK_PRODUCER_LOG_BURST 5

static _Thread_local struct sk_log_limit refusals, epoch_moves;

static void held_note(char *out, size_t len, unsigned long held)
{
    if (held)
        snprintf(out, len, " (and %lu like it before, not shown)", held);
    else
        out[0] = 0;
}

static int16_t refuse(const struct sk_partition *p, const struct sk_batch_header *h,
                      const struct sk_pentry *e, int16_t err)
{
    unsigned long held;
    if (!sk_log_limit_pass(&refusals, SK_PRODUCER_LOG_BURST, &held))
        return err;
    const struct sk_pbatch *b = e && e->nbatches ? &e->batches[e->nbatches - 1] : NULL;
    char more[64];
    held_note(more, sizeof more, held);
    sk_info("%s-%d: producer %lld epoch %d sequences %d..%d refused (%s); known epoch %d, "
            "last sequences %d..%d at offset %lld%s", p->topic, p->id, (long long)h->producer_id,
            h->producer_epoch, h->base_sequence, last_seq_of(h), sk_err_name(err),
            e ? e->epoch : -1, b ? b->first_seq : -1, b ? b->last_seq : -1,
            (long long)(b ? b->first_offset : -1), more);
    return err;
}

static void epoch_moved(const struct sk_partition *p, int64_t id, int16_t from, int16_t to)
{
    unsigned long held;
    if (!sk_log_limit_pass(&epoch_moves, SK_PRODUCER_LOG_BURST, &held))
        return;
    char more[64];
    held_note(more, sizeof more, held);
    sk_info("%s-%d: producer %lld moves from epoch %d to %d%s", p->topic, p->id, (long long)id,
            from, to, more);
}

/* Kafka's order of checks: a stale epoch is fenced, a retried batch is a
 * duplicate, a new epoch (or an unknown producer) must start at sequence 0,
 * and otherwise the batch must continue the last sequence. */
int16_t sk_producer_check(struct sk_partition *p, const struct sk_batch_header *h,
                          int64_t *dup_base)
{
    const struct sk_pentry *e = find(p, h->producer_id);
    int16_t cur_epoch = e ? e->epoch : -1;
    if (h->producer_epoch < cur_epoch)
        return refuse(p, h, e, SK_ERR_INVALID_PRODUCER_EPOCH);
    if (h->producer_epoch != cur_epoch) {
        if (h->base_sequence == 0) {
            if (cur_epoch >= 0)
                epoch_moved(p, h->producer_id, cur_epoch, h->producer_epoch);
            return SK_ERR_NONE;
        }
        return refuse(p, h, e,
                      cur_epoch >= 0 ? SK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
                                     : SK_ERR_UNKNOWN_PRODUCER_ID);
    }
    int32_t last = last_seq_of(h);
    for (int i = 0; i < e->nbatches; i++) {
        const struct sk_pbatch *b = &e->batches[i];
        if (b->first_seq == h->base_sequence && b->last_seq == last) {
            *dup_base = b->first_offset;
            return SK_ERR_DUPLICATE_SEQUENCE_NUMBER;
        }
    }
    if (e->nbatches && !in_sequence(e->batches[e->nbatches - 1].last_seq, h->base_sequence))
        return refuse(p, h, e, SK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    return SK_ERR_NONE;
}

void sk_producer_update(struct sk_partition *p, const struct sk_batch_header *h, int64_t now_ms)
{
    if (h->producer_id < 0)
        return;
    struct sk_pentry *e = find_or_add(p, h->producer_id);
    if (h->producer_epoch != e->epoch) {
        e->epoch = h->producer_epoch;
        e->nbatches = 0;
    }
    if (e->nbatches == SK_PRODUCER_BATCHES_KEPT) {
        memmove(e->batches, e->batches + 1, sizeof e->batches[0] * (SK_PRODUCER_BATCHES_KEPT - 1));
        e->nbatches--;
    }
    e->batches[e->nbatches++] = (struct sk_pbatch){
        h->base_sequence, last_seq_of(h), h->base_offset, h->base_offset + h->last_offset_delta};
    e->last_ts = h->max_timestamp > 0 ? h->max_timestamp : now_ms;
}

int sk_producer_expire(struct sk_partition *p, int64_t now_ms, int64_t expiration_ms)
{
    struct sk_producer_state *s = p->producers;
    int removed = 0;
    for (int i = 0; s && i < s->n;) {
        if (now_ms - s->v[i].last_ts >= expiration_ms) {
            remove_at(s, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

int sk_producer_count(const struct sk_partition *p)
{
    return p->producers ? p->producers->n : 0;
}

int sk_producer_at(const struct sk_partition *p, int i, struct sk_producer_info *out)
{
    if (!p->producers || i < 0 || i >= p->producers->n)
        return -1;
    const struct sk_pentry *e = &p->producers->v[i];
    const struct sk_pbatch *last = e->nbatches ? &e->batches[e->nbatches - 1] : NULL;
    *out = (struct sk_producer_info){e->pid, e->epoch, last ? last->last_seq : -1, e->last_ts,
                                     last ? last->last_offset : -1};
    return 0;
}

void sk_producer_state_free(struct sk_partition *p)
{
    sk_atomic_writer_free(p->snapshots); /* a snapshot in flight completes alone */
    p->snapshots = NULL;
    if (p->producers)
        free(p->producers->v);
    free(p->producers);
    p->producers = NULL;
}
