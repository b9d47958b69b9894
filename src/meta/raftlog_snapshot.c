/* Snapshot files for the Raft core (raftlog_snapshot.h). */
#include "raftlog_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/meta.h"
#include "skein/meta_snapshot.h"
#include "skein/record.h"

#define PATH_LEN 4400

static void file_path(char *out, const char *dir, const struct sk_raft_snapshot_id *id,
                      bool part)
{
    snprintf(out, PATH_LEN, "%s/%020" PRId64 "-%010d.checkpoint%s", dir, id->end_offset,
             id->epoch, part ? ".part" : "");
}

int sk_snap_file_latest(const char *dir, struct sk_raft_snapshot_id *id)
{
    int32_t epoch = 0;
    int64_t end = sk_meta_snapshot_latest_id(dir, INT64_MAX, &epoch);
    if (end < 0)
        return -ENOENT;
    *id = (struct sk_raft_snapshot_id){.end_offset = end, .epoch = epoch};
    return 0;
}

int sk_snap_file_read(const char *dir, const struct sk_raft_snapshot_id *id, int64_t pos,
                      uint8_t *buf, size_t max, size_t *n, int64_t *size)
{
    char path[PATH_LEN];
    file_path(path, dir, id, false);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    *n = 0;
    if (rc == 0) {
        *size = st.st_size;
        ssize_t got = pos < st.st_size ? pread(fd, buf, max, pos) : 0;
        if (got < 0)
            rc = -errno;
        else
            *n = (size_t)got;
    }
    close(fd);
    return rc;
}

void sk_snap_part_drop(const char *dir, struct sk_snap_part *part)
{
    if (part->fd < 0)
        return;
    close(part->fd);
    part->fd = -1;
    char path[PATH_LEN];
    file_path(path, dir, &part->id, true);
    unlink(path);
}

static int write_all(int fd, const uint8_t *p, size_t len, int64_t at)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        len -= (size_t)w;
        at += w;
    }
    return 0;
}

int sk_snap_part_write(const char *dir, struct sk_snap_part *part,
                       const struct sk_raft_snapshot_id *id, int64_t pos, const uint8_t *data,
                       size_t len)
{
    if (pos == 0) {
        sk_snap_part_drop(dir, part);
        char path[PATH_LEN];
        file_path(path, dir, id, true);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
        *part = (struct sk_snap_part){.fd = fd, .id = *id};
    }
    if (part->fd < 0 || pos != part->len || part->id.end_offset != id->end_offset ||
        part->id.epoch != id->epoch)
        return -EINVAL;
    int rc = write_all(part->fd, data, len, pos);
    if (rc == 0)
        part->len += (int64_t)len;
    return rc;
}

/* Every batch whole and intact, the header and footer control batches at
 * the ends, and every metadata record decoding and applying to an image,
 * so that what is installed loads at the next start. */
static int check_snapshot(const uint8_t *p, size_t len)
{
    const uint8_t *q = p;
    size_t left = len;
    bool first = true, last_control = false;
    while (left > 0) {
        struct sk_batch_header h;
        if (sk_batch_header_read(q, left, &h) < 0 || sk_batch_size(&h) > left ||
            !sk_batch_crc_ok(q, &h))
            return -EBADMSG;
        last_control = (h.attributes & SK_BATCH_CONTROL) != 0;
        if (first && !last_control)
            return -EBADMSG;
        first = false;
        q += sk_batch_size(&h);
        left -= sk_batch_size(&h);
    }
    if (first || !last_control)
        return -EBADMSG;
    struct sk_meta_image img;
    sk_meta_image_init(&img);
    int rc = sk_meta_apply_batches(&img, p, len, true) < 0 ? -EBADMSG : 0;
    sk_meta_image_free(&img);
    return rc;
}

static int read_part(const struct sk_snap_part *part, uint8_t **out)
{
    uint8_t *buf = malloc(part->len > 0 ? (size_t)part->len : 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    while (got < (size_t)part->len) {
        ssize_t r = pread(part->fd, buf + got, (size_t)part->len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return r < 0 ? -errno : -EIO;
        }
        got += (size_t)r;
    }
    *out = buf;
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* The install is rare and the core takes it as one step, so the file and
 * the directory are synced here before the log it replaces is dropped: a
 * crash then leaves either the old log or the whole snapshot. */
int sk_snap_part_install(const char *dir, struct sk_snap_part *part,
                         const struct sk_raft_snapshot_id *id)
{
    if (part->fd < 0 || part->id.end_offset != id->end_offset || part->id.epoch != id->epoch)
        return -EINVAL;
    uint8_t *buf = NULL;
    int rc = read_part(part, &buf);
    if (rc == 0)
        rc = check_snapshot(buf, (size_t)part->len);
    free(buf);
    if (rc == -EBADMSG) {
        sk_snap_part_drop(dir, part);
        return rc;
    }
    if (rc == 0 && fsync(part->fd) < 0)
        rc = -errno;
    char from[PATH_LEN], to[PATH_LEN];
    file_path(from, dir, id, true);
    file_path(to, dir, id, false);
    if (rc == 0 && rename(from, to) < 0)
        rc = -errno;
    if (rc == 0)
        rc = sync_dir(dir);
    if (rc == 0) {
        close(part->fd);
        part->fd = -1;
    }
    return rc;
}
