/* skein-dump-log [--print-data-log] FILE.log...
 *
 * Prints the batches (and with --print-data-log the records) of segment
 * files, in the format of Kafka's kafka-dump-log.sh, so a segment written by
 * Skein can be inspected, and compared with one written by Kafka. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/buf.h"
#include "skein/codec.h"
#include "skein/record.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = buf ? fread(buf, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    return buf;
}

static void print_bytes(const char *label, const uint8_t *p, int32_t len)
{
    if (len < 0) {
        printf(" %s: null", label);
        return;
    }
    /* The bytes as they are, as kafka-dump-log prints them: %.*s would stop
     * at a zero byte. */
    printf(" %s: ", label);
    fwrite(p, 1, (size_t)len, stdout);
}

static void print_records(const uint8_t *batch, const struct sk_batch_header *h)
{
    struct sk_buf scratch = {.limit = 1u << 30};
    struct sk_record_iter it;
    struct sk_record r;
    if (sk_record_iter_init(&it, batch, sk_batch_size(h), &scratch) != 0) {
        printf("| (records cannot be read)\n");
        return;
    }
    while (sk_record_iter_next(&it, &r) == 1) {
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %d valueSize: %d sequence: %d "
               "headerKeys: [", r.offset,
               h->attributes & SK_BATCH_TIMESTAMP_TYPE ? "LogAppendTime" : "CreateTime",
               r.timestamp, r.key_len, r.value_len,
               h->base_sequence < 0 ? -1 : h->base_sequence + r.offset_delta);
        struct sk_header_iter hi;
        struct sk_header hd;
        sk_header_iter_init(&hi, &r);
        for (int i = 0; sk_header_iter_next(&hi, &hd) == 1; i++) {
            printf("%s", i ? "," : "");
            fwrite(hd.key, 1, (size_t)hd.key_len, stdout);
        }
        printf("]");
        print_bytes("key", r.key, r.key_len);
        print_bytes("payload", r.value, r.value_len);
        printf("\n");
    }
    sk_buf_free(&scratch);
}

static int dump(const char *path, bool data)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    printf("Dumping %s\n", path);
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf + pos, len - pos, &h) < 0) {
            printf("Found %zu invalid bytes at the end of %s\n", len - pos, path);
            rc = 1;
            break;
        }
        if (pos == 0)
            printf("Log starting offset: %" PRId64 "\n", h.base_offset);
        bool control = h.attributes & SK_BATCH_CONTROL;
        printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %d baseSequence: %d "
               "lastSequence: %d producerId: %" PRId64 " producerEpoch: %d "
               "partitionLeaderEpoch: %d isTransactional: %s isControl: %s "
               "deleteHorizonMs: OptionalLong.empty position: %zu %s: %" PRId64 " size: %zu "
               "magic: %d compresscodec: %s crc: %u isvalid: %s\n",
               h.base_offset, h.base_offset + h.last_offset_delta, h.record_count,
               h.base_sequence, h.base_sequence < 0 ? -1 : h.base_sequence + h.last_offset_delta,
               h.producer_id, h.producer_epoch, h.partition_leader_epoch,
               h.attributes & SK_BATCH_TRANSACTIONAL ? "true" : "false",
               control ? "true" : "false", pos,
               h.attributes & SK_BATCH_TIMESTAMP_TYPE ? "LogAppendTime" : "CreateTime",
               h.max_timestamp, sk_batch_size(&h), h.magic,
               sk_compression_name(sk_batch_compression(&h)), h.crc,
               sk_batch_crc_ok(buf + pos, &h) ? "true" : "false");
        if (data && !control)
            print_records(buf + pos, &h);
        pos += sk_batch_size(&h);
    }
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    bool data = false;
    int rc = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-data-log") == 0 || strcmp(argv[i], "--deep-iteration") == 0)
            data |= strcmp(argv[i], "--print-data-log") == 0;
        else if (strcmp(argv[i], "--files") != 0)
            rc |= dump(argv[i], data), files++;
    }
    if (!files) {
        fprintf(stderr, "usage: skein-dump-log [--print-data-log] --files FILE.log...\n");
        return 2;
    }
    return rc;
}
