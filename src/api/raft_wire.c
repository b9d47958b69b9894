/* Raft messages to and from the generated Kafka structs (skein/raft_wire.h).
 * The field mapping follows Kafka's RaftUtil: every request names one
 * topic, __cluster_metadata, with one partition, 0; errors about the request
 * as a whole (a foreign cluster id, a malformed request) go top level, those
 * about the partition (epochs, leadership, voters) per partition. */
#include <errno.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/raft.h"
#include "skein/raft_voters_batch.h"
#include "skein/raft_wire.h"
#include "skein/record.h"

const kp_uuid sk_raft_topic_id = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

/* Kafka's ControlRecordType.LEADER_CHANGE. */
#define LEADER_CHANGE_TYPE 2

int16_t sk_raft_wire_api(enum sk_raft_msg_type t)
{
    switch (t) {
    case SK_RAFT_VOTE_REQ:
    case SK_RAFT_VOTE_RESP:
        return SK_RAFT_API_VOTE;
    case SK_RAFT_BEGIN_EPOCH_REQ:
    case SK_RAFT_BEGIN_EPOCH_RESP:
        return SK_RAFT_API_BEGIN_EPOCH;
    case SK_RAFT_END_EPOCH_REQ:
    case SK_RAFT_END_EPOCH_RESP:
        return SK_RAFT_API_END_EPOCH;
    case SK_RAFT_FETCH_SNAPSHOT_REQ:
    case SK_RAFT_FETCH_SNAPSHOT_RESP:
        return SK_RAFT_API_FETCH_SNAPSHOT;
    default:
        return SK_RAFT_API_FETCH;
    }
}

static bool top_level(int16_t err)
{
    return err == SK_ERR_INCONSISTENT_CLUSTER_ID || err == SK_ERR_INVALID_REQUEST;
}

static void cluster_in(kp_str s, struct sk_raft_cluster_id *out)
{
    /* An over-long id cannot equal ours (at most the max), and its length
     * alone tells them apart: keep the max and the mismatch. */
    out->len = (int16_t)(s.len < 0 ? -1 : s.len > SK_RAFT_CLUSTER_ID_MAX ? SK_RAFT_CLUSTER_ID_MAX : s.len);
    if (out->len > 0)
        memcpy(out->bytes, s.ptr, (size_t)out->len);
}

static kp_str cluster_out(const struct sk_raft_cluster_id *c)
{
    return c->len < 0 ? KP_STR_NULL : (kp_str){(const char *)c->bytes, c->len};
}

/* ---- requests in -------------------------------------------------------- */

static int16_t vote_in(const kp_vote_request *q, struct sk_raft_msg *m)
{
    if (!SK_RAFT_NAMES_OURS(q))
        return SK_ERR_INVALID_REQUEST;
    const kp_vote_request_partition_data *p = &q->topics.v[0].partitions.v[0];
    m->type = SK_RAFT_VOTE_REQ;
    cluster_in(q->cluster_id, &m->cluster_id);
    m->src = p->candidate_id;
    m->epoch = p->candidate_epoch;
    m->leader_id = SK_RAFT_NO_ID;
    m->u.vote.last_epoch = p->last_offset_epoch;
    m->u.vote.last_offset = p->last_offset;
    return SK_ERR_NONE;
}

static int16_t begin_in(const kp_begin_quorum_epoch_request *q, struct sk_raft_msg *m)
{
    if (!SK_RAFT_NAMES_OURS(q))
        return SK_ERR_INVALID_REQUEST;
    const kp_begin_quorum_epoch_request_partition_data *p = &q->topics.v[0].partitions.v[0];
    m->type = SK_RAFT_BEGIN_EPOCH_REQ;
    cluster_in(q->cluster_id, &m->cluster_id);
    m->src = p->leader_id;
    m->epoch = p->leader_epoch;
    m->leader_id = p->leader_id;
    return SK_ERR_NONE;
}

