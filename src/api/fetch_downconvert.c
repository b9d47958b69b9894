/* Fetch v0-v3: consumers older than 0.11 read message format 0 (v0-v1) or 1
 * (v2-v3), while the log holds magic-2 batches only. As Kafka does, the read
 * is sized on the stored bytes and converted when the answer is built; the
 * converted sets are answered from memory instead of spliced from the file.
 * Kafka's per-topic refusals (KafkaApis.maybeConvertFetchedData) are applied
 * at the same point, for every version. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch_int.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/record_downconvert.h"

int8_t sk_fetch_magic(int16_t version)
{
    if (version <= 1)
        return 0;
    return version <= 3 ? 1 : 2;
}

int16_t sk_fetch_topic_check(const struct sk_topic_config *tc, int16_t version)
{
    /* zstd arrived with Fetch v10; older consumers cannot decode it. */
    if (version < 10 && tc->compression == SK_TOPIC_COMPRESSION_ZSTD)
        return SK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    if (sk_fetch_magic(version) < 2 && !tc->message_downconversion)
        return SK_ERR_UNSUPPORTED_VERSION;
    return SK_ERR_NONE;
}

static int read_slice(const struct sk_plog_slice *s, uint8_t *buf)
{
    for (uint32_t got = 0; got < s->len;) {
        ssize_t n = pread(s->fd, buf + got, s->len - got, (off_t)(s->pos + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        got += (uint32_t)n;
    }
    return 0;
}

/* As Kafka's FetchResponse.partitionResponse: the error and nothing else. */
static void convert_error(kp_fetch_response_partition_data *d, int16_t err)
{
    d->error_code = err;
    d->high_watermark = -1;
    d->last_stable_offset = -1;
    d->log_start_offset = -1;
    d->aborted_transactions.n = -1;
    d->records = (kp_bytes){NULL, 0};
}

/* Buffers above this are not kept for the next fetch. */
#define KEEP_BYTES (8u << 20)

static void convert_one(struct sk_fetch_state *st, struct sk_fetch_result *r,
                        int64_t fetch_offset, int8_t magic)
{
    struct sk_downconvert_opts o = {magic, fetch_offset, r->slice.len};
    struct sk_buf out = {0};
    int rc = sk_buf_reserve(&st->dc_stored, r->slice.len);
    if (rc == 0)
        rc = read_slice(&r->slice, st->dc_stored.data);
    /* Room for the usual answer, which is at most the stored size. */
    if (rc == 0)
        rc = sk_buf_reserve(&out, r->slice.len);
    if (rc < 0) {
        /* Nothing this time: the consumer asks again. */
        sk_warn("fetch: cannot read %u bytes to down-convert: %s", r->slice.len, strerror(-rc));
        r->data.records = (kp_bytes){NULL, 0};
    } else {
        int16_t err = (int16_t)sk_downconvert(st->dc_stored.data, r->slice.len, &o, &out,
                                              &st->dc_scratch);
        if (err != SK_ERR_NONE || out.len > INT32_MAX) {
            convert_error(&r->data, err != SK_ERR_NONE ? err : SK_ERR_UNKNOWN_SERVER_ERROR);
        } else if (out.len > 0) {
            r->data.records = (kp_bytes){NULL, (int32_t)out.len};
            r->converted = out.data; /* the response frame frees it once sent */
            out.data = NULL;
        } else {
            r->data.records = (kp_bytes){NULL, 0};
        }
    }
    sk_buf_free(&out);
    r->slice.len = 0; /* nothing left to splice from the file */
}

/* Fetch v0-v2 limits are hard: a first batch larger than the fetch size is
 * not read at all. Kafka then sends the header of an "overflow" message
 * (offset -1, a size past the end) so the consumer knows to raise its fetch
 * size (sarama doubles it, kafka-python reports RecordTooLargeError) instead
 * of asking again for nothing forever. */
static void overflow_stub(struct sk_fetch_result *r)
{
    enum { STUB = 12, BATCH_OVERHEAD = 61 };
    uint8_t *p = malloc(STUB);
    if (!p)
        return;
    memset(p, 0xff, 8);
    p[8] = p[9] = p[10] = 0;
    p[11] = BATCH_OVERHEAD;
    r->data.records = (kp_bytes){NULL, STUB};
    r->converted = p;
}

static bool too_large(const struct sk_fetch_op *op, const struct sk_fetch_result *r, int i)
{
    return op->req->version <= 2 && r->slice.len == 0 && r->data.error_code == SK_ERR_NONE &&
           op->parts[i].fetch_offset < r->data.high_watermark;
}

static void trim(struct sk_buf *b)
{
    b->len = 0;
    if (b->cap > KEEP_BYTES)
        sk_buf_free(b);
}

void sk_fetch_convert(struct sk_fetch_op *op, const bool *keep)
{
    struct sk_fetch_state *st = op->req->broker->fetch;
    int8_t magic = sk_fetch_magic(op->req->version);
    for (int i = 0; i < op->nparts; i++) {
        struct sk_fetch_result *r = &op->results[i];
        if (!keep[i])
            continue;
        if (r->refused != SK_ERR_NONE) {
            convert_error(&r->data, r->refused);
            r->slice.len = 0;
        } else if (magic < 2 && r->slice.len > 0) {
            convert_one(st, r, op->parts[i].fetch_offset, magic);
        } else if (magic < 2 && too_large(op, r, i)) {
            overflow_stub(r);
        }
    }
    if (magic == 2)
        return;
    trim(&st->dc_stored);
    trim(&st->dc_scratch);
}

void sk_fetch_downconvert_close(struct sk_fetch_state *st)
{
    sk_buf_free(&st->dc_stored);
    sk_buf_free(&st->dc_scratch);
}
