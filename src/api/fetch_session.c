/* The fetch session cache: sessions by id, with Kafka's eviction rules. A
 * shard owns its cache; there is no locking. Sessions are few (1000 by
 * default), so lookups of a session scan; a session's partitions may be
 * thousands (a follower's), so they are found through a hash index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/fetch_session.h"
#include "skein/fnv.h"
#include "skein/wire_str.h"

void sk_fetch_sessions_init(struct sk_fetch_sessions *c, int max_slots, int64_t eviction_ms,
                            uint64_t seed)
{
    *c = (struct sk_fetch_sessions){.max = max_slots, .eviction_ms = eviction_ms,
                                    .rng = seed | 1};
}

static void part_free(struct sk_fetch_session_part *p)
{
    sk_wire_str_free(&p->topic);
}

static void session_free(struct sk_fetch_session *s)
{
    for (int i = 0; i < s->nparts; i++)
        part_free(&s->parts[i]);
    free(s->parts);
    free(s->index);
    free(s);
}

/* ---- the index of a session's parts ----------------------------------------------- */

static uint32_t key_hash(bool by_id, kp_str topic, const kp_uuid *id, int32_t partition)
{
    uint64_t h = SK_FNV1A_INIT;
    if (by_id)
        h = sk_fnv1a(h, id->b, 16);
    else if (topic.len > 0)
        h = sk_fnv1a(h, topic.ptr, (size_t)topic.len);
    return sk_fnv1a_fold(sk_fnv1a(h, &partition, sizeof partition));
}

static uint32_t part_hash(const struct sk_fetch_session *s, const struct sk_fetch_session_part *p)
{
    return key_hash(s->uses_topic_ids, p->topic, &p->topic_id, p->partition);
}

static void index_put(struct sk_fetch_session *s, int pos)
{
    uint32_t mask = s->nindex - 1;
    uint32_t i = part_hash(s, &s->parts[pos]) & mask;
    while (s->index[i] >= 0)
        i = (i + 1) & mask;
    s->index[i] = pos;
}

/* Rebuilds the index for parts as they stand, sized for at least want
 * parts. Without memory there is no index, and lookups scan. */
static void reindex(struct sk_fetch_session *s, int want)
{
    uint32_t n = 16;
    while (n < (uint32_t)want * 2)
        n *= 2;
    if (n != s->nindex) {
        free(s->index);
        s->index = malloc(sizeof *s->index * n);
        s->nindex = s->index ? n : 0;
    }
    if (!s->index)
        return;
    memset(s->index, 0xff, sizeof *s->index * n); /* -1: empty */
    for (int i = 0; i < s->nparts; i++)
        index_put(s, i);
}

