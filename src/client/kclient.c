/* A Kafka client connection: requests wait until the handshake is done and
 * a slot under max.in.flight is free, go out encoded at the negotiated
 * version with the next correlation id, and are answered in order (Kafka
 * answers a connection's requests in the order they came, so the answer
 * must be for the oldest in flight; any other correlation id is a protocol
 * error that resets the connection, as in Kafka's NetworkClient).
 *
 * request.timeout.ms runs from the send; when it expires the connection is
 * reset and every request in flight on it fails with REQUEST_TIMED_OUT: in
 * Kafka's NetworkClient they all come back disconnected and timed out, and
 * its producer reads that as REQUEST_TIMED_OUT. A drop for any other reason
 * fails them with NETWORK_EXCEPTION. A request still waiting for a
 * connection after the timeout fails with REQUEST_TIMED_OUT too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client-int.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"
#include "skein/timer.h"

/* Decoding may allocate at most this much per response beyond its size, as
 * the broker bounds request decoding (src/api/request.c). */
#define SK_ARENA_FACTOR 64
#define SK_ARENA_SLACK (64 * 1024)

void sk_kclient_config_defaults(struct sk_kclient_config *cfg)
{
    *cfg = (struct sk_kclient_config){
        .request_timeout_ms = 30000,
        .max_inflight = 5,
        .software_name = "skein",
        .software_version = "unknown",
    };
    sk_outconn_config_defaults(&cfg->conn);
}

static void enter(struct sk_kclient *kc)
{
    kc->busy++;
}

static void kc_free(struct sk_kclient *kc)
{
    if (kc->timer)
        sk_timer_cancel(kc->shard, kc->timer);
    free(kc->client_id);
    free(kc->sw_name);
    free(kc->sw_version);
    free(kc);
}

/* A callback may have closed the client: it is freed once none is running. */
static void leave(struct sk_kclient *kc)
{
    if (--kc->busy == 0 && kc->closing)
        kc_free(kc);
}

static void on_timer(void *arg);

static void rearm(struct sk_kclient *kc)
{
    uint64_t at = UINT64_MAX;
    if (kc->waiting.head)
        at = kc->waiting.head->deadline_ms;
    if (kc->inflight.head && kc->inflight.head->deadline_ms < at)
        at = kc->inflight.head->deadline_ms;
    if (kc->timer && kc->timer_at == at)
        return;
    if (kc->timer)
        sk_timer_cancel(kc->shard, kc->timer);
    kc->timer = 0;
    if (at == UINT64_MAX || kc->closing)
        return;
    uint64_t now = sk_shard_now_ms(kc->shard);
    kc->timer = sk_timer_add(kc->shard, at > now ? at - now : 0, on_timer, kc);
    kc->timer_at = at;
}

/* [size][request header][body] in one buffer. */
int sk_kc_transmit(struct sk_kclient *kc, struct sk_kreq *r)
{
    const kp_api_info *api = kp_api_get(r->key);
    int16_t hv = kp_request_header_version(api, r->version);
    kp_request_header hdr;
    kp_request_header_init(&hdr);
    hdr.request_api_key = r->key;
    hdr.request_api_version = r->version;
    hdr.correlation_id = kc->next_corr;
    hdr.client_id = kc->client_id ? (kp_str){ kc->client_id, (int32_t)strlen(kc->client_id) }
                                  : KP_STR_NULL;
    size_t total = 4 + kp_request_header_size(&hdr, hv) + api->request.size(r->body, r->version);
    if (total - 4 > INT32_MAX)
        return -EMSGSIZE;
    uint8_t *buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    kp_writer w;
    kp_writer_init(&w, buf, total);
    int rc = kp_write_i32(&w, (int32_t)(total - 4));
    if (rc == 0)
        rc = kp_request_header_encode(&hdr, &w, hv);
    if (rc == 0)
        rc = api->request.encode(r->body, &w, r->version);
    if (rc < 0) {
        free(buf);
        return -EINVAL;
    }
    rc = sk_outconn_send_buf(kc->oc, buf, total);
    if (rc)
        return rc;
    r->corr = kc->next_corr;
    kc->next_corr = kc->next_corr == INT32_MAX ? 0 : kc->next_corr + 1;
    r->deadline_ms = sk_shard_now_ms(kc->shard) + kc->cfg.request_timeout_ms;
    sk_kreq_push(&kc->inflight, r);
    return 0;
}

