/* SPDX-License-Identifier: Apache-2.0 */
/* obo_crypto: known-answer vectors (NIST SHA-256, RFC 5869 HKDF) and the
 * AEAD envelope's refusal of every kind of tampering. */
#include "tap.h"
#include "obo_crypto.h"
#include "obo_b64.h"
#include "testkeys.h"

#include <apr_strings.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static char *hex(apr_pool_t *p, const unsigned char *b, apr_size_t n)
{
    char *s = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        apr_snprintf(s + 2 * i, 3, "%02x", b[i]);
    }
    s[2 * n] = '\0';
    return s;
}

static void test_sha256(apr_pool_t *p)
{
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char md[OBO_SHA256_LEN];

    is_str(obo_sha256_hex(p, "abc", 3),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "SHA-256(\"abc\") (FIPS 180-2 one-block)");
    is_str(obo_sha256_hex(p, "", 0),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "SHA-256 of the empty string");
    is_str(obo_sha256_hex(p, two, strlen(two)),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "SHA-256 two-block message");
    obo_sha256("abc", 3, md);
    is_str(hex(p, md, sizeof(md)),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "raw obo_sha256 matches the hex form");
}

static void test_hkdf(apr_pool_t *p)
{
    unsigned char ikm[22], salt[13], out[42];
    char info[11];
    int i;

    memset(ikm, 0x0b, sizeof(ikm));
    for (i = 0; i < 13; i++) {
        salt[i] = (unsigned char)i;
    }
    for (i = 0; i < 10; i++) {
        info[i] = (char)(0xf0 + i);
    }
    info[10] = '\0';
    is_int(obo_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, out, sizeof(out)),
           APR_SUCCESS, "HKDF derive succeeds");
    is_str(hex(p, out, sizeof(out)),
           "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
           "5db02d56ecc4c5bf34007208d5b887185865", "RFC 5869 test case 1");
    is_int(obo_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, out, sizeof(out)),
           APR_SUCCESS, "HKDF without salt and info succeeds");
    is_str(hex(p, out, sizeof(out)),
           "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879e"
           "c3454e5f3c738d2d9d201395faa4b61a96c8", "RFC 5869 test case 3 (empty salt/info)");
}

static void key_of(unsigned char key[OBO_AEAD_KEY_LEN], unsigned char seed)
{
    memset(key, seed, OBO_AEAD_KEY_LEN);
}

static void test_aead_roundtrip(apr_pool_t *p)
{
    unsigned char key[OBO_AEAD_KEY_LEN], *sealed, *sealed2, *pt;
    apr_size_t slen, slen2, ptlen;
    const char *msg = "eyJhbGciOi.downstream.token";

    key_of(key, 7);
    is_int(obo_aead_seal(p, key, "aad", 3, msg, strlen(msg), &sealed, &slen), APR_SUCCESS,
           "seal succeeds");
    is_int(slen, strlen(msg) + 1 + 12 + 16, "sealed = version + nonce + ct + tag");
    is_int(sealed[0], 1, "version byte is 0x01");
    is_int(obo_aead_open(p, key, "aad", 3, sealed, slen, &pt, &ptlen), APR_SUCCESS,
           "open succeeds");
    ok(ptlen == strlen(msg) && memcmp(pt, msg, ptlen) == 0, "round trip preserves bytes");
    is_int(pt[ptlen], 0, "plaintext is NUL-terminated");
    obo_aead_seal(p, key, "aad", 3, msg, strlen(msg), &sealed2, &slen2);
    ok(slen == slen2 && memcmp(sealed + 1, sealed2 + 1, 12) != 0,
       "two seals of one message use different nonces");
    is_int(obo_aead_seal(p, key, NULL, 0, "", 0, &sealed, &slen), APR_SUCCESS,
           "empty plaintext without aad seals");
    is_int(obo_aead_open(p, key, NULL, 0, sealed, slen, &pt, &ptlen), APR_SUCCESS,
           "empty plaintext opens");
    is_int(ptlen, 0, "empty plaintext round trips");
}

