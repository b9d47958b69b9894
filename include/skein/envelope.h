/* KIP-590's Envelope (api 58) as Kafka's ForwardingManager and the
 * controller's EnvelopeUtils frame it: a broker that is not the active
 * controller wraps a client's admin request, header and body exactly as it
 * arrived, with the client's principal and address; the controller runs it
 * as if received directly and returns the whole response, header and body,
 * inside the EnvelopeResponse. These are the framing steps only; the bytes
 * are slices of the buffers given, never copied. */
#ifndef SKEIN_ENVELOPE_H
#define SKEIN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "gen/kp_envelope_request.h"
#include "kp_rt.h"

#define SK_API_ENVELOPE 58

/* The embedded request's header and where its body starts. */
struct sk_envelope_inner {
    int16_t api_key;
    int16_t version;
    int32_t correlation_id;
    kp_str client_id;
    kp_bytes body;
};

/* Kafka's DefaultKafkaPrincipalBuilder serialization of type:name (a
 * version prefix, then DefaultPrincipalData), the RequestPrincipal field.
 * 0 or a KP_E_* code. */
int sk_envelope_principal(kp_arena *a, kp_str type, kp_str name, kp_bytes *out);
/* Fills env around a client's request frame (header and body as received)
 * and the client's address bytes (4 for IPv4, 16 for IPv6). */
void sk_envelope_wrap(kp_envelope_request *env, kp_bytes frame, kp_bytes principal,
                      kp_bytes client_address);
/* The controller's side: the embedded request's header, decoded as the api
 * and version it names require. INVALID_REQUEST for a header that does not
 * decode, an unknown api and an Envelope inside an Envelope, as Kafka
 * refuses them; the client id points into data. */
int16_t sk_envelope_open_request(kp_bytes data, kp_arena *a, struct sk_envelope_inner *out);
/* The forwarding broker's side: the embedded response of the request it
 * sent (api_key at version), split into its correlation id and its body.
 * UNKNOWN_SERVER_ERROR for one whose header does not decode. */
int16_t sk_envelope_open_response(kp_bytes data, int16_t api_key, int16_t version, kp_arena *a,
                                  int32_t *correlation_id, kp_bytes *body);

#endif
