/* What the controller's files share: the clock, record versions, and the one
 * path every change takes (metadata log, then the broker catches up). */
#ifndef SKEIN_CONTROLLER_INTERNAL_H
#define SKEIN_CONTROLLER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"
#include "skein/metalog.h"
#include "skein/submit.h"

int64_t sk_ctl_now_ms(void);

/* What a change is checked against: the controller's working state, which
 * includes the changes still in flight (skein/submit.h), not the image its
 * shard last published. Only on the controller's shard. */

static inline struct sk_meta_image *sk_ctl_working(struct sk_broker *b)
{
    return &b->node->image;
}

/* NUL-terminated heap copy; out of memory aborts, as the image does, because
 * a half-built change must never reach the log. */
char *sk_ctl_cstr(kp_str s);

/* Appends recs as one batch and brings the broker in line with the new image.
 * Returns a Kafka error code (KAFKA_STORAGE_ERROR with msg set on failure).
 * Inside a parked handler (skein/ctl_park.h) the commit is asynchronous: 0
 * means submitted, and a later failure goes to the park's slot. Otherwise
 * (start-up and tests: every request that changes metadata parks) it commits before returning when nothing else is in
 * flight, and joins the queue behind what is, committing later, when
 * something is. */
int16_t sk_ctl_commit(struct sk_broker *b, const struct sk_meta_rec *recs, int n, char *msg,
                      size_t msglen);
/* The parked form of sk_ctl_commit (b->ctl_park is open). */
int16_t sk_ctl_commit_parked(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                             char *msg, size_t msglen);
/* sk_ctl_submit on the controller's shard with the given syncer. */
struct sk_syncer;
void sk_ctl_submit_via(struct sk_broker *b, const struct sk_syncer *syncer,
                       const struct sk_meta_rec *recs, int n, sk_ctl_done_fn done, void *arg);

/* sk_ctl_submit's hand-off to the controller's shard; 0 once posted. */
int sk_ctl_post_submit(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                       sk_ctl_done_fn done, void *arg);
/* What the posted task runs there, on behalf of shard `submitter`. */
void sk_ctl_submit_on_controller(struct sk_broker *ctl, int submitter,
                                 const struct sk_meta_rec *recs, int n, sk_ctl_done_fn done,
                                 void *arg);

/* One partition's replicas, ISR and reassignment lists after a change
 * (reassign.c); leader -2 when it stays. */
struct sk_reassign_step {
    int32_t *replicas, *isr, *adding, *removing;
    int32_t nreplicas, nisr, nadding, nremoving;
    int32_t leader;
};
/* Whether an ISR of isr completes the reassignment (replicas, adding,
 * removing): every adding replica in it, something left once the removing
 * ones are out. If so s (replicas and isr with room for nrep and nisr;
 * they may be the inputs themselves) gets the replicas and ISR without the
 * removed ones, empty lists, and a leader if pm's must change. */
bool sk_reassign_complete(const struct sk_meta_image *img, const struct sk_partition_meta *pm,
                          const int32_t *replicas, int32_t nrep, const int32_t *adding,
                          int32_t nadding, const int32_t *removing, int32_t nremoving,
                          const int32_t *isr, int32_t nisr, struct sk_reassign_step *s);

struct sk_topic_spec;
/* A fresh random topic id (never zero, never the metadata topic's). */
void sk_topic_new_id(kp_uuid *id);
/* Kafka's checks on a new topic's name: legal, not taken, no '.'/'_'
 * collision with an existing one. */
int16_t sk_topic_check_identity(struct sk_broker *b, const struct sk_topic_spec *s, char *msg,
                                size_t msglen);

/* Replica lists for a run of new partitions, and their in-sync sets. */
struct sk_placement {
    int32_t first;     /* partition id of the first row */
    int32_t count;
    int16_t rf;
    int32_t *replicas; /* count rows of rf ids */
    int32_t *isr;      /* count rows of rf ids, nisr[i] used */
    int32_t *nisr;
};

/* Spreads count partitions over the unfenced brokers, as Kafka's placer
 * does: rf distinct brokers each, leaders rotating. */
int16_t sk_place_auto(const struct sk_meta_image *img, int32_t first, int32_t count, int16_t rf,
                      struct sk_placement *out, char *msg, size_t msglen);
/* Checks one manual replica list (Kafka's validateManualPartitionAssignment);
 * rf < 0 means any size. */
int16_t sk_place_check_manual(const struct sk_meta_image *img, kp_arr_i32 brokers, int16_t rf,
                              char *msg, size_t msglen);
/* Takes already checked manual lists, one per partition from first on. */
int16_t sk_place_manual(const struct sk_meta_image *img, int32_t first, const kp_arr_i32 *lists,
                        int32_t count, struct sk_placement *out, char *msg, size_t msglen);
void sk_placement_free(struct sk_placement *p);
/* Partition replicas the image puts on node. */
int64_t sk_ctl_hosted_partitions(const struct sk_meta_image *img, int32_t node);
/* Admission of a placement before it is recorded: its records plus
 * other_records within one operation's bound, and the partitions it puts on
 * this node within the node's budget. A Kafka error code, msg set. */
int16_t sk_ctl_admit_placement(struct sk_broker *b, const struct sk_placement *pl,
                               int64_t other_records, char *msg, size_t msglen);
/* The budget alone, for n placements of one operation together. */
int16_t sk_ctl_admit_placements(struct sk_broker *b, const struct sk_placement *pl, int n,
                                char *msg, size_t msglen);
/* Fills pr[0..count) and recs[0..count) with the PartitionRecords. */
void sk_placement_records(const struct sk_placement *p, const kp_uuid *topic_id, void *pr,
                          struct sk_meta_rec *recs);

#endif
