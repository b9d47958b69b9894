/* Partition log: real files in a temporary directory, checked byte for byte
 * against what was appended and against Kafka's on-disk formats. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/errors.h"
#include "skein/plog.h"
#include "skein/record.h"

#include "deferred_syncer.h"

#define NOW 1700000000000LL
#define MAXB 512

static char root[64];

/* what the test appended, batch by batch */
struct expect {
    int64_t base[MAXB], last[MAXB], ts[MAXB];
    uint8_t *bytes[MAXB];
    size_t size[MAXB];
    int n;
};
static struct expect ex;

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(root, "/tmp/sklog-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    memset(&ex, 0, sizeof(ex));
}

static void teardown(void)
{
    for (int i = 0; i < ex.n; i++)
        free(ex.bytes[i]);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct sk_plog_config small_cfg(void)
{
    struct sk_plog_config c;
    sk_plog_config_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 300;
    c.segment_index_bytes = 4096;
    c.file_delete_delay_ms = 0;
    c.retention_ms = -1;
    return c;
}

static struct sk_plog *open_log(const struct sk_plog_config *cfg, int64_t rp, int64_t lso,
                                struct sk_plog_open_report *rep)
{
    struct sk_plog_open_opts o = {.log_dir = root, .topic = "orders", .partition = 3,
                                  .recovery_point = rp, .log_start_offset = lso, .now_ms = NOW};
    struct sk_plog *p = NULL;
    int r = sk_plog_open(&o, cfg, &p, rep);
    cr_assert_eq(r, 0, "open: %s", strerror(-r));
    return p;
}

/* A batch of nrec records at base with timestamps ts, ts+1, ... */
static void build(struct sk_buf *out, int64_t base, int nrec, int64_t ts, int32_t epoch, int vlen)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    struct sk_record_in recs[16];
    static char val[1024];

    memset(val, 'v', sizeof(val));
    spec.base_offset = base;
    spec.partition_leader_epoch = epoch;
    for (int i = 0; i < nrec; i++)
        recs[i] = (struct sk_record_in){.timestamp = ts + i, .key = NULL, .key_len = -1,
                                        .value = val, .value_len = vlen};
    cr_assert_eq(sk_batch_build(out, &spec, recs, (size_t)nrec), 0);
}

/* Appends one batch at the log end and records it in ex. */
static void append_one(struct sk_plog *p, int nrec, int64_t ts, int32_t epoch, int vlen)
{
    struct sk_buf b = {0};
    struct sk_plog_append_info info;
    int64_t base = sk_plog_next_offset(p);

    build(&b, base, nrec, ts, epoch, vlen);
    int r = sk_plog_append(p, b.data, b.len, NOW, &info);
    cr_assert_eq(r, 0, "append at %" PRId64 ": %s", base, strerror(-r));
    cr_assert_eq(info.first_offset, base);
    cr_assert_eq(info.last_offset, base + nrec - 1);
    cr_assert_lt(ex.n, MAXB);
    ex.base[ex.n] = base;
    ex.last[ex.n] = base + nrec - 1;
    ex.ts[ex.n] = ts + nrec - 1;
    ex.bytes[ex.n] = b.data;
    ex.size[ex.n] = b.len;
    ex.n++;
}

/* n batches of 1..5 records, timestamps growing by 10 per batch from ts0 */
static void append_many(struct sk_plog *p, int n, int64_t ts0)
{
    for (int i = 0; i < n; i++)
        append_one(p, 1 + i % 5, ts0 + 10 * ex.n, 0, 40 + (i * 37) % 200);
}

static int batch_of(int64_t offset)
{
    for (int i = 0; i < ex.n; i++)
        if (offset >= ex.base[i] && offset <= ex.last[i])
            return i;
    return -1;
}

/* Every offset reads back exactly the batch that holds it, via the index. */
static void check_all_offsets(struct sk_plog *p, int64_t from)
{
    static uint8_t buf[8192];
    size_t len;

    for (int64_t off = from; off < sk_plog_log_end_offset(p); off++) {
        int i = batch_of(off);
        int r = sk_plog_read_copy(p, off, 1, INT64_MAX, buf, sizeof(buf), &len);
        cr_assert_eq(r, 0, "read %" PRId64 ": %s", off, strerror(-r));
        cr_assert_eq(len, ex.size[i], "offset %" PRId64 ": %zu bytes, want %zu", off, len, ex.size[i]);
        cr_assert_eq(memcmp(buf, ex.bytes[i], len), 0, "offset %" PRId64 ": other bytes", off);
    }
}

static off_t file_size(const char *name)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/orders-3/%s", root, name);
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3/%s", root, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", name);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    buf[*len] = 0;
    return buf;
}

static void seg_name(char *out, size_t cap, int64_t base, const char *suffix)
{
    snprintf(out, cap, "%020" PRId64 "%s", base, suffix);
}

/* Base offsets of the .log files, from the directory itself. */
static int list_segments(int64_t *bases, int cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3", root);
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".log") == 0 && n < cap)
            bases[n++] = strtoll(de->d_name, NULL, 10);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && bases[j] < bases[j - 1]; j--) {
            int64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return n;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, round_trip_across_rolls)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);

    cr_assert_eq(sk_plog_next_offset(p), 0);
    append_many(p, 300, 1000);
    cr_assert_gt(sk_plog_segment_count(p), 10, "only %zu segments", sk_plog_segment_count(p));
    cr_assert_eq(sk_plog_log_end_offset(p), ex.last[ex.n - 1] + 1);
    check_all_offsets(p, 0);

    /* a big fetch: whole batches, from the batch holding the offset, one segment */
    struct sk_plog_slice sl;
    int64_t off = ex.base[40] + 1 <= ex.last[40] ? ex.base[40] + 1 : ex.base[41];
    cr_assert_eq(sk_plog_read(p, off, 1 << 20, INT64_MAX, false, &sl), 0);
    int i = batch_of(off);
    cr_assert_eq(sl.first_offset, ex.base[i]);
    size_t sum = 0;
    int j = i;
    while (sum < sl.len)
        sum += ex.size[j++];
    cr_assert_eq(sum, sl.len, "slice ends inside a batch");
    cr_assert_eq(sl.next_offset, ex.last[j - 1] + 1);

    /* max_bytes smaller than the first batch: nothing unless min_one */
    cr_assert_eq(sk_plog_read(p, off, 10, INT64_MAX, false, &sl), 0);
    cr_assert_eq(sl.len, 0);
    cr_assert_eq(sk_plog_read(p, off, 10, INT64_MAX, true, &sl), 0);
    cr_assert_eq(sl.len, ex.size[i]);
    /* max_offset (high watermark) stops before the batch reaching it */
    cr_assert_eq(sk_plog_read(p, 0, 1 << 20, ex.base[2], false, &sl), 0);
    cr_assert_eq(sl.len, ex.size[0] + ex.size[1]);
    cr_assert_eq(sl.next_offset, ex.base[2]);
    /* a batch reaching max_offset is not exposed, even by its last offset */
    cr_assert_eq(sk_plog_read(p, 0, 1 << 20, ex.last[2], false, &sl), 0);
    cr_assert_eq(sl.len, ex.size[0] + ex.size[1]);
    /* at the end: empty; past it: out of range */
    cr_assert_eq(sk_plog_read(p, sk_plog_log_end_offset(p), 100, INT64_MAX, true, &sl), 0);
    cr_assert_eq(sl.len, 0);
    cr_assert_eq(sk_plog_read(p, sk_plog_log_end_offset(p) + 1, 100, INT64_MAX, true, &sl), -ERANGE);
    sk_plog_close(p);
}

