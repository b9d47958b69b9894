/* The machine's physical limit for what a broker does, without Kafka:
 *   write: a loopback TCP stream of fixed-size chunks (record batches) that a
 *          server thread appends to a file, fdatasync'ing after every receive
 *          batch as the broker's group commit does;
 *   read:  the file sent back over loopback from page cache with sendfile;
 *   rtt:   one chunk at a time, written and synced, then a one-byte reply,
 *          the floor for acks=all latency with one record per request.
 * Reports MB/s (MB = 2^20 bytes) and the server thread's CPU seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RECV_BATCH (4u << 20)

struct opts {
    const char *mode, *dir, *file;
    int64_t bytes, chunk, count;
    bool sync, json, keep;
};

struct server {
    const struct opts *o;
    int lfd, port;
    char path[4096];
    double cpu_s;
    int64_t received, syncs;
    int64_t *rtt_ns;
    int err;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "limit: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void fill_chunk(char *buf, int64_t n)
{
    /* Uppercase letters, like the perf tool's payloads, so a file system
     * that compresses sees what the broker would see. */
    uint64_t x = 88172645463325252ULL;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (char)('A' + x % 26);
    }
}

/* Write mode server: drain what the socket has (one receive batch), append
 * it, sync, repeat; the sync cadence follows the arrival rate, as a group
 * commit does. */
