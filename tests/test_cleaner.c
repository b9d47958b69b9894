/* Log compaction: real partition logs in a temporary directory, cleaned in small
 * steps, read back record by record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/buf.h"
#include "skein/log_cleaner.h"
#include "skein/plog.h"
#include "skein/record.h"

#include "deferred_syncer.h"

#define NOW 1700000000000LL
#define DAY 86400000LL

static char root[64];

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(root, "/tmp/skclean-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cleaner, .init = setup, .fini = teardown);

static struct sk_plog_config cfg_small(void)
{
    struct sk_plog_config c;
    sk_plog_config_default(&c);
    c.segment_bytes = 2048;
    c.index_interval_bytes = 200;
    c.segment_index_bytes = 4096;
    c.file_delete_delay_ms = 0;
    c.retention_ms = -1;
    return c;
}

static struct sk_plog *open_in(const char *dir, const struct sk_plog_config *c,
                               struct sk_plog_open_report *rep)
{
    struct sk_plog_open_opts o = {.log_dir = dir, .topic = "compacted", .partition = 3,
                                  .recovery_point = -1, .log_start_offset = -1, .now_ms = NOW};
    struct sk_plog *p = NULL;
    int r = sk_plog_open(&o, c, &p, rep);
    cr_assert_eq(r, 0, "open: %s", strerror(-r));
    return p;
}

struct rec_in {
    int key;          /* -1: null key */
    bool tombstone;
};

/* One batch of n records, values "k<key>@<offset>". */
static int64_t append(struct sk_plog *p, const struct rec_in *in, int n, enum sk_compression codec,
                      int64_t pid, int32_t seq)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    struct sk_record_in recs[32];
    char keys[32][16], vals[32][48];
    struct sk_buf b = {0};
    int64_t base = sk_plog_next_offset(p);

    spec.base_offset = base;
    spec.compression = codec;
    if (pid >= 0) {
        spec.producer_id = pid;
        spec.producer_epoch = 1;
        spec.base_sequence = seq;
    }
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", in[i].key);
        snprintf(vals[i], sizeof(vals[i]), "k%d@%" PRId64 "-padding-padding", in[i].key, base + i);
        recs[i] = (struct sk_record_in){
            .timestamp = NOW + base + i,
            .key = in[i].key < 0 ? NULL : keys[i],
            .key_len = in[i].key < 0 ? -1 : (int32_t)strlen(keys[i]),
            .value = in[i].tombstone ? NULL : vals[i],
            .value_len = in[i].tombstone ? -1 : (int32_t)strlen(vals[i]),
        };
    }
    cr_assert_eq(sk_batch_build(&b, &spec, recs, (size_t)n), 0);
    int r = sk_plog_append(p, b.data, b.len, NOW, NULL);
    cr_assert_eq(r, 0, "append: %s", strerror(-r));
    sk_buf_free(&b);
    /* the cleaner only takes segments below the recovery point, as after a sync */
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    return base;
}

/* What a consumer reading the whole log sees. */
struct seen {
    int64_t offset;
    int key;          /* -1 null */
    bool tombstone;
    int64_t batch_base, batch_last, pid;
    int32_t count, seq;
    int16_t attributes;
};

static int read_all(struct sk_plog *p, struct seen *out, int max, int *nbatches)
{
    int64_t off = sk_plog_log_start_offset(p), end = sk_plog_log_end_offset(p);
    static uint8_t buf[1 << 16];
    struct sk_buf scratch = {0};
    int n = 0;

    *nbatches = 0;
    while (off < end) {
        size_t len = 0;
        cr_assert_eq(sk_plog_read_copy(p, off, sizeof(buf), INT64_MAX, buf, sizeof(buf), &len), 0);
        if (len == 0)
            break;
        for (size_t at = 0; at < len;) {
            struct sk_batch_header h;
            struct sk_record_iter it;
            struct sk_record r;
            cr_assert_eq(sk_batch_header_read(buf + at, len - at, &h), 0);
            cr_assert(sk_batch_crc_ok(buf + at, &h), "CRC of batch at %" PRId64, h.base_offset);
            scratch.len = 0;
            cr_assert_eq(sk_record_iter_init(&it, buf + at, sk_batch_size(&h), &scratch), 0);
            (*nbatches)++;
            int k;
            while ((k = sk_record_iter_next(&it, &r)) == 1) {
                cr_assert_lt(n, max);
                int key = -1;
                if (r.key_len >= 0)
                    cr_assert_eq(sscanf((const char *)r.key, "k%d", &key), 1);
                if (r.value_len >= 0) {
                    char want[48];
                    snprintf(want, sizeof(want), "k%d@%" PRId64 "-", key, r.offset);
                    cr_assert(r.value_len > (int)strlen(want) &&
                              memcmp(r.value, want, strlen(want)) == 0,
                              "value at %" PRId64 " moved", r.offset);
                }
                out[n++] = (struct seen){r.offset, key, r.value_len < 0, h.base_offset,
                                         h.base_offset + h.last_offset_delta, h.producer_id,
                                         h.record_count, h.base_sequence, h.attributes};
            }
            cr_assert_eq(k, 0);
            off = h.base_offset + h.last_offset_delta + 1;
            at += sk_batch_size(&h);
        }
    }
    sk_buf_free(&scratch);
    return n;
}

