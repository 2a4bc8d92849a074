/*
 * ossfast.h - the whole C API of the ossfast core.
 *
 * C99, no dependencies beyond libc and compiler intrinsics. Knows nothing of
 * Python: every function works on caller-owned memory. Allocation happens only
 * for the V4 key cache (created and freed explicitly) and, briefly, inside the
 * signers for oversized input (a header block over 4 KiB, text to hash over
 * 8 KiB, a secret over ~247 bytes), freed before they return.
 *
 * The block between the cffi markers below is read verbatim by
 * ossfast/_build.py as the cffi cdef, so it must stay within what cffi's
 * parser understands (no macros with expressions, no attributes).
 */
#ifndef OSSFAST_H
#define OSSFAST_H

#include <stddef.h>
#include <stdint.h>

/* cffi:begin */

/* Bumped whenever the C API changes; _native.py refuses a module whose
   version differs from the one it was written for. */
#define OSSFAST_ABI_VERSION 4

/* Negative return codes. */
#define OSSFAST_EINVAL -1    /* malformed input (bad header line, duplicate header, ...) */
#define OSSFAST_ESPACE -2    /* output buffer too small */
#define OSSFAST_ETOOMANY -3  /* more header lines than the signer accepts */
#define OSSFAST_ETOKEN -4    /* the request token has a byte outside 0x21..0x7e */
#define OSSFAST_EVALUE -5    /* a forwarded header value the core was asked to check is not valid */

/* CPU feature bits returned by ossfast_cpu_features(). */
#define OSSFAST_CPU_PCLMUL 1
#define OSSFAST_CPU_VPCLMUL 2

int ossfast_abi_version(void);
int ossfast_cpu_features(void);

/* ---- CRC-64/XZ ("crc64ecma" in OSS) ----------------------------------
 * crc is the CRC of the data before buf (0 for a fresh start); the result
 * is the CRC of that data followed by buf. ossfast_crc64 picks the fastest
 * path this CPU supports (decided once); the _table/_pclmul/_vpclmul
 * variants run one path and exist for tests. Calling a path the CPU lacks
 * is undefined: check ossfast_cpu_features() first. */
uint64_t ossfast_crc64(uint64_t crc, const char *buf, size_t len);
uint64_t ossfast_crc64_table(uint64_t crc, const char *buf, size_t len);
uint64_t ossfast_crc64_pclmul(uint64_t crc, const char *buf, size_t len);
uint64_t ossfast_crc64_vpclmul(uint64_t crc, const char *buf, size_t len);
/* CRC of A+B from crc(A), crc(B) and len(B), in O(log len2). */
uint64_t ossfast_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);

/* ---- MD5, SHA-1, SHA-256, HMAC ---------------------------------------- */
typedef struct {
    uint32_t state[4];
    uint64_t length;          /* bytes hashed so far */
    uint32_t buflen;          /* bytes waiting in buf */
    unsigned char buf[64];
} ossfast_md5_ctx;

void ossfast_md5_init(ossfast_md5_ctx *ctx);
void ossfast_md5_update(ossfast_md5_ctx *ctx, const char *buf, size_t len);
void ossfast_md5_final(ossfast_md5_ctx *ctx, unsigned char *out16);
void ossfast_md5(const char *buf, size_t len, unsigned char *out16);
void ossfast_sha1(const char *buf, size_t len, unsigned char *out20);
void ossfast_sha256(const char *buf, size_t len, unsigned char *out32);
void ossfast_hmac_sha1(const char *key, size_t key_len, const char *msg, size_t msg_len,
                       unsigned char *out20);
void ossfast_hmac_sha256(const char *key, size_t key_len, const char *msg, size_t msg_len,
                         unsigned char *out32);

/* Encoders; both return the number of characters written (no NUL added).
   base64 needs 4*ceil(len/3) bytes of room, hex needs 2*len. */
size_t ossfast_base64_encode(const unsigned char *buf, size_t len, char *out);
size_t ossfast_hex_encode(const unsigned char *buf, size_t len, char *out);

/* ---- One pass over many buffers ---------------------------------------
 * Returns the CRC-64/XZ continuing from crc over bufs[0..n) in order and,
 * when md5 is not NULL, feeds the same bytes into that MD5 context, block
 * by block so that each block is hashed twice while it is still in cache. */
