/* SPDX-License-Identifier: Apache-2.0 */
/* Compact JWS: parsing rules, verification for every supported alg with
 * freshly generated keys, and the RFC 8725 rejections. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include "obo_b64.h"
#include "obo_json.h"
#include "obo_jws.h"

#include "testkeys.h"
/* A compact token from raw header and payload text and a signature. */
static const char *mk(apr_pool_t *p, const char *h, const char *pl, const char *sig)
{
    return apr_pstrcat(p, obo_b64url_encode(p, (const unsigned char *)h, strlen(h)), ".",
                       obo_b64url_encode(p, (const unsigned char *)pl, strlen(pl)), ".",
                       sig, NULL);
}

static apr_status_t parse(apr_pool_t *p, const char *tok, obo_jws **jws, const char **err)
{
    return obo_jws_parse(p, tok, strlen(tok), jws, err);
}

static json_t *obj(apr_pool_t *p, const char *text)
{
    return obo_json_pool(p, json_loads(text, 0, NULL));
}

/* Signs with alg, parses, verifies with pub: the whole happy path. */
static apr_status_t roundtrip(apr_pool_t *p, EVP_PKEY *priv, obo_jwk *pub, const char *alg)
{
    char *tok = NULL;
    obo_jws *jws = NULL;
    const char *err = NULL;
    apr_status_t rv;

    rv = obo_jws_sign(p, priv, alg, obj(p, "{\"kid\":\"k1\",\"typ\":\"at+jwt\"}"),
                      obj(p, "{\"sub\":\"alice\",\"n\":1}"), &tok, &err);
    if (rv == APR_SUCCESS) {
        rv = parse(p, tok, &jws, &err);
    }
    if (rv == APR_SUCCESS) {
        rv = obo_jws_verify(p, jws, pub, &err);
    }
    return rv;
}

