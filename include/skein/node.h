/* The node's shards: which one owns what, and how one hands work to another.
 *
 * Ownership is a pure function of names, so every shard computes the same
 * answer without asking: a topic's partitions go round-robin over the
 * shards from a start that the topic name picks, and a group lives on the
 * shard of its __consumer_offsets partition, so that its offset commits are
 * appended without leaving the shard. */
#ifndef SKEIN_NODE_H
#define SKEIN_NODE_H

#include <stdint.h>

#include "kp_rt.h"

struct sk_node;
struct sk_broker;

typedef void (*sk_node_task_fn)(struct sk_broker *shard, void *arg);

/* Runs fn(shard context, arg) on shard `shard`'s thread, later, never
 * inside the call. Tasks posted from one shard to another run in the order
 * they were posted. Returns 0, or -ENOMEM / -ESHUTDOWN (fn will not run). */
int sk_node_post(struct sk_node *n, int shard, sk_node_task_fn fn, void *arg);

/* The shard that owns partition `partition` of topic `topic`. */
int sk_shard_of_partition(const struct sk_node *n, kp_str topic, int32_t partition);
/* The shard that coordinates group_id: that of its offsets partition. */
int sk_shard_of_group(const struct sk_node *n, kp_str group_id);

#endif
