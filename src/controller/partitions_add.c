/* CreatePartitions: a topic only ever grows, and new partitions keep the
 * replication factor of the first one. */
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"

static int16_t check_count(const struct sk_topic_meta *t, int32_t count, int32_t nassignments,
                           char *msg, size_t msglen)
{
    if (count == t->npartitions) {
        snprintf(msg, msglen, "Topic already has %d partition(s).", t->npartitions);
        return SK_ERR_INVALID_PARTITIONS;
    }
    if (count < t->npartitions) {
        snprintf(msg, msglen, "The topic %s currently has %d partition(s); %d would not be an "
                 "increase.", t->name, t->npartitions, count);
        return SK_ERR_INVALID_PARTITIONS;
    }
    int32_t additional = count - t->npartitions;
    if (nassignments >= 0 && nassignments != additional) {
        snprintf(msg, msglen, "Attempted to add %d additional partition(s), but only %d "
                 "assignment(s) were specified.", additional, nassignments);
        return SK_ERR_INVALID_REPLICA_ASSIGNMENT;
    }
    return SK_ERR_NONE;
}

static int16_t place_new(struct sk_broker *b, const struct sk_topic_meta *t, int32_t count,
                         const kp_arr_i32 *assignments, int32_t nassignments,
                         struct sk_placement *pl, char *msg, size_t msglen)
{
    int16_t rf = (int16_t)t->partitions[0].nreplicas;
    int32_t additional = count - t->npartitions;
    if (nassignments < 0)
        return sk_place_auto(sk_ctl_working(b), t->npartitions, additional, rf, pl, msg, msglen);
    for (int32_t i = 0; i < nassignments; i++) {
        int16_t err = sk_place_check_manual(sk_ctl_working(b), assignments[i], rf, msg, msglen);
        if (err)
            return err;
    }
    return sk_place_manual(sk_ctl_working(b), t->npartitions, assignments, additional, pl, msg,
                           msglen);
}

int16_t sk_partitions_add(struct sk_broker *b, kp_str topic, int32_t count,
                          const kp_arr_i32 *assignments, int32_t nassignments, bool validate_only,
                          char *msg, size_t msglen)
{
    int16_t active = sk_ctl_check_active(b, msg, msglen);
    if (active)
        return active;
    const struct sk_topic_meta *t = sk_meta_topic(sk_ctl_working(b), topic.ptr, (size_t)topic.len);
    if (!t || t->npartitions == 0) {
        snprintf(msg, msglen, "%s", sk_err_message(SK_ERR_UNKNOWN_TOPIC_OR_PARTITION));
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int16_t err = check_count(t, count, nassignments, msg, msglen);
    struct sk_placement pl = {0};
    if (!err)
        err = place_new(b, t, count, assignments, nassignments, &pl, msg, msglen);
    if (!err)
        err = sk_ctl_admit_placement(b, &pl, 0, msg, msglen);
    if (err || validate_only) {
        sk_placement_free(&pl);
        return err;
    }
    struct sk_meta_rec *recs = calloc((size_t)pl.count + 1, sizeof *recs);
    kp_partition_record *pr = calloc((size_t)pl.count + 1, sizeof *pr);
    if (!recs || !pr)
        abort();
    kp_uuid id = t->id;
    sk_placement_records(&pl, &id, pr, recs);
    err = sk_ctl_commit(b, recs, pl.count, msg, msglen);
    free(recs);
    free(pr);
    sk_placement_free(&pl);
    return err;
}
