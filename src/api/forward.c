/* Whole-request forwarding (skein/forward.h): the request cell travels to
 * the owner shard and back only as bytes; the owner never touches the
 * connection, the home shard never touches the owner's state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/group.h"
#include "skein/forward.h"
#include "skein/net.h"
#include "skein/node.h"

static int group_owner(const struct sk_request *req, kp_str group)
{
    return sk_shard_of_group(req->broker->node, group);
}

/* The i-th group a several-groups request names. */
static kp_str nth_group(const struct sk_request *req, int32_t i)
{
    switch (req->api->key) {
    case 9: return ((const kp_offset_fetch_request *)req->body)->groups.v[i].group_id;
    case 15: return ((const kp_describe_groups_request *)req->body)->groups.v[i];
    default: return ((const kp_delete_groups_request *)req->body)->groups_names.v[i];
    }
}

static int32_t count_groups(const struct sk_request *req)
{
    int32_t n;
    switch (req->api->key) {
    case 9: n = ((const kp_offset_fetch_request *)req->body)->groups.n; break;
    case 15: n = ((const kp_describe_groups_request *)req->body)->groups.n; break;
    default: n = ((const kp_delete_groups_request *)req->body)->groups_names.n; break;
    }
    return n > 0 ? n : 0;
}

/* The shards of the groups it names, a bit each. */
static uint64_t group_shards(const struct sk_request *req)
{
    uint64_t mask = 0;
    for (int32_t i = 0, n = count_groups(req); i < n; i++)
        mask |= UINT64_C(1) << group_owner(req, nth_group(req, i));
    return mask;
}

/* OffsetFetch from v8, DescribeGroups and DeleteGroups name several groups:
 * on one shard they run there, on several they are relayed. */
static int owner_of_groups(const struct sk_request *req)
{
    if (req->api->key == 9 && req->version < 8)
        return group_owner(req, ((const kp_offset_fetch_request *)req->body)->group_id);
    uint64_t mask = group_shards(req);
    if (mask == 0)
        return -1;
    if ((mask & (mask - 1)) == 0)
        return __builtin_ctzll(mask);
    /* Relayed, while a bit per shard holds them. */
    return req->broker->node->nshards <= 64 ? SK_FORWARD_RELAY : -1;
}

/* Creating a topic is the controller's work, on shard 0: a Metadata request
 * that would auto-create one runs there (its answer reaches the home shard
 * after the new image does, both being messages from shard 0), as does a
 * FindCoordinator that would create __consumer_offsets. Both are rare; the
 * usual ones are answered where they arrive. */
static bool would_create(const struct sk_request *req)
{
    const struct sk_meta_image *img = req->broker->image;
    if (req->api->key == 10)
        return !sk_meta_topic(img, SK_GROUP_OFFSETS_TOPIC, strlen(SK_GROUP_OFFSETS_TOPIC));
    const kp_metadata_request *r = req->body;
    if (!r->allow_auto_topic_creation || !req->broker->cfg->log.auto_create_topics)
        return false;
    for (int32_t i = 0; i < r->topics.n; i++) {
        kp_str name = r->topics.v[i].name;
        if (name.len > 0 && !sk_meta_topic(img, name.ptr, (size_t)name.len) &&
            sk_topic_name_valid(name))
            return true;
    }
    return false;
}

int sk_forward_owner(const struct sk_request *req)
{
    if (req->broker->node->nshards <= 1)
        return -1;
    switch (req->api->key) {
    case 3:
    case 10:
        return would_create(req) ? 0 : -1;
    /* DescribeQuorum and the voter changes: the quorum runs on shard 0. */
    case 55: case 80: case 81: return 0;
    case 11: return group_owner(req, ((const kp_join_group_request *)req->body)->group_id);
    case 14: return group_owner(req, ((const kp_sync_group_request *)req->body)->group_id);
    case 12: return group_owner(req, ((const kp_heartbeat_request *)req->body)->group_id);
    case 13: return group_owner(req, ((const kp_leave_group_request *)req->body)->group_id);
    case 8: return group_owner(req, ((const kp_offset_commit_request *)req->body)->group_id);
    case 28: return group_owner(req, ((const kp_txn_offset_commit_request *)req->body)->group_id);
    case 47: return group_owner(req, ((const kp_offset_delete_request *)req->body)->group_id);
    case 9:
    case 15:
    case 42:
        return owner_of_groups(req);
    /* The controller's: topics, configs, quotas, features, ACLs, elections,
     * reassignments, producer ids. */
    case 19: case 20: case 22: case 30: case 31: case 33: case 37: case 43:
    case 44: case 45: case 46: case 48: case 49: case 57:
        return 0;
    }
    return -1;
}

