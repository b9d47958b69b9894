/* `skein format` (skein/format.h), as Kafka's StorageTool and Formatter do it:
 * the same checks in the same order, the same messages, meta.properties in
 * every directory not yet formatted, and with --standalone or
 * --initial-controllers KIP-853's bootstrap snapshot (KRaftVersion 1 and the
 * VotersRecord) in the metadata directory, written before its
 * meta.properties as Kafka's formatter writes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skein/broker.h"
#include "skein/config.h"
#include "skein/dynamic_voters.h"
#include "skein/format.h"
#include "skein/meta_props.h"
#include "skein/server.h"
#include "skein/uuid.h"
#include "skein/voters_snapshot.h"

/* Kafka's MetadataVersion names up to this build's level; "3.7" means the
 * last of 3.7's. */
static const char *const release_names[SK_METADATA_VERSION_MAX + 1] = {
    [1] = "3.0-IV1",  [2] = "3.1-IV0",  [3] = "3.2-IV0",  [4] = "3.3-IV0",
    [5] = "3.3-IV1",  [6] = "3.3-IV2",  [7] = "3.3-IV3",  [8] = "3.4-IV0",
    [9] = "3.5-IV0",  [10] = "3.5-IV1", [11] = "3.5-IV2", [12] = "3.6-IV0",
    [13] = "3.6-IV1", [14] = "3.6-IV2", [15] = "3.7-IV0", [16] = "3.7-IV1",
    [17] = "3.7-IV2", [18] = "3.7-IV3", [19] = "3.7-IV4", [20] = "3.8-IV0",
    [21] = "3.9-IV0",
};

static int release_level(const char *v)
{
    int found = -1;
    for (int l = 1; l <= SK_METADATA_VERSION_MAX; l++) {
        const char *name = release_names[l];
        size_t short_len = (size_t)(strchr(name, '-') - name);
        if (strcmp(v, name) == 0 || (strlen(v) == short_len && strncmp(v, name, short_len) == 0))
            found = l;
    }
    return found;
}

static int fail(char *err, size_t errlen, int rc, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return rc;
}

static int check_release(const char *v, char *err, size_t errlen)
{
    if (!v)
        return 0;
    int level = release_level(v);
    if (level < 0) {
        snprintf(err, errlen, "Unknown metadata.version '%s'. Supported metadata.version are: "
                 "%s to %s", v, release_names[1], release_names[SK_METADATA_VERSION_MAX]);
        return -EINVAL;
    }
    if (level != SK_METADATA_VERSION_MAX) {
        snprintf(err, errlen, "metadata.version %s (level %d) is not supported: a Skein "
                 "cluster starts at %s", release_names[level], level,
                 release_names[SK_METADATA_VERSION_MAX]);
        return -EINVAL;
    }
    return 0;
}

static int check_args(const struct sk_config *cfg, const struct sk_format_opts *o, char *err,
                      size_t errlen)
{
    if (o->standalone && o->initial_controllers)
        return fail(err, errlen, -EINVAL, "argument --initial-controllers/-I: not allowed with "
                                          "argument --standalone/-s");
    if (o->standalone && o->no_initial_controllers)
        return fail(err, errlen, -EINVAL, "argument --no-initial-controllers/-N: not allowed "
                                          "with argument --standalone/-s");
    if (o->initial_controllers && o->no_initial_controllers)
        return fail(err, errlen, -EINVAL, "argument --no-initial-controllers/-N: not allowed "
                                          "with argument --initial-controllers/-I");
    if (!o->cluster_id)
        return fail(err, errlen, -EINVAL, "argument --cluster-id/-t is required");
    if (!cfg->process_roles)
        return fail(err, errlen, -EINVAL, "The kafka configuration file appears to be for a "
                    "legacy cluster. Formatting is only supported for clusters in KRaft mode.");
    if (cfg->node_id < 0)
        return fail(err, errlen, -EINVAL, "You must specify a valid non-negative node ID.");
    uint8_t id[16];
    char why[256];
    if (sk_uuid_parse(o->cluster_id, strlen(o->cluster_id), id, why, sizeof why) < 0) {
        snprintf(err, errlen, "Cluster ID string %s does not appear to be a valid UUID: %s",
                 o->cluster_id, why);
        return -EINVAL;
    }
    return check_release(o->release_version, err, errlen);
}

/* --standalone is --initial-controllers naming just this node, at its first
 * controller listener, with a new directory id. */