static struct sk_clean_stats clean(struct sk_plog *p, int64_t checkpoint, int64_t now,
                                   const struct sk_clean_producer *prod, size_t nprod,
                                   uint64_t budget)
{
    struct sk_clean_opts o = {.now_ms = now, .delete_retention_ms = DAY, .map_bytes = 1 << 20,
                              .producers = prod, .nproducers = nprod};
    struct sk_clean_job *j;
    cr_assert_eq(sk_plog_flush(p, now), 0); /* a reopened log starts below its end */
    int r = sk_clean_begin(p, checkpoint, &o, &j);

    cr_assert_eq(r, 0, "begin: %s", strerror(-r));
    cr_assert_not_null(j);
    int steps = 0;
    while ((r = sk_clean_step(j, budget)) == 1)
        steps++;
    cr_assert_eq(r, 0, "step: %s", strerror(-r));
    if (budget < 1000)
        cr_assert_gt(steps, 1, "a small budget takes several steps");
    struct sk_clean_stats st = *sk_clean_stats(j);
    sk_clean_free(j);
    return st;
}

/* 300 updates to 7 keys, 3 per batch, over many 2 KiB segments. */
static void fill_updates(struct sk_plog *p, int nbatches)
{
    for (int i = 0; i < nbatches; i++) {
        struct rec_in in[3];
        for (int k = 0; k < 3; k++)
            in[k] = (struct rec_in){.key = (i * 3 + k) % 7};
        append(p, in, 3, SK_COMPRESSION_NONE, -1, -1);
    }
}

Test(cleaner, keys_deduplicated_offsets_kept)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    static struct seen before[2000], after[2000];
    int nb, na;

    fill_updates(p, 100);
    cr_assert_gt(sk_plog_segment_count(p), 5);
    int n0 = read_all(p, before, 2000, &nb);
    int64_t end = sk_plog_log_end_offset(p), active_base = -1;
    uint64_t size0 = sk_plog_size_bytes(p);
    struct sk_clean_range rg;
    sk_plog_clean_range(p, -1, NOW, 0, &rg);
    active_base = rg.end;
    cr_assert_eq(rg.first_dirty, 0);
    cr_assert_eq(rg.clean_bytes, 0);
    cr_assert_gt(rg.dirty_bytes, 0);

    struct sk_clean_stats st = clean(p, -1, NOW, NULL, 0, 700);
    cr_assert_eq(st.end, active_base);
    cr_assert_gt(st.records_dropped, 0);
    cr_assert_lt(sk_plog_size_bytes(p), size0);
    cr_assert_eq(sk_plog_log_end_offset(p), end);
    na = read_all(p, after, 2000, &nb);
    cr_assert_lt(na, n0);
    /* below the end: exactly the last record of each key; at and above: all */
    for (int i = 0; i < na; i++) {
        if (after[i].offset >= active_base)
            continue;
        for (int k = 0; k < n0; k++)
            cr_assert(!(before[k].key == after[i].key && before[k].offset > after[i].offset &&
                        before[k].offset < active_base),
                      "offset %" PRId64 " of k%d was superseded at %" PRId64, after[i].offset,
                      after[i].key, before[k].offset);
    }
    int above = 0;
    for (int k = 0; k < n0; k++)
        above += before[k].offset >= active_base;
    int kept_above = 0;
    for (int i = 0; i < na; i++)
        kept_above += after[i].offset >= active_base;
    cr_assert_eq(kept_above, above);
    /* retained batches keep their base and last offsets */
    for (int i = 0; i < na; i++) {
        bool found = false;
        for (int k = 0; k < n0 && !found; k++)
            found = before[k].batch_base == after[i].batch_base &&
                    before[k].batch_last == after[i].batch_last;
        cr_assert(found, "batch at %" PRId64 " changed its range", after[i].batch_base);
    }
    sk_plog_close(p);

    /* the same after a reload (indexes of the cleaned segments) */
    p = open_in(root, &c, NULL);
    static struct seen again[2000];
    cr_assert_eq(read_all(p, again, 2000, &nb), na);
    cr_assert_eq(memcmp(again, after, sizeof(after[0]) * (size_t)na), 0);
    /* a second clean with the checkpoint finds nothing new to drop */
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    sk_plog_clean_range(p, st.end, NOW, 0, &rg);
    cr_assert_eq(rg.first_dirty, st.end);
    sk_plog_close(p);
}