Test(log, segment_files_are_named_by_20_digit_base)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 80, 1000);
    size_t nseg = sk_plog_segment_count(p);
    sk_plog_close(p);

    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3", root);
    DIR *d = opendir(path);
    struct dirent *de;
    size_t logs = 0;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (n[0] == '.' || strcmp(n, "leader-epoch-checkpoint") == 0)
            continue;
        size_t digits = strspn(n, "0123456789");
        cr_assert_eq(digits, 20, "bad name %s", n);
        const char *sfx = n + 20;
        cr_assert(strcmp(sfx, ".log") == 0 || strcmp(sfx, ".index") == 0 ||
                      strcmp(sfx, ".timeindex") == 0, "bad suffix %s", n);
        if (strcmp(sfx, ".log") == 0) {
            int64_t base = strtoll(n, NULL, 10);
            cr_assert_geq(batch_of(base), 0, "%s is not at a batch start", n);
            cr_assert_eq(ex.base[batch_of(base)], base, "%s is not at a batch start", n);
            logs++;
        }
    }
    closedir(d);
    cr_assert_eq(logs, nseg);
    cr_assert_geq(file_size("00000000000000000000.log"), 1);
}

Test(log, index_files_follow_kafka_format)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 60, 1000);
    /* the active segment's index is preallocated to segment.index.bytes */
    int64_t bases[64];
    int n = list_segments(bases, 64);
    char name[64];
    seg_name(name, sizeof(name), bases[n - 1], ".index");
    cr_assert_eq(file_size(name), 4096);
    sk_plog_close(p);

    size_t entries = 0;
    for (int s = 0; s < n; s++) {
        size_t len;
        seg_name(name, sizeof(name), bases[s], ".index");
        uint8_t *ix = (uint8_t *)slurp(name, &len);
        cr_assert_eq(len % 8, 0, "%s trimmed to whole entries", name);
        for (size_t e = 0; e < len; e += 8, entries++) {
            int64_t off = bases[s] + (int32_t)((uint32_t)ix[e] << 24 | ix[e + 1] << 16 | ix[e + 2] << 8 | ix[e + 3]);
            uint32_t pos = (uint32_t)ix[e + 4] << 24 | ix[e + 5] << 16 | ix[e + 6] << 8 | ix[e + 7];
            /* the entry points at the start of the batch whose last offset it names */
            int i = batch_of(off);
            size_t at = 0;
            for (int k = 0; k < i; k++)
                if (ex.base[k] >= bases[s])
                    at += ex.size[k];
            cr_assert_eq(ex.last[i], off);
            cr_assert_eq(at, pos, "%s entry %zu: position %u, want %zu", name, e / 8, pos, at);
        }
        free(ix);
        seg_name(name, sizeof(name), bases[s], ".timeindex");
        cr_assert_eq(file_size(name) % 12, 0);
    }
    cr_assert_gt(entries, 0);
}

Test(log, time_lookup)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_time_result t;

    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_MAX_TIMESTAMP, &t), 0);
    cr_assert_eq(t.offset, -1);
    append_many(p, 200, 5000);

    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_LATEST_TIMESTAMP, &t), 0);
    cr_assert_eq(t.offset, sk_plog_log_end_offset(p));
    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_EARLIEST_TIMESTAMP, &t), 0);
    cr_assert_eq(t.offset, 0);
    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_MAX_TIMESTAMP, &t), 0);
    cr_assert_eq(t.timestamp, ex.ts[ex.n - 1]);
    cr_assert_eq(t.offset, ex.last[ex.n - 1]);

    /* every record found by its own timestamp (record k of a batch carries the
     * batch's first timestamp + k), and a gap between batches resolves to the
     * first record of the next one */
    for (int i = 0; i < ex.n; i++) {
        int64_t first_ts = ex.ts[i] - (ex.last[i] - ex.base[i]);
        for (int64_t off = ex.base[i]; off <= ex.last[i]; off++) {
            int64_t want_ts = first_ts + (off - ex.base[i]);
            cr_assert_eq(sk_plog_offset_for_time(p, want_ts, &t), 0);
            cr_assert_eq(t.offset, off, "ts %" PRId64 ": offset %" PRId64 ", want %" PRId64,
                         want_ts, t.offset, off);
            cr_assert_eq(t.timestamp, want_ts);
        }
        if (i > 0) {
            cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[i - 1] + 1, &t), 0);
            cr_assert_eq(t.offset, ex.base[i]);
        }
    }
    cr_assert_eq(sk_plog_offset_for_time(p, 0, &t), 0);
    cr_assert_eq(t.offset, 0);
    cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[ex.n - 1] + 1, &t), 0);
    cr_assert_eq(t.offset, -1);
    sk_plog_close(p);
}

Test(log, reopen_gives_identical_state)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog_open_report rep;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 150, 1000);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int64_t leo = sk_plog_log_end_offset(p), rp = sk_plog_recovery_point(p);
    size_t nseg = sk_plog_segment_count(p);
    uint64_t size = sk_plog_size_bytes(p);
    cr_assert_eq(rp, leo);
    sk_plog_close(p);

    p = open_log(&cfg, rp, 0, &rep);
    cr_assert_eq(rep.segments_recovered, 0, "clean reopen recovered %u", rep.segments_recovered);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(sk_plog_log_end_offset(p), leo);
    cr_assert_eq(sk_plog_log_start_offset(p), 0);
    cr_assert_eq(sk_plog_segment_count(p), nseg);
    cr_assert_eq(sk_plog_size_bytes(p), size);
    check_all_offsets(p, 0);
    append_many(p, 20, 1000);
    check_all_offsets(p, 0);
    sk_plog_close(p);

    /* without a checkpoint everything is recovered, to the same state */
    p = open_log(&cfg, -1, -1, &rep);
    cr_assert_eq(rep.segments_recovered, rep.segments_loaded);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(sk_plog_log_end_offset(p), ex.last[ex.n - 1] + 1);
    check_all_offsets(p, 0);
    sk_plog_close(p);
}

static void append_raw_to_last(const void *data, size_t len)
{
    int64_t bases[128];
    int n = list_segments(bases, 128);
    char name[64], path[512];
    seg_name(name, sizeof(name), bases[n - 1], ".log");
    snprintf(path, sizeof(path), "%s/orders-3/%s", root, name);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

Test(log, torn_tail_is_truncated_on_reopen)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog_open_report rep;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 100, 1000);
    int64_t leo = sk_plog_log_end_offset(p);
    sk_plog_close(p);

    /* half of the next batch, as if the write was cut by a crash */
    struct sk_buf b = {0};
    build(&b, leo, 3, 99999, 0, 300);
    append_raw_to_last(b.data, b.len / 2);
    p = open_log(&cfg, -1, -1, &rep);
    cr_assert_eq(rep.truncated_bytes, b.len / 2);
    cr_assert_eq(sk_plog_log_end_offset(p), leo);
    check_all_offsets(p, 0);
    sk_plog_close(p);

    /* random garbage */
    uint8_t junk[777];
    srand(7);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rand();
    append_raw_to_last(junk, sizeof(junk));
    p = open_log(&cfg, leo, -1, &rep);
    cr_assert_eq(rep.truncated_bytes, sizeof(junk));
    cr_assert_eq(sk_plog_log_end_offset(p), leo);

    /* a whole batch with a broken CRC at the end is a torn write too */
    append_one(p, 2, 5000, 0, 100);
    sk_plog_close(p);
    free(b.data);
    b = (struct sk_buf){0};
    build(&b, ex.last[ex.n - 1] + 1, 2, 6000, 0, 100);
    b.data[b.len - 1] ^= 0xff;
    append_raw_to_last(b.data, b.len);
    p = open_log(&cfg, -1, -1, &rep);
    cr_assert_eq(rep.truncated_bytes, b.len);
    cr_assert_eq(sk_plog_log_end_offset(p), ex.last[ex.n - 1] + 1);
    check_all_offsets(p, 0);
    append_many(p, 5, 7000);
    check_all_offsets(p, 0);
    sk_plog_close(p);
    free(b.data);
}