static int16_t end_in(const kp_end_quorum_epoch_request *q, int16_t version, struct sk_raft_msg *m)
{
    if (!SK_RAFT_NAMES_OURS(q))
        return SK_ERR_INVALID_REQUEST;
    const kp_end_quorum_epoch_request_partition_data *p = &q->topics.v[0].partitions.v[0];
    m->type = SK_RAFT_END_EPOCH_REQ;
    cluster_in(q->cluster_id, &m->cluster_id);
    m->src = p->leader_id;
    m->epoch = p->leader_epoch;
    m->leader_id = p->leader_id;
    /* v0 names successors by id; v1 (KIP-853) as candidates with a
     * directory id, in the same order. */
    int32_t n = version >= 1 ? p->preferred_candidates.n : p->preferred_successors.n;
    for (int32_t i = 0; i < n && m->u.end.n_preferred < SK_RAFT_MAX_VOTERS; i++)
        m->u.end.preferred[m->u.end.n_preferred++] =
            version >= 1 ? p->preferred_candidates.v[i].candidate_id : p->preferred_successors.v[i];
    return SK_ERR_NONE;
}

static int16_t fetch_in(const kp_fetch_request *q, int16_t version, struct sk_raft_msg *m)
{
    if (q->topics.n != 1 || q->topics.v[0].partitions.n != 1 ||
        q->topics.v[0].partitions.v[0].partition != 0)
        return SK_ERR_INVALID_REQUEST;
    const kp_fetch_request_fetch_topic *t = &q->topics.v[0];
    bool named = version >= 13 ? memcmp(t->topic_id.b, sk_raft_topic_id.b, 16) == 0
                               : kp_str_eq_c(t->topic, SK_RAFT_TOPIC);
    if (!named)
        return SK_ERR_INVALID_REQUEST;
    const kp_fetch_request_fetch_partition *p = &t->partitions.v[0];
    m->type = SK_RAFT_FETCH_REQ;
    cluster_in(q->cluster_id, &m->cluster_id);
    m->src = version >= 15 ? q->replica_state.replica_id : q->replica_id;
    m->epoch = p->current_leader_epoch;
    m->leader_id = SK_RAFT_NO_ID;
    m->u.fetch.fetch_offset = p->fetch_offset;
    m->u.fetch.last_fetched_epoch = p->last_fetched_epoch;
    m->u.fetch.max_wait_ms = q->max_wait_ms > 0 ? q->max_wait_ms : 0;
    if (version >= 17)
        memcpy(m->u.fetch.replica_directory_id, p->replica_directory_id.b, SK_RAFT_DIR_ID_LEN);
    return SK_ERR_NONE;
}

static int16_t snap_in(const kp_fetch_snapshot_request *q, struct sk_raft_msg *m)
{
    if (q->topics.n != 1 || q->topics.v[0].partitions.n != 1 ||
        !kp_str_eq_c(q->topics.v[0].name, SK_RAFT_TOPIC) ||
        q->topics.v[0].partitions.v[0].partition != 0)
        return SK_ERR_INVALID_REQUEST;
    const kp_fetch_snapshot_request_partition_snapshot *p = &q->topics.v[0].partitions.v[0];
    m->type = SK_RAFT_FETCH_SNAPSHOT_REQ;
    cluster_in(q->cluster_id, &m->cluster_id);
    m->src = q->replica_id;
    m->epoch = p->current_leader_epoch;
    m->leader_id = SK_RAFT_NO_ID;
    m->u.snap.id.end_offset = p->snapshot_id.end_offset;
    m->u.snap.id.epoch = p->snapshot_id.epoch;
    m->u.snap.position = p->position;
    m->u.snap.max_bytes = q->max_bytes;
    return SK_ERR_NONE;
}

/* KIP-853 (v1) names the voter a Vote or BeginQuorumEpoch is meant for:
 * one that reached another node is refused, as KafkaRaftClient refuses a
 * voter key that is not its own. */
static bool meant_for(int16_t version, int32_t voter_id, int32_t self)
{
    return version < 1 || voter_id == self;
}

int16_t sk_raft_wire_request_in(int16_t key, int16_t version, const void *body, int32_t self,
                                struct sk_raft_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->dst = self;
    m->cluster_id.len = -1;
    int16_t err;
    switch (key) {
    case SK_RAFT_API_VOTE:
        err = vote_in(body, m);
        return err ? err : meant_for(version, ((const kp_vote_request *)body)->voter_id, self)
                               ? SK_ERR_NONE : SK_ERR_INVALID_VOTER_KEY;
    case SK_RAFT_API_BEGIN_EPOCH:
        err = begin_in(body, m);
        return err ? err
                   : meant_for(version, ((const kp_begin_quorum_epoch_request *)body)->voter_id, self)
                         ? SK_ERR_NONE : SK_ERR_INVALID_VOTER_KEY;
    case SK_RAFT_API_END_EPOCH:
        return end_in(body, version, m);
    case SK_RAFT_API_FETCH:
        return fetch_in(body, version, m);
    case SK_RAFT_API_FETCH_SNAPSHOT:
        return snap_in(body, m);
    default:
        return SK_ERR_INVALID_REQUEST;
    }
}

