/* STUB: replaced by the encoders. */
#include "ossfast.h"
#include "internal.h"
size_t ossfast_base64_encode(const unsigned char *buf, size_t len, char *out) { (void)buf; (void)len; (void)out; return 0; }
size_t ossfast_hex_encode(const unsigned char *buf, size_t len, char *out) { (void)buf; (void)len; (void)out; return 0; }
