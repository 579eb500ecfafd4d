/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Keys to OpenSSL 3 public keys (see obo_jwk.h). Everything here
 * reads material fetched from the network, so each member is checked for
 * type and exact size before OpenSSL sees it. Temporary OpenSSL objects are
 * tied to a per-key scratch pool so every exit path frees them. */
#include "obo_jwk.h"
#include "obo_b64.h"
#include "obo_json.h"

#include <string.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define OBO_JWKS_MAX_LEN (256 * 1024)
#define OBO_JWKS_MAX_KEYS 64
#define OBO_RSA_MIN_BITS 2048
/* Verification cost grows with the modulus: refuse absurd keys. */
#define OBO_RSA_MAX_BITS 16384
#define OBO_RSA_MAX_E_BITS 64

static apr_status_t obo_pkey_cleanup(void *k)
{
    EVP_PKEY_free(k);
    return APR_SUCCESS;
}

EVP_PKEY *obo_pkey_pool(apr_pool_t *p, EVP_PKEY *k)
{
    if (k) {
        apr_pool_cleanup_register(p, k, obo_pkey_cleanup, apr_pool_cleanup_null);
    }
    return k;
}

static apr_status_t obo_bn_cleanup(void *bn)
{
    BN_free(bn);
    return APR_SUCCESS;
}

static apr_status_t obo_bld_cleanup(void *bld)
{
    OSSL_PARAM_BLD_free(bld);
    return APR_SUCCESS;
}

static apr_status_t obo_pctx_cleanup(void *ctx)
{
    EVP_PKEY_CTX_free(ctx);
    return APR_SUCCESS;
}

static OSSL_PARAM_BLD *obo_bld_new(apr_pool_t *tmp)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

    if (bld) {
        apr_pool_cleanup_register(tmp, bld, obo_bld_cleanup, apr_pool_cleanup_null);
    }
    return bld;
}

/* Strictly decoded base64url member; APR_EINVAL if absent or malformed. */
static apr_status_t obo_jwk_bytes(apr_pool_t *tmp, const json_t *jwk, const char *name,
                                  unsigned char **buf, apr_size_t *len)
{
    const char *s = obo_json_str(jwk, name);

    return s ? obo_b64url_decode(tmp, s, strlen(s), buf, len) : APR_EINVAL;
}

/* Builds a public key of the given OpenSSL type from bld; the key is tied
 * to tmp (the caller takes a reference once it has been validated). */
static apr_status_t obo_pkey_fromdata(apr_pool_t *tmp, const char *type,
                                      OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
    apr_status_t rv = APR_EINVAL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pk = NULL;

    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1
        && EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1) {
        *out = obo_pkey_pool(tmp, pk);
        rv = APR_SUCCESS;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return rv;
}

/* Full public-key validation: for EC this is the on-curve and
 * not-at-infinity check that stops invalid-curve attacks. */
static int obo_pkey_public_ok(apr_pool_t *tmp, EVP_PKEY *pk)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);

    if (ctx) {
        apr_pool_cleanup_register(tmp, ctx, obo_pctx_cleanup, apr_pool_cleanup_null);
    }
    return ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
}

static BIGNUM *obo_bn(apr_pool_t *tmp, const unsigned char *buf, apr_size_t len)
{
    BIGNUM *bn = BN_bin2bn(buf, (int)len, NULL);

    if (bn) {
        apr_pool_cleanup_register(tmp, bn, obo_bn_cleanup, apr_pool_cleanup_null);
    }
    return bn;
}

static apr_status_t obo_jwk_rsa(apr_pool_t *tmp, const json_t *jwk, obo_jwk *k,
                                EVP_PKEY **pk, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    unsigned char *nb = NULL, *eb = NULL;
    apr_size_t nlen = 0, elen = 0;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;

    *err = "invalid RSA key";
    if (obo_jwk_bytes(tmp, jwk, "n", &nb, &nlen) == APR_SUCCESS
        && obo_jwk_bytes(tmp, jwk, "e", &eb, &elen) == APR_SUCCESS
        && nlen <= OBO_RSA_MAX_BITS / 8 + 1 && elen <= OBO_RSA_MAX_E_BITS / 8
        && (n = obo_bn(tmp, nb, nlen)) != NULL && (e = obo_bn(tmp, eb, elen)) != NULL) {
        if (BN_num_bits(n) < OBO_RSA_MIN_BITS) {
            *err = "RSA key shorter than 2048 bits";
        }
        else if (BN_num_bits(n) <= OBO_RSA_MAX_BITS && BN_is_odd(n) && BN_is_odd(e)
                 && !BN_is_one(e) && (bld = obo_bld_new(tmp)) != NULL
                 && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1
                 && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1
                 && obo_pkey_fromdata(tmp, "RSA", bld, pk) == APR_SUCCESS) {
            k->rsa_bits = BN_num_bits(n);
            rv = APR_SUCCESS;
        }
    }
    return rv;
}

