/* The leader: it opens its epoch with a LeaderChange control batch, tells the
 * voters with BeginQuorumEpoch until each acknowledges (an answer or a fetch
 * in the epoch), serves their fetches and moves the high watermark. It counts
 * its own log only as far as it has flushed. Kafka 3.9's check-quorum: a
 * leader that has not heard a fetch from a majority within 1.5 fetch
 * timeouts resigns, so a partitioned leader cannot hold the epoch forever.
 * A voter's fetch with nothing to read is held until there is, or until its
 * MaxWaitMs passes, as Kafka's leader does. Observers' fetches are served
 * and held the same way, but never count toward the high watermark or the
 * check-quorum; the leader lists them for DescribeQuorum. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static int send_begin(struct sk_raft *r, struct sk_raft_peer *p, int64_t now)
{
    if (!sk_raft_request(r, SK_RAFT_BEGIN_EPOCH_REQ, p->id))
        return r->failed;
    p->retry_at_ms = now + r->cfg.request_timeout_ms;
    return SK_ERR_NONE;
}

static int append(struct sk_raft *r, enum sk_raft_batch_kind kind, const uint8_t *data, size_t len,
                  int32_t count, int64_t *offset)
{
    struct sk_raft_batch b = {
        .base_offset = r->cfg.log.end_offset(r->cfg.log_ctx),
        .epoch = r->q.epoch,
        .count = count,
        .kind = kind,
        .data = data,
        .len = len,
    };
    if (r->cfg.log.append(r->cfg.log_ctx, &b) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->unflushed = true;
    *offset = b.base_offset;
    return SK_ERR_NONE;
}

int sk_raft_leader_append(struct sk_raft *r, enum sk_raft_batch_kind kind, const uint8_t *data,
                          size_t len, int32_t count, int64_t *offset)
{
    return append(r, kind, data, len, count, offset);
}

/* Kafka's RemoveVoterHandler: a leader outside the voter set leads on
 * until the set that removed it is committed, then resigns. */
bool sk_raft_leader_must_resign(const struct sk_raft *r)
{
    return r->role == SK_RAFT_LEADER && sk_raft_observer(r) && r->hw > sk_raft_voters_offset(r);
}

/* Kafka's LeaderState forgets an observer it has not heard from in five
 * minutes (OBSERVER_SESSION_TIMEOUT_MS). */
#define OBSERVER_SESSION_MS 300000

/* A new epoch starts with no observers known, as Kafka's new LeaderState
 * does; a fetch still held keeps its place so it is answered. */
static void forget_observers(struct sk_raft *r)
{
    int32_t kept = 0;
    for (int32_t i = 0; i < r->n_observers; i++) {
        if (!r->observers[i].parked)
            continue;
        r->observers[kept] = r->observers[i];
        r->observers[kept].fetched = false;
        r->observers[kept].end_offset = -1;
        r->observers[kept].caught_up_ms = -1;
        r->observers[kept].told_hw = -1;
        kept++;
    }
    r->n_observers = kept;
}

