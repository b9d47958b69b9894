/* The node's checkpoint files, one part per shard, written by shard 0
 * (skein/checkpoints.h).
 *
 * Why gathered on one shard rather than one file per shard: Kafka's layout
 * has one file of each kind per log dir, which its tools and a restart with
 * another shard count read as is; per-shard files would leave stale lines
 * behind whenever ownership moves (a different skein.num.shards), and a
 * stale log start offset brings deleted records back. Shard 0 owns the
 * parts; other shards reach them only by message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/atomic_writer.h"
#include "skein/broker.h"
#include "skein/checkpoints.h"
#include "skein/config.h"
#include "skein/log_cleaner.h"
#include "skein/logging.h"
#include "skein/node.h"
#include "skein/plog.h"

struct part {
    struct sk_offset_checkpoint_entry *e;
    size_t n;
    bool set;
};

struct sk_checkpoints {
    int nshards;
    struct part *parts[SK_CHECKPOINT_KINDS]; /* [nshards]; shard 0's thread */
    struct part *final[SK_CHECKPOINT_KINDS]; /* [nshards]; each its shard's, at close */
    struct sk_atomic_writer *w[SK_CHECKPOINT_KINDS];
};

static const char *const file_names[SK_CHECKPOINT_KINDS] = {
    SK_RECOVERY_POINT_CHECKPOINT, SK_LOG_START_OFFSET_CHECKPOINT, SK_REPLICATION_OFFSET_CHECKPOINT,
    SK_CLEANER_OFFSET_CHECKPOINT};

static const char *dir_of(const struct sk_node *n)
{
    return n->cfg->log_dirs[0];
}

static void part_set(struct part *p, struct sk_offset_checkpoint_entry *e, size_t n)
{
    free(p->e);
    *p = (struct part){e, n, true};
}

/* The file's lines, each to the part of the shard that owns it now. */
static int split_file(struct sk_node *n, struct sk_checkpoints *c, enum sk_checkpoint_kind k)
{
    struct sk_offset_checkpoint_entry *e;
    size_t ne;
    if (sk_offset_checkpoint_read(dir_of(n), file_names[k], &e, &ne) < 0) {
        sk_warn("%s/%s does not parse: its offsets are left out", dir_of(n), file_names[k]);
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; i < ne && rc == 0; i++) {
        int s = sk_shard_of_partition(n, kp_str_c(e[i].topic), e[i].partition);
        struct part *p = &c->parts[k][s];
        struct sk_offset_checkpoint_entry *v = realloc(p->e, sizeof *v * (p->n + 1));
        if (!v) {
            rc = -ENOMEM;
            break;
        }
        v[p->n++] = e[i];
        p->e = v;
        p->set = true;
    }
    free(e);
    return rc;
}

