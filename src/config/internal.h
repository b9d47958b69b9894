/* Helpers shared by the files of src/config/, not part of the public API. */
#ifndef SK_CONFIG_INTERNAL_H
#define SK_CONFIG_INTERNAL_H

#include "skein/config.h"

/* The value set for name in the highest layer that sets it, or NULL (then
 * *src is SK_CONFIG_SOURCE_DEFAULT). */
const char *sk_config_layer_value(const struct sk_config *cfg, const char *name,
                                  enum sk_config_source *src);
/* The layer value or, if no layer sets it, the key's default (maybe NULL). */
const char *sk_config_broker_value(const struct sk_config *cfg, const struct sk_config_def *def,
                                   enum sk_config_source *src);

/* Fills cfg's typed fields from its layers (values already validated) and
 * runs the checks that span several keys. On failure the typed fields are
 * left freed and the code is SK_ERR_INVALID_CONFIG or -ENOMEM. */
int sk_config_resolve(struct sk_config *cfg, char *err, size_t errlen);
void sk_config_free_typed(struct sk_config *cfg);
/* Parses and resolves max.connections.per.ip.overrides into cfg->net. */
int sk_config_bind_ip_overrides(struct sk_config *cfg, const char *value, char *err,
                                size_t errlen);
int sk_config_check_cross(const struct sk_config *cfg, char *err, size_t errlen);

/* Kafka's ListenerConfigRegex, listener\.name\.[^.]*\.(.*): the key without
 * its listener prefix, or NULL when it has none. */
const char *sk_config_listener_base(const char *name);

/* The topic key whose broker synonyms include name, or NULL. */
const struct sk_config_def *sk_topic_config_for_broker_key(const char *name);

/* Effective text of a topic key: the topic's override, else the first broker
 * synonym that has a value (unit-converted into buf when needed), else the
 * key's default. *src tells which. */
const char *sk_topic_value(const struct sk_config *cfg,
                           const struct sk_config_entry *overrides, size_t n_overrides,
                           const struct sk_config_def *def, enum sk_config_source *src,
                           char buf[24]);

#endif
