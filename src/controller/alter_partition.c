/* AlterPartition on the active controller (skein/alter_partition.h). Each
 * partition is checked on its own against the working image (changes in
 * flight included, so two requests in a row see each other), in Kafka's
 * order; the accepted ones are committed together as PartitionChangeRecords
 * carrying only the new ISR, which the image applies with a new partition
 * epoch. */
#include "skein/alter_partition.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/meta.h"

static bool contains(const int32_t *v, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* The requested ISR as (id, epoch) pairs: v3 names each member's broker
 * epoch (KIP-903); earlier versions name ids, whose epochs go unchecked. */
static int32_t new_isr(const kp_alter_partition_request_partition_data *pd, int16_t version,
                       int32_t *ids, int64_t *epochs)
{
    if (version >= 3) {
        int32_t n = pd->new_isr_with_epochs.n < 0 ? 0 : pd->new_isr_with_epochs.n;
        for (int32_t i = 0; i < n; i++) {
            ids[i] = pd->new_isr_with_epochs.v[i].broker_id;
            epochs[i] = pd->new_isr_with_epochs.v[i].broker_epoch;
        }
        return n;
    }
    int32_t n = pd->new_isr.n < 0 ? 0 : pd->new_isr.n;
    for (int32_t i = 0; i < n; i++) {
        ids[i] = pd->new_isr.v[i];
        epochs[i] = -1;
    }
    return n;
}

/* Kafka's Replicas.validateIsr: members are distinct replicas. */
static bool valid_isr(const struct sk_partition_meta *pm, const int32_t *ids, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        if (!contains(pm->replicas, pm->nreplicas, ids[i]) || contains(ids, i, ids[i]))
            return false;
    }
    return true;
}

/* KIP-841 and KIP-903: only a live, unfenced broker not shutting down, with
 * the registration the leader saw, may enter (or stay in) the ISR. */
static bool eligible(const struct sk_meta_image *img, int32_t id, int64_t epoch)
{
    const struct sk_broker_meta *bm = sk_meta_broker(img, id);
    return bm && !bm->fenced && !bm->in_controlled_shutdown && (epoch == -1 || epoch == bm->epoch);
}

/* ReplicationControlManager.validateAlterPartitionData, in its order. */
static int16_t check_partition(const struct sk_meta_image *img, const struct sk_partition_meta *pm,
                               int32_t sender, const kp_alter_partition_request_partition_data *pd,
                               int16_t version, const int32_t *ids, const int64_t *epochs,
                               int32_t n)
{
    if (!pm)
        return SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (pd->leader_epoch != pm->leader_epoch)
        return SK_ERR_FENCED_LEADER_EPOCH;
    if (sender != pm->leader)
        return SK_ERR_INVALID_REQUEST;
    if (pd->partition_epoch != pm->partition_epoch)
        return SK_ERR_INVALID_UPDATE_VERSION;
    if (!valid_isr(pm, ids, n) || !contains(ids, n, pm->leader))
        return SK_ERR_INVALID_REQUEST;
    /* KIP-704: a leader still recovering from an unclean election leads
     * alone, and a recovered partition never goes back. */
    int8_t lrs = pd->leader_recovery_state;
    if (lrs != SK_LEADER_RECOVERED && lrs != SK_LEADER_RECOVERING)
        return SK_ERR_INVALID_REQUEST;
    if (lrs == SK_LEADER_RECOVERING && n > 1)
        return SK_ERR_INVALID_REQUEST;
    if (pm->leader_recovery_state == SK_LEADER_RECOVERED && lrs == SK_LEADER_RECOVERING)
        return SK_ERR_INVALID_REQUEST;
    for (int32_t i = 0; i < n; i++)
        if (!eligible(img, ids[i], epochs[i]))
            return version >= 1 ? SK_ERR_INELIGIBLE_REPLICA : SK_ERR_OPERATION_NOT_ATTEMPTED;
    return SK_ERR_NONE;
}

static bool same_set(const struct sk_partition_meta *pm, const int32_t *ids, int32_t n)
{
    if (n != pm->nisr)
        return false;
    for (int32_t i = 0; i < n; i++)
        if (!contains(pm->isr, pm->nisr, ids[i]))
            return false;
    return true;
}

static const struct sk_topic_meta *topic_of(const struct sk_meta_image *img,
                                            const kp_alter_partition_request_topic_data *t,
                                            int16_t version)
{
    if (version >= 2)
        return sk_meta_topic_by_id(img, &t->topic_id);
    return t->topic_name.len < 0 ? NULL
                                 : sk_meta_topic(img, t->topic_name.ptr, (size_t)t->topic_name.len);
}

