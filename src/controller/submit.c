/* The asynchronous commit (skein/submit.h): batches in flight, committed in
 * order as their syncs complete or, through a Raft quorum, as its high
 * watermark passes them; all failed and rolled back when one sync fails or
 * the leadership is lost. */
#include "skein/submit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "skein/admission.h"
#include "skein/broker_sessions.h"
#include "skein/buf.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/meta_snapshot.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/node.h"
#include "skein/publisher.h"
#include "skein/raft.h"
#include "skein/record.h"

struct ctl_batch {
    struct ctl_batch *next;
    struct sk_ctl_queue *q;
    int submitter; /* shard whose done this is */
    sk_ctl_done_fn done;
    void *arg;
    struct sk_meta_image *img; /* the working state right after this batch; NULL:
                                  an empty batch, which only waits its turn */
    int64_t end;               /* log offset after the batch */
    bool synced, syncing, failed;
};

struct sk_ctl_queue {
    struct sk_broker *ctl;
    struct ctl_batch *head, *tail;
    struct sk_meta_image *committed; /* the image to roll back to */
    int64_t committed_end;           /* and where its log ends */
    int n;
    /* Through a quorum: active once this node, leader in epoch, has applied
     * everything up to claim_at (the end of its LeaderChange). */
    bool has_quorum, active;
    bool log_failed; /* a flush failed: no claim until a restart */
    struct sk_ctl_quorum quorum;
    int32_t epoch;
    int64_t claim_at;
    /* A member of a larger quorum publishes nothing from its log until it
     * has applied up to the high watermark the leader tells it, as Kafka's
     * MetadataLoader waits: a restarted node's log ends where it stopped,
     * and an image of that would have it lead partitions that moved while
     * it was down. unpublished: the image has changes no shard has seen. */
    bool catching_up, unpublished;
};

/* Kafka's message for NOT_CONTROLLER. */
static const char not_controller[] = "This is not the correct controller for this cluster.";

/* A done for another shard: runs there, after the image posted before it. */
struct remote_done {
    sk_ctl_done_fn done;
    void *arg;
    int16_t err;
    bool has_msg;
    char msg[256];
};

static void remote_done_task(struct sk_broker *b, void *arg)
{
    (void)b;
    struct remote_done *r = arg;
    r->done(r->arg, r->err, r->has_msg ? r->msg : NULL);
    free(r);
}

static void deliver(struct sk_ctl_queue *q, const struct ctl_batch *bt, int16_t err,
                    const char *msg)
{
    struct remote_done *r = NULL;
    if (bt->submitter != q->ctl->index && (r = malloc(sizeof *r))) {
        *r = (struct remote_done){bt->done, bt->arg, err, msg != NULL, ""};
        if (msg)
            snprintf(r->msg, sizeof r->msg, "%s", msg);
        if (sk_node_post(q->ctl->node, bt->submitter, remote_done_task, r) == 0)
            return;
        free(r);
    }
    /* A shard that takes no tasks (stopping) has no client left to answer;
     * done still runs, so its owner can free what it parked. */
    bt->done(bt->arg, err, msg);
}

static struct sk_ctl_queue *queue_of(struct sk_broker *b)
{
    struct sk_node *n = b->node;
    if (!n->ctlq) {
        n->ctlq = calloc(1, sizeof *n->ctlq);
        if (!n->ctlq)
            abort();
    }
    n->ctlq->ctl = b;
    return n->ctlq;
}

static void batch_free(struct ctl_batch *bt)
{
    if (bt->img)
        sk_meta_image_release(bt->img);
    free(bt);
}

static struct ctl_batch *pop(struct sk_ctl_queue *q)
{
    struct ctl_batch *bt = q->head;
    q->head = bt->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return bt;
}

/* A batch's sync still running owns it until its completion, which frees it. */
static void retire(struct ctl_batch *bt)
{
    bt->failed = true;
    if (!bt->syncing)
        batch_free(bt);
}

/* Every batch in flight fails: none may commit after one before it did not,
 * since each was checked against a working state that included it. */
