/* Shared read-only configurations (skein/config_shared.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "skein/config_shared.h"
#include "skein/errors.h"

struct sk_config_shared *sk_config_shared_static(const struct sk_config *base)
{
    struct sk_config_shared *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    struct sk_config *c = &s->cfg;
    sk_config_list_init(&c->dynamic_default);
    sk_config_list_init(&c->dynamic_broker);
    char err[256];
    /* base resolved from this very layer once, so only memory can fail. */
    if (sk_config_list_copy(&c->static_props, &base->static_props) < 0) {
        free(s);
        return NULL;
    }
    if (sk_config_resolve(c, err, sizeof err) != SK_ERR_NONE) {
        sk_config_list_free(&c->static_props);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    return s;
}

struct sk_config_shared *sk_config_shared_ref(struct sk_config_shared *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void sk_config_shared_release(struct sk_config_shared *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    sk_config_free(&s->cfg);
    free(s);
}
