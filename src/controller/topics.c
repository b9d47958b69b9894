/* Topic creation as metadata records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

#define SK_TOPIC_NAME_MAX 249

static bool legal_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

void sk_topic_name_problem(kp_str name, char *msg, size_t msglen)
{
    msg[0] = 0;
    int32_t len = name.len < 0 ? 0 : name.len;
    if (len == 0) {
        snprintf(msg, msglen, "Topic name is illegal, it can't be empty");
        return;
    }
    if ((len == 1 && name.ptr[0] == '.') || (len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.')) {
        snprintf(msg, msglen, "Topic name cannot be \".\" or \"..\"");
        return;
    }
    /* The message is text: a zero byte (or any other byte a C string or a
     * terminal mangles) shows escaped instead of cutting the name short. */
    char shown[4 * SK_TOPIC_NAME_MAX + 8];
    if (len > SK_TOPIC_NAME_MAX) {
        snprintf(msg, msglen, "Topic name is illegal, it can't be longer than %d characters, "
                 "topic name: %s", SK_TOPIC_NAME_MAX,
                 sk_wire_str_escape(name, shown, sizeof shown));
        return;
    }
    for (int32_t i = 0; i < len; i++) {
        if (!legal_char(name.ptr[i])) {
            snprintf(msg, msglen, "Topic name \"%s\" is illegal, it contains a character "
                     "other than ASCII alphanumerics, '.', '_' and '-'",
                     sk_wire_str_escape(name, shown, sizeof shown));
            return;
        }
    }
}

bool sk_topic_name_valid(kp_str name)
{
    char msg[8];
    if (name.len > SK_TOPIC_NAME_MAX)
        return false;
    sk_topic_name_problem(name, msg, sizeof msg);
    return msg[0] == 0;
}

bool sk_topic_is_internal(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

/* Topic ids are random v4-style UUIDs; the all-zero id and Kafka's reserved
 * metadata topic id (0...01) are never handed out. */
void sk_topic_new_id(kp_uuid *id)
{
    static const kp_uuid metadata_id = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    do {
        if (getrandom(id->b, sizeof id->b, 0) != sizeof id->b)
            abort();
        id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);
        id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
    } while (kp_uuid_is_zero(id) || memcmp(id->b, metadata_id.b, 16) == 0);
}

/* '.' and '_' collide in metric names, so Kafka refuses names that differ
 * from an existing one only there. */
static const struct sk_topic_meta *colliding_topic(const struct sk_meta_image *img, kp_str name)
{
    if (!memchr(name.ptr, '.', (size_t)name.len) && !memchr(name.ptr, '_', (size_t)name.len))
        return NULL;
    for (int i = 0; i < img->ntopics; i++) {
        const char *t = img->topics[i]->name;
        if ((int32_t)strlen(t) != name.len)
            continue;
        int32_t k = 0;
        while (k < name.len && (t[k] == name.ptr[k] || ((t[k] == '.' || t[k] == '_') &&
                                                        (name.ptr[k] == '.' || name.ptr[k] == '_'))))
            k++;
        if (k == name.len)
            return img->topics[i];
    }
    return NULL;
}

/* Topic configs are checked by resolving them as the log would. */
static int16_t topic_configs_check(struct sk_broker *b, const struct sk_topic_spec *s, char *msg,
                                   size_t msglen)
{
    for (int i = 0; i < s->nconfigs; i++) {
        if (s->config_values[i].len < 0) {
            /* The name is read already: no zero byte cuts it here. */
            snprintf(msg, msglen, "Null value not supported for topic configs: %.*s",
                     (int)s->config_names[i].len, s->config_names[i].ptr);
            return SK_ERR_INVALID_CONFIG;
        }
    }
    struct sk_config_entry *e = calloc((size_t)s->nconfigs + 1, sizeof *e);
    if (!e)
        abort();
    for (int i = 0; i < s->nconfigs; i++) {
        e[i].name = sk_ctl_cstr(s->config_names[i]);
        e[i].value = sk_ctl_cstr(s->config_values[i]);
    }
    struct sk_topic_config tc;
    int rc = sk_topic_config_resolve(b->node->cfg, e, (size_t)s->nconfigs, &tc, msg, msglen);
    for (int i = 0; i < s->nconfigs; i++) {
        free((char *)e[i].name);
        free((char *)e[i].value);
    }
    free(e);
    return rc == SK_ERR_NONE ? SK_ERR_NONE : SK_ERR_INVALID_CONFIG;
}

