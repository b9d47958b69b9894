/* __cluster_metadata-0 as the Raft core's log, on real files: the log ops
 * one by one (append with the epoch, LeaderChange, flush, read, truncate,
 * end_for_epoch, a torn tail), the quorum-state file, and the core itself
 * running on them, alone and as three voters that exchange messages
 * directly, with kills that lose what was not flushed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen/kp_all.h"

#include "deferred_syncer.h"
#include "skein/buf.h"
#include "skein/errors.h"
#include "skein/meta_raftlog.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/quorum_state.h"
#include "skein/raft.h"
#include "skein/record.h"
#include "skein/voter_history.h"

static char base[256];

static void setup(void)
{
    snprintf(base, sizeof base, "/tmp/skein-raftlog-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    cr_assert_eq(system(cmd), 0);
}

/* A data batch the metadata loader accepts: one ProducerIds record. */
static void data_batch(int64_t next_pid, struct sk_buf *out)
{
    kp_producer_ids_record r;
    kp_producer_ids_record_init(&r);
    r.broker_id = 1;
    r.next_producer_id = next_pid;
    struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
    out->len = 0;
    cr_assert_eq(sk_metalog_encode(&rec, 1, 0, 1000, out), 0);
}

/* ---- the log ops alone --------------------------------------------------- */

struct one {
    struct sk_meta_image img;
    struct sk_metalog *ml;
    struct sk_meta_raftlog *log;
    struct sk_raft_config cfg;
    struct deferred_syncer ds;
    uint64_t tokens[16];
    int64_t ends[16];
    int errs[16];
    int reports;
};

static void one_flushed(void *arg, uint64_t token, int64_t end, int err)
{
    struct one *o = arg;
    o->tokens[o->reports] = token;
    o->ends[o->reports] = end;
    o->errs[o->reports++] = err;
}

static void one_open(struct one *o, bool deferred)
{
    memset(o, 0, sizeof *o);
    sk_meta_image_init(&o->img);
    cr_assert_eq(sk_metalog_open(base, &o->img, 1000, &o->ml), 0);
    ds_init(&o->ds);
    struct sk_meta_raftlog_config c = {.node_id = 1, .voters = {1, 2, 3}, .n_voters = 3,
                                       .syncer = deferred ? &o->ds.syncer : NULL,
                                       .flushed = one_flushed, .arg = o};
    cr_assert_eq(sk_meta_raftlog_new(o->ml, &c, &o->log), 0);
    memset(&o->cfg, 0, sizeof o->cfg);
    sk_meta_raftlog_bind(o->log, &o->cfg);
}

static void one_close(struct one *o)
{
    sk_meta_raftlog_free(o->log);
    ds_complete_all(&o->ds, -EIO);
    sk_metalog_close(o->ml);
    sk_meta_image_free(&o->img);
}

static int append_data(struct one *o, int32_t epoch, int64_t pid)
{
    struct sk_buf b = {0};
    data_batch(pid, &b);
    struct sk_raft_batch rb = {.base_offset = o->cfg.log.end_offset(o->cfg.log_ctx),
                               .epoch = epoch, .count = 1, .kind = SK_RAFT_BATCH_DATA,
                               .data = b.data, .len = b.len};
    int rc = o->cfg.log.append(o->cfg.log_ctx, &rb);
    sk_buf_free(&b);
    return rc;
}

static int append_leader_change(struct one *o, int32_t epoch)
{
    struct sk_raft_batch rb = {.base_offset = o->cfg.log.end_offset(o->cfg.log_ctx),
                               .epoch = epoch, .count = 1,
                               .kind = SK_RAFT_BATCH_LEADER_CHANGE};
    return o->cfg.log.append(o->cfg.log_ctx, &rb);
}

static void expect_end_for(struct one *o, int32_t epoch, int32_t want_epoch, int64_t want_end)
{
    int32_t e;
    int64_t end;
    o->cfg.log.end_for_epoch(o->cfg.log_ctx, epoch, &e, &end);
    cr_expect_eq(e, want_epoch, "end_for_epoch(%d): epoch %d, want %d", epoch, e, want_epoch);
    cr_expect_eq(end, want_end, "end_for_epoch(%d): end %lld, want %lld", epoch, (long long)end,
                 (long long)want_end);
}

/* Offsets 0..5: LeaderChange(1) data(1) data(1) LeaderChange(3) data(3) data(3). */
static void fill(struct one *o)
{
    cr_assert_eq(append_leader_change(o, 1), 0);
    cr_assert_eq(append_data(o, 1, 10), 0);
    cr_assert_eq(append_data(o, 1, 20), 0);
    cr_assert_eq(append_leader_change(o, 3), 0);
    cr_assert_eq(append_data(o, 3, 30), 0);
    cr_assert_eq(append_data(o, 3, 40), 0);
}

