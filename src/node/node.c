/* Shard ownership and the hand-off of work between shards (skein/node.h).
 *
 * A posted task is a small heap cell: it outlives the call and is freed by
 * the trampoline on the target shard, after fn ran. A task for another
 * thread's shard goes through that shard's lock-free inbox (src/net/inbox.c). */
#include <errno.h>
#include <stdlib.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/java_hash.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/fnv.h"

struct node_task {
    struct sk_broker *shard;
    sk_node_task_fn fn;
    void *arg;
};

static void run_task(void *arg)
{
    struct node_task *t = arg;
    t->fn(t->shard, t->arg);
    free(t);
}

int sk_node_post(struct sk_node *n, int shard, sk_node_task_fn fn, void *arg)
{
    if (shard < 0 || shard >= n->nshards)
        return -EINVAL;
    struct sk_broker *to = n->shards[shard];
    if (!to->shard || sk_shard_stopping(to->shard))
        return -ESHUTDOWN;
    struct node_task *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = (struct node_task){to, fn, arg};
    /* Another thread's shard (or none, at start-up) takes it by its inbox;
     * our own runs it after the current batch, as before. */
    int rc = sk_shard_current() == to->shard ? sk_shard_defer(to->shard, run_task, t)
                                             : sk_shard_post(to->shard, run_task, t);
    if (rc < 0)
        free(t);
    return rc;
}

/* FNV-1a: stable across processes and versions, which ownership must be
 * (a restarted node finds each partition where its data was opened). */
static uint32_t name_hash(kp_str s)
{
    return sk_fnv1a32(SK_FNV1A32_INIT, s.ptr, (size_t)s.len);
}

int sk_shard_of_partition(const struct sk_node *n, kp_str topic, int32_t partition)
{
    if (n->nshards <= 1)
        return 0;
    uint64_t start = name_hash(topic);
    return (int)((start + (uint64_t)(partition < 0 ? 0 : partition)) % (uint64_t)n->nshards);
}

int sk_shard_of_group(const struct sk_node *n, kp_str group_id)
{
    if (n->nshards <= 1)
        return 0;
    /* Read-only, so kept apart from the working configuration: a
     * dynamic change rebuilds that on the controller's shard. */
    int32_t np = n->group_partitions ? n->group_partitions : n->cfg->offsets.num_partitions;
    return sk_shard_of_partition(n, kp_str_c("__consumer_offsets"),
                                 sk_group_partition_for(group_id, np > 0 ? np : 1));
}
