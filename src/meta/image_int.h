/* What the image's files share among themselves (src/meta/image*.c). */
#ifndef SKEIN_META_IMAGE_INT_H
#define SKEIN_META_IMAGE_INT_H

#include "skein/meta.h"

/* An unshared deep copy (one reference) of t. */
struct sk_topic_meta *sk_meta_topic_copy(const struct sk_topic_meta *t);
/* Drops one image's hold on t; the last frees it. */
void sk_meta_topic_release(struct sk_topic_meta *t);

#endif
