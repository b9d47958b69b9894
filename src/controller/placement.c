/* Where new partitions' replicas go, and the checks on a placement a client
 * chose itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void placement_alloc(struct sk_placement *p, int32_t first, int32_t count, int16_t rf)
{
    size_t cells = (size_t)count * (size_t)(rf > 0 ? rf : 1) + 1;
    p->first = first;
    p->count = count;
    p->rf = rf;
    p->replicas = calloc(cells, sizeof *p->replicas);
    p->isr = calloc(cells, sizeof *p->isr);
    p->nisr = calloc((size_t)count + 1, sizeof *p->nisr);
    if (!p->replicas || !p->isr || !p->nisr)
        abort();
}

void sk_placement_free(struct sk_placement *p)
{
    free(p->replicas);
    free(p->isr);
    free(p->nisr);
    memset(p, 0, sizeof *p);
}

/* Unfenced broker ids in ascending order; returns how many. */
static int usable_brokers(const struct sk_meta_image *img, int32_t *out)
{
    int n = 0;
    for (int i = 0; i < img->nbrokers; i++)
        if (!img->brokers[i].fenced)
            out[n++] = img->brokers[i].id;
    qsort(out, (size_t)n, sizeof *out, cmp_i32);
    return n;
}

int16_t sk_place_auto(const struct sk_meta_image *img, int32_t first, int32_t count, int16_t rf,
                      struct sk_placement *out, char *msg, size_t msglen)
{
    int32_t *ids = calloc((size_t)img->nbrokers + 1, sizeof *ids);
    if (!ids)
        abort();
    int n = usable_brokers(img, ids);
    if (n == 0 || rf > n) {
        if (n == 0)
            snprintf(msg, msglen, "Unable to replicate the partition %d time(s): All brokers "
                     "are currently fenced.", rf);
        else
            snprintf(msg, msglen, "Unable to replicate the partition %d time(s): The target "
                     "replication factor of %d cannot be reached because only %d broker(s) "
                     "are registered.", rf, rf, n);
        free(ids);
        return SK_ERR_INVALID_REPLICATION_FACTOR;
    }
    placement_alloc(out, first, count, rf);
    for (int32_t p = 0; p < count; p++) {
        for (int16_t r = 0; r < rf; r++) {
            int32_t id = ids[(int)(((int64_t)first + p + r) % n)];
            out->replicas[(size_t)p * (size_t)rf + (size_t)r] = id;
            out->isr[(size_t)p * (size_t)rf + (size_t)r] = id;
        }
        out->nisr[p] = rf;
    }
    free(ids);
    return SK_ERR_NONE;
}

int16_t sk_place_check_manual(const struct sk_meta_image *img, kp_arr_i32 brokers, int16_t rf,
                              char *msg, size_t msglen)
{
    if (brokers.n <= 0) {
        snprintf(msg, msglen, "The manual partition assignment includes an empty replica list.");
        return SK_ERR_INVALID_REPLICA_ASSIGNMENT;
    }
    int32_t *sorted = malloc(sizeof *sorted * (size_t)brokers.n);
    if (!sorted)
        abort();
    memcpy(sorted, brokers.v, sizeof *sorted * (size_t)brokers.n);
    qsort(sorted, (size_t)brokers.n, sizeof *sorted, cmp_i32);
    int16_t err = SK_ERR_NONE;
    for (int32_t i = 0; i < brokers.n && !err; i++) {
        if (!sk_meta_broker(img, sorted[i])) {
            snprintf(msg, msglen, "The manual partition assignment includes broker %d, but no "
                     "such broker is registered.", sorted[i]);
            err = SK_ERR_INVALID_REPLICA_ASSIGNMENT;
        } else if (i > 0 && sorted[i] == sorted[i - 1]) {
            snprintf(msg, msglen, "The manual partition assignment includes the broker %d more "
                     "than once.", sorted[i]);
            err = SK_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    free(sorted);
    if (!err && rf >= 0 && brokers.n != rf) {
        snprintf(msg, msglen, "The manual partition assignment includes a partition with %d "
                 "replica(s), but this is not consistent with previous partitions, which have "
                 "%d replica(s).", brokers.n, rf);
        err = SK_ERR_INVALID_REPLICA_ASSIGNMENT;
    }
    return err;
}

int16_t sk_place_manual(const struct sk_meta_image *img, int32_t first, const kp_arr_i32 *lists,
                        int32_t count, struct sk_placement *out, char *msg, size_t msglen)
{
    int16_t rf = (int16_t)lists[0].n;
    placement_alloc(out, first, count, rf);
    for (int32_t p = 0; p < count; p++) {
        int32_t *row = &out->replicas[(size_t)p * (size_t)rf];
        int32_t *isr = &out->isr[(size_t)p * (size_t)rf];
        memcpy(row, lists[p].v, sizeof *row * (size_t)rf);
        for (int16_t r = 0; r < rf; r++) {
            const struct sk_broker_meta *bm = sk_meta_broker(img, row[r]);
            if (bm && !bm->fenced)
                isr[out->nisr[p]++] = row[r];
        }
        if (out->nisr[p] == 0) {
            snprintf(msg, msglen, "All brokers specified in the manual partition assignment for "
                     "partition %d are fenced or in controlled shutdown.", first + p);
            sk_placement_free(out);
            return SK_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return SK_ERR_NONE;
}

void sk_placement_records(const struct sk_placement *p, const kp_uuid *topic_id, void *prv,
                          struct sk_meta_rec *recs)
{
    kp_partition_record *pr = prv;
    for (int32_t i = 0; i < p->count; i++) {
        kp_partition_record_init(&pr[i]);
        pr[i].partition_id = p->first + i;
        pr[i].topic_id = *topic_id;
        pr[i].replicas = (kp_arr_i32){p->rf, &p->replicas[(size_t)i * (size_t)p->rf]};
        pr[i].isr = (kp_arr_i32){p->nisr[i], &p->isr[(size_t)i * (size_t)p->rf]};
        /* The first in-sync replica leads: the preferred one whenever it can. */
        pr[i].leader = pr[i].isr.v[0];
        pr[i].leader_epoch = 0;
        pr[i].partition_epoch = 0;
        recs[i] = (struct sk_meta_rec){SK_META_PARTITION, 0, &pr[i]};
    }
}

int16_t sk_replica_list_check(const struct sk_meta_image *img, kp_arr_i32 brokers,
                                     char *msg, size_t msglen)
{
    return sk_place_check_manual(img, brokers, -1, msg, msglen);
}
