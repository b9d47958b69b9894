/* meta.properties: which cluster and node a data directory belongs to, in
 * the file format of Kafka's MetaProperties, and the set of a node's
 * directories checked together as MetaPropertiesEnsemble does. */
#ifndef SKEIN_META_PROPS_H
#define SKEIN_META_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_META_PROPS_NAME "meta.properties"
/* Kafka's ids are 22 characters; a longer one is refused, never cut (the
 * node keeps it in struct sk_node's 32 bytes). */
#define SK_CLUSTER_ID_MAX 32

struct sk_meta_props {
    int version;                        /* 0 (ZooKeeper era) or 1 (KRaft) */
    int32_t node_id;                    /* -1: absent (only in version 0) */
    char cluster_id[SK_CLUSTER_ID_MAX]; /* "": absent (only in version 0) */
    bool has_dir_id;
    uint8_t dir_id[16];
};

/* Reads <dir>/meta.properties. 0; -ENOENT when there is none (the directory
 * is not formatted); -EINVAL with err set when it cannot be understood;
 * another -errno, with err set, when it cannot be read. */
int sk_meta_props_read(const char *dir, struct sk_meta_props *p, char *err, size_t errlen);

/* Replaces <dir>/meta.properties durably (temporary file, sync, rename,
 * directory sync). 0, or -errno with err set. */
int sk_meta_props_write(const char *dir, const struct sk_meta_props *p, char *err,
                        size_t errlen);

enum sk_meta_dir_state { SK_META_DIR_EMPTY, SK_META_DIR_ERROR, SK_META_DIR_OK };

struct sk_meta_dir {
    char *path;
    enum sk_meta_dir_state state;
    struct sk_meta_props props; /* when SK_META_DIR_OK */
    char error[512];            /* when SK_META_DIR_ERROR */
};

/* A node's directories: its log dirs and its metadata log dir, each once,
 * in path order. */
struct sk_meta_dirs {
    struct sk_meta_dir *dirs;
    size_t n;
    const char *metadata_dir; /* points into dirs[] */
};

/* Reads every directory's meta.properties; a directory that cannot be read is
 * kept in the ERROR state. 0, or -ENOMEM. */
int sk_meta_dirs_load(struct sk_meta_dirs *d, char *const *log_dirs, size_t n_log_dirs,
                      const char *metadata_dir);
void sk_meta_dirs_free(struct sk_meta_dirs *d);

/* A new directory id that no formatted directory of d carries. */
void sk_meta_dirs_new_dir_id(const struct sk_meta_dirs *d, uint8_t id[16]);

/* The directory entry for path, or NULL. */
struct sk_meta_dir *sk_meta_dirs_find(struct sk_meta_dirs *d, const char *path);

#define SK_META_REQUIRE_ONE_VALID 0x1u

/* Every formatted directory must carry one cluster id (cluster_id, when not
 * NULL) and one node id (node_id, when >= 0), and distinct, unreserved
 * directory ids; the metadata directory must be readable. 0, or -EINVAL with
 * Kafka's message in err. */
int sk_meta_dirs_verify(const struct sk_meta_dirs *d, const char *cluster_id, int32_t node_id,
                        unsigned flags, char *err, size_t errlen);

#endif
