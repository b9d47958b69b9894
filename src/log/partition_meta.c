/* partition.metadata: the topic id of the partition, so a directory left by a
 * deleted topic is never mistaken for a new topic of the same name. Kafka writes
 * "version: 0\ntopic_id: <id>" where the id is the 16-byte UUID in URL-safe
 * base64 without padding (22 characters). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "skein/uuid.h"
#include "plog-int.h"

int sk_partition_meta_write(const char *dir, const uint8_t id[16])
{
    char text[64], enc[SK_UUID_STR_LEN + 1];

    sk_uuid_format(id, enc);
    int len = snprintf(text, sizeof(text), "version: 0\ntopic_id: %s", enc);
    return sk_atomic_write_lazy(dir, SK_PARTITION_META_FILE, text, (size_t)len);
}

/* Empty or zeros: written lazily and torn by a crash before its first sync,
 * when nothing in the partition had been acknowledged. */
static bool meta_torn(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (text[i])
            return false;
    return true;
}

int sk_partition_meta_read(const char *dir, uint8_t id[16], bool *found)
{
    char path[4096], text[128], enc[64];
    int version;

    *found = false;
    snprintf(path, sizeof(path), "%s/%s", dir, SK_PARTITION_META_FILE);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    bool err = ferror(f);
    fclose(f);
    if (err)
        return -EIO;
    text[n] = 0;
    if (meta_torn(text, n))
        return 0;
    if (sscanf(text, "version: %d topic_id: %63s", &version, enc) != 2 || version != 0 ||
        sk_uuid_parse(enc, strlen(enc), id, NULL, 0) < 0)
        return -EBADMSG;
    *found = true;
    return 0;
}