/* Sends what waits while there is room; callbacks of refused requests may
 * queue more, which the loop then sees. */
static void pump(struct sk_kclient *kc)
{
    while (kc->ready && !kc->closing && kc->waiting.head &&
           kc->inflight.n < kc->cfg.max_inflight) {
        struct sk_kreq *r = sk_kreq_pop(&kc->waiting);
        r->version = sk_kc_pick_version(kc, r->key, r->max_version);
        if (r->version < 0) {
            sk_kreq_finish(r, SK_ERR_UNSUPPORTED_VERSION, NULL);
            continue;
        }
        int rc = sk_kc_transmit(kc, r);
        if (rc == -EINVAL) {
            /* A field the version cannot carry: Kafka refuses it the same way. */
            sk_kreq_finish(r, SK_ERR_UNSUPPORTED_VERSION, NULL);
        } else if (rc) {
            sk_kreq_finish(r, SK_ERR_NETWORK_EXCEPTION, NULL);
        }
    }
    rearm(kc);
}

void sk_kc_ready(struct sk_kclient *kc)
{
    kc->ready = true;
    if (kc->h.on_ready)
        kc->h.on_ready(kc->h.arg, kc);
    pump(kc);
}

void sk_kc_protocol_error(struct sk_kclient *kc, const char *what)
{
    sk_warn("client: resetting connection: %s", what);
    sk_outconn_disconnect(kc->oc, -EPROTO);
}

static void on_timer(void *arg)
{
    struct sk_kclient *kc = arg;
    kc->timer = 0;
    enter(kc);
    uint64_t now = sk_shard_now_ms(kc->shard);
    while (kc->waiting.head && kc->waiting.head->deadline_ms <= now && !kc->closing)
        sk_kreq_finish(sk_kreq_pop(&kc->waiting), SK_ERR_REQUEST_TIMED_OUT, NULL);
    if (kc->inflight.head && kc->inflight.head->deadline_ms <= now && !kc->closing) {
        sk_warn("client: request %d got no answer within request.timeout.ms=%u; "
                "resetting the connection", kc->inflight.head->corr, kc->cfg.request_timeout_ms);
        kc->ready = false;
        sk_kreq_fail_all(&kc->inflight, SK_ERR_REQUEST_TIMED_OUT);
        if (!kc->closing)
            sk_outconn_disconnect(kc->oc, -ETIMEDOUT);
    }
    if (!kc->closing)
        rearm(kc);
    leave(kc);
}

static void on_connected(void *arg, struct sk_outconn *oc)
{
    (void)oc;
    struct sk_kclient *kc = arg;
    enter(kc);
    sk_kc_handshake_start(kc);
    rearm(kc);
    leave(kc);
}

static void on_disconnected(void *arg, struct sk_outconn *oc, int reason)
{
    (void)oc;
    struct sk_kclient *kc = arg;
    enter(kc);
    kc->ready = false;
    sk_kreq_fail_all(&kc->inflight, SK_ERR_NETWORK_EXCEPTION);
    if (!kc->closing && kc->h.on_disconnected)
        kc->h.on_disconnected(kc->h.arg, kc, reason);
    if (!kc->closing)
        rearm(kc);
    leave(kc);
}

/* ApiVersions answers an unsupported version in the v0 layout, so a body
 * that does not parse at the version asked is tried as v0 (as Kafka's
 * ApiVersionsResponse.parse does). */
static int decode_body(const kp_api_info *api, int16_t version, kp_reader *r, void *body)
{
    const uint8_t *start = r->p;
    int rc = api->response.decode(body, r, version);
    if (rc < 0 && api->key == 18 && version > 0) {
        r->p = start;
        rc = api->response.decode(body, r, 0);
    }
    return rc;
}

