/* Which layer a broker key's value comes from. Precedence follows Kafka's
 * DynamicBrokerConfig: this broker's dynamic setting, then the cluster-wide
 * dynamic default, then server.properties (with --override), then the
 * built-in default. */
#include "internal.h"

#include <string.h>

const char *sk_config_layer_value(const struct sk_config *cfg, const char *name,
                                  enum sk_config_source *src)
{
    const char *v;
    if ((v = sk_config_list_get(&cfg->dynamic_broker, name))) {
        *src = SK_CONFIG_SOURCE_DYNAMIC_BROKER;
    } else if ((v = sk_config_list_get(&cfg->dynamic_default, name))) {
        *src = SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER;
    } else if ((v = sk_config_list_get(&cfg->static_props, name))) {
        *src = SK_CONFIG_SOURCE_STATIC_BROKER;
    } else {
        *src = SK_CONFIG_SOURCE_DEFAULT;
    }
    return v;
}

const char *sk_config_broker_value(const struct sk_config *cfg, const struct sk_config_def *def,
                                   enum sk_config_source *src)
{
    const char *v = sk_config_layer_value(cfg, def->name, src);
    return v ? v : def->default_value;
}

const struct sk_config_def *sk_topic_config_for_broker_key(const char *name)
{
    size_t n;
    const struct sk_config_def *defs = sk_topic_config_defs(&n);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SK_CONFIG_MAX_SYNONYMS && defs[i].synonyms[k].name; k++)
            if (strcmp(defs[i].synonyms[k].name, name) == 0)
                return &defs[i];
    return NULL;
}

const char *sk_config_listener_base(const char *name)
{
    if (strncmp(name, "listener.name.", 14) != 0)
        return NULL;
    const char *dot = strchr(name + 14, '.');
    return dot ? dot + 1 : NULL;
}
