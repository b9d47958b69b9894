/* UpdateFeatures (key 57), v0-v1. */
#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"

#define SK_UPGRADE 1
#define SK_SAFE_DOWNGRADE 2

void sk_api_update_features(struct sk_request *req)
{
    const kp_update_features_request *body = req->body;
    kp_update_features_response *resp = req->resp;
    int32_t n = body->feature_updates.n < 0 ? 0 : body->feature_updates.n;
    resp->error_code = SK_ERR_NONE;
    resp->error_message = KP_STR_NULL;
    resp->results.n = n;
    resp->results.v = sk_request_alloc(req, sizeof *resp->results.v * (size_t)(n + 1));
    struct sk_ctl_park *park = sk_admin_park(req);
    for (int32_t i = 0; i < n; i++) {
        const kp_update_features_request_feature_update_key *u = &body->feature_updates.v[i];
        kp_update_features_response_updatable_feature_result *o = &resp->results.v[i];
        kp_update_features_response_updatable_feature_result_init(o);
        o->feature = u->feature;
        /* v0 has only allow_downgrade, which means a safe downgrade. */
        int8_t type = req->version >= 1 ? u->upgrade_type
                                        : (u->allow_downgrade ? SK_SAFE_DOWNGRADE : SK_UPGRADE);
        char msg[512] = "";
        sk_ctl_park_slot(park, &o->error_code, &o->error_message);
        o->error_code = sk_feature_update(req->broker, u->feature, u->max_version_level, type,
                                          req->version >= 1 && body->validate_only, msg,
                                          sizeof msg);
        o->error_message = sk_admin_msg(req, msg);
    }
    sk_ctl_park_end(park);
}
