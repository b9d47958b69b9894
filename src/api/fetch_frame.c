/* The FetchResponse writer: the generated encoder's byte layout, but each
 * partition's records become a file segment instead of bytes in the buffer.
 * tests/test_fetch.c checks the result is byte-identical to the generated
 * encoder at every version. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "skein/fetch.h"
#include "skein/net.h"

typedef kp_fetch_response_partition_data part_t;
typedef kp_fetch_response_fetchable_topic_response topic_t;

struct frame_writer {
    kp_writer w;
    uint8_t *buf;
    uint8_t *mark; /* where the memory segment being written began */
    struct sk_seg *segs;
    unsigned nsegs, cap;
    const struct sk_fetch_file *files;
    size_t nfiles, next_file;
};

static void close_fd(void *arg)
{
    close((int)(intptr_t)arg);
}

void sk_fetch_files_release(const struct sk_fetch_file *files, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        if (files[i].mem)
            free(files[i].mem);
        else
            close(files[i].fd);
    }
}

/* Closes the memory segment written since mark (if any bytes). */
static void end_mem(struct frame_writer *fw)
{
    if (fw->w.p > fw->mark)
        fw->segs[fw->nsegs++] = sk_seg_mem(fw->mark, (size_t)(fw->w.p - fw->mark), NULL, NULL);
    fw->mark = fw->w.p;
}

static int put_file(struct frame_writer *fw, int32_t len)
{
    if (fw->next_file >= fw->nfiles)
        return KP_E_INVALID;
    const struct sk_fetch_file *f = &fw->files[fw->next_file];
    if ((int64_t)f->len != len)
        return KP_E_INVALID;
    end_mem(fw);
    fw->next_file++;
    if (f->mem)
        fw->segs[fw->nsegs++] = sk_seg_mem(f->mem, f->len, free, f->mem);
    else
        fw->segs[fw->nsegs++] = sk_seg_file(f->fd, (off_t)f->pos, f->len, close_fd,
                                            (void *)(intptr_t)f->fd);
    return 0;
}

static int put_records(struct frame_writer *fw, kp_bytes r, bool flex)
{
    if (r.ptr || r.len <= 0)
        return kp_write_bytes(&fw->w, r, flex, true);
    if (flex)
        KP_TRY(kp_write_uvarint(&fw->w, (uint32_t)r.len + 1));
    else
        KP_TRY(kp_write_i32(&fw->w, r.len));
    return put_file(fw, r.len);
}

static bool epoch_end_default(const kp_fetch_response_epoch_end_offset *e)
{
    return e->epoch == -1 && e->end_offset == -1;
}

static bool leader_default(const kp_fetch_response_leader_id_and_epoch *l)
{
    return l->leader_id == -1 && l->leader_epoch == -1;
}

static bool snapshot_default(const kp_fetch_response_snapshot_id *s)
{
    return s->end_offset == -1 && s->epoch == -1;
}

/* The three optional structs of a flexible partition, as tagged fields:
 * each is its fixed-size fields plus an empty tag section. */
static int put_partition_tags(kp_writer *w, const part_t *p)
{
    uint32_t ntags = !epoch_end_default(&p->diverging_epoch) +
                     !leader_default(&p->current_leader) + !snapshot_default(&p->snapshot_id);
    KP_TRY(kp_write_uvarint(w, ntags));
    if (!epoch_end_default(&p->diverging_epoch)) {
        KP_TRY(kp_write_uvarint(w, 0));
        KP_TRY(kp_write_uvarint(w, 4 + 8 + 1));
        KP_TRY(kp_write_i32(w, p->diverging_epoch.epoch));
        KP_TRY(kp_write_i64(w, p->diverging_epoch.end_offset));
        KP_TRY(kp_write_uvarint(w, 0));
    }
    if (!leader_default(&p->current_leader)) {
        KP_TRY(kp_write_uvarint(w, 1));
        KP_TRY(kp_write_uvarint(w, 4 + 4 + 1));
        KP_TRY(kp_write_i32(w, p->current_leader.leader_id));
        KP_TRY(kp_write_i32(w, p->current_leader.leader_epoch));
        KP_TRY(kp_write_uvarint(w, 0));
    }
    if (!snapshot_default(&p->snapshot_id)) {
        KP_TRY(kp_write_uvarint(w, 2));
        KP_TRY(kp_write_uvarint(w, 8 + 4 + 1));
        KP_TRY(kp_write_i64(w, p->snapshot_id.end_offset));
        KP_TRY(kp_write_i32(w, p->snapshot_id.epoch));
        KP_TRY(kp_write_uvarint(w, 0));
    }
    return 0;
}

static int put_aborted(kp_writer *w, const part_t *p, bool flex)
{
    KP_TRY(kp_write_arr_len(w, p->aborted_transactions.n, flex, true));
    for (int32_t i = 0; i < p->aborted_transactions.n; i++) {
        KP_TRY(kp_write_i64(w, p->aborted_transactions.v[i].producer_id));
        KP_TRY(kp_write_i64(w, p->aborted_transactions.v[i].first_offset));
        if (flex)
            KP_TRY(kp_write_uvarint(w, 0));
    }
    return 0;
}

static int put_partition(struct frame_writer *fw, const part_t *p, int16_t v)
{
    kp_writer *w = &fw->w;
    bool flex = v >= 12;
    KP_TRY(kp_write_i32(w, p->partition_index));
    KP_TRY(kp_write_i16(w, p->error_code));
    KP_TRY(kp_write_i64(w, p->high_watermark));
    if (v >= 4)
        KP_TRY(kp_write_i64(w, p->last_stable_offset));
    if (v >= 5)
        KP_TRY(kp_write_i64(w, p->log_start_offset));
    if (v >= 4)
        KP_TRY(put_aborted(w, p, flex));
    if (v >= 11)
        KP_TRY(kp_write_i32(w, p->preferred_read_replica));
    else if (p->preferred_read_replica != -1)
        return KP_E_VERSION;
    KP_TRY(put_records(fw, p->records, flex));
    return flex ? put_partition_tags(w, p) : 0;
}

