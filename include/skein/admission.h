/* Admission: what one change may add to the node, decided before anything
 * is recorded. A change that is refused leaves the metadata log untouched,
 * so no request can record what the node cannot then open or load. */
#ifndef SKEIN_ADMISSION_H
#define SKEIN_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka's QuorumController.MAX_RECORDS_PER_USER_OP: no admin request may
 * write more metadata records than one batch holds. */
#define SK_MAX_RECORDS_PER_USER_OP 10000

/* Descriptors a partition costs: one at rest (its active segment), and for
 * moments more (a sync's duplicate, a rolled segment's files until durable,
 * the cleaner's borrowed ones): the budget keeps SK_FD_HEADROOM_PCT over. */
#define SK_FD_HEADROOM_PCT 25
/* Always left to everything else: stdio, the ring, its eventfd, listeners,
 * the metadata log and its syncs, snapshots, checkpoints, the accept reserve. */
#define SK_FD_RESERVE_FIXED 64
/* A connection is a socket and, once it sends a file range, a splice pipe. */
#define SK_FD_PER_CONNECTION 3
/* Connections whose descriptors partitions can never take (fewer when
 * max.connections is lower). */
#define SK_FD_RESERVED_CONNECTIONS 1024
/* Memory a partition may come to use (index pages touched, producer state,
 * read buffers); partitions may have half of the node's memory. */
#define SK_PARTITION_MEM_BYTES (64 * 1024)

struct sk_budget_inputs {
    uint64_t nofile;          /* RLIMIT_NOFILE (soft) */
    int64_t max_connections;  /* max.connections */
    uint64_t mem_bytes;       /* memory the node may use (RAM, cgroup, RLIMIT_AS) */
    int32_t configured;       /* skein.max.partitions.per.shard; -1: derived */
};

struct sk_partition_budget {
    bool set;           /* false: no budget (tools and unit tests) */
    int64_t limit;      /* partition replicas this node may host */
    int64_t by_fds, by_memory;
    uint64_t nofile, reserved_fds, mem_bytes;
    int32_t configured;
};

/* The budget the inputs give: the least of the configured value (if any),
 * what the descriptors left after the reserve carry with headroom, and what
 * memory carries. */
void sk_partition_budget_compute(const struct sk_budget_inputs *in,
                                 struct sk_partition_budget *out);
/* This machine's inputs: the current limits, memory and cgroup. */
void sk_budget_inputs_probe(int64_t max_connections, int32_t configured,
                            struct sk_budget_inputs *out);
/* One line for the start-up log: the budget and what bounds it. */
void sk_partition_budget_describe(const struct sk_partition_budget *b, char *buf, size_t len);

/* SK_ERR_NONE, or POLICY_VIOLATION with Kafka's message when one operation
 * would write more than SK_MAX_RECORDS_PER_USER_OP records. */
int16_t sk_admit_records(int64_t nrecords, char *msg, size_t msglen);
/* SK_ERR_NONE, or POLICY_VIOLATION with a message naming the budget and the
 * setting, when adding partitions to the hosted ones would exceed it. */
int16_t sk_admit_partitions(const struct sk_partition_budget *b, int32_t node, int64_t hosted,
                            int64_t adding, char *msg, size_t msglen);

#endif
