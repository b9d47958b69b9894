/* Metadata snapshots: the image written as records, so the log before it can
 * be deleted and start-up replays only what came after.
 *
 * As in KRaft, a snapshot is <log dir>/__cluster_metadata-0/
 * <20-digit end offset>-<10-digit epoch>.checkpoint: a control batch with a
 * SnapshotHeaderRecord, batches of metadata records that rebuild the image,
 * and a control batch with a SnapshotFooterRecord. Invariant: applying a
 * snapshot of end offset E to an empty image gives the image the log had
 * after applying every record below E. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/meta_snapshot.h"
#include "skein/record.h"
#include "skein/voters_snapshot.h"

#define SNAP_SUFFIX ".checkpoint"
#define CONTROL_SNAPSHOT_HEADER 3
#define CONTROL_SNAPSHOT_FOOTER 4
#define RECORDS_PER_BATCH 1000

/* Collects encoded metadata records and cuts them into batches. */
struct snap_writer {
    struct sk_buf out;
    struct sk_batch_builder b;
    int count;
    int64_t next_offset;
    int64_t now;
    int err;
};

static void flush_batch(struct snap_writer *w)
{
    if (w->count == 0 || w->err)
        return;
    w->err = sk_batch_builder_finish(&w->b, &w->out);
    sk_batch_builder_free(&w->b);
    w->next_offset += w->count;
    w->count = 0;
}

static void add_value(struct snap_writer *w, const void *key, int32_t klen, const void *v,
                      int32_t vlen, bool control)
{
    if (w->err)
        return;
    if (w->count == 0) {
        struct sk_batch_spec spec = sk_batch_spec_default();
        spec.base_offset = w->next_offset;
        spec.flags = control ? SK_BATCH_CONTROL : 0;
        sk_batch_builder_init(&w->b, &spec);
    }
    struct sk_record_in in = {.timestamp = w->now, .key = key, .key_len = klen,
                              .value = v, .value_len = vlen};
    w->err = sk_batch_builder_add(&w->b, &in);
    w->count++;
    if (control || w->count == RECORDS_PER_BATCH)
        flush_batch(w);
}

static void add_record(struct snap_writer *w, int16_t type, const void *rec)
{
    int16_t version = kp_metadata_record_get(type)->max_version;
    size_t len = sk_meta_record_size(type, version, rec);
    uint8_t *v = malloc(len ? len : 1);
    if (!v || sk_meta_record_encode(v, len, type, version, rec) < 0)
        w->err = -ENOMEM;
    else
        add_value(w, NULL, -1, v, (int32_t)len, false);
    free(v);
}

/* Control records: key = int16 version 0, int16 type; value = int16 version 0
 * then the record (SnapshotHeaderRecord or SnapshotFooterRecord, version 0). */
static void add_control(struct snap_writer *w, int16_t type, int64_t now_ms)
{
    uint8_t key[4] = {0, 0, (uint8_t)(type >> 8), (uint8_t)type};
    /* The value is the record itself (Kafka's MessageUtil.toByteBuffer):
     * its own Version field comes first, with no prefix before it. */
    uint8_t v[16] = {0};
    kp_writer wr;
    kp_writer_init(&wr, v, sizeof v);
    int rc;
    if (type == CONTROL_SNAPSHOT_HEADER) {
        kp_snapshot_header_record h;
        kp_snapshot_header_record_init(&h);
        h.last_contained_log_timestamp = now_ms;
        rc = kp_snapshot_header_record_encode(&h, &wr, 0);
    } else {
        kp_snapshot_footer_record f;
        kp_snapshot_footer_record_init(&f);
        rc = kp_snapshot_footer_record_encode(&f, &wr, 0);
    }
    if (rc < 0)
        w->err = -EINVAL;
    else
        add_value(w, key, 4, v, (int32_t)(wr.p - v), true);
}

static void write_features(struct snap_writer *w, const struct sk_meta_image *img)
{
    for (int i = 0; i < img->nfeatures; i++) {
        kp_feature_level_record r;
        kp_feature_level_record_init(&r);
        r.name = kp_str_c(img->features[i].name);
        r.feature_level = img->features[i].level;
        add_record(w, SK_META_FEATURE_LEVEL, &r);
    }
}

static void write_broker(struct snap_writer *w, const struct sk_broker_meta *b)
{
    kp_register_broker_record r;
    kp_register_broker_record_init(&r);
    r.broker_id = b->id;
    r.broker_epoch = b->epoch;
    r.incarnation_id = b->incarnation;
    r.rack = kp_str_c(b->rack);
    r.fenced = b->fenced;
    kp_register_broker_record_broker_endpoint *ep = calloc((size_t)b->nendpoints + 1, sizeof *ep);
    if (!ep) {
        w->err = -ENOMEM;
        return;
    }
    for (int i = 0; i < b->nendpoints; i++) {
        kp_register_broker_record_broker_endpoint_init(&ep[i]);
        ep[i].name = kp_str_c(b->endpoints[i].listener);
        ep[i].host = kp_str_c(b->endpoints[i].host);
        ep[i].port = b->endpoints[i].port;
        ep[i].security_protocol = b->endpoints[i].security_protocol;
    }
    r.end_points = (kp_register_broker_record_broker_endpoint_arr){b->nendpoints, ep};
    add_record(w, SK_META_REGISTER_BROKER, &r);
    free(ep);
}

