/* SPDX-License-Identifier: Apache-2.0 */
/* Compact JWS parsing, verification and signing (see obo_jws.h). The key's
 * real type (from the EVP_PKEY, not from JSON labels) must fit the alg, so a
 * token can never pick how its own signature is checked (RFC 8725 s.2.1). */
#include "obo_jws.h"
#include "obo_b64.h"
#include "obo_json.h"

#include <string.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define OBO_RSA_MIN_BITS 2048

typedef enum { OBO_KIND_RSA, OBO_KIND_PSS, OBO_KIND_EC, OBO_KIND_EDDSA } obo_alg_kind;

typedef struct {
    const char *name;
    obo_alg_kind kind;
    const char *md;      /* digest name, NULL for EdDSA (built in) */
    const char *group;   /* OpenSSL group name for ES* */
    apr_size_t csize;    /* ES* coordinate size: signature is 2 * csize */
} obo_alg;

static const obo_alg obo_algs[] = {
    { "RS256", OBO_KIND_RSA, "SHA256", NULL, 0 },
    { "RS384", OBO_KIND_RSA, "SHA384", NULL, 0 },
    { "RS512", OBO_KIND_RSA, "SHA512", NULL, 0 },
    { "PS256", OBO_KIND_PSS, "SHA256", NULL, 0 },
    { "PS384", OBO_KIND_PSS, "SHA384", NULL, 0 },
    { "PS512", OBO_KIND_PSS, "SHA512", NULL, 0 },
    { "ES256", OBO_KIND_EC, "SHA256", "prime256v1", 32 },
    { "ES384", OBO_KIND_EC, "SHA384", "secp384r1", 48 },
    { "ES512", OBO_KIND_EC, "SHA512", "secp521r1", 66 },
    { "EdDSA", OBO_KIND_EDDSA, NULL, NULL, 0 },
};

_Static_assert(sizeof(obo_algs) / sizeof(obo_algs[0]) <= OBO_JWK_VERIFY_SLOTS,
               "a verification template slot per algorithm");

static const obo_alg *obo_alg_find(const char *name)
{
    const obo_alg *found = NULL;
    apr_size_t i;

    for (i = 0; name && i < sizeof(obo_algs) / sizeof(obo_algs[0]); i++) {
        if (strcmp(name, obo_algs[i].name) == 0) {
            found = &obo_algs[i];
        }
    }
    return found;
}

int obo_jws_alg_known(const char *alg)
{
    return obo_alg_find(alg) != NULL;
}

static apr_status_t obo_mdctx_cleanup(void *ctx)
{
    EVP_MD_CTX_free(ctx);
    return APR_SUCCESS;
}

static apr_status_t obo_ecsig_cleanup(void *sig)
{
    ECDSA_SIG_free(sig);
    return APR_SUCCESS;
}

static EVP_MD_CTX *obo_mdctx(apr_pool_t *p)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx) {
        apr_pool_cleanup_register(p, ctx, obo_mdctx_cleanup, apr_pool_cleanup_null);
    }
    return ctx;
}

static ECDSA_SIG *obo_ecsig(apr_pool_t *p, ECDSA_SIG *sig)
{
    if (sig) {
        apr_pool_cleanup_register(p, sig, obo_ecsig_cleanup, apr_pool_cleanup_null);
    }
    return sig;
}

/* Does the actual key type (and curve, and size) fit the algorithm? */
static int obo_alg_fits_key(const obo_alg *a, EVP_PKEY *pk)
{
    char group[64];
    size_t glen = 0;
    int fits = 0;

    switch (a->kind) {
    case OBO_KIND_RSA:
    case OBO_KIND_PSS:
        fits = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) >= OBO_RSA_MIN_BITS;
        break;
    case OBO_KIND_EC:
        fits = EVP_PKEY_is_a(pk, "EC")
               && EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, sizeof(group), &glen) == 1
               && strcmp(group, a->group) == 0;
        break;
    case OBO_KIND_EDDSA:
        fits = EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_is_a(pk, "ED448");
        break;
    }
    return fits;
}

/* Sets up a DigestSign/DigestVerify context with the alg's padding: PSS
 * salt length equals the digest length as RFC 7518 s.3.5 requires. */
