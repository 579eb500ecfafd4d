/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing, key derivation and AES-256-GCM on OpenSSL 3 (see obo_crypto.h).
 * Every failure path is reported as a status, never logged here: callers
 * know what the bytes were and decide whether that is worth a log line. */
#include "obo_crypto.h"
#include "obo_b64.h"

#include <string.h>
#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define OBO_AEAD_VERSION 0x01
#define OBO_AEAD_NONCE_LEN 12
#define OBO_AEAD_TAG_LEN 16
#define OBO_AEAD_OVERHEAD (1 + OBO_AEAD_NONCE_LEN + OBO_AEAD_TAG_LEN)
#define OBO_FINGERPRINT_HEX 12

/* SHA256() fetches the digest implementation by name on every call (a walk
 * of OpenSSL's method store under its lock, then a context allocation): on
 * the hit path that cost more than everything else the module does. The
 * digest is fetched once per process instead; two threads racing here
 * both fetch and one keeps its copy. Never freed: process lifetime. */
static EVP_MD *sha256_md;

static const EVP_MD *fetched_sha256(void)
{
    EVP_MD *md = __atomic_load_n(&sha256_md, __ATOMIC_ACQUIRE), *none = NULL;

    if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL
        && !__atomic_compare_exchange_n(&sha256_md, &none, md, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
        EVP_MD_free(md);
        md = none;
    }
    return md;
}

apr_status_t obo_hmac_sha256(const unsigned char *key, apr_size_t keylen, const void *data,
                             apr_size_t len, unsigned char out[OBO_SHA256_LEN])
{
    unsigned int outlen = 0;

    return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) != NULL
           && outlen == OBO_SHA256_LEN ? APR_SUCCESS : APR_EGENERAL;
}

void obo_sha256(const void *data, apr_size_t len, unsigned char out[OBO_SHA256_LEN])
{
    const EVP_MD *md = fetched_sha256();

    if (md == NULL || EVP_Digest(data, len, out, NULL, md, NULL) != 1) {
        SHA256(data, len, out);
    }
}

static void obo_hex(const unsigned char *in, apr_size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

char *obo_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len)
{
    unsigned char md[OBO_SHA256_LEN];
    char *hex = apr_palloc(p, 2 * OBO_SHA256_LEN + 1);

    obo_sha256(data, len, md);
    obo_hex(md, sizeof(md), hex);
    return hex;
}

char *obo_fingerprint(apr_pool_t *p, const char *secret, apr_size_t len)
{
    char *hex = obo_sha256_hex(p, secret ? secret : "", secret ? len : 0);

    hex[OBO_FINGERPRINT_HEX] = '\0';
    return apr_pstrcat(p, "sha256:", hex, NULL);
}

int obo_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen)
{
    /* Lengths are not secret here (token lengths are public); contents are. */
    if (alen != blen) {
        return 0;
    }
    if (alen == 0) {
        return 1;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}

apr_status_t obo_random(unsigned char *buf, apr_size_t len)
{
    if (len > (apr_size_t)0x7fffffff) {
        return APR_EINVAL;
    }
    return RAND_bytes(buf, (int)len) == 1 ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t obo_hkdf_sha256(const unsigned char *ikm, apr_size_t ikmlen,
                             const unsigned char *salt, apr_size_t saltlen,
                             const char *info, unsigned char *out, apr_size_t outlen)
{
    apr_status_t rv = APR_EGENERAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *pp = params;
    static const unsigned char empty = 0;

    /* OSSL_PARAM wants non-const pointers; the KDF only reads them. */
    *pp++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *pp++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                              (void *)(ikm ? ikm : &empty), ikmlen);
    if (salt && saltlen) {
        *pp++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                  (void *)salt, saltlen);
    }
    if (info && *info) {
        *pp++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  (void *)info, strlen(info));
    }
    *pp = OSSL_PARAM_construct_end();
    if (kctx && EVP_KDF_derive(kctx, out, outlen, params) == 1) {
        rv = APR_SUCCESS;
    }
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rv;
}

/* Common cipher setup for both directions: AES-256-GCM, 12-byte IV, key,
 * then the associated data. */
static int obo_gcm_init(EVP_CIPHER_CTX *ctx, int enc, const unsigned char *key,
                        const unsigned char *nonce, const void *aad, apr_size_t aadlen)
{
    int n;

    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, OBO_AEAD_NONCE_LEN, NULL) != 1
        || EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1) {
        return 0;
    }
    if (aadlen > (apr_size_t)0x7fffffff) {
        return 0;
    }
    if (aadlen && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) {
        return 0;
    }
    return 1;
}

typedef struct obo_wipe {
    void *buf;
    apr_size_t len;
} obo_wipe;

static apr_status_t obo_wipe_cleanup(void *data)
{
    obo_wipe *w = data;

    OPENSSL_cleanse(w->buf, w->len);
    return APR_SUCCESS;
}

void obo_cleanse_on_clear(apr_pool_t *p, void *buf, apr_size_t len)
{
    obo_wipe *w;

    if (buf && len) {
        w = apr_palloc(p, sizeof(*w));
        w->buf = buf;
        w->len = len;
        apr_pool_cleanup_register(p, w, obo_wipe_cleanup, apr_pool_cleanup_null);
    }
}

