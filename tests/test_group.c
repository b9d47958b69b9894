/* The classic group state machine, protocol selection, the partition hash
 * and the __consumer_offsets records, driven through a fake environment
 * (manual timers, an in-memory store that replays what was written). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/group.h"
#include "skein/group_offsets.h"
#include "skein/group_records.h"
#include "skein/record.h"

/* ---- fake environment ------------------------------------------------------ */

#define MAX_TIMERS 256
#define MAX_RECS 256

static struct {
    uint64_t when[MAX_TIMERS];
    sk_group_timer_fn fn[MAX_TIMERS];
    void *arg[MAX_TIMERS];
    bool live[MAX_TIMERS];
    uint64_t now;
    uint8_t *keys[MAX_RECS], *vals[MAX_RECS];
    int32_t klen[MAX_RECS], vlen[MAX_RECS];
    int nrecs;
} F;

static uint64_t t_add(void *ctx, uint64_t ms, sk_group_timer_fn fn, void *arg)
{
    (void)ctx;
    for (int i = 0; i < MAX_TIMERS; i++)
        if (!F.live[i]) {
            F.live[i] = true;
            F.when[i] = F.now + ms;
            F.fn[i] = fn;
            F.arg[i] = arg;
            return (uint64_t)i + 1;
        }
    return 0;
}

static void t_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    if (id)
        F.live[id - 1] = false;
}

static int64_t t_now(void *ctx)
{
    (void)ctx;
    return (int64_t)F.now + 1700000000000LL;
}

static void s_append(void *ctx, int32_t partition, const struct sk_record_in *recs, size_t n,
                     sk_group_done_fn done, void *arg)
{
    (void)ctx;
    (void)partition;
    for (size_t i = 0; i < n && F.nrecs < MAX_RECS; i++) {
        int k = F.nrecs++;
        F.klen[k] = recs[i].key_len;
        F.keys[k] = malloc((size_t)recs[i].key_len + 1);
        memcpy(F.keys[k], recs[i].key, (size_t)recs[i].key_len);
        F.vlen[k] = recs[i].value_len;
        F.vals[k] = recs[i].value_len >= 0 ? malloc((size_t)recs[i].value_len + 1) : NULL;
        if (recs[i].value_len > 0)
            memcpy(F.vals[k], recs[i].value, (size_t)recs[i].value_len);
    }
    done(arg, SK_ERR_NONE);
}

/* Advances the clock, firing due timers in time order. */
static void advance(uint64_t ms)
{
    uint64_t end = F.now + ms;
    for (;;) {
        int best = -1;
        for (int i = 0; i < MAX_TIMERS; i++)
            if (F.live[i] && F.when[i] <= end && (best < 0 || F.when[i] < F.when[best]))
                best = i;
        if (best < 0)
            break;
        F.now = F.when[best] > F.now ? F.when[best] : F.now;
        F.live[best] = false;
        F.fn[best](F.arg[best]);
    }
    F.now = end;
}

static struct sk_group_coordinator *co;

static struct sk_group_coordinator *new_co(int32_t delay)
{
    struct sk_group_env env = {NULL, t_add, t_cancel, t_now, s_append};
    struct sk_group_limits lim = {delay, 6000, 300000, 3, 4096, 7LL * 24 * 3600 * 1000, 600000, 50,
                                  5242880};
    return sk_group_coordinator_new(&env, &lim);
}

static void setup(void)
{
    for (int i = 0; i < F.nrecs; i++) {
        free(F.keys[i]);
        free(F.vals[i]);
    }
    memset(&F, 0, sizeof F);
    co = new_co(0);
}

static void teardown(void)
{
    sk_group_coordinator_free(co);
}

/* ---- recording callbacks ---------------------------------------------------- */

struct join_out {
    bool done;
    int16_t err;
    int32_t generation;
    char member_id[128], leader[128], protocol[32];
    int32_t member_id_len, leader_len, protocol_len; /* -1: null */
    int nmembers;
};

/* Keeps a result string's bytes, zero bytes included, NUL-terminated after
 * its length so tests without zero bytes can compare it as a C string. */
