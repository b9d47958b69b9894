/* KIP-853's voter set in a KRaft snapshot (skein/voters_snapshot.h), laid
 * out as Kafka 3.9's RecordsSnapshotWriter lays it out: a control batch
 * (v2, attributes: control, CreateTime, no producer) of the SnapshotHeader,
 * KRaftVersion and Voters records, the snapshot's other batches, then a
 * control batch of the SnapshotFooter. Each control record's key is Kafka's
 * ControlRecordType key (int16 version 0, int16 type); its value is the
 * message alone, version 0, with no version prefix (MessageUtil.toByteBuffer).
 *
 * Voters are written in ascending id order. Kafka iterates a HashMap of
 * them, which gives the same order while every id is below the map's table
 * size (8 or more): the ids of any real quorum. */
#include "skein/voters_snapshot.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_k_raft_version_record.h"
#include "gen/kp_snapshot_footer_record.h"
#include "gen/kp_snapshot_header_record.h"
#include "gen/kp_voters_record.h"
#include "skein/atomic_writer.h"
#include "skein/meta_snapshot.h"
#include "skein/record.h"
#include "skein/server.h"

#define KRAFT_VERSION_1 1
#define CONTROL_RECORDS_MAX 3

/* One control record's key and value, the value from the arena. */
struct control {
    uint8_t key[4];
    uint8_t *value;
    size_t len;
};

typedef int (*encode_fn)(const void *m, kp_writer *w);
typedef size_t (*size_fn)(const void *m);

static int enc_header(const void *m, kp_writer *w) { return kp_snapshot_header_record_encode(m, w, 0); }
static size_t sz_header(const void *m) { return kp_snapshot_header_record_size(m, 0); }
static int enc_kraft(const void *m, kp_writer *w) { return kp_k_raft_version_record_encode(m, w, 0); }
static size_t sz_kraft(const void *m) { return kp_k_raft_version_record_size(m, 0); }
static int enc_voters(const void *m, kp_writer *w) { return kp_voters_record_encode(m, w, 0); }
static size_t sz_voters(const void *m) { return kp_voters_record_size(m, 0); }
static int enc_footer(const void *m, kp_writer *w) { return kp_snapshot_footer_record_encode(m, w, 0); }
static size_t sz_footer(const void *m) { return kp_snapshot_footer_record_size(m, 0); }

static int control_of(int16_t type, const void *m, encode_fn enc, size_fn sz, kp_arena *a,
                      struct control *c)
{
    c->key[0] = c->key[1] = 0;
    c->key[2] = (uint8_t)((uint16_t)type >> 8);
    c->key[3] = (uint8_t)type;
    c->len = sz(m);
    c->value = kp_arena_alloc(a, c->len ? c->len : 1);
    if (!c->value)
        return -ENOMEM;
    kp_writer w;
    kp_writer_init(&w, c->value, c->len);
    return enc(m, &w) < 0 ? -EINVAL : 0;
}

static int control_batch(const struct control *c, int n, int64_t base, int32_t epoch,
                         int64_t now_ms, struct sk_buf *out)
{
    struct sk_record_in recs[CONTROL_RECORDS_MAX];
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_record_in){.timestamp = now_ms, .key = c[i].key, .key_len = 4,
                                        .value = c[i].value, .value_len = (int32_t)c[i].len};
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base;
    spec.partition_leader_epoch = epoch;
    spec.flags = SK_BATCH_CONTROL;
    return sk_batch_build(out, &spec, recs, (size_t)n);
}

static int sort_by_id(const void *a, const void *b)
{
    int32_t x = (*(const struct sk_voter_node *const *)a)->id;
    int32_t y = (*(const struct sk_voter_node *const *)b)->id;
    return (x > y) - (x < y);
}

