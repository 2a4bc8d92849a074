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

#include <limits.h>
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

#define add_sat ossfast_add_sat

size_t ossfast_wgor_head_size(const ossfast_wgor_signer *signer, size_t route_len, size_t token_len,
                              size_t md5_len, size_t extra_len, size_t lines_len,
                              size_t auth_prefix_len)
{
    size_t sig = signer && signer->version == 1 ? 28 : 64;
    size_t fixed = (sizeof REQUEST_LINE - 1) + (sizeof "Host: \r\n" - 1) +
                   (sizeof "Content-Length: \r\n" - 1) + 20 +
                   (md5_len ? sizeof "Content-MD5: \r\n" - 1 : 0) +
                   (sizeof "x-oss-request-route: \r\n" - 1) +
                   (sizeof "x-oss-request-token: \r\n" - 1) +
                   (sizeof "x-oss-fwd-status: \r\n" - 1) + 11 +
                   (sizeof "Authorization: \r\n\r\n" - 1) + sig;
    size_t n = add_sat(fixed, route_len);
    n = add_sat(n, route_len);
    n = add_sat(n, token_len);
    n = add_sat(n, md5_len);
    n = add_sat(n, extra_len);
    n = add_sat(n, lines_len);
    return add_sat(n, auth_prefix_len);
}

/* 1 or more bytes, each in 0x21..0x7e (no blank, no control). */
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

#define FWD_VALUE_MAX 8192

/* Exactly `expect` lines "<name>: <value>\r\n", each value 1..FWD_VALUE_MAX
 * bytes in 0x20..0x7e with no blank at either end. */
static int fwd_ok(const char *p, size_t len, int expect)
{
    size_t pos = 0;
    int lines = 0;
    while (pos < len) {
        size_t start, v;
        unsigned char bad = 0;
        /* the name: up to ": " (the caller writes the names; any byte but CR/LF) */
        start = pos;
        while (pos < len && p[pos] != ':' && p[pos] != '\r' && p[pos] != '\n')
            pos++;
        if (pos == start || len - pos < 2 || p[pos] != ':' || p[pos + 1] != ' ')
            return 0;
        pos += 2;
        v = pos;
        while (pos < len && p[pos] != '\r') {
            unsigned char c = (unsigned char)p[pos];
            bad |= (unsigned char)(c < 0x20 || c > 0x7e);
            pos++;
        }
        if (bad || pos == v || pos - v > FWD_VALUE_MAX || p[v] == ' ' || p[pos - 1] == ' ')
            return 0;
        if (len - pos < 2 || p[pos + 1] != '\n')
            return 0;
        pos += 2;
        if (++lines > expect)
            return 0;
    }
    return lines == expect;
}

#define OWN(h, lit, v, n) \
    ((h)->name = (lit), (h)->name_len = sizeof(lit) - 1, (h)->value = (v), (h)->value_len = (n))

