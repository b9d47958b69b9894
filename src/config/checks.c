/* Rules that involve several keys, checked after each key is valid on its
 * own, as Kafka's KafkaConfig does for KRaft nodes. A node Kafka would
 * refuse to start is refused here too, with the same explanation. */
#include "internal.h"
#include "skein/errors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct sk_listener *find(const struct sk_listener *ls, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(ls[i].name, name) == 0)
            return &ls[i];
    return NULL;
}

const struct sk_listener *sk_config_listener(const struct sk_config *cfg, const char *name)
{
    return find(cfg->listeners, cfg->n_listeners, name);
}

const struct sk_listener *sk_config_advertised(const struct sk_config *cfg, const char *name)
{
    return find(cfg->advertised, cfg->n_advertised, name);
}

bool sk_config_is_controller_listener(const struct sk_config *cfg, const char *name)
{
    enum sk_config_source src;
    const struct sk_config_def *def = sk_broker_config_find("controller.listener.names");
    const char *names = sk_config_broker_value(cfg, def, &src);
    struct sk_config_items it;
    const char *s;
    size_t n;
    sk_config_items_init(&it, names ? names : "");
    while (sk_config_items_next(&it, &s, &n))
        if (n == strlen(name) && strncasecmp(s, name, n) == 0)
            return true;
    return false;
}

static int refuse(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return SK_ERR_INVALID_CONFIG;
}

static int check_identity(const struct sk_config *cfg, char *err, size_t errlen)
{
    if (!cfg->process_roles)
        return refuse(err, errlen, "process.roles must be set (broker, controller or both): "
                                   "Skein runs in KRaft mode only");
    if (cfg->node_id < 0)
        return refuse(err, errlen, "Missing required configuration `node.id` which has no "
                                   "default value.");
    return SK_ERR_NONE;
}

static size_t controllers_in_listeners(const struct sk_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        n += sk_config_is_controller_listener(cfg, cfg->listeners[i].name);
    return n;
}

static bool node_is_voter(const struct sk_config *cfg)
{
    for (size_t i = 0; i < cfg->n_voters; i++)
        if (cfg->voters[i].id == cfg->node_id)
            return true;
    return false;
}

/* A voter must serve the CONTROLLER listener, which a broker-only node
 * does not: Kafka's message, the voter ids as its Scala Set prints them. */
static int refuse_broker_voter(const struct sk_config *cfg, char *err, size_t errlen)
{
    int k = snprintf(err, errlen, "If process.roles contains just the 'broker' role, the node "
                     "id %d must not be included in the set of voters "
                     "controller.quorum.voters=Set(", (int)cfg->node_id);
    for (size_t i = 0; i < cfg->n_voters && k > 0 && (size_t)k < errlen; i++)
        k += snprintf(err + k, errlen - (size_t)k, "%s%d", i ? ", " : "", (int)cfg->voters[i].id);
    if (k > 0 && (size_t)k < errlen)
        snprintf(err + k, errlen - (size_t)k, ")");
    return SK_ERR_INVALID_CONFIG;
}

static int check_quorum(const struct sk_config *cfg, char *err, size_t errlen)
{
    enum sk_config_source src;
    const char *boot = sk_config_broker_value(
        cfg, sk_broker_config_find("controller.quorum.bootstrap.servers"), &src);
    if (!cfg->controller_listener[0])
        return refuse(err, errlen, "controller.listener.names must contain at least one value "
                                   "when running in KRaft mode");
    if (cfg->n_voters == 0 && (!boot || !boot[0]))
        return refuse(err, errlen, "If using process.roles, either "
                      "controller.quorum.bootstrap.servers must contain the set of bootstrap "
                      "controllers or controller.quorum.voters must contain a parseable set of "
                      "controllers.");
    bool controller = cfg->process_roles & SK_ROLE_CONTROLLER;
    if (controller && controllers_in_listeners(cfg) == 0)
        return refuse(err, errlen, "controller.listener.names must contain at least one value "
                                   "appearing in the 'listeners' configuration when running "
                                   "the KRaft controller role");
    if (controller && cfg->n_voters && !node_is_voter(cfg)) {
        snprintf(err, errlen, "If process.roles contains the 'controller' role, the node id %d "
                 "must be included in the set of voters controller.quorum.voters",
                 (int)cfg->node_id);
        return SK_ERR_INVALID_CONFIG;
    }
    if (!controller && node_is_voter(cfg))
        return refuse_broker_voter(cfg, err, errlen);
    if (!controller && controllers_in_listeners(cfg) > 0)
        return refuse(err, errlen, "controller.listener.names must not contain a value "
                                   "appearing in the 'listeners' configuration when running "
                                   "KRaft with just the broker role");
    return SK_ERR_NONE;
}

