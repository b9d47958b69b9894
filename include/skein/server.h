/* Broker start-up and shutdown: storage format, metadata replay, broker
 * registration, listeners. */
#ifndef SKEIN_SERVER_H
#define SKEIN_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "skein/broker.h"

struct sk_config;

/* Checks every log dir's and the metadata dir's meta.properties (one cluster
 * id, this node's id, distinct directory ids) before anything else reads
 * them, and adds a directory.id where one is missing. Unformatted dirs are
 * formatted only on a node that is its own one-voter quorum (with the id
 * found in the other dirs, skein.cluster.id, or a new one); any other node
 * refuses with Kafka's message and a hint to run `skein format`. Sets
 * cluster_id; 0, or a negative errno with err set. */
int sk_storage_open_dirs(const struct sk_config *cfg, char *cluster_id, size_t idlen, char *err,
                         size_t errlen);

/* True when cfg names this node as the only voter and no bootstrap servers. */
bool sk_storage_may_self_format(const struct sk_config *cfg);

/* Creates dir and its missing parents; 0 or -errno. */
int sk_storage_mkdirs(const char *dir);

/* A node with an empty controller.quorum.voters that finds its quorum
 * through controller.quorum.bootstrap.servers takes the voters (ids and
 * CONTROLLER endpoints) of the KIP-853 voter set its metadata log's
 * snapshots hold (the bootstrap one `skein format --standalone` or
 * `--initial-controllers` wrote) as if controller.quorum.voters named them.
 * 0 (cfg->voters filled, or nothing to do), or a negative errno with why in
 * err: a controller without a voter set or outside it would have to join
 * as a new voter, which Skein does not do yet. */
int sk_storage_bootstrap_voters(struct sk_config *cfg, char *err, size_t errlen);

/* Takes the `.lock` file lock in dir (created if missing) and returns the
 * descriptor holding it, to be kept open while the directory is in use.
 * Returns -EAGAIN with Kafka's message in err when another process holds it. */
int sk_dir_lock(const char *dir, int *fd_out, char *err, size_t errlen);

/* A syncer that submits fsyncs to the shard's ring (sk_shard_fsync). */
struct sk_shard;
struct sk_syncer sk_shard_syncer(struct sk_shard *s);

/* Opens storage, replays metadata and registers this broker. */
int sk_server_open(struct sk_node *node, struct sk_broker *b, struct sk_config *cfg, char *err,
                   size_t errlen);
/* Binds the client listener and serves until stopped; returns 0 on a clean stop. */
int sk_server_run(struct sk_broker *b);
/* Async-signal-safe. */
void sk_server_stop(struct sk_broker *b);
void sk_server_close(struct sk_broker *b);
/* True once a stop was asked for: long work (opening partitions) gives way. */
bool sk_server_stopping(const struct sk_broker *b);

#endif
