/* Value sets shared by the broker key and its topic-level synonym. */
#include "def_macros.h"

#include <stddef.h>

/* Kafka lists them in this order in its error messages. */
const char *const sk_config_compression_choices[] = {
    "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL};
const char *const sk_config_cleanup_choices[] = {"compact", "delete", NULL};
const char *const sk_config_timestamp_choices[] = {"CreateTime", "LogAppendTime", NULL};
