/* Snapshots in the Raft core (KIP-630). A leader whose log no longer holds
 * a follower's fetch offset answers with the id of its latest snapshot; the
 * follower then stops fetching the log and takes that snapshot in chunks
 * with FetchSnapshot, writing each to a partial snapshot, and when it has
 * all of it replaces its log by it and fetches on from its end. A snapshot
 * holds only committed entries, so its end is committed too. */
#include <errno.h>
#include <stdlib.h>

#include "raft_int.h"

int64_t sk_raft_log_start(const struct sk_raft *r)
{
    return r->cfg.log.start_offset ? r->cfg.log.start_offset(r->cfg.log_ctx) : 0;
}

static int latest(struct sk_raft *r, struct sk_raft_snapshot_id *id)
{
    if (!r->cfg.log.snapshot_latest)
        return -ENOENT;
    return r->cfg.log.snapshot_latest(r->cfg.log_ctx, id);
}

/* A log start above 0 with no snapshot behind it is a broken store. */
int sk_raft_answer_snapshot_id(struct sk_raft *r, struct sk_raft_msg *resp)
{
    if (latest(r, &resp->u.fetch_resp.snapshot) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    return SK_ERR_NONE;
}

int sk_raft_send_fetch_snapshot(struct sk_raft *r, int32_t dst, int64_t now)
{
    struct sk_raft_msg *m = sk_raft_request(r, SK_RAFT_FETCH_SNAPSHOT_REQ, dst);
    if (!m)
        return r->failed;
    m->u.snap.id = r->snap_id;
    m->u.snap.position = r->snap_pos;
    m->u.snap.max_bytes = (int32_t)(r->cfg.fetch_max_bytes > INT32_MAX ? INT32_MAX
                                                                       : r->cfg.fetch_max_bytes);
    r->fetch_corr = m->corr;
    r->fetch_retry_ms = now + r->cfg.request_timeout_ms;
    return SK_ERR_NONE;
}

int sk_raft_start_snapshot(struct sk_raft *r, const struct sk_raft_snapshot_id *id, int64_t now)
{
    if (!r->cfg.log.snapshot_write || !r->cfg.log.snapshot_install)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->snap_fetching = true;
    r->snap_id = *id;
    r->snap_pos = 0;
    r->fetch_at_ms = now;
    return SK_ERR_NONE;
}

/* Kafka checks the id and position of the request against the snapshots
 * it holds: only an exact id is served, from a position inside it. */
static int16_t read_chunk(struct sk_raft *r, const struct sk_raft_fetch_snapshot_req *q,
                          struct sk_raft_msg *resp)
{
    size_t max = q->max_bytes > 0 ? (size_t)q->max_bytes : 1;
    if (max > r->cfg.fetch_max_bytes)
        max = r->cfg.fetch_max_bytes;
    uint8_t *buf = malloc(max + 1);
    if (!buf)
        return sk_raft_fail(r, SK_ERR_UNKNOWN_SERVER_ERROR);
    size_t n = 0;
    int64_t size = 0;
    int rc = -ENOENT;
    if (r->cfg.log.snapshot_read && q->position >= 0)
        rc = r->cfg.log.snapshot_read(r->cfg.log_ctx, &q->id, q->position, buf, max, &n, &size);
    if (rc == -ENOENT || q->position < 0 || (rc == 0 && q->position >= size)) {
        free(buf);
        return rc == -ENOENT && q->position >= 0 ? SK_ERR_SNAPSHOT_NOT_FOUND
                                                 : SK_ERR_POSITION_OUT_OF_RANGE;
    }
    if (rc < 0) {
        free(buf);
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    }
    resp->owned = buf;
    resp->u.snap_resp.data = buf;
    resp->u.snap_resp.len = n;
    resp->u.snap_resp.size = size;
    return SK_ERR_NONE;
}

int sk_raft_on_fetch_snapshot_req(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    int16_t bad = sk_raft_check_fetch(r, m);
    struct sk_raft_peer *p = bad ? NULL : sk_raft_peer(r, m->src);
    if (p)
        p->last_fetch_ms = now;
    struct sk_raft_msg *resp = sk_raft_reply(r, m, bad);
    if (!resp)
        return r->failed;
    resp->u.snap_resp.id = m->u.snap.id;
    resp->u.snap_resp.position = m->u.snap.position;
    resp->u.snap_resp.size = -1;
    if (bad)
        return SK_ERR_NONE;
    resp->error = read_chunk(r, &m->u.snap, resp);
    return r->failed;
}

/* The whole snapshot is here: it replaces the log, and what it covers is
 * durable and committed. */
static int install(struct sk_raft *r, int64_t now)
{
    int rc = r->cfg.log.snapshot_install(r->cfg.log_ctx, &r->snap_id);
    /* A snapshot that arrived corrupt is dropped, never installed: the
     * follower fetches the log again, learns the leader's snapshot anew
     * and takes it from the start. */
    if (rc == -EBADMSG) {
        r->snap_fetching = false;
        r->fetch_at_ms = now + r->cfg.retry_backoff_ms;
        return SK_ERR_NONE;
    }
    if (rc < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->snap_fetching = false;
    r->flush_gen++;
    r->unflushed = false;
    r->flushed_end = r->snap_id.end_offset;
    if (r->leader_hw < r->snap_id.end_offset)
        r->leader_hw = r->snap_id.end_offset;
    sk_raft_learn_hw(r);
    /* The log is gone: the voter set is the snapshot's. */
    return sk_raft_voters_installed(r, &r->snap_id);
}

/* Kafka gives up on the snapshot when the leader no longer has it or the
 * position is wrong, and fetches the log again to learn the current one. */
static bool abandons(const struct sk_raft *r, const struct sk_raft_msg *m)
{
    const struct sk_raft_fetch_snapshot_resp *s = &m->u.snap_resp;
    if (m->error == SK_ERR_SNAPSHOT_NOT_FOUND || m->error == SK_ERR_POSITION_OUT_OF_RANGE)
        return true;
    if (m->error)
        return false;
    return s->id.end_offset != r->snap_id.end_offset || s->id.epoch != r->snap_id.epoch ||
           s->position != r->snap_pos || s->size < s->position + (int64_t)s->len ||
           (s->len == 0 && s->position < s->size);
}

int sk_raft_on_fetch_snapshot_resp(struct sk_raft *r, const struct sk_raft_msg *m, int64_t now)
{
    if (!r->snap_fetching || !sk_raft_awaited(r, m))
        return SK_ERR_NONE;
    r->fetch_corr = 0;
    int err = sk_raft_observe(r, m->epoch, m->leader_id, now);
    if (err || r->role != SK_RAFT_FOLLOWER || m->epoch != r->q.epoch ||
        m->src != r->q.leader_id || m->error || abandons(r, m)) {
        if (!err && abandons(r, m))
            r->snap_fetching = false;
        r->fetch_at_ms = now + r->cfg.retry_backoff_ms;
        return err;
    }
    r->election_at_ms = now + r->cfg.fetch_timeout_ms;
    const struct sk_raft_fetch_snapshot_resp *s = &m->u.snap_resp;
    if (r->cfg.log.snapshot_write(r->cfg.log_ctx, &r->snap_id, s->position, s->data, s->len) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->snap_pos += (int64_t)s->len;
    r->fetch_at_ms = now;
    return r->snap_pos == s->size ? install(r, now) : SK_ERR_NONE;
}
