/* Dynamic broker settings (AlterConfigs / IncrementalAlterConfigs on a
 * BROKER resource). A change is tried on a copy and only swapped in once the
 * whole configuration still resolves, so a rejected change leaves the
 * running configuration untouched. */
#include "internal.h"
#include "skein/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int check_key(enum sk_config_scope scope, const char *name, const char *value,
                     char *err, size_t errlen)
{
    const struct sk_config_def *def = sk_broker_config_find(name);
    if (!def) {
        snprintf(err, errlen, "Unknown broker config name: %s", name);
        return SK_ERR_INVALID_CONFIG;
    }
    if (def->update_mode == SK_CONFIG_READ_ONLY) {
        snprintf(err, errlen, "Cannot update these configs dynamically: Set(%s)", name);
        return SK_ERR_INVALID_CONFIG;
    }
    if (scope == SK_CONFIG_SCOPE_DEFAULT && def->update_mode == SK_CONFIG_PER_BROKER) {
        snprintf(err, errlen, "Cannot update these configs at default cluster level, broker id "
                 "must be specified: Set(%s)", name);
        return SK_ERR_INVALID_CONFIG;
    }
    return sk_config_def_validate(def, value, err, errlen);
}

/* Builds in *out the configuration cfg would become; on success out owns a
 * new copy of the changed layer and new typed fields. */
static int try_change(const struct sk_config *cfg, enum sk_config_scope scope,
                      const char *name, const char *value, struct sk_config *out,
                      char *err, size_t errlen)
{
    int rc = check_key(scope, name, value, err, errlen);
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
