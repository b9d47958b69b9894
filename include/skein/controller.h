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
#include "skein/admission.h" /* SK_MAX_RECORDS_PER_USER_OP */
#include "skein/broker.h"
#include "skein/submit.h"

struct sk_config_shared;
struct sk_partition_meta;
struct sk_topic_meta;

/* Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..". */
bool sk_topic_name_valid(kp_str name);

/* A client-chosen replica list for one partition (CreateTopics). */
struct sk_replica_assignment {
    int32_t partition;
    kp_arr_i32 brokers;
};

struct sk_topic_spec {
    kp_str name;
    int32_t partitions;          /* -1: num.partitions */
    int16_t replication_factor;  /* -1: default.replication.factor */
    const kp_str *config_names;  /* topic config overrides */
    const kp_str *config_values;
    int nconfigs;
    /* Manual placement (partitions and replication_factor must then be -1). */
    const struct sk_replica_assignment *assignments;
    int nassignments;
};

/* What a successful (or validated) creation made. */
struct sk_topic_created {
    kp_uuid id;
    int32_t partitions;
    int16_t replication_factor;
};

/* Validates and, unless validate_only, creates the topic through the metadata
 * log. Returns a Kafka error code; msg (may be NULL) gets Kafka's message. */
int16_t sk_topic_create(struct sk_broker *b, const struct sk_topic_spec *spec, bool validate_only,
                        char *msg, size_t msglen);
/* Same, reporting what was (or would be) created in *out. */
int16_t sk_topic_create_ex(struct sk_broker *b, const struct sk_topic_spec *spec,
                           bool validate_only, struct sk_topic_created *out, char *msg,
                           size_t msglen);
/* A config name and value as Kafka reads them from the wire when they hold
 * a zero byte (see src/controller/config_wire.c); without one they are copied
 * as they are. On SK_ERR_NONE, *name_out and *value_out are owned copies
 * (skein/wire_str.h; a null value stays null); otherwise the error (of a
 * config check, INVALID_CONFIG for topics) with msg set and nothing owned. */
int16_t sk_config_from_wire(int8_t type, kp_str name, kp_str value, kp_str *name_out,
                            kp_str *value_out, char *msg, size_t msglen);
/* Kafka's message for an illegal topic name (empty if the name is legal). */
void sk_topic_name_problem(kp_str name, char *msg, size_t msglen);
/* Kafka's internal topics: the group and transaction state logs. */
bool sk_topic_is_internal(const char *name);

/* Removes the topics (ids that exist in the image) in one metadata batch. */
int16_t sk_topics_delete(struct sk_broker *b, const kp_uuid *ids, int n, char *msg,
                         size_t msglen);

/* CreatePartitions for one topic: grows it to count partitions, placed by
 * assignments (count - current lists) or automatically. */
int16_t sk_partitions_add(struct sk_broker *b, kp_str topic, int32_t count,
                          const kp_arr_i32 *assignments, int32_t nassignments,
                          bool validate_only, char *msg, size_t msglen);

/* One change to a config resource. op is IncrementalAlterConfigs' operation:
 * 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT. */
struct sk_config_op {
    kp_str name;
    int8_t op;
    kp_str value;
};
#define SK_CONFIG_OP_SET 0
#define SK_CONFIG_OP_DELETE 1
#define SK_CONFIG_OP_APPEND 2
#define SK_CONFIG_OP_SUBTRACT 3

/* Alters a TOPIC or BROKER resource (AlterConfigs when replace is true: the
 * ops become the full set of overrides; IncrementalAlterConfigs otherwise).
 * Validated as Kafka does, written as ConfigRecords, and applied live (on
 * this node; a broker resource naming another broker, which only a
 * forwarded request may do, is applied by that broker from the image). */
int16_t sk_configs_alter(struct sk_broker *b, int8_t resource_type, kp_str resource_name,
                         const struct sk_config_op *ops, int nops, bool replace,
                         bool validate_only, bool forwarded, char *msg, size_t msglen);

/* Re-applies the dynamic broker configs of b's image to the node's working
 * configuration (start-up,
 * after the metadata log is replayed). Returns 0, or -EINVAL if a stored
 * value no longer applies (the others are applied anyway). */
int sk_controller_apply_dynamic_configs(struct sk_broker *b);
/* What the shards read while img is current: base's static layer with img's
 * dynamic layers applied as the controller applies them (one reference;
 * NULL when out of memory). */
struct sk_config_shared *sk_controller_config_of(const struct sk_config *base,
                                                 const struct sk_meta_image *img);

/* AlterClientQuotas for one entity: entity types "user", "client-id", "ip";
 * a null name is the default entity. */
struct sk_quota_entity {
    kp_str type;
    kp_str name;
};
struct sk_quota_op {
    kp_str key;
    double value;
    bool remove;
};
int16_t sk_quotas_alter(struct sk_broker *b, const struct sk_quota_entity *entity, int nentity,
                        const struct sk_quota_op *ops, int nops, bool validate_only, char *msg,
                        size_t msglen);

/* A feature this build implements and the levels it can run at. */
struct sk_feature_range {
    const char *name;
    int16_t min, max;
};
/* Every feature a Kafka 3.9 node knows, with the levels Skein implements. */
const struct sk_feature_range *sk_features_supported(size_t *n);

