/* The node's directories at start-up: checked as Kafka's KafkaRaftServer
 * checks them before anything reads them, and formatted here only where
 * Skein's single-node promise needs it (README: "Formatting"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "skein/config.h"
#include "skein/meta_props.h"
#include "skein/server.h"
#include "skein/uuid.h"

int sk_storage_mkdirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static const char *bootstrap_servers(const struct sk_config *cfg)
{
    struct sk_config_value v;
    if (sk_config_describe_broker(cfg, "controller.quorum.bootstrap.servers", &v) < 0)
        return NULL;
    return v.value && v.value[0] ? v.value : NULL;
}

/* A node that is its own whole quorum can make up a cluster id: no other
 * node has to agree with it. That keeps `skein` with no arguments (and any
 * one-voter config) starting on an empty directory. A node of a larger
 * quorum cannot, or each would found a cluster of its own. */
bool sk_storage_may_self_format(const struct sk_config *cfg)
{
    return !bootstrap_servers(cfg) && cfg->n_voters == 1 && cfg->voters[0].id == cfg->node_id;
}

static void hint(const struct sk_config *cfg, char *err, size_t errlen)
{
    char why[128];
    if (bootstrap_servers(cfg))
        snprintf(why, sizeof why, "this node finds its quorum through "
                 "controller.quorum.bootstrap.servers");
    else
        snprintf(why, sizeof why, "controller.quorum.voters names %zu voter(s)%s",
                 cfg->n_voters, cfg->n_voters == 1 ? ", not this node" : "");
    size_t n = strlen(err);
    snprintf(err + n, errlen - n, " Since %s, format every node's directories with the same "
             "cluster id first: skein format --cluster-id <id> <server.properties> "
             "(skein random-uuid prints a new id).", why);
}

static const char *found_cluster_id(const struct sk_meta_dirs *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->dirs[i].state == SK_META_DIR_OK && d->dirs[i].props.cluster_id[0])
            return d->dirs[i].props.cluster_id;
    return NULL;
}

/* An unformatted directory of a one-voter node gets the cluster's id; a
 * formatted one without a directory.id gets one, as Kafka adds it on start. */
static int complete_dir(struct sk_meta_dirs *d, struct sk_meta_dir *dir, const char *cluster,
                        int32_t node_id, char *err, size_t errlen)
{
    if (dir->state == SK_META_DIR_OK && (dir->props.has_dir_id || dir->props.version != 1))
        return 0;
    if (dir->state == SK_META_DIR_EMPTY) {
        int rc = sk_storage_mkdirs(dir->path);
        if (rc < 0) {
            snprintf(err, errlen, "cannot create log directory %s: %s", dir->path, strerror(-rc));
            return rc;
        }
        dir->props = (struct sk_meta_props){.version = 1, .node_id = node_id};
        snprintf(dir->props.cluster_id, sizeof dir->props.cluster_id, "%s", cluster);
    }
    sk_meta_dirs_new_dir_id(d, dir->props.dir_id);
    dir->props.has_dir_id = true;
    int rc = sk_meta_props_write(dir->path, &dir->props, err, errlen);
    if (rc == 0)
        dir->state = SK_META_DIR_OK;
    return rc;
}

static int check_dirs(const struct sk_config *cfg, const struct sk_meta_dirs *d, bool self,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->dirs[i].state == SK_META_DIR_ERROR) {
            snprintf(err, errlen, "%s", d->dirs[i].error);
            return -EINVAL;
        }
    }
    int rc = sk_meta_dirs_verify(d, cfg->cluster_id, cfg->node_id,
                                 self ? 0 : SK_META_REQUIRE_ONE_VALID, err, errlen);
    if (rc < 0 && !found_cluster_id(d))
        hint(cfg, err, errlen);
    for (size_t i = 0; rc == 0 && !self && i < d->n; i++) {
        if (d->dirs[i].state == SK_META_DIR_EMPTY) {
            snprintf(err, errlen, "No `meta.properties` found in %s (have you run `skein "
                     "format` to format the directory?)", d->dirs[i].path);
            rc = -EINVAL;
        }
    }
    return rc;
}

int sk_storage_open_dirs(const struct sk_config *cfg, char *cluster_id, size_t idlen, char *err,
                         size_t errlen)
{
    const char *md = cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
    struct sk_meta_dirs d;
    if (sk_meta_dirs_load(&d, cfg->log_dirs, cfg->n_log_dirs, md) < 0) {
        snprintf(err, errlen, "out of memory reading meta.properties");
        return -ENOMEM;
    }
    bool self = sk_storage_may_self_format(cfg);
    int rc = check_dirs(cfg, &d, self, err, errlen);
    char made[SK_UUID_STR_LEN + 1];
    const char *cluster = found_cluster_id(&d) ? found_cluster_id(&d) : cfg->cluster_id;
    if (rc == 0 && !cluster) {
        uint8_t id[16];
        sk_uuid_random(id);
        sk_uuid_format(id, made);
        cluster = made;
    }
    for (size_t i = 0; rc == 0 && i < d.n; i++)
        rc = complete_dir(&d, &d.dirs[i], cluster, cfg->node_id, err, errlen);
    if (rc == 0)
        snprintf(cluster_id, idlen, "%s", cluster);
    sk_meta_dirs_free(&d);
    return rc;
}
