/* The records of __consumer_offsets, encoded exactly as Kafka's
 * GroupCoordinatorRecordSerde: key = int16 version + key struct, value =
 * int16 version + value struct, a null value (tombstone) deletes the key.
 *
 *   key version 0/1  OffsetCommitKey   -> OffsetCommitValue (v1 with an expire
 *                                         timestamp, else v3, as Kafka 3.9 writes)
 *   key version 2    GroupMetadataKey  -> GroupMetadataValue v3
 *   key version 3+   KIP-848 records, which this coordinator skips on load. */
#ifndef SKEIN_GROUP_RECORDS_H
#define SKEIN_GROUP_RECORDS_H

#include <stdint.h>

#include "skein/buf.h"
#include "skein/group.h"
#include "skein/group_offsets.h"

#define SK_OFFSET_COMMIT_KEY_VERSION 1
#define SK_GROUP_METADATA_KEY_VERSION 2
#define SK_GROUP_METADATA_VALUE_VERSION 3

/* Each appends to out (key or value bytes). 0 or -ENOMEM. */
int sk_group_offset_key(struct sk_buf *out, kp_str group, kp_str topic, int32_t partition);
int sk_group_offset_value(struct sk_buf *out, int64_t offset, int32_t leader_epoch, kp_str metadata,
                          int64_t commit_ts, int64_t expire_ts);
int sk_group_metadata_key(struct sk_buf *out, kp_str group);
int sk_group_metadata_value(struct sk_buf *out, const struct sk_group *g, int64_t now_ms);

/* Applies one record read back from __consumer_offsets (value_len -1:
 * tombstone) to the coordinator's state. 0, or -EBADMSG for a record that
 * does not parse (the caller logs and skips it), -ENOMEM. */
int sk_group_apply_record(struct sk_group_coordinator *co, const uint8_t *key, int32_t key_len,
                          const uint8_t *value, int32_t value_len);

#endif
