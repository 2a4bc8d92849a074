/* Base64 (RFC 4648, standard alphabet, padded) and lowercase hex. */
#include "ossfast.h"
#include "internal.h"

static const char B64[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char HEX[16] = "0123456789abcdef";

size_t ossfast_base64_encode(const unsigned char *buf, size_t len, char *out)
{
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)buf[i] << 16) | ((uint32_t)buf[i + 1] << 8) | buf[i + 2];
        o[0] = B64[v >> 18];
        o[1] = B64[(v >> 12) & 63];
        o[2] = B64[(v >> 6) & 63];
        o[3] = B64[v & 63];
        o += 4;
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)buf[i] << 16;
        o[0] = B64[v >> 18];
        o[1] = B64[(v >> 12) & 63];
        o[2] = '=';
        o[3] = '=';
        o += 4;
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)buf[i] << 16) | ((uint32_t)buf[i + 1] << 8);
        o[0] = B64[v >> 18];
        o[1] = B64[(v >> 12) & 63];
        o[2] = B64[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - out);
}

size_t ossfast_hex_encode(const unsigned char *buf, size_t len, char *out)
{
    size_t i;
    for (i = 0; i < len; i++) {
        out[2 * i] = HEX[buf[i] >> 4];
        out[2 * i + 1] = HEX[buf[i] & 15];
    }
    return 2 * len;
}
