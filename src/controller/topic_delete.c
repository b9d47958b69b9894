/* Topic deletion: one RemoveTopicRecord per topic, all in one batch. */
#include <stdlib.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"

int16_t sk_topics_delete(struct sk_broker *b, const kp_uuid *ids, int n, char *msg,
                         size_t msglen)
{
    struct sk_meta_rec *recs = calloc((size_t)n + 1, sizeof *recs);
    kp_remove_topic_record *rr = calloc((size_t)n + 1, sizeof *rr);
    if (!recs || !rr)
        abort();
    for (int i = 0; i < n; i++) {
        kp_remove_topic_record_init(&rr[i]);
        rr[i].topic_id = ids[i];
        recs[i] = (struct sk_meta_rec){SK_META_REMOVE_TOPIC, 0, &rr[i]};
    }
    int16_t err = sk_ctl_commit(b, recs, n, msg, msglen);
    free(recs);
    free(rr);
    return err;
}