/* What one accepted partition writes and answers. */
struct change {
    kp_partition_change_record rec;
    kp_alter_partition_response_partition_data *out;
};

static void answer_state(kp_alter_partition_response_partition_data *out,
                         const struct sk_partition_meta *pm, int32_t *ids, int32_t n,
                         int8_t recovery, int32_t partition_epoch)
{
    out->leader_id = pm->leader;
    out->leader_epoch = pm->leader_epoch;
    out->isr = (kp_arr_i32){n, ids};
    out->leader_recovery_state = recovery;
    out->partition_epoch = partition_epoch;
}

/* An ISR change that brings the last adding replica in completes a
 * reassignment in the same record (Kafka's PartitionChangeBuilder): the
 * removed replicas leave, and the leader too if it was one of them. */
static void complete_reassignment(const struct sk_meta_image *img,
                                  const struct sk_partition_meta *pm, const int32_t *ids,
                                  int32_t n, kp_arena *arena, struct change *c)
{
    struct sk_reassign_step s = {0};
    s.replicas = kp_arena_alloc(arena, sizeof *s.replicas * (size_t)(pm->nreplicas + 1));
    s.isr = kp_arena_alloc(arena, sizeof *s.isr * (size_t)(n + 1));
    if (!s.replicas || !s.isr ||
        !sk_reassign_complete(img, pm, pm->replicas, pm->nreplicas, pm->adding, pm->nadding,
                              pm->removing, pm->nremoving, ids, n, &s))
        return;
    c->rec.replicas = (kp_arr_i32){s.nreplicas, s.replicas};
    c->rec.isr = (kp_arr_i32){s.nisr, s.isr};
    c->rec.adding_replicas = (kp_arr_i32){0, NULL};
    c->rec.removing_replicas = (kp_arr_i32){0, NULL};
    c->rec.leader = s.leader;
    c->out->isr = c->rec.isr;
    if (s.leader != -2) {
        c->out->leader_id = s.leader;
        c->out->leader_epoch = pm->leader_epoch + 1;
    }
}

