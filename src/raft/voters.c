/* The voter set (KIP-853) and its history in the log, as Kafka's VoterSet,
 * VoterSetHistory and KRaftControlRecordStateMachine. Under kraft.version 1
 * every replica uses the latest voter set in its log, committed or not: a
 * VOTERS batch takes effect when it is appended, and a truncation below it
 * reverts to the set before it. The history therefore keeps every set
 * above the newest one known committed (which no truncation can reach, since
 * the log is never cut below the high watermark) and that one as its base.
 * A snapshot carries the set at its end; start-up rebuilds the history from
 * the latest snapshot and the VOTERS batches above it. Under kraft.version 0
 * the configured static set never changes.
 *
 * Whenever the set in use changes, the peers table is rebuilt in the set's
 * order: a replica that stays keeps its state, one that joins brings what
 * the leader knew of it as an observer, one that leaves becomes an
 * observer; and this node becomes a voter or an observer with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#define ENCODING_VERSION 0

static const uint8_t no_dir[SK_RAFT_DIR_ID_LEN];

int32_t sk_raft_voters_find(const struct sk_raft_voter_set *s, int32_t id)
{
    for (int32_t i = 0; i < s->n; i++)
        if (s->voters[i].id == id)
            return i;
    return -1;
}

bool sk_raft_voters_has(const struct sk_raft_voter_set *s, int32_t id, const uint8_t *dir)
{
    int32_t i = sk_raft_voters_find(s, id);
    if (i < 0)
        return false;
    const uint8_t *vd = s->voters[i].directory_id;
    return memcmp(vd, no_dir, SK_RAFT_DIR_ID_LEN) == 0 || memcmp(vd, dir, SK_RAFT_DIR_ID_LEN) == 0;
}

/* The encoding: version, count, then per voter id, directory id, version
 * range, endpoint count and each endpoint's name, host and port. */
struct cursor {
    uint8_t *p;
    const uint8_t *rp;
    size_t left;
    bool bad;
};

static void put(struct cursor *c, const void *v, size_t n)
{
    if (c->bad || n > c->left) {
        c->bad = true;
        return;
    }
    memcpy(c->p, v, n);
    c->p += n;
    c->left -= n;
}

static void put_le(struct cursor *c, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(c, b, n);
}

static void get(struct cursor *c, void *v, size_t n)
{
    if (c->bad || n > c->left) {
        c->bad = true;
        return;
    }
    memcpy(v, c->rp, n);
    c->rp += n;
    c->left -= n;
}