/* UpdateFeatures for one feature. upgrade_type: 1 upgrade, 2 safe downgrade,
 * 3 unsafe downgrade. */
int16_t sk_feature_update(struct sk_broker *b, kp_str feature, int16_t level,
                          int8_t upgrade_type, bool validate_only, char *msg, size_t msglen);

/* Kafka's checks on a client-chosen replica list (brokers registered, none
 * twice, not empty). */
int16_t sk_replica_list_check(const struct sk_meta_image *img, kp_arr_i32 brokers,
                                     char *msg, size_t msglen);

/* Kafka's default message for an error code (ApiError without a message). */
const char *sk_err_message(int16_t code);

/* Metadata auto-creation of the n distinct, legal, not yet existing names
 * as one controller operation (Kafka's AutoTopicCreationManager sends them
 * as one CreateTopics): all with the broker defaults, in one metadata batch.
 * More than SK_MAX_RECORDS_PER_USER_OP records refuses them all with
 * POLICY_VIOLATION. A refusal of the whole (that bound, the node's
 * partition budget) is returned with msg set, and done is not called;
 * otherwise errs[i] says whether names[i] was refused on its own, the
 * others go to the controller as one batch (skein/submit.h) and done runs
 * once it committed, and this shard's image has the topics, or failed and
 * was rolled back. done may run before the return. */
int16_t sk_topics_auto_create(struct sk_broker *b, const kp_str *names, int n, int16_t *errs,
                              char *msg, size_t msglen, sk_ctl_done_fn done, void *arg);

/* ElectLeaders' election types (the wire's ElectionType). */
#define SK_ELECTION_PREFERRED 0
#define SK_ELECTION_UNCLEAN 1
/* Whether a partition needs the election: its first replica does not lead
 * (preferred), it has no leader (unclean). */
bool sk_ctl_election_needed(const struct sk_partition_meta *pm, int8_t type);
/* ElectLeaders for one partition of tm (in the controller's working image)
 * on the active controller: ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_
 * AVAILABLE (the first replica is not in sync or not live),
 * ELIGIBLE_LEADERS_NOT_AVAILABLE (no live replica may lead), or the change
 * committed (parked in an admin handler); msg gets Kafka's message. */
/* The leader balance (src/controller/leader_balance.c): makes the preferred
 * replica lead wherever it may and does not, up to 1,000 partitions, as one
 * commit. Returns how many, or -error with msg set. */
int sk_ctl_balance_leaders(struct sk_broker *ctl, char *msg, size_t msglen);
/* Runs the balance on the active controller when auto.leader.rebalance.enable
 * and *next_ms (0: not yet scheduled) has come; schedules the next. */
void sk_ctl_balance_tick(struct sk_broker *ctl, int64_t now_ms, int64_t *next_ms);
int16_t sk_ctl_elect_leader(struct sk_broker *b, const struct sk_topic_meta *tm, int32_t partition,
                            int8_t type, char *msg, size_t msglen);

/* NOT_CONTROLLER, with Kafka's message, when b's controller commits through
 * a quorum it is not the active controller of: checked before any
 * validation, since a standby's image may lag (as Kafka's controller
 * rejects every write event while inactive). 0 otherwise. */
int16_t sk_ctl_check_active(struct sk_broker *b, char *msg, size_t msglen);

/* AlterPartitionReassignments for one partition of tm (in the controller's
 * working image) on the active controller (KIP-455, src/controller/
 * reassign.c): to target's replicas, or a cancel when target is null
 * (n < 0). NO_REASSIGNMENT_IN_PROGRESS, INVALID_REPLICA_ASSIGNMENT
 * (Kafka's checks and messages), or the change committed (parked in an
 * admin handler). */
int16_t sk_ctl_reassign(struct sk_broker *b, const struct sk_topic_meta *tm, int32_t partition,
                        kp_arr_i32 target, char *msg, size_t msglen);
/* Replicas are being added or removed. */
bool sk_reassign_in_progress(const struct sk_partition_meta *pm);

/* The controller's working state: the committed image plus the changes in
 * flight, what an admin request is decided against (skein/submit.h). */
const struct sk_meta_image *sk_controller_image(struct sk_broker *b);

/* AllocateProducerIds on the active controller (src/controller/
 * producer_id_blocks.c): err a Kafka error code with msg (NULL or valid for
 * the call), else the block [start, start + len), committed. */
typedef void (*sk_ctl_block_fn)(void *arg, int16_t err, const char *msg, int64_t start,
                                int32_t len);
/* STALE_BROKER_EPOCH unless img registers broker_id with broker_epoch, as
 * Kafka's ClusterControlManager.checkBrokerEpoch; msg gets Kafka's text. */
int16_t sk_ctl_broker_epoch_check(const struct sk_meta_image *img, int32_t broker_id,
                                  int64_t broker_epoch, char *msg, size_t msglen);
/* On the controller's shard: checks the broker's epoch and claims the next
 * block of SK_PRODUCER_ID_BLOCK ids for it through the quorum; done runs
 * once (maybe before the call returns). */
void sk_ctl_allocate_producer_ids(struct sk_broker *ctl, int32_t broker_id, int64_t broker_epoch,
                                  sk_ctl_block_fn done, void *arg);

#endif
