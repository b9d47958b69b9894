/* Sync failures on demand, for the fault harness. The harness writes a small
 * control file ("fsync" fails syncs; the LD_PRELOAD shim in tests/faults/
 * reads the same file for write errors) and removes it to heal. The file is
 * read on every sync while injection is enabled: a harness run measures
 * correctness, not speed, and a reread needs no signal or shared memory.
 * Without SKEIN_FAULT_CTL the cost is one load of a flag.
 *
 * SKEIN_FAULT_SYNCLOG names a file where every sync is journaled as
 * "<path>\t<size>": what a power cut would keep. The harness cuts a file back
 * to its last journaled size after kill -9 to model losing the page cache (a
 * process kill alone keeps it). The size is taken when the sync is submitted,
 * so the model never drops bytes an acknowledged sync covered. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/fault.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *ctl_path, *dir_prefix;
static int synclog_fd = -1;

static void fault_init(void)
{
    ctl_path = getenv("SKEIN_FAULT_CTL");
    dir_prefix = getenv("SKEIN_FAULT_DIR");
    if (ctl_path && !*ctl_path)
        ctl_path = NULL;
    const char *log = ctl_path ? getenv("SKEIN_FAULT_SYNCLOG") : NULL;
    if (log && *log)
        synclog_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static bool armed(const char *word)
{
    char buf[256];
    int fd = open(ctl_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, word) != NULL;
}

/* Directories count too: a partition's first sync includes its directory. */
static bool under_dir(int fd)
{
    char link[64], path[4096];
    if (!dir_prefix || !*dir_prefix)
        return true;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return false;
    path[n] = '\0';
    size_t len = strlen(dir_prefix);
    return strncmp(path, dir_prefix, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* One write per line, O_APPEND: lines from concurrent syncs never mix. */
static void journal(int fd)
{
    char link[64], line[4200];
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, line, 4096);
    if (n <= 0)
        return;
    n += snprintf(line + n, sizeof line - (size_t)n, "\t%lld\n", (long long)st.st_size);
    if (write(synclog_fd, line, (size_t)n) < 0)
        return; /* the model then keeps less: never hides a loss */
}

int sk_fault_sync(int fd)
{
    pthread_once(&once, fault_init);
    if (!ctl_path)
        return 0;
    if (armed("fsync") && under_dir(fd))
        return -EIO;
    if (synclog_fd >= 0)
        journal(fd);
    return 0;
}

static bool is_snapshot_tmp(int fd)
{
    static const char suffix[] = ".snapshot.tmp";
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    size_t len = sizeof suffix - 1;
    if (n < (ssize_t)len)
        return false;
    path[n] = '\0';
    return strcmp(path + n - (ssize_t)len, suffix) == 0;
}

bool sk_fault_hold_sync(int fd)
{
    pthread_once(&once, fault_init);
    return ctl_path && armed("hold-snapshot") && is_snapshot_tmp(fd);
}
