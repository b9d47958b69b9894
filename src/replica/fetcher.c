/* The replica fetcher (Kafka's ReplicaFetcherThread over AbstractFetcherThread):
 * a follower copies its leader's log by fetching it with the Fetch API, as
 * a Kafka broker does, so Skein and Kafka brokers could follow each other.
 *
 * Shape: partitions belong to shards, and only the owning shard may append
 * to one, so each shard runs its own fetchers, one per source broker and
 * fetcher index (num.replica.fetchers, Kafka's hash of topic and partition),
 * each over one Kafka client connection (skein/kclient.h). A fetcher keeps
 * no list of its partitions: each round it takes the shard's follower
 * partitions whose image leader is its source, so a leadership change
 * (new leader, new epoch, this node made leader) needs no hook; a tick of
 * the shard reconciles which fetchers exist. Each round is one Fetch
 * carrying ReplicaState (v15+) or ReplicaId and, per partition, its leader
 * epoch, its log end as FetchOffset and its last epoch as LastFetchedEpoch.
 * From v7 the rounds run in an incremental fetch session with the leader
 * (fetcher_session.c), as Kafka's fetchers do: a round names only the
 * partitions whose state changed, and the answer only those with news.
 *
 * Durability: the follower appends what it fetched and marks it for the
 * shard's group commit, then fetches again at once, before its fdatasync,
 * as Kafka's followers do: the leader counts the follower's log end from
 * its next fetch, so acks=all means "in the page cache of the ISR and on
 * the leader's disk". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetcher_int.h"
#include "gen/kp_all.h"
#include "replica_int.h"
#include "skein/broker.h"
#include "skein/broker_lifecycle.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/record.h"
#include "skein/repl_quota.h"
#include "skein/timer.h"

#define FETCH_API_KEY 1
/* How often a shard looks for fetchers to start or stop. */
#define TICK_MS 100

struct sk_replica_fetcher {
    struct sk_replica_fetchers *set;
    int32_t source;
    int32_t index;
    struct sk_kclient *kc;
    bool in_flight;
    bool used;            /* a follower partition wants it (this tick) */
    uint64_t resume_ms;   /* backing off until then (replica.fetch.backoff.ms) */
    struct sk_fetch_handler sess; /* what the leader's session holds */
    kp_fetch_request req;         /* the round in flight */
    kp_fetch_request_fetch_topic *topics;
    kp_fetch_request_fetch_partition *parts;
    int nsend;
    kp_fetch_request_forgotten_topic *forgot;
    int32_t *forgot_parts;
    int nforgot;
    struct sk_range_item *out_of_range; /* this round's OFFSET_OUT_OF_RANGE answers */
    int nout_of_range;
    struct sk_replica_fetcher *next;
};

struct sk_replica_fetchers {
    struct sk_broker *b;
    struct sk_replica_fetcher *list;
    sk_timer_id tick;
    /* What the fetchers' sources were last derived from: which fetchers
     * exist changes only with the image, the shard's partitions (opened in
     * turns, closed) or a partition a failed sync took offline. */
    bool seen_valid;
    const struct sk_meta_image *seen_image;
    int64_t seen_offset;
    int seen_nparts, seen_failed;
};

static const struct sk_config *cfg_of(const struct sk_replica_fetcher *f)
{
    return f->set->b->cfg;
}

static uint64_t now_ms(const struct sk_replica_fetcher *f)
{
    return sk_shard_now_ms(f->set->b->shard);
}

/* ---- which partitions a fetcher serves ----------------------------------------------- */

static const struct sk_partition_meta *image_of(const struct sk_broker *b,
                                                const struct sk_partition *p)
{
    const struct sk_topic_meta *t = sk_meta_topic_by_id(b->image, &p->topic_id);
    return t && p->id < t->npartitions ? &t->partitions[p->id] : NULL;
}

/* Kafka's AbstractFetcherManager.getFetcherId. */
static int32_t fetcher_index(const struct sk_broker *b, const struct sk_partition *p)
{
    int32_t n = b->cfg->log.num_replica_fetchers > 0 ? b->cfg->log.num_replica_fetchers : 1;
    uint32_t h = (uint32_t)(31 * (uint32_t)p->topic_hash + (uint32_t)p->id);
    return (int32_t)((h & 0x7fffffffu) % (uint32_t)n);
}

