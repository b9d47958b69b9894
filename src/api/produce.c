/* Produce (key 0): validate in place, assign offsets, append, and answer
 * according to acks: 0 never, 1 after the append, -1 once durable. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/buf.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/quota.h"
#include "skein/record_legacy.h"
#include "skein/record_validate.h"
#include "skein/timer.h"
#include "split.h"

/* Decompressing to validate may take this much per batch; more is a bomb. */
#define SK_DECOMPRESS_LIMIT (256u << 20)
#define SK_RECORD_ERRORS_MAX 16

typedef kp_produce_response_partition_produce_response presp_t;

/* An acks=-1 request waiting for its partitions to become durable. It is
 * answered when the last partition is durable or the timeout fires, and freed
 * when both the answer is sent and every waiter has called back. */
struct partition_wait {
    struct produce_wait *w;
    presp_t *out;
    bool done;
};

struct produce_wait {
    struct sk_request *req;
    int pending;
    bool answered;
    sk_timer_id timer;
    struct partition_wait *pws; /* one per partition of the request */
    int npws;
};

static enum sk_compression topic_codec(const struct sk_topic_config *tc)
{
    return (enum sk_compression)tc->compression;
}

static int topic_level(const struct sk_topic_config *tc)
{
    switch (tc->compression) {
    case SK_TOPIC_COMPRESSION_GZIP: return tc->gzip_level;
    case SK_TOPIC_COMPRESSION_LZ4: return tc->lz4_level;
    case SK_TOPIC_COMPRESSION_ZSTD: return tc->zstd_level;
    default: return 0;
    }
}

/* A copy of s in a, with its length; null without memory (the message is
 * only an explanation). The arena is the request's or, for a partition on
 * another shard, that shard's batch arena (split.h). */
static kp_str arena_str(kp_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = kp_arena_alloc(a, n + 1);
    if (!p)
        return KP_STR_NULL;
    memcpy(p, s, n + 1);
    return (kp_str){p, (int32_t)n};
}

static void record_errors(int16_t version, kp_arena *a, presp_t *out,
                          const struct sk_record_error *e, size_t n, const char *msg)
{
    if (version < 8)
        return;
    kp_produce_response_batch_index_and_error_message *v =
        kp_arena_calloc(a, n + 1, sizeof *out->record_errors.v);
    if (!v)
        return;
    out->record_errors.n = (int32_t)n;
    out->record_errors.v = v;
    for (size_t i = 0; i < n; i++) {
        kp_produce_response_batch_index_and_error_message_init(&v[i]);
        v[i].batch_index = e[i].batch_index;
        v[i].batch_index_error_message = arena_str(a, e[i].message);
    }
    if (msg && msg[0])
        out->error_message = arena_str(a, msg);
}

static void validate_opts(const struct sk_partition *p, int16_t version, struct sk_buf *scratch,
                          struct sk_record_error *errs, struct sk_validate_opts *o)
{
    *o = sk_validate_opts_default(sk_wall_ms());
    o->timestamp_before_max_ms = p->cfg.timestamp_before_max_ms;
    o->timestamp_after_max_ms = p->cfg.timestamp_after_max_ms;
    o->log_append_time = p->cfg.timestamp_type == SK_TIMESTAMP_LOG_APPEND_TIME;
    o->max_message_bytes = p->cfg.max_message_bytes;
    o->compacted = p->cfg.cleanup_compact;
    o->from_client = true;
    o->produce_version = version;
    o->scratch = scratch;
    o->errors = errs;
    o->errors_cap = SK_RECORD_ERRORS_MAX;
}

/* Brings the records into the form they are stored in: magic 2, in the
 * topic's codec. *data may be replaced by a buffer in owned. */
