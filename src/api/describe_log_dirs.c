/* DescribeLogDirs (key 35), v0-v4: the data directory and the size of each
 * partition log in it. Skein keeps partitions in the first of log.dirs. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/partition.h"
#include "skein/net.h"
#include "skein/plog.h"
#include "split.h"

typedef kp_describe_log_dirs_response_describe_log_dirs_result ld_result;
typedef kp_describe_log_dirs_response_describe_log_dirs_topic ld_topic;
typedef kp_describe_log_dirs_response_describe_log_dirs_partition ld_partition;

/* A partition of the log dir as its owner shard sees it. */
struct ld_part {
    const char *topic; /* in the owner's split arena */
    int32_t id;
    int64_t size;
    bool requested;
};

/* One shard's partitions, listed on its thread. */
struct ld_shard {
    int n;
    struct ld_part *v;
};

static bool requested(const kp_describe_log_dirs_request *body, const struct sk_partition *p)
{
    if (body->topics.n < 0)
        return true; /* null: every partition */
    for (int32_t i = 0; i < body->topics.n; i++) {
        if (!kp_str_eq_c(body->topics.v[i].topic, p->topic))
            continue;
        for (int32_t k = 0; k < body->topics.v[i].partitions.n; k++)
            if (body->topics.v[i].partitions.v[k] == p->id)
                return true;
    }
    return false;
}

static void list_shard(struct sk_broker *b, kp_arena *a, const kp_describe_log_dirs_request *body,
                       struct ld_shard *out)
{
    out->v = kp_arena_calloc(a, (size_t)b->nparts + 1, sizeof *out->v);
    for (int i = 0; out->v && i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        size_t len = strlen(p->topic) + 1;
        char *name = kp_arena_alloc(a, len);
        if (!name)
            return;
        memcpy(name, p->topic, len);
        out->v[out->n++] = (struct ld_part){name, p->id,
                                            p->log ? (int64_t)sk_plog_size_bytes(p->log) : 0,
                                            requested(body, p)};
    }
}

static ld_topic *topic_slot(struct sk_request *req, ld_result *r, const char *name, int cap)
{
    for (int32_t i = 0; i < r->topics.n; i++)
        if (kp_str_eq_c(r->topics.v[i].name, name))
            return &r->topics.v[i];
    ld_topic *t = &r->topics.v[r->topics.n++];
    kp_describe_log_dirs_response_describe_log_dirs_topic_init(t);
    t->name = sk_request_strdup(req, name);
    t->partitions.v = sk_request_alloc(req, sizeof *t->partitions.v * (size_t)(cap + 1));
    return t;
}

/* As Kafka does, every topic in the directory is listed; only requested
 * partitions carry sizes. The partitions are those of every shard. */
static void fill_partitions(struct sk_request *req, ld_result *r, const struct ld_shard *shards,
                            int nshards)
{
    int total = 0;
    for (int s = 0; s < nshards; s++)
        total += shards[s].n;
    r->topics.v = sk_request_alloc(req, sizeof *r->topics.v * (size_t)(total + 1));
    for (int s = 0; s < nshards; s++)
        for (int i = 0; i < shards[s].n; i++) {
            const struct ld_part *p = &shards[s].v[i];
            ld_topic *t = topic_slot(req, r, p->topic, total);
            if (!p->requested)
                continue;
            ld_partition *o = &t->partitions.v[t->partitions.n++];
            kp_describe_log_dirs_response_describe_log_dirs_partition_init(o);
            o->partition_index = p->id;
            o->partition_size = p->size;
            o->offset_lag = 0;
            o->is_future_key = false;
        }
}

static void fill_space(ld_result *r, const char *dir)
{
    struct statvfs st;
    if (statvfs(dir, &st) != 0) {
        r->error_code = SK_ERR_KAFKA_STORAGE_ERROR;
        return;
    }
    r->total_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
    r->usable_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
}

static void answer(struct sk_request *req, const struct ld_shard *shards, int nshards)
{
    kp_describe_log_dirs_response *resp = req->resp;
    const struct sk_config *cfg = req->broker->cfg;
    resp->error_code = SK_ERR_NONE;
    resp->results.n = (int32_t)cfg->n_log_dirs;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (cfg->n_log_dirs + 1));
    for (size_t i = 0; i < cfg->n_log_dirs; i++) {
        ld_result *r = &resp->results.v[i];
        kp_describe_log_dirs_response_describe_log_dirs_result_init(r);
        char abs[PATH_MAX];
        const char *dir = realpath(cfg->log_dirs[i], abs) ? abs : cfg->log_dirs[i];
        r->log_dir = sk_request_strdup(req, dir);
        fill_space(r, dir);
        if (i == 0 && r->error_code == SK_ERR_NONE)
            fill_partitions(req, r, shards, nshards);
    }
    sk_request_respond(req);
}

/* ---- every shard's partitions (split.h) ------------------------------------ */

static int ld_owner(void *ctx, int i)
{
    (void)ctx;
    return i;
}

static void ld_run(void *ctx, struct sk_split_item *it)
{
    struct sk_request *req = ctx;
    list_shard(it->owner, it->arena, req->body, it->out);
    sk_split_item_done(it);
}

/* A shard that could not answer (stopping) lists nothing. */
static void ld_done(void *ctx, struct sk_split *sp)
{
    struct sk_request *req = ctx;
    int n = req->broker->node->nshards;
    struct ld_shard *shards = sk_request_alloc(req, sizeof *shards * (size_t)n);
    for (int s = 0; s < n; s++)
        shards[s] = sk_split_item_error(sp, s) == SK_ERR_NONE
                        ? *(struct ld_shard *)sk_split_out(sp, s)
                        : (struct ld_shard){0, NULL};
    answer(req, shards, n);
    sk_split_release(sp);
}

static const struct sk_split_ops ld_ops = {
    .out_size = sizeof(struct ld_shard), .run = ld_run, .done = ld_done};

void sk_api_describe_log_dirs(struct sk_request *req)
{
    int n = req->broker->node->nshards;
    if (n <= 1) {
        struct ld_shard mine = {0};
        list_shard(req->broker, &req->arena, req->body, &mine);
        answer(req, &mine, 1);
        return;
    }
    struct sk_split *sp = sk_split_new(req->broker, n, ld_owner, &ld_ops, req);
    if (!sp) {
        sk_conn_close(req->conn);
        sk_request_drop(req);
        return;
    }
    sk_split_start(sp);
}
