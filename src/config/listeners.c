/* Listener, protocol map and voter parsing. Kafka normalises listener names
 * to upper case and compares them that way, so "plaintext://" and
 * "PLAINTEXT://" are the same listener. */
#include "skein/config_listeners.h"
#include "skein/config_defs.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const protocol_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

int sk_security_protocol_parse(const char *name, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (strlen(protocol_names[i]) == len && strncasecmp(protocol_names[i], name, len) == 0)
            return i;
    return -1;
}

const char *sk_security_protocol_name(enum sk_security_protocol p)
{
    return (unsigned)p < 4 ? protocol_names[p] : NULL;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static bool host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '%' || c == '.' || c == '_' || c == ':';
}

/* Splits "host:port" or "[v6]:port" into host (brackets dropped) and port. */
static int parse_host_port(const char *s, size_t n, char *host, uint16_t *port)
{
    const char *h = s, *colon;
    size_t hn;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close + 1 >= s + n || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            return -EINVAL;
        hn = (size_t)(colon - s);
    }
    if (hn >= SK_CONFIG_HOST_MAX)
        return -EINVAL;
    for (size_t i = 0; i < hn; i++)
        if (!host_char_ok(h[i]))
            return -EINVAL;
    memcpy(host, h, hn);
    host[hn] = '\0';
    return parse_port(colon + 1, (size_t)(s + n - colon - 1), port);
}

static int parse_endpoint(const char *s, size_t n, struct sk_listener *l)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n && !sep; i++)
        if (memcmp(s + i, "://", 3) == 0)
            sep = s + i;
    size_t nn = sep ? (size_t)(sep - s) : 0;
    if (!sep || nn == 0 || nn >= SK_CONFIG_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < nn; i++)
        l->name[i] = (char)toupper((unsigned char)s[i]);
    l->name[nn] = '\0';
    l->protocol = SK_SECURITY_PLAINTEXT;
    return parse_host_port(sep + 3, (size_t)(s + n - sep - 3), l->host, &l->port);
}

static int find_listener(const struct sk_listener *ls, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, name) == 0)
            return (int)i;
    return -1;
}

int sk_listeners_parse(const char *value, struct sk_listener *out, size_t max,
                       char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len, n = 0;
    sk_config_items_init(&it, value ? value : "");
    while (sk_config_items_next(&it, &item, &len)) {
        if (n == max) {
            snprintf(err, errlen, "Too many listeners (at most %zu)", max);
            return -EINVAL;
        }
        if (parse_endpoint(item, len, &out[n]) < 0) {
            snprintf(err, errlen, "Unable to parse %.*s to a broker endpoint", (int)len, item);
            return -EINVAL;
        }
        if (find_listener(out, n, out[n].name) >= 0) {
            snprintf(err, errlen, "Each listener must have a different name, %s is repeated",
                     out[n].name);
            return -EINVAL;
        }
        n++;
    }
    return (int)n;
}

/* Finds the map entry for a listener; returns the protocol id or -1. Entries
 * are assumed well formed (checked by sk_protocol_map_check). */
int sk_protocol_map_lookup(const char *map, const char *listener_name)
{
    struct sk_config_items it;
    const char *item;
    size_t len, nl = strlen(listener_name);
    sk_config_items_init(&it, map ? map : "");
    while (sk_config_items_next(&it, &item, &len)) {
        const char *colon = memchr(item, ':', len);
        if (!colon || (size_t)(colon - item) != nl || strncasecmp(item, listener_name, nl) != 0)
            continue;
        return sk_security_protocol_parse(colon + 1, (size_t)(item + len - colon - 1));
    }
    return -1;
}

int sk_protocol_map_check(const char *map, char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len;
    sk_config_items_init(&it, map ? map : "");
    while (sk_config_items_next(&it, &item, &len)) {
        const char *colon = memchr(item, ':', len);
        if (!colon || colon == item) {
            snprintf(err, errlen, "Map entry '%.*s' is not of the form LISTENER_NAME:PROTOCOL",
                     (int)len, item);
            return -EINVAL;
        }
        if (sk_security_protocol_parse(colon + 1, (size_t)(item + len - colon - 1)) < 0) {
            snprintf(err, errlen, "No security protocol named '%.*s'",
                     (int)(item + len - colon - 1), colon + 1);
            return -EINVAL;
        }
    }
    return 0;
}

int sk_listeners_resolve_protocols(struct sk_listener *ls, size_t n, const char *map,
                                   char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int p = sk_protocol_map_lookup(map, ls[i].name);
        if (p < 0) {
            snprintf(err, errlen,
                     "No security protocol defined for listener %s in listener.security.protocol.map",
                     ls[i].name);
            return -EINVAL;
        }
        ls[i].protocol = (enum sk_security_protocol)p;
    }
    return 0;
}

static int parse_voter(const char *s, size_t n, struct sk_voter *v)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || at - s > 10)
        return -EINVAL;
    int64_t id = 0;
    for (const char *p = s; p < at; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        id = id * 10 + (*p - '0');
    }
    if (id > INT32_MAX)
        return -EINVAL;
    v->id = (int32_t)id;
    return parse_host_port(at + 1, (size_t)(s + n - at - 1), v->host, &v->port);
}

int sk_voters_parse(const char *value, struct sk_voter *out, size_t max,
                    char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len, n = 0;
    sk_config_items_init(&it, value ? value : "");
    while (sk_config_items_next(&it, &item, &len)) {
        if (n == max) {
            snprintf(err, errlen, "Too many voters (at most %zu)", max);
            return -EINVAL;
        }
        if (parse_voter(item, len, &out[n]) < 0 || out[n].host[0] == '\0') {
            snprintf(err, errlen, "Unable to parse '%.*s' as {id}@{host}:{port}", (int)len, item);
            return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i].id == out[n].id) {
                snprintf(err, errlen, "Voter id %d is listed twice", (int)out[n].id);
                return -EINVAL;
            }
        }
        n++;
    }
    return (int)n;
}
