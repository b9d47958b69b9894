/* The floor for appending to N partition logs, without a broker: what the
 * kernel costs to write the same bytes to N files in the pattern bench/scale
 * makes Skein write them, so that Skein's CPU per record at N partitions can
 * be read against what no design with one file per partition avoids.
 *
 * The pattern: batches of --batch-bytes (10 KiB: 10 records of 1 KiB) written
 * round-robin over N files, each with a buffered pwrite at its file's end, in
 * groups of --group batches (a produce request: librdkafka fills ~1 MB
 * requests, so up to ~100 batches of different partitions). After each group
 * the sync policy runs, as the broker's group commit does once per loop
 * iteration:
 *   none       no sync: the page cache and the kernel's writeback (Kafka's
 *              default, log.flush.interval.messages = never);
 *   fdatasync  one fdatasync per file the group dirtied;
 *   skein      Skein's group commit (src/replica/durability.c): one syncfs of
 *              the file system when 4 or more files are dirty, otherwise an
 *              fdatasync of each.
 * Two unmeasured batches per file come first (bench/scale's warm-up: each
 * file's first blocks allocated), then --records records are measured.
 *
 * CPU accounting: this process's utime+stime (the syncs run in its own thread,
 * where Skein runs them in io_uring workers and a syncfs thread, both counted
 * as the broker's); the kernel's writeback threads (kworker, jbd2), which a
 * syncfs or the page cache's own writeback hands the writing of dirty pages to
 * and which no process is charged for; and the whole machine's busy time from
 * /proc/stat, which includes everything else running. One JSON line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SYNCFS_MIN_FILES 4 /* SK_SYNCFS_MIN_PARTITIONS */

enum policy { POLICY_NONE, POLICY_FDATASYNC, POLICY_SKEIN };

struct opts {
    const char *dir;
    long files, group, records, per_batch;
    size_t batch_bytes;
    enum policy policy;
    bool keep;
};

struct files {
    int *fd;
    off_t *end;
    bool *dirty;
    long *dirty_list;
    long ndirty;
    int dirfd;
    int64_t syncs, syncfs;
};

static void die(const char *what)
{
    fprintf(stderr, "files-limit: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        die("getrusage");
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Busy jiffies of the whole machine (everything but idle and iowait). */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = { 0 };
    if (!f)
        die("/proc/stat");
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 8)
        die("/proc/stat format");
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static bool is_writeback_thread(const char *comm)
{
    return !strncmp(comm, "kworker", 7) || !strncmp(comm, "jbd2", 4);
}

/* utime+stime of one /proc/PID/stat if its thread is a writeback thread. */
static double writeback_cpu_of(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* gone meanwhile */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close)
        return 0;
    *close = 0;
    if (!is_writeback_thread(open + 1))
        return 0;
    unsigned long long ut = 0, st = 0;
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Kernel threads are single-threaded processes: /proc/PID/stat is theirs. */
static double writeback_cpu_s(void)
{
    DIR *d = opendir("/proc");
    double total = 0;
    if (!d)
        die("/proc");
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        total += writeback_cpu_of(path);
    }
    closedir(d);
    return total;
}

static void open_files(const struct opts *o, struct files *fs)
{
    fs->fd = calloc((size_t)o->files, sizeof(*fs->fd));
    fs->end = calloc((size_t)o->files, sizeof(*fs->end));
    fs->dirty = calloc((size_t)o->files, sizeof(*fs->dirty));
    fs->dirty_list = calloc((size_t)o->files, sizeof(*fs->dirty_list));
    if (!fs->fd || !fs->end || !fs->dirty || !fs->dirty_list)
        die("calloc");
    if (mkdir(o->dir, 0755) && errno != EEXIST)
        die(o->dir);
    fs->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dirfd < 0)
        die(o->dir);
    /* A folder per file, as a partition has its own. */
    for (long i = 0; i < o->files; i++) {
        char name[64];
        snprintf(name, sizeof(name), "p-%ld", i);
        if (mkdirat(fs->dirfd, name, 0755) && errno != EEXIST)
            die("mkdir");
        snprintf(name, sizeof(name), "p-%ld/00000000000000000000.log", i);
        fs->fd[i] = openat(fs->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fs->fd[i] < 0)
            die("open (raise the open-file limit)");
    }
}

static void sync_group(const struct opts *o, struct files *fs)
{
    if (o->policy == POLICY_SKEIN && fs->ndirty >= SYNCFS_MIN_FILES) {
        if (syncfs(fs->dirfd))
            die("syncfs");
        fs->syncfs++;
    } else if (o->policy != POLICY_NONE) {
        for (long i = 0; i < fs->ndirty; i++) {
            if (fdatasync(fs->fd[fs->dirty_list[i]]))
                die("fdatasync");
            fs->syncs++;
        }
    }
    for (long i = 0; i < fs->ndirty; i++)
        fs->dirty[fs->dirty_list[i]] = false;
    fs->ndirty = 0;
}

