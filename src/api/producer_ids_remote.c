/* Producer-id blocks from the active controller (AllocateProducerIds), as
 * Kafka 3.9's RPCProducerIdManager asks for them on a node of a larger
 * quorum: with this broker's id and the epoch of its registration, through
 * the channel to the active controller (skein/forward_ctl.h), on shard 0.
 * Before the broker is registered there is no epoch to send: the waiting
 * producers are told to retry, as Kafka's are while no block is in. */
#include <stdlib.h>

#include "gen/kp_all.h"
#include "skein/broker_lifecycle.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/logging.h"
#include "skein/producer_ids.h"

/* How long one ask may look for an active controller: a producer waiting
 * for it is told to retry after this, within its own request timeout. */
#define ASK_TIMEOUT_MS 10000

struct ask {
    struct sk_broker *b;
    sk_producer_id_block_fn got;
    kp_allocate_producer_ids_request body;
};

static bool not_controller(const void *resp)
{
    return ((const kp_allocate_producer_ids_response *)resp)->error_code == SK_ERR_NOT_CONTROLLER;
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct ask *a = arg;
    const kp_allocate_producer_ids_response *r = resp;
    if (!err)
        err = r->error_code;
    if (!err && (r->producer_id_start < 0 || r->producer_id_len <= 0))
        err = SK_ERR_UNKNOWN_SERVER_ERROR;
    if (err) {
        sk_warn("no producer id block from the active controller: %s", sk_err_name(err));
        a->got(a->b, err, -1, 0);
        return;
    }
    a->got(a->b, SK_ERR_NONE, r->producer_id_start, r->producer_id_len);
}

static void release(void *arg)
{
    free(arg);
}

void sk_producer_ids_remote(struct sk_broker *b, sk_producer_id_block_fn got)
{
    int64_t epoch = sk_broker_lifecycle_epoch(b->node->lifecycle);
    struct ask *a = epoch >= 0 ? malloc(sizeof *a) : NULL;
    if (!a) {
        got(b, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1, 0);
        return;
    }
    a->b = b;
    a->got = got;
    kp_allocate_producer_ids_request_init(&a->body);
    a->body.broker_id = b->node->node_id;
    a->body.broker_epoch = epoch;
    struct sk_ctl_call_spec spec = {
        .api_key = 67, .max_version = -1, .body = &a->body, .timeout_ms = ASK_TIMEOUT_MS,
        .not_controller = not_controller, .done = answered, .release = release, .arg = a,
    };
    if (sk_ctl_call(b, &spec) < 0) {
        free(a);
        got(b, SK_ERR_COORDINATOR_LOAD_IN_PROGRESS, -1, 0);
    }
}
