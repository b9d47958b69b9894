/* Runtime of the generated Kafka protocol code: arena, bounds-checked reader,
 * writer, and the value types every generated struct is made of.
 *
 * Invariants the generated code relies on:
 *  - A reader never reads past `end`; every read checks first and fails with
 *    KP_E_SHORT. Lengths and counts are checked against the bytes left before
 *    anything is allocated, so hostile input cannot make the decoder allocate
 *    more than a small multiple of the frame it came in.
 *  - Strings, bytes and records decoded from a buffer are slices of it: the
 *    buffer must outlive the decoded message. Everything else the decoder
 *    allocates comes from the arena, freed in one call.
 *  - A writer is given the exact size the size() function computed; running
 *    out of room is a bug in the caller and fails with KP_E_SHORT, never
 *    overflows.
 */
#ifndef KP_RT_H
#define KP_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum kp_err {
    KP_OK = 0,
    KP_E_SHORT = -1,   /* input ends before the field does */
    KP_E_INVALID = -2, /* a length, count or marker no valid message has */
    KP_E_NOMEM = -3,   /* the arena limit or malloc failed */
    KP_E_VERSION = -4, /* encode: a field set that the version cannot carry */
    KP_E_NULL = -5,    /* encode: null in a field not nullable at the version */
    KP_E_UNKNOWN = -6, /* unknown api key or version */
};

const char *kp_strerror(int err);

/* ---- arena ---------------------------------------------------------------- */

struct kp_arena_chunk;

typedef struct kp_arena {
    struct kp_arena_chunk *chunks;
    uint8_t *ptr, *end;
    size_t used;  /* bytes handed out, for the limit */
    size_t limit; /* 0: no limit */
} kp_arena;

void kp_arena_init(kp_arena *a, size_t limit);
void *kp_arena_alloc(kp_arena *a, size_t n);
void *kp_arena_calloc(kp_arena *a, size_t n, size_t size);
void kp_arena_free(kp_arena *a);

/* ---- value types ---------------------------------------------------------- */

/* A string as a slice; not NUL-terminated. len -1 is null. */
typedef struct kp_str {
    const char *ptr;
    int32_t len;
} kp_str;

/* Bytes and records: a slice; len -1 is null. */
typedef struct kp_bytes {
    const uint8_t *ptr;
    int32_t len;
} kp_bytes;

typedef struct kp_uuid {
    uint8_t b[16];
} kp_uuid;

#define KP_STR_NULL ((kp_str){NULL, -1})
#define KP_BYTES_NULL ((kp_bytes){NULL, -1})

static inline kp_str kp_str_c(const char *s)
{
    return s ? (kp_str){s, (int32_t)strlen(s)} : KP_STR_NULL;
}

