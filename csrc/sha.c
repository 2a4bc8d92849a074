/*
 * SHA-1 and SHA-256 (FIPS 180-4).
 *
 * These hash short strings when signing (a few hundred bytes), so what counts
 * is the latency of one call. Portable C compressions, plus the x86 SHA
 * extensions (SHA-NI) behind a run-time check, decided once; setting
 * OSSFAST_NO_SHANI=1 in the environment forces the portable code (tests run
 * both paths that way).
 */
#include "ossfast.h"
#include "internal.h"

#if OSSFAST_X86
#include <cpuid.h>
#include <immintrin.h>
#define OSSFAST_HAVE_SHANI 1
#else
#define OSSFAST_HAVE_SHANI 0
#endif

static inline uint32_t rol32(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }
static inline uint32_t ror32(uint32_t x, int s) { return (x >> s) | (x << (32 - s)); }

static inline uint32_t load32be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- run-time choice ------------------------------------------------------ */

#if OSSFAST_HAVE_SHANI
static int detect_shani(void)
{
    unsigned a, b, c, d;
    const char *off = getenv("OSSFAST_NO_SHANI");

    if (off && *off && *off != '0')
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_SHA) != 0;
}

static volatile int shani_state = -1;

static inline int use_shani(void)
{
    int s = shani_state;
    if (OSSFAST_UNLIKELY(s < 0)) {
        /* Benign race: every thread computes the same value. */
        s = detect_shani();
        shani_state = s;
    }
    return s;
}
#endif

/* ---- SHA-1 ---------------------------------------------------------------- */

/* The message schedule lives in 16 words, refreshed in place as the rounds
   go (w[i & 15]); a full w[80] invites the compiler to vectorize its
   expansion into overlapping 8-byte stores and loads that stall on
   store forwarding. */
#define SHA1_W(i) (w[(i) & 15] = rol32(w[((i) + 13) & 15] ^ w[((i) + 8) & 15] ^ \
                                      w[((i) + 2) & 15] ^ w[(i) & 15], 1))
#define SHA1_STEP(a, b, c, d, e, f, k, x) \
    e += rol32(a, 5) + (f) + (k) + (x); b = rol32(b, 30);
#define SHA1_CH(b, c, d) (((c ^ d) & b) ^ d)
#define SHA1_PAR(b, c, d) (b ^ c ^ d)
#define SHA1_MAJ(b, c, d) ((b & c) + (d & (b ^ c)))   /* disjoint bits: + is | */

#define SHA1_R0(a, b, c, d, e, i) SHA1_STEP(a, b, c, d, e, SHA1_CH(b, c, d), 0x5a827999u, w[i])
#define SHA1_R0X(a, b, c, d, e, i) SHA1_STEP(a, b, c, d, e, SHA1_CH(b, c, d), 0x5a827999u, SHA1_W(i))
#define SHA1_R1(a, b, c, d, e, i) SHA1_STEP(a, b, c, d, e, SHA1_PAR(b, c, d), 0x6ed9eba1u, SHA1_W(i))
#define SHA1_R2(a, b, c, d, e, i) SHA1_STEP(a, b, c, d, e, SHA1_MAJ(b, c, d), 0x8f1bbcdcu, SHA1_W(i))
#define SHA1_R3(a, b, c, d, e, i) SHA1_STEP(a, b, c, d, e, SHA1_PAR(b, c, d), 0xca62c1d6u, SHA1_W(i))

#define SHA1_FIVE(R, i) \
    R(a, b, c, d, e, i) R(e, a, b, c, d, i + 1) R(d, e, a, b, c, i + 2) \
    R(c, d, e, a, b, i + 3) R(b, c, d, e, a, i + 4)
#define SHA1_TWENTY(R, i) SHA1_FIVE(R, i) SHA1_FIVE(R, i + 5) SHA1_FIVE(R, i + 10) SHA1_FIVE(R, i + 15)

static void sha1_blocks_c(uint32_t state[5], const unsigned char *p, size_t nblocks)
{
    uint32_t w[16];
    int i;

    while (nblocks--) {
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
        for (i = 0; i < 16; i++)
            w[i] = load32be(p + 4 * i);
        SHA1_FIVE(SHA1_R0, 0) SHA1_FIVE(SHA1_R0, 5) SHA1_FIVE(SHA1_R0, 10)
        SHA1_R0(a, b, c, d, e, 15) SHA1_R0X(e, a, b, c, d, 16) SHA1_R0X(d, e, a, b, c, 17)
        SHA1_R0X(c, d, e, a, b, 18) SHA1_R0X(b, c, d, e, a, 19)
        SHA1_TWENTY(SHA1_R1, 20)
        SHA1_TWENTY(SHA1_R2, 40)
        SHA1_TWENTY(SHA1_R3, 60)
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        p += 64;
    }
}

