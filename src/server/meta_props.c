/* One meta.properties file (skein/meta_props.h), in the Java properties
 * format Kafka reads and writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "skein/atomic_writer.h"
#include "skein/meta_props.h"
#include "skein/uuid.h"

/* A meta.properties is a few lines; anything much larger is not one. */
#define MAX_FILE 65536

struct kv {
    const char *key, *val;
    size_t klen, vlen;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/* One logical line of a properties file split as java.util.Properties does
 * for the keys Kafka writes (no escapes or continuations in them). False for
 * a blank or comment line. */
static bool split_line(const char *s, size_t len, struct kv *kv)
{
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    if (i == len || s[i] == '#' || s[i] == '!')
        return false;
    kv->key = s + i;
    while (i < len && s[i] != '=' && s[i] != ':' && !is_space(s[i]))
        i++;
    kv->klen = (size_t)(s + i - kv->key);
    while (i < len && is_space(s[i]))
        i++;
    if (i < len && (s[i] == '=' || s[i] == ':'))
        i++;
    while (i < len && is_space(s[i]))
        i++;
    kv->val = s + i;
    kv->vlen = len - i;
    return true;
}

static bool key_is(const struct kv *kv, const char *k)
{
    return kv->klen == strlen(k) && memcmp(kv->key, k, kv->klen) == 0;
}

static int bad(char *err, size_t errlen, const char *file, const char *why)
{
    snprintf(err, errlen, "Error while reading %s: %s", file, why);
    return -EINVAL;
}

/* Kafka reads ids with Integer.parseInt: an optional sign and decimal digits
 * that fit in 32 bits, nothing else. */
static bool parse_int(const char *s, size_t len, int32_t *out)
{
    size_t i = len && (s[0] == '-' || s[0] == '+');
    if (i == len || len - i > 10)
        return false;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    v = s[0] == '-' ? -v : v;
    if (v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

struct raw {
    struct kv version, cluster, node, broker, dir;
};

static void collect(const char *buf, size_t len, struct raw *r)
{
    memset(r, 0, sizeof *r);
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && buf[end] != '\n' && buf[end] != '\r')
            end++;
        struct kv kv;
        if (split_line(buf + at, end - at, &kv)) {
            struct kv *slot = key_is(&kv, "version")        ? &r->version
                              : key_is(&kv, "cluster.id")   ? &r->cluster
                              : key_is(&kv, "node.id")      ? &r->node
                              : key_is(&kv, "broker.id")    ? &r->broker
                              : key_is(&kv, "directory.id") ? &r->dir
                                                            : NULL;
            if (slot)
                *slot = kv; /* the last one wins, as in Properties.load */
        }
        at = end + 1;
    }
}

static int parse_version(const struct raw *r, struct sk_meta_props *p, const char *file,
                         char *err, size_t errlen)
{
    int32_t v = 0;
    if (r->version.key && (!parse_int(r->version.val, r->version.vlen, &v) || v < 0 || v > 1)) {
        char why[160];
        snprintf(why, sizeof why, "Unknown meta.properties version number %.*s",
                 (int)(r->version.vlen > 64 ? 64 : r->version.vlen), r->version.val);
        return bad(err, errlen, file, why);
    }
    p->version = (int)v;
    return 0;
}

static int parse_ids(const struct raw *r, struct sk_meta_props *p, const char *file, char *err,
                     size_t errlen)
{
    const struct kv *node = p->version == 0 ? &r->broker : &r->node;
    const char *node_key = p->version == 0 ? "broker.id" : "node.id";
    char why[256];
    p->node_id = -1;
    if (node->key && !parse_int(node->val, node->vlen, &p->node_id)) {
        snprintf(why, sizeof why, "Unable to read %s as a base-10 number.", node_key);
        return bad(err, errlen, file, why);
    }
    if (p->version == 1 && !node->key) {
        snprintf(why, sizeof why, "Failed to find required property %s.", node_key);
        return bad(err, errlen, file, why);
    }
    if (r->cluster.key && (r->cluster.vlen == 0 || r->cluster.vlen >= SK_CLUSTER_ID_MAX))
        return bad(err, errlen, file, "cluster.id is empty or too long");
    if (r->cluster.key)
        memcpy(p->cluster_id, r->cluster.val, r->cluster.vlen);
    if (p->version == 1 && !r->cluster.key)
        return bad(err, errlen, file, "cluster.id was not found.");
    return 0;
}

static int parse_dir_id(const struct raw *r, struct sk_meta_props *p, const char *file,
                        char *err, size_t errlen)
{
    if (!r->dir.key)
        return 0;
    char why[256], uerr[200];
    if (sk_uuid_parse(r->dir.val, r->dir.vlen, p->dir_id, uerr, sizeof uerr) < 0) {
        snprintf(why, sizeof why, "Unable to read directory.id as a Uuid: %s", uerr);
        return bad(err, errlen, file, why);
    }
    p->has_dir_id = true;
    return 0;
}

static int parse(const char *buf, size_t len, struct sk_meta_props *p, const char *file,
                 char *err, size_t errlen)
{
    struct raw r;
    collect(buf, len, &r);
    memset(p, 0, sizeof *p);
    int rc = parse_version(&r, p, file, err, errlen);
    if (rc == 0)
        rc = parse_ids(&r, p, file, err, errlen);
    if (rc == 0)
        rc = parse_dir_id(&r, p, file, err, errlen);
    return rc;
}

static int path_of(char *out, size_t outlen, const char *dir, const char *name)
{
    return snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen ? -ENAMETOOLONG : 0;
}

int sk_meta_props_read(const char *dir, struct sk_meta_props *p, char *err, size_t errlen)
{
    char file[4096];
    if (path_of(file, sizeof file, dir, SK_META_PROPS_NAME) < 0) {
        snprintf(err, errlen, "log directory path too long: %s", dir);
        return -ENAMETOOLONG;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "Error while reading %s: %s", file, strerror(-rc));
        return rc;
    }
    char *buf = malloc(MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "out of memory reading %s", file);
        return -ENOMEM;
    }
    size_t len = fread(buf, 1, MAX_FILE + 1, f);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc < 0)
        snprintf(err, errlen, "Error while reading %s: %s", file, strerror(EIO));
    else if (len > MAX_FILE)
        rc = bad(err, errlen, file, "larger than a meta.properties can be");
    else
        rc = parse(buf, len, p, file, err, errlen);
    free(buf);
    return rc;
}

