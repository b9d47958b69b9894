/* Whole-request forwarding between the shards of a node.
 *
 * A request read on one shard (its "home": the connection's) whose state
 * lives on another (a group's coordinator shard, the controller shard) runs
 * its handler on that owner: the handler finds req->broker set to the
 * owner's context and answers as always (sk_request_respond...). Its bytes
 * are encoded on the owner and handed back to the home shard, which alone
 * touches the connection. A connection closed meanwhile keeps its pending
 * slot valid, so the late answer is just dropped there. */
#ifndef SKEIN_FORWARD_H
#define SKEIN_FORWARD_H

#include <stdbool.h>

#include "skein/api.h"
#include "skein/net-t.h"

/* The shard that must run req (decoded, on its home shard), or -1 when any
 * shard may, its own included, or SK_FORWARD_RELAY. Group APIs go to their
 * group's shard (sk_shard_of_group), controller and admin APIs and
 * InitProducerId to shard 0. */
#define SK_FORWARD_RELAY (-2)
int sk_forward_owner(const struct sk_request *req);

/* A request that names groups of several shards (DescribeGroups,
 * DeleteGroups, OffsetFetch v8+; SK_FORWARD_RELAY above) runs on each of
 * those shards in turn, the request passing from one to the next as a
 * message, so only one thread has it at a time. Each run answers the
 * groups its shard coordinates (sk_request_group_here) and then responds as
 * usual; that response moves it on, and the last one is sent. The first
 * run (req->relay_hops == 0) lays out the whole response, a shard that
 * cannot be reached leaving its groups as laid out. */
int sk_forward_relay_start(struct sk_request *req, sk_handler_fn fn);
/* In sk_request_respond: true when req went on to its next shard. */
bool sk_forward_relay_next(struct sk_request *req);
/* Whether this run of req answers group (always, unless relayed). */
bool sk_request_group_here(const struct sk_request *req, kp_str group);

/* Runs fn(req) on shard `shard` with req->broker its context and req->home
 * the current one. 0, or -ESHUTDOWN (owner stopping) / -ENOMEM / -EINVAL:
 * then nothing was posted and req is still the caller's. */
int sk_forward_request(struct sk_request *req, int shard, sk_handler_fn fn);

/* On the owner: sends segs (n == 0: no response) back to req's home shard,
 * with the quota mute in throttle_ms/hold and, with close, closing the
 * connection. Takes the segments in all cases. False when req was not
 * forwarded (nothing was taken: answer on the connection directly). */
bool sk_forward_reply(struct sk_request *req, const struct sk_seg *segs, unsigned n,
                      uint32_t throttle_ms, bool hold, bool close);

#endif
