/* AlterConfigs and IncrementalAlterConfigs on TOPIC and BROKER resources:
 * the new override set is computed as Kafka's ConfigurationControlManager
 * does, validated, written as ConfigRecords and applied to the running
 * broker (dynamic broker layers in b->node->cfg, topic configs via the partition
 * manager). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/config_shared.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/wire_str.h"

/* One key's change: a null value removes the override. Values are owned
 * wire strings (skein/wire_str.h): a throttled-replica list may hold a zero
 * byte (see config_wire.c); code that reads them as text uses .ptr, which is
 * NUL-terminated. */
struct change {
    char *name;
    kp_str value;
    kp_str old; /* override before the change (null: none) */
};

struct plan {
    int8_t type;
    enum sk_config_scope scope;
    const struct sk_topic_meta *topic;
    const struct sk_kvlist *current;
    bool elsewhere; /* another broker's own configs: nothing live here changes */
    struct change *v;
    int n;
};

static void plan_free(struct plan *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i].name);
        sk_wire_str_free(&p->v[i].value);
        sk_wire_str_free(&p->v[i].old);
    }
    free(p->v);
}

/* Takes name and value. */
static void plan_add(struct plan *p, char *name, kp_str value)
{
    kp_str old;
    if (sk_wire_str_dup(&old, sk_kvlist_bytes(p->current, name)) < 0)
        abort(); /* as sk_ctl_cstr */
    p->v[p->n++] = (struct change){name, value, old};
}

static kp_str owned(kp_str s)
{
    kp_str c;
    if (sk_wire_str_dup(&c, s) < 0)
        abort();
    return c;
}

static bool has_zero(kp_str s)
{
    return s.len > 0 && memchr(s.ptr, 0, (size_t)s.len) != NULL;
}

/* ---- resource ---------------------------------------------------------- */

/* any: an Envelope's request, whose broker resource may name any broker
 * (Kafka's broker checks it names itself before it forwards). */
static int16_t broker_resource(struct sk_broker *b, kp_str name, bool any, struct plan *p,
                               char *msg, size_t msglen)
{
    p->scope = name.len <= 0 ? SK_CONFIG_SCOPE_DEFAULT : SK_CONFIG_SCOPE_BROKER;
    p->current = &sk_ctl_working(b)->cluster_configs;
    if (name.len <= 0)
        return SK_ERR_NONE;
    char shown[128];
    int32_t id;
    sk_wire_str_escape(name, shown, sizeof shown);
    if (sk_wire_str_to_i32(name, &id) < 0) {
        snprintf(msg, msglen, "Node id must be an integer, but it is: %s", shown);
        return SK_ERR_INVALID_REQUEST;
    }
    if (id != b->node->node_id && !any) {
        /* ConfigAdminManager's words; DescribeConfigs answers "or empty string". */
        snprintf(msg, msglen, "Unexpected broker id, expected %d, but received %s", b->node->node_id,
                 shown);
        return SK_ERR_INVALID_REQUEST;
    }
    p->current = sk_meta_broker_configs(sk_ctl_working(b), id);
    p->elsewhere = id != b->node->node_id;
    return SK_ERR_NONE;
}

static int16_t topic_resource(struct sk_broker *b, kp_str name, struct plan *p, char *msg,
                              size_t msglen)
{
    if (name.len <= 0) {
        snprintf(msg, msglen, "Default topic resources are not allowed.");
        return SK_ERR_INVALID_REQUEST;
    }
    sk_topic_name_problem(name, msg, msglen);
    if (msg[0])
        return SK_ERR_INVALID_TOPIC_EXCEPTION;
    p->topic = sk_meta_topic(sk_ctl_working(b), name.ptr, (size_t)name.len);
    if (!p->topic) {
        snprintf(msg, msglen, "The topic '%.*s' does not exist.", (int)name.len, name.ptr);
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    p->current = &p->topic->configs;
    return SK_ERR_NONE;
}

/* ---- request shape (ConfigAdminManager.preprocess) ---------------------- */

static int16_t check_ops(const struct sk_config_op *ops, int n, char *msg, size_t msglen)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (kp_str_eq(ops[i].name, ops[j].name)) {
                snprintf(msg, msglen, "Error due to duplicate config keys");
                return SK_ERR_INVALID_REQUEST;
            }
    size_t used = 0;
    msg[0] = 0;
    for (int i = 0; i < n; i++) {
        char shown[128];
        if (ops[i].op != SK_CONFIG_OP_DELETE && ops[i].value.len < 0 && used < msglen)
            used += (size_t)snprintf(msg + used, msglen - used, "%s%s",
                                     used ? ", " : "Null value not supported for : ",
                                     sk_wire_str_escape(ops[i].name, shown, sizeof shown));
    }
    if (used)
        return SK_ERR_INVALID_REQUEST;
    for (int i = 0; i < n; i++) {
        if (ops[i].op < SK_CONFIG_OP_SET || ops[i].op > SK_CONFIG_OP_SUBTRACT) {
            snprintf(msg, msglen, "Unknown operation type %d", ops[i].op);
            return SK_ERR_INVALID_REQUEST;
        }
    }
    return SK_ERR_NONE;
}

