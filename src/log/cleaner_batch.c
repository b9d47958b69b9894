/* One stored batch through the cleaner: which records survive and how the batch
 * that carries them is written back.
 *
 * As Kafka's MemoryRecords.filterTo: a surviving batch keeps its base offset, its
 * last offset delta (so an idempotent producer's sequence arithmetic still holds),
 * its producer fields, leader epoch and codec; only the records and their count
 * change. Tombstones follow KIP-534: the first clean that keeps a tombstone stamps
 * its batch with a delete horizon (now + delete.retention.ms, stored as the base
 * timestamp with the DELETE_HORIZON attribute), and a clean after that horizon
 * drops the tombstone. */
#include <errno.h>
#include <string.h>

#include "skein/codec.h"
#include "skein/record.h"

#include "be.h"
#include "cleaner_int.h"
#include "kp_rt.h"

/* ---- encoding ------------------------------------------------------------- */

static uint8_t *varlong_put(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

static uint8_t *bytes_put(uint8_t *p, const uint8_t *d, int32_t len)
{
    p = varlong_put(p, len < 0 ? -1 : len);
    if (len > 0) {
        memcpy(p, d, (size_t)len);
        p += len;
    }
    return p;
}

static size_t bytes_size(int32_t len)
{
    return kp_varlong_size(len < 0 ? -1 : len) + (len > 0 ? (size_t)len : 0);
}

/* r carries raw deltas (sk_record_parse); ts_delta is against the new base. */
static int record_put(struct sk_buf *out, const struct sk_record *r, int64_t ts_delta)
{
    size_t body = 1 + kp_varlong_size(ts_delta) + kp_varlong_size(r->offset_delta) +
                  bytes_size(r->key_len) + bytes_size(r->value_len) +
                  kp_varlong_size(r->header_count) + r->headers_len;
    int rc = sk_buf_reserve(out, body + 10);
    if (rc < 0)
        return rc;
    uint8_t *p = out->data + out->len;
    p = varlong_put(p, (int64_t)body);
    *p++ = (uint8_t)r->attributes;
    p = varlong_put(p, ts_delta);
    p = varlong_put(p, r->offset_delta);
    p = bytes_put(p, r->key, r->key_len);
    p = bytes_put(p, r->value, r->value_len);
    p = varlong_put(p, r->header_count);
    if (r->headers_len)
        memcpy(p, r->headers, r->headers_len);
    out->len = (size_t)(p + r->headers_len - out->data);
    return 0;
}

/* ---- decisions ------------------------------------------------------------ */

static bool producer_last_batch(const struct sk_clean_filter *f, const struct sk_batch_header *h)
{
    int64_t last = h->base_offset + h->last_offset_delta;
    size_t lo = 0, hi = f->nproducers;

    if (h->producer_id < 0)
        return false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->producers[mid].producer_id < h->producer_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nproducers && f->producers[lo].producer_id == h->producer_id &&
           f->producers[lo].last_offset == last;
}

static bool keep_record(const struct sk_clean_filter *f, const struct sk_record *r, int64_t offset,
                        bool horizon_passed)
{
    if (r->key_len < 0)
        return false; /* cannot be compacted: Kafka's cleaner drops it too */
    int64_t latest = sk_clean_map_get(f->map, r->key, (size_t)r->key_len);
    if (latest >= 0 && latest > offset)
        return false;
    return !(r->value_len < 0 && horizon_passed);
}

struct batch_plan {
    struct sk_batch_header h;
    const uint8_t *recs, *recs_end;  /* uncompressed records */
    int32_t kept;
    bool kept_tombstone;
    int64_t horizon;                 /* -1: none */
};

static int plan_batch(struct sk_clean_filter *f, const uint8_t *b, size_t len,
                      struct batch_plan *pl)
{
    struct sk_record_iter it;
    struct sk_record r;

    f->dec.len = 0;
    if (sk_record_iter_init(&it, b, len, &f->dec) != 0)
        return -EBADMSG;
    pl->h = it.h;
    pl->recs = it.p;
    pl->recs_end = it.end;
    pl->kept = 0;
    pl->kept_tombstone = false;
    bool has_horizon = it.h.attributes & SK_BATCH_DELETE_HORIZON;
    bool passed = has_horizon && f->now_ms >= it.h.base_timestamp;
    for (int32_t i = 0; i < it.h.record_count; i++) {
        if (!sk_record_parse(&it.p, it.end, &r))
            return -EBADMSG;
        if (keep_record(f, &r, it.h.base_offset + r.offset_delta, passed)) {
            pl->kept++;
            pl->kept_tombstone |= r.value_len < 0;
        }
    }
    pl->horizon = has_horizon ? it.h.base_timestamp
                  : pl->kept_tombstone ? f->now_ms + f->delete_retention_ms : -1;
    return 0;
}

/* ---- writing -------------------------------------------------------------- */

static int header_only(const struct sk_batch_header *h, struct sk_buf *out)
{
    int rc = sk_buf_reserve(out, SK_BATCH_HEADER_SIZE);
    if (rc < 0)
        return rc;
    uint8_t *p = out->data + out->len;
    memset(p, 0, SK_BATCH_HEADER_SIZE);
    sk_put_be64(p, (uint64_t)h->base_offset);
    sk_put_be32(p + 8, SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD);
    sk_put_be32(p + 12, (uint32_t)h->partition_leader_epoch);
    p[16] = 2;
    /* no records, so no codec: Kafka's writeEmptyHeader does the same */
    uint16_t attr = (uint16_t)h->attributes & ~(SK_BATCH_COMPRESSION_MASK | SK_BATCH_DELETE_HORIZON);
    p[21] = (uint8_t)(attr >> 8);
    p[22] = (uint8_t)attr;
    sk_put_be32(p + 23, (uint32_t)h->last_offset_delta);
    sk_put_be64(p + 27, (uint64_t)h->max_timestamp);
    sk_put_be64(p + 35, (uint64_t)h->max_timestamp);
    sk_put_be64(p + 43, (uint64_t)h->producer_id);
    p[51] = (uint8_t)((uint16_t)h->producer_epoch >> 8);
    p[52] = (uint8_t)h->producer_epoch;
    sk_put_be32(p + 53, (uint32_t)h->base_sequence);
    sk_put_be32(p + 57, 0);
    sk_batch_update_crc(p);
    out->len += SK_BATCH_HEADER_SIZE;
    return 0;
}

/* Re-encodes the kept records against the new base timestamp into f->recs. */
static int encode_kept(struct sk_clean_filter *f, const struct batch_plan *pl, int64_t base_ts,
                       int64_t *max_ts)
{
    const uint8_t *p = pl->recs;
    bool passed = (pl->h.attributes & SK_BATCH_DELETE_HORIZON) && f->now_ms >= pl->horizon;
    struct sk_record r;
    int rc;

    f->recs.len = 0;
    *max_ts = SK_NO_TIMESTAMP;
    for (int32_t i = 0; i < pl->h.record_count; i++) {
        if (!sk_record_parse(&p, pl->recs_end, &r))
            return -EBADMSG;
        int64_t off = pl->h.base_offset + r.offset_delta;
        int64_t ts = (int64_t)((uint64_t)pl->h.base_timestamp + (uint64_t)r.timestamp);
        if (!keep_record(f, &r, off, passed))
            continue;
        if ((rc = record_put(&f->recs, &r, (int64_t)((uint64_t)ts - (uint64_t)base_ts))) < 0)
            return rc;
        if (ts > *max_ts)
            *max_ts = ts;
    }
    return 0;
}

static void rebuilt_header(uint8_t *p, const struct batch_plan *pl, int64_t base_ts,
                           int64_t max_ts, size_t recs_len)
{
    const struct sk_batch_header *h = &pl->h;
    uint16_t attr = (uint16_t)h->attributes;

    if (pl->horizon >= 0)
        attr |= SK_BATCH_DELETE_HORIZON;
    if (attr & SK_BATCH_TIMESTAMP_TYPE)
        max_ts = h->max_timestamp;
    sk_put_be64(p, (uint64_t)h->base_offset);
    sk_put_be32(p + 8, (uint32_t)(SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD + recs_len));
    sk_put_be32(p + 12, (uint32_t)h->partition_leader_epoch);
    p[16] = 2;
    p[21] = (uint8_t)(attr >> 8);
    p[22] = (uint8_t)attr;
    sk_put_be32(p + 23, (uint32_t)h->last_offset_delta);
    sk_put_be64(p + 27, (uint64_t)base_ts);
    sk_put_be64(p + 35, (uint64_t)max_ts);
    sk_put_be64(p + 43, (uint64_t)h->producer_id);
    p[51] = (uint8_t)((uint16_t)h->producer_epoch >> 8);
    p[52] = (uint8_t)h->producer_epoch;
    sk_put_be32(p + 53, (uint32_t)h->base_sequence);
    sk_put_be32(p + 57, (uint32_t)pl->kept);
}

static int rebuild(struct sk_clean_filter *f, const struct batch_plan *pl, struct sk_buf *out)
{
    int64_t base_ts = pl->horizon >= 0 ? pl->horizon : pl->h.base_timestamp, max_ts;
    size_t start = out->len;
    int rc;

    if ((rc = encode_kept(f, pl, base_ts, &max_ts)) < 0 ||
        (rc = sk_buf_reserve(out, SK_BATCH_HEADER_SIZE)) < 0)
        return rc;
    out->len += SK_BATCH_HEADER_SIZE;
    rc = sk_compress(sk_batch_compression(&pl->h), SK_COMPRESSION_LEVEL_DEFAULT, f->recs.data,
                     f->recs.len, out);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    rebuilt_header(out->data + start, pl, base_ts, max_ts, out->len - start - SK_BATCH_HEADER_SIZE);
    sk_batch_update_crc(out->data + start);
    return 0;
}

int sk_clean_filter_batch(struct sk_clean_filter *f, const uint8_t *b, size_t len,
                          struct sk_buf *out)
{
    struct batch_plan pl;
    int rc;

    if (len < SK_BATCH_HEADER_SIZE)
        return -EBADMSG;
    if (b[22] & SK_BATCH_CONTROL) /* transaction markers: kept until transactions exist */
        return sk_buf_append(out, b, len);
    if ((rc = plan_batch(f, b, len, &pl)) < 0)
        return rc;
    f->kept += (uint64_t)pl.kept;
    f->dropped += (uint64_t)(pl.h.record_count - pl.kept);
    if (pl.kept_tombstone && pl.horizon > f->max_horizon)
        f->max_horizon = pl.horizon;
    bool horizon_new = pl.horizon >= 0 && !(pl.h.attributes & SK_BATCH_DELETE_HORIZON);
    if (pl.kept == pl.h.record_count && !horizon_new)
        return sk_buf_append(out, b, len);
    if (pl.kept == 0)
        return producer_last_batch(f, &pl.h) ? header_only(&pl.h, out) : 0;
    return rebuild(f, &pl, out);
}

int sk_clean_map_batch(struct sk_clean_map *m, const uint8_t *b, size_t len, int64_t from,
                       struct sk_buf *dec)
{
    struct sk_record_iter it;
    struct sk_record r;
    int k, rc;

    if (len < SK_BATCH_HEADER_SIZE)
        return -EBADMSG;
    if (b[22] & SK_BATCH_CONTROL)
        return 0;
    dec->len = 0;
    if (sk_record_iter_init(&it, b, len, dec) != 0)
        return -EBADMSG;
    while ((k = sk_record_iter_next(&it, &r)) == 1) {
        if (r.key_len < 0 || r.offset < from)
            continue;
        if ((rc = sk_clean_map_put(m, r.key, (size_t)r.key_len, r.offset)) < 0)
            return rc;
    }
    return k < 0 ? -EBADMSG : 0;
}
