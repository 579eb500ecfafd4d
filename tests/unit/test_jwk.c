/* SPDX-License-Identifier: Apache-2.0 */
/* JWK and JWKS import: accepted key types, the rejections that keep
 * unusable or dangerous keys out, and key selection for a token. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/pem.h>
#include "tap.h"
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "obo_b64.h"
#include "obo_json.h"
#include "obo_jwk.h"
#include "obo_exchange.h"      /* obo_pkey_load_pem: reads the file */

#include "testkeys.h"
static apr_status_t jwk_parse(apr_pool_t *p, json_t *j, obo_jwk **k, const char **err)
{
    *k = NULL;
    return obo_jwk_parse(p, j, k, err);
}

static void test_key_types(apr_pool_t *p)
{
    static const struct { const char *kind, *arg, *kty, *crv; } cases[] = {
        { "RSA", "2048", "RSA", NULL }, { "RSA", "3072", "RSA", NULL },
        { "EC", "P-256", "EC", "P-256" }, { "EC", "P-384", "EC", "P-384" },
        { "EC", "P-521", "EC", "P-521" }, { "ED25519", NULL, "OKP", "Ed25519" },
        { "ED448", NULL, "OKP", "Ed448" },
    };
    apr_size_t i;
    obo_jwk *k = NULL;
    const char *err = NULL;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *priv = tk_gen(p, cases[i].kind, cases[i].arg);
        json_t *j = tk_jwk(p, priv, "kid-1");
        json_object_set_new(j, "use", json_string("sig"));
        json_object_set_new(j, "alg", json_string("X"));
        ok(jwk_parse(p, j, &k, &err) == APR_SUCCESS && k && k->pkey
           && EVP_PKEY_eq(k->pkey, priv) == 1, "%s %s imports as the same public key",
           cases[i].kind, cases[i].arg ? cases[i].arg : "");
        ok(k && strcmp(k->kty, cases[i].kty) == 0 && strcmp(k->kid, "kid-1") == 0
           && strcmp(k->alg, "X") == 0, "%s: kty, kid, alg", cases[i].kind);
        is_str(k ? k->crv : "?", cases[i].crv, "%s: crv", cases[i].kind);
        is_int(k ? k->rsa_bits : -1, cases[i].arg && strcmp(cases[i].kind, "RSA") == 0
               ? atoi(cases[i].arg) : 0, "%s: rsa_bits", cases[i].kind);
    }
}

static void test_rejections(apr_pool_t *p)
{
    EVP_PKEY *rsa = tk_gen(p, "RSA", "2048"), *ec = tk_gen(p, "EC", "P-256");
    obo_jwk *k = NULL;
    const char *err = NULL;
    json_t *j;

    ok(tk_pub(p, rsa, NULL) != NULL && tk_pub(p, ec, NULL) != NULL,
       "the unmodified JWKs import");
    j = tk_jwk(p, tk_gen(p, "RSA", "1024"), NULL);
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "RSA 1024 rejected");
    is_str(err, "RSA key shorter than 2048 bits", "RSA size error");
    ok(k == NULL, "no key returned on failure");

    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "d", json_string("AQAB"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "RSA JWK with d rejected");
    is_str(err, "JWK contains private key material", "private error");
    j = tk_jwk(p, ec, NULL);
    json_object_set_new(j, "d", json_string("AQAB"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "EC JWK with d rejected");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "p", json_string("AQAB"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "RSA JWK with p rejected");

    j = obo_json_pool(p, json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "oct JWK rejected");
    j = obo_json_pool(p, json_pack("{s:s}", "kty", "oct"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "oct JWK without k rejected");
    is_str(err, "symmetric keys are not accepted", "oct error");

    j = obo_json_pool(p, json_pack("{s:s}", "kty", "DSA"));
    is_int(jwk_parse(p, j, &k, &err), APR_ENOTIMPL, "unknown kty is ENOTIMPL");
    j = obo_json_pool(p, json_pack("{s:s}", "n", "AQAB"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "missing kty");
    j = obo_json_pool(p, json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "X25519",
                                   "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    is_int(jwk_parse(p, j, &k, &err), APR_ENOTIMPL, "X25519 is ENOTIMPL");
    j = tk_jwk(p, ec, NULL);
    json_object_set_new(j, "crv", json_string("secp256k1"));
    is_int(jwk_parse(p, j, &k, &err), APR_ENOTIMPL, "secp256k1 is ENOTIMPL");

    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "use", json_string("enc"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "use enc rejected");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "key_ops", json_pack("[s]", "encrypt"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "key_ops without verify rejected");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "key_ops", json_pack("[s]", "verify"));
    is_int(jwk_parse(p, j, &k, &err), APR_SUCCESS, "key_ops verify accepted");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "kid", json_integer(1));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "numeric kid rejected");
    is_int(jwk_parse(p, obo_json_pool(p, json_pack("[s]", "RSA")), &k, &err), APR_EINVAL,
           "non-object JWK rejected");
}

