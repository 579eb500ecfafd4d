/* SPDX-License-Identifier: Apache-2.0 */
/* Test keys shared by the unit tests: freshly generated OpenSSL keys and
 * their public JWKs, so no test depends on key material checked in. */
#ifndef OBO_TESTKEYS_H
#define OBO_TESTKEYS_H

#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "obo_b64.h"
#include "obo_json.h"
#include "obo_jwk.h"

static inline EVP_PKEY *tk_gen(apr_pool_t *p, const char *kind, const char *arg)
{
    EVP_PKEY *k;

    if (strcmp(kind, "RSA") == 0) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)atoi(arg));
    }
    else if (strcmp(kind, "EC") == 0) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", arg);
    }
    else {
        k = EVP_PKEY_Q_keygen(NULL, NULL, kind);
    }
    return obo_pkey_pool(p, k);
}

static inline const char *tk_b64_bn(apr_pool_t *p, EVP_PKEY *k, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int n;
    const char *s = NULL;

    if (EVP_PKEY_get_bn_param(k, name, &bn) == 1) {
        n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
        s = obo_b64url_encode(p, buf, (apr_size_t)n);
    }
    BN_free(bn);
    return s;
}

/* JOSE curve name and coordinate size for an OpenSSL group name. */
static inline const char *tk_crv(EVP_PKEY *k, int *size)
{
    char g[64];
    size_t glen;
    const char *crv = NULL;

    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &glen);
    if (strcmp(g, "prime256v1") == 0) {
        crv = "P-256";
        *size = 32;
    }
    else if (strcmp(g, "secp384r1") == 0) {
        crv = "P-384";
        *size = 48;
    }
    else if (strcmp(g, "secp521r1") == 0) {
        crv = "P-521";
        *size = 66;
    }
    return crv;
}

/* Public JWK of k (json tied to p); kid may be NULL. */
static inline json_t *tk_jwk(apr_pool_t *p, EVP_PKEY *k, const char *kid)
{
    json_t *j = obo_json_pool(p, json_object());
    unsigned char raw[128];
    size_t rlen = sizeof(raw);
    int size = 0;

    if (EVP_PKEY_is_a(k, "RSA")) {
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", json_string(tk_b64_bn(p, k, OSSL_PKEY_PARAM_RSA_N, 0)));
        json_object_set_new(j, "e", json_string(tk_b64_bn(p, k, OSSL_PKEY_PARAM_RSA_E, 0)));
    }
    else if (EVP_PKEY_is_a(k, "EC")) {
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string(tk_crv(k, &size)));
        json_object_set_new(j, "x", json_string(tk_b64_bn(p, k, OSSL_PKEY_PARAM_EC_PUB_X,
                                                          size)));
        json_object_set_new(j, "y", json_string(tk_b64_bn(p, k, OSSL_PKEY_PARAM_EC_PUB_Y,
                                                          size)));
    }
    else {
        EVP_PKEY_get_raw_public_key(k, raw, &rlen);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string(EVP_PKEY_is_a(k, "ED25519")
                                                  ? "Ed25519" : "Ed448"));
        json_object_set_new(j, "x", json_string(obo_b64url_encode(p, raw, rlen)));
    }
    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }
    return j;
}

static inline obo_jwk *tk_pub(apr_pool_t *p, EVP_PKEY *k, const char *kid)
{
    obo_jwk *jwk = NULL;
    const char *err = NULL;

    obo_jwk_parse(p, tk_jwk(p, k, kid), &jwk, &err);
    return jwk;
}



#endif
