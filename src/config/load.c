/* Start-up loading: properties file (or the built-in single-node default),
 * then --override arguments, each key checked against the catalogue before
 * anything is resolved. */
#include "internal.h"
#include "skein/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Same content as Kafka's config/kraft/server.properties, trimmed to what a
 * one-node cluster needs, with data under the working directory.
 * advertised.listeners is left to its default, the listeners without the
 * controller's, so that overriding only `listeners` advertises what is
 * actually listened on. */
static const char default_properties[] =
    "process.roles=broker,controller\n"
    "node.id=1\n"
    "controller.quorum.voters=1@localhost:9093\n"
    "listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n"
    "inter.broker.listener.name=PLAINTEXT\n"
    "controller.listener.names=CONTROLLER\n"
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
    "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n"
    "log.dirs=./data\n"
    "num.partitions=1\n"
    "offsets.topic.replication.factor=1\n"
    "transaction.state.log.replication.factor=1\n"
    "transaction.state.log.min.isr=1\n";

const char *sk_config_default_properties(void) { return default_properties; }

static int add_warning(struct sk_config *cfg, const char *fmt, const char *a, const char *b)
{
    char line[512];
    snprintf(line, sizeof line, fmt, a, b);
    char **w = realloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof *w);
    if (!w)
        return -ENOMEM;
    cfg->warnings = w;
    if (!(w[cfg->n_warnings] = strdup(line)))
        return -ENOMEM;
    cfg->n_warnings++;
    return 0;
}

/* Kafka accepts per-listener variants such as
 * listener.name.sasl_ssl.plain.sasl.jaas.config; they belong to security. */
static bool listener_prefixed(const char *name)
{
    return strncmp(name, "listener.name.", 14) == 0;
}

static int warn_unknown(struct sk_config *cfg, const char *name)
{
    const struct sk_config_def *topic = sk_topic_config_find(name);
    if (topic && topic->synonyms[0].name)
        return add_warning(cfg, "The configuration '%s' was supplied but isn't a known config; "
                           "its broker-wide form is '%s'.", name, topic->synonyms[0].name);
    return add_warning(cfg, "The configuration '%s' was supplied but isn't a known config.%s",
                       name, "");
}

static int check_static(struct sk_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->static_props.n; i++) {
        const struct sk_config_entry *e = &cfg->static_props.items[i];
        const struct sk_config_def *def = sk_broker_config_find(e->name);
        int rc = SK_ERR_NONE;
        /* Kafka's KafkaConfig does not know the dynamic-only throttles either. */
        if (def && (def->flags & SK_CONFIG_F_DYNAMIC_ONLY))
            def = NULL;
        if (def)
            rc = sk_config_def_validate(def, e->value, err, errlen);
        else if (!listener_prefixed(e->name) && warn_unknown(cfg, e->name) < 0)
            rc = -ENOMEM;
        if (rc != SK_ERR_NONE)
            return rc;
    }
    return SK_ERR_NONE;
}

static int read_layers(struct sk_config *cfg, const char *path,
                       const char *const *overrides, int n_overrides, char *err, size_t errlen)
{
    int rc = path ? sk_properties_load_file(path, &cfg->static_props, err, errlen)
                  : sk_properties_parse(default_properties, strlen(default_properties),
                                        &cfg->static_props, err, errlen);
    if (rc == 0)
        rc = sk_properties_apply_overrides(&cfg->static_props, overrides, n_overrides,
                                           err, errlen);
    /* A malformed file or override is a configuration error, not an I/O one. */
    return rc == -EINVAL ? SK_ERR_INVALID_CONFIG : rc;
}

static void free_warnings(struct sk_config *cfg)
{
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    cfg->warnings = NULL;
    cfg->n_warnings = 0;
}

int sk_config_load(struct sk_config *cfg, const char *path_or_null,
                   const char *const *overrides, int n_overrides,
                   char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    sk_config_list_init(&cfg->static_props);
    sk_config_list_init(&cfg->dynamic_default);
    sk_config_list_init(&cfg->dynamic_broker);
    int rc = read_layers(cfg, path_or_null, overrides, n_overrides, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = check_static(cfg, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = sk_config_resolve(cfg, err, errlen);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory loading configuration");
    if (rc != SK_ERR_NONE) {
        sk_config_list_free(&cfg->static_props);
        free_warnings(cfg);
    }
    return rc;
}

void sk_config_free(struct sk_config *cfg)
{
    sk_config_free_typed(cfg);
    sk_config_list_free(&cfg->static_props);
    sk_config_list_free(&cfg->dynamic_default);
    sk_config_list_free(&cfg->dynamic_broker);
    free_warnings(cfg);
}
