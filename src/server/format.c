/* meta.properties: which cluster and node a data directory belongs to. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skein/server.h"

/* Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
static void new_cluster_id(char *out)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != sizeof r)
        abort();
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (i + 1 < 16 ? (uint32_t)r[i + 1] << 8 : 0) |
                     (i + 2 < 16 ? r[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        if (i + 1 < 16)
            out[o++] = b64[v >> 6 & 63];
        if (i + 2 < 16)
            out[o++] = b64[v & 63];
    }
    out[o] = 0;
}

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

static int read_props(const char *file, char *cluster, size_t clen, int32_t *node)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -errno;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "cluster.id=", 11) == 0 && strlen(line + 11) < clen)
            memcpy(cluster, line + 11, strlen(line + 11) + 1);
        else if (strncmp(line, "node.id=", 8) == 0)
            *node = (int32_t)strtol(line + 8, NULL, 10);
    }
    fclose(f);
    return 0;
}

/* Written to a temporary file, synced and renamed, so a crash leaves either
 * no meta.properties or a whole one. */
static int write_props(const char *dir, const char *file, const char *cluster, int32_t node)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", file) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    time_t now = time(NULL);
    fprintf(f, "#\n#%s", ctime(&now));
    fprintf(f, "cluster.id=%s\nnode.id=%d\nversion=1\n", cluster, node);
    int rc = fflush(f) == 0 && fdatasync(fileno(f)) == 0 ? 0 : -errno;
    fclose(f);
    if (rc == 0 && rename(tmp, file) < 0)
        rc = -errno;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return rc;
}

int sk_storage_format(const char *dir, int32_t node_id, char *cluster_id, size_t idlen,
                      char *err, size_t errlen)
{
    char file[4096];
    int rc = sk_storage_mkdirs(dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create log directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (snprintf(file, sizeof file, "%s/meta.properties", dir) >= (int)sizeof file)
        return -ENAMETOOLONG;
    char found[64] = "";
    int32_t found_node = -1;
    if (read_props(file, found, sizeof found, &found_node) == 0) {
        if (found_node != node_id) {
            snprintf(err, errlen, "%s belongs to node.id %d, but this broker is node.id %d",
                     file, found_node, node_id);
            return -EINVAL;
        }
        if (cluster_id[0] && strcmp(cluster_id, found) != 0) {
            snprintf(err, errlen, "%s has cluster.id %s, but other directories have %s", file,
                     found, cluster_id);
            return -EINVAL;
        }
        snprintf(cluster_id, idlen, "%s", found);
        return 0;
    }
    if (!cluster_id[0])
        new_cluster_id(cluster_id);
    rc = write_props(dir, file, cluster_id, node_id);
    if (rc < 0)
        snprintf(err, errlen, "cannot write %s: %s", file, strerror(-rc));
    return rc;
}