static void *write_server(void *arg)
{
    struct server *s = arg;
    int cfd = accept(s->lfd, NULL, NULL);
    if (cfd < 0)
        die("accept");
    int ffd = open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (ffd < 0)
        die(s->path);
    char *buf = malloc(RECV_BATCH);
    double c0 = thread_cpu_s();
    for (;;) {
        ssize_t r = recv(cfd, buf, RECV_BATCH, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("recv");
        if (r == 0)
            break;
        size_t got = (size_t)r;
        while (got < RECV_BATCH) {
            r = recv(cfd, buf + got, RECV_BATCH - got, MSG_DONTWAIT);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        write_all(ffd, buf, got);
        s->received += (int64_t)got;
        if (s->o->sync) {
            if (fdatasync(ffd))
                die("fdatasync");
            s->syncs++;
        }
    }
    s->cpu_s = thread_cpu_s() - c0;
    close(ffd);
    close(cfd);
    free(buf);
    return NULL;
}

static void *read_server(void *arg)
{
    struct server *s = arg;
    int cfd = accept(s->lfd, NULL, NULL);
    if (cfd < 0)
        die("accept");
    int ffd = open(s->path, O_RDONLY);
    if (ffd < 0)
        die(s->path);
    double c0 = thread_cpu_s();
    off_t off = 0;
    /* Chunk-sized sendfile calls, as a fetch response covers a byte range. */
    size_t step = s->o->chunk > 0 ? (size_t)s->o->chunk : (1u << 20);
    while (off < s->o->bytes) {
        size_t n = (size_t)(s->o->bytes - off) < step ? (size_t)(s->o->bytes - off) : step;
        ssize_t w = sendfile(cfd, ffd, &off, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("sendfile");
        s->received += w;
    }
    s->cpu_s = thread_cpu_s() - c0;
    close(ffd);
    close(cfd);
    return NULL;
}

static void *rtt_server(void *arg)
{
    struct server *s = arg;
    int cfd = accept(s->lfd, NULL, NULL);
    if (cfd < 0)
        die("accept");
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int ffd = open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (ffd < 0)
        die(s->path);
    char *buf = malloc((size_t)s->o->chunk);
    double c0 = thread_cpu_s();
    for (;;) {
        size_t got = 0;
        while (got < (size_t)s->o->chunk) {
            ssize_t r = recv(cfd, buf + got, (size_t)s->o->chunk - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                goto out;
            got += (size_t)r;
        }
        write_all(ffd, buf, got);
        if (s->o->sync && fdatasync(ffd))
            die("fdatasync");
        s->syncs += s->o->sync;
        s->received += (int64_t)got;
        write_all(cfd, "k", 1);
    }
out:
    s->cpu_s = thread_cpu_s() - c0;
    close(ffd);
    close(cfd);
    free(buf);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: limit write [--bytes N] [--chunk N] [--dir DIR] [--no-sync] [--json]\n"
            "       limit read  [--bytes N] [--chunk N] [--dir DIR] [--file F] [--json]\n"
            "       limit rtt   [--count N] [--chunk N] [--dir DIR] [--no-sync] [--json]\n"
            "  --bytes  total bytes (default 1 GiB), --chunk  bytes per send (default 1 MiB; rtt 1 KiB)\n"
            "  --dir    where the file goes (default .); --file reuse a file for read\n");
    exit(1);
}

int main(int argc, char **argv)
{
    struct opts o = { .dir = ".", .bytes = 1LL << 30, .chunk = -1, .count = 10000, .sync = true };
    if (argc < 2)
        usage();
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bytes") && v) o.bytes = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(a, "--chunk") && v) o.chunk = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(a, "--count") && v) o.count = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(a, "--dir") && v) o.dir = argv[++i];
        else if (!strcmp(a, "--file") && v) o.file = argv[++i];
        else if (!strcmp(a, "--no-sync")) o.sync = false;
        else if (!strcmp(a, "--keep")) o.keep = true;
        else if (!strcmp(a, "--json")) o.json = true;
        else usage();
    }
    bool w = !strcmp(o.mode, "write"), r = !strcmp(o.mode, "read"), t = !strcmp(o.mode, "rtt");
    if (!w && !r && !t)
        usage();
    if (o.chunk <= 0)
        o.chunk = t ? 1024 : (1 << 20);

    struct server s = { .o = &o };
    if (o.file)
        snprintf(s.path, sizeof(s.path), "%s", o.file);
    else
        snprintf(s.path, sizeof(s.path), "%s/limit-%d.log", o.dir, (int)getpid());
    char *chunk = malloc((size_t)o.chunk);
    fill_chunk(chunk, o.chunk);

    if (r) {
        struct stat st;
        if (!o.file || stat(s.path, &st) || st.st_size < o.bytes) {
            int fd = open(s.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0)
                die(s.path);
            for (int64_t done = 0; done < o.bytes; done += o.chunk)
                write_all(fd, chunk, (size_t)(o.bytes - done < o.chunk ? o.bytes - done : o.chunk));
            fdatasync(fd);
            close(fd);
        }
        /* Read it once so the measured pass is served from page cache. */
        int fd = open(s.path, O_RDONLY);
        char *tmp = malloc(1 << 20);
        while (read(fd, tmp, 1 << 20) > 0)
            ;
        free(tmp);
        close(fd);
    }

    s.lfd = listen_loopback(&s.port);
    if (t)
        s.rtt_ns = calloc((size_t)o.count, sizeof(*s.rtt_ns));
    pthread_t th;
    pthread_create(&th, NULL, w ? write_server : r ? read_server : rtt_server, &s);
    int fd = connect_loopback(s.port);
    double client_c0 = thread_cpu_s();
    int64_t t0 = mono_ns();
    int64_t moved = 0;
    if (w) {
        for (; moved < o.bytes; moved += o.chunk)
            write_all(fd, chunk, (size_t)o.chunk);
        shutdown(fd, SHUT_WR);
        char c;
        while (read(fd, &c, 1) > 0)
            ;
    } else if (r) {
        char *buf = malloc(RECV_BATCH);
        ssize_t n;
        while ((n = recv(fd, buf, RECV_BATCH, 0)) > 0)
            moved += n;
        free(buf);
    } else {
        for (int64_t i = 0; i < o.count; i++) {
            int64_t b = mono_ns();
            write_all(fd, chunk, (size_t)o.chunk);
            char c;
            if (recv(fd, &c, 1, MSG_WAITALL) != 1)
                die("recv reply");
            s.rtt_ns[i] = mono_ns() - b;
            moved += o.chunk;
        }
        shutdown(fd, SHUT_WR);
    }
    pthread_join(th, NULL);
    double secs = (double)(mono_ns() - t0) / 1e9;
    double client_cpu = thread_cpu_s() - client_c0;
    close(fd);
    if (!o.keep && !o.file)
        unlink(s.path);

    double mb = (double)moved / (1024.0 * 1024.0);
    double gb = (double)moved / 1e9;
    if (t) {
        qsort(s.rtt_ns, (size_t)o.count, sizeof(int64_t), cmp_i64);
        double sum = 0;
        for (int64_t i = 0; i < o.count; i++)
            sum += (double)s.rtt_ns[i];
#define P(q) (s.rtt_ns[(size_t)((q) * (double)o.count)] / 1e6)
        printf("limit rtt: %" PRId64 " round trips of %" PRId64 " bytes%s, %.1f per sec, avg %.3f ms, p50 %.3f ms, "
               "p95 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
               o.count, o.chunk, o.sync ? " with fdatasync" : "", (double)o.count / secs, sum / (double)o.count / 1e6,
               P(0.5), P(0.95), P(0.99), P(0.999), s.rtt_ns[o.count - 1] / 1e6);
        if (o.json)
            printf("{\"tool\":\"limit\",\"mode\":\"rtt\",\"sync\":%s,\"count\":%" PRId64 ",\"chunk\":%" PRId64
                   ",\"records_per_sec\":%.1f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f"
                   ",\"p999_ms\":%.3f,\"max_ms\":%.3f,\"server_cpu_s\":%.3f}\n",
                   o.sync ? "true" : "false", o.count, o.chunk, (double)o.count / secs, sum / (double)o.count / 1e6,
                   P(0.5), P(0.95), P(0.99), P(0.999), s.rtt_ns[o.count - 1] / 1e6, s.cpu_s);
#undef P
    } else {
        printf("limit %s: %" PRId64 " bytes in %.3f s, %.2f MB/sec, chunk %" PRId64 " bytes, server CPU %.3f s "
               "(%.3f s/GB), client CPU %.3f s%s\n",
               o.mode, moved, secs, mb / secs, o.chunk, s.cpu_s, gb > 0 ? s.cpu_s / gb : 0.0, client_cpu,
               w ? (o.sync ? ", fdatasync per receive batch" : ", no sync") : ", sendfile from page cache");
        if (w && o.sync)
            printf("limit write: %" PRId64 " fdatasyncs, %.1f KiB per sync\n", s.syncs,
                   s.syncs ? (double)moved / 1024.0 / (double)s.syncs : 0.0);
        if (o.json)
            printf("{\"tool\":\"limit\",\"mode\":\"%s\",\"sync\":%s,\"bytes\":%" PRId64 ",\"chunk\":%" PRId64
                   ",\"elapsed_s\":%.3f,\"mb_per_sec\":%.3f,\"server_cpu_s\":%.3f,\"server_cpu_s_per_gb\":%.3f"
                   ",\"client_cpu_s\":%.3f,\"syncs\":%" PRId64 "}\n",
                   o.mode, o.sync && !r ? "true" : "false", moved, o.chunk, secs, mb / secs, s.cpu_s,
                   gb > 0 ? s.cpu_s / gb : 0.0, client_cpu, s.syncs);
    }
    free(chunk);
    return 0;
}