Test(log, deleted_indexes_are_rebuilt_identically)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog_open_report rep;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 120, 1000);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int64_t rp = sk_plog_recovery_point(p);
    sk_plog_close(p);

    int64_t bases[128];
    int n = list_segments(bases, 128);
    char *orig[256];
    size_t olen[256];
    for (int s = 0; s < n; s++)
        for (int k = 0; k < 2; k++) {
            char name[64], path[512];
            seg_name(name, sizeof(name), bases[s], k ? ".timeindex" : ".index");
            orig[2 * s + k] = slurp(name, &olen[2 * s + k]);
            snprintf(path, sizeof(path), "%s/orders-3/%s", root, name);
            cr_assert_eq(unlink(path), 0);
        }
    p = open_log(&cfg, rp, -1, &rep);
    cr_assert_eq(rep.indexes_rebuilt + rep.segments_recovered, (uint32_t)n);
    check_all_offsets(p, 0);
    sk_plog_close(p);
    for (int s = 0; s < n; s++)
        for (int k = 0; k < 2; k++) {
            char name[64];
            size_t len;
            seg_name(name, sizeof(name), bases[s], k ? ".timeindex" : ".index");
            char *now = slurp(name, &len);
            cr_assert_eq(len, olen[2 * s + k], "%s: %zu bytes, was %zu", name, len, olen[2 * s + k]);
            cr_assert_eq(memcmp(now, orig[2 * s + k], len), 0, "%s differs", name);
            free(now);
            free(orig[2 * s + k]);
        }
}

Test(log, corrupt_batch_in_older_segment_is_reported)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog_open_report rep;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 100, 1000);
    int64_t leo = sk_plog_log_end_offset(p);
    sk_plog_close(p);

    /* flip a byte inside the third batch of the second segment */
    int64_t bases[128];
    list_segments(bases, 128);
    int first = batch_of(bases[1]), victim = first + 2;
    size_t at = 0;
    for (int k = first; k < victim; k++)
        at += ex.size[k];
    char name[64], path[512];
    seg_name(name, sizeof(name), bases[1], ".log");
    snprintf(path, sizeof(path), "%s/orders-3/%s", root, name);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    cr_assert_eq(pread(fd, &byte, 1, (off_t)(at + ex.size[victim] - 5)), 1);
    byte ^= 0x5a;
    cr_assert_eq(pwrite(fd, &byte, 1, (off_t)(at + ex.size[victim] - 5)), 1);
    close(fd);

    p = open_log(&cfg, -1, -1, &rep);
    cr_assert_eq(rep.corrupt_ranges, 1);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(sk_plog_log_end_offset(p), leo, "acknowledged data after the damage kept");

    struct sk_plog_slice sl;
    uint8_t buf[8192];
    size_t len;
    for (int64_t off = ex.base[victim]; off <= ex.last[victim]; off++) {
        int r = sk_plog_read(p, off, 1 << 20, INT64_MAX, true, &sl);
        cr_assert_eq(r, -EBADMSG, "offset %" PRId64 " served from a damaged batch", off);
        cr_assert_eq(sk_plog_err_to_kafka(r), SK_ERR_CORRUPT_MESSAGE);
    }
    /* a fetch before it stops short of it; the batches after it read fine */
    cr_assert_eq(sk_plog_read(p, ex.base[first], 1 << 20, INT64_MAX, true, &sl), 0);
    cr_assert_eq(sl.len, ex.size[first] + ex.size[first + 1]);
    cr_assert_eq(sk_plog_read_copy(p, ex.base[victim + 1], 1, INT64_MAX, buf, sizeof(buf), &len), 0);
    cr_assert_eq(memcmp(buf, ex.bytes[victim + 1], len), 0);
    for (int64_t off = 0; off < leo; off++)
        if (batch_of(off) != victim)
            cr_assert_eq(sk_plog_read_copy(p, off, 1, INT64_MAX, buf, sizeof(buf), &len), 0);
    sk_plog_close(p);
}

Test(log, retention_by_time_and_bytes)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    /* old data, then recent data */
    append_many(p, 60, NOW - 10 * 86400000LL);
    int64_t old_last = ex.last[ex.n - 1];
    cr_assert_eq(sk_plog_roll(p, NOW), 0);
    append_many(p, 60, NOW - 1000);
    int64_t leo = sk_plog_log_end_offset(p);

    cfg.retention_ms = 86400000LL;
    sk_plog_set_config(p, &cfg);
    /* nothing goes while the high watermark has not passed it */
    cr_assert_eq(sk_plog_retention(p, NOW, 0), 0);
    int n = sk_plog_retention(p, NOW, leo);
    cr_assert_gt(n, 0);
    cr_assert_eq(sk_plog_log_start_offset(p), old_last + 1);
    struct sk_plog_slice sl;
    cr_assert_eq(sk_plog_read(p, old_last, 100, INT64_MAX, true, &sl), -ERANGE);
    cr_assert_eq(sk_plog_err_to_kafka(-ERANGE), SK_ERR_OFFSET_OUT_OF_RANGE);
    check_all_offsets(p, old_last + 1);
    cr_assert_eq(sk_plog_retention(p, NOW, leo), 0, "idempotent");

    uint64_t before = sk_plog_size_bytes(p);
    cfg.retention_ms = -1;
    cfg.retention_bytes = (int64_t)before / 2;
    sk_plog_set_config(p, &cfg);
    cr_assert_gt(sk_plog_retention(p, NOW, leo), 0);
    uint64_t after = sk_plog_size_bytes(p);
    cr_assert_geq(after, (uint64_t)cfg.retention_bytes);
    cr_assert_lt(after, (uint64_t)cfg.retention_bytes + 4096 + 2000);
    int64_t bases[128];
    int nfiles = list_segments(bases, 128);
    cr_assert_eq((size_t)nfiles, sk_plog_segment_count(p), "deleted files are gone");
    cr_assert_eq(bases[0], sk_plog_log_start_offset(p));
    int64_t lso = sk_plog_log_start_offset(p);
    sk_plog_close(p);

    p = open_log(&cfg, -1, lso, NULL);
    cr_assert_eq(sk_plog_log_start_offset(p), lso);
    check_all_offsets(p, lso);
    sk_plog_close(p);
}

Test(log, delete_records_moves_log_start)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 100, 1000);
    size_t nseg = sk_plog_segment_count(p);
    int64_t cut = ex.base[57] + (ex.last[57] > ex.base[57] ? 1 : 0);

    cr_assert_eq(sk_plog_delete_records(p, sk_plog_log_end_offset(p) + 1), -ERANGE);
    cr_assert_eq(sk_plog_delete_records(p, cut), 0);
    cr_assert_eq(sk_plog_log_start_offset(p), cut);
    cr_assert_lt(sk_plog_segment_count(p), nseg);
    struct sk_plog_slice sl;
    cr_assert_eq(sk_plog_read(p, cut - 1, 100, INT64_MAX, true, &sl), -ERANGE);
    cr_assert_eq(sk_plog_read(p, cut, 1 << 20, INT64_MAX, true, &sl), 0);
    cr_assert_eq(sl.first_offset, ex.base[57], "whole first batch, as Kafka");
    struct sk_plog_time_result t;
    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_EARLIEST_TIMESTAMP, &t), 0);
    cr_assert_eq(t.offset, cut);
    cr_assert_eq(sk_plog_offset_for_time(p, 0, &t), 0);
    cr_assert_eq(t.offset, cut);
    check_all_offsets(p, cut);
    cr_assert_eq(sk_plog_delete_records(p, 3), 0, "never backwards");
    cr_assert_eq(sk_plog_log_start_offset(p), cut);
    sk_plog_close(p);
}