/* The leader p follows, or -1 when there is nothing to fetch from. */
static int32_t source_of(const struct sk_broker *b, const struct sk_partition *p)
{
    if (p->role != SK_REPLICA_FOLLOWER || sk_partition_sync_failed(p))
        return -1;
    const struct sk_partition_meta *pm = image_of(b, p);
    if (!pm || pm->leader < 0 || pm->leader == b->node->node_id ||
        pm->leader_epoch != p->leader_epoch)
        return -1;
    return pm->leader;
}

static bool serves(const struct sk_replica_fetcher *f, const struct sk_partition *p)
{
    const struct sk_broker *b = f->set->b;
    return source_of(b, p) == f->source && fetcher_index(b, p) == f->index;
}

/* ---- a connection to the source ------------------------------------------------------ */

/* The source's endpoint on the inter-broker listener (its first one if it
 * names none), as Kafka's fetchers reach a leader. */
static const struct sk_endpoint_meta *endpoint(const struct sk_broker *b, int32_t id)
{
    const struct sk_broker_meta *bm = sk_meta_broker(b->image, id);
    if (!bm || bm->nendpoints == 0)
        return NULL;
    for (int i = 0; i < bm->nendpoints; i++)
        if (strcmp(bm->endpoints[i].listener, b->cfg->inter_broker_listener) == 0)
            return &bm->endpoints[i];
    return &bm->endpoints[0];
}

static bool connect_source(struct sk_replica_fetcher *f)
{
    if (f->kc)
        return true;
    const struct sk_endpoint_meta *ep = endpoint(f->set->b, f->source);
    if (!ep)
        return false;
    struct sk_kclient_config kc;
    sk_kclient_config_defaults(&kc);
    /* A fetch is held up to replica.fetch.wait.max.ms by the leader. */
    kc.request_timeout_ms = (uint32_t)cfg_of(f)->log.replica_fetch_wait_max_ms + 30000;
    kc.max_inflight = 1;
    kc.client_id = "replica-fetcher";
    struct sk_kclient_handler h = {0};
    return sk_kclient_new(f->set->b->shard, ep->host, ep->port, &kc, &h, &f->kc) == 0;
}

/* ---- one round ----------------------------------------------------------------------- */

static void free_round(struct sk_replica_fetcher *f)
{
    free(f->topics);
    free(f->parts);
    free(f->forgot);
    free(f->forgot_parts);
    free(f->out_of_range);
    f->topics = NULL;
    f->parts = NULL;
    f->forgot = NULL;
    f->forgot_parts = NULL;
    f->out_of_range = NULL;
    f->nsend = f->nforgot = f->nout_of_range = 0;
}

/* Whether this node's fetches for throttled replicas are over
 * follower.replication.throttled.rate: decided once per round. */
static bool follower_over(const struct sk_replica_fetcher *f)
{
    const struct sk_broker *b = f->set->b;
    return b->node->repl_quotas &&
           sk_repl_quota_exceeded(&b->node->repl_quotas[SK_REPL_FOLLOWER],
                                  b->cfg->replication_quota.follower_rate, now_ms(f));
}

/* Kafka's ReplicaFetcherThread.shouldFollowerThrottle: a throttled replica
 * still catching up is left out of the round while the rate is over. */
static bool asks(const struct sk_replica_fetcher *f, const struct sk_partition *p, bool over)
{
    return p && serves(f, p) && !(over && p->throttle_follower && !p->fetch_in_sync);
}

static int count_asked(const struct sk_replica_fetcher *f, bool over)
{
    const struct sk_broker *b = f->set->b;
    int n = 0;
    for (int i = 0; i < b->nparts; i++)
        n += asks(f, b->parts[i], over);
    return n;
}

/* The fetch state of p as this round asks for it. */
static struct sk_fsess_entry entry_of(const struct sk_replica_fetcher *f,
                                      const struct sk_partition *p)
{
    return (struct sk_fsess_entry){
        .topic_id = p->topic_id,
        .partition = p->id,
        .leader_epoch = p->leader_epoch,
        .last_fetched_epoch = sk_plog_latest_epoch(p->log),
        .offset = sk_plog_log_end_offset(p->log),
        .log_start = sk_plog_log_start_offset(p->log),
        .max_bytes = cfg_of(f)->log.replica_fetch_max_bytes,
    };
}

