/* The arithmetic of admission: Kafka's per-operation record bound, and the
 * partition budget that keeps file descriptors for the network. */
#include "skein/admission.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "skein/errors.h"

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static uint64_t reserved_fds(int64_t max_connections)
{
    int64_t conns = max_connections >= 0 ? min64(max_connections, SK_FD_RESERVED_CONNECTIONS)
                                         : SK_FD_RESERVED_CONNECTIONS;
    return SK_FD_RESERVE_FIXED + (uint64_t)conns * SK_FD_PER_CONNECTION;
}

void sk_partition_budget_compute(const struct sk_budget_inputs *in,
                                 struct sk_partition_budget *out)
{
    *out = (struct sk_partition_budget){.set = true, .nofile = in->nofile,
                                        .mem_bytes = in->mem_bytes,
                                        .configured = in->configured};
    out->reserved_fds = reserved_fds(in->max_connections);
    uint64_t spare = in->nofile > out->reserved_fds ? in->nofile - out->reserved_fds : 0;
    /* spare / (1 + headroom), in integers */
    out->by_fds = (int64_t)(spare * 100 / (100 + SK_FD_HEADROOM_PCT));
    out->by_memory = (int64_t)(in->mem_bytes / 2 / SK_PARTITION_MEM_BYTES);
    out->limit = min64(out->by_fds, out->by_memory);
    if (in->configured >= 0)
        out->limit = min64(out->limit, in->configured);
}

/* A cgroup v2 limit, when the node runs under one ("max": none). */
static uint64_t cgroup_memory(void)
{
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    unsigned long long v = 0;
    if (!f)
        return UINT64_MAX;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok && v > 0 ? (uint64_t)v : UINT64_MAX;
}

void sk_budget_inputs_probe(int64_t max_connections, int32_t configured,
                            struct sk_budget_inputs *out)
{
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
    uint64_t cg = cgroup_memory();
    mem = cg < mem ? cg : mem;
    struct rlimit as = {RLIM_INFINITY, RLIM_INFINITY};
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur < mem)
        mem = as.rlim_cur;
    *out = (struct sk_budget_inputs){
        .nofile = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX / 2 : rl.rlim_cur,
        .max_connections = max_connections,
        .mem_bytes = mem,
        .configured = configured,
    };
}

static const char *binding(const struct sk_partition_budget *b)
{
    if (b->configured >= 0 && b->limit == b->configured)
        return "set by skein.max.partitions.per.shard";
    if (b->limit == b->by_fds)
        return "bound by the open-file limit";
    return "bound by memory";
}

void sk_partition_budget_describe(const struct sk_partition_budget *b, char *buf, size_t len)
{
    snprintf(buf, len, "partition budget %" PRId64 " (%s; open-file limit %" PRIu64 " less %"
             PRIu64 " reserved for connections and the metadata log carries %" PRId64
             ", %" PRIu64 " MiB of memory carries %" PRId64 ")", b->limit, binding(b),
             b->nofile, b->reserved_fds, b->by_fds, b->mem_bytes >> 20, b->by_memory);
}

int16_t sk_admit_records(int64_t nrecords, char *msg, size_t msglen)
{
    if (nrecords <= SK_MAX_RECORDS_PER_USER_OP)
        return SK_ERR_NONE;
    snprintf(msg, msglen, "Unable to perform excessively large batch operation.");
    return SK_ERR_POLICY_VIOLATION;
}

int16_t sk_admit_partitions(const struct sk_partition_budget *b, int32_t node, int64_t hosted,
                            int64_t adding, char *msg, size_t msglen)
{
    if (!b->set || adding <= 0 || hosted + adding <= b->limit)
        return SK_ERR_NONE;
    snprintf(msg, msglen, "Adding %" PRId64 " partition(s) would put %" PRId64 " on broker %d, "
             "over its limit of %" PRId64 " (skein.max.partitions.per.shard; %s: open-file "
             "limit %" PRIu64 " less %" PRIu64 " reserved for connections).", adding,
             hosted + adding, node, b->limit, binding(b), b->nofile, b->reserved_fds);
    return SK_ERR_POLICY_VIOLATION;
}