/* Coordinate size in bytes of a JOSE EC curve name, 0 if unsupported. */
static apr_size_t obo_ec_size(const char *crv)
{
    apr_size_t size = 0;

    if (strcmp(crv, "P-256") == 0) {
        size = 32;
    }
    else if (strcmp(crv, "P-384") == 0) {
        size = 48;
    }
    else if (strcmp(crv, "P-521") == 0) {
        size = 66;
    }
    return size;
}

static apr_status_t obo_jwk_ec(apr_pool_t *tmp, const json_t *jwk, obo_jwk *k,
                               EVP_PKEY **pk, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    apr_size_t size = k->crv ? obo_ec_size(k->crv) : 0;
    unsigned char *x = NULL, *y = NULL, *pt;
    apr_size_t xlen = 0, ylen = 0;
    OSSL_PARAM_BLD *bld = NULL;

    *err = "invalid EC key";
    if (size == 0) {
        *err = "unsupported EC curve";
        rv = APR_ENOTIMPL;
    }
    /* RFC 7518 s.6.2.1.2: coordinates are always full length. */
    else if (obo_jwk_bytes(tmp, jwk, "x", &x, &xlen) == APR_SUCCESS
             && obo_jwk_bytes(tmp, jwk, "y", &y, &ylen) == APR_SUCCESS
             && xlen == size && ylen == size) {
        pt = apr_palloc(tmp, 1 + 2 * size);
        pt[0] = 0x04;   /* uncompressed point (SEC 1 s.2.3.3) */
        memcpy(pt + 1, x, size);
        memcpy(pt + 1 + size, y, size);
        if ((bld = obo_bld_new(tmp)) != NULL
            && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                               k->crv, 0) == 1
            && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                pt, 1 + 2 * size) == 1
            && obo_pkey_fromdata(tmp, "EC", bld, pk) == APR_SUCCESS
            && obo_pkey_public_ok(tmp, *pk)) {
            rv = APR_SUCCESS;
        }
        else {
            *err = "EC point is not on the curve";
        }
    }
    return rv;
}

static apr_status_t obo_jwk_okp(apr_pool_t *tmp, const json_t *jwk, obo_jwk *k,
                                EVP_PKEY **pk, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const char *type = NULL;
    apr_size_t size = 0, xlen = 0;
    unsigned char *x = NULL;
    OSSL_PARAM_BLD *bld = NULL;

    if (k->crv && strcmp(k->crv, "Ed25519") == 0) {
        type = "ED25519";
        size = 32;
    }
    else if (k->crv && strcmp(k->crv, "Ed448") == 0) {
        type = "ED448";
        size = 57;
    }
    *err = "invalid OKP key";
    if (type == NULL) {
        /* X25519/X448 are key-agreement keys: nothing to verify with. */
        *err = "unsupported OKP curve";
        rv = APR_ENOTIMPL;
    }
    else if (obo_jwk_bytes(tmp, jwk, "x", &x, &xlen) == APR_SUCCESS && xlen == size
             && (bld = obo_bld_new(tmp)) != NULL
             && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                 x, xlen) == 1
             && obo_pkey_fromdata(tmp, type, bld, pk) == APR_SUCCESS) {
        rv = APR_SUCCESS;
    }
    return rv;
}

/* Members that only a private (or symmetric) JWK has (RFC 7518 s.6). */
static int obo_jwk_has_private(const json_t *jwk)
{
    static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
    int found = 0;
    apr_size_t i;

    for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        found |= json_object_get(jwk, priv[i]) != NULL;
    }
    return found;
}