/* One topic entry per partition, matched in the answer by topic id (v13+)
 * or name. The encoder refuses a field the version lacks, so each is set
 * only where the negotiated version carries it. */
static void add_partition(struct sk_replica_fetcher *f, const struct sk_partition *p,
                          const struct sk_fsess_entry *e, int k, int16_t version)
{
    kp_fetch_request_fetch_partition *fp = &f->parts[k];
    kp_fetch_request_fetch_partition_init(fp);
    fp->partition = e->partition;
    fp->current_leader_epoch = e->leader_epoch;
    fp->fetch_offset = e->offset;
    fp->last_fetched_epoch = e->last_fetched_epoch;
    fp->log_start_offset = e->log_start;
    fp->partition_max_bytes = e->max_bytes;
    kp_fetch_request_fetch_topic *t = &f->topics[k];
    kp_fetch_request_fetch_topic_init(t);
    if (version >= 13)
        t->topic_id = p->topic_id;
    else
        t->topic = kp_str_c(p->topic);
    t->partitions = (kp_fetch_request_fetch_partition_arr){1, fp};
}

/* The session's partitions this round does not name, as forgotten topics
 * (one entry each). A topic of a name-based session (v7-12) that the image
 * no longer names cannot be forgotten by name: the next round is full. */
static int forget_round(struct sk_replica_fetcher *f, int16_t version)
{
    struct sk_fsess_entry *gone;
    int ngone;
    if (sk_fetch_handler_forget(&f->sess, &gone, &ngone) < 0)
        return -ENOMEM;
    if (ngone == 0)
        return 0;
    f->forgot = calloc((size_t)ngone, sizeof *f->forgot);
    f->forgot_parts = calloc((size_t)ngone, sizeof *f->forgot_parts);
    if (!f->forgot || !f->forgot_parts) {
        free(gone);
        return -ENOMEM;
    }
    for (int i = 0; i < ngone; i++) {
        kp_fetch_request_forgotten_topic *t = &f->forgot[f->nforgot];
        kp_fetch_request_forgotten_topic_init(t);
        if (version >= 13) {
            t->topic_id = gone[i].topic_id;
        } else {
            const struct sk_topic_meta *tm = sk_meta_topic_by_id(f->set->b->image,
                                                                 &gone[i].topic_id);
            if (!tm) {
                sk_fetch_handler_failed(&f->sess);
                continue;
            }
            t->topic = (kp_str){tm->name, tm->name_len};
        }
        f->forgot_parts[f->nforgot] = gone[i].partition;
        t->partitions = (kp_arr_i32){1, &f->forgot_parts[f->nforgot]};
        f->nforgot++;
    }
    free(gone);
    return 0;
}

static void build_request(struct sk_replica_fetcher *f, int16_t version)
{
    const struct sk_broker *b = f->set->b;
    const struct sk_config *cfg = b->cfg;
    kp_fetch_request *r = &f->req;
    kp_fetch_request_init(r);
    if (version >= 15) {
        r->replica_state.replica_id = b->node->node_id;
        /* KIP-903: the leader takes this fetch's state as that of this
         * registration only. */
        r->replica_state.replica_epoch =
            sk_broker_lifecycle_epoch_in(b->node->lifecycle, b->image);
    } else {
        r->replica_id = b->node->node_id;
    }
    r->max_wait_ms = cfg->log.replica_fetch_wait_max_ms;
    r->min_bytes = cfg->log.replica_fetch_min_bytes;
    r->max_bytes = cfg->log.replica_fetch_response_max_bytes;
    r->isolation_level = 0;
    sk_fetch_handler_request(&f->sess, &r->session_id, &r->session_epoch);
    r->topics = (kp_fetch_request_fetch_topic_arr){f->nsend, f->topics};
    r->forgotten_topics_data = (kp_fetch_request_forgotten_topic_arr){f->nforgot, f->forgot};
}

