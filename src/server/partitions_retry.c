/* Opening partition logs again after a failure. A change in the metadata log
 * is durable before the broker acts on it, so when a log cannot be created
 * (the disk is full) the image already holds the partition: it is retried
 * here until it opens, instead of waiting for a restart. */
#include <errno.h>
#include <string.h>

#include "skein/broker.h"
#include "skein/group.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/server.h"
#include "skein/timer.h"

#define SK_SYNC_RETRY_MS 1000

static void retry(void *arg);

/* Partitions left for later turns (-EAGAIN: the turn's time for opens ran
 * out, lifecycle.c) go on at the next turn; logs that failed, a second on. */
static void schedule(struct sk_broker *b)
{
    /* A stopping node does not retry: shutdown must not wait on opens. */
    if (!b->shard || sk_server_stopping(b))
        return;
    /* 1 ms, not 0: a timer due now would run again in this same turn. */
    uint64_t ms = b->open_deferred ? 1 : SK_SYNC_RETRY_MS;
    if (b->sync_retry && ms == 1)
        sk_broker_sync_retry_stop(b);
    if (!b->sync_retry)
        b->sync_retry = sk_timer_add(b->shard, ms, retry, b);
}

static void retry(void *arg)
{
    struct sk_broker *b = arg;
    b->sync_retry = 0;
    bool had_failed = b->offline_failed > 0;
    int rc = sk_partitions_sync_ex(b, b->open_deferred ? SK_SYNC_OPEN_MISSING : SK_SYNC_QUIET);
    /* A __consumer_offsets partition led here loads once its log is open. */
    sk_groups_image_changed(b);
    if (rc < 0) {
        schedule(b);
        return;
    }
    if (had_failed)
        sk_info("partition logs that could not be opened before are open now");
}

/* The client that made the change hears only of logs that failed: the ones
 * left for later turns open shortly, as a new leader becomes ready. */
static int settle(struct sk_broker *b, int rc)
{
    if (rc < 0)
        schedule(b);
    return rc == -EAGAIN ? 0 : rc;
}

int sk_broker_metadata_changed(struct sk_broker *b)
{
    int net = sk_broker_net_limits_apply(b);
    int rc = settle(b, sk_partitions_sync(b));
    return rc < 0 ? rc : net;
}

struct delta {
    struct sk_broker *b;
    int rc;
};

static void topic_changed(void *arg, const struct sk_topic_meta *was,
                          const struct sk_topic_meta *now)
{
    struct delta *d = arg;
    int rc = sk_replicas_topic_changed(d->b, was, now);
    if (rc < 0 && (d->rc == 0 || d->rc == -EAGAIN))
        d->rc = rc;
}

/* Only what differs from the image this shard applied last: images share the
 * topics a change left alone, so the diff skips them by pointer and a change
 * costs the partitions of the topics it touched, whatever the node hosts. */
int sk_broker_image_changed(struct sk_broker *b, const struct sk_meta_image *old)
{
    /* No image applied before (start-up: the node's own, or none), or the
     * same one again: nothing to diff against, so the whole image. */
    if (!old || old == &b->node->image || old == b->image)
        return sk_broker_metadata_changed(b);
    int net = sk_broker_net_limits_apply(b);
    /* Every partition's config derives from the broker defaults: a dynamic
     * broker config reaches each hosted partition, so that one walks them. */
    if (old->configs_version != b->image->configs_version)
        (void)sk_replicas_broker_config_changed(b);
    struct delta d = {b, 0};
    sk_replicas_change_begin(b);
    sk_meta_topics_diff(old, b->image, topic_changed, &d);
    sk_replicas_change_end(b);
    int rc = settle(b, d.rc);
    return rc < 0 ? rc : net;
}

void sk_broker_sync_retry_stop(struct sk_broker *b)
{
    if (b->sync_retry)
        sk_timer_cancel(b->shard, b->sync_retry);
    b->sync_retry = 0;
}
