/* A request frame (the 4-byte size already stripped) decoded into its header
 * and body: the one place the broker and the fuzzer agree on what a frame is.
 *
 * Bytes after a well-formed body are ignored, as Apache Kafka's request
 * parser does: librdkafka 2.3 and later send some requests with a few spare
 * bytes after the body. A body that ends early is still an error. */
#ifndef KP_FRAME_H
#define KP_FRAME_H

#include "gen/kp_all.h"

typedef struct kp_request_frame {
    kp_request_header hdr;
    void *body;         /* api->request.struct_size bytes from the arena */
    size_t used;        /* bytes the header and body took; the rest is ignored */
} kp_request_frame;

/* Returns 0 or a kp_err; allocations come from the arena. */
int kp_request_frame_decode(kp_request_frame *f, const kp_api_info *api, int16_t version,
                            const uint8_t *buf, size_t len, kp_arena *a);

#endif