Test(cleaner, tombstones_kept_then_removed_after_horizon)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    struct rec_in put = {.key = 1}, del = {.key = 1, .tombstone = true}, other = {.key = 2};
    static struct seen s[100];
    int nb;

    append(p, &put, 1, SK_COMPRESSION_NONE, -1, -1);
    append(p, &other, 1, SK_COMPRESSION_NONE, -1, -1);
    int64_t t = append(p, &del, 1, SK_COMPRESSION_NONE, -1, -1);
    cr_assert_eq(sk_plog_roll(p, NOW), 0);
    append(p, &other, 1, SK_COMPRESSION_NONE, -1, -1);

    struct sk_clean_stats st = clean(p, -1, NOW, NULL, 0, 1 << 20);
    cr_assert_eq(st.max_delete_horizon, NOW + DAY);
    int n = read_all(p, s, 100, &nb);
    cr_assert_eq(n, 3); /* k2 in the clean segment, the tombstone, k2 in the active */
    cr_assert_eq(s[1].offset, t);
    cr_assert(s[1].tombstone);
    cr_assert(s[1].attributes & SK_BATCH_DELETE_HORIZON);

    /* before the horizon: still there */
    clean(p, st.end, NOW + DAY - 1, NULL, 0, 1 << 20);
    n = read_all(p, s, 100, &nb);
    cr_assert_eq(n, 3);
    cr_assert(s[1].tombstone);
    /* after it: gone */
    st = clean(p, st.end, NOW + DAY + 1, NULL, 0, 1 << 20);
    n = read_all(p, s, 100, &nb);
    cr_assert_eq(n, 2);
    cr_assert_eq(s[0].key, 2);
    cr_assert_eq(st.max_delete_horizon, -1);
    sk_plog_close(p);
}

Test(cleaner, compressed_batches_recompressed_with_their_codec)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    static struct seen s[400];
    const enum sk_compression codecs[] = {SK_COMPRESSION_GZIP, SK_COMPRESSION_SNAPPY,
                                          SK_COMPRESSION_LZ4, SK_COMPRESSION_ZSTD};
    int nb;

    for (int i = 0; i < 40; i++) {
        struct rec_in in[4];
        for (int k = 0; k < 4; k++)
            in[k] = (struct rec_in){.key = (i + k) % 5};
        append(p, in, 4, codecs[i % 4], -1, -1);
    }
    cr_assert_eq(sk_plog_roll(p, NOW), 0);
    clean(p, -1, NOW, NULL, 0, 1 << 20);
    int n = read_all(p, s, 400, &nb);
    cr_assert_eq(n, 5, "one record per key, got %d", n);
    for (int i = 0; i < n; i++) {
        int64_t batch = (s[i].batch_base) / 4;
        cr_assert_eq(s[i].attributes & SK_BATCH_COMPRESSION_MASK, (int)codecs[batch % 4],
                     "batch %" PRId64 " changed codec", s[i].batch_base);
        cr_assert_eq(s[i].batch_last - s[i].batch_base, 3);
    }
    sk_plog_close(p);
}

