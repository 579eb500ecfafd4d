/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing, key derivation and authenticated encryption for the core. */
#ifndef OBO_CRYPTO_H
#define OBO_CRYPTO_H

#include <apr_pools.h>

#define OBO_SHA256_LEN 32
#define OBO_AEAD_KEY_LEN 32

void obo_sha256(const void *data, apr_size_t len, unsigned char out[OBO_SHA256_LEN]);
/* Lower-case hex SHA-256 of data, allocated from p. */
char *obo_sha256_hex(apr_pool_t *p, const void *data, apr_size_t len);
/* HMAC-SHA256 (RFC 2104) of data under key. APR_SUCCESS or APR_EGENERAL. */
apr_status_t obo_hmac_sha256(const unsigned char *key, apr_size_t keylen, const void *data,
                             apr_size_t len, unsigned char out[OBO_SHA256_LEN]);
/* Short, loggable fingerprint of a secret: "sha256:" + first 12 hex digits.
 * The only form in which a token, secret or key may appear in a log. */
char *obo_fingerprint(apr_pool_t *p, const char *secret, apr_size_t len);

/* Constant-time equality: 1 if equal (lengths included), else 0. */
int obo_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);

/* Wipes buf[0..len) (OPENSSL_cleanse) when p is cleared or destroyed, so
 * a secret or token does not linger in memory the pool hands out again.
 * Registered cleanups run in reverse order: one registered after this call
 * still sees the bytes. */
void obo_cleanse_on_clear(apr_pool_t *p, void *buf, apr_size_t len);

/* RFC 8705 s.3.1: the base64url SHA-256 of the DER of the first PEM
 * certificate in pem (at most 64 KiB), as a token's cnf "x5t#S256" names
 * its client certificate. APR_EINVAL if there is none. */
apr_status_t obo_x509_thumbprint(apr_pool_t *p, const char *pem, const char **out);

/* Cryptographically secure random bytes (RAND_bytes). */
apr_status_t obo_random(unsigned char *buf, apr_size_t len);

/* HKDF-SHA256 (RFC 5869). */
apr_status_t obo_hkdf_sha256(const unsigned char *ikm, apr_size_t ikmlen,
                             const unsigned char *salt, apr_size_t saltlen,
                             const char *info, unsigned char *out, apr_size_t outlen);

/* AES-256-GCM. Sealed format: 0x01 (version) || 12-byte random nonce ||
 * ciphertext || 16-byte tag; aad is authenticated, not stored.
 * obo_aead_open returns APR_EINVAL on any tamper, wrong key or wrong aad. */
apr_status_t obo_aead_seal(apr_pool_t *p, const unsigned char key[OBO_AEAD_KEY_LEN],
                           const void *aad, apr_size_t aadlen,
                           const void *pt, apr_size_t ptlen,
                           unsigned char **out, apr_size_t *outlen);
apr_status_t obo_aead_open(apr_pool_t *p, const unsigned char key[OBO_AEAD_KEY_LEN],
                           const void *aad, apr_size_t aadlen,
                           const unsigned char *in, apr_size_t inlen,
                           unsigned char **pt, apr_size_t *ptlen);

#endif
