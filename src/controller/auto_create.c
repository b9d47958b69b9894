/* Auto-creation of the topics one Metadata request names, as one
 * controller operation. Kafka's broker sends every creatable name in a single
 * CreateTopics to the controller, whose record list is bounded
 * (MAX_RECORDS_PER_USER_OP): a request naming 100,000 new topics writes
 * nothing and is refused as a whole with "Unable to perform excessively
 * large batch operation." The bound is checked from the counts alone,
 * before anything is placed or allocated per partition, so the work such a
 * request costs is one pass over its names. Below the bound the topics are
 * placed and submitted in one metadata batch: one fsync and one
 * partition sync, not one per topic. The requester waits for the commit
 * (skein/submit.h), as an admin request does, so a batch whose sync fails
 * is rolled back whole and no client ever saw a topic of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"

struct batch {
    int n;
    int64_t nrec;
    struct sk_placement *pl;
    kp_topic_record *tr;
    kp_partition_record *pr;
    struct sk_meta_rec *recs;
};

static void batch_free(struct batch *bt)
{
    for (int i = 0; bt->pl && i < bt->n; i++)
        sk_placement_free(&bt->pl[i]);
    free(bt->pl);
    free(bt->tr);
    free(bt->pr);
    free(bt->recs);
}

/* Places names[i] and appends its records; errs[i] gets the outcome. */
static void add_topic(struct sk_broker *b, struct batch *bt, kp_str name, int i, int16_t *err,
                      char *msg, size_t msglen)
{
    struct sk_topic_spec spec = {.name = name, .partitions = -1, .replication_factor = -1};
    *err = sk_topic_check_identity(b, &spec, msg, msglen);
    if (*err)
        return;
    int16_t rf = (int16_t)b->node->cfg->log.default_replication_factor;
    *err = sk_place_auto(sk_ctl_working(b), 0, b->node->cfg->log.num_partitions, rf, &bt->pl[i],
                         msg, msglen);
    if (*err)
        return;
    kp_topic_record *tr = &bt->tr[i];
    kp_topic_record_init(tr);
    tr->name = name;
    sk_topic_new_id(&tr->topic_id);
    int64_t at = bt->nrec;
    bt->recs[at] = (struct sk_meta_rec){SK_META_TOPIC, 0, tr};
    sk_placement_records(&bt->pl[i], &tr->topic_id, bt->pr + at, bt->recs + at + 1);
    bt->nrec += 1 + bt->pl[i].count;
}

int16_t sk_topics_auto_create(struct sk_broker *b, const kp_str *names, int n, int16_t *errs,
                              char *msg, size_t msglen, sk_ctl_done_fn done, void *arg)
{
    int64_t per_topic = 1 + (int64_t)b->node->cfg->log.num_partitions;
    if (b->index != 0) { /* the controller's state is shard 0's (src/api/forward.c) */
        snprintf(msg, msglen, "topics are created on the controller's shard");
        for (int i = 0; i < n; i++)
            errs[i] = SK_ERR_NOT_CONTROLLER;
        return SK_ERR_NOT_CONTROLLER;
    }
    if ((int64_t)n * per_topic > SK_MAX_RECORDS_PER_USER_OP) {
        snprintf(msg, msglen, "Unable to perform excessively large batch operation.");
        for (int i = 0; i < n; i++)
            errs[i] = SK_ERR_POLICY_VIOLATION;
        return SK_ERR_POLICY_VIOLATION;
    }
    struct batch bt = {.n = n};
    size_t cap = (size_t)(n * per_topic) + 1;
    bt.pl = calloc((size_t)n + 1, sizeof *bt.pl);
    bt.tr = calloc((size_t)n + 1, sizeof *bt.tr);
    bt.pr = calloc(cap, sizeof *bt.pr);
    bt.recs = calloc(cap, sizeof *bt.recs);
    if (!bt.pl || !bt.tr || !bt.pr || !bt.recs)
        abort(); /* as the image does: a half-built change must never reach the log */
    char why[256];
    for (int i = 0; i < n; i++)
        add_topic(b, &bt, names[i], i, &errs[i], why, sizeof why);
    /* The node's partition budget holds for auto-creation as for CreateTopics. */
    int16_t err = sk_ctl_admit_placements(b, bt.pl, n, msg, msglen);
    for (int i = 0; err && i < n; i++)
        if (errs[i] == SK_ERR_NONE)
            errs[i] = err;
    /* Never a commit on the calling thread: the requester parks on done. */
    if (!err)
        sk_ctl_submit(b, bt.recs, (int)bt.nrec, done, arg);
    batch_free(&bt);
    return err;
}