static int16_t normalise(const struct sk_partition *p, const struct sk_produce_summary *s,
                         const struct sk_validate_opts *o, uint8_t **data, size_t *len,
                         struct sk_buf *owned)
{
    enum sk_compression to = p->cfg.compression == SK_TOPIC_COMPRESSION_PRODUCER
                                 ? s->compression
                                 : topic_codec(&p->cfg);
    if (s->magic < 2) {
        struct sk_produce_summary ls;
        int16_t err = sk_legacy_convert(*data, *len, o, to, owned, &ls);
        if (err != SK_ERR_NONE)
            return err;
    } else if (p->cfg.compression != SK_TOPIC_COMPRESSION_PRODUCER && to != s->compression) {
        struct sk_buf scratch = {.limit = SK_DECOMPRESS_LIMIT};
        int rc = sk_batch_recompress(*data, *len, to, topic_level(&p->cfg), owned, &scratch);
        sk_buf_free(&scratch);
        if (rc != 0)
            return rc > 0 ? (int16_t)rc : SK_ERR_UNKNOWN_SERVER_ERROR;
    } else {
        return SK_ERR_NONE;
    }
    *data = owned->data;
    *len = owned->len;
    return SK_ERR_NONE;
}

/* An idempotent batch already in the log is answered with its offset. */
static int16_t check_producer(struct sk_partition *p, const uint8_t *data, size_t len,
                              presp_t *out, bool *dup)
{
    struct sk_batch_header h;
    *dup = false;
    if (sk_batch_header_read(data, len, &h) < 0 || h.producer_id < 0)
        return SK_ERR_NONE;
    int64_t dup_base = -1;
    int16_t err = sk_producer_check(p, &h, &dup_base);
    if (err == SK_ERR_DUPLICATE_SEQUENCE_NUMBER) {
        out->base_offset = dup_base;
        *dup = true;
        return SK_ERR_NONE;
    }
    return err;
}

static int16_t produce_partition(int16_t version, kp_arena *a, struct sk_partition *p,
                                 kp_bytes records, presp_t *out)
{
    if (records.len < 0)
        return SK_ERR_CORRUPT_MESSAGE;
    /* The frame belongs to this request: validation may rewrite batch headers
     * in place, and the append writes the bytes as they are. */
    uint8_t *data = (uint8_t *)records.ptr;
    size_t len = (size_t)records.len;
    struct sk_buf scratch = {.limit = SK_DECOMPRESS_LIMIT}, owned = {0};
    struct sk_record_error errs[SK_RECORD_ERRORS_MAX];
    struct sk_validate_opts o;
    struct sk_produce_summary s;
    validate_opts(p, version, &scratch, errs, &o);
    int16_t err = sk_records_validate(data, len, &o, &s);
    if (err != SK_ERR_NONE) {
        sk_debug("produce to %s-%d refused: %s %s", p->topic, p->id, sk_err_name(err),
                 s.error_count ? errs[0].message : s.error_message);
        record_errors(version, a, out, errs, s.error_count, s.error_message);
    } else if (s.transactional) {
        err = SK_ERR_INVALID_TXN_STATE; /* no transaction coordinator yet */
    } else {
        err = normalise(p, &s, &o, &data, &len, &owned);
    }
    bool dup = false;
    if (err == SK_ERR_NONE)
        err = check_producer(p, data, len, out, &dup);
    if (err == SK_ERR_NONE && !dup)
        err = sk_partition_append(p, data, len, &out->base_offset, &out->log_append_time_ms);
    sk_buf_free(&scratch);
    sk_buf_free(&owned);
    out->log_start_offset = sk_plog_log_start_offset(p->log);
    return err;
}

/* KIP-951 (v10+): where a partition went to another leader, say which. */
static void add_leader_hints(struct sk_request *req)
{
    kp_produce_response *resp = req->resp;
    if (req->version < 10)
        return;
    struct sk_leader_hints h;
    sk_hints_init(&h);
    for (int32_t i = 0; i < resp->responses.n; i++) {
        kp_produce_response_topic_produce_response *t = &resp->responses.v[i];
        const struct sk_topic_meta *tm = NULL;
        bool looked = false;
        for (int32_t j = 0; j < t->partition_responses.n; j++) {
            presp_t *o = &t->partition_responses.v[j];
            if (!sk_hints_wanted(o->error_code, false))
                continue;
            if (!looked) {
                tm = sk_meta_topic(req->broker->image, t->name.ptr, (size_t)t->name.len);
                looked = true;
            }
            sk_hints_leader(req, &h, tm, o->index, &o->current_leader.leader_id,
                            &o->current_leader.leader_epoch);
        }
    }
    resp->node_endpoints.n = h.n;
    resp->node_endpoints.v = sk_request_alloc(req, sizeof *resp->node_endpoints.v * (size_t)(h.n + 1));
    int n = 0;
    for (int i = 0; i < h.n; i++) {
        const struct sk_live_broker *lb = sk_hints_endpoint(&h, i);
        if (lb)
            resp->node_endpoints.v[n++] = (kp_produce_response_node_endpoint){
                lb->id, lb->host, lb->port, lb->rack};
    }
    resp->node_endpoints.n = n;
}

