/* A syncer for tests that holds every sync until the test completes it, with
 * the result the test chooses: what the shard's io_uring does, with the test
 * as the kernel. Records whether each fd was a directory, to check order. */
#ifndef SK_TEST_DEFERRED_SYNCER_H
#define SK_TEST_DEFERRED_SYNCER_H

#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "skein/syncer.h"

#define DS_MAX 64

struct ds_req {
    int fd;
    bool datasync, is_dir;
    sk_sync_done_fn done;
    void *arg;
};

struct deferred_syncer {
    struct ds_req q[DS_MAX];
    int n;        /* requested so far */
    int done;     /* completed so far (a prefix of q) */
    int refuse;   /* when nonzero, sync() returns it without submitting */
    struct sk_syncer syncer;
};

static inline int ds_sync(void *ctx, int fd, bool datasync, sk_sync_done_fn done, void *arg)
{
    struct deferred_syncer *d = ctx;
    struct stat st;
    if (d->refuse)
        return d->refuse;
    if (d->n == DS_MAX)
        return -ENOSPC;
    d->q[d->n++] = (struct ds_req){fd, datasync, fstat(fd, &st) == 0 && S_ISDIR(st.st_mode),
                                   done, arg};
    return 0;
}

static inline void ds_init(struct deferred_syncer *d)
{
    *d = (struct deferred_syncer){0};
    d->syncer = (struct sk_syncer){.sync = ds_sync, .ctx = d};
}

static inline int ds_pending(const struct deferred_syncer *d)
{
    return d->n - d->done;
}

/* Completes the oldest pending sync with res (0 or -errno); false if none. */
static inline bool ds_complete(struct deferred_syncer *d, int res)
{
    if (d->done == d->n)
        return false;
    struct ds_req r = d->q[d->done++];
    r.done(r.arg, res);
    return true;
}

/* Completes everything, including syncs the completions start. */
static inline void ds_complete_all(struct deferred_syncer *d, int res)
{
    while (ds_complete(d, res))
        ;
}

#endif
