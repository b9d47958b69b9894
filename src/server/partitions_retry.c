/* Opening partition logs again after a failure. A change in the metadata log
 * is durable before the broker acts on it, so when a log cannot be created
 * (the disk is full) the image already holds the partition: it is retried
 * here until it opens, instead of waiting for a restart. */
#include <string.h>

#include "skein/broker.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/server.h"
#include "skein/timer.h"

#define SK_SYNC_RETRY_MS 1000

static void retry(void *arg);

static void schedule(struct sk_broker *b)
{
    /* A stopping node does not retry: shutdown must not wait on opens. */
    if (!b->sync_retry && b->shard && !sk_server_stopping(b))
        b->sync_retry = sk_timer_add(b->shard, SK_SYNC_RETRY_MS, retry, b);
}

static void retry(void *arg)
{
    struct sk_broker *b = arg;
    b->sync_retry = 0;
    if (sk_partitions_sync_ex(b, true) < 0) {
        schedule(b);
        return;
    }
    sk_info("partition logs that could not be opened before are open now");
}

int sk_broker_metadata_changed(struct sk_broker *b)
{
    int net = sk_broker_net_limits_apply(b);
    int rc = sk_partitions_sync(b);
    if (rc < 0)
        schedule(b);
    return rc < 0 ? rc : net;
}

void sk_broker_sync_retry_stop(struct sk_broker *b)
{
    if (b->sync_retry)
        sk_timer_cancel(b->shard, b->sync_retry);
    b->sync_retry = 0;
}
