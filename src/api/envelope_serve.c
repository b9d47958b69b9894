/* Envelope (api 58) on the CONTROLLER listener, as Kafka's
 * ControllerApis.handleEnvelopeRequest and EnvelopeUtils serve it: the
 * embedded request runs as if its client had sent it here, with no
 * connection of its own (sk_request_embedded), and its encoded answer,
 * header and body, becomes the EnvelopeResponse's data. An answer that
 * carries NOT_CONTROLLER anywhere goes back as an Envelope error instead,
 * as Kafka's RequestChannel does, so the forwarding broker looks for the
 * new active controller and sends it again. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/envelope.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/net.h"
#include "skein/submit.h"

static void answer(struct sk_request *outer, int16_t err)
{
    ((kp_envelope_response *)outer->resp)->error_code = err;
    sk_request_respond(outer);
}

static void free_segs(const struct sk_seg *segs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (segs[i].free_fn)
            segs[i].free_fn(segs[i].free_arg);
}

/* The segments' bytes past the 4-byte size, in outer's arena; NULL for a
 * segment that is not in memory (no forwarded api sends files). */
static uint8_t *gather(struct sk_request *outer, const struct sk_seg *segs, unsigned n,
                       size_t *len)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        if (segs[i].kind != SK_SEG_MEM)
            return NULL;
        total += segs[i].len;
    }
    if (total < 4)
        return NULL;
    uint8_t *buf = sk_request_alloc(outer, total), *p = buf;
    for (unsigned i = 0; i < n; i++) {
        memcpy(p, segs[i].u.mem, segs[i].len);
        p += segs[i].len;
    }
    *len = total - 4;
    return buf + 4;
}

static void captured(struct sk_request *inner, const struct sk_seg *segs, unsigned n, bool close)
{
    struct sk_request *outer = inner->capture_arg;
    kp_envelope_response *r = outer->resp;
    size_t len = 0;
    uint8_t *data = close || n == 0 ? NULL : gather(outer, segs, n, &len);
    free_segs(segs, n);
    if (!data) {
        answer(outer, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    if (sk_forward_ctl_has_error(inner->api->key, inner->resp, SK_ERR_NOT_CONTROLLER)) {
        answer(outer, SK_ERR_NOT_CONTROLLER);
        return;
    }
    r->response_data = (kp_bytes){data, (int32_t)len};
    answer(outer, SK_ERR_NONE);
}

void sk_api_envelope(struct sk_request *req)
{
    const kp_envelope_request *env = req->body;
    if (req->broker->index != 0 || !sk_ctl_decides(req->broker->node)) {
        answer(req, SK_ERR_NOT_CONTROLLER);
        return;
    }
    struct sk_envelope_inner in;
    int16_t err = sk_envelope_open_request(env->request_data, &req->arena, &in);
    /* Only what a broker forwards may come in an Envelope (Kafka refuses
     * the others as an invalid request). */
    if (err == SK_ERR_NONE && !sk_forward_ctl_forwardable(in.api_key))
        err = SK_ERR_INVALID_REQUEST;
    struct sk_request *inner = NULL;
    if (err == SK_ERR_NONE)
        inner = sk_request_embedded(req->broker, env->request_data.ptr,
                                    (size_t)env->request_data.len, captured, req, &err);
    if (!inner) {
        answer(req, err);
        return;
    }
    sk_request_run(inner);
}