static void respond(struct sk_request *req)
{
    add_leader_hints(req);
    sk_request_respond(req);
}

static void finish(struct produce_wait *w)
{
    if (!w->answered) {
        w->answered = true;
        if (w->timer)
            sk_timer_cancel(w->req->broker->shard, w->timer);
        respond(w->req);
    }
    if (w->pending == 0) {
        free(w->pws);
        free(w);
    }
}

static void on_durable(void *arg, int16_t err)
{
    struct partition_wait *pw = arg;
    struct produce_wait *w = pw->w;
    if (!w->answered && err != SK_ERR_NONE)
        pw->out->error_code = err;
    pw->done = true;
    w->pending--;
    if (w->pending == 0 || w->answered)
        finish(w);
}

static void on_timeout(void *arg)
{
    struct produce_wait *w = arg;
    w->timer = 0;
    /* Partitions still waiting time out; their data may yet become durable. */
    for (int i = 0; i < w->npws; i++)
        if (!w->pws[i].done)
            w->pws[i].out->error_code = SK_ERR_REQUEST_TIMED_OUT;
    finish(w);
}

static presp_t *partition_out(struct sk_request *req, kp_produce_response_topic_produce_response *t,
                              int32_t index, int32_t n)
{
    if (!t->partition_responses.v)
        t->partition_responses.v = sk_request_alloc(req, sizeof(presp_t) * (size_t)(n + 1));
    presp_t *o = &t->partition_responses.v[t->partition_responses.n++];
    kp_produce_response_partition_produce_response_init(o);
    o->index = index;
    return o;
}

typedef void (*partition_visit_fn)(struct sk_request *req, void *ctx, kp_str topic,
                                   const kp_produce_request_partition_produce_data *pd,
                                   presp_t *out);

/* Lays out the answer in the request's order (one entry per topic and
 * partition asked for) and hands each partition's entry to visit. */
static void walk_partitions(struct sk_request *req, partition_visit_fn visit, void *ctx)
{
    const kp_produce_request *body = req->body;
    kp_produce_response *resp = req->resp;
    resp->responses.n = body->topic_data.n < 0 ? 0 : body->topic_data.n;
    resp->responses.v = sk_request_alloc(req, sizeof *resp->responses.v * (size_t)(resp->responses.n + 1));
    for (int32_t i = 0; i < resp->responses.n; i++) {
        const kp_produce_request_topic_produce_data *td = &body->topic_data.v[i];
        kp_produce_response_topic_produce_response *t = &resp->responses.v[i];
        kp_produce_response_topic_produce_response_init(t);
        t->name = td->name;
        for (int32_t j = 0; j < td->partition_data.n; j++) {
            const kp_produce_request_partition_produce_data *pd = &td->partition_data.v[j];
            visit(req, ctx, td->name, pd, partition_out(req, t, pd->index, td->partition_data.n));
        }
    }
}

/* Appends one partition; for acks=-1 (w set) registers a durability waiter
 * for a successful append. */
