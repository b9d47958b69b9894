/* Muting a connection for a quota's throttle time. The timer that ends the
 * mute holds a reference on the connection (ops), so it can never fire on a
 * freed one; closing cancels it and lets go of that reference. */
#include "net-int.h"

bool sk_conn_muted(const struct sk_conn *c)
{
	return c->mute_until_ms > c->shard->now_ms;
}

static void unmute(void *arg)
{
	struct sk_conn *c = arg;
	c->mute_timer = 0;
	c->mute_until_ms = 0;
	c->mute_holds = false;
	/* The dirty pass sends what was held and reads what was stashed. */
	sk_conn_mark_dirty(c);
	sk_conn_op_done(c);
}

void sk_conn_throttle(struct sk_conn *c, uint32_t ms, bool hold)
{
	struct sk_shard *s = c->shard;
	if (!c->open || ms == 0)
		return;
	c->mute_holds = c->mute_holds || hold;
	uint64_t until = s->now_ms + ms;
	if (until <= c->mute_until_ms)
		return;
	c->mute_until_ms = until;
	if (c->mute_timer)
		sk_timer_cancel(s, c->mute_timer);
	else
		c->ops++;
	c->mute_timer = sk_timer_add(s, ms, unmute, c);
	if (!c->mute_timer) {
		/* No timer, no mute: better unthrottled than stuck. */
		c->mute_until_ms = 0;
		c->mute_holds = false;
		sk_conn_op_done(c);
	}
}

void sk_conn_unmute_on_close(struct sk_conn *c)
{
	if (!c->mute_timer)
		return;
	sk_timer_cancel(c->shard, c->mute_timer);
	c->mute_timer = 0;
	c->mute_until_ms = 0;
	c->mute_holds = false;
	c->ops--; /* the caller's dirty pass frees the connection when it may */
}