/* ---- batches ------------------------------------------------------------- */

/* The LeaderChange control record: key (version 0, type), value the
 * LeaderChangeMessage naming the leader that sent the batch. */
static int leader_change_record(int32_t leader, kp_arena *a, struct sk_record_in *r)
{
    static const uint8_t key[4] = {0, 0, 0, LEADER_CHANGE_TYPE};
    kp_leader_change_message lc;
    kp_leader_change_message_init(&lc);
    lc.leader_id = leader;
    size_t n = kp_leader_change_message_size(&lc, 0);
    uint8_t *v = kp_arena_alloc(a, n);
    if (!v)
        return KP_E_NOMEM;
    kp_writer w;
    kp_writer_init(&w, v, n);
    int rc = kp_leader_change_message_encode(&lc, &w, 0);
    *r = (struct sk_record_in){.timestamp = 0, .key = key, .key_len = 4, .value = v,
                               .value_len = (int32_t)n};
    return rc;
}

/* A data batch is a whole record batch, as the log stores it, and goes on
 * the wire as it is: a Kafka peer reads the Records field as the leader's
 * batches. Its base offset and epoch, outside the CRC, are the core's. */
static int data_batch(const struct sk_raft_batch *b, struct sk_buf *out)
{
    struct sk_batch_header h;
    if (sk_batch_header_read(b->data, b->len, &h) < 0 || sk_batch_size(&h) != b->len)
        return KP_E_INVALID;
    size_t at = out->len;
    if (sk_buf_append(out, b->data, b->len))
        return KP_E_NOMEM;
    sk_batch_set_base_offset(out->data + at, b->base_offset);
    sk_batch_set_leader_epoch(out->data + at, b->epoch);
    return 0;
}

static int control_batch(const struct sk_raft_batch *b, int32_t leader, kp_arena *a,
                         struct sk_buf *out)
{
    struct sk_record_in r;
    int rc = leader_change_record(leader, a, &r);
    if (rc)
        return rc;
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = b->base_offset;
    spec.partition_leader_epoch = b->epoch;
    spec.flags = SK_BATCH_CONTROL;
    return sk_batch_build(out, &spec, &r, 1) ? KP_E_NOMEM : 0;
}

static int batches_out(const struct sk_raft_fetch_resp *f, int32_t leader, kp_arena *a,
                       kp_bytes *records)
{
    struct sk_buf buf = {0};
    int rc = 0;
    for (size_t i = 0; i < f->n_batches && !rc; i++) {
        const struct sk_raft_batch *b = &f->batches[i];
        if (b->kind == SK_RAFT_BATCH_VOTERS)
            rc = sk_raft_voters_batch_build(b, 0, &buf) < 0 ? KP_E_INVALID : 0;
        else if (b->kind == SK_RAFT_BATCH_LEADER_CHANGE)
            rc = control_batch(b, leader, a, &buf);
        else
            rc = data_batch(b, &buf);
    }
    uint8_t *p = rc || !buf.len ? NULL : kp_arena_alloc(a, buf.len);
    if (p)
        memcpy(p, buf.data, buf.len);
    else if (!rc && buf.len)
        rc = KP_E_NOMEM;
    *records = (kp_bytes){p, p ? (int32_t)buf.len : 0};
    sk_buf_free(&buf);
    return rc;
}

/* A control batch with a Voters record is a VOTERS batch: 1 with *b
 * filled (its encoding in the arena), 0 for another control batch. */
