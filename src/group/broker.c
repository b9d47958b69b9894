/* The coordinator inside the broker: shard timers, the partition manager as
 * its store, __consumer_offsets creation and loading at start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/group.h"
#include "skein/group_records.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/record.h"
#include "skein/timer.h"

static uint64_t env_timer_add(void *ctx, uint64_t ms, sk_group_timer_fn fn, void *arg)
{
    struct sk_broker *b = ctx;
    return sk_timer_add(b->shard, ms, fn, arg);
}

static void env_timer_cancel(void *ctx, uint64_t id)
{
    struct sk_broker *b = ctx;
    sk_timer_cancel(b->shard, id);
}

static int64_t env_now(void *ctx)
{
    (void)ctx;
    return sk_wall_ms();
}

static void env_append(void *ctx, int32_t partition, const struct sk_record_in *recs, size_t n,
                       sk_group_done_fn done, void *arg)
{
    struct sk_broker *b = ctx;
    struct sk_partition *p = sk_partition_get(b, kp_str_c(SK_GROUP_OFFSETS_TOPIC), partition);
    if (!p) {
        done(arg, SK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        return;
    }
    struct sk_buf buf = {0};
    struct sk_batch_spec spec = sk_batch_spec_default();
    int64_t base = 0;
    int16_t err = sk_batch_build(&buf, &spec, recs, n) < 0 ? SK_ERR_UNKNOWN_SERVER_ERROR
                                                            : SK_ERR_NONE;
    /* Kafka's log refuses a coordinator's batch over the offsets topic's
     * max.message.bytes as any other (RecordTooLargeException): a group
     * whose members' metadata is too big to store cannot complete a
     * rebalance, and the callers map the error as Kafka does. */
    if (!err && buf.len > (size_t)p->cfg.max_message_bytes)
        err = SK_ERR_MESSAGE_TOO_LARGE;
    if (!err)
        err = sk_partition_append(p, buf.data, buf.len, &base, NULL);
    sk_buf_free(&buf);
    if (err) {
        done(arg, err);
        return;
    }
    /* acks=all: answered once the records are below the high watermark. */
    sk_partition_when_durable(p, base + (int64_t)n, done, arg);
}

static bool topic_exists(struct sk_broker *b)
{
    return sk_meta_topic(b->image, SK_GROUP_OFFSETS_TOPIC, strlen(SK_GROUP_OFFSETS_TOPIC)) != NULL;
}

static void begin_load(struct sk_group_coordinator *co, int32_t i, const struct sk_partition *p);
static void schedule_load(struct sk_group_coordinator *co);

/* Sized to the topic's partition count; false when out of memory. */
static bool track(struct sk_group_coordinator *co, int32_t n)
{
    if (n <= co->nloads)
        return true;
    struct sk_group_load *l = realloc(co->loads, (size_t)n * sizeof *l);
    if (!l)
        return false;
    memset(l + co->nloads, 0, (size_t)(n - co->nloads) * sizeof *l);
    co->loads = l;
    co->nloads = n;
    return true;
}

static struct sk_partition *offsets_partition(struct sk_group_coordinator *co, int32_t i)
{
    return sk_partition_get(co->broker, kp_str_c(SK_GROUP_OFFSETS_TOPIC), i);
}

/* Leading the partition is what makes this node a group's coordinator
 * (FindCoordinator names the leader): one it hosts here, open. */
static bool leads(struct sk_broker *b, const struct sk_topic_meta *t, int32_t i)
{
    return t->partitions[i].leader == b->node->node_id &&
           sk_partition_get(b, kp_str_c(SK_GROUP_OFFSETS_TOPIC), i) != NULL;
}

struct unload {
    int32_t partition;
    struct sk_group **v;
    size_t n;
};

static void collect(struct sk_group *g, void *arg)
{
    struct unload *u = arg;
    if (g->partition == u->partition)
        u->v[u->n++] = g;
}

/* Kafka's GroupCoordinator.onResignation: a partition no longer led here
 * takes its groups out of memory, their parked joins and syncs answered,
 * so that none is served from what this node knew before: while another
 * node leads the partition, or none does, the group's state may move on
 * without it, and when it leads again it reads the log anew. Commits in
 * flight are failed by the partition's close or are in its log. */
