/* How the log layer makes a file durable without knowing who does it: the
 * shard gives it a syncer that submits the fsync to its io_uring and calls back
 * on the completion (src/server/shard_syncer.c); start-up, shutdown, tools and
 * unit tests use the blocking one, which calls back before returning. Code that
 * writes through a syncer is the same either way, so one mechanism serves the
 * shard path and the paths where blocking is harmless. */
#ifndef SK_SYNCER_H
#define SK_SYNCER_H

#include <stdbool.h>

/* res is 0 or -errno. */
typedef void (*sk_sync_done_fn)(void *arg, int res);

struct sk_syncer {
    /* fsync (datasync: fdatasync) of fd. 0: submitted, done runs exactly
     * once, perhaps before sync returns; -errno: not submitted, done never
     * runs. fd must stay open until done. */
    int (*sync)(void *ctx, int fd, bool datasync, sk_sync_done_fn done, void *arg);
    void *ctx;
};

extern const struct sk_syncer sk_syncer_blocking;

/* s itself, or the blocking syncer when s is NULL or has no sync function
 * (a shard context built without a reactor, as the unit tests build them). */
const struct sk_syncer *sk_syncer_or_blocking(const struct sk_syncer *s);

#endif
