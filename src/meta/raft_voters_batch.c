/* The core's VOTERS batch and Kafka's control records (skein/raft_voters_batch.h). */
#include "skein/raft_voters_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/raft.h"
#include "skein/record.h"

static int endpoint_in(const struct sk_voter_endpoint *e, struct sk_raft_endpoint *o)
{
    if (e->name_len > SK_RAFT_LISTENER_MAX || e->host_len > SK_RAFT_HOST_MAX)
        return -E2BIG;
    o->name_len = (uint8_t)e->name_len;
    o->host_len = (uint8_t)e->host_len;
    o->port = e->port;
    memcpy(o->name, e->name, e->name_len);
    memcpy(o->host, e->host, e->host_len);
    return 0;
}

int sk_raft_voters_from_kafka(const struct sk_voter_set *in, struct sk_raft_voter_set *out)
{
    memset(out, 0, sizeof *out);
    if (in->n > SK_RAFT_MAX_VOTERS)
        return -E2BIG;
    for (size_t i = 0; i < in->n; i++) {
        const struct sk_voter_node *v = &in->v[i];
        struct sk_raft_voter *o = &out->voters[i];
        if (v->n_ep < 0 || v->n_ep > SK_RAFT_MAX_ENDPOINTS)
            return -E2BIG;
        o->id = v->id;
        memcpy(o->directory_id, v->dir_id, SK_RAFT_DIR_ID_LEN);
        o->min_kraft_version = v->min_kraft;
        o->max_kraft_version = v->max_kraft;
        o->n_endpoints = v->n_ep;
        for (int e = 0; e < v->n_ep; e++)
            if (endpoint_in(&v->ep[e], &o->endpoints[e]) < 0)
                return -E2BIG;
    }
    out->n = (int32_t)in->n;
    return 0;
}

void sk_raft_voters_to_kafka(const struct sk_raft_voter_set *in, struct sk_voter_set *out)
{
    out->n = 0;
    for (int32_t i = 0; i < in->n && i < SK_VOTER_SET_MAX; i++) {
        const struct sk_raft_voter *v = &in->voters[i];
        struct sk_voter_node *o = &out->v[out->n++];
        memset(o, 0, sizeof *o);
        o->id = v->id;
        memcpy(o->dir_id, v->directory_id, 16);
        o->min_kraft = v->min_kraft_version;
        o->max_kraft = v->max_kraft_version;
        o->n_ep = v->n_endpoints < SK_VOTER_ENDPOINTS_MAX ? v->n_endpoints : SK_VOTER_ENDPOINTS_MAX;
        for (int e = 0; e < o->n_ep; e++) {
            const struct sk_raft_endpoint *x = &v->endpoints[e];
            o->ep[e].name_len = x->name_len;
            o->ep[e].host_len = x->host_len;
            o->ep[e].port = x->port;
            memcpy(o->ep[e].name, x->name, x->name_len);
            memcpy(o->ep[e].host, x->host, x->host_len);
        }
    }
}

int sk_raft_voters_batch_build(const struct sk_raft_batch *b, int64_t now_ms, struct sk_buf *out)
{
    struct sk_raft_voter_set s;
    if (sk_raft_voters_decode(b->data, b->len, &s) < 0 || b->count < 1 || b->count > 2)
        return -EBADMSG;
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    sk_raft_voters_to_kafka(&s, vs);
    int rc = sk_voters_control_batch(vs, b->count == 2, b->base_offset, b->epoch, now_ms, out);
    free(vs);
    return rc;
}

int sk_raft_voters_batch_parse(const uint8_t *p, size_t len, uint8_t *enc, size_t cap, size_t *n)
{
    struct sk_batch_header h;
    if (sk_batch_header_read(p, len, &h) < 0 || sk_batch_size(&h) != len)
        return -EBADMSG;
    if (!(h.attributes & SK_BATCH_CONTROL))
        return 0;
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    struct sk_raft_voter_set s;
    int rc = sk_voters_snapshot_decode(p, len, vs, NULL);
    if (rc == 0)
        rc = sk_raft_voters_from_kafka(vs, &s) < 0 ? -EBADMSG : 1;
    free(vs);
    if (rc == -ENOENT)
        return 0;
    if (rc == 1 && (*n = sk_raft_voters_encode(&s, enc, cap)) == 0)
        rc = -EBADMSG;
    return rc;
}