static int voters_in(const uint8_t *p, size_t len, kp_arena *a, struct sk_raft_batch *b)
{
    uint8_t enc[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t n = 0;
    int rc = sk_raft_voters_batch_parse(p, len, enc, sizeof enc, &n);
    if (rc <= 0)
        return rc;
    uint8_t *d = kp_arena_alloc(a, n);
    if (!d)
        return -ENOMEM;
    memcpy(d, enc, n);
    struct sk_batch_header h;
    sk_batch_header_read(p, len, &h);
    *b = (struct sk_raft_batch){.base_offset = h.base_offset, .epoch = h.partition_leader_epoch,
                                .count = h.last_offset_delta + 1, .kind = SK_RAFT_BATCH_VOTERS,
                                .data = d, .len = n};
    return 1;
}

/* Whole batches only: a fetch may end inside one, as Kafka's do. */
static int16_t batches_in(kp_bytes rec, kp_arena *a, struct sk_raft_fetch_resp *f)
{
    size_t n = 0, cap = 0;
    struct sk_raft_batch *v = NULL;
    struct sk_batch_header h;
    for (size_t at = 0; rec.len > 0 && at < (size_t)rec.len;) {
        if (sk_batch_header_read(rec.ptr + at, (size_t)rec.len - at, &h) == -EMSGSIZE)
            break;
        if (sk_batch_size(&h) < SK_BATCH_HEADER_SIZE || !sk_batch_crc_ok(rec.ptr + at, &h))
            return SK_ERR_CORRUPT_MESSAGE;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct sk_raft_batch *nv = kp_arena_calloc(a, cap, sizeof(*nv));
            if (!nv)
                return SK_ERR_UNKNOWN_SERVER_ERROR;
            if (n)
                memcpy(nv, v, n * sizeof(*v));
            v = nv;
        }
        bool control = h.attributes & SK_BATCH_CONTROL;
        if (control) {
            int err = voters_in(rec.ptr + at, sk_batch_size(&h), a, &v[n]);
            if (err < 0)
                return SK_ERR_CORRUPT_MESSAGE;
            if (err > 0) {
                n++;
                at += sk_batch_size(&h);
                continue;
            }
        }
        v[n++] = (struct sk_raft_batch){
            .base_offset = h.base_offset,
            .epoch = h.partition_leader_epoch,
            .count = h.last_offset_delta + 1,
            .kind = control ? SK_RAFT_BATCH_LEADER_CHANGE : SK_RAFT_BATCH_DATA,
            .data = control ? NULL : rec.ptr + at,
            .len = control ? 0 : sk_batch_size(&h),
        };
        at += sk_batch_size(&h);
    }
    f->batches = v;
    f->n_batches = n;
    return SK_ERR_NONE;
}

/* ---- responses out ------------------------------------------------------- */

#define ONE(a, type) ((type *)kp_arena_calloc((a), 1, sizeof(type)))

static int vote_out(const struct sk_raft_msg *m, kp_vote_response *r, kp_arena *a)
{
    kp_vote_response_topic_data *t = ONE(a, kp_vote_response_topic_data);
    kp_vote_response_partition_data *p = ONE(a, kp_vote_response_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_vote_response_topic_data_init(t);
    kp_vote_response_partition_data_init(p);
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_vote_response_partition_data_arr){1, p};
    p->error_code = m->error;
    p->leader_id = m->leader_id;
    p->leader_epoch = m->epoch;
    p->vote_granted = m->u.vote_granted;
    r->topics = (kp_vote_response_topic_data_arr){1, t};
    return 0;
}

static int begin_out(const struct sk_raft_msg *m, kp_begin_quorum_epoch_response *r, kp_arena *a)
{
    kp_begin_quorum_epoch_response_topic_data *t = ONE(a, kp_begin_quorum_epoch_response_topic_data);
    kp_begin_quorum_epoch_response_partition_data *p =
        ONE(a, kp_begin_quorum_epoch_response_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_begin_quorum_epoch_response_topic_data_init(t);
    kp_begin_quorum_epoch_response_partition_data_init(p);
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_begin_quorum_epoch_response_partition_data_arr){1, p};
    p->error_code = m->error;
    p->leader_id = m->leader_id;
    p->leader_epoch = m->epoch;
    r->topics = (kp_begin_quorum_epoch_response_topic_data_arr){1, t};
    return 0;
}

