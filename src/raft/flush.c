/* The durability of the core's log. A flush may complete later (an io_uring
 * fdatasync), so the core asks for one and learns when it is done; until
 * then the leader does not count its own tail toward the high watermark and
 * a follower does not fetch again, since its next fetch offset acknowledges
 * everything below it. One flush runs at a time; appends made meanwhile wait
 * for the next. A truncation makes a running flush's answer worthless for
 * what comes after, so completions carry the generation they started in. */
#include "raft_int.h"

static int64_t log_end(const struct sk_raft *r)
{
    return r->cfg.log.end_offset(r->cfg.log_ctx);
}

static void mark(struct sk_raft *r, int64_t end)
{
    if (end > log_end(r))
        end = log_end(r);
    if (end <= r->flushed_end)
        return;
    r->flushed_end = end;
    if (r->role == SK_RAFT_LEADER)
        sk_raft_update_hw(r);
    else if (r->role == SK_RAFT_FOLLOWER)
        sk_raft_learn_hw(r);
}

int sk_raft_flush(struct sk_raft *r)
{
    if (!r->unflushed || r->flush_pending)
        return SK_ERR_NONE;
    int64_t end = log_end(r);
    int rc = r->cfg.log.flush(r->cfg.log_ctx, r->flush_gen);
    if (rc < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->unflushed = false;
    if (rc == 0)
        mark(r, end);
    else
        r->flush_pending = true;
    return SK_ERR_NONE;
}

static int flushed(struct sk_raft *r, uint64_t token, int64_t end)
{
    if (r->failed)
        return r->failed;
    r->flush_pending = false;
    if (token == r->flush_gen)
        mark(r, end);
    /* What was appended while it ran. */
    return sk_raft_flush(r);
}

int sk_raft_truncate_log(struct sk_raft *r, int64_t offset)
{
    if (r->cfg.log.truncate(r->cfg.log_ctx, offset) < 0)
        return sk_raft_fail(r, SK_ERR_KAFKA_STORAGE_ERROR);
    r->flush_gen++;
    if (r->flushed_end > offset)
        r->flushed_end = offset;
    sk_raft_voters_truncated(r, offset);
    return SK_ERR_NONE;
}

bool sk_raft_all_flushed(const struct sk_raft *r)
{
    return r->flushed_end >= log_end(r);
}

int sk_raft_flushed(struct sk_raft *r, uint64_t token, int64_t end)
{
    int err = flushed(r, token, end);
    int woke = sk_raft_wake_fetches(r, INT64_MIN);
    return err ? err : woke;
}
