/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 and base64url (RFC 4648) for untrusted input (see obo_b64.h).
 * Decoders are strict on purpose: a token has exactly one valid encoding, so
 * two different strings can never verify as the same signed bytes. */
#include "obo_b64.h"

#include <string.h>

static const char obo_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char obo_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Sextet value of each byte among the 62 letters and digits both alphabets
 * share, or -1: a table rather than range tests, since a token's characters
 * are random enough to defeat the branch predictor (the decode was a visible
 * share of a full validation). tests/unit/test_b64 checks every byte. */
static const signed char obo_b64_common[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* The two characters the alphabets differ in (62 and 63) are rare: a test
 * each, in one place. */
static int obo_b64_val(unsigned char c, int url)
{
    const char *alpha = url ? obo_b64_url : obo_b64_std;
    int v = obo_b64_common[c];

    if (v < 0) {
        v = c == (unsigned char)alpha[62] ? 62 : c == (unsigned char)alpha[63] ? 63 : -1;
    }
    return v;
}

static char *obo_b64_enc(apr_pool_t *p, const unsigned char *in, apr_size_t len,
                         const char *alpha, int pad)
{
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    char *o = out;
    apr_size_t i = 0;

    for (; i + 2 < len; i += 3) {
        *o++ = alpha[in[i] >> 2];
        *o++ = alpha[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = alpha[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
        *o++ = alpha[in[i + 2] & 0x3f];
    }
    if (len - i == 1) {
        *o++ = alpha[in[i] >> 2];
        *o++ = alpha[(in[i] & 0x03) << 4];
        if (pad) {
            *o++ = '=';
            *o++ = '=';
        }
    }
    else if (len - i == 2) {
        *o++ = alpha[in[i] >> 2];
        *o++ = alpha[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = alpha[(in[i + 1] & 0x0f) << 2];
        if (pad) {
            *o++ = '=';
        }
    }
    *o = '\0';
    return out;
}

/* Decodes unpadded data. Rejects len % 4 == 1 (cannot encode whole bytes)
 * and non-zero unused bits in the last sextet (non-canonical encodings). */
static apr_status_t obo_b64_dec(apr_pool_t *p, const char *in, apr_size_t len, int url,
                                unsigned char **out, apr_size_t *outlen)
{
    apr_status_t rv = APR_SUCCESS;
    unsigned char *buf = NULL;
    apr_size_t n = 0, i;
    apr_uint32_t acc = 0;
    int v = 0, bits = 0;

    if (len % 4 == 1) {
        rv = APR_EINVAL;
    }
    else {
        buf = apr_palloc(p, len / 4 * 3 + 3);
    }
    for (i = 0; rv == APR_SUCCESS && i < len; i++) {
        v = obo_b64_val((unsigned char)in[i], url);
        if (v < 0) {
            rv = APR_EINVAL;
            break;
        }
        acc = (acc << 6) | (apr_uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (rv == APR_SUCCESS && acc != 0) {
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        buf[n] = '\0';
        *out = buf;
        *outlen = n;
    }
    return rv;
}

apr_status_t obo_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                               unsigned char **out, apr_size_t *outlen)
{
    return obo_b64_dec(p, in, inlen, 1, out, outlen);
}

char *obo_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    return obo_b64_enc(p, in, len, obo_b64_url, 0);
}

char *obo_b64_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    return obo_b64_enc(p, in, len, obo_b64_std, 1);
}

apr_status_t obo_b64_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                            unsigned char **out, apr_size_t *outlen)
{
    apr_status_t rv = APR_EINVAL;
    apr_size_t pad = 0;

    while (pad < 2 && pad < inlen && in[inlen - 1 - pad] == '=') {
        pad++;
    }
    /* Padding, when present, must complete the last quantum exactly. */
    if (pad == 0 || inlen % 4 == 0) {
        rv = obo_b64_dec(p, in, inlen - pad, 0, out, outlen);
    }
    return rv;
}
