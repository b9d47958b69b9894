/* An open-addressing hash table of topics, keyed by name or by id, so an
 * image answers either lookup in O(1) however many topics it holds. The
 * table holds pointers it does not own; the image owns the topics. */
#ifndef SKEIN_META_TOPIC_TABLE_H
#define SKEIN_META_TOPIC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/meta.h"

/* Initialise with by_id set or clear; the rest zeroed. */
void sk_topic_table_init(struct sk_topic_table *t, bool by_id);
void sk_topic_table_free(struct sk_topic_table *t);
/* A copy of src's slots (the topics stay shared). */
void sk_topic_table_copy(struct sk_topic_table *dst, const struct sk_topic_table *src);

/* Adds topic (its key must not be present). */
void sk_topic_table_put(struct sk_topic_table *t, struct sk_topic_meta *topic);
/* Removes the topic with topic's key, if present. */
void sk_topic_table_del(struct sk_topic_table *t, const struct sk_topic_meta *topic);
/* Points the slot of old's key at repl (same key), as copy-on-write needs. */
void sk_topic_table_replace(struct sk_topic_table *t, const struct sk_topic_meta *old,
                            struct sk_topic_meta *repl);

struct sk_topic_meta *sk_topic_table_by_name(const struct sk_topic_table *t, const char *name,
                                             size_t len);
struct sk_topic_meta *sk_topic_table_by_id(const struct sk_topic_table *t, const kp_uuid *id);

#endif