static void keep(char *dst, size_t cap, int32_t *len, kp_str s)
{
    *len = s.len;
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    cr_assert(n < cap, "a %zu-byte string does not fit the test's %zu", n, cap);
    if (n)
        memcpy(dst, s.ptr, n);
    dst[n] = 0;
}

static void on_join(void *arg, const struct sk_join_result *r)
{
    struct join_out *o = arg;
    cr_assert(!o->done, "a JoinGroup was answered twice");
    o->done = true;
    o->err = r->err;
    o->generation = r->generation;
    keep(o->member_id, sizeof o->member_id, &o->member_id_len, r->member_id);
    keep(o->leader, sizeof o->leader, &o->leader_len, r->leader);
    keep(o->protocol, sizeof o->protocol, &o->protocol_len, r->protocol_name);
    o->nmembers = r->nmembers;
}

struct sync_out {
    bool done;
    int16_t err;
    char assignment[64];
};

static void on_sync(void *arg, const struct sk_sync_result *r)
{
    struct sync_out *o = arg;
    cr_assert(!o->done, "a SyncGroup was answered twice");
    o->done = true;
    o->err = r->err;
    snprintf(o->assignment, sizeof o->assignment, "%.*s", r->assignment_len,
             r->assignment ? (const char *)r->assignment : "");
}

static const struct sk_join_protocol_in range_rr[] = {
    {{"range", 5}, {(const uint8_t *)"R", 1}},
    {{"roundrobin", 10}, {(const uint8_t *)"W", 1}},
};
static const struct sk_join_protocol_in rr_only[] = {
    {{"roundrobin", 10}, {(const uint8_t *)"W", 1}},
};

static void join(const char *group, const char *member, const char *instance,
                 const struct sk_join_protocol_in *protos, int n, struct join_out *o)
{
    memset(o, 0, sizeof *o);
    struct sk_join_params p = {
        .group_id = kp_str_c(group),
        .member_id = kp_str_c(member ? member : ""),
        .instance_id = kp_str_c(instance),
        .protocol_type = kp_str_c("consumer"),
        .client_id = kp_str_c("cli"),
        .client_host = kp_str_c("/127.0.0.1"),
        .session_timeout_ms = 10000,
        .rebalance_timeout_ms = 30000,
        .protocols = protos,
        .nprotocols = n,
        .require_known_member = true,
    };
    sk_group_join(co, &p, on_join, o);
}

/* MEMBER_ID_REQUIRED, then the rejoin with the id. */
static void join_new(const char *group, struct join_out *o)
{
    join(group, NULL, NULL, range_rr, 2, o);
    cr_assert_eq(o->err, SK_ERR_MEMBER_ID_REQUIRED);
    char id[128];
    snprintf(id, sizeof id, "%s", o->member_id);
    cr_assert(strncmp(id, "cli-", 4) == 0, "member id %s is <client.id>-<uuid>", id);
    join(group, id, NULL, range_rr, 2, o);
}

static void sync_(const char *group, const char *member, int32_t gen, bool leader,
                  struct join_out *members, int n, struct sync_out *o)
{
    memset(o, 0, sizeof *o);
    struct sk_sync_assignment_in as[8];
    for (int i = 0; i < n; i++)
        as[i] = (struct sk_sync_assignment_in){kp_str_c(members[i].member_id),
                                               {(const uint8_t *)"A", 1}};
    struct sk_sync_params p = {
        .group_id = kp_str_c(group), .member_id = kp_str_c(member),
        .instance_id = KP_STR_NULL, .protocol_type = KP_STR_NULL, .protocol_name = KP_STR_NULL,
        .generation = gen, .assignments = leader ? as : NULL, .nassignments = leader ? n : 0,
    };
    sk_group_sync(co, &p, on_sync, o);
}

TestSuite(group, .init = setup, .fini = teardown);