static void voter_out(const struct sk_voter_node *v, kp_voters_record_endpoint *eps,
                      kp_voters_record_voter *o)
{
    kp_voters_record_voter_init(o);
    o->voter_id = v->id;
    memcpy(o->voter_directory_id.b, v->dir_id, 16);
    for (int e = 0; e < v->n_ep; e++) {
        kp_voters_record_endpoint_init(&eps[e]);
        eps[e].name = (kp_str){(const char *)v->ep[e].name, v->ep[e].name_len};
        eps[e].host = (kp_str){(const char *)v->ep[e].host, v->ep[e].host_len};
        eps[e].port = v->ep[e].port;
    }
    o->endpoints = (kp_voters_record_endpoint_arr){v->n_ep, eps};
    o->k_raft_version_feature.min_supported_version = v->min_kraft;
    o->k_raft_version_feature.max_supported_version = v->max_kraft;
}

static int voters_record(const struct sk_voter_set *vs, kp_arena *a, kp_voters_record *r)
{
    kp_voters_record_init(r);
    if (vs->n > SK_VOTER_SET_MAX)
        return -EINVAL;
    const struct sk_voter_node *order[SK_VOTER_SET_MAX];
    for (size_t i = 0; i < vs->n; i++)
        order[i] = &vs->v[i];
    qsort(order, vs->n, sizeof order[0], sort_by_id);
    kp_voters_record_voter *out = kp_arena_calloc(a, vs->n + 1, sizeof *out);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < vs->n; i++) {
        if (order[i]->n_ep < 0 || order[i]->n_ep > SK_VOTER_ENDPOINTS_MAX)
            return -EINVAL;
        kp_voters_record_endpoint *eps =
            kp_arena_calloc(a, (size_t)order[i]->n_ep + 1, sizeof *eps);
        if (!eps)
            return -ENOMEM;
        voter_out(order[i], eps, &out[i]);
    }
    r->voters = (kp_voters_record_voter_arr){(int32_t)vs->n, out};
    return 0;
}

/* One control batch of the voter set: the Voters record, after the
 * KRaftVersion record when with_kraft_version, after the SnapshotHeader
 * when header is not NULL (the order Kafka writes them in). */
static int voters_batch(const struct sk_voter_set *vs, const kp_snapshot_header_record *header,
                        bool with_kraft_version, int64_t base, int32_t epoch, int64_t now_ms,
                        struct sk_buf *out)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_k_raft_version_record k;
    kp_k_raft_version_record_init(&k);
    k.k_raft_version = KRAFT_VERSION_1;
    kp_voters_record v;
    struct control c[CONTROL_RECORDS_MAX];
    int n = 0, rc = 0;
    if (header)
        rc = control_of(SK_CONTROL_SNAPSHOT_HEADER, header, enc_header, sz_header, &a, &c[n++]);
    if (rc == 0 && with_kraft_version)
        rc = control_of(SK_CONTROL_KRAFT_VERSION, &k, enc_kraft, sz_kraft, &a, &c[n++]);
    if (rc == 0)
        rc = voters_record(vs, &a, &v);
    if (rc == 0)
        rc = control_of(SK_CONTROL_KRAFT_VOTERS, &v, enc_voters, sz_voters, &a, &c[n++]);
    if (rc == 0)
        rc = control_batch(c, n, base, epoch, now_ms, out);
    kp_arena_free(&a);
    return rc;
}

int sk_voters_snapshot_open(const struct sk_voter_set *vs, int64_t base, int32_t epoch,
                            int64_t last_ts, int64_t now_ms, struct sk_buf *out)
{
    kp_snapshot_header_record h;
    kp_snapshot_header_record_init(&h);
    h.last_contained_log_timestamp = last_ts;
    return voters_batch(vs, &h, true, base, epoch, now_ms, out);
}

/* Kafka's leader writes the KRaftVersion record too when the set enters
 * the log for the first time, at its epoch's start. */
int sk_voters_control_batch(const struct sk_voter_set *vs, bool with_kraft_version, int64_t base,
                            int32_t epoch, int64_t now_ms, struct sk_buf *out)
{
    return voters_batch(vs, NULL, with_kraft_version, base, epoch, now_ms, out);
}

