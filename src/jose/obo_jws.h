/* SPDX-License-Identifier: Apache-2.0 */
/* Compact JWS (RFC 7515) parsing, verification and signing, following
 * RFC 8725: the caller supplies the algorithm allow-list and the keys; the
 * header can never introduce a key (jku/jwk/x5u/x5c are ignored) and "none"
 * or HMAC algorithms are never accepted. */
#ifndef OBO_JWS_H
#define OBO_JWS_H

#include <apr_pools.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "obo_jwk.h"

#define OBO_JWT_MAX_LEN 16384   /* compact token, bytes */

typedef struct obo_jws {
    const char *signing_input;   /* "<b64 header>.<b64 payload>" */
    apr_size_t signing_input_len;
    json_t *header;              /* object, tied to the parse pool */
    json_t *payload;             /* object, tied to the parse pool */
    const char *alg;             /* header "alg" */
    const char *kid;             /* header "kid" or NULL */
    const char *typ;             /* header "typ" or NULL */
    unsigned char *sig;
    apr_size_t siglen;
} obo_jws;

/* Asymmetric algorithms this code can verify: RS256/384/512, PS256/384/512,
 * ES256/384/512, EdDSA. Returns 1 if alg is one of them. */
int obo_jws_alg_known(const char *alg);

/* 1 if token has the shape of a compact JWS: three non-empty dot-separated
 * parts, the first starting as base64url of '{"' ("eyJ"). Only a shape
 * (OBOTokenFormat auto chooses local validation by it): nothing is decoded. */
int obo_jws_compact_shape(const char *token);

/* Splits and decodes a compact JWS: exactly three base64url parts (strict),
 * header and payload JSON objects (depth-limited), "alg" a string, a "crit"
 * header rejected (we implement no extensions), total length bounded by
 * OBO_JWT_MAX_LEN. APR_SUCCESS or APR_EINVAL with *err (short, no input). */
apr_status_t obo_jws_parse(apr_pool_t *p, const char *compact, apr_size_t len,
                           obo_jws **out, const char **err);

/* Verifies jws->sig with key under jws->alg. The algorithm must match the
 * key (RSA for RS/PS, the alg's curve for ES, OKP for EdDSA); ES signatures
 * are raw r||s of exactly the curve's size. APR_SUCCESS, or APR_EINVAL with
 * *err. Constant work regardless of where a mismatch is. */
apr_status_t obo_jws_verify(apr_pool_t *p, const obo_jws *jws, const obo_jwk *key,
                            const char **err);

/* Signs header and payload (JSON objects, serialised compactly) with key
 * under alg (RS256/PS256/ES256... as above). *compact allocated from p. */
apr_status_t obo_jws_sign(apr_pool_t *p, EVP_PKEY *key, const char *alg,
                          const json_t *header, const json_t *payload,
                          char **compact, const char **err);

#endif