/* The ops with names and values read as Kafka reads them (owned); NULL with
 * *err set if a value is refused. Kafka answers a broker config that fails
 * validation with INVALID_REQUEST (KAFKA-13609), see broker_apply. */
static void free_ops(struct sk_config_op *v, int n)
{
    for (int i = 0; v && i < n; i++) {
        sk_wire_str_free(&v[i].name);
        sk_wire_str_free(&v[i].value);
    }
    free(v);
}

static struct sk_config_op *read_ops(int8_t type, const struct sk_config_op *ops, int n,
                                     int16_t *err, char *msg, size_t msglen)
{
    struct sk_config_op *v = calloc((size_t)n + 1, sizeof *v);
    if (!v)
        abort();
    for (int i = 0; i < n; i++) {
        v[i].op = ops[i].op;
        *err = sk_config_from_wire(type, ops[i].name, ops[i].value, &v[i].name, &v[i].value, msg,
                                   msglen);
        if (*err) {
            free_ops(v, i);
            if (type == SK_RESOURCE_BROKER && *err == SK_ERR_INVALID_CONFIG)
                *err = SK_ERR_INVALID_REQUEST;
            return NULL;
        }
    }
    return v;
}

/* ---- new values --------------------------------------------------------- */

static const struct sk_config_def *def_of(int8_t type, const char *name)
{
    return type == SK_RESOURCE_TOPIC ? sk_topic_config_find(name) : sk_broker_config_find(name);
}

static bool list_has(const char *list, const char *item, size_t len)
{
    struct sk_config_items it;
    const char *s;
    size_t n;
    sk_config_items_init(&it, list);
    while (sk_config_items_next(&it, &s, &n))
        if (n == len && memcmp(s, item, len) == 0)
            return true;
    return false;
}

/* Java's String.split(","): items untrimmed, empty ones dropped when the
 * list is rebuilt (Kafka's getParts). */
static void list_append(char **out, size_t *used, size_t *cap, const char *item, size_t len)
{
    if (len == 0)
        return;
    if (*used + len + 2 > *cap) {
        *cap = (*used + len + 2) * 2;
        *out = realloc(*out, *cap);
        if (!*out)
            abort();
    }
    if (*used)
        (*out)[(*used)++] = ',';
    memcpy(*out + *used, item, len);
    *used += len;
    (*out)[*used] = 0;
}

static char *list_edit(const char *base, const char *arg, bool append)
{
    size_t used = 0, cap = 16;
    char *out = calloc(1, cap);
    if (!out)
        abort();
    for (const char *s = base ? base : ""; *s;) {
        size_t n = strcspn(s, ",");
        if (append || !list_has(arg, s, n))
            list_append(&out, &used, &cap, s, n);
        s += n + (s[n] == ',');
    }
    for (const char *s = arg; append && *s;) {
        size_t n = strcspn(s, ",");
        if (!list_has(out, s, n))
            list_append(&out, &used, &cap, s, n);
        s += n + (s[n] == ',');
    }
    return out;
}

