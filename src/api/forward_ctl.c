/* A broker's side of forwarding (skein/forward_ctl.h): the client's request
 * goes to the active controller in an Envelope, as Kafka's
 * ForwardingManager sends it, and the controller's answer goes back to the
 * client as it came, under the client's correlation id. A node that is
 * itself the active controller runs the request where it is: the answer is
 * the same, one hop shorter. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/config.h"
#include "skein/envelope.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/net.h"
#include "skein/node.h"
#include "skein/raftnet.h"
#include "skein/submit.h"

/* Admin APIs Kafka 3.9 marks forwardable and Skein's controller decides. */
static const int16_t forwardable_apis[] = {19, 20, 33, 37, 43, 44, 45, 49, 57, 80, 81};

bool sk_forward_ctl_forwardable(int16_t api_key)
{
    for (size_t i = 0; i < sizeof forwardable_apis / sizeof forwardable_apis[0]; i++)
        if (forwardable_apis[i] == api_key)
            return true;
    return false;
}

bool sk_forward_ctl_wanted(const struct sk_request *req)
{
    const struct sk_config *cfg = req->broker->node->cfg;
    return req->conn && sk_config_quorum_on_wire(cfg) &&
           sk_conn_tag(req->conn) != SK_LISTENER_CONTROLLER &&
           sk_forward_ctl_forwardable(req->api->key);
}

bool sk_forward_ctl_creates_remotely(const struct sk_broker *b)
{
    const struct sk_config *cfg = b->node->cfg;
    return sk_config_quorum_on_wire(cfg) && !sk_ctl_quorum_active(b->node);
}

/* One forwarded request: the Envelope and the bytes it points to live here
 * until the channel is done with them, which may be after the client was
 * answered (a deadline passed while the Envelope was on its way). */
struct fwd {
    kp_arena arena;
    kp_envelope_request env;
    struct sk_request *req; /* NULL once answered */
    /* AlterConfigs and IncrementalAlterConfigs of which this node decided
     * some resources itself: those forwarded (in req's arena), of total. */
    const bool *keep;
    int32_t total;
};

/* The request's own timeout where it has one. */
static uint32_t timeout_of(const struct sk_request *req)
{
    int32_t ms = 0;
    switch (req->api->key) {
    case 19: ms = ((const kp_create_topics_request *)req->body)->timeout_ms; break;
    case 20: ms = ((const kp_delete_topics_request *)req->body)->timeout_ms; break;
    case 37: ms = ((const kp_create_partitions_request *)req->body)->timeout_ms; break;
    case 43: ms = ((const kp_elect_leaders_request *)req->body)->timeout_ms; break;
    case 45: ms = ((const kp_alter_partition_reassignments_request *)req->body)->timeout_ms; break;
    case 57: ms = ((const kp_update_features_request *)req->body)->timeout_ms; break;
    case 80: ms = ((const kp_add_raft_voter_request *)req->body)->timeout_ms; break;
    }
    return ms > 0 ? (uint32_t)ms : SK_FORWARD_CTL_RETRY_MS;
}

/* The client's address as Kafka's Envelope carries it: 4 or 16 bytes,
 * from the "host:port" the reactor keeps ("[v6]:port" for IPv6). */
static kp_bytes client_address(const struct sk_request *req, kp_arena *a)
{
    const char *peer = sk_conn_peer(req->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char host[64];
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= sizeof host)
        return (kp_bytes){NULL, 0};
    memcpy(host, peer, n);
    host[n] = 0;
    uint8_t *out = kp_arena_alloc(a, 16);
    if (out && inet_pton(AF_INET, host, out) == 1)
        return (kp_bytes){out, 4};
    if (out && inet_pton(AF_INET6, host, out) == 1)
        return (kp_bytes){out, 16};
    return (kp_bytes){NULL, 0};
}

static bool envelope_not_controller(const void *resp)
{
    return ((const kp_envelope_response *)resp)->error_code == SK_ERR_NOT_CONTROLLER;
}

/* The request's error answer; only its forwarded part's when this node
 * answered the rest itself. */
static void fail(struct sk_request *req, const struct fwd *f, int16_t err)
{
    if (!f->keep) {
        sk_forward_ctl_fail(req, err);
        return;
    }
    sk_alter_configs_fail_kept(req, f->keep, f->total, err);
    sk_request_respond(req);
}

