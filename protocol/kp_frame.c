#include "kp_frame.h"

int kp_request_frame_decode(kp_request_frame *f, const kp_api_info *api, int16_t version,
                            const uint8_t *buf, size_t len, kp_arena *a)
{
    kp_reader r;
    kp_reader_init(&r, buf, len, a);
    int rc = kp_request_header_decode(&f->hdr, &r, kp_request_header_version(api, version));
    if (rc < 0)
        return rc;
    f->body = kp_arena_alloc(a, api->request.struct_size);
    if (!f->body)
        return KP_E_NOMEM;
    rc = api->request.decode(f->body, &r, version);
    if (rc < 0)
        return rc;
    f->used = (size_t)(r.p - buf);
    return 0;
}