/* ossfast_wgor_head once the signer and the route are known to be good. */
static int write_head(const ossfast_wgor_signer *signer,
                      const char *route, size_t route_len,
                      const char *token, size_t token_len,
                      int status, uint64_t content_length,
                      const char *md5, size_t md5_len,
                      const char *extra, size_t extra_len, int extra_lines,
                      const char *lines, size_t lines_len,
                      const char *auth_prefix, size_t auth_prefix_len,
                      const char *body, size_t body_len, uint64_t *crc,
                      char *out, size_t out_cap)
{
    /* The signed lines the head writes itself, sorted by lowercased name. */
    ossfast_sign_hdr own[4], *h = own;
    size_t own_lines = md5_len ? 6 : 5; /* with Host and Content-Length */
    char *p = out, *tail, *v;
    size_t need;
    int rc;
    if (!token_ok(token, token_len))
        return OSSFAST_ETOKEN;
    if (status < 0 || status > 999 || (md5_len && !token_ok(md5, md5_len)))
        return OSSFAST_EINVAL;
    if (extra_lines >= 0 && !fwd_ok(extra, extra_len, extra_lines))
        return OSSFAST_EVALUE;
    need = ossfast_wgor_head_size(signer, route_len, token_len, md5_len, extra_len, lines_len,
                                  auth_prefix_len);
    /* The length goes back as an int: a head that could pass INT_MAX is refused whole. */
    if (out_cap < need || need > (size_t)INT_MAX)
        return OSSFAST_ESPACE;
    p = LIT(p, REQUEST_LINE);
    p = LIT(p, "Host: ");
    p = ossfast_put(p, route, route_len);
    p = LIT(p, "\r\nContent-Length: ");
    p = put_u64(p, content_length);
    p = LIT(p, "\r\n");
    if (md5_len) {
        p = LIT(p, "Content-MD5: ");
        OWN(h, "content-md5", p, md5_len);
        h++;
        p = ossfast_put(p, md5, md5_len);
        p = LIT(p, "\r\n");
    }
    p = LIT(p, "x-oss-request-route: ");
    v = p;
    p = ossfast_put(p, route, route_len);
    p = LIT(p, "\r\nx-oss-request-token: ");
    OWN(h + 1, "x-oss-request-route", v, route_len);
    OWN(h + 2, "x-oss-request-token", p, token_len);
    p = ossfast_put(p, token, token_len);
    p = LIT(p, "\r\nx-oss-fwd-status: ");
    v = p;
    p = put_u64(p, (uint64_t)status);
    OWN(h, "x-oss-fwd-status", v, (size_t)(p - v));
    h += 3;
    p = LIT(p, "\r\n");
    tail = p;
    p = ossfast_put(p, extra, extra_len);
    p = ossfast_put(p, lines, lines_len);
    if (signer->version == 1) {
        char sig[28];
        rc = ossfast_v1_sign_parts(&signer->v1key, "POST", 4, own, (size_t)(h - own), own_lines, tail,
                                   (size_t)(p - tail), V1_RESOURCE, sizeof V1_RESOURCE - 1, sig);
        if (rc < 0)
            return rc;
        p = LIT(p, "Authorization: ");
        p = ossfast_put(p, auth_prefix, auth_prefix_len);
        p = ossfast_put(p, sig, 28);
    } else {
        char sig[64];
        rc = ossfast_v4_sign_parts(signer->cache, signer->secret, signer->secret_len, "POST", 4, "/", 1,
                                   V4_QUERY, sizeof V4_QUERY - 1, own, (size_t)(h - own), own_lines,
                                   tail, (size_t)(p - tail), "", 0, signer->region,
                                   signer->region_len, signer->product, signer->product_len, sig);
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

int ossfast_wgor_head(const ossfast_wgor_signer *signer,
                      const char *route, size_t route_len,
                      const char *token, size_t token_len,
                      int status, uint64_t content_length,
                      const char *md5, size_t md5_len,
                      const char *extra, size_t extra_len, int extra_lines,
                      const char *lines, size_t lines_len,
                      const char *auth_prefix, size_t auth_prefix_len,
                      const char *body, size_t body_len, uint64_t *crc,
                      char *out, size_t out_cap)
{
    if (!signer)
        return OSSFAST_EINVAL;
    if (!token_ok(token, token_len))
        return OSSFAST_ETOKEN; /* the token's error before the route's, as always */
    if (!token_ok(route, route_len))
        return OSSFAST_EINVAL;
    return write_head(signer, route, route_len, token, token_len, status, content_length, md5,
                      md5_len, extra, extra_len, extra_lines, lines, lines_len, auth_prefix,
                      auth_prefix_len, body, body_len, crc, out, out_cap);
}

/* ---- one route ----------------------------------------------------------- */

struct ossfast_wgor_route {
    const ossfast_wgor_signer *signer;
    size_t route_len;
    char route[];
};

ossfast_wgor_route *ossfast_wgor_route_new(const ossfast_wgor_signer *signer, const char *route,
                                           size_t route_len)
{
    ossfast_wgor_route *r;
    if (!signer || !token_ok(route, route_len) || route_len > 4096)
        return NULL;
    r = (ossfast_wgor_route *)malloc(sizeof *r + route_len);
    if (!r)
        return NULL;
    r->signer = signer;
    r->route_len = route_len;
    memcpy(r->route, route, route_len);
    return r;
}

void ossfast_wgor_route_free(ossfast_wgor_route *route)
{
    free(route);
}

int ossfast_wgor_route_head(const ossfast_wgor_route *r,
                            const char *token, size_t token_len, int status,
                            const char *fwd, size_t fwd_len, int fwd_lines,
                            const char *lines, size_t lines_len,
                            const char *auth_prefix, size_t auth_prefix_len,
                            const char *body, size_t body_len, uint64_t *crc, char *out)
{
    if (!r)
        return OSSFAST_EINVAL;
    return write_head(r->signer, r->route, r->route_len, token, token_len, status, body_len, "", 0,
                      fwd, fwd_len, fwd_lines, lines, lines_len, auth_prefix, auth_prefix_len, body,
                      body_len, crc, out, OSSFAST_ROUTE_HEAD_CAP);
}
