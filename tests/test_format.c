/* Unit tests of storage formatting: Kafka's Uuid text form, meta.properties
 * files, the checks over a node's directories at start-up, `skein format`
 * and the KIP-853 initial controllers it takes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/config.h"
#include "skein/dynamic_voters.h"
#include "skein/errors.h"
#include "skein/format.h"
#include "skein/meta.h"
#include "skein/meta_props.h"
#include "skein/meta_snapshot.h"
#include "skein/server.h"
#include "skein/record.h"
#include "skein/uuid.h"
#include "skein/voters_snapshot.h"

static char err[2048];

/* ---- helpers ---- */

static char *temp_dir(void)
{
    char *d = strdup("/tmp/skein-format-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* A node of the given voters ("1@h:1,2@h:2,...") whose dirs are root/a and
 * root/b and whose metadata dir is root/m; extra: more overrides, one a line
 * (NULL: node.id=1). */
static void load_node(struct sk_config *cfg, const char *root, const char *voters,
                      const char *extra)
{
    char dirs[512], md[512], v[256], more[512];
    snprintf(dirs, sizeof dirs, "log.dirs=%s/a,%s/b", root, root);
    snprintf(md, sizeof md, "metadata.log.dir=%s/m", root);
    snprintf(v, sizeof v, "controller.quorum.voters=%s", voters);
    snprintf(more, sizeof more, "%s", extra ? extra : "node.id=1");
    const char *ov[8] = {dirs, md, v};
    int n = 3;
    for (char *line = strtok(more, "\n"); line && n < 8; line = strtok(NULL, "\n"))
        ov[n++] = line;
    int rc = sk_config_load(cfg, NULL, ov, n, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_NONE, "config: %s", err);
}

static const char *BROKER = "process.roles=broker\nlisteners=PLAINTEXT://127.0.0.1:0";

static struct sk_meta_props props_of(const char *dir)
{
    struct sk_meta_props p;
    cr_assert_eq(sk_meta_props_read(dir, &p, err, sizeof err), 0, "read %s: %s", dir, err);
    return p;
}

static char *sub(const char *root, const char *name)
{
    char *p = malloc(strlen(root) + strlen(name) + 2);
    sprintf(p, "%s/%s", root, name);
    return p;
}

/* ---- Uuid ---- */

Test(uuid, formats_and_parses_as_kafka)
{
    uint8_t id[16], back[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 17);
    char text[SK_UUID_STR_LEN + 1];
    sk_uuid_format(id, text);
    cr_assert_str_eq(text, "ABEiM0RVZneImaq7zN3u_w"); /* base64url of 00 11 22 .. ff */
    cr_assert_eq(sk_uuid_parse(text, strlen(text), back, err, sizeof err), 0, "%s", err);
    cr_assert_arr_eq(id, back, 16);
}

Test(uuid, random_ids_follow_uuid_random_uuid)
{
    for (int i = 0; i < 4000; i++) {
        uint8_t id[16];
        char text[SK_UUID_STR_LEN + 1];
        sk_uuid_random(id);
        sk_uuid_format(id, text);
        cr_assert_eq(strlen(text), 22);
        cr_assert_neq(text[0], '-', "%s starts with '-'", text);
        cr_assert_eq(id[6] >> 4, 4, "not version 4");
        cr_assert_eq(id[8] >> 6, 2, "not the IETF variant");
        sk_uuid_random_dir(id);
        sk_uuid_format(id, text);
        cr_assert_neq(text[0], '-');
        cr_assert_not(sk_uuid_dir_reserved(id));
    }
}

Test(uuid, refuses_what_uuid_from_string_refuses)
{
    uint8_t id[16];
    cr_assert_eq(sk_uuid_parse("AAAAAAAAAAAAAAAAAAAAAAA", 23, id, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "is too long to be decoded as a base64 UUID"), "%s", err);
    cr_assert_eq(sk_uuid_parse("AAAAAAAAAAAAAAAAAAAA+A", 22, id, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "Illegal base64 character 2b"), "%s", err);
    cr_assert_eq(sk_uuid_parse("AAAAAAAAAAAAAAAAAAAA", 20, id, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "decoded as 15 bytes"), "%s", err);
    cr_assert_eq(sk_uuid_parse("AAAAAAAAAAAAAAAAAAAAA", 21, id, err, sizeof err), -EINVAL);
    /* a NUL inside the length is a bad character, not an end */
    cr_assert_eq(sk_uuid_parse("AAAAAAAAAAA\0AAAAAAAAAA", 22, id, err, sizeof err), -EINVAL);
}

Test(uuid, the_first_hundred_directory_ids_are_reserved)
{
    uint8_t id[16] = {0};
    id[15] = 99;
    cr_assert(sk_uuid_dir_reserved(id));
    id[15] = 100;
    cr_assert_not(sk_uuid_dir_reserved(id));
    id[15] = 1;
    id[0] = 1;
    cr_assert_not(sk_uuid_dir_reserved(id));
}

/* ---- meta.properties ---- */

Test(meta_props, written_as_kafka_writes_it_and_read_back)
{
    char *d = temp_dir();
    struct sk_meta_props p = {.version = 1, .node_id = 7, .has_dir_id = true};
    strcpy(p.cluster_id, "ABEiM0RVZneImaq7zN3u_w");
    sk_uuid_random_dir(p.dir_id);
    cr_assert_eq(sk_meta_props_write(d, &p, err, sizeof err), 0, "%s", err);
    struct sk_meta_props q = props_of(d);
    cr_assert_eq(q.version, 1);
    cr_assert_eq(q.node_id, 7);
    cr_assert_str_eq(q.cluster_id, p.cluster_id);
    cr_assert(q.has_dir_id);
    cr_assert_arr_eq(q.dir_id, p.dir_id, 16);
    cr_assert_not(file_exists(d, "meta.properties.tmp"));
    remove_tree(d);
    free(d);
}

Test(meta_props, reads_files_kafka_wrote)
{
    char *d = temp_dir();
    write_text(d, "meta.properties",
               "#\n#Thu Oct 10 10:10:10 UTC 2024\n! another comment\r\n"
               "  node.id = 3\ndirectory.id:ABEiM0RVZneImaq7zN3u_w\n"
               "version=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n");
    struct sk_meta_props p = props_of(d);
    cr_assert_eq(p.node_id, 3);
    cr_assert_str_eq(p.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
    cr_assert(p.has_dir_id);
    write_text(d, "meta.properties", "broker.id=5\n"); /* version 0: ZooKeeper era */
    p = props_of(d);
    cr_assert_eq(p.version, 0);
    cr_assert_eq(p.node_id, 5);
    cr_assert_str_eq(p.cluster_id, "");
    remove_tree(d);
    free(d);
}

static void read_fails(const char *dir, const char *text, const char *needle)
{
    struct sk_meta_props p;
    write_text(dir, "meta.properties", text);
    cr_assert_eq(sk_meta_props_read(dir, &p, err, sizeof err), -EINVAL, "%s", text);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(meta_props, refuses_what_meta_properties_builder_refuses)
{
    char *d = temp_dir();
    struct sk_meta_props p;
    cr_assert_eq(sk_meta_props_read(d, &p, err, sizeof err), -ENOENT);
    read_fails(d, "version=1\ncluster.id=x\n", "Failed to find required property node.id.");
    read_fails(d, "version=1\nnode.id=1\n", "cluster.id was not found.");
    read_fails(d, "version=1\nnode.id=1\ncluster.id=0123456789012345678901234567890123\n",
               "cluster.id is empty or too long");
    read_fails(d, "version=1\nnode.id=one\ncluster.id=x\n", "node.id as a base-10 number");
    read_fails(d, "version=2\nnode.id=1\ncluster.id=x\n", "Unknown meta.properties version");
    read_fails(d, "version=1\nnode.id=1\ncluster.id=x\ndirectory.id=nope\n",
               "Unable to read directory.id as a Uuid");
    remove_tree(d);
    free(d);
}

/* ---- start-up ---- */

Test(startup, a_one_voter_node_formats_its_empty_dirs)
{
    char *root = temp_dir(), *a = sub(root, "a"), *b = sub(root, "b"), *m = sub(root, "m");
    struct sk_config cfg;
    load_node(&cfg, root, "1@127.0.0.1:9", NULL);
    char id[32];
    cr_assert_eq(sk_storage_open_dirs(&cfg, id, sizeof id, err, sizeof err), 0, "%s", err);
    cr_assert_eq(strlen(id), 22);
    struct sk_meta_props pa = props_of(a), pb = props_of(b), pm = props_of(m);
    cr_assert_str_eq(pa.cluster_id, id);
    cr_assert_str_eq(pm.cluster_id, id);
    cr_assert(pa.has_dir_id && pb.has_dir_id && pm.has_dir_id);
    cr_assert_arr_neq(pa.dir_id, pb.dir_id, 16);
    /* a second start finds the same cluster */
    char again[32];
    cr_assert_eq(sk_storage_open_dirs(&cfg, again, sizeof again, err, sizeof err), 0);
    cr_assert_str_eq(again, id);
    cr_assert_arr_eq(props_of(a).dir_id, pa.dir_id, 16);
    sk_config_free(&cfg);
    remove_tree(root);
    free(root), free(a), free(b), free(m);
}

Test(startup, the_embedded_default_still_formats_itself)
{
    struct sk_config cfg;
    cr_assert_eq(sk_config_load(&cfg, NULL, NULL, 0, err, sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert(sk_storage_may_self_format(&cfg));
    sk_config_free(&cfg);
    const char *ov[] = {"controller.quorum.bootstrap.servers=localhost:9093"};
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 1, err, sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_not(sk_storage_may_self_format(&cfg));
    sk_config_free(&cfg);
}

Test(startup, adds_a_directory_id_to_an_older_file)
{
    char *root = temp_dir(), *a = sub(root, "a");
    cr_assert_eq(sk_storage_mkdirs(a), 0);
    write_text(a, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n");
    struct sk_config cfg;
    load_node(&cfg, root, "1@127.0.0.1:9", NULL);
    char id[32];
    cr_assert_eq(sk_storage_open_dirs(&cfg, id, sizeof id, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(id, "MkU3OEVBNTcwNTJENDM2Qk");
    cr_assert(props_of(a).has_dir_id);
    char *m = sub(root, "m");
    cr_assert_str_eq(props_of(m).cluster_id, id);
    sk_config_free(&cfg);
    remove_tree(root);
    free(root), free(a), free(m);
}

static void open_fails(const char *root, const char *voters, const char *extra,
                       const char *needle)
{
    struct sk_config cfg;
    load_node(&cfg, root, voters, extra);
    char id[32];
    int rc = sk_storage_open_dirs(&cfg, id, sizeof id, err, sizeof err);
    sk_config_free(&cfg);
    cr_assert_lt(rc, 0, "started, expected '%s'", needle);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
    cr_assert_null(strchr(err, '\n'), "not one line: %s", err);
}

Test(startup, a_node_of_a_larger_quorum_refuses_unformatted_dirs)
{
    char *root = temp_dir(), *a = sub(root, "a");
    open_fails(root, "1@127.0.0.1:9,2@127.0.0.1:10,3@127.0.0.1:11", NULL,
               "No readable meta.properties files found.");
    cr_assert(strstr(err, "skein format --cluster-id"), "no hint: %s", err);
    cr_assert_not(file_exists(a, "meta.properties"));
    /* a broker whose one voter is another node cannot found the cluster either */
    open_fails(root, "2@127.0.0.1:9", BROKER, "No readable meta.properties files found.");
    sk_storage_mkdirs(a);
    write_text(a, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n");
    open_fails(root, "1@127.0.0.1:9,2@127.0.0.1:10,3@127.0.0.1:11", NULL,
               "No `meta.properties` found in ");
    remove_tree(root);
    free(root), free(a);
}

Test(startup, refuses_dirs_of_two_clusters_or_another_node)
{
    char *root = temp_dir(), *a = sub(root, "a"), *b = sub(root, "b");
    sk_storage_mkdirs(a);
    sk_storage_mkdirs(b);
    write_text(a, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n");
    write_text(b, "meta.properties", "cluster.id=ABEiM0RVZneImaq7zN3u_w\nnode.id=1\nversion=1\n");
    open_fails(root, "1@127.0.0.1:9", NULL, "Invalid cluster.id in: ");
    cr_assert(strstr(err, "Expected MkU3OEVBNTcwNTJENDM2Qk, but read ABEiM0RVZneImaq7zN3u_w"),
              "%s", err);
    write_text(b, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n");
    open_fails(root, "2@127.0.0.1:9", "node.id=2",
               "Stored node id 1 doesn't match previous node id 2 in ");
    write_text(b, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n"
                                     "directory.id=ABEiM0RVZneImaq7zN3u_w\n");
    write_text(a, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n"
                                     "directory.id=ABEiM0RVZneImaq7zN3u_w\n");
    open_fails(root, "1@127.0.0.1:9", NULL, "Duplicate directory ID ABEiM0RVZneImaq7zN3u_w");
    remove_tree(root);
    free(root), free(a), free(b);
}

/* ---- skein format ---- */

static const char *ID = "MkU3OEVBNTcwNTJENDM2Qk";

static int format(const char *root, const char *voters, const char *extra,
                  struct sk_format_opts o)
{
    struct sk_config cfg;
    load_node(&cfg, root, voters, extra);
    FILE *out = tmpfile();
    int rc = sk_format_run(&cfg, &o, out, err, sizeof err);
    fclose(out);
    sk_config_free(&cfg);
    return rc;
}

static void format_fails(const char *root, const char *voters, const char *extra,
                         struct sk_format_opts o, const char *needle)
{
    int rc = format(root, voters, extra, o);
    cr_assert_lt(rc, 0, "formatted, expected '%s'", needle);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(format_cmd, writes_every_dir_then_refuses_to_do_it_again)
{
    char *root = temp_dir(), *a = sub(root, "a"), *b = sub(root, "b"), *m = sub(root, "m");
    const char *v3 = "1@127.0.0.1:9,2@127.0.0.1:10,3@127.0.0.1:11";
    cr_assert_eq(format(root, v3, NULL, (struct sk_format_opts){.cluster_id = ID}), 0, "%s",
                 err);
    cr_assert_str_eq(props_of(a).cluster_id, ID);
    cr_assert_str_eq(props_of(m).cluster_id, ID);
    cr_assert_eq(props_of(b).node_id, 1);
    format_fails(root, v3, NULL, (struct sk_format_opts){.cluster_id = ID},
                 "is already formatted. Use --ignore-formatted to ignore this directory");
    cr_assert_eq(format(root, v3, NULL,
                        (struct sk_format_opts){.cluster_id = ID, .ignore_formatted = true}),
                 0, "%s", err);
    format_fails(root, v3, NULL,
                 (struct sk_format_opts){.cluster_id = "ABEiM0RVZneImaq7zN3u_w",
                                         .ignore_formatted = true},
                 "Invalid cluster.id in: ");
    /* and the node now starts on them, with that id */
    struct sk_config cfg;
    load_node(&cfg, root, v3, NULL);
    char id[32];
    cr_assert_eq(sk_storage_open_dirs(&cfg, id, sizeof id, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(id, ID);
    sk_config_free(&cfg);
    remove_tree(root);
    free(root), free(a), free(b), free(m);
}

Test(format_cmd, ignore_formatted_formats_only_the_new_dirs)
{
    char *root = temp_dir(), *a = sub(root, "a"), *b = sub(root, "b");
    sk_storage_mkdirs(a);
    write_text(a, "meta.properties", "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\nnode.id=1\nversion=1\n"
                                     "directory.id=ABEiM0RVZneImaq7zN3u_w\n");
    cr_assert_eq(format(root, "1@127.0.0.1:9", NULL,
                        (struct sk_format_opts){.cluster_id = ID, .ignore_formatted = true}),
                 0, "%s", err);
    struct sk_meta_props pa = props_of(a), pb = props_of(b);
    cr_assert(pa.has_dir_id && pb.has_dir_id);
    cr_assert_arr_neq(pa.dir_id, pb.dir_id, 16);
    remove_tree(root);
    free(root), free(a), free(b);
}

Test(format_cmd, refuses_bad_arguments_with_kafkas_words)
{
    char *root = temp_dir(), *a = sub(root, "a");
    const char *one = "1@127.0.0.1:9";
    format_fails(root, one, NULL, (struct sk_format_opts){.cluster_id = "not-a-cluster-id"},
                 "Cluster ID string not-a-cluster-id does not appear to be a valid UUID: ");
    format_fails(root, one, NULL, (struct sk_format_opts){0}, "--cluster-id/-t is required");
    format_fails(root, one, NULL,
                 (struct sk_format_opts){.cluster_id = ID, .standalone = true,
                                         .initial_controllers = "1@h:1:" /* any */},
                 "argument --initial-controllers/-I: not allowed with argument --standalone/-s");
    format_fails(root, "2@127.0.0.1:9", BROKER,
                 (struct sk_format_opts){.cluster_id = ID, .standalone = true},
                 "You cannot use --standalone on a broker node.");
    format_fails(root, one, NULL, (struct sk_format_opts){.cluster_id = ID, .standalone = true},
                 "when controller.quorum.voters is set");
    format_fails(root, one, NULL,
                 (struct sk_format_opts){.cluster_id = ID, .release_version = "3.99"},
                 "Unknown metadata.version '3.99'");
    format_fails(root, one, NULL,
                 (struct sk_format_opts){.cluster_id = ID, .release_version = "3.7"},
                 "metadata.version 3.7-IV4 (level 19) is not supported");
    cr_assert_not(file_exists(a, "meta.properties"), "a refused format wrote a file");
    cr_assert_eq(format(root, one, NULL,
                        (struct sk_format_opts){.cluster_id = ID, .release_version = "3.9"}),
                 0, "%s", err);
    remove_tree(root);
    free(root), free(a);
}

/* A node found through bootstrap servers: the KIP-853 flags apply. */
static const char *DYNAMIC = "controller.quorum.bootstrap.servers=127.0.0.1:9";

static int format_dynamic(const char *root, struct sk_format_opts o)
{
    struct sk_config cfg;
    char dirs[512], md[512];
    snprintf(dirs, sizeof dirs, "log.dirs=%s/a,%s/b", root, root);
    snprintf(md, sizeof md, "metadata.log.dir=%s/m", root);
    const char *ov[] = {dirs, md, "controller.quorum.voters=", DYNAMIC};
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 4, err, sizeof err), SK_ERR_NONE, "%s", err);
    FILE *out = tmpfile();
    int rc = sk_format_run(&cfg, &o, out, err, sizeof err);
    fclose(out);
    sk_config_free(&cfg);
    return rc;
}

Test(format_cmd, the_voter_directory_takes_the_voters_directory_id)
{
    char *root = temp_dir(), *m = sub(root, "m"), *a = sub(root, "a");
    const char *voters = "1@localhost:9093:ABEiM0RVZneImaq7zN3u_w,"
                         "2@[::1]:9094:MkU3OEVBNTcwNTJENDM2Qk";
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .initial_controllers = voters}),
                 0, "%s", err);
    uint8_t want[16];
    sk_uuid_parse("ABEiM0RVZneImaq7zN3u_w", 22, want, err, sizeof err);
    cr_assert_arr_eq(props_of(m).dir_id, want, 16);
    cr_assert_arr_neq(props_of(a).dir_id, want, 16);
    remove_tree(root);
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .standalone = true}),
                 0, "%s", err);
    cr_assert(props_of(m).has_dir_id);
    remove_tree(root);
    free(root), free(m), free(a);
}

/* ---- the KIP-853 bootstrap snapshot ---- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static uint8_t buf[65536];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static int16_t be16(const uint8_t *p) { return (int16_t)((uint16_t)p[0] << 8 | p[1]); }

/* One control batch as Kafka's ControlRecordsBuilder makes it. */
static void check_control_batch(const uint8_t *p, size_t len, int64_t base, int32_t count,
                                struct sk_batch_header *h)
{
    cr_assert_eq(sk_batch_header_read(p, len, h), 0);
    cr_assert_eq(h->base_offset, base);
    cr_assert_eq(h->partition_leader_epoch, 0);
    cr_assert_eq(h->magic, 2);
    cr_assert_eq(h->attributes, SK_BATCH_CONTROL, "attributes %x", h->attributes);
    cr_assert_eq(h->record_count, count);
    cr_assert_eq(h->last_offset_delta, count - 1);
    cr_assert_eq(h->producer_id, -1);
    cr_assert_eq(h->producer_epoch, -1);
    cr_assert_eq(h->base_sequence, -1);
    cr_assert_eq(sk_crc32c(0, p + 21, sk_batch_size(h) - 21), h->crc, "CRC");
}

/* The records' control types in order, and their values checked where
 * they are fixed: KRaftVersion {version 0, kraft.version 1}, the footer's
 * {version 0}, the header's version 0. */
static void check_records(const uint8_t *p, size_t len, const int16_t *types, int n)
{
    struct sk_buf scratch = {0};
    struct sk_record_iter it;
    struct sk_record r;
    cr_assert_eq(sk_record_iter_init(&it, p, len, &scratch), 0);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(sk_record_iter_next(&it, &r), 1);
        cr_assert_eq(r.key_len, 4);
        cr_assert_eq(be16(r.key), 0, "control key version");
        cr_assert_eq(be16(r.key + 2), types[i]);
        cr_assert_eq(be16(r.value), 0, "record version");
        if (types[i] == SK_CONTROL_KRAFT_VERSION) {
            cr_assert_eq(r.value_len, 5);
            cr_assert_eq(be16(r.value + 2), 1);
        }
        if (types[i] == SK_CONTROL_SNAPSHOT_FOOTER)
            cr_assert_eq(r.value_len, 3);
        if (types[i] == SK_CONTROL_SNAPSHOT_HEADER)
            cr_assert_eq(r.value_len, 2 + 8 + 1);
    }
    cr_assert_eq(sk_record_iter_next(&it, &r), 0);
    sk_buf_free(&scratch);
}

static void check_endpoint(const struct sk_voter_node *v, int32_t id, const char *host,
                           uint16_t port, const char *dir_id)
{
    uint8_t want[16];
    cr_assert_eq(v->id, id);
    cr_assert_eq(sk_uuid_parse(dir_id, 22, want, err, sizeof err), 0);
    cr_assert_arr_eq(v->dir_id, want, 16);
    cr_assert_eq(v->n_ep, 1);
    cr_assert_eq(v->ep[0].name_len, 10);
    cr_assert_arr_eq(v->ep[0].name, "CONTROLLER", 10);
    cr_assert_eq(v->ep[0].host_len, strlen(host));
    cr_assert_arr_eq(v->ep[0].host, host, strlen(host));
    cr_assert_eq(v->ep[0].port, port);
    cr_assert_eq(v->min_kraft, 0);
    cr_assert_eq(v->max_kraft, 1);
}

Test(voters_snapshot, format_writes_kafkas_bootstrap_checkpoint)
{
    char *root = temp_dir(), *m = sub(root, "m"), *a = sub(root, "a");
    const char *voters = "2@[::1]:9094:MkU3OEVBNTcwNTJENDM2Qk,"
                         "1@localhost:9093:ABEiM0RVZneImaq7zN3u_w";
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .initial_controllers = voters}),
                 0, "%s", err);
    char part[400], path[500];
    snprintf(part, sizeof part, "%s/__cluster_metadata-0", m);
    snprintf(path, sizeof path, "%s/" SK_BOOTSTRAP_SNAPSHOT_NAME, part);
    size_t len;
    const uint8_t *p = read_all(path, &len);
    struct sk_batch_header h1, h2;
    check_control_batch(p, len, 0, 3, &h1);
    check_records(p, sk_batch_size(&h1),
                  (int16_t[]){SK_CONTROL_SNAPSHOT_HEADER, SK_CONTROL_KRAFT_VERSION,
                              SK_CONTROL_KRAFT_VOTERS}, 3);
    const uint8_t *p2 = p + sk_batch_size(&h1);
    check_control_batch(p2, len - sk_batch_size(&h1), 3, 1, &h2);
    check_records(p2, sk_batch_size(&h2), (int16_t[]){SK_CONTROL_SNAPSHOT_FOOTER}, 1);
    cr_assert_eq(sk_batch_size(&h1) + sk_batch_size(&h2), len, "nothing after the footer");

    struct sk_voter_set *vs = malloc(sizeof *vs);
    int16_t kv = -1;
    cr_assert_eq(sk_voters_snapshot_decode(p, len, vs, &kv), 0);
    cr_assert_eq(kv, 1);
    cr_assert_eq(vs->n, 2);
    check_endpoint(&vs->v[0], 1, "localhost", 9093, "ABEiM0RVZneImaq7zN3u_w");
    check_endpoint(&vs->v[1], 2, "::1", 9094, "MkU3OEVBNTcwNTJENDM2Qk");
    memset(vs, 0, sizeof *vs);
    cr_assert_eq(sk_voters_snapshot_read(part, vs), 0);
    cr_assert_eq(vs->n, 2);
    cr_assert_not(file_exists(part, SK_BOOTSTRAP_SNAPSHOT_NAME ".tmp"));
    cr_assert_not(file_exists(a, "__cluster_metadata-0"), "a data dir got the snapshot");
    cr_assert(props_of(m).has_dir_id);
    free(vs);
    remove_tree(root);
    free(root), free(m), free(a);
}

Test(voters_snapshot, names_and_hosts_are_bytes_and_the_crc_is_checked)
{
    struct sk_voter_set *vs = calloc(1, sizeof *vs), *back = calloc(1, sizeof *back);
    vs->n = 1;
    struct sk_voter_node *v = &vs->v[0];
    v->id = 7;
    v->n_ep = 2;
    v->max_kraft = 1;
    memcpy(v->ep[0].name, "CON\0TROLLER", 11);
    v->ep[0].name_len = 11;
    memcpy(v->ep[0].host, "h\0st", 4);
    v->ep[0].host_len = 4;
    v->ep[0].port = 65535;
    memcpy(v->ep[1].name, "B", 1);
    v->ep[1].name_len = 1;
    struct sk_buf buf = {0};
    cr_assert_eq(sk_voters_snapshot_encode(vs, 1234, &buf), 0);
    cr_assert_eq(sk_voters_snapshot_decode(buf.data, buf.len, back, NULL), 0);
    cr_assert_eq(back->n, 1);
    cr_assert_eq(back->v[0].ep[0].name_len, 11);
    cr_assert_arr_eq(back->v[0].ep[0].name, "CON\0TROLLER", 11);
    cr_assert_eq(back->v[0].ep[0].host_len, 4);
    cr_assert_arr_eq(back->v[0].ep[0].host, "h\0st", 4);
    cr_assert_eq(back->v[0].ep[0].port, 65535);
    cr_assert_eq(back->v[0].n_ep, 2);
    cr_assert_eq(back->v[0].ep[1].host_len, 0);
    buf.data[buf.len / 2] ^= 1;
    cr_assert_eq(sk_voters_snapshot_decode(buf.data, buf.len, back, NULL), -EBADMSG);
    sk_buf_free(&buf);
    /* a snapshot without a Voters record has no voter set */
    cr_assert_eq(sk_voters_snapshot_close(0, 0, 1, &buf), 0);
    cr_assert_eq(sk_voters_snapshot_decode(buf.data, buf.len, back, NULL), -ENOENT);
    sk_buf_free(&buf);
    free(vs), free(back);
}

static void written(void *arg, int e)
{
    *(int *)arg = e;
}

/* A later metadata snapshot carries the voter set, so deleting the
 * bootstrap one loses nothing; its image still loads. */
Test(voters_snapshot, metadata_snapshots_carry_the_voter_set)
{
    char *root = temp_dir();
    struct sk_voter_set *vs = calloc(1, sizeof *vs), *back = calloc(1, sizeof *back);
    vs->n = 1;
    vs->v[0] = (struct sk_voter_node){.id = 3, .n_ep = 1, .max_kraft = 1};
    memcpy(vs->v[0].ep[0].name, "CONTROLLER", 10);
    vs->v[0].ep[0].name_len = 10;
    vs->v[0].ep[0].port = 9093;
    struct sk_meta_image img, loaded;
    sk_meta_image_init(&img);
    img.last_offset = 9;
    struct sk_atomic_writer *aw = sk_atomic_writer_new(NULL, root);
    int e = 1;
    cr_assert_eq(sk_meta_snapshot_write_voters_async(aw, &img, vs, 2, 1000, written, &e), 0);
    cr_assert_eq(e, 0);
    sk_atomic_writer_free(aw);
    cr_assert(file_exists(root, "00000000000000000010-0000000002.checkpoint"));
    cr_assert_eq(sk_voters_snapshot_read(root, back), 0);
    cr_assert_eq(back->n, 1);
    cr_assert_eq(back->v[0].id, 3);
    cr_assert_eq(back->v[0].ep[0].port, 9093);
    sk_meta_image_init(&loaded);
    cr_assert_eq(sk_meta_snapshot_load(root, 10, &loaded), 0);
    cr_assert_eq(loaded.last_offset, 9);
    sk_meta_image_free(&loaded);
    sk_meta_image_free(&img);
    remove_tree(root);
    free(root), free(vs), free(back);
}

/* A metadata snapshot of a static quorum: its header and footer control
 * records carry their values as Kafka's readers take them (the record,
 * its own Version field first), the header alone in the first batch and
 * the footer alone in the last. */
Test(voters_snapshot, metadata_snapshot_control_records_are_kafkas)
{
    char *root = temp_dir();
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    img.last_offset = 9;
    struct sk_atomic_writer *aw = sk_atomic_writer_new(NULL, root);
    int e = 1;
    cr_assert_eq(sk_meta_snapshot_write_async(aw, &img, 2, 1000, written, &e), 0);
    cr_assert_eq(e, 0);
    sk_atomic_writer_free(aw);
    char path[600];
    snprintf(path, sizeof path, "%s/00000000000000000010-0000000002.checkpoint", root);
    size_t len;
    const uint8_t *p = read_all(path, &len);
    struct sk_batch_header h, last;
    cr_assert_eq(sk_batch_header_read(p, len, &h), 0);
    cr_assert_eq(h.attributes, SK_BATCH_CONTROL);
    check_records(p, sk_batch_size(&h), (int16_t[]){SK_CONTROL_SNAPSHOT_HEADER}, 1);
    size_t at = 0;
    while (at + sk_batch_size(&h) < len) {
        at += sk_batch_size(&h);
        cr_assert_eq(sk_batch_header_read(p + at, len - at, &h), 0);
    }
    last = h;
    cr_assert_eq(at + sk_batch_size(&last), len);
    cr_assert_eq(last.attributes, SK_BATCH_CONTROL);
    check_records(p + at, sk_batch_size(&last), (int16_t[]){SK_CONTROL_SNAPSHOT_FOOTER}, 1);
    sk_meta_image_free(&img);
    remove_tree(root);
    free(root);
}

Test(voters_snapshot, no_initial_controllers_is_checked_as_kafka_checks_it)
{
    char *root = temp_dir(), *m = sub(root, "m");
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID}), -EINVAL);
    cr_assert(strstr(err, "Because controller.quorum.voters is not set on this controller, you "
                          "must specify one of the following: --standalone, "
                          "--initial-controllers, or --no-initial-controllers."), "%s", err);
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .standalone = true,
                                                              .no_initial_controllers = true}),
                 -EINVAL);
    cr_assert(strstr(err, "argument --no-initial-controllers/-N: not allowed with argument "
                          "--standalone/-s"), "%s", err);
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .initial_controllers = "1@h:1:"
                                                              "ABEiM0RVZneImaq7zN3u_w",
                                                              .no_initial_controllers = true}),
                 -EINVAL);
    cr_assert(strstr(err, "not allowed with argument --initial-controllers/-I"), "%s", err);
    cr_assert_not(file_exists(m, "meta.properties"));
    cr_assert_eq(format_dynamic(root, (struct sk_format_opts){.cluster_id = ID,
                                                              .no_initial_controllers = true}),
                 0, "%s", err);
    cr_assert(props_of(m).has_dir_id);
    cr_assert_not(file_exists(m, "__cluster_metadata-0/" SK_BOOTSTRAP_SNAPSHOT_NAME));
    remove_tree(root);
    free(root), free(m);
}

