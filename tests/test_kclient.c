/* The Kafka client layer against a scripted peer (blocking sockets on a
 * thread of its own) for what a real broker never does: refuse ApiVersions
 * v3, or answer with the wrong correlation id. The shard runs on the test's
 * thread, bounded by a watchdog timer. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/net.h"
#include "skein/timer.h"

#define WATCHDOG_MS 20000

enum script { OLD_BROKER, WRONG_CORRELATION };

struct peer {
    int lfd;
    uint16_t port;
    enum script script;
    pthread_t th;
    int16_t av_versions[8];   /* ApiVersions versions asked, in order */
    int nav;
    int conns;
};

static int read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* [size][correlation id][body encoded by the api's response encoder]; the
 * header is v0 (no tagged fields) for the non-flexible versions used here. */
static void answer(int fd, int16_t key, int16_t version, int32_t corr, const void *body)
{
    const kp_api_info *api = kp_api_get(key);
    size_t blen = api->response.size(body, version);
    size_t total = 8 + blen;
    uint8_t *buf = malloc(total);
    kp_writer w;
    kp_writer_init(&w, buf, total);
    kp_write_i32(&w, (int32_t)(total - 4));
    kp_write_i32(&w, corr);
    cr_assert_eq(api->response.encode(body, &w, version), 0);
    send(fd, buf, total, MSG_NOSIGNAL);
    free(buf);
}

static void answer_versions(struct peer *p, int fd, int16_t version, int32_t corr)
{
    kp_api_versions_response_api_version keys[2] = { { 18, 0, 0 }, { 3, 0, 1 } };
    kp_api_versions_response r;
    kp_api_versions_response_init(&r);
    if (p->script == OLD_BROKER && version > 0) {
        /* As an old broker does: the error, in the v0 layout, no ranges. */
        r.error_code = SK_ERR_UNSUPPORTED_VERSION;
        answer(fd, 18, 0, corr, &r);
        return;
    }
    r.api_keys = (kp_api_versions_response_api_version_arr){ 2, keys };
    answer(fd, 18, 0, corr, &r);
}

static void serve(struct peer *p, int fd)
{
    for (;;) {
        uint8_t hdr[12];
        if (read_all(fd, hdr, 4))
            return;
        uint32_t len = ntohl(*(uint32_t *)hdr);
        uint8_t *body = malloc(len);
        if (len < 8 || read_all(fd, body, len)) {
            free(body);
            return;
        }
        int16_t key = (int16_t)(body[0] << 8 | body[1]);
        int16_t version = (int16_t)(body[2] << 8 | body[3]);
        int32_t corr = (int32_t)ntohl(*(uint32_t *)(body + 4));
        free(body);
        if (key == 18) {
            if (p->nav < 8)
                p->av_versions[p->nav++] = version;
            answer_versions(p, fd, version, corr);
            continue;
        }
        kp_metadata_response m;
        kp_metadata_response_init(&m);
        if (p->script == WRONG_CORRELATION && p->conns == 1)
            corr += 7;
        answer(fd, 3, version, corr, &m);
    }
}

static void *peer_run(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        p->conns++;
        serve(p, fd);
        close(fd);
    }
}

static void peer_start(struct peer *p, enum script script)
{
    p->script = script;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(p->lfd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(p->lfd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&p->th, NULL, peer_run, p), 0);
}

static void peer_stop(struct peer *p)
{
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->th, NULL);
    close(p->lfd);
}

struct t {
    struct sk_shard *s;
    struct sk_kclient *kc;
    kp_metadata_request md;
    int readies;
    int16_t md_version, av_version;
    int16_t errs[4];
    int16_t versions[4];
    int nanswers, want;
    int reasons[8];
    int nreasons;
    bool timed_out;
};

static void finish(struct t *t)
{
    sk_kclient_close(t->kc);
    sk_shard_stop(t->s);
}

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)resp;
    struct t *t = arg;
    t->errs[t->nanswers] = err;
    t->versions[t->nanswers++] = version;
    if (t->nanswers == t->want)
        finish(t);
}

static void on_ready(void *arg, struct sk_kclient *kc)
{
    struct t *t = arg;
    t->readies++;
    if (t->readies == 1) {
        t->md_version = sk_kclient_version(kc, 3);
        t->av_version = sk_kclient_version(kc, 18);
    }
    cr_assert_eq(sk_kclient_send(kc, 3, -1, &t->md, on_answer, t), 0);
}

static void on_down(void *arg, struct sk_kclient *kc, int reason)
{
    (void)kc;
    struct t *t = arg;
    if (t->nreasons < 8)
        t->reasons[t->nreasons++] = reason;
}

static void watchdog(void *arg)
{
    struct t *t = arg;
    t->timed_out = true;
    finish(t);
}

static void run(struct t *t, uint16_t port)
{
    struct sk_net_config ncfg;
    sk_net_config_defaults(&ncfg);
    struct sk_net_handler nh = { 0 };
    cr_assert_eq(sk_shard_new(&ncfg, &nh, &t->s), 0);
    kp_metadata_request_init(&t->md);
    struct sk_kclient_config cfg;
    sk_kclient_config_defaults(&cfg);
    cfg.conn.backoff_ms = 10;
    struct sk_kclient_handler h = { on_ready, on_down, t };
    cr_assert_eq(sk_kclient_new(t->s, "127.0.0.1", port, &cfg, &h, &t->kc), 0);
    cr_assert_neq(sk_timer_add(t->s, WATCHDOG_MS, watchdog, t), 0);
    cr_assert_eq(sk_shard_run(t->s), 0);
    sk_shard_destroy(t->s);
    cr_assert(!t->timed_out, "watchdog fired");
}

Test(kclient, api_versions_falls_back_to_v0, .timeout = 60)
{
    static struct peer p;
    peer_start(&p, OLD_BROKER);
    static struct t t = { .want = 1 };
    run(&t, p.port);
    peer_stop(&p);
    cr_assert_geq(p.nav, 2);
    cr_assert_eq(p.av_versions[0], 3);
    cr_assert_eq(p.av_versions[1], 0);
    cr_assert_eq(t.av_version, 0);
    cr_assert_eq(t.md_version, 1, "highest version both have: %d", t.md_version);
    cr_assert_eq(t.errs[0], SK_ERR_NONE);
    cr_assert_eq(t.versions[0], 1);
}

Test(kclient, wrong_correlation_id_resets_the_connection, .timeout = 60)
{
    static struct peer p;
    peer_start(&p, WRONG_CORRELATION);
    static struct t t = { .want = 2 };
    run(&t, p.port);
    peer_stop(&p);
    cr_assert_eq(t.nanswers, 2);
    cr_assert_eq(t.errs[0], SK_ERR_NETWORK_EXCEPTION);
    cr_assert_eq(t.errs[1], SK_ERR_NONE);
    cr_assert_geq(t.nreasons, 1);
    cr_assert_eq(t.reasons[0], -EPROTO);
    cr_assert_eq(t.readies, 2, "handshakes again after the reset");
    cr_assert_eq(p.conns, 2);
}
