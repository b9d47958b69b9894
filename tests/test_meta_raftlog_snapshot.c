/* The metadata log's snapshot operations on real files: a leader's
 * checkpoint served in chunks, a follower writing them to a .part and
 * installing it in place of its log (and keeping it across a restart), a
 * corrupt or cut snapshot refused and dropped, and the log deleted below
 * snapshots by metadata.max.retention.bytes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen/kp_all.h"

#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/meta_raftlog.h"
#include "skein/meta_snapshot.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/raft.h"
#include "skein/record.h"

static char base[256];

static void setup(void)
{
    snprintf(base, sizeof base, "/tmp/skein-raftsnap-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    cr_assert_eq(system(cmd), 0);
}

struct node {
    char dir[300];
    struct sk_meta_image img;
    struct sk_metalog *ml;
    struct sk_meta_raftlog *log;
    struct sk_raft_config cfg;
};

static void node_open(struct node *n, const char *name)
{
    snprintf(n->dir, sizeof n->dir, "%s/%s", base, name);
    mkdir(n->dir, 0755);
    sk_meta_image_init(&n->img);
    cr_assert_eq(sk_metalog_open(n->dir, &n->img, 1000, &n->ml), 0);
    struct sk_meta_raftlog_config c = {.node_id = 1, .voters = {1, 2, 3}, .n_voters = 3};
    cr_assert_eq(sk_meta_raftlog_new(n->ml, &c, &n->log), 0);
    memset(&n->cfg, 0, sizeof n->cfg);
    sk_meta_raftlog_bind(n->log, &n->cfg);
}

static void node_close(struct node *n)
{
    sk_meta_raftlog_free(n->log);
    sk_metalog_close(n->ml);
    sk_meta_image_free(&n->img);
}

static const char *mdir(struct node *n)
{
    return sk_plog_dir(sk_metalog_plog(n->ml));
}

static void append(struct node *n, int32_t epoch, int64_t pid)
{
    struct sk_raft_batch rb = {.base_offset = n->cfg.log.end_offset(n->cfg.log_ctx),
                               .epoch = epoch, .count = 1};
    struct sk_buf b = {0};
    if (pid < 0) {
        rb.kind = SK_RAFT_BATCH_LEADER_CHANGE;
    } else {
        kp_producer_ids_record r;
        kp_producer_ids_record_init(&r);
        r.broker_id = 1;
        r.next_producer_id = pid;
        struct sk_meta_rec rec = {SK_META_PRODUCER_IDS, 0, &r};
        cr_assert_eq(sk_metalog_encode(&rec, 1, 0, 1000, &b), 0);
        rb.kind = SK_RAFT_BATCH_DATA;
        rb.data = b.data;
        rb.len = b.len;
    }
    cr_assert_eq(n->cfg.log.append(n->cfg.log_ctx, &rb), 0);
    sk_buf_free(&b);
}

static void written(void *arg, int err)
{
    *(int *)arg = err;
}

/* The leader: offsets 0..5 in epochs 1 and 3 (next producer id 40), a
 * snapshot of all of it, and its log deleted below the snapshot. */
static void leader_with_snapshot(struct node *l)
{
    node_open(l, "leader");
    append(l, 1, -1);
    append(l, 1, 10);
    append(l, 1, 20);
    append(l, 3, -1);
    append(l, 3, 30);
    append(l, 3, 40);
    node_close(l);
    node_open(l, "leader"); /* the image replayed: last offset 5 */
    cr_assert_eq(l->img.last_offset, 5);
    struct sk_atomic_writer *aw = sk_atomic_writer_new(NULL, mdir(l));
    int err = 1;
    cr_assert_eq(sk_meta_snapshot_write_async(aw, &l->img, 3, 1000, written, &err), 0);
    cr_assert_eq(err, 0);
    sk_atomic_writer_free(aw);
    cr_assert_eq(sk_meta_snapshot_clean(sk_metalog_plog(l->ml), 0, -1, 1000), 1);
    cr_assert_eq(l->cfg.log.start_offset(l->cfg.log_ctx), 6);
}

