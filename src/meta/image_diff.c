/* Which topics differ between two images. Images share the topics a change
 * did not touch (sk_meta_image_clone), so a topic is unchanged exactly when
 * both images hold the same object: the diff compares pointers, never
 * partitions, and costs one hash lookup per topic. */
#include "skein/meta.h"

void sk_meta_topics_diff(const struct sk_meta_image *old, const struct sk_meta_image *cur,
                         sk_topic_change_fn fn, void *arg)
{
    for (int i = 0; i < cur->ntopics; i++) {
        const struct sk_topic_meta *now = cur->topics[i];
        const struct sk_topic_meta *was = sk_meta_topic_by_id(old, &now->id);
        if (was != now)
            fn(arg, was, now);
    }
    for (int i = 0; i < old->ntopics; i++) {
        const struct sk_topic_meta *was = old->topics[i];
        if (!sk_meta_topic_by_id(cur, &was->id))
            fn(arg, was, NULL);
    }
}
