/* The LeaderChange control batch a Raft leader writes first in its epoch:
 * one control record whose key is Kafka's control record key (version 0,
 * type 2) and whose value is LeaderChangeMessage version 0, a flexible
 * message with no version prefix (Kafka's ControlRecordUtils). */
#include <errno.h>
#include <string.h>

#include "skein/buf.h"
#include "skein/meta_raftlog.h"
#include "skein/record.h"

#define LEADER_CHANGE_TYPE 2
/* int16 version, int32 leader, two compact arrays of up to nine voters
 * (int32 id and an empty tagged-field section each), the message's tags. */
#define LEADER_CHANGE_MAX (2 + 4 + 2 * (1 + SK_RAFT_MAX_VOTERS * 5) + 1)

static uint8_t *put16(uint8_t *p, int16_t v)
{
    p[0] = (uint8_t)((uint16_t)v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, int32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)((uint32_t)v >> (24 - 8 * i));
    return p + 4;
}

static int32_t get32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* A compact array's length is n + 1 as a uvarint: one byte for n < 127. */
static uint8_t *put_voters(uint8_t *p, const int32_t *ids, int32_t n)
{
    *p++ = (uint8_t)(n + 1);
    for (int32_t i = 0; i < n; i++) {
        p = put32(p, ids[i]);
        *p++ = 0; /* no tagged fields */
    }
    return p;
}

int sk_leader_change_encode(int64_t base, int32_t epoch, int64_t now_ms, int32_t leader,
                            const int32_t *voters, int32_t n_voters, const int32_t *granting,
                            int32_t n_granting, struct sk_buf *out)
{
    if (n_voters < 0 || n_voters > SK_RAFT_MAX_VOTERS || n_granting < 0 ||
        n_granting > SK_RAFT_MAX_VOTERS)
        return -EINVAL;
    uint8_t key[4], value[LEADER_CHANGE_MAX];
    put16(put16(key, 0), LEADER_CHANGE_TYPE);
    uint8_t *p = put32(put16(value, 0), leader);
    p = put_voters(p, voters, n_voters);
    p = put_voters(p, granting, n_granting);
    *p++ = 0;
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base;
    spec.partition_leader_epoch = epoch;
    spec.flags = SK_BATCH_CONTROL;
    struct sk_record_in rec = {.timestamp = now_ms, .key = key, .key_len = sizeof key,
                               .value = value, .value_len = (int32_t)(p - value)};
    return sk_batch_build(out, &spec, &rec, 1);
}

static int decode_value(const struct sk_record *r, int32_t *leader, int32_t *n_voters)
{
    if (r->key_len != 4 || r->key[0] != 0 || r->key[1] != 0 || r->key[2] != 0 ||
        r->key[3] != LEADER_CHANGE_TYPE || r->value_len < 7)
        return -EBADMSG;
    const uint8_t *v = r->value;
    if (v[0] != 0 || v[1] != 0 || v[6] == 0 || v[6] > 127)
        return -EBADMSG;
    *leader = get32(v + 2);
    *n_voters = v[6] - 1;
    return 0;
}

int sk_leader_change_decode(const uint8_t *batch, size_t len, int32_t *leader,
                            int32_t *n_voters)
{
    struct sk_batch_header h;
    if (sk_batch_header_read(batch, len, &h) < 0 || !(h.attributes & SK_BATCH_CONTROL) ||
        h.record_count != 1)
        return -EBADMSG;
    struct sk_buf scratch = {0};
    struct sk_record_iter it;
    struct sk_record r;
    int rc = -EBADMSG;
    if (sk_record_iter_init(&it, batch, sk_batch_size(&h), &scratch) == 0 &&
        sk_record_iter_next(&it, &r) > 0)
        rc = decode_value(&r, leader, n_voters);
    sk_buf_free(&scratch);
    return rc;
}
