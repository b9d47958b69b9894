/* Legacy message sets (magic 0 and 1), sent by Produce v0-v2 clients.
 *
 * Entry: offset int64 | size int32 | crc uint32 (CRC-32 IEEE of the rest) |
 *        magic int8 | attributes int8 | [timestamp int64, magic 1] |
 *        key bytes (int32 length, -1 null) | value bytes
 * A compressed "wrapper" message holds a compressed inner message set in its
 * value; with magic 1 the inner offsets are relative (0..n-1) and the wrapper's
 * offset is the last inner one. The broker stores only magic 2, so a valid legacy
 * set is converted to one v2 batch on append (as Kafka 3 does). */
#ifndef SKEIN_RECORD_LEGACY_H
#define SKEIN_RECORD_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/record.h"
#include "skein/record_validate.h"

#define SK_LEGACY_ATTR_TIMESTAMP_TYPE 0x08

/* Validates a legacy set (as sk_records_validate does for magic < 2). */
int16_t sk_legacy_validate(const uint8_t *p, size_t len, const struct sk_validate_opts *o,
                           struct sk_produce_summary *s);

/* Validates, then appends one magic-2 batch holding every record (offset deltas
 * 0..n-1, timestamps kept, -1 for magic 0; LogAppendTime if o->log_append_time)
 * compressed with `to`. Returns a Kafka error code as sk_legacy_validate. */
int16_t sk_legacy_convert(const uint8_t *p, size_t len, const struct sk_validate_opts *o,
                          enum sk_compression to, struct sk_buf *out, struct sk_produce_summary *s);

/* Appends one legacy message (offset, size, CRC computed). value/key NULL with
 * length -1 are nulls. 0 or -ENOMEM/-EFBIG/-EINVAL. Used by tests and down-conversion. */
int sk_legacy_message_append(struct sk_buf *out, int8_t magic, int64_t offset, int8_t attributes,
                             int64_t timestamp, const void *key, int32_t key_len,
                             const void *value, int32_t value_len);

#endif
