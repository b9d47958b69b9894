/* The Raft core's VOTERS batch (KIP-853) as Kafka keeps it in the metadata
 * log and sends it in a Raft Fetch: a control batch of a Voters record (type
 * 6), after a KRaftVersion record (type 5) when the set first enters the
 * log. The core carries the set in its own encoding (sk_raft_voters_encode);
 * this translates between the two, and between the core's voter set and the
 * one a snapshot's records decode to (skein/voters_snapshot.h). */
#ifndef SKEIN_RAFT_VOTERS_BATCH_H
#define SKEIN_RAFT_VOTERS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/raft-t.h"
#include "skein/voters_snapshot.h"

/* A snapshot's voter set as the core's: -E2BIG past the core's bounds
 * (voters, endpoints, a listener name). */
int sk_raft_voters_from_kafka(const struct sk_voter_set *in, struct sk_raft_voter_set *out);
void sk_raft_voters_to_kafka(const struct sk_raft_voter_set *in, struct sk_voter_set *out);

/* The control batch for the core's VOTERS batch b (its data the core's
 * encoding; count 2 adds the KRaftVersion record), appended to out. 0,
 * -EBADMSG for data that does not decode, -ENOMEM. */
int sk_raft_voters_batch_build(const struct sk_raft_batch *b, int64_t now_ms, struct sk_buf *out);

/* The whole record batch p[0..len): 1 when it is a control batch with a
 * Voters record, whose set is then put in the core's encoding at enc (cap
 * at least SK_RAFT_VOTERS_MAX_ENCODED) with *n its length; 0 for any other
 * batch; -EBADMSG when the batch or a KRaft control record is damaged. */
int sk_raft_voters_batch_parse(const uint8_t *p, size_t len, uint8_t *enc, size_t cap, size_t *n);

#endif