/* One partition: answered, and its change (if any) added to ch. */
static void decide(const struct sk_meta_image *img, const struct sk_topic_meta *tm, int32_t sender,
                   const kp_alter_partition_request_partition_data *pd, int16_t version,
                   kp_alter_partition_response_partition_data *out, kp_arena *arena,
                   struct change *ch, int *nch)
{
    kp_alter_partition_response_partition_data_init(out);
    out->partition_index = pd->partition_index;
    int32_t cap = (version >= 3 ? pd->new_isr_with_epochs.n : pd->new_isr.n) + 1;
    int32_t *ids = kp_arena_alloc(arena, sizeof *ids * (size_t)(cap > 0 ? cap : 1));
    int64_t *epochs = kp_arena_alloc(arena, sizeof *epochs * (size_t)(cap > 0 ? cap : 1));
    if (!ids || !epochs) {
        out->error_code = SK_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    int32_t n = new_isr(pd, version, ids, epochs);
    const struct sk_partition_meta *pm = NULL;
    if (tm && pd->partition_index >= 0 && pd->partition_index < tm->npartitions)
        pm = &tm->partitions[pd->partition_index];
    out->error_code = check_partition(img, pm, sender, pd, version, ids, epochs, n);
    if (out->error_code)
        return;
    int8_t lrs = pd->leader_recovery_state;
    bool same = same_set(pm, ids, n);
    if (same && lrs == pm->leader_recovery_state) {
        /* Nothing to write: Kafka answers with the partition as it is. */
        answer_state(out, pm, pm->isr, pm->nisr, lrs, pm->partition_epoch);
        return;
    }
    answer_state(out, pm, ids, n, lrs, pm->partition_epoch + 1);
    struct change *c = &ch[(*nch)++];
    kp_partition_change_record_init(&c->rec);
    c->rec.topic_id = tm->id;
    c->rec.partition_id = pm->id;
    if (!same)
        c->rec.isr = (kp_arr_i32){n, ids};
    if (lrs != pm->leader_recovery_state)
        c->rec.leader_recovery_state = lrs;
    c->out = out;
    if (sk_reassign_in_progress(pm))
        complete_reassignment(img, pm, ids, n, arena, c);
}

static int16_t check_sender(const struct sk_meta_image *img, const kp_alter_partition_request *r,
                            char *msg, size_t msglen)
{
    const struct sk_broker_meta *bm = sk_meta_broker(img, r->broker_id);
    if (!bm) {
        snprintf(msg, msglen, "No broker registration found for broker id %" PRId32,
                 r->broker_id);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    /* -1: a sender that does not take part in the epoch check (Kafka's). */
    if (r->broker_epoch != -1 && r->broker_epoch != bm->epoch) {
        snprintf(msg, msglen, "Expected broker epoch %" PRId64 ", but got broker epoch %" PRId64,
                 bm->epoch, r->broker_epoch);
        return SK_ERR_STALE_BROKER_EPOCH;
    }
    return SK_ERR_NONE;
}

static int count_partitions(const kp_alter_partition_request *r)
{
    int n = 0;
    for (int32_t t = 0; t < r->topics.n; t++)
        n += r->topics.v[t].partitions.n > 0 ? r->topics.v[t].partitions.n : 0;
    return n;
}

/* The accepted changes, in batches KRaft's bound allows; a failure is
 * every accepted partition's answer. */
static int16_t commit_changes(struct sk_broker *ctl, struct change *ch, int n, char *msg,
                              size_t msglen)
{
    struct sk_meta_rec *recs = calloc((size_t)n + 1, sizeof *recs);
    if (!recs)
        abort(); /* as the image does: a half-made change must not reach the log */
    for (int i = 0; i < n; i++)
        recs[i] = (struct sk_meta_rec){SK_META_PARTITION_CHANGE, 0, &ch[i].rec};
    int16_t err = SK_ERR_NONE;
    for (int at = 0; at < n && !err; at += SK_MAX_RECORDS_PER_USER_OP) {
        int k = n - at < SK_MAX_RECORDS_PER_USER_OP ? n - at : SK_MAX_RECORDS_PER_USER_OP;
        err = sk_ctl_commit(ctl, recs + at, k, msg, msglen);
    }
    free(recs);
    if (err)
        for (int i = 0; i < n; i++)
            ch[i].out->error_code = err;
    return err;
}

int16_t sk_ctl_alter_partition(struct sk_broker *ctl, const kp_alter_partition_request *r,
                               int16_t version, kp_alter_partition_response *resp,
                               kp_arena *arena, char *msg, size_t msglen)
{
    resp->topics = (kp_alter_partition_response_topic_data_arr){0, NULL};
    int16_t err = sk_ctl_check_active(ctl, msg, msglen);
    const struct sk_meta_image *img = sk_ctl_working(ctl);
    if (!err)
        err = check_sender(img, r, msg, msglen);
    if (err)
        return err;
    int32_t nt = r->topics.n < 0 ? 0 : r->topics.n;
    kp_alter_partition_response_topic_data *topics =
        kp_arena_alloc(arena, sizeof *topics * (size_t)(nt + 1));
    struct change *ch = calloc((size_t)count_partitions(r) + 1, sizeof *ch);
    if (!topics || !ch) {
        free(ch);
        snprintf(msg, msglen, "out of memory");
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    }
    int nch = 0;
    for (int32_t t = 0; t < nt; t++) {
        const kp_alter_partition_request_topic_data *rt = &r->topics.v[t];
        kp_alter_partition_response_topic_data *ot = &topics[t];
        kp_alter_partition_response_topic_data_init(ot);
        ot->topic_name = rt->topic_name;
        ot->topic_id = rt->topic_id;
        const struct sk_topic_meta *tm = topic_of(img, rt, version);
        int32_t np = rt->partitions.n < 0 ? 0 : rt->partitions.n;
        ot->partitions.v = kp_arena_alloc(arena, sizeof *ot->partitions.v * (size_t)(np + 1));
        ot->partitions.n = ot->partitions.v ? np : 0;
        for (int32_t i = 0; i < ot->partitions.n; i++) {
            decide(img, tm, r->broker_id, &rt->partitions.v[i], version, &ot->partitions.v[i],
                   arena, ch, &nch);
            /* An unknown topic id is its own error from v2 on. */
            if (!tm && version >= 2)
                ot->partitions.v[i].error_code = SK_ERR_UNKNOWN_TOPIC_ID;
        }
    }
    resp->topics = (kp_alter_partition_response_topic_data_arr){nt, topics};
    if (nch)
        (void)commit_changes(ctl, ch, nch, msg, msglen);
    free(ch);
    return SK_ERR_NONE;
}
