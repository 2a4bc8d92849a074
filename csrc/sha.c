/* STUB: replaced by the SHA implementation. */
#include "ossfast.h"
#include "internal.h"
void ossfast_sha1(const char *buf, size_t len, unsigned char *out20) { (void)buf; (void)len; memset(out20, 0, 20); }
void ossfast_sha256(const char *buf, size_t len, unsigned char *out32) { (void)buf; (void)len; memset(out32, 0, 32); }
