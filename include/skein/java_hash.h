/* Where Kafka places things by hashing a name, reproduced bit for bit so a
 * group lives in the same __consumer_offsets partition as with Kafka. */
#ifndef SKEIN_JAVA_HASH_H
#define SKEIN_JAVA_HASH_H

#include <stdint.h>

#include "kp_rt.h"

/* Java's String.hashCode over the UTF-16 code units of s (UTF-8 bytes). */
int32_t sk_java_string_hash(kp_str s);
/* abs(Java's String.hashCode(group_id)) % n, as Kafka's Utils.abs does it. */
int32_t sk_group_partition_for(kp_str group_id, int32_t n);

#endif