/* "key_ops", when present, must allow verification (RFC 7517 s.4.3). */
static int obo_jwk_ops_ok(const json_t *jwk)
{
    const json_t *ops = json_object_get(jwk, "key_ops");
    const json_t *op;
    size_t i;
    int good = ops == NULL;

    if (json_is_array(ops)) {
        json_array_foreach(ops, i, op) {
            good |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
        }
    }
    return good;
}

static int obo_opt_str_ok(const json_t *jwk, const char *name)
{
    const json_t *v = json_object_get(jwk, name);

    return v == NULL || json_is_string(v);
}

/* Members common to every kty, copied so the key outlives the JSON. */
static apr_status_t obo_jwk_common(apr_pool_t *p, const json_t *jwk, obo_jwk *k,
                                   const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const char *use = obo_json_str(jwk, "use");

    if (!json_is_object(jwk) || obo_json_str(jwk, "kty") == NULL) {
        *err = "JWK without kty";
    }
    else if (obo_jwk_has_private(jwk)) {
        *err = "JWK contains private key material";
    }
    else if (!obo_opt_str_ok(jwk, "kid") || !obo_opt_str_ok(jwk, "alg")
             || !obo_opt_str_ok(jwk, "crv") || !obo_opt_str_ok(jwk, "use")) {
        *err = "JWK member has the wrong type";
    }
    else if ((use && strcmp(use, "sig") != 0) || !obo_jwk_ops_ok(jwk)) {
        *err = "JWK is not for signatures";
    }
    else {
        k->kty = apr_pstrdup(p, obo_json_str(jwk, "kty"));
        k->kid = obo_json_str(jwk, "kid") ? apr_pstrdup(p, obo_json_str(jwk, "kid")) : NULL;
        k->alg = obo_json_str(jwk, "alg") ? apr_pstrdup(p, obo_json_str(jwk, "alg")) : NULL;
        k->crv = obo_json_str(jwk, "crv") ? apr_pstrdup(p, obo_json_str(jwk, "crv")) : NULL;
        rv = APR_SUCCESS;
    }
    return rv;
}

static apr_status_t obo_jwk_key(apr_pool_t *tmp, const json_t *jwk, obo_jwk *k,
                                EVP_PKEY **pk, const char **err)
{
    apr_status_t rv = APR_ENOTIMPL;

    *err = "unsupported kty";
    if (strcmp(k->kty, "RSA") == 0) {
        k->crv = NULL;
        rv = obo_jwk_rsa(tmp, jwk, k, pk, err);
    }
    else if (strcmp(k->kty, "EC") == 0) {
        rv = obo_jwk_ec(tmp, jwk, k, pk, err);
    }
    else if (strcmp(k->kty, "OKP") == 0) {
        rv = obo_jwk_okp(tmp, jwk, k, pk, err);
    }
    else if (strcmp(k->kty, "oct") == 0) {
        /* RFC 8725 s.3.1: never let a published key turn into an HMAC key. */
        *err = "symmetric keys are not accepted";
        rv = APR_EINVAL;
    }
    return rv;
}

