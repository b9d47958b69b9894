/* Java .properties files (what Kafka's server.properties is) and the ordered
 * name/value lists they become. */
#ifndef SKEIN_CONFIG_PROPERTIES_H
#define SKEIN_CONFIG_PROPERTIES_H

#include <stddef.h>

/* One name/value pair. Lists below own their strings; callers may also build
 * arrays of borrowed pairs (e.g. a topic's overrides) with the same type. */
struct sk_config_entry {
    const char *name;
    const char *value;
};

/* Ordered, owning list of entries with unique names (setting a name again
 * replaces its value in place, so "later wins" keeps the first position). */
struct sk_config_list {
    struct sk_config_entry *items;
    size_t n;
    size_t cap;
};

void sk_config_list_init(struct sk_config_list *list);
void sk_config_list_free(struct sk_config_list *list);
/* Returns 0 or -ENOMEM. */
int sk_config_list_set(struct sk_config_list *list, const char *name, const char *value);
/* Returns 1 if the name was present and removed, 0 otherwise. */
int sk_config_list_unset(struct sk_config_list *list, const char *name);
/* NULL if absent. */
const char *sk_config_list_get(const struct sk_config_list *list, const char *name);
/* Deep copy; returns 0 or -ENOMEM (dst is left empty on failure). */
int sk_config_list_copy(struct sk_config_list *dst, const struct sk_config_list *src);

/* Parses properties text (java.util.Properties.load rules: '#'/'!' comments,
 * '=', ':' or whitespace separators, backslash continuations, \t \n \r \f and
 * \uXXXX escapes) into out, later duplicates replacing earlier ones. Bytes
 * above 0x7f pass through unchanged, so UTF-8 files work as written.
 * Returns 0, -EINVAL (malformed \u escape, described in err) or -ENOMEM. */
int sk_properties_parse(const char *text, size_t len, struct sk_config_list *out,
                        char *err, size_t errlen);

/* Reads and parses a file. Returns 0, a negative errno from reading, or what
 * sk_properties_parse returns; err names the file and the problem. */
int sk_properties_load_file(const char *path, struct sk_config_list *out,
                            char *err, size_t errlen);

/* Applies "name=value" strings (the broker's --override arguments) in order,
 * so a later one wins. The name ends at the first '='; name and value are
 * trimmed. Returns 0, -EINVAL (no '=' or empty name, described in err) or
 * -ENOMEM. */
int sk_properties_apply_overrides(struct sk_config_list *list,
                                  const char *const *overrides, int n_overrides,
                                  char *err, size_t errlen);

#endif
