/*
 * sign.c - OSS request signing: Signature V1 (HMAC-SHA1) and V4
 * (OSS4-HMAC-SHA256), and a small thread-safe cache of V4 signing keys.
 *
 * The header block is parsed into (name, value) slices on the stack: values
 * point into the block, names into a scratch buffer that holds them
 * lowercased, so sorting and matching are plain memcmp. Scratch and the text
 * to hash live on the stack; only a header block longer than SIGN_STACK_FOLD
 * or a text longer than SIGN_STACK_TEXT (far beyond a real WGOR head)
 * borrows a heap buffer for the duration of the call. Secrets never leave the stack except into the key cache, which
 * zeroes them when it is freed.
 *
 * Error order (mirrored by ossfast/_pure.py): the block is scanned line by
 * line (ETOOMANY at the 65th line, EINVAL at a malformed line), then the
 * signed headers are sorted and checked for repeats (EINVAL), then V4 looks
 * for a well-formed x-oss-date (EINVAL).
 */
#include "ossfast.h"
#include "internal.h"

#include <limits.h>

#define SIGN_MAX_LINES 64
#define SIGN_STACK_TEXT 8192
#define SIGN_STACK_FOLD 4096

/* Key cache geometry: secrets, regions and products longer than their slot
   are signed without the cache. */
#define CACHE_SLOTS 8
#define CACHE_SECRET_MAX 128
#define CACHE_REGION_MAX 64
#define CACHE_PRODUCT_MAX 32

typedef ossfast_sign_hdr sign_hdr;

typedef struct {
    sign_hdr h[SIGN_MAX_LINES];
    size_t n;
} sign_hdrs;

enum { MODE_V1, MODE_V4 };

static const char V4_ALGO[] = "OSS4-HMAC-SHA256";
static const char V4_TERM[] = "aliyun_v4_request";
static const char UNSIGNED_PAYLOAD[] = "UNSIGNED-PAYLOAD";

/* ---- small helpers ------------------------------------------------------ */

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Names are stored lowercased, so these are plain byte comparisons. */
static inline int name_is(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len == lit_len && memcmp(name, lit, len) == 0;
}

#define NAME_IS(n, l, lit) name_is((n), (l), (lit), sizeof(lit) - 1)

static inline int has_oss_prefix(const char *name, size_t len)
{
    return len >= 6 && memcmp(name, "x-oss-", 6) == 0;
}