static void write_controller(struct snap_writer *w, const struct sk_broker_meta *c)
{
    kp_register_controller_record r;
    kp_register_controller_record_init(&r);
    r.controller_id = c->id;
    r.incarnation_id = c->incarnation;
    kp_register_controller_record_controller_endpoint *ep =
        calloc((size_t)c->nendpoints + 1, sizeof *ep);
    if (!ep) {
        w->err = -ENOMEM;
        return;
    }
    for (int i = 0; i < c->nendpoints; i++) {
        kp_register_controller_record_controller_endpoint_init(&ep[i]);
        ep[i].name = kp_str_c(c->endpoints[i].listener);
        ep[i].host = kp_str_c(c->endpoints[i].host);
        ep[i].port = c->endpoints[i].port;
        ep[i].security_protocol = c->endpoints[i].security_protocol;
    }
    r.end_points = (kp_register_controller_record_controller_endpoint_arr){c->nendpoints, ep};
    add_record(w, SK_META_REGISTER_CONTROLLER, &r);
    free(ep);
}

static void write_config(struct snap_writer *w, int8_t type, const char *resource,
                         const struct sk_kvlist *l)
{
    for (int i = 0; i < l->n; i++) {
        kp_config_record r;
        kp_config_record_init(&r);
        r.resource_type = type;
        r.resource_name = kp_str_c(resource);
        r.name = (kp_str){l->v[i].key, l->v[i].key_len};
        r.value = (kp_str){l->v[i].value, l->v[i].value_len};
        add_record(w, SK_META_CONFIG, &r);
    }
}

static void write_topic(struct snap_writer *w, const struct sk_topic_meta *t)
{
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = kp_str_c(t->name);
    tr.topic_id = t->id;
    add_record(w, SK_META_TOPIC, &tr);
    for (int32_t i = 0; i < t->npartitions; i++) {
        const struct sk_partition_meta *p = &t->partitions[i];
        kp_partition_record pr;
        kp_partition_record_init(&pr);
        pr.partition_id = p->id;
        pr.topic_id = t->id;
        pr.replicas = (kp_arr_i32){p->nreplicas, p->replicas};
        pr.isr = (kp_arr_i32){p->nisr, p->isr};
        pr.adding_replicas = (kp_arr_i32){p->nadding, p->adding};
        pr.removing_replicas = (kp_arr_i32){p->nremoving, p->removing};
        pr.leader = p->leader;
        pr.leader_epoch = p->leader_epoch;
        pr.partition_epoch = p->partition_epoch;
        pr.leader_recovery_state = p->leader_recovery_state;
        add_record(w, SK_META_PARTITION, &pr);
    }
    write_config(w, SK_RESOURCE_TOPIC, t->name, &t->configs);
}

static void write_quota(struct snap_writer *w, const struct sk_quota_entry *q)
{
    kp_client_quota_record_entity_data ents[SK_QUOTA_MAX_PARTS];
    int n = q->nparts;
    for (int k = 0; k < n; k++) {
        kp_client_quota_record_entity_data_init(&ents[k]);
        ents[k].entity_type = q->parts[k].type;
        ents[k].entity_name = q->parts[k].name;
    }
    for (int i = 0; i < q->values.n; i++) {
        kp_client_quota_record r;
        kp_client_quota_record_init(&r);
        r.entity = (kp_client_quota_record_entity_data_arr){n, ents};
        r.key = kp_str_c(q->values.v[i].key);
        r.value = strtod(q->values.v[i].value, NULL);
        add_record(w, SK_META_CLIENT_QUOTA, &r);
    }
}

static void write_image(struct snap_writer *w, const struct sk_meta_image *img)
{
    write_features(w, img);
    for (int i = 0; i < img->nbrokers; i++)
        write_broker(w, &img->brokers[i]);
    for (int i = 0; i < img->ncontrollers; i++)
        write_controller(w, &img->controllers[i]);
    write_config(w, SK_RESOURCE_BROKER, "", &img->cluster_configs);
    for (int i = 0; i < img->nbroker_configs; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", img->broker_configs[i].id);
        write_config(w, SK_RESOURCE_BROKER, id, &img->broker_configs[i].kv);
    }
    for (int i = 0; i < img->ntopics; i++)
        write_topic(w, img->topics[i]);
    for (int i = 0; i < img->nquotas; i++)
        write_quota(w, &img->quotas[i]);
    if (img->next_producer_id > 0) {
        kp_producer_ids_record r;
        kp_producer_ids_record_init(&r);
        r.broker_id = img->nbrokers ? img->brokers[0].id : -1;
        r.next_producer_id = img->next_producer_id;
        add_record(w, SK_META_PRODUCER_IDS, &r);
    }
}