apr_status_t obo_aead_seal(apr_pool_t *p, const unsigned char key[OBO_AEAD_KEY_LEN],
                           const void *aad, apr_size_t aadlen,
                           const void *pt, apr_size_t ptlen,
                           unsigned char **out, apr_size_t *outlen)
{
    apr_status_t rv = APR_EGENERAL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf, *nonce, *ct;
    int n = 0, fin = 0;

    if (ptlen > (apr_size_t)0x7fffffff - OBO_AEAD_OVERHEAD) {
        return APR_EINVAL;
    }
    buf = apr_palloc(p, ptlen + OBO_AEAD_OVERHEAD);
    buf[0] = OBO_AEAD_VERSION;
    nonce = buf + 1;
    ct = nonce + OBO_AEAD_NONCE_LEN;
    if (obo_random(nonce, OBO_AEAD_NONCE_LEN) != APR_SUCCESS
        || !(ctx = EVP_CIPHER_CTX_new())
        || !obo_gcm_init(ctx, 1, key, nonce, aad, aadlen)
        || (ptlen && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1)
        || EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OBO_AEAD_TAG_LEN,
                               ct + ptlen) != 1) {
        goto done;
    }
    *out = buf;
    *outlen = ptlen + OBO_AEAD_OVERHEAD;
    rv = APR_SUCCESS;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

apr_status_t obo_aead_open(apr_pool_t *p, const unsigned char key[OBO_AEAD_KEY_LEN],
                           const void *aad, apr_size_t aadlen,
                           const unsigned char *in, apr_size_t inlen,
                           unsigned char **pt, apr_size_t *ptlen)
{
    apr_status_t rv = APR_EINVAL;
    EVP_CIPHER_CTX *ctx = NULL;
    const unsigned char *nonce, *ct, *tag;
    unsigned char *buf;
    apr_size_t ctlen;
    int n = 0, fin = 0;

    if (!in || inlen < OBO_AEAD_OVERHEAD || in[0] != OBO_AEAD_VERSION
        || inlen > (apr_size_t)0x7fffffff) {
        return APR_EINVAL;
    }
    nonce = in + 1;
    ct = nonce + OBO_AEAD_NONCE_LEN;
    ctlen = inlen - OBO_AEAD_OVERHEAD;
    tag = ct + ctlen;
    /* +1 so the plaintext is always NUL-terminated for string callers. It
     * is a cached token: wiped when p goes. */
    buf = apr_palloc(p, ctlen + 1);
    obo_cleanse_on_clear(p, buf, ctlen + 1);
    if (!(ctx = EVP_CIPHER_CTX_new())
        || !obo_gcm_init(ctx, 0, key, nonce, aad, aadlen)
        || (ctlen && EVP_DecryptUpdate(ctx, buf, &n, ct, (int)ctlen) != 1)
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, OBO_AEAD_TAG_LEN,
                               (void *)tag) != 1
        || EVP_DecryptFinal_ex(ctx, buf + n, &fin) != 1) {
        /* Wipe whatever was decrypted before the tag check failed. */
        OPENSSL_cleanse(buf, ctlen);
        goto done;
    }
    buf[ctlen] = '\0';
    *pt = buf;
    *ptlen = ctlen;
    rv = APR_SUCCESS;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_CERT_END "-----END CERTIFICATE-----"

/* 1 if der is one DER SEQUENCE filling exactly len bytes (a certificate's
 * outer shape: nothing before or after it). */
static int obo_der_one_sequence(const unsigned char *der, apr_size_t len)
{
    apr_size_t n, body = 0, i;

    if (len < 2 || der[0] != 0x30) {
        return 0;
    }
    if (der[1] < 0x80) {
        return (apr_size_t)der[1] + 2 == len;
    }
    n = der[1] & 0x7f;
    if (n == 0 || n > 4 || len < 2 + n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        body = (body << 8) | der[2 + i];
    }
    return body + 2 + n == len;
}

/* The certificate's DER straight from its PEM text: base64 between the
 * armour lines. No X.509 parse: decoding a certificate (its public key
 * through OpenSSL 3's decoders) cost more than the rest of a request with
 * a certificate-bound token. */
apr_status_t obo_x509_thumbprint(apr_pool_t *p, const char *pem, const char **out)
{
    const char *b = pem ? strstr(pem, PEM_CERT_BEGIN) : NULL, *e = NULL;
    unsigned char h[OBO_SHA256_LEN], *der = NULL;
    apr_size_t dlen = 0, n = 0;
    char *text = NULL;

    if (b && strlen(pem) <= 64 * 1024) {
        b += sizeof(PEM_CERT_BEGIN) - 1;
        e = strstr(b, PEM_CERT_END);
    }
    if (!e) {
        return APR_EINVAL;
    }
    text = apr_palloc(p, (apr_size_t)(e - b) + 1);
    for (; b < e; b++) {
        if (*b != '\n' && *b != '\r' && *b != ' ' && *b != '\t') {
            text[n++] = *b;
        }
    }
    text[n] = '\0';
    if (obo_b64_decode(p, text, n, &der, &dlen) != APR_SUCCESS
        || !obo_der_one_sequence(der, dlen)) {
        return APR_EINVAL;
    }
    obo_sha256(der, dlen, h);
    *out = obo_b64url_encode(p, h, sizeof(h));
    return APR_SUCCESS;
}
