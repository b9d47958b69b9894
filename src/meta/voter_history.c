/* The voter sets of a metadata log (skein/voter_history.h). */
#include "skein/voter_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sk_voter_history_free(struct sk_voter_history *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
}

int sk_voter_history_note(struct sk_voter_history *h, int64_t offset,
                          const struct sk_raft_voter_set *s)
{
    size_t i = h->n;
    while (i > 0 && h->v[i - 1].offset >= offset)
        i--;
    if (i < h->n && h->v[i].offset == offset) {
        h->v[i].set = *s;
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4;
        struct sk_voter_history_entry *nv = realloc(h->v, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        h->v = nv;
        h->cap = cap;
    }
    memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof h->v[0]);
    h->v[i] = (struct sk_voter_history_entry){offset, *s};
    h->n++;
    return 0;
}

void sk_voter_history_truncate(struct sk_voter_history *h, int64_t offset)
{
    while (h->n > 0 && h->v[h->n - 1].offset >= offset)
        h->n--;
}

bool sk_voter_history_at(struct sk_voter_history *h, int64_t end, struct sk_raft_voter_set *out)
{
    size_t below = 0;
    while (below < h->n && h->v[below].offset < end)
        below++;
    if (below > 0) {
        h->base = h->v[below - 1].set;
        h->has_base = true;
        memmove(h->v, h->v + below, (h->n - below) * sizeof h->v[0]);
        h->n -= below;
    }
    if (h->has_base)
        *out = h->base;
    return h->has_base;
}

bool sk_voter_history_latest(const struct sk_voter_history *h, struct sk_raft_voter_set *out)
{
    if (h->n > 0)
        *out = h->v[h->n - 1].set;
    else if (h->has_base)
        *out = h->base;
    return h->n > 0 || h->has_base;
}

void sk_voter_history_reset(struct sk_voter_history *h, const struct sk_raft_voter_set *s)
{
    h->n = 0;
    h->has_base = s != NULL;
    if (s)
        h->base = *s;
}