Test(meta_raftlog, batches_carry_the_raft_epoch_as_kafka_writes_them, .init = setup,
     .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    cr_assert_eq(o.cfg.log.last_epoch(o.cfg.log_ctx), 0, "an empty log has epoch 0");
    expect_end_for(&o, 1, -1, 0);
    fill(&o);
    cr_assert_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 6);
    cr_assert_eq(o.cfg.log.last_epoch(o.cfg.log_ctx), 3);
    struct sk_raft_batch got[8];
    size_t n = 0;
    cr_assert_eq(o.cfg.log.read(o.cfg.log_ctx, 0, 1 << 20, got, 8, &n), 0);
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++) {
        struct sk_batch_header h;
        cr_assert_eq(sk_batch_header_read(got[i].data, got[i].len, &h), 0);
        cr_expect_eq(h.base_offset, (int64_t)i);
        cr_expect_eq(got[i].base_offset, (int64_t)i);
        cr_expect_eq(h.partition_leader_epoch, i < 3 ? 1 : 3, "PartitionLeaderEpoch");
        cr_expect_eq(got[i].epoch, i < 3 ? 1 : 3);
        cr_expect(sk_batch_crc_ok(got[i].data, &h), "stamping kept the CRC valid");
        bool lc = i == 0 || i == 3;
        cr_expect_eq(got[i].kind, lc ? SK_RAFT_BATCH_LEADER_CHANGE : SK_RAFT_BATCH_DATA);
        cr_expect_eq((h.attributes & SK_BATCH_CONTROL) != 0, lc);
    }
    int32_t leader, nv;
    cr_assert_eq(sk_leader_change_decode(got[3].data, got[3].len, &leader, &nv), 0);
    cr_expect_eq(leader, 1);
    cr_expect_eq(nv, 3);
    cr_expect_eq(sk_leader_change_decode(got[1].data, got[1].len, &leader, &nv), -EBADMSG);
    /* A read from the middle starts at the batch holding the offset, and
     * the byte bound still gives one batch. */
    cr_assert_eq(o.cfg.log.read(o.cfg.log_ctx, 4, 1, got, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(got[0].base_offset, 4);
    /* The metadata in the log is what the loader replays, control batches
     * skipped. */
    one_close(&o);
    one_open(&o, false);
    cr_expect_eq(o.img.next_producer_id, 40);
    cr_expect_eq(o.cfg.log.last_epoch(o.cfg.log_ctx), 3);
    one_close(&o);
}

static void raft_voter(int32_t id, uint16_t port, struct sk_raft_voter *v)
{
    memset(v, 0, sizeof *v);
    v->id = id;
    memset(v->directory_id, id, SK_RAFT_DIR_ID_LEN);
    v->max_kraft_version = 1;
    v->n_endpoints = 1;
    v->endpoints[0].name_len = 10;
    memcpy(v->endpoints[0].name, "CONTROLLER", 10);
    v->endpoints[0].host_len = 3;
    memcpy(v->endpoints[0].host, "h\0x", 3); /* bytes with a length, a zero among them */
    v->endpoints[0].port = port;
}

static int append_voters(struct one *o, int32_t epoch, int32_t count,
                         const struct sk_raft_voter_set *s)
{
    uint8_t enc[SK_RAFT_VOTERS_MAX_ENCODED];
    size_t len = sk_raft_voters_encode(s, enc, sizeof enc);
    cr_assert_gt(len, 0);
    struct sk_raft_batch rb = {.base_offset = o->cfg.log.end_offset(o->cfg.log_ctx),
                               .epoch = epoch, .count = count, .kind = SK_RAFT_BATCH_VOTERS,
                               .data = enc, .len = len};
    return o->cfg.log.append(o->cfg.log_ctx, &rb);
}

/* Kafka's control record types of the batch at p. */
static int control_types(const uint8_t *p, size_t len, int16_t *types, int max)
{
    struct sk_buf scratch = {0};
    struct sk_record_iter it;
    struct sk_record r;
    int n = 0;
    cr_assert_eq(sk_record_iter_init(&it, p, len, &scratch), 0);
    while (n < max && sk_record_iter_next(&it, &r) > 0)
        types[n++] = (int16_t)(r.key[2] << 8 | r.key[3]);
    sk_buf_free(&scratch);
    return n;
}

/* KIP-853: a VOTERS batch is stored as Kafka's leader writes it (a control
 * batch of KRaftVersion and Voters records, or Voters alone), read back as
 * a VOTERS batch with the same set for the core, and a truncation takes it
 * away from what a snapshot would carry. */
Test(meta_raftlog, voter_sets_are_kafkas_control_records, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    struct sk_raft_voter_set one = {.n = 1}, two = {.n = 2};
    raft_voter(1, 9093, &one.voters[0]);
    two.voters[0] = one.voters[0];
    raft_voter(2, 9094, &two.voters[1]);
    cr_assert_eq(append_leader_change(&o, 1), 0);
    cr_assert_eq(append_voters(&o, 1, 2, &one), 0); /* offsets 1-2 */
    cr_assert_eq(append_data(&o, 1, 10), 0);
    cr_assert_eq(append_voters(&o, 1, 1, &two), 0); /* offset 4 */
    cr_assert_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 5);
    struct sk_raft_batch got[8];
    size_t n = 0;
    cr_assert_eq(o.cfg.log.read(o.cfg.log_ctx, 0, 1 << 20, got, 8, &n), 0);
    cr_assert_eq(n, 4);
    cr_expect_eq(got[0].kind, SK_RAFT_BATCH_LEADER_CHANGE);
    cr_expect_eq(got[2].kind, SK_RAFT_BATCH_DATA);
    struct sk_raft_voter_set back;
    cr_assert_eq(got[1].kind, SK_RAFT_BATCH_VOTERS);
    cr_expect_eq(got[1].count, 2);
    cr_assert_eq(sk_raft_voters_decode(got[1].data, got[1].len, &back), 0);
    cr_expect_eq(back.n, 1);
    cr_assert_eq(got[3].kind, SK_RAFT_BATCH_VOTERS);
    cr_assert_eq(sk_raft_voters_decode(got[3].data, got[3].len, &back), 0);
    cr_expect_eq(back.n, 2);
    cr_expect_eq(back.voters[1].endpoints[0].port, 9094);
    cr_expect_eq(memcmp(back.voters[1].endpoints[0].host, "h\0x", 3), 0);
    cr_expect_eq(back.voters[1].directory_id[0], 2);
    /* On disk: control batches of Kafka's record types 5 and 6. */
    size_t len = 0;
    uint8_t buf[8192];
    cr_assert_eq(sk_plog_read_copy(sk_metalog_plog(o.ml), 1, sizeof buf, INT64_MAX, buf,
                                   sizeof buf, &len), 0);
    struct sk_batch_header h;
    cr_assert_eq(sk_batch_header_read(buf, len, &h), 0);
    cr_expect(h.attributes & SK_BATCH_CONTROL);
    int16_t types[4];
    cr_assert_eq(control_types(buf, sk_batch_size(&h), types, 4), 2);
    cr_expect_eq(types[0], 5);
    cr_expect_eq(types[1], 6);
    /* The loader skips them: the image has the data record alone. */
    one_close(&o);
    one_open(&o, false);
    cr_expect_eq(o.img.next_producer_id, 10);
    /* What a snapshot at 5 would carry: the set read back at start-up,
     * reverted by a truncation (snapshots are taken only of committed
     * offsets, which no truncation reaches), then appended again. */
    struct sk_voter_history *vh = sk_metalog_voter_history(o.ml);
    cr_assert_eq(o.cfg.log.read(o.cfg.log_ctx, 0, 1 << 20, got, 8, &n), 0);
    cr_assert_eq(o.cfg.log.truncate(o.cfg.log_ctx, 4), 0);
    struct sk_raft_voter_set at;
    cr_assert(sk_voter_history_at(vh, 4, &at));
    cr_expect_eq(at.n, 1);
    cr_assert_eq(append_voters(&o, 2, 1, &two), 0);
    cr_assert(sk_voter_history_at(vh, 5, &at));
    cr_expect_eq(at.n, 2);
    /* A LeaderChange names the set in the log as its Voters, not the
     * configured three. */
    cr_assert_eq(append_leader_change(&o, 3), 0);
    cr_assert_eq(o.cfg.log.read(o.cfg.log_ctx, 5, 1 << 20, got, 8, &n), 0);
    int32_t leader, nv;
    cr_assert_eq(sk_leader_change_decode(got[0].data, got[0].len, &leader, &nv), 0);
    cr_expect_eq(nv, 2);
    one_close(&o);
}

