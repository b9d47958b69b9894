/* Server internals shared by the files of src/server/; nothing outside
 * includes it. */
#ifndef SKEIN_SERVER_INT_H
#define SKEIN_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/metalog.h"

struct sk_config;
struct sk_net_config;

/* shards.c: the node's shards as threads */

/* skein.num.shards, 0 resolved to the online CPUs. */
int sk_shard_count(const struct sk_config *cfg);
/* b's reactor, with the server's handler, and its syncer. 0 or -errno. */
int sk_shard_reactor_new(struct sk_broker *b, const struct sk_net_config *nc);
/* Contexts and reactors for shards [n->nshards, count) (n->shards has room
 * for count); n->nserved follows each one made. 0 or -errno (the ones made stay, for sk_shards_free). */
int sk_shards_create(struct sk_node *n, int count, const struct sk_net_config *nc);
/* A shard's groups, quotas and periodic tasks, on its thread; err says what
 * failed. Its partitions come with its first image. */
int sk_shard_state_open(struct sk_broker *b, char *err, size_t errlen);
/* Its partitions, groups, fetch sessions, quotas and tasks, on its thread
 * after its loop ended (or on the only thread, when it never ran). Once. */
void sk_shard_state_close(struct sk_broker *b);
/* Frees the node's quota table, once every shard's state is closed. */
void sk_node_quotas_close(struct sk_node *n);
/* Starts a thread for every served shard but 0 and waits until each has
 * set up its state. 0, or -errno when one failed (all are told not to
 * serve; sk_shards_join still collects them). */
int sk_shards_start(struct sk_node *n);
/* Joins them; the first error a shard's loop returned, or 0. */
int sk_shards_join(struct sk_node *n);
/* Async-signal-safe: quiesces every served shard; the last to drain stops
 * them all. */
void sk_shards_stop(struct sk_node *n);
/* Closes what is left of shards 1.. and frees their contexts and reactors. */
void sk_shards_free(struct sk_node *n);

/* startup_records.c: what a node's start writes to the metadata log */

struct sk_startup_records {
    kp_feature_level_record fl;
    kp_register_broker_record reg;
    kp_register_broker_record_broker_endpoint ep;
    kp_register_broker_record_broker_feature feat;
};
/* Fills recs (room for 2, backed by st) with metadata.version's bootstrap
 * when b's image has none, and, with reg, b's broker registration. The
 * count, or -EIO. */
int sk_startup_records(const struct sk_broker *b, bool reg, struct sk_startup_records *st,
                       struct sk_meta_rec *recs);

#endif
