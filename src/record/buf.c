#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/buf.h"

static size_t buf_max(const struct sk_buf *b)
{
    return b->limit ? b->limit : SIZE_MAX;
}

int sk_buf_reserve(struct sk_buf *b, size_t extra)
{
    size_t max = buf_max(b);
    if (extra > max - b->len)
        return -EFBIG;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    /* Doubling keeps appends amortised O(1); clamping to the limit keeps the last
     * growth step from allocating far more than may ever be used. */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > max)
        cap = max;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

long sk_buf_grow_some(struct sk_buf *b, size_t hint)
{
    if (b->cap > b->len)
        return (long)(b->cap - b->len);
    size_t room = buf_max(b) - b->len;
    if (room == 0)
        return -EFBIG;
    if (hint < 4096)
        hint = 4096;
    if (hint < b->len)
        hint = b->len; /* double */
    if (hint > room)
        hint = room;
    if (hint > (size_t)1 << 30)
        hint = (size_t)1 << 30;
    int rc = sk_buf_reserve(b, hint);
    if (rc < 0)
        return rc;
    return (long)(b->cap - b->len);
}

int sk_buf_append(struct sk_buf *b, const void *p, size_t n)
{
    int rc = sk_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void sk_buf_free(struct sk_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