Test(group, java_hash_partition)
{
    /* "".hashCode() == 0, "a" == 97, "group" == 98629247 in Java. */
    cr_assert_eq(sk_java_string_hash(kp_str_c("")), 0);
    cr_assert_eq(sk_java_string_hash(kp_str_c("a")), 97);
    cr_assert_eq(sk_java_string_hash(kp_str_c("group")), 98629247);
    /* "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs gives 0. */
    cr_assert_eq(sk_java_string_hash(kp_str_c("polygenelubricants")), INT32_MIN);
    cr_assert_eq(sk_group_partition_for(kp_str_c("polygenelubricants"), 50), 0);
    cr_assert_eq(sk_group_partition_for(kp_str_c("group"), 50), 98629247 % 50);
    /* U+00E9 is one UTF-16 unit: "\u00e9".hashCode() == 233. */
    cr_assert_eq(sk_java_string_hash(kp_str_c("\xc3\xa9")), 233);
}

Test(group, lone_member_without_delay_completes_at_once)
{
    struct join_out a;
    join_new("g", &a);
    cr_assert(a.done, "no initial delay and nobody else to wait for");
    cr_assert_eq(a.err, 0);
    cr_assert_eq(a.generation, 1);
    struct sk_group *g = sk_group_find(co, kp_str_c("g"));
    cr_assert_eq(g->state, SK_GROUP_COMPLETING_REBALANCE);
}

Test(group, join_sync_heartbeat_leave)
{
    sk_group_coordinator_free(co);
    co = new_co(3000);
    struct join_out a, b, c;
    join_new("g", &a);
    join_new("g", &b);
    join_new("g", &c);
    struct sk_group *g = sk_group_find(co, kp_str_c("g"));
    cr_assert_eq(g->state, SK_GROUP_PREPARING_REBALANCE);
    cr_assert(!a.done && !b.done && !c.done, "parked until the initial delay ends");
    advance(3000);
    cr_assert(!a.done, "members that joined during the delay extend it once more");
    advance(3000);
    cr_assert(a.done && b.done && c.done);
    cr_assert_eq(a.err, 0);
    cr_assert_eq(a.generation, 1);
    cr_assert_str_eq(a.protocol, "range");
    cr_assert_eq(g->state, SK_GROUP_COMPLETING_REBALANCE);
    cr_assert_str_eq(a.leader, a.member_id, "the first member leads");
    cr_assert_eq(a.nmembers, 3, "the leader sees all members");
    cr_assert_eq(b.nmembers, 0, "followers see none");

    struct join_out all[3] = {a, b, c};
    struct sync_out sb, sa, sc;
    sync_("g", b.member_id, 1, false, NULL, 0, &sb);
    cr_assert(!sb.done, "a follower waits for the leader's assignment");
    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c(c.member_id), KP_STR_NULL, 1), 0);
    sync_("g", a.member_id, 1, true, all, 3, &sa);
    cr_assert(sa.done && sb.done);
    cr_assert_eq(sb.err, 0);
    cr_assert_str_eq(sb.assignment, "A");
    cr_assert_eq(g->state, SK_GROUP_STABLE);
    sync_("g", c.member_id, 1, false, NULL, 0, &sc);
    cr_assert(sc.done && sc.err == 0, "a late follower gets its assignment in Stable");
    cr_assert(F.nrecs >= 1, "the assignment was stored");

    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c(b.member_id), KP_STR_NULL, 0),
                 SK_ERR_ILLEGAL_GENERATION);
    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c("nobody"), KP_STR_NULL, 1),
                 SK_ERR_UNKNOWN_MEMBER_ID);
    cr_assert_eq(sk_group_leave(g, kp_str_c(c.member_id), KP_STR_NULL), 0);
    cr_assert_eq(g->state, SK_GROUP_PREPARING_REBALANCE);
    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c(a.member_id), KP_STR_NULL, 1),
                 SK_ERR_REBALANCE_IN_PROGRESS);
    char ida[128], idb[128];
    snprintf(ida, sizeof ida, "%s", a.member_id);
    snprintf(idb, sizeof idb, "%s", b.member_id);
    join("g", ida, NULL, range_rr, 2, &a);
    cr_assert(!a.done);
    join("g", idb, NULL, range_rr, 2, &b);
    cr_assert(a.done && b.done);
    cr_assert_eq(a.generation, 2);
}