/* Case-insensitive equality of a raw name with a lowercase literal. */
static inline int ci_is(const char *name, size_t len, const char *lit, size_t lit_len)
{
    size_t i;
    if (len != lit_len)
        return 0;
    for (i = 0; i < len; i++)
        if (lower((unsigned char)name[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

static inline int ci_prefix(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len >= lit_len && ci_is(name, lit_len, lit, lit_len);
}

/* Byte-wise order of the lowercased names (a prefix first): Python's order
   of bytes.lower(). */
static inline int name_cmp(const sign_hdr *a, const sign_hdr *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    if (a->name_len == b->name_len)
        return 0;
    return a->name_len < b->name_len ? -1 : 1;
}

/* Is `name` one of the ";"-separated names in `list` (case-insensitive)? */
static int in_list(const char *name, size_t len, const char *list, size_t list_len)
{
    size_t start = 0, i;
    for (i = 0; i <= list_len; i++) {
        if (i == list_len || list[i] == ';') {
            size_t tlen = i - start;
            if (tlen == len && tlen > 0) {
                size_t k;
                for (k = 0; k < len; k++)
                    if (lower((unsigned char)name[k]) != lower((unsigned char)list[start + k]))
                        break;
                if (k == len)
                    return 1;
            }
            start = i + 1;
        }
    }
    return 0;
}


/* A text buffer: the caller's stack array when it is big enough, else the heap. */
static char *text_buf(char *stack, size_t stack_cap, size_t need)
{
    if (need <= stack_cap)
        return stack;
    return (char *)malloc(need ? need : 1);
}

static void text_free(char *buf, char *stack)
{
    if (buf != stack)
        free(buf);
}

/* ---- header block parsing ----------------------------------------------- */

/*
 * Splits the block into lines, keeps the headers this mode signs, sorts
 * them by lowercased name and rejects repeats. Empty lines are skipped (so
 * a head's closing CRLF CRLF is harmless) and do not count toward the
 * limit. A CR anywhere but before the LF makes the line malformed.
 * `fold` receives the kept names, lowercased; it needs `len` bytes.
 */
static int parse_headers(const char *block, size_t len, int mode,
                         const char *additional, size_t additional_len,
                         char *fold, sign_hdrs *out, size_t lines)
{
    size_t pos = 0, used = 0, i;
    out->n = 0;
    while (pos < len) {
        const char *line = block + pos;
        const char *nl = (const char *)memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        const char *colon;
        size_t k = 0, nend, nlen;
        int keep;
        pos += line_len + (nl ? 1 : 0);
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            continue;
        if (++lines > SIGN_MAX_LINES)
            return OSSFAST_ETOOMANY;
        if (memchr(line, '\r', line_len))
            return OSSFAST_EINVAL;
        colon = (const char *)memchr(line, ':', line_len);
        if (!colon)
            return OSSFAST_EINVAL;
        while (k < (size_t)(colon - line) && is_blank(line[k]))
            k++;
        nend = (size_t)(colon - line);
        while (nend > k && is_blank(line[nend - 1]))
            nend--;
        if (nend == k)
            return OSSFAST_EINVAL;
        nlen = nend - k;
        /* Classify on the raw name; fold only the names that are kept. */
        if (ci_prefix(line + k, nlen, "x-oss-", 6) || ci_is(line + k, nlen, "content-type", 12) ||
            ci_is(line + k, nlen, "content-md5", 11))
            keep = 1;
        else if (mode == MODE_V1)
            keep = ci_is(line + k, nlen, "date", 4);
        else
            keep = additional_len && in_list(line + k, nlen, additional, additional_len);
        if (keep) {
            sign_hdr *h = &out->h[out->n++];
            char *name = fold + used;
            size_t vs = (size_t)(colon - line) + 1, ve = line_len;
            while (vs < ve && is_blank(line[vs]))
                vs++;
            while (ve > vs && is_blank(line[ve - 1]))
                ve--;
            for (i = 0; i < nlen; i++)
                name[i] = (char)lower((unsigned char)line[k + i]);
            h->name = name;
            h->name_len = nlen;
            h->value = line + vs;
            h->value_len = ve - vs;
            used += nlen;
        }
    }
    /* Insertion sort: at most 64 entries, usually about 15. */
    for (i = 1; i < out->n; i++) {
        sign_hdr tmp = out->h[i];
        size_t j = i;
        while (j > 0 && name_cmp(&out->h[j - 1], &tmp) > 0) {
            out->h[j] = out->h[j - 1];
            j--;
        }
        out->h[j] = tmp;
    }
    for (i = 1; i < out->n; i++)
        if (name_cmp(&out->h[i - 1], &out->h[i]) == 0)
            return OSSFAST_EINVAL;
    return 0;
}

/*
 * The caller's own signed headers (`own`: sorted, names lowercased, values
 * trimmed: a head's lines that need no parsing) merged into the parsed ones;
 * a name in both is a repeat (EINVAL). parse_headers counted the caller's
 * lines first, so the total fits in hs.
 */
static int merge_own(const sign_hdr *own, size_t n_own, sign_hdrs *hs)
{
    size_t i = hs->n, j = n_own, k = hs->n + n_own;
    if (k > SIGN_MAX_LINES)
        return OSSFAST_ETOOMANY;
    while (j > 0) {
        int c = i > 0 ? name_cmp(&hs->h[i - 1], &own[j - 1]) : -1;
        if (c == 0)
            return OSSFAST_EINVAL;
        if (c > 0)
            hs->h[--k] = hs->h[--i];
        else
            hs->h[--k] = own[--j];
    }
    hs->n += n_own;
    return 0;
}

/* parse_headers of `tail` after `own_lines` lines of the caller's, then merge_own. */
static int parse_parts(const sign_hdr *own, size_t n_own, size_t own_lines, const char *tail,
                       size_t tail_len, int mode, const char *additional, size_t additional_len,
                       char *fold, sign_hdrs *hs)
{
    int rc = parse_headers(tail, tail_len, mode, additional, additional_len, fold, hs, own_lines);
    if (rc == 0 && n_own)
        rc = merge_own(own, n_own, hs);
    return rc;
}

/* Scratch for the lowercased names: on the stack unless the block is huge. */
typedef struct {
    char stack[SIGN_STACK_FOLD];
    char *buf;
} fold_buf;

static int fold_init(fold_buf *f, size_t headers_len)
{
    f->buf = text_buf(f->stack, sizeof f->stack, headers_len);
    return f->buf ? 0 : OSSFAST_ESPACE;
}

static void fold_done(fold_buf *f)
{
    text_free(f->buf, f->stack);
}

static const sign_hdr *find(const sign_hdrs *hs, const char *lit, size_t lit_len)
{
    size_t i;
    for (i = 0; i < hs->n; i++)
        if (name_is(hs->h[i].name, hs->h[i].name_len, lit, lit_len))
            return &hs->h[i];
    return NULL;
}

#define FIND(hs, lit) find((hs), (lit), sizeof(lit) - 1)

/* ---- V1 ------------------------------------------------------------------ */

/* The lengths below add up the caller's lengths with ossfast_add_sat: method,
   resource, uri, query, additional, region and product are not read before
   the size is checked, so a length near SIZE_MAX must not wrap the sum. The
   header values are slices of a block that was read whole, so they add up
   plainly. */
#define SAT ossfast_add_sat

static size_t v1_length(const sign_hdrs *hs, size_t method_len, size_t resource_len)
{
    size_t need = SAT(SAT(method_len, 4), resource_len), i;
    for (i = 0; i < hs->n; i++) {
        const sign_hdr *h = &hs->h[i];
        if (has_oss_prefix(h->name, h->name_len))
            need = SAT(need, h->name_len + h->value_len + 2);
        else
            need = SAT(need, h->value_len); /* content-md5, content-type, date */
    }
    return need;
}

static size_t v1_write(const sign_hdrs *hs, const char *method, size_t method_len,
                       const char *resource, size_t resource_len, char *out)
{
    const sign_hdr *md5 = FIND(hs, "content-md5");
    const sign_hdr *type = FIND(hs, "content-type");
    const sign_hdr *date = FIND(hs, "date");
    char *p = out;
    size_t i;
    p = ossfast_put(p, method, method_len);
    *p++ = '\n';
    if (md5)
        p = ossfast_put(p, md5->value, md5->value_len);
    *p++ = '\n';
    if (type)
        p = ossfast_put(p, type->value, type->value_len);
    *p++ = '\n';
    if (date)
        p = ossfast_put(p, date->value, date->value_len);
    *p++ = '\n';
    for (i = 0; i < hs->n; i++) {
        const sign_hdr *h = &hs->h[i];
        if (!has_oss_prefix(h->name, h->name_len))
            continue;
        p = ossfast_put(p, h->name, h->name_len);
        *p++ = ':';
        p = ossfast_put(p, h->value, h->value_len);
        *p++ = '\n';
    }
    p = ossfast_put(p, resource, resource_len);
    return (size_t)(p - out);
}

int ossfast_v1_string_to_sign(const char *method, size_t method_len,
                              const char *headers, size_t headers_len,
                              const char *resource, size_t resource_len,
                              char *out, size_t out_cap)
{
    sign_hdrs hs;
    fold_buf fold;
    size_t need;
    int rc = fold_init(&fold, headers_len);
    if (rc < 0)
        return rc;
    rc = parse_headers(headers, headers_len, MODE_V1, NULL, 0, fold.buf, &hs, 0);
    if (rc == 0) {
        need = v1_length(&hs, method_len, resource_len);
        if (need > out_cap || need > (size_t)INT_MAX)
            rc = OSSFAST_ESPACE;
        else
            rc = (int)v1_write(&hs, method, method_len, resource, resource_len, out);
    }
    fold_done(&fold);
    return rc;
}

int ossfast_v1_sign_parts(const ossfast_hmac_sha1_key *hk,
                          const char *method, size_t method_len,
                          const ossfast_sign_hdr *own, size_t n_own, size_t own_lines,
                          const char *tail, size_t tail_len,
                          const char *resource, size_t resource_len,
                          char *out28)
{
    char stack[SIGN_STACK_TEXT];
    unsigned char mac[20];
    sign_hdrs hs;
    fold_buf fold;
    size_t n;
    char *text;
    int rc = fold_init(&fold, tail_len);
    if (rc < 0)
        return rc;
    rc = parse_parts(own, n_own, own_lines, tail, tail_len, MODE_V1, NULL, 0, fold.buf, &hs);
    if (rc == 0) {
        text = text_buf(stack, sizeof stack, v1_length(&hs, method_len, resource_len));
        if (!text) {
            rc = OSSFAST_ESPACE;
        } else {
            n = v1_write(&hs, method, method_len, resource, resource_len, text);
            ossfast_hmac_sha1_with(hk, text, n, mac);
            text_free(text, stack);
            rc = (int)ossfast_base64_encode(mac, sizeof mac, out28);
            ossfast_wipe(mac, sizeof mac);
        }
    }
    fold_done(&fold);
    return rc;
}

int ossfast_v1_sign(const char *secret, size_t secret_len,
                    const char *method, size_t method_len,
                    const char *headers, size_t headers_len,
                    const char *resource, size_t resource_len,
                    char *out28)
{
    ossfast_hmac_sha1_key hk;
    int rc;
    ossfast_hmac_sha1_key_init(&hk, secret, secret_len);
    rc = ossfast_v1_sign_parts(&hk, method, method_len, NULL, 0, 0, headers, headers_len, resource,
                               resource_len, out28);
    ossfast_wipe(&hk, sizeof hk);
    return rc;
}

/* ---- V4 ------------------------------------------------------------------ */

static size_t v4_cr_length(const sign_hdrs *hs, size_t method_len, size_t uri_len,
                           size_t query_len, size_t additional_len)
{
    const sign_hdr *payload = FIND(hs, "x-oss-content-sha256");
    size_t need = SAT(SAT(SAT(SAT(method_len, uri_len), query_len), additional_len), 5), i;
    need = SAT(need, payload ? payload->value_len : sizeof(UNSIGNED_PAYLOAD) - 1);
    for (i = 0; i < hs->n; i++)
        need = SAT(need, hs->h[i].name_len + hs->h[i].value_len + 2);
    return need;
}

static size_t v4_cr_write(const sign_hdrs *hs, const char *method, size_t method_len,
                          const char *uri, size_t uri_len, const char *query, size_t query_len,
                          const char *additional, size_t additional_len, char *out)
{
    const sign_hdr *payload = FIND(hs, "x-oss-content-sha256");
    char *p = out;
    size_t i;
    p = ossfast_put(p, method, method_len);
    *p++ = '\n';
    p = ossfast_put(p, uri, uri_len);
    *p++ = '\n';
    p = ossfast_put(p, query, query_len);
    *p++ = '\n';
    for (i = 0; i < hs->n; i++) {
        const sign_hdr *h = &hs->h[i];
        p = ossfast_put(p, h->name, h->name_len);
        *p++ = ':';
        p = ossfast_put(p, h->value, h->value_len);
        *p++ = '\n';
    }
    *p++ = '\n';
    p = ossfast_put(p, additional, additional_len);
    *p++ = '\n';
    if (payload)
        p = ossfast_put(p, payload->value, payload->value_len);
    else
        p = ossfast_put(p, UNSIGNED_PAYLOAD, sizeof(UNSIGNED_PAYLOAD) - 1);
    return (size_t)(p - out);
}

/* The x-oss-date value, checked to be YYYYMMDDTHHMMSSZ, or NULL. */
static const char *v4_date(const sign_hdrs *hs)
{
    const sign_hdr *d = FIND(hs, "x-oss-date");
    size_t i;
    if (!d || d->value_len != 16)
        return NULL;
    for (i = 0; i < 16; i++) {
        char c = d->value[i];
        if (i == 8) {
            if (c != 'T')
                return NULL;
        } else if (i == 15) {
            if (c != 'Z')
                return NULL;
        } else if (c < '0' || c > '9') {
            return NULL;
        }
    }
    return d->value;
}

/* hex(SHA256(canonical request)) of the parsed request into hex64. */
static int v4_cr_hash(const sign_hdrs *hs, const char *method, size_t method_len,
                      const char *uri, size_t uri_len, const char *query, size_t query_len,
                      const char *additional, size_t additional_len, char *hex64)
{
    char stack[SIGN_STACK_TEXT];
    unsigned char digest[32];
    size_t need = v4_cr_length(hs, method_len, uri_len, query_len, additional_len), n;
    char *text = text_buf(stack, sizeof stack, need);
    if (!text)
        return OSSFAST_ESPACE;
    n = v4_cr_write(hs, method, method_len, uri, uri_len, query, query_len,
                    additional, additional_len, text);
    ossfast_sha256(text, n, digest);
    text_free(text, stack);
    ossfast_hex_encode(digest, sizeof digest, hex64);
    return 0;
}

static size_t v4_sts_length(size_t region_len, size_t product_len)
{
    /* algo \n date \n day/region/product/term \n hex64 */
    return SAT(SAT((sizeof(V4_ALGO) - 1) + 1 + 16 + 1 + 8 + 1 + 1 + 1 + (sizeof(V4_TERM) - 1) + 1 + 64,
                   region_len), product_len);
}

static size_t v4_sts_write(const char *date16, const char *region, size_t region_len,
                           const char *product, size_t product_len, const char *hex64, char *out)
{
    char *p = out;
    p = ossfast_put(p, V4_ALGO, sizeof(V4_ALGO) - 1);
    *p++ = '\n';
    p = ossfast_put(p, date16, 16);
    *p++ = '\n';
    p = ossfast_put(p, date16, 8);
    *p++ = '/';
    p = ossfast_put(p, region, region_len);
    *p++ = '/';
    p = ossfast_put(p, product, product_len);
    *p++ = '/';
    p = ossfast_put(p, V4_TERM, sizeof(V4_TERM) - 1);
    *p++ = '\n';
    p = ossfast_put(p, hex64, 64);
    return (size_t)(p - out);
}

int ossfast_v4_canonical_request(const char *method, size_t method_len,
                                 const char *uri, size_t uri_len,
                                 const char *query, size_t query_len,
                                 const char *headers, size_t headers_len,
                                 const char *additional, size_t additional_len,
                                 char *out, size_t out_cap)
{
    sign_hdrs hs;
    fold_buf fold;
    size_t need;
    int rc = fold_init(&fold, headers_len);
    if (rc < 0)
        return rc;
    rc = parse_headers(headers, headers_len, MODE_V4, additional, additional_len, fold.buf, &hs, 0);
    if (rc == 0) {
        need = v4_cr_length(&hs, method_len, uri_len, query_len, additional_len);
        if (need > out_cap || need > (size_t)INT_MAX)
            rc = OSSFAST_ESPACE;
        else
            rc = (int)v4_cr_write(&hs, method, method_len, uri, uri_len, query, query_len,
                                  additional, additional_len, out);
    }
    fold_done(&fold);
    return rc;
}

int ossfast_v4_string_to_sign(const char *method, size_t method_len,
                              const char *uri, size_t uri_len,
                              const char *query, size_t query_len,
                              const char *headers, size_t headers_len,
                              const char *additional, size_t additional_len,
                              const char *region, size_t region_len,
                              const char *product, size_t product_len,
                              char *out, size_t out_cap)
{
    sign_hdrs hs;
    fold_buf fold;
    char hex[64];
    const char *date;
    size_t need;
    int rc = fold_init(&fold, headers_len);
    if (rc < 0)
        return rc;
    rc = parse_headers(headers, headers_len, MODE_V4, additional, additional_len, fold.buf, &hs, 0);
    if (rc < 0)
        goto done;
    date = v4_date(&hs);
    if (!date) {
        rc = OSSFAST_EINVAL;
        goto done;
    }
    need = v4_sts_length(region_len, product_len);
    if (need > out_cap || need > (size_t)INT_MAX) {
        rc = OSSFAST_ESPACE;
        goto done;
    }
    rc = v4_cr_hash(&hs, method, method_len, uri, uri_len, query, query_len,
                    additional, additional_len, hex);
    if (rc == 0)
        rc = (int)v4_sts_write(date, region, region_len, product, product_len, hex, out);
done:
    fold_done(&fold);
    return rc;
}

int ossfast_v4_signing_key(const char *secret, size_t secret_len, const char *day8,
                           const char *region, size_t region_len,
                           const char *product, size_t product_len,
                           unsigned char *out32)
{
    static const char prefix[] = "aliyun_v4";
    char stack[256];
    unsigned char k[32], k2[32];
    size_t klen = SAT(sizeof(prefix) - 1, secret_len);
    char *key0;
    if (klen == SIZE_MAX)
        return OSSFAST_ESPACE;
    key0 = text_buf(stack, sizeof stack, klen);
    if (!key0)
        return OSSFAST_ESPACE;
    memcpy(key0, prefix, sizeof(prefix) - 1);
    ossfast_put(key0 + sizeof(prefix) - 1, secret, secret_len);
    /* Two buffers, so no call reads its key from the memory it writes. */
    ossfast_hmac_sha256(key0, klen, day8, 8, k);
    ossfast_wipe(key0, klen);
    text_free(key0, stack);
    ossfast_hmac_sha256((const char *)k, 32, region, region_len, k2);
    ossfast_hmac_sha256((const char *)k2, 32, product, product_len, k);
    ossfast_hmac_sha256((const char *)k, 32, V4_TERM, sizeof(V4_TERM) - 1, out32);
    ossfast_wipe(k, sizeof k);
    ossfast_wipe(k2, sizeof k2);
    return 32;
}

/* ---- V4 key cache -------------------------------------------------------- */

typedef struct {
    int used;
    size_t secret_len, region_len, product_len;
    char secret[CACHE_SECRET_MAX];
    char day[8];
    char region[CACHE_REGION_MAX];
    char product[CACHE_PRODUCT_MAX];
    ossfast_hmac_sha256_key key; /* the day's signing key, absorbed */
} cache_slot;

struct ossfast_v4_cache {
    unsigned char lock; /* GCC __atomic_test_and_set flag */
    unsigned next;      /* round-robin victim */
    cache_slot slot[CACHE_SLOTS];
};

ossfast_v4_cache *ossfast_v4_cache_new(void)
{
    return (ossfast_v4_cache *)calloc(1, sizeof(ossfast_v4_cache));
}

void ossfast_v4_cache_free(ossfast_v4_cache *cache)
{
    if (!cache)
        return;
    ossfast_wipe(cache, sizeof *cache);
    free(cache);
}

static void cache_lock(ossfast_v4_cache *c)
{
    while (__atomic_test_and_set(&c->lock, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&c->lock, __ATOMIC_RELAXED)) {
#if OSSFAST_X86
            __builtin_ia32_pause();
#endif
        }
    }
}

static void cache_unlock(ossfast_v4_cache *c)
{
    __atomic_clear(&c->lock, __ATOMIC_RELEASE);
}

/* Equality that takes the same time wherever the first difference is. */
static int same_bytes(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    size_t i;
    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static int slot_matches(const cache_slot *s, const char *secret, size_t secret_len,
                        const char *day8, const char *region, size_t region_len,
                        const char *product, size_t product_len)
{
    return s->used && s->secret_len == secret_len && s->region_len == region_len &&
           s->product_len == product_len && memcmp(s->day, day8, 8) == 0 &&
           (region_len == 0 || memcmp(s->region, region, region_len) == 0) &&
           (product_len == 0 || memcmp(s->product, product, product_len) == 0) &&
           same_bytes(s->secret, secret, secret_len);
}

/* 0, or OSSFAST_ESPACE when the key could not be derived (out of memory for
   a long secret): *out is then not a key and must not be used. */
static int cached_key(ossfast_v4_cache *c, const char *secret, size_t secret_len,
                      const char *day8, const char *region, size_t region_len,
                      const char *product, size_t product_len,
                      ossfast_hmac_sha256_key *out)
{
    int cacheable = c && secret_len <= CACHE_SECRET_MAX && region_len <= CACHE_REGION_MAX &&
                    product_len <= CACHE_PRODUCT_MAX;
    unsigned char key[32];
    unsigned i;
    if (cacheable) {
        cache_lock(c);
        for (i = 0; i < CACHE_SLOTS; i++) {
            const cache_slot *s = &c->slot[i];
            if (slot_matches(s, secret, secret_len, day8, region, region_len, product, product_len)) {
                *out = s->key;
                cache_unlock(c);
                return 0;
            }
        }
        cache_unlock(c);
    }
    /* Four HMACs: done outside the lock. */
    if (ossfast_v4_signing_key(secret, secret_len, day8, region, region_len, product, product_len,
                               key) < 0)
        return OSSFAST_ESPACE;
    ossfast_hmac_sha256_key_init(out, (const char *)key, sizeof key);
    ossfast_wipe(key, sizeof key);
    if (cacheable) {
        cache_slot *s;
        cache_lock(c);
        s = &c->slot[c->next];
        c->next = (c->next + 1) % CACHE_SLOTS;
        s->used = 1;
        s->secret_len = secret_len;
        s->region_len = region_len;
        s->product_len = product_len;
        ossfast_wipe(s->secret, sizeof s->secret);
        ossfast_put(s->secret, secret, secret_len);
        memcpy(s->day, day8, 8);
        ossfast_put(s->region, region, region_len);
        ossfast_put(s->product, product, product_len);
        s->key = *out;
        cache_unlock(c);
    }
    return 0;
}

int ossfast_v4_sign_parts(ossfast_v4_cache *cache,
                          const char *secret, size_t secret_len,
                          const char *method, size_t method_len,
                          const char *uri, size_t uri_len,
                          const char *query, size_t query_len,
                          const ossfast_sign_hdr *own, size_t n_own, size_t own_lines,
                          const char *headers, size_t headers_len,
                          const char *additional, size_t additional_len,
                          const char *region, size_t region_len,
                          const char *product, size_t product_len,
                          char *out64)
{
    char stack[512];
    char hex[64];
    unsigned char mac[32];
    ossfast_hmac_sha256_key key;
    sign_hdrs hs;
    fold_buf fold;
    const char *date;
    size_t n;
    char *sts;
    int rc = fold_init(&fold, headers_len);
    if (rc < 0)
        return rc;
    rc = parse_parts(own, n_own, own_lines, headers, headers_len, MODE_V4, additional, additional_len,
                     fold.buf, &hs);
    if (rc < 0)
        goto done;
    date = v4_date(&hs);
    if (!date) {
        rc = OSSFAST_EINVAL;
        goto done;
    }
    rc = v4_cr_hash(&hs, method, method_len, uri, uri_len, query, query_len,
                    additional, additional_len, hex);
    if (rc < 0)
        goto done;
    sts = text_buf(stack, sizeof stack, v4_sts_length(region_len, product_len));
    if (!sts) {
        rc = OSSFAST_ESPACE;
        goto done;
    }
    n = v4_sts_write(date, region, region_len, product, product_len, hex, sts);
    rc = cached_key(cache, secret, secret_len, date, region, region_len, product, product_len, &key);
    if (rc < 0) {
        text_free(sts, stack);
        goto done;
    }
    ossfast_hmac_sha256_with(&key, sts, n, mac);
    text_free(sts, stack);
    ossfast_wipe(&key, sizeof key);
    rc = (int)ossfast_hex_encode(mac, sizeof mac, out64);
done:
    fold_done(&fold);
    return rc;
}

int ossfast_v4_sign(ossfast_v4_cache *cache,
                    const char *secret, size_t secret_len,
                    const char *method, size_t method_len,
                    const char *uri, size_t uri_len,
                    const char *query, size_t query_len,
                    const char *headers, size_t headers_len,
                    const char *additional, size_t additional_len,
                    const char *region, size_t region_len,
                    const char *product, size_t product_len,
                    char *out64)
{
    return ossfast_v4_sign_parts(cache, secret, secret_len, method, method_len, uri, uri_len, query,
                                 query_len, NULL, 0, 0, headers, headers_len, additional,
                                 additional_len, region, region_len, product, product_len, out64);
}