static void test_rsa_members(apr_pool_t *p)
{
    EVP_PKEY *rsa = tk_gen(p, "RSA", "2048");
    obo_jwk *k = NULL;
    const char *err = NULL;
    json_t *j;

    j = tk_jwk(p, rsa, NULL);
    json_object_del(j, "n");
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "missing n");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "e", json_integer(65537));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "numeric e");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "e", json_string("AQAB="));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "padded e");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "e", json_string("AQ"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "e = 1");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "e", json_string("AQA"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "even e");
    j = tk_jwk(p, rsa, NULL);
    json_object_set_new(j, "n", json_string(apr_pstrcat(p, "AP",
                        obo_json_str(j, "n") + 2, NULL)));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL,
           "modulus with its top byte cleared is under 2048 bits");
}

/* An EC point that is not on the curve must never become a key: with it an
 * invalid-curve attack could leak a signer's secrets or forge signatures. */
static void test_ec_points(apr_pool_t *p)
{
    EVP_PKEY *ec = tk_gen(p, "EC", "P-256");
    obo_jwk *k = NULL;
    const char *err = NULL;
    unsigned char *y = NULL;
    apr_size_t ylen = 0;
    const char *ys;
    json_t *j;

    j = tk_jwk(p, ec, NULL);
    ys = obo_json_str(j, "y");
    obo_b64url_decode(p, ys, strlen(ys), &y, &ylen);
    y[ylen - 1] ^= 0x01;
    json_object_set_new(j, "y", json_string(obo_b64url_encode(p, y, ylen)));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "off-curve point rejected");
    is_str(err, "EC point is not on the curve", "off-curve error");

    j = tk_jwk(p, ec, NULL);
    json_object_set_new(j, "x", json_string(obo_b64url_encode(p, (unsigned char *)
                        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 31)));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "short x rejected");
    j = tk_jwk(p, ec, NULL);
    json_object_set_new(j, "crv", json_string("P-384"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "P-256 coordinates as P-384 rejected");
    j = tk_jwk(p, ec, NULL);
    json_object_del(j, "y");
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "missing y rejected");
    j = tk_jwk(p, tk_gen(p, "ED25519", NULL), NULL);
    json_object_set_new(j, "crv", json_string("Ed448"));
    is_int(jwk_parse(p, j, &k, &err), APR_EINVAL, "Ed25519 x as Ed448 rejected");
}

static const char *jwks_text(apr_pool_t *p, json_t *keys)
{
    json_t *doc = obo_json_pool(p, json_object());

    json_object_set(doc, "keys", keys);
    return obo_json_dump(p, doc);
}

static void test_jwks(apr_pool_t *p)
{
    EVP_PKEY *rsa = tk_gen(p, "RSA", "2048"), *ec = tk_gen(p, "EC", "P-256");
    json_t *keys = obo_json_pool(p, json_array()), *j;
    obo_jwks *set = NULL;
    const char *err = NULL, *doc;
    int skipped = -1, i;

    json_array_append(keys, tk_jwk(p, rsa, "rsa1"));
    json_array_append(keys, tk_jwk(p, ec, "ec1"));
    json_array_append(keys, tk_jwk(p, tk_gen(p, "ED25519", NULL), "ed1"));
    json_array_append_new(keys, json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0"));
    j = tk_jwk(p, rsa, "enc1");
    json_object_set_new(j, "use", json_string("enc"));
    json_array_append(keys, j);
    json_array_append_new(keys, json_pack("{s:s, s:s}", "kty", "RSA", "kid", "broken"));
    doc = jwks_text(p, keys);
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, &skipped, &err), APR_SUCCESS,
           "mixed JWKS parses");
    is_int(set->keys->nelts, 3, "three usable keys");
    is_int(skipped, 3, "oct, enc and broken keys skipped");

    doc = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}";
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL,
           "JWKS without usable key");
    is_str(err, "JWKS has no usable key", "no usable key error");
    doc = "{\"keys\":{}}";
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL, "keys object");
    doc = "{\"kty\":\"RSA\"}";
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL, "bare JWK");
    doc = "[]";
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL, "array");
    doc = "{\"keys\":[],\"keys\":[]}";
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL, "dup keys");

    keys = obo_json_pool(p, json_array());
    for (i = 0; i < 65; i++) {
        json_array_append(keys, tk_jwk(p, ec, apr_itoa(p, i)));
    }
    doc = jwks_text(p, keys);
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_EINVAL, "65 keys");
    is_str(err, "JWKS has too many keys", "too many keys error");
    json_array_remove(keys, 0);
    doc = jwks_text(p, keys);
    is_int(obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err), APR_SUCCESS, "64 keys");

    {
        apr_size_t big = 256 * 1024 + 1;
        char *buf = apr_palloc(p, big);
        memset(buf, ' ', big);
        memcpy(buf, "{\"keys\":[]}", 11);
        is_int(obo_jwks_parse(p, buf, big, &set, NULL, &err), APR_EINVAL, "JWKS > 256 KiB");
        is_str(err, "JWKS too large", "size error");
    }
}