#if OSSFAST_HAVE_SHANI
/* Four rounds: `en` takes ABCD for the group after next, `ec` (already
   holding E for this group) is completed with the message words. */
#define SHA1_NI(ec, en, msg, f) \
    ec = _mm_sha1nexte_epu32(ec, msg); \
    en = abcd; \
    abcd = _mm_sha1rnds4_epu32(abcd, ec, f);
/* w0 = W[g-4] becomes W[g] from W[g-3], W[g-2], W[g-1]. */
#define SHA1_NI_SCHED(w0, w1, w2, w3) \
    w0 = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32(w0, w1), w2), w3);

__attribute__((target("sha,sse4.1,ssse3")))
static void sha1_blocks_ni(uint32_t state[5], const unsigned char *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)state), 0x1b);
    __m128i e0 = _mm_set_epi32((int)state[4], 0, 0, 0);
    __m128i e1;

    while (nblocks--) {
        const __m128i abcd_save = abcd, e_save = e0;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap);

        e0 = _mm_add_epi32(e0, m0);
        e1 = abcd;
        abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);
        SHA1_NI(e1, e0, m1, 0)
        SHA1_NI(e0, e1, m2, 0)
        SHA1_NI(e1, e0, m3, 0)
        SHA1_NI_SCHED(m0, m1, m2, m3) SHA1_NI(e0, e1, m0, 0)     /* 16-19 */
        SHA1_NI_SCHED(m1, m2, m3, m0) SHA1_NI(e1, e0, m1, 1)     /* 20-23 */
        SHA1_NI_SCHED(m2, m3, m0, m1) SHA1_NI(e0, e1, m2, 1)
        SHA1_NI_SCHED(m3, m0, m1, m2) SHA1_NI(e1, e0, m3, 1)
        SHA1_NI_SCHED(m0, m1, m2, m3) SHA1_NI(e0, e1, m0, 1)
        SHA1_NI_SCHED(m1, m2, m3, m0) SHA1_NI(e1, e0, m1, 1)
        SHA1_NI_SCHED(m2, m3, m0, m1) SHA1_NI(e0, e1, m2, 2)     /* 40-43 */
        SHA1_NI_SCHED(m3, m0, m1, m2) SHA1_NI(e1, e0, m3, 2)
        SHA1_NI_SCHED(m0, m1, m2, m3) SHA1_NI(e0, e1, m0, 2)
        SHA1_NI_SCHED(m1, m2, m3, m0) SHA1_NI(e1, e0, m1, 2)
        SHA1_NI_SCHED(m2, m3, m0, m1) SHA1_NI(e0, e1, m2, 2)
        SHA1_NI_SCHED(m3, m0, m1, m2) SHA1_NI(e1, e0, m3, 3)     /* 60-63 */
        SHA1_NI_SCHED(m0, m1, m2, m3) SHA1_NI(e0, e1, m0, 3)
        SHA1_NI_SCHED(m1, m2, m3, m0) SHA1_NI(e1, e0, m1, 3)
        SHA1_NI_SCHED(m2, m3, m0, m1) SHA1_NI(e0, e1, m2, 3)
        SHA1_NI_SCHED(m3, m0, m1, m2) SHA1_NI(e1, e0, m3, 3)     /* 76-79 */

        e0 = _mm_sha1nexte_epu32(e0, e_save);
        abcd = _mm_add_epi32(abcd, abcd_save);
        p += 64;
    }
    _mm_storeu_si128((__m128i *)(void *)state, _mm_shuffle_epi32(abcd, 0x1b));
    state[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}
#endif

static void sha1_blocks(uint32_t state[5], const unsigned char *p, size_t nblocks)
{
#if OSSFAST_HAVE_SHANI
    if (use_shani()) {
        sha1_blocks_ni(state, p, nblocks);
        return;
    }
#endif
    sha1_blocks_c(state, p, nblocks);
}

/* ---- SHA-256 -------------------------------------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define S256_BSIG0(x) (ror32(x, 2) ^ ror32(x, 13) ^ ror32(x, 22))
#define S256_BSIG1(x) (ror32(x, 6) ^ ror32(x, 11) ^ ror32(x, 25))
#define S256_SSIG0(x) (ror32(x, 7) ^ ror32(x, 18) ^ ((x) >> 3))
#define S256_SSIG1(x) (ror32(x, 17) ^ ror32(x, 19) ^ ((x) >> 10))

/* One round; the eight working variables rotate by renaming, not moving.
   As for SHA-1, the schedule is 16 words refreshed in place. */
#define S256_W(i) (w[(i) & 15] += S256_SSIG1(w[((i) + 14) & 15]) + w[((i) + 9) & 15] + \
                                   S256_SSIG0(w[((i) + 1) & 15]))
