/* The broker: what every API handler sees of the node it runs on. */
#ifndef SKEIN_BROKER_H
#define SKEIN_BROKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "skein/admission.h"
#include "skein/meta.h"
#include "skein/syncer.h"

struct sk_shard;
struct sk_broker;
struct sk_metalog;
struct sk_ctl_queue;
struct sk_meta_quorum;
struct sk_config_shared;
struct sk_ctl_park;
struct sk_config;
struct sk_partition;
struct sk_replica_checkpoints;
struct sk_fs_syncer;
struct sk_group_coordinator;
struct sk_txn_state;
struct sk_fetch_state;
struct sk_quotas;
struct sk_checkpoints;
struct sk_shard_threads;

/* metadata.version levels this broker implements (Kafka 3.9's MetadataVersion). */
#define SK_METADATA_VERSION_MIN 1
#define SK_METADATA_VERSION_MAX 21 /* 3.9-IV0 */

/* The node: what one process holds once, whatever its number of shards.
 * Handlers read it; only the node's own start-up, the controller's commit
 * path and dynamic configs change it. */
struct sk_node {
    /* The controller's working configuration: only the controller's shard
     * reads it, since deciding a dynamic change rebuilds it. Shards read
     * b->cfg, made from the committed image (skein/config_shared.h). */
    struct sk_config *cfg;
    struct sk_config_shared *cfg_pub; /* the latest made for the shards */
    uint64_t cfg_pub_version;         /* the image configs_version it was made from */
    int32_t group_partitions;         /* offsets.topic.num.partitions (read-only) */
    int32_t node_id;
    char cluster_id[32];
    /* The listener clients reach us on, and what Metadata advertises for it. */
    char listener_name[64];
    char advertised_host[256];
    uint16_t advertised_port;
    struct sk_meta_image image; /* the committed image: the controller's, shards read clones */
    /* What a shard runs on a newly published image (skein/publisher.h). */
    int (*subscriber)(struct sk_broker *b, const struct sk_meta_image *old);
    struct sk_metalog *metalog;
    struct sk_ctl_queue *ctlq; /* batches in flight (skein/submit.h); controller's */
    struct sk_meta_quorum *mquorum; /* the Raft quorum it commits through (meta_quorum.h) */
    int *dir_locks; /* `.lock` descriptors of the log and metadata dirs */
    size_t n_dir_locks;
    struct sk_txn_state *txn;          /* src/txn/: producer ids */
    struct sk_partition_budget budget; /* partitions this node may host (admission.h) */
    struct sk_broker **shards; /* the shard contexts, shards[i]->index == i */
    int nshards;
    /* shards[0..nserved) are the server's own (src/server/shards.c): run on
     * their threads, drained together and stopped together. */
    atomic_int nserved;
    atomic_int stop_asked; /* sk_server_stop was called */
    atomic_int nquiet;     /* served shards drained since */
    struct sk_shard_threads *threads;
    struct sk_checkpoints *checkpoints; /* the log dir's checkpoint files, on shard 0 */
    struct sk_quotas *quotas; /* client quota sensors, every shard's (skein/quota.h) */
    struct sk_repl_quota *repl_quotas; /* SK_REPL_DIRECTIONS (skein/repl_quota.h) */
    struct sk_raftnet *raftnet; /* the Raft quorum on the wire, on shard 0 (skein/raftnet.h) */
    struct sk_broker_sessions *broker_sessions; /* controller's (skein/broker_sessions.h) */
    struct sk_broker_lifecycle *lifecycle; /* broker's registration (skein/broker_lifecycle.h) */
    struct sk_controller_registration *ctl_registration; /* KIP-919 (controller_registration.h) */
    struct sk_ctl_channel *ctl_channel; /* calls to the active controller (skein/forward_ctl.h) */
    atomic_int quorum_leader_1; /* the quorum's leader + 1, 0 if none (sk_ctl_quorum_leader) */
    /* Shard 0's client listener is held until the first image published
     * after the start-up one, the quorum's caught up (server.c). */
    bool clients_wait_catch_up;
};