static void fail_batches(struct sk_ctl_queue *q, int16_t code, const char *msg)
{
    if (q->head)
        sk_meta_image_reset_to(&q->ctl->node->image, q->committed);
    while (q->head) {
        struct ctl_batch *bt = pop(q);
        deliver(q, bt, code, msg);
        retire(bt);
    }
}

static void fail_all(struct sk_ctl_queue *q, int err, bool sync_failed)
{
    struct sk_node *n = q->ctl->node;
    char msg[256];
    snprintf(msg, sizeof msg, "The metadata log could not be written: %s", strerror(-err));
    if (q->head) {
        int rc = sk_metalog_discard(n->metalog, q->committed_end, err, sync_failed);
        if (rc < 0)
            sk_warn("metadata log: cannot cut off the failed changes from offset %lld: %s",
                    (long long)q->committed_end, strerror(-rc));
    }
    fail_batches(q, SK_ERR_KAFKA_STORAGE_ERROR, msg);
}

/* The commit: the batch is durable, or the quorum committed it; its image
 * becomes the committed one and is published. */
static void commit(struct sk_ctl_queue *q, struct ctl_batch *bt)
{
    struct sk_node *n = q->ctl->node;
    sk_meta_image_release(q->committed);
    q->committed = sk_meta_image_ref(bt->img);
    q->committed_end = bt->end;
    q->catching_up = q->unpublished = false; /* only the leader commits its own */
    sk_metalog_committed(n->metalog, bt->img, bt->end, sk_ctl_now_ms());
    int rc = sk_publish_image(q->ctl, sk_meta_image_ref(bt->img));
    if (rc < 0 && bt->submitter == q->ctl->index) {
        char msg[256];
        snprintf(msg, sizeof msg, "The change was recorded but could not be applied: %s",
                 strerror(-rc));
        deliver(q, bt, SK_ERR_KAFKA_STORAGE_ERROR, msg);
        return;
    }
    deliver(q, bt, SK_ERR_NONE, NULL);
}

static void commit_ready(struct sk_ctl_queue *q)
{
    while (q->head && q->head->synced) {
        struct ctl_batch *bt = pop(q);
        if (bt->img)
            commit(q, bt);
        else
            deliver(q, bt, SK_ERR_NONE, NULL);
        batch_free(bt);
    }
}

static void synced(void *arg, int res)
{
    struct ctl_batch *bt = arg;
    bt->syncing = false;
    if (bt->failed) {
        batch_free(bt);
        return;
    }
    if (res < 0) {
        fail_all(bt->q, res, true);
        return;
    }
    bt->synced = true;
    commit_ready(bt->q);
}

/* Whether the batch applies to the working state: one that does not must
 * never be written, since the log could not be replayed past it. Handlers
 * check against the working state, so this refuses only a race the checks
 * missed. */
static bool applies(const struct sk_meta_image *working, const struct sk_meta_rec *recs, int n)
{
    struct sk_meta_image *probe = sk_meta_image_clone(working);
    bool ok = true;
    for (int i = 0; i < n && ok; i++)
        ok = sk_meta_apply(probe, recs[i].type, recs[i].rec) == 0;
    sk_meta_image_release(probe);
    return ok;
}

/* The batch goes to the quorum's leader, which appends and flushes it; it
 * applies to the working state as sk_metalog_write would apply it. */
static int16_t quorum_write(struct sk_ctl_queue *q, const struct sk_meta_rec *recs, int n,
                            int64_t *end, char *msg, size_t msglen)
{
    struct sk_node *node = q->ctl->node;
    struct sk_buf batch = {0};
    int64_t offset = 0;
    int rc = sk_metalog_encode(recs, n, 0, sk_ctl_now_ms(), &batch);
    int16_t err = SK_ERR_NONE;
    if (rc == -EMSGSIZE)
        err = sk_admit_records(SK_MAX_RECORDS_PER_USER_OP + 1, msg, msglen);
    else if (rc < 0)
        err = SK_ERR_KAFKA_STORAGE_ERROR;
    if (!err)
        err = (int16_t)q->quorum.append(q->quorum.ctx, batch.data, batch.len, n, &offset);
    if (err == SK_ERR_NOT_LEADER_OR_FOLLOWER)
        err = SK_ERR_NOT_CONTROLLER;
    /* The image records the offset of what it applied, which names its
     * snapshots: the batch is applied as the log holds it. */
    if (!err)
        sk_batch_set_base_offset(batch.data, offset);
    if (!err && sk_meta_apply_batches(&node->image, batch.data, batch.len, false) < 0)
        err = SK_ERR_KAFKA_STORAGE_ERROR; /* applies() said it would: the image is broken */
    if (err && !msg[0])
        snprintf(msg, msglen, "%s", err == SK_ERR_NOT_CONTROLLER ? not_controller
                 : "The metadata log could not be written.");
    *end = offset + n;
    sk_buf_free(&batch);
    return err;
}

