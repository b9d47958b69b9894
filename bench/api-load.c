/* api-load HOST PORT [CONNECTIONS] [DEPTH] [SECONDS] [BROKER_PID]
 *
 * Keeps DEPTH ApiVersions v3 requests in flight on each of CONNECTIONS
 * connections for SECONDS and reports responses per second, and, given the
 * broker's pid, the broker's CPU seconds (utime+stime from /proc) spent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ApiVersions v3: header v2 (key, version, correlation, client id, no tags)
 * and a body with compact client software name and version. */
static const uint8_t request[] = {
    0, 0, 0, 26, 0, 18, 0, 3, 0, 0, 0, 1, 0, 4, 'l', 'o', 'a', 'd', 0,
    6, 's', 'k', 'e', 'i', 'n', 4, '0', '.', '1', 0};

struct conn {
    int fd;
    size_t need; /* bytes of the current response still to read */
    uint8_t hdr[4];
    int hdr_have;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_n(int fd, int n)
{
    static uint8_t buf[sizeof request * 256];
    for (int i = 0; i < n && i < 256; i++)
        memcpy(buf + i * sizeof request, request, sizeof request);
    size_t len = sizeof request * (size_t)n, off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            perror("write");
            exit(1);
        }
        off += (size_t)w;
    }
}

/* Reads what is there; returns the number of whole responses completed. */
static int drain(struct conn *c)
{
    uint8_t buf[65536];
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r <= 0) {
        fprintf(stderr, "connection closed by the broker\n");
        exit(1);
    }
    int done = 0;
    for (ssize_t i = 0; i < r;) {
        if (c->need == 0) {
            c->hdr[c->hdr_have++] = buf[i++];
            if (c->hdr_have == 4) {
                c->need = (size_t)c->hdr[0] << 24 | c->hdr[1] << 16 | c->hdr[2] << 8 | c->hdr[3];
                c->hdr_have = 0;
            }
            continue;
        }
        size_t take = (size_t)(r - i) < c->need ? (size_t)(r - i) : c->need;
        c->need -= take;
        i += (ssize_t)take;
        done += c->need == 0;
    }
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: api-load HOST PORT [CONNS] [DEPTH] [SECONDS] [BROKER_PID]\n");
        return 2;
    }
    int nconn = argc > 3 ? atoi(argv[3]) : 16, depth = argc > 4 ? atoi(argv[4]) : 32;
    double secs = argc > 5 ? atof(argv[5]) : 5;
    int pid = argc > 6 ? atoi(argv[6]) : 0;
    struct conn *c = calloc((size_t)nconn, sizeof *c);
    struct pollfd *pf = calloc((size_t)nconn, sizeof *pf);
    for (int i = 0; i < nconn; i++) {
        c[i].fd = connect_to(argv[1], atoi(argv[2]));
        pf[i] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
        send_n(c[i].fd, depth);
    }
    double cpu0 = pid ? cpu_s(pid) : 0, t0 = now_s(), end = t0 + secs;
    long total = 0;
    while (now_s() < end) {
        if (poll(pf, (nfds_t)nconn, 100) < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < nconn; i++) {
            if (!(pf[i].revents & POLLIN))
                continue;
            int done = drain(&c[i]);
            total += done;
            if (done)
                send_n(c[i].fd, done);
        }
    }
    double el = now_s() - t0, cpu = pid ? cpu_s(pid) - cpu0 : 0;
    printf("ApiVersions v3: %d connections x %d in flight, %.1f s: %ld responses, %.0f req/s",
           nconn, depth, el, total, (double)total / el);
    if (pid)
        printf(", broker CPU %.2f s (%.2f us/request)", cpu, cpu * 1e6 / (double)total);
    printf("\n");
    return 0;
}
