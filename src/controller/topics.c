/* Topic creation as metadata records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/metalog.h"

#define SK_TOPIC_NAME_MAX 249

bool sk_topic_name_valid(kp_str name)
{
    if (name.len <= 0 || name.len > SK_TOPIC_NAME_MAX)
        return false;
    if ((name.len == 1 && name.ptr[0] == '.') ||
        (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.'))
        return false;
    for (int32_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Topic ids are random v4-style UUIDs; the all-zero id and Kafka's reserved
 * metadata topic id (0...01) are never handed out. */
static void new_topic_id(kp_uuid *id)
{
    do {
        if (getrandom(id->b, sizeof id->b, 0) != sizeof id->b)
            abort();
        id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);
        id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);
    } while (kp_uuid_is_zero(id));
}

static char *cstr(kp_str s)
{
    char *p = malloc((size_t)(s.len < 0 ? 0 : s.len) + 1);
    if (!p)
        abort();
    if (s.len > 0)
        memcpy(p, s.ptr, (size_t)s.len);
    p[s.len < 0 ? 0 : s.len] = 0;
    return p;
}

/* Topic configs are checked by resolving them as the log would. */
static int16_t topic_configs_check(struct sk_broker *b, const struct sk_topic_spec *s, char *msg,
                                   size_t msglen)
{
    struct sk_config_entry *e = calloc((size_t)s->nconfigs + 1, sizeof *e);
    if (!e)
        abort();
    for (int i = 0; i < s->nconfigs; i++) {
        e[i].name = cstr(s->config_names[i]);
        e[i].value = s->config_values[i].len < 0 ? NULL : cstr(s->config_values[i]);
    }
    struct sk_topic_config tc;
    int rc = sk_topic_config_resolve(b->cfg, e, (size_t)s->nconfigs, &tc, msg, msglen);
    for (int i = 0; i < s->nconfigs; i++) {
        free((char *)e[i].name);
        free((char *)e[i].value);
    }
    free(e);
    return rc == SK_ERR_NONE ? SK_ERR_NONE : SK_ERR_INVALID_CONFIG;
}

static int16_t validate_spec(struct sk_broker *b, const struct sk_topic_spec *s, int32_t parts,
                             int16_t rf, char *msg, size_t msglen)
{
    if (!sk_topic_name_valid(s->name)) {
        snprintf(msg, msglen, "Topic name \"%.*s\" is illegal, it contains a character other "
                 "than ASCII alphanumerics, '.', '_' and '-', or is empty, '.', '..' or longer "
                 "than 249 characters", (int)(s->name.len < 0 ? 0 : s->name.len), s->name.ptr);
        return SK_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (sk_meta_topic(&b->image, s->name.ptr, (size_t)s->name.len)) {
        snprintf(msg, msglen, "Topic '%.*s' already exists.", (int)s->name.len, s->name.ptr);
        return SK_ERR_TOPIC_ALREADY_EXISTS;
    }
    if (parts <= 0) {
        snprintf(msg, msglen, "Number of partitions was set to an invalid non-positive value.");
        return SK_ERR_INVALID_PARTITIONS;
    }
    if (rf <= 0) {
        snprintf(msg, msglen, "Replication factor must be larger than 0, or -1 to use the default value.");
        return SK_ERR_INVALID_REPLICATION_FACTOR;
    }
    if (rf > b->image.nbrokers) {
        snprintf(msg, msglen, "Unable to replicate the partition %d time(s): The target "
                 "replication factor of %d cannot be reached because only %d broker(s) are "
                 "registered.", rf, rf, b->image.nbrokers);
        return SK_ERR_INVALID_REPLICATION_FACTOR;
    }
    return topic_configs_check(b, s, msg, msglen);
}

static int16_t append_topic(struct sk_broker *b, const struct sk_topic_spec *s, int32_t parts)
{
    int nrec = 1 + parts + s->nconfigs;
    struct sk_meta_rec *recs = calloc((size_t)nrec, sizeof *recs);
    kp_partition_record *pr = calloc((size_t)parts, sizeof *pr);
    kp_config_record *cr = calloc((size_t)(s->nconfigs + 1), sizeof *cr);
    kp_topic_record tr;
    int32_t self = b->node_id;
    int16_t err = SK_ERR_NONE;
    if (!recs || !pr || !cr) {
        err = SK_ERR_UNKNOWN_SERVER_ERROR;
        goto out;
    }
    kp_topic_record_init(&tr);
    tr.name = s->name;
    new_topic_id(&tr.topic_id);
    recs[0] = (struct sk_meta_rec){SK_META_TOPIC, 0, &tr};
    for (int32_t i = 0; i < parts; i++) {
        kp_partition_record_init(&pr[i]);
        pr[i].partition_id = i;
        pr[i].topic_id = tr.topic_id;
        pr[i].replicas = (kp_arr_i32){1, &self};
        pr[i].isr = (kp_arr_i32){1, &self};
        pr[i].leader = self;
        pr[i].leader_epoch = 0;
        pr[i].partition_epoch = 0;
        recs[1 + i] = (struct sk_meta_rec){SK_META_PARTITION, 0, &pr[i]};
    }
    for (int i = 0; i < s->nconfigs; i++) {
        kp_config_record_init(&cr[i]);
        cr[i].resource_type = SK_RESOURCE_TOPIC;
        cr[i].resource_name = s->name;
        cr[i].name = s->config_names[i];
        cr[i].value = s->config_values[i];
        recs[1 + parts + i] = (struct sk_meta_rec){SK_META_CONFIG, 0, &cr[i]};
    }
    if (sk_metalog_append(b->metalog, &b->image, recs, nrec, wall_ms()) < 0)
        err = SK_ERR_KAFKA_STORAGE_ERROR;
    else if (sk_broker_metadata_changed(b) < 0)
        err = SK_ERR_KAFKA_STORAGE_ERROR;
out:
    free(recs);
    free(pr);
    free(cr);
    return err;
}

int16_t sk_topic_create(struct sk_broker *b, const struct sk_topic_spec *s, bool validate_only,
                        char *msg, size_t msglen)
{
    char scratch[512];
    if (!msg) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    msg[0] = 0;
    int32_t parts = s->partitions == -1 ? b->cfg->log.num_partitions : s->partitions;
    int16_t rf = s->replication_factor == -1 ? (int16_t)b->cfg->log.default_replication_factor
                                             : s->replication_factor;
    int16_t err = validate_spec(b, s, parts, rf, msg, msglen);
    if (err != SK_ERR_NONE || validate_only)
        return err;
    return append_topic(b, s, parts);
}

int sk_topic_auto_create(struct sk_broker *b, kp_str name)
{
    if (!b->cfg->log.auto_create_topics)
        return -EPERM;
    struct sk_topic_spec spec = {.name = name, .partitions = -1, .replication_factor = -1};
    return sk_topic_create(b, &spec, false, NULL, 0) == SK_ERR_NONE ? 0 : -EINVAL;
}
