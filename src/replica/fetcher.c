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
 * the shard reconciles which fetchers exist. Each round is one sessionless
 * Fetch carrying ReplicaState (v15+) or ReplicaId, the partition's leader
 * epoch, its log end as FetchOffset and its last epoch as LastFetchedEpoch.
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
#include "skein/java_hash.h"
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

/* What one round asked for a partition, to match and check the answer. */
struct asked {
    kp_uuid topic_id;
    int32_t partition;
    int32_t leader_epoch;
    int64_t offset;
};

struct sk_replica_fetcher {
    struct sk_replica_fetchers *set;
    int32_t source;
    int32_t index;
    struct sk_kclient *kc;
    bool in_flight;
    bool used;            /* a follower partition wants it (this tick) */
    uint64_t resume_ms;   /* backing off until then (replica.fetch.backoff.ms) */
    kp_fetch_request req; /* the round in flight, and what it asked */
    kp_fetch_request_fetch_topic *topics;
    kp_fetch_request_fetch_partition *parts;
    struct asked *asked;
    int nasked;
    struct sk_range_item *out_of_range; /* this round's OFFSET_OUT_OF_RANGE answers */
    int nout_of_range;
    struct sk_replica_fetcher *next;
};

struct sk_replica_fetchers {
    struct sk_broker *b;
    struct sk_replica_fetcher *list;
    sk_timer_id tick;
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
    uint32_t h = (uint32_t)(31 * (uint32_t)sk_java_string_hash(kp_str_c(p->topic)) +
                            (uint32_t)p->id);
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
    free(f->asked);
    free(f->out_of_range);
    f->topics = NULL;
    f->parts = NULL;
    f->asked = NULL;
    f->out_of_range = NULL;
    f->nasked = f->nout_of_range = 0;
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

/* One topic entry per partition, matched in the answer by topic id (v13+)
 * or name. The encoder refuses a field the version lacks, so each is set
 * only where the negotiated version carries it. */
static void add_partition(struct sk_replica_fetcher *f, const struct sk_partition *p, int k,
                          int16_t version)
{
    kp_fetch_request_fetch_partition *fp = &f->parts[k];
    kp_fetch_request_fetch_partition_init(fp);
    fp->partition = p->id;
    fp->current_leader_epoch = p->leader_epoch;
    fp->fetch_offset = sk_plog_log_end_offset(p->log);
    fp->last_fetched_epoch = sk_plog_latest_epoch(p->log);
    fp->log_start_offset = sk_plog_log_start_offset(p->log);
    fp->partition_max_bytes = cfg_of(f)->log.replica_fetch_max_bytes;
    kp_fetch_request_fetch_topic *t = &f->topics[k];
    kp_fetch_request_fetch_topic_init(t);
    if (version >= 13)
        t->topic_id = p->topic_id;
    else
        t->topic = kp_str_c(p->topic);
    t->partitions = (kp_fetch_request_fetch_partition_arr){1, fp};
    f->asked[k] = (struct asked){p->topic_id, p->id, p->leader_epoch, fp->fetch_offset};
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
    r->session_id = 0;
    r->session_epoch = -1; /* sessionless: FINAL_EPOCH */
    r->topics = (kp_fetch_request_fetch_topic_arr){f->nasked, f->topics};
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
    f->topics = calloc((size_t)n, sizeof *f->topics);
    f->parts = calloc((size_t)n, sizeof *f->parts);
    f->asked = calloc((size_t)n, sizeof *f->asked);
    f->out_of_range = calloc((size_t)n, sizeof *f->out_of_range);
    if (!f->topics || !f->parts || !f->asked || !f->out_of_range) {
        free_round(f);
        return;
    }
    const struct sk_broker *b = f->set->b;
    for (int i = 0; i < b->nparts && f->nasked < n; i++)
        if (asks(f, b->parts[i], over))
            add_partition(f, b->parts[i], f->nasked++, version);
    build_request(f, version);
    if (sk_kclient_send(f->kc, FETCH_API_KEY, version, &f->req, on_answer, f) < 0) {
        free_round(f);
        return;
    }
    f->in_flight = true;
}

/* ---- the answer ---------------------------------------------------------------------- */

static const struct asked *asked_for(const struct sk_replica_fetcher *f, const kp_uuid *id,
                                     kp_str name, int32_t partition)
{
    const struct sk_broker *b = f->set->b;
    for (int i = 0; i < f->nasked; i++) {
        const struct asked *a = &f->asked[i];
        if (a->partition != partition)
            continue;
        if (memcmp(a->topic_id.b, id->b, 16) == 0)
            return a;
        const struct sk_topic_meta *t = sk_meta_topic_by_id(b->image, &a->topic_id);
        if (name.len > 0 && t && strlen(t->name) == (size_t)name.len &&
            memcmp(t->name, name.ptr, (size_t)name.len) == 0)
            return a;
    }
    return NULL;
}

/* The partition the answer is for, if it still follows the same leader in
 * the same epoch at the same log end: anything else is stale. */
static struct sk_partition *still_following(struct sk_replica_fetcher *f, const struct asked *a)
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
                            const struct asked *a, const kp_fetch_response_partition_data *d)
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
    if (r->error_code != SK_ERR_NONE)
        return false;
    bool progressed = false, failed = false;
    for (int32_t i = 0; i < r->responses.n; i++) {
        const kp_fetch_response_fetchable_topic_response *t = &r->responses.v[i];
        for (int32_t j = 0; j < t->partitions.n; j++) {
            const kp_fetch_response_partition_data *d = &t->partitions.v[j];
            const struct asked *a = asked_for(f, &t->topic_id, t->topic, d->partition_index);
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

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct sk_replica_fetcher *f = arg;
    (void)version;
    f->in_flight = false;
    bool ok = err == SK_ERR_NONE && on_response(f, resp);
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
    free(f);
}

/* Starts the fetchers new followers need, stops the idle ones (none of
 * their partitions follows their source any more) and sends a round on
 * every fetcher that is neither waiting for an answer nor backing off. */
static void reconcile(struct sk_replica_fetchers *s)
{
    for (struct sk_replica_fetcher *f = s->list; f; f = f->next)
        f->used = false;
    if (mark_used(s) < 0)
        sk_warn("replica fetchers: out of memory");
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
        free(f);
    }
    free(s);
    b->fetchers = NULL;
}
