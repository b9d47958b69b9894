#include "kp_rt.h"

#include <stdlib.h>

const char *kp_strerror(int err)
{
    switch (err) {
    case KP_OK: return "ok";
    case KP_E_SHORT: return "input ends inside a field";
    case KP_E_INVALID: return "invalid length, count or marker";
    case KP_E_NOMEM: return "out of memory (arena limit)";
    case KP_E_VERSION: return "field set that the version cannot carry";
    case KP_E_NULL: return "null in a non-nullable field";
    case KP_E_UNKNOWN: return "unknown api key or version";
    default: return "unknown error";
    }
}

/* ---- arena ---------------------------------------------------------------- */

struct kp_arena_chunk {
    struct kp_arena_chunk *next;
    max_align_t data[];
};

#define KP_CHUNK_MIN 4096

void kp_arena_init(kp_arena *a, size_t limit)
{
    a->chunks = NULL;
    a->ptr = a->end = NULL;
    a->used = 0;
    a->limit = limit;
}

static void *kp_arena_grow(kp_arena *a, size_t n)
{
    size_t cap = n > KP_CHUNK_MIN ? n : KP_CHUNK_MIN;
    if (a->chunks)
        cap = cap > 2 * (size_t)(a->end - (uint8_t *)a->chunks->data)
                  ? cap
                  : 2 * (size_t)(a->end - (uint8_t *)a->chunks->data);
    struct kp_arena_chunk *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->ptr = (uint8_t *)c->data + n;
    a->end = (uint8_t *)c->data + cap;
    return c->data;
}

void *kp_arena_alloc(kp_arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    if (a->limit && (n > a->limit || a->used > a->limit - n))
        return NULL;
    a->used += n;
    if ((size_t)(a->end - a->ptr) >= n) {
        void *p = a->ptr;
        a->ptr += n;
        return p;
    }
    return kp_arena_grow(a, n);
}

void *kp_arena_calloc(kp_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = kp_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void kp_arena_free(kp_arena *a)
{
    struct kp_arena_chunk *c = a->chunks;
    while (c) {
        struct kp_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    kp_arena_init(a, a->limit);
}

/* ---- reader --------------------------------------------------------------- */

int kp_read_uvarint(kp_reader *r, uint32_t *v)
{
    uint32_t x = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        KP_TRY(kp_need(r, 1));
        uint8_t b = *r->p++;
        if (shift == 28 && (b & 0xf0))
            return KP_E_INVALID; /* more than 32 bits */
        x |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return KP_E_INVALID;
}

int kp_read_varint(kp_reader *r, int32_t *v)
{
    uint32_t u;
    KP_TRY(kp_read_uvarint(r, &u));
    *v = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

int kp_read_varlong(kp_reader *r, int64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        KP_TRY(kp_need(r, 1));
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0xfe))
            return KP_E_INVALID;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
            return 0;
        }
    }
    return KP_E_INVALID;
}

/* Reads a length prefix: compact ones are unsigned varints holding len+1
 * (0 is null); the others are signed, -1 is null. Result: -1 for null. */
static int kp_read_len(kp_reader *r, int64_t *len, bool compact, int width)
{
    if (compact) {
        uint32_t u;
        KP_TRY(kp_read_uvarint(r, &u));
        *len = (int64_t)u - 1;
        return 0;
    }
    if (width == 2) {
        int16_t n;
        KP_TRY(kp_read_i16(r, &n));
        *len = n;
    } else {
        int32_t n;
        KP_TRY(kp_read_i32(r, &n));
        *len = n;
    }
    return 0;
}

int kp_read_str(kp_reader *r, kp_str *s, bool compact, bool nullable)
{
    int64_t len;
    KP_TRY(kp_read_len(r, &len, compact, 2));
    if (len < 0) {
        if (len != -1 || !nullable)
            return KP_E_INVALID;
        *s = KP_STR_NULL;
        return 0;
    }
    KP_TRY(kp_need(r, (size_t)len));
    s->ptr = (const char *)r->p;
    s->len = (int32_t)len;
    r->p += len;
    return 0;
}

int kp_read_bytes(kp_reader *r, kp_bytes *b, bool compact, bool nullable)
{
    int64_t len;
    KP_TRY(kp_read_len(r, &len, compact, 4));
    if (len < 0) {
        if (len != -1 || !nullable)
            return KP_E_INVALID;
        *b = KP_BYTES_NULL;
        return 0;
    }
    KP_TRY(kp_need(r, (size_t)len));
    b->ptr = r->p;
    b->len = (int32_t)len;
    r->p += len;
    return 0;
}

