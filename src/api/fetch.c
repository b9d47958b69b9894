/* Fetch (key 1): turn the request into the list of partitions to read (from
 * the request itself or from its fetch session), read them, and answer now or
 * park until enough data or max_wait_ms. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fetch_int.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/quota.h"
#include "skein/timer.h"

typedef kp_fetch_request_fetch_topic ftopic_t;
typedef kp_fetch_request_fetch_partition fpart_t;

static int slots_setting(const struct sk_broker *b)
{
    struct sk_config_value v;
    if (sk_config_describe_broker(b->cfg, "max.incremental.fetch.session.cache.slots", &v) < 0 ||
        !v.value)
        return 1000;
    return atoi(v.value);
}

struct sk_fetch_state *sk_fetch_state(struct sk_broker *b)
{
    if (b->fetch)
        return b->fetch;
    struct sk_fetch_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)sk_wall_ms();
    sk_fetch_sessions_init(&st->sessions, slots_setting(b), SK_FETCH_SESSION_EVICTION_MS, seed);
    b->fetch = st;
    return st;
}

static int32_t replica_id(const struct sk_request *req)
{
    const kp_fetch_request *body = req->body;
    return req->version >= 15 ? body->replica_state.replica_id : body->replica_id;
}

static void part_from_request(struct sk_fetch_part *p, const ftopic_t *t, const fpart_t *fp)
{
    *p = (struct sk_fetch_part){
        .topic = t->topic,
        .topic_id = t->topic_id,
        .partition = fp->partition,
        .fetch_offset = fp->fetch_offset,
        .max_bytes = fp->partition_max_bytes,
        .current_leader_epoch = fp->current_leader_epoch,
        .last_fetched_epoch = fp->last_fetched_epoch,
        .session_index = -1,
    };
}

static int count_request_parts(const kp_fetch_request *body)
{
    int n = 0;
    for (int32_t i = 0; i < body->topics.n; i++)
        n += body->topics.v[i].partitions.n > 0 ? body->topics.v[i].partitions.n : 0;
    return n;
}

static void parts_from_request(struct sk_fetch_op *op)
{
    const kp_fetch_request *body = op->req->body;
    int n = count_request_parts(body);
    op->parts = sk_request_alloc(op->req, sizeof *op->parts * (size_t)(n + 1));
    for (int32_t i = 0; i < body->topics.n; i++)
        for (int32_t j = 0; j < body->topics.v[i].partitions.n; j++)
            part_from_request(&op->parts[op->nparts++], &body->topics.v[i],
                              &body->topics.v[i].partitions.v[j]);
}

static void parts_from_session(struct sk_fetch_op *op, const struct sk_fetch_session *s)
{
    op->parts = sk_request_alloc(op->req, sizeof *op->parts * (size_t)(s->nparts + 1));
    for (int i = 0; i < s->nparts; i++) {
        const struct sk_fetch_session_part *sp = &s->parts[i];
        op->parts[op->nparts++] = (struct sk_fetch_part){
            .topic = sk_request_keep(op->req, sp->topic),
            .topic_id = sp->topic_id,
            .partition = sp->partition,
            .fetch_offset = sp->fetch_offset,
            .max_bytes = sp->max_bytes,
            .current_leader_epoch = sp->current_leader_epoch,
            .last_fetched_epoch = sp->last_fetched_epoch,
            .session_index = i,
        };
    }
}

/* The request's partitions and forgotten topics applied to its session. */
static int update_session(struct sk_fetch_op *op, struct sk_fetch_session *s)
{
    const kp_fetch_request *body = op->req->body;
    for (int i = 0; i < op->nparts; i++) {
        const struct sk_fetch_part *p = &op->parts[i];
        /* The session keeps its own copy, with the name's length. */
        struct sk_fetch_session_part sp = {
            .topic = op->by_id ? KP_STR_NULL : p->topic, .topic_id = p->topic_id,
            .partition = p->partition,
            .fetch_offset = p->fetch_offset, .max_bytes = p->max_bytes,
            .current_leader_epoch = p->current_leader_epoch,
            .last_fetched_epoch = p->last_fetched_epoch,
        };
        int rc = sk_fetch_session_upsert(s, &sp);
        if (rc < 0)
            return rc;
    }
    for (int32_t i = 0; i < body->forgotten_topics_data.n; i++) {
        const kp_fetch_request_forgotten_topic *f = &body->forgotten_topics_data.v[i];
        for (int32_t j = 0; j < f->partitions.n; j++)
            sk_fetch_session_mark_forgotten(s, op->by_id, f->topic, &f->topic_id,
                                            f->partitions.v[j]);
    }
    sk_fetch_session_compact(s);
    return 0;
}

