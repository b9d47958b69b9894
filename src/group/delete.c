/* DeleteGroups and OffsetDelete: tombstones in __consumer_offsets. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "record_set.h"
#include "skein/errors.h"
#include "skein/group_offsets.h"
#include "skein/group_records.h"

static void add_offset_tombstone(struct sk_rec_set *s, kp_str group, kp_str topic, int32_t part)
{
    size_t k = s->buf.len;
    if (!s->err)
        s->err = sk_group_offset_key(&s->buf, group, topic, part);
    sk_rec_set_add(s, k, s->buf.len, true);
}

struct write_op {
    sk_group_done_fn done;
    void *arg;
};

static void written(void *arg, int16_t err)
{
    struct write_op *op = arg;
    sk_group_done_fn done = op->done;
    void *darg = op->arg;
    free(op);
    done(darg, err ? sk_group_store_error(err) : SK_ERR_NONE);
}

static void write_set(struct sk_rec_set *s, struct sk_group_coordinator *co, int32_t partition,
                      sk_group_done_fn done, void *arg)
{
    struct write_op *op = malloc(sizeof *op);
    if (!op) {
        sk_rec_set_free(s);
        done(arg, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *op = (struct write_op){done, arg};
    sk_rec_set_write(s, co, partition, written, op);
}

int16_t sk_group_delete(struct sk_group_coordinator *co, kp_str group_id, sk_group_done_fn done,
                        void *arg)
{
    int16_t err = sk_group_owner_error(co, group_id);
    if (err)
        return err;
    if (group_id.len <= 0)
        return SK_ERR_INVALID_GROUP_ID;
    struct sk_group *g = sk_group_find(co, group_id);
    if (!g)
        return SK_ERR_GROUP_ID_NOT_FOUND;
    if (g->state != SK_GROUP_EMPTY)
        return SK_ERR_NON_EMPTY_GROUP;
    struct sk_rec_set s = {0};
    size_t n = 0;
    struct sk_offset_entry **v = sk_offsets_sorted(&g->offsets, &n);
    for (size_t i = 0; i < n; i++)
        add_offset_tombstone(&s, group_id, v[i]->topic, v[i]->partition);
    free(v);
    size_t k = s.buf.len;
    if (!s.err)
        s.err = sk_group_metadata_key(&s.buf, group_id);
    sk_rec_set_add(&s, k, s.buf.len, true);
    int32_t partition = g->partition;
    /* Gone from the table now: a JoinGroup racing the tombstones starts a
     * new group, whose records land after them in the log. */
    sk_group_remove(g);
    write_set(&s, co, partition, done, arg);
    return SK_ERR_NONE;
}

static bool topic_listed(const struct sk_group_protocol *p, kp_str topic)
{
    if (!p || p->metadata_len < 2)
        return true; /* unreadable: assume subscribed, as Kafka does */
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_reader r;
    kp_reader_init(&r, p->metadata, (size_t)p->metadata_len, &a);
    int16_t ver;
    kp_consumer_protocol_subscription sub;
    bool found = true;
    if (kp_read_i16(&r, &ver) == 0 && ver >= 0 &&
        kp_consumer_protocol_subscription_decode(
            &sub, &r, ver > KP_CONSUMER_PROTOCOL_SUBSCRIPTION_MAX_VERSION
                          ? KP_CONSUMER_PROTOCOL_SUBSCRIPTION_MAX_VERSION
                          : ver) == 0) {
        found = false;
        for (int32_t i = 0; i < sub.topics.n && !found; i++)
            found = kp_str_eq(sub.topics.v[i], topic);
    }
    kp_arena_free(&a);
    return found;
}

bool sk_group_subscribed(const struct sk_group *g, kp_str topic)
{
    if (!kp_str_eq_c(g->protocol_type, "consumer") || !g->nmembers)
        return false;
    if (g->protocol_name.len < 0)
        return true; /* subscriptions not settled yet */
    for (struct sk_member *m = g->members; m; m = m->next)
        if (topic_listed(sk_member_protocol(m, g->protocol_name), topic))
            return true;
    return false;
}

struct odel_op {
    struct sk_group *g;
    struct sk_offset_delete_in *items;
    int n;
    sk_group_done_fn done;
    void *arg;
};

static void offsets_deleted(void *arg, int16_t err)
{
    struct odel_op *op = arg;
    for (int i = 0; i < op->n; i++) {
        struct sk_offset_delete_in *d = &op->items[i];
        if (d->err)
            continue;
        if (err)
            d->err = err;
        else if (!op->g->removed)
            sk_offsets_del(&op->g->offsets, d->topic, d->partition);
    }
    sk_group_done_fn done = op->done;
    void *darg = op->arg;
    sk_group_unref(op->g);
    free(op);
    done(darg, err);
}

int16_t sk_group_offsets_delete(struct sk_group_coordinator *co, kp_str group_id,
                                struct sk_offset_delete_in *items, int n, sk_group_done_fn done,
                                void *arg)
{
    int16_t err = sk_group_owner_error(co, group_id);
    if (err)
        return err;
    struct sk_group *g = group_id.len > 0 ? sk_group_find(co, group_id) : NULL;
    if (!g || g->state == SK_GROUP_DEAD)
        return SK_ERR_GROUP_ID_NOT_FOUND;
    bool consumer = kp_str_eq_c(g->protocol_type, "consumer");
    if (g->state != SK_GROUP_EMPTY && !consumer)
        return SK_ERR_NON_EMPTY_GROUP;
    struct odel_op *op = malloc(sizeof *op);
    if (!op)
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    *op = (struct odel_op){g, items, n, done, arg};
    struct sk_rec_set s = {0};
    for (int i = 0; i < n; i++) {
        struct sk_offset_delete_in *d = &items[i];
        if (g->state != SK_GROUP_EMPTY && sk_group_subscribed(g, d->topic)) {
            d->err = SK_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
            continue;
        }
        if (sk_offsets_get(&g->offsets, d->topic, d->partition))
            add_offset_tombstone(&s, group_id, d->topic, d->partition);
    }
    sk_group_ref(g);
    write_set(&s, co, g->partition, offsets_deleted, op);
    return SK_ERR_NONE;
}
