/* The quorum's connections (raftnet_int.h). Under KIP-853 the voter set,
 * and with it where each voter listens, changes at run time: a request goes
 * to the address the current set gives its voter's CONTROLLER endpoint, a
 * bootstrap server's to the address configured, and a leader's that the set
 * does not name yet (an observer formatted without one) to the address a
 * Fetch answer's NodeEndpoints gave. A peer whose address moved is
 * reconnected there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "raftnet_int.h"
#include "skein/config.h"
#include "skein/kclient.h"
#include "skein/logging.h"

static bool fill(struct sk_raftnet_addr *out, int32_t id, const uint8_t *host, size_t len,
                 uint16_t port)
{
    if (len == 0 || len >= sizeof out->host || memchr(host, 0, len) || port == 0)
        return false;
    out->id = id;
    memcpy(out->host, host, len);
    out->host[len] = 0;
    out->port = port;
    return true;
}

/* The voter's endpoint on our controller listener, in the set in use. */
static bool from_set(const struct sk_raftnet *rn, int32_t id, struct sk_raftnet_addr *out)
{
    const struct sk_raft_voter_set *s = sk_raft_voters(sk_quorum_raft(rn->q));
    const char *name = rn->b->node->cfg->controller_listener;
    int32_t i = sk_raft_voters_find(s, id);
    if (i < 0)
        return false;
    const struct sk_raft_voter *v = &s->voters[i];
    for (int32_t e = 0; e < v->n_endpoints; e++) {
        const struct sk_raft_endpoint *ep = &v->endpoints[e];
        if (ep->name_len == strlen(name) &&
            strncasecmp((const char *)ep->name, name, ep->name_len) == 0)
            return fill(out, id, ep->host, ep->host_len, ep->port);
    }
    return false;
}

static bool from_list(const struct sk_raftnet_addr *l, int n, int32_t id,
                      struct sk_raftnet_addr *out)
{
    for (int i = 0; i < n; i++)
        if (l[i].id == id) {
            *out = l[i];
            return true;
        }
    return false;
}

bool sk_raftnet_address(const struct sk_raftnet *rn, int32_t id, struct sk_raftnet_addr *out)
{
    const struct sk_config *cfg = rn->b->node->cfg;
    if (id <= SK_RAFT_BOOTSTRAP_ID(0)) {
        int i = SK_RAFT_BOOTSTRAP_ID(0) - id;
        return i < rn->n_bootstrap && (*out = rn->bootstrap[i], true);
    }
    if (cfg->dynamic_quorum && from_set(rn, id, out))
        return true;
    if (from_list(rn->learned, rn->n_learned, id, out))
        return true;
    for (size_t i = 0; i < cfg->n_voters; i++)
        if (cfg->voters[i].id == id)
            return fill(out, id, (const uint8_t *)cfg->voters[i].host,
                        strlen(cfg->voters[i].host), cfg->voters[i].port);
    return false;
}

void sk_raftnet_learn(struct sk_raftnet *rn, int32_t id, const char *host, size_t host_len,
                      int32_t port)
{
    struct sk_raftnet_addr a;
    if (id < 0 || port <= 0 || port > 65535 ||
        !fill(&a, id, (const uint8_t *)host, host_len, (uint16_t)port))
        return;
    int i = 0;
    while (i < rn->n_learned && rn->learned[i].id != id)
        i++;
    if (i == SK_RAFTNET_MAX_LEARNED) /* the oldest goes */
        memmove(rn->learned, rn->learned + 1, (size_t)--i * sizeof rn->learned[0]);
    rn->learned[i] = a;
    if (i == rn->n_learned)
        rn->n_learned++;
}

static void drop_pending(struct sk_raftnet_peer *p)
{
    if (p->has_pending)
        sk_raft_msg_release(&p->pending);
    p->has_pending = false;
}

static void close_peer(struct sk_raftnet_peer *p)
{
    if (p->kc)
        sk_kclient_close(p->kc);
    p->kc = NULL;
    drop_pending(p);
}

void sk_raftnet_close_peers(struct sk_raftnet *rn)
{
    for (int i = 0; i < rn->n_peers; i++)
        close_peer(&rn->peers[i]);
}

static int connect_peer(struct sk_raftnet *rn, struct sk_raftnet_peer *p,
                        const struct sk_raftnet_addr *a)
{
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    kc.request_timeout_ms = (uint32_t)rn->cfg.request_timeout_ms;
    kc.client_id = "raft-client";
    p->rn = rn;
    p->id = a->id;
    memcpy(p->host, a->host, sizeof p->host);
    p->port = a->port;
    struct sk_kclient_handler h = {.on_ready = sk_raftnet_peer_ready, .arg = p};
    int rc = sk_kclient_new(rn->b->shard, p->host, p->port, &kc, &h, &p->kc);
    if (rc < 0)
        sk_warn("raft: cannot connect to node %d at %s:%u: %s", a->id, a->host, a->port,
                strerror(-rc));
    return rc;
}

static struct sk_raftnet_peer *slot_for(struct sk_raftnet *rn, int32_t id)
{
    struct sk_raftnet_peer *free_slot = NULL;
    for (int i = 0; i < rn->n_peers; i++) {
        if (rn->peers[i].kc && rn->peers[i].id == id)
            return &rn->peers[i];
        if (!rn->peers[i].kc && !free_slot)
            free_slot = &rn->peers[i];
    }
    if (free_slot || rn->n_peers == SK_RAFTNET_MAX_PEERS)
        return free_slot;
    return &rn->peers[rn->n_peers++];
}

struct sk_raftnet_peer *sk_raftnet_peer_for(struct sk_raftnet *rn, int32_t id)
{
    struct sk_raftnet_addr a;
    if (id == rn->cfg.node_id || !sk_raftnet_address(rn, id, &a))
        return NULL;
    struct sk_raftnet_peer *p = slot_for(rn, id);
    if (!p)
        return NULL;
    if (p->kc && p->port == a.port && strcmp(p->host, a.host) == 0)
        return p;
    close_peer(p);
    return connect_peer(rn, p, &a) == 0 ? p : NULL;
}

/* host:port, [v6]:port, comma-separated as Kafka's list values. */
static int parse_one(const char *s, size_t n, struct sk_raftnet_addr *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon)
        return -EINVAL;
    const char *host = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
        host++, hlen -= 2;
    char digits[8] = {0};
    size_t plen = (size_t)(s + n - colon - 1);
    if (plen == 0 || plen >= sizeof digits)
        return -EINVAL;
    memcpy(digits, colon + 1, plen);
    char *end;
    long port = strtol(digits, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return -EINVAL;
    return fill(out, 0, (const uint8_t *)host, hlen, (uint16_t)port) ? 0 : -EINVAL;
}

int sk_raftnet_parse_bootstrap(struct sk_raftnet *rn, const char *list, char *err,
                               size_t errlen)
{
    rn->n_bootstrap = 0;
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (rn->n_bootstrap == SK_RAFT_MAX_BOOTSTRAP ||
            parse_one(p, n, &rn->bootstrap[rn->n_bootstrap]) < 0) {
            snprintf(err, errlen, "controller.quorum.bootstrap.servers: cannot use '%.*s' "
                     "(host:port, at most %d servers)", (int)n, p, SK_RAFT_MAX_BOOTSTRAP);
            return -EINVAL;
        }
        rn->bootstrap[rn->n_bootstrap].id = SK_RAFT_BOOTSTRAP_ID(rn->n_bootstrap);
        rn->n_bootstrap++;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}
