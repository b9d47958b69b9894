/* From frame to handler and from response struct to bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "kp_frame.h"
#include "skein/api.h"
#include "skein/quota.h"
#include "skein/errors.h"
#include "skein/forward.h"
#include "skein/forward_ctl.h"
#include "skein/logging.h"
#include "skein/submit.h"
#include "skein/net.h"

/* Decoding may allocate at most this much per request: struct sizes exceed
 * wire sizes by a small factor, so a legal frame stays far below it. */
#define SK_ARENA_FACTOR 64
#define SK_ARENA_SLACK (64 * 1024)

static void request_free(struct sk_request *req)
{
    kp_arena_free(&req->arena);
    free(req->frame);
    free(req);
}

static bool client_throttles(const struct sk_request *req);

/* The answer (n == 0: none) goes to the connection, or back to its shard
 * when the request was forwarded. Takes segs. */
static void deliver(struct sk_request *req, const struct sk_seg *segs, unsigned n, bool close)
{
    if (req->captured) {
        req->captured(req, segs, n, close);
        return;
    }
    uint32_t mute = !close && req->throttle_ms > 0 ? (uint32_t)req->throttle_ms : 0;
    bool hold = mute && !client_throttles(req);
    if (sk_forward_reply(req, segs, n, mute, hold, close))
        return;
    if (close)
        sk_conn_close(req->conn);
    if (mute)
        sk_conn_throttle(req->conn, mute, hold);
    if (n)
        sk_conn_respond(req->conn, req->slot, segs, n);
    else
        sk_conn_respond_none(req->conn, req->slot);
}

static const char *peer(const struct sk_request *req)
{
    return req->conn ? sk_conn_peer(req->conn) : "an envelope";
}

static void request_fail(struct sk_request *req, const char *what, int rc)
{
    sk_warn("closing connection from %s: %s (api %d v%d, correlation %d): %s",
            peer(req), what, req->api ? req->api->key : -1, req->version,
            req->correlation_id, kp_strerror(rc));
    deliver(req, NULL, 0, true);
    request_free(req);
}

void *sk_request_alloc(struct sk_request *req, size_t n)
{
    void *p = kp_arena_calloc(&req->arena, 1, n);
    if (!p)
        abort(); /* the arena has no limit once decoding is done */
    return p;
}

kp_str sk_request_keep(struct sk_request *req, kp_str s)
{
    if (s.len < 0)
        return KP_STR_NULL;
    char *p = sk_request_alloc(req, (size_t)s.len + 1);
    if (s.len)
        memcpy(p, s.ptr, (size_t)s.len);
    return (kp_str){p, s.len};
}

kp_str sk_request_strdup(struct sk_request *req, const char *s)
{
    if (!s)
        return KP_STR_NULL;
    size_t n = strlen(s);
    char *p = sk_request_alloc(req, n + 1);
    memcpy(p, s, n);
    return (kp_str){p, (int32_t)n};
}

/* Produce from v6 and Fetch from v8 on, clients wait out throttle_time_ms
 * themselves (KIP-219): their answer goes at once and only reading stops.
 * Older ones learn nothing from the field, so their answer waits too. */
static bool client_throttles(const struct sk_request *req)
{
    switch (req->api->key) {
    case 0: return req->version >= 6;
    case 1: return req->version >= 8;
    default: return true;
    }
}

int32_t sk_request_quota(struct sk_request *req, int t, double bytes)
{
    struct sk_broker *b = req->broker;
    if (!b->quotas || b->image->nquotas == 0)
        return 0;
    int32_t ms = sk_quota_record(b->quotas, b->image, (enum sk_quota_type)t,
                                 SK_PRINCIPAL_ANONYMOUS, req->client_id, bytes,
                                 sk_shard_now_ms(b->shard));
    if (ms > req->throttle_ms)
        req->throttle_ms = ms;
    return ms;
}

bool sk_request_mutation(struct sk_request *req, double permits, bool strict)
{
    struct sk_broker *b = req->broker;
    if (!b->quotas || b->image->nquotas == 0)
        return true;
    int32_t ms = 0;
    bool ok = sk_quota_mutation(b->quotas, b->image, SK_PRINCIPAL_ANONYMOUS, req->client_id,
                                permits, strict, sk_shard_now_ms(b->shard), &ms);
    if (ms > req->throttle_ms)
        req->throttle_ms = ms;
    return ok;
}

void sk_request_drop(struct sk_request *req)
{
    deliver(req, NULL, 0, false);
    request_free(req);
}