/* The answers to the resources this node forwarded, beside its own. */
static void merge(struct sk_request *req, const struct fwd *f, kp_bytes body)
{
    const kp_msg_info *m = &req->api->response;
    void *resp = kp_arena_alloc((kp_arena *)&f->arena, m->struct_size);
    kp_reader r;
    if (resp) {
        m->init(resp);
        kp_reader_init(&r, body.ptr, (size_t)body.len, (kp_arena *)&f->arena);
    }
    if (!resp || m->decode(resp, &r, req->version) != 0 ||
        !sk_alter_configs_merge(req, f->keep, f->total, resp)) {
        fail(req, f, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    sk_request_respond(req);
}

/* The controller's answer: its body under our header (the client's
 * correlation id, which the embedded request carried). */
static void relay(struct sk_request *req, const struct fwd *f, const kp_envelope_response *r,
                  kp_arena *a)
{
    int32_t corr;
    kp_bytes body;
    int16_t err = sk_envelope_open_response(r->response_data, req->api->key, req->version, a,
                                            &corr, &body);
    if (err == SK_ERR_NONE && corr == req->correlation_id && f->keep) {
        merge(req, f, body);
        return;
    }
    if (f->keep) {
        fail(req, f, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    uint8_t *copy = err == SK_ERR_NONE && corr == req->correlation_id
                        ? malloc(body.len > 0 ? (size_t)body.len : 1)
                        : NULL;
    if (!copy) {
        sk_forward_ctl_fail(req, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    if (body.len > 0)
        memcpy(copy, body.ptr, (size_t)body.len);
    struct sk_seg seg = sk_seg_mem(copy, (size_t)body.len, free, copy);
    sk_request_respond_segs(req, &seg, 1);
}

static void forwarded(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct fwd *f = arg;
    struct sk_request *req = f->req;
    f->req = NULL;
    if (err) {
        /* Kafka's ForwardingManager: the request's own error response,
         * REQUEST_TIMED_OUT once no controller answered in time. */
        bool as_is = err == SK_ERR_REQUEST_TIMED_OUT || err == SK_ERR_UNSUPPORTED_VERSION;
        fail(req, f, as_is ? err : SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    const kp_envelope_response *r = resp;
    /* An Envelope refused as such means a misconfigured controller, which
     * the client would not expect to hear of (ForwardingManager). */
    if (r->error_code != SK_ERR_NONE) {
        fail(req, f, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    relay(req, f, r, &f->arena);
}

static void release(void *arg)
{
    struct fwd *f = arg;
    kp_arena_free(&f->arena);
    free(f);
}

/* The request as the client framed it, with only the resources f->keep
 * marks: its header (tagged fields dropped) and the selected body. */
static int frame_selected(struct sk_request *req, struct fwd *f, int32_t n, kp_bytes *out)
{
    const void *body = sk_alter_configs_select(req, f->keep, n, &f->arena);
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = req->api->key;
    h.request_api_version = req->version;
    h.correlation_id = req->correlation_id;
    h.client_id = req->client_id;
    int16_t hv = kp_request_header_version(req->api, req->version);
    const kp_msg_info *m = &req->api->request;
    size_t len = body ? kp_request_header_size(&h, hv) + m->size(body, req->version) : 0;
    uint8_t *buf = len ? kp_arena_alloc(&f->arena, len) : NULL;
    if (!buf)
        return -1;
    kp_writer w;
    kp_writer_init(&w, buf, len);
    if (kp_request_header_encode(&h, &w, hv) != 0 || m->encode(body, &w, req->version) != 0)
        return -1;
    *out = (kp_bytes){buf, (int32_t)len};
    return 0;
}

/* The request's bytes, copied: they outlive it when its deadline passes
 * first. Whole as received, unless this node decided part of it. */
static int frame_of(struct sk_request *req, struct fwd *f, kp_bytes *out)
{
    if (req->api->key == 33 || req->api->key == 44) {
        bool *keep;
        int32_t n = sk_alter_configs_preprocess(req, &keep, &f->total);
        if (n == 0)
            return 1; /* answered here */
        if (n < f->total) {
            f->keep = keep;
            return frame_selected(req, f, n, out);
        }
    }
    uint8_t *frame = kp_arena_alloc(&f->arena, req->frame_len);
    if (!frame)
        return -1;
    memcpy(frame, req->frame, req->frame_len);
    *out = (kp_bytes){frame, (int32_t)req->frame_len};
    return 0;
}

void sk_forward_ctl_run(struct sk_request *req)
{
    struct sk_node *n = req->broker->node;
    if (sk_ctl_quorum_active(n)) {
        sk_request_run(req);
        return;
    }
    struct fwd *f = calloc(1, sizeof *f);
    if (!f) {
        sk_forward_ctl_fail(req, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    kp_arena_init(&f->arena, 0);
    f->req = req;
    kp_bytes frame = {NULL, 0}, principal = {NULL, 0};
    int rc = frame_of(req, f, &frame);
    if (rc == 1) {
        release(f);
        sk_request_respond(req);
        return;
    }
    if (rc < 0 || sk_envelope_principal(&f->arena, kp_str_c("User"),
                                        kp_str_c(SK_PRINCIPAL_ANONYMOUS), &principal) < 0) {
        release(f);
        sk_forward_ctl_fail(req, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    sk_envelope_wrap(&f->env, frame, principal, client_address(req, &f->arena));
    struct sk_ctl_call_spec spec = {
        .api_key = SK_API_ENVELOPE, .max_version = 0, .body = &f->env,
        .timeout_ms = timeout_of(req), .not_controller = envelope_not_controller,
        .done = forwarded, .release = release, .arg = f,
    };
    if (sk_ctl_call(req->broker, &spec) < 0) {
        release(f);
        sk_forward_ctl_fail(req, SK_ERR_UNKNOWN_SERVER_ERROR);
    }
}