static void snapshot_path(char *out, size_t len, const char *dir, int64_t end, int32_t epoch)
{
    snprintf(out, len, "%s/%020" PRId64 "-%010d" SNAP_SUFFIX, dir, end, epoch);
}

/* <20 digits>-<10 digits>.checkpoint, and nothing else (not a .part). */
static bool parse_name(const char *name, int64_t *end, int32_t *epoch)
{
    size_t n = strlen(name);
    if (n != 20 + 1 + 10 + strlen(SNAP_SUFFIX) || name[20] != '-' ||
        strcmp(name + 31, SNAP_SUFFIX) != 0)
        return false;
    for (int i = 0; i < 31; i++)
        if (i != 20 && (name[i] < '0' || name[i] > '9'))
            return false;
    *end = strtoll(name, NULL, 10);
    *epoch = (int32_t)strtol(name + 21, NULL, 10);
    return true;
}

/* The file is put in place by the atomic writer: written, synced, renamed,
 * its directory synced, so a snapshot by its final name is always whole. */
int sk_meta_snapshot_write_async(struct sk_atomic_writer *aw, const struct sk_meta_image *img,
                                 int32_t epoch, int64_t now_ms,
                                 sk_atomic_done_fn done, void *arg)
{
    return sk_meta_snapshot_write_voters_async(aw, img, NULL, epoch, now_ms, done, arg);
}

/* The header batch, with the voter set when there is one: Kafka's
 * RecordsSnapshotWriter puts them in one control batch. */
static void open_snapshot(struct snap_writer *w, const struct sk_voter_set *voters)
{
    if (!voters) {
        add_control(w, CONTROL_SNAPSHOT_HEADER, w->now);
        return;
    }
    w->err = sk_voters_snapshot_open(voters, 0, 0, w->now, w->now, &w->out);
    w->next_offset += 3;
}

int sk_meta_snapshot_write_voters_async(struct sk_atomic_writer *aw,
                                        const struct sk_meta_image *img,
                                        const struct sk_voter_set *voters, int32_t epoch,
                                        int64_t now_ms, sk_atomic_done_fn done, void *arg)
{
    struct snap_writer w = {.now = now_ms};
    int64_t end = img->last_offset + 1;
    open_snapshot(&w, voters);
    write_image(&w, img);
    flush_batch(&w);
    add_control(&w, CONTROL_SNAPSHOT_FOOTER, now_ms);
    char name[64];
    snapshot_path(name, sizeof name, "", end, epoch);
    int rc = w.err;
    if (rc == 0)
        rc = sk_atomic_writer_write(aw, name + 1, w.out.data, w.out.len, done, arg);
    sk_buf_free(&w.out);
    return rc;
}


int64_t sk_meta_snapshot_latest_id(const char *dir, int64_t max_end, int32_t *epoch)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int64_t best = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t end;
        int32_t e;
        if (parse_name(de->d_name, &end, &e) && end <= max_end && end > best) {
            best = end;
            if (epoch)
                *epoch = e;
        }
    }
    closedir(d);
    return best;
}

int64_t sk_meta_snapshot_latest(const char *dir, int64_t max_end)
{
    return sk_meta_snapshot_latest_id(dir, max_end, NULL);
}

int sk_meta_snapshot_path(const char *dir, int64_t end, char *path, size_t len)
{
    int32_t epoch = 0;
    if (sk_meta_snapshot_latest_id(dir, end, &epoch) != end)
        return -ENOENT;
    snapshot_path(path, len, dir, end, epoch);
    return 0;
}

static int read_file(const char *path, struct sk_buf *buf)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sk_buf_append(buf, chunk, n);
    if (rc == 0 && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}

int sk_meta_snapshot_read(const char *dir, int64_t end, struct sk_buf *out)
{
    char path[4400];
    int rc = sk_meta_snapshot_path(dir, end, path, sizeof path);
    return rc < 0 ? rc : read_file(path, out);
}

int sk_meta_snapshot_load(const char *dir, int64_t end, struct sk_meta_image *img)
{
    struct sk_buf buf = {0};
    int rc = sk_meta_snapshot_read(dir, end, &buf);
    if (rc == 0)
        rc = sk_meta_apply_batches(img, buf.data, buf.len, true);
    if (rc == 0)
        img->last_offset = end - 1;
    sk_buf_free(&buf);
    return rc;
}

void sk_meta_snapshot_prune(const char *dir, int64_t keep_end)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < strlen(SNAP_SUFFIX) || strcmp(de->d_name + n - strlen(SNAP_SUFFIX), SNAP_SUFFIX))
            continue;
        if (strtoll(de->d_name, NULL, 10) < keep_end) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}
