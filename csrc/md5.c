/* STUB: replaced by the MD5 implementation. */
#include "ossfast.h"
#include "internal.h"
void ossfast_md5_blocks(uint32_t state[4], const unsigned char *p, size_t nblocks) { (void)state; (void)p; (void)nblocks; }
void ossfast_md5_init(ossfast_md5_ctx *ctx) { memset(ctx, 0, sizeof *ctx); }
void ossfast_md5_update(ossfast_md5_ctx *ctx, const char *buf, size_t len) { (void)ctx; (void)buf; (void)len; }
void ossfast_md5_final(ossfast_md5_ctx *ctx, unsigned char *out16) { (void)ctx; memset(out16, 0, 16); }
void ossfast_md5(const char *buf, size_t len, unsigned char *out16) { (void)buf; (void)len; memset(out16, 0, 16); }
