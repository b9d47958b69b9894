/* Client internals shared by the files of src/client/; nothing outside includes it. */
#ifndef SKEIN_CLIENT_INT_H
#define SKEIN_CLIENT_INT_H

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/kclient.h"

/* One request, waiting or in flight. */
struct sk_kreq {
    struct sk_kreq *next;
    int16_t key, max_version, version;
    int32_t corr;
    const void *body;
    sk_kclient_cb cb;
    void *arg;
    uint64_t deadline_ms;
};

/* FIFO: both lists stay in deadline order, so the head expires first. */
struct sk_kreq_list {
    struct sk_kreq *head, *tail;
    uint32_t n;
};

struct sk_kclient {
    struct sk_shard *shard;
    struct sk_outconn *oc;
    struct sk_kclient_config cfg;     /* strings point at the copies below */
    char *client_id, *sw_name, *sw_version;
    struct sk_kclient_handler h;
    struct sk_kreq_list waiting, inflight;
    int32_t next_corr;
    bool ready;                       /* handshake done on this connection */
    int16_t hs_version;               /* ApiVersions version being tried */
    kp_api_versions_request hs_body;
    int16_t vmin[KP_API_KEY_MAX + 1], vmax[KP_API_KEY_MAX + 1];   /* -1: unsupported */
    uint32_t handshakes;
    uint64_t timer_at;
    uint64_t timer;                   /* sk_timer_id for timer_at, 0 if none */
    unsigned busy;                    /* callbacks on the stack */
    bool closing;
};

/* kreq.c */
void sk_kreq_push(struct sk_kreq_list *l, struct sk_kreq *r);
struct sk_kreq *sk_kreq_pop(struct sk_kreq_list *l);
/* Detaches the list, then fails each with err; callbacks may add to the lists. */
void sk_kreq_fail_all(struct sk_kreq_list *l, int16_t err);
void sk_kreq_finish(struct sk_kreq *r, int16_t err, const void *resp);

/* handshake.c */
void sk_kc_handshake_start(struct sk_kclient *kc);
/* The version to send api key at, or -1 (not supported by both sides). */
int16_t sk_kc_pick_version(const struct sk_kclient *kc, int16_t key, int16_t max_version);

/* kclient.c; transmit encodes r at r->version and puts it in flight, or
 * fails leaving r to the caller */
int sk_kc_transmit(struct sk_kclient *kc, struct sk_kreq *r);
void sk_kc_ready(struct sk_kclient *kc);
void sk_kc_protocol_error(struct sk_kclient *kc, const char *what);

#endif