/* Appends and applies the batch; a Kafka error with msg set if it could not. */
static int16_t append(struct sk_ctl_queue *q, struct ctl_batch *bt, const struct sk_meta_rec *recs,
                      int n, char *msg, size_t msglen)
{
    struct sk_node *node = q->ctl->node;
    int16_t err = sk_admit_records(n, msg, msglen);
    if (err)
        return err;
    if (q->log_failed) { /* as the log itself refuses writes after a failed sync */
        snprintf(msg, msglen, "The metadata log could not be written: a sync failed.");
        return SK_ERR_KAFKA_STORAGE_ERROR;
    }
    if (q->has_quorum && !q->active) {
        snprintf(msg, msglen, "%s", not_controller);
        return SK_ERR_NOT_CONTROLLER;
    }
    if (!q->head && !q->has_quorum) {
        /* Nothing in flight: the working state is the committed image. */
        sk_meta_image_release(q->committed);
        q->committed = sk_meta_image_clone(&node->image);
        q->committed_end = sk_metalog_end_offset(node->metalog);
    }
    if (!applies(&node->image, recs, n)) {
        snprintf(msg, msglen, "The change contradicts the cluster metadata.");
        return SK_ERR_INVALID_REQUEST;
    }
    if (q->has_quorum) {
        err = quorum_write(q, recs, n, &bt->end, msg, msglen);
        if (!err)
            bt->img = sk_meta_image_clone(&node->image);
        return err;
    }
    int rc = sk_metalog_write(node->metalog, &node->image, recs, n, sk_ctl_now_ms(), &bt->end);
    if (rc == -EMSGSIZE)
        return sk_admit_records(SK_MAX_RECORDS_PER_USER_OP + 1, msg, msglen);
    if (rc < 0) {
        snprintf(msg, msglen, "The metadata log could not be written: %s", strerror(-rc));
        return SK_ERR_KAFKA_STORAGE_ERROR;
    }
    bt->img = sk_meta_image_clone(&node->image);
    return SK_ERR_NONE;
}

static void submit_here(struct sk_broker *b, const struct sk_syncer *syncer, int submitter,
                        const struct sk_meta_rec *recs, int n, sk_ctl_done_fn done, void *arg)
{
    struct sk_ctl_queue *q = queue_of(b);
    struct ctl_batch *bt = calloc(1, sizeof *bt);
    if (!bt)
        abort();
    *bt = (struct ctl_batch){.q = q, .submitter = submitter, .done = done, .arg = arg};
    char msg[256] = "";
    int16_t err = n == 0 ? SK_ERR_NONE : append(q, bt, recs, n, msg, sizeof msg);
    if (err || (n == 0 && !q->head)) {
        deliver(q, bt, err, err ? msg : NULL);
        batch_free(bt);
        return;
    }
    if (q->tail)
        q->tail->next = bt;
    else
        q->head = bt;
    q->tail = bt;
    q->n++;
    if (n == 0) { /* nothing to write: it commits when the batches before it do */
        bt->synced = true;
        return;
    }
    if (q->has_quorum)
        return; /* it commits when the high watermark passes it */
    bt->syncing = true;
    int rc = sk_metalog_sync(b->node->metalog, syncer, synced, bt);
    if (rc < 0) {
        bt->syncing = false;
        /* Nothing reached the disk's error path: the batches are cut off,
         * but the log stays writable. */
        fail_all(q, rc, false);
    }
}