static int end_out(const struct sk_raft_msg *m, kp_end_quorum_epoch_response *r, kp_arena *a)
{
    kp_end_quorum_epoch_response_topic_data *t = ONE(a, kp_end_quorum_epoch_response_topic_data);
    kp_end_quorum_epoch_response_partition_data *p =
        ONE(a, kp_end_quorum_epoch_response_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_end_quorum_epoch_response_topic_data_init(t);
    kp_end_quorum_epoch_response_partition_data_init(p);
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_end_quorum_epoch_response_partition_data_arr){1, p};
    p->error_code = m->error;
    p->leader_id = m->leader_id;
    p->leader_epoch = m->epoch;
    r->topics = (kp_end_quorum_epoch_response_topic_data_arr){1, t};
    return 0;
}

static int fetch_out(const struct sk_raft_msg *m, int16_t version, kp_fetch_response *r,
                     kp_arena *a)
{
    kp_fetch_response_fetchable_topic_response *t =
        ONE(a, kp_fetch_response_fetchable_topic_response);
    kp_fetch_response_partition_data *p = ONE(a, kp_fetch_response_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_fetch_response_fetchable_topic_response_init(t);
    kp_fetch_response_partition_data_init(p);
    if (version >= 13)
        t->topic_id = sk_raft_topic_id;
    else
        t->topic = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_fetch_response_partition_data_arr){1, p};
    const struct sk_raft_fetch_resp *f = &m->u.fetch_resp;
    p->error_code = m->error;
    p->high_watermark = f->high_watermark;
    p->log_start_offset = 0;
    if (version >= 12) {
        p->current_leader.leader_id = m->leader_id;
        p->current_leader.leader_epoch = m->epoch;
    }
    if (version >= 12 && f->diverging_epoch >= 0) {
        p->diverging_epoch.epoch = f->diverging_epoch;
        p->diverging_epoch.end_offset = f->diverging_end_offset;
    }
    if (version >= 12 && f->snapshot.end_offset > 0) {
        p->snapshot_id.end_offset = f->snapshot.end_offset;
        p->snapshot_id.epoch = f->snapshot.epoch;
    }
    r->responses = (kp_fetch_response_fetchable_topic_response_arr){1, t};
    return batches_out(f, m->src, a, &p->records);
}

static int snap_out(const struct sk_raft_msg *m, kp_fetch_snapshot_response *r, kp_arena *a)
{
    kp_fetch_snapshot_response_topic_snapshot *t = ONE(a, kp_fetch_snapshot_response_topic_snapshot);
    kp_fetch_snapshot_response_partition_snapshot *p =
        ONE(a, kp_fetch_snapshot_response_partition_snapshot);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_fetch_snapshot_response_topic_snapshot_init(t);
    kp_fetch_snapshot_response_partition_snapshot_init(p);
    t->name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_fetch_snapshot_response_partition_snapshot_arr){1, p};
    const struct sk_raft_fetch_snapshot_resp *s = &m->u.snap_resp;
    p->index = 0;
    p->error_code = m->error;
    p->snapshot_id.end_offset = s->id.end_offset;
    p->snapshot_id.epoch = s->id.epoch;
    p->current_leader.leader_id = m->leader_id;
    p->current_leader.leader_epoch = m->epoch;
    p->size = s->size;
    p->position = s->position;
    p->unaligned_records = (kp_bytes){s->data, (int32_t)s->len};
    r->topics = (kp_fetch_snapshot_response_topic_snapshot_arr){1, t};
    return 0;
}

int sk_raft_wire_response_out(const struct sk_raft_msg *m, int16_t version, void *resp,
                              kp_arena *a)
{
    if (top_level(m->error)) {
        sk_raft_wire_error_response(sk_raft_wire_api(m->type), m->error, resp);
        return 0;
    }
    switch (m->type) {
    case SK_RAFT_VOTE_RESP:
        return vote_out(m, resp, a);
    case SK_RAFT_BEGIN_EPOCH_RESP:
        return begin_out(m, resp, a);
    case SK_RAFT_END_EPOCH_RESP:
        return end_out(m, resp, a);
    case SK_RAFT_FETCH_RESP:
        return fetch_out(m, version, resp, a);
    case SK_RAFT_FETCH_SNAPSHOT_RESP:
        return snap_out(m, resp, a);
    default:
        return KP_E_INVALID;
    }
}

