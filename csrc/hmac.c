/*
 * HMAC-SHA1 and HMAC-SHA256 (RFC 2104). A key longer than the block is
 * hashed first; the message is streamed after the padded key, never copied.
 * The padded key's two blocks can be absorbed once (_key_init) and the
 * resulting contexts reused for every message (_with): a signer bound to one
 * secret saves two compressions per signature.
 */
#include "ossfast.h"
#include "internal.h"

/* key' = key, or H(key) when longer than the 64-byte block, zero-padded and
   xored with `pad` (0x36 for the inner hash, 0x5c for the outer). */
static void pad_key(unsigned char block[64], const unsigned char *key, size_t klen, unsigned char pad)
{
    size_t i;
    for (i = 0; i < klen; i++)
        block[i] = (unsigned char)(key[i] ^ pad);
    for (; i < 64; i++)
        block[i] = pad;
}

void ossfast_hmac_sha1_key_init(ossfast_hmac_sha1_key *hk, const char *key, size_t key_len)
{
    const unsigned char *k = (const unsigned char *)key;
    unsigned char khash[20], block[64];
    ossfast_sha1_ctx ctx;

    if (key_len > 64) {
        ossfast_sha1_secret(key, key_len, khash);
        k = khash;
        key_len = sizeof khash;
    }
    ossfast_sha1_init(&ctx);
    pad_key(block, k, key_len, 0x36);
    ossfast_sha1_update(&ctx, block, 64);
    memcpy(hk->inner, ctx.state, sizeof hk->inner);
    ossfast_sha1_init(&ctx);
    pad_key(block, k, key_len, 0x5c);
    ossfast_sha1_update(&ctx, block, 64);
    memcpy(hk->outer, ctx.state, sizeof hk->outer);
    ossfast_wipe(&ctx, sizeof ctx);
    ossfast_wipe(block, sizeof block);
    ossfast_wipe(khash, sizeof khash);
}

void ossfast_hmac_sha1_with(const ossfast_hmac_sha1_key *hk, const char *msg, size_t msg_len,
                            unsigned char *out20)
{
    unsigned char inner[20];
    ossfast_sha1_ctx ctx;

    /* The contexts as they were right after the 64-byte padded key. */
    memcpy(ctx.state, hk->inner, sizeof hk->inner);
    ctx.length = 64;
    ctx.buflen = 0;
    ossfast_sha1_update(&ctx, (const unsigned char *)msg, msg_len);
    ossfast_sha1_final(&ctx, inner);
    memcpy(ctx.state, hk->outer, sizeof hk->outer);
    ctx.length = 64;
    ctx.buflen = 0;
    ossfast_sha1_update(&ctx, inner, sizeof inner);
    ossfast_sha1_final(&ctx, out20);
}

void ossfast_hmac_sha1(const char *key, size_t key_len, const char *msg, size_t msg_len,
                       unsigned char *out20)
{
    ossfast_hmac_sha1_key hk;
    ossfast_hmac_sha1_key_init(&hk, key, key_len);
    ossfast_hmac_sha1_with(&hk, msg, msg_len, out20);
    ossfast_wipe(&hk, sizeof hk);
}

void ossfast_hmac_sha256_key_init(ossfast_hmac_sha256_key *hk, const char *key, size_t key_len)
{
    const unsigned char *k = (const unsigned char *)key;
    unsigned char khash[32], block[64];
    ossfast_sha256_ctx ctx;

    if (key_len > 64) {
        ossfast_sha256_secret(key, key_len, khash);
        k = khash;
        key_len = sizeof khash;
    }
    ossfast_sha256_init(&ctx);
    pad_key(block, k, key_len, 0x36);
    ossfast_sha256_update(&ctx, block, 64);
    memcpy(hk->inner, ctx.state, sizeof hk->inner);
    ossfast_sha256_init(&ctx);
    pad_key(block, k, key_len, 0x5c);
    ossfast_sha256_update(&ctx, block, 64);
    memcpy(hk->outer, ctx.state, sizeof hk->outer);
    ossfast_wipe(&ctx, sizeof ctx);
    ossfast_wipe(block, sizeof block);
    ossfast_wipe(khash, sizeof khash);
}

void ossfast_hmac_sha256_with(const ossfast_hmac_sha256_key *hk, const char *msg, size_t msg_len,
                              unsigned char *out32)
{
    unsigned char inner[32];
    ossfast_sha256_ctx ctx;

    /* The contexts as they were right after the 64-byte padded key. */
    memcpy(ctx.state, hk->inner, sizeof hk->inner);
    ctx.length = 64;
    ctx.buflen = 0;
    ossfast_sha256_update(&ctx, (const unsigned char *)msg, msg_len);
    ossfast_sha256_final(&ctx, inner);
    memcpy(ctx.state, hk->outer, sizeof hk->outer);
    ctx.length = 64;
    ctx.buflen = 0;
    ossfast_sha256_update(&ctx, inner, sizeof inner);
    ossfast_sha256_final(&ctx, out32);
}

void ossfast_hmac_sha256(const char *key, size_t key_len, const char *msg, size_t msg_len,
                         unsigned char *out32)
{
    ossfast_hmac_sha256_key hk;
    ossfast_hmac_sha256_key_init(&hk, key, key_len);
    ossfast_hmac_sha256_with(&hk, msg, msg_len, out32);
    ossfast_wipe(&hk, sizeof hk);
}
