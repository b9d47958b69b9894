/* Producer state snapshots in Kafka's format (ProducerStateManager, v1):
 * int16 version, uint32 CRC-32C of what follows, int32 count, then per
 * producer: id int64, epoch int16, last sequence int32, last offset int64,
 * offset delta int32, timestamp int64, coordinator epoch int32, current
 * transaction first offset int64. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kp_rt.h"
#include "skein/atomic_writer.h"
#include "skein/buf.h"
#include "skein/logging.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"

#define SNAP_VERSION 1
#define SNAP_ENTRY 46
#define SNAP_KEEP 2

static int64_t snapshot_offset(const char *name)
{
    size_t n = strlen(name);
    if (n != 29 || strcmp(name + 20, ".snapshot") != 0)
        return -1;
    return strtoll(name, NULL, 10);
}

/* Largest snapshot offset <= limit; removes snapshots past the log end
 * (left by a truncation) and all but the newest SNAP_KEEP. */
static int64_t pick_snapshot(const char *dir, int64_t limit)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int64_t best = -1, offs[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t off = snapshot_offset(de->d_name);
        if (off < 0)
            continue;
        if (off > limit) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
            continue;
        }
        if (n < 256)
            offs[n++] = off;
        if (off > best)
            best = off;
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++)
            newer += offs[j] > offs[i];
        if (newer >= SNAP_KEEP) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%020" PRId64 ".snapshot", dir, offs[i]);
            unlink(path);
        }
    }
    return best;
}

static void put_entry(uint8_t *p, const struct sk_producer_info *pi, int32_t delta)
{
    kp_writer w;
    kp_writer_init(&w, p, SNAP_ENTRY);
    kp_write_i64(&w, pi->producer_id);
    kp_write_i16(&w, pi->epoch);
    kp_write_i32(&w, pi->last_sequence);
    kp_write_i64(&w, pi->last_offset);
    kp_write_i32(&w, delta);
    kp_write_i64(&w, pi->last_timestamp);
    kp_write_i32(&w, -1);
    kp_write_i64(&w, -1);
}

static size_t snapshot_encode(struct sk_partition *p, uint8_t **out)
{
    int n = sk_producer_count(p);
    size_t len = 10 + (size_t)n * SNAP_ENTRY;
    uint8_t *buf = malloc(len);
    if (!buf)
        return 0;
    buf[0] = 0;
    buf[1] = SNAP_VERSION;
    for (int i = 0; i < n; i++) {
        struct sk_producer_info pi;
        sk_producer_at(p, i, &pi);
        put_entry(buf + 10 + (size_t)i * SNAP_ENTRY, &pi, 0);
    }
    kp_writer w;
    kp_writer_init(&w, buf + 6, 4);
    kp_write_i32(&w, n);
    kp_writer_init(&w, buf + 2, 4);
    kp_write_u32(&w, sk_crc32c(0, buf + 6, len - 6));
    *out = buf;
    return len;
}

/* As Kafka's takeSnapshot, nothing is written when a snapshot at the log end
 * already exists: producer state changes only with appends, so it is this
 * one (a restart followed by a stop writes nothing). */
int sk_producer_snapshot_write(struct sk_partition *p, struct sk_snapshot_write *sw, bool sync)
{
    sw->fd = -1;
    snprintf(sw->path, sizeof sw->path, "%s/%020" PRId64 ".snapshot", sk_plog_dir(p->log),
             sk_plog_log_end_offset(p->log));
    snprintf(sw->tmp, sizeof sw->tmp, "%s.tmp", sw->path);
    if (access(sw->path, F_OK) == 0)
        return 0;
    uint8_t *buf;
    size_t len = snapshot_encode(p, &buf);
    if (len == 0)
        return -ENOMEM;
    int fd = open(sw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && sync)
        sk_sync_count(SK_SYNC_SNAPSHOT, 1);
    if (rc == 0 && (write(fd, buf, len) != (ssize_t)len || (sync && fdatasync(fd) < 0)))
        rc = -EIO;
    free(buf);
    if (rc < 0 && fd >= 0)
        close(fd);
    sw->fd = rc == 0 ? fd : -1;
    return rc;
}

int sk_producer_snapshot_commit(struct sk_snapshot_write *sw)
{
    if (sw->fd < 0)
        return 0;
    close(sw->fd);
    sw->fd = -1;
    return rename(sw->tmp, sw->path) < 0 ? -errno : 0;
}

int sk_producer_state_snapshot(struct sk_partition *p)
{
    struct sk_snapshot_write sw;
    int rc = sk_producer_snapshot_write(p, &sw, true);
    return rc < 0 ? rc : sk_producer_snapshot_commit(&sw);
}

static void snapshot_done(void *arg, int err)
{
    struct sk_partition *p = arg;
    if (err < 0)
        sk_warn("%s-%d: cannot write a producer state snapshot: %s", p->topic, p->id,
                strerror(-err));
}