int kp_read_arr_len(kp_reader *r, int32_t *n, bool compact, bool nullable, size_t min_elem)
{
    int64_t len;
    KP_TRY(kp_read_len(r, &len, compact, 4));
    if (len < 0) {
        if (len != -1 || !nullable)
            return KP_E_INVALID;
        *n = -1;
        return 0;
    }
    if ((uint64_t)len * (min_elem ? min_elem : 1) > kp_left(r))
        return KP_E_SHORT;
    *n = (int32_t)len;
    return 0;
}

int kp_skip(kp_reader *r, size_t n)
{
    KP_TRY(kp_need(r, n));
    r->p += n;
    return 0;
}

/* ---- writer --------------------------------------------------------------- */

int kp_write_uvarint(kp_writer *w, uint32_t v)
{
    KP_TRY(kp_wneed(w, kp_uvarint_size(v)));
    while (v >= 0x80) {
        *w->p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *w->p++ = (uint8_t)v;
    return 0;
}

int kp_write_varint(kp_writer *w, int32_t v)
{
    return kp_write_uvarint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t kp_varlong_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

int kp_write_varlong(kp_writer *w, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    KP_TRY(kp_wneed(w, kp_varlong_size(v)));
    while (u >= 0x80) {
        *w->p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *w->p++ = (uint8_t)u;
    return 0;
}

int kp_write_raw(kp_writer *w, const void *p, size_t n)
{
    KP_TRY(kp_wneed(w, n));
    if (n)
        memcpy(w->p, p, n);
    w->p += n;
    return 0;
}

static int kp_write_len(kp_writer *w, int32_t len, bool compact, int width)
{
    if (compact)
        return kp_write_uvarint(w, (uint32_t)(len + 1));
    return width == 2 ? kp_write_i16(w, (int16_t)len) : kp_write_i32(w, len);
}

int kp_write_str(kp_writer *w, kp_str s, bool compact, bool nullable)
{
    if (s.len < 0 && !nullable)
        return KP_E_NULL;
    if (s.len > INT16_MAX && !compact)
        return KP_E_INVALID;
    KP_TRY(kp_write_len(w, s.len < 0 ? -1 : s.len, compact, 2));
    return s.len > 0 ? kp_write_raw(w, s.ptr, (size_t)s.len) : 0;
}

int kp_write_bytes(kp_writer *w, kp_bytes b, bool compact, bool nullable)
{
    if (b.len < 0 && !nullable)
        return KP_E_NULL;
    KP_TRY(kp_write_len(w, b.len < 0 ? -1 : b.len, compact, 4));
    return b.len > 0 ? kp_write_raw(w, b.ptr, (size_t)b.len) : 0;
}

int kp_write_arr_len(kp_writer *w, int32_t n, bool compact, bool nullable)
{
    if (n < 0 && !nullable)
        return KP_E_NULL;
    return kp_write_len(w, n < 0 ? -1 : n, compact, 4);
}

/* ---- random values -------------------------------------------------------- */

uint64_t kp_rng_next(kp_rng *g)
{
    /* xorshift64*: enough spread for test values, and reproducible by seed. */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 0x2545F4914F6CDD1DULL;
}

kp_str kp_rand_str(kp_rng *g, kp_arena *a, bool nullable)
{
    if (nullable && kp_rng_next(g) % 5 == 0)
        return KP_STR_NULL;
    int32_t len = (int32_t)(kp_rng_next(g) % 12);
    char *p = kp_arena_alloc(a, (size_t)len + 1);
    for (int32_t i = 0; i < len; i++)
        p[i] = (char)('a' + kp_rng_next(g) % 26);
    return (kp_str){p, len};
}

kp_bytes kp_rand_bytes(kp_rng *g, kp_arena *a, bool nullable)
{
    if (nullable && kp_rng_next(g) % 5 == 0)
        return KP_BYTES_NULL;
    int32_t len = (int32_t)(kp_rng_next(g) % 40);
    uint8_t *p = kp_arena_alloc(a, (size_t)len + 1);
    for (int32_t i = 0; i < len; i++)
        p[i] = (uint8_t)kp_rng_next(g);
    return (kp_bytes){p, len};
}

int32_t kp_rand_count(kp_rng *g, bool nullable)
{
    if (nullable && kp_rng_next(g) % 5 == 0)
        return -1;
    return (int32_t)(kp_rng_next(g) % 4);
}

void kp_rand_uuid(kp_rng *g, kp_uuid *u)
{
    uint64_t x = kp_rng_next(g), y = kp_rng_next(g);
    memcpy(u->b, &x, 8);
    memcpy(u->b + 8, &y, 8);
}
