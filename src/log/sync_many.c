/* Many files made durable at once: every fsync in flight together on a
 * private io_uring, so the file system commits them in a few shared journal
 * transactions instead of one per file.
 *
 * For blocking moments that sync a whole node's files (shutdown): one by
 * one, the fsyncs of 10,000 partitions take a journal commit each, and
 * shutdown would grow with the partition count. Without a ring (io_uring
 * refused) the files are synced one by one, which is only slower. */
#include <errno.h>
#include <liburing.h>
#include <unistd.h>

#include "skein/fault.h"
#include "skein/plog.h"

#define SYNC_MANY_DEPTH 256

static int sync_one(int fd, bool data_only)
{
    return (data_only ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static int sync_serial(const int *fds, size_t n, bool data_only)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int r = sync_one(fds[i], data_only);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

int sk_sync_many(const int *fds, size_t n, bool data_only)
{
    struct io_uring ring;
    for (size_t i = 0; i < n; i++)
        if (sk_fault_sync(fds[i]) < 0)
            return -EIO;
    if (n < 2 || io_uring_queue_init(SYNC_MANY_DEPTH, &ring, 0) < 0)
        return sync_serial(fds, n, data_only);
    size_t next = 0, inflight = 0;
    int rc = 0;
    while (next < n || inflight > 0) {
        struct io_uring_sqe *sqe;
        while (next < n && (sqe = io_uring_get_sqe(&ring))) {
            io_uring_prep_fsync(sqe, fds[next++], data_only ? IORING_FSYNC_DATASYNC : 0);
            inflight++;
        }
        struct io_uring_cqe *cqe;
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) {
            /* what was submitted completes regardless; finish by hand */
            rc = rc ? rc : sync_serial(fds, n, data_only);
            break;
        }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            if (cqe->res < 0 && rc == 0)
                rc = cqe->res;
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        inflight -= seen;
    }
    io_uring_queue_exit(&ring);
    return rc;
}
