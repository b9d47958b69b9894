/* A submit from a shard other than the controller's: the records are
 * encoded to bytes on the submitting shard, since the structs they are
 * built from belong to its handler and are gone by the time the
 * controller's shard runs the task, and decoded there again. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "skein/buf.h"
#include "skein/errors.h"
#include "skein/node.h"
#include "skein/submit.h"

struct posted_submit {
    int submitter;
    int n;
    sk_ctl_done_fn done;
    void *arg;
    struct sk_buf bytes; /* per record: int16 type, int16 version, u32 len, value */
};

struct rec_head {
    int16_t type, version;
    uint32_t len;
};

static int encode(struct posted_submit *p, const struct sk_meta_rec *recs, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = sk_meta_record_size(recs[i].type, recs[i].version, recs[i].rec);
        struct rec_head h = {recs[i].type, recs[i].version, (uint32_t)len};
        if (sk_buf_append(&p->bytes, &h, sizeof h) < 0 || sk_buf_reserve(&p->bytes, len) < 0)
            return -1;
        if (sk_meta_record_encode(p->bytes.data + p->bytes.len, len, recs[i].type,
                                  recs[i].version, recs[i].rec) < 0)
            return -1;
        p->bytes.len += len;
    }
    return 0;
}

static void run_posted(struct sk_broker *ctl, void *arg)
{
    struct posted_submit *p = arg;
    struct sk_meta_rec *recs = calloc((size_t)(p->n ? p->n : 1), sizeof *recs);
    kp_arena a;
    kp_arena_init(&a, 0);
    size_t off = 0;
    int i = 0;
    for (; recs && i < p->n; i++) {
        struct rec_head h;
        memcpy(&h, p->bytes.data + off, sizeof h);
        off += sizeof h;
        int16_t type, version;
        void *rec;
        if (sk_meta_record_decode(p->bytes.data + off, h.len, &a, &type, &version, &rec) < 0)
            break;
        recs[i] = (struct sk_meta_rec){type, version, rec};
        off += h.len;
    }
    if (recs && i == p->n)
        sk_ctl_submit_on_controller(ctl, p->submitter, recs, p->n, p->done, p->arg);
    else
        p->done(p->arg, SK_ERR_KAFKA_STORAGE_ERROR, "The change could not be handed to the "
                "controller");
    kp_arena_free(&a);
    free(recs);
    sk_buf_free(&p->bytes);
    free(p);
}

int sk_ctl_post_submit(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                       sk_ctl_done_fn done, void *arg)
{
    struct posted_submit *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    *p = (struct posted_submit){.submitter = b->index, .n = n, .done = done, .arg = arg};
    if (encode(p, recs, n) < 0 || sk_node_post(b->node, 0, run_posted, p) < 0) {
        sk_buf_free(&p->bytes);
        free(p);
        return -1;
    }
    return 0;
}
