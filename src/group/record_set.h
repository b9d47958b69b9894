/* A few __consumer_offsets records built in one buffer, then appended. */
#ifndef SKEIN_GROUP_RECORD_SET_H
#define SKEIN_GROUP_RECORD_SET_H

#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/group.h"
#include "skein/record.h"

struct sk_rec_span {
    size_t key_off, key_len, val_off;
    int32_t val_len; /* -1: tombstone */
};

struct sk_rec_set {
    struct sk_buf buf;
    struct sk_rec_span *v;
    size_t n, cap;
    int err; /* first failure; later adds are ignored */
};

/* Call with the key (and value) just appended to set->buf: marks where they
 * start. key_start/val_start are set->buf.len before each was appended. */
void sk_rec_set_add(struct sk_rec_set *s, size_t key_start, size_t val_start, bool tombstone);
/* Appends the set to the group's partition; done once durable. Frees the set. */
void sk_rec_set_write(struct sk_rec_set *s, struct sk_group_coordinator *co, int32_t partition,
                      sk_group_done_fn done, void *arg);
void sk_rec_set_free(struct sk_rec_set *s);

#endif