/* Writes batches round-robin from file *next on, a sync after each group. */
static void write_batches(const struct opts *o, struct files *fs, const char *buf, long batches,
                          long *next)
{
    for (long b = 0; b < batches; b++) {
        long i = *next;
        *next = (i + 1) % o->files;
        ssize_t w = pwrite(fs->fd[i], buf, o->batch_bytes, fs->end[i]);
        if (w != (ssize_t)o->batch_bytes)
            die("pwrite");
        fs->end[i] += w;
        if (!fs->dirty[i]) {
            fs->dirty[i] = true;
            fs->dirty_list[fs->ndirty++] = i;
        }
        if ((b + 1) % o->group == 0 || b + 1 == batches)
            sync_group(o, fs);
    }
}

static void remove_files(const struct opts *o, struct files *fs)
{
    for (long i = 0; i < o->files; i++) {
        char name[64];
        close(fs->fd[i]);
        snprintf(name, sizeof(name), "p-%ld/00000000000000000000.log", i);
        unlinkat(fs->dirfd, name, 0);
        snprintf(name, sizeof(name), "p-%ld", i);
        unlinkat(fs->dirfd, name, AT_REMOVEDIR);
    }
    close(fs->dirfd);
    rmdir(o->dir);
}

static void usage(void)
{
    fprintf(stderr, "usage: files-limit --dir DIR --files N --records R [--sync none|fdatasync|skein]\n"
                    "       [--group BATCHES] [--per-batch RECORDS] [--batch-bytes B] [--keep]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .files = 1, .group = 100, .records = 200000, .per_batch = 10,
                        .batch_bytes = 10240, .policy = POLICY_SKEIN };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep")) {
            o->keep = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--files"))
            o->files = atol(v);
        else if (!strcmp(a, "--group"))
            o->group = atol(v);
        else if (!strcmp(a, "--records"))
            o->records = atol(v);
        else if (!strcmp(a, "--per-batch"))
            o->per_batch = atol(v);
        else if (!strcmp(a, "--batch-bytes"))
            o->batch_bytes = (size_t)atol(v);
        else if (!strcmp(a, "--sync"))
            o->policy = !strcmp(v, "none") ? POLICY_NONE
                       : !strcmp(v, "fdatasync") ? POLICY_FDATASYNC
                       : !strcmp(v, "skein") ? POLICY_SKEIN
                                             : (usage(), POLICY_NONE);
        else
            usage();
    }
    if (!o->dir || o->files < 1 || o->group < 1 || o->records < 1 || o->per_batch < 1 ||
        o->batch_bytes < 1)
        usage();
}

int main(int argc, char **argv)
{
    static const char *names[] = { "none", "fdatasync", "skein" };
    struct opts o;
    struct files fs = { 0 };
    parse(argc, argv, &o);
    char *buf = malloc(o.batch_bytes);
    if (!buf)
        die("malloc");
    memset(buf, 0x5a, o.batch_bytes);
    open_files(&o, &fs);
    long next = 0, batches = (o.records + o.per_batch - 1) / o.per_batch;
    write_batches(&o, &fs, buf, 2 * o.files, &next);
    fs.syncs = fs.syncfs = 0;
    double t0 = mono_s(), c0 = self_cpu_s(), m0 = machine_busy_s(), k0 = writeback_cpu_s();
    write_batches(&o, &fs, buf, batches, &next);
    double wall = mono_s() - t0, cpu = self_cpu_s() - c0;
    /* Writeback of what the measured run left dirty (policy none) is still
     * its cost: wait for it, then count the kernel's threads and the machine. */
    if (syncfs(fs.dirfd))
        die("syncfs");
    double kw = writeback_cpu_s() - k0, machine = machine_busy_s() - m0;
    double mrec = (double)(batches * o.per_batch) / 1e6;
    printf("{\"files\": %ld, \"sync\": \"%s\", \"group\": %ld, \"records\": %ld, \"batches\": %ld, "
           "\"wall_s\": %.3f, \"cpu_s\": %.3f, \"writeback_cpu_s\": %.3f, \"machine_cpu_s\": %.3f, "
           "\"fdatasyncs\": %" PRId64 ", \"syncfs\": %" PRId64 ", \"cpu_s_per_mrec\": %.3f, "
           "\"writeback_cpu_s_per_mrec\": %.3f, \"machine_cpu_s_per_mrec\": %.3f}\n",
           o.files, names[o.policy], o.group, batches * o.per_batch, batches, wall, cpu, kw, machine,
           fs.syncs, fs.syncfs, cpu / mrec, kw / mrec, machine / mrec);
    if (!o.keep)
        remove_files(&o, &fs);
    free(buf);
    free(fs.fd);
    free(fs.end);
    free(fs.dirty);
    free(fs.dirty_list);
    return 0;
}
