/* Request slots: each frame gets the next sequence number; the handler
 * completes slots in any order and responses join the send queue strictly
 * in sequence, so pipelining clients see answers in request order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net-int.h"

/* Releases the segments not yet sent, then the response itself. */
void sk_out_free(struct sk_out *o)
{
	if (!o)
		return;
	for (unsigned i = o->cur; i < o->nsegs; i++)
		if (o->segs[i].free_fn)
			o->segs[i].free_fn(o->segs[i].free_arg);
	free(o);
}

static void free_segs(const struct sk_seg *segs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (segs[i].free_fn)
			segs[i].free_fn(segs[i].free_arg);
}

static struct sk_slot *find_pending(struct sk_conn *c, uint64_t slot)
{
	if (slot < c->slot_head || slot >= c->slot_next)
		return NULL;
	struct sk_slot *sl = sk_conn_slot(c, slot);
	return sl->state == SK_SLOT_PENDING ? sl : NULL;
}

/* Moves the completed prefix of the slot window to the send queue. */
static void advance_head(struct sk_conn *c)
{
	while (c->slot_head < c->slot_next) {
		struct sk_slot *sl = sk_conn_slot(c, c->slot_head);
		if (sl->state == SK_SLOT_PENDING)
			break;
		if (sl->out)
			sk_sendq_push(c, sl->out);
		*sl = (struct sk_slot){ SK_SLOT_FREE, NULL, 0 };
		c->slot_head++;
	}
}

/* A closed connection keeps its slots until the last is completed, which
 * may free it. */
static int complete(struct sk_conn *c, struct sk_slot *sl, struct sk_out *out)
{
	sk_queue_remove(c, sl);
	if (!c->open) {
		sl->state = SK_SLOT_FREE;
		sk_out_free(out);
		sk_conn_maybe_free(c);
		return -ENOTCONN;
	}
	sl->state = out ? SK_SLOT_READY : SK_SLOT_NONE;
	sl->out = out;
	advance_head(c);
	sk_conn_mark_dirty(c);
	return 0;
}

int sk_conn_respond(struct sk_conn *c, uint64_t slot, const struct sk_seg *segs,
		    unsigned nsegs)
{
	struct sk_slot *sl = find_pending(c, slot);
	if (!sl) {
		free_segs(segs, nsegs);
		return -EINVAL;
	}
	struct sk_out *o = malloc(sizeof(*o) + nsegs * sizeof(*segs));
	if (!o) {
		/* Order must hold: a slot that can't carry its answer closes the conn. */
		free_segs(segs, nsegs);
		sk_conn_close(c);
		complete(c, sl, NULL);
		return -ENOMEM;
	}
	*o = (struct sk_out){ .nsegs = nsegs };
	memcpy(o->segs, segs, nsegs * sizeof(*segs));
	return complete(c, sl, o);
}

int sk_conn_respond_buf(struct sk_conn *c, uint64_t slot, void *buf, size_t len)
{
	struct sk_seg seg = sk_seg_mem(buf, len, free, buf);
	return sk_conn_respond(c, slot, &seg, 1);
}

int sk_conn_respond_none(struct sk_conn *c, uint64_t slot)
{
	struct sk_slot *sl = find_pending(c, slot);
	if (!sl)
		return -EINVAL;
	return complete(c, sl, NULL);
}
