/* Forwarding to the active controller (KIP-590), as Kafka 3.9's brokers do
 * it: an admin request reaching a node of a multi-voter quorum that is not
 * the active controller travels, header and body as received, inside an
 * Envelope (api 58) over the CONTROLLER listener to the active one, which
 * runs it and returns the response inside the EnvelopeResponse; the broker
 * sends that to the client. Broker-to-controller calls (the Envelope,
 * AllocateProducerIds) go through one channel on shard 0, where the quorum
 * runs, that follows the quorum's leader and retries on a new one within
 * the call's deadline (Kafka's NodeToControllerChannelManager). */
#ifndef SKEIN_FORWARD_CTL_H
#define SKEIN_FORWARD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/api.h"

/* Kafka's ForwardingManager gives a forwarded request this long to find an
 * active controller (the forwarding channel's retryTimeoutMs). */
#define SK_FORWARD_CTL_RETRY_MS 60000

/* On the connection's shard: whether req is an admin request that the
 * active controller must run (a forwardable api on a multi-voter node's
 * client listener). It then runs as sk_forward_ctl_run, on shard 0. */
bool sk_forward_ctl_wanted(const struct sk_request *req);
/* Whether Kafka's brokers forward api key (ApiKeys.forwardable) and Skein
 * serves it on the controller. */
bool sk_forward_ctl_forwardable(int16_t api_key);
/* On shard 0: runs req here when this node is the active controller, else
 * forwards it in an Envelope and answers the client from the controller's
 * answer; REQUEST_TIMED_OUT once no active controller answered within the
 * request's timeout (or SK_FORWARD_CTL_RETRY_MS for those without one). */
void sk_forward_ctl_run(struct sk_request *req);

/* Kafka's error response for req (AbstractRequest.getErrorResponse): every
 * topic or resource it names gets err; then sent. */
void sk_forward_ctl_fail(struct sk_request *req, int16_t err);
/* Whether a response of api_key (a struct) carries err anywhere, as
 * Kafka's AbstractResponse.errorCounts sees it. */
bool sk_forward_ctl_has_error(int16_t api_key, const void *resp, int16_t err);

/* On shard 0 of a node that is not the active controller: sends one
 * CreateTopics for names[n] (the controller's defaults) to the active
 * controller without waiting for it, as Kafka's broker auto-creates.
 * 0 or a negative code (nothing sent). */
int sk_forward_ctl_auto_create(struct sk_broker *b, const kp_str *names, int n);
/* The same for one topic made as spec says (partitions, replication factor,
 * configs; no manual placement), as Kafka creates its internal topics. */
struct sk_topic_spec;
int sk_forward_ctl_create_topic(struct sk_broker *b, const struct sk_topic_spec *spec);
/* Whether b's node must auto-create through the active controller: a node
 * of a multi-voter quorum that is not the active one. */
bool sk_forward_ctl_creates_remotely(const struct sk_broker *b);

/* A producer-id block source for sk_producer_ids_set_source: asks the
 * active controller with AllocateProducerIds (src/api/producer_ids_remote.c). */
#include "skein/producer_ids.h"
void sk_producer_ids_remote(struct sk_broker *b, sk_producer_id_block_fn got);

/* ---- the channel to the active controller, on shard 0 ---------------------- */

/* err SK_ERR_NONE with resp the decoded answer, or REQUEST_TIMED_OUT (no
 * active controller answered before the deadline) or UNSUPPORTED_VERSION.
 * Called exactly once; may run before sk_ctl_call returns. */
typedef void (*sk_ctl_call_fn)(void *arg, int16_t err, int16_t version, const void *resp);

struct sk_ctl_call_spec {
    int16_t api_key;
    int16_t max_version; /* -1: the highest both serve */
    const void *body;    /* valid until release */
    uint32_t timeout_ms;
    /* Whether an answer says the node asked is not (or no longer) the
     * active controller: the call goes to the next leader. */
    bool (*not_controller)(const void *resp);
    sk_ctl_call_fn done;
    void (*release)(void *arg); /* the body is no longer needed; optional */
    void *arg;
};

/* 0, or -ENOMEM (nothing called). */
int sk_ctl_call(struct sk_broker *b, const struct sk_ctl_call_spec *spec);
/* At shutdown, on shard 0: calls still open are released unanswered. */
void sk_ctl_channel_close(struct sk_broker *b);

#endif
