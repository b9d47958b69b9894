/* A minimal Kafka client for the tests that talk to a node over a real
 * socket: connect, send one request, read its answer. Failures are
 * Criterion assertions. */
#ifndef SKEIN_TESTS_WIRE_H
#define SKEIN_TESTS_WIRE_H

#include <stdint.h>

#include "gen/kp_all.h"

/* A connection to 127.0.0.1:port whose reads give up after 60 s; -1 if
 * the connect fails. */
int sk_test_connect(uint16_t port);
/* Sends body as api `key` v`version` from client_id; returns the
 * correlation id its answer will carry. */
int32_t sk_test_send(int fd, const char *client_id, int16_t key, int16_t version,
                     const void *body);
/* Reads the answer to request `id` (api `key` v`version`) into resp. */
void sk_test_receive(int fd, int32_t id, int16_t key, int16_t version, void *resp, kp_arena *a);
/* Both, one after the other. */
void sk_test_call(int fd, const char *client_id, int16_t key, int16_t version, const void *body,
                  void *resp, kp_arena *a);

#endif