Test(log, truncate_to_and_fully)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 100, 1000);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);

    /* into an older segment: later segment files go */
    int64_t to = ex.base[30];
    cr_assert_eq(sk_plog_truncate_to(p, to), 0);
    cr_assert_eq(sk_plog_log_end_offset(p), to);
    cr_assert_leq(sk_plog_recovery_point(p), to);
    int64_t bases[128];
    int n = list_segments(bases, 128);
    cr_assert_eq((size_t)n, sk_plog_segment_count(p));
    cr_assert_leq(bases[n - 1], to);
    struct sk_plog_slice sl;
    cr_assert_eq(sk_plog_read(p, to + 1, 100, INT64_MAX, true, &sl), -ERANGE);
    for (int i = 30; i < ex.n; i++)
        free(ex.bytes[i]);
    ex.n = 30;
    append_many(p, 40, 1000);
    check_all_offsets(p, 0);
    sk_plog_close(p);
    p = open_log(&cfg, -1, -1, NULL);
    cr_assert_eq(sk_plog_log_end_offset(p), ex.last[ex.n - 1] + 1);
    check_all_offsets(p, 0);

    /* an offset inside a batch drops that whole batch */
    int i = batch_of(ex.base[20] + 1) >= 0 && ex.last[20] > ex.base[20] ? 20 : 21;
    cr_assert_eq(sk_plog_truncate_to(p, ex.base[i] + 1), 0);
    cr_assert_eq(sk_plog_log_end_offset(p), ex.base[i]);

    cr_assert_eq(sk_plog_truncate_fully(p, 5000, NOW), 0);
    cr_assert_eq(sk_plog_log_start_offset(p), 5000);
    cr_assert_eq(sk_plog_log_end_offset(p), 5000);
    cr_assert_eq(sk_plog_segment_count(p), 1);
    cr_assert_eq(file_size("00000000000000005000.log"), 0);
    sk_plog_close(p);
}

Test(log, append_checks_offsets_and_framing)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_buf b = {0};
    append_many(p, 3, 1000);

    build(&b, sk_plog_next_offset(p) + 1, 2, 1, 0, 10);
    cr_assert_eq(sk_plog_append(p, b.data, b.len, NOW, NULL), -EILSEQ);
    b.len = 0;
    build(&b, sk_plog_next_offset(p), 2, 1, 0, 10);
    cr_assert_eq(sk_plog_append(p, b.data, b.len - 1, NOW, NULL), -EINVAL);
    /* two batches in one buffer */
    build(&b, sk_plog_next_offset(p) + 2, 3, 1, 0, 10);
    struct sk_plog_append_info info;
    cr_assert_eq(sk_plog_append(p, b.data, b.len, NOW, &info), 0);
    cr_assert_eq(info.batches, 2);
    cr_assert_eq(sk_plog_next_offset(p), info.last_offset + 1);
    /* larger than segment.bytes */
    b.len = 0;
    build(&b, sk_plog_next_offset(p), 8, 1, 0, 1000);
    cr_assert_eq(sk_plog_append(p, b.data, b.len, NOW, NULL), -EMSGSIZE);
    cr_assert_eq(sk_plog_err_to_kafka(-EMSGSIZE), SK_ERR_MESSAGE_TOO_LARGE);
    free(b.data);
    sk_plog_close(p);
}

/* A write cut short by the file size limit behaves as a full disk would. */
Test(log, failed_write_leaves_log_intact)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct rlimit old, lim;
    struct sk_buf b = {0};

    append_many(p, 5, 1000);
    off_t size = file_size("00000000000000000000.log");
    int64_t leo = sk_plog_log_end_offset(p);
    build(&b, leo, 4, 1, 0, 200);

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)size + b.len / 2;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int r = sk_plog_append(p, b.data, b.len, NOW, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(r, -EFBIG, "got %d", r);
    cr_assert_eq(sk_plog_err_to_kafka(r), SK_ERR_KAFKA_STORAGE_ERROR);
    cr_assert_eq(file_size("00000000000000000000.log"), size, "partial write left behind");
    cr_assert_eq(sk_plog_log_end_offset(p), leo);
    check_all_offsets(p, 0);
    cr_assert_eq(sk_plog_append(p, b.data, b.len, NOW, NULL), 0);
    free(b.data);
    sk_plog_close(p);
}

Test(log, flush_protocol)
{
    struct sk_plog_config cfg = small_cfg();
    cfg.flush_messages = 10;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_sync s;

    cr_assert_not(sk_plog_flush_due(p, NOW));
    append_many(p, 2, 1000);
    cr_assert_not(sk_plog_flush_due(p, NOW));
    append_many(p, 40, 1000);
    cr_assert(sk_plog_flush_due(p, NOW));
    int64_t leo = sk_plog_log_end_offset(p);
    while (sk_plog_recovery_point(p) < leo) {
        int n = sk_plog_sync_fds(p, &s);
        cr_assert_gt(n, 0);
        cr_assert_gt(s.upto, sk_plog_recovery_point(p));
        for (int i = 0; i < n; i++)
            cr_assert_eq(fdatasync(s.fds[i]), 0);
        cr_assert_eq(sk_plog_mark_flushed(p, s.upto, NOW), 0);
    }
    cr_assert_eq(sk_plog_sync_fds(p, &s), 0);
    cr_assert_not(sk_plog_flush_due(p, NOW));
    cfg.flush_ms = 1000;
    sk_plog_set_config(p, &cfg);
    append_many(p, 1, 1000);
    cr_assert_not(sk_plog_flush_due(p, NOW + 999));
    cr_assert(sk_plog_flush_due(p, NOW + 1000));
    sk_plog_close(p);
}

/* "fsyncgate": after a failed fdatasync the kernel may have dropped the dirty
 * pages and the next fdatasync of the file succeeds, so a retried sync proves
 * nothing. The failure is injected through skein/fault.h (as the fault
 * harness does); once it is healed, the log must still refuse to call the
 * data durable, and refuse new appends, until it is reopened. */
Test(log, failed_sync_takes_the_log_offline)
{
    char ctl[96];
    snprintf(ctl, sizeof ctl, "%s.fault", root);
    cr_assert_eq(setenv("SKEIN_FAULT_CTL", ctl, 1), 0);
    cr_assert_eq(setenv("SKEIN_FAULT_DIR", root, 1), 0);
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 40, 1000);
    cr_assert_eq(sk_plog_flush_many(&p, 1, NULL, 0, NOW), 0);
    int64_t durable = sk_plog_recovery_point(p);
    append_many(p, 40, 1000);
    int64_t leo = sk_plog_log_end_offset(p);

    FILE *f = fopen(ctl, "w");
    cr_assert_not_null(f);
    fputs("fsync\n", f);
    fclose(f);
    cr_assert_eq(sk_plog_flush_many(&p, 1, NULL, 0, NOW), -EIO);
    cr_assert_eq(unlink(ctl), 0);

    int r = sk_plog_flush_many(&p, 1, NULL, 0, NOW);
    cr_assert_eq(r, -EIO, "a sync after a failed one returned %d", r);
    cr_assert_eq(sk_plog_recovery_point(p), durable, "the unsynced range became durable");
    cr_assert_eq(sk_plog_flush(p, NOW), -EIO);
    struct sk_plog_sync s;
    cr_assert_eq(sk_plog_sync_fds(p, &s), -EIO);
    cr_assert_eq(sk_plog_mark_flushed(p, leo, NOW), -EIO);
    cr_assert_eq(sk_plog_recovery_point(p), durable);
    struct sk_buf b = {0};
    build(&b, leo, 1, NOW, 0, 10);
    r = sk_plog_append(p, b.data, b.len, NOW, NULL);
    cr_assert_eq(sk_plog_err_to_kafka(r), SK_ERR_KAFKA_STORAGE_ERROR, "append gave %d", r);
    cr_assert_eq(sk_plog_log_end_offset(p), leo);
    free(b.data);
    sk_plog_close(p);

    /* a new process recovers whatever the disk holds, and syncs again */
    p = open_log(&cfg, durable, -1, NULL);
    cr_assert_eq(sk_plog_sync_error(p), 0);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    check_all_offsets(p, 0);
    sk_plog_close(p);
}