static void append_one(struct sk_request *req, void *ctx, kp_str topic,
                       const kp_produce_request_partition_produce_data *pd, presp_t *o)
{
    struct produce_wait *w = ctx;
    const kp_produce_request *body = req->body;
    if (body->acks != 0 && body->acks != 1 && body->acks != -1) {
        o->error_code = SK_ERR_INVALID_REQUIRED_ACKS;
        return;
    }
    struct sk_partition *p = sk_partition_lookup(req->broker, topic, pd->index, true, &o->error_code);
    if (p)
        o->error_code = sk_partition_check_min_isr(p, body->acks);
    if (p && o->error_code == SK_ERR_NONE)
        o->error_code = produce_partition(req->version, &req->arena, p, pd->records, o);
    if (!p || o->error_code != SK_ERR_NONE || !w)
        return;
    int64_t end = sk_plog_log_end_offset(p->log);
    struct partition_wait *pw = &w->pws[w->npws++];
    *pw = (struct partition_wait){w, o, false};
    w->pending++;
    sk_partition_when_durable(p, end, on_durable, pw);
}

static void append_all(struct sk_request *req, struct produce_wait *w)
{
    walk_partitions(req, append_one, w);
}

static int count_partitions(const kp_produce_request *body)
{
    int n = 0;
    for (int32_t i = 0; i < body->topic_data.n; i++)
        n += body->topic_data.v[i].partition_data.n < 0 ? 0 : body->topic_data.v[i].partition_data.n;
    return n;
}

/* acks=0 gets no answer, so a failure closes the connection: that is how
 * Kafka tells such a producer to refresh its metadata. */
static void answer_acks0(struct sk_request *req)
{
    const kp_produce_response *resp = req->resp;
    for (int32_t i = 0; i < resp->responses.n; i++)
        for (int32_t j = 0; j < resp->responses.v[i].partition_responses.n; j++)
            if (resp->responses.v[i].partition_responses.v[j].error_code != SK_ERR_NONE) {
                sk_conn_close(req->conn);
                break;
            }
    sk_request_drop(req);
}

/* ---- a produce whose partitions live on several shards ------------------ */

/* What the owner shards read (never the request itself, which may be
 * answered and freed first) and what home fills in. */
struct produce_split {
    struct sk_request *req; /* home only */
    struct sk_split *sp;
    int16_t version, acks;
    int n;
    struct split_item {
        kp_str topic;
        const kp_produce_request_partition_produce_data *pd;
        presp_t *resp; /* its place in the answer: home only */
    } *items;
    sk_timer_id timer;
};

static int split_owner(void *ctx, int i)
{
    struct produce_split *ps = ctx;
    return sk_shard_of_partition(ps->req->broker->node, ps->items[i].topic, ps->items[i].pd->index);
}

static bool spans_shards(const struct sk_request *req)
{
    const struct sk_broker *b = req->broker;
    const kp_produce_request *body = req->body;
    if (b->node->nshards <= 1)
        return false;
    for (int32_t i = 0; i < body->topic_data.n; i++)
        for (int32_t j = 0; j < body->topic_data.v[i].partition_data.n; j++)
            if (sk_shard_of_partition(b->node, body->topic_data.v[i].name,
                                      body->topic_data.v[i].partition_data.v[j].index) != b->index)
                return true;
    return false;
}

static void split_durable(void *arg, int16_t err)
{
    struct sk_split_item *it = arg;
    if (err != SK_ERR_NONE)
        ((presp_t *)it->out)->error_code = err;
    sk_split_item_done(it);
}

/* On the partition's owner shard. */
static void split_run(void *ctx, struct sk_split_item *it)
{
    const struct produce_split *ps = ctx;
    const struct split_item *si = &ps->items[it->index];
    presp_t *o = it->out;
    kp_produce_response_partition_produce_response_init(o);
    o->index = si->pd->index;
    if (ps->acks != 0 && ps->acks != 1 && ps->acks != -1) {
        o->error_code = SK_ERR_INVALID_REQUIRED_ACKS;
        sk_split_item_done(it);
        return;
    }
    struct sk_partition *p = sk_partition_lookup(it->owner, si->topic, si->pd->index, true,
                                                 &o->error_code);
    if (p)
        o->error_code = sk_partition_check_min_isr(p, ps->acks);
    if (p && o->error_code == SK_ERR_NONE)
        o->error_code = produce_partition(ps->version, it->arena, p, si->pd->records, o);
    if (!p || o->error_code != SK_ERR_NONE || ps->acks != -1) {
        sk_split_item_done(it);
        return;
    }
    sk_partition_when_durable(p, sk_plog_log_end_offset(p->log), split_durable, it);
}