Test(meta_raftlog, end_for_epoch_answers_as_the_core_expects, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    fill(&o);
    expect_end_for(&o, 0, -1, 0);
    expect_end_for(&o, 1, 1, 3);
    expect_end_for(&o, 2, 1, 3);
    expect_end_for(&o, 3, 3, 6);
    expect_end_for(&o, 7, 3, 6);
    /* The same after a restart: the epochs come back from the
     * leader-epoch-checkpoint. */
    one_close(&o);
    one_open(&o, false);
    expect_end_for(&o, 0, -1, 0);
    expect_end_for(&o, 2, 1, 3);
    expect_end_for(&o, 3, 3, 6);
    one_close(&o);
}

Test(meta_raftlog, truncation_drops_batches_and_their_epochs, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    fill(&o);
    cr_assert_eq(o.cfg.log.truncate(o.cfg.log_ctx, 3), 0);
    cr_expect_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 3);
    cr_expect_eq(o.cfg.log.last_epoch(o.cfg.log_ctx), 1);
    expect_end_for(&o, 3, 1, 3);
    /* A follower's new leader's batches go on from there. */
    cr_assert_eq(append_leader_change(&o, 4), 0);
    cr_assert_eq(append_data(&o, 4, 50), 0);
    expect_end_for(&o, 3, 1, 3);
    expect_end_for(&o, 4, 4, 5);
    one_close(&o);
    one_open(&o, false);
    cr_expect_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 5);
    cr_expect_eq(o.img.next_producer_id, 50, "the truncated records are gone from the replay");
    one_close(&o);
}

