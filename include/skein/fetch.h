/* Fetch responses that leave log data in its files.
 *
 * A fetch response is mostly records; copying them through user space would
 * cost more than everything else the broker does for a consumer. So the
 * response is encoded field by field up to each partition's records, and the
 * records themselves become file segments the reactor splices to the socket
 * (DESIGN.md: "no copy on the hot path"). */
#ifndef SKEIN_FETCH_H
#define SKEIN_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "gen/kp_fetch_response.h"
#include "skein/net-t.h"

struct sk_broker;

/* Records of one partition that stay in a segment file, or (mem set) that
 * were built in memory, such as down-converted message sets. */
struct sk_fetch_file {
    int fd;
    uint64_t pos;
    uint32_t len;
    uint8_t *mem; /* malloc'd; freed once sent (fd unused) */
};

/* Closes or frees files[from, n) that will not be sent after all. */
void sk_fetch_files_release(const struct sk_fetch_file *files, size_t from, size_t n);

/* An encoded FetchResponse body as reactor segments. */
struct sk_fetch_frame {
    struct sk_seg *segs; /* malloc'd; free the array, the segments go to the reactor */
    unsigned nsegs;
    size_t len;          /* body bytes, records included */
};

/* Encodes resp at version. A partition whose records are {NULL, len > 0}
 * takes them from the next entry of files, in response order, and its
 * records.len must equal that entry's len. The fds and memory are owned by
 * the frame in every case: each segment closes its fd or frees its memory
 * once sent (or dropped); on error that is done here. Returns 0 or a KP_E_*
 * code. */
int sk_fetch_frame_encode(const kp_fetch_response *resp, int16_t version,
                          const struct sk_fetch_file *files, size_t nfiles,
                          struct sk_fetch_frame *out);
/* Releases segments not handed to the reactor (tests, error paths). */
void sk_fetch_frame_release(struct sk_fetch_frame *f);

/* Shutdown: parked fetches get no answer, sessions are dropped. */
void sk_fetch_close(struct sk_broker *b);

#endif
