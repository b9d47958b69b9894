/* Kafka's Uuid as operators see it: 16 bytes written as 22 characters of
 * URL-safe base64 without padding (cluster ids, directory ids). */
#ifndef SKEIN_UUID_H
#define SKEIN_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_UUID_STR_LEN 22

/* A new id by Uuid.randomUuid's rules: a version-4 random UUID that is
 * neither the zero id nor the metadata topic's id and whose text does not
 * start with '-' (a command line would take it for an option). */
void sk_uuid_random(uint8_t out[16]);

/* A new log directory id, as MetaPropertiesEnsemble makes them: 128 random
 * bits, not one of the reserved ids, text not starting with '-'. */
void sk_uuid_random_dir(uint8_t out[16]);

/* True for the ids Kafka keeps for itself as directory ids (the first 100). */
bool sk_uuid_dir_reserved(const uint8_t id[16]);

/* Writes the 22 characters and a terminating NUL. */
void sk_uuid_format(const uint8_t id[16], char out[SK_UUID_STR_LEN + 1]);

/* Parses s[0..len) as Uuid.fromString does. 0, or -EINVAL with Kafka's
 * explanation in err. */
int sk_uuid_parse(const char *s, size_t len, uint8_t out[16], char *err, size_t errlen);

#endif
