/* Walks a segment's batches by their framing alone, reading the file through a
 * small buffer, stepping over the bad ranges recovery recorded. */
#ifndef SK_LOG_SCAN_H
#define SK_LOG_SCAN_H

#include <stdint.h>

#include "segment.h"

#define SK_SCAN_BUF 8192

struct sk_scan {
    const struct sk_segment *seg;
    int fd;               /* of the .log, see sk_segment_borrow_fd */
    uint32_t pos;         /* next batch */
    uint32_t end;
    uint64_t buf_at;      /* file position of buf[0] */
    uint32_t buf_len;
    uint8_t buf[SK_SCAN_BUF];
};

enum sk_scan_kind { SK_SCAN_END = 0, SK_SCAN_BATCH = 1, SK_SCAN_BAD = 2 };

struct sk_scan_item {
    uint32_t pos;
    struct sk_peek h;                 /* for SK_SCAN_BATCH */
    const struct sk_bad_range *bad;   /* for SK_SCAN_BAD */
};

void sk_scan_init(struct sk_scan *s, const struct sk_segment *seg, int fd, uint32_t pos,
                  uint32_t end);
/* Returns an sk_scan_kind, or -EBADMSG when framing is broken where no bad range
 * was recorded (the file changed under us), or -errno from pread. */
int sk_scan_next(struct sk_scan *s, struct sk_scan_item *it);

/* Position of the batch containing offset (or the first batch after it), starting
 * from the offset index. *found is 0 if no batch in the segment reaches offset.
 * -EBADMSG if offset lies in a bad range. */
int sk_scan_find(const struct sk_segment *seg, int fd, struct sk_scan *s, int64_t offset,
                 struct sk_scan_item *it, int *found);

#endif