static int unload_partition(struct sk_group_coordinator *co, int32_t i)
{
    struct unload u = {i, calloc(co->ngroups + 1, sizeof *u.v), 0};
    if (!u.v)
        return -ENOMEM;
    sk_group_each(co, collect, &u);
    for (size_t k = 0; k < u.n; k++)
        sk_group_remove(u.v[k]);
    free(u.v);
    co->loads[i].state = SK_GROUP_UNLOADED;
    if (u.n)
        sk_info("group coordinator: %zu groups of %s-%d unloaded: no longer its leader", u.n,
                SK_GROUP_OFFSETS_TOPIC, i);
    return 0;
}

/* Brings the groups in memory in line with the partitions this shard
 * leads: those of a partition led anew start loading from its log, those of
 * one led no more are unloaded. A group's coordinator is the leader of its
 * partition (FindCoordinator), so a partition led here must have its groups
 * in memory before a request for them is answered (until then they get
 * COORDINATOR_LOAD_IN_PROGRESS): a restarted quorum member starts from its
 * snapshot, learns the topic only as it catches up, and would otherwise
 * answer a group's committed offsets as none. Partitions are opened before
 * the image reaches the groups. */
static int sync_led(struct sk_broker *b, struct sk_group_coordinator *co)
{
    const struct sk_topic_meta *t =
        sk_meta_topic(b->image, SK_GROUP_OFFSETS_TOPIC, strlen(SK_GROUP_OFFSETS_TOPIC));
    if (!t)
        return 0;
    if (!track(co, t->npartitions))
        return -ENOMEM;
    co->lim.num_partitions = t->npartitions;
    for (int32_t i = 0; i < t->npartitions; i++) {
        bool led = leads(b, t, i);
        int rc = 0;
        if (co->loads[i].state != SK_GROUP_UNLOADED && !led)
            rc = unload_partition(co, i);
        else if (co->loads[i].state == SK_GROUP_UNLOADED && led)
            begin_load(co, i, offsets_partition(co, i));
        if (rc < 0)
            return rc;
    }
    schedule_load(co);
    return 0;
}

void sk_groups_image_changed(struct sk_broker *b)
{
    struct sk_group_coordinator *co = b->groups;
    if (!co || !topic_exists(b))
        return;
    int rc = sync_led(b, co);
    if (rc < 0) {
        sk_error("cannot load %s: %s", SK_GROUP_OFFSETS_TOPIC, strerror(-rc));
        return;
    }
    co->available = true;
}

bool sk_group_partition_ready(const struct sk_group_coordinator *co, int32_t partition)
{
    return partition < 0 || partition >= co->nloads ||
           co->loads[partition].state != SK_GROUP_LOADING;
}

int16_t sk_group_owner_error(const struct sk_group_coordinator *co, kp_str group_id)
{
    int16_t err = sk_group_coordinator_error(co);
    if (err || !co->broker || group_id.len <= 0)
        return err;
    int32_t p = sk_group_partition_for(group_id, co->lim.num_partitions);
    if (p >= 0 && p < co->nloads && co->loads[p].state == SK_GROUP_LOADED)
        return SK_ERR_NONE;
    if (p >= 0 && p < co->nloads && co->loads[p].state == SK_GROUP_LOADING)
        return SK_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    /* Led here but not open (its log could not be opened): Kafka's
     * coordinator is not available then; led elsewhere or by none, the
     * client must look for the coordinator again. */
    const struct sk_topic_meta *t = sk_meta_topic(co->broker->image, SK_GROUP_OFFSETS_TOPIC,
                                                  strlen(SK_GROUP_OFFSETS_TOPIC));
    if (t && p >= 0 && p < t->npartitions && t->partitions[p].leader == co->broker->node->node_id)
        return SK_ERR_COORDINATOR_NOT_AVAILABLE;
    return SK_ERR_NOT_COORDINATOR;
}

void sk_groups_offsets_topic(const struct sk_broker *b, struct sk_offsets_topic *os)
{
    const struct sk_config *cfg = b->cfg;
    snprintf(os->segment_bytes, sizeof os->segment_bytes, "%d", cfg->offsets.segment_bytes);
    os->names[0] = kp_str_c("cleanup.policy");
    os->values[0] = kp_str_c("compact");
    os->names[1] = kp_str_c("segment.bytes");
    os->values[1] = kp_str_c(os->segment_bytes);
    os->names[2] = kp_str_c("compression.type");
    os->values[2] = kp_str_c("producer");
    int16_t rf = cfg->offsets.replication_factor;
    /* A node that is its own quorum is a cluster of one broker for good, so
     * it gets its offsets topic as a single-node Kafka set up for development
     * (offsets.topic.replication.factor=1) would. In a larger quorum the
     * factor holds, as in Kafka (KIP-115): the creation is refused until that
     * many brokers are registered and groups wait (COORDINATOR_NOT_AVAILABLE),
     * rather than keeping their offsets on fewer replicas forever. */
    if (!sk_config_quorum_on_wire(cfg) && rf > b->image->nbrokers)
        rf = (int16_t)(b->image->nbrokers > 0 ? b->image->nbrokers : 1);
    os->spec = (struct sk_topic_spec){
        .name = kp_str_c(SK_GROUP_OFFSETS_TOPIC),
        .partitions = cfg->offsets.num_partitions,
        .replication_factor = rf,
        .config_names = os->names,
        .config_values = os->values,
        .nconfigs = 3,
    };
}

