/* DescribeAcls, CreateAcls, DeleteAcls (keys 29-31) on a broker without an
 * authorizer: Kafka serves them and answers SECURITY_DISABLED, so kafka-acls
 * and admin clients get a clear "No Authorizer is configured." instead of an
 * unsupported API. The authorizer (ACLs as AccessControlEntryRecords in the
 * metadata log) comes with SASL. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/errors.h"

#define NO_AUTHORIZER "No Authorizer is configured."

void sk_api_describe_acls(struct sk_request *req)
{
    kp_describe_acls_response *resp = req->resp;
    resp->error_code = SK_ERR_SECURITY_DISABLED;
    resp->error_message = kp_str_c(NO_AUTHORIZER);
    sk_request_respond(req);
}

void sk_api_create_acls(struct sk_request *req)
{
    const kp_create_acls_request *body = req->body;
    kp_create_acls_response *resp = req->resp;
    int32_t n = body->creations.n < 0 ? 0 : body->creations.n;
    resp->results.n = n;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        kp_create_acls_response_acl_creation_result_init(&resp->results.v[i]);
        resp->results.v[i].error_code = SK_ERR_SECURITY_DISABLED;
        resp->results.v[i].error_message = kp_str_c(NO_AUTHORIZER);
    }
    sk_request_respond(req);
}

void sk_api_delete_acls(struct sk_request *req)
{
    const kp_delete_acls_request *body = req->body;
    kp_delete_acls_response *resp = req->resp;
    int32_t n = body->filters.n < 0 ? 0 : body->filters.n;
    resp->filter_results.n = n;
    resp->filter_results.v = sk_request_alloc(req, sizeof *resp->filter_results.v * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        kp_delete_acls_response_delete_acls_filter_result *r = &resp->filter_results.v[i];
        kp_delete_acls_response_delete_acls_filter_result_init(r);
        r->error_code = SK_ERR_SECURITY_DISABLED;
        r->error_message = kp_str_c(NO_AUTHORIZER);
    }
    sk_request_respond(req);
}
