/* The controller: turns admin requests into metadata records. On a single
 * node it is the same process; every change still goes through the metadata
 * log, so a quorum of controllers later changes where records come from, not
 * what they are. */
#ifndef SKEIN_CONTROLLER_H
#define SKEIN_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"

/* Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..". */
bool sk_topic_name_valid(kp_str name);

struct sk_topic_spec {
    kp_str name;
    int32_t partitions;          /* -1: num.partitions */
    int16_t replication_factor;  /* -1: default.replication.factor */
    const kp_str *config_names;  /* topic config overrides */
    const kp_str *config_values;
    int nconfigs;
};

/* Validates and, unless validate_only, creates the topic through the metadata
 * log. Returns a Kafka error code; msg (may be NULL) gets Kafka's message. */
int16_t sk_topic_create(struct sk_broker *b, const struct sk_topic_spec *spec, bool validate_only,
                        char *msg, size_t msglen);

/* Metadata/Produce auto-creation: creates name with the broker defaults if
 * auto.create.topics.enable is on. 0 if the topic exists afterwards. */
int sk_topic_auto_create(struct sk_broker *b, kp_str name);

#endif
