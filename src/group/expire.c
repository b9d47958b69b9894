/* offsets.retention.minutes: offsets of groups nobody consumes with expire,
 * and a group left with neither members nor offsets goes away. */
#include <stdlib.h>

#include "record_set.h"
#include "skein/errors.h"
#include "skein/group_offsets.h"
#include "skein/group_records.h"

/* Kafka's OffsetExpirationCondition: an empty consumer group counts from when
 * it became empty; a group without a protocol ("simple" commits) and the
 * unsubscribed topics of a live consumer group count from each commit. */
static bool expired(const struct sk_group *g, const struct sk_offset_entry *e, int64_t now,
                    int64_t retention)
{
    if (e->expire_ts >= 0)
        return now >= e->expire_ts;
    int64_t base = e->commit_ts;
    if (g->state == SK_GROUP_EMPTY) {
        if (g->protocol_type.len >= 0)
            base = g->state_ts;
    } else if (sk_group_subscribed(g, e->topic) || g->protocol_type.len < 0) {
        return false;
    }
    return now - base >= retention;
}

static void ignore_done(void *arg, int16_t err)
{
    (void)arg;
    (void)err; /* the next check retries whatever did not become durable */
}

static int expire_group(struct sk_group *g, int64_t now)
{
    if (g->pending_writes || g->state == SK_GROUP_DEAD)
        return 0;
    struct sk_group_coordinator *co = g->co;
    size_t n = 0;
    struct sk_offset_entry **v = sk_offsets_sorted(&g->offsets, &n);
    struct sk_rec_set s = {0};
    int count = 0;
    kp_str gid = g->id;
    for (size_t i = 0; i < n; i++) {
        if (!expired(g, v[i], now, co->lim.retention_ms))
            continue;
        size_t k = s.buf.len;
        if (!s.err)
            s.err = sk_group_offset_key(&s.buf, gid, v[i]->topic, v[i]->partition);
        sk_rec_set_add(&s, k, s.buf.len, true);
        sk_offsets_del(&g->offsets, v[i]->topic, v[i]->partition);
        count++;
    }
    free(v);
    bool gone = g->state == SK_GROUP_EMPTY && g->offsets.n == 0;
    if (gone) {
        size_t k = s.buf.len;
        if (!s.err)
            s.err = sk_group_metadata_key(&s.buf, gid);
        sk_rec_set_add(&s, k, s.buf.len, true);
    }
    int32_t partition = g->partition;
    if (gone)
        sk_group_remove(g);
    if (s.n)
        sk_rec_set_write(&s, co, partition, ignore_done, NULL);
    else
        sk_rec_set_free(&s);
    return count;
}

struct collect {
    struct sk_group **v;
    size_t n;
    const struct sk_group_coordinator *co;
};

static void collect(struct sk_group *g, void *arg)
{
    struct collect *c = arg;
    if (c->v && sk_group_partition_ready(c->co, g->partition))
        c->v[c->n++] = g;
}

int sk_group_expire_offsets(struct sk_group_coordinator *co, int64_t now_ms)
{
    struct collect c = {calloc(co->ngroups + 1, sizeof *c.v), 0, co};
    if (!c.v)
        return 0;
    sk_group_each(co, collect, &c);
    int count = 0;
    for (size_t i = 0; i < c.n; i++)
        count += expire_group(c.v[i], now_ms);
    free(c.v);
    return count;
}

static void on_expiry_timer(void *arg)
{
    struct sk_group_coordinator *co = arg;
    co->expiry_timer = 0;
    if (!sk_group_coordinator_error(co))
        sk_group_expire_offsets(co, co->env.now_ms(co->env.ctx));
    sk_group_schedule_expiry(co);
}

void sk_group_schedule_expiry(struct sk_group_coordinator *co)
{
    if (co->expiry_timer || co->lim.retention_check_ms <= 0)
        return;
    co->expiry_timer =
        co->env.timer_add(co->env.ctx, (uint64_t)co->lim.retention_check_ms, on_expiry_timer, co);
}
