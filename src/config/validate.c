/* Value checks for config keys. Messages follow Kafka's ConfigException
 * ("Invalid value V for configuration K: reason") because admin tools show
 * them to operators verbatim. */
#include "skein/config_defs.h"
#include "skein/config_listeners.h"
#include "skein/errors.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *sk_config_type_name(enum sk_config_type type)
{
    switch (type) {
    case SK_CONFIG_UNKNOWN: return "UNKNOWN";
    case SK_CONFIG_BOOLEAN: return "BOOLEAN";
    case SK_CONFIG_STRING: return "STRING";
    case SK_CONFIG_INT: return "INT";
    case SK_CONFIG_SHORT: return "SHORT";
    case SK_CONFIG_LONG: return "LONG";
    case SK_CONFIG_DOUBLE: return "DOUBLE";
    case SK_CONFIG_LIST: return "LIST";
    case SK_CONFIG_CLASS: return "CLASS";
    case SK_CONFIG_PASSWORD: return "PASSWORD";
    }
    return "UNKNOWN";
}

const char *sk_config_importance_name(enum sk_config_importance importance)
{
    static const char *const names[] = {"HIGH", "MEDIUM", "LOW"};
    return (unsigned)importance < 3 ? names[importance] : "UNKNOWN";
}

const char *sk_config_update_mode_name(enum sk_config_update_mode mode)
{
    static const char *const names[] = {"read-only", "per-broker", "cluster-wide", "per-topic"};
    return (unsigned)mode < 4 ? names[mode] : "unknown";
}

static int fail(const struct sk_config_def *def, const char *value, char *err, size_t errlen,
                const char *why)
{
    snprintf(err, errlen, "Invalid value %s for configuration %s: %s", value, def->name, why);
    return SK_ERR_INVALID_CONFIG;
}

/* Reads the value as a number of the def's type; 0 or -1 if not one. */
static int as_number(const struct sk_config_def *def, const char *v, double *d, int64_t *l)
{
    int32_t i;
    int16_t s;
    switch (def->type) {
    case SK_CONFIG_INT:
        if (sk_config_parse_int(v, &i) < 0)
            return -1;
        *l = i;
        break;
    case SK_CONFIG_SHORT:
        if (sk_config_parse_short(v, &s) < 0)
            return -1;
        *l = s;
        break;
    case SK_CONFIG_LONG:
        if (sk_config_parse_long(v, l) < 0)
            return -1;
        break;
    case SK_CONFIG_DOUBLE:
        if (sk_config_parse_double(v, d) < 0)
            return -1;
        return 0;
    default:
        return 0;
    }
    *d = (double)*l;
    return 0;
}

static int check_type(const struct sk_config_def *def, const char *v, char *err, size_t errlen)
{
    bool b;
    double d;
    int64_t l;
    char why[64];
    if (def->type == SK_CONFIG_BOOLEAN && sk_config_parse_bool(v, &b) < 0)
        return fail(def, v, err, errlen, "Expected value to be either true or false");
    if (as_number(def, v, &d, &l) < 0) {
        snprintf(why, sizeof why, "Not a number of type %s", sk_config_type_name(def->type));
        return fail(def, v, err, errlen, why);
    }
    return SK_ERR_NONE;
}

static int check_range(const struct sk_config_def *def, const char *v, char *err, size_t errlen)
{
    double d = 0;
    int64_t l = 0;
    char why[96];
    as_number(def, v, &d, &l);
    /* Compare integers exactly: a double cannot tell Long.MAX_VALUE from -1 above it. */
    bool is_double = def->type == SK_CONFIG_DOUBLE;
    if (def->has_min && (is_double ? d < (double)def->min : l < def->min)) {
        snprintf(why, sizeof why, "Value must be at least %" PRId64, def->min);
        return fail(def, v, err, errlen, why);
    }
    if (def->has_max && (is_double ? d > (double)def->max : l > def->max)) {
        snprintf(why, sizeof why, "Value must be no more than %" PRId64, def->max);
        return fail(def, v, err, errlen, why);
    }
    return SK_ERR_NONE;
}

static bool is_choice(const struct sk_config_def *def, const char *s, size_t n, bool ci)
{
    for (const char *const *c = def->choices; c && *c; c++)
        if (strlen(*c) == n && (ci ? strncasecmp(*c, s, n) : strncmp(*c, s, n)) == 0)
            return true;
    return false;
}

