/* DescribeConfigs' view of the configuration: each key's effective value,
 * where it came from, and (on request) its synonyms in Kafka's order. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* A key Kafka does not define that a layer holds (a plugin's setting): of
 * unknown type, so Kafka shows it sensitive (no value) and read-only. */
static const struct sk_config_def custom = {.type = SK_CONFIG_UNKNOWN,
                                            .update_mode = SK_CONFIG_READ_ONLY};

/* Kafka's read-only flag: not in DynamicBrokerConfig.AllDynamicConfigs,
 * which leaves out the throttles DynamicConfig.Broker adds. */
static bool read_only(const struct sk_config_def *def)
{
    return def->update_mode == SK_CONFIG_READ_ONLY || (def->flags & SK_CONFIG_F_DYNAMIC_ONLY);
}

/* The definition a broker layer's key is described with: its own, its base
 * key's for a listener's own setting, else the custom one. */
static const struct sk_config_def *def_for(const char *name)
{
    const struct sk_config_def *def = sk_broker_config_find(name);
    const char *base = def ? NULL : sk_config_listener_base(name);
    def = base ? sk_broker_config_find(base) : def;
    return def ? def : &custom;
}

static void fill(struct sk_config_value *out, const struct sk_config_def *def,
                 const char *name, const char *value, enum sk_config_source src, bool read_only)
{
    out->def = def;
    out->name = name;
    out->sensitive = sk_config_def_sensitive(def);
    /* Secrets never leave the broker, whoever asks. */
    out->value = out->sensitive ? NULL : value;
    out->source = src;
    out->read_only = read_only;
}

int sk_config_describe_broker(const struct sk_config *cfg, const char *name,
                              struct sk_config_value *out)
{
    const struct sk_config_def *def = sk_broker_config_find(name);
    enum sk_config_source src;
    if (!def) {
        const char *v = sk_config_layer_value(cfg, name, &src);
        if (!v)
            return -ENOENT;
        def = def_for(name);
        fill(out, def, name, v, src, read_only(def));
        return 0;
    }
    const char *v = sk_config_broker_value(cfg, def, &src);
    fill(out, def, def->name, v, src, read_only(def));
    return 0;
}

int sk_config_describe_topic(const struct sk_config *cfg,
                             const struct sk_config_entry *overrides, size_t n_overrides,
                             const char *name, struct sk_config_value *out)
{
    const struct sk_config_def *def = sk_topic_config_find(name);
    if (!def)
        return -ENOENT;
    enum sk_config_source src;
    const char *v = sk_topic_value(cfg, overrides, n_overrides, def, &src, out->buf);
    fill(out, def, def->name, v, src, false);
    return 0;
}

/* Appends one synonym if there is room; always counts it. */
static void add(struct sk_config_value *out, size_t max, size_t *n,
                const struct sk_config_def *def, const char *name, const char *value,
                enum sk_config_source src)
{
    if (*n < max)
        fill(&out[*n], def, name, value, src, read_only(def));
    (*n)++;
}

/* Kafka lists synonyms layer by layer (every synonym's dynamic per-broker
 * value, then every dynamic default, then static, then defaults). */
static size_t layered(const struct sk_config *cfg, const struct sk_config_def *topic,
                      const char *from, struct sk_config_value *out, size_t max, size_t n)
{
    const struct sk_config_list *layers[] = {&cfg->dynamic_broker, &cfg->dynamic_default,
                                             &cfg->static_props, NULL};
    const enum sk_config_source sources[] = {SK_CONFIG_SOURCE_DYNAMIC_BROKER,
                                             SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER,
                                             SK_CONFIG_SOURCE_STATIC_BROKER,
                                             SK_CONFIG_SOURCE_DEFAULT};
    bool started = from == NULL;
    for (int l = 0; l < 4; l++) {
        for (int k = 0; k < SK_CONFIG_MAX_SYNONYMS && topic->synonyms[k].name; k++) {
            const char *name = topic->synonyms[k].name;
            const struct sk_config_def *def = def_for(name);
            /* A listener's own setting has no default of its own. */
            bool own = def->name && strcmp(def->name, name) == 0;
            const char *v = layers[l] ? sk_config_list_get(layers[l], name)
                                      : own ? def->default_value : NULL;
            if (!v)
                continue;
            /* A broker key's own list starts at its first entry, as Kafka's does. */
            started = started || strcmp(name, from) == 0;
            if (started)
                add(out, max, &n, def, name, v, sources[l]);
        }
    }
    return n;
}

size_t sk_config_broker_synonyms(const struct sk_config *cfg, const char *name,
                                 struct sk_config_value *out, size_t max)
{
    enum sk_config_source src;
    if (!sk_broker_config_find(name) && !sk_config_layer_value(cfg, name, &src))
        return 0;
    const struct sk_config_def *topic = sk_topic_config_for_broker_key(name);
    if (topic)
        return layered(cfg, topic, name, out, max, 0);
    /* A key without synonyms is its own single-entry group. */
    struct sk_config_def alone = {.synonyms = {{name, 1}}};
    return layered(cfg, &alone, name, out, max, 0);
}

size_t sk_config_topic_synonyms(const struct sk_config *cfg,
                                const struct sk_config_entry *overrides, size_t n_overrides,
                                const char *name, struct sk_config_value *out, size_t max)
{
    const struct sk_config_def *def = sk_topic_config_find(name);
    if (!def)
        return 0;
    size_t n = 0;
    for (size_t i = n_overrides; i-- > 0;) {
        if (strcmp(overrides[i].name, name) == 0) {
            add(out, max, &n, def, def->name, overrides[i].value, SK_CONFIG_SOURCE_TOPIC);
            break;
        }
    }
    return layered(cfg, def, NULL, out, max, n);
}