Test(meta_raftlog, appends_must_be_whole_intact_batches_at_the_end, .init = setup,
     .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    struct sk_buf b = {0};
    data_batch(10, &b);
    struct sk_raft_batch rb = {.base_offset = 0, .epoch = 1, .count = 1,
                               .kind = SK_RAFT_BATCH_DATA, .data = b.data, .len = b.len};
    rb.base_offset = 1;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), -EINVAL, "not at the end");
    rb.base_offset = 0;
    rb.count = 2;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), -EBADMSG, "count differs");
    rb.count = 1;
    rb.kind = SK_RAFT_BATCH_LEADER_CHANGE;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), -EBADMSG, "not a control batch");
    rb.kind = SK_RAFT_BATCH_DATA;
    rb.len = b.len - 1;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), -EBADMSG, "cut short");
    rb.len = b.len;
    b.data[b.len - 1] ^= 1;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), -EBADMSG, "CRC");
    b.data[b.len - 1] ^= 1;
    cr_expect_eq(o.cfg.log.append(o.cfg.log_ctx, &rb), 0);
    cr_expect_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 1);
    sk_buf_free(&b);
    one_close(&o);
}

Test(meta_raftlog, flushes_complete_through_the_syncer, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, true);
    cr_assert_eq(append_leader_change(&o, 1), 0);
    cr_assert_eq(o.cfg.log.flush(o.cfg.log_ctx, 7), 1, "done later, reported");
    cr_assert_eq(append_data(&o, 1, 10), 0);
    cr_assert_eq(o.cfg.log.flush(o.cfg.log_ctx, 8), 1);
    cr_expect_eq(o.reports, 0, "nothing is durable before the fdatasync completes");
    cr_assert(ds_pending(&o.ds) > 0);
    struct sk_plog *p = sk_metalog_plog(o.ml);
    cr_expect_eq(sk_plog_recovery_point(p), 0);
    ds_complete_all(&o.ds, 0);
    cr_assert_eq(o.reports, 2);
    cr_expect_eq(o.tokens[0], 7);
    cr_expect_eq(o.ends[0], 1);
    cr_expect_eq(o.tokens[1], 8);
    cr_expect_eq(o.ends[1], 2);
    cr_expect_eq(o.errs[0] | o.errs[1], 0);
    cr_expect_eq(sk_plog_recovery_point(p), 2);
    /* A failed fdatasync is reported and takes the log offline. */
    cr_assert_eq(append_data(&o, 1, 20), 0);
    cr_assert_eq(o.cfg.log.flush(o.cfg.log_ctx, 9), 1);
    ds_complete_all(&o.ds, -EIO);
    cr_assert_eq(o.reports, 3);
    cr_expect_eq(o.errs[2], -EIO);
    cr_expect_lt(append_data(&o, 1, 30), 0, "no append after a failed sync");
    one_close(&o);
}

Test(meta_raftlog, blocking_flush_is_done_on_return, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    cr_assert_eq(append_data(&o, 1, 10), 0);
    cr_assert_eq(o.cfg.log.flush(o.cfg.log_ctx, 1), 0);
    cr_expect_eq(o.reports, 0, "a flush done on return is not reported again");
    cr_expect_eq(sk_plog_recovery_point(sk_metalog_plog(o.ml)), 1);
    one_close(&o);
}

/* The segment file's size, after chopping `cut` bytes off its end. */
static void chop_segment(int cut)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s-0/00000000000000000000.log", base, SK_METALOG_TOPIC);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - cut), 0);
}