void sk_fetch_sessions_free(struct sk_fetch_sessions *c)
{
    for (int i = 0; i < c->n; i++)
        session_free(c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

static int index_of(const struct sk_fetch_sessions *c, int32_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->v[i]->id == id)
            return i;
    return -1;
}

struct sk_fetch_session *sk_fetch_session_get(struct sk_fetch_sessions *c, int32_t id)
{
    int i = index_of(c, id);
    return i < 0 ? NULL : c->v[i];
}

static void remove_at(struct sk_fetch_sessions *c, int i)
{
    session_free(c->v[i]);
    c->v[i] = c->v[--c->n];
}

void sk_fetch_session_remove(struct sk_fetch_sessions *c, int32_t id)
{
    int i = index_of(c, id);
    if (i >= 0)
        remove_at(c, i);
}

void sk_fetch_session_touch(struct sk_fetch_session *s, int64_t now)
{
    s->last_used_ms = now;
}

int32_t sk_fetch_next_epoch(int32_t e)
{
    if (e < 0)
        return SK_FETCH_FINAL_EPOCH;
    return e == INT32_MAX ? 1 : e + 1;
}

/* Ids are random so that a fetcher cannot guess another's session. */
static int32_t new_id(struct sk_fetch_sessions *c)
{
    for (;;) {
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        int32_t id = (int32_t)(c->rng & 0x7fffffff);
        if (id != SK_FETCH_INVALID_SESSION_ID && index_of(c, id) < 0)
            return id;
    }
}

/* Kafka's EvictableKey order: (privileged, size, id). */
static bool key_less(const struct sk_fetch_session *a, bool priv, int size, int32_t id)
{
    if (a->privileged != priv)
        return !a->privileged;
    if (a->nparts != size)
        return a->nparts < size;
    return a->id < id;
}

/* Among sessions a newcomer may evict, the least valuable; -1 if none. */
static int least_valuable(const struct sk_fetch_sessions *c, int64_t now, bool privileged)
{
    int best = -1;
    for (int i = 0; i < c->n; i++) {
        const struct sk_fetch_session *s = c->v[i];
        bool old = now - s->created_ms > c->eviction_ms;
        bool evictable = privileged ? (!s->privileged || old) : old;
        if (evictable &&
            (best < 0 || key_less(s, c->v[best]->privileged, c->v[best]->nparts, c->v[best]->id)))
            best = i;
    }
    return best;
}

static bool outranks(bool privileged, int size, const struct sk_fetch_session *s)
{
    if (privileged != s->privileged)
        return privileged;
    return size > s->nparts;
}

static bool try_evict(struct sk_fetch_sessions *c, int64_t now, bool privileged, int size)
{
    int oldest = -1;
    for (int i = 0; i < c->n; i++)
        if (oldest < 0 || c->v[i]->last_used_ms < c->v[oldest]->last_used_ms ||
            (c->v[i]->last_used_ms == c->v[oldest]->last_used_ms &&
             c->v[i]->id < c->v[oldest]->id))
            oldest = i;
    if (oldest < 0)
        return false;
    int victim = -1;
    if (now - c->v[oldest]->last_used_ms > c->eviction_ms) {
        victim = oldest;
    } else {
        int i = least_valuable(c, now, privileged);
        /* The newcomer must outrank it: privileged over not, else larger. */
        if (i >= 0 && !outranks(privileged, size, c->v[i]))
            i = -1;
        victim = i;
    }
    if (victim < 0)
        return false;
    remove_at(c, victim);
    c->evictions++;
    return true;
}

static int copy_part(struct sk_fetch_session_part *dst, const struct sk_fetch_session_part *src)
{
    *dst = *src;
    return sk_wire_str_dup(&dst->topic, src->topic);
}

static struct sk_fetch_session *session_new(const struct sk_fetch_session_part *parts, int n)
{
    struct sk_fetch_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = n > 0 ? n : 1;
    s->parts = calloc((size_t)s->cap, sizeof *s->parts);
    if (!s->parts) {
        free(s);
        return NULL;
    }
    for (int i = 0; i < n; i++, s->nparts++)
        if (copy_part(&s->parts[i], &parts[i]) < 0) {
            session_free(s);
            return NULL;
        }
    return s;
}

int32_t sk_fetch_session_create(struct sk_fetch_sessions *c, int64_t now, bool privileged,
                                bool uses_topic_ids, const struct sk_fetch_session_part *parts,
                                int nparts)
{
    if (c->max <= 0)
        return SK_FETCH_INVALID_SESSION_ID;
    if (c->n >= c->max && !try_evict(c, now, privileged, nparts))
        return SK_FETCH_INVALID_SESSION_ID;
    if (c->n == 0 || (c->n & (c->n - 1)) == 0) {
        struct sk_fetch_session **nv = realloc(c->v, sizeof *nv * (size_t)(c->n ? c->n * 2 : 4));
        if (!nv)
            return SK_FETCH_INVALID_SESSION_ID;
        c->v = nv;
    }
    struct sk_fetch_session *s = session_new(parts, nparts);
    if (!s)
        return SK_FETCH_INVALID_SESSION_ID;
    s->id = new_id(c);
    s->epoch = sk_fetch_next_epoch(SK_FETCH_INITIAL_EPOCH);
    s->privileged = privileged;
    s->uses_topic_ids = uses_topic_ids;
    reindex(s, s->nparts);
    s->created_ms = s->last_used_ms = now;
    c->v[c->n++] = s;
    return s->id;
}

static bool part_is(const struct sk_fetch_session_part *p, bool by_id, kp_str topic,
                    const kp_uuid *id, int32_t partition)
{
    if (p->partition != partition)
        return false;
    if (by_id)
        return memcmp(p->topic_id.b, id->b, 16) == 0;
    return p->topic.len >= 0 && kp_str_eq(topic, p->topic);
}

/* A part marked forgotten is no longer found: each key is in a session at
 * most once, so none other can match. */
int sk_fetch_session_find(const struct sk_fetch_session *s, bool by_id, kp_str topic,
                          const kp_uuid *id, int32_t partition)
{
    if (!s->index || by_id != s->uses_topic_ids) {
        for (int i = 0; i < s->nparts; i++)
            if (part_is(&s->parts[i], by_id, topic, id, partition))
                return s->parts[i].forgotten ? -1 : i;
        return -1;
    }
    uint32_t mask = s->nindex - 1;
    for (uint32_t i = key_hash(by_id, topic, id, partition) & mask; s->index[i] >= 0;
         i = (i + 1) & mask) {
        const struct sk_fetch_session_part *p = &s->parts[s->index[i]];
        if (part_is(p, by_id, topic, id, partition))
            return p->forgotten ? -1 : s->index[i];
    }
    return -1;
}

int sk_fetch_session_upsert(struct sk_fetch_session *s, const struct sk_fetch_session_part *p)
{
    int i = sk_fetch_session_find(s, s->uses_topic_ids, p->topic, &p->topic_id, p->partition);
    if (i >= 0) {
        struct sk_fetch_session_part *q = &s->parts[i];
        q->fetch_offset = p->fetch_offset;
        q->max_bytes = p->max_bytes;
        q->current_leader_epoch = p->current_leader_epoch;
        q->last_fetched_epoch = p->last_fetched_epoch;
        return 0;
    }
    if (s->nparts == s->cap) {
        int cap = s->cap * 2;
        struct sk_fetch_session_part *np = realloc(s->parts, sizeof *np * (size_t)cap);
        if (!np)
            return -ENOMEM;
        s->parts = np;
        s->cap = cap;
    }
    if (copy_part(&s->parts[s->nparts], p) < 0)
        return -ENOMEM;
    /* Never sent: the next answer must include it. */
    s->parts[s->nparts].high_watermark = -1;
    s->parts[s->nparts].log_start_offset = -1;
    s->parts[s->nparts].forgotten = false;
    s->nparts++;
    if ((uint32_t)s->nparts * 2 > s->nindex)
        reindex(s, s->nparts);
    else if (s->index)
        index_put(s, s->nparts - 1);
    return 0;
}

void sk_fetch_session_mark_forgotten(struct sk_fetch_session *s, bool by_id, kp_str topic,
                                     const kp_uuid *id, int32_t partition)
{
    int i = sk_fetch_session_find(s, by_id, topic, id, partition);
    if (i >= 0)
        s->parts[i].forgotten = true;
}

void sk_fetch_session_compact(struct sk_fetch_session *s)
{
    int k = 0;
    for (int i = 0; i < s->nparts; i++) {
        if (s->parts[i].forgotten)
            part_free(&s->parts[i]);
        else
            s->parts[k++] = s->parts[i];
    }
    if (k == s->nparts)
        return;
    s->nparts = k;
    reindex(s, k);
}

void sk_fetch_session_forget(struct sk_fetch_session *s, bool by_id, kp_str topic,
                             const kp_uuid *id, int32_t partition)
{
    sk_fetch_session_mark_forgotten(s, by_id, topic, id, partition);
    sk_fetch_session_compact(s);
}

void sk_fetch_session_rotate(struct sk_fetch_session *s, const bool *sent)
{
    struct sk_fetch_session_part *tmp = malloc(sizeof *tmp * (size_t)(s->nparts + 1));
    if (!tmp)
        return; /* order is only fairness */
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->nparts; i++)
            if (sent[i] == (pass == 1))
                tmp[k++] = s->parts[i];
    memcpy(s->parts, tmp, sizeof *tmp * (size_t)s->nparts);
    free(tmp);
    reindex(s, s->nparts);
}
