/* A node's directories and their meta.properties checked together
 * (skein/meta_props.h), with the rules and words of Kafka's
 * MetaPropertiesEnsemble. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/meta_props.h"
#include "skein/uuid.h"

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct sk_meta_dir *)a)->path, ((const struct sk_meta_dir *)b)->path);
}

struct sk_meta_dir *sk_meta_dirs_find(struct sk_meta_dirs *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->dirs[i].path, path) == 0)
            return &d->dirs[i];
    return NULL;
}

static bool dir_id_taken(const struct sk_meta_dirs *d, const uint8_t id[16])
{
    for (size_t i = 0; i < d->n; i++)
        if (d->dirs[i].state == SK_META_DIR_OK && d->dirs[i].props.has_dir_id &&
            memcmp(d->dirs[i].props.dir_id, id, 16) == 0)
            return true;
    return false;
}

void sk_meta_dirs_new_dir_id(const struct sk_meta_dirs *d, uint8_t id[16])
{
    do
        sk_uuid_random_dir(id);
    while (dir_id_taken(d, id));
}

static int add(struct sk_meta_dirs *d, const char *path)
{
    if (sk_meta_dirs_find(d, path))
        return 0;
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    d->dirs[d->n++] = (struct sk_meta_dir){.path = copy};
    return 0;
}

static void load_one(struct sk_meta_dir *dir)
{
    int rc = sk_meta_props_read(dir->path, &dir->props, dir->error, sizeof dir->error);
    dir->state = rc == 0 ? SK_META_DIR_OK : rc == -ENOENT ? SK_META_DIR_EMPTY : SK_META_DIR_ERROR;
    if (rc == -ENOENT)
        dir->error[0] = 0;
}

int sk_meta_dirs_load(struct sk_meta_dirs *d, char *const *log_dirs, size_t n_log_dirs,
                      const char *metadata_dir)
{
    *d = (struct sk_meta_dirs){.dirs = calloc(n_log_dirs + 1, sizeof *d->dirs)};
    if (!d->dirs)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n_log_dirs && rc == 0; i++)
        rc = add(d, log_dirs[i]);
    if (rc == 0 && metadata_dir)
        rc = add(d, metadata_dir);
    if (rc < 0) {
        sk_meta_dirs_free(d);
        return rc;
    }
    qsort(d->dirs, d->n, sizeof *d->dirs, by_path);
    for (size_t i = 0; i < d->n; i++)
        load_one(&d->dirs[i]);
    struct sk_meta_dir *md = metadata_dir ? sk_meta_dirs_find(d, metadata_dir) : NULL;
    d->metadata_dir = md ? md->path : NULL;
    return 0;
}

void sk_meta_dirs_free(struct sk_meta_dirs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->dirs[i].path);
    free(d->dirs);
    *d = (struct sk_meta_dirs){0};
}

/* Kafka's messages name up to three things (paths, ids). */
static int refuse(char *err, size_t errlen, const char *fmt, const char *a, const char *b,
                  const char *c)
{
    snprintf(err, errlen, fmt, a, b, c);
    return -EINVAL;
}

static int check_ids(const struct sk_meta_dir *dir, const char **cluster, int32_t *node,
                     char *err, size_t errlen)
{
    const struct sk_meta_props *p = &dir->props;
    char file[4200], want[16], got[16];
    snprintf(file, sizeof file, "%s/%s", dir->path, SK_META_PROPS_NAME);
    if (p->cluster_id[0] && !*cluster)
        *cluster = p->cluster_id;
    else if (p->cluster_id[0] && strcmp(p->cluster_id, *cluster) != 0)
        return refuse(err, errlen, "Invalid cluster.id in: %s. Expected %s, but read %s", file,
                      *cluster, p->cluster_id);
    if (p->node_id >= 0 && *node < 0) {
        *node = p->node_id;
    } else if (p->node_id >= 0 && p->node_id != *node) {
        snprintf(got, sizeof got, "%d", (int)p->node_id);
        snprintf(want, sizeof want, "%d", (int)*node);
        return refuse(err, errlen,
                      "Stored node id %s doesn't match previous node id %s in %s. If you moved "
                      "your data, make sure your configured node id matches. If you intend to "
                      "create a new node, you should remove all data in your data directories.",
                      got, want, file);
    }
    return 0;
}

static int check_dir_id(const struct sk_meta_dirs *d, size_t i, char *err, size_t errlen)
{
    const struct sk_meta_dir *dir = &d->dirs[i];
    if (!dir->props.has_dir_id)
        return 0;
    char id[SK_UUID_STR_LEN + 1];
    sk_uuid_format(dir->props.dir_id, id);
    if (sk_uuid_dir_reserved(dir->props.dir_id))
        return refuse(err, errlen, "Invalid reserved directory ID %s found in %s", id,
                      dir->path, NULL);
    for (size_t j = 0; j < i; j++) {
        const struct sk_meta_dir *o = &d->dirs[j];
        if (o->state == SK_META_DIR_OK && o->props.has_dir_id &&
            memcmp(o->props.dir_id, dir->props.dir_id, 16) == 0)
            return refuse(err, errlen,
                          "Duplicate directory ID %s found. It was the ID of %s, but also of %s",
                          id, o->path, dir->path);
    }
    return 0;
}

int sk_meta_dirs_verify(const struct sk_meta_dirs *d, const char *cluster_id, int32_t node_id,
                        unsigned flags, char *err, size_t errlen)
{
    size_t valid = 0;
    for (size_t i = 0; i < d->n; i++)
        valid += d->dirs[i].state == SK_META_DIR_OK;
    if ((flags & SK_META_REQUIRE_ONE_VALID) && valid == 0) {
        snprintf(err, errlen, "No readable meta.properties files found.");
        return -EINVAL;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (d->dirs[i].state != SK_META_DIR_OK)
            continue;
        int rc = check_ids(&d->dirs[i], &cluster_id, &node_id, err, errlen);
        if (rc == 0)
            rc = check_dir_id(d, i, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->dirs[i].state == SK_META_DIR_ERROR && d->dirs[i].path == d->metadata_dir)
            return refuse(err, errlen, "Encountered I/O error in metadata log directory %s. "
                          "Cannot continue. (%s)", d->metadata_dir, d->dirs[i].error, NULL);
    return 0;
}
