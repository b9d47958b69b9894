/* The follower's side of an incremental fetch session (KIP-227), as Kafka's
 * FetchSessionHandler keeps it for a replica fetcher.
 *
 * The handler remembers, per partition, the fetch state the leader's session
 * holds for it. A round names only partitions whose state changed (a new
 * log end after an append or a truncation, a new leader epoch) or that are
 * new, and forgets those the fetcher no longer wants; an idle partition
 * costs nothing on either side, which is what keeps a follower of thousands
 * of partitions from naming every one of them in every round.
 *
 * Invariant: between rounds, the table holds exactly the partitions the
 * leader's session holds (or, before the first answer of a full round, the
 * ones that full round named). Anything that may break it (an error, a lost
 * connection, an answer without a session) makes the next round full.
 *
 * The table is open addressing with linear probing on (topic id,
 * partition); it is rebuilt when entries leave, which happens only when
 * leadership moves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetcher_int.h"
#include "skein/errors.h"
#include "skein/fetch_session.h"
#include "skein/fnv.h"

static uint32_t hash_of(const kp_uuid *id, int32_t partition)
{
    return sk_fnv1a_fold(sk_fnv1a(sk_fnv1a(SK_FNV1A_INIT, id->b, 16), &partition,
                                  sizeof partition));
}

static bool same_key(const struct sk_fsess_entry *e, const kp_uuid *id, int32_t partition)
{
    return e->partition == partition && memcmp(e->topic_id.b, id->b, 16) == 0;
}

/* The slot holding the key, or the empty slot where it would go. */
static struct sk_fsess_entry *slot_for(const struct sk_fetch_handler *h, const kp_uuid *id,
                                       int32_t partition)
{
    uint32_t mask = h->cap - 1;
    for (uint32_t i = hash_of(id, partition) & mask;; i = (i + 1) & mask) {
        struct sk_fsess_entry *e = &h->slots[i];
        if (!e->used || same_key(e, id, partition))
            return e;
    }
}

/* Rebuilds the table at cap slots with its entries (only the wanted ones
 * unless keep_all). Callers keep it at most half full, so probes end. */
static int rebuild(struct sk_fetch_handler *h, uint32_t cap, bool keep_all)
{
    struct sk_fsess_entry *old = h->slots;
    uint32_t old_cap = h->cap;
    struct sk_fsess_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    h->slots = slots;
    h->cap = cap;
    h->n = 0;
    for (uint32_t i = 0; i < old_cap; i++) {
        const struct sk_fsess_entry *e = &old[i];
        if (e->used && (keep_all || e->wanted)) {
            *slot_for(h, &e->topic_id, e->partition) = *e;
            h->n++;
        }
    }
    free(old);
    return 0;
}

void sk_fetch_handler_free(struct sk_fetch_handler *h)
{
    free(h->slots);
    *h = (struct sk_fetch_handler){0};
}

void sk_fetch_handler_begin(struct sk_fetch_handler *h)
{
    h->full = !h->sessions || h->epoch == SK_FETCH_INITIAL_EPOCH;
    for (uint32_t i = 0; i < h->cap; i++) {
        if (h->full)
            h->slots[i].used = false;
        h->slots[i].wanted = false;
    }
    if (h->full)
        h->n = 0;
}

static bool changed(const struct sk_fsess_entry *had, const struct sk_fsess_entry *want)
{
    return had->offset != want->offset || had->leader_epoch != want->leader_epoch ||
           had->last_fetched_epoch != want->last_fetched_epoch ||
           had->log_start != want->log_start || had->max_bytes != want->max_bytes;
}

int sk_fetch_handler_want(struct sk_fetch_handler *h, const struct sk_fsess_entry *want,
                          bool *send)
{
    if ((h->n + 1) * 2 > h->cap && rebuild(h, h->cap ? h->cap * 2 : 64, true) < 0)
        return -ENOMEM;
    struct sk_fsess_entry *e = slot_for(h, &want->topic_id, want->partition);
    *send = h->full || !e->used || changed(e, want);
    if (!e->used)
        h->n++;
    *e = *want;
    e->used = e->wanted = true;
    return 0;
}

int sk_fetch_handler_forget(struct sk_fetch_handler *h, struct sk_fsess_entry **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    int n = 0;
    for (uint32_t i = 0; i < h->cap; i++)
        n += h->slots[i].used && !h->slots[i].wanted;
    if (n == 0)
        return 0;
    struct sk_fsess_entry *v = malloc(sizeof *v * (size_t)n);
    if (!v)
        return -ENOMEM;
    for (uint32_t i = 0; i < h->cap; i++)
        if (h->slots[i].used && !h->slots[i].wanted)
            v[(*nout)++] = h->slots[i];
    if (rebuild(h, h->cap, false) < 0) {
        free(v);
        *nout = 0;
        return -ENOMEM;
    }
    *out = v;
    return 0;
}

const struct sk_fsess_entry *sk_fetch_handler_find(const struct sk_fetch_handler *h,
                                                   const kp_uuid *topic_id, int32_t partition)
{
    if (h->cap == 0)
        return NULL;
    const struct sk_fsess_entry *e = slot_for(h, topic_id, partition);
    return e->used ? e : NULL;
}

void sk_fetch_handler_request(const struct sk_fetch_handler *h, int32_t *id, int32_t *epoch)
{
    if (!h->sessions) {
        *id = SK_FETCH_INVALID_SESSION_ID;
        *epoch = SK_FETCH_FINAL_EPOCH; /* sessionless */
        return;
    }
    *id = h->id;
    *epoch = h->full ? SK_FETCH_INITIAL_EPOCH : h->epoch;
}

/* Kafka's FetchSessionHandler.handleResponse. */
bool sk_fetch_handler_answered(struct sk_fetch_handler *h, int16_t error, int32_t session_id)
{
    if (!h->sessions)
        return error == SK_ERR_NONE;
    if (error != SK_ERR_NONE) {
        /* An unknown id starts afresh; anything else closes the session
         * the leader may still hold as the next full round opens one. */
        if (error == SK_ERR_FETCH_SESSION_ID_NOT_FOUND)
            h->id = SK_FETCH_INVALID_SESSION_ID;
        h->epoch = SK_FETCH_INITIAL_EPOCH;
        return false;
    }
    if (session_id == SK_FETCH_INVALID_SESSION_ID) {
        /* The leader keeps no session (no room, or it closed it). */
        h->id = SK_FETCH_INVALID_SESSION_ID;
        h->epoch = SK_FETCH_INITIAL_EPOCH;
        return true;
    }
    if (h->full || session_id != h->id) {
        h->id = session_id;
        h->epoch = sk_fetch_next_epoch(SK_FETCH_INITIAL_EPOCH);
        return true;
    }
    h->epoch = sk_fetch_next_epoch(h->epoch);
    return true;
}

void sk_fetch_handler_failed(struct sk_fetch_handler *h)
{
    h->epoch = SK_FETCH_INITIAL_EPOCH;
}

void sk_fetch_handler_use_sessions(struct sk_fetch_handler *h, bool on)
{
    if (h->sessions != on) {
        h->sessions = on;
        h->id = SK_FETCH_INVALID_SESSION_ID;
        h->epoch = SK_FETCH_INITIAL_EPOCH;
    }
}