Test(group, session_timeout_removes_member)
{
    struct join_out a, b;
    join_new("g", &a);
    cr_assert(a.done && a.generation == 1, "alone with no delay: completes at once");
    struct sk_group *g = sk_group_find(co, kp_str_c("g"));
    struct sync_out sa;
    struct join_out all[1] = {a};
    sync_("g", a.member_id, 1, true, all, 1, &sa);
    cr_assert_eq(g->state, SK_GROUP_STABLE);
    join_new("g", &b);
    cr_assert(!b.done, "waits for the existing member to rejoin");
    advance(9000);
    cr_assert(!b.done);
    advance(2000); /* a's session (10 s) expired: it is removed, b completes alone */
    cr_assert(b.done);
    cr_assert_eq(b.err, 0);
    cr_assert_eq(g->nmembers, 1);
    cr_assert_str_eq(b.leader, b.member_id);
}

Test(group, protocol_selection_and_inconsistent)
{
    sk_group_coordinator_free(co);
    co = new_co(1000);
    struct join_out a, b;
    join_new("g", &a);
    join("g", NULL, NULL, rr_only, 1, &b);
    cr_assert_eq(b.err, SK_ERR_MEMBER_ID_REQUIRED);
    char id[128];
    snprintf(id, sizeof id, "%s", b.member_id);
    join("g", id, NULL, rr_only, 1, &b);
    advance(2000);
    cr_assert(a.done && b.done);
    cr_assert_str_eq(a.protocol, "roundrobin", "the only protocol both support");
    struct join_out c;
    static const struct sk_join_protocol_in other[] = {{{"sticky", 6}, {NULL, 0}}};
    join("g", NULL, NULL, other, 1, &c);
    cr_assert_eq(c.err, SK_ERR_INCONSISTENT_GROUP_PROTOCOL);
}

Test(group, session_timeout_bounds_and_max_size)
{
    struct join_out o;
    memset(&o, 0, sizeof o);
    struct sk_join_params p = {
        .group_id = kp_str_c("g"), .member_id = kp_str_c(""), .instance_id = KP_STR_NULL,
        .protocol_type = kp_str_c("consumer"), .client_id = kp_str_c("c"),
        .client_host = kp_str_c("/h"), .session_timeout_ms = 100, .rebalance_timeout_ms = 100,
        .protocols = range_rr, .nprotocols = 2,
    };
    sk_group_join(co, &p, on_join, &o);
    cr_assert_eq(o.err, SK_ERR_INVALID_SESSION_TIMEOUT);
    struct join_out m[4];
    struct join_out all[3];
    for (int i = 0; i < 3; i++)
        join_new("g", &m[i]);
    /* One alone completed gen 1; the others joined a rebalance. Settle. */
    struct sk_group *g = sk_group_find(co, kp_str_c("g"));
    for (int i = 0; i < 3; i++)
        if (!m[i].done || m[i].generation != g->generation) {
            join("g", g->members->id.ptr, NULL, range_rr, 2, &m[3]);
            break;
        }
    cr_assert_eq(g->nmembers, 3);
    (void)all;
    if (g->state == SK_GROUP_STABLE || g->state == SK_GROUP_COMPLETING_REBALANCE) {
        join("g", NULL, NULL, range_rr, 2, &m[3]);
        cr_assert_eq(m[3].err, SK_ERR_GROUP_MAX_SIZE_REACHED);
    }
}

Test(group, static_member_rejoins_without_rebalance)
{
    struct join_out a, a2;
    join("g", NULL, "inst-1", range_rr, 2, &a);
    cr_assert(a.done && a.err == 0, "static members need no MEMBER_ID_REQUIRED round");
    cr_assert(strncmp(a.member_id, "inst-1-", 7) == 0);
    struct join_out all[1] = {a};
    struct sync_out s;
    sync_("g", a.member_id, 1, true, all, 1, &s);
    struct sk_group *g = sk_group_find(co, kp_str_c("g"));
    cr_assert_eq(g->state, SK_GROUP_STABLE);
    join("g", NULL, "inst-1", range_rr, 2, &a2);
    cr_assert(a2.done && a2.err == 0);
    cr_assert_eq(a2.generation, 1, "no new generation");
    cr_assert_eq(g->state, SK_GROUP_STABLE);
    cr_assert_str_neq(a2.member_id, a.member_id);
    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c(a.member_id), kp_str_c("inst-1"), 1),
                 SK_ERR_FENCED_INSTANCE_ID, "the old incarnation is fenced");
    cr_assert_eq(sk_group_heartbeat(co, kp_str_c("g"), kp_str_c(a2.member_id), kp_str_c("inst-1"), 1),
                 0);
}

