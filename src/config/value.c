/* Reading typed values from config text with Java's rules: the text is
 * trimmed, numbers are decimal with an optional sign and must fit the type,
 * booleans are "true"/"false" in any case. */
#include "skein/config_defs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void trimmed(const char *s, const char **b, size_t *n)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    *b = s;
    *n = len;
}

int sk_config_parse_bool(const char *s, bool *out)
{
    const char *b;
    size_t n;
    trimmed(s, &b, &n);
    if (n == 4 && strncasecmp(b, "true", 4) == 0)
        *out = true;
    else if (n == 5 && strncasecmp(b, "false", 5) == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

int sk_config_parse_long(const char *s, int64_t *out)
{
    const char *b;
    size_t n;
    trimmed(s, &b, &n);
    /* Java accepts only [+-]digits: no hex, no inner spaces. */
    size_t i = n && (b[0] == '+' || b[0] == '-') ? 1 : 0;
    if (i == n)
        return -EINVAL;
    for (size_t k = i; k < n; k++)
        if (!isdigit((unsigned char)b[k]))
            return -EINVAL;
    errno = 0;
    long long v = strtoll(b, NULL, 10);
    if (errno == ERANGE)
        return -EINVAL;
    *out = v;
    return 0;
}

int sk_config_parse_int(const char *s, int32_t *out)
{
    int64_t v;
    if (sk_config_parse_long(s, &v) < 0 || v < INT32_MIN || v > INT32_MAX)
        return -EINVAL;
    *out = (int32_t)v;
    return 0;
}

int sk_config_parse_short(const char *s, int16_t *out)
{
    int64_t v;
    if (sk_config_parse_long(s, &v) < 0 || v < INT16_MIN || v > INT16_MAX)
        return -EINVAL;
    *out = (int16_t)v;
    return 0;
}

int sk_config_parse_double(const char *s, double *out)
{
    const char *b;
    size_t n;
    trimmed(s, &b, &n);
    if (n == 0 || n > 63)
        return -EINVAL;
    char tmp[64];
    memcpy(tmp, b, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end != '\0' || errno == ERANGE || isnan(v))
        return -EINVAL;
    *out = v;
    return 0;
}

void sk_config_items_init(struct sk_config_items *it, const char *list)
{
    const char *b;
    size_t n;
    trimmed(list, &b, &n);
    it->p = n ? b : NULL;
    it->end = b + n;
}

bool sk_config_items_next(struct sk_config_items *it, const char **item, size_t *len)
{
    if (!it->p)
        return false;
    const char *comma = memchr(it->p, ',', (size_t)(it->end - it->p));
    const char *b = it->p, *e = comma ? comma : it->end;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    *item = b;
    *len = (size_t)(e - b);
    /* After a trailing comma p == end: one more, empty, item follows. */
    it->p = comma ? comma + 1 : NULL;
    return true;
}
