/* InitProducerId (key 22): a producer id and epoch for idempotent producers. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"
#include "skein/producer_ids.h"

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
    int64_t id = sk_producer_id_next(req->broker);
    if (id < 0) {
        resp->error_code = SK_ERR_KAFKA_STORAGE_ERROR;
    } else {
        resp->producer_id = id;
        resp->producer_epoch = 0;
    }
    sk_request_respond(req);
}