/* A missing or failed snapshot costs only a longer scan at the next load,
 * which rebuilds producer state from the log after the newest snapshot that
 * made it to disk; so the append that rolled goes on without waiting. */
int sk_producer_snapshot_async(struct sk_partition *p, const struct sk_syncer *syncer)
{
    const char *dir = sk_plog_dir(p->log);
    char name[32], path[4400];
    snprintf(name, sizeof name, "%020" PRId64 ".snapshot", sk_plog_log_end_offset(p->log));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (access(path, F_OK) == 0)
        return 0;
    if (!p->snapshots) {
        if (!(p->snapshots = sk_atomic_writer_new(syncer, dir)))
            return -ENOMEM;
        sk_atomic_writer_count_as(p->snapshots, SK_SYNC_SNAPSHOT);
    }
    uint8_t *buf;
    size_t len = snapshot_encode(p, &buf);
    if (len == 0)
        return -ENOMEM;
    int rc = sk_atomic_writer_write(p->snapshots, name, buf, len, snapshot_done, p);
    free(buf);
    return rc;
}

static int load_snapshot(struct sk_partition *p, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t head[10];
    int rc = fread(head, 1, 10, f) == 10 ? 0 : -EBADMSG;
    int32_t n = rc == 0 ? (int32_t)kp_be32(head + 6) : 0;
    if (rc == 0 && (kp_be16(head) != SNAP_VERSION || n < 0 || n > 10000000))
        rc = -EBADMSG;
    uint8_t *body = rc == 0 ? malloc((size_t)n * SNAP_ENTRY + 4) : NULL;
    if (rc == 0 && (!body || fread(body + 4, SNAP_ENTRY, (size_t)n, f) != (size_t)n))
        rc = -EBADMSG;
    if (rc == 0) {
        memcpy(body, head + 6, 4);
        if (sk_crc32c(0, body, (size_t)n * SNAP_ENTRY + 4) != kp_be32(head + 2))
            rc = -EBADMSG;
    }
    for (int32_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *e = body + 4 + (size_t)i * SNAP_ENTRY;
        int32_t last_seq = (int32_t)kp_be32(e + 10), delta = (int32_t)kp_be32(e + 22);
        int64_t last_off = (int64_t)kp_be64(e + 14);
        struct sk_batch_header h = {
            .producer_id = (int64_t)kp_be64(e), .producer_epoch = (int16_t)kp_be16(e + 8),
            .base_sequence = last_seq - delta, .last_offset_delta = delta,
            .base_offset = last_off - delta, .max_timestamp = (int64_t)kp_be64(e + 26)};
        sk_producer_update(p, &h, h.max_timestamp);
    }
    free(body);
    fclose(f);
    return rc;
}

static int scan_batches(struct sk_partition *p, int64_t from)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    int64_t end = sk_plog_log_end_offset(p->log);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0 && from < end) {
        size_t len = 0;
        rc = sk_plog_read_copy(p->log, from, (uint32_t)cap, INT64_MAX, buf, cap, &len);
        if (rc == 0 && len == 0)
            break; /* nothing left below the end: compaction removed the tail */
        if (rc == -ENOBUFS) { /* one batch larger than the buffer */
            uint8_t *nb = realloc(buf, cap * 2);
            rc = nb ? 0 : -ENOMEM;
            buf = nb ? nb : buf;
            cap *= 2;
            continue;
        }
        for (size_t off = 0; rc == 0 && off < len;) {
            struct sk_batch_header h;
            if (sk_batch_header_read(buf + off, len - off, &h) < 0)
                break;
            sk_producer_update(p, &h, h.max_timestamp);
            from = h.base_offset + h.last_offset_delta + 1;
            off += sk_batch_size(&h);
        }
    }
    free(buf);
    return rc;
}

void sk_producer_state_load(struct sk_partition *p)
{
    const char *dir = sk_plog_dir(p->log);
    int64_t start = sk_plog_log_start_offset(p->log);
    int64_t snap = pick_snapshot(dir, sk_plog_log_end_offset(p->log));
    if (snap >= start) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%020" PRId64 ".snapshot", dir, snap);
        if (load_snapshot(p, path) < 0) {
            sk_warn("%s: damaged producer snapshot ignored, rebuilding from the log", path);
            sk_producer_state_free(p);
            snap = -1;
        }
    }
    if (scan_batches(p, snap >= start ? snap : start) < 0)
        sk_warn("%s-%d: producer state rebuilt only partly", p->topic, p->id);
    /* As Kafka's loadFromSnapshot: producers already expired are not kept. */
    if (p->broker && p->broker->cfg)
        sk_producer_expire(p, sk_wall_ms(), p->broker->cfg->txn.producer_id_expiration_ms);
}
