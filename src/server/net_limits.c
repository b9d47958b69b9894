/* Connection limits are dynamic in Kafka (max.connections,
 * max.connections.per.ip and its overrides are cluster-wide dynamic
 * settings): after every metadata change, which is how a dynamic config
 * arrives, the shard gets the limits the configuration now says. As in
 * Kafka's ConnectionQuotas, connections already open stay; the new limits
 * apply to the next accepts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/net.h"

int sk_broker_net_limits_apply(struct sk_broker *b)
{
    if (!b->shard)
        return 0;
    const struct sk_config *cfg = b->cfg;
    size_t n = cfg->net.n_ip_overrides;
    struct sk_net_ip_limit *v = calloc(n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(v[i].addr, cfg->net.ip_overrides[i].addr, 16);
        v[i].max = (uint32_t)cfg->net.ip_overrides[i].max;
    }
    int rc = sk_shard_set_conn_limits(b->shard, (uint32_t)cfg->net.max_connections,
                                      (uint32_t)cfg->net.max_connections_per_ip, v, n);
    free(v);
    return rc;
}