static void test_aead_tamper(apr_pool_t *p)
{
    unsigned char key[OBO_AEAD_KEY_LEN], other[OBO_AEAD_KEY_LEN], *sealed, *copy, *pt;
    apr_size_t slen, ptlen, i;
    const char *msg = "secret downstream token";
    int all_fail = 1;

    key_of(key, 1);
    key_of(other, 2);
    obo_aead_seal(p, key, "k1", 2, msg, strlen(msg), &sealed, &slen);
    copy = apr_pmemdup(p, sealed, slen);
    /* Every byte belongs to version, nonce, ciphertext or tag: flip each. */
    for (i = 0; i < slen; i++) {
        copy[i] ^= 0x01;
        if (obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen) != APR_EINVAL) {
            all_fail = 0;
        }
        copy[i] ^= 0x01;
    }
    ok(all_fail, "flipping any single bit (version/nonce/ciphertext/tag) fails");
    copy[0] = 0x02;
    is_int(obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen), APR_EINVAL,
           "unknown version fails");
    copy[0] = sealed[0];
    copy[3] ^= 0x80;
    is_int(obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen), APR_EINVAL,
           "tampered nonce fails");
    copy[3] = sealed[3];
    copy[1 + 12 + 2] ^= 0x80;
    is_int(obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen), APR_EINVAL,
           "tampered ciphertext fails");
    copy[1 + 12 + 2] = sealed[1 + 12 + 2];
    copy[slen - 1] ^= 0x80;
    is_int(obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen), APR_EINVAL,
           "tampered tag fails");
    copy[slen - 1] = sealed[slen - 1];
    is_int(obo_aead_open(p, key, "k1", 2, copy, slen, &pt, &ptlen), APR_SUCCESS,
           "restored copy opens again");
    is_int(obo_aead_open(p, key, "k2", 2, sealed, slen, &pt, &ptlen), APR_EINVAL,
           "wrong aad fails");
    is_int(obo_aead_open(p, key, NULL, 0, sealed, slen, &pt, &ptlen), APR_EINVAL,
           "missing aad fails");
    is_int(obo_aead_open(p, other, "k1", 2, sealed, slen, &pt, &ptlen), APR_EINVAL,
           "wrong key fails");
    is_int(obo_aead_open(p, key, "k1", 2, sealed, slen - 1, &pt, &ptlen), APR_EINVAL,
           "truncated by one byte fails");
    is_int(obo_aead_open(p, key, "k1", 2, sealed, 28, &pt, &ptlen), APR_EINVAL,
           "shorter than the envelope fails");
    is_int(obo_aead_open(p, key, "k1", 2, sealed, 0, &pt, &ptlen), APR_EINVAL,
           "empty input fails");
}

/* What a buffer holds when its pool goes, seen from a cleanup registered
 * before the code under test registers its own: cleanups run in reverse
 * order, so this one runs after the wipe and before the memory is freed. */
typedef struct wipe_probe {
    const unsigned char *buf;
    apr_size_t len;
    int ran, wiped;
} wipe_probe;

static apr_status_t probe_cleanup(void *data)
{
    wipe_probe *w = data;
    apr_size_t i;

    w->ran = 1;
    w->wiped = w->buf != NULL && w->len > 0;
    for (i = 0; w->buf && i < w->len; i++) {
        w->wiped &= w->buf[i] == 0;
    }
    return APR_SUCCESS;
}

static void test_wipe_on_clear(apr_pool_t *p)
{
    unsigned char key[OBO_AEAD_KEY_LEN], *sealed, *pt = NULL;
    apr_size_t slen, ptlen = 0;
    const char *msg = "{\"access_token\":\"eyJ.downstream.token\"}";
    wipe_probe w = { NULL, 0, 0, 0 }, control = { NULL, 0, 0, 0 };
    apr_pool_t *sub;
    char *buf;

    /* The probe can see bytes that stay: a buffer nobody wipes. */
    apr_pool_create(&sub, p);
    apr_pool_cleanup_register(sub, &control, probe_cleanup, apr_pool_cleanup_null);
    buf = apr_pstrdup(sub, "client-secret-value");
    control.buf = (const unsigned char *)buf;
    control.len = strlen(buf);
    apr_pool_destroy(sub);
    ok(control.ran && !control.wiped, "control: an unregistered buffer keeps its bytes");

    apr_pool_create(&sub, p);
    apr_pool_cleanup_register(sub, &w, probe_cleanup, apr_pool_cleanup_null);
    buf = apr_pstrdup(sub, "client-secret-value");
    obo_cleanse_on_clear(sub, buf, strlen(buf));
    w.buf = (const unsigned char *)buf;
    w.len = strlen(buf);
    apr_pool_clear(sub);
    ok(w.ran && w.wiped, "obo_cleanse_on_clear wipes the buffer when the pool is cleared");
    apr_pool_destroy(sub);

    key_of(key, 9);
    obo_aead_seal(p, key, "k", 1, msg, strlen(msg), &sealed, &slen);
    memset(&w, 0, sizeof(w));
    apr_pool_create(&sub, p);
    apr_pool_cleanup_register(sub, &w, probe_cleanup, apr_pool_cleanup_null);
    is_int(obo_aead_open(sub, key, "k", 1, sealed, slen, &pt, &ptlen), APR_SUCCESS,
           "sealed token opens");
    ok(pt && ptlen == strlen(msg) && memcmp(pt, msg, ptlen) == 0, "to the plaintext");
    w.buf = pt;
    w.len = ptlen + 1;
    apr_pool_destroy(sub);
    ok(w.ran && w.wiped, "the AEAD plaintext is wiped when its pool is destroyed");
}