int sk_groups_ensure_topic(struct sk_broker *b)
{
    struct sk_group_coordinator *co = b->groups;
    if (topic_exists(b)) {
        if (co)
            co->available = true;
        return 0;
    }
    struct sk_offsets_topic os;
    sk_groups_offsets_topic(b, &os);
    char msg[256];
    int16_t err = sk_topic_create(b, &os.spec, false, msg, sizeof msg);
    if (err && err != SK_ERR_TOPIC_ALREADY_EXISTS) {
        sk_warn("cannot create %s: %s %s", SK_GROUP_OFFSETS_TOPIC, sk_err_name(err), msg);
        return -EIO;
    }
    /* Inside a parked request the topic is only submitted: the coordinator
     * becomes available when the image that has it is published here
     * (sk_groups_image_changed), never before it is committed. */
    if (co && topic_exists(b))
        co->available = true;
    return 0;
}

static int load_batches(struct sk_group_coordinator *co, const uint8_t *buf, size_t len,
                        int64_t *next, struct sk_buf *scratch)
{
    while (len >= SK_BATCH_HEADER_SIZE) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf, len, &h) < 0)
            break;
        *next = h.base_offset + h.last_offset_delta + 1;
        struct sk_record_iter it;
        scratch->len = 0;
        if (!(h.attributes & SK_BATCH_CONTROL) &&
            sk_record_iter_init(&it, buf, sk_batch_size(&h), scratch) == 0) {
            struct sk_record r;
            while (sk_record_iter_next(&it, &r) == 1) {
                int rc = sk_group_apply_record(co, r.key, r.key_len, r.value, r.value_len);
                if (rc == -ENOMEM)
                    return rc;
                if (rc < 0)
                    sk_warn("%s: skipping a record at offset %lld that does not parse",
                            SK_GROUP_OFFSETS_TOPIC, (long long)r.offset);
            }
        }
        buf += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
    return 0;
}

/* What one turn of the loader reads at most, over every partition loading
 * (offsets.load.buffer.size, Kafka's read size when loading, capped): the
 * shard answers other requests between turns. */
#define SK_GROUP_LOAD_SLICE_MAX (1u << 20)

static void finish_load(struct sk_group_coordinator *co, int32_t i);

/* An empty log (a topic just created) has nothing to wait for. */
static void begin_load(struct sk_group_coordinator *co, int32_t i, const struct sk_partition *p)
{
    co->loads[i] = (struct sk_group_load){SK_GROUP_LOADING, sk_plog_log_start_offset(p->log)};
    if (co->loads[i].next >= sk_plog_log_end_offset(p->log))
        finish_load(co, i);
}

struct loaded {
    int32_t partition;
    size_t groups;
};

static void start_partition_sessions(struct sk_group *g, void *arg)
{
    struct loaded *l = arg;
    if (g->partition != l->partition)
        return;
    l->groups++;
    /* Members loaded from the log get a fresh session: they either
     * heartbeat this broker in time or expire and trigger a rebalance. */
    for (struct sk_member *m = g->members; m; m = m->next)
        sk_member_schedule_session(m, m->session_timeout_ms);
}

static void finish_load(struct sk_group_coordinator *co, int32_t i)
{
    co->loads[i].state = SK_GROUP_LOADED;
    struct loaded l = {i, 0};
    sk_group_each(co, start_partition_sessions, &l);
    if (l.groups)
        sk_info("group coordinator: %zu groups of %s-%d loaded", l.groups, SK_GROUP_OFFSETS_TOPIC,
                i);
}

/* Reads the next batches of partition i, at most *budget bytes (a batch
 * larger than that alone). 1 once its log end is reached, 0 while more
 * remains, or -errno. */
