/* Writing a group's metadata record (its generation, members and their
 * assignments) to __consumer_offsets. */
#include "record_set.h"
#include "skein/group_records.h"

void sk_group_store_metadata(struct sk_group *g, sk_group_done_fn done, void *arg)
{
    struct sk_group_coordinator *co = g->co;
    struct sk_rec_set s = {0};
    size_t k = s.buf.len;
    s.err = sk_group_metadata_key(&s.buf, g->id);
    size_t v = s.buf.len;
    if (!s.err)
        s.err = sk_group_metadata_value(&s.buf, g, co->env.now_ms(co->env.ctx));
    sk_rec_set_add(&s, k, v, false);
    sk_rec_set_write(&s, co, g->partition, done, arg);
}