static int obo_md_init(EVP_MD_CTX *ctx, const obo_alg *a, EVP_PKEY *pk, int sign)
{
    EVP_PKEY_CTX *pctx = NULL;
    int good = sign ? EVP_DigestSignInit_ex(ctx, &pctx, a->md, NULL, NULL, pk, NULL)
                    : EVP_DigestVerifyInit_ex(ctx, &pctx, a->md, NULL, NULL, pk, NULL);

    good = good == 1;
    if (good && a->kind == OBO_KIND_PSS) {
        good = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
               && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    else if (good && a->kind == OBO_KIND_RSA) {
        good = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    return good;
}

/* JOSE carries ECDSA as fixed-size r||s; OpenSSL wants DER. */
static int obo_ec_raw_to_der(apr_pool_t *p, const unsigned char *raw, apr_size_t csize,
                             unsigned char **der, apr_size_t *derlen)
{
    ECDSA_SIG *sig = obo_ecsig(p, ECDSA_SIG_new());
    BIGNUM *r = BN_bin2bn(raw, (int)csize, NULL);
    BIGNUM *s = BN_bin2bn(raw + csize, (int)csize, NULL);
    unsigned char *buf = NULL, *q;
    int len = -1;

    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;   /* owned by sig now */
        len = i2d_ECDSA_SIG(sig, NULL);
    }
    if (len > 0) {
        buf = q = apr_palloc(p, (apr_size_t)len);
        len = i2d_ECDSA_SIG(sig, &q);
    }
    BN_free(r);
    BN_free(s);
    *der = buf;
    *derlen = len > 0 ? (apr_size_t)len : 0;
    return len > 0;
}

static int obo_ec_der_to_raw(apr_pool_t *p, const unsigned char *der, apr_size_t derlen,
                             apr_size_t csize, unsigned char **raw)
{
    const unsigned char *q = der;
    ECDSA_SIG *sig = obo_ecsig(p, d2i_ECDSA_SIG(NULL, &q, (long)derlen));
    unsigned char *buf = apr_palloc(p, 2 * csize);
    int good = sig != NULL
        && BN_bn2binpad(ECDSA_SIG_get0_r(sig), buf, (int)csize) == (int)csize
        && BN_bn2binpad(ECDSA_SIG_get0_s(sig), buf + csize, (int)csize) == (int)csize;

    *raw = buf;
    return good;
}

/* Splits at the two dots; any other count is not a compact JWS. */
static int obo_jws_split(const char *s, apr_size_t len, apr_size_t *d1, apr_size_t *d2)
{
    apr_size_t i;
    int dots = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (dots == 0) {
                *d1 = i;
            }
            else if (dots == 1) {
                *d2 = i;
            }
            dots++;
        }
    }
    return dots == 2;
}

static apr_status_t obo_jws_part_json(apr_pool_t *p, const char *b64, apr_size_t len,
                                      json_t **out, const char **err)
{
    apr_status_t rv;
    unsigned char *raw = NULL;
    apr_size_t rawlen = 0;

    rv = obo_b64url_decode(p, b64, len, &raw, &rawlen);
    if (rv != APR_SUCCESS) {
        *err = "token is not valid base64url";
    }
    else {
        rv = obo_json_parse(p, (const char *)raw, rawlen, OBO_JSON_MAX_DEPTH, 1, out, err);
    }
    return rv;
}

/* Header rules: alg one we verify (so never "none" or HS*), no crit
 * extensions (we implement none, RFC 7515 s.4.1.11), kid/typ strings. */
static apr_status_t obo_jws_header(obo_jws *jws, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const json_t *h = jws->header;

    jws->alg = obo_json_str(h, "alg");
    jws->kid = obo_json_str(h, "kid");
    jws->typ = obo_json_str(h, "typ");
    if (jws->alg == NULL) {
        *err = "token header has no alg";
    }
    else if (!obo_jws_alg_known(jws->alg)) {
        *err = "token alg not supported";
    }
    else if (json_object_get(h, "crit") != NULL) {
        *err = "token header has crit";
    }
    else if ((json_object_get(h, "kid") && !jws->kid)
             || (json_object_get(h, "typ") && !jws->typ)) {
        *err = "token header member has the wrong type";
    }
    else {
        rv = APR_SUCCESS;
    }
    return rv;
}

