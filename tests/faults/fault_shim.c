/* LD_PRELOAD shim for the fault harness: fails fsync, fdatasync, write and
 * pwrite with EIO for files under SKEIN_FAULT_DIR while the control file named
 * by SKEIN_FAULT_CTL holds the word "fsync" (syncs) or "write" (writes).
 *
 * It sees only calls that go through libc: the broker's pwrite appends, its
 * blocking fdatasyncs (start-up recovery, shutdown, the metadata log) and the
 * serial fallback of sk_sync_many. The fdatasyncs the broker submits through
 * io_uring never pass here; src/util/fault.c fails those from inside the
 * broker, reading the same control file. Sockets, pipes and files outside the
 * directory are never touched, so logging and the network go on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* pwrite and pwrite64 are wrapped each under its own name */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* The control file is read with raw syscalls: read() itself is not wrapped,
 * but going around libc keeps the shim from ever recursing into itself. */
static bool armed(const char *word)
{
    const char *ctl = getenv("SKEIN_FAULT_CTL");
    char buf[256];
    if (!ctl || !*ctl)
        return false;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, word) != NULL;
}

static bool under_dir(int fd)
{
    const char *dir = getenv("SKEIN_FAULT_DIR");
    char link[64], path[4096];
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return false;
    if (!dir || !*dir)
        return true;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, link, path, sizeof path - 1);
    if (n < 0)
        return false;
    path[n] = '\0';
    size_t len = strlen(dir);
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

static bool fail(int fd, const char *word)
{
    return armed(word) && under_dir(fd);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int fsync(int fd)
{
    if (fail(fd, "fsync")) {
        errno = EIO;
        return -1;
    }
    return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
    if (fail(fd, "fsync")) {
        errno = EIO;
        return -1;
    }
    return REAL(fdatasync)(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fail(fd, "write")) {
        errno = EIO;
        return -1;
    }
    return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fail(fd, "write")) {
        errno = EIO;
        return -1;
    }
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (fail(fd, "write")) {
        errno = EIO;
        return -1;
    }
    return REAL(pwrite64)(fd, buf, n, off);
}
