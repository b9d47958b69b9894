/* Validation of a produce request's `records` bytes, as Kafka's
 * UnifiedLog.analyzeAndValidateRecords + LogValidator do for AppendOrigin.CLIENT,
 * in place and without copying (compressed batches are decompressed into a
 * caller scratch buffer, because Kafka validates every record of those too). */
#ifndef SKEIN_RECORD_VALIDATE_H
#define SKEIN_RECORD_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/record.h"

/* A per-record error for ProduceResponse v8+ (record_errors): batch_index is the
 * record's index within its batch, as Kafka reports it. */
struct sk_record_error {
    int32_t batch_index;
    char message[160];
};

struct sk_validate_opts {
    int64_t now_ms;
    int64_t timestamp_before_max_ms; /* message.timestamp.before.max.ms */
    int64_t timestamp_after_max_ms;  /* message.timestamp.after.max.ms */
    bool log_append_time;            /* message.timestamp.type=LogAppendTime */
    int32_t max_message_bytes;       /* max.message.bytes: per batch (MESSAGE_TOO_LARGE) */
    bool compacted;                  /* cleanup.policy has compact: keys required */
    bool from_client;                /* AppendOrigin.CLIENT checks (offsets, control, sequence) */
    bool allow_multiple_batches;     /* Kafka takes one v2 batch per partition per produce */
    int16_t produce_version;         /* enables request-version checks; -1 skips them */
    struct sk_buf *scratch;          /* decompression; scratch->limit caps it (bombs) */
    struct sk_record_error *errors;  /* optional room for per-record errors */
    size_t errors_cap;
};

/* Kafka's defaults: unlimited timestamp skew, CreateTime, 1048588 bytes, client
 * origin, no request-version checks. scratch and errors must still be set. */
struct sk_validate_opts sk_validate_opts_default(int64_t now_ms);

struct sk_produce_summary {
    int8_t magic;              /* < 2: legacy set, append via sk_legacy_convert */
    int32_t batches;           /* shallow batches (legacy: shallow messages) */
    int32_t records;
    enum sk_compression compression; /* of the first compressed batch, else NONE */
    bool compressed;
    bool transactional;
    int64_t first_producer_id;
    int16_t first_producer_epoch;
    int32_t first_sequence;
    int64_t last_producer_id;
    int16_t last_producer_epoch;
    int32_t last_sequence;     /* last batch's base sequence + last offset delta */
    int64_t max_timestamp;     /* after LogAppendTime rewriting; -1 if none */
    int32_t max_timestamp_delta; /* record index (offset delta from the first record) */
    size_t error_count;        /* entries written to opts->errors */
    size_t record_errors;      /* per-record errors found (may exceed errors_cap) */
    char error_message[200];   /* for ProduceResponse error_message; "" if none */
};

/* Validates records (len bytes) and, when they are magic 2 and valid, rewrites
 * each batch's max timestamp (CreateTime) or sets LogAppendTime (topic config)
 * in place, recomputing the CRC only if a field changed. Returns SK_ERR_NONE or
 * the Kafka error code for the partition: CORRUPT_MESSAGE (framing, CRC, bad
 * magic), MESSAGE_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP,
 * UNSUPPORTED_COMPRESSION_TYPE, UNKNOWN_SERVER_ERROR (out of memory). s is
 * filled as far as validation got. */
int16_t sk_records_validate(uint8_t *records, size_t len, const struct sk_validate_opts *o,
                            struct sk_produce_summary *s);

#endif