/* op's value is already read as Kafka reads it (sk_config_from_wire). */
static int16_t new_value(const struct plan *p, const struct sk_config_op *op, char *name,
                         kp_str *out, char *msg, size_t msglen)
{
    *out = KP_STR_NULL;
    if (op->op == SK_CONFIG_OP_DELETE)
        return SK_ERR_NONE;
    if (op->op == SK_CONFIG_OP_SET) {
        *out = owned(op->value);
        return SK_ERR_NONE;
    }
    bool append = op->op == SK_CONFIG_OP_APPEND;
    const char *verb = append ? "APPEND" : "SUBTRACT";
    const struct sk_config_def *def = def_of(p->type, name);
    /* A broker resource is checked on the broker (ConfigAdminManager), in
     * other words than the controller uses for topics. */
    if (def && def->type != SK_CONFIG_LIST && p->type == SK_RESOURCE_BROKER) {
        snprintf(msg, msglen, "Config value %s is not allowed for config key: %s",
                 append ? "append" : "subtract", name);
        return SK_ERR_INVALID_REQUEST;
    }
    if (!def || def->type != SK_CONFIG_LIST) {
        snprintf(msg, msglen, "Can't %s to key %s because its type is not LIST.", verb, name);
        return SK_ERR_INVALID_CONFIG;
    }
    kp_str cur = sk_kvlist_bytes(p->current, name);
    /* Lists are edited as text. */
    if (has_zero(op->value) || has_zero(cur)) {
        snprintf(msg, msglen, "Can't %s to key %s: a zero byte inside a list item is not "
                 "supported.", verb, name);
        return SK_ERR_INVALID_CONFIG;
    }
    char *arg = sk_ctl_cstr(op->value);
    char *edited = list_edit(cur.len >= 0 ? cur.ptr : def->default_value, arg, append);
    *out = owned(kp_str_c(edited));
    free(edited);
    free(arg);
    return SK_ERR_NONE;
}

static int16_t build_plan(struct plan *p, const struct sk_config_op *ops, int n, bool replace,
                          char *msg, size_t msglen)
{
    p->v = calloc((size_t)(n + p->current->n) + 1, sizeof *p->v);
    if (!p->v)
        abort();
    for (int i = 0; i < n; i++) {
        char *name = sk_ctl_cstr(ops[i].name);
        kp_str value;
        int16_t err = new_value(p, &ops[i], name, &value, msg, msglen);
        if (err) {
            free(name);
            return err;
        }
        plan_add(p, name, value);
    }
    /* AlterConfigs replaces the whole set: what it leaves out goes away. */
    for (int i = 0; replace && i < p->current->n; i++) {
        bool named = false;
        for (int j = 0; j < n && !named; j++)
            named = kp_str_eq_c(ops[j].name, p->current->v[i].key);
        if (!named)
            plan_add(p, sk_ctl_cstr(kp_str_c(p->current->v[i].key)), KP_STR_NULL);
    }
    return SK_ERR_NONE;
}

/* ---- validation --------------------------------------------------------- */

static int16_t validate_topic(struct sk_broker *b, const struct plan *p, char *msg, size_t msglen)
{
    const struct sk_kvlist *cur = p->current;
    struct sk_config_entry *e = calloc((size_t)(cur->n + p->n) + 1, sizeof *e);
    if (!e)
        abort();
    size_t n = 0;
    for (int i = 0; i < cur->n; i++)
        e[n++] = (struct sk_config_entry){cur->v[i].key, cur->v[i].value};
    for (int i = 0; i < p->n; i++) {
        size_t k = 0;
        while (k < n && strcmp(e[k].name, p->v[i].name) != 0)
            k++;
        if (p->v[i].value.len >= 0) {
            e[k] = (struct sk_config_entry){p->v[i].name, p->v[i].value.ptr};
            n += k == n;
        } else if (k < n) {
            e[k] = e[--n];
        }
    }
    int rc = SK_ERR_NONE;
    for (int i = 0; i < p->n && rc == SK_ERR_NONE; i++)
        if (p->v[i].value.len >= 0)
            rc = sk_topic_config_validate(p->v[i].name, p->v[i].value.ptr, msg, msglen);
    struct sk_topic_config tc;
    if (rc == SK_ERR_NONE)
        rc = sk_topic_config_resolve(b->node->cfg, e, n, &tc, msg, msglen);
    free(e);
    return rc == SK_ERR_NONE ? SK_ERR_NONE : SK_ERR_INVALID_CONFIG;
}