void sk_ctl_submit(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                   sk_ctl_done_fn done, void *arg)
{
    if (b->index != 0 && sk_ctl_post_submit(b, recs, n, done, arg) == 0)
        return;
    if (b->index != 0) {
        done(arg, SK_ERR_KAFKA_STORAGE_ERROR, "The controller cannot be reached");
        return;
    }
    submit_here(b, &b->syncer, b->index, recs, n, done, arg);
}

void sk_ctl_submit_via(struct sk_broker *b, const struct sk_syncer *syncer,
                       const struct sk_meta_rec *recs, int n, sk_ctl_done_fn done, void *arg)
{
    submit_here(b, syncer, b->index, recs, n, done, arg);
}

void sk_ctl_submit_on_controller(struct sk_broker *ctl, int submitter,
                                 const struct sk_meta_rec *recs, int n, sk_ctl_done_fn done,
                                 void *arg)
{
    submit_here(ctl, &ctl->syncer, submitter, recs, n, done, arg);
}

const struct sk_meta_image *sk_controller_image(struct sk_broker *b)
{
    return sk_ctl_working(b);
}

int16_t sk_ctl_check_active(struct sk_broker *b, char *msg, size_t msglen)
{
    struct sk_ctl_queue *q = b->node->ctlq;
    if (!q || !q->has_quorum || q->active)
        return SK_ERR_NONE;
    snprintf(msg, msglen, "%s", not_controller);
    return SK_ERR_NOT_CONTROLLER;
}

bool sk_ctl_quorum_active(const struct sk_node *n)
{
    return n->ctlq && n->ctlq->has_quorum && n->ctlq->active;
}

bool sk_ctl_decides(const struct sk_node *n)
{
    return !n->ctlq || !n->ctlq->has_quorum || n->ctlq->active;
}

int32_t sk_ctl_quorum_leader(const struct sk_node *n)
{
    return atomic_load(&((struct sk_node *)n)->quorum_leader_1) - 1;
}

int sk_ctl_in_flight(const struct sk_node *n)
{
    return n->ctlq ? n->ctlq->n : 0;
}

void sk_ctl_submit_abandon(struct sk_node *n)
{
    if (n->ctlq && n->ctlq->head)
        fail_batches(n->ctlq, SK_ERR_NOT_CONTROLLER, not_controller);
}

void sk_ctl_submit_close(struct sk_node *n)
{
    if (!n->ctlq)
        return;
    /* The reactor is gone: no sync completes any more, so no done runs. */
    while (n->ctlq->head)
        batch_free(pop(n->ctlq));
    sk_meta_image_release(n->ctlq->committed);
    free(n->ctlq);
    n->ctlq = NULL;
}

void sk_ctl_set_quorum(struct sk_broker *ctl, const struct sk_ctl_quorum *quorum,
                       int64_t applied_end, bool published)
{
    struct sk_ctl_queue *q = queue_of(ctl);
    q->has_quorum = true;
    q->active = false;
    q->quorum = *quorum;
    q->epoch = -1;
    sk_meta_image_release(q->committed);
    q->committed = sk_meta_image_clone(&ctl->node->image);
    q->committed_end = applied_end;
    q->catching_up = true;
    q->unpublished = !published;
}

/* A snapshot the quorum installed replaced the log below its end: the
 * image is rebuilt from it as at start-up, and the log above it applies
 * on top. *loaded says whether that happened. */
static int load_installed(struct sk_ctl_queue *q, bool *loaded)
{
    struct sk_node *n = q->ctl->node;
    struct sk_plog *p = sk_metalog_plog(n->metalog);
    int64_t start = sk_plog_log_start_offset(p);
    *loaded = false;
    if (q->committed_end >= start)
        return 0;
    struct sk_meta_image fresh;
    sk_meta_image_init(&fresh);
    int rc = sk_meta_snapshot_load(sk_plog_dir(p), start, &fresh);
    if (rc == 0) {
        sk_meta_image_reset_to(&n->image, &fresh);
        q->committed_end = start;
        *loaded = true;
        sk_info("metadata: loaded the snapshot at offset %lld taken from the leader",
                (long long)start);
    }
    sk_meta_image_free(&fresh);
    return rc;
}

