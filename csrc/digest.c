/* STUB: replaced by the one-pass digest. */
#include "ossfast.h"
#include "internal.h"
uint64_t ossfast_digest(const ossfast_buf *bufs, size_t n, uint64_t crc, ossfast_md5_ctx *md5) { (void)bufs; (void)n; (void)md5; return crc; }