Test(log, leader_epoch_checkpoint)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_one(p, 3, 1000, 0, 10);  /* 0..2 */
    append_one(p, 3, 1000, 0, 10);  /* 3..5 */
    append_one(p, 2, 1000, 2, 10);  /* 6..7 */
    append_one(p, 2, 1000, 5, 10);  /* 8..9 */
    cr_assert_eq(sk_plog_latest_epoch(p), 5);
    size_t len;
    char *text = slurp("leader-epoch-checkpoint", &len);
    cr_assert_str_eq(text, "0\n3\n0 0\n2 6\n5 8\n");
    free(text);

    int32_t e;
    int64_t end;
    sk_plog_epoch_end_offset(p, 5, &e, &end);
    cr_assert(e == 5 && end == 10);
    sk_plog_epoch_end_offset(p, 3, &e, &end);
    cr_assert(e == 2 && end == 8, "got %d %" PRId64, e, end);
    sk_plog_epoch_end_offset(p, 0, &e, &end);
    cr_assert(e == 0 && end == 6);
    struct sk_plog_time_result t;
    cr_assert_eq(sk_plog_offset_for_time(p, SK_PLOG_EARLIEST_TIMESTAMP, &t), 0);
    cr_assert_eq(t.leader_epoch, 0);

    cr_assert_eq(sk_plog_truncate_to(p, 8), 0);
    text = slurp("leader-epoch-checkpoint", &len);
    cr_assert_str_eq(text, "0\n2\n0 0\n2 6\n");
    free(text);
    cr_assert_eq(sk_plog_delete_records(p, 4), 0);
    text = slurp("leader-epoch-checkpoint", &len);
    cr_assert_str_eq(text, "0\n2\n0 4\n2 6\n");
    free(text);
    sk_plog_close(p);

    /* a lost checkpoint is rebuilt from the batches by recovery */
    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3/leader-epoch-checkpoint", root);
    unlink(path);
    p = open_log(&cfg, -1, 4, NULL);
    cr_assert_eq(sk_plog_latest_epoch(p), 2);
    sk_plog_close(p);
}