int sk_voters_snapshot_close(int64_t base, int32_t epoch, int64_t now_ms, struct sk_buf *out)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_snapshot_footer_record f;
    kp_snapshot_footer_record_init(&f);
    struct control c;
    int rc = control_of(SK_CONTROL_SNAPSHOT_FOOTER, &f, enc_footer, sz_footer, &a, &c);
    if (rc == 0)
        rc = control_batch(&c, 1, base, epoch, now_ms, out);
    kp_arena_free(&a);
    return rc;
}

/* Kafka's formatter stamps the header with the time it formats: the
 * bootstrap snapshot contains no log record whose time it could give. */
int sk_voters_snapshot_encode(const struct sk_voter_set *vs, int64_t now_ms,
                              struct sk_buf *out)
{
    int rc = sk_voters_snapshot_open(vs, 0, 0, now_ms, now_ms, out);
    return rc < 0 ? rc : sk_voters_snapshot_close(3, 0, now_ms, out);
}

/* ---- reading ---- */

static int copy_str(kp_str s, uint8_t *dst, uint16_t *len)
{
    if (s.len < 0 || s.len > SK_VOTER_STR_MAX)
        return -EBADMSG;
    memcpy(dst, s.ptr, (size_t)s.len);
    *len = (uint16_t)s.len;
    return 0;
}

static int voter_in(const kp_voters_record_voter *in, struct sk_voter_node *v)
{
    memset(v, 0, sizeof *v);
    v->id = in->voter_id;
    memcpy(v->dir_id, in->voter_directory_id.b, 16);
    v->min_kraft = in->k_raft_version_feature.min_supported_version;
    v->max_kraft = in->k_raft_version_feature.max_supported_version;
    if (in->endpoints.n < 0 || in->endpoints.n > SK_VOTER_ENDPOINTS_MAX)
        return -EBADMSG;
    v->n_ep = in->endpoints.n;
    for (int e = 0; e < v->n_ep; e++) {
        const kp_voters_record_endpoint *x = &in->endpoints.v[e];
        struct sk_voter_endpoint *d = &v->ep[e];
        d->port = x->port;
        if (copy_str(x->name, d->name, &d->name_len) < 0 ||
            copy_str(x->host, d->host, &d->host_len) < 0)
            return -EBADMSG;
    }
    return 0;
}

static int voters_in(const struct sk_record *r, struct sk_voter_set *out)
{
    kp_arena a;
    kp_arena_init(&a, (size_t)r->value_len * 8 + 4096);
    kp_reader rd;
    kp_reader_init(&rd, r->value, (size_t)r->value_len, &a);
    kp_voters_record v;
    int rc = kp_voters_record_decode(&v, &rd, 0) < 0 || kp_left(&rd) ? -EBADMSG : 0;
    if (rc == 0 && (v.voters.n < 0 || v.voters.n > SK_VOTER_SET_MAX))
        rc = -EBADMSG;
    for (int32_t i = 0; rc == 0 && i < v.voters.n; i++)
        rc = voter_in(&v.voters.v[i], &out->v[i]);
    if (rc == 0)
        out->n = (size_t)v.voters.n;
    kp_arena_free(&a);
    return rc;
}

static int kraft_in(const struct sk_record *r, int16_t *kraft_version)
{
    kp_reader rd;
    kp_reader_init(&rd, r->value, (size_t)r->value_len, NULL);
    kp_k_raft_version_record k;
    if (kp_k_raft_version_record_decode(&k, &rd, 0) < 0 || kp_left(&rd))
        return -EBADMSG;
    *kraft_version = k.k_raft_version;
    return 0;
}