#define S256_STEP(a, b, c, d, e, f, g, h, i, x) \
    h += S256_BSIG1(e) + (((f ^ g) & e) ^ g) + K256[i] + (x); \
    d += h; \
    h += S256_BSIG0(a) + ((a & b) | (c & (a | b)));
#define S256_R(a, b, c, d, e, f, g, h, i) S256_STEP(a, b, c, d, e, f, g, h, i, w[i])
#define S256_RX(a, b, c, d, e, f, g, h, i) S256_STEP(a, b, c, d, e, f, g, h, i, S256_W(i))

#define S256_EIGHT(R, i) \
    R(a, b, c, d, e, f, g, h, i) R(h, a, b, c, d, e, f, g, i + 1) \
    R(g, h, a, b, c, d, e, f, i + 2) R(f, g, h, a, b, c, d, e, i + 3) \
    R(e, f, g, h, a, b, c, d, i + 4) R(d, e, f, g, h, a, b, c, i + 5) \
    R(c, d, e, f, g, h, a, b, i + 6) R(b, c, d, e, f, g, h, a, i + 7)

static void sha256_blocks_c(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
    uint32_t w[16];
    int i;

    while (nblocks--) {
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (i = 0; i < 16; i++)
            w[i] = load32be(p + 4 * i);
        S256_EIGHT(S256_R, 0) S256_EIGHT(S256_R, 8)
        S256_EIGHT(S256_RX, 16) S256_EIGHT(S256_RX, 24) S256_EIGHT(S256_RX, 32)
        S256_EIGHT(S256_RX, 40) S256_EIGHT(S256_RX, 48) S256_EIGHT(S256_RX, 56)
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
        p += 64;
    }
}

#if OSSFAST_HAVE_SHANI
/* Four rounds with message vector `m` (words 4i..4i+3). */
#define S256_NI(m, i) \
    t = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)(const void *)(K256 + 4 * (i)))); \
    s1 = _mm_sha256rnds2_epu32(s1, s0, t); \
    s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(t, 0x0e));
/* w0 = W[i-4] becomes W[i] from W[i-3], W[i-2], W[i-1] (vectors of four words). */
#define S256_NI_SCHED(w0, w1, w2, w3) \
    w0 = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), \
                                            _mm_alignr_epi8(w3, w2, 4)), w3);

__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_ni(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)state), 0xb1);
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)(state + 4)), 0x1b);
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);    /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xf0);         /* CDGH */

    while (nblocks--) {
        const __m128i s0_save = s0, s1_save = s1;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap);

        S256_NI(m0, 0) S256_NI(m1, 1) S256_NI(m2, 2) S256_NI(m3, 3)
        S256_NI_SCHED(m0, m1, m2, m3) S256_NI(m0, 4)
        S256_NI_SCHED(m1, m2, m3, m0) S256_NI(m1, 5)
        S256_NI_SCHED(m2, m3, m0, m1) S256_NI(m2, 6)
        S256_NI_SCHED(m3, m0, m1, m2) S256_NI(m3, 7)
        S256_NI_SCHED(m0, m1, m2, m3) S256_NI(m0, 8)
        S256_NI_SCHED(m1, m2, m3, m0) S256_NI(m1, 9)
        S256_NI_SCHED(m2, m3, m0, m1) S256_NI(m2, 10)
        S256_NI_SCHED(m3, m0, m1, m2) S256_NI(m3, 11)
        S256_NI_SCHED(m0, m1, m2, m3) S256_NI(m0, 12)
        S256_NI_SCHED(m1, m2, m3, m0) S256_NI(m1, 13)
        S256_NI_SCHED(m2, m3, m0, m1) S256_NI(m2, 14)
        S256_NI_SCHED(m3, m0, m1, m2) S256_NI(m3, 15)

        s0 = _mm_add_epi32(s0, s0_save);
        s1 = _mm_add_epi32(s1, s1_save);
        p += 64;
    }
    t = _mm_shuffle_epi32(s0, 0x1b);           /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xb1);          /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xf0);         /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);            /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)state, s0);
    _mm_storeu_si128((__m128i *)(void *)(state + 4), s1);
}
#endif

static void sha256_blocks(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
#if OSSFAST_HAVE_SHANI
    if (use_shani()) {
        sha256_blocks_ni(state, p, nblocks);
        return;
    }
#endif
    sha256_blocks_c(state, p, nblocks);
}

/* ---- streaming and one-shot, shared by both -------------------------------- */

typedef void (*blocks_fn)(uint32_t *state, const unsigned char *p, size_t nblocks);