void sk_raft_wire_error_response(int16_t key, int16_t err, void *resp)
{
    switch (key) {
    case SK_RAFT_API_VOTE:
        ((kp_vote_response *)resp)->error_code = err;
        break;
    case SK_RAFT_API_BEGIN_EPOCH:
        ((kp_begin_quorum_epoch_response *)resp)->error_code = err;
        break;
    case SK_RAFT_API_END_EPOCH:
        ((kp_end_quorum_epoch_response *)resp)->error_code = err;
        break;
    case SK_RAFT_API_DESCRIBE_QUORUM:
        ((kp_describe_quorum_response *)resp)->error_code = err;
        break;
    case SK_RAFT_API_FETCH_SNAPSHOT:
        ((kp_fetch_snapshot_response *)resp)->error_code = err;
        break;
    default:
        ((kp_fetch_response *)resp)->error_code = err;
    }
}

/* ---- requests out -------------------------------------------------------- */

static int vote_req_out(const struct sk_raft_msg *m, kp_vote_request *q, kp_arena *a)
{
    kp_vote_request_topic_data *t = ONE(a, kp_vote_request_topic_data);
    kp_vote_request_partition_data *p = ONE(a, kp_vote_request_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_vote_request_topic_data_init(t);
    kp_vote_request_partition_data_init(p);
    q->cluster_id = cluster_out(&m->cluster_id);
    q->voter_id = m->dst;
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_vote_request_partition_data_arr){1, p};
    p->candidate_epoch = m->epoch;
    p->candidate_id = m->src;
    p->last_offset_epoch = m->u.vote.last_epoch;
    p->last_offset = m->u.vote.last_offset;
    q->topics = (kp_vote_request_topic_data_arr){1, t};
    return 0;
}

static int begin_req_out(const struct sk_raft_msg *m, kp_begin_quorum_epoch_request *q,
                         kp_arena *a)
{
    kp_begin_quorum_epoch_request_topic_data *t = ONE(a, kp_begin_quorum_epoch_request_topic_data);
    kp_begin_quorum_epoch_request_partition_data *p =
        ONE(a, kp_begin_quorum_epoch_request_partition_data);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_begin_quorum_epoch_request_topic_data_init(t);
    kp_begin_quorum_epoch_request_partition_data_init(p);
    q->cluster_id = cluster_out(&m->cluster_id);
    q->voter_id = m->dst;
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_begin_quorum_epoch_request_partition_data_arr){1, p};
    p->leader_id = m->src;
    p->leader_epoch = m->epoch;
    q->topics = (kp_begin_quorum_epoch_request_topic_data_arr){1, t};
    return 0;
}

static int end_req_out(const struct sk_raft_msg *m, int16_t version, kp_end_quorum_epoch_request *q,
                       kp_arena *a)
{
    kp_end_quorum_epoch_request_topic_data *t = ONE(a, kp_end_quorum_epoch_request_topic_data);
    kp_end_quorum_epoch_request_partition_data *p =
        ONE(a, kp_end_quorum_epoch_request_partition_data);
    int32_t n = m->u.end.n_preferred;
    int32_t *ids = kp_arena_calloc(a, (size_t)n + 1, sizeof(*ids));
    kp_end_quorum_epoch_request_replica_info *c =
        kp_arena_calloc(a, (size_t)n + 1, sizeof(*c));
    if (!t || !p || !ids || !c)
        return KP_E_NOMEM;
    kp_end_quorum_epoch_request_topic_data_init(t);
    kp_end_quorum_epoch_request_partition_data_init(p);
    q->cluster_id = cluster_out(&m->cluster_id);
    t->topic_name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_end_quorum_epoch_request_partition_data_arr){1, p};
    p->leader_id = m->src;
    p->leader_epoch = m->epoch;
    for (int32_t i = 0; i < n; i++) {
        ids[i] = m->u.end.preferred[i];
        kp_end_quorum_epoch_request_replica_info_init(&c[i]);
        c[i].candidate_id = ids[i];
    }
    if (version >= 1)
        p->preferred_candidates = (kp_end_quorum_epoch_request_replica_info_arr){n, c};
    else
        p->preferred_successors = (kp_arr_i32){n, ids};
    q->topics = (kp_end_quorum_epoch_request_topic_data_arr){1, t};
    return 0;
}

/* Kafka's raft client: fetch.max.wait of 500 ms, no sessions, the whole
 * fetch in one partition. */