Test(cleaner, producer_last_batch_kept_empty)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    struct rec_in a[2] = {{.key = 1}, {.key = 2}};
    static struct seen s[100];
    int nb;

    append(p, a, 2, SK_COMPRESSION_NONE, 7, 0);
    int64_t b2 = append(p, a, 2, SK_COMPRESSION_NONE, 7, 2); /* producer 7's last batch */
    append(p, a, 2, SK_COMPRESSION_NONE, 9, 0);             /* producer 9: not last */
    append(p, a, 2, SK_COMPRESSION_NONE, -1, -1);           /* supersedes all of them */
    cr_assert_eq(sk_plog_roll(p, NOW), 0);
    struct sk_clean_producer prod[] = {{9, 100}, {7, b2 + 1}};
    clean(p, -1, NOW, prod, 2, 1 << 20);

    /* the empty batch has no records: read the headers themselves */
    uint8_t buf[4096];
    size_t len;
    cr_assert_eq(sk_plog_read_copy(p, 0, sizeof(buf), INT64_MAX, buf, sizeof(buf), &len), 0);
    struct sk_batch_header h;
    cr_assert_eq(sk_batch_header_read(buf, len, &h), 0);
    cr_assert_eq(h.base_offset, b2);
    cr_assert_eq(h.last_offset_delta, 1);
    cr_assert_eq(h.record_count, 0);
    cr_assert_eq(h.producer_id, 7);
    cr_assert_eq(h.producer_epoch, 1);
    cr_assert_eq(h.base_sequence, 2);
    cr_assert(sk_batch_crc_ok(buf, &h));
    cr_assert_eq(read_all(p, s, 100, &nb), 2);
    cr_assert_eq(nb, 2);
    sk_plog_close(p);
}

Test(cleaner, null_keys_dropped)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    struct rec_in a[2] = {{.key = -1}, {.key = 4}};
    static struct seen s[10];
    int nb;

    append(p, a, 2, SK_COMPRESSION_NONE, -1, -1);
    cr_assert_eq(sk_plog_roll(p, NOW), 0);
    clean(p, -1, NOW, NULL, 0, 1 << 20);
    cr_assert_eq(read_all(p, s, 10, &nb), 1);
    cr_assert_eq(s[0].key, 4);
    cr_assert_eq(s[0].offset, 1);
    sk_plog_close(p);
}

Test(cleaner, min_compaction_lag_holds_young_segments)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    struct sk_clean_range rg;

    fill_updates(p, 60);
    /* record timestamps are NOW + offset: a lag of 1 day keeps them all */
    sk_plog_clean_range(p, -1, NOW + 1000, DAY, &rg);
    cr_assert_eq(rg.end, 0);
    sk_plog_clean_range(p, -1, NOW + DAY + 1000, DAY, &rg);
    cr_assert_gt(rg.end, 0);
    sk_plog_close(p);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[8192];
    size_t n;

    cr_assert(a && b, "%s -> %s", from, to);
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static void log_copy(const char *from_root, const char *to_root)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp -r %s/compacted-3 %s/", from_root, to_root);
    cr_assert_eq(system(cmd), 0);
}

Test(cleaner, interrupted_swap_completes_at_load)
{
    struct sk_plog_config c = cfg_small();
    char twin[128], path[256], to[256];
    static struct seen want[2000], got[2000];
    int nb;

    snprintf(twin, sizeof(twin), "%s/twin", root);
    cr_assert_eq(mkdir(twin, 0755), 0);
    struct sk_plog *p = open_in(root, &c, NULL);
    fill_updates(p, 60);
    sk_plog_close(p);
    log_copy(root, twin);

    /* clean the original in one group (a larger segment.bytes) */
    struct sk_plog_config big = c;
    big.segment_bytes = 1 << 20;
    p = open_in(root, &big, NULL);
    struct sk_clean_stats st = clean(p, -1, NOW, NULL, 0, 1 << 20);
    cr_assert_eq(st.segments_out, 1);
    int n = read_all(p, want, 2000, &nb);
    sk_plog_close(p);

    /* the twin crashed after step 2: the cleaned data is a .swap, old segments
     * still there, plus an unfinished .cleaned from a later group */
    snprintf(path, sizeof(path), "%s/compacted-3/%020d.log", root, 0);
    snprintf(to, sizeof(to), "%s/compacted-3/%020d.log.swap", twin, 0);
    copy_file(path, to);
    snprintf(to, sizeof(to), "%s/compacted-3/%020d.log.cleaned", twin, 5);
    copy_file(path, to);
    struct sk_plog_open_report rep;
    p = open_in(twin, &c, &rep);
    cr_assert_gt(rep.stray_files_removed, 0);
    cr_assert_eq(read_all(p, got, 2000, &nb), n);
    cr_assert_eq(memcmp(got, want, sizeof(got[0]) * (size_t)n), 0);
    cr_assert_eq(sk_plog_segment_count(p), 2);
    sk_plog_close(p);
    snprintf(to, sizeof(to), "%s/compacted-3/%020d.log.cleaned", twin, 5);
    cr_assert_neq(access(to, F_OK), 0);
}