static void choices_text(const struct sk_config_def *def, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *const *c = def->choices; c && *c && used < outlen; c++) {
        int n = snprintf(out + used, outlen - used, "%s%s", c == def->choices ? "" : ", ", *c);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int not_a_choice(const struct sk_config_def *def, const char *shown,
                        char *err, size_t errlen)
{
    char why[256], list[200];
    bool ci = def->check == SK_CHECK_ONE_OF_CI;
    choices_text(def, list, sizeof list);
    snprintf(why, sizeof why, "String must be one of%s: %s", ci ? " (case insensitive)" : "", list);
    return fail(def, shown, err, errlen, why);
}

static int check_one_of(const struct sk_config_def *def, const char *v, char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len;
    /* The whole trimmed string is one item here; commas are not special. */
    sk_config_items_init(&it, v);
    item = it.p ? it.p : "";
    len = (size_t)(it.end - item);
    if (it.p && is_choice(def, item, len, def->check == SK_CHECK_ONE_OF_CI))
        return SK_ERR_NONE;
    return not_a_choice(def, v, err, errlen);
}

/* Kafka names the offending item, not the whole list, in this message. */
static int check_list_of(const struct sk_config_def *def, const char *v, char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len;
    sk_config_items_init(&it, v);
    while (sk_config_items_next(&it, &item, &len)) {
        if (!is_choice(def, item, len, false)) {
            char shown[128];
            snprintf(shown, sizeof shown, "%.*s", (int)len, item);
            return not_a_choice(def, shown, err, errlen);
        }
    }
    return SK_ERR_NONE;
}

static int check_no_duplicates(const struct sk_config_def *def, const char *v,
                               char *err, size_t errlen)
{
    struct sk_config_items it, jt;
    const char *a, *b;
    size_t an, bn, i = 0;
    sk_config_items_init(&it, v);
    while (sk_config_items_next(&it, &a, &an)) {
        if (an == 0)
            return fail(def, v, err, errlen, "Empty list items are not allowed");
        sk_config_items_init(&jt, v);
        for (size_t j = 0; j < i && sk_config_items_next(&jt, &b, &bn); j++)
            if (an == bn && memcmp(a, b, an) == 0)
                return fail(def, v, err, errlen, "Duplicate entries are not allowed");
        i++;
    }
    return SK_ERR_NONE;
}

/* Kafka 3.9's ThrottledReplicaListValidator: each trimmed item matches
 * ([0-9]+:[0-9]+)? (so an empty item is fine: "0:1," is valid), or the
 * items together are "*". */
static bool throttled_item_ok(const char *s, size_t n)
{
    if (n == 0)
        return true;
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s || colon == s + n - 1)
        return false;
    for (const char *p = s; p < s + n; p++)
        if (p != colon && (*p < '0' || *p > '9'))
            return false;
    return true;
}

static int check_throttled(const struct sk_config_def *def, const char *v, char *err, size_t errlen)
{
    struct sk_config_items it;
    const char *item;
    size_t len, n = 0;
    bool star = false, ok = true;
    sk_config_items_init(&it, v);
    while (sk_config_items_next(&it, &item, &len)) {
        n += len > 0;
        if (len == 1 && item[0] == '*')
            star = true;
        else if (!throttled_item_ok(item, len))
            ok = false;
    }
    if (ok && (!star || n == 1))
        return SK_ERR_NONE;
    return fail(def, v, err, errlen,
                "must be the literal '*' or a list of replicas in the following format: "
                "[partitionId]:[brokerId],[partitionId]:[brokerId],...");
}

static int check_gzip_level(const struct sk_config_def *def, const char *v, char *err,
                            size_t errlen)
{
    int32_t level;
    sk_config_parse_int(v, &level);
    if ((level >= 1 && level <= 9) || level == -1)
        return SK_ERR_NONE;
    return fail(def, v, err, errlen, "Value must be between 1 and 9, or -1");
}

/* Structured strings reuse their parsers so validation and use agree. */
static int check_structured(const struct sk_config_def *def, const char *v,
                            char *err, size_t errlen)
{
    struct sk_listener ls[SK_CONFIG_MAX_LISTENERS];
    struct sk_voter vs[SK_CONFIG_MAX_VOTERS];
    char why[200] = "";
    int rc = 0;
    if (def->check == SK_CHECK_LISTENERS)
        rc = sk_listeners_parse(v, ls, SK_CONFIG_MAX_LISTENERS, why, sizeof why);
    else if (def->check == SK_CHECK_PROTOCOL_MAP)
        rc = sk_protocol_map_check(v, why, sizeof why);
    else if (def->check == SK_CHECK_VOTERS)
        rc = sk_voters_parse(v, vs, SK_CONFIG_MAX_VOTERS, why, sizeof why);
    return rc < 0 ? fail(def, v, err, errlen, why) : SK_ERR_NONE;
}

int sk_config_def_validate(const struct sk_config_def *def, const char *value,
                           char *err, size_t errlen)
{
    if (!value)
        return SK_ERR_NONE; /* unset: the default (or Kafka's null) applies */
    int rc = check_type(def, value, err, errlen);
    if (rc != SK_ERR_NONE)
        return rc;
    switch (def->check) {
    case SK_CHECK_NONE: return SK_ERR_NONE;
    case SK_CHECK_RANGE: return check_range(def, value, err, errlen);
    case SK_CHECK_ONE_OF:
    case SK_CHECK_ONE_OF_CI: return check_one_of(def, value, err, errlen);
    case SK_CHECK_LIST_OF: return check_list_of(def, value, err, errlen);
    case SK_CHECK_NO_DUPLICATES: return check_no_duplicates(def, value, err, errlen);
    case SK_CHECK_THROTTLED_REPLICAS: return check_throttled(def, value, err, errlen);
    case SK_CHECK_NON_EMPTY:
        return value[0] ? SK_ERR_NONE : fail(def, value, err, errlen, "String must be non-empty");
    case SK_CHECK_GZIP_LEVEL: return check_gzip_level(def, value, err, errlen);
    case SK_CHECK_LISTENERS:
    case SK_CHECK_PROTOCOL_MAP:
    case SK_CHECK_VOTERS: return check_structured(def, value, err, errlen);
    }
    return SK_ERR_NONE;
}

int sk_broker_config_validate(const char *name, const char *value, char *err, size_t errlen)
{
    const struct sk_config_def *def = sk_broker_config_find(name);
    if (!def) {
        snprintf(err, errlen, "Unknown broker config name: %s", name);
        return SK_ERR_INVALID_CONFIG;
    }
    return sk_config_def_validate(def, value, err, errlen);
}

int sk_topic_config_validate(const char *name, const char *value, char *err, size_t errlen)
{
    const struct sk_config_def *def = sk_topic_config_find(name);
    if (!def) {
        snprintf(err, errlen, "Unknown topic config name: %s", name);
        return SK_ERR_INVALID_CONFIG;
    }
    return sk_config_def_validate(def, value, err, errlen);
}
