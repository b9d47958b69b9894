/* The ApiVersions handshake that opens every connection, and the choice of
 * a version per api from its answer.
 *
 * As Kafka's NetworkClient: ask at the newest version we have (v3); a broker
 * that does not know it answers UNSUPPORTED_VERSION in the v0 layout, with
 * its own ApiVersions range when it can, and we ask again at the highest
 * version both have, or v0. Nothing else goes out before the answer. */
#include <stdlib.h>
#include <string.h>

#include "client-int.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/net.h"

#define SK_API_VERSIONS 18
#define SK_HANDSHAKE_MAX 3

static kp_str str_of(const char *s)
{
    return s ? (kp_str){ s, (int32_t)strlen(s) } : KP_STR_NULL;
}

static int16_t ours_max(const kp_api_info *api)
{
    return api->max_stable_version >= api->min_version ? api->max_stable_version
                                                       : api->max_version;
}

static void record_versions(struct sk_kclient *kc, const kp_api_versions_response *r)
{
    for (int k = 0; k <= KP_API_KEY_MAX; k++)
        kc->vmin[k] = kc->vmax[k] = -1;
    for (int32_t i = 0; i < r->api_keys.n; i++) {
        const kp_api_versions_response_api_version *v = &r->api_keys.v[i];
        const kp_api_info *api = kp_api_get(v->api_key);
        if (!api || v->api_key < 0 || v->api_key > KP_API_KEY_MAX)
            continue;
        int16_t lo = v->min_version > api->min_version ? v->min_version : api->min_version;
        int16_t hi = v->max_version < ours_max(api) ? v->max_version : ours_max(api);
        if (lo <= hi) {
            kc->vmin[v->api_key] = lo;
            kc->vmax[v->api_key] = hi;
        }
    }
}

/* The broker's own ApiVersions maximum, when its refusal carries one. */
static int16_t retry_version(struct sk_kclient *kc, const kp_api_versions_response *r)
{
    for (int32_t i = 0; i < r->api_keys.n; i++)
        if (r->api_keys.v[i].api_key == SK_API_VERSIONS &&
            r->api_keys.v[i].max_version < kc->hs_version)
            return r->api_keys.v[i].max_version;
    return 0;
}

static void ask(struct sk_kclient *kc, int16_t version);

static void handshake_done(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)version;
    struct sk_kclient *kc = arg;
    const kp_api_versions_response *r = resp;
    if (err != SK_ERR_NONE)
        return;   /* the connection is gone; the next one starts over */
    if (r->error_code == SK_ERR_UNSUPPORTED_VERSION && kc->hs_version > 0) {
        int16_t v = retry_version(kc, r);
        sk_debug("client: broker refuses ApiVersions v%d, trying v%d", kc->hs_version, v);
        ask(kc, v < 0 ? 0 : v);
        return;
    }
    if (r->error_code != SK_ERR_NONE) {
        sk_kc_protocol_error(kc, "ApiVersions refused");
        return;
    }
    record_versions(kc, r);
    kc->handshakes++;
    sk_kc_ready(kc);
}

static void ask(struct sk_kclient *kc, int16_t version)
{
    struct sk_kreq *r = malloc(sizeof(*r));
    if (!r) {
        sk_kc_protocol_error(kc, "no memory for the handshake");
        return;
    }
    kc->hs_version = version;
    kp_api_versions_request_init(&kc->hs_body);
    kc->hs_body.client_software_name = str_of(kc->sw_name);
    kc->hs_body.client_software_version = str_of(kc->sw_version);
    *r = (struct sk_kreq){ .key = SK_API_VERSIONS, .max_version = version, .version = version,
                           .body = &kc->hs_body, .cb = handshake_done, .arg = kc };
    if (sk_kc_transmit(kc, r)) {
        free(r);
        sk_kc_protocol_error(kc, "handshake cannot be sent");
    }
}

void sk_kc_handshake_start(struct sk_kclient *kc)
{
    ask(kc, SK_HANDSHAKE_MAX);
}

int16_t sk_kc_pick_version(const struct sk_kclient *kc, int16_t key, int16_t max_version)
{
    if (key < 0 || key > KP_API_KEY_MAX || kc->vmax[key] < 0)
        return -1;
    int16_t v = kc->vmax[key];
    if (max_version >= 0 && max_version < v)
        v = max_version;
    return v >= kc->vmin[key] ? v : -1;
}

int16_t sk_kclient_version(const struct sk_kclient *kc, int16_t api_key)
{
    return kc->ready ? sk_kc_pick_version(kc, api_key, -1) : -1;
}

uint32_t sk_kclient_handshakes(const struct sk_kclient *kc)
{
    return kc->handshakes;
}
