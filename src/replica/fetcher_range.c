/* A follower whose fetch offset the leader calls out of range (Kafka's
 * AbstractFetcherThread.fetchOffsetAndTruncate): it asks the leader's log
 * end with ListOffsets (as a replica, so the answer is the log end, not the
 * high watermark); a leader that ends before it makes it truncate there;
 * otherwise it asks the leader's log start, and if that is beyond its own
 * end (retention or DeleteRecords removed what it lacks) it starts its log
 * afresh there. Then the fetcher fetches again from the new log end. */
#include <stdlib.h>
#include <string.h>

#include "fetcher_int.h"
#include "gen/kp_all.h"
#include "replica_int.h"
#include "skein/broker.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/meta.h"
#include "skein/node.h"
#include "skein/plog.h"
#include "skein/producer_state.h"

#define LIST_OFFSETS_API_KEY 2
#define LATEST (-1)
#define EARLIEST (-2)

struct sk_range_probe {
    struct sk_broker *b;
    struct sk_kclient *kc;
    struct sk_range_item *items;
    int n;
    int64_t timestamp; /* LATEST, then EARLIEST */
    kp_list_offsets_request req;
    kp_list_offsets_request_list_offsets_topic *topics;
    kp_list_offsets_request_list_offsets_partition *parts;
    void (*done)(void *arg);
    void *arg;
};

/* Still following in the same epoch from the same log end: else stale. */
static struct sk_partition *unchanged(struct sk_broker *b, const struct sk_range_item *it)
{
    struct sk_partition *p = sk_partition_get_by_id(b, &it->topic_id, it->partition);
    if (!p || p->role != SK_REPLICA_FOLLOWER || p->leader_epoch != it->leader_epoch ||
        sk_plog_log_end_offset(p->log) != it->offset)
        return NULL;
    return p;
}

static void probe_free(struct sk_range_probe *pr)
{
    free(pr->items);
    free(pr->topics);
    free(pr->parts);
    free(pr);
}

static void finish(struct sk_range_probe *pr)
{
    void (*done)(void *) = pr->done;
    void *arg = pr->arg;
    probe_free(pr);
    done(arg);
}

static void on_offsets(void *arg, int16_t err, int16_t version, const void *resp);

/* One topic entry per partition, by name (ListOffsets has no topic ids). */
static int ask(struct sk_range_probe *pr)
{
    int k = 0;
    for (int i = 0; i < pr->n; i++) {
        const struct sk_topic_meta *t = sk_meta_topic_by_id(pr->b->image, &pr->items[i].topic_id);
        if (!t || !unchanged(pr->b, &pr->items[i]))
            continue;
        kp_list_offsets_request_list_offsets_partition *lp = &pr->parts[k];
        kp_list_offsets_request_list_offsets_partition_init(lp);
        lp->partition_index = pr->items[i].partition;
        lp->current_leader_epoch = pr->items[i].leader_epoch;
        lp->timestamp = pr->timestamp;
        kp_list_offsets_request_list_offsets_topic_init(&pr->topics[k]);
        pr->topics[k].name = kp_str_c(t->name);
        pr->topics[k].partitions = (kp_list_offsets_request_list_offsets_partition_arr){1, lp};
        pr->items[k++] = pr->items[i];
    }
    pr->n = k;
    if (k == 0)
        return -1;
    kp_list_offsets_request_init(&pr->req);
    pr->req.replica_id = pr->b->node->node_id;
    pr->req.topics = (kp_list_offsets_request_list_offsets_topic_arr){k, pr->topics};
    /* v1+: one offset per partition (v0 answers a list). */
    return sk_kclient_send(pr->kc, LIST_OFFSETS_API_KEY, -1, &pr->req, on_offsets, pr);
}

/* What the leader answered for item i, or -1. */
static int64_t answered(const struct sk_range_probe *pr, const kp_list_offsets_response *r, int i)
{
    const struct sk_topic_meta *t = sk_meta_topic_by_id(pr->b->image, &pr->items[i].topic_id);
    for (int32_t a = 0; t && a < r->topics.n; a++) {
        const kp_str *name = &r->topics.v[a].name;
        if (name->len < 0 || strlen(t->name) != (size_t)name->len ||
            memcmp(t->name, name->ptr, (size_t)name->len) != 0)
            continue;
        for (int32_t j = 0; j < r->topics.v[a].partitions.n; j++) {
            const kp_list_offsets_response_list_offsets_partition_response *lp =
                &r->topics.v[a].partitions.v[j];
            if (lp->partition_index == pr->items[i].partition && lp->error_code == SK_ERR_NONE)
                return lp->offset;
        }
    }
    return -1;
}

/* The leader ends before us: cut back to its end. Returns whether the
 * leader's start must be asked. */
static bool on_latest(struct sk_range_probe *pr, struct sk_range_item *it, int64_t leader_end)
{
    struct sk_partition *p = unchanged(pr->b, it);
    if (!p || leader_end < 0)
        return false;
    if (leader_end < it->offset) {
        (void)sk_partition_truncate(p, leader_end);
        return false;
    }
    return true;
}

static void on_earliest(struct sk_range_probe *pr, struct sk_range_item *it, int64_t leader_start)
{
    struct sk_partition *p = unchanged(pr->b, it);
    if (!p || leader_start <= it->offset)
        return;
    sk_info("%s-%d: the leader starts at %lld, past this replica's end %lld: starting afresh",
            p->topic, p->id, (long long)leader_start, (long long)it->offset);
    (void)sk_partition_truncate_fully(p, leader_start);
}

static void on_offsets(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct sk_range_probe *pr = arg;
    (void)version;
    if (err != SK_ERR_NONE) {
        finish(pr);
        return;
    }
    const kp_list_offsets_response *r = resp;
    int k = 0;
    for (int i = 0; i < pr->n; i++) {
        int64_t off = answered(pr, r, i);
        if (pr->timestamp == LATEST) {
            if (on_latest(pr, &pr->items[i], off))
                pr->items[k++] = pr->items[i];
        } else {
            on_earliest(pr, &pr->items[i], off);
        }
    }
    if (pr->timestamp == LATEST && k > 0) {
        pr->n = k;
        pr->timestamp = EARLIEST;
        if (ask(pr) == 0)
            return;
    }
    finish(pr);
}

int sk_replica_range_probe(struct sk_broker *b, struct sk_kclient *kc,
                           const struct sk_range_item *items, int n, void (*done)(void *arg),
                           void *arg)
{
    struct sk_range_probe *pr = calloc(1, sizeof *pr);
    if (!pr)
        return -1;
    *pr = (struct sk_range_probe){.b = b, .kc = kc, .n = n, .timestamp = LATEST,
                                  .done = done, .arg = arg};
    pr->items = malloc(sizeof *pr->items * (size_t)n);
    pr->topics = calloc((size_t)n, sizeof *pr->topics);
    pr->parts = calloc((size_t)n, sizeof *pr->parts);
    if (!pr->items || !pr->topics || !pr->parts) {
        probe_free(pr);
        return -1;
    }
    memcpy(pr->items, items, sizeof *items * (size_t)n);
    if (ask(pr) < 0) {
        probe_free(pr);
        return -1;
    }
    return 0;
}