static void test_every_alg(apr_pool_t *p)
{
    static const struct { const char *kind, *arg, *alg; } cases[] = {
        { "RSA", "2048", "RS256" }, { "RSA", "2048", "RS384" }, { "RSA", "2048", "RS512" },
        { "RSA", "2048", "PS256" }, { "RSA", "2048", "PS384" }, { "RSA", "2048", "PS512" },
        { "EC", "P-256", "ES256" }, { "EC", "P-384", "ES384" }, { "EC", "P-521", "ES512" },
        { "ED25519", NULL, "EdDSA" }, { "ED448", NULL, "EdDSA" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *k = tk_gen(p, cases[i].kind, cases[i].arg);
        obo_jwk *pub = tk_pub(p, k, "k1");
        ok(k && pub, "%s: key and JWK", cases[i].alg);
        is_int(roundtrip(p, k, pub, cases[i].alg), APR_SUCCESS, "%s: sign, parse, verify",
               cases[i].alg);
        ok(obo_jws_alg_known(cases[i].alg), "%s known", cases[i].alg);
    }
}

static void test_parsed_fields(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    char *tok = NULL;
    obo_jws *jws = NULL;
    const char *err = NULL;

    obo_jws_sign(p, k, "ES256", obj(p, "{\"kid\":\"abc\",\"typ\":\"JWT\"}"),
                 obj(p, "{\"sub\":\"bob\"}"), &tok, &err);
    is_int(parse(p, tok, &jws, &err), APR_SUCCESS, "parse signed token");
    is_str(jws->alg, "ES256", "alg");
    is_str(jws->kid, "abc", "kid");
    is_str(jws->typ, "JWT", "typ");
    is_str(obo_json_str(jws->payload, "sub"), "bob", "payload sub");
    is_int(jws->siglen, 64, "ES256 signature is raw r||s");
    ok(jws->signing_input_len == (apr_size_t)(strrchr(tok, '.') - tok)
       && strncmp(jws->signing_input, tok, jws->signing_input_len) == 0,
       "signing input is header.payload");

    ok(obo_jws_sign(p, k, "ES256", NULL, obj(p, "{}"), &tok, &err) == APR_SUCCESS
       && parse(p, tok, &jws, &err) == APR_SUCCESS && strcmp(jws->alg, "ES256") == 0
       && jws->kid == NULL, "sign without header adds alg only");
    is_int(obo_jws_sign(p, k, "ES256", obj(p, "{\"alg\":\"RS256\"}"), obj(p, "{}"), &tok,
                        &err), APR_EINVAL, "sign refuses a header alg that differs");
    is_int(obo_jws_sign(p, k, "HS256", NULL, obj(p, "{}"), &tok, &err), APR_EINVAL,
           "sign refuses HS256");
    is_int(obo_jws_sign(p, k, "ES384", NULL, obj(p, "{}"), &tok, &err), APR_EINVAL,
           "sign refuses ES384 with a P-256 key");
}

static void test_tamper(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048"), *other = tk_gen(p, "RSA", "2048");
    obo_jwk *pub = tk_pub(p, k, NULL), *opub = tk_pub(p, other, NULL);
    char *tok = NULL, *bad;
    const char *err = NULL, *d1, *d2;
    obo_jws *jws = NULL;

    obo_jws_sign(p, k, "RS256", NULL, obj(p, "{\"sub\":\"alice\"}"), &tok, &err);
    d1 = strchr(tok, '.');
    d2 = strrchr(tok, '.');

    /* Same header and signature, payload swapped for another subject. */
    bad = apr_pstrcat(p, apr_pstrmemdup(p, tok, (apr_size_t)(d1 - tok + 1)),
                      obo_b64url_encode(p, (const unsigned char *)"{\"sub\":\"mallory\"}", 17),
                      d2, NULL);
    ok(parse(p, bad, &jws, &err) == APR_SUCCESS, "tampered token still parses");
    is_int(obo_jws_verify(p, jws, pub, &err), APR_EINVAL, "tampered payload rejected");
    is_str(err, "token signature invalid", "error says signature invalid");

    parse(p, tok, &jws, &err);
    jws->sig[10] ^= 0x01;
    is_int(obo_jws_verify(p, jws, pub, &err), APR_EINVAL, "flipped signature bit rejected");

    parse(p, tok, &jws, &err);
    is_int(obo_jws_verify(p, jws, opub, &err), APR_EINVAL, "wrong key rejected");
    is_int(obo_jws_verify(p, jws, NULL, &err), APR_EINVAL, "no key rejected");
    is_int(obo_jws_verify(p, jws, pub, &err), APR_SUCCESS, "right key accepted");

    /* Header alg swapped RS256 -> PS256: same key type, must still fail. */
    bad = apr_pstrcat(p, mk(p, "{\"alg\":\"PS256\"}", "{\"sub\":\"alice\"}", ""), d2 + 1,
                      NULL);
    ok(parse(p, bad, &jws, &err) == APR_SUCCESS
       && obo_jws_verify(p, jws, pub, &err) == APR_EINVAL, "RS256 signature as PS256 fails");
}

static void test_alg_key_mismatch(apr_pool_t *p)
{
    EVP_PKEY *rsa = tk_gen(p, "RSA", "2048"), *p256 = tk_gen(p, "EC", "P-256");
    EVP_PKEY *p384 = tk_gen(p, "EC", "P-384"), *ed = tk_gen(p, "ED25519", NULL);
    obo_jwk *rsa_pub = tk_pub(p, rsa, NULL), *p256_pub = tk_pub(p, p256, NULL);
    obo_jwk *ed_pub = tk_pub(p, ed, NULL);
    char *tok = NULL;
    obo_jws *jws = NULL;
    const char *err = NULL;

    obo_jws_sign(p, p256, "ES256", NULL, obj(p, "{}"), &tok, &err);
    parse(p, tok, &jws, &err);
    is_int(obo_jws_verify(p, jws, rsa_pub, &err), APR_EINVAL, "ES256 with an RSA key");
    is_str(err, "key does not fit token alg", "mismatch error");
    is_int(obo_jws_verify(p, jws, ed_pub, &err), APR_EINVAL, "ES256 with an Ed25519 key");

    obo_jws_sign(p, rsa, "RS256", NULL, obj(p, "{}"), &tok, &err);
    parse(p, tok, &jws, &err);
    is_int(obo_jws_verify(p, jws, p256_pub, &err), APR_EINVAL, "RS256 with an EC key");
    is_int(obo_jws_verify(p, jws, ed_pub, &err), APR_EINVAL, "RS256 with an Ed25519 key");

    obo_jws_sign(p, p384, "ES384", NULL, obj(p, "{}"), &tok, &err);
    parse(p, tok, &jws, &err);
    is_int(obo_jws_verify(p, jws, p256_pub, &err), APR_EINVAL, "ES384 with a P-256 key");

    obo_jws_sign(p, ed, "EdDSA", NULL, obj(p, "{}"), &tok, &err);
    parse(p, tok, &jws, &err);
    is_int(obo_jws_verify(p, jws, rsa_pub, &err), APR_EINVAL, "EdDSA with an RSA key");
    is_int(obo_jws_verify(p, jws, p256_pub, &err), APR_EINVAL, "EdDSA with an EC key");
}

/* ES signatures must be raw r||s of exactly the curve size. */
static void test_ec_sig_length(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    obo_jwk *pub = tk_pub(p, k, NULL);
    char *tok = NULL;
    obo_jws *jws = NULL;
    const char *err = NULL;
    unsigned char longer[65];

    obo_jws_sign(p, k, "ES256", NULL, obj(p, "{}"), &tok, &err);
    parse(p, tok, &jws, &err);
    jws->siglen = 63;
    is_int(obo_jws_verify(p, jws, pub, &err), APR_EINVAL, "63-byte ES256 sig rejected");
    longer[0] = 0;
    parse(p, tok, &jws, &err);
    memcpy(longer + 1, jws->sig, 64);
    jws->sig = longer;
    jws->siglen = 65;
    is_int(obo_jws_verify(p, jws, pub, &err), APR_EINVAL, "65-byte ES256 sig rejected");
    parse(p, tok, &jws, &err);
    memset(jws->sig, 0, 32);
    is_int(obo_jws_verify(p, jws, pub, &err), APR_EINVAL, "r = 0 rejected");
}

static void test_forbidden_algs(apr_pool_t *p)
{
    obo_jws *jws = NULL;
    const char *err = NULL;
    const char *pl = "{\"sub\":\"x\"}";

    is_int(parse(p, mk(p, "{\"alg\":\"HS256\"}", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "HS256 rejected");
    is_str(err, "token alg not supported", "HS256 error");
    is_int(parse(p, mk(p, "{\"alg\":\"none\"}", pl, ""), &jws, &err), APR_EINVAL,
           "alg none with empty signature rejected");
    is_int(parse(p, mk(p, "{\"alg\":\"none\"}", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "alg none with a signature rejected");
    is_int(parse(p, mk(p, "{\"alg\":\"NONE\"}", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "alg NONE rejected");
    is_int(parse(p, mk(p, "{\"typ\":\"JWT\"}", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "missing alg rejected");
    is_int(parse(p, mk(p, "{\"alg\":256}", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "numeric alg rejected");
    is_int(parse(p, mk(p, "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", pl, "c2ln"),
                 &jws, &err), APR_EINVAL, "crit rejected");
    is_str(err, "token header has crit", "crit error");
    is_int(parse(p, mk(p, "{\"alg\":\"RS256\",\"kid\":7}", pl, "c2ln"), &jws, &err),
           APR_EINVAL, "numeric kid rejected");
    ok(!obo_jws_alg_known("HS256") && !obo_jws_alg_known("none")
       && !obo_jws_alg_known("rs256") && !obo_jws_alg_known(NULL), "alg_known negatives");

    /* A parsed token whose alg was changed afterwards still cannot verify. */
    is_int(parse(p, mk(p, "{\"alg\":\"RS256\"}", pl, "c2ln"), &jws, &err), APR_SUCCESS,
           "RS256 header parses");
    jws->alg = "HS256";
    is_int(obo_jws_verify(p, jws, NULL, &err), APR_EINVAL, "verify refuses HS256");
    jws->alg = "none";
    is_int(obo_jws_verify(p, jws, NULL, &err), APR_EINVAL, "verify refuses none");
}

static void test_structure(apr_pool_t *p)
{
    obo_jws *jws = NULL;
    const char *err = NULL;
    const char *h = "{\"alg\":\"RS256\"}", *pl = "{\"sub\":\"x\"}";
    const char *good = mk(p, h, pl, "c2ln");
    char *big, *deep;
    int i;

    is_int(parse(p, good, &jws, &err), APR_SUCCESS, "well-formed token parses");
    is_int(parse(p, apr_pstrcat(p, good, ".c2ln", NULL), &jws, &err), APR_EINVAL,
           "4 parts rejected");
    is_int(parse(p, apr_pstrndup(p, good, (apr_size_t)(strrchr(good, '.') - good)), &jws,
                 &err), APR_EINVAL, "2 parts rejected");
    is_int(parse(p, "", &jws, &err), APR_EINVAL, "empty token rejected");
    is_int(parse(p, "..", &jws, &err), APR_EINVAL, "empty parts rejected");
    is_int(parse(p, mk(p, h, pl, ""), &jws, &err), APR_EINVAL, "empty signature rejected");
    is_int(parse(p, mk(p, h, pl, "c2ln="), &jws, &err), APR_EINVAL, "padding rejected");
    is_int(parse(p, mk(p, h, pl, "c2l+"), &jws, &err), APR_EINVAL, "'+' rejected");
    is_int(parse(p, mk(p, h, pl, "c2l/"), &jws, &err), APR_EINVAL, "'/' rejected");
    is_int(parse(p, mk(p, h, pl, "c2 ln"), &jws, &err), APR_EINVAL, "space rejected");
    is_int(parse(p, mk(p, h, pl, "c2lo"), &jws, &err), APR_SUCCESS, "c2lo decodes");
    is_int(parse(p, mk(p, h, pl, "c2k"), &jws, &err), APR_SUCCESS, "c2k decodes");
    is_int(parse(p, mk(p, h, pl, "c2l"), &jws, &err), APR_EINVAL,
           "non-zero trailing bits rejected");
    is_int(parse(p, apr_pstrcat(p, " ", good, NULL), &jws, &err), APR_EINVAL,
           "leading whitespace rejected");
    is_int(obo_jws_parse(p, good, strlen(good) + 1, &jws, &err), APR_EINVAL,
           "embedded NUL rejected");

    big = apr_palloc(p, OBO_JWT_MAX_LEN + 2);
    memset(big, 'A', OBO_JWT_MAX_LEN + 1);
    big[OBO_JWT_MAX_LEN + 1] = '\0';
    memcpy(big, good, strlen(good));
    is_int(parse(p, big, &jws, &err), APR_EINVAL, "oversize token rejected");
    is_str(err, "token too long", "oversize error");

    deep = apr_pstrdup(p, "{\"alg\":\"RS256\",\"x\":");
    for (i = 0; i < 40; i++) {
        deep = apr_pstrcat(p, deep, "[", NULL);
    }
    for (i = 0; i < 40; i++) {
        deep = apr_pstrcat(p, deep, "]", NULL);
    }
    deep = apr_pstrcat(p, deep, "}", NULL);
    is_int(parse(p, mk(p, deep, pl, "c2ln"), &jws, &err), APR_EINVAL, "deep header");
    is_str(err, "JSON nested too deeply", "depth error");
    is_int(parse(p, mk(p, h, deep, "c2ln"), &jws, &err), APR_EINVAL, "deep payload");

    is_int(parse(p, mk(p, "{\"alg\":\"RS256\",\"alg\":\"none\"}", pl, "c2ln"), &jws, &err),
           APR_EINVAL, "duplicate header member rejected");
    is_int(parse(p, mk(p, h, "{\"sub\":\"a\",\"sub\":\"b\"}", "c2ln"), &jws, &err),
           APR_EINVAL, "duplicate payload member rejected");
    is_int(parse(p, mk(p, "[\"alg\",\"RS256\"]", pl, "c2ln"), &jws, &err), APR_EINVAL,
           "array header rejected");
    is_int(parse(p, mk(p, h, "\"sub\"", "c2ln"), &jws, &err), APR_EINVAL,
           "string payload rejected");
    is_int(parse(p, mk(p, h, "{\"sub\":\"x\"} x", "c2ln"), &jws, &err), APR_EINVAL,
           "trailing garbage rejected");
    is_int(parse(p, mk(p, h, "{\"sub\":\"a\\u0000b\"}", "c2ln"), &jws, &err), APR_EINVAL,
           "escaped NUL in a string rejected");
    ok(err && strstr(err, "sub") == NULL, "errors do not echo input");
}

/* A key's verification context is set up once per algorithm and copied
 * for each verify: a copy must judge every signature on its own (a good one
 * after a bad one, a bad one after a good one), also from many threads. */
typedef struct vjob {
    const obo_jwk *pub;
    const char *good, *bad;
    int wrong;
} vjob;

static void *verify_many(void *data)
{
    vjob *j = data;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 200; i++) {
        obo_jws *jws = NULL;
        const char *err = NULL, *t = i % 3 ? j->good : j->bad;
        apr_status_t want = i % 3 ? APR_SUCCESS : APR_EINVAL;

        j->wrong += parse(p, t, &jws, &err) != APR_SUCCESS
                    || obo_jws_verify(p, jws, j->pub, &err) != want;
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    return NULL;
}

static void test_verify_context_reuse(apr_pool_t *p)
{
    enum { T = 4 };
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    obo_jwk *pub = tk_pub(p, k, NULL);
    char *good = NULL, *ps = NULL, *bad;
    const char *err = NULL;
    pthread_t th[T];
    vjob jobs[T];
    int i, wrong = 0;

    obo_jws_sign(p, k, "RS256", NULL, obj(p, "{\"sub\":\"alice\"}"), &good, &err);
    obo_jws_sign(p, k, "PS256", NULL, obj(p, "{\"sub\":\"alice\"}"), &ps, &err);
    bad = apr_pstrdup(p, good);
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    for (i = 0; i < T; i++) {
        jobs[i] = (vjob){ pub, i % 2 ? ps : good, bad, 0 };
        pthread_create(&th[i], NULL, verify_many, &jobs[i]);
    }
    for (i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        wrong += jobs[i].wrong;
    }
    is_int(wrong, 0, "%d threads x 200 verifies, good and bad alternating, RS256 and "
           "PS256 with one key: every answer right", T);
    ok(pub->verify_tmpl[0] != NULL && pub->verify_tmpl[3] != NULL,
       "one ready context per algorithm used (RS256, PS256), kept on the key");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_every_alg);
    TAP_RUN(test_parsed_fields);
    TAP_RUN(test_tamper);
    TAP_RUN(test_verify_context_reuse);
    TAP_RUN(test_alg_key_mismatch);
    TAP_RUN(test_ec_sig_length);
    TAP_RUN(test_forbidden_algs);
    TAP_RUN(test_structure);
    apr_terminate();
    return tap_done();
}