/* ---- initial controllers ---- */

static void voters_fail(const char *s, const char *needle)
{
    struct sk_dynamic_voters vs;
    cr_assert_eq(sk_dynamic_voters_parse(s, strlen(s), &vs, err, sizeof err), -EINVAL, "%s", s);
    cr_assert(strstr(err, needle), "'%s': '%s' lacks '%s'", s, err, needle);
}

Test(dynamic_voters, parses_as_dynamic_voters_parse)
{
    struct sk_dynamic_voters vs;
    const char *s = " 0@localhost:8082:JEXY6aqzQY-32P5TStzaFg,1@[::1]:8083:MvDxzVmcRsaTz33bUuRU6A ";
    cr_assert_eq(sk_dynamic_voters_parse(s, strlen(s), &vs, err, sizeof err), 0, "%s", err);
    cr_assert_eq(vs.n, 2);
    cr_assert_eq(vs.v[0].id, 0);
    cr_assert_str_eq(vs.v[0].host, "localhost");
    cr_assert_eq(vs.v[0].port, 8082);
    cr_assert_str_eq(vs.v[1].host, "::1");
    cr_assert_eq(vs.v[1].port, 8083);
    cr_assert_not_null(sk_dynamic_voters_find(&vs, 1));
    voters_fail("", "No voters given.");
    voters_fail("localhost:1:JEXY6aqzQY-32P5TStzaFg", "No @ found in dynamic voter string.");
    voters_fail("@localhost:1:JEXY6aqzQY-32P5TStzaFg", "Invalid @ at beginning");
    voters_fail("x@localhost:1:JEXY6aqzQY-32P5TStzaFg", "Failed to parse node id");
    voters_fail("-1@localhost:1:JEXY6aqzQY-32P5TStzaFg", "Invalid negative node id -1");
    voters_fail("1@", "No hostname found after node id.");
    voters_fail("1@[::1:1:JEXY6aqzQY-32P5TStzaFg", "no right bracket was found");
    voters_fail("1@localhost", "No colon following hostname could be found.");
    voters_fail("1@[::1]1:JEXY6aqzQY-32P5TStzaFg", "Port section must start with a colon.");
    voters_fail("1@localhost:1", "No colon following port could be found.");
    voters_fail("1@localhost:p:JEXY6aqzQY-32P5TStzaFg", "Failed to parse port");
    voters_fail("1@localhost:70000:JEXY6aqzQY-32P5TStzaFg", "Invalid port 70000");
    voters_fail("1@localhost:1:nope", "Failed to parse directory ID");
    voters_fail("1@a:1:JEXY6aqzQY-32P5TStzaFg,1@b:2:MvDxzVmcRsaTz33bUuRU6A",
                "Node id 1 was specified more than once.");
}
