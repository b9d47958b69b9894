/* java.util.Properties.load() rules, because operators bring Kafka's
 * server.properties files and expect them to mean the same thing here. */
#include "skein/config_properties.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable byte buffer; NUL-terminated whenever len changes. */
struct buf {
    char *p;
    size_t len, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }
static bool is_eol(char c) { return c == '\n' || c == '\r'; }

/* Cursor over the input text, one natural line at a time. */
struct reader {
    const char *s;
    size_t len, pos;
};

/* Returns the next natural line (without terminator) and advances past it. */
static bool next_natural_line(struct reader *r, const char **line, size_t *n)
{
    if (r->pos >= r->len)
        return false;
    size_t start = r->pos;
    while (r->pos < r->len && !is_eol(r->s[r->pos]))
        r->pos++;
    *line = r->s + start;
    *n = r->pos - start;
    if (r->pos < r->len) {
        char c = r->s[r->pos++];
        if (c == '\r' && r->pos < r->len && r->s[r->pos] == '\n')
            r->pos++;
    }
    return true;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* An odd run of trailing backslashes escapes the line break itself. */
static bool continues(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[n - 1 - k] == '\\')
        k++;
    return k % 2 == 1;
}

/* Joins continuation lines into one logical line in b. Returns 1 if a line
 * was produced, 0 at end of input, -ENOMEM. Comment and blank lines are
 * skipped; a comment never continues, as in Java. */
static int next_logical_line(struct reader *r, struct buf *b)
{
    const char *line;
    size_t n;
    b->len = 0;
    while (next_natural_line(r, &line, &n)) {
        size_t i = skip_ws(line, n, 0);
        if (i == n || line[i] == '#' || line[i] == '!')
            continue;
        for (;;) {
            bool more = continues(line + i, n - i);
            if (buf_put(b, line + i, n - i - (more ? 1 : 0)) < 0)
                return -ENOMEM;
            if (!more || !next_natural_line(r, &line, &n))
                return 1;
            i = skip_ws(line, n, 0);
        }
    }
    return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_put(b, u, n);
}

/* Reads the 4 hex digits after "\u" at s[i]; -1 if malformed. */
static long hex4(const char *s, size_t n, size_t i)
{
    if (i + 4 > n)
        return -1;
    long v = 0;
    for (size_t k = i; k < i + 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Decodes \uXXXX at s[*i] (pointing at 'u'), pairing UTF-16 surrogates the
 * way Java strings hold characters outside the BMP. */
static int put_unicode(struct buf *b, const char *s, size_t n, size_t *i)
{
    long hi = hex4(s, n, *i + 1);
    if (hi < 0)
        return -EINVAL;
    *i += 5;
    if (hi >= 0xd800 && hi < 0xdc00 && *i + 1 < n && s[*i] == '\\' && s[*i + 1] == 'u') {
        long lo = hex4(s, n, *i + 2);
        if (lo >= 0xdc00 && lo < 0xe000) {
            *i += 6;
            return put_utf8(b, 0x10000 + (((unsigned)hi - 0xd800) << 10) + ((unsigned)lo - 0xdc00));
        }
    }
    if (hi >= 0xd800 && hi < 0xe000)
        hi = 0xfffd; /* a lone surrogate has no UTF-8 form */
    return put_utf8(b, (unsigned)hi);
}

static int unescape(const char *s, size_t n, struct buf *out)
{
    out->len = 0;
    if (buf_put(out, "", 0) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            size_t j = i;
            while (j < n && s[j] != '\\')
                j++;
            if (buf_put(out, s + i, j - i) < 0)
                return -ENOMEM;
            i = j;
            continue;
        }
        if (++i >= n)
            break;
        char c = s[i];
        if (c == 'u') {
            int rc = put_unicode(out, s, n, &i);
            if (rc < 0)
                return rc;
            continue;
        }
        char e = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
        if (buf_put(out, &e, 1) < 0)
            return -ENOMEM;
        i++;
    }
    return 0;
}

/* Splits a logical line into raw key and raw value (escapes still in). */
static void split(const char *s, size_t n, size_t *key_end, size_t *val_start)
{
    size_t i = 0;
    while (i < n && s[i] != '=' && s[i] != ':' && !is_ws(s[i]))
        i += s[i] == '\\' && i + 1 < n ? 2 : 1;
    if (i > n)
        i = n;
    *key_end = i;
    i = skip_ws(s, n, i);
    if (i < n && (s[i] == '=' || s[i] == ':'))
        i = skip_ws(s, n, i + 1);
    *val_start = i;
}

static int parse_line(const struct buf *line, struct buf *key, struct buf *val,
                      struct sk_config_list *out, char *err, size_t errlen, int lineno)
{
    size_t key_end, val_start;
    split(line->p, line->len, &key_end, &val_start);
    int rc = unescape(line->p, key_end, key);
    if (rc == 0)
        rc = unescape(line->p + val_start, line->len - val_start, val);
    if (rc == -EINVAL)
        snprintf(err, errlen, "malformed \\uxxxx encoding in logical line %d", lineno);
    if (rc == 0)
        rc = sk_config_list_set(out, key->p, val->p);
    return rc;
}

int sk_properties_parse(const char *text, size_t len, struct sk_config_list *out,
                        char *err, size_t errlen)
{
    struct reader r = {text, len, 0};
    struct buf line = {0}, key = {0}, val = {0};
    int rc, lineno = 0;
    while ((rc = next_logical_line(&r, &line)) == 1) {
        rc = parse_line(&line, &key, &val, out, err, errlen, ++lineno);
        if (rc < 0)
            break;
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory parsing properties");
    free(line.p);
    free(key.p);
    free(val.p);
    return rc;
}

static int read_all(FILE *f, struct buf *b)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_put(b, chunk, n) < 0)
            return -ENOMEM;
    return ferror(f) ? -EIO : 0;
}

int sk_properties_load_file(const char *path, struct sk_config_list *out,
                            char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct buf b = {0};
    int rc = read_all(f, &b);
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
    } else {
        char why[200] = "";
        rc = sk_properties_parse(b.p ? b.p : "", b.len, out, why, sizeof why);
        if (rc < 0)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    free(b.p);
    return rc;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (is_ws(**s) || is_eol(**s)))
        (*s)++, (*n)--;
    while (*n && (is_ws((*s)[*n - 1]) || is_eol((*s)[*n - 1])))
        (*n)--;
}

static int apply_override(struct sk_config_list *list, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    const char *k = arg, *v = eq ? eq + 1 : NULL;
    size_t kn = eq ? (size_t)(eq - arg) : 0, vn = v ? strlen(v) : 0;
    if (eq)
        trim(&k, &kn);
    if (!eq || kn == 0) {
        snprintf(err, errlen, "invalid override '%s': expected key=value", arg);
        return -EINVAL;
    }
    trim(&v, &vn);
    char *name = strndup(k, kn), *value = strndup(v, vn);
    int rc = name && value ? sk_config_list_set(list, name, value) : -ENOMEM;
    free(name);
    free(value);
    if (rc < 0)
        snprintf(err, errlen, "out of memory applying override '%s'", arg);
    return rc;
}

int sk_properties_apply_overrides(struct sk_config_list *list,
                                  const char *const *overrides, int n_overrides,
                                  char *err, size_t errlen)
{
    for (int i = 0; i < n_overrides; i++) {
        int rc = apply_override(list, overrides[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}
