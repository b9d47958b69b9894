/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * RecordBatch v2. Every produced byte passes through it, so on x86-64 we use the
 * SSE4.2 crc32 instruction (8 bytes per step) and fall back to slicing-by-8
 * tables elsewhere. The choice is made once, at load time. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "skein/record.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static bool crc_hw;

__attribute__((constructor)) static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t sk_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        uint32_t lo = (uint32_t)w ^ c, hi = (uint32_t)(w >> 32);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of three cycles and a throughput of
 * one, so three independent streams over adjacent blocks run three times as
 * fast as one; the stream CRCs are then joined by shifting the earlier one
 * over the later block's length (multiplication by x^(8*len) mod P, done
 * with tables built once). Long blocks serve big batches, short ones the
 * few-KiB batches of linger.ms=0 producers. */
#define CRC_LONG 8192u
#define CRC_SHORT 256u

static uint32_t crc_long[4][256], crc_short[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* The operator that appends len zero bytes (len a power of two) to a CRC
 * register, by repeated squaring from the one-bit operator. */
static void zeros_op(uint32_t *op, size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = CRC32C_POLY;
    for (int n = 1; n < 32; n++)
        odd[n] = 1u << (n - 1);
    gf2_square(even, odd); /* 2 bits */
    gf2_square(odd, even); /* 4 bits */
    for (;;) {
        gf2_square(even, odd); /* 8 bits, then doubling per step */
        len >>= 1;
        if (!len) {
            memcpy(op, even, sizeof even);
            return;
        }
        gf2_square(odd, even);
        len >>= 1;
        if (!len) {
            memcpy(op, odd, sizeof odd);
            return;
        }
    }
}

static void zeros_table(uint32_t t[4][256], size_t len)
{
    uint32_t op[32];
    zeros_op(op, len);
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 0; k < 4; k++)
            t[k][n] = gf2_times(op, n << (8 * k));
}

static uint32_t crc_shift(const uint32_t t[4][256], uint32_t crc)
{
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^
           t[3][crc >> 24];
}

__attribute__((constructor)) static void crc32c_hw_init(void)
{
    zeros_table(crc_long, CRC_LONG);
    zeros_table(crc_short, CRC_SHORT);
}

__attribute__((target("sse4.2"))) static uint64_t crc3(uint64_t c0, const uint8_t **pp,
                                                      size_t *len, size_t block,
                                                      const uint32_t t[4][256])
{
    const uint8_t *p = *pp;
    while (*len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0, w0, w1, w2;
        for (const uint8_t *end = p + block; p < end; p += 8) {
            memcpy(&w0, p, 8);
            memcpy(&w1, p + block, 8);
            memcpy(&w2, p + 2 * block, 8);
            c0 = __builtin_ia32_crc32di(c0, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
        }
        c0 = crc_shift(t, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = crc_shift(t, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * block;
        *len -= 3 * block;
    }
    *pp = p;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    c = crc3(c, &p, &len, CRC_LONG, crc_long);
    c = crc3(c, &p, &len, CRC_SHORT, crc_short);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

bool sk_crc32c_hw_available(void)
{
    return crc_hw;
}

uint32_t sk_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
    if (crc_hw)
        return crc32c_hw(crc, buf, len);
#endif
    return sk_crc32c_sw(crc, buf, len);
}

uint32_t sk_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return sk_crc32c_hw(crc, buf, len);
}
