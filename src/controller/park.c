/* Parked admin handlers (skein/ctl_park.h) and the commit they park on. */
#include "skein/ctl_park.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "skein/errors.h"
#include "skein/submit.h"

void sk_ctl_park_begin(struct sk_ctl_park *p, struct sk_broker *b, kp_arena *arena,
                       void (*finish)(void *ctx), void *ctx)
{
    *p = (struct sk_ctl_park){.b = b, .arena = arena, .pending = 1, .finish = finish,
                              .ctx = ctx};
    b->ctl_park = p;
}

struct result_slot {
    int16_t *err;
    kp_str *msg;
};

static void fill_slot(void *arg, int16_t err, kp_str msg)
{
    struct result_slot *s = arg;
    *s->err = err;
    *s->msg = msg;
}

void sk_ctl_park_on_fail(struct sk_ctl_park *p, void (*fail)(void *arg, int16_t err, kp_str msg),
                         void *arg)
{
    p->fail = fail;
    p->fail_arg = arg;
}

void sk_ctl_park_slot(struct sk_ctl_park *p, int16_t *err, kp_str *msg)
{
    struct result_slot *s = kp_arena_alloc(p->arena, sizeof *s);
    if (!s)
        abort(); /* as sk_request_alloc: a handler out of memory cannot answer */
    *s = (struct result_slot){err, msg};
    sk_ctl_park_on_fail(p, fill_slot, s);
}

static void release(struct sk_ctl_park *p)
{
    if (--p->pending == 0)
        p->finish(p->ctx);
}

void sk_ctl_park_end(struct sk_ctl_park *p)
{
    if (p->b->ctl_park == p)
        p->b->ctl_park = NULL;
    release(p);
}

/* One parked commit. Its done may run inside sk_ctl_submit (a refused
 * batch, a blocking syncer): then the commit answers like a synchronous
 * one, since the caller is about to store what it returns. */
struct parked {
    struct sk_ctl_park *park;
    void (*fail)(void *arg, int16_t err, kp_str msg);
    void *fail_arg;
    bool returned;        /* sk_ctl_submit has returned */
    bool answered;        /* done ran */
    int16_t early_err;    /* what done said before the return */
    char early_msg[512];
};

static void late_answer(struct parked *c, int16_t err, const char *msg)
{
    if (!err || !c->fail)
        return;
    kp_str m = KP_STR_NULL;
    size_t n = msg ? strlen(msg) : 0;
    char *copy = n ? kp_arena_alloc(c->park->arena, n + 1) : NULL;
    if (copy) {
        memcpy(copy, msg, n + 1);
        m = (kp_str){copy, (int32_t)n};
    }
    c->fail(c->fail_arg, err, m);
}

static void parked_done(void *arg, int16_t err, const char *msg)
{
    struct parked *c = arg;
    c->answered = true;
    if (!c->returned) {
        c->early_err = err;
        snprintf(c->early_msg, sizeof c->early_msg, "%s", msg ? msg : "");
        return;
    }
    late_answer(c, err, msg);
    struct sk_ctl_park *p = c->park;
    free(c);
    release(p);
}

int16_t sk_ctl_commit_parked(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                             char *msg, size_t msglen)
{
    struct sk_ctl_park *p = b->ctl_park;
    struct parked *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    *c = (struct parked){.park = p, .fail = p->fail, .fail_arg = p->fail_arg};
    p->pending++;
    sk_ctl_submit(b, recs, n, parked_done, c);
    c->returned = true;
    if (!c->answered)
        return SK_ERR_NONE; /* for now: a late failure rewrites the slot */
    int16_t err = c->early_err;
    if (err)
        snprintf(msg, msglen, "%s", c->early_msg);
    free(c);
    p->pending--;
    return err;
}