Test(cleaner, interrupted_before_swap_keeps_old_segments)
{
    struct sk_plog_config c = cfg_small();
    static struct seen want[2000], got[2000];
    char path[256];
    int nb;

    struct sk_plog *p = open_in(root, &c, NULL);
    fill_updates(p, 60);
    int n = read_all(p, want, 2000, &nb);
    size_t segs = sk_plog_segment_count(p);
    sk_plog_close(p);
    snprintf(path, sizeof(path), "%s/compacted-3/%020d.log.cleaned", root, 0);
    FILE *f = fopen(path, "wb");
    fputs("half-written", f);
    fclose(f);
    p = open_in(root, &c, NULL);
    cr_assert_eq(read_all(p, got, 2000, &nb), n);
    cr_assert_eq(sk_plog_segment_count(p), segs);
    sk_plog_close(p);
    cr_assert_neq(access(path, F_OK), 0);
}

Test(cleaner, log_changed_under_job_is_stale)
{
    struct sk_plog_config c = cfg_small();
    struct sk_plog *p = open_in(root, &c, NULL);
    struct sk_clean_opts o = {.now_ms = NOW, .delete_retention_ms = DAY, .map_bytes = 1 << 20};
    struct sk_clean_job *j;

    fill_updates(p, 60);
    cr_assert_eq(sk_clean_begin(p, -1, &o, &j), 0);
    cr_assert_eq(sk_clean_step(j, 100), 1);
    cr_assert_eq(sk_plog_delete_records(p, 120), 0);
    cr_assert_eq(sk_clean_step(j, 100), -ESTALE);
    sk_clean_free(j);
    sk_plog_close(p);
}