static void incremental_context(struct sk_fetch_op *op, struct sk_fetch_state *st)
{
    const kp_fetch_request *body = op->req->body;
    struct sk_fetch_session *s = sk_fetch_session_get(&st->sessions, body->session_id);
    op->ctx = SK_FETCH_ERROR;
    if (!s) {
        op->ctx_error = SK_ERR_FETCH_SESSION_ID_NOT_FOUND;
        return;
    }
    if (s->epoch != body->session_epoch) {
        op->ctx_error = SK_ERR_INVALID_FETCH_SESSION_EPOCH;
        return;
    }
    if (s->uses_topic_ids != op->by_id) {
        op->ctx_error = SK_ERR_FETCH_SESSION_TOPIC_ID_ERROR;
        return;
    }
    if (update_session(op, s) < 0) {
        op->ctx_error = SK_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    if (s->nparts == 0) {
        /* Everything forgotten: the session ends, the answer is sessionless. */
        sk_fetch_session_remove(&st->sessions, s->id);
        op->ctx = SK_FETCH_SESSIONLESS;
        return;
    }
    sk_fetch_session_touch(s, (int64_t)sk_shard_now_ms(op->req->broker->shard));
    s->epoch = sk_fetch_next_epoch(s->epoch);
    op->ctx = SK_FETCH_INCREMENTAL;
    op->session_id = s->id;
    op->session_epoch = s->epoch;
    op->nparts = 0;
    parts_from_session(op, s);
}

/* Kafka's FetchManager.newContext. */
static void make_context(struct sk_fetch_op *op, struct sk_fetch_state *st)
{
    const kp_fetch_request *body = op->req->body;
    parts_from_request(op);
    if (op->req->version < 7) {
        op->ctx = SK_FETCH_SESSIONLESS;
        return;
    }
    bool full = body->session_epoch == SK_FETCH_INITIAL_EPOCH ||
                body->session_epoch == SK_FETCH_FINAL_EPOCH;
    if (!full) {
        incremental_context(op, st);
        return;
    }
    if (body->session_id != SK_FETCH_INVALID_SESSION_ID)
        sk_fetch_session_remove(&st->sessions, body->session_id);
    op->ctx = body->session_epoch == SK_FETCH_FINAL_EPOCH ? SK_FETCH_SESSIONLESS : SK_FETCH_FULL;
}

static uint32_t response_limit(const struct sk_request *req)
{
    const kp_fetch_request *body = req->body;
    int32_t cfg = req->broker->cfg->log.fetch_max_bytes;
    int32_t lim = req->version >= 3 && body->max_bytes < cfg ? body->max_bytes : cfg;
    return lim < 0 ? 0 : (uint32_t)lim;
}

static struct sk_fetch_op *op_new(struct sk_request *req)
{
    const kp_fetch_request *body = req->body;
    struct sk_fetch_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->req = req;
    op->by_id = req->version >= 13;
    op->replica_id = replica_id(req);
    op->replica_epoch = req->version >= 15 ? body->replica_state.replica_epoch : -1;
    op->follower = op->replica_id >= 0;
    op->isolation_level = req->version >= 4 ? body->isolation_level : 0;
    op->client_metadata = req->version >= 11 && !op->follower;
    op->rack = op->client_metadata ? body->rack_id : KP_STR_NULL;
    op->max_bytes = response_limit(req);
    /* One response never exceeds what the quota allows in its whole window,
     * or it would be throttled however long the client waited. */
    struct sk_broker *b = req->broker;
    if (!op->follower && b->quotas && b->image->nquotas) {
        uint32_t q = sk_quota_max_in_window(b->quotas, b->image, SK_QUOTA_FETCH,
                                            SK_PRINCIPAL_ANONYMOUS, req->client_id);
        op->max_bytes = q < op->max_bytes ? q : op->max_bytes;
    }
    op->min_bytes = body->min_bytes < (int32_t)op->max_bytes ? body->min_bytes
                                                             : (int32_t)op->max_bytes;
    return op;
}

static void unpark(struct sk_fetch_op *op);
static void split_start(struct sk_fetch_op *op, struct sk_fetch_state *st);

/* Out of memory mid-way: the client reconnects and fetches again. */
static void fail(struct sk_fetch_op *op)
{
    struct sk_request *req = op->req;
    if (op->linked)
        unpark(op);
    sk_fetch_release(op);
    free(op);
    sk_conn_close(req->conn);
    sk_request_drop(req);
}

static void first_read(struct sk_fetch_op *op, const struct sk_fetch_readout *ro)
{
    const kp_fetch_request *body = op->req->body;
    bool now = op->ctx == SK_FETCH_ERROR || body->max_wait_ms <= 0 || ro->interesting == 0 ||
               ro->bytes >= (uint64_t)(body->min_bytes > 0 ? body->min_bytes : 0) ||
               ro->must_answer;
    if (now)
        sk_fetch_answer(op);
    else
        sk_fetch_park(op, body->max_wait_ms);
}

void sk_api_fetch(struct sk_request *req)
{
    struct sk_fetch_state *st = sk_fetch_state(req->broker);
    struct sk_fetch_op *op = st ? op_new(req) : NULL;
    if (!op) {
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    make_context(op, st);
    op->results = sk_request_alloc(req, sizeof *op->results * (size_t)(op->nparts + 1));
    for (int i = 0; i < op->nparts; i++)
        op->results[i].slice.fd = -1;
    struct sk_fetch_readout ro = {0};
    op->split = op->ctx != SK_FETCH_ERROR && sk_fetch_spans_shards(op);
    if (op->split) {
        split_start(op, st);
        return;
    }
    if (op->ctx != SK_FETCH_ERROR)
        sk_fetch_read_all(op, &ro);
    first_read(op, &ro);
}

/* ---- waiting -------------------------------------------------------------------- */

static void link_parked(struct sk_fetch_op *op)
{
    struct sk_fetch_state *st = op->req->broker->fetch;
    op->next = st->parked;
    if (op->next)
        op->next->prev = op;
    st->parked = op;
    op->linked = true;
}

static void unwatch_all(struct sk_fetch_op *op)
{
    for (int i = 0; op->watches && i < op->nparts; i++)
        sk_partition_unwatch_hw(&op->watches[i]);
}

static void unpark(struct sk_fetch_op *op)
{
    struct sk_fetch_state *st = op->req->broker->fetch;
    op->linked = false;
    unwatch_all(op);
    if (op->prev)
        op->prev->next = op->next;
    else
        st->parked = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

static void answer_read(struct sk_fetch_op *op, const struct sk_fetch_readout *ro)
{
    (void)ro;
    sk_fetch_answer(op);
}

static void complete(struct sk_fetch_op *op)
{
    struct sk_fetch_readout ro;
    unpark(op);
    if (op->timer)
        sk_timer_cancel(op->req->broker->shard, op->timer);
    op->timer = 0;
    if (op->split) {
        if (sk_fetch_read_split(op, answer_read) < 0)
            fail(op);
        return;
    }
    sk_fetch_read_all(op, &ro);
    sk_fetch_answer(op);
}

static void on_timeout(void *arg)
{
    struct sk_fetch_op *op = arg;
    op->timer = 0;
    complete(op);
}

/* Kafka's DelayedFetch.tryComplete, run when the high watermark of a
 * partition the parked fetch reads moves: it answers once min_bytes are
 * readable. */
static void on_hw(void *arg, struct sk_partition *p)
{
    struct sk_fetch_op *op = arg;
    struct sk_fetch_readout ro;
    (void)p;
    sk_fetch_read_all(op, &ro);
    if (ro.must_answer || ro.bytes >= (uint64_t)op->min_bytes)
        complete(op);
    else
        sk_fetch_release(op);
}

/* Each partition read here (on this shard) wakes the fetch when its high
 * watermark moves; the others never will. False if there was no memory. */
static bool watch_parts(struct sk_fetch_op *op)
{
    struct sk_broker *b = op->req->broker;
    op->watches = sk_request_alloc(op->req, sizeof *op->watches * (size_t)(op->nparts + 1));
    if (!op->watches)
        return false;
    memset(op->watches, 0, sizeof *op->watches * (size_t)op->nparts);
    for (int i = 0; i < op->nparts; i++) {
        const struct sk_fetch_part *fp = &op->parts[i];
        struct sk_partition *p = op->by_id ? sk_partition_get_by_id(b, &fp->topic_id, fp->partition)
                                           : sk_partition_get(b, fp->topic, fp->partition);
        if (p)
            sk_partition_watch_hw(p, &op->watches[i], on_hw, op);
    }
    return true;
}

void sk_fetch_park(struct sk_fetch_op *op, int32_t max_wait_ms)
{
    struct sk_broker *b = op->req->broker;
    op->timer = sk_timer_add(b->shard, (uint64_t)max_wait_ms, on_timeout, op);
    if (!op->timer) {
        sk_fetch_answer(op);
        return;
    }
    /* A fetch nothing could wake is answered now rather than at its timeout. */
    if (!watch_parts(op)) {
        sk_timer_cancel(b->shard, op->timer);
        op->timer = 0;
        sk_fetch_answer(op);
        return;
    }
    sk_fetch_release(op);
    link_parked(op);
}

/* ---- waiting on partitions of other shards (fetch_split.c) ------------------------ */

/* A split fetch stays in the parked list from its first read to its
 * answer, reading or waiting, so that a wake-up from an owner shard always
 * finds it: one that comes during a read makes it read again rather than
 * wait. Owners' watches (not on_hw) wake it. */
static void split_settle(struct sk_fetch_op *op, const struct sk_fetch_readout *ro)
{
    const kp_fetch_request *body = op->req->body;
    struct sk_shard *shard = op->req->broker->shard;
    uint64_t now = sk_shard_now_ms(shard);
    op->reading = false;
    bool now_ok = body->max_wait_ms <= 0 || ro->interesting == 0 || ro->must_answer ||
                  ro->bytes >= (uint64_t)(op->min_bytes > 0 ? op->min_bytes : 0) ||
                  now >= op->deadline_ms;
    if (now_ok) {
        unpark(op);
        sk_fetch_answer(op);
        return;
    }
    if (op->rewake) {
        op->rewake = false;
        op->reading = true;
        if (sk_fetch_read_split(op, split_settle) < 0)
            fail(op);
        return;
    }
    op->timer = sk_timer_add(shard, op->deadline_ms - now, on_timeout, op);
    if (!op->timer) {
        unpark(op);
        sk_fetch_answer(op);
        return;
    }
    sk_fetch_release(op);
}

static void split_start(struct sk_fetch_op *op, struct sk_fetch_state *st)
{
    const kp_fetch_request *body = op->req->body;
    op->id = ++st->next_op_id;
    op->deadline_ms = sk_shard_now_ms(op->req->broker->shard) +
                      (uint64_t)(body->max_wait_ms > 0 ? body->max_wait_ms : 0);
    op->reading = true;
    link_parked(op);
    if (sk_fetch_read_split(op, split_settle) < 0)
        fail(op);
}

void sk_fetch_wake(struct sk_broker *b, uint64_t op_id)
{
    struct sk_fetch_op *op = b->fetch ? b->fetch->parked : NULL;
    while (op && op->id != op_id)
        op = op->next;
    if (!op)
        return; /* answered meanwhile */
    if (op->reading) {
        op->rewake = true;
        return;
    }
    if (op->timer)
        sk_timer_cancel(b->shard, op->timer);
    op->timer = 0;
    op->reading = true;
    if (sk_fetch_read_split(op, split_settle) < 0)
        fail(op);
}

void sk_fetch_close(struct sk_broker *b)
{
    struct sk_fetch_state *st = b->fetch;
    if (!st)
        return;
    while (st->parked) {
        struct sk_fetch_op *op = st->parked;
        unpark(op);
        if (op->timer)
            sk_timer_cancel(b->shard, op->timer);
        sk_fetch_release(op);
        sk_request_drop(op->req);
        free(op);
    }
    sk_fetch_watches_free(st);
    sk_fetch_sessions_free(&st->sessions);
    sk_fetch_downconvert_close(st);
    free(st);
    b->fetch = NULL;
}
