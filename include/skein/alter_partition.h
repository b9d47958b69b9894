/* The active controller's side of AlterPartition (api 56), as Kafka 3.9's
 * ReplicationControlManager.alterPartition decides it: a partition leader
 * asks to change its ISR; the controller checks the sender's broker epoch,
 * the leader and partition epochs, the new set (a subset of the replicas
 * holding the leader) and, per KIP-841/KIP-903, that every member is a
 * registered, unfenced broker not in controlled shutdown with the broker
 * epoch the leader named; then commits a PartitionChangeRecord with the new
 * ISR (a new partition epoch, the leader epoch unchanged) and answers with
 * the partition's new state. Runs on the controller shard. */
#ifndef SKEIN_ALTER_PARTITION_H
#define SKEIN_ALTER_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"

typedef struct kp_alter_partition_request kp_alter_partition_request;
typedef struct kp_alter_partition_response kp_alter_partition_response;

/* Decides r (at version) into resp, whose arrays come from arena: one
 * entry per requested topic and partition, each with its own error. The
 * top-level error is returned (NOT_CONTROLLER off the active controller,
 * STALE_BROKER_EPOCH for a sender whose registration has another epoch),
 * msg then set, and resp has no topics. The accepted changes are committed
 * through the controller (inside a parked handler, answered once committed:
 * a late failure goes to the park's handler). */
int16_t sk_ctl_alter_partition(struct sk_broker *ctl, const kp_alter_partition_request *r,
                               int16_t version, kp_alter_partition_response *resp,
                               kp_arena *arena, char *msg, size_t msglen);

#endif