/* Fills the round's request with the n partitions it fetches, of which
 * only the session's news are named. */
static int fill_round(struct sk_replica_fetcher *f, int n, bool over, int16_t version)
{
    f->topics = calloc((size_t)n, sizeof *f->topics);
    f->parts = calloc((size_t)n, sizeof *f->parts);
    if (!f->topics || !f->parts)
        return -ENOMEM;
    const struct sk_broker *b = f->set->b;
    sk_fetch_handler_use_sessions(&f->sess, version >= 7);
    sk_fetch_handler_begin(&f->sess);
    for (int i = 0; i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        if (!asks(f, p, over))
            continue;
        struct sk_fsess_entry e = entry_of(f, p);
        bool send;
        if (sk_fetch_handler_want(&f->sess, &e, &send) < 0)
            return -ENOMEM;
        if (send && f->nsend < n)
            add_partition(f, p, &e, f->nsend++, version);
    }
    if (forget_round(f, version) < 0)
        return -ENOMEM;
    build_request(f, version);
    return 0;
}

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp);

static void send_round(struct sk_replica_fetcher *f)
{
    bool over = follower_over(f);
    int n = count_asked(f, over);
    if (n == 0 || !connect_source(f))
        return;
    /* The version is chosen before the request is filled: until the
     * handshake is done the next tick tries again. */
    int16_t version = sk_kclient_version(f->kc, FETCH_API_KEY);
    if (version < 0)
        return;
    if (fill_round(f, n, over, version) < 0 ||
        sk_kclient_send(f->kc, FETCH_API_KEY, version, &f->req, on_answer, f) < 0) {
        /* What the table holds may not be what the leader's session holds. */
        sk_fetch_handler_failed(&f->sess);
        free_round(f);
        return;
    }
    f->in_flight = true;
}

/* ---- the answer ---------------------------------------------------------------------- */

/* What the leader's session holds for an answered partition, named by id
 * (v13+) or by name. */
static const struct sk_fsess_entry *asked_for(const struct sk_replica_fetcher *f,
                                              const kp_uuid *id, kp_str name, int32_t partition)
{
    const struct sk_fsess_entry *e = sk_fetch_handler_find(&f->sess, id, partition);
    if (e || name.len <= 0)
        return e;
    const struct sk_topic_meta *t = sk_meta_topic(f->set->b->image, name.ptr, (size_t)name.len);
    return t ? sk_fetch_handler_find(&f->sess, &t->id, partition) : NULL;
}

/* The partition the answer is for, if it still follows the same leader in
 * the same epoch at the same log end: anything else is stale. */
static struct sk_partition *still_following(struct sk_replica_fetcher *f,
                                            const struct sk_fsess_entry *a)
{
    struct sk_partition *p = sk_partition_get_by_id(f->set->b, &a->topic_id, a->partition);
    if (!p || !serves(f, p) || p->leader_epoch != a->leader_epoch ||
        sk_plog_log_end_offset(p->log) != a->offset)
        return NULL;
    return p;
}

/* The complete batches at the head of a fetched slice: a leader's answer
 * may end inside a batch (its size limit), as Kafka's may. */
static size_t whole_batches(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    struct sk_batch_header h;
    while (len - off >= SK_BATCH_HEADER_SIZE && sk_batch_header_read(buf + off, len - off, &h) == 0)
        off += sk_batch_size(&h);
    return off;
}

/* Consumers may read from a follower (KIP-392): one parked on it wakes
 * when the high watermark it reads below moves. */
static void take_high_watermark(struct sk_partition *p, int64_t leader_hw)
{
    int64_t end = sk_plog_log_end_offset(p->log);
    int64_t hw = leader_hw < end ? leader_hw : end;
    bool moved = hw > p->high_watermark;
    p->high_watermark = hw;
    if (moved)
        sk_replica_wake_hw_waiters(p);
}