static bool still_catching_up(struct sk_ctl_queue *q, int64_t applied_end)
{
    if (!q->catching_up)
        return false;
    int64_t target = sk_raft_leader_high_watermark(q->quorum.raft(q->quorum.ctx));
    if (target < 0 || applied_end < target)
        return true;
    q->catching_up = false;
    sk_info("metadata: caught up with the quorum at offset %lld; publishing",
            (long long)applied_end);
    return false;
}

static void publish_committed(struct sk_ctl_queue *q)
{
    q->unpublished = false;
    int rc = sk_publish_image(q->ctl, sk_meta_image_ref(q->committed));
    if (rc < 0)
        sk_warn("cannot publish the metadata image at offset %lld: %s",
                (long long)q->committed_end, strerror(-rc));
}

/* Batches other leaders wrote, or that this one wrote before a restart,
 * come from the log once committed; the image is published as each
 * commit's is. A committed batch that does not apply leaves the image as
 * it was, and the node stays behind: said loudly, since its metadata is
 * then stale. */
static void replay_committed(struct sk_ctl_queue *q, int64_t hw)
{
    struct sk_node *n = q->ctl->node;
    if (hw <= q->committed_end) {
        if (q->unpublished && !still_catching_up(q, q->committed_end))
            publish_committed(q);
        return;
    }
    bool loaded;
    int rc = load_installed(q, &loaded);
    if (rc < 0) {
        sk_warn("metadata log: the snapshot at its start does not load: %s", strerror(-rc));
        return;
    }
    int64_t next = q->committed_end, before = n->image.last_offset;
    rc = sk_metalog_apply_range(n->metalog, &n->image, q->committed_end, hw, &next);
    if (rc < 0) {
        sk_warn("metadata log: a committed batch from offset %lld does not apply: %s",
                (long long)q->committed_end, strerror(-rc));
        sk_meta_image_reset_to(&n->image, q->committed);
        return;
    }
    if (next <= q->committed_end && !loaded && !q->unpublished)
        return;
    bool changed = n->image.last_offset != before || loaded;
    if (next > q->committed_end)
        q->committed_end = next;
    if (changed) {
        struct sk_meta_image *img = sk_meta_image_clone(&n->image);
        sk_meta_image_release(q->committed);
        q->committed = img;
        sk_metalog_committed(n->metalog, img, next, sk_ctl_now_ms());
        q->unpublished = true;
    }
    if (q->unpublished && !still_catching_up(q, next))
        publish_committed(q);
}

static void commit_upto(struct sk_ctl_queue *q, int64_t hw)
{
    for (struct ctl_batch *bt = q->head; bt; bt = bt->next)
        if (bt->img && bt->end <= hw)
            bt->synced = true;
    commit_ready(q);
}

void sk_ctl_quorum_changed(struct sk_broker *ctl)
{
    struct sk_ctl_queue *q = queue_of(ctl);
    if (!q->has_quorum)
        return;
    const struct sk_raft *r = q->quorum.raft(q->quorum.ctx);
    bool leader = sk_raft_role(r) == SK_RAFT_LEADER;
    int32_t epoch = sk_raft_epoch(r);
    /* Every shard's Metadata names the active controller (skein/submit.h). */
    atomic_store(&ctl->node->quorum_leader_1, sk_raft_leader(r) + 1);
    if (q->active && (!leader || epoch != q->epoch)) {
        q->active = false;
        fail_batches(q, SK_ERR_NOT_CONTROLLER, not_controller);
    }
    if (leader && epoch != q->epoch) {
        /* The core appended its LeaderChange before telling us. */
        q->epoch = epoch;
        q->claim_at = sk_metalog_end_offset(ctl->node->metalog);
    }
    int64_t hw = sk_raft_high_watermark(r);
    if (q->head)
        commit_upto(q, hw);
    else
        replay_committed(q, hw);
    if (leader && !q->active && !q->log_failed && q->epoch == epoch &&
        q->committed_end >= q->claim_at)
        q->active = true;
    sk_brokers_quorum_changed(ctl);
}

void sk_ctl_quorum_failed(struct sk_broker *ctl, int err)
{
    struct sk_ctl_queue *q = queue_of(ctl);
    q->active = false;
    q->log_failed = true;
    fail_all(q, err, true);
}
