/* The single path from a controller decision to a changed cluster. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "skein/admission.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/publisher.h"
#include "skein/syncer.h"

int64_t sk_ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *sk_ctl_cstr(kp_str s)
{
    size_t n = s.len < 0 ? 0 : (size_t)s.len;
    char *p = malloc(n + 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, s.ptr, n);
    p[n] = 0;
    return p;
}

/* A commit outside a park, which no request makes any more (each parks,
 * skein/ctl_park.h): start-up and in-process tests. done may run inside
 * the submit (nothing in flight: the blocking syncer commits at once), or
 * later, when the change queued behind others; then there is no one left
 * to tell but the log. */
struct waited {
    bool returned, answered;
    int16_t err;
    char msg[512];
};

static void waited_done(void *arg, int16_t err, const char *msg)
{
    struct waited *w = arg;
    if (w->returned) {
        if (err)
            sk_warn("a queued metadata change failed: %s", msg ? msg : "");
        free(w);
        return;
    }
    w->answered = true;
    w->err = err;
    snprintf(w->msg, sizeof w->msg, "%s", msg ? msg : "");
}

int16_t sk_ctl_commit(struct sk_broker *b, const struct sk_meta_rec *recs, int n, char *msg,
                      size_t msglen)
{
    if (n == 0)
        return SK_ERR_NONE;
    if (b->ctl_park)
        return sk_ctl_commit_parked(b, recs, n, msg, msglen);
    struct waited *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    /* Blocking only when nothing is in flight: the commit is then done on
     * return, as a caller that cannot park expects. Behind other changes it must not block, nor commit before
     * them, so it joins their queue on the ring. */
    bool idle = sk_ctl_in_flight(b->node) == 0;
    sk_ctl_submit_via(b, idle ? &sk_syncer_blocking : &b->syncer, recs, n, waited_done, w);
    w->returned = true;
    if (!w->answered)
        return SK_ERR_NONE;
    int16_t err = w->err;
    if (err)
        snprintf(msg, msglen, "%s", w->msg);
    free(w);
    return err;
}
