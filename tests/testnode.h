/* A single-node Skein for the tests that run one: its configuration (in
 * process) or the broker process itself, on loopback ports. Failures are
 * Criterion assertions. */
#ifndef SKEIN_TESTS_TESTNODE_H
#define SKEIN_TESTS_TESTNODE_H

#include <stdint.h>
#include <sys/types.h>

#include "skein/config.h"

/* Loads into cfg a broker-and-controller node 1 with its logs in dir,
 * listening on ports the system picks, then extra ("key=value"). */
void sk_test_node_config(struct sk_config *cfg, const char *dir, const char *const *extra,
                         int nextra);
/* A loopback port free at the time of the call. */
uint16_t sk_test_free_port(void);
/* Starts the broker binary as node 1 on port (clients) and ctrl, logs in
 * dir/logs, its output in dir/broker.log, then extra overrides; the
 * process dies with the test. Returns its pid. */
pid_t sk_test_spawn_broker(const char *bin, const char *dir, uint16_t port, uint16_t ctrl,
                           const char *const *extra, int nextra);

#endif