static int decode_and_finish(struct sk_kclient *kc, struct sk_kreq *r, const uint8_t *data,
                             uint32_t len)
{
    const kp_api_info *api = kp_api_get(r->key);
    kp_arena a;
    kp_arena_init(&a, (size_t)len * SK_ARENA_FACTOR + SK_ARENA_SLACK);
    kp_reader rd;
    kp_reader_init(&rd, data, len, &a);
    kp_response_header hdr;
    int rc = kp_response_header_decode(&hdr, &rd, kp_response_header_version(api, r->version));
    void *body = rc < 0 ? NULL : kp_arena_calloc(&a, 1, api->response.struct_size);
    if (body)
        rc = decode_body(api, r->version, &rd, body);
    if (rc < 0 || !body) {
        kp_arena_free(&a);
        return -EBADMSG;
    }
    sk_kreq_pop(&kc->inflight);
    sk_kreq_finish(r, SK_ERR_NONE, body);
    kp_arena_free(&a);
    return 0;
}

static void on_frame(void *arg, struct sk_outconn *oc, uint8_t *data, uint32_t len)
{
    (void)oc;
    struct sk_kclient *kc = arg;
    enter(kc);
    struct sk_kreq *r = kc->inflight.head;
    int32_t corr = len >= 4 ? (int32_t)((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                                        (uint32_t)data[2] << 8 | data[3])
                            : -1;
    if (!r || corr != r->corr) {
        sk_warn("client: answer with correlation id %d, expected %d", corr, r ? r->corr : -1);
        sk_kc_protocol_error(kc, "correlation id mismatch");
    } else if (decode_and_finish(kc, r, data, len)) {
        sk_kc_protocol_error(kc, "response cannot be decoded");
    } else {
        pump(kc);
    }
    free(data);
    leave(kc);
}

static int copy_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int sk_kclient_new(struct sk_shard *s, const char *host, uint16_t port,
                   const struct sk_kclient_config *cfg, const struct sk_kclient_handler *h,
                   struct sk_kclient **out)
{
    if (!cfg->max_inflight || !cfg->request_timeout_ms)
        return -EINVAL;
    struct sk_kclient *kc = calloc(1, sizeof(*kc));
    if (!kc)
        return -ENOMEM;
    kc->shard = s;
    kc->cfg = *cfg;
    kc->h = *h;
    kc->next_corr = 1;
    if (copy_str(&kc->client_id, cfg->client_id) || copy_str(&kc->sw_name, cfg->software_name) ||
        copy_str(&kc->sw_version, cfg->software_version)) {
        kc_free(kc);
        return -ENOMEM;
    }
    struct sk_outconn_handler oh = { on_connected, on_frame, on_disconnected, kc };
    enter(kc);
    int rc = sk_outconn_new(s, host, port, &cfg->conn, &oh, &kc->oc);
    kc->busy--;
    if (rc) {
        kc_free(kc);
        return rc;
    }
    *out = kc;
    return 0;
}

int sk_kclient_send(struct sk_kclient *kc, int16_t api_key, int16_t max_version,
                    const void *body, sk_kclient_cb cb, void *arg)
{
    if (kc->closing)
        return -ESHUTDOWN;
    if (!kp_api_get(api_key) || !cb || !body)
        return -EINVAL;
    struct sk_kreq *r = malloc(sizeof(*r));
    if (!r)
        return -ENOMEM;
    *r = (struct sk_kreq){ .key = api_key, .max_version = max_version, .body = body, .cb = cb,
                           .arg = arg,
                           .deadline_ms = sk_shard_now_ms(kc->shard) + kc->cfg.request_timeout_ms };
    sk_kreq_push(&kc->waiting, r);
    enter(kc);
    pump(kc);
    leave(kc);
    return 0;
}

void sk_kclient_close(struct sk_kclient *kc)
{
    if (kc->closing)
        return;
    enter(kc);
    kc->closing = true;
    kc->ready = false;
    sk_outconn_close(kc->oc);
    sk_kreq_fail_all(&kc->inflight, SK_ERR_NETWORK_EXCEPTION);
    sk_kreq_fail_all(&kc->waiting, SK_ERR_NETWORK_EXCEPTION);
    leave(kc);
}

bool sk_kclient_ready(const struct sk_kclient *kc)
{
    return kc->ready;
}

uint32_t sk_kclient_inflight(const struct sk_kclient *kc)
{
    return kc->inflight.n;
}