static int16_t on_partition(struct sk_replica_fetcher *f, struct sk_partition *p,
                            const struct sk_fsess_entry *a,
                            const kp_fetch_response_partition_data *d)
{
    if (d->error_code == SK_ERR_OFFSET_OUT_OF_RANGE) {
        f->out_of_range[f->nout_of_range++] =
            (struct sk_range_item){a->topic_id, a->partition, a->leader_epoch, a->offset};
        return SK_ERR_NONE;
    }
    if (d->error_code != SK_ERR_NONE)
        return d->error_code;
    if (d->diverging_epoch.epoch >= 0 || d->diverging_epoch.end_offset >= 0) {
        int64_t to = sk_replica_truncation_offset(p, d->diverging_epoch.epoch,
                                                  d->diverging_epoch.end_offset);
        int16_t err = sk_partition_truncate(p, to);
        if (err == SK_ERR_NONE)
            take_high_watermark(p, p->high_watermark);
        return err;
    }
    size_t len = d->records.len > 0 ? whole_batches(d->records.ptr, (size_t)d->records.len) : 0;
    if (d->records.len > 0 && p->throttle_follower && f->set->b->node->repl_quotas)
        sk_repl_quota_record(&f->set->b->node->repl_quotas[SK_REPL_FOLLOWER],
                             (uint64_t)d->records.len, now_ms(f));
    if (len > 0) {
        int16_t err = sk_partition_append_replica(p, d->records.ptr, len);
        if (err != SK_ERR_NONE)
            return err;
    }
    p->fetch_in_sync = d->high_watermark <= sk_plog_log_end_offset(p->log);
    take_high_watermark(p, d->high_watermark);
    return SK_ERR_NONE;
}

/* Kafka's fetcher delays a failed partition by replica.fetch.backoff.ms;
 * one fetcher here backs off whole when a round moved nothing. */
static bool on_response(struct sk_replica_fetcher *f, const kp_fetch_response *r)
{
    int total = 0;
    for (int32_t i = 0; i < r->responses.n; i++)
        total += r->responses.v[i].partitions.n;
    f->out_of_range = calloc((size_t)total + 1, sizeof *f->out_of_range);
    if (!f->out_of_range)
        return false;
    bool progressed = false, failed = false;
    for (int32_t i = 0; i < r->responses.n; i++) {
        const kp_fetch_response_fetchable_topic_response *t = &r->responses.v[i];
        for (int32_t j = 0; j < t->partitions.n; j++) {
            const kp_fetch_response_partition_data *d = &t->partitions.v[j];
            const struct sk_fsess_entry *a = asked_for(f, &t->topic_id, t->topic,
                                                       d->partition_index);
            struct sk_partition *p = a ? still_following(f, a) : NULL;
            if (!p)
                continue;
            int16_t err = on_partition(f, p, a, d);
            if (err != SK_ERR_NONE) {
                failed = true;
                sk_debug("replica fetch of %s-%d from %d: error %d", p->topic, p->id, f->source,
                         err);
            }
            progressed |= err == SK_ERR_NONE;
        }
    }
    return progressed || !failed;
}

/* The probe is over: the next tick fetches from where the log now ends. */
static void probed(void *arg)
{
    struct sk_replica_fetcher *f = arg;
    f->in_flight = false;
}

/* Kafka's fetcher takes a session error as an empty answer: the next
 * round, full, goes at once. */
static bool session_error(int16_t err)
{
    return err == SK_ERR_FETCH_SESSION_ID_NOT_FOUND || err == SK_ERR_INVALID_FETCH_SESSION_EPOCH;
}

static bool take_answer(struct sk_replica_fetcher *f, int16_t err, const kp_fetch_response *r)
{
    if (err != SK_ERR_NONE) {
        sk_fetch_handler_failed(&f->sess);
        return false;
    }
    if (!sk_fetch_handler_answered(&f->sess, r->error_code, r->session_id))
        return session_error(r->error_code);
    return r->error_code == SK_ERR_NONE && on_response(f, r);
}

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct sk_replica_fetcher *f = arg;
    (void)version;
    f->in_flight = false;
    bool ok = take_answer(f, err, resp);
    if (ok && f->nout_of_range > 0 &&
        sk_replica_range_probe(f->set->b, f->kc, f->out_of_range, f->nout_of_range, probed,
                               f) == 0) {
        f->in_flight = true;
        free_round(f);
        return;
    }
    free_round(f);
    if (!ok) {
        f->resume_ms = now_ms(f) + (uint64_t)cfg_of(f)->log.replica_fetch_backoff_ms;
        return;
    }
    /* The leader held the fetch until it had data or its wait ran out. */
    send_round(f);
}

