/* Leader election and ISR changes on the controller (elect.c): what one
 * broker event or one ElectLeaders request changes in each partition. */
#ifndef SKEIN_CONTROLLER_ELECT_H
#define SKEIN_CONTROLLER_ELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "gen/kp_all.h"
#include "skein/meta.h"

/* Kafka's election types: ONLINE is what broker events run (keep a leader
 * that may stay, else the first acceptable ISR member); PREFERRED and
 * UNCLEAN are ElectLeaders' (0 and 1 on the wire). */
enum sk_elect_type { SK_ELECT_PREFERRED = 0, SK_ELECT_UNCLEAN = 1, SK_ELECT_ONLINE = 2 };

struct sk_elect_event {
    enum sk_elect_type type;
    int32_t removed; /* broker leaving (fenced, shutting down), -1 if none */
    int32_t added;   /* broker being unfenced: acceptable already, -1 if none */
    bool unclean;    /* a live replica outside the ISR may lead as a last resort */
    int max_changes; /* sk_elect_all stops after this many, 0 for no bound */
};

/* A broker that may lead after ev: registered, unfenced and not in
 * controlled shutdown in img, or ev's added one; never ev's removed one. */
bool sk_elect_acceptable(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                         int32_t id);
/* unclean.leader.election.enable for the topic: its override, else
 * broker_default. */
bool sk_elect_unclean_allowed(const struct sk_topic_meta *tm, bool broker_default);

/* The change ev makes to pm, in *out with its ISR in isr (room for
 * pm->nreplicas, and must outlive out); false when nothing changes. */
bool sk_elect_partition(const struct sk_meta_image *img, const kp_uuid *topic_id,
                        const struct sk_partition_meta *pm, const struct sk_elect_event *ev,
                        int32_t *isr, kp_partition_change_record *out);

/* Every change a broker event (removed or added set) makes across img; for
 * SK_ELECT_PREFERRED, every partition whose first replica may lead and
 * does not (the leader balance). */
struct sk_elect_batch {
    kp_partition_change_record *ch;
    int n;
    int32_t *pool; /* the ISRs the records point into */
};
int sk_elect_all(const struct sk_meta_image *img, const struct sk_elect_event *ev,
                 bool unclean_default, struct sk_elect_batch *out);
void sk_elect_batch_free(struct sk_elect_batch *b);

/* Whether broker leads any partition in img: a broker in controlled
 * shutdown is let go once this is false (Kafka's hasLeaderships). */
bool sk_elect_leads_any(const struct sk_meta_image *img, int32_t broker);

#endif