static inline bool kp_str_eq(kp_str a, kp_str b)
{
    return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

static inline bool kp_str_eq_c(kp_str a, const char *s)
{
    return s ? kp_str_eq(a, kp_str_c(s)) : a.len < 0;
}

static inline bool kp_uuid_is_zero(const kp_uuid *u)
{
    static const kp_uuid zero;
    return memcmp(u->b, zero.b, 16) == 0;
}

/* Arrays of primitives. n -1 is null. */
typedef struct { int32_t n; int8_t *v; } kp_arr_i8;
typedef struct { int32_t n; int16_t *v; } kp_arr_i16;
typedef struct { int32_t n; int32_t *v; } kp_arr_i32;
typedef struct { int32_t n; int64_t *v; } kp_arr_i64;
typedef struct { int32_t n; kp_str *v; } kp_arr_str;
typedef struct { int32_t n; kp_uuid *v; } kp_arr_uuid;

/* ---- reader --------------------------------------------------------------- */

typedef struct kp_reader {
    const uint8_t *p, *end;
    kp_arena *arena;
} kp_reader;

static inline void kp_reader_init(kp_reader *r, const void *buf, size_t len, kp_arena *a)
{
    r->p = buf;
    r->end = r->p + len;
    r->arena = a;
}

static inline size_t kp_left(const kp_reader *r) { return (size_t)(r->end - r->p); }

#define KP_TRY(expr) do { int kp_rc_ = (expr); if (kp_rc_ < 0) return kp_rc_; } while (0)

static inline int kp_need(const kp_reader *r, size_t n)
{
    return kp_left(r) >= n ? 0 : KP_E_SHORT;
}

static inline uint16_t kp_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t kp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t kp_be64(const uint8_t *p)
{
    return (uint64_t)kp_be32(p) << 32 | kp_be32(p + 4);
}

static inline int kp_read_i8(kp_reader *r, int8_t *v)
{
    KP_TRY(kp_need(r, 1));
    *v = (int8_t)*r->p++;
    return 0;
}
static inline int kp_read_bool(kp_reader *r, bool *v)
{
    KP_TRY(kp_need(r, 1));
    *v = *r->p++ != 0;
    return 0;
}
static inline int kp_read_i16(kp_reader *r, int16_t *v)
{
    KP_TRY(kp_need(r, 2));
    *v = (int16_t)kp_be16(r->p);
    r->p += 2;
    return 0;
}
static inline int kp_read_u16(kp_reader *r, uint16_t *v)
{
    KP_TRY(kp_need(r, 2));
    *v = kp_be16(r->p);
    r->p += 2;
    return 0;
}
static inline int kp_read_i32(kp_reader *r, int32_t *v)
{
    KP_TRY(kp_need(r, 4));
    *v = (int32_t)kp_be32(r->p);
    r->p += 4;
    return 0;
}
static inline int kp_read_u32(kp_reader *r, uint32_t *v)
{
    KP_TRY(kp_need(r, 4));
    *v = kp_be32(r->p);
    r->p += 4;
    return 0;
}
static inline int kp_read_i64(kp_reader *r, int64_t *v)
{
    KP_TRY(kp_need(r, 8));
    *v = (int64_t)kp_be64(r->p);
    r->p += 8;
    return 0;
}
static inline int kp_read_f64(kp_reader *r, double *v)
{
    KP_TRY(kp_need(r, 8));
    uint64_t u = kp_be64(r->p);
    memcpy(v, &u, sizeof u);
    r->p += 8;
    return 0;
}
static inline int kp_read_uuid(kp_reader *r, kp_uuid *v)
{
    KP_TRY(kp_need(r, 16));
    memcpy(v->b, r->p, 16);
    r->p += 16;
    return 0;
}

int kp_read_uvarint(kp_reader *r, uint32_t *v);
int kp_read_varint(kp_reader *r, int32_t *v);
int kp_read_varlong(kp_reader *r, int64_t *v);

/* Reads a string, compact (flexible versions) or int16-prefixed. */
int kp_read_str(kp_reader *r, kp_str *s, bool compact, bool nullable);
/* Reads bytes/records, compact or int32-prefixed. */
int kp_read_bytes(kp_reader *r, kp_bytes *b, bool compact, bool nullable);
/* Reads an array length; rejects counts the bytes left cannot hold, given
 * that each element takes at least min_elem bytes. */
int kp_read_arr_len(kp_reader *r, int32_t *n, bool compact, bool nullable, size_t min_elem);
/* Skips one unknown tagged field's payload of the given size. */
int kp_skip(kp_reader *r, size_t n);

/* ---- writer --------------------------------------------------------------- */

typedef struct kp_writer {
    uint8_t *p, *end;
} kp_writer;

static inline void kp_writer_init(kp_writer *w, void *buf, size_t len)
{
    w->p = buf;
    w->end = w->p + len;
}

static inline int kp_wneed(const kp_writer *w, size_t n)
{
    return (size_t)(w->end - w->p) >= n ? 0 : KP_E_SHORT;
}

static inline int kp_write_i8(kp_writer *w, int8_t v)
{
    KP_TRY(kp_wneed(w, 1));
    *w->p++ = (uint8_t)v;
    return 0;
}
static inline int kp_write_bool(kp_writer *w, bool v) { return kp_write_i8(w, v ? 1 : 0); }
static inline int kp_write_u16(kp_writer *w, uint16_t v)
{
    KP_TRY(kp_wneed(w, 2));
    w->p[0] = (uint8_t)(v >> 8);
    w->p[1] = (uint8_t)v;
    w->p += 2;
    return 0;
}
static inline int kp_write_i16(kp_writer *w, int16_t v) { return kp_write_u16(w, (uint16_t)v); }
static inline int kp_write_u32(kp_writer *w, uint32_t v)
{
    KP_TRY(kp_wneed(w, 4));
    w->p[0] = (uint8_t)(v >> 24);
    w->p[1] = (uint8_t)(v >> 16);
    w->p[2] = (uint8_t)(v >> 8);
    w->p[3] = (uint8_t)v;
    w->p += 4;
    return 0;
}
static inline int kp_write_i32(kp_writer *w, int32_t v) { return kp_write_u32(w, (uint32_t)v); }
static inline int kp_write_i64(kp_writer *w, int64_t v)
{
    KP_TRY(kp_write_u32(w, (uint32_t)((uint64_t)v >> 32)));
    return kp_write_u32(w, (uint32_t)v);
}
static inline int kp_write_f64(kp_writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return kp_write_i64(w, (int64_t)u);
}
static inline int kp_write_uuid(kp_writer *w, const kp_uuid *v)
{
    KP_TRY(kp_wneed(w, 16));
    memcpy(w->p, v->b, 16);
    w->p += 16;
    return 0;
}

int kp_write_uvarint(kp_writer *w, uint32_t v);
int kp_write_varint(kp_writer *w, int32_t v);
int kp_write_varlong(kp_writer *w, int64_t v);
int kp_write_str(kp_writer *w, kp_str s, bool compact, bool nullable);
int kp_write_bytes(kp_writer *w, kp_bytes b, bool compact, bool nullable);
int kp_write_arr_len(kp_writer *w, int32_t n, bool compact, bool nullable);
int kp_write_raw(kp_writer *w, const void *p, size_t n);

/* ---- sizes ---------------------------------------------------------------- */

static inline size_t kp_uvarint_size(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
static inline size_t kp_varint_size(int32_t v)
{
    return kp_uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}
size_t kp_varlong_size(int64_t v);

static inline size_t kp_str_size(kp_str s, bool compact)
{
    size_t len = s.len < 0 ? 0 : (size_t)s.len;
    return len + (compact ? kp_uvarint_size((uint32_t)(s.len + 1)) : 2);
}
static inline size_t kp_bytes_size(kp_bytes b, bool compact)
{
    size_t len = b.len < 0 ? 0 : (size_t)b.len;
    return len + (compact ? kp_uvarint_size((uint32_t)(b.len + 1)) : 4);
}
static inline size_t kp_arr_len_size(int32_t n, bool compact)
{
    return compact ? kp_uvarint_size((uint32_t)(n + 1)) : 4;
}

/* ---- random values, for the round-trip tests ------------------------------- */

typedef struct kp_rng {
    uint64_t s;
} kp_rng;

uint64_t kp_rng_next(kp_rng *g);
kp_str kp_rand_str(kp_rng *g, kp_arena *a, bool nullable);
kp_bytes kp_rand_bytes(kp_rng *g, kp_arena *a, bool nullable);
int32_t kp_rand_count(kp_rng *g, bool nullable);
void kp_rand_uuid(kp_rng *g, kp_uuid *u);

#endif