Test(log, partition_metadata_and_checkpoints)
{
    struct sk_plog_config cfg = small_cfg();
    uint8_t id[16], got[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 17 + 3);
    struct sk_plog_open_opts o = {.log_dir = root, .topic = "orders", .partition = 3,
                                  .topic_id = id, .recovery_point = -1,
                                  .log_start_offset = -1, .now_ms = NOW};
    struct sk_plog *p;
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), 0);
    cr_assert(sk_plog_topic_id(p, got));
    cr_assert_eq(memcmp(got, id, 16), 0);
    sk_plog_close(p);
    size_t len;
    char *text = slurp("partition.metadata", &len);
    /* 0x03 0x14 0x25 ... in URL-safe base64, no padding */
    cr_assert_str_eq(text, "version: 0\ntopic_id: AxQlNkdYaXqLnK2-z-DxAg");
    free(text);
    id[0] ^= 1;
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), -EEXIST, "another topic's directory");
    o.topic = "bad/name";
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), -EINVAL);

    struct sk_offset_checkpoint_entry e[2] = {{"orders", 3, 1234}, {"a.b_c-d", 0, 0}};
    cr_assert_eq(sk_offset_checkpoint_write(root, SK_RECOVERY_POINT_CHECKPOINT, e, 2), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, SK_RECOVERY_POINT_CHECKPOINT);
    FILE *f = fopen(path, "r");
    char buf[256] = {0};
    cr_assert_gt(fread(buf, 1, sizeof(buf) - 1, f), 0);
    fclose(f);
    cr_assert_str_eq(buf, "0\n2\norders 3 1234\na.b_c-d 0 0\n");
    struct sk_offset_checkpoint_entry *rd;
    size_t n;
    cr_assert_eq(sk_offset_checkpoint_read(root, SK_RECOVERY_POINT_CHECKPOINT, &rd, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(sk_offset_checkpoint_find(rd, n, "orders", 3), 1234);
    cr_assert_eq(sk_offset_checkpoint_find(rd, n, "orders", 4), -1);
    free(rd);
    cr_assert_eq(sk_offset_checkpoint_read(root, SK_LOG_START_OFFSET_CHECKPOINT, &rd, &n), 0);
    cr_assert_eq(n, 0);
    free(rd);
}

/* ---- open files -------------------------------------------------------------- */

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Whether some fd of this process is open on a file named name in the log dir. */
static bool file_is_open(const char *name)
{
    char want[512], link[512], path[600];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    bool found = false;

    snprintf(want, sizeof(want), "%s/orders-3/%s", root, name);
    cr_assert_not_null(d);
    while (!found && (de = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = 0;
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

Test(log, one_fd_per_partition_at_rest)
{
    struct sk_plog_config cfg = small_cfg();
    int before = open_fds();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    char name[64];
    int64_t bases[64];

    append_many(p, 200, 1000);
    cr_assert_gt(sk_plog_segment_count(p), 5);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    cr_assert_eq(open_fds(), before + 1, "%d fds open after the flush, want 1",
                 open_fds() - before);
    int n = list_segments(bases, 64);
    seg_name(name, sizeof(name), bases[n - 1], ".log");
    cr_assert(file_is_open(name), "the active segment's .log is not open");
    /* reads of older segments open them for the moment only */
    check_all_offsets(p, 0);
    cr_assert_eq(open_fds(), before + 1);
    int64_t leo = sk_plog_log_end_offset(p);
    sk_plog_close(p);
    cr_assert_eq(open_fds(), before);

    /* loaded from disk, trusted or recovered: still one */
    p = open_log(&cfg, leo, -1, NULL);
    cr_assert_eq(open_fds(), before + 1);
    check_all_offsets(p, 0);
    sk_plog_close(p);
    struct sk_plog_open_report rep;
    p = open_log(&cfg, 0, -1, &rep);
    cr_assert_eq(rep.segments_recovered, (uint32_t)n);
    cr_assert_eq(sk_plog_log_end_offset(p), leo);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    cr_assert_eq(open_fds(), before + 1);
    sk_plog_close(p);
}

/* A rolled segment keeps its three files open until a sync has them on disk;
 * then they close. */
Test(log, rolled_segment_files_held_until_synced)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_sync s;
    char name[64];

    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    int before = open_fds();
    while (sk_plog_segment_count(p) < 2)
        append_many(p, 1, 1000);
    seg_name(name, sizeof(name), 0, ".log");
    cr_assert(file_is_open(name), "the rolled .log was closed before its sync");
    int n = sk_plog_sync_fds(p, &s);
    /* the first epoch's checkpoint was written lazily: it and the dir join */
    cr_assert_eq(n, 6, "checkpoint, dir, rolled .log + 2 indexes, active .log: got %d", n);
    seg_name(name, sizeof(name), 0, ".index");
    cr_assert(file_is_open(name));
    for (int i = 0; i < n; i++)
        cr_assert_eq(fdatasync(s.fds[i]), 0, "fd %d: %s", i, strerror(errno));
    cr_assert_eq(sk_plog_mark_flushed(p, s.upto, NOW), 0);
    cr_assert_not(file_is_open(name));
    seg_name(name, sizeof(name), 0, ".log");
    cr_assert_not(file_is_open(name));
    cr_assert_eq(open_fds(), before, "%d fds more than before the roll", open_fds() - before);
    sk_plog_close(p);
}

/* A slice owns its fd: a splice still in flight reads the right bytes after the
 * segment it came from has been deleted. */
Test(log, slice_outlives_its_segment)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_slice sl, act;
    uint8_t buf[8192];

    append_many(p, 100, 1000);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    cr_assert_eq(sk_plog_read(p, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    cr_assert_gt(sl.len, 0);
    int64_t leo = sk_plog_log_end_offset(p);
    cr_assert_eq(sk_plog_read(p, ex.base[ex.n - 1], 1 << 20, INT64_MAX, true, &act), 0);
    cr_assert_gt(act.len, 0);
    cr_assert_eq(sk_plog_delete_records(p, leo), 0);
    cr_assert_gt(sk_plog_segment_count(p), 0);
    cr_assert_eq(pread(sl.fd, buf, ex.size[0], (off_t)sl.pos), (ssize_t)ex.size[0]);
    cr_assert_eq(memcmp(buf, ex.bytes[0], ex.size[0]), 0);
    sk_plog_close(p);
    cr_assert_eq(pread(act.fd, buf, ex.size[ex.n - 1], (off_t)act.pos), (ssize_t)ex.size[ex.n - 1]);
    cr_assert_eq(memcmp(buf, ex.bytes[ex.n - 1], ex.size[ex.n - 1]), 0);
    sk_plog_slice_release(&sl);
    sk_plog_slice_release(&act);
    sk_plog_slice_release(&act);
    cr_assert_eq(sl.fd, -1);
}

/* Entries stored through the map reach the file: a reopen that trusts the
 * indexes (below the recovery point) finds every offset and timestamp, and
 * truncation zeroes what it drops. */
Test(log, mapped_index_entries_reach_the_file)
{
    struct sk_plog_config cfg = small_cfg();
    cfg.segment_bytes = 1 << 20;
    cfg.segment_index_bytes = 1 << 20;
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_open_report rep;

    append_many(p, 150, 1000);
    cr_assert_eq(sk_plog_segment_count(p), 1);
    cr_assert_eq(file_size("00000000000000000000.index"), 1 << 20, "not preallocated");
    int64_t leo = sk_plog_log_end_offset(p);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    sk_plog_close(p);
    off_t isz = file_size("00000000000000000000.index");
    cr_assert_gt(isz, 8 * 20, "only %lld bytes of offset index", (long long)isz);
    cr_assert_eq(isz % 8, 0);
    p = open_log(&cfg, leo, -1, &rep);
    cr_assert_eq(rep.segments_recovered + rep.indexes_rebuilt, 0, "the index was not trusted");
    check_all_offsets(p, 0);
    struct sk_plog_time_result tr;
    cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[70], &tr), 0);
    cr_assert_eq(tr.offset, ex.last[70]);
    cr_assert_eq(sk_plog_truncate_to(p, ex.base[75]), 0);
    sk_plog_close(p);
    size_t len;
    uint8_t *idx = (uint8_t *)slurp("00000000000000000000.index", &len);
    for (size_t i = 0; i + 8 <= len; i += 8) {
        int32_t rel = (int32_t)((uint32_t)idx[i] << 24 | (uint32_t)idx[i + 1] << 16 |
                                (uint32_t)idx[i + 2] << 8 | idx[i + 3]);
        cr_assert_lt(rel, ex.base[75], "entry %zu for offset %d survived truncation", i / 8, rel);
    }
    free(idx);
    p = open_log(&cfg, 0, -1, NULL);
    cr_assert_eq(sk_plog_log_end_offset(p), ex.base[75]);
    sk_plog_close(p);
}

/* A new partition's directory and partition.metadata are made durable by its
 * first sync, not while it is created; one torn by a crash before that sync
 * (empty) is written again from the caller's topic id. */
Test(log, new_partition_made_durable_by_first_sync)
{
    struct sk_plog_config cfg = small_cfg();
    uint8_t id[16], got[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 7 + 1);
    struct sk_plog_open_opts o = {.log_dir = root, .topic = "orders", .partition = 3,
                                  .topic_id = id, .recovery_point = -1,
                                  .log_start_offset = -1, .now_ms = NOW};
    struct sk_plog *p;
    struct sk_plog_sync s;
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), 0);
    int n = sk_plog_sync_fds(p, &s);
    cr_assert_eq(n, 3, "log dir, partition.metadata, partition dir: got %d", n);
    cr_assert(file_is_open("partition.metadata"));
    for (int i = 0; i < n; i++)
        cr_assert_eq(fsync(s.fds[i]), 0);
    cr_assert_eq(sk_plog_mark_flushed(p, s.upto, NOW), 0);
    cr_assert_not(file_is_open("partition.metadata"));
    cr_assert_eq(sk_plog_sync_fds(p, &s), 0, "synced twice");
    sk_plog_close(p);

    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3/partition.metadata", root);
    FILE *f = fopen(path, "w");
    fclose(f);
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), 0, "a torn partition.metadata");
    cr_assert(sk_plog_topic_id(p, got));
    cr_assert_eq(memcmp(got, id, 16), 0);
    sk_plog_close(p);
    f = fopen(path, "w");
    fputs("version: 0\ntopic_id: ???", f);
    fclose(f);
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), -EBADMSG, "a damaged one is not torn");
}

/* A new partition's first leader-epoch-checkpoint is written without fsync and
 * synced with the data it describes; torn by a crash, it loads empty and
 * recovery derives the epochs again. Once durable, it is replaced durably. */
Test(log, first_epoch_checkpoint_synced_with_its_data)
{
    struct sk_plog_config cfg = small_cfg();
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    struct sk_plog_sync s;

    append_one(p, 3, 1000, 4, 10);
    cr_assert(file_size("leader-epoch-checkpoint") > 0);
    int n = sk_plog_sync_fds(p, &s);
    cr_assert(file_is_open("leader-epoch-checkpoint"), "not in the sync");
    for (int i = 0; i < n; i++)
        cr_assert_eq(fdatasync(s.fds[i]), 0);
    cr_assert_eq(sk_plog_mark_flushed(p, s.upto, NOW), 0);
    cr_assert_not(file_is_open("leader-epoch-checkpoint"));
    append_one(p, 2, 1000, 6, 10);
    n = sk_plog_sync_fds(p, &s);
    cr_assert_not(file_is_open("leader-epoch-checkpoint"), "a durable checkpoint went lazy");
    cr_assert_eq(n, 1, "got %d fds", n);
    cr_assert_eq(fdatasync(s.fds[0]), 0);
    cr_assert_eq(sk_plog_mark_flushed(p, s.upto, NOW), 0);
    sk_plog_close(p);
    for (int i = 0; i < ex.n; i++)
        free(ex.bytes[i]);
    ex.n = 0;

    /* a new log whose checkpoint a crash left empty */
    char path[512];
    snprintf(path, sizeof(path), "%s/orders-3", root);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    p = open_log(&cfg, -1, -1, NULL);
    append_one(p, 3, 1000, 4, 10);
    append_one(p, 3, 1000, 7, 10);
    sk_plog_close(p);
    snprintf(path, sizeof(path), "%s/orders-3/leader-epoch-checkpoint", root);
    FILE *f = fopen(path, "w");
    fclose(f);
    p = open_log(&cfg, 0, -1, NULL);
    cr_assert_eq(sk_plog_latest_epoch(p), 7);
    int32_t e;
    int64_t end;
    sk_plog_epoch_end_offset(p, 4, &e, &end);
    cr_assert(e == 4 && end == 3, "got %d %" PRId64, e, end);
    sk_plog_close(p);
}

