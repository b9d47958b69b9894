/* Strings the broker keeps from the wire (group and member ids, client ids,
 * offset metadata...). A Kafka string is bytes with a length: a zero byte is
 * an ordinary character, so what the broker stores, compares and echoes must
 * never pass through a NUL-terminated C string. An owned copy is a kp_str
 * whose bytes the holder frees with sk_wire_str_free; null (len -1) stays
 * null. */
#ifndef SKEIN_WIRE_STR_H
#define SKEIN_WIRE_STR_H

#include <stddef.h>

#include "kp_rt.h"

/* An owned copy of s in *out (null stays null); 0 or -ENOMEM, *out untouched
 * on failure. */
int sk_wire_str_dup(kp_str *out, kp_str s);
/* Frees an owned copy and leaves *s null. */
void sk_wire_str_free(kp_str *s);
/* Replaces *dst with an owned copy of s; *dst is kept on -ENOMEM. */
int sk_wire_str_set(kp_str *dst, kp_str s);
/* Byte order, shorter first on a common prefix; null sorts before empty. */
int sk_wire_str_cmp(kp_str a, kp_str b);
/* Java's Integer.parseInt over all the bytes (a sign, then decimal digits,
 * within int32): 0, or -EINVAL if they are not one number ("1\0x" is not
 * 1). */
int sk_wire_str_to_i32(kp_str s, int32_t *out);
/* A printable form for logs and messages: bytes outside 0x20-0x7e and the
 * backslash become \xNN, cut with "..." to fit; returns buf (always
 * NUL-terminated, n > 4). */
const char *sk_wire_str_escape(kp_str s, char *buf, size_t n);

#endif
