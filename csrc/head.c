/*
 * head.c - the whole head of a WriteGetObjectResponse request, signed, in one
 * call: the sender's per-request work in C (see ossfast.h for the layout).
 *
 * The head is written straight into the caller's buffer; the block from
 * "Host:" to the end of the signer's lines is then signed where it lies (the
 * signers parse a header block, so the head's own bytes are the input), and
 * the Authorization line and the blank line are appended. The body's CRC-64
 * is taken in the same call so that a small request costs one crossing.
 */
#include "ossfast.h"
#include "internal.h"

#include <stdint.h>

static const char REQUEST_LINE[] = "POST /?x-oss-write-get-object-response HTTP/1.1\r\n";
static const char V1_RESOURCE[] = "/?x-oss-write-get-object-response";
static const char V4_QUERY[] = "x-oss-write-get-object-response";

struct ossfast_wgor_signer {
    int version;
    ossfast_hmac_sha1_key v1key; /* V1: the secret's HMAC state, absorbed once */
    ossfast_v4_cache *cache;
    size_t secret_len, region_len, product_len;
    const char *secret, *region, *product; /* into text */
    size_t size;                           /* of the whole allocation, for the wipe */
    char text[];                           /* secret, region, product */
};

#define LIT(p, s) ossfast_put((p), (s), sizeof(s) - 1)


ossfast_wgor_signer *ossfast_wgor_signer_new(int version, const char *secret, size_t secret_len,
                                             const char *region, size_t region_len,
                                             const char *product, size_t product_len,
                                             ossfast_v4_cache *cache)
{
    ossfast_wgor_signer *s;
    size_t size;
    char *t;
    if (version != 1 && version != 4)
        return NULL;
    if (secret_len > SIZE_MAX / 4 || region_len > SIZE_MAX / 4 || product_len > SIZE_MAX / 4)
        return NULL;
    size = sizeof *s + secret_len + region_len + product_len;
    s = (ossfast_wgor_signer *)calloc(1, size);
    if (!s)
        return NULL;
    s->version = version;
    s->cache = cache;
    s->size = size;
    s->secret_len = secret_len;
    s->region_len = region_len;
    s->product_len = product_len;
    t = s->text;
    s->secret = t;
    t = ossfast_put(t, secret, secret_len);
    s->region = t;
    t = ossfast_put(t, region, region_len);
    s->product = t;
    ossfast_put(t, product, product_len);
    if (version == 1)
        ossfast_hmac_sha1_key_init(&s->v1key, secret, secret_len);
    return s;
}

void ossfast_wgor_signer_free(ossfast_wgor_signer *signer)
{
    if (!signer)
        return;
    ossfast_wipe(signer, signer->size);
    free(signer);
}

/* Decimal digits of v, written at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

size_t ossfast_wgor_head_size(const ossfast_wgor_signer *signer, size_t route_len, size_t token_len,
                              size_t md5_len, size_t extra_len, size_t lines_len,
                              size_t auth_prefix_len)
{
    size_t sig = signer && signer->version == 1 ? 28 : 64;
    return (sizeof REQUEST_LINE - 1) + (sizeof "Host: \r\n" - 1) + route_len +
           (sizeof "Content-Length: \r\n" - 1) + 20 +
           (md5_len ? (sizeof "Content-MD5: \r\n" - 1) + md5_len : 0) +
           (sizeof "x-oss-request-route: \r\n" - 1) + route_len +
           (sizeof "x-oss-request-token: \r\n" - 1) + token_len +
           (sizeof "x-oss-fwd-status: \r\n" - 1) + 11 + extra_len + lines_len +
           (sizeof "Authorization: \r\n\r\n" - 1) + auth_prefix_len + sig;
}

static int token_ok(const char *token, size_t len)
{
    size_t i;
    unsigned char bad = len == 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        bad |= (unsigned char)(c < 0x21 || c > 0x7e);
    }
    return !bad;
}

int ossfast_wgor_head(const ossfast_wgor_signer *signer,
                      const char *route, size_t route_len,
                      const char *token, size_t token_len,
                      int status, uint64_t content_length,
                      const char *md5, size_t md5_len,
                      const char *extra, size_t extra_len,
                      const char *lines, size_t lines_len,
                      const char *auth_prefix, size_t auth_prefix_len,
                      const char *body, size_t body_len, uint64_t *crc,
                      char *out, size_t out_cap)
{
    char *p = out, *block;
    int rc;
    if (!signer)
        return OSSFAST_EINVAL;
    if (!token_ok(token, token_len))
        return OSSFAST_ETOKEN;
    if (status < 0 || status > 999)
        return OSSFAST_EINVAL;
    if (out_cap < ossfast_wgor_head_size(signer, route_len, token_len, md5_len, extra_len,
                                         lines_len, auth_prefix_len))
        return OSSFAST_ESPACE;
    p = LIT(p, REQUEST_LINE);
    block = p;
    p = LIT(p, "Host: ");
    p = ossfast_put(p, route, route_len);
    p = LIT(p, "\r\nContent-Length: ");
    p = put_u64(p, content_length);
    p = LIT(p, "\r\n");
    if (md5_len) {
        p = LIT(p, "Content-MD5: ");
        p = ossfast_put(p, md5, md5_len);
        p = LIT(p, "\r\n");
    }
    p = LIT(p, "x-oss-request-route: ");
    p = ossfast_put(p, route, route_len);
    p = LIT(p, "\r\nx-oss-request-token: ");
    p = ossfast_put(p, token, token_len);
    p = LIT(p, "\r\nx-oss-fwd-status: ");
    p = put_u64(p, (uint64_t)status);
    p = LIT(p, "\r\n");
    p = ossfast_put(p, extra, extra_len);
    p = ossfast_put(p, lines, lines_len);
    if (signer->version == 1) {
        char sig[28];
        rc = ossfast_v1_sign_key(&signer->v1key, "POST", 4, block, (size_t)(p - block),
                                 V1_RESOURCE, sizeof V1_RESOURCE - 1, sig);
        if (rc < 0)
            return rc;
        p = LIT(p, "Authorization: ");
        p = ossfast_put(p, auth_prefix, auth_prefix_len);
        p = ossfast_put(p, sig, 28);
    } else {
        char sig[64];
        rc = ossfast_v4_sign(signer->cache, signer->secret, signer->secret_len, "POST", 4, "/", 1,
                             V4_QUERY, sizeof V4_QUERY - 1, block, (size_t)(p - block), "", 0,
                             signer->region, signer->region_len, signer->product,
                             signer->product_len, sig);
        if (rc < 0)
            return rc;
        p = LIT(p, "Authorization: ");
        p = ossfast_put(p, auth_prefix, auth_prefix_len);
        p = ossfast_put(p, sig, 64);
    }
    p = LIT(p, "\r\n\r\n");
    if (crc)
        *crc = body_len ? ossfast_crc64(0, body, body_len) : 0;
    return (int)(p - out);
}