/* Puts the broker layers back as the plan found them (first k changes). */
static void broker_rollback(struct sk_broker *b, const struct plan *p, int k)
{
    if (p->elsewhere)
        return;
    char err[256];
    for (int i = k - 1; i >= 0; i--)
        if (sk_config_set_dynamic(b->node->cfg, p->scope, p->v[i].name, p->v[i].old.ptr, err,
                                  sizeof err) != SK_ERR_NONE)
            sk_warn("dynamic config %s could not be restored: %s", p->v[i].name, err);
}

/* The request's keys are first checked together as Kafka's
 * ConfigAdminManager does before forwarding to the controller; then the
 * changes are tried on the live configuration one by one (so keys that
 * depend on each other are checked together) and undone on failure. Kafka
 * answers a broker config that fails validation, a bad value included, with
 * INVALID_REQUEST (KAFKA-13609), not INVALID_CONFIG. */
static int16_t broker_check(const struct plan *p, char *msg, size_t msglen)
{
    const char **names = calloc((size_t)p->n + 1, sizeof *names);
    const char **values = calloc((size_t)p->n + 1, sizeof *values);
    if (!names || !values)
        abort();
    for (int i = 0; i < p->n; i++) {
        names[i] = p->v[i].name;
        values[i] = p->v[i].value.ptr;
    }
    int rc = sk_config_check_dynamic_keys(p->scope, names, values, (size_t)p->n, msg, msglen);
    free(names);
    free(values);
    return rc == SK_ERR_NONE ? SK_ERR_NONE : SK_ERR_INVALID_REQUEST;
}

/* The changes made to cfg one by one, then checked together; returns how
 * many were made in *made. */
static int try_changes(struct sk_config *cfg, const struct plan *p, int *made, char *msg,
                       size_t msglen)
{
    struct sk_config_snapshot before;
    sk_config_snapshot(cfg, &before);
    int rc = SK_ERR_NONE, i;
    for (i = 0; i < p->n && rc == SK_ERR_NONE; i++)
        rc = sk_config_set_dynamic(cfg, p->scope, p->v[i].name, p->v[i].value.ptr, msg, msglen);
    if (rc == SK_ERR_NONE)
        rc = sk_config_check_reconfigure(&before, cfg, msg, msglen);
    else
        i--; /* the failed change was not made */
    *made = i;
    return rc;
}

static int16_t broker_apply(struct sk_broker *b, const struct plan *p, char *msg, size_t msglen)
{
    int16_t err = broker_check(p, msg, msglen);
    if (err)
        return err;
    int rc, made;
    if (p->elsewhere) {
        /* Another broker's static layer is its own, unknown here: the
         * changes are tried on a copy of this node's, for their types,
         * ranges and each other, and the broker applies them itself. */
        struct sk_config_shared *s = sk_config_shared_static(b->node->cfg);
        if (!s) {
            snprintf(msg, msglen, "out of memory");
            return SK_ERR_UNKNOWN_SERVER_ERROR;
        }
        rc = try_changes(&s->cfg, p, &made, msg, msglen);
        sk_config_shared_release(s);
    } else {
        rc = try_changes(b->node->cfg, p, &made, msg, msglen);
        if (rc != SK_ERR_NONE)
            broker_rollback(b, p, made);
    }
    if (rc == SK_ERR_NONE)
        return SK_ERR_NONE;
    return rc == SK_ERR_INVALID_CONFIG ? SK_ERR_INVALID_REQUEST : SK_ERR_UNKNOWN_SERVER_ERROR;
}

/* ---- records ------------------------------------------------------------ */

