/* A controller's registration with the active controller (KIP-919), as
 * Kafka 3.9's ControllerRegistrationManager makes it, on shard 0 of a node
 * with the controller role whose quorum runs on the wire
 * (src/server/controller_registration.c). */
#ifndef SKEIN_CONTROLLER_REGISTRATION_H
#define SKEIN_CONTROLLER_REGISTRATION_H

struct sk_broker;

/* Starts registering (a no-op for a node without the role or a combined
 * sole voter). 0 or -errno. */
int sk_controller_registration_start(struct sk_broker *b);
void sk_controller_registration_close(struct sk_broker *b);

#endif