/* The whole snapshot id names, read in chunks of step bytes. */
static size_t read_all(struct node *l, const struct sk_raft_snapshot_id *id, size_t step,
                       uint8_t *out, size_t cap)
{
    size_t got = 0;
    int64_t size = -1;
    for (;;) {
        size_t n = 0;
        cr_assert_eq(l->cfg.log.snapshot_read(l->cfg.log_ctx, id, (int64_t)got, out + got,
                                              step < cap - got ? step : cap - got, &n, &size), 0);
        got += n;
        if (n == 0 || (int64_t)got == size)
            break;
    }
    cr_assert_eq((int64_t)got, size);
    return got;
}

static void write_all(struct node *f, const struct sk_raft_snapshot_id *id, const uint8_t *p,
                      size_t len, size_t step)
{
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        cr_assert_eq(f->cfg.log.snapshot_write(f->cfg.log_ctx, id, (int64_t)at, p + at, n), 0);
    }
}

static int count_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        n += l >= sl && strcmp(de->d_name + l - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

static void expect_end_for(struct node *n, int32_t epoch, int32_t want_epoch, int64_t want_end)
{
    int32_t e;
    int64_t end;
    n->cfg.log.end_for_epoch(n->cfg.log_ctx, epoch, &e, &end);
    cr_expect_eq(e, want_epoch, "end_for_epoch(%d): epoch %d, want %d", epoch, e, want_epoch);
    cr_expect_eq(end, want_end, "end_for_epoch(%d): end %lld", epoch, (long long)end);
}

Test(meta_raftlog_snapshot, served_in_chunks_installed_and_kept_across_a_restart,
     .init = setup, .fini = teardown)
{
    struct node l, f;
    leader_with_snapshot(&l);
    struct sk_raft_snapshot_id id;
    cr_assert_eq(l.cfg.log.snapshot_latest(l.cfg.log_ctx, &id), 0);
    cr_expect_eq(id.end_offset, 6);
    cr_expect_eq(id.epoch, 3, "named by the epoch of its last record");
    /* The leader's own log below its start is gone: epochs there end where
     * the snapshot does. */
    struct sk_raft_snapshot_id other = {6, 2};
    uint8_t buf[1 << 16];
    size_t n;
    int64_t size;
    cr_expect_eq(l.cfg.log.snapshot_read(l.cfg.log_ctx, &other, 0, buf, 10, &n, &size), -ENOENT);
    size_t len = read_all(&l, &id, 97, buf, sizeof buf);

    /* A follower with a log of its own, behind and diverged. */
    node_open(&f, "follower");
    append(&f, 1, -1);
    append(&f, 1, 7);
    write_all(&f, &id, buf, len, 97);
    cr_expect_eq(count_suffix(mdir(&f), ".checkpoint.part"), 1);
    cr_expect_eq(f.cfg.log.end_offset(f.cfg.log_ctx), 2, "the log stays until the install");
    cr_assert_eq(f.cfg.log.snapshot_install(f.cfg.log_ctx, &id), 0);
    cr_expect_eq(count_suffix(mdir(&f), ".checkpoint.part"), 0);
    cr_expect_eq(count_suffix(mdir(&f), ".checkpoint"), 1);
    cr_expect_eq(f.cfg.log.start_offset(f.cfg.log_ctx), 6);
    cr_expect_eq(f.cfg.log.end_offset(f.cfg.log_ctx), 6);
    cr_expect_eq(f.cfg.log.last_epoch(f.cfg.log_ctx), 3, "the epoch cache starts anew");
    expect_end_for(&f, 3, 3, 6);
    expect_end_for(&f, 5, 3, 6);
    expect_end_for(&f, 2, -1, 0);
    /* What it now holds it serves, byte for byte. */
    uint8_t again[1 << 16];
    cr_expect_eq(read_all(&f, &id, 1 << 15, again, sizeof again), len);
    cr_expect_eq(memcmp(buf, again, len), 0);
    append(&f, 4, -1);
    append(&f, 4, 50);
    node_close(&f);
    /* A restart loads the image from the snapshot, then the log above it. */
    node_open(&f, "follower");
    cr_expect_eq(f.cfg.log.start_offset(f.cfg.log_ctx), 6);
    cr_expect_eq(f.cfg.log.end_offset(f.cfg.log_ctx), 8);
    cr_expect_eq(f.img.next_producer_id, 50);
    cr_expect_eq(f.img.last_offset, 7);
    expect_end_for(&f, 3, 3, 6);
    node_close(&f);
    node_close(&l);
}

static void refused(struct node *f, const struct sk_raft_snapshot_id *id, const uint8_t *p,
                    size_t len)
{
    write_all(f, id, p, len, 64);
    cr_expect_eq(f->cfg.log.snapshot_install(f->cfg.log_ctx, id), -EBADMSG);
    cr_expect_eq(count_suffix(mdir(f), ".checkpoint.part"), 0, "a bad part is dropped");
    cr_expect_eq(count_suffix(mdir(f), ".checkpoint"), 0, "and never installed");
    cr_expect_eq(f->cfg.log.end_offset(f->cfg.log_ctx), 2, "the log is as it was");
    cr_expect_eq(f->cfg.log.start_offset(f->cfg.log_ctx), 0);
}

Test(meta_raftlog_snapshot, a_corrupt_or_cut_snapshot_is_refused_and_dropped, .init = setup,
     .fini = teardown)
{
    struct node l, f;
    leader_with_snapshot(&l);
    struct sk_raft_snapshot_id id;
    cr_assert_eq(l.cfg.log.snapshot_latest(l.cfg.log_ctx, &id), 0);
    uint8_t buf[1 << 16];
    size_t len = read_all(&l, &id, 4096, buf, sizeof buf);
    node_open(&f, "follower");
    append(&f, 1, -1);
    append(&f, 1, 7);
    /* A flipped byte in a record: the batch's CRC no longer matches. */
    buf[len / 2] ^= 0x40;
    refused(&f, &id, buf, len);
    buf[len / 2] ^= 0x40;
    /* Cut before its footer. */
    refused(&f, &id, buf, len - 20);
    /* A chunk out of place is refused as it comes. */
    cr_expect_eq(f.cfg.log.snapshot_write(f.cfg.log_ctx, &id, 0, buf, 100), 0);
    cr_expect_eq(f.cfg.log.snapshot_write(f.cfg.log_ctx, &id, 200, buf, 100), -EINVAL);
    /* Taken whole afterwards, it installs. */
    write_all(&f, &id, buf, len, 1000);
    cr_expect_eq(f.cfg.log.snapshot_install(f.cfg.log_ctx, &id), 0);
    cr_expect_eq(f.cfg.log.start_offset(f.cfg.log_ctx), 6);
    node_close(&f);
    node_open(&f, "follower");
    cr_expect_eq(f.img.next_producer_id, 40);
    node_close(&f);
    node_close(&l);
}

Test(meta_raftlog_snapshot, the_log_goes_below_snapshots_by_the_retention_limits,
     .init = setup, .fini = teardown)
{
    struct node l;
    node_open(&l, "leader");
    for (int i = 0; i < 4; i++)
        append(&l, 1, 10 * (i + 1));
    node_close(&l);
    node_open(&l, "leader");
    struct sk_plog *p = sk_metalog_plog(l.ml);
    struct sk_atomic_writer *aw = sk_atomic_writer_new(NULL, mdir(&l));
    int err = 1;
    cr_assert_eq(sk_meta_snapshot_write_async(aw, &l.img, 1, 1000, written, &err), 0);
    cr_assert_eq(err, 0);
    /* Within the byte limit, and no age limit: everything is kept. */
    cr_expect_eq(sk_meta_snapshot_clean(p, 1 << 30, -1, 1000), 0);
    cr_expect_eq(sk_plog_log_start_offset(p), 0);
    append(&l, 1, 50);
    append(&l, 1, 60);
    sk_meta_image_free(&l.img);
    node_close(&l);
    node_open(&l, "leader");
    p = sk_metalog_plog(l.ml);
    cr_assert_eq(sk_meta_snapshot_write_async(aw, &l.img, 1, 2000, written, &err), 0);
    cr_assert_eq(err, 0);
    cr_expect_eq(count_suffix(mdir(&l), ".checkpoint"), 2);
    /* Over the byte limit: the log below the first snapshot goes, then the
     * first snapshot and the log below the second; the newest stays. */
    cr_expect_eq(sk_meta_snapshot_clean(p, 1, -1, 2000), 2);
    cr_expect_eq(sk_plog_log_start_offset(p), 6);
    cr_expect_eq(count_suffix(mdir(&l), ".checkpoint"), 1);
    cr_expect_eq(sk_meta_snapshot_clean(p, 1, -1, 2000), 0, "the newest is always kept");
    sk_atomic_writer_free(aw);
    node_close(&l);
    node_open(&l, "leader");
    cr_expect_eq(l.img.next_producer_id, 60);
    node_close(&l);
}