static int16_t last_err;
static void on_done(void *arg, int16_t err)
{
    (void)arg;
    last_err = err;
}

Test(group, commits_checks_and_replay)
{
    struct sk_group *g = NULL;
    cr_assert_eq(sk_group_commit_check(co, kp_str_c("simple"), -1, kp_str_c(""), KP_STR_NULL, &g), 0);
    struct sk_commit_in items[2] = {
        {kp_str_c("t"), 0, 42, 7, kp_str_c("meta"), -1, 0},
        {kp_str_c("t"), 1, 43, -1, kp_str_c(""), -1, 0},
    };
    char big[5000];
    memset(big, 'x', sizeof big);
    items[1].metadata = (kp_str){big, (int32_t)sizeof big};
    sk_group_commit(g, items, 2, on_done, NULL);
    cr_assert_eq(items[0].err, 0);
    cr_assert_eq(items[1].err, SK_ERR_OFFSET_METADATA_TOO_LARGE);
    const struct sk_offset_entry *e = sk_offsets_get(&g->offsets, kp_str_c("t"), 0);
    cr_assert(e && e->offset == 42 && e->leader_epoch == 7);
    cr_assert(kp_str_eq_c(e->metadata, "meta"));
    cr_assert_eq(sk_group_commit_check(co, kp_str_c("nogroup"), 5, kp_str_c("m"), KP_STR_NULL, &g),
                 SK_ERR_ILLEGAL_GENERATION);

    /* A new coordinator replaying the records has the same offsets. */
    struct sk_group_coordinator *co2 = new_co(0);
    for (int i = 0; i < F.nrecs; i++)
        cr_assert_eq(sk_group_apply_record(co2, F.keys[i], F.klen[i], F.vals[i], F.vlen[i]), 0);
    struct sk_group *g2 = sk_group_find(co2, kp_str_c("simple"));
    cr_assert(g2);
    e = sk_offsets_get(&g2->offsets, kp_str_c("t"), 0);
    cr_assert(e && e->offset == 42 && e->leader_epoch == 7);
    cr_assert_eq(F.keys[0][1], 1, "OffsetCommitKey version 1");
    cr_assert_eq(F.vals[0][1], 3, "OffsetCommitValue version 3");
    sk_group_coordinator_free(co2);

    /* DeleteGroups writes tombstones; the replay then has no group. */
    cr_assert_eq(sk_group_delete(co, kp_str_c("simple"), on_done, NULL), 0);
    cr_assert_null(sk_group_find(co, kp_str_c("simple")));
    co2 = new_co(0);
    for (int i = 0; i < F.nrecs; i++)
        sk_group_apply_record(co2, F.keys[i], F.klen[i], F.vals[i], F.vlen[i]);
    g2 = sk_group_find(co2, kp_str_c("simple"));
    cr_assert(!g2 || g2->offsets.n == 0);
    sk_group_coordinator_free(co2);
    cr_assert_eq(sk_group_delete(co, kp_str_c("simple"), on_done, NULL), SK_ERR_GROUP_ID_NOT_FOUND);
}

Test(group, offsets_expire_for_empty_groups)
{
    struct sk_group *g = NULL;
    cr_assert_eq(sk_group_commit_check(co, kp_str_c("old"), -1, kp_str_c(""), KP_STR_NULL, &g), 0);
    struct sk_commit_in it = {kp_str_c("t"), 0, 1, -1, kp_str_c(""), -1, 0};
    sk_group_commit(g, &it, 1, on_done, NULL);
    cr_assert_eq(sk_group_expire_offsets(co, t_now(NULL) + 1000), 0);
    cr_assert_eq(sk_group_expire_offsets(co, t_now(NULL) + 8LL * 24 * 3600 * 1000), 1);
    cr_assert_null(sk_group_find(co, kp_str_c("old")), "an empty group without offsets is gone");
}

