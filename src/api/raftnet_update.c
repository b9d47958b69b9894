/* A voter tells its leader where it listens (KIP-853), as Kafka 3.9's
 * followers do: while following as a voter whose entry in the voter set
 * differs from what it is now (a controller restarted on another address,
 * say), it sends UpdateRaftVoter to the leader now and then until the set
 * in its log matches. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "raftnet_int.h"
#include "skein/config.h"
#include "skein/errors.h"
#include "skein/kclient.h"
#include "skein/logging.h"
#include "skein/raft_wire.h"

/* How often a voter whose entry is stale asks again. */
#define UPDATE_PERIOD_MS 2000

struct update_req {
    struct sk_raftnet *rn;
    kp_arena arena;
    kp_update_raft_voter_request body;
};

/* This node as a voter of the set: its controller listener, kraft.version
 * 0-1. False when the listener binds every interface: no address to give. */
static bool local_voter(const struct sk_raftnet *rn, struct sk_raft_voter *v)
{
    const struct sk_config *cfg = rn->b->node->cfg;
    const struct sk_listener *l = sk_config_listener(cfg, cfg->controller_listener);
    size_t nl = strlen(cfg->controller_listener), nh = l ? strlen(l->host) : 0;
    if (!l || nh == 0 || nh > SK_RAFT_HOST_MAX || nl > SK_RAFT_LISTENER_MAX || l->port == 0)
        return false;
    memset(v, 0, sizeof(*v));
    v->id = rn->cfg.node_id;
    memcpy(v->directory_id, rn->cfg.directory_id, SK_RAFT_DIR_ID_LEN);
    v->max_kraft_version = 1;
    v->n_endpoints = 1;
    v->endpoints[0].name_len = (uint8_t)nl;
    v->endpoints[0].host_len = (uint8_t)nh;
    v->endpoints[0].port = l->port;
    memcpy(v->endpoints[0].name, cfg->controller_listener, nl);
    memcpy(v->endpoints[0].host, l->host, nh);
    return true;
}

static bool same_endpoint(const struct sk_raft_endpoint *a, const struct sk_raft_endpoint *b)
{
    return a->name_len == b->name_len && a->host_len == b->host_len && a->port == b->port &&
           memcmp(a->name, b->name, a->name_len) == 0 && memcmp(a->host, b->host, a->host_len) == 0;
}

/* Kafka's VoterSet.voterNodeNeedsUpdate: this replica votes and its entry
 * is not what it would write. */
static bool needs_update(const struct sk_raftnet *rn, const struct sk_raft_voter *me)
{
    const struct sk_raft_voter_set *s = sk_raft_voters(sk_quorum_raft(rn->q));
    if (!sk_raft_voters_has(s, me->id, me->directory_id))
        return false;
    const struct sk_raft_voter *v = &s->voters[sk_raft_voters_find(s, me->id)];
    if (v->min_kraft_version != me->min_kraft_version ||
        v->max_kraft_version != me->max_kraft_version || v->n_endpoints != me->n_endpoints)
        return true;
    for (int32_t i = 0; i < v->n_endpoints; i++)
        if (!same_endpoint(&v->endpoints[i], &me->endpoints[i]))
            return true;
    return false;
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct update_req *u = arg;
    struct sk_raftnet *rn = u->rn;
    int16_t got = err ? err : ((const kp_update_raft_voter_response *)resp)->error_code;
    if (!rn->closing)
        rn->update_in_flight = false;
    if (got && !rn->closing)
        sk_debug("raft: UpdateRaftVoter to the leader: %s; asked again later", sk_err_name(got));
    kp_arena_free(&u->arena);
    free(u);
}

static kp_str arena_str(kp_arena *a, const uint8_t *p, size_t n)
{
    char *s = kp_arena_alloc(a, n + 1);
    if (s)
        memcpy(s, p, n);
    return (kp_str){s, s ? (int32_t)n : 0};
}

static int fill(struct update_req *u, const struct sk_raft_voter *me, int32_t epoch)
{
    kp_update_raft_voter_request *q = &u->body;
    kp_update_raft_voter_request_init(q);
    const struct sk_raft_cluster_id *c = &u->rn->cfg.cluster_id;
    kp_update_raft_voter_request_listener *l = kp_arena_alloc(&u->arena, sizeof(*l));
    if (!l)
        return -1;
    kp_update_raft_voter_request_listener_init(l);
    q->cluster_id = arena_str(&u->arena, c->bytes, (size_t)c->len);
    q->current_leader_epoch = epoch;
    q->voter_id = me->id;
    memcpy(q->voter_directory_id.b, me->directory_id, SK_RAFT_DIR_ID_LEN);
    l->name = arena_str(&u->arena, me->endpoints[0].name, me->endpoints[0].name_len);
    l->host = arena_str(&u->arena, me->endpoints[0].host, me->endpoints[0].host_len);
    l->port = me->endpoints[0].port;
    q->listeners = (kp_update_raft_voter_request_listener_arr){1, l};
    q->k_raft_version_feature.min_supported_version = me->min_kraft_version;
    q->k_raft_version_feature.max_supported_version = me->max_kraft_version;
    return q->cluster_id.ptr && l->name.ptr && l->host.ptr ? 0 : -1;
}

static void send_update(struct sk_raftnet *rn, const struct sk_raft_voter *me)
{
    const struct sk_raft *r = sk_quorum_raft(rn->q);
    struct sk_raftnet_peer *p = sk_raftnet_peer_for(rn, sk_raft_leader(r));
    struct update_req *u = p ? calloc(1, sizeof(*u)) : NULL;
    if (!u)
        return;
    u->rn = rn;
    kp_arena_init(&u->arena, 0);
    if (fill(u, me, sk_raft_epoch(r)) < 0 ||
        sk_kclient_send(p->kc, SK_RAFT_API_UPDATE_VOTER, 0, &u->body, answered, u) < 0) {
        kp_arena_free(&u->arena);
        free(u);
        return;
    }
    rn->update_in_flight = true;
    sk_info("raft: voter %d's endpoint in the voter set is not its own: UpdateRaftVoter to "
            "leader %d", me->id, sk_raft_leader(r));
}

static void tick(void *arg)
{
    struct sk_raftnet *rn = arg;
    const struct sk_raft *r = sk_quorum_raft(rn->q);
    struct sk_raft_voter me;
    rn->update_timer = sk_timer_add(rn->b->shard, UPDATE_PERIOD_MS, tick, rn);
    if (rn->update_in_flight || sk_raft_role(r) != SK_RAFT_FOLLOWER || sk_raft_is_observer(r) ||
        !local_voter(rn, &me) || !needs_update(rn, &me))
        return;
    send_update(rn, &me);
}

void sk_raftnet_update_start(struct sk_raftnet *rn)
{
    if (rn->cfg.kraft_version >= 1)
        rn->update_timer = sk_timer_add(rn->b->shard, UPDATE_PERIOD_MS, tick, rn);
}

void sk_raftnet_update_stop(struct sk_raftnet *rn)
{
    if (rn->update_timer)
        sk_timer_cancel(rn->b->shard, rn->update_timer);
    rn->update_timer = 0;
}
