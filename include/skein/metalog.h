/* __cluster_metadata: the log every cluster change goes through.
 *
 * A change is a list of metadata records appended as one batch (so it is
 * applied whole or not at all), made durable with fdatasync, and only then
 * applied to the image. On open the image is rebuilt by replaying the log. */
#ifndef SKEIN_METALOG_H
#define SKEIN_METALOG_H

#include <stdint.h>

#include "skein/meta.h"

#define SK_METALOG_TOPIC "__cluster_metadata"

struct sk_metalog;

struct sk_meta_rec {
    int16_t type;
    int16_t version;
    const void *rec; /* the generated struct for type */
};

/* Opens (or creates) dir/__cluster_metadata-0 and replays it into img, which
 * must be freshly initialised. Returns 0 or negative errno; -EBADMSG if a
 * record does not decode or apply (the log is damaged: refuse to start). */
int sk_metalog_open(const char *dir, struct sk_meta_image *img, int64_t now_ms,
                    struct sk_metalog **out);
void sk_metalog_close(struct sk_metalog *ml);

/* Appends recs as one batch, syncs, then applies them to img. On error
 * nothing was applied. */
int sk_metalog_append(struct sk_metalog *ml, struct sk_meta_image *img,
                      const struct sk_meta_rec *recs, int n, int64_t now_ms);

int64_t sk_metalog_end_offset(const struct sk_metalog *ml);

/* Snapshot the image after `bytes` of records (0: never). */
void sk_metalog_set_snapshot_policy(struct sk_metalog *ml, int32_t node_id, int64_t bytes);

#endif