/* Home: fills the answer from what came back; what did not timed out. */
static void split_answer(struct produce_split *ps)
{
    for (int i = 0; i < ps->n; i++) {
        presp_t *r = ps->items[i].resp;
        int err = sk_split_item_error(ps->sp, i);
        if (err == SK_ERR_NONE)
            *r = *(presp_t *)sk_split_out(ps->sp, i);
        else
            r->error_code = (int16_t)(err < 0 ? SK_ERR_REQUEST_TIMED_OUT : err);
    }
    if (ps->timer)
        sk_timer_cancel(ps->req->broker->shard, ps->timer);
    ps->timer = 0;
    if (ps->acks == 0)
        answer_acks0(ps->req);
    else
        respond(ps->req);
    sk_split_release(ps->sp);
}

static void split_done(void *ctx, struct sk_split *sp)
{
    (void)sp;
    split_answer(ctx);
}

static void split_timeout(void *arg)
{
    struct produce_split *ps = arg;
    ps->timer = 0;
    split_answer(ps);
}

static void split_free_ctx(void *ctx)
{
    struct produce_split *ps = ctx;
    free(ps->items);
    free(ps);
}

static const struct sk_split_ops split_ops = {
    .out_size = sizeof(presp_t),
    .run = split_run,
    .done = split_done,
    .free_ctx = split_free_ctx,
};

static void split_item(struct sk_request *req, void *ctx, kp_str topic,
                       const kp_produce_request_partition_produce_data *pd, presp_t *o)
{
    struct produce_split *ps = ctx;
    (void)req;
    ps->items[ps->n++] = (struct split_item){topic, pd, o};
}

/* The answer's skeleton in the request's order, one item per partition. */
static void split_items(struct sk_request *req, struct produce_split *ps)
{
    walk_partitions(req, split_item, ps);
}

static void produce_split(struct sk_request *req)
{
    const kp_produce_request *body = req->body;
    struct produce_split *ps = calloc(1, sizeof *ps);
    if (ps)
        ps->items = calloc((size_t)count_partitions(body) + 1, sizeof *ps->items);
    if (!ps || !ps->items) {
        free(ps);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    *ps = (struct produce_split){req, NULL, req->version, body->acks, 0, ps->items, 0};
    split_items(req, ps);
    int timeout = body->timeout_ms;
    ps->sp = sk_split_new(req->broker, ps->n, split_owner, &split_ops, ps);
    if (!ps->sp) {
        split_free_ctx(ps);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    sk_split_keep_request(ps->sp, req);
    if (ps->acks == -1 && timeout >= 0)
        ps->timer = sk_timer_add(req->broker->shard, (uint64_t)timeout, split_timeout, ps);
    sk_split_start(ps->sp);
}

void sk_api_produce(struct sk_request *req)
{
    const kp_produce_request *body = req->body;
    int32_t throttle = sk_request_quota(req, SK_QUOTA_PRODUCE, req->frame_len);
    if (req->version >= 1)
        ((kp_produce_response *)req->resp)->throttle_time_ms = throttle;
    if (spans_shards(req)) {
        produce_split(req);
        return;
    }
    if (body->acks != -1) {
        append_all(req, NULL);
        if (body->acks == 0)
            answer_acks0(req);
        else
            respond(req);
        return;
    }
    struct produce_wait *w = calloc(1, sizeof *w);
    if (w)
        w->pws = calloc((size_t)count_partitions(body) + 1, sizeof *w->pws);
    if (!w || !w->pws) {
        free(w);
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    w->req = req;
    w->pending = 1; /* held while appending, so callbacks cannot finish early */
    append_all(req, w);
    if (w->pending > 1 && body->timeout_ms >= 0)
        w->timer = sk_timer_add(req->broker->shard, (uint64_t)body->timeout_ms, on_timeout, w);
    w->pending--;
    if (w->pending == 0)
        finish(w);
}