Test(meta_raftlog, a_torn_tail_is_cut_off_on_open, .init = setup, .fini = teardown)
{
    struct one o;
    one_open(&o, true); /* nothing durable: the tail stays above the recovery point */
    fill(&o);
    one_close(&o);
    chop_segment(5);
    one_open(&o, false);
    cr_expect_eq(o.cfg.log.end_offset(o.cfg.log_ctx), 5, "the torn last batch is gone");
    cr_expect_eq(o.cfg.log.last_epoch(o.cfg.log_ctx), 3);
    cr_expect_eq(o.img.next_producer_id, 30);
    expect_end_for(&o, 3, 3, 5);
    cr_assert_eq(append_data(&o, 3, 60), 0, "appends go on at the cut");
    one_close(&o);
}

Test(meta_raftlog, start_up_applies_only_what_is_known_committed, .init = setup,
     .fini = teardown)
{
    struct one o;
    one_open(&o, false);
    fill(&o);
    one_close(&o);
    /* Offsets 0..5 as fill() wrote them; the quorum committed up to 2. */
    struct sk_meta_image img;
    struct sk_metalog *ml;
    int64_t applied = -1, next = -1;
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open_upto(base, &img, 1000, false, 2, NULL, &applied, &ml), 0);
    cr_expect_eq(img.next_producer_id, 10, "a batch past the high watermark was applied");
    cr_expect_eq(applied, 2);
    /* The high watermark moves: the standby applies what it passed. */
    cr_assert_eq(sk_metalog_apply_range(ml, &img, applied, 5, &next), 0);
    cr_expect_eq(img.next_producer_id, 30);
    cr_expect_eq(next, 5);
    cr_assert_eq(sk_metalog_apply_range(ml, &img, next, 6, &next), 0);
    cr_expect_eq(img.next_producer_id, 40);
    cr_expect_eq(next, 6);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
    sk_meta_image_init(&img);
    cr_assert_eq(sk_metalog_open_upto(base, &img, 1000, false, 0, NULL, &applied, &ml), 0);
    cr_expect_eq(img.next_producer_id, 0, "upto 0 replays nothing past the snapshot");
    cr_expect_eq(applied, 0);
    sk_metalog_close(ml);
    sk_meta_image_free(&img);
}

/* ---- the quorum-state file ------------------------------------------------ */

Test(meta_raftlog, quorum_state_round_trips_in_kafkas_json, .init = setup, .fini = teardown)
{
    struct sk_quorum_store st;
    int32_t voters[] = {1, 2, 3};
    cr_assert_eq(sk_quorum_store_init(&st, base, voters, 3), 0);
    struct sk_raft_qstate s = {.epoch = 5, .leader_id = 2, .voted_id = 2}, back;
    cr_assert_eq(sk_quorum_state_write(&st, &s), 0);
    char path[400], text[512] = "";
    snprintf(path, sizeof path, "%s/quorum-state", base);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cr_expect_str_eq(text, "{\"clusterId\":\"\",\"leaderId\":2,\"leaderEpoch\":5,\"votedId\":2,"
                           "\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},"
                           "{\"voterId\":2},{\"voterId\":3}],\"data_version\":0}");
    char err[512] = "";
    cr_assert_eq(sk_quorum_state_read(base, &back, err, sizeof err), 0, "%s", err);
    cr_expect_eq(back.epoch, 5);
    cr_expect_eq(back.leader_id, 2);
    cr_expect_eq(back.voted_id, 2);

    /* A KIP-853 quorum's, as Kafka 3.9 writes it at kraft.version 1. */
    st.data_version = 1;
    s = (struct sk_raft_qstate){.epoch = 6, .leader_id = -1, .voted_id = 3};
    cr_assert_eq(sk_quorum_state_write(&st, &s), 0);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cr_expect_str_eq(text, "{\"leaderId\":-1,\"leaderEpoch\":6,\"votedId\":3,"
                           "\"votedDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"data_version\":1}");
    cr_assert_eq(sk_quorum_state_read(base, &back, err, sizeof err), 0, "%s", err);
    cr_expect_eq(back.epoch, 6);
    cr_expect_eq(back.leader_id, -1);
    cr_expect_eq(back.voted_id, 3);
}