int16_t sk_topic_check_identity(struct sk_broker *b, const struct sk_topic_spec *s, char *msg,
                                size_t msglen)
{
    sk_topic_name_problem(s->name, msg, msglen);
    if (msg[0])
        return SK_ERR_INVALID_TOPIC_EXCEPTION;
    if (sk_meta_topic(sk_ctl_working(b), s->name.ptr, (size_t)s->name.len)) {
        snprintf(msg, msglen, "Topic '%.*s' already exists.", (int)s->name.len, s->name.ptr);
        return SK_ERR_TOPIC_ALREADY_EXISTS;
    }
    const struct sk_topic_meta *c = colliding_topic(sk_ctl_working(b), s->name);
    if (c) {
        snprintf(msg, msglen, "Topic '%.*s' collides with existing topic: %s", (int)s->name.len,
                 s->name.ptr, c->name);
        return SK_ERR_INVALID_TOPIC_EXCEPTION;
    }
    return SK_ERR_NONE;
}

/* Manual assignments, in request order as Kafka checks them: no partition
 * twice, each list valid and as long as the first, then 0..n-1 complete. */
static int16_t place_manual(struct sk_broker *b, const struct sk_topic_spec *s,
                            struct sk_placement *pl, char *msg, size_t msglen)
{
    int32_t n = s->nassignments;
    kp_arr_i32 *lists = calloc((size_t)n + 1, sizeof *lists);
    if (!lists)
        abort();
    int16_t err = SK_ERR_NONE;
    for (int32_t i = 0; i < n && !err; i++) {
        const struct sk_replica_assignment *a = &s->assignments[i];
        for (int32_t j = 0; j < i && !err; j++) {
            if (s->assignments[j].partition == a->partition) {
                snprintf(msg, msglen, "Found multiple manual partition assignments for "
                         "partition %d", a->partition);
                err = SK_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
        }
        if (!err)
            err = sk_place_check_manual(sk_ctl_working(b), a->brokers,
                                        i ? (int16_t)s->assignments[0].brokers.n : -1, msg,
                                        msglen);
        if (!err && (a->partition < 0 || a->partition >= n)) {
            snprintf(msg, msglen, "partitions should be a consecutive 0-based integer sequence");
            err = SK_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (!err)
            lists[a->partition] = a->brokers;
    }
    if (!err)
        err = sk_place_manual(sk_ctl_working(b), 0, lists, n, pl, msg, msglen);
    free(lists);
    return err;
}

static int16_t place(struct sk_broker *b, const struct sk_topic_spec *s, struct sk_placement *pl,
                     char *msg, size_t msglen)
{
    if (s->nassignments > 0) {
        if (s->replication_factor != -1) {
            snprintf(msg, msglen, "A manual partition assignment was specified, but replication "
                     "factor was not set to -1.");
            return SK_ERR_INVALID_REQUEST;
        }
        if (s->partitions != -1) {
            snprintf(msg, msglen, "A manual partition assignment was specified, but "
                     "numPartitions was not set to -1.");
            return SK_ERR_INVALID_REQUEST;
        }
        return place_manual(b, s, pl, msg, msglen);
    }
    if (s->replication_factor < -1 || s->replication_factor == 0) {
        snprintf(msg, msglen, "Replication factor must be larger than 0, or -1 to use the "
                 "default value.");
        return SK_ERR_INVALID_REPLICATION_FACTOR;
    }
    if (s->partitions < -1 || s->partitions == 0) {
        snprintf(msg, msglen, "Number of partitions was set to an invalid non-positive value.");
        return SK_ERR_INVALID_PARTITIONS;
    }
    int32_t parts = s->partitions == -1 ? b->node->cfg->log.num_partitions : s->partitions;
    int16_t rf = s->replication_factor == -1 ? (int16_t)b->node->cfg->log.default_replication_factor
                                             : s->replication_factor;
    return sk_place_auto(sk_ctl_working(b), 0, parts, rf, pl, msg, msglen);
}

static int16_t append_topic(struct sk_broker *b, const struct sk_topic_spec *s,
                            const struct sk_placement *pl, const kp_uuid *id, char *msg,
                            size_t msglen)
{
    int nrec = 1 + pl->count + s->nconfigs;
    struct sk_meta_rec *recs = calloc((size_t)nrec, sizeof *recs);
    kp_partition_record *pr = calloc((size_t)pl->count + 1, sizeof *pr);
    kp_config_record *cr = calloc((size_t)(s->nconfigs + 1), sizeof *cr);
    if (!recs || !pr || !cr)
        abort();
    kp_topic_record tr;
    kp_topic_record_init(&tr);
    tr.name = s->name;
    tr.topic_id = *id;
    recs[0] = (struct sk_meta_rec){SK_META_TOPIC, 0, &tr};
    sk_placement_records(pl, id, pr, recs + 1);
    for (int i = 0; i < s->nconfigs; i++) {
        kp_config_record_init(&cr[i]);
        cr[i].resource_type = SK_RESOURCE_TOPIC;
        cr[i].resource_name = s->name;
        cr[i].name = s->config_names[i];
        cr[i].value = s->config_values[i];
        recs[1 + pl->count + i] = (struct sk_meta_rec){SK_META_CONFIG, 0, &cr[i]};
    }
    int16_t err = sk_ctl_commit(b, recs, nrec, msg, msglen);
    free(recs);
    free(pr);
    free(cr);
    return err;
}

static void free_configs(kp_str *names, kp_str *values, int n)
{
    for (int i = 0; i < n; i++) {
        sk_wire_str_free(&names[i]);
        sk_wire_str_free(&values[i]);
    }
    free(names);
    free(values);
}

/* The spec with its config names and values read as Kafka reads them
 * (sk_config_from_wire); w owns them on success. */
static int16_t read_configs(const struct sk_topic_spec *s, struct sk_topic_spec *w, char *msg,
                            size_t msglen)
{
    *w = *s;
    kp_str *names = calloc((size_t)s->nconfigs + 1, sizeof *names);
    kp_str *values = calloc((size_t)s->nconfigs + 1, sizeof *values);
    if (!names || !values)
        abort();
    for (int i = 0; i < s->nconfigs; i++) {
        int16_t err = sk_config_from_wire(SK_RESOURCE_TOPIC, s->config_names[i],
                                          s->config_values[i], &names[i], &values[i], msg,
                                          msglen);
        if (err) {
            free_configs(names, values, i);
            return err;
        }
    }
    w->config_names = names;
    w->config_values = values;
    return SK_ERR_NONE;
}

static int16_t create_checked(struct sk_broker *b, const struct sk_topic_spec *s,
                              bool validate_only, struct sk_topic_created *out, char *msg,
                              size_t msglen)
{
    int16_t err = topic_configs_check(b, s, msg, msglen);
    struct sk_placement pl = {0};
    if (!err)
        err = place(b, s, &pl, msg, msglen);
    if (!err)
        err = sk_ctl_admit_placement(b, &pl, 1 + (int64_t)s->nconfigs, msg, msglen);
    if (err) {
        sk_placement_free(&pl);
        return err;
    }
    kp_uuid id;
    sk_topic_new_id(&id);
    if (!validate_only)
        err = append_topic(b, s, &pl, &id, msg, msglen);
    if (!err && out)
        *out = (struct sk_topic_created){id, pl.count, pl.rf};
    sk_placement_free(&pl);
    return err;
}

int16_t sk_topic_create_ex(struct sk_broker *b, const struct sk_topic_spec *s, bool validate_only,
                           struct sk_topic_created *out, char *msg, size_t msglen)
{
    char scratch[512];
    if (!msg) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    msg[0] = 0;
    /* The controller's state is shard 0's alone (requests that create are
     * forwarded there, src/api/forward.c). */
    if (b->index != 0) {
        snprintf(msg, msglen, "topics are created on the controller's shard");
        return SK_ERR_NOT_CONTROLLER;
    }
    struct sk_topic_spec w;
    int16_t err = sk_ctl_check_active(b, msg, msglen);
    if (!err)
        err = sk_topic_check_identity(b, s, msg, msglen);
    if (!err)
        err = read_configs(s, &w, msg, msglen);
    if (err)
        return err;
    err = create_checked(b, &w, validate_only, out, msg, msglen);
    free_configs((kp_str *)w.config_names, (kp_str *)w.config_values, w.nconfigs);
    return err;
}

int16_t sk_topic_create(struct sk_broker *b, const struct sk_topic_spec *s, bool validate_only,
                        char *msg, size_t msglen)
{
    return sk_topic_create_ex(b, s, validate_only, NULL, msg, msglen);
}