Test(cleaner, checkpoint_file_round_trip)
{
    struct sk_offset_checkpoint_entry e[2] = {{"__consumer_offsets", 7, 1234}, {"compacted", 3, 5}};
    struct sk_offset_checkpoint_entry *back;
    char path[256], text[256] = {0};
    size_t n;

    cr_assert_eq(sk_offset_checkpoint_write(root, SK_CLEANER_OFFSET_CHECKPOINT, e, 2), 0);
    snprintf(path, sizeof(path), "%s/cleaner-offset-checkpoint", root);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_gt(fread(text, 1, sizeof(text) - 1, f), 0);
    fclose(f);
    cr_assert_str_eq(text, "0\n2\n__consumer_offsets 7 1234\ncompacted 3 5\n");
    cr_assert_eq(sk_offset_checkpoint_read(root, SK_CLEANER_OFFSET_CHECKPOINT, &back, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(sk_offset_checkpoint_find(back, n, "compacted", 3), 5);
    free(back);
}

/* ---- the swap's syncs through the syncer --------------------------------------- */

static int count_suffix(const char *dir, const char *suffix)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/compacted-3 | grep -c '%s$'", dir, suffix);
    FILE *f = popen(cmd, "r");
    int n = -1;
    cr_assert(fscanf(f, "%d", &n) == 1);
    pclose(f);
    return n;
}

/* Steps the job until its first group waits for the syncer. */
static void step_until_sync(struct sk_clean_job *j, struct deferred_syncer *ds)
{
    for (int i = 0; i < 10000 && ds_pending(ds) == 0; i++)
        cr_assert_eq(sk_clean_step(j, 100), 1, "the job ended without asking for a sync");
    cr_assert_eq(ds_pending(ds), 3, "a group's three files are not synced together");
}

Test(cleaner, swap_waits_for_its_syncs_then_renames)
{
    struct sk_plog_config c = cfg_small();
    static struct seen before[2000], after[2000];
    int nb;
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_plog *p = open_in(root, &c, NULL);
    fill_updates(p, 60);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int n = read_all(p, before, 2000, &nb);
    struct sk_clean_opts o = {.now_ms = NOW, .delete_retention_ms = DAY, .map_bytes = 1 << 20,
                              .syncer = &ds.syncer};
    struct sk_clean_job *j;
    cr_assert_eq(sk_clean_begin(p, -1, &o, &j), 0);
    step_until_sync(j, &ds);
    cr_assert_eq(sk_clean_step(j, 100), 1, "the job went on before its sync completed");
    cr_assert_eq(count_suffix(root, ".swap"), 0, "renamed to .swap before the data sync");
    for (int i = 0; i < 3; i++)
        ds_complete(&ds, 0);
    cr_assert_eq(ds_pending(&ds), 1);
    cr_assert(ds.q[3].is_dir, "no directory sync after the rename");
    cr_assert_eq(count_suffix(root, ".log.swap"), 1);
    cr_assert_eq(sk_clean_step(j, 100), 1, "swapped in before the rename was durable");
    int r;
    while ((r = sk_clean_step(j, 100)) == 1)
        ds_complete_all(&ds, 0);
    cr_assert_eq(r, 0, "step: %s", strerror(-r));
    sk_clean_free(j);
    cr_assert_lt(read_all(p, after, 2000, &nb), n, "nothing was compacted");
    sk_plog_close(p);
}

/* fsyncgate: after a failed fsync the page cache proves nothing, so the
 * cleaned segment must never replace the durable old ones. */
Test(cleaner, failed_swap_sync_aborts_and_keeps_the_old_segments)
{
    struct sk_plog_config c = cfg_small();
    static struct seen before[2000], after[2000];
    int nb;
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_plog *p = open_in(root, &c, NULL);
    fill_updates(p, 60);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int n = read_all(p, before, 2000, &nb);
    size_t segs = sk_plog_segment_count(p);
    struct sk_clean_opts o = {.now_ms = NOW, .delete_retention_ms = DAY, .map_bytes = 1 << 20,
                              .syncer = &ds.syncer};
    struct sk_clean_job *j;
    cr_assert_eq(sk_clean_begin(p, -1, &o, &j), 0);
    step_until_sync(j, &ds);
    ds_complete(&ds, 0);
    ds_complete(&ds, -EIO);
    ds_complete(&ds, 0);
    cr_assert_eq(ds_pending(&ds), 0, "went on to the directory sync after a failed sync");
    cr_assert_eq(count_suffix(root, ".swap"), 0, "renamed after a failed sync");
    cr_assert_eq(sk_clean_step(j, 100), -EIO);
    sk_clean_free(j);
    cr_assert_eq(count_suffix(root, ".cleaned"), 0, "the aborted segment's files stay behind");
    cr_assert_eq(sk_plog_segment_count(p), segs);
    cr_assert_eq(read_all(p, after, 2000, &nb), n);
    cr_assert_eq(memcmp(before, after, sizeof(before[0]) * (size_t)n), 0);
    sk_plog_close(p);
    p = open_in(root, &c, NULL);
    cr_assert_eq(read_all(p, after, 2000, &nb), n, "the old segments did not survive a reload");
    sk_plog_close(p);
}

Test(cleaner, job_freed_with_its_sync_in_flight)
{
    struct sk_plog_config c = cfg_small();
    static struct seen got[2000];
    int nb;
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_plog *p = open_in(root, &c, NULL);
    fill_updates(p, 60);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int n = read_all(p, got, 2000, &nb);
    struct sk_clean_opts o = {.now_ms = NOW, .delete_retention_ms = DAY, .map_bytes = 1 << 20,
                              .syncer = &ds.syncer};
    struct sk_clean_job *j;
    cr_assert_eq(sk_clean_begin(p, -1, &o, &j), 0);
    step_until_sync(j, &ds);
    sk_clean_free(j);
    ds_complete_all(&ds, 0);
    cr_assert_eq(count_suffix(root, ".swap"), 0, "a cancelled swap was renamed into place");
    cr_assert_eq(count_suffix(root, ".cleaned"), 0);
    sk_plog_close(p);
    p = open_in(root, &c, NULL);
    cr_assert_eq(read_all(p, got, 2000, &nb), n);
    sk_plog_close(p);
}
