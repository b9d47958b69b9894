/* The shard's syncer: the log layer's fsyncs (checkpoints, producer
 * snapshots, the cleaner's swaps) go to the shard's io_uring like the
 * partitions' data syncs, so none of them blocks the thread that serves
 * requests. The log layer sees only struct sk_syncer, not the reactor. */
#include "skein/fault.h"
#include "skein/net.h"
#include "skein/server.h"
#include "skein/syncer.h"

static int shard_sync(void *ctx, int fd, bool datasync, sk_sync_done_fn done, void *arg)
{
    if (sk_fault_hold_sync(fd))
        return 0; /* "in flight" until the process dies */
    return sk_shard_fsync(ctx, fd, datasync ? 1 : 0, done, arg);
}

struct sk_syncer sk_shard_syncer(struct sk_shard *s)
{
    return (struct sk_syncer){.sync = shard_sync, .ctx = s};
}
