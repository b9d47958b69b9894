/* max.connections.per.ip.overrides: "host:count,host:count". Kafka resolves
 * each host once, when the configuration is loaded (InetAddress.getByName),
 * and refuses a host it cannot read; so does this. The count is split at
 * the last ':' so that IPv6 literals keep theirs. */
#include "internal.h"
#include "skein/errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEY[] = "max.connections.per.ip.overrides";

/* Resolves host (a literal or a name) to its first address, IPv4 mapped. */
static int resolve(const char *host, uint8_t addr[16])
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res))
        return -1;
    memset(addr, 0, 16);
    if (res->ai_family == AF_INET) {
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    } else {
        memcpy(addr, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
    }
    freeaddrinfo(res);
    return 0;
}

static int parse_count(const char *s, size_t n, int32_t *out)
{
    char buf[16];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < 0 || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

static int bad(char *err, size_t errlen, const char *item, size_t n)
{
    snprintf(err, errlen, "%s contains invalid addresses : %.*s", KEY, (int)n, item);
    return SK_ERR_INVALID_CONFIG;
}

static int parse_item(const char *s, size_t n, struct sk_config_ip_limit *out, char *err,
                      size_t errlen)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    char host[256];
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (!colon || hl == 0 || hl >= sizeof host)
        return bad(err, errlen, s, n);
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (parse_count(colon + 1, n - hl - 1, &out->max) < 0) {
        snprintf(err, errlen, "Invalid value %.*s for configuration %s: the count must be an "
                 "integer of at least 0", (int)n, s, KEY);
        return SK_ERR_INVALID_CONFIG;
    }
    if (resolve(host, out->addr) < 0)
        return bad(err, errlen, s, n);
    return SK_ERR_NONE;
}

int sk_config_bind_ip_overrides(struct sk_config *cfg, const char *value, char *err,
                                size_t errlen)
{
    struct sk_config_items it;
    const char *s;
    size_t n, count = 0;
    cfg->net.ip_overrides = NULL;
    cfg->net.n_ip_overrides = 0;
    sk_config_items_init(&it, value ? value : "");
    while (sk_config_items_next(&it, &s, &n))
        count++;
    if (!count)
        return SK_ERR_NONE;
    cfg->net.ip_overrides = calloc(count, sizeof *cfg->net.ip_overrides);
    if (!cfg->net.ip_overrides) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    sk_config_items_init(&it, value);
    while (sk_config_items_next(&it, &s, &n)) {
        int rc = parse_item(s, n, &cfg->net.ip_overrides[cfg->net.n_ip_overrides], err, errlen);
        if (rc != SK_ERR_NONE)
            return rc;
        cfg->net.n_ip_overrides++;
    }
    return SK_ERR_NONE;
}
