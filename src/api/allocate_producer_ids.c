/* AllocateProducerIds (key 67) v0 on the CONTROLLER listener, as Kafka's
 * ControllerApis serves it: a broker asks the active controller for its
 * next block of producer ids (src/controller/producer_id_blocks.c); any
 * other node answers NOT_CONTROLLER so the broker finds the leader. The
 * broker's side is src/api/producer_ids_remote.c. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/submit.h"

static void allocated(void *arg, int16_t err, const char *msg, int64_t start, int32_t len)
{
    (void)msg; /* the response has no message field */
    struct sk_request *req = arg;
    kp_allocate_producer_ids_response *resp = req->resp;
    resp->error_code = err;
    resp->producer_id_start = start;
    resp->producer_id_len = len;
    sk_request_respond(req);
}

void sk_api_allocate_producer_ids(struct sk_request *req)
{
    const kp_allocate_producer_ids_request *body = req->body;
    if (req->broker->index != 0 || !sk_ctl_decides(req->broker->node)) {
        allocated(req, SK_ERR_NOT_CONTROLLER, NULL, -1, 0);
        return;
    }
    sk_ctl_allocate_producer_ids(req->broker, body->broker_id, body->broker_epoch, allocated, req);
}
