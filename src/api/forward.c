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

/* OffsetFetch from v8 and DescribeGroups name several groups: one alone is
 * forwarded, several are answered where they arrived (not split yet). */
static int owner_of_groups(const struct sk_request *req)
{
    switch (req->api->key) {
    case 9: {
        const kp_offset_fetch_request *r = req->body;
        if (req->version < 8)
            return group_owner(req, r->group_id);
        return r->groups.n == 1 ? group_owner(req, r->groups.v[0].group_id) : -1;
    }
    case 15: {
        const kp_describe_groups_request *r = req->body;
        return r->groups.n == 1 ? group_owner(req, r->groups.v[0]) : -1;
    }
    }
    return -1;
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
    if (!r->allow_auto_topic_creation || !req->broker->node->cfg->log.auto_create_topics)
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
    case 11: return group_owner(req, ((const kp_join_group_request *)req->body)->group_id);
    case 14: return group_owner(req, ((const kp_sync_group_request *)req->body)->group_id);
    case 12: return group_owner(req, ((const kp_heartbeat_request *)req->body)->group_id);
    case 13: return group_owner(req, ((const kp_leave_group_request *)req->body)->group_id);
    case 8: return group_owner(req, ((const kp_offset_commit_request *)req->body)->group_id);
    case 28: return group_owner(req, ((const kp_txn_offset_commit_request *)req->body)->group_id);
    case 47: return group_owner(req, ((const kp_offset_delete_request *)req->body)->group_id);
    case 9:
    case 15:
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
    req->home = req->broker;
    req->broker = owner;
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