/* The comment Java's Properties.store puts first: a blank one, then the date. */
static void header(char *out, size_t outlen)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char date[64];
    strftime(date, sizeof date, "%a %b %d %H:%M:%S %Z %Y", &tm);
    snprintf(out, outlen, "#\n#%s\n", date);
}

/* Only version 1 is written: Skein is a KRaft node, and version 0 files
 * (from ZooKeeper-era brokers) are read, never made. */
static int render(const struct sk_meta_props *p, char *out, size_t outlen)
{
    if (p->version != 1 || !p->cluster_id[0] || p->node_id < 0)
        return -EINVAL;
    char head[96], dir[SK_UUID_STR_LEN + 1] = "";
    header(head, sizeof head);
    if (p->has_dir_id)
        sk_uuid_format(p->dir_id, dir);
    int n = snprintf(out, outlen, "%snode.id=%d\n%s%s%sversion=1\ncluster.id=%s\n", head,
                     p->node_id, p->has_dir_id ? "directory.id=" : "", dir,
                     p->has_dir_id ? "\n" : "", p->cluster_id);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : n;
}

int sk_meta_props_write(const char *dir, const struct sk_meta_props *p, char *err,
                        size_t errlen)
{
    char buf[512];
    /* A crash leaves the old file or the whole new one, never a torn one. */
    int len = render(p, buf, sizeof buf);
    int rc = len < 0 ? len : sk_atomic_write(dir, SK_META_PROPS_NAME, buf, (size_t)len);
    if (rc < 0)
        snprintf(err, errlen, "Error while writing meta.properties file %s: %s", dir,
                 strerror(-rc));
    return rc;
}
