/* Building a set of records for one append to __consumer_offsets. */
#include <errno.h>
#include <stdlib.h>

#include "record_set.h"
#include "skein/errors.h"

void sk_rec_set_add(struct sk_rec_set *s, size_t key_start, size_t val_start, bool tombstone)
{
    if (s->err)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct sk_rec_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->err = -ENOMEM;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct sk_rec_span){
        key_start, val_start - key_start, val_start,
        tombstone ? -1 : (int32_t)(s->buf.len - val_start)};
}

void sk_rec_set_free(struct sk_rec_set *s)
{
    sk_buf_free(&s->buf);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void sk_rec_set_write(struct sk_rec_set *s, struct sk_group_coordinator *co, int32_t partition,
                      sk_group_done_fn done, void *arg)
{
    if (s->err || s->n == 0) {
        int err = s->err;
        sk_rec_set_free(s);
        done(arg, err ? SK_ERR_UNKNOWN_SERVER_ERROR : SK_ERR_NONE);
        return;
    }
    struct sk_record_in *recs = calloc(s->n, sizeof *recs);
    if (!recs) {
        sk_rec_set_free(s);
        done(arg, SK_ERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    int64_t now = co->env.now_ms(co->env.ctx);
    for (size_t i = 0; i < s->n; i++) {
        const struct sk_rec_span *r = &s->v[i];
        recs[i] = (struct sk_record_in){
            .timestamp = now,
            .key = s->buf.data + r->key_off,
            .key_len = (int32_t)r->key_len,
            .value = r->val_len >= 0 ? s->buf.data + r->val_off : NULL,
            .value_len = r->val_len,
        };
    }
    co->env.append(co->env.ctx, partition, recs, s->n, done, arg);
    free(recs);
    sk_rec_set_free(s);
}
