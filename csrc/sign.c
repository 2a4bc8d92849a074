/* STUB: replaced by the signers. */
#include "ossfast.h"
#include "internal.h"
int ossfast_v1_string_to_sign(const char *method, size_t method_len, const char *headers, size_t headers_len, const char *resource, size_t resource_len, char *out, size_t out_cap) { return OSSFAST_EINVAL; }
int ossfast_v1_sign(const char *secret, size_t secret_len, const char *method, size_t method_len, const char *headers, size_t headers_len, const char *resource, size_t resource_len, char *out28) { return OSSFAST_EINVAL; }
int ossfast_v4_canonical_request(const char *method, size_t method_len, const char *uri, size_t uri_len, const char *query, size_t query_len, const char *headers, size_t headers_len, const char *additional, size_t additional_len, char *out, size_t out_cap) { return OSSFAST_EINVAL; }
int ossfast_v4_string_to_sign(const char *method, size_t method_len, const char *uri, size_t uri_len, const char *query, size_t query_len, const char *headers, size_t headers_len, const char *additional, size_t additional_len, const char *region, size_t region_len, const char *product, size_t product_len, char *out, size_t out_cap) { return OSSFAST_EINVAL; }
int ossfast_v4_signing_key(const char *secret, size_t secret_len, const char *day8, const char *region, size_t region_len, const char *product, size_t product_len, unsigned char *out32) { return OSSFAST_EINVAL; }
ossfast_v4_cache *ossfast_v4_cache_new(void) { return NULL; }
void ossfast_v4_cache_free(ossfast_v4_cache *cache) { (void)cache; }
int ossfast_v4_sign(ossfast_v4_cache *cache, const char *secret, size_t secret_len, const char *method, size_t method_len, const char *uri, size_t uri_len, const char *query, size_t query_len, const char *headers, size_t headers_len, const char *additional, size_t additional_len, const char *region, size_t region_len, const char *product, size_t product_len, char *out64) { return OSSFAST_EINVAL; }
