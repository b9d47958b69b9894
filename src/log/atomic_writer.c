/* The asynchronous atomic file write (include/skein/atomic_writer.h): one
 * operation in flight per writer, driven by the syncer's completions as a
 * small state machine (data sync -> rename -> directory sync -> done). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/atomic_writer.h"

struct waiter {
    sk_atomic_done_fn done;
    void *arg;
};

struct op {
    char tmp[4096], path[4096];
    uint8_t *data;
    size_t len;
    int fd;
    struct waiter *waiters;
    size_t nwaiters, cap;
};

struct sk_atomic_writer {
    const struct sk_syncer *syncer;
    char *dir;
    struct op *cur;  /* in flight */
    struct op *next; /* waiting for cur; the newest request */
    bool orphaned;   /* freed by its owner while cur was in flight */
    enum sk_sync_kind kind; /* what the file syncs count as */
};

static void op_free(struct op *op)
{
    if (!op)
        return;
    free(op->data);
    free(op->waiters);
    free(op);
}

static int op_add_waiter(struct op *op, sk_atomic_done_fn done, void *arg)
{
    if (op->nwaiters == op->cap) {
        size_t cap = op->cap ? op->cap * 2 : 2;
        struct waiter *nw = realloc(op->waiters, cap * sizeof(*nw));
        if (!nw)
            return -ENOMEM;
        op->waiters = nw;
        op->cap = cap;
    }
    op->waiters[op->nwaiters++] = (struct waiter){done, arg};
    return 0;
}

/* Takes over data: the caller's buffer may be gone before the write starts. */
static int op_set(struct op *op, const char *dir, const char *name, const void *data, size_t len)
{
    if (snprintf(op->path, sizeof(op->path), "%s/%s", dir, name) >= (int)sizeof(op->path) ||
        snprintf(op->tmp, sizeof(op->tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(op->tmp))
        return -ENAMETOOLONG;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    free(op->data);
    op->data = copy;
    op->len = len;
    return 0;
}

static void destroy(struct sk_atomic_writer *w)
{
    op_free(w->next);
    free(w->dir);
    free(w);
}

static void start(struct sk_atomic_writer *w);

/* Callbacks may write again (the request waits behind cur, which is still
 * set) or free the writer (which then only marks it orphaned). */
static void finish(struct sk_atomic_writer *w, int err)
{
    struct op *op = w->cur;
    for (size_t i = 0; !w->orphaned && i < op->nwaiters; i++)
        op->waiters[i].done(op->waiters[i].arg, err);
    op_free(op);
    w->cur = NULL;
    if (w->orphaned) {
        destroy(w);
        return;
    }
    if (w->next) {
        w->cur = w->next;
        w->next = NULL;
        start(w);
    }
}

static void fail(struct sk_atomic_writer *w, int err)
{
    unlink(w->cur->tmp);
    finish(w, err);
}

static void dir_synced(void *arg, int res)
{
    struct sk_atomic_writer *w = arg;
    close(w->cur->fd);
    finish(w, res);
}

/* Only now may the new file take the name: its bytes are on disk. */
static void data_synced(void *arg, int res)
{
    struct sk_atomic_writer *w = arg;
    struct op *op = w->cur;
    close(op->fd);
    if (res < 0) {
        fail(w, res);
        return;
    }
    if (rename(op->tmp, op->path) < 0) {
        fail(w, -errno);
        return;
    }
    op->fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (op->fd < 0) {
        finish(w, -errno);
        return;
    }
    sk_sync_count(SK_SYNC_DIR, 1);
    int r = w->syncer->sync(w->syncer->ctx, op->fd, false, dir_synced, w);
    if (r < 0) {
        close(op->fd);
        finish(w, r);
    }
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void start(struct sk_atomic_writer *w)
{
    struct op *op = w->cur;
    op->fd = open(op->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (op->fd < 0) {
        finish(w, -errno);
        return;
    }
    int r = write_all(op->fd, op->data, op->len);
    if (r == 0) {
        sk_sync_count(w->kind, 1);
        r = w->syncer->sync(w->syncer->ctx, op->fd, true, data_synced, w);
    }
    if (r < 0) {
        close(op->fd);
        fail(w, r);
    }
}

void sk_atomic_writer_count_as(struct sk_atomic_writer *w, enum sk_sync_kind kind)
{
    w->kind = kind;
}

struct sk_atomic_writer *sk_atomic_writer_new(const struct sk_syncer *syncer, const char *dir)
{
    struct sk_atomic_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->syncer = sk_syncer_or_blocking(syncer);
    w->kind = SK_SYNC_CHECKPOINT;
    if (!(w->dir = strdup(dir))) {
        free(w);
        return NULL;
    }
    return w;
}

/* A request while one is in flight replaces the waiting one's content and
 * joins its waiters: the newest state is what the file must end up holding. */
int sk_atomic_writer_write(struct sk_atomic_writer *w, const char *name, const void *data,
                           size_t len, sk_atomic_done_fn done, void *arg)
{
    bool fresh = !w->cur ? true : !w->next;
    struct op *op = fresh ? calloc(1, sizeof(*op)) : w->next;
    if (!op)
        return -ENOMEM;
    int r = op_set(op, w->dir, name, data, len);
    if (r == 0)
        r = op_add_waiter(op, done, arg);
    if (r < 0) {
        if (fresh)
            op_free(op);
        return r;
    }
    if (!w->cur) {
        w->cur = op;
        start(w);
    } else {
        w->next = op;
    }
    return 0;
}

bool sk_atomic_writer_busy(const struct sk_atomic_writer *w)
{
    return w->cur || w->next;
}

void sk_atomic_writer_free(struct sk_atomic_writer *w)
{
    if (!w)
        return;
    if (!w->cur) {
        destroy(w);
        return;
    }
    w->orphaned = true;
    op_free(w->next);
    w->next = NULL;
}