static void test_fingerprint(apr_pool_t *p)
{
    const char *fp = obo_fingerprint(p, "abc", 3);
    int i, hexok = 1;

    is_str(fp, "sha256:ba7816bf8f01", "fingerprint is sha256: + 12 hex digits");
    is_int(strlen(obo_fingerprint(p, "", 0)), 19, "fingerprint of empty has fixed length");
    for (i = 7; fp[i]; i++) {
        hexok &= (fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f');
    }
    ok(hexok, "fingerprint digits are lower-case hex");
    ok(strstr(obo_fingerprint(p, "supersecret", 11), "supersecret") == NULL,
       "fingerprint does not contain the secret");
}

static void test_ct_equal(apr_pool_t *p)
{
    (void)p;
    is_int(obo_ct_equal("abc", 3, "abc", 3), 1, "equal buffers");
    is_int(obo_ct_equal("abc", 3, "abd", 3), 0, "different last byte");
    is_int(obo_ct_equal("abc", 3, "abcd", 4), 0, "different lengths");
    is_int(obo_ct_equal("", 0, "", 0), 1, "two empty buffers are equal");
}

static void test_random(apr_pool_t *p)
{
    unsigned char a[32], b[32];

    (void)p;
    is_int(obo_random(a, sizeof(a)), APR_SUCCESS, "random succeeds");
    obo_random(b, sizeof(b));
    ok(memcmp(a, b, sizeof(a)) != 0, "two random draws differ");
}

/* A self-signed certificate of key k, as PEM text. */
static char *cert_pem(apr_pool_t *p, EVP_PKEY *k, X509 **out)
{
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *pem;
    long n;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"client", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, k, EVP_sha256());
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &data);
    pem = apr_pstrndup(p, data, (apr_size_t)n);
    BIO_free(b);
    *out = x;
    return pem;
}

/* RFC 8705 x5t#S256: the SHA-256 of the certificate's DER, taken from the
 * PEM text without an X.509 parse, must equal OpenSSL's own encoding's. */
static void test_x509_thumbprint(apr_pool_t *p)
{
    X509 *x = NULL;
    char *pem = cert_pem(p, tk_gen(p, "EC", "P-256"), &x);
    unsigned char *der = NULL, h[OBO_SHA256_LEN];
    int dlen = i2d_X509(x, &der);
    const char *got = NULL, *want;
    char *bad;

    obo_sha256(der, (apr_size_t)dlen, h);
    want = obo_b64url_encode(p, h, sizeof(h));
    ok(obo_x509_thumbprint(p, pem, &got) == APR_SUCCESS && got && strcmp(got, want) == 0,
       "the thumbprint of the PEM is the SHA-256 of OpenSSL's DER");
    ok(obo_x509_thumbprint(p, apr_pstrcat(p, pem, pem, NULL), &got) == APR_SUCCESS
       && strcmp(got, want) == 0, "a chain: the first certificate's");
    is_int(obo_x509_thumbprint(p, "not a certificate", &got), APR_EINVAL, "no armour: refused");
    bad = apr_pstrdup(p, pem);
    bad[strlen("-----BEGIN CERTIFICATE-----\n") + 10] = '*';
    is_int(obo_x509_thumbprint(p, bad, &got), APR_EINVAL, "a bad base64 character: refused");
    is_int(obo_x509_thumbprint(p, "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n"
                                  "-----END CERTIFICATE-----\n", &got), APR_SUCCESS,
           "one complete DER sequence (30 03 02 01 01) is hashed");
    is_int(obo_x509_thumbprint(p, "-----BEGIN CERTIFICATE-----\nMAMCAQEA\n"
                                  "-----END CERTIFICATE-----\n", &got), APR_EINVAL,
           "trailing bytes after the sequence: refused");
    is_int(obo_x509_thumbprint(p, "-----BEGIN CERTIFICATE-----\nMAUCAQE=\n"
                                  "-----END CERTIFICATE-----\n", &got), APR_EINVAL,
           "a sequence longer than the bytes: refused");
    OPENSSL_free(der);
    X509_free(x);
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_sha256);
    TAP_RUN(test_hkdf);
    TAP_RUN(test_aead_roundtrip);
    TAP_RUN(test_aead_tamper);
    TAP_RUN(test_fingerprint);
    TAP_RUN(test_ct_equal);
    TAP_RUN(test_random);
    TAP_RUN(test_wipe_on_clear);
    TAP_RUN(test_x509_thumbprint);
    apr_terminate();
    return tap_done();
}
