/* The Envelope's framing (skein/envelope.h). The headers are decoded with
 * the generated header codecs at the header version the embedded api and
 * version call for, so a flexible header's tagged fields are skipped as a
 * direct request's are. */
#include "skein/envelope.h"

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/errors.h"

/* DefaultPrincipalData's version, written before it as Kafka does. */
#define PRINCIPAL_DATA_VERSION 0

int sk_envelope_principal(kp_arena *a, kp_str type, kp_str name, kp_bytes *out)
{
    kp_default_principal_data d;
    kp_default_principal_data_init(&d);
    d.type = type;
    d.name = name;
    d.token_authenticated = false;
    size_t n = 2 + kp_default_principal_data_size(&d, PRINCIPAL_DATA_VERSION);
    uint8_t *buf = kp_arena_alloc(a, n);
    if (!buf)
        return KP_E_NOMEM;
    kp_writer w;
    kp_writer_init(&w, buf, n);
    int rc = kp_write_i16(&w, PRINCIPAL_DATA_VERSION);
    if (rc == 0)
        rc = kp_default_principal_data_encode(&d, &w, PRINCIPAL_DATA_VERSION);
    if (rc < 0)
        return rc;
    *out = (kp_bytes){buf, (int32_t)n};
    return 0;
}

void sk_envelope_wrap(kp_envelope_request *env, kp_bytes frame, kp_bytes principal,
                      kp_bytes client_address)
{
    kp_envelope_request_init(env);
    env->request_data = frame;
    env->request_principal = principal;
    env->client_host_address = client_address;
}

int16_t sk_envelope_open_request(kp_bytes data, kp_arena *a, struct sk_envelope_inner *out)
{
    /* The api key and version come first in every header version. */
    if (data.len < 4 || !data.ptr)
        return SK_ERR_INVALID_REQUEST;
    int16_t key = (int16_t)kp_be16(data.ptr);
    int16_t version = (int16_t)kp_be16(data.ptr + 2);
    const kp_api_info *api = kp_api_get(key);
    if (!api || key == SK_API_ENVELOPE)
        return SK_ERR_INVALID_REQUEST;
    kp_reader r;
    kp_reader_init(&r, data.ptr, (size_t)data.len, a);
    kp_request_header h;
    kp_request_header_init(&h);
    if (kp_request_header_decode(&h, &r, kp_request_header_version(api, version)) < 0)
        return SK_ERR_INVALID_REQUEST;
    out->api_key = key;
    out->version = version;
    out->correlation_id = h.correlation_id;
    out->client_id = h.client_id;
    out->body = (kp_bytes){r.p, (int32_t)kp_left(&r)};
    return SK_ERR_NONE;
}

int16_t sk_envelope_open_response(kp_bytes data, int16_t api_key, int16_t version, kp_arena *a,
                                  int32_t *correlation_id, kp_bytes *body)
{
    const kp_api_info *api = kp_api_get(api_key);
    if (!api || data.len < 0 || !data.ptr)
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    kp_reader r;
    kp_reader_init(&r, data.ptr, (size_t)data.len, a);
    kp_response_header h;
    kp_response_header_init(&h);
    if (kp_response_header_decode(&h, &r, kp_response_header_version(api, version)) < 0)
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    *correlation_id = h.correlation_id;
    *body = (kp_bytes){r.p, (int32_t)kp_left(&r)};
    return SK_ERR_NONE;
}
