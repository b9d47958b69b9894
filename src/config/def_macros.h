/* Shorthand for the key tables in broker_defs.c and topic_defs.c, so each
 * key reads as one line of name, type, default, importance and mode. */
#ifndef SK_CONFIG_DEF_MACROS_H
#define SK_CONFIG_DEF_MACROS_H

#include "skein/config_defs.h"

#define D(n, t, def, imp, mode, ...)                                        \
    {.name = (n), .type = SK_CONFIG_##t, .default_value = (def),            \
     .importance = SK_CONFIG_##imp, .update_mode = SK_CONFIG_##mode, __VA_ARGS__}

#define AT_LEAST(x) .check = SK_CHECK_RANGE, .has_min = true, .min = (x)
#define BETWEEN(a, b) .check = SK_CHECK_RANGE, .has_min = true, .min = (a), .has_max = true, .max = (b)
#define ONE_OF(c) .check = SK_CHECK_ONE_OF, .choices = (c)
#define ONE_OF_CI(c) .check = SK_CHECK_ONE_OF_CI, .choices = (c)
#define LIST_OF(c) .check = SK_CHECK_LIST_OF, .choices = (c)
#define IGNORED .flags = SK_CONFIG_F_IGNORED
#define DEPRECATED .flags = SK_CONFIG_F_DEPRECATED
#define DEPRECATED_IGNORED .flags = SK_CONFIG_F_DEPRECATED | SK_CONFIG_F_IGNORED

#define LONG_MAX_S "9223372036854775807"
#define INT_MAX_S "2147483647"
#define DOUBLE_MAX_S "1.7976931348623157E308"

extern const char *const sk_config_compression_choices[];
extern const char *const sk_config_cleanup_choices[];
extern const char *const sk_config_timestamp_choices[];

#endif