Test(group, state_names)
{
    cr_assert_str_eq(sk_group_state_name(SK_GROUP_COMPLETING_REBALANCE), "CompletingRebalance");
    cr_assert_eq(sk_group_state_parse(kp_str_c("stable")), SK_GROUP_STABLE);
    cr_assert_eq(sk_group_state_parse(kp_str_c("nope")), -1);
}

/* ---- wire strings with zero bytes ------------------------------------------- */

#define WS(lit) ((kp_str){(lit), (int32_t)sizeof(lit) - 1})

static bool bytes_are(kp_str got, kp_str want)
{
    return got.len == want.len && (want.len <= 0 || memcmp(got.ptr, want.ptr, (size_t)want.len) == 0);
}

Test(group, offset_metadata_and_ids_keep_zero_bytes)
{
    kp_str meta = WS("Hello\0world!"), one = WS("g\0one"), two = WS("g\0two");
    struct sk_group *g1 = NULL, *g2 = NULL;
    cr_assert_eq(sk_group_commit_check(co, one, -1, kp_str_c(""), KP_STR_NULL, &g1), 0);
    cr_assert_eq(sk_group_commit_check(co, two, -1, kp_str_c(""), KP_STR_NULL, &g2), 0);
    cr_assert_neq(g1, g2, "group ids that differ after a zero byte are two groups");
    cr_assert_eq(co->ngroups, 2);
    struct sk_commit_in a = {kp_str_c("t"), 0, 42, 7, meta, -1, 0};
    struct sk_commit_in b = {kp_str_c("t"), 0, 9, -1, kp_str_c("two"), -1, 0};
    sk_group_commit(g1, &a, 1, on_done, NULL);
    sk_group_commit(g2, &b, 1, on_done, NULL);
    cr_assert_eq(a.err + b.err, 0);
    const struct sk_offset_entry *e = sk_offsets_get(&g1->offsets, kp_str_c("t"), 0);
    cr_assert(e && bytes_are(e->metadata, meta), "all 12 metadata bytes are kept, got %d",
              e ? e->metadata.len : -2);

    /* The records replayed into a new coordinator give the same bytes. */
    struct sk_group_coordinator *co2 = new_co(0);
    for (int i = 0; i < F.nrecs; i++)
        cr_assert_eq(sk_group_apply_record(co2, F.keys[i], F.klen[i], F.vals[i], F.vlen[i]), 0);
    cr_assert_eq(co2->ngroups, 2);
    e = sk_offsets_get(&sk_group_find(co2, one)->offsets, kp_str_c("t"), 0);
    cr_assert(e && e->offset == 42 && bytes_are(e->metadata, meta));
    e = sk_offsets_get(&sk_group_find(co2, two)->offsets, kp_str_c("t"), 0);
    cr_assert(e && e->offset == 9 && bytes_are(e->metadata, kp_str_c("two")));
    cr_assert_null(sk_group_find(co2, kp_str_c("g")), "no group under the id cut at its zero byte");
    sk_group_coordinator_free(co2);
}

Test(group, offset_topics_differing_after_zero_byte_are_distinct)
{
    struct sk_offset_table t = {0};
    cr_assert_eq(sk_offsets_put(&t, WS("t\0a"), 0, 1, -1, KP_STR_NULL, 0, -1), 0);
    cr_assert_eq(sk_offsets_put(&t, WS("t\0b"), 0, 2, -1, KP_STR_NULL, 0, -1), 0);
    cr_assert_eq(t.n, 2);
    cr_assert_eq(sk_offsets_get(&t, WS("t\0b"), 0)->offset, 2);
    cr_assert_null(sk_offsets_get(&t, kp_str_c("t"), 0));
    cr_assert(kp_str_eq_c(sk_offsets_get(&t, WS("t\0a"), 0)->metadata, ""),
              "null metadata is kept as empty, as Kafka stores it");
    size_t n;
    struct sk_offset_entry **v = sk_offsets_sorted(&t, &n);
    cr_assert(n == 2 && v[0]->offset == 1 && v[1]->offset == 2, "sorted by bytes");
    free(v);
    sk_offsets_free(&t);
}

struct ws_join {
    int16_t err;
    char member_id[128];
    int32_t member_id_len;
};

static void on_ws_join(void *arg, const struct sk_join_result *r)
{
    struct ws_join *o = arg;
    o->err = r->err;
    keep(o->member_id, sizeof o->member_id, &o->member_id_len, r->member_id);
}

