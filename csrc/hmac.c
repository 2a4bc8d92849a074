/*
 * HMAC-SHA1 and HMAC-SHA256 (RFC 2104). A key longer than the block is
 * hashed first; the message is streamed after the padded key, never copied.
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

void ossfast_hmac_sha1(const char *key, size_t key_len, const char *msg, size_t msg_len,
                       unsigned char *out20)
{
    const unsigned char *k = (const unsigned char *)key;
    unsigned char khash[20], block[64], inner[20];
    ossfast_sha1_ctx ctx;

    if (key_len > 64) {
        ossfast_sha1(key, key_len, khash);
        k = khash;
        key_len = sizeof khash;
    }
    ossfast_sha1_init(&ctx);
    pad_key(block, k, key_len, 0x36);
    ossfast_sha1_update(&ctx, block, 64);
    ossfast_sha1_update(&ctx, (const unsigned char *)msg, msg_len);
    ossfast_sha1_final(&ctx, inner);

    ossfast_sha1_init(&ctx);
    pad_key(block, k, key_len, 0x5c);
    ossfast_sha1_update(&ctx, block, 64);
    ossfast_sha1_update(&ctx, inner, sizeof inner);
    ossfast_sha1_final(&ctx, out20);
}

void ossfast_hmac_sha256(const char *key, size_t key_len, const char *msg, size_t msg_len,
                         unsigned char *out32)
{
    const unsigned char *k = (const unsigned char *)key;
    unsigned char khash[32], block[64], inner[32];
    ossfast_sha256_ctx ctx;

    if (key_len > 64) {
        ossfast_sha256(key, key_len, khash);
        k = khash;
        key_len = sizeof khash;
    }
    ossfast_sha256_init(&ctx);
    pad_key(block, k, key_len, 0x36);
    ossfast_sha256_update(&ctx, block, 64);
    ossfast_sha256_update(&ctx, (const unsigned char *)msg, msg_len);
    ossfast_sha256_final(&ctx, inner);

    ossfast_sha256_init(&ctx);
    pad_key(block, k, key_len, 0x5c);
    ossfast_sha256_update(&ctx, block, 64);
    ossfast_sha256_update(&ctx, inner, sizeof inner);
    ossfast_sha256_final(&ctx, out32);
}