static int count(const obo_jwks *set, const char *kid, const char *alg, apr_pool_t *p)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(obo_jwk *));

    obo_jwks_select(set, kid, alg, out);
    return out->nelts;
}

static void test_select(apr_pool_t *p)
{
    json_t *keys = obo_json_pool(p, json_array()), *j;
    EVP_PKEY *rsa = tk_gen(p, "RSA", "2048");
    obo_jwks *set = NULL;
    const char *err = NULL, *doc;
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(obo_jwk *));

    json_array_append(keys, tk_jwk(p, rsa, "rsa1"));
    j = tk_jwk(p, tk_gen(p, "RSA", "2048"), "rsa2");
    json_object_set_new(j, "alg", json_string("RS256"));
    json_array_append(keys, j);
    json_array_append(keys, tk_jwk(p, tk_gen(p, "EC", "P-256"), "ec256"));
    json_array_append(keys, tk_jwk(p, tk_gen(p, "EC", "P-384"), "ec384"));
    json_array_append(keys, tk_jwk(p, tk_gen(p, "ED25519", NULL), NULL));
    doc = jwks_text(p, keys);
    obo_jwks_parse(p, doc, strlen(doc), &set, NULL, &err);

    obo_jwks_select(set, "rsa1", "RS256", out);
    ok(out->nelts == 1 && strcmp(APR_ARRAY_IDX(out, 0, obo_jwk *)->kid, "rsa1") == 0
       && EVP_PKEY_eq(APR_ARRAY_IDX(out, 0, obo_jwk *)->pkey, rsa) == 1,
       "kid rsa1 + RS256 selects rsa1");
    is_int(count(set, NULL, "RS256", p), 2, "RS256 without kid: both RSA keys");
    is_int(count(set, NULL, "PS256", p), 1, "PS256: not the key pinned to RS256");
    is_int(count(set, "rsa2", "PS256", p), 0, "rsa2 pinned to RS256 refuses PS256");
    is_int(count(set, "rsa1", "ES256", p), 0, "RSA key never for ES256");
    is_int(count(set, NULL, "ES256", p), 1, "ES256: the P-256 key only");
    is_int(count(set, "ec256", "ES384", p), 0, "P-256 key never for ES384");
    is_int(count(set, "ec384", "ES384", p), 1, "P-384 key for ES384");
    is_int(count(set, NULL, "ES512", p), 0, "no P-521 key");
    is_int(count(set, NULL, "EdDSA", p), 1, "EdDSA: the OKP key");
    is_int(count(set, "ed", "EdDSA", p), 0, "kid given, key without kid not selected");
    is_int(count(set, "nope", "RS256", p), 0, "unknown kid");
    is_int(count(set, NULL, "HS256", p), 0, "HS256 selects nothing");
    is_int(count(set, NULL, "none", p), 0, "none selects nothing");
}

static const char *write_pem(apr_pool_t *p, EVP_PKEY *k, int traditional, int encrypt)
{
    char *path = apr_pstrdup(p, "/tmp/obo-test-pem-XXXXXX");
    int fd = mkstemp(path);
    BIO *bio = BIO_new_fd(fd, BIO_CLOSE);

    if (traditional) {
        PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0, NULL, NULL);
    }
    else {
        PEM_write_bio_PrivateKey(bio, k, encrypt ? EVP_aes_256_cbc() : NULL,
                                 (unsigned char *)"pw", encrypt ? 2 : 0, NULL, NULL);
    }
    BIO_free(bio);
    return path;
}

static void test_pem(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256"), *got = NULL;
    const char *err = NULL, *path;

    path = write_pem(p, k, 0, 0);
    ok(obo_pkey_load_pem(p, path, &got, &err) == APR_SUCCESS && EVP_PKEY_eq(got, k) == 1,
       "PKCS#8 PEM loads");
    unlink(path);
    path = write_pem(p, k, 1, 0);
    ok(obo_pkey_load_pem(p, path, &got, &err) == APR_SUCCESS && EVP_PKEY_eq(got, k) == 1,
       "traditional PEM loads");
    unlink(path);
    path = write_pem(p, k, 0, 1);
    is_int(obo_pkey_load_pem(p, path, &got, &err), APR_EINVAL,
           "encrypted PEM refused without prompting");
    unlink(path);
    is_int(obo_pkey_load_pem(p, "/nonexistent/key.pem", &got, &err), APR_ENOENT,
           "missing file");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_key_types);
    TAP_RUN(test_rejections);
    TAP_RUN(test_rsa_members);
    TAP_RUN(test_ec_points);
    TAP_RUN(test_jwks);
    TAP_RUN(test_select);
    TAP_RUN(test_pem);
    apr_terminate();
    return tap_done();
}