static int standalone_voter(const struct sk_config *cfg, struct sk_dynamic_voters *vs,
                            char *err, size_t errlen)
{
    const struct sk_listener *l = sk_config_listener(cfg, cfg->controller_listener);
    if (!l)
        return fail(err, errlen, -EINVAL, "No controller listeners found.");
    struct sk_dynamic_voter *v = &vs->v[0];
    *v = (struct sk_dynamic_voter){.id = cfg->node_id, .port = l->port};
    snprintf(v->host, sizeof v->host, "%s", l->host[0] ? l->host : "localhost");
    sk_uuid_random_dir(v->dir_id);
    vs->n = 1;
    return 0;
}

/* A static quorum and a bootstrapped dynamic one would be two voter sets
 * that can each elect a leader (KAFKA-19489 refuses the mix too). */
static int initial_voters(const struct sk_config *cfg, const struct sk_format_opts *o,
                          struct sk_dynamic_voters *vs, char *err, size_t errlen)
{
    vs->n = 0;
    if (!o->standalone && !o->initial_controllers && !o->no_initial_controllers &&
        (cfg->process_roles & SK_ROLE_CONTROLLER) && !cfg->n_voters)
        return fail(err, errlen, -EINVAL, "Because controller.quorum.voters is not set on this "
                    "controller, you must specify one of the following: --standalone, "
                    "--initial-controllers, or --no-initial-controllers.");
    if (!o->standalone && !o->initial_controllers)
        return 0;
    if (o->standalone && !(cfg->process_roles & SK_ROLE_CONTROLLER))
        return fail(err, errlen, -EINVAL, "You cannot use --standalone on a broker node.");
    if (cfg->n_voters)
        return fail(err, errlen, -EINVAL, "You cannot use --standalone or "
                    "--initial-controllers when controller.quorum.voters is set: they "
                    "bootstrap a dynamic quorum, found through "
                    "controller.quorum.bootstrap.servers.");
    if (o->standalone)
        return standalone_voter(cfg, vs, err, errlen);
    return sk_dynamic_voters_parse(o->initial_controllers, strlen(o->initial_controllers), vs,
                                   err, errlen);
}

static const char *metadata_dir(const struct sk_config *cfg)
{
    return cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
}

/* Kafka's words for what a directory becomes. */
static const char *dir_kind(const struct sk_config *cfg, const struct sk_meta_dir *dir,
                            const struct sk_dynamic_voters *vs)
{
    if (strcmp(dir->path, metadata_dir(cfg)) != 0)
        return "data directory";
    if (!vs->n)
        return "metadata directory";
    return sk_dynamic_voters_find(vs, cfg->node_id) ? "dynamic metadata voter directory"
                                                    : "dynamic metadata directory";
}

static void choose_dir_id(const struct sk_config *cfg, const struct sk_meta_dirs *d,
                          const struct sk_meta_dir *dir, const struct sk_dynamic_voters *vs,
                          uint8_t id[16])
{
    const struct sk_dynamic_voter *me = sk_dynamic_voters_find(vs, cfg->node_id);
    if (me && strcmp(dir->path, metadata_dir(cfg)) == 0) {
        memcpy(id, me->dir_id, 16);
        return;
    }
    sk_meta_dirs_new_dir_id(d, id);
}

/* Each voter at its CONTROLLER endpoint, supporting kraft.version 0-1, as
 * DynamicVoters.toVoterSet makes them. */
