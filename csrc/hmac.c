/* STUB: replaced by the HMAC implementation. */
#include "ossfast.h"
#include "internal.h"
void ossfast_hmac_sha1(const char *key, size_t key_len, const char *msg, size_t msg_len, unsigned char *out20) { (void)key; (void)key_len; (void)msg; (void)msg_len; memset(out20, 0, 20); }
void ossfast_hmac_sha256(const char *key, size_t key_len, const char *msg, size_t msg_len, unsigned char *out32) { (void)key; (void)key_len; (void)msg; (void)msg_len; memset(out32, 0, 32); }
