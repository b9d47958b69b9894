/* How an admin handler waits for its changes without blocking its shard:
 * while a park is open on the shard, every controller commit the handler
 * makes is submitted asynchronously (skein/submit.h) and answers once it
 * committed; the handler answers its client when the last one has.
 *
 * A commit that fails later writes its error and message into the result
 * slot the handler named before the call, as if the call had returned it. */
#ifndef SKEIN_CTL_PARK_H
#define SKEIN_CTL_PARK_H

#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"

struct sk_ctl_park {
    struct sk_broker *b;
    kp_arena *arena; /* where late messages are copied (the request's) */
    int pending;     /* commits in flight, plus one while the handler runs */
    /* Where the next commits' late failures go: fail(fail_arg, err, msg),
     * msg in the arena. */
    void (*fail)(void *arg, int16_t err, kp_str msg);
    void *fail_arg;
    void (*finish)(void *ctx);
    void *ctx;
};

/* Opens p on b: commits from now on are parked. finish(ctx) runs once,
 * after sk_ctl_park_end and every parked commit's answer. */
void sk_ctl_park_begin(struct sk_ctl_park *p, struct sk_broker *b, kp_arena *arena,
                       void (*finish)(void *ctx), void *ctx);
/* Where the next commits' late failures go: one result's error code and
 * message (both in memory that outlives the park, the request's). */
void sk_ctl_park_slot(struct sk_ctl_park *p, int16_t *err, kp_str *msg);
/* Or any handler's own way of recording one (a commit covering many). */
void sk_ctl_park_on_fail(struct sk_ctl_park *p, void (*fail)(void *arg, int16_t err, kp_str msg),
                         void *arg);
/* The handler is done; finish runs now if nothing is in flight. */
void sk_ctl_park_end(struct sk_ctl_park *p);

#endif
