/* Encoding and applying __consumer_offsets records (Kafka's
 * GroupCoordinatorRecordSerde layout: int16 version, then the struct). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/group_records.h"

typedef int (*enc_fn)(const void *m, kp_writer *w, int16_t v);
typedef size_t (*size_fn)(const void *m, int16_t v);

static int append_versioned(struct sk_buf *out, int16_t version, const void *m, enc_fn enc,
                            size_t size)
{
    int rc = sk_buf_reserve(out, size + 2);
    if (rc < 0)
        return rc;
    kp_writer w;
    kp_writer_init(&w, out->data + out->len, size + 2);
    if (kp_write_i16(&w, version) < 0 || enc(m, &w, version) < 0)
        return -EINVAL;
    out->len += size + 2;
    return 0;
}

int sk_group_offset_key(struct sk_buf *out, kp_str group, kp_str topic, int32_t partition)
{
    kp_offset_commit_key k;
    kp_offset_commit_key_init(&k);
    k.group = group;
    k.topic = topic;
    k.partition = partition;
    return append_versioned(out, SK_OFFSET_COMMIT_KEY_VERSION, &k,
                            (enc_fn)kp_offset_commit_key_encode,
                            kp_offset_commit_key_size(&k, SK_OFFSET_COMMIT_KEY_VERSION));
}

int sk_group_offset_value(struct sk_buf *out, int64_t offset, int32_t leader_epoch, kp_str metadata,
                          int64_t commit_ts, int64_t expire_ts)
{
    kp_offset_commit_value v;
    kp_offset_commit_value_init(&v);
    v.offset = offset;
    v.leader_epoch = leader_epoch;
    v.metadata = metadata.len >= 0 ? metadata : kp_str_c("");
    v.commit_timestamp = commit_ts;
    v.expire_timestamp = expire_ts;
    /* Kafka 3.9 writes v1 only to keep an explicit expire timestamp (v2/v3
     * dropped the field); everything else is v3, which has the epoch. */
    int16_t ver = expire_ts >= 0 ? 1 : 3;
    return append_versioned(out, ver, &v, (enc_fn)kp_offset_commit_value_encode,
                            kp_offset_commit_value_size(&v, ver));
}

int sk_group_metadata_key(struct sk_buf *out, kp_str group)
{
    kp_group_metadata_key k;
    kp_group_metadata_key_init(&k);
    k.group = group;
    return append_versioned(out, SK_GROUP_METADATA_KEY_VERSION, &k,
                            (enc_fn)kp_group_metadata_key_encode,
                            kp_group_metadata_key_size(&k, SK_GROUP_METADATA_KEY_VERSION));
}