static uint64_t get_le(struct cursor *c, size_t n)
{
    uint8_t b[8] = {0};
    uint64_t v = 0;
    get(c, b, n);
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void put_voter(struct cursor *c, const struct sk_raft_voter *v)
{
    put_le(c, (uint32_t)v->id, 4);
    put(c, v->directory_id, SK_RAFT_DIR_ID_LEN);
    put_le(c, (uint16_t)v->min_kraft_version, 2);
    put_le(c, (uint16_t)v->max_kraft_version, 2);
    put_le(c, (uint8_t)v->n_endpoints, 1);
    for (int32_t i = 0; i < v->n_endpoints && i < SK_RAFT_MAX_ENDPOINTS; i++) {
        const struct sk_raft_endpoint *e = &v->endpoints[i];
        put_le(c, e->name_len, 1);
        put(c, e->name, e->name_len);
        put_le(c, e->host_len, 1);
        put(c, e->host, e->host_len);
        put_le(c, e->port, 2);
    }
}

size_t sk_raft_voters_encode(const struct sk_raft_voter_set *s, uint8_t *buf, size_t cap)
{
    struct cursor c = {.p = buf, .left = cap};
    if (s->n < 0 || s->n > SK_RAFT_MAX_VOTERS)
        return 0;
    put_le(&c, ENCODING_VERSION, 1);
    put_le(&c, (uint8_t)s->n, 1);
    for (int32_t i = 0; i < s->n; i++) {
        if (s->voters[i].n_endpoints < 0 || s->voters[i].n_endpoints > SK_RAFT_MAX_ENDPOINTS)
            return 0;
        put_voter(&c, &s->voters[i]);
    }
    return c.bad ? 0 : cap - c.left;
}

static void get_endpoint(struct cursor *c, struct sk_raft_endpoint *e)
{
    e->name_len = (uint8_t)get_le(c, 1);
    if (e->name_len > SK_RAFT_LISTENER_MAX)
        c->bad = true;
    get(c, e->name, e->name_len);
    e->host_len = (uint8_t)get_le(c, 1);
    get(c, e->host, e->host_len);
    e->port = (uint16_t)get_le(c, 2);
}

static void get_voter(struct cursor *c, struct sk_raft_voter *v)
{
    v->id = (int32_t)(uint32_t)get_le(c, 4);
    get(c, v->directory_id, SK_RAFT_DIR_ID_LEN);
    v->min_kraft_version = (int16_t)(uint16_t)get_le(c, 2);
    v->max_kraft_version = (int16_t)(uint16_t)get_le(c, 2);
    v->n_endpoints = (int32_t)get_le(c, 1);
    if (v->n_endpoints > SK_RAFT_MAX_ENDPOINTS || v->id < 0)
        c->bad = true;
    for (int32_t i = 0; i < v->n_endpoints && !c->bad; i++)
        get_endpoint(c, &v->endpoints[i]);
}

int sk_raft_voters_decode(const uint8_t *buf, size_t len, struct sk_raft_voter_set *out)
{
    struct cursor c = {.rp = buf, .left = len};
    memset(out, 0, sizeof(*out));
    if (get_le(&c, 1) != ENCODING_VERSION)
        return -EBADMSG;
    out->n = (int32_t)get_le(&c, 1);
    if (out->n < 1 || out->n > SK_RAFT_MAX_VOTERS)
        return -EBADMSG;
    for (int32_t i = 0; i < out->n && !c.bad; i++) {
        get_voter(&c, &out->voters[i]);
        if (sk_raft_voters_find(out, out->voters[i].id) != i)
            c.bad = true;
    }
    return c.bad || c.left ? -EBADMSG : 0;
}

/* A fresh peer for a replica the node knew nothing of. */
static void fresh(struct sk_raft *r, struct sk_raft_peer *p, int32_t id)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->end_offset = -1;
    p->last_fetch_ms = r->now;
    p->caught_up_ms = -1;
    p->retry_at_ms = r->now;
    p->told_hw = -1;
}

/* The role this node keeps when it leaves the set or joins it. A leader
 * that removed itself goes on leading until the removal commits (then
 * leader.c resigns it); a follower follows on as an observer; a voter that
 * was waiting to stand or standing may no longer. One that joins as a
 * follower follows on as a voter, and one without a leader stands in time. */
static void reconsider_role(struct sk_raft *r, bool was_voter)
{
    if (!was_voter || !sk_raft_observer(r))
        return;
    if (r->role == SK_RAFT_CANDIDATE || r->role == SK_RAFT_VOTED ||
        r->role == SK_RAFT_UNATTACHED)
        sk_raft_to_nonvoter(r, r->now);
}

static void apply(struct sk_raft *r)
{
    const struct sk_raft_voter_set *s = &r->hist[r->n_hist - 1].set;
    struct sk_raft_peer old[SK_RAFT_MAX_VOTERS];
    int32_t n_old = r->n_peers;
    bool was_voter = !sk_raft_observer(r);
    memcpy(old, r->peers, (size_t)n_old * sizeof(old[0]));
    for (int32_t i = 0; i < s->n; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        int32_t id = s->voters[i].id, j = 0;
        while (j < n_old && old[j].id != id)
            j++;
        if (j < n_old) {
            *p = old[j];
            old[j].id = SK_RAFT_NO_ID;
        } else if (!sk_raft_adopt_observer(r, id, p)) {
            fresh(r, p, id);
        }
    }
    r->n_peers = s->n;
    for (int32_t j = 0; j < n_old; j++)
        if (old[j].id != SK_RAFT_NO_ID && old[j].id != r->cfg.node_id)
            sk_raft_keep_observer(r, &old[j]);
    r->self = sk_raft_voters_has(s, r->cfg.node_id, r->cfg.directory_id)
                  ? sk_raft_voters_find(s, r->cfg.node_id)
                  : -1;
    reconsider_role(r, was_voter);
}

static int reserve(struct sk_raft *r, size_t n)
{
    if (n <= r->cap_hist)
        return SK_ERR_NONE;
    size_t cap = r->cap_hist ? r->cap_hist * 2 : 4;
    struct sk_raft_voter_hist *h = realloc(r->hist, cap * sizeof(*h));
    if (!h)
        return sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
    r->hist = h;
    r->cap_hist = cap;
    return SK_ERR_NONE;
}

