/* Shared by the core's .c files; not part of the public API. */
#ifndef OSSFAST_INTERNAL_H
#define OSSFAST_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define OSSFAST_X86 1
#else
#define OSSFAST_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define OSSFAST_LIKELY(x) __builtin_expect(!!(x), 1)
#define OSSFAST_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define OSSFAST_LIKELY(x) (x)
#define OSSFAST_UNLIKELY(x) (x)
#endif

static inline uint32_t ossfast_load32le(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t ossfast_load64le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Internal helpers shared across files. */
void ossfast_md5_blocks(uint32_t state[4], const unsigned char *p, size_t nblocks);

/* ---- SHA-1 / SHA-256 streaming (sha.c), for hmac.c ---------------------
 * Same shape as ossfast_md5_ctx. _final writes the digest and leaves the
 * context spent (init it again to reuse it). */
typedef struct {
    uint32_t state[5];
    uint64_t length;
    uint32_t buflen;
    unsigned char buf[64];
} ossfast_sha1_ctx;

typedef struct {
    uint32_t state[8];
    uint64_t length;
    uint32_t buflen;
    unsigned char buf[64];
} ossfast_sha256_ctx;

void ossfast_sha1_init(ossfast_sha1_ctx *ctx);
void ossfast_sha1_update(ossfast_sha1_ctx *ctx, const unsigned char *p, size_t len);
void ossfast_sha1_final(ossfast_sha1_ctx *ctx, unsigned char *out20);
void ossfast_sha256_init(ossfast_sha256_ctx *ctx);
void ossfast_sha256_update(ossfast_sha256_ctx *ctx, const unsigned char *p, size_t len);
void ossfast_sha256_final(ossfast_sha256_ctx *ctx, unsigned char *out32);
/* ossfast_sha1/ossfast_sha256 of a secret (an HMAC key over 64 bytes): the
   copy of its last partial block and the state are wiped before they return. */
void ossfast_sha1_secret(const char *buf, size_t len, unsigned char *out20);
void ossfast_sha256_secret(const char *buf, size_t len, unsigned char *out32);
/* ---- end SHA-1 / SHA-256 ------------------------------------------------ */

/* ---- HMAC with the padded key absorbed once (hmac.c) --------------------
 * _key_init hashes key^ipad and key^opad (a key over 64 bytes is hashed
 * first) and keeps the two chaining states; _with starts its two hashes
 * from them, so each MAC skips the two key blocks and a key state may be
 * shared read-only by threads. The state is as secret as the key: wipe it
 * when done (it is small: 40 or 64 bytes). */
typedef struct {
    uint32_t inner[5], outer[5];
} ossfast_hmac_sha1_key;

typedef struct {
    uint32_t inner[8], outer[8];
} ossfast_hmac_sha256_key;

void ossfast_hmac_sha1_key_init(ossfast_hmac_sha1_key *hk, const char *key, size_t key_len);
void ossfast_hmac_sha1_with(const ossfast_hmac_sha1_key *hk, const char *msg, size_t msg_len,
                            unsigned char *out20);
void ossfast_hmac_sha256_key_init(ossfast_hmac_sha256_key *hk, const char *key, size_t key_len);
void ossfast_hmac_sha256_with(const ossfast_hmac_sha256_key *hk, const char *msg, size_t msg_len,
                              unsigned char *out32);

/* A signed header: name (lowercased) and value (trimmed), not NUL-terminated. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} ossfast_sign_hdr;

/* The signers over a block in two parts (sign.c, for head.c): `own`, headers
 * the caller wrote itself and need no parsing (sorted by name, lowercase names,
 * trimmed values, `own_lines` lines of the block in all, signed or not), and
 * `tail`, a header block parsed as ossfast_v1_sign/ossfast_v4_sign parse
 * theirs. The result is the signature of own's lines followed by tail; a name
 * in both is a repeat (OSSFAST_EINVAL). ossfast_v1_sign_parts takes the
 * secret's HMAC state. */
int ossfast_v1_sign_parts(const ossfast_hmac_sha1_key *hk,
                          const char *method, size_t method_len,
                          const ossfast_sign_hdr *own, size_t n_own, size_t own_lines,
                          const char *tail, size_t tail_len,
                          const char *resource, size_t resource_len,
                          char *out28);
struct ossfast_v4_cache;
int ossfast_v4_sign_parts(struct ossfast_v4_cache *cache,
                          const char *secret, size_t secret_len,
                          const char *method, size_t method_len,
                          const char *uri, size_t uri_len,
                          const char *query, size_t query_len,
                          const ossfast_sign_hdr *own, size_t n_own, size_t own_lines,
                          const char *headers, size_t headers_len,
                          const char *additional, size_t additional_len,
                          const char *region, size_t region_len,
                          const char *product, size_t product_len,
                          char *out64);
/* ---- end HMAC ------------------------------------------------------------ */

/* Copies n bytes to p (n may be 0 with any pointers) and returns the end. */
static inline char *ossfast_put(char *p, const char *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

/* a + b, or SIZE_MAX when that does not fit: a size computed from the
   caller's lengths saturates, so it can only compare as too big (or fail to
   allocate), never wrap round to a small one. */
static inline size_t ossfast_add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* memset to zero that the optimiser may not drop (for secrets). */
static inline void ossfast_wipe(void *p, size_t n)
{
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--)
        *v++ = 0;
}

#endif
