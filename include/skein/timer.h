/* Shard timers for parked requests: fetch max.wait, acks=all and session
 * timeouts. Callbacks run on the shard thread. */
#ifndef SKEIN_TIMER_H
#define SKEIN_TIMER_H

#include "skein/net-t.h"

/* Fires cb(arg) once, no earlier than ms from now. Returns 0 on ENOMEM. */
sk_timer_id sk_timer_add(struct sk_shard *s, uint64_t ms, sk_timer_fn cb, void *arg);
/* 0 if cancelled, -ENOENT if it already fired or never existed. */
int sk_timer_cancel(struct sk_shard *s, sk_timer_id id);

#endif
