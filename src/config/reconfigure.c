/* Kafka's BrokerReconfigurable checks: a value that is valid on its own may
 * still be refused as a change from the running one. The log cleaner and the
 * thread pools refuse to shrink below half or grow past double their current
 * size in one step (LogCleaner, DynamicThreadPool, the acceptors' network
 * threads). Skein runs none of those pools, but answers as Kafka does, so a
 * change an operator makes here also works on Kafka. */
#include "internal.h"
#include "skein/errors.h"

#include <stdio.h>
#include <string.h>

/* LogCleaner.ReconfigurableConfigs: changing any of them re-checks the
 * cleaner's thread count. */
static const char *const cleaner_keys[] = {
    "log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size", "message.max.bytes", "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms"};

static const char *const pool_keys[] = {"num.io.threads", "num.network.threads",
                                        "num.replica.fetchers",
                                        "num.recovery.threads.per.data.dir",
                                        "background.threads"};

#define N_CLEANER (sizeof cleaner_keys / sizeof cleaner_keys[0])
#define N_POOL (sizeof pool_keys / sizeof pool_keys[0])

static void take(const struct sk_config *cfg, const char *name, char out[SK_CONFIG_SNAP_LEN])
{
    enum sk_config_source src;
    const char *v = sk_config_broker_value(cfg, sk_broker_config_find(name), &src);
    snprintf(out, SK_CONFIG_SNAP_LEN, "%s", v ? v : "");
}

void sk_config_snapshot(const struct sk_config *cfg, struct sk_config_snapshot *s)
{
    _Static_assert(N_CLEANER + N_POOL == SK_CONFIG_SNAP_KEYS, "one slot per key");
    for (size_t i = 0; i < N_CLEANER; i++)
        take(cfg, cleaner_keys[i], s->v[i]);
    for (size_t i = 0; i < N_POOL; i++)
        take(cfg, pool_keys[i], s->v[N_CLEANER + i]);
}

static int32_t as_int(const char *text)
{
    int32_t v = 0;
    sk_config_parse_int(text, &v);
    return v;
}

/* processReconfiguration wraps the component's ConfigException as the value
 * of a new one, so clients read this odd sentence. */
static int refuse(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "Invalid value org.apache.kafka.common.config.ConfigException: %s for "
             "configuration Invalid dynamic configuration", why);
    return SK_ERR_INVALID_CONFIG;
}

static int check_cleaner(const struct sk_config_snapshot *before,
                         const struct sk_config_snapshot *after, char *err, size_t errlen)
{
    bool changed = false;
    for (size_t i = 0; i < N_CLEANER; i++)
        changed = changed || strcmp(before->v[i], after->v[i]) != 0;
    if (!changed)
        return SK_ERR_NONE;
    int32_t now = as_int(before->v[0]), next = as_int(after->v[0]);
    char why[160];
    if (next < 1)
        return refuse(err, errlen, "Log cleaner threads should be at least 1");
    if (next < now / 2) {
        snprintf(why, sizeof why, "Log cleaner threads cannot be reduced to less than half the "
                 "current value %d", (int)now);
        return refuse(err, errlen, why);
    }
    if (next > (int64_t)now * 2) {
        snprintf(why, sizeof why, "Log cleaner threads cannot be increased to more than double "
                 "the current value %d", (int)now);
        return refuse(err, errlen, why);
    }
    return SK_ERR_NONE;
}

static int check_pool(const char *name, const char *before, const char *after, char *err,
                      size_t errlen)
{
    int32_t now = as_int(before), next = as_int(after);
    if (next == now)
        return SK_ERR_NONE;
    char why[256];
    int n = snprintf(why, sizeof why, "Dynamic thread count update validation failed for %s=%s",
                     name, after);
    size_t used = n > 0 && (size_t)n < sizeof why ? (size_t)n : sizeof why - 1;
    if (next <= 0)
        snprintf(why + used, sizeof why - used, ", value should be at least 1");
    else if (next < now / 2)
        snprintf(why + used, sizeof why - used,
                 ", value should be at least half the current value %d", (int)now);
    else if (next > (int64_t)now * 2)
        snprintf(why + used, sizeof why - used,
                 ", value should not be greater than double the current value %d", (int)now);
    else
        return SK_ERR_NONE;
    return refuse(err, errlen, why);
}

int sk_config_check_reconfigure(const struct sk_config_snapshot *before,
                                const struct sk_config *after, char *err, size_t errlen)
{
    struct sk_config_snapshot now;
    sk_config_snapshot(after, &now);
    int rc = check_cleaner(before, &now, err, errlen);
    for (size_t i = 0; i < N_POOL && rc == SK_ERR_NONE; i++)
        rc = check_pool(pool_keys[i], before->v[N_CLEANER + i], now.v[N_CLEANER + i], err,
                        errlen);
    return rc;
}
