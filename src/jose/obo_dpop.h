/* SPDX-License-Identifier: Apache-2.0 */
/* DPoP proofs at a resource server (RFC 9449 s.4.3) and the JWK
 * thumbprints (RFC 7638) that bind a token to a proof's key. */
#ifndef OBO_DPOP_H
#define OBO_DPOP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#define OBO_DPOP_JTI_MAX 256      /* bytes: a replay entry is keyed by it */
#define OBO_DPOP_KEY_SLOTS 64     /* proof keys a process keeps parsed */

/* The public keys of recent proofs, parsed once: a client signs every
 * proof with one key, and turning a JWK into an OpenSSL key costs more than
 * the signature check itself. Keyed by a hash of the whole jwk member as
 * sent (never by its thumbprint alone, which ignores the other members);
 * thread-safe; a key in use is never freed. */
typedef struct obo_dpop_keys obo_dpop_keys;

/* A cache of OBO_DPOP_KEY_SLOTS keys living as long as p. */
apr_status_t obo_dpop_keys_create(apr_pool_t *p, obo_dpop_keys **out);
#define OBO_DPOP_PROOF_MAX 8192   /* bytes of the compact proof */

typedef struct obo_dpop_rules {
    const apr_array_header_t *algs;  /* const char *: allowed algorithms; NULL: every
                                      * asymmetric one this code verifies */
    const char *htm;                 /* the request's method */
    const char *htu;                 /* the request's URL (normalised here too) */
    const char *access_token;        /* ath must be its hash; NULL: no ath check */
    /* The token's cnf.jkt, compared with the proof key's thumbprint before
     * the key is parsed or the signature checked; NULL: the caller compares
     * obo_dpop_proof.jkt itself. */
    const char *jkt;
    obo_dpop_keys *keys;             /* parsed keys to reuse, or NULL */
    apr_int64_t now;                 /* seconds since the epoch */
    apr_int64_t window;              /* how old iat may be, seconds */
    apr_int64_t skew;                /* clock skew tolerated both ways, seconds */
} obo_dpop_rules;

typedef struct obo_dpop_proof {
    const char *jkt;                 /* RFC 7638 thumbprint of the proof's key, base64url */
    const char *jti;
    const char *nonce;               /* or NULL: checked by the caller */
    apr_int64_t iat;
} obo_dpop_proof;

/* Checks one proof (RFC 9449 s.4.3): typ dpop+jwt, an allowed asymmetric
 * alg, a public jwk header (no private member) that verifies the signature,
 * htm equal to rules->htm, htu equal to rules->htu after normalisation
 * (obo_dpop_htu_norm), iat within [now - window - skew, now + skew], a jti
 * of at most OBO_DPOP_JTI_MAX bytes, and ath = base64url(SHA-256(token))
 * when rules->access_token is set. APR_SUCCESS with *out (from p), or
 * APR_EINVAL with *err (short, never echoes the input). */
apr_status_t obo_dpop_verify(apr_pool_t *p, const char *proof, const obo_dpop_rules *rules,
                             obo_dpop_proof *out, const char **err);

/* An http(s) URL as htu compares (RFC 9449 s.4.3, RFC 3986 s.6.2.2-6.2.3):
 * no query or fragment, scheme and host in lower case, no default port
 * (80, 443), an empty path as "/", percent-encodings of unreserved
 * characters decoded and the others in upper case. APR_EINVAL for anything
 * that is not an absolute http or https URL with a host. */
apr_status_t obo_dpop_htu_norm(apr_pool_t *p, const char *url, const char **out);

/* RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: its required
 * members only (RSA e, kty, n; EC crv, kty, x, y; OKP crv, kty, x), in
 * lexicographic order, without whitespace. APR_EINVAL if one is missing or
 * not a string, or the kty is another. */
apr_status_t obo_jwk_thumbprint(apr_pool_t *p, const json_t *jwk, const char **out);

/* Server nonces (RFC 9449 s.8), stateless: the number of the period of
 * OBO_DPOP_NONCE_PERIOD seconds they were made in and an HMAC of it under
 * a key every server of a deployment derives from one secret, so that any
 * server accepts another's nonce and none keeps a list. A nonce is
 * accepted during the period it was made in and the next one (an
 * OBO_DPOP_NONCE_PERIOD to twice that), with `skew` seconds on either side
 * for the servers' clocks. */
#define OBO_DPOP_NONCE_PERIOD 300
#define OBO_DPOP_NONCE_KEY_LEN 32

/* The nonce of the period `now` falls in (base64url, 32 characters). */
const char *obo_dpop_nonce(apr_pool_t *p, const unsigned char key[OBO_DPOP_NONCE_KEY_LEN],
                           apr_int64_t now);

/* APR_SUCCESS if nonce is one of key's that is still accepted at `now`,
 * with *current 1 when it is the current period's (0: the client should be
 * handed the current one); APR_EINVAL otherwise (forged, of another key,
 * expired, from the future). */
apr_status_t obo_dpop_nonce_check(apr_pool_t *p,
                                  const unsigned char key[OBO_DPOP_NONCE_KEY_LEN],
                                  const char *nonce, apr_int64_t now, apr_int64_t skew,
                                  int *current);

#endif
