/* __cluster_metadata-0/quorum-state: the Raft core's election state as
 * Kafka's FileQuorumStateStore keeps it, one line of QuorumStateData JSON
 * with a data_version field. As Kafka 3.9, Skein writes version 0 for a
 * static quorum (controller.quorum.voters, kraft.version 0):
 *   {"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,
 *    "appliedOffset":0,"currentVoters":[{"voterId":1}],"data_version":0}
 * and version 1 for a KIP-853 quorum (kraft.version 1), whose voter set
 * lives in the log:
 *   {"leaderId":1,"leaderEpoch":2,"votedId":-1,
 *    "votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}
 * (the core votes by id: the directory id is Kafka's zero uuid, which
 * Kafka writes for a vote that named none). It reads both. Each write replaces the file atomically and is durable on return,
 * as the core requires before a message that depends on it leaves. */
#ifndef SKEIN_QUORUM_STATE_H
#define SKEIN_QUORUM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/raft-t.h"

#define SK_QUORUM_STATE_FILE "quorum-state"

/* The store ops' context: the directory and the voters written beside the
 * state (Kafka's currentVoters). */
struct sk_quorum_store {
    char dir[4096];
    int32_t voters[SK_RAFT_MAX_VOTERS];
    int32_t n_voters;
    int data_version; /* 0 after init; 1 for a KIP-853 quorum */
};

/* 0 or -errno (-ENAMETOOLONG for a dir that does not fit). */
int sk_quorum_store_init(struct sk_quorum_store *s, const char *dir, const int32_t *voters,
                         int32_t n_voters);
/* Fills cfg->store and cfg->store_ctx. */
void sk_quorum_store_bind(struct sk_quorum_store *s, struct sk_raft_config *cfg);

/* Writes s now, durably. 0 or -errno. */
int sk_quorum_state_write(const struct sk_quorum_store *st, const struct sk_raft_qstate *s);

/* Reads dir's file into out: 0 (found), -ENOENT (no file: a fresh node,
 * out is the fresh state), or another -errno with what is wrong in err:
 * -EBADMSG for a file that is not QuorumStateData, which must refuse
 * start-up rather than forget a vote. */
int sk_quorum_state_read(const char *dir, struct sk_raft_qstate *out, char *err, size_t errlen);

/* The JSON itself, for the file and its tests: parse takes bytes with a
 * length. */
int sk_quorum_state_format(const struct sk_quorum_store *st, const struct sk_raft_qstate *s,
                           char *buf, size_t cap);
int sk_quorum_state_parse(const uint8_t *p, size_t len, struct sk_raft_qstate *out, char *err,
                          size_t errlen);

#endif
