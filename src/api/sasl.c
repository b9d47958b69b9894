/* SaslHandshake and SaslAuthenticate (keys 17, 36) on a PLAINTEXT listener:
 * the connection is already "authenticated" as ANONYMOUS, so, as Kafka does,
 * both are answered ILLEGAL_SASL_STATE and a client set up for SASL learns it
 * is talking to a listener without it. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"

void sk_api_sasl_handshake(struct sk_request *req)
{
    kp_sasl_handshake_response *resp = req->resp;
    resp->error_code = SK_ERR_ILLEGAL_SASL_STATE;
    sk_request_respond(req);
}

void sk_api_sasl_authenticate(struct sk_request *req)
{
    kp_sasl_authenticate_response *resp = req->resp;
    resp->error_code = SK_ERR_ILLEGAL_SASL_STATE;
    resp->error_message = kp_str_c("SaslAuthenticate request received after successful "
                                   "authentication");
    sk_request_respond(req);
}
