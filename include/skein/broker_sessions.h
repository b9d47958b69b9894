/* The active controller's side of broker registration and liveness, as
 * Kafka 3.9's ClusterControlManager, BrokerHeartbeatManager and
 * ReplicationControlManager do it: BrokerRegistration and BrokerHeartbeat
 * are decided against the controller's working image and become
 * RegisterBrokerRecord and BrokerRegistrationChangeRecord batches committed
 * through the controller (skein/submit.h); a broker whose heartbeats stop
 * for broker.session.timeout.ms is fenced, and its partitions lose their
 * leader until it is unfenced again (replication is absent, so RF is 1 and
 * there is no other replica to elect).
 *
 * The sessions (last heartbeat per broker) are the active controller's
 * memory only, as in Kafka: a controller that becomes active rebuilds them
 * from the image, every unfenced broker keeping its epoch with a session
 * that starts then, so a failover fences no live broker and a broker that
 * died with the old controller is fenced a session later. A sole voter's
 * own registration, written locally, is never fenced by time. Everything
 * here runs on the controller shard. */
#ifndef SKEIN_BROKER_SESSIONS_H
#define SKEIN_BROKER_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/broker.h"

typedef struct kp_broker_registration_request kp_broker_registration_request;
typedef struct kp_broker_heartbeat_request kp_broker_heartbeat_request;
typedef struct kp_controller_registration_request kp_controller_registration_request;

/* What a heartbeat answer says besides its error. */
struct sk_heartbeat_reply {
    bool caught_up;
    bool fenced;
    bool shut_down;
};

/* Kafka's registration checks (cluster id, a live session of another
 * incarnation, feature levels) and the fenced RegisterBrokerRecord, whose
 * epoch (*epoch) is the log offset it is written at. In a parked handler
 * (skein/ctl_park.h) the commit's late failure goes to the park's slot. */
/* ControllerRegistration on the active controller (KIP-919): checked and
 * committed as a RegisterControllerRecord. Kafka's error code, msg set. */
int16_t sk_controllers_register(struct sk_broker *ctl, const kp_controller_registration_request *r,
                                char *msg, size_t msglen);
int16_t sk_brokers_register(struct sk_broker *ctl, const kp_broker_registration_request *req,
                            int64_t now_ms, int64_t *epoch, char *msg, size_t msglen);

/* One heartbeat: STALE_BROKER_EPOCH for an epoch that is not the
 * registration's; otherwise the session is renewed and the broker
 * unfenced once its metadata offset reached its registration, fenced on
 * WantFence, and let go (fenced, ShouldShutDown) on WantShutDown. */
int16_t sk_brokers_heartbeat(struct sk_broker *ctl, const kp_broker_heartbeat_request *req,
                             int64_t now_ms, struct sk_heartbeat_reply *out, char *msg,
                             size_t msglen);

/* Fences every tracked, unfenced broker whose last heartbeat is more than
 * the session timeout before now_ms. Returns how many it fenced. Only the
 * active controller fences. */
int sk_brokers_expire(struct sk_broker *ctl, int64_t now_ms);

/* After the quorum's role changed (skein/submit.h): a controller that has
 * just become active takes its sessions from the image and starts looking
 * for lapsed ones, whether or not any broker has reached it yet. */
void sk_brokers_quorum_changed(struct sk_broker *ctl);

/* broker.session.timeout.ms as the controller reads it. */
int32_t sk_brokers_session_ms(const struct sk_node *n);

/* Frees the sessions at shutdown, once the shard's reactor (and with it
 * the expiry timer) is gone. */
void sk_brokers_close(struct sk_node *n);

#endif
