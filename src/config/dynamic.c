/* Dynamic broker settings (AlterConfigs / IncrementalAlterConfigs on a
 * BROKER resource). The keys a request sets are checked together with
 * Kafka's DynamicBrokerConfig.validateConfigs rules; a change is then tried
 * on a copy and only swapped in once the whole configuration still resolves,
 * so a rejected change leaves the running configuration untouched.
 *
 * Kafka lets a broker resource hold keys it does not define (plugins read
 * them), so an unknown name is stored, not refused. */
#include "internal.h"
#include "skein/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* SslConfigs.RECONFIGURABLE_CONFIGS: Kafka takes these only with a
 * listener prefix (listener.name.<name>.ssl.keystore.location ...). */
static const char *const listener_only[] = {
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
    "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password",
    "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.truststore.certificates", NULL};

/* DynamicListenerConfig's keys that stay cluster-wide with a listener prefix. */
static const char *const cluster_level_listener[] = {
    "max.connections", "max.connection.creation.rate", "num.network.threads", NULL};

static bool in(const char *const *set, const char *name)
{
    for (; *set; set++)
        if (strcmp(*set, name) == 0)
            return true;
    return false;
}

static bool non_dynamic(const char *name)
{
    const struct sk_config_def *def = sk_broker_config_find(name);
    return def && def->update_mode == SK_CONFIG_READ_ONLY;
}

static bool unprefixed_security(const char *name)
{
    return in(listener_only, name);
}

static bool per_broker(const char *name)
{
    const char *base = sk_config_listener_base(name);
    if (base)
        return !in(cluster_level_listener, base);
    const struct sk_config_def *def = sk_broker_config_find(name);
    return def && def->update_mode == SK_CONFIG_PER_BROKER;
}

/* "why: Set(a, b)" over the keys that match, as Kafka's Scala Set prints;
 * SK_ERR_NONE if none does. */
static int refuse_set(const char *const *names, const char *const *values, size_t n,
                      bool (*match)(const char *), const char *why, char *err, size_t errlen)
{
    size_t used = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!values[i] || !match(names[i]))
            continue;
        int w = found++ ? snprintf(err + used, errlen - used, ", %s", names[i])
                        : snprintf(err, errlen, "%s: Set(%s", why, names[i]);
        used += w > 0 ? (size_t)w : 0;
        used = used < errlen ? used : errlen - 1; /* truncated: keep writing nothing */
    }
    if (!found)
        return SK_ERR_NONE;
    snprintf(err + used, errlen - used, ")");
    return SK_ERR_INVALID_CONFIG;
}

/* DynamicConfig.Broker.validate: known keys (listener-prefixed ones by
 * their base name) must parse and pass their validator. */
static int check_values(const char *const *names, const char *const *values, size_t n,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            continue;
        const char *base = sk_config_listener_base(names[i]);
        const struct sk_config_def *def = sk_broker_config_find(base ? base : names[i]);
        int rc = def ? sk_config_def_validate(def, values[i], err, errlen) : SK_ERR_NONE;
        if (rc != SK_ERR_NONE)
            return rc;
    }
    return SK_ERR_NONE;
}

int sk_config_check_dynamic_keys(enum sk_config_scope scope, const char *const *names,
                                 const char *const *values, size_t n, char *err, size_t errlen)
{
    int rc = refuse_set(names, values, n, non_dynamic, "Cannot update these configs dynamically",
                        err, errlen);
    if (rc == SK_ERR_NONE)
        rc = refuse_set(names, values, n, unprefixed_security,
                        "These security configs can be dynamically updated only per-listener "
                        "using the listener prefix", err, errlen);
    if (rc == SK_ERR_NONE)
        rc = check_values(names, values, n, err, errlen);
    if (rc == SK_ERR_NONE && scope == SK_CONFIG_SCOPE_DEFAULT)
        rc = refuse_set(names, values, n, per_broker,
                        "Cannot update these configs at default cluster level, broker id must "
                        "be specified", err, errlen);
    return rc;
}

/* Builds in *out the configuration cfg would become; on success out owns a
 * new copy of the changed layer and new typed fields. */
static int try_change(const struct sk_config *cfg, enum sk_config_scope scope,
                      const char *name, const char *value, struct sk_config *out,
                      char *err, size_t errlen)
{
    int rc = sk_config_check_dynamic_keys(scope, &name, &value, 1, err, errlen);
    if (rc != SK_ERR_NONE)
        return rc;
    *out = *cfg;
    struct sk_config_list *layer = scope == SK_CONFIG_SCOPE_BROKER ? &out->dynamic_broker
                                                                   : &out->dynamic_default;
    struct sk_config_list copy;
    if (sk_config_list_copy(&copy, layer) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = value ? sk_config_list_set(&copy, name, value) : (sk_config_list_unset(&copy, name), 0);
    *layer = copy;
    if (rc == 0)
        rc = sk_config_resolve(out, err, errlen);
    if (rc != SK_ERR_NONE)
        sk_config_list_free(layer);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int sk_config_check_dynamic(const struct sk_config *cfg, enum sk_config_scope scope,
                            const char *name, const char *value, char *err, size_t errlen)
{
    struct sk_config next;
    int rc = try_change(cfg, scope, name, value, &next, err, errlen);
    if (rc == SK_ERR_NONE) {
        sk_config_free_typed(&next);
        sk_config_list_free(scope == SK_CONFIG_SCOPE_BROKER ? &next.dynamic_broker
                                                            : &next.dynamic_default);
    }
    return rc;
}

int sk_config_set_dynamic(struct sk_config *cfg, enum sk_config_scope scope,
                          const char *name, const char *value, char *err, size_t errlen)
{
    struct sk_config next;
    int rc = try_change(cfg, scope, name, value, &next, err, errlen);
    if (rc != SK_ERR_NONE)
        return rc;
    sk_config_free_typed(cfg);
    sk_config_list_free(scope == SK_CONFIG_SCOPE_BROKER ? &cfg->dynamic_broker
                                                        : &cfg->dynamic_default);
    *cfg = next;
    return SK_ERR_NONE;
}
