/*
 * MD5 (RFC 1321).
 *
 * MD5 is one long dependency chain, so speed is set by the number of
 * operations between one step's result `b` and the next; everything that does
 * not depend on `b` (a + K + message word, and the parts of the round function
 * that use only c and d) is computed off that path:
 *   F = ((c ^ d) & b) ^ d                     2 ops after b
 *   G = (b & d) | (c & ~d) = (c & ~d) + (b & d)  disjoint bits, so a sum: 1 op after b
 *   H = b ^ (c ^ d)                           1 op after b
 *   I = c ^ (b | ~d)                          2 ops after b
 * The 16 message words of a block are loaded once (memcpy, so no unaligned
 * access through a cast pointer) and stay in registers.
 */
#include "ossfast.h"
#include "internal.h"

static inline uint32_t rol32(uint32_t x, int s)
{
    return (x << s) | (x >> (32 - s));
}

#define MD5_F(a, b, c, d, m, k, s) \
    a += (m) + (uint32_t)(k); \
    a += ((c ^ d) & b) ^ d; \
    a = rol32(a, s) + b;

#define MD5_G(a, b, c, d, m, k, s) \
    a += (m) + (uint32_t)(k); \
    a += ~d & c; \
    a += d & b; \
    a = rol32(a, s) + b;

#define MD5_H(a, b, c, d, m, k, s) \
    a += (m) + (uint32_t)(k); \
    a += (c ^ d) ^ b; \
    a = rol32(a, s) + b;

#define MD5_I(a, b, c, d, m, k, s) \
    a += (m) + (uint32_t)(k); \
    a += (~d | b) ^ c; \
    a = rol32(a, s) + b;

void ossfast_md5_blocks(uint32_t state[4], const unsigned char *p, size_t nblocks)
{
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];

    while (nblocks--) {
        const uint32_t aa = a, bb = b, cc = c, dd = d;
        const uint32_t m0 = ossfast_load32le(p), m1 = ossfast_load32le(p + 4),
                       m2 = ossfast_load32le(p + 8), m3 = ossfast_load32le(p + 12),
                       m4 = ossfast_load32le(p + 16), m5 = ossfast_load32le(p + 20),
                       m6 = ossfast_load32le(p + 24), m7 = ossfast_load32le(p + 28),
                       m8 = ossfast_load32le(p + 32), m9 = ossfast_load32le(p + 36),
                       m10 = ossfast_load32le(p + 40), m11 = ossfast_load32le(p + 44),
                       m12 = ossfast_load32le(p + 48), m13 = ossfast_load32le(p + 52),
                       m14 = ossfast_load32le(p + 56), m15 = ossfast_load32le(p + 60);

        MD5_F(a, b, c, d, m0, 0xd76aa478, 7)
        MD5_F(d, a, b, c, m1, 0xe8c7b756, 12)
        MD5_F(c, d, a, b, m2, 0x242070db, 17)
        MD5_F(b, c, d, a, m3, 0xc1bdceee, 22)
        MD5_F(a, b, c, d, m4, 0xf57c0faf, 7)
        MD5_F(d, a, b, c, m5, 0x4787c62a, 12)
        MD5_F(c, d, a, b, m6, 0xa8304613, 17)
        MD5_F(b, c, d, a, m7, 0xfd469501, 22)
        MD5_F(a, b, c, d, m8, 0x698098d8, 7)
        MD5_F(d, a, b, c, m9, 0x8b44f7af, 12)
        MD5_F(c, d, a, b, m10, 0xffff5bb1, 17)
        MD5_F(b, c, d, a, m11, 0x895cd7be, 22)
        MD5_F(a, b, c, d, m12, 0x6b901122, 7)
        MD5_F(d, a, b, c, m13, 0xfd987193, 12)
        MD5_F(c, d, a, b, m14, 0xa679438e, 17)
        MD5_F(b, c, d, a, m15, 0x49b40821, 22)

        MD5_G(a, b, c, d, m1, 0xf61e2562, 5)
        MD5_G(d, a, b, c, m6, 0xc040b340, 9)
        MD5_G(c, d, a, b, m11, 0x265e5a51, 14)
        MD5_G(b, c, d, a, m0, 0xe9b6c7aa, 20)
        MD5_G(a, b, c, d, m5, 0xd62f105d, 5)
        MD5_G(d, a, b, c, m10, 0x02441453, 9)
        MD5_G(c, d, a, b, m15, 0xd8a1e681, 14)
        MD5_G(b, c, d, a, m4, 0xe7d3fbc8, 20)
        MD5_G(a, b, c, d, m9, 0x21e1cde6, 5)
        MD5_G(d, a, b, c, m14, 0xc33707d6, 9)
        MD5_G(c, d, a, b, m3, 0xf4d50d87, 14)
        MD5_G(b, c, d, a, m8, 0x455a14ed, 20)
        MD5_G(a, b, c, d, m13, 0xa9e3e905, 5)
        MD5_G(d, a, b, c, m2, 0xfcefa3f8, 9)
        MD5_G(c, d, a, b, m7, 0x676f02d9, 14)
        MD5_G(b, c, d, a, m12, 0x8d2a4c8a, 20)

        MD5_H(a, b, c, d, m5, 0xfffa3942, 4)
        MD5_H(d, a, b, c, m8, 0x8771f681, 11)
        MD5_H(c, d, a, b, m11, 0x6d9d6122, 16)
        MD5_H(b, c, d, a, m14, 0xfde5380c, 23)
        MD5_H(a, b, c, d, m1, 0xa4beea44, 4)
        MD5_H(d, a, b, c, m4, 0x4bdecfa9, 11)
        MD5_H(c, d, a, b, m7, 0xf6bb4b60, 16)
        MD5_H(b, c, d, a, m10, 0xbebfbc70, 23)
        MD5_H(a, b, c, d, m13, 0x289b7ec6, 4)
        MD5_H(d, a, b, c, m0, 0xeaa127fa, 11)
        MD5_H(c, d, a, b, m3, 0xd4ef3085, 16)
        MD5_H(b, c, d, a, m6, 0x04881d05, 23)
        MD5_H(a, b, c, d, m9, 0xd9d4d039, 4)
        MD5_H(d, a, b, c, m12, 0xe6db99e5, 11)
        MD5_H(c, d, a, b, m15, 0x1fa27cf8, 16)
        MD5_H(b, c, d, a, m2, 0xc4ac5665, 23)

        MD5_I(a, b, c, d, m0, 0xf4292244, 6)
        MD5_I(d, a, b, c, m7, 0x432aff97, 10)
        MD5_I(c, d, a, b, m14, 0xab9423a7, 15)
        MD5_I(b, c, d, a, m5, 0xfc93a039, 21)
        MD5_I(a, b, c, d, m12, 0x655b59c3, 6)
        MD5_I(d, a, b, c, m3, 0x8f0ccc92, 10)
        MD5_I(c, d, a, b, m10, 0xffeff47d, 15)
        MD5_I(b, c, d, a, m1, 0x85845dd1, 21)
        MD5_I(a, b, c, d, m8, 0x6fa87e4f, 6)
        MD5_I(d, a, b, c, m15, 0xfe2ce6e0, 10)
        MD5_I(c, d, a, b, m6, 0xa3014314, 15)
        MD5_I(b, c, d, a, m13, 0x4e0811a1, 21)
        MD5_I(a, b, c, d, m4, 0xf7537e82, 6)
        MD5_I(d, a, b, c, m11, 0xbd3af235, 10)
        MD5_I(c, d, a, b, m2, 0x2ad7d2bb, 15)
        MD5_I(b, c, d, a, m9, 0xeb86d391, 21)

        a += aa;
        b += bb;
        c += cc;
        d += dd;
        p += 64;
    }
    state[0] = a;
    state[1] = b;
    state[2] = c;
    state[3] = d;
}

