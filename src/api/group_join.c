/* JoinGroup (key 11): parks until the rebalance completes. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "group_api.h"
#include "skein/errors.h"
#include "skein/net.h"

kp_str sk_api_client_host(struct sk_request *req)
{
    const char *peer = sk_conn_peer(req->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *s = sk_request_alloc(req, n + 2);
    s[0] = '/';
    memcpy(s + 1, peer, n);
    return (kp_str){s, (int32_t)n + 1};
}

static void joined(void *arg, const struct sk_join_result *r)
{
    struct sk_request *req = arg;
    const kp_join_group_request *body = req->body;
    kp_join_group_response *resp = req->resp;
    resp->error_code = r->err;
    resp->generation_id = r->generation;
    resp->protocol_type = sk_api_keep(req, r->protocol_type);
    /* Null is only allowed from v7 on. */
    resp->protocol_name = req->version >= 7 ? sk_api_keep(req, r->protocol_name)
                                            : sk_api_keep_or_empty(req, r->protocol_name);
    resp->leader = sk_api_keep_or_empty(req, r->leader);
    resp->skip_assignment = r->skip_assignment;
    resp->member_id = r->member_id.len >= 0 ? sk_api_keep(req, r->member_id) : body->member_id;
    resp->members.n = r->nmembers;
    resp->members.v = sk_request_alloc(req, sizeof *resp->members.v * (size_t)(r->nmembers + 1));
    for (int i = 0; i < r->nmembers; i++) {
        kp_join_group_response_join_group_response_member *o = &resp->members.v[i];
        kp_join_group_response_join_group_response_member_init(o);
        o->member_id = sk_api_keep(req, r->members[i].member_id);
        o->group_instance_id = sk_api_keep(req, r->members[i].instance_id);
        o->metadata = sk_api_keep_bytes(req, r->members[i].metadata, r->members[i].metadata_len);
    }
    sk_request_respond(req);
}

void sk_api_join_group(struct sk_request *req)
{
    const kp_join_group_request *body = req->body;
    int n = body->protocols.n > 0 ? body->protocols.n : 0;
    struct sk_join_protocol_in *protos = sk_request_alloc(req, sizeof *protos * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        protos[i] = (struct sk_join_protocol_in){body->protocols.v[i].name,
                                                 body->protocols.v[i].metadata};
    struct sk_join_params p = {
        .group_id = body->group_id,
        .member_id = body->member_id,
        .instance_id = body->group_instance_id,
        .protocol_type = body->protocol_type,
        .client_id = req->client_id,
        .client_host = sk_api_client_host(req),
        .reason = body->reason,
        .session_timeout_ms = body->session_timeout_ms,
        /* v0 has no rebalance timeout: the session timeout served as both. */
        .rebalance_timeout_ms = req->version >= 1 ? body->rebalance_timeout_ms
                                                  : body->session_timeout_ms,
        .protocols = protos,
        .nprotocols = n,
        .require_known_member = req->version >= 4,
        .supports_skip_assignment = req->version >= 9,
    };
    sk_group_join(req->broker->groups, &p, joined, req);
}