int sk_raft_to_leader(struct sk_raft *r, int64_t now)
{
    int err = sk_raft_persist(r, r->q.epoch, r->cfg.node_id, r->q.voted_id);
    if (err)
        return err;
    r->role = SK_RAFT_LEADER;
    r->backoff_until_ms = 0;
    r->election_retries = 0;
    for (int32_t i = 0; i < r->n_peers; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        p->acked = i == r->self;
        p->end_offset = -1;
        p->last_fetch_ms = now;
        p->caught_up_ms = -1;
        p->fetched = false;
        p->retry_at_ms = now;
        p->told_hw = -1;
    }
    forget_observers(r);
    err = append(r, SK_RAFT_BATCH_LEADER_CHANGE, NULL, 0, 1, &r->epoch_start_offset);
    if (!err)
        err = sk_raft_voters_rewrite_initial(r);
    for (int32_t i = 0; !err && i < r->n_peers; i++)
        if (i != r->self)
            err = send_begin(r, &r->peers[i], now);
    return err;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* The majority-th largest end offset among the voters, once it covers the
 * start of this epoch: entries of older epochs commit only under an entry of
 * the leader's own (Raft's rule, Kafka's LeaderState). */
void sk_raft_update_hw(struct sk_raft *r)
{
    int64_t ends[SK_RAFT_MAX_VOTERS];
    for (int32_t i = 0; i < r->n_peers; i++)
        ends[i] = i == r->self ? r->flushed_end : r->peers[i].end_offset;
    qsort(ends, (size_t)r->n_peers, sizeof(ends[0]), cmp_desc);
    int64_t hw = ends[sk_raft_majority(r) - 1];
    if (hw > r->epoch_start_offset && hw > r->hw)
        r->hw = hw;
}

/* When the majority-th most recent fetch grows too old to count, the leader
 * itself counting as always current. */
static int64_t quorum_expiry(const struct sk_raft *r)
{
    int64_t seen[SK_RAFT_MAX_VOTERS];
    for (int32_t i = 0; i < r->n_peers; i++)
        seen[i] = i == r->self ? INT64_MAX : r->peers[i].last_fetch_ms;
    qsort(seen, (size_t)r->n_peers, sizeof(seen[0]), cmp_desc);
    int64_t last = seen[sk_raft_majority(r) - 1];
    return last == INT64_MAX ? INT64_MAX : last + (int64_t)r->cfg.fetch_timeout_ms * 3 / 2;
}

int64_t sk_raft_leader_deadline(const struct sk_raft *r)
{
    int64_t t = quorum_expiry(r);
    for (int32_t i = 0; i < r->n_peers; i++)
        if (!r->peers[i].acked && r->peers[i].retry_at_ms < t)
            t = r->peers[i].retry_at_ms;
    return t;
}

int sk_raft_tick_leader(struct sk_raft *r, int64_t now)
{
    int err = sk_raft_flush(r);
    if (err)
        return err;
    if (now > quorum_expiry(r) || sk_raft_leader_must_resign(r))
        return sk_raft_to_resigned(r, now);
    for (int32_t i = 0; i < r->n_peers; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        if (!p->acked && now >= p->retry_at_ms && (err = send_begin(r, p, now)))
            return err;
    }
    return SK_ERR_NONE;
}

static int append_data(struct sk_raft *r, const uint8_t *data, size_t len, int32_t count,
                       int64_t *offset)
{
    if (r->failed)
        return r->failed;
    if (r->role != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    if (count <= 0)
        return SK_ERR_INVALID_REQUEST;
    return append(r, SK_RAFT_BATCH_DATA, data, len, count, offset);
}

static void ack(struct sk_raft *r, int32_t id)
{
    struct sk_raft_peer *p = sk_raft_peer(r, id);
    if (p)
        p->acked = true;
}

int sk_raft_on_begin_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int err = sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (!err && r->role == SK_RAFT_LEADER && m->epoch == r->q.epoch && !m->error)
        ack(r, m->src);
    return err;
}

/* Kafka's validateOffsetAndEpoch: the fetch is valid when our log holds the
 * fetcher's last epoch up to at least its fetch offset; otherwise the answer
 * names the largest epoch we share and where it ends. When we share none
 * (the fetcher led an epoch that left nothing in our log, as a leader of a
 * split first election does), the answer names the fetcher's own epoch
 * ending where ours begin, as Kafka's OffsetForLeaderEpoch does: on the wire
 * an epoch of -1 means no divergence at all, so the fetcher would fetch the
 * same offset again forever. */
static bool diverges(struct sk_raft *r, const struct sk_raft_fetch_req *f, int32_t *epoch,
                     int64_t *end)
{
    if (f->fetch_offset == 0)
        return false;
    r->cfg.log.end_for_epoch(r->cfg.log_ctx, f->last_fetched_epoch, epoch, end);
    if (*epoch == f->last_fetched_epoch && *end >= f->fetch_offset)
        return false;
    if (*epoch < 0)
        *epoch = f->last_fetched_epoch > 0 ? f->last_fetched_epoch : 0;
    return true;
}

/* Copies the batches into one block the message owns. */
static int fill_records(struct sk_raft *r, struct sk_raft_msg *resp, int64_t offset)
{
    struct sk_raft_batch got[64];
    size_t n = 0, bytes = 0;
    if (offset >= r->cfg.log.end_offset(r->cfg.log_ctx))
        return SK_ERR_NONE;
    if (r->cfg.log.read(r->cfg.log_ctx, offset, r->cfg.fetch_max_bytes, got, 64, &n) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    /* A VOTERS batch leaves only once durable here (Kafka's leader flushes
     * before it serves): a follower that a new set removes must never hold
     * a set its leader could lose in a crash, or each would wait for the
     * other's vote under a different set. */
    int64_t vo = sk_raft_voters_offset(r);
    while (n > 0 && vo >= r->flushed_end && got[n - 1].base_offset >= vo)
        n--;
    for (size_t i = 0; i < n; i++)
        bytes += got[i].len;
    uint8_t *block = malloc(n * sizeof(got[0]) + bytes + 1);
    if (!block)
        return sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
    struct sk_raft_batch *out = (struct sk_raft_batch *)block;
    uint8_t *data = block + n * sizeof(got[0]);
    for (size_t i = 0; i < n; i++) {
        out[i] = got[i];
        out[i].data = data;
        if (got[i].len)
            memcpy(data, got[i].data, got[i].len);
        data += got[i].len;
    }
    resp->owned = block;
    resp->u.fetch_resp.batches = out;
    resp->u.fetch_resp.n_batches = n;
    return SK_ERR_NONE;
}

/* Kafka's validateLeaderOnlyRequest. */
int16_t sk_raft_check_fetch(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    int16_t err = sk_raft_check_cluster(r, m);
    if (err)
        return err;
    if (m->epoch < r->q.epoch)
        return SK_ERR_FENCED_LEADER_EPOCH;
    if (m->epoch > r->q.epoch)
        return SK_ERR_UNKNOWN_LEADER_EPOCH;
    if (r->role != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    return SK_ERR_NONE;
}

static struct sk_raft_peer *find_observer(struct sk_raft *r, int32_t id)
{
    for (int32_t i = 0; i < r->n_observers; i++)
        if (r->observers[i].id == id)
            return &r->observers[i];
    return NULL;
}

const struct sk_raft_peer *sk_raft_find_observer(const struct sk_raft *r, int32_t id)
{
    return find_observer((struct sk_raft *)r, id);
}

bool sk_raft_adopt_observer(struct sk_raft *r, int32_t id, struct sk_raft_peer *out)
{
    struct sk_raft_peer *p = find_observer(r, id);
    if (!p)
        return false;
    *out = *p;
    out->acked = false; /* it learns of the epoch with BeginQuorumEpoch */
    out->retry_at_ms = r->now;
    *p = r->observers[--r->n_observers];
    return true;
}

/* The slot of an observer heard from for the first time: a free one, or
 * the one heard from least recently whose fetch is not held. NULL when
 * every slot holds a fetch; the observer is then served, not tracked. */
static struct sk_raft_peer *add_observer(struct sk_raft *r, int32_t id)
{
    struct sk_raft_peer *p = NULL;
    if (r->n_observers < SK_RAFT_MAX_OBSERVERS) {
        p = &r->observers[r->n_observers++];
    } else {
        for (int32_t i = 0; i < r->n_observers; i++) {
            struct sk_raft_peer *o = &r->observers[i];
            if (!o->parked && (!p || o->last_fetch_ms < p->last_fetch_ms))
                p = o;
        }
        if (!p)
            return NULL;
    }
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->end_offset = -1;
    p->caught_up_ms = -1;
    p->told_hw = -1;
    return p;
}

static int answer_fetch(struct sk_raft *r, const struct sk_raft_msg *m, int16_t bad, bool diverged,
                        int32_t div_epoch, int64_t div_end);

/* A voter that left the set: only a leader tracks observers, but a fetch
 * it holds must be answered whatever the role. */
void sk_raft_keep_observer(struct sk_raft *r, const struct sk_raft_peer *p)
{
    if (r->role != SK_RAFT_LEADER && !p->parked)
        return;
    struct sk_raft_peer *o = find_observer(r, p->id);
    if (!o)
        o = add_observer(r, p->id);
    if (o)
        *o = *p;
    else if (p->parked)
        (void)answer_fetch(r, &p->park, sk_raft_check_fetch(r, &p->park), false, -1, -1);
}

/* Whoever sent the fetch: a voter, a known observer or (when create) a new
 * one. A fetch with no replica id (-1, a plain consumer of the log) has
 * none. */
static struct sk_raft_peer *fetcher(struct sk_raft *r, int32_t id, bool create)
{
    struct sk_raft_peer *p = sk_raft_peer(r, id);
    if (p || id < 0)
        return p;
    p = find_observer(r, id);
    return p || !create ? p : add_observer(r, id);
}

/* A valid fetch from a voter is its acknowledgement of everything below the
 * fetch offset, and of the epoch. An observer's is only recorded. */
static void record_fetch(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    struct sk_raft_peer *p = fetcher(r, m->src, true);
    if (!p)
        return;
    p->end_offset = m->u.fetch.fetch_offset;
    p->last_fetch_ms = now;
    p->fetched = true;
    memcpy(p->dir, m->u.fetch.replica_directory_id, SK_RAFT_DIR_ID_LEN);
    /* Caught up: it asked for nothing we had not yet given it. */
    if (p->end_offset >= r->cfg.log.end_offset(r->cfg.log_ctx))
        p->caught_up_ms = now;
    if (!sk_raft_peer(r, m->src))
        return;
    p->acked = true;
    sk_raft_update_hw(r);
}

/* A fetch answer's high watermark, remembered for its fetcher. */
static void tell_hw(struct sk_raft *r, const struct sk_raft_msg *m, struct sk_raft_msg *resp)
{
    struct sk_raft_peer *p = fetcher(r, m->src, false);
    if (p)
        p->told_hw = r->hw;
    resp->u.fetch_resp.high_watermark = r->hw;
}

/* The answer to a valid fetch: what the log holds from its offset. */
static int answer_fetch(struct sk_raft *r, const struct sk_raft_msg *m, int16_t bad, bool diverged,
                        int32_t div_epoch, int64_t div_end)
{
    struct sk_raft_msg *resp = sk_raft_reply(r, m, bad);
    if (!resp)
        return r->failed;
    tell_hw(r, m, resp);
    resp->u.fetch_resp.diverging_epoch = diverged ? div_epoch : -1;
    resp->u.fetch_resp.diverging_end_offset = diverged ? div_end : -1;
    if (bad || diverged)
        return SK_ERR_NONE;
    return fill_records(r, resp, m->u.fetch.fetch_offset);
}

/* Kafka's fetch purgatory: a voter asking for nothing the log has yet waits
 * here, so that a new batch reaches it at once rather than at its next
 * poll. A fetch that moved the high watermark, or whose fetcher was not yet
 * told the current one, is answered at once: the fetcher learns the commit
 * without waiting. A voter has one fetch out at a time; a newer one
 * replaces the held one, which is answered as it stands. */
static int maybe_park(struct sk_raft *r, const struct sk_raft_msg *m, int64_t hw_before,
                      int64_t now, bool *parked)
{
    struct sk_raft_peer *p = fetcher(r, m->src, false);
    *parked = false;
    if (!p || m->u.fetch.max_wait_ms <= 0 || r->hw != hw_before || p->told_hw != r->hw ||
        m->u.fetch.fetch_offset < r->cfg.log.end_offset(r->cfg.log_ctx))
        return SK_ERR_NONE;
    if (p->parked) {
        p->parked = false;
        int err = answer_fetch(r, &p->park, sk_raft_check_fetch(r, &p->park), false, -1, -1);
        if (err)
            return err;
    }
    p->parked = true;
    p->park = *m;
    p->park.owned = NULL;
    p->park_until_ms = now + m->u.fetch.max_wait_ms;
    p->park_hw = r->hw;
    *parked = true;
    return SK_ERR_NONE;
}

/* Kafka's validateOffsetAndEpoch finds the offset gone into a snapshot:
 * the answer names the latest one. A voter taking it is still following
 * this leader, which check-quorum must count. */
static int answer_below_start(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    struct sk_raft_peer *p = sk_raft_peer(r, m->src);
    if (p)
        p->last_fetch_ms = now;
    struct sk_raft_msg *resp = sk_raft_reply(r, m, SK_ERR_NONE);
    if (!resp)
        return r->failed;
    tell_hw(r, m, resp);
    resp->u.fetch_resp.diverging_epoch = -1;
    resp->u.fetch_resp.diverging_end_offset = -1;
    return sk_raft_answer_snapshot_id(r, resp);
}

int sk_raft_on_fetch_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int16_t bad = sk_raft_check_fetch(r, m);
    int32_t div_epoch = -1;
    int64_t div_end = -1;
    int64_t hw_before = r->hw;
    if (!bad && m->u.fetch.fetch_offset < sk_raft_log_start(r))
        return answer_below_start(r, m, now);
    bool diverged = !bad && diverges(r, &m->u.fetch, &div_epoch, &div_end);
    /* Where they part is gone into the snapshot: the follower takes it. */
    if (diverged && div_end < sk_raft_log_start(r))
        return answer_below_start(r, m, now);
    if (!bad && !diverged) {
        record_fetch(r, m, now);
        bool parked;
        int err = maybe_park(r, m, hw_before, now, &parked);
        if (err || parked)
            return err;
    }
    return answer_fetch(r, m, bad, diverged, div_epoch, div_end);
}

/* A held fetch is due when its wait is over, when the log has something
 * past its offset or the high watermark moved, and when this node stopped
 * leading its epoch (then the answer carries the error that says so). */
static bool fetch_due(const struct sk_raft *r, const struct sk_raft_peer *p, int64_t now)
{
    return now >= p->park_until_ms || r->role != SK_RAFT_LEADER ||
           p->park.epoch != r->q.epoch || r->hw != p->park_hw ||
           r->cfg.log.end_offset(r->cfg.log_ctx) > p->park.u.fetch.fetch_offset;
}

static int wake(struct sk_raft *r, struct sk_raft_peer *ps, int32_t n, int64_t now)
{
    for (int32_t i = 0; i < n && !r->failed; i++) {
        struct sk_raft_peer *p = &ps[i];
        if (!p->parked || !fetch_due(r, p, now))
            continue;
        p->parked = false;
        int err = answer_fetch(r, &p->park, sk_raft_check_fetch(r, &p->park), false, -1, -1);
        if (err)
            return err;
    }
    return r->failed;
}

int sk_raft_wake_fetches(struct sk_raft *r, int64_t now)
{
    int err = wake(r, r->peers, r->n_peers, now);
    return err ? err : wake(r, r->observers, r->n_observers, now);
}

static int64_t first_due(const struct sk_raft_peer *ps, int32_t n, int64_t t)
{
    for (int32_t i = 0; i < n; i++)
        if (ps[i].parked && ps[i].park_until_ms < t)
            t = ps[i].park_until_ms;
    return t;
}

int64_t sk_raft_parked_deadline(const struct sk_raft *r)
{
    return first_due(r->observers, r->n_observers, first_due(r->peers, r->n_peers, INT64_MAX));
}

static int send_end(struct sk_raft *r, struct sk_raft_peer *p,
                    const struct sk_raft_end_epoch_req *e, int64_t now)
{
    struct sk_raft_msg *m = sk_raft_request(r, SK_RAFT_END_EPOCH_REQ, p->id);
    if (!m)
        return r->failed;
    m->u.end = *e;
    p->retry_at_ms = now + r->cfg.request_timeout_ms;
    return SK_ERR_NONE;
}

/* The successors, most caught up first, so the likeliest winner of the next
 * election stands first (Kafka sorts them the same way). */
static void successors(struct sk_raft *r, struct sk_raft_end_epoch_req *e)
{
    e->n_preferred = 0;
    for (int32_t i = 0; i < r->n_peers; i++) {
        if (i == r->self)
            continue;
        int32_t j = e->n_preferred++;
        while (j > 0 && sk_raft_peer(r, e->preferred[j - 1])->end_offset < r->peers[i].end_offset) {
            e->preferred[j] = e->preferred[j - 1];
            j--;
        }
        e->preferred[j] = r->peers[i].id;
    }
}

static int broadcast_end(struct sk_raft *r, int64_t now, bool all)
{
    struct sk_raft_end_epoch_req e;
    successors(r, &e);
    for (int32_t i = 0; i < r->n_peers; i++) {
        struct sk_raft_peer *p = &r->peers[i];
        if (i == r->self || p->acked || (!all && now < p->retry_at_ms))
            continue;
        int err = send_end(r, p, &e, now);
        if (err)
            return err;
    }
    return SK_ERR_NONE;
}

/* The epoch and the leader id stay written: this node led the epoch, and a
 * restart comes back resigned, never leader. */
int sk_raft_to_resigned(struct sk_raft *r, int64_t now)
{
    r->role = SK_RAFT_RESIGNED;
    r->election_at_ms = now + sk_raft_random_timeout(r);
    for (int32_t i = 0; i < r->n_peers; i++)
        r->peers[i].acked = i == r->self;
    return broadcast_end(r, now, true);
}

static int resign(struct sk_raft *r, int64_t now)
{
    if (r->failed)
        return r->failed;
    if (r->role != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    int err = sk_raft_flush(r);
    return err ? err : sk_raft_to_resigned(r, now);
}

int sk_raft_tick_resigned(struct sk_raft *r, int64_t now)
{
    if (now >= r->election_at_ms)
        return sk_raft_start_election(r, now);
    return broadcast_end(r, now, false);
}

int sk_raft_on_end_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int err = sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (!err && r->role == SK_RAFT_RESIGNED && m->epoch == r->q.epoch && !m->error)
        ack(r, m->src);
    return err;
}

static void describe_observers(const struct sk_raft *r, int64_t now,
                               struct sk_raft_quorum_view *out)
{
    out->n_observers = 0;
    for (int32_t i = 0; i < r->n_observers; i++) {
        const struct sk_raft_peer *p = &r->observers[i];
        if (!p->fetched || now - p->last_fetch_ms > OBSERVER_SESSION_MS)
            continue;
        struct sk_raft_replica_view *v = &out->observers[out->n_observers++];
        *v = (struct sk_raft_replica_view){
            .id = p->id,
            .log_end_offset = p->end_offset,
            .last_fetch_ms = p->last_fetch_ms,
            .last_caught_up_ms = p->caught_up_ms,
        };
        memcpy(v->directory_id, p->dir, SK_RAFT_DIR_ID_LEN);
    }
}

int sk_raft_describe(const struct sk_raft *r, int64_t now, struct sk_raft_quorum_view *out)
{
    if (r->role != SK_RAFT_LEADER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    out->leader_id = r->cfg.node_id;
    out->epoch = r->q.epoch;
    out->high_watermark = r->hw;
    out->n_voters = r->n_peers;
    for (int32_t i = 0; i < r->n_peers; i++) {
        const struct sk_raft_peer *p = &r->peers[i];
        struct sk_raft_replica_view *v = &out->voters[i];
        v->id = p->id;
        memcpy(v->directory_id, sk_raft_voters(r)->voters[i].directory_id, SK_RAFT_DIR_ID_LEN);
        if (i == r->self) {
            v->log_end_offset = r->cfg.log.end_offset(r->cfg.log_ctx);
            v->last_fetch_ms = v->last_caught_up_ms = now;
            continue;
        }
        v->log_end_offset = p->end_offset;
        v->last_fetch_ms = p->fetched ? p->last_fetch_ms : -1;
        v->last_caught_up_ms = p->caught_up_ms;
    }
    describe_observers(r, now, out);
    out->nodes = *sk_raft_voters(r);
    return SK_ERR_NONE;
}

int sk_raft_release_fetches(struct sk_raft *r)
{
    if (r->failed)
        return r->failed;
    for (int32_t i = 0; i < r->n_peers; i++)
        r->peers[i].park_until_ms = INT64_MIN;
    for (int32_t i = 0; i < r->n_observers; i++)
        r->observers[i].park_until_ms = INT64_MIN;
    return sk_raft_wake_fetches(r, INT64_MIN);
}

/* A new batch is what a held fetch waits for. */
int sk_raft_append(struct sk_raft *r, const uint8_t *data, size_t len, int32_t count,
                   int64_t *offset)
{
    int err = append_data(r, data, len, count, offset);
    int woke = sk_raft_wake_fetches(r, INT64_MIN);
    return err ? err : woke;
}

int sk_raft_resign(struct sk_raft *r, int64_t now)
{
    int err = resign(r, now);
    int woke = sk_raft_wake_fetches(r, now);
    return err ? err : woke;
}