apr_status_t obo_jws_parse(apr_pool_t *p, const char *compact, apr_size_t len,
                           obo_jws **out, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    apr_size_t d1 = 0, d2 = 0;
    obo_jws *jws = apr_pcalloc(p, sizeof(*jws));

    if (compact == NULL || len == 0 || len > OBO_JWT_MAX_LEN) {
        *err = len > OBO_JWT_MAX_LEN ? "token too long" : "empty token";
    }
    else if (!obo_jws_split(compact, len, &d1, &d2)) {
        *err = "token is not a compact JWS";
    }
    else if (obo_jws_part_json(p, compact, d1, &jws->header, err) == APR_SUCCESS
             && obo_jws_header(jws, err) == APR_SUCCESS
             && obo_jws_part_json(p, compact + d1 + 1, d2 - d1 - 1, &jws->payload, err)
                == APR_SUCCESS) {
        if (obo_b64url_decode(p, compact + d2 + 1, len - d2 - 1, &jws->sig, &jws->siglen)
            != APR_SUCCESS || jws->siglen == 0) {
            *err = "token signature is not valid base64url";
        }
        else {
            jws->signing_input = apr_pstrmemdup(p, compact, d2);
            jws->signing_input_len = d2;
            *out = jws;
            rv = APR_SUCCESS;
        }
    }
    return rv;
}

/* The key's verification context for a, set up on first use: setting one
 * up fetches the digest and signature implementations by name (OpenSSL's
 * method store, under its lock) and builds the key's operation context;
 * copying a ready one does neither. Two threads racing here both build one
 * and one keeps its own. */