static int fetch_req_out(const struct sk_raft_msg *m, int16_t version, kp_fetch_request *q,
                         kp_arena *a)
{
    kp_fetch_request_fetch_topic *t = ONE(a, kp_fetch_request_fetch_topic);
    kp_fetch_request_fetch_partition *p = ONE(a, kp_fetch_request_fetch_partition);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_fetch_request_fetch_topic_init(t);
    kp_fetch_request_fetch_partition_init(p);
    q->cluster_id = cluster_out(&m->cluster_id);
    if (version >= 15)
        q->replica_state.replica_id = m->src;
    else
        q->replica_id = m->src;
    q->max_wait_ms = m->u.fetch.max_wait_ms;
    q->min_bytes = 0;
    q->max_bytes = 8 * 1024 * 1024;
    if (version >= 13)
        t->topic_id = sk_raft_topic_id;
    else
        t->topic = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_fetch_request_fetch_partition_arr){1, p};
    /* Older versions cannot carry the epochs: a peer at such a version
     * gets the fetch without them, as Kafka's encoder leaves them out. */
    if (version >= 9)
        p->current_leader_epoch = m->epoch;
    p->fetch_offset = m->u.fetch.fetch_offset;
    if (version >= 12)
        p->last_fetched_epoch = m->u.fetch.last_fetched_epoch;
    if (version >= 17)
        memcpy(p->replica_directory_id.b, m->u.fetch.replica_directory_id, SK_RAFT_DIR_ID_LEN);
    p->partition_max_bytes = 8 * 1024 * 1024;
    q->topics = (kp_fetch_request_fetch_topic_arr){1, t};
    return 0;
}

static int snap_req_out(const struct sk_raft_msg *m, kp_fetch_snapshot_request *q, kp_arena *a)
{
    kp_fetch_snapshot_request_topic_snapshot *t = ONE(a, kp_fetch_snapshot_request_topic_snapshot);
    kp_fetch_snapshot_request_partition_snapshot *p =
        ONE(a, kp_fetch_snapshot_request_partition_snapshot);
    if (!t || !p)
        return KP_E_NOMEM;
    kp_fetch_snapshot_request_topic_snapshot_init(t);
    kp_fetch_snapshot_request_partition_snapshot_init(p);
    q->cluster_id = cluster_out(&m->cluster_id);
    q->replica_id = m->src;
    q->max_bytes = m->u.snap.max_bytes;
    t->name = kp_str_c(SK_RAFT_TOPIC);
    t->partitions = (kp_fetch_snapshot_request_partition_snapshot_arr){1, p};
    p->partition = 0;
    p->current_leader_epoch = m->epoch;
    p->snapshot_id.end_offset = m->u.snap.id.end_offset;
    p->snapshot_id.epoch = m->u.snap.id.epoch;
    p->position = m->u.snap.position;
    q->topics = (kp_fetch_snapshot_request_topic_snapshot_arr){1, t};
    return 0;
}

int sk_raft_wire_request_out(const struct sk_raft_msg *m, int16_t version, void *body,
                             kp_arena *a)
{
    switch (m->type) {
    case SK_RAFT_VOTE_REQ:
        return vote_req_out(m, body, a);
    case SK_RAFT_BEGIN_EPOCH_REQ:
        return begin_req_out(m, body, a);
    case SK_RAFT_END_EPOCH_REQ:
        return end_req_out(m, version, body, a);
    case SK_RAFT_FETCH_REQ:
        return fetch_req_out(m, version, body, a);
    case SK_RAFT_FETCH_SNAPSHOT_REQ:
        return snap_req_out(m, body, a);
    default:
        return KP_E_INVALID;
    }
}

/* ---- responses in -------------------------------------------------------- */

/* The one partition's fields, or the top-level error when there is none. */
#define PARTITION_OR_TOP(r, p)                                                                  \
    do {                                                                                        \
        if ((r)->error_code || (r)->topics.n != 1 || (r)->topics.v[0].partitions.n != 1) {      \
            m->error = (r)->error_code ? (r)->error_code : SK_ERR_INVALID_REQUEST;              \
            return SK_ERR_NONE;                                                                 \
        }                                                                                       \
        (p) = &(r)->topics.v[0].partitions.v[0];                                                \
        m->error = (p)->error_code;                                                             \
        m->leader_id = (p)->leader_id;                                                          \
        m->epoch = (p)->leader_epoch;                                                           \
    } while (0)