Test(group, member_strings_keep_zero_bytes)
{
    const uint8_t md[] = {0, 1, 0, 2};
    const struct sk_join_protocol_in protos[] = {{WS("ra\0nge"), {md, 4}}};
    struct sk_join_params p = {
        .group_id = WS("g\0x"), .member_id = kp_str_c(""), .instance_id = WS("in\0st"),
        .protocol_type = WS("con\0sumer"), .client_id = WS("cl\0i"), .client_host = WS("/h\0"),
        .session_timeout_ms = 10000, .rebalance_timeout_ms = 30000, .protocols = protos,
        .nprotocols = 1, .require_known_member = true,
    };
    struct ws_join o = {0};
    sk_group_join(co, &p, on_ws_join, &o);
    cr_assert_eq(o.err, 0);
    cr_assert(o.member_id_len == 5 + 1 + 36 && memcmp(o.member_id, "in\0st-", 6) == 0,
              "the member id is the whole instance id, a dash and a UUID (%d bytes)",
              o.member_id_len);
    struct sk_group *g = sk_group_find(co, WS("g\0x"));
    cr_assert(g && !sk_group_find(co, kp_str_c("g")));
    struct sk_member *m = g->members;
    kp_str mid = {o.member_id, o.member_id_len};
    cr_assert(bytes_are(m->id, mid) && bytes_are(g->leader, mid));
    cr_assert(bytes_are(m->instance_id, WS("in\0st")) && bytes_are(m->client_id, WS("cl\0i")) &&
              bytes_are(m->client_host, WS("/h\0")));
    cr_assert(bytes_are(g->protocol_type, WS("con\0sumer")) &&
              bytes_are(g->protocol_name, WS("ra\0nge")));
    cr_assert_eq(sk_member_find_instance(g, kp_str_c("in")), NULL);
    cr_assert_eq(sk_member_find_instance(g, WS("in\0st")), m);
    cr_assert_eq(sk_group_heartbeat(co, WS("g\0x"), mid, WS("in\0st"), 1), SK_ERR_NONE,
                 "the member is found by its whole id");
    cr_assert_eq(sk_group_heartbeat(co, WS("g\0x"), kp_str_c("in"), KP_STR_NULL, 1),
                 SK_ERR_UNKNOWN_MEMBER_ID, "not by the id cut at its zero byte");

    /* The group record written on the rebalance carries the same bytes back. */
    struct sk_sync_assignment_in as = {mid, {md, 4}};
    struct sk_sync_params sp = {
        .group_id = WS("g\0x"), .member_id = mid, .instance_id = WS("in\0st"),
        .protocol_type = WS("con\0sumer"), .protocol_name = WS("ra\0nge"), .generation = 1,
        .assignments = &as, .nassignments = 1,
    };
    struct sync_out so;
    memset(&so, 0, sizeof so);
    sk_group_sync(co, &sp, on_sync, &so);
    cr_assert(so.done && so.err == 0 && g->state == SK_GROUP_STABLE);
    struct sk_group_coordinator *co2 = new_co(0);
    for (int i = 0; i < F.nrecs; i++)
        cr_assert_eq(sk_group_apply_record(co2, F.keys[i], F.klen[i], F.vals[i], F.vlen[i]), 0);
    struct sk_group *g2 = sk_group_find(co2, WS("g\0x"));
    cr_assert(g2 && g2->nmembers == 1);
    struct sk_member *m2 = g2->members;
    cr_assert(bytes_are(m2->id, mid) && bytes_are(g2->leader, mid) &&
              bytes_are(m2->instance_id, WS("in\0st")) && bytes_are(m2->client_id, WS("cl\0i")) &&
              bytes_are(m2->client_host, WS("/h\0")));
    cr_assert(bytes_are(g2->protocol_type, WS("con\0sumer")) &&
              bytes_are(g2->protocol_name, WS("ra\0nge")) &&
              bytes_are(m2->protocols[0].name, WS("ra\0nge")));
    cr_assert(m2->assignment_len == 4 && memcmp(m2->assignment, md, 4) == 0);
    sk_group_coordinator_free(co2);
}
