/* The syncfs thread (fs_syncer.h). One lock round per group commit, never
 * per record: the shard queues a request, the thread takes every request
 * queued so far, runs one syncfs for all of them and hands them back. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fs_syncer.h"
#include "skein/sync_stats.h"

struct fs_req {
    struct fs_req *next;
    sk_fsync_fn done;
    void *arg;
    int res;
};

/* A FIFO of requests. */
struct fs_list {
    struct fs_req *head, *tail;
};

struct sk_fs_syncer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    sk_fs_post_fn post;
    void *post_ctx;
    struct fs_list queued;   /* waiting for the next syncfs */
    unsigned queued_parts;   /* partitions they cover */
    struct fs_list finished; /* synced, not yet delivered */
    bool posted;             /* a delivery is on its way to the owner */
    bool stop;
    unsigned long calls;
};

static void list_push(struct fs_list *l, struct fs_req *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_append(struct fs_list *l, struct fs_list *more)
{
    if (!more->head)
        return;
    if (l->tail)
        l->tail->next = more->head;
    else
        l->head = more->head;
    l->tail = more->tail;
    *more = (struct fs_list){0};
}

/* On the owner's thread. */
static void deliver(void *arg)
{
    struct sk_fs_syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    struct fs_req *r = s->finished.head;
    s->finished = (struct fs_list){0};
    s->posted = false;
    pthread_mutex_unlock(&s->mu);
    while (r) {
        struct fs_req *next = r->next;
        r->done(r->arg, r->res);
        free(r);
        r = next;
    }
}

/* Hands a batch back; a refused post leaves it for sk_fs_syncer_stop. */
static void finish(struct sk_fs_syncer *s, struct fs_list *batch, int res)
{
    for (struct fs_req *r = batch->head; r; r = r->next)
        r->res = res;
    pthread_mutex_lock(&s->mu);
    list_append(&s->finished, batch);
    bool post = !s->posted;
    s->posted = true;
    pthread_mutex_unlock(&s->mu);
    if (post && s->post(s->post_ctx, deliver, s) != 0) {
        pthread_mutex_lock(&s->mu);
        s->posted = false;
        pthread_mutex_unlock(&s->mu);
    }
}

/* Under the lock: waits up to SK_FS_GATHER_MS while few partitions are
 * queued (fs_syncer.h). */
static void gather(struct sk_fs_syncer *s)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += SK_FS_GATHER_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!s->stop && s->queued_parts < SK_FS_GATHER_PARTS)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
}

static void *run(void *arg)
{
    struct sk_fs_syncer *s = arg;
    pthread_setname_np(pthread_self(), "skein-syncfs"); /* for top -H, perf */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->queued.head && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->queued.head)
            gather(s);
        struct fs_list batch = s->queued;
        s->queued = (struct fs_list){0};
        s->queued_parts = 0;
        pthread_mutex_unlock(&s->mu);
        if (!batch.head)
            return NULL; /* stopping, nothing queued */
        int res = syncfs(s->fd) < 0 ? -errno : 0;
        __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
        sk_sync_count_syncfs();
        finish(s, &batch, res);
    }
}

struct sk_fs_syncer *sk_fs_syncer_start(const char *dir, sk_fs_post_fn post, void *post_ctx,
                                        int *err)
{
    struct sk_fs_syncer *s = calloc(1, sizeof *s);
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->post = post;
    s->post_ctx = post_ctx;
    s->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->fd < 0) {
        *err = -errno;
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* gather's deadline */
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int r = pthread_create(&s->thread, NULL, run, s);
    if (r != 0) {
        *err = -r;
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

int sk_fs_syncer_submit(struct sk_fs_syncer *s, unsigned parts, sk_fsync_fn done, void *arg)
{
    struct fs_req *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->done = done;
    r->arg = arg;
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stop;
    /* The thread waits for a first request, or gathers until enough
     * partitions are queued: any other wake-up would only send it back to
     * sleep, a context switch each way for every request under load. */
    bool wake = !s->queued.head;
    if (!stopping) {
        list_push(&s->queued, r);
        s->queued_parts += parts;
        wake |= s->queued_parts >= SK_FS_GATHER_PARTS && s->queued_parts - parts < SK_FS_GATHER_PARTS;
    }
    if (wake)
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (stopping) {
        free(r);
        return -ESHUTDOWN;
    }
    return 0;
}

void sk_fs_syncer_stop(struct sk_fs_syncer *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    deliver(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    close(s->fd);
    free(s);
}

unsigned long sk_fs_syncer_calls(struct sk_fs_syncer *s)
{
    return __atomic_load_n(&s->calls, __ATOMIC_RELAXED);
}