void ossfast_md5_init(ossfast_md5_ctx *ctx)
{
    ctx->state[0] = 0x67452301;
    ctx->state[1] = 0xefcdab89;
    ctx->state[2] = 0x98badcfe;
    ctx->state[3] = 0x10325476;
    ctx->length = 0;
    ctx->buflen = 0;
}

void ossfast_md5_update(ossfast_md5_ctx *ctx, const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;

    if (len == 0)
        return;
    ctx->length += len;
    if (ctx->buflen) {
        size_t take = 64 - ctx->buflen;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buflen, p, take);
        ctx->buflen += (uint32_t)take;
        p += take;
        len -= take;
        if (ctx->buflen < 64)
            return;
        ossfast_md5_blocks(ctx->state, ctx->buf, 1);
        ctx->buflen = 0;
    }
    if (len >= 64) {
        ossfast_md5_blocks(ctx->state, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len) {
        memcpy(ctx->buf, p, len);
        ctx->buflen = (uint32_t)len;
    }
}

/* Pads the `rest` bytes (< 64) left after the whole blocks, appends the bit
   length and runs the last one or two blocks. */
static void md5_tail(uint32_t state[4], const unsigned char *rest, size_t restlen,
                     uint64_t total, unsigned char *out16)
{
    unsigned char block[128];
    size_t nb = restlen < 56 ? 1 : 2;
    uint64_t bits = total << 3;
    int i;

    if (restlen)
        memcpy(block, rest, restlen);
    block[restlen] = 0x80;
    memset(block + restlen + 1, 0, nb * 64 - 8 - restlen - 1);
    for (i = 0; i < 8; i++)
        block[nb * 64 - 8 + i] = (unsigned char)(bits >> (8 * i));
    ossfast_md5_blocks(state, block, nb);
    for (i = 0; i < 4; i++) {
        out16[4 * i] = (unsigned char)state[i];
        out16[4 * i + 1] = (unsigned char)(state[i] >> 8);
        out16[4 * i + 2] = (unsigned char)(state[i] >> 16);
        out16[4 * i + 3] = (unsigned char)(state[i] >> 24);
    }
}

/* Leaves the context spent (its state holds the padded result): init it again
   to reuse it, or finish a copy to keep the stream going. */
void ossfast_md5_final(ossfast_md5_ctx *ctx, unsigned char *out16)
{
    md5_tail(ctx->state, ctx->buf, ctx->buflen, ctx->length, out16);
}

void ossfast_md5(const char *buf, size_t len, unsigned char *out16)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t state[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    size_t whole = len & ~(size_t)63;

    if (whole)
        ossfast_md5_blocks(state, p, whole / 64);
    md5_tail(state, whole ? p + whole : p, len - whole, len, out16);  /* p may be NULL (len 0) */
}