int sk_group_metadata_value(struct sk_buf *out, const struct sk_group *g, int64_t now_ms)
{
    kp_group_metadata_value v;
    kp_group_metadata_value_init(&v);
    v.protocol_type = g->protocol_type.len >= 0 ? g->protocol_type : kp_str_c("");
    v.generation = g->generation;
    v.protocol = g->protocol_name;
    v.leader = g->leader;
    v.current_state_timestamp = now_ms;
    kp_group_metadata_value_member_metadata *mm = calloc((size_t)g->nmembers + 1, sizeof *mm);
    if (!mm)
        return -ENOMEM;
    int n = 0;
    for (struct sk_member *m = g->members; m; m = m->next) {
        kp_group_metadata_value_member_metadata *o = &mm[n++];
        kp_group_metadata_value_member_metadata_init(o);
        const struct sk_group_protocol *p = sk_member_protocol(m, g->protocol_name);
        o->member_id = m->id;
        o->group_instance_id = m->instance_id;
        o->client_id = m->client_id.len >= 0 ? m->client_id : kp_str_c("");
        o->client_host = m->client_host.len >= 0 ? m->client_host : kp_str_c("");
        o->rebalance_timeout = m->rebalance_timeout_ms;
        o->session_timeout = m->session_timeout_ms;
        o->subscription = p ? (kp_bytes){p->metadata, p->metadata_len} : (kp_bytes){NULL, 0};
        o->assignment = (kp_bytes){m->assignment, m->assignment ? m->assignment_len : 0};
    }
    v.members = (kp_group_metadata_value_member_metadata_arr){n, mm};
    int rc = append_versioned(out, SK_GROUP_METADATA_VALUE_VERSION, &v,
                              (enc_fn)kp_group_metadata_value_encode,
                              kp_group_metadata_value_size(&v, SK_GROUP_METADATA_VALUE_VERSION));
    free(mm);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

static int apply_offset(struct sk_group_coordinator *co, kp_reader *kr, int16_t kver,
                        const uint8_t *value, int32_t value_len, kp_arena *a)
{
    kp_offset_commit_key k;
    if (kp_offset_commit_key_decode(&k, kr, kver) < 0)
        return -EBADMSG;
    if (value_len < 0) {
        struct sk_group *g = sk_group_find(co, k.group);
        if (g)
            sk_offsets_del(&g->offsets, k.topic, k.partition);
        return 0;
    }
    kp_reader vr;
    kp_reader_init(&vr, value, (size_t)value_len, a);
    int16_t vver;
    kp_offset_commit_value v;
    if (kp_read_i16(&vr, &vver) < 0 || vver < 0 || vver > KP_OFFSET_COMMIT_VALUE_MAX_VERSION ||
        kp_offset_commit_value_decode(&v, &vr, vver) < 0)
        return -EBADMSG;
    struct sk_group *g = sk_group_get_or_create(co, k.group);
    if (!g)
        return -ENOMEM;
    return sk_offsets_put(&g->offsets, k.topic, k.partition, v.offset, v.leader_epoch, v.metadata,
                          v.commit_timestamp, v.expire_timestamp);
}

static void *dup_bytes(kp_bytes b, int32_t *len)
{
    *len = b.len > 0 ? b.len : 0;
    uint8_t *p = malloc((size_t)*len + 1);
    if (p && *len)
        memcpy(p, b.ptr, (size_t)*len);
    return p;
}

static struct sk_member *load_member(struct sk_group *g, const kp_group_metadata_value *v,
                                     const kp_group_metadata_value_member_metadata *o)
{
    struct sk_member *m = calloc(1, sizeof *m);
    struct sk_group_protocol *p = calloc(1, sizeof *p);
    if (!m || !p) {
        free(m);
        free(p);
        return NULL;
    }
    m->group = g;
    m->protocols = p;
    m->nprotocols = 1;
    m->rebalance_timeout_ms = o->rebalance_timeout;
    m->session_timeout_ms = o->session_timeout;
    p->metadata = dup_bytes(o->subscription, &p->metadata_len);
    m->assignment = dup_bytes(o->assignment, &m->assignment_len);
    if (sk_wire_str_dup(&m->id, o->member_id) < 0 ||
        sk_wire_str_dup(&m->instance_id, o->group_instance_id) < 0 ||
        sk_wire_str_dup(&m->client_id, o->client_id) < 0 ||
        sk_wire_str_dup(&m->client_host, o->client_host) < 0 ||
        sk_wire_str_dup(&p->name, v->protocol.len >= 0 ? v->protocol : kp_str_c("")) < 0 ||
        !p->metadata || !m->assignment) {
        sk_member_free(m);
        return NULL;
    }
    return m;
}

static void clear_members(struct sk_group *g)
{
    while (g->members) {
        struct sk_member *m = g->members;
        g->members = m->next;
        sk_member_free(m);
    }
    g->nmembers = 0;
}

static int apply_group(struct sk_group_coordinator *co, kp_reader *kr, const uint8_t *value,
                       int32_t value_len, kp_arena *a)
{
    kp_group_metadata_key k;
    if (kp_group_metadata_key_decode(&k, kr, SK_GROUP_METADATA_KEY_VERSION) < 0)
        return -EBADMSG;
    struct sk_group *g = sk_group_find(co, k.group);
    if (value_len < 0) {
        if (g)
            sk_group_remove(g);
        return 0;
    }
    kp_reader vr;
    kp_reader_init(&vr, value, (size_t)value_len, a);
    int16_t vver;
    kp_group_metadata_value v;
    if (kp_read_i16(&vr, &vver) < 0 || vver < 0 || vver > KP_GROUP_METADATA_VALUE_MAX_VERSION ||
        kp_group_metadata_value_decode(&v, &vr, vver) < 0)
        return -EBADMSG;
    if (!g && !(g = sk_group_get_or_create(co, k.group)))
        return -ENOMEM;
    clear_members(g);
    /* An empty protocol type is how Kafka writes a group without one. */
    if (sk_wire_str_set(&g->protocol_type, v.protocol_type.len > 0 ? v.protocol_type
                                                                    : KP_STR_NULL) < 0 ||
        sk_wire_str_set(&g->protocol_name, v.protocol) < 0 ||
        sk_wire_str_set(&g->leader, v.leader) < 0)
        return -ENOMEM;
    g->generation = v.generation;
    struct sk_member **tail = &g->members;
    for (int32_t i = 0; i < v.members.n; i++) {
        struct sk_member *m = load_member(g, &v, &v.members.v[i]);
        if (!m)
            return -ENOMEM;
        *tail = m;
        tail = &m->next;
        g->nmembers++;
    }
    g->state = g->nmembers ? SK_GROUP_STABLE : SK_GROUP_EMPTY;
    g->state_ts = v.current_state_timestamp > 0 ? v.current_state_timestamp : g->state_ts;
    return 0;
}

int sk_group_apply_record(struct sk_group_coordinator *co, const uint8_t *key, int32_t key_len,
                          const uint8_t *value, int32_t value_len)
{
    if (key_len < 2)
        return -EBADMSG;
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_reader kr;
    kp_reader_init(&kr, key, (size_t)key_len, &a);
    int16_t kver;
    kp_read_i16(&kr, &kver);
    int rc = 0;
    if (kver == 0 || kver == 1)
        rc = apply_offset(co, &kr, kver, value, value_len, &a);
    else if (kver == 2)
        rc = apply_group(co, &kr, value, value_len, &a);
    /* 3+: KIP-848 consumer group records; this coordinator runs classic groups only. */
    kp_arena_free(&a);
    return rc;
}
