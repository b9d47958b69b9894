/* Kafka's Uuid text form (skein/uuid.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "skein/uuid.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* getrandom only fails on a kernel without it, or when interrupted before
 * the pool is ready: retry, and give up only on a real error, where no id
 * can be trusted to be unique. */
static void random_bytes(uint8_t out[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(out + got, 16 - got, 0);
        if (n < 0 && errno != EINTR)
            abort();
        if (n > 0)
            got += (size_t)n;
    }
}

static bool all_zero_but_last(const uint8_t id[16])
{
    for (int i = 0; i < 15; i++)
        if (id[i])
            return false;
    return true;
}

void sk_uuid_format(const uint8_t id[16], char out[SK_UUID_STR_LEN + 1])
{
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        if (i + 1 < 16)
            v |= (uint32_t)id[i + 1] << 8;
        if (i + 2 < 16)
            v |= id[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        if (i + 1 < 16)
            out[o++] = b64[v >> 6 & 63];
        if (i + 2 < 16)
            out[o++] = b64[v & 63];
    }
    out[o] = 0;
}

void sk_uuid_random(uint8_t out[16])
{
    for (;;) {
        random_bytes(out);
        out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4, as java.util.UUID */
        out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* IETF variant */
        bool special = all_zero_but_last(out) && out[15] <= 1; /* zero, metadata topic */
        if (!special && b64[out[0] >> 2] != '-')
            return;
    }
}

bool sk_uuid_dir_reserved(const uint8_t id[16])
{
    return all_zero_but_last(id) && id[15] < 100;
}

void sk_uuid_random_dir(uint8_t out[16])
{
    do
        random_bytes(out);
    while (sk_uuid_dir_reserved(out) || b64[out[0] >> 2] == '-');
}

static int digit(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

int sk_uuid_parse(const char *s, size_t len, uint8_t out[16], char *err, size_t errlen)
{
    if (len > SK_UUID_STR_LEN) {
        snprintf(err, errlen, "Input string with prefix `%.*s` is too long to be decoded as "
                 "a base64 UUID", SK_UUID_STR_LEN, s);
        return -EINVAL;
    }
    if (len % 4 == 1) {
        snprintf(err, errlen, "Last unit does not have enough valid bits");
        return -EINVAL;
    }
    uint32_t acc = 0;
    size_t bits = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        int d = digit(s[i]);
        if (d < 0) {
            snprintf(err, errlen, "Illegal base64 character %x", (unsigned)(uint8_t)s[i]);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (n != 16) {
        snprintf(err, errlen, "Input string `%.*s` decoded as %zu bytes, which is not equal to "
                 "the expected 16 bytes of a base64-encoded UUID", (int)len, s, n);
        return -EINVAL;
    }
    return 0;
}