/* 1 when the record was the Voters record, 0 for another, or -EBADMSG. */
static int control_in(const struct sk_record *r, struct sk_voter_set *out, int16_t *kv)
{
    if (r->key_len != 4 || r->value_len < 0 || r->key[0] || r->key[1])
        return -EBADMSG;
    int16_t type = (int16_t)((uint16_t)r->key[2] << 8 | r->key[3]);
    if (type == SK_CONTROL_KRAFT_VERSION)
        return kraft_in(r, kv);
    if (type != SK_CONTROL_KRAFT_VOTERS)
        return 0;
    int rc = voters_in(r, out);
    return rc < 0 ? rc : 1;
}

static bool crc_ok(const uint8_t *p, const struct sk_batch_header *h)
{
    /* The CRC covers everything from the attributes on (offset 21). */
    return sk_crc32c(0, p + 21, sk_batch_size(h) - 21) == h->crc;
}

static int batch_in(const uint8_t *p, const struct sk_batch_header *h,
                    struct sk_voter_set *out, int16_t *kv, bool *found)
{
    if (!crc_ok(p, h))
        return -EBADMSG;
    if (!(h->attributes & SK_BATCH_CONTROL))
        return 0;
    struct sk_buf scratch = {0};
    struct sk_record_iter it;
    struct sk_record r;
    int rc = sk_record_iter_init(&it, p, sk_batch_size(h), &scratch) ? -EBADMSG : 0;
    int more;
    while (rc == 0 && (more = sk_record_iter_next(&it, &r)) != 0) {
        rc = more < 0 ? -EBADMSG : control_in(&r, out, kv);
        if (rc == 1) {
            *found = true;
            rc = 0;
        }
    }
    sk_buf_free(&scratch);
    return rc;
}

int sk_voters_snapshot_decode(const uint8_t *p, size_t len, struct sk_voter_set *out,
                              int16_t *kraft_version)
{
    int16_t kv = 0;
    bool found = false;
    out->n = 0;
    while (len > 0) {
        struct sk_batch_header h;
        if (sk_batch_header_read(p, len, &h) < 0)
            return -EBADMSG;
        int rc = batch_in(p, &h, out, &kv, &found);
        if (rc < 0)
            return rc;
        p += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
    if (kraft_version)
        *kraft_version = kv;
    return found ? 0 : -ENOENT;
}

int sk_voters_snapshot_write(const char *metadata_dir, const struct sk_voter_set *vs,
                             int64_t now_ms)
{
    char dir[4200];
    if (snprintf(dir, sizeof dir, "%s/%s", metadata_dir, SK_METADATA_PARTITION_DIR) >=
        (int)sizeof dir)
        return -ENAMETOOLONG;
    int rc = sk_storage_mkdirs(dir);
    struct sk_buf buf = {0};
    if (rc == 0)
        rc = sk_voters_snapshot_encode(vs, now_ms, &buf);
    if (rc == 0)
        rc = sk_atomic_write(dir, SK_BOOTSTRAP_SNAPSHOT_NAME, buf.data, buf.len);
    sk_buf_free(&buf);
    return rc;
}

static int read_snapshot(const char *dir, int64_t end, struct sk_voter_set *out)
{
    struct sk_buf buf = {0};
    int rc = sk_meta_snapshot_read(dir, end, &buf);
    if (rc == 0)
        rc = sk_voters_snapshot_decode(buf.data, buf.len, out, NULL);
    sk_buf_free(&buf);
    return rc;
}

int sk_voters_snapshot_read_at(const char *dir, int64_t end, struct sk_voter_set *out)
{
    return read_snapshot(dir, end, out);
}

/* Newest first: a later snapshot's voter set is the later one. */
int sk_voters_snapshot_read(const char *dir, struct sk_voter_set *out)
{
    int64_t end = INT64_MAX;
    while ((end = sk_meta_snapshot_latest(dir, end)) >= 0) {
        int rc = read_snapshot(dir, end, out);
        if (rc != -ENOENT)
            return rc;
        end--;
    }
    return -ENOENT;
}