/* Writes [size][response header][body] into one buffer. */
void sk_request_respond(struct sk_request *req)
{
    if (req->relay && sk_forward_relay_next(req))
        return;
    const kp_api_info *api = req->api;
    int16_t hv = kp_response_header_version(api, req->version);
    kp_response_header hdr;
    kp_response_header_init(&hdr);
    hdr.correlation_id = req->correlation_id;
    size_t hlen = kp_response_header_size(&hdr, hv);
    size_t blen = api->response.size(req->resp, req->version);
    size_t total = 4 + hlen + blen;
    uint8_t *buf = malloc(total);
    if (!buf) {
        request_fail(req, "out of memory for the response", KP_E_NOMEM);
        return;
    }
    kp_writer w;
    kp_writer_init(&w, buf, total);
    int rc = kp_write_i32(&w, (int32_t)(hlen + blen));
    if (rc == 0)
        rc = kp_response_header_encode(&hdr, &w, hv);
    if (rc == 0)
        rc = api->response.encode(req->resp, &w, req->version);
    if (rc < 0) {
        free(buf);
        request_fail(req, "response cannot be encoded", rc);
        return;
    }
    struct sk_seg seg = sk_seg_mem(buf, total, free, buf);
    deliver(req, &seg, 1, false);
    request_free(req);
}

/* Sends [size][response header] followed by body segments the handler
 * encoded itself (fetch: records stay in their files). The segments are the
 * reactor's from here on, also on failure. */
void sk_request_respond_segs(struct sk_request *req, const struct sk_seg *segs, unsigned n)
{
    int16_t hv = kp_response_header_version(req->api, req->version);
    kp_response_header hdr;
    kp_response_header_init(&hdr);
    hdr.correlation_id = req->correlation_id;
    size_t hlen = kp_response_header_size(&hdr, hv);
    size_t blen = 0;
    for (unsigned i = 0; i < n; i++)
        blen += segs[i].len;
    uint8_t *head = malloc(4 + hlen);
    struct sk_seg *all = malloc(sizeof *all * (n + 1));
    kp_writer w;
    kp_writer_init(&w, head, 4 + hlen);
    int rc = head && all ? kp_write_i32(&w, (int32_t)(hlen + blen)) : KP_E_NOMEM;
    if (rc == 0)
        rc = kp_response_header_encode(&hdr, &w, hv);
    if (rc < 0) {
        for (unsigned i = 0; i < n; i++)
            if (segs[i].free_fn)
                segs[i].free_fn(segs[i].free_arg);
        free(head);
        free(all);
        request_fail(req, "response header cannot be encoded", rc);
        return;
    }
    all[0] = sk_seg_mem(head, 4 + hlen, free, head);
    memcpy(all + 1, segs, sizeof *segs * n);
    deliver(req, all, n + 1, false);
    free(all);
    request_free(req);
}

/* ApiVersions at a version this broker does not know is answered at v0 with
 * UNSUPPORTED_VERSION and the full list, so the client can pick a version. */
static void respond_unsupported_api_versions(struct sk_request *req)
{
    req->version = 0;
    req->resp = sk_request_alloc(req, req->api->response.struct_size);
    req->api->response.init(req->resp);
    sk_api_versions_fill(req);
    ((kp_api_versions_response *)req->resp)->error_code = SK_ERR_UNSUPPORTED_VERSION;
    sk_request_respond(req);
}

static int decode_request(struct sk_request *req)
{
    kp_request_frame f;
    int rc = kp_request_frame_decode(&f, req->api, req->version, req->frame,
                                     (size_t)req->frame_len, &req->arena);
    if (rc < 0)
        return rc;
    req->client_id = f.hdr.client_id;
    req->body = f.body;
    return 0;
}

/* Runs the handler here, or on the shard that owns the request's state; an
 * owner that is stopping cannot take it, and the connection is closed as a
 * stopping node closes it (Kafka's clients retry elsewhere). */
static void dispatch(struct sk_request *req, sk_handler_fn fn)
{
    int owner = sk_forward_owner(req);
    if (owner == -1 || owner == req->broker->index) {
        fn(req);
        return;
    }
    int rc = owner == SK_FORWARD_RELAY ? sk_forward_relay_start(req, fn)
                                       : sk_forward_request(req, owner, fn);
    if (rc < 0) {
        sk_warn("closing connection from %s: shard %d cannot take api %d (correlation %d): %s",
                peer(req), owner, req->api->key, req->correlation_id,
                strerror(-rc));
        deliver(req, NULL, 0, true);
        request_free(req);
    }
}

/* Kafka serves a connection's requests one at a time (its socket server
 * mutes the channel until the answer has left), so an answer describes the
 * cluster as it is when it is sent. Answering out of order and sending in
 * order would break that: a Metadata request behind an acks=all Produce
 * parked for seconds would be answered at once and reach the client
 * seconds later, naming a leader that has since changed (librdkafka then
 * moves the partition back to the dead leader). So only Produce overtakes:
 * pipelined produces share one group commit, and a produce answer
 * describes nothing but its own append. */
bool sk_api_may_overtake(const uint8_t *frame, uint32_t len)
{
    enum { PRODUCE = 0 };
    return len >= 2 && (frame[0] << 8 | frame[1]) == PRODUCE;
}

