/* InitProducerId (key 22): a producer id and epoch for idempotent producers.
 * Runs on the controller's shard (src/api/forward.c), where the request
 * parks while the next block of ids is committed. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/producer_ids.h"

static void answer(void *arg, int16_t err, int64_t id)
{
    struct sk_request *req = arg;
    kp_init_producer_id_response *resp = req->resp;
    resp->error_code = err;
    if (!err) {
        resp->producer_id = id;
        resp->producer_epoch = 0;
    }
    sk_request_respond(req);
}

void sk_api_init_producer_id(struct sk_request *req)
{
    const kp_init_producer_id_request *body = req->body;
    kp_init_producer_id_response *resp = req->resp;
    if (body->transactional_id.len >= 0) {
        /* Transactions need the transaction coordinator, which this broker
         * does not run yet: answer as a cluster whose coordinator is down. */
        resp->error_code = SK_ERR_COORDINATOR_NOT_AVAILABLE;
        sk_request_respond(req);
        return;
    }
    /* Without a transactional id Kafka ignores any producer id and epoch
     * sent (KIP-360) and hands out a fresh id at epoch 0. */
    struct sk_producer_id_wait *w = sk_request_alloc(req, sizeof *w);
    sk_producer_id_request(req->broker, w, answer, req);
}
