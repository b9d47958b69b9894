/* Owned copies of wire strings; see include/skein/wire_str.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/wire_str.h"

int sk_wire_str_dup(kp_str *out, kp_str s)
{
    if (s.len < 0) {
        *out = KP_STR_NULL;
        return 0;
    }
    /* One spare byte so an empty string still has a pointer of its own. */
    char *p = malloc((size_t)s.len + 1);
    if (!p)
        return -ENOMEM;
    if (s.len)
        memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    *out = (kp_str){p, s.len};
    return 0;
}

void sk_wire_str_free(kp_str *s)
{
    free((char *)s->ptr);
    *s = KP_STR_NULL;
}

int sk_wire_str_set(kp_str *dst, kp_str s)
{
    kp_str c;
    if (sk_wire_str_dup(&c, s) < 0)
        return -ENOMEM;
    sk_wire_str_free(dst);
    *dst = c;
    return 0;
}

int sk_wire_str_cmp(kp_str a, kp_str b)
{
    if (a.len < 0 || b.len < 0)
        return (a.len >= 0) - (b.len >= 0);
    size_t n = (size_t)(a.len < b.len ? a.len : b.len);
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

int sk_wire_str_to_i32(kp_str s, int32_t *out)
{
    int32_t i = 0;
    bool neg = s.len > 0 && s.ptr[0] == '-';
    if (s.len > 0 && (s.ptr[0] == '-' || s.ptr[0] == '+'))
        i = 1;
    if (i >= s.len)
        return -EINVAL;
    int64_t v = 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -EINVAL;
        v = v * 10 + (s.ptr[i] - '0');
        if (v > (int64_t)INT32_MAX + neg)
            return -EINVAL;
    }
    *out = (int32_t)(neg ? -v : v);
    return 0;
}

const char *sk_wire_str_escape(kp_str s, char *buf, size_t n)
{
    size_t used = 0;
    for (int32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '\\';
        size_t w = plain ? 1 : 4;
        if (used + w + 4 > n) { /* room for "..." and the terminator */
            memcpy(buf + used, "...", 4);
            return buf;
        }
        if (plain)
            buf[used] = (char)c;
        else
            snprintf(buf + used, 5, "\\x%02x", c);
        used += w;
    }
    buf[used] = 0;
    return buf;
}