static int16_t fetch_resp_in(const kp_fetch_response *r, struct sk_raft_msg *m, kp_arena *a)
{
    /* Both -1: the core reads either one set as a divergence. */
    m->u.fetch_resp.diverging_epoch = -1;
    m->u.fetch_resp.diverging_end_offset = -1;
    if (r->error_code || r->responses.n != 1 || r->responses.v[0].partitions.n != 1) {
        m->error = r->error_code ? r->error_code : SK_ERR_INVALID_REQUEST;
        return SK_ERR_NONE;
    }
    const kp_fetch_response_partition_data *p = &r->responses.v[0].partitions.v[0];
    m->error = p->error_code;
    m->leader_id = p->current_leader.leader_id;
    m->epoch = p->current_leader.leader_epoch;
    m->u.fetch_resp.high_watermark = p->high_watermark;
    if (p->diverging_epoch.epoch >= 0) {
        m->u.fetch_resp.diverging_epoch = p->diverging_epoch.epoch;
        m->u.fetch_resp.diverging_end_offset = p->diverging_epoch.end_offset;
    }
    if (p->snapshot_id.end_offset > 0) {
        m->u.fetch_resp.snapshot.end_offset = p->snapshot_id.end_offset;
        m->u.fetch_resp.snapshot.epoch = p->snapshot_id.epoch;
    }
    return batches_in(p->records, a, &m->u.fetch_resp);
}

static int16_t snap_resp_in(const kp_fetch_snapshot_response *r, struct sk_raft_msg *m)
{
    if (r->error_code || r->topics.n != 1 || r->topics.v[0].partitions.n != 1) {
        m->error = r->error_code ? r->error_code : SK_ERR_INVALID_REQUEST;
        return SK_ERR_NONE;
    }
    const kp_fetch_snapshot_response_partition_snapshot *p = &r->topics.v[0].partitions.v[0];
    struct sk_raft_fetch_snapshot_resp *s = &m->u.snap_resp;
    m->error = p->error_code;
    m->leader_id = p->current_leader.leader_id;
    m->epoch = p->current_leader.leader_epoch;
    s->id.end_offset = p->snapshot_id.end_offset;
    s->id.epoch = p->snapshot_id.epoch;
    s->size = p->size;
    s->position = p->position;
    if (p->unaligned_records.len > 0) {
        s->data = p->unaligned_records.ptr;
        s->len = (size_t)p->unaligned_records.len;
    }
    return SK_ERR_NONE;
}

int16_t sk_raft_wire_response_in(enum sk_raft_msg_type t, int16_t version, const void *resp,
                                 int32_t src, int32_t self, struct sk_raft_msg *m, kp_arena *a)
{
    (void)version;
    memset(m, 0, sizeof(*m));
    m->type = (enum sk_raft_msg_type)(t + 1);
    m->src = src;
    m->dst = self;
    m->cluster_id.len = -1;
    m->leader_id = SK_RAFT_NO_ID;
    m->epoch = -1;
    switch (t) {
    case SK_RAFT_VOTE_REQ: {
        const kp_vote_response *r = resp;
        const kp_vote_response_partition_data *p;
        PARTITION_OR_TOP(r, p);
        m->u.vote_granted = p->vote_granted;
        return SK_ERR_NONE;
    }
    case SK_RAFT_BEGIN_EPOCH_REQ: {
        const kp_begin_quorum_epoch_response *r = resp;
        const kp_begin_quorum_epoch_response_partition_data *p;
        PARTITION_OR_TOP(r, p);
        return SK_ERR_NONE;
    }
    case SK_RAFT_END_EPOCH_REQ: {
        const kp_end_quorum_epoch_response *r = resp;
        const kp_end_quorum_epoch_response_partition_data *p;
        PARTITION_OR_TOP(r, p);
        return SK_ERR_NONE;
    }
    case SK_RAFT_FETCH_REQ:
        return fetch_resp_in(resp, m, a);
    case SK_RAFT_FETCH_SNAPSHOT_REQ:
        return snap_resp_in(resp, m);
    default:
        return SK_ERR_INVALID_REQUEST;
    }
}
