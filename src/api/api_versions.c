/* ApiVersions (key 18): the versions this broker serves, and its features. */
#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"

/* Supported: every feature this build knows, with its levels. Finalized:
 * those the metadata log has set above 0 (a feature at 0 has no record). */
static void fill_features(struct sk_request *req, kp_api_versions_response *resp)
{
    const struct sk_meta_image *img = req->broker->image;
    size_t n;
    const struct sk_feature_range *f = sk_features_supported(&n);
    resp->supported_features.v = sk_request_alloc(req, sizeof *resp->supported_features.v * n);
    resp->finalized_features.v = sk_request_alloc(req, sizeof *resp->finalized_features.v * n);
    resp->finalized_features_epoch = img->last_offset;
    for (size_t i = 0; i < n; i++) {
        kp_api_versions_response_supported_feature_key *sf =
            &resp->supported_features.v[resp->supported_features.n++];
        kp_api_versions_response_supported_feature_key_init(sf);
        sf->name = kp_str_c(f[i].name);
        sf->min_version = f[i].min;
        sf->max_version = f[i].max;
        int16_t level = sk_meta_feature(img, f[i].name);
        /* The quorum's own level, as Kafka's raft client reports it. */
        if (kp_str_eq_c(sf->name, "kraft.version"))
            level = req->broker->node->cfg->dynamic_quorum ? 1 : 0;
        if (level <= 0)
            continue;
        kp_api_versions_response_finalized_feature_key *ff =
            &resp->finalized_features.v[resp->finalized_features.n++];
        kp_api_versions_response_finalized_feature_key_init(ff);
        ff->name = kp_str_c(f[i].name);
        ff->min_version_level = level;
        ff->max_version_level = level;
    }
}

/* KIP-511: software names and versions must look like "apache-kafka-java" and
 * "3.9.0": alphanumerics, '-' and '.', starting and ending alphanumeric. */
static bool software_name_valid(kp_str s)
{
    if (s.len <= 0)
        return false;
    for (int32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == s.len - 1;
        if (!alnum && (edge || (c != '-' && c != '.')))
            return false;
    }
    return true;
}

void sk_api_versions_fill(struct sk_request *req)
{
    kp_api_versions_response *resp = req->resp;
    const struct sk_api_entry *e, *extra;
    int n = sk_api_entries_for(req, &e, &extra);
    resp->error_code = SK_ERR_NONE;
    resp->api_keys.n = n + (extra != NULL);
    resp->api_keys.v = sk_request_alloc(req, sizeof *resp->api_keys.v * (size_t)(n + 1));
    for (int i = 0; i < resp->api_keys.n; i++) {
        const struct sk_api_entry *one = i < n ? &e[i] : extra;
        kp_api_versions_response_api_version_init(&resp->api_keys.v[i]);
        resp->api_keys.v[i].api_key = one->key;
        resp->api_keys.v[i].min_version = one->min_version;
        resp->api_keys.v[i].max_version = one->max_version;
    }
    if (req->version >= 3)
        fill_features(req, resp);
}

void sk_api_versions(struct sk_request *req)
{
    sk_api_versions_fill(req);
    const kp_api_versions_request *body = req->body;
    if (req->version >= 3 && (!software_name_valid(body->client_software_name) ||
                              !software_name_valid(body->client_software_version)))
        ((kp_api_versions_response *)req->resp)->error_code = SK_ERR_INVALID_REQUEST;
    sk_request_respond(req);
}