/* Files opened for pending syncs are budgeted across logs: when thousands of
 * new partitions sync at once, the rest wait (-EAGAIN) instead of exhausting
 * the fd limit; a blocking flush is outside the budget. */
Test(log, sync_files_are_budgeted)
{
    enum { N = 400 }; /* 3 files each: over the budget of 1,024 */
    struct sk_plog_config cfg = small_cfg();
    static struct sk_plog *logs[N];
    static struct sk_plog_sync s[N];
    uint8_t id[16] = {1};
    int waiting = 0;

    for (int i = 0; i < N; i++) {
        struct sk_plog_open_opts o = {.log_dir = root, .topic = "many", .partition = i,
                                      .topic_id = id, .recovery_point = -1,
                                      .log_start_offset = -1, .now_ms = NOW};
        cr_assert_eq(sk_plog_open(&o, &cfg, &logs[i], NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        int n = sk_plog_sync_fds(logs[i], &s[i]);
        cr_assert(n == 3 || n == -EAGAIN, "partition %d: %d", i, n);
        waiting += n == -EAGAIN;
    }
    cr_assert_gt(waiting, 0, "every sync opened its files");
    cr_assert_lt(waiting, N);
    cr_assert_eq(sk_plog_flush(logs[N - 1], NOW), 0, "a blocking flush waited for the budget");
    for (int i = 0; i < N; i++) {
        if (s[i].nfds > 0)
            cr_assert_eq(sk_plog_mark_flushed(logs[i], s[i].upto, NOW), 0);
    }
    int n = sk_plog_sync_fds(logs[0], &s[0]);
    cr_assert_eq(n, 0, "partition 0 synced again: %d", n);
    n = sk_plog_sync_fds(logs[N - 2], &s[N - 2]);
    cr_assert_eq(n, 3, "a sync that waited finds room once others completed: %d", n);
    for (int i = 0; i < N; i++)
        sk_plog_close(logs[i]);
}

/* ---- the asynchronous atomic write ------------------------------------------ */

static char *file_text(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    static char buf[4][256];
    static int turn;
    char *out = buf[turn++ % 4];
    size_t n = fread(out, 1, 255, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

struct results {
    int err[8];
    int n;
};

static void record_result(void *arg, int err)
{
    struct results *r = arg;
    r->err[r->n++] = err;
}

static void put_old(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/cp", root);
    FILE *f = fopen(path, "we");
    cr_assert_not_null(f);
    fputs("old", f);
    fclose(f);
}

Test(atomic_writer, renames_after_the_data_sync_and_syncs_the_dir_after, .init = setup,
     .fini = teardown)
{
    struct deferred_syncer ds;
    ds_init(&ds);
    put_old();
    struct sk_atomic_writer *w = sk_atomic_writer_new(&ds.syncer, root);
    struct results res = {0};
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "new", 3, record_result, &res), 0);
    cr_assert_eq(ds_pending(&ds), 1);
    cr_assert(ds.q[0].datasync && !ds.q[0].is_dir, "first the data sync of the temp file");
    cr_assert_str_eq(file_text(root, "cp"), "old", "renamed before its data was synced");
    cr_assert(file_exists(root, "cp.tmp"));
    cr_assert(ds_complete(&ds, 0));
    cr_assert_str_eq(file_text(root, "cp"), "new", "not renamed once the data sync completed");
    cr_assert_eq(ds_pending(&ds), 1);
    cr_assert(ds.q[1].is_dir && !ds.q[1].datasync, "then an fsync of the directory");
    cr_assert_eq(res.n, 0, "done before the rename was durable");
    cr_assert(sk_atomic_writer_busy(w));
    cr_assert(ds_complete(&ds, 0));
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.err[0], 0);
    cr_assert_not(sk_atomic_writer_busy(w));
    cr_assert_not(file_exists(root, "cp.tmp"));
    sk_atomic_writer_free(w);
}

Test(atomic_writer, failed_data_sync_leaves_the_old_file, .init = setup, .fini = teardown)
{
    struct deferred_syncer ds;
    ds_init(&ds);
    put_old();
    struct sk_atomic_writer *w = sk_atomic_writer_new(&ds.syncer, root);
    struct results res = {0};
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "new", 3, record_result, &res), 0);
    cr_assert(ds_complete(&ds, -EIO));
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.err[0], -EIO);
    cr_assert_eq(ds_pending(&ds), 0, "went on to sync the directory after a failed data sync");
    cr_assert_str_eq(file_text(root, "cp"), "old");
    cr_assert_not(file_exists(root, "cp.tmp"), "the unsynced temp file stays behind");
    /* A sync the syncer refuses to start fails the same way, at once. */
    ds.refuse = -EAGAIN;
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "newer", 5, record_result, &res), 0);
    cr_assert_eq(res.n, 2);
    cr_assert_eq(res.err[1], -EAGAIN);
    cr_assert_str_eq(file_text(root, "cp"), "old");
    sk_atomic_writer_free(w);
}

Test(atomic_writer, newer_requests_supersede_waiting_ones_in_order, .init = setup,
     .fini = teardown)
{
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_atomic_writer *w = sk_atomic_writer_new(&ds.syncer, root);
    struct results a = {0}, b = {0}, c = {0};
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "A", 1, record_result, &a), 0);
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "B", 1, record_result, &b), 0);
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "C", 1, record_result, &c), 0);
    cr_assert_eq(ds_pending(&ds), 1, "a second write started beside the first");
    ds_complete(&ds, 0);
    cr_assert_str_eq(file_text(root, "cp"), "A");
    ds_complete(&ds, 0);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(b.n + c.n, 0, "a waiting write reported before it was done");
    cr_assert_eq(ds_pending(&ds), 1, "the waiting write did not start after the first");
    ds_complete(&ds, 0);
    cr_assert_str_eq(file_text(root, "cp"), "C", "B was written after the newer C, or C lost");
    ds_complete(&ds, 0);
    cr_assert_eq(ds.n, 4, "the superseded B was written: %d syncs", ds.n);
    cr_assert_eq(b.n, 1, "the superseded write was never answered");
    cr_assert_eq(c.n, 1);
    cr_assert_eq(b.err[0], 0);
    sk_atomic_writer_free(w);
}

Test(atomic_writer, freed_in_flight_completes_without_calling_back, .init = setup,
     .fini = teardown)
{
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_atomic_writer *w = sk_atomic_writer_new(&ds.syncer, root);
    struct results a = {0}, b = {0};
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "A", 1, record_result, &a), 0);
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "B", 1, record_result, &b), 0);
    sk_atomic_writer_free(w);
    ds_complete_all(&ds, 0);
    cr_assert_eq(a.n + b.n, 0);
    cr_assert_str_eq(file_text(root, "cp"), "A");
    cr_assert_eq(ds.n, 2, "the dropped waiting write was started");
}