Test(meta_raftlog, quorum_state_reads_what_kafka_writes, .init = setup, .fini = teardown)
{
    struct sk_raft_qstate s;
    char err[256] = "";
    /* Kafka 3.9's two examples (FileQuorumStateStore), with spaces. */
    const char *v0 = "{ \"clusterId\": \"\", \"leaderId\": 1, \"leaderEpoch\": 2, \"votedId\": -1,"
                     " \"appliedOffset\": 0, \"currentVoters\": [], \"data_version\": 0 }";
    cr_assert_eq(sk_quorum_state_parse((const uint8_t *)v0, strlen(v0), &s, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(s.leader_id, 1);
    cr_expect_eq(s.epoch, 2);
    cr_expect_eq(s.voted_id, SK_RAFT_NO_ID);
    const char *v1 = "{\"leaderId\":-1,\"leaderEpoch\":2,\"votedId\":1,"
                     "\"votedDirectoryId\":\"J8aAPcfLQt2bqs1JT_rMgQ\",\"data_version\":1}";
    cr_assert_eq(sk_quorum_state_parse((const uint8_t *)v1, strlen(v1), &s, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(s.leader_id, SK_RAFT_NO_ID);
    cr_expect_eq(s.voted_id, 1);
    struct sk_raft_qstate fresh;
    cr_expect_eq(sk_quorum_state_read(base, &fresh, err, sizeof err), -ENOENT);
    cr_expect_eq(fresh.epoch, 0);
    cr_expect_eq(fresh.voted_id, SK_RAFT_NO_ID);
}

static void expect_damaged(const char *text, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/quorum-state", base);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    struct sk_raft_qstate s;
    char err[512] = "";
    cr_expect_eq(sk_quorum_state_read(base, &s, err, sizeof err), -EBADMSG, "accepted: %.*s",
                 (int)len, text);
    cr_expect(strstr(err, "quorum-state is damaged"), "message: %s", err);
}

Test(meta_raftlog, a_damaged_quorum_state_is_refused, .init = setup, .fini = teardown)
{
    const char *good = "{\"clusterId\":\"\",\"leaderId\":2,\"leaderEpoch\":5,\"votedId\":2,"
                       "\"appliedOffset\":0,\"currentVoters\":[],\"data_version\":0}";
    for (size_t cut = 1; cut < strlen(good); cut += 7)
        expect_damaged(good, cut); /* torn at any point */
    expect_damaged("", 0);
    expect_damaged("\0\0\0\0", 4);
    expect_damaged("{\"leaderId\":2,\"leaderEpoch\":5,\"votedId\":2}", 41);
    const char *v9 = "{\"leaderId\":2,\"leaderEpoch\":5,\"votedId\":2,\"data_version\":9}";
    expect_damaged(v9, strlen(v9));
    const char *v0_short = "{\"leaderId\":2,\"leaderEpoch\":5,\"votedId\":2,\"data_version\":0}";
    expect_damaged(v0_short, strlen(v0_short));
    const char *big = "{\"leaderId\":2,\"leaderEpoch\":99999999999,\"votedId\":2,"
                      "\"data_version\":1}";
    expect_damaged(big, strlen(big));
    const char *frac = "{\"leaderId\":2,\"leaderEpoch\":5.5,\"votedId\":2,\"data_version\":1}";
    expect_damaged(frac, strlen(frac));
}

/* ---- the Raft core on these files ----------------------------------------- */

#define MAX_NODES 3

struct node {
    int32_t id;
    char dir[300];
    bool up;
    bool hold; /* its fdatasyncs do not complete */
    struct sk_meta_image img;
    struct sk_metalog *ml;
    struct sk_meta_raftlog *log;
    struct sk_quorum_store store;
    struct deferred_syncer ds;
    struct sk_raft *r;
    struct sk_raft_config cfg;
    uint64_t rng;
    int64_t durable; /* what the completed flushes made durable */
    int64_t hw_seen; /* the largest high watermark seen, which never goes back */
};

struct cluster {
    struct node n[MAX_NODES];
    int size;
    int64_t now;
};

static const struct sk_raft_cluster_id cid = {.len = 22, .bytes = "MkU3OEVBNTcwNTJENDM2Qk"};

static uint64_t lcg(void *ctx)
{
    uint64_t *s = ctx;
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void node_flushed(void *arg, uint64_t token, int64_t end, int err)
{
    struct node *nd = arg;
    cr_assert_eq(err, 0);
    if (end > nd->durable)
        nd->durable = end;
    sk_raft_flushed(nd->r, token, end);
}

static void node_start(struct cluster *c, struct node *nd)
{
    sk_meta_image_init(&nd->img);
    cr_assert_eq(sk_metalog_open(nd->dir, &nd->img, c->now, &nd->ml), 0);
    ds_init(&nd->ds);
    struct sk_meta_raftlog_config lc = {.node_id = nd->id, .n_voters = c->size,
                                        .syncer = &nd->ds.syncer, .flushed = node_flushed,
                                        .arg = nd};
    struct sk_raft_config cfg = {.node_id = nd->id, .n_voters = c->size, .cluster_id = cid,
                                 .rand = lcg, .rand_ctx = &nd->rng};
    for (int i = 0; i < c->size; i++)
        lc.voters[i] = cfg.voters[i] = i + 1;
    cr_assert_eq(sk_meta_raftlog_new(nd->ml, &lc, &nd->log), 0);
    sk_meta_raftlog_bind(nd->log, &cfg);
    cr_assert_eq(sk_quorum_store_init(&nd->store, sk_plog_dir(sk_metalog_plog(nd->ml)),
                                      cfg.voters, c->size), 0);
    sk_quorum_store_bind(&nd->store, &cfg);
    struct sk_raft_qstate st;
    char err[512];
    int rc = sk_quorum_state_read(nd->store.dir, &st, err, sizeof err);
    cr_assert(rc == 0 || rc == -ENOENT, "%s", err);
    nd->cfg = cfg;
    nd->durable = sk_plog_log_end_offset(sk_metalog_plog(nd->ml));
    nd->hw_seen = -1; /* per lifetime: a restarted node learns it again */
    nd->r = sk_raft_new(&nd->cfg, &st, c->now);
    cr_assert_not_null(nd->r);
    nd->up = true;
}

/* A crash: whatever no completed flush covered is lost, as after a power
 * cut; the flushes still in flight fail with the process. */
static void node_kill(struct node *nd)
{
    struct sk_raft_msg m;
    while (sk_raft_poll_out(nd->r, &m))
        sk_raft_msg_release(&m);
    sk_raft_free(nd->r);
    sk_meta_raftlog_free(nd->log);
    ds_complete_all(&nd->ds, -EIO);
    cr_assert_eq(sk_plog_truncate_to(sk_metalog_plog(nd->ml), nd->durable), 0);
    sk_metalog_close(nd->ml);
    sk_meta_image_free(&nd->img);
    nd->up = false;
}

static void cluster_init(struct cluster *c, int size)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    c->now = 1000;
    for (int i = 0; i < size; i++) {
        struct node *nd = &c->n[i];
        nd->id = i + 1;
        nd->rng = 77 + (uint64_t)i;
        snprintf(nd->dir, sizeof nd->dir, "%s/n%d", base, nd->id);
        cr_assert_eq(mkdir(nd->dir, 0755), 0);
        node_start(c, nd);
    }
}

static void cluster_free(struct cluster *c)
{
    for (int i = 0; i < c->size; i++)
        if (c->n[i].up)
            node_kill(&c->n[i]);
}

/* Messages go straight to their voter (a down one loses them), flushes
 * complete, timers fire: one round of a loss-free network. */
static void step(struct cluster *c)
{
    for (int i = 0; i < c->size; i++) {
        struct node *nd = &c->n[i];
        if (!nd->up)
            continue;
        if (!nd->hold) {
            ds_complete_all(&nd->ds, 0);
            nd->ds.n = nd->ds.done = 0;
        }
        struct sk_raft_msg m;
        while (sk_raft_poll_out(nd->r, &m)) {
            struct node *to = m.dst >= 1 && m.dst <= c->size ? &c->n[m.dst - 1] : NULL;
            if (to && to->up)
                cr_assert_eq(sk_raft_receive(to->r, &m, c->now), SK_ERR_NONE);
            sk_raft_msg_release(&m);
        }
        cr_assert_eq(sk_raft_tick(nd->r, c->now), SK_ERR_NONE);
        int64_t hw = sk_raft_high_watermark(nd->r);
        cr_assert_geq(hw, nd->hw_seen, "the high watermark went back on %d", nd->id);
        nd->hw_seen = hw;
    }
    c->now += 5;
}

static struct node *leader(struct cluster *c)
{
    for (int i = 0; i < c->size; i++)
        if (c->n[i].up && sk_raft_role(c->n[i].r) == SK_RAFT_LEADER)
            return &c->n[i];
    return NULL;
}

/* Steps until a leader of an epoch above min_epoch has committed its
 * LeaderChange; bounded in simulated time. */
static struct node *await_leader(struct cluster *c, int32_t min_epoch)
{
    for (int i = 0; i < 20000; i++) {
        struct node *l = leader(c);
        if (l && sk_raft_epoch(l->r) > min_epoch &&
            sk_raft_high_watermark(l->r) >= l->cfg.log.end_offset(l->cfg.log_ctx))
            return l;
        step(c);
    }
    cr_assert_fail("no leader was elected");
    return NULL;
}

static int64_t propose(struct node *l, int64_t pid)
{
    struct sk_buf b = {0};
    data_batch(pid, &b);
    int64_t off;
    cr_assert_eq(sk_raft_append(l->r, b.data, b.len, 1, &off), SK_ERR_NONE);
    sk_buf_free(&b);
    return off;
}

static void await_hw(struct cluster *c, struct node *nd, int64_t past)
{
    for (int i = 0; i < 20000 && sk_raft_high_watermark(nd->r) <= past; i++)
        step(c);
    cr_assert_gt(sk_raft_high_watermark(nd->r), past, "node %d never committed %lld", nd->id,
                 (long long)past);
}

/* Every live node's log holds the same bytes as the leader's below the
 * leader's high watermark. */
static void check_logs_match(struct cluster *c, struct node *l)
{
    int64_t hw = sk_raft_high_watermark(l->r);
    for (int i = 0; i < c->size; i++) {
        struct node *nd = &c->n[i];
        if (!nd->up || nd == l)
            continue;
        await_hw(c, nd, hw - 1);
        for (int64_t off = 0; off < hw; off++) {
            struct sk_raft_batch a, b;
            size_t na = 0, nb = 0;
            struct sk_buf copy = {0};
            cr_assert_eq(l->cfg.log.read(l->cfg.log_ctx, off, 1, &a, 1, &na), 0);
            cr_assert_eq(na, 1);
            cr_assert_eq(sk_buf_append(&copy, a.data, a.len), 0);
            cr_assert_eq(nd->cfg.log.read(nd->cfg.log_ctx, off, 1, &b, 1, &nb), 0);
            cr_assert_eq(nb, 1);
            cr_assert_eq(b.len, copy.len, "batch %lld differs on %d", (long long)off, nd->id);
            cr_assert_eq(memcmp(b.data, copy.data, copy.len), 0, "batch %lld on %d",
                         (long long)off, nd->id);
            sk_buf_free(&copy);
        }
    }
}

Test(meta_raftlog, one_voter_commits_only_what_fdatasync_made_durable, .init = setup,
     .fini = teardown)
{
    struct cluster c;
    cluster_init(&c, 1);
    struct node *l = await_leader(&c, 0);
    cr_expect_eq(sk_raft_epoch(l->r), 1);
    int64_t hw = sk_raft_high_watermark(l->r);
    int64_t off = propose(l, 100);
    cr_assert_eq(sk_raft_tick(l->r, c.now), SK_ERR_NONE);
    cr_expect_eq(sk_raft_high_watermark(l->r), hw, "committed before its fdatasync completed");
    cr_assert(ds_pending(&l->ds) > 0, "no fdatasync was asked for");
    step(&c);
    cr_expect_eq(sk_raft_high_watermark(l->r), off + 1);
    /* The state the core persisted is Kafka's file, read back at start. */
    struct sk_raft_qstate st;
    char err[256];
    cr_assert_eq(sk_quorum_state_read(l->store.dir, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.epoch, 1);
    cr_expect_eq(st.leader_id, 1);
    /* A restart keeps the committed record and opens a new epoch. */
    node_kill(l);
    node_start(&c, l);
    cr_expect_eq(l->img.next_producer_id, 100);
    l = await_leader(&c, 1);
    cr_expect_eq(sk_raft_epoch(l->r), 2);
    cluster_free(&c);
}

Test(meta_raftlog, three_voters_replicate_and_survive_kills, .init = setup, .fini = teardown,
     .timeout = 120)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct node *l = await_leader(&c, 0);
    int64_t pid = 0, last = 0;
    for (int i = 0; i < 5; i++)
        last = propose(l, pid += 10);
    await_hw(&c, l, last);
    check_logs_match(&c, l);

    /* A follower dies with appends it never flushed: it comes back with a
     * shorter log and catches up. */
    struct node *f = &c.n[l->id % 3];
    f->hold = true;
    for (int i = 0; i < 3; i++)
        last = propose(l, pid += 10);
    struct sk_plog *fp = sk_metalog_plog(f->ml);
    for (int i = 0; i < 1000 && sk_plog_log_end_offset(fp) <= last; i++)
        step(&c);
    cr_assert_gt(sk_plog_log_end_offset(fp), f->durable, "the follower has an unflushed tail");
    node_kill(f);
    f->hold = false;
    node_start(&c, f);
    cr_assert_leq(sk_plog_log_end_offset(sk_metalog_plog(f->ml)), last, "the tail was lost");
    await_hw(&c, l, last);
    check_logs_match(&c, l);

    /* The leader dies right after appending: a new leader is elected in a
     * later epoch, and every committed record is still there. */
    int64_t committed = sk_raft_high_watermark(l->r);
    int32_t epoch = sk_raft_epoch(l->r);
    (void)propose(l, pid += 10);
    node_kill(l);
    struct node *l2 = await_leader(&c, epoch);
    cr_assert_neq(l2, l);
    cr_assert_geq(sk_raft_high_watermark(l2->r), committed);
    last = propose(l2, pid += 10);
    await_hw(&c, l2, last);
    node_start(&c, l);
    check_logs_match(&c, l2);
    /* What a restarted node replays is the committed metadata. */
    node_kill(l);
    node_start(&c, l);
    cr_expect_eq(l->img.next_producer_id, pid);
    cluster_free(&c);
}