static int voter_set(const struct sk_config *cfg, const struct sk_dynamic_voters *dv,
                     struct sk_voter_set *vs)
{
    size_t name_len = strlen(cfg->controller_listener);
    if (dv->n > SK_VOTER_SET_MAX || name_len > SK_VOTER_STR_MAX)
        return -EINVAL;
    for (size_t i = 0; i < dv->n; i++) {
        struct sk_voter_node *v = &vs->v[i];
        size_t host_len = strlen(dv->v[i].host);
        if (host_len > SK_VOTER_STR_MAX)
            return -EINVAL;
        *v = (struct sk_voter_node){.id = dv->v[i].id, .n_ep = 1, .max_kraft = 1};
        memcpy(v->dir_id, dv->v[i].dir_id, 16);
        memcpy(v->ep[0].name, cfg->controller_listener, name_len);
        v->ep[0].name_len = (uint16_t)name_len;
        memcpy(v->ep[0].host, dv->v[i].host, host_len);
        v->ep[0].host_len = (uint16_t)host_len;
        v->ep[0].port = dv->v[i].port;
    }
    vs->n = dv->n;
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The metadata directory of a dynamic quorum gets the bootstrap snapshot,
 * voter or not, as Kafka writes it into every dynamic metadata directory. */
static int write_voters(const struct sk_config *cfg, const struct sk_meta_dir *dir,
                        const struct sk_dynamic_voters *dv, char *err, size_t errlen)
{
    if (!dv->n || strcmp(dir->path, metadata_dir(cfg)) != 0)
        return 0;
    struct sk_voter_set *vs = malloc(sizeof *vs);
    int rc = vs ? voter_set(cfg, dv, vs) : -ENOMEM;
    if (rc == 0)
        rc = sk_voters_snapshot_write(dir->path, vs, wall_ms());
    free(vs);
    if (rc < 0)
        snprintf(err, errlen, "Error while writing the bootstrap snapshot %s/%s/%s: %s",
                 dir->path, SK_METADATA_PARTITION_DIR, SK_BOOTSTRAP_SNAPSHOT_NAME,
                 strerror(-rc));
    return rc;
}

static int format_dir(const struct sk_config *cfg, const struct sk_format_opts *o,
                      struct sk_meta_dirs *d, struct sk_meta_dir *dir,
                      const struct sk_dynamic_voters *vs, FILE *out, char *err, size_t errlen)
{
    struct sk_meta_props p = {.version = 1, .node_id = cfg->node_id, .has_dir_id = true};
    snprintf(p.cluster_id, sizeof p.cluster_id, "%s", o->cluster_id);
    choose_dir_id(cfg, d, dir, vs, p.dir_id);
    fprintf(out, "Formatting %s %s with metadata.version %s.\n", dir_kind(cfg, dir, vs),
            dir->path, release_names[SK_METADATA_VERSION_MAX]);
    int rc = sk_storage_mkdirs(dir->path);
    if (rc < 0) {
        snprintf(err, errlen, "Error while writing meta.properties file %s: %s", dir->path,
                 strerror(-rc));
        return rc;
    }
    if ((rc = write_voters(cfg, dir, vs, err, errlen)) < 0)
        return rc;
    rc = sk_meta_props_write(dir->path, &p, err, errlen);
    if (rc == 0) {
        dir->props = p;
        dir->state = SK_META_DIR_OK;
    }
    return rc;
}

static int check_formatted(const struct sk_format_opts *o, const struct sk_meta_dirs *d,
                           FILE *out, size_t *empty, char *err, size_t errlen)
{
    size_t ok = 0;
    *empty = 0;
    for (size_t i = 0; i < d->n; i++) {
        ok += d->dirs[i].state == SK_META_DIR_OK;
        *empty += d->dirs[i].state == SK_META_DIR_EMPTY;
    }
    for (size_t i = 0; ok && !o->ignore_formatted && i < d->n; i++) {
        if (d->dirs[i].state == SK_META_DIR_OK) {
            snprintf(err, errlen, "Log directory %s is already formatted. Use "
                     "--ignore-formatted to ignore this directory and format the others.",
                     d->dirs[i].path);
            return -EEXIST;
        }
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->dirs[i].state == SK_META_DIR_ERROR)
            fprintf(out, "I/O error trying to read log directory %s. Ignoring...\n",
                    d->dirs[i].path);
    if (!*empty && !ok)
        return fail(err, errlen, -EIO, "No available log directories to format.");
    return 0;
}

static int format_dirs(const struct sk_config *cfg, const struct sk_format_opts *o,
                       struct sk_meta_dirs *d, const struct sk_dynamic_voters *vs, FILE *out,
                       char *err, size_t errlen)
{
    size_t empty;
    int rc = sk_meta_dirs_verify(d, o->cluster_id, cfg->node_id, 0, err, errlen);
    if (rc == 0)
        rc = check_formatted(o, d, out, &empty, err, errlen);
    if (rc == 0 && !empty)
        fprintf(out, "All of the log directories are already formatted.\n");
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (d->dirs[i].state == SK_META_DIR_EMPTY)
            rc = format_dir(cfg, o, d, &d->dirs[i], vs, out, err, errlen);
    return rc;
}

int sk_format_run(const struct sk_config *cfg, const struct sk_format_opts *o, FILE *out,
                  char *err, size_t errlen)
{
    struct sk_dynamic_voters vs;
    int rc = check_args(cfg, o, err, errlen);
    if (rc == 0)
        rc = initial_voters(cfg, o, &vs, err, errlen);
    if (rc < 0)
        return rc;
    struct sk_meta_dirs d;
    if (sk_meta_dirs_load(&d, cfg->log_dirs, cfg->n_log_dirs, metadata_dir(cfg)) < 0)
        return fail(err, errlen, -ENOMEM, "out of memory reading meta.properties");
    rc = format_dirs(cfg, o, &d, &vs, out, err, errlen);
    sk_meta_dirs_free(&d);
    return rc;
}
