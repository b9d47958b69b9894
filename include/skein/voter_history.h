/* The KIP-853 voter sets of a metadata log above its latest snapshot, as the
 * log adapter sees VOTERS batches appended, read back or truncated away, so
 * that a metadata snapshot taken at any committed offset carries the set in
 * force there (Kafka's KRaftControlRecordStateMachine keeps the same
 * history for its snapshots). The base is the set at the log's start. */
#ifndef SKEIN_VOTER_HISTORY_H
#define SKEIN_VOTER_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/raft-t.h"

struct sk_voter_history_entry {
    int64_t offset;
    struct sk_raft_voter_set set;
};

struct sk_voter_history {
    bool has_base;
    struct sk_raft_voter_set base;
    struct sk_voter_history_entry *v; /* by offset, ascending */
    size_t n, cap;
};

void sk_voter_history_free(struct sk_voter_history *h);
/* The set a batch at offset brought; the same offset again replaces it
 * (a read after an append). 0 or -ENOMEM. */
int sk_voter_history_note(struct sk_voter_history *h, int64_t offset,
                          const struct sk_raft_voter_set *s);
/* Everything at or above offset is gone from the log. */
void sk_voter_history_truncate(struct sk_voter_history *h, int64_t offset);
/* The set in force below end (the latest noted under it, else the base);
 * false when there is none. Sets below it are folded into the base: a
 * snapshot's end only grows. */
bool sk_voter_history_at(struct sk_voter_history *h, int64_t end, struct sk_raft_voter_set *out);
/* The set in force at the log's end; false when there is none. */
bool sk_voter_history_latest(const struct sk_voter_history *h, struct sk_raft_voter_set *out);
/* The log was replaced by a snapshot whose set is s (NULL: none). */
void sk_voter_history_reset(struct sk_voter_history *h, const struct sk_raft_voter_set *s);

#endif
