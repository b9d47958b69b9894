/* The node's checkpoint files: recovery points, log start offsets, high
 * watermarks and the cleaner's first dirty offsets of the log dir, one file each in Kafka's
 * format and place, whatever the number of shards.
 *
 * Each shard knows only its own partitions, and two shards writing one file
 * would each drop the other's lines (and race on its temporary file). So a
 * file is made of one part per shard: a shard hands its latest part to the
 * node's writer, shard 0, which keeps every shard's latest part and writes
 * the whole file through its own ring. Until a shard has sent a part, the
 * lines the file had at start-up for the partitions that shard owns stand
 * in for it, so nothing a shard has not yet restated is lost. At shutdown
 * each shard leaves its final parts in its context and the node writes the
 * files once, after every shard thread has ended. */
#ifndef SKEIN_CHECKPOINTS_H
#define SKEIN_CHECKPOINTS_H

#include <stddef.h>

struct sk_node;
struct sk_broker;
struct sk_offset_checkpoint_entry;

enum sk_checkpoint_kind {
    SK_CHECKPOINT_RECOVERY_POINT,
    SK_CHECKPOINT_LOG_START,
    SK_CHECKPOINT_HIGH_WATERMARK,
    SK_CHECKPOINT_CLEANER, /* the cleaner's own; the partitions' kinds are those before it */
    SK_CHECKPOINT_KINDS
};

/* err is 0 once a file holding the part is durable, or -errno. */
typedef void (*sk_checkpoint_done_fn)(void *arg, int err);

/* Reads the files of the log dir and splits their lines into parts by the
 * shard that owns each partition (node->nshards must be final). 0 or
 * -ENOMEM; a file that does not parse is left out (logged). */
int sk_checkpoints_open(struct sk_node *n);
/* Frees the parts and the writers (the node's last step). */
void sk_checkpoints_close(struct sk_node *n);

/* From shard b's thread: e[0..n) (malloc'd; ownership passes in all cases)
 * becomes b's part of the file, and the file is written. done (may be NULL)
 * runs on b once that write is durable or failed. 0, or -errno when the part
 * could not be handed over (then done does not run). */
int sk_checkpoint_offer(struct sk_broker *b, enum sk_checkpoint_kind kind,
                        struct sk_offset_checkpoint_entry *e, size_t n,
                        sk_checkpoint_done_fn done, void *arg);

/* At shutdown, on b's thread after its loop ended: e becomes b's final part
 * (ownership passes), held in b until sk_checkpoints_write_final. */
void sk_checkpoint_set_final(struct sk_broker *b, enum sk_checkpoint_kind kind,
                             struct sk_offset_checkpoint_entry *e, size_t n);
/* Once no shard runs: writes every file that has a final part, blocking.
 * 0 or the first -errno. */
int sk_checkpoints_write_final(struct sk_node *n);

#endif
