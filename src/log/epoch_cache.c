#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/atomic_writer.h"

#include "atomic_file.h"
#include "epoch_cache.h"

static int epoch_push(struct sk_epoch_cache *c, int32_t epoch, int64_t start)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct sk_epoch_entry *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        c->e = e;
        c->cap = cap;
    }
    c->e[c->n++] = (struct sk_epoch_entry){epoch, start};
    return 0;
}

static int epoch_parse(struct sk_epoch_cache *c, FILE *f)
{
    int version;
    long count;
    int32_t epoch;
    int64_t start;

    if (fscanf(f, "%d\n%ld\n", &version, &count) != 2 || version != 0 || count < 0)
        return -EBADMSG;
    for (long i = 0; i < count; i++) {
        if (fscanf(f, "%" SCNd32 " %" SCNd64 "\n", &epoch, &start) != 2)
            return -EBADMSG;
        int r = epoch_push(c, epoch, start);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Empty or zeros (its start is enough to tell): a lazily written file torn by
 * a crash. */
static bool epoch_torn(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (text[i])
            return false;
    return true;
}

int sk_epoch_load(struct sk_epoch_cache *c, const char *dir, const struct sk_syncer *syncer)
{
    char path[4096], text[64];

    memset(c, 0, sizeof(*c));
    c->dir = dir;
    c->syncer = syncer && syncer->sync ? syncer : NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, SK_EPOCH_CHECKPOINT);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    size_t n = fread(text, 1, sizeof(text), f);
    bool torn = !ferror(f) && epoch_torn(text, n);
    if (!torn) {
        rewind(f);
        int r = epoch_parse(c, f);
        fclose(f);
        c->durable = r == 0;
        return r;
    }
    fclose(f);
    return 0;
}

void sk_epoch_free(struct sk_epoch_cache *c)
{
    sk_atomic_writer_free(c->writer); /* a rewrite in flight completes alone */
    c->writer = NULL;
    free(c->e);
    c->e = NULL;
    c->n = c->cap = 0;
}

static void rewritten(void *arg, int err)
{
    struct sk_epoch_cache *c = arg;
    if (err < 0)
        c->dirty = 1; /* the next flush tries again */
}

/* Through the syncer without waiting when there is one; the old file stays
 * until the new one is durable, and a failure marks the cache dirty again. */
static int durable_write(struct sk_epoch_cache *c, const char *buf, size_t len)
{
    if (!c->syncer)
        return sk_atomic_write(c->dir, SK_EPOCH_CHECKPOINT, buf, len);
    if (!c->writer && !(c->writer = sk_atomic_writer_new(c->syncer, c->dir)))
        return -ENOMEM;
    return sk_atomic_writer_write(c->writer, SK_EPOCH_CHECKPOINT, buf, len, rewritten, c);
}

int sk_epoch_write(struct sk_epoch_cache *c)
{
    size_t cap = 32 + c->n * 40;
    char *buf = malloc(cap);
    size_t len;

    if (!buf)
        return -ENOMEM;
    len = (size_t)snprintf(buf, cap, "0\n%zu\n", c->n);
    for (size_t i = 0; i < c->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%" PRId32 " %" PRId64 "\n",
                                c->e[i].epoch, c->e[i].start);
    bool lazy = !c->durable && !c->syncing;
    /* Cleared first: an asynchronous write that fails at once sets it again. */
    c->dirty = 0;
    int r = lazy ? sk_atomic_write_lazy(c->dir, SK_EPOCH_CHECKPOINT, buf, len)
                 : durable_write(c, buf, len);
    free(buf);
    if (r < 0) {
        c->dirty = 1;
        return r;
    }
    c->unsynced = lazy;
    c->durable = !lazy;
    return 0;
}

void sk_epoch_synced(struct sk_epoch_cache *c)
{
    if (!c->syncing)
        return;
    c->syncing = false;
    c->durable = true;
}

int sk_epoch_assign(struct sk_epoch_cache *c, int32_t epoch, int64_t start)
{
    if (epoch < 0)
        return 0;
    if (c->n > 0) {
        const struct sk_epoch_entry *l = &c->e[c->n - 1];
        if (l->epoch == epoch && l->start <= start)
            return 0;
        if (l->epoch > epoch && l->start <= start)
            return 0; /* an older epoch's batch after a newer one: ignore, as Kafka */
    }
    while (c->n > 0 && (c->e[c->n - 1].epoch >= epoch || c->e[c->n - 1].start >= start))
        c->n--;
    c->dirty = 1;
    return epoch_push(c, epoch, start);
}

void sk_epoch_truncate_from_end(struct sk_epoch_cache *c, int64_t end)
{
    size_t n = c->n;

    while (c->n > 0 && c->e[c->n - 1].start >= end)
        c->n--;
    if (n != c->n)
        c->dirty = 1;
}

void sk_epoch_truncate_from_start(struct sk_epoch_cache *c, int64_t start)
{
    size_t keep = 0;

    /* the last entry starting at or before start covers it */
    while (keep + 1 < c->n && c->e[keep + 1].start <= start)
        keep++;
    if (c->n == 0 || c->e[keep].start >= start)
        return;
    memmove(c->e, c->e + keep, (c->n - keep) * sizeof(*c->e));
    c->n -= keep;
    c->e[0].start = start;
    c->dirty = 1;
}

int32_t sk_epoch_latest(const struct sk_epoch_cache *c)
{
    return c->n ? c->e[c->n - 1].epoch : -1;
}

int32_t sk_epoch_for_offset(const struct sk_epoch_cache *c, int64_t offset)
{
    int32_t epoch = -1;

    for (size_t i = 0; i < c->n && c->e[i].start <= offset; i++)
        epoch = c->e[i].epoch;
    return epoch;
}

void sk_epoch_end_offset(const struct sk_epoch_cache *c, int32_t epoch, int64_t leo,
                         int32_t *out_epoch, int64_t *out_end)
{
    *out_epoch = -1;
    *out_end = -1;
    if (epoch < 0 || c->n == 0)
        return;
    if (epoch == sk_epoch_latest(c)) {
        *out_epoch = epoch;
        *out_end = leo;
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].epoch > epoch) {
            /* no epoch <= the requested one: Kafka answers with the request's */
            *out_epoch = i == 0 ? epoch : c->e[i - 1].epoch;
            *out_end = c->e[i].start;
            return;
        }
    }
}
