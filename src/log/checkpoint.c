/* Offset checkpoint files of a log dir (recovery-point-offset-checkpoint,
 * log-start-offset-checkpoint, replication-offset-checkpoint), Kafka's format:
 *   0\n<count>\n<topic> <partition> <offset>\n...
 * Topic names cannot contain spaces, so the line splits unambiguously. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/atomic_writer.h"
#include "skein/plog.h"

#include "atomic_file.h"

static char *encode(const struct sk_offset_checkpoint_entry *e, size_t n, size_t *len)
{
    size_t cap = 32 + n * (sizeof(e->topic) + 40);
    char *buf = malloc(cap);

    if (!buf)
        return NULL;
    *len = (size_t)snprintf(buf, cap, "0\n%zu\n", n);
    for (size_t i = 0; i < n; i++)
        *len += (size_t)snprintf(buf + *len, cap - *len, "%s %" PRId32 " %" PRId64 "\n",
                                 e[i].topic, e[i].partition, e[i].offset);
    return buf;
}

int sk_offset_checkpoint_write(const char *dir, const char *name,
                               const struct sk_offset_checkpoint_entry *e, size_t n)
{
    size_t len;
    char *buf = encode(e, n, &len);

    if (!buf)
        return -ENOMEM;
    int r = sk_atomic_write(dir, name, buf, len);
    free(buf);
    return r;
}

int sk_offset_checkpoint_write_async(struct sk_atomic_writer *w, const char *name,
                                     const struct sk_offset_checkpoint_entry *e, size_t n,
                                     void (*done)(void *arg, int err), void *arg)
{
    size_t len;
    char *buf = encode(e, n, &len);

    if (!buf)
        return -ENOMEM;
    int r = sk_atomic_writer_write(w, name, buf, len, done, arg);
    free(buf);
    return r;
}

static int checkpoint_parse(FILE *f, struct sk_offset_checkpoint_entry **out, size_t *n)
{
    int version;
    long count;

    if (fscanf(f, "%d\n%ld\n", &version, &count) != 2 || version != 0 || count < 0 ||
        count > 10000000)
        return -EBADMSG;
    struct sk_offset_checkpoint_entry *e = calloc((size_t)count + 1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    for (long i = 0; i < count; i++) {
        if (fscanf(f, "%255s %" SCNd32 " %" SCNd64 "\n", e[i].topic, &e[i].partition,
                   &e[i].offset) != 3) {
            free(e);
            return -EBADMSG;
        }
    }
    *out = e;
    *n = (size_t)count;
    return 0;
}

int sk_offset_checkpoint_read(const char *dir, const char *name,
                              struct sk_offset_checkpoint_entry **out, size_t *n)
{
    char path[4096];

    *out = NULL;
    *n = 0;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    int r = checkpoint_parse(f, out, n);
    fclose(f);
    return r;
}

int64_t sk_offset_checkpoint_find(const struct sk_offset_checkpoint_entry *e, size_t n,
                                  const char *topic, int32_t partition)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].partition == partition && strcmp(e[i].topic, topic) == 0)
            return e[i].offset;
    return -1;
}
