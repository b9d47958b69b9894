/* A growable byte buffer with a hard size limit.
 *
 * Decompression and batch building write into one of these. The limit is what
 * keeps a decompression bomb (a few KB that inflate to gigabytes) from exhausting
 * memory: growing past it fails with -EFBIG instead of allocating. */
#ifndef SKEIN_BUF_H
#define SKEIN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sk_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* max len; 0 means no limit */
};

/* Makes room for extra more bytes after len. 0, -EFBIG past limit, -ENOMEM. */
int sk_buf_reserve(struct sk_buf *b, size_t extra);

/* Makes room for at least one more byte, preferring about `hint` more; returns the
 * free space after len (> 0), or -EFBIG when len has reached the limit, -ENOMEM. */
long sk_buf_grow_some(struct sk_buf *b, size_t hint);

int sk_buf_append(struct sk_buf *b, const void *p, size_t n);
void sk_buf_free(struct sk_buf *b); /* frees data; keeps limit; len = cap = 0 */

#endif