static void md_update(blocks_fn blocks, uint32_t *state, uint64_t *length, uint32_t *buflen,
                      unsigned char *buf, const unsigned char *p, size_t len)
{
    if (len == 0)
        return;
    *length += len;
    if (*buflen) {
        size_t take = 64 - *buflen;
        if (take > len)
            take = len;
        memcpy(buf + *buflen, p, take);
        *buflen += (uint32_t)take;
        p += take;
        len -= take;
        if (*buflen < 64)
            return;
        blocks(state, buf, 1);
        *buflen = 0;
    }
    if (len >= 64) {
        blocks(state, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len) {
        memcpy(buf, p, len);
        *buflen = (uint32_t)len;
    }
}

/* Pads the `restlen` (< 64) bytes left after the whole blocks, appends the
   big-endian bit length, runs the last block(s) and writes `nwords` words.
   `wipe`: the input is a secret (an HMAC key over 64 bytes), so the copy of
   its last bytes in `block` and the state are zeroed before returning. */
static void md_tail(blocks_fn blocks, uint32_t *state, const unsigned char *rest, size_t restlen,
                    uint64_t total, unsigned char *out, int nwords, int wipe)
{
    unsigned char block[128];
    size_t nb = restlen < 56 ? 1 : 2;
    uint64_t bits = total << 3;
    int i;

    if (restlen)
        memcpy(block, rest, restlen);
    block[restlen] = 0x80;
    memset(block + restlen + 1, 0, nb * 64 - 8 - restlen - 1);
    store32be(block + nb * 64 - 8, (uint32_t)(bits >> 32));
    store32be(block + nb * 64 - 4, (uint32_t)bits);
    blocks(state, block, nb);
    for (i = 0; i < nwords; i++)
        store32be(out + 4 * i, state[i]);
    if (wipe) {
        ossfast_wipe(block, sizeof block);
        ossfast_wipe(state, (size_t)nwords * sizeof *state);
    }
}

static const uint32_t SHA1_IV[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
static const uint32_t SHA256_IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

void ossfast_sha1_init(ossfast_sha1_ctx *ctx)
{
    memcpy(ctx->state, SHA1_IV, sizeof SHA1_IV);
    ctx->length = 0;
    ctx->buflen = 0;
}

void ossfast_sha1_update(ossfast_sha1_ctx *ctx, const unsigned char *p, size_t len)
{
    md_update(sha1_blocks, ctx->state, &ctx->length, &ctx->buflen, ctx->buf, p, len);
}

void ossfast_sha1_final(ossfast_sha1_ctx *ctx, unsigned char *out20)
{
    md_tail(sha1_blocks, ctx->state, ctx->buf, ctx->buflen, ctx->length, out20, 5, 0);
}

void ossfast_sha256_init(ossfast_sha256_ctx *ctx)
{
    memcpy(ctx->state, SHA256_IV, sizeof SHA256_IV);
    ctx->length = 0;
    ctx->buflen = 0;
}

void ossfast_sha256_update(ossfast_sha256_ctx *ctx, const unsigned char *p, size_t len)
{
    md_update(sha256_blocks, ctx->state, &ctx->length, &ctx->buflen, ctx->buf, p, len);
}

void ossfast_sha256_final(ossfast_sha256_ctx *ctx, unsigned char *out32)
{
    md_tail(sha256_blocks, ctx->state, ctx->buf, ctx->buflen, ctx->length, out32, 8, 0);
}

static inline void sha1_oneshot(const char *buf, size_t len, unsigned char *out20, int wipe)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t state[5];
    size_t whole = len & ~(size_t)63;

    memcpy(state, SHA1_IV, sizeof state);
    if (whole)
        sha1_blocks(state, p, whole / 64);
    md_tail(sha1_blocks, state, whole ? p + whole : p, len - whole, len, out20, 5, wipe);
}

static inline void sha256_oneshot(const char *buf, size_t len, unsigned char *out32, int wipe)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t state[8];
    size_t whole = len & ~(size_t)63;

    memcpy(state, SHA256_IV, sizeof state);
    if (whole)
        sha256_blocks(state, p, whole / 64);
    md_tail(sha256_blocks, state, whole ? p + whole : p, len - whole, len, out32, 8, wipe);
}

void ossfast_sha1(const char *buf, size_t len, unsigned char *out20)
{
    sha1_oneshot(buf, len, out20, 0);
}

void ossfast_sha256(const char *buf, size_t len, unsigned char *out32)
{
    sha256_oneshot(buf, len, out32, 0);
}

void ossfast_sha1_secret(const char *buf, size_t len, unsigned char *out20)
{
    sha1_oneshot(buf, len, out20, 1);
}

void ossfast_sha256_secret(const char *buf, size_t len, unsigned char *out32)
{
    sha256_oneshot(buf, len, out32, 1);
}