typedef struct {
    const char *ptr;
    size_t len;
} ossfast_buf;

uint64_t ossfast_digest(const ossfast_buf *bufs, size_t n, uint64_t crc, ossfast_md5_ctx *md5);

/* ---- OSS request signing ----------------------------------------------
 * `headers` is a block of header lines, "Name: value" or "name:value",
 * each ended by "\n" or "\r\n" (the last one may lack it): the header
 * section of the request head as it goes on the wire works as it is.
 * Names match case-insensitively; values are trimmed of blanks at both ends.
 * At most 64 lines. A repeated signed header is OSSFAST_EINVAL.
 *
 * V1: StringToSign = method \n content-md5 \n content-type \n date \n
 *     (lowercased x-oss-* "name:value\n", sorted by name) resource.
 *     The signature is base64(HMAC-SHA1(secret, StringToSign)), 28 chars.
 *
 * V4: CanonicalRequest = method \n uri \n query \n
 *     (x-oss-*, content-type, content-md5 and the `additional` names:
 *      lowercased "name:value\n", sorted) \n additional \n UNSIGNED-PAYLOAD
 *     (the payload hash is the value of x-oss-content-sha256 when present).
 *     `uri` and `query` are already canonical; `additional` is the
 *     ";"-joined list of lowercased extra header names (often empty).
 *     The date (YYYYMMDDTHHMMSSZ) is the value of the x-oss-date header.
 *     StringToSign = "OSS4-HMAC-SHA256\n" date "\n" scope "\n" hex(SHA256(CR))
 *     scope = YYYYMMDD/region/product/aliyun_v4_request.
 *     The signature is hex(HMAC-SHA256(key, StringToSign)), 64 chars.
 *
 * Functions that write text return the length written, or a negative
 * OSSFAST_E* code; nothing is NUL-terminated. */
int ossfast_v1_string_to_sign(const char *method, size_t method_len,
                              const char *headers, size_t headers_len,
                              const char *resource, size_t resource_len,
                              char *out, size_t out_cap);
int ossfast_v1_sign(const char *secret, size_t secret_len,
                    const char *method, size_t method_len,
                    const char *headers, size_t headers_len,
                    const char *resource, size_t resource_len,
                    char *out28);

int ossfast_v4_canonical_request(const char *method, size_t method_len,
                                 const char *uri, size_t uri_len,
                                 const char *query, size_t query_len,
                                 const char *headers, size_t headers_len,
                                 const char *additional, size_t additional_len,
                                 char *out, size_t out_cap);
int ossfast_v4_string_to_sign(const char *method, size_t method_len,
                              const char *uri, size_t uri_len,
                              const char *query, size_t query_len,
                              const char *headers, size_t headers_len,
                              const char *additional, size_t additional_len,
                              const char *region, size_t region_len,
                              const char *product, size_t product_len,
                              char *out, size_t out_cap);
/* key = HMAC(HMAC(HMAC(HMAC("aliyun_v4"+secret, day8), region), product), "aliyun_v4_request") */
int ossfast_v4_signing_key(const char *secret, size_t secret_len, const char *day8,
                           const char *region, size_t region_len,
                           const char *product, size_t product_len,
                           unsigned char *out32);

/* A small thread-safe cache of V4 signing keys, keyed by (secret, day,
   region, product). Passing NULL to ossfast_v4_sign disables caching. */
typedef struct ossfast_v4_cache ossfast_v4_cache;
ossfast_v4_cache *ossfast_v4_cache_new(void);
void ossfast_v4_cache_free(ossfast_v4_cache *cache);

int ossfast_v4_sign(ossfast_v4_cache *cache,
                    const char *secret, size_t secret_len,
                    const char *method, size_t method_len,
                    const char *uri, size_t uri_len,
                    const char *query, size_t query_len,
                    const char *headers, size_t headers_len,
                    const char *additional, size_t additional_len,
                    const char *region, size_t region_len,
                    const char *product, size_t product_len,
                    char *out64);

/* ---- The whole WriteGetObjectResponse head in one call -----------------
 * A signer bound once to its secret (and, for V4, region, product and key
 * cache); immutable, so one may be shared by threads. version is 1 or 4.
 * The strings are copied. Returns NULL when out of memory or when version
 * is neither. _free wipes the copy of the secret. */
