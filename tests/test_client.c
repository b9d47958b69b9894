/* The Kafka client layer against the broker itself: a real skein process on
 * a free loopback port with its own data folder. The shard runs on the
 * test's thread; a 5 ms step timer walks through the phases below, each
 * waiting on a condition under a generous deadline. Failures are recorded,
 * not asserted inside the loop, so the broker is always cleaned up. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "testnode.h"
#include "skein/net.h"
#include "skein/timer.h"

#ifndef SK_SKEIN_BIN
#error "meson passes the broker's path as SK_SKEIN_BIN"
#endif

#define NPIPE 200
#define NKILL 12
#define NSTOP 3
#define NQUEUED 4   /* made while the broker is down */
#define PHASE_MS 60000
#define STEP_MS 5
/* Long enough that a loaded machine does not time out a live broker. */
#define REQUEST_TIMEOUT_MS 3000

enum phase { P_READY, P_PIPE, P_KILLED, P_RESTARTED, P_STOPPING, P_STOPPED, P_RESUMED, P_BIG,
             P_DONE };

struct slot {
    struct ct *t;
    int16_t key;
    int calls;
    int16_t err;
    bool good;   /* the answer is one of its api's, and sensible */
};

struct ct {
    struct sk_shard *s;
    struct sk_kclient *kc, *small;
    pid_t pid;
    uint16_t port, ctrl_port;
    char dir[64];
    enum phase phase;
    uint64_t deadline;
    uint64_t stopped_at;
    uint64_t pipe_start, pipe_ms, killed_at, handshake_again_ms;
    char failure[256];
    struct slot slots[NPIPE + NKILL + NQUEUED + NSTOP];
    unsigned used;
    uint32_t peak_inflight;
    int reasons[64];
    unsigned nreasons;
    int small_reason;
    kp_metadata_request md;
    kp_api_versions_request av;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fail(struct ct *t, const char *fmt, ...)
{
    if (t->failure[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->failure, sizeof(t->failure), fmt, ap);
    va_end(ap);
}

static void spawn(struct ct *t)
{
    t->pid = sk_test_spawn_broker(SK_SKEIN_BIN, t->dir, t->port, t->ctrl_port, NULL, 0);
}

static void reap(struct ct *t, int sig)
{
    if (t->pid <= 0)
        return;
    kill(t->pid, sig);
    kill(t->pid, SIGCONT);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}

static void on_answer(void *arg, int16_t err, int16_t version, const void *resp)
{
    struct slot *sl = arg;
    sl->calls++;
    sl->err = err;
    if (err != SK_ERR_NONE)
        return;
    if (sl->key == 18) {
        const kp_api_versions_response *r = resp;
        sl->good = r->error_code == 0 && r->api_keys.n > 10;
    } else {
        const kp_metadata_response *r = resp;
        sl->good = r->brokers.n == 1 && r->brokers.v[0].port == sl->t->port && version >= 1;
    }
    /* This one has left the in-flight list already. */
    if (sk_kclient_inflight(sl->t->kc) >= 16)
        fail(sl->t, "more than max_inflight requests in flight");
}

static void send_some(struct ct *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct slot *sl = &t->slots[t->used++];
        sl->t = t;
        sl->key = i % 2 ? 18 : 3;
        const void *body = sl->key == 18 ? (const void *)&t->av : (const void *)&t->md;
        if (sk_kclient_send(t->kc, sl->key, -1, body, on_answer, sl))
            fail(t, "send %u refused", t->used - 1);
    }
}

/* Each of slots [from, to) answered exactly once, with err. */
static bool all_done(struct ct *t, unsigned from, unsigned to, int16_t err)
{
    for (unsigned i = from; i < to; i++)
        if (t->slots[i].calls == 0)
            return false;
    for (unsigned i = from; i < to; i++) {
        const struct slot *sl = &t->slots[i];
        if (sl->calls != 1 || sl->err != err || (err == SK_ERR_NONE && !sl->good))
            fail(t, "request %u: %d calls, error %d, good %d (wanted error %d)", i, sl->calls,
                 sl->err, sl->good, err);
    }
    return true;
}

static void next_phase(struct ct *t, enum phase p)
{
    t->phase = p;
    t->deadline = sk_shard_now_ms(t->s) + PHASE_MS;
}

static unsigned refused_since(struct ct *t, unsigned from)
{
    unsigned n = 0;
    for (unsigned i = from; i < t->nreasons; i++)
        n += t->reasons[i] == -ECONNREFUSED;
    return n;
}

static void on_small_down(void *arg, struct sk_kclient *kc, int reason)
{
    (void)kc;
    struct ct *t = arg;
    if (!t->small_reason)
        t->small_reason = reason;
}

static void start_small(struct ct *t)
{
    struct sk_kclient_config cfg;
    sk_kclient_config_defaults(&cfg);
    cfg.conn.max_frame_bytes = 64;   /* an ApiVersions answer is far larger */
    struct sk_kclient_handler h = { .on_disconnected = on_small_down, .arg = t };
    if (sk_kclient_new(t->s, "127.0.0.1", t->port, &cfg, &h, &t->small))
        fail(t, "second client not created");
}

static unsigned mark;   /* first reason of the current phase */

/* Returns true when the phase's condition holds and it moved on. */
static bool advance(struct ct *t)
{
    switch (t->phase) {
    case P_READY:
        if (sk_kclient_handshakes(t->kc) < 1)
            return false;
        t->pipe_start = mono_ms();
        send_some(t, NPIPE);
        t->peak_inflight = sk_kclient_inflight(t->kc);
        next_phase(t, P_PIPE);
        return true;
    case P_PIPE:
        if (!all_done(t, 0, NPIPE, SK_ERR_NONE))
            return false;
        t->pipe_ms = mono_ms() - t->pipe_start;
        send_some(t, NKILL);
        /* Dead before the frames even leave (they go out after this pass). */
        reap(t, SIGKILL);
        mark = t->nreasons;
        next_phase(t, P_KILLED);
        return true;
    case P_KILLED:
        /* Every request in flight failed; requests made then wait through
         * at least two refused reconnects. */
        if (!all_done(t, NPIPE, NPIPE + NKILL, SK_ERR_NETWORK_EXCEPTION))
            return false;
        if (t->used == NPIPE + NKILL) {
            send_some(t, NQUEUED);
            mark = t->nreasons;
        }
        if (refused_since(t, mark) < 2)
            return false;
        spawn(t);
        t->killed_at = mono_ms();
        next_phase(t, P_RESTARTED);
        return true;
    case P_RESTARTED:
        /* The requests made while it was down waited and were answered. */
        if (sk_kclient_handshakes(t->kc) < 2 ||
            !all_done(t, NPIPE + NKILL, NPIPE + NKILL + NQUEUED, SK_ERR_NONE))
            return false;
        t->handshake_again_ms = mono_ms() - t->killed_at;
        send_some(t, 1);
        kill(t->pid, SIGSTOP);
        t->stopped_at = sk_shard_now_ms(t->s);
        mark = t->nreasons;
        next_phase(t, P_STOPPING);
        return true;
    case P_STOPPING:
        /* Sent well after the first, so not expired when it expires: they
         * fail with it all the same, as Kafka fails the whole connection. */
        if (sk_shard_now_ms(t->s) < t->stopped_at + 500)
            return false;
        send_some(t, NSTOP - 1);
        next_phase(t, P_STOPPED);
        return true;
    case P_STOPPED:
        if (!all_done(t, NPIPE + NKILL + NQUEUED, NPIPE + NKILL + NQUEUED + NSTOP,
                      SK_ERR_REQUEST_TIMED_OUT))
            return false;
        if (t->nreasons == mark || t->reasons[mark] != -ETIMEDOUT)
            fail(t, "request timeout did not reset the connection");
        if (sk_shard_now_ms(t->s) < t->stopped_at + REQUEST_TIMEOUT_MS)
            fail(t, "timed out before request.timeout.ms");
        kill(t->pid, SIGCONT);
        next_phase(t, P_RESUMED);
        return true;
    case P_RESUMED:
        if (sk_kclient_handshakes(t->kc) < 3)
            return false;
        start_small(t);
        next_phase(t, P_BIG);
        return true;
    case P_BIG:
        if (!t->small_reason)
            return false;
        if (t->small_reason != -EMSGSIZE)
            fail(t, "oversized answer: reason %d", t->small_reason);
        sk_kclient_close(t->small);
        t->small = NULL;
        next_phase(t, P_DONE);
        return true;
    case P_DONE:
        return false;
    }
    return false;
}

static void step(void *arg)
{
    struct ct *t = arg;
    while (!t->failure[0] && advance(t))
        ;
    if (!t->failure[0] && t->phase != P_DONE && sk_shard_now_ms(t->s) > t->deadline)
        fail(t, "phase %d did not finish within %d ms", t->phase, PHASE_MS);
    if (t->failure[0] || t->phase == P_DONE) {
        sk_kclient_close(t->kc);
        if (t->small)
            sk_kclient_close(t->small);
        sk_shard_stop(t->s);
        return;
    }
    sk_timer_add(t->s, STEP_MS, step, t);
}

static void on_down(void *arg, struct sk_kclient *kc, int reason)
{
    (void)kc;
    struct ct *t = arg;
    if (t->nreasons < 64)
        t->reasons[t->nreasons++] = reason;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

Test(client, against_a_real_broker, .timeout = 600)
{
    static struct ct t;
    snprintf(t.dir, sizeof(t.dir), "/tmp/skein-client-XXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    t.port = sk_test_free_port();
    t.ctrl_port = sk_test_free_port();
    kp_metadata_request_init(&t.md);
    kp_api_versions_request_init(&t.av);
    t.av.client_software_name = (kp_str){ "test", 4 };
    t.av.client_software_version = (kp_str){ "1", 1 };

    struct sk_net_config ncfg;
    sk_net_config_defaults(&ncfg);
    struct sk_net_handler nh = { 0 };
    cr_assert_eq(sk_shard_new(&ncfg, &nh, &t.s), 0);
    spawn(&t);
    struct sk_kclient_config cfg;
    sk_kclient_config_defaults(&cfg);
    cfg.request_timeout_ms = REQUEST_TIMEOUT_MS;
    cfg.max_inflight = 16;
    cfg.client_id = "client-test";
    cfg.conn.backoff_ms = 20;
    cfg.conn.backoff_max_ms = 500;
    struct sk_kclient_handler h = { .on_disconnected = on_down, .arg = &t };
    cr_assert_eq(sk_kclient_new(t.s, "127.0.0.1", t.port, &cfg, &h, &t.kc), 0);
    next_phase(&t, P_READY);
    sk_timer_add(t.s, STEP_MS, step, &t);
    int rc = sk_shard_run(t.s);
    sk_shard_destroy(t.s);
    reap(&t, SIGKILL);
    nftw(t.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(rc, 0);
    cr_assert(!t.failure[0], "%s", t.failure);
    cr_assert_eq(t.phase, P_DONE);
    cr_log_info("%d pipelined Metadata/ApiVersions round trips: %llu ms; restarted broker "
                "handshaken again after %llu ms", NPIPE, (unsigned long long)t.pipe_ms,
                (unsigned long long)t.handshake_again_ms);
    cr_assert_eq(t.peak_inflight, 16, "pipelined up to the cap at once: %u", t.peak_inflight);
}