void sk_api_on_frame(void *arg, struct sk_conn *conn, struct sk_frame *frame)
{
    struct sk_request *req = calloc(1, sizeof *req);
    if (!req) {
        free(frame->data);
        sk_conn_close(conn);
        sk_conn_respond_none(conn, frame->slot);
        return;
    }
    req->broker = arg;
    req->conn = conn;
    req->slot = frame->slot;
    req->frame = frame->data;
    req->frame_len = frame->len;
    kp_arena_init(&req->arena, (size_t)frame->len * SK_ARENA_FACTOR + SK_ARENA_SLACK);

    if (frame->len < 8) {
        request_fail(req, "frame shorter than a request header", KP_E_SHORT);
        return;
    }
    int16_t key = (int16_t)kp_be16(frame->data);
    req->version = (int16_t)kp_be16(frame->data + 2);
    req->correlation_id = (int32_t)kp_be32(frame->data + 4);
    const struct sk_api_entry *e = sk_api_entry_for(req, key);
    req->api = kp_api_get(key);
    if (!e || !req->api) {
        request_fail(req, "unknown or unsupported api key", KP_E_UNKNOWN);
        return;
    }
    if (req->version < e->min_version || req->version > e->max_version) {
        if (key == 18) {
            respond_unsupported_api_versions(req);
            return;
        }
        request_fail(req, "unsupported api version", KP_E_UNKNOWN);
        return;
    }
    int rc = decode_request(req);
    if (rc < 0) {
        request_fail(req, "malformed request", rc);
        return;
    }
    /* Decoding is done: responses may be as large as they need to be. */
    req->arena.limit = 0;
    req->resp = sk_request_alloc(req, req->api->response.struct_size);
    req->api->response.init(req->resp);
    sk_debug("%s: api %d v%d correlation %d", sk_conn_peer(conn), key, req->version,
             req->correlation_id);
    dispatch(req, sk_forward_ctl_wanted(req) ? sk_forward_ctl_run : e->handler);
}

struct sk_request *sk_request_embedded(struct sk_broker *b, const uint8_t *frame, size_t len,
                                       void (*captured)(struct sk_request *, const struct sk_seg *,
                                                        unsigned, bool),
                                       void *arg, int16_t *err)
{
    *err = SK_ERR_INVALID_REQUEST;
    if (len < 8 || len > INT32_MAX)
        return NULL;
    struct sk_request *req = calloc(1, sizeof *req);
    uint8_t *copy = malloc(len);
    if (!req || !copy) {
        free(req);
        free(copy);
        *err = SK_ERR_UNKNOWN_SERVER_ERROR;
        return NULL;
    }
    memcpy(copy, frame, len);
    *req = (struct sk_request){.broker = b, .frame = copy, .frame_len = (uint32_t)len,
                               .captured = captured, .capture_arg = arg};
    kp_arena_init(&req->arena, len * SK_ARENA_FACTOR + SK_ARENA_SLACK);
    int16_t key = (int16_t)kp_be16(copy);
    req->version = (int16_t)kp_be16(copy + 2);
    req->correlation_id = (int32_t)kp_be32(copy + 4);
    const struct sk_api_entry *e = sk_api_entry(key);
    req->api = kp_api_get(key);
    if (e && req->api && (req->version < e->min_version || req->version > e->max_version))
        *err = SK_ERR_UNSUPPORTED_VERSION;
    else if (e && req->api && decode_request(req) == 0)
        *err = SK_ERR_NONE;
    if (*err) {
        request_free(req);
        return NULL;
    }
    req->arena.limit = 0;
    req->resp = sk_request_alloc(req, req->api->response.struct_size);
    req->api->response.init(req->resp);
    return req;
}

void sk_request_run(struct sk_request *req)
{
    sk_api_entry(req->api->key)->handler(req);
}

/* Kafka names a random live broker, which forwards admin requests to the
 * active controller. Skein names the active controller when that is a live
 * broker (a combined node), saving admin clients the forwarding hop;
 * otherwise a live broker, this one first, which forwards them
 * (skein/forward_ctl.h). */
int32_t sk_api_controller_id(const struct sk_request *req, const struct sk_live_broker *lb, int n)
{
    int32_t self = req->broker->node->node_id, leader = sk_ctl_quorum_leader(req->broker->node);
    int32_t pick = n > 0 ? lb[0].id : self;
    for (int i = 0; i < n; i++) {
        if (lb[i].id == leader)
            return leader;
        if (lb[i].id == self)
            pick = self;
    }
    return pick;
}

int sk_api_live_brokers(struct sk_request *req, struct sk_live_broker **out)
{
    const struct sk_meta_image *img = req->broker->image;
    struct sk_live_broker *v = sk_request_alloc(req, sizeof *v * (size_t)(img->nbrokers + 1));
    int n = 0;
    for (int i = 0; i < img->nbrokers; i++) {
        const struct sk_broker_meta *b = &img->brokers[i];
        const struct sk_endpoint_meta *ep = sk_meta_endpoint(b, req->broker->node->listener_name);
        if (ep && !b->fenced)
            v[n++] = (struct sk_live_broker){b->id, kp_str_c(ep->host), ep->port, kp_str_c(b->rack)};
    }
    *out = v;
    return n;
}