/* The sets below the newest committed one can never come back. */
static void compact(struct sk_raft *r)
{
    size_t keep = 0;
    for (size_t i = 1; i < r->n_hist; i++)
        if (r->hist[i].offset < r->hw)
            keep = i;
    if (keep == 0)
        return;
    memmove(r->hist, r->hist + keep, (r->n_hist - keep) * sizeof(*r->hist));
    r->n_hist -= keep;
}

int sk_raft_voters_push(struct sk_raft *r, int64_t offset, const struct sk_raft_voter_set *s)
{
    compact(r);
    int err = reserve(r, r->n_hist + 1);
    if (err)
        return err;
    r->hist[r->n_hist++] = (struct sk_raft_voter_hist){offset, *s};
    apply(r);
    return SK_ERR_NONE;
}

static int reset(struct sk_raft *r, int64_t offset, const struct sk_raft_voter_set *s)
{
    r->n_hist = 0;
    return sk_raft_voters_push(r, offset, s);
}

/* Only kraft.version 1 logs carry voter sets; a VOTERS batch that does not
 * decode is a corrupt log, which stops the core. */
int sk_raft_voters_on_batch(struct sk_raft *r, const struct sk_raft_batch *b)
{
    if (b->kind != SK_RAFT_BATCH_VOTERS || r->cfg.kraft_version < 1)
        return SK_ERR_NONE;
    struct sk_raft_voter_set s;
    if (sk_raft_voters_decode(b->data, b->len, &s) < 0)
        return sk_raft_fail(r, SK_ERR_CORRUPT_MESSAGE);
    return sk_raft_voters_push(r, b->base_offset, &s);
}

void sk_raft_voters_truncated(struct sk_raft *r, int64_t end)
{
    size_t n = r->n_hist;
    while (r->n_hist > 1 && r->hist[r->n_hist - 1].offset >= end)
        r->n_hist--;
    if (r->n_hist != n)
        apply(r);
}

static void static_set(const struct sk_raft_config *c, struct sk_raft_voter_set *s)
{
    memset(s, 0, sizeof(*s));
    s->n = c->n_voters;
    for (int32_t i = 0; i < c->n_voters; i++)
        s->voters[i].id = c->voters[i];
}

/* The set a snapshot ends with, else the initial one. */
static int base_set(struct sk_raft *r, const struct sk_raft_snapshot_id *id)
{
    struct sk_raft_voter_set s;
    if (id && r->cfg.log.snapshot_voters &&
        r->cfg.log.snapshot_voters(r->cfg.log_ctx, id, &s) == 0)
        return reset(r, id->end_offset - 1, &s);
    return reset(r, -1, &r->cfg.initial_voters);
}

int sk_raft_voters_installed(struct sk_raft *r, const struct sk_raft_snapshot_id *id)
{
    if (r->cfg.kraft_version < 1)
        return SK_ERR_NONE;
    return base_set(r, id);
}

/* Start-up: the latest snapshot's set, then every VOTERS batch above it. */
static int replay(struct sk_raft *r)
{
    struct sk_raft_batch got[64];
    int64_t off = sk_raft_log_start(r), end = r->cfg.log.end_offset(r->cfg.log_ctx);
    while (off < end && !r->failed) {
        size_t n = 0;
        if (r->cfg.log.read(r->cfg.log_ctx, off, 1u << 20, got, 64, &n) < 0 || n == 0)
            return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
        for (size_t i = 0; i < n && !r->failed; i++)
            sk_raft_voters_on_batch(r, &got[i]);
        off = got[n - 1].base_offset + got[n - 1].count;
    }
    return r->failed;
}

int sk_raft_voters_load(struct sk_raft *r)
{
    if (r->cfg.kraft_version < 1) {
        struct sk_raft_voter_set s;
        static_set(&r->cfg, &s);
        return reset(r, -1, &s);
    }
    struct sk_raft_snapshot_id id;
    bool snap = r->cfg.log.snapshot_latest && r->cfg.log.snapshot_latest(r->cfg.log_ctx, &id) == 0;
    int err = base_set(r, snap ? &id : NULL);
    return err ? err : replay(r);
}

void sk_raft_voters_free(struct sk_raft *r)
{
    free(r->hist);
    r->hist = NULL;
    r->n_hist = r->cap_hist = 0;
}

const struct sk_raft_voter_set *sk_raft_voters(const struct sk_raft *r)
{
    return &r->hist[r->n_hist - 1].set;
}

int64_t sk_raft_voters_offset(const struct sk_raft *r)
{
    return r->hist[r->n_hist - 1].offset;
}
