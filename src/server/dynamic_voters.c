/* Parsing KIP-853's initial controllers (skein/dynamic_voters.h), with the
 * rules and messages of Kafka's DynamicVoter and DynamicVoters. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "skein/dynamic_voters.h"
#include "skein/uuid.h"

struct span {
    const char *p;
    size_t n;
};

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -EINVAL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static struct span trim(struct span s)
{
    while (s.n && is_space(*s.p)) {
        s.p++;
        s.n--;
    }
    while (s.n && is_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

static const char *find(struct span s, char c)
{
    return s.n ? memchr(s.p, c, s.n) : NULL;
}

static struct span after(struct span s, const char *at)
{
    return (struct span){at + 1, s.n - (size_t)(at + 1 - s.p)};
}

/* Integer.parseInt: optional sign, decimal digits, 32 bits. */
static bool parse_int(struct span s, int64_t *out)
{
    size_t i = s.n && (s.p[0] == '-' || s.p[0] == '+');
    if (i == s.n || s.n - i > 10)
        return false;
    int64_t v = 0;
    for (; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (s.p[i] - '0');
    }
    *out = s.p[0] == '-' ? -v : v;
    return *out >= INT32_MIN && *out <= INT32_MAX;
}

static int parse_id(struct span *s, struct sk_dynamic_voter *v, char *err, size_t errlen)
{
    const char *at = find(*s, '@');
    if (!at)
        return fail(err, errlen, "No @ found in dynamic voter string.");
    if (at == s->p)
        return fail(err, errlen, "Invalid @ at beginning of dynamic voter string.");
    int64_t id;
    if (!parse_int((struct span){s->p, (size_t)(at - s->p)}, &id))
        return fail(err, errlen, "Failed to parse node id in dynamic voter string.");
    if (id < 0) {
        snprintf(err, errlen, "Invalid negative node id %lld in dynamic voter string.",
                 (long long)id);
        return -EINVAL;
    }
    v->id = (int32_t)id;
    *s = after(*s, at);
    return s->n ? 0 : fail(err, errlen, "No hostname found after node id.");
}

static int set_host(struct sk_dynamic_voter *v, const char *p, size_t n, char *err,
                    size_t errlen)
{
    if (n >= sizeof v->host)
        return fail(err, errlen, "Hostname too long in dynamic voter string.");
    memcpy(v->host, p, n);
    v->host[n] = 0;
    return 0;
}

static int parse_host(struct span *s, struct sk_dynamic_voter *v, char *err, size_t errlen)
{
    const char *end;
    int rc;
    if (s->p[0] == '[') {
        end = find(*s, ']');
        if (!end)
            return fail(err, errlen, "Hostname began with left bracket, but no right bracket "
                                     "was found.");
        rc = set_host(v, s->p + 1, (size_t)(end - s->p - 1), err, errlen);
        *s = after(*s, end);
    } else {
        end = find(*s, ':');
        if (!end)
            return fail(err, errlen, "No colon following hostname could be found.");
        rc = set_host(v, s->p, (size_t)(end - s->p), err, errlen);
        *s = (struct span){end, s->n - (size_t)(end - s->p)};
    }
    if (rc == 0 && (!s->n || s->p[0] != ':'))
        return fail(err, errlen, "Port section must start with a colon.");
    if (rc == 0)
        *s = (struct span){s->p + 1, s->n - 1};
    return rc;
}

static int parse_port_dir(struct span s, struct sk_dynamic_voter *v, char *err, size_t errlen)
{
    const char *colon = find(s, ':');
    if (!colon)
        return fail(err, errlen, "No colon following port could be found.");
    int64_t port;
    if (!parse_int((struct span){s.p, (size_t)(colon - s.p)}, &port))
        return fail(err, errlen, "Failed to parse port in dynamic voter string.");
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "Invalid port %lld in dynamic voter string.", (long long)port);
        return -EINVAL;
    }
    v->port = (uint16_t)port;
    struct span dir = after(s, colon);
    char why[200];
    if (sk_uuid_parse(dir.p, dir.n, v->dir_id, why, sizeof why) < 0)
        return fail(err, errlen, "Failed to parse directory ID in dynamic voter string.");
    return 0;
}

static int parse_one(struct span s, struct sk_dynamic_voter *v, char *err, size_t errlen)
{
    s = trim(s);
    int rc = parse_id(&s, v, err, errlen);
    if (rc == 0)
        rc = parse_host(&s, v, err, errlen);
    if (rc == 0)
        rc = parse_port_dir(s, v, err, errlen);
    return rc;
}

const struct sk_dynamic_voter *sk_dynamic_voters_find(const struct sk_dynamic_voters *vs,
                                                      int32_t id)
{
    for (size_t i = 0; i < vs->n; i++)
        if (vs->v[i].id == id)
            return &vs->v[i];
    return NULL;
}

static int add(struct sk_dynamic_voters *out, struct span item, char *err, size_t errlen)
{
    if (out->n == SK_DYNAMIC_VOTERS_MAX)
        return fail(err, errlen, "Too many voters given.");
    struct sk_dynamic_voter v;
    int rc = parse_one(item, &v, err, errlen);
    if (rc == 0 && sk_dynamic_voters_find(out, v.id)) {
        snprintf(err, errlen, "Node id %d was specified more than once.", (int)v.id);
        rc = -EINVAL;
    }
    if (rc == 0)
        out->v[out->n++] = v;
    return rc;
}

int sk_dynamic_voters_parse(const char *s, size_t len, struct sk_dynamic_voters *out, char *err,
                            size_t errlen)
{
    out->n = 0;
    struct span rest = trim((struct span){s, len});
    while (rest.n) {
        const char *comma = find(rest, ',');
        struct span item = {rest.p, comma ? (size_t)(comma - rest.p) : rest.n};
        int rc = item.n ? add(out, item, err, errlen) : 0;
        if (rc < 0)
            return rc;
        rest = comma ? after(rest, comma) : (struct span){rest.p + rest.n, 0};
    }
    return out->n ? 0 : fail(err, errlen, "No voters given.");
}
