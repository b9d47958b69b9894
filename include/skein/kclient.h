/* A Kafka client connection on one shard (src/client/): keeps a connection
 * to one broker (net.h outconns), handshakes with ApiVersions on every
 * (re)connect, and sends requests encoded with the generated codecs at the
 * highest version both sides support, matching responses by correlation id.
 * All calls and callbacks run on the shard's thread. */
#ifndef SKEIN_KCLIENT_H
#define SKEIN_KCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/net-t.h"

struct sk_kclient;

struct sk_kclient_config {
    struct sk_outconn_config conn;
    uint32_t request_timeout_ms;  /* request.timeout.ms */
    uint32_t max_inflight;        /* max.in.flight.requests.per.connection */
    const char *client_id;        /* copied; NULL sends a null client id */
    const char *software_name;    /* ApiVersions v3+, copied */
    const char *software_version; /* ApiVersions v3+, copied */
};

/* err is SK_ERR_NONE with resp the decoded response body (the api's
 * kp_*_response struct at version), valid only during the call; or, with
 * resp NULL: SK_ERR_NETWORK_EXCEPTION (the connection dropped or was reset
 * before the answer), SK_ERR_REQUEST_TIMED_OUT (a request on the connection
 * got no answer within request.timeout.ms, which resets it and fails every
 * request in flight on it so, or no connection came within that time) or SK_ERR_UNSUPPORTED_VERSION (the broker has
 * no version of the api that we have). */
typedef void (*sk_kclient_cb)(void *arg, int16_t err, int16_t version, const void *resp);

struct sk_kclient_handler {
    void (*on_ready)(void *arg, struct sk_kclient *kc);   /* handshake done; optional */
    /* The connection (or an attempt) ended, reason as net.h's; optional. */
    void (*on_disconnected)(void *arg, struct sk_kclient *kc, int reason);
    void *arg;
};

/* Kafka's client defaults: 30 s request timeout, 5 in flight. */
void sk_kclient_config_defaults(struct sk_kclient_config *cfg);

int sk_kclient_new(struct sk_shard *s, const char *host, uint16_t port,
                   const struct sk_kclient_config *cfg, const struct sk_kclient_handler *h,
                   struct sk_kclient **out);

/* Queues a request of api_key; body is the api's kp_*_request struct and
 * must stay valid until cb runs (it is encoded when it is sent, at the
 * version then negotiated, capped at max_version, -1 for no cap). Requests
 * wait while the client (re)connects or is at max_inflight; one waiting
 * longer than request.timeout.ms fails with SK_ERR_REQUEST_TIMED_OUT.
 * 0, or -EINVAL (unknown api) / -ENOMEM, and then cb is not called. */
int sk_kclient_send(struct sk_kclient *kc, int16_t api_key, int16_t max_version,
                    const void *body, sk_kclient_cb cb, void *arg);

/* Closes and fails every request with SK_ERR_NETWORK_EXCEPTION; safe inside
 * a callback. Every request gets exactly one callback: those of a batch
 * being failed when a callback closes still get theirs after it returns;
 * nothing else calls back. Close before the shard is destroyed. */
void sk_kclient_close(struct sk_kclient *kc);

bool sk_kclient_ready(const struct sk_kclient *kc);
/* The version negotiated for api_key, or -1 (not ready, or unsupported). */
int16_t sk_kclient_version(const struct sk_kclient *kc, int16_t api_key);
/* Requests sent and not answered. */
uint32_t sk_kclient_inflight(const struct sk_kclient *kc);
/* Completed ApiVersions handshakes, over all connections. */
uint32_t sk_kclient_handshakes(const struct sk_kclient *kc);

#endif