static int check_ports(const struct sk_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        for (size_t j = 0; j < i; j++) {
            const struct sk_listener *a = &cfg->listeners[i], *b = &cfg->listeners[j];
            if (a->port && a->port == b->port && strcmp(a->host, b->host) == 0) {
                snprintf(err, errlen, "Each listener must have a different port, "
                         "listeners %s and %s both use %u", b->name, a->name, a->port);
                return SK_ERR_INVALID_CONFIG;
            }
        }
    }
    return SK_ERR_NONE;
}

static int check_advertised(const struct sk_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_advertised; i++) {
        const struct sk_listener *a = &cfg->advertised[i];
        if (strcmp(a->host, "0.0.0.0") == 0)
            return refuse(err, errlen, "advertised.listeners cannot use the nonroutable "
                                       "meta-address 0.0.0.0. Use a routable IP address.");
        if (sk_config_is_controller_listener(cfg, a->name))
            return refuse(err, errlen, "The advertised.listeners config must not contain KRaft "
                                       "controller listeners from controller.listener.names "
                                       "when process.roles contains the broker role");
        if (!sk_config_listener(cfg, a->name))
            return refuse(err, errlen, "advertised.listeners listener names must be equal to "
                                       "or a subset of the ones defined in listeners");
    }
    return SK_ERR_NONE;
}

static int check_broker(const struct sk_config *cfg, char *err, size_t errlen)
{
    enum sk_config_source a, b;
    sk_config_layer_value(cfg, "inter.broker.listener.name", &a);
    sk_config_layer_value(cfg, "security.inter.broker.protocol", &b);
    if (a != SK_CONFIG_SOURCE_DEFAULT && b != SK_CONFIG_SOURCE_DEFAULT)
        return refuse(err, errlen, "Only one of inter.broker.listener.name and "
                                   "security.inter.broker.protocol should be set.");
    if (!sk_config_listener(cfg, cfg->inter_broker_listener)) {
        snprintf(err, errlen, "inter.broker.listener.name must be a listener name defined in "
                 "listeners (found %s)", cfg->inter_broker_listener);
        return SK_ERR_INVALID_CONFIG;
    }
    return check_advertised(cfg, err, errlen);
}

/* KafkaConfig's socket-server rules, with its words. */
static int check_socket_server(const struct sk_config *cfg, char *err, size_t errlen)
{
    int64_t qb = cfg->net.queued_max_request_bytes;
    if (qb > 0 && qb < cfg->net.socket_request_max_bytes)
        return refuse(err, errlen, "queued.max.request.bytes must be larger or equal to "
                                   "socket.request.max.bytes");
    if (cfg->net.max_connections_per_ip == 0 && cfg->net.n_ip_overrides == 0)
        return refuse(err, errlen, "max.connections.per.ip can be set to zero only if "
                                   "max.connections.per.ip.overrides property is set.");
    if (cfg->log.replica_fetch_wait_max_ms > cfg->log.replica_lag_time_max_ms)
        return refuse(err, errlen, "replica.fetch.wait.max.ms should always be less than or "
                                   "equal to replica.lag.time.max.ms to prevent frequent changes "
                                   "in ISR");
    return SK_ERR_NONE;
}

int sk_config_check_cross(const struct sk_config *cfg, char *err, size_t errlen)
{
    int rc = check_identity(cfg, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = check_socket_server(cfg, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = check_quorum(cfg, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = check_ports(cfg, err, errlen);
    if (rc == SK_ERR_NONE && (cfg->process_roles & SK_ROLE_BROKER))
        rc = check_broker(cfg, err, errlen);
    if (rc == SK_ERR_NONE && cfg->n_log_dirs == 0)
        rc = refuse(err, errlen, "log.dirs must name at least one directory");
    return rc;
}

bool sk_config_quorum_on_wire(const struct sk_config *cfg)
{
    if (cfg->dynamic_quorum || cfg->n_voters > 1)
        return true;
    if (cfg->n_voters == 0)
        return false;
    bool broker = !cfg->process_roles || (cfg->process_roles & SK_ROLE_BROKER);
    return cfg->voters[0].id != cfg->node_id || !broker;
}