static apr_status_t verify_tmpl_cleanup(void *data)
{
    obo_jwk *k = data;
    int i;

    for (i = 0; i < OBO_JWK_VERIFY_SLOTS; i++) {
        EVP_MD_CTX_free(k->verify_tmpl[i]);
        k->verify_tmpl[i] = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t obo_jwk_parse(apr_pool_t *p, const json_t *jwk, obo_jwk **out,
                           const char **err)
{
    apr_status_t rv;
    apr_pool_t *tmp = NULL;
    EVP_PKEY *pk = NULL;
    obo_jwk *k = apr_pcalloc(p, sizeof(*k));

    rv = obo_jwk_common(p, jwk, k, err);
    if (rv == APR_SUCCESS) {
        rv = apr_pool_create(&tmp, p);
    }
    if (rv == APR_SUCCESS) {
        rv = obo_jwk_key(tmp, jwk, k, &pk, err);
        /* Keep the validated key beyond the scratch pool. */
        if (rv == APR_SUCCESS && EVP_PKEY_up_ref(pk) == 1) {
            k->pkey = obo_pkey_pool(p, pk);
            apr_pool_cleanup_register(p, k, verify_tmpl_cleanup, apr_pool_cleanup_null);
            *out = k;
        }
        else if (rv == APR_SUCCESS) {
            rv = APR_ENOMEM;
            *err = "out of memory";
        }
        apr_pool_destroy(tmp);
    }
    /* Failed OpenSSL calls leave errors behind that would confuse the
     * next unrelated caller of ERR_get_error in this thread. */
    ERR_clear_error();
    return rv;
}

apr_status_t obo_jwks_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                            obo_jwks **out, int *skipped, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    apr_pool_t *tmp = NULL;
    json_t *doc = NULL, *keys, *jwk;
    obo_jwks *set = NULL;
    obo_jwk *k = NULL;
    const char *kerr = NULL;
    int nskipped = 0;
    size_t i;

    if (len > OBO_JWKS_MAX_LEN) {
        *err = "JWKS too large";
    }
    else if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        *err = "out of memory";
    }
    else if (obo_json_parse(tmp, buf, len, OBO_JSON_MAX_DEPTH, 1, &doc, err)
             == APR_SUCCESS) {
        keys = json_object_get(doc, "keys");
        if (!json_is_array(keys)) {
            *err = "JWKS without keys array";
        }
        else if (json_array_size(keys) > OBO_JWKS_MAX_KEYS) {
            *err = "JWKS has too many keys";
        }
        else {
            set = apr_pcalloc(p, sizeof(*set));
            set->keys = apr_array_make(p, (int)json_array_size(keys) + 1, sizeof(obo_jwk *));
            json_array_foreach(keys, i, jwk) {
                if (obo_jwk_parse(p, jwk, &k, &kerr) == APR_SUCCESS) {
                    APR_ARRAY_PUSH(set->keys, obo_jwk *) = k;
                }
                else {
                    nskipped++;
                }
            }
            *err = "JWKS has no usable key";
            rv = set->keys->nelts > 0 ? APR_SUCCESS : APR_EINVAL;
        }
    }
    if (tmp) {
        apr_pool_destroy(tmp);
    }
    if (rv == APR_SUCCESS) {
        *out = set;
    }
    if (skipped) {
        *skipped = nskipped;
    }
    return rv;
}

/* Expected key for a JWS alg: kty, and the curve for EC. */
static int obo_jwk_fits(const obo_jwk *k, const char *alg)
{
    static const struct { const char *alg, *kty, *crv; } map[] = {
        { "RS256", "RSA", NULL }, { "RS384", "RSA", NULL }, { "RS512", "RSA", NULL },
        { "PS256", "RSA", NULL }, { "PS384", "RSA", NULL }, { "PS512", "RSA", NULL },
        { "ES256", "EC", "P-256" }, { "ES384", "EC", "P-384" },
        { "ES512", "EC", "P-521" }, { "EdDSA", "OKP", NULL },
    };
    int fits = 0;
    apr_size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(alg, map[i].alg) == 0 && strcmp(k->kty, map[i].kty) == 0) {
            fits = map[i].crv == NULL
                   || (k->crv != NULL && strcmp(k->crv, map[i].crv) == 0);
        }
    }
    if (fits && strcmp(k->kty, "RSA") == 0) {
        fits = k->rsa_bits >= OBO_RSA_MIN_BITS;
    }
    return fits;
}

void obo_jwks_select(const obo_jwks *set, const char *kid, const char *alg,
                     apr_array_header_t *out)
{
    int i;

    for (i = 0; set && alg && i < set->keys->nelts; i++) {
        obo_jwk *k = APR_ARRAY_IDX(set->keys, i, obo_jwk *);
        if ((kid == NULL || (k->kid != NULL && strcmp(k->kid, kid) == 0))
            && (k->alg == NULL || strcmp(k->alg, alg) == 0)
            && k->pkey != NULL && obo_jwk_fits(k, alg)) {
            APR_ARRAY_PUSH(out, obo_jwk *) = k;
        }
    }
}

/* Never prompt for a passphrase: a server has nobody at the terminal. */
static int obo_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

apr_status_t obo_pkey_from_pem(apr_pool_t *p, const char *pem, apr_size_t len,
                               EVP_PKEY **out, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;

    if (len > OBO_PEM_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL
        || (pk = PEM_read_bio_PrivateKey(bio, NULL, obo_no_passphrase, NULL)) == NULL) {
        *err = "cannot read PEM private key";
    }
    else {
        *out = obo_pkey_pool(p, pk);
        rv = APR_SUCCESS;
    }
    BIO_free(bio);
    ERR_clear_error();
    return rv;
}
