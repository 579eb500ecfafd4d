/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 (RFC 4648 s.4) and strict base64url (RFC 7515 s.2). */
#include <string.h>
#include <apr_general.h>
#include "tap.h"
#include "obo_b64.h"

static const struct { const char *raw, *std, *url; } vec[] = {
    /* RFC 4648 s.10 test vectors */
    { "", "", "" },
    { "f", "Zg==", "Zg" },
    { "fo", "Zm8=", "Zm8" },
    { "foo", "Zm9v", "Zm9v" },
    { "foob", "Zm9vYg==", "Zm9vYg" },
    { "fooba", "Zm9vYmE=", "Zm9vYmE" },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static int dec_url(apr_pool_t *p, const char *in, const char *want)
{
    unsigned char *out = NULL;
    apr_size_t len = 0;

    return obo_b64url_decode(p, in, strlen(in), &out, &len) == APR_SUCCESS
           && len == strlen(want) && memcmp(out, want, len) == 0 && out[len] == '\0';
}

static int dec_std(apr_pool_t *p, const char *in, const char *want)
{
    unsigned char *out = NULL;
    apr_size_t len = 0;

    return obo_b64_decode(p, in, strlen(in), &out, &len) == APR_SUCCESS
           && len == strlen(want) && memcmp(out, want, len) == 0 && out[len] == '\0';
}

static void test_rfc4648_vectors(apr_pool_t *p)
{
    apr_size_t i;

    for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        const unsigned char *raw = (const unsigned char *)vec[i].raw;
        is_str(obo_b64_encode(p, raw, strlen(vec[i].raw)), vec[i].std, "encode \"%s\"",
               vec[i].raw);
        is_str(obo_b64url_encode(p, raw, strlen(vec[i].raw)), vec[i].url,
               "url-encode \"%s\"", vec[i].raw);
        ok(dec_std(p, vec[i].std, vec[i].raw), "decode %s", vec[i].std);
        ok(dec_std(p, vec[i].url, vec[i].raw), "decode unpadded %s", vec[i].url);
        ok(dec_url(p, vec[i].url, vec[i].raw), "url-decode %s", vec[i].url);
    }
}

static void test_alphabets(apr_pool_t *p)
{
    static const unsigned char bin[] = { 0xfb, 0xff, 0xbf };
    unsigned char *out = NULL;
    apr_size_t len = 0;

    is_str(obo_b64_encode(p, bin, 3), "+/+/", "standard alphabet");
    is_str(obo_b64url_encode(p, bin, 3), "-_-_", "url alphabet");
    ok(obo_b64url_decode(p, "-_-_", 4, &out, &len) == APR_SUCCESS && len == 3
       && memcmp(out, bin, 3) == 0, "url-decode -_-_");
    ok(obo_b64_decode(p, "+/+/", 4, &out, &len) == APR_SUCCESS && len == 3
       && memcmp(out, bin, 3) == 0, "decode +/+/");
    is_int(obo_b64url_decode(p, "+/+/", 4, &out, &len), APR_EINVAL, "url rejects +/");
    is_int(obo_b64_decode(p, "-_-_", 4, &out, &len), APR_EINVAL, "std rejects -_");
}

static void test_url_strict(apr_pool_t *p)
{
    static const char *bad[] = {
        "Zg==", "Zg=", "Zm8=", "Z", "Zm9vY", "Zh", "Zm9", "Zm 9v", "Zm9v\n", " Zm9v",
        "Zm9v\t", "Zm.v", "Zm9v=", "Zm9\xc3\xa9",
    };
    unsigned char *out = NULL;
    apr_size_t i, len = 0;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(obo_b64url_decode(p, bad[i], strlen(bad[i]), &out, &len), APR_EINVAL,
               "url rejects bad input #%u", (unsigned)i);
    }
    is_int(obo_b64url_decode(p, "Zm9v\0Yg", 7, &out, &len), APR_EINVAL, "url rejects NUL");
    ok(dec_url(p, "Zg", "f") && !dec_url(p, "Zh", "f") && !dec_url(p, "Zm9=", "fo"),
       "only the canonical encoding of \"f\" decodes");
}

static void test_std_strict(apr_pool_t *p)
{
    static const char *bad[] = {
        "Zg=", "Zg===", "Z===", "=Zg=", "Zm9vYg=", "Zm9 v", "Zm9v\r\n", "Z", "Zh==",
        "Zm=9", "====",
    };
    unsigned char *out = NULL;
    apr_size_t i, len = 0;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(obo_b64_decode(p, bad[i], strlen(bad[i]), &out, &len), APR_EINVAL,
               "std rejects bad input #%u", (unsigned)i);
    }
    ok(dec_std(p, "Zm8", "fo") && dec_std(p, "Zm8=", "fo"), "padding optional");
}

static void test_roundtrip_all_bytes(apr_pool_t *p)
{
    unsigned char buf[256], *out = NULL;
    apr_size_t n, len = 0;
    int good = 1;

    for (n = 0; n < sizeof(buf); n++) {
        buf[n] = (unsigned char)(255 - n);
    }
    for (n = 0; n <= sizeof(buf) && good; n++) {
        char *e = obo_b64url_encode(p, buf, n);
        char *s = obo_b64_encode(p, buf, n);
        good = obo_b64url_decode(p, e, strlen(e), &out, &len) == APR_SUCCESS
               && len == n && memcmp(out, buf, n) == 0
               && obo_b64_decode(p, s, strlen(s), &out, &len) == APR_SUCCESS
               && len == n && memcmp(out, buf, n) == 0
               && strchr(e, '=') == NULL && strlen(s) % 4 == 0;
    }
    ok(good, "encode/decode round trip for lengths 0..256");
}

/* The decode tables against the alphabets, for every byte value: "AAA" + c
 * decodes iff c is in the alphabet, to its index in the last byte. */
static void test_every_byte(apr_pool_t *p)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int c, bad_std = 0, bad_url = 0;

    for (c = 1; c < 256; c++) {
        if (c == '=') {
            continue;   /* padding: "AAA=" is two bytes (test_rfc4648_vectors) */
        }
        char in[5] = { 'A', 'A', 'A', (char)c, 0 };
        unsigned char *out = NULL;
        apr_size_t len = 0;
        const char *s = strchr(std, c), *u = strchr(url, c);
        apr_status_t rs = obo_b64_decode(p, in, 4, &out, &len);

        bad_std += s ? rs != APR_SUCCESS || len != 3 || out[2] != (unsigned char)(s - std)
                     : rs == APR_SUCCESS;
        rs = obo_b64url_decode(p, in, 4, &out, &len);
        bad_url += u ? rs != APR_SUCCESS || len != 3 || out[2] != (unsigned char)(u - url)
                     : rs == APR_SUCCESS;
    }
    is_int(bad_std, 0, "standard alphabet: all 254 byte values but '=' decode as the alphabet says");
    is_int(bad_url, 0, "base64url alphabet: all 254 byte values but '=' decode as the alphabet says");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_rfc4648_vectors);
    TAP_RUN(test_alphabets);
    TAP_RUN(test_url_strict);
    TAP_RUN(test_std_strict);
    TAP_RUN(test_roundtrip_all_bytes);
    TAP_RUN(test_every_byte);
    apr_terminate();
    return tap_done();
}