/* ---- the shard's set ----------------------------------------------------------------- */

static struct sk_replica_fetcher *find(struct sk_replica_fetchers *s, int32_t source,
                                       int32_t index)
{
    for (struct sk_replica_fetcher *f = s->list; f; f = f->next)
        if (f->source == source && f->index == index)
            return f;
    return NULL;
}

static int mark_used(struct sk_replica_fetchers *s)
{
    struct sk_broker *b = s->b;
    for (int i = 0; i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        int32_t source = p ? source_of(b, p) : -1;
        if (source < 0)
            continue;
        int32_t index = fetcher_index(b, p);
        struct sk_replica_fetcher *f = find(s, source, index);
        if (!f) {
            f = calloc(1, sizeof *f);
            if (!f)
                return -ENOMEM;
            *f = (struct sk_replica_fetcher){.set = s, .source = source, .index = index,
                                             .next = s->list};
            s->list = f;
        }
        f->used = true;
    }
    return 0;
}

static void fetcher_free(struct sk_replica_fetcher *f)
{
    if (f->kc)
        sk_kclient_close(f->kc); /* fails the round in flight: on_answer frees it */
    free_round(f);
    sk_fetch_handler_free(&f->sess);
    free(f);
}

/* Whether the fetchers' sources may have moved since the last tick; a
 * tick that finds nothing moved skips the walk over every partition. */
static bool sources_may_have_moved(struct sk_replica_fetchers *s)
{
    const struct sk_broker *b = s->b;
    bool same = s->seen_valid && s->seen_image == b->image &&
                s->seen_offset == b->image->last_offset && s->seen_nparts == b->nparts &&
                s->seen_failed == b->offline_sync_failed;
    s->seen_valid = true;
    s->seen_image = b->image;
    s->seen_offset = b->image->last_offset;
    s->seen_nparts = b->nparts;
    s->seen_failed = b->offline_sync_failed;
    return !same;
}

/* Starts the fetchers new followers need, stops the idle ones (none of
 * their partitions follows their source any more) and sends a round on
 * every fetcher that is neither waiting for an answer nor backing off. */
static void reconcile(struct sk_replica_fetchers *s)
{
    if (sources_may_have_moved(s)) {
        for (struct sk_replica_fetcher *f = s->list; f; f = f->next)
            f->used = false;
        if (mark_used(s) < 0) {
            s->seen_valid = false;
            sk_warn("replica fetchers: out of memory");
        }
    }
    uint64_t now = sk_shard_now_ms(s->b->shard);
    for (struct sk_replica_fetcher **pp = &s->list; *pp;) {
        struct sk_replica_fetcher *f = *pp;
        if (!f->used && !f->in_flight) {
            *pp = f->next;
            fetcher_free(f);
            continue;
        }
        if (f->used && !f->in_flight && now >= f->resume_ms)
            send_round(f);
        pp = &f->next;
    }
}

static void on_tick(void *arg)
{
    struct sk_replica_fetchers *s = arg;
    s->tick = 0;
    reconcile(s);
    s->tick = sk_timer_add(s->b->shard, TICK_MS, on_tick, s);
}

int sk_replica_fetchers_start(struct sk_broker *b)
{
    struct sk_replica_fetchers *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->b = b;
    s->tick = sk_timer_add(b->shard, TICK_MS, on_tick, s);
    b->fetchers = s;
    return 0;
}

void sk_replica_fetchers_stop(struct sk_broker *b)
{
    struct sk_replica_fetchers *s = b->fetchers;
    if (!s)
        return;
    if (s->tick)
        sk_timer_cancel(b->shard, s->tick);
    while (s->list) {
        struct sk_replica_fetcher *f = s->list;
        s->list = f->next;
        f->in_flight = false;
        struct sk_kclient *kc = f->kc;
        f->kc = NULL;
        if (kc)
            sk_kclient_close(kc);
        free_round(f);
        sk_fetch_handler_free(&f->sess);
        free(f);
    }
    free(s);
    b->fetchers = NULL;
}