int sk_checkpoints_open(struct sk_node *n)
{
    struct sk_checkpoints *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    n->checkpoints = c;
    c->nshards = n->nshards;
    for (int k = 0; k < SK_CHECKPOINT_KINDS; k++) {
        c->parts[k] = calloc((size_t)n->nshards, sizeof *c->parts[k]);
        c->final[k] = calloc((size_t)n->nshards, sizeof *c->final[k]);
        if (!c->parts[k] || !c->final[k])
            return -ENOMEM;
        int rc = split_file(n, c, k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void sk_checkpoints_close(struct sk_node *n)
{
    struct sk_checkpoints *c = n->checkpoints;
    if (!c)
        return;
    for (int k = 0; k < SK_CHECKPOINT_KINDS; k++) {
        for (int s = 0; s < c->nshards; s++) {
            free(c->parts[k] ? c->parts[k][s].e : NULL);
            free(c->final[k] ? c->final[k][s].e : NULL);
        }
        free(c->parts[k]);
        free(c->final[k]);
        sk_atomic_writer_free(c->w[k]);
    }
    free(c);
    n->checkpoints = NULL;
}

/* Every shard's part, in shard order; with final, the final parts where set. */
static struct sk_offset_checkpoint_entry *merged(const struct sk_checkpoints *c,
                                                 enum sk_checkpoint_kind k, bool final,
                                                 size_t *count)
{
    size_t total = 0;
    for (int s = 0; s < c->nshards; s++)
        total += final && c->final[k][s].set ? c->final[k][s].n : c->parts[k][s].n;
    struct sk_offset_checkpoint_entry *all = malloc(sizeof *all * (total + 1));
    if (!all)
        return NULL;
    size_t at = 0;
    for (int s = 0; s < c->nshards; s++) {
        const struct part *p = final && c->final[k][s].set ? &c->final[k][s] : &c->parts[k][s];
        if (p->n)
            memcpy(all + at, p->e, sizeof *all * p->n);
        at += p->n;
    }
    *count = total;
    return all;
}

/* ---- offers, on shard 0 ------------------------------------------------------ */

struct offer {
    struct sk_node *node;
    int from;
    enum sk_checkpoint_kind kind;
    struct sk_offset_checkpoint_entry *e;
    size_t n;
    sk_checkpoint_done_fn done;
    void *arg;
    int err;
};

static void done_on_home(struct sk_broker *b, void *arg)
{
    (void)b;
    struct offer *o = arg;
    o->done(o->arg, o->err);
    free(o);
}

static void written(void *arg, int err)
{
    struct offer *o = arg;
    if (err < 0)
        sk_warn("cannot write %s/%s: %s; rewritten with the next change", dir_of(o->node),
                file_names[o->kind], strerror(-err));
    o->err = err;
    if (!o->done || o->from == 0) {
        if (o->done)
            o->done(o->arg, err);
        free(o);
        return;
    }
    /* A shard that stops meanwhile takes no message; its request goes with it. */
    if (sk_node_post(o->node, o->from, done_on_home, o) < 0)
        free(o);
}

static void apply(struct sk_broker *writer, void *arg)
{
    struct offer *o = arg;
    struct sk_checkpoints *c = writer->node->checkpoints;
    part_set(&c->parts[o->kind][o->from], o->e, o->n);
    o->e = NULL;
    /* Made at first use, so that it syncs through the ring shard 0 runs. */
    if (!c->w[o->kind])
        c->w[o->kind] = sk_atomic_writer_new(&writer->syncer, dir_of(writer->node));
    size_t n;
    struct sk_offset_checkpoint_entry *all = merged(c, o->kind, false, &n);
    int rc = all && c->w[o->kind]
                 ? sk_offset_checkpoint_write_async(c->w[o->kind], file_names[o->kind], all, n,
                                                    written, o)
                 : -ENOMEM;
    free(all);
    if (rc < 0)
        written(o, rc);
}

int sk_checkpoint_offer(struct sk_broker *b, enum sk_checkpoint_kind kind,
                        struct sk_offset_checkpoint_entry *e, size_t n,
                        sk_checkpoint_done_fn done, void *arg)
{
    struct sk_checkpoints *c = b->node->checkpoints;
    /* A shard context the server did not make (tests) has no part. */
    struct offer *o = c && b->index < c->nshards ? malloc(sizeof *o) : NULL;
    if (!o) {
        free(e);
        return c && b->index < c->nshards ? -ENOMEM : -EINVAL;
    }
    *o = (struct offer){b->node, b->index, kind, e, n, done, arg, 0};
    if (b->index == 0) {
        apply(b, o);
        return 0;
    }
    int rc = sk_node_post(b->node, 0, apply, o);
    if (rc < 0) {
        free(e);
        free(o);
    }
    return rc;
}

/* ---- shutdown ---------------------------------------------------------------- */

void sk_checkpoint_set_final(struct sk_broker *b, enum sk_checkpoint_kind kind,
                             struct sk_offset_checkpoint_entry *e, size_t n)
{
    struct sk_checkpoints *c = b->node->checkpoints;
    if (!c || b->index >= c->nshards) {
        free(e);
        return;
    }
    part_set(&c->final[kind][b->index], e, n);
}

int sk_checkpoints_write_final(struct sk_node *n)
{
    struct sk_checkpoints *c = n->checkpoints;
    int first = 0;
    for (int k = 0; c && k < SK_CHECKPOINT_KINDS; k++) {
        bool any = false;
        for (int s = 0; s < c->nshards; s++)
            any = any || c->final[k][s].set;
        if (!any)
            continue;
        size_t count;
        struct sk_offset_checkpoint_entry *all = merged(c, (enum sk_checkpoint_kind)k, true,
                                                        &count);
        int rc = all ? sk_offset_checkpoint_write(dir_of(n), file_names[k], all, count) : -ENOMEM;
        free(all);
        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}
