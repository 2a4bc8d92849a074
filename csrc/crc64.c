/* STUB: replaced by the CRC64 implementation. */
#include "ossfast.h"
#include "internal.h"
uint64_t ossfast_crc64(uint64_t crc, const char *buf, size_t len) { (void)buf; (void)len; return crc; }
uint64_t ossfast_crc64_table(uint64_t crc, const char *buf, size_t len) { (void)buf; (void)len; return crc; }
uint64_t ossfast_crc64_pclmul(uint64_t crc, const char *buf, size_t len) { (void)buf; (void)len; return crc; }
uint64_t ossfast_crc64_vpclmul(uint64_t crc, const char *buf, size_t len) { (void)buf; (void)len; return crc; }
uint64_t ossfast_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2) { (void)len2; return crc1 ^ crc2; }