struct fwd_task {
    struct sk_request *req;
    sk_handler_fn fn;
};

static void run_on_owner(struct sk_broker *owner, void *arg)
{
    struct fwd_task *t = arg;
    struct sk_request *req = t->req;
    sk_handler_fn fn = t->fn;
    free(t);
    /* A relayed request keeps its first home; back there, it is home's own. */
    if (!req->home)
        req->home = req->broker;
    req->broker = owner;
    if (req->home == owner)
        req->home = NULL;
    fn(req);
}

int sk_forward_request(struct sk_request *req, int shard, sk_handler_fn fn)
{
    struct fwd_task *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = (struct fwd_task){req, fn};
    int rc = sk_node_post(req->broker->node, shard, run_on_owner, t);
    if (rc < 0)
        free(t);
    return rc;
}

/* ---- relay over several shards ------------------------------------------- */

bool sk_request_group_here(const struct sk_request *req, kp_str group)
{
    return req->relay_hops == 0 && req->relay == 0 ? true
           : group_owner(req, group) == req->broker->index;
}

/* The connection's shard runs first when it has groups, so a relay that
 * ends early (a shard stopping) still has them. */
int sk_forward_relay_start(struct sk_request *req, sk_handler_fn fn)
{
    uint64_t mask = group_shards(req);
    int first = mask & (UINT64_C(1) << req->broker->index) ? req->broker->index
                                                          : __builtin_ctzll(mask);
    req->relay = mask & ~(UINT64_C(1) << first);
    if (first == req->broker->index) {
        fn(req);
        return 0;
    }
    int rc = sk_forward_request(req, first, fn);
    if (rc < 0)
        req->relay = 0;
    return rc;
}

bool sk_forward_relay_next(struct sk_request *req)
{
    while (req->relay) {
        int next = __builtin_ctzll(req->relay);
        req->relay &= req->relay - 1;
        req->relay_hops++;
        const struct sk_api_entry *e = sk_api_entry(req->api->key);
        if (e && sk_forward_request(req, next, e->handler) == 0)
            return true;
    }
    return false;
}

struct fwd_reply {
    struct sk_conn *conn;
    uint64_t slot;
    uint32_t throttle_ms;
    bool hold, close;
    unsigned n;
    struct sk_seg segs[];
};

static void free_segs(const struct sk_seg *segs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (segs[i].free_fn)
            segs[i].free_fn(segs[i].free_arg);
}

static void apply_on_home(struct sk_broker *home, void *arg)
{
    (void)home;
    struct fwd_reply *r = arg;
    if (r->close)
        sk_conn_close(r->conn);
    if (r->throttle_ms)
        sk_conn_throttle(r->conn, r->throttle_ms, r->hold);
    if (r->n)
        sk_conn_respond(r->conn, r->slot, r->segs, r->n);
    else
        sk_conn_respond_none(r->conn, r->slot);
    free(r);
}

bool sk_forward_reply(struct sk_request *req, const struct sk_seg *segs, unsigned n,
                      uint32_t throttle_ms, bool hold, bool close)
{
    if (!req->home)
        return false;
    struct fwd_reply *r = malloc(sizeof *r + sizeof *segs * n);
    if (!r) {
        /* The slot then stays unanswered until the connection goes. */
        free_segs(segs, n);
        return true;
    }
    *r = (struct fwd_reply){req->conn, req->slot, throttle_ms, hold, close, n};
    if (n)
        memcpy(r->segs, segs, sizeof *segs * n);
    /* A home shard that is stopping drops its connections: nothing to tell. */
    if (sk_node_post(req->broker->node, req->home->index, apply_on_home, r) < 0) {
        free_segs(segs, n);
        free(r);
    }
    return true;
}