static int load_slice(struct sk_group_coordinator *co, int32_t i, struct sk_partition *p,
                      size_t *budget, struct sk_buf *buf, struct sk_buf *scratch)
{
    struct sk_group_load *l = &co->loads[i];
    int64_t end = sk_plog_log_end_offset(p->log);
    if (l->next < sk_plog_log_start_offset(p->log))
        l->next = sk_plog_log_start_offset(p->log); /* retention moved past it */
    if (l->next >= end)
        return 1;
    size_t want = *budget;
    for (;;) {
        if (sk_buf_reserve(buf, want) < 0)
            return -ENOMEM;
        size_t len = 0;
        int rc = sk_plog_read_copy(p->log, l->next, (uint32_t)want, INT64_MAX, buf->data, want,
                                   &len);
        if (rc == -ENOBUFS) { /* one batch larger than the slice */
            want *= 2;
            continue;
        }
        if (rc < 0)
            return rc;
        if (len == 0)
            return 1; /* nothing left below the end: compaction removed the tail */
        int64_t next = l->next;
        rc = load_batches(co, buf->data, len, &next, scratch);
        if (rc < 0)
            return rc;
        l->next = next > l->next ? next : end;
        *budget = len < *budget ? *budget - len : 0;
        return l->next >= end;
    }
}

static void load_turn(void *arg)
{
    struct sk_group_coordinator *co = arg;
    co->load_timer = 0;
    size_t budget = co->lim.load_buffer_size > 0 &&
                            (size_t)co->lim.load_buffer_size < SK_GROUP_LOAD_SLICE_MAX
                        ? (size_t)co->lim.load_buffer_size
                        : SK_GROUP_LOAD_SLICE_MAX;
    struct sk_buf buf = {0}, scratch = {.limit = 64u << 20};
    for (int32_t i = 0; i < co->nloads && budget > 0; i++) {
        if (co->loads[i].state != SK_GROUP_LOADING)
            continue;
        struct sk_partition *p = offsets_partition(co, i);
        int rc = p ? load_slice(co, i, p, &budget, &buf, &scratch) : 1;
        if (rc < 0) {
            sk_error("cannot load %s-%d: %s; retried", SK_GROUP_OFFSETS_TOPIC, i, strerror(-rc));
            break;
        }
        if (rc == 1)
            finish_load(co, i);
    }
    sk_buf_free(&buf);
    sk_buf_free(&scratch);
    schedule_load(co);
}

static void schedule_load(struct sk_group_coordinator *co)
{
    if (co->load_timer)
        return;
    for (int32_t i = 0; i < co->nloads; i++) {
        if (co->loads[i].state == SK_GROUP_LOADING) {
            co->load_timer = co->env.timer_add(co->env.ctx, 0, load_turn, co);
            return;
        }
    }
}

static int load_all(struct sk_broker *b, struct sk_group_coordinator *co)
{
    return sync_led(b, co);
}

static void limits(const struct sk_config *cfg, struct sk_group_limits *lim)
{
    lim->initial_rebalance_delay_ms = cfg->group.initial_rebalance_delay_ms;
    lim->min_session_timeout_ms = cfg->group.min_session_timeout_ms;
    lim->max_session_timeout_ms = cfg->group.max_session_timeout_ms;
    lim->max_size = cfg->group.max_size;
    lim->metadata_max_bytes = cfg->offsets.metadata_max_bytes;
    lim->retention_ms = cfg->offsets.retention_ms;
    lim->retention_check_ms = cfg->offsets.retention_check_interval_ms;
    lim->num_partitions = cfg->offsets.num_partitions;
    lim->load_buffer_size = cfg->offsets.load_buffer_size;
}

int sk_groups_open(struct sk_broker *b)
{
    struct sk_group_env env = {b, env_timer_add, env_timer_cancel, env_now, env_append};
    struct sk_group_limits lim;
    limits(b->cfg, &lim);
    struct sk_group_coordinator *co = sk_group_coordinator_new(&env, &lim);
    if (!co)
        return -ENOMEM;
    co->broker = b;
    b->groups = co;
    int rc = load_all(b, co);
    co->available = topic_exists(b);
    if (rc < 0) {
        sk_error("cannot load %s: %s", SK_GROUP_OFFSETS_TOPIC, strerror(-rc));
        return rc;
    }
    sk_group_schedule_expiry(co);
    return 0;
}

void sk_groups_close(struct sk_broker *b)
{
    sk_group_coordinator_free(b->groups);
    b->groups = NULL;
}
