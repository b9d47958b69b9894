/* The leader balance, as Kafka 3.9's QuorumController runs it with
 * auto.leader.rebalance.enable: elections move leadership away from a
 * broker that left and never back, so after a restart the cluster's load
 * stays on the brokers that stayed. Every
 * leader.imbalance.check.interval.seconds the active controller makes the
 * preferred (first) replica lead wherever it does not and may (in the ISR,
 * registered, unfenced, not shutting down), at most 1,000 partitions a
 * round (Kafka's maxElectionsPerImbalance) and again at the next tick while
 * more remain. leader.imbalance.per.broker.percentage is ZooKeeper-era and
 * not read by Kafka's KRaft controller either. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "internal.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/logging.h"

#define SK_BALANCE_MAX 1000

int sk_ctl_balance_leaders(struct sk_broker *ctl, char *msg, size_t msglen)
{
    struct sk_elect_event ev = {.type = SK_ELECT_PREFERRED, .removed = -1, .added = -1,
                                .max_changes = SK_BALANCE_MAX};
    struct sk_elect_batch batch;
    int n = sk_elect_all(sk_ctl_working(ctl), &ev, false, &batch);
    struct sk_meta_rec *recs = calloc((size_t)n + 1, sizeof *recs);
    if (!recs)
        abort(); /* as the image: a half-built change must never reach the log */
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_meta_rec){SK_META_PARTITION_CHANGE, 0, &batch.ch[i]};
    int16_t err = sk_ctl_commit(ctl, recs, n, msg, msglen);
    free(recs);
    sk_elect_batch_free(&batch);
    return err ? -err : n;
}

static const char *broker_value(const struct sk_node *n, const char *key)
{
    struct sk_config_value v;
    if (!n->cfg || sk_config_describe_broker(n->cfg, key, &v) != 0)
        return NULL;
    return v.value;
}

static int64_t check_interval_ms(const struct sk_node *n)
{
    const char *v = broker_value(n, "leader.imbalance.check.interval.seconds");
    long long s = v ? strtoll(v, NULL, 10) : 300;
    return (s < 1 ? 1 : s) * 1000;
}

void sk_ctl_balance_tick(struct sk_broker *ctl, int64_t now_ms, int64_t *next_ms)
{
    const char *on = broker_value(ctl->node, "auto.leader.rebalance.enable");
    char why[128];
    if ((on && strcmp(on, "true") != 0) || sk_ctl_check_active(ctl, why, sizeof why)) {
        *next_ms = 0; /* a full interval after this controller becomes active */
        return;
    }
    if (*next_ms == 0)
        *next_ms = now_ms + check_interval_ms(ctl->node);
    if (now_ms < *next_ms)
        return;
    char msg[256] = "";
    int n = sk_ctl_balance_leaders(ctl, msg, sizeof msg);
    if (n < 0)
        sk_warn("leader balance: preferred elections not committed: %s", msg);
    else if (n > 0)
        sk_info("leader balance: %d partition(s) led by their preferred replica again", n);
    *next_ms = n == SK_BALANCE_MAX ? now_ms : now_ms + check_interval_ms(ctl->node);
}
