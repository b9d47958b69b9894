/* The blocking syncer: fsync on the calling thread, for start-up, shutdown,
 * tools and tests. The fault harness fails these through its LD_PRELOAD shim
 * (libc calls), not through sk_fault_sync, which is for io_uring syncs. */
#include <errno.h>
#include <unistd.h>

#include "skein/syncer.h"

static int blocking_sync(void *ctx, int fd, bool datasync, sk_sync_done_fn done, void *arg)
{
    (void)ctx;
    done(arg, (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0);
    return 0;
}

const struct sk_syncer sk_syncer_blocking = {.sync = blocking_sync, .ctx = NULL};

const struct sk_syncer *sk_syncer_or_blocking(const struct sk_syncer *s)
{
    return s && s->sync ? s : &sk_syncer_blocking;
}
