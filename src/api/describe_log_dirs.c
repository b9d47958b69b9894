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
#include "skein/plog.h"

typedef kp_describe_log_dirs_response_describe_log_dirs_result ld_result;
typedef kp_describe_log_dirs_response_describe_log_dirs_topic ld_topic;
typedef kp_describe_log_dirs_response_describe_log_dirs_partition ld_partition;

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

static ld_topic *topic_slot(struct sk_request *req, ld_result *r, const char *name, int cap)
{
    for (int32_t i = 0; i < r->topics.n; i++)
        if (kp_str_eq_c(r->topics.v[i].name, name))
            return &r->topics.v[i];
    ld_topic *t = &r->topics.v[r->topics.n++];
    kp_describe_log_dirs_response_describe_log_dirs_topic_init(t);
    t->name = kp_str_c(name);
    t->partitions.v = sk_request_alloc(req, sizeof *t->partitions.v * (size_t)(cap + 1));
    return t;
}

/* As Kafka does, every topic in the directory is listed; only requested
 * partitions carry sizes. */
static void fill_partitions(struct sk_request *req, ld_result *r)
{
    struct sk_broker *b = req->broker;
    r->topics.v = sk_request_alloc(req, sizeof *r->topics.v * (size_t)(b->nparts + 1));
    for (int i = 0; i < b->nparts; i++) {
        const struct sk_partition *p = b->parts[i];
        ld_topic *t = topic_slot(req, r, p->topic, b->nparts);
        if (!requested(req->body, p))
            continue;
        ld_partition *o = &t->partitions.v[t->partitions.n++];
        kp_describe_log_dirs_response_describe_log_dirs_partition_init(o);
        o->partition_index = p->id;
        o->partition_size = p->log ? (int64_t)sk_plog_size_bytes(p->log) : 0;
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

void sk_api_describe_log_dirs(struct sk_request *req)
{
    kp_describe_log_dirs_response *resp = req->resp;
    const struct sk_config *cfg = req->broker->node->cfg;
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
            fill_partitions(req, r);
    }
    sk_request_respond(req);
}