static int16_t write_records(struct sk_broker *b, const struct plan *p, kp_str resource,
                             char *msg, size_t msglen)
{
    struct sk_meta_rec *recs = calloc((size_t)p->n + 1, sizeof *recs);
    kp_config_record *cr = calloc((size_t)p->n + 1, sizeof *cr);
    if (!recs || !cr)
        abort();
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        const struct change *c = &p->v[i];
        bool same = kp_str_eq(c->old, c->value);
        /* Kafka skips unchanged topic keys but always records broker ones. */
        if (same && p->type == SK_RESOURCE_TOPIC)
            continue;
        kp_config_record_init(&cr[n]);
        cr[n].resource_type = p->type;
        cr[n].resource_name = p->type == SK_RESOURCE_TOPIC ? kp_str_c(p->topic->name) : resource;
        if (cr[n].resource_name.len < 0)
            cr[n].resource_name = kp_str_c("");
        cr[n].name = kp_str_c(c->name);
        cr[n].value = c->value;
        recs[n] = (struct sk_meta_rec){SK_META_CONFIG, 0, &cr[n]};
        n++;
    }
    int16_t err = sk_ctl_commit(b, recs, n, msg, msglen);
    free(recs);
    free(cr);
    return err;
}

int16_t sk_configs_alter(struct sk_broker *b, int8_t type, kp_str resource,
                         const struct sk_config_op *ops, int nops, bool replace,
                         bool validate_only, bool forwarded, char *msg, size_t msglen)
{
    struct plan p = {.type = type};
    msg[0] = 0;
    int16_t err;
    if (type == SK_RESOURCE_TOPIC)
        err = topic_resource(b, resource, &p, msg, msglen);
    else if (type == SK_RESOURCE_BROKER)
        err = broker_resource(b, resource, forwarded, &p, msg, msglen);
    else {
        snprintf(msg, msglen, "Unknown resource type %d", type);
        return SK_ERR_INVALID_REQUEST;
    }
    if (!err)
        err = check_ops(ops, nops, msg, msglen);
    struct sk_config_op *read = err ? NULL : read_ops(type, ops, nops, &err, msg, msglen);
    if (!err)
        err = build_plan(&p, read, nops, replace, msg, msglen);
    if (!err && type == SK_RESOURCE_TOPIC)
        err = validate_topic(b, &p, msg, msglen);
    if (!err && type == SK_RESOURCE_BROKER)
        err = broker_apply(b, &p, msg, msglen);
    if (!err && type == SK_RESOURCE_BROKER && validate_only)
        broker_rollback(b, &p, p.n);
    if (!err && !validate_only) {
        err = write_records(b, &p, resource, msg, msglen);
        if (err && type == SK_RESOURCE_BROKER)
            broker_rollback(b, &p, p.n);
    }
    if (!err)
        msg[0] = 0;
    free_ops(read, nops);
    plan_free(&p);
    return err;
}

/* quiet: the layer was applied (and its stale keys logged) before. */
static int apply_layer(struct sk_config *cfg, const struct sk_kvlist *l,
                       enum sk_config_scope scope, bool quiet)
{
    int rc = 0;
    for (int i = 0; i < l->n; i++) {
        char err[512];
        int r = sk_config_set_dynamic(cfg, scope, l->v[i].key, l->v[i].value, err, sizeof err);
        if (r == -ENOMEM)
            return -ENOMEM;
        if (r != SK_ERR_NONE && !quiet)
            sk_warn("dynamic config %s=%s from the metadata log does not apply: %s",
                    l->v[i].key, l->v[i].value, err);
        if (r != SK_ERR_NONE)
            rc = -EINVAL;
    }
    return rc;
}

static int apply_layers(struct sk_config *cfg, const struct sk_meta_image *img, bool quiet)
{
    int rc = apply_layer(cfg, &img->cluster_configs, SK_CONFIG_SCOPE_DEFAULT, quiet);
    if (rc == -ENOMEM)
        return rc;
    int rc2 = apply_layer(cfg, sk_meta_broker_configs(img, cfg->node_id), SK_CONFIG_SCOPE_BROKER,
                          quiet);
    return rc2 ? rc2 : rc;
}

int sk_controller_apply_dynamic_configs(struct sk_broker *b)
{
    return apply_layers(b->node->cfg, b->image, false);
}

struct sk_config_shared *sk_controller_config_of(const struct sk_config *base,
                                                 const struct sk_meta_image *img)
{
    struct sk_config_shared *s = sk_config_shared_static(base);
    if (s && apply_layers(&s->cfg, img, true) == -ENOMEM) {
        sk_config_shared_release(s);
        return NULL;
    }
    return s;
}
