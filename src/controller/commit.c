/* The single path from a controller decision to a changed cluster. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "skein/admission.h"
#include "skein/errors.h"
#include "skein/publisher.h"

int64_t sk_ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *sk_ctl_cstr(kp_str s)
{
    size_t n = s.len < 0 ? 0 : (size_t)s.len;
    char *p = malloc(n + 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, s.ptr, n);
    p[n] = 0;
    return p;
}

int16_t sk_ctl_commit(struct sk_broker *b, const struct sk_meta_rec *recs, int n, char *msg,
                      size_t msglen)
{
    if (n == 0)
        return SK_ERR_NONE;
    /* Every path to the log passes here: whatever a caller checked, an
     * operation the loader could not read back is never written. */
    int16_t err = sk_admit_records(n, msg, msglen);
    if (err)
        return err;
    int rc = sk_metalog_append(b->node->metalog, &b->node->image, recs, n, sk_ctl_now_ms());
    if (rc == -EMSGSIZE)
        return sk_admit_records(SK_MAX_RECORDS_PER_USER_OP + 1, msg, msglen);
    if (rc < 0) {
        snprintf(msg, msglen, "The metadata log could not be written: %s", strerror(-rc));
        return SK_ERR_KAFKA_STORAGE_ERROR;
    }
    /* The change is durable from here on; if the broker cannot act on it
     * (a partition log will not open) the client still has to hear so. */
    rc = sk_publish(b);
    if (rc < 0) {
        snprintf(msg, msglen, "The change was recorded but could not be applied: %s",
                 strerror(-rc));
        return SK_ERR_KAFKA_STORAGE_ERROR;
    }
    return SK_ERR_NONE;
}
