/*
 * One pass over a list of buffers: CRC-64/XZ, and MD5 when asked.
 *
 * With MD5, each buffer is walked in blocks small enough to stay in L1: the
 * CRC pulls a block into cache and MD5 then reads it from there, so the two
 * checksums cost one trip through memory. MD5 (about 5 cycles a byte) sets
 * the pace; the CRC (a fraction of a cycle a byte) rides along.
 */
#include "ossfast.h"
#include "internal.h"

#define DIGEST_BLOCK (8 * 1024)

uint64_t ossfast_digest(const ossfast_buf *bufs, size_t n, uint64_t crc, ossfast_md5_ctx *md5)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const char *p = bufs[i].ptr;
        size_t len = bufs[i].len;

        if (len == 0)
            continue;
        if (!md5) {
            crc = ossfast_crc64(crc, p, len);
            continue;
        }
        while (len) {
            size_t take = len < DIGEST_BLOCK ? len : DIGEST_BLOCK;
            crc = ossfast_crc64(crc, p, take);
            ossfast_md5_update(md5, p, take);
            p += take;
            len -= take;
        }
    }
    return crc;
}
