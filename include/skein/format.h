/* `skein format`: Kafka's `kafka-storage format` for a Skein node. */
#ifndef SKEIN_FORMAT_H
#define SKEIN_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct sk_config;

struct sk_format_opts {
    const char *cluster_id;          /* --cluster-id (required) */
    bool ignore_formatted;           /* --ignore-formatted */
    bool standalone;                 /* --standalone */
    const char *initial_controllers; /* --initial-controllers, or NULL */
    bool no_initial_controllers;     /* --no-initial-controllers: a controller to join later */
    const char *release_version;     /* --release-version, or NULL: the latest */
};

/* Writes meta.properties into every unformatted log dir and the metadata
 * log dir of cfg (and there, with --standalone or --initial-controllers,
 * the KIP-853 bootstrap snapshot), telling out what it formats. 0, or a negative errno with
 * Kafka's message in err (nothing is written when the arguments, the
 * config or an already formatted directory says no). */
int sk_format_run(const struct sk_config *cfg, const struct sk_format_opts *o, FILE *out,
                  char *err, size_t errlen);

#endif
