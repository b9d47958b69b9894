/* The voters of a dynamic (KIP-853) quorum at start-up (skein/server.h:
 * sk_storage_bootstrap_voters).
 *
 * A controller with controller.quorum.bootstrap.servers and no
 * controller.quorum.voters runs the Raft core at kraft.version 1: its voter
 * set is the metadata log's (the bootstrap checkpoint `skein format` wrote,
 * or a later snapshot's, and the VOTERS batches above it), read again by
 * the core itself. The set found here is also copied into the static voter
 * list, which the parts of the node that look for the active controller by
 * address (the broker's registration, forwarding) use as a starting point.
 * A controller formatted without a set, or whose set lacks it, starts as an
 * observer and fetches from the bootstrap servers until AddRaftVoter makes
 * it a voter; a broker-only node is such an observer for good, as Kafka's
 * brokers with controller.quorum.bootstrap.servers are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/logging.h"
#include "skein/raft-t.h"
#include "skein/server.h"
#include "skein/voters_snapshot.h"

static const char *bootstrap_servers(const struct sk_config *cfg)
{
    struct sk_config_value v;
    if (sk_config_describe_broker(cfg, "controller.quorum.bootstrap.servers", &v) < 0)
        return NULL;
    return v.value && v.value[0] ? v.value : NULL;
}

static const struct sk_voter_endpoint *controller_endpoint(const struct sk_config *cfg,
                                                           const struct sk_voter_node *v)
{
    size_t n = strlen(cfg->controller_listener);
    for (int e = 0; e < v->n_ep; e++)
        if (v->ep[e].name_len == n && memcmp(v->ep[e].name, cfg->controller_listener, n) == 0)
            return &v->ep[e];
    return NULL;
}

/* A host is looked up by name: one with a zero byte names no host. */
static int take_voter(struct sk_config *cfg, const struct sk_voter_node *v, struct sk_voter *out,
                      char *err, size_t errlen)
{
    const struct sk_voter_endpoint *ep = controller_endpoint(cfg, v);
    if (!ep) {
        snprintf(err, errlen, "voter %d of the bootstrap voter set has no endpoint for the "
                 "controller listener %s", (int)v->id, cfg->controller_listener);
        return -EINVAL;
    }
    if (ep->host_len >= SK_CONFIG_HOST_MAX || memchr(ep->host, 0, ep->host_len)) {
        snprintf(err, errlen, "voter %d of the bootstrap voter set has a host that cannot be "
                 "connected to (a zero byte, or longer than %d bytes)", (int)v->id,
                 SK_CONFIG_HOST_MAX - 1);
        return -EINVAL;
    }
    *out = (struct sk_voter){.id = v->id, .port = ep->port};
    memcpy(out->host, ep->host, ep->host_len);
    return 0;
}

static int take_voters(struct sk_config *cfg, const struct sk_voter_set *vs, char *err,
                       size_t errlen)
{
    if (vs->n > SK_CONFIG_MAX_VOTERS || vs->n > SK_RAFT_MAX_VOTERS) {
        snprintf(err, errlen, "the bootstrap voter set has %zu voters; Skein's quorum takes "
                 "at most %d", vs->n, SK_RAFT_MAX_VOTERS);
        return -EINVAL;
    }
    for (size_t i = 0; i < vs->n; i++) {
        int rc = take_voter(cfg, &vs->v[i], &cfg->voters[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    cfg->n_voters = vs->n;
    return 0;
}

static bool is_voter(const struct sk_config *cfg)
{
    for (size_t i = 0; i < cfg->n_voters; i++)
        if (cfg->voters[i].id == cfg->node_id)
            return true;
    return false;
}

static void log_voters(const struct sk_config *cfg)
{
    char line[512];
    int k = 0;
    for (size_t i = 0; i < cfg->n_voters && k >= 0 && (size_t)k < sizeof line; i++)
        k += snprintf(line + k, sizeof line - (size_t)k, "%s%d@%s:%u", i ? "," : "",
                      (int)cfg->voters[i].id, cfg->voters[i].host, cfg->voters[i].port);
    sk_info("KIP-853 voter set: %s (the metadata log's at start-up)%s", k ? line : "none",
            is_voter(cfg) ? "" : " (this controller observes until it is added)");
}

int sk_storage_bootstrap_voters(struct sk_config *cfg, char *err, size_t errlen)
{
    if (cfg->n_voters || !bootstrap_servers(cfg))
        return 0;
    bool controller = cfg->process_roles & SK_ROLE_CONTROLLER;
    const char *md = cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", md, SK_METADATA_PARTITION_DIR);
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    int rc = sk_voters_snapshot_read(dir, vs);
    if (rc == -ENOENT)
        rc = 0, vs->n = 0; /* formatted -N, or a broker: it observes */
    else if (rc < 0)
        snprintf(err, errlen, "cannot read the KIP-853 voter set in %s: %s", dir,
                 strerror(-rc));
    else
        rc = take_voters(cfg, vs, err, errlen);
    free(vs);
    cfg->dynamic_quorum = rc == 0;
    if (rc == 0 && controller)
        log_voters(cfg);
    return rc;
}