static EVP_MD_CTX *obo_verify_tmpl(const obo_alg *a, const obo_jwk *key)
{
    EVP_MD_CTX **slot = (EVP_MD_CTX **)&key->verify_tmpl[a - obo_algs];
    EVP_MD_CTX *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *none = NULL;

    if (t == NULL && a->kind != OBO_KIND_EDDSA && (t = EVP_MD_CTX_new()) != NULL) {
        if (!obo_md_init(t, a, key->pkey, 0)) {
            EVP_MD_CTX_free(t);
            t = NULL;
        }
        else if (!__atomic_compare_exchange_n(slot, &none, t, 0, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
            EVP_MD_CTX_free(t);
            t = none;
        }
    }
    return t;
}

/* A key with a verification context for a passed obo_alg_fits_key() for a
 * before it was made (below): the type, curve and size checks (OpenSSL
 * parameter lookups, about 1 us) are not repeated for every token. */
static int obo_alg_fitted(const obo_alg *a, const obo_jwk *key)
{
    return __atomic_load_n(&key->verify_tmpl[a - obo_algs], __ATOMIC_ACQUIRE) != NULL
           || obo_alg_fits_key(a, key->pkey);
}

static int obo_jws_verify_sig(apr_pool_t *p, const obo_alg *a, const obo_jws *jws,
                              const obo_jwk *key)
{
    EVP_PKEY *pk = key->pkey;
    EVP_MD_CTX *ctx = obo_mdctx(p), *tmpl = obo_verify_tmpl(a, key);
    const unsigned char *sig = jws->sig;
    unsigned char *der = NULL;
    apr_size_t siglen = jws->siglen;
    int good = ctx != NULL;

    if (good && a->kind == OBO_KIND_EC) {
        /* Exact length: no leading-zero games with r and s. */
        good = siglen == 2 * a->csize
               && obo_ec_raw_to_der(p, jws->sig, a->csize, &der, &siglen);
        sig = der;
    }
    else if (good && a->kind != OBO_KIND_EDDSA) {
        good = siglen == (apr_size_t)EVP_PKEY_get_size(pk);
    }
    return good && ((tmpl && EVP_MD_CTX_copy_ex(ctx, tmpl) == 1) || obo_md_init(ctx, a, pk, 0))
           && EVP_DigestVerify(ctx, sig, siglen,
                               (const unsigned char *)jws->signing_input,
                               jws->signing_input_len) == 1;
}

apr_status_t obo_jws_verify(apr_pool_t *p, const obo_jws *jws, const obo_jwk *key,
                            const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const obo_alg *a = jws ? obo_alg_find(jws->alg) : NULL;

    if (a == NULL) {
        *err = "token alg not supported";
    }
    else if (key == NULL || key->pkey == NULL || !obo_alg_fitted(a, key)) {
        *err = "key does not fit token alg";
    }
    else if (!obo_jws_verify_sig(p, a, jws, key)) {
        *err = "token signature invalid";
    }
    else {
        rv = APR_SUCCESS;
    }
    ERR_clear_error();
    return rv;
}

/* The header actually signed: the caller's members plus our alg, which
 * must not contradict one the caller set. */
static apr_status_t obo_sign_header(apr_pool_t *p, const char *alg, const json_t *header,
                                    char **out, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const char *halg = header ? obo_json_str(header, "alg") : NULL;
    json_t *h = NULL;

    if (header && !json_is_object(header)) {
        *err = "JWS header is not an object";
    }
    else if (halg && strcmp(halg, alg) != 0) {
        *err = "JWS header alg differs";
    }
    else if ((h = obo_json_pool(p, header ? json_copy((json_t *)header)
                                          : json_object())) == NULL
             || json_object_set_new(h, "alg", json_string(alg)) != 0
             || (*out = obo_json_dump(p, h)) == NULL) {
        *err = "out of memory";
        rv = APR_ENOMEM;
    }
    else {
        rv = APR_SUCCESS;
    }
    return rv;
}

static apr_status_t obo_sign_bytes(apr_pool_t *p, const obo_alg *a, EVP_PKEY *key,
                                   const char *input, unsigned char **sig,
                                   apr_size_t *siglen)
{
    apr_status_t rv = APR_EGENERAL;
    EVP_MD_CTX *ctx = obo_mdctx(p);
    size_t len = 0;
    unsigned char *buf = NULL;

    if (ctx && obo_md_init(ctx, a, key, 1)
        && EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input,
                          strlen(input)) == 1) {
        buf = apr_palloc(p, len);
        if (EVP_DigestSign(ctx, buf, &len, (const unsigned char *)input,
                           strlen(input)) == 1) {
            rv = APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS && a->kind == OBO_KIND_EC) {
        rv = obo_ec_der_to_raw(p, buf, len, a->csize, &buf) ? APR_SUCCESS : APR_EGENERAL;
        len = 2 * a->csize;
    }
    *sig = buf;
    *siglen = len;
    return rv;
}

apr_status_t obo_jws_sign(apr_pool_t *p, EVP_PKEY *key, const char *alg,
                          const json_t *header, const json_t *payload,
                          char **compact, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const obo_alg *a = obo_alg_find(alg);
    char *h = NULL, *pl = NULL, *input;
    unsigned char *sig = NULL;
    apr_size_t siglen = 0;

    if (a == NULL) {
        *err = "alg not supported";
    }
    else if (key == NULL || !obo_alg_fits_key(a, key)) {
        *err = "key does not fit alg";
    }
    else if (!json_is_object(payload) || (pl = obo_json_dump(p, payload)) == NULL) {
        *err = "JWS payload is not an object";
    }
    else if ((rv = obo_sign_header(p, alg, header, &h, err)) == APR_SUCCESS) {
        input = apr_pstrcat(p, obo_b64url_encode(p, (const unsigned char *)h, strlen(h)),
                            ".",
                            obo_b64url_encode(p, (const unsigned char *)pl, strlen(pl)),
                            NULL);
        rv = obo_sign_bytes(p, a, key, input, &sig, &siglen);
        if (rv == APR_SUCCESS) {
            *compact = apr_pstrcat(p, input, ".", obo_b64url_encode(p, sig, siglen), NULL);
        }
        else {
            *err = "signing failed";
        }
    }
    ERR_clear_error();
    return rv;
}

int obo_jws_compact_shape(const char *token)
{
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

    return strncmp(token, "eyJ", 3) == 0 && d1 && d2 && d2 > d1 + 1 && d2[1] != '\0'
           && strchr(d2 + 1, '.') == NULL;
}