Test(atomic_writer, blocking_write_is_the_same_steps, .init = setup, .fini = teardown)
{
    put_old();
    struct sk_atomic_writer *w = sk_atomic_writer_new(NULL, root);
    struct results res = {0};
    cr_assert_eq(sk_atomic_writer_write(w, "cp", "new", 3, record_result, &res), 0);
    cr_assert_eq(res.n, 1, "the blocking syncer did not complete before returning");
    cr_assert_eq(res.err[0], 0);
    cr_assert_str_eq(file_text(root, "cp"), "new");
    sk_atomic_writer_free(w);
}

/* Once the checkpoint is durable, a new epoch's rewrite goes through the
 * log's syncer: the append does not wait, the old file stays until the new
 * one is synced, and a failed rewrite is written again by the next flush. */
Test(log, durable_epoch_checkpoint_rewritten_through_the_syncer)
{
    struct sk_plog_config cfg = small_cfg();
    struct deferred_syncer ds;
    ds_init(&ds);
    struct sk_plog_open_opts o = {.log_dir = root, .topic = "orders", .partition = 3,
                                  .recovery_point = -1, .log_start_offset = -1, .now_ms = NOW,
                                  .syncer = &ds.syncer};
    struct sk_plog *p = NULL;
    cr_assert_eq(sk_plog_open(&o, &cfg, &p, NULL), 0);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/orders-3", root);
    append_one(p, 3, 1000, 4, 10);
    cr_assert_eq(sk_plog_flush(p, NOW), 0); /* the first file, synced with its data */
    cr_assert_eq(ds_pending(&ds), 0);
    cr_assert_str_eq(file_text(dir, "leader-epoch-checkpoint"), "0\n1\n4 0\n");
    append_one(p, 2, 1000, 6, 10);
    cr_assert_eq(ds_pending(&ds), 1, "the rewrite did not go to the syncer");
    cr_assert_str_eq(file_text(dir, "leader-epoch-checkpoint"), "0\n1\n4 0\n");
    ds_complete_all(&ds, -EIO);
    cr_assert_str_eq(file_text(dir, "leader-epoch-checkpoint"), "0\n1\n4 0\n");
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    cr_assert_eq(ds_pending(&ds), 1, "the failed rewrite was not retried by the next flush");
    ds_complete_all(&ds, 0);
    cr_assert_str_eq(file_text(dir, "leader-epoch-checkpoint"), "0\n2\n4 0\n6 3\n");
    sk_plog_close(p);
}

/* Entries [from, to) of an index file, as big-endian words: whether each
 * holds an entry (non-zero) or is still the file's zeros. */
static int index_entries_present(const char *suffix, size_t esize, size_t from, size_t to)
{
    char name[64];
    size_t len;
    int present = 0;
    seg_name(name, sizeof(name), 0, suffix);
    uint8_t *ix = (uint8_t *)slurp(name, &len);
    for (size_t e = from; e < to && (e + 1) * esize <= len; e++) {
        bool zero = true;
        for (size_t k = 0; k < esize; k++)
            zero &= ix[e * esize + k] == 0;
        present += !zero;
    }
    free(ix);
    return present;
}

/* New index entries are written a page of them at a time (pwrite), not
 * stored through the mapping on every append: lookups still see every entry,
 * truncation drops buffered and written ones alike, a close writes the rest,
 * and a crash loses only buffered ones, leaving a valid prefix the next open
 * trusts. */
Test(log, index_entries_written_by_the_page)
{
    struct sk_plog_config cfg = small_cfg();
    cfg.segment_bytes = 1 << 20;
    cfg.segment_index_bytes = 1 << 16; /* read whole by slurp, which holds < 1 MiB */
    cfg.index_interval_bytes = 0;      /* an entry per batch */
    struct sk_plog *p = open_log(&cfg, -1, -1, NULL);
    append_many(p, 400, 1000);
    cr_assert_eq(sk_plog_segment_count(p), 1);
    /* 399 entries each (none for the batch at position 0), written once a
     * page's worth (4,096 bytes) is buffered: 342 time index entries of 12
     * bytes, and none of the offset index (512 entries of 8 bytes) */
    cr_assert_eq(index_entries_present(".timeindex", 12, 0, 400), 342);
    cr_assert_eq(index_entries_present(".index", 8, 0, 400), 0);
    check_all_offsets(p, 0);
    struct sk_plog_time_result tr;
    cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[380], &tr), 0);
    cr_assert_eq(tr.offset, ex.last[380]);

    /* truncation inside the buffer, then below what the file holds */
    cr_assert_eq(sk_plog_truncate_to(p, ex.base[390]), 0);
    check_all_offsets(p, 0);
    cr_assert_eq(sk_plog_truncate_to(p, ex.base[300]), 0);
    cr_assert_eq(index_entries_present(".timeindex", 12, 299, 400), 0, "truncated entries stay");
    cr_assert_eq(index_entries_present(".timeindex", 12, 0, 299), 299);
    while (ex.n > 300)
        free(ex.bytes[--ex.n]);
    check_all_offsets(p, 0);
    cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[250], &tr), 0);
    cr_assert_eq(tr.offset, ex.last[250]);
    append_many(p, 50, 100000);
    int64_t leo = sk_plog_log_end_offset(p);
    cr_assert_eq(sk_plog_flush(p, NOW), 0);
    sk_plog_close(p);
    cr_assert_eq(file_size("00000000000000000000.index"), 349 * 8);

    struct sk_plog_open_report rep;
    p = open_log(&cfg, leo, -1, &rep);
    cr_assert_eq(rep.segments_recovered + rep.indexes_rebuilt, 0, "the index was not trusted");
    check_all_offsets(p, 0);

    sk_plog_close(p);

    /* a crash: a child process opens the log, appends, syncs the data and
     * dies without closing it, so its buffered index entries are lost */
    int before = ex.n;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct sk_plog_open_opts o = {.log_dir = root, .topic = "orders", .partition = 3,
                                      .recovery_point = leo, .log_start_offset = -1, .now_ms = NOW};
        struct sk_plog *c = NULL;
        if (sk_plog_open(&o, &cfg, &c, NULL) < 0)
            _exit(2);
        for (int i = 0; i < 60; i++) {
            struct sk_buf b = {0};
            build(&b, sk_plog_next_offset(c), 2, 200000 + 10 * i, 0, 60);
            if (sk_plog_append(c, b.data, b.len, NOW, NULL) < 0 || sk_plog_flush(c, NOW) < 0)
                _exit(1);
            free(b.data);
        }
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    for (int i = 0; i < 60; i++) { /* what the child appended, for check_all_offsets */
        cr_assert_lt(ex.n, MAXB);
        struct sk_buf b = {0};
        int64_t base = ex.last[ex.n - 1] + 1;
        build(&b, base, 2, 200000 + 10 * i, 0, 60);
        ex.base[ex.n] = base;
        ex.last[ex.n] = base + 1;
        ex.ts[ex.n] = 200000 + 10 * i + 1;
        ex.bytes[ex.n] = b.data;
        ex.size[ex.n] = b.len;
        ex.n++;
    }
    leo = ex.last[ex.n - 1] + 1;
    /* the files hold the entries of the clean close, a valid prefix, and the
     * open trusts it and finds the rest by reading past its last entry */
    p = open_log(&cfg, leo, -1, &rep);
    cr_assert_eq(sk_plog_log_end_offset(p), leo, "after the crash: %" PRId64 " of %" PRId64,
                 sk_plog_log_end_offset(p), leo);
    cr_assert_eq(rep.segments_recovered + rep.indexes_rebuilt, 0, "the index prefix was not trusted");
    check_all_offsets(p, ex.base[before]);
    cr_assert_eq(sk_plog_offset_for_time(p, ex.ts[ex.n - 5], &tr), 0);
    cr_assert_eq(tr.offset, ex.last[ex.n - 5]);
    sk_plog_close(p);
}
