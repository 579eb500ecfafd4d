/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Keys (RFC 7517/7518/8037) to OpenSSL keys. Only public keys of
 * kty RSA, EC (P-256/384/521) and OKP (Ed25519/Ed448) are accepted. */
#ifndef OBO_JWK_H
#define OBO_JWK_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include <openssl/evp.h>

#define OBO_JWK_VERIFY_SLOTS 10    /* one per algorithm of obo_jws.c */

typedef struct obo_jwk {
    const char *kid;     /* may be NULL */
    const char *kty;     /* "RSA", "EC", "OKP" */
    const char *alg;     /* optional "alg" member, may be NULL */
    const char *crv;     /* EC/OKP curve, NULL for RSA */
    int rsa_bits;        /* modulus size for RSA, 0 otherwise */
    EVP_PKEY *pkey;      /* freed by a cleanup on the pool it was parsed in */
    /* Verification contexts set up once per algorithm (obo_jws.c), copied
     * for each verify: no method fetch per request. Created on first use
     * (atomically), freed with the key. Never modified once published. */
    EVP_MD_CTX *verify_tmpl[OBO_JWK_VERIFY_SLOTS];
} obo_jwk;

typedef struct obo_jwks {
    apr_array_header_t *keys;   /* of obo_jwk * */
} obo_jwks;

/* One JWK object to a key. Rejects private members (d, p, q...), "oct" keys,
 * RSA moduli under 2048 bits, EC points not on the curve, use other than
 * "sig". APR_SUCCESS, APR_ENOTIMPL (unsupported kty/crv: skip it) or
 * APR_EINVAL with *err. */
apr_status_t obo_jwk_parse(apr_pool_t *p, const json_t *jwk, obo_jwk **out,
                           const char **err);

/* A JWKS document {"keys":[...]}: unusable keys are skipped (and counted in
 * *skipped if non-NULL); a document with no usable key is APR_EINVAL.
 * Bounded: at most 64 keys, input at most 256 KiB. */
apr_status_t obo_jwks_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                            obo_jwks **out, int *skipped, const char **err);

/* Keys that can verify alg: kid equal (if kid non-NULL), kty/curve/size
 * compatible with alg, and the JWK's own "alg" equal to alg if it has one.
 * Appends to out (array of obo_jwk *). */
void obo_jwks_select(const obo_jwks *set, const char *kid, const char *alg,
                     apr_array_header_t *out);

#define OBO_PEM_MAX (64 * 1024)          /* a private key file */

/* Parses a PEM private key (PKCS#8 or traditional; never an encrypted one:
 * no passphrase prompt) of at most OBO_PEM_MAX bytes and ties it to p. */
apr_status_t obo_pkey_from_pem(apr_pool_t *p, const char *pem, apr_size_t len,
                               EVP_PKEY **out, const char **err);

/* Ties an EVP_PKEY to p (EVP_PKEY_free on cleanup). Returns k. */
EVP_PKEY *obo_pkey_pool(apr_pool_t *p, EVP_PKEY *k);

#endif