/* One shard's context: the node it belongs to and the state only this
 * shard's thread touches (its reactor, partitions, coordinators, sessions,
 * quota sensors). Handlers get it as req->broker. */
struct sk_broker {
    struct sk_node *node;
    int index;                   /* in node->shards */
    struct sk_meta_image *image; /* the image last published to this shard */
    const struct sk_config *cfg; /* the configuration published with it */
    struct sk_config_shared *cfg_held; /* cfg's reference; NULL if cfg is not shared */
    struct sk_shard *shard;      /* this shard's reactor */
    struct sk_syncer syncer;     /* fsyncs on shard's ring (unset: blocking) */
    struct sk_ctl_park *ctl_park; /* the running admin handler's (skein/ctl_park.h) */

    /* Partitions this shard owns and this node leads (src/replica/). */
    struct sk_partition **parts;
    int nparts, parts_cap;
    struct sk_partition **by_name, **by_id; /* hash buckets */
    size_t nbuckets;
    const struct sk_replica_io *replica_io; /* NULL: the reactor's (skein/partition.h) */
    struct sk_partition *dirty; /* waiting for the next group commit */
    struct sk_replica_checkpoints *cp_held; /* during an image change (src/replica/) */
    bool commit_scheduled;
    struct sk_fs_syncer *fs_syncer; /* syncfs off the shard thread (src/replica/) */
    int syncs_running;              /* partition syncs in flight on this shard */
    int syncfs_covers;              /* of them, syncfs groups not yet complete */
    bool syncfs_regime;             /* group commits go to syncfs (durability.c) */
    int syncfs_streak;              /* partitions covered since none was in flight */
    bool dirty_held;                /* dirty was held back for running syncs */

    struct sk_group_coordinator *groups; /* src/group/ */
    struct sk_fetch_state *fetch;        /* src/api/fetch*.c: sessions, parked fetches */
    struct sk_quotas *quotas;            /* the node's (src/quota/): client rates */
    void *maintenance;                   /* periodic tasks (src/server/maintenance.c) */
    struct sk_replica_fetchers *fetchers; /* followers' fetchers (src/replica/fetcher.c) */
    struct sk_isr_sender *isr_sender;     /* leaders' ISR changes (src/replica/alter_partition.c) */
    uint64_t sync_retry;                 /* timer retrying partition logs that did not open */
    int offline_failed;                  /* partitions led here whose logs did not open */
    int offline_over_budget;             /* and those left closed beyond the budget */
    int offline_sync_failed;             /* and open ones a failed sync took offline */
    int open_deferred;                   /* hosted partitions not opened yet: next turn's */
    uint64_t open_until_ms;              /* this turn's opens stop here (0: no bound) */
    uint64_t parts_visited; /* image partitions reconciliation looked at: what a change costs */
    struct sk_log_cleaner *cleaner;      /* compaction (src/server/log_cleaner.c) */
    bool state_open;                     /* the above are set up (src/server/shards.c) */
};

/* Call after every metadata log append: brings partitions, configs and
 * coordinators in line with the image. A partition log that cannot be opened
 * (full disk) is retried every second until it opens; the error is returned
 * so the request that made the change can say so. */
int sk_broker_metadata_changed(struct sk_broker *b);
/* The shard's subscriber (skein/publisher.h): b->image replaced old. Same
 * effect and errors as sk_broker_metadata_changed. */
int sk_broker_image_changed(struct sk_broker *b, const struct sk_meta_image *old);
/* Hands the shard the connection limits the configuration says now
 * (max.connections, max.connections.per.ip and its overrides); 0 or
 * -ENOMEM, when the old ones stay. */
int sk_broker_net_limits_apply(struct sk_broker *b);
/* Stops those retries (shutdown). */
void sk_broker_sync_retry_stop(struct sk_broker *b);

#endif