typedef struct ossfast_wgor_signer ossfast_wgor_signer;
ossfast_wgor_signer *ossfast_wgor_signer_new(int version, const char *secret, size_t secret_len,
                                             const char *region, size_t region_len,
                                             const char *product, size_t product_len,
                                             ossfast_v4_cache *cache);
void ossfast_wgor_signer_free(ossfast_wgor_signer *signer);

/* Writes the request head, request line to the blank line:
 *   POST /?x-oss-write-get-object-response HTTP/1.1
 *   Host: <route>
 *   Content-Length: <content_length>
 *   [Content-MD5: <md5>]                      (when md5_len > 0)
 *   x-oss-request-route: <route>
 *   x-oss-request-token: <token>
 *   x-oss-fwd-status: <status>
 *   <extra>                                    (header lines, each ending CRLF)
 *   <lines>                                    (the signer's: Date, x-oss-date, ...)
 *   Authorization: <auth_prefix><signature>
 *   (blank line)
 * every line ending CRLF, signed over the lines from Host to the end of
 * <lines> (ossfast_v1_sign with resource "/?x-oss-write-get-object-response",
 * or ossfast_v4_sign with uri "/" and that query, no additional headers).
 * The token is checked here (1 or more bytes in 0x21..0x7e, else
 * OSSFAST_ETOKEN), the route and md5 only for the same bytes (OSSFAST_EINVAL:
 * the caller validates the route as a host name). <extra> is the caller's to
 * validate when extra_lines < 0; when extra_lines >= 0 it must hold exactly
 * that many lines "<name>: <value>\r\n" whose values are 1 to 8192 bytes in
 * 0x20..0x7e with no blank at either end, else OSSFAST_EVALUE (the forwarded
 * headers of the common request, checked here rather than in Python; the
 * line count stops a value with CRLF in it from passing as two lines).
 * The signer parses only <extra> and <lines>: the lines the head writes
 * itself go to it already split.
 * When crc is not NULL, *crc receives the CRC-64/XZ of body[0..body_len).
 * Returns the head's length, OSSFAST_ESPACE when out_cap is too small (the
 * size needed is ossfast_wgor_head_size()), or a signing error code. */
size_t ossfast_wgor_head_size(const ossfast_wgor_signer *signer, size_t route_len, size_t token_len,
                              size_t md5_len, size_t extra_len, size_t lines_len,
                              size_t auth_prefix_len);
int ossfast_wgor_head(const ossfast_wgor_signer *signer,
                      const char *route, size_t route_len,
                      const char *token, size_t token_len,
                      int status, uint64_t content_length,
                      const char *md5, size_t md5_len,
                      const char *extra, size_t extra_len, int extra_lines,
                      const char *lines, size_t lines_len,
                      const char *auth_prefix, size_t auth_prefix_len,
                      const char *body, size_t body_len, uint64_t *crc,
                      char *out, size_t out_cap);

/* One route of one signer (the route is copied, the signer is not: free the
 * route first). NULL when the route is not 1 to 4096 bytes in 0x21..0x7e, the
 * signer is NULL or memory is short.
 * ossfast_wgor_route_head is ossfast_wgor_head for that route, a body whose
 * length is the Content-Length, no Content-MD5, `fwd` as extra with
 * extra_lines = fwd_lines, and an output buffer of OSSFAST_ROUTE_HEAD_CAP
 * bytes (OSSFAST_ESPACE when the head is longer: use ossfast_wgor_head):
 * the sender's per-request call, with six arguments fewer to convert. */
#define OSSFAST_ROUTE_HEAD_CAP 4096
typedef struct ossfast_wgor_route ossfast_wgor_route;
ossfast_wgor_route *ossfast_wgor_route_new(const ossfast_wgor_signer *signer, const char *route,
                                           size_t route_len);
void ossfast_wgor_route_free(ossfast_wgor_route *route);
int ossfast_wgor_route_head(const ossfast_wgor_route *route,
                            const char *token, size_t token_len, int status,
                            const char *fwd, size_t fwd_len, int fwd_lines,
                            const char *lines, size_t lines_len,
                            const char *auth_prefix, size_t auth_prefix_len,
                            const char *body, size_t body_len, uint64_t *crc, char *out);

/* cffi:end */

#endif /* OSSFAST_H */