static int put_topic(struct frame_writer *fw, const topic_t *t, int16_t v)
{
    bool flex = v >= 12;
    if (v <= 12)
        KP_TRY(kp_write_str(&fw->w, t->topic, flex, false));
    else
        KP_TRY(kp_write_uuid(&fw->w, &t->topic_id));
    KP_TRY(kp_write_arr_len(&fw->w, t->partitions.n, flex, false));
    for (int32_t i = 0; i < t->partitions.n; i++)
        KP_TRY(put_partition(fw, &t->partitions.v[i], v));
    return flex ? kp_write_uvarint(&fw->w, 0) : 0;
}

static size_t endpoints_size(const kp_fetch_response *r)
{
    size_t n = kp_arr_len_size(r->node_endpoints.n, true);
    for (int32_t i = 0; i < r->node_endpoints.n; i++) {
        const kp_fetch_response_node_endpoint *e = &r->node_endpoints.v[i];
        n += 4 + kp_str_size(e->host, true) + 4 + kp_str_size(e->rack, true) + 1;
    }
    return n;
}

/* v16+: the endpoints of leaders named in NOT_LEADER/FENCED answers. */
static int put_top_tags(kp_writer *w, const kp_fetch_response *r, int16_t v)
{
    bool endpoints = v >= 16 && r->node_endpoints.n > 0;
    KP_TRY(kp_write_uvarint(w, endpoints ? 1 : 0));
    if (!endpoints)
        return 0;
    KP_TRY(kp_write_uvarint(w, 0));
    KP_TRY(kp_write_uvarint(w, (uint32_t)endpoints_size(r)));
    KP_TRY(kp_write_arr_len(w, r->node_endpoints.n, true, false));
    for (int32_t i = 0; i < r->node_endpoints.n; i++) {
        const kp_fetch_response_node_endpoint *e = &r->node_endpoints.v[i];
        KP_TRY(kp_write_i32(w, e->node_id));
        KP_TRY(kp_write_str(w, e->host, true, false));
        KP_TRY(kp_write_i32(w, e->port));
        KP_TRY(kp_write_str(w, e->rack, true, true));
        KP_TRY(kp_write_uvarint(w, 0));
    }
    return 0;
}

static int put_response(struct frame_writer *fw, const kp_fetch_response *r, int16_t v)
{
    bool flex = v >= 12;
    if (v >= 1)
        KP_TRY(kp_write_i32(&fw->w, r->throttle_time_ms));
    if (v >= 7) {
        KP_TRY(kp_write_i16(&fw->w, r->error_code));
        KP_TRY(kp_write_i32(&fw->w, r->session_id));
    } else if (r->session_id != 0) {
        return KP_E_VERSION;
    }
    KP_TRY(kp_write_arr_len(&fw->w, r->responses.n, flex, false));
    for (int32_t i = 0; i < r->responses.n; i++)
        KP_TRY(put_topic(fw, &r->responses.v[i], v));
    return flex ? put_top_tags(&fw->w, r, v) : 0;
}

/* The trailing empty segment carries the buffer's free, so the buffer
 * outlives every memory segment that points into it. */
static int finish(struct frame_writer *fw, size_t len, struct sk_fetch_frame *out)
{
    end_mem(fw);
    if (fw->next_file != fw->nfiles || fw->w.p != fw->w.end)
        return KP_E_INVALID;
    fw->segs[fw->nsegs++] = sk_seg_mem(fw->buf, 0, free, fw->buf);
    *out = (struct sk_fetch_frame){fw->segs, fw->nsegs, len};
    return 0;
}

int sk_fetch_frame_encode(const kp_fetch_response *resp, int16_t version,
                          const struct sk_fetch_file *files, size_t nfiles,
                          struct sk_fetch_frame *out)
{
    size_t len = kp_fetch_response_size(resp, version);
    size_t in_files = 0;
    for (size_t i = 0; i < nfiles; i++)
        in_files += files[i].len;
    struct frame_writer fw = {.files = files, .nfiles = nfiles, .cap = 2 * (unsigned)nfiles + 2};
    if (in_files > len) {
        sk_fetch_files_release(files, 0, nfiles);
        return KP_E_INVALID;
    }
    fw.buf = malloc(len - in_files + 1);
    fw.segs = malloc(sizeof *fw.segs * fw.cap);
    int rc = fw.buf && fw.segs ? 0 : KP_E_NOMEM;
    if (rc == 0) {
        kp_writer_init(&fw.w, fw.buf, len - in_files);
        fw.mark = fw.buf;
        rc = put_response(&fw, resp, version);
    }
    if (rc == 0)
        rc = finish(&fw, len, out);
    if (rc < 0) {
        /* Files already placed in segments are closed with them. */
        for (unsigned i = 0; fw.segs && i < fw.nsegs; i++)
            if (fw.segs[i].free_fn)
                fw.segs[i].free_fn(fw.segs[i].free_arg);
        sk_fetch_files_release(files, fw.next_file, nfiles);
        free(fw.buf);
        free(fw.segs);
    }
    return rc;
}

void sk_fetch_frame_release(struct sk_fetch_frame *f)
{
    for (unsigned i = 0; i < f->nsegs; i++)
        if (f->segs[i].free_fn)
            f->segs[i].free_fn(f->segs[i].free_arg);
    free(f->segs);
    *f = (struct sk_fetch_frame){0};
}
