/* The framing of __cluster_metadata record values (Kafka's MetadataRecordSerde). */
#include <errno.h>

#include "gen/kp_all.h"
#include "skein/meta.h"

#define SK_META_FRAME_VERSION 1

size_t sk_meta_record_size(int16_t type, int16_t version, const void *record)
{
    const kp_msg_info *mi = kp_metadata_record_get(type);
    if (!mi)
        return 0;
    return kp_uvarint_size(SK_META_FRAME_VERSION) + kp_uvarint_size((uint32_t)type) +
           kp_uvarint_size((uint32_t)version) + mi->size(record, version);
}

int sk_meta_record_encode(uint8_t *buf, size_t len, int16_t type, int16_t version,
                          const void *record)
{
    const kp_msg_info *mi = kp_metadata_record_get(type);
    if (!mi)
        return -EINVAL;
    kp_writer w;
    kp_writer_init(&w, buf, len);
    if (kp_write_uvarint(&w, SK_META_FRAME_VERSION) < 0 ||
        kp_write_uvarint(&w, (uint32_t)type) < 0 || kp_write_uvarint(&w, (uint32_t)version) < 0 ||
        mi->encode(record, &w, version) < 0)
        return -EINVAL;
    return (int)(w.p - buf);
}

int sk_meta_record_decode(const uint8_t *buf, size_t len, kp_arena *a, int16_t *type,
                          int16_t *version, void **record)
{
    kp_reader r;
    kp_reader_init(&r, buf, len, a);
    uint32_t frame, t, v;
    if (kp_read_uvarint(&r, &frame) < 0 || frame != SK_META_FRAME_VERSION ||
        kp_read_uvarint(&r, &t) < 0 || kp_read_uvarint(&r, &v) < 0 || t > INT16_MAX ||
        v > INT16_MAX)
        return -EBADMSG;
    const kp_msg_info *mi = kp_metadata_record_get((int16_t)t);
    if (!mi)
        return -EBADMSG;
    void *m = kp_arena_alloc(a, mi->struct_size);
    if (!m || mi->decode(m, &r, (int16_t)v) < 0 || r.p != r.end)
        return -EBADMSG;
    *type = (int16_t)t;
    *version = (int16_t)v;
    *record = m;
    return 0;
}
