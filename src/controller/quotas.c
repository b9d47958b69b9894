/* Client quotas as ClientQuotaRecords (Kafka's ClientQuotaControlManager). */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

enum quota_kind { QUOTA_DOUBLE, QUOTA_LONG, QUOTA_INT };

struct quota_key {
    const char *name;
    enum quota_kind kind;
    bool ip; /* valid for ip entities (others are for user / client-id) */
};

static const struct quota_key quota_keys[] = {
    {"producer_byte_rate", QUOTA_LONG, false},
    {"consumer_byte_rate", QUOTA_LONG, false},
    {"request_percentage", QUOTA_DOUBLE, false},
    {"controller_mutation_rate", QUOTA_DOUBLE, false},
    {"connection_creation_rate", QUOTA_INT, true},
};

static bool ip_valid(kp_str name)
{
    char s[64];
    unsigned char buf[16];
    /* inet_pton would stop at a zero byte: "1.2.3.4\0x" is no address. */
    if (name.len <= 0 || name.len >= (int32_t)sizeof s || memchr(name.ptr, 0, (size_t)name.len))
        return false;
    memcpy(s, name.ptr, (size_t)name.len);
    s[name.len] = 0;
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int16_t check_entity(const struct sk_quota_entity *e, int n, bool *is_ip, char *msg,
                            size_t msglen)
{
    if (n <= 0) {
        snprintf(msg, msglen, "Invalid empty client quota entity");
        return SK_ERR_INVALID_REQUEST;
    }
    bool user_or_client = false;
    char type[128], name[128];
    *is_ip = false;
    for (int i = 0; i < n; i++) {
        /* Messages are text: names show escaped, not cut at a zero byte. */
        sk_wire_str_escape(e[i].type, type, sizeof type);
        sk_wire_str_escape(e[i].name, name, sizeof name);
        for (int j = 0; j < i; j++)
            if (kp_str_eq(e[i].type, e[j].type)) {
                snprintf(msg, msglen, "Invalid empty client quota entity, duplicate entity "
                         "entry %s", type);
                return SK_ERR_INVALID_REQUEST;
            }
        bool ip = kp_str_eq_c(e[i].type, "ip");
        if (!ip && !kp_str_eq_c(e[i].type, "user") && !kp_str_eq_c(e[i].type, "client-id")) {
            snprintf(msg, msglen, "Unhandled client quota entity type: %s", type);
            return SK_ERR_INVALID_REQUEST;
        }
        if (ip && e[i].name.len > 0 && !ip_valid(e[i].name)) {
            snprintf(msg, msglen, "Invalid IP address %s", name);
            return SK_ERR_INVALID_REQUEST;
        }
        if (e[i].name.len == 0) {
            snprintf(msg, msglen, "Empty %s not supported", type);
            return SK_ERR_INVALID_REQUEST;
        }
        *is_ip = *is_ip || ip;
        user_or_client = user_or_client || !ip;
    }
    if (*is_ip && user_or_client) {
        snprintf(msg, msglen, "Invalid quota entity combination, IP entity should not be "
                 "combined with User or ClientId");
        return SK_ERR_INVALID_REQUEST;
    }
    return SK_ERR_NONE;
}

static int16_t check_op(const struct sk_quota_op *op, bool is_ip, char *msg, size_t msglen)
{
    const struct quota_key *k = NULL;
    for (size_t i = 0; i < sizeof quota_keys / sizeof quota_keys[0] && !k; i++)
        if (kp_str_eq_c(op->key, quota_keys[i].name) && quota_keys[i].ip == is_ip)
            k = &quota_keys[i];
    if (!k) {
        char key[128];
        snprintf(msg, msglen, "Invalid configuration key %s",
                 sk_wire_str_escape(op->key, key, sizeof key));
        return SK_ERR_INVALID_REQUEST;
    }
    if (op->remove || k->kind == QUOTA_DOUBLE)
        return SK_ERR_NONE;
    double max = k->kind == QUOTA_INT ? 2147483647.0 : 9223372036854775807.0;
    if (op->value > max) {
        snprintf(msg, msglen, "Proposed value for %s is too large for a %s.", k->name,
                 k->kind == QUOTA_INT ? "INT" : "LONG");
        return SK_ERR_INVALID_REQUEST;
    }
    if (op->value != floor(op->value)) {
        snprintf(msg, msglen, "Integer value for %s has a fractional part: %g", k->name,
                 op->value);
        return SK_ERR_INVALID_REQUEST;
    }
    return SK_ERR_NONE;
}

static int cmp_entity(const void *a, const void *b)
{
    const kp_client_quota_record_entity_data *x = a, *y = b;
    int n = x->entity_type.len < y->entity_type.len ? x->entity_type.len : y->entity_type.len;
    int c = memcmp(x->entity_type.ptr, y->entity_type.ptr, (size_t)n);
    return c ? c : x->entity_type.len - y->entity_type.len;
}

int16_t sk_quotas_alter(struct sk_broker *b, const struct sk_quota_entity *e, int ne,
                        const struct sk_quota_op *ops, int nops, bool validate_only, char *msg,
                        size_t msglen)
{
    bool is_ip;
    msg[0] = 0;
    int16_t err = check_entity(e, ne, &is_ip, msg, msglen);
    for (int i = 0; i < nops && !err; i++)
        err = check_op(&ops[i], is_ip, msg, msglen);
    if (err || validate_only || nops == 0)
        return err;
    /* Entities are stored sorted by type so one entity has one spelling. */
    kp_client_quota_record_entity_data *ent = calloc((size_t)ne, sizeof *ent);
    kp_client_quota_record *qr = calloc((size_t)nops, sizeof *qr);
    struct sk_meta_rec *recs = calloc((size_t)nops, sizeof *recs);
    if (!ent || !qr || !recs)
        abort();
    for (int i = 0; i < ne; i++) {
        kp_client_quota_record_entity_data_init(&ent[i]);
        ent[i].entity_type = e[i].type;
        ent[i].entity_name = e[i].name;
    }
    qsort(ent, (size_t)ne, sizeof *ent, cmp_entity);
    for (int i = 0; i < nops; i++) {
        kp_client_quota_record_init(&qr[i]);
        qr[i].entity = (kp_client_quota_record_entity_data_arr){ne, ent};
        qr[i].key = ops[i].key;
        qr[i].value = ops[i].value;
        qr[i].remove = ops[i].remove;
        recs[i] = (struct sk_meta_rec){SK_META_CLIENT_QUOTA, 0, &qr[i]};
    }
    err = sk_ctl_commit(b, recs, nops, msg, msglen);
    free(ent);
    free(qr);
    free(recs);
    return err;
}
