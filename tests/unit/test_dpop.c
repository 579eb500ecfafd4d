/* SPDX-License-Identifier: Apache-2.0 */
/* DPoP proofs (RFC 9449 s.4.3): each rule refused alone, htu normalisation
 * and RFC 7638 thumbprints (the RFC's own example). */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_dpop.h"
#include "obo_json.h"
#include "obo_jws.h"

#include "testkeys.h"

#define NOW 1700000000
#define TOKEN "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
#define URL "https://api.example.com/orders/42"

static json_t *obj(apr_pool_t *p, const char *text)
{
    return obo_json_pool(p, json_loads(text, 0, NULL));
}

static const char *ath_of(apr_pool_t *p, const char *tok)
{
    unsigned char h[OBO_SHA256_LEN];

    obo_sha256(tok, strlen(tok), h);
    return obo_b64url_encode(p, h, sizeof(h));
}

/* A proof signed by k under alg, its header's jwk the public key of k,
 * with the given claims; hdr_extra/typ override the header. */
static const char *proof(apr_pool_t *p, EVP_PKEY *k, const char *alg, const char *typ,
                         json_t *claims, json_t *jwk)
{
    json_t *hdr = obo_json_pool(p, json_object());
    char *out = NULL;
    const char *err = NULL;

    if (typ) {
        json_object_set_new(hdr, "typ", json_string(typ));
    }
    json_object_set(hdr, "jwk", jwk ? jwk : tk_jwk(p, k, NULL));
    return obo_jws_sign(p, k, alg, hdr, claims, &out, &err) == APR_SUCCESS ? out : NULL;
}

static json_t *claims(apr_pool_t *p, const char *htm, const char *htu, apr_int64_t iat,
                      const char *jti, const char *ath)
{
    json_t *c = obo_json_pool(p, json_object());

    if (htm) {
        json_object_set_new(c, "htm", json_string(htm));
    }
    if (htu) {
        json_object_set_new(c, "htu", json_string(htu));
    }
    if (iat) {
        json_object_set_new(c, "iat", json_integer(iat));
    }
    if (jti) {
        json_object_set_new(c, "jti", json_string(jti));
    }
    if (ath) {
        json_object_set_new(c, "ath", json_string(ath));
    }
    return c;
}

static obo_dpop_rules rules(void)
{
    obo_dpop_rules r;

    memset(&r, 0, sizeof(r));
    r.htm = "GET";
    r.htu = URL;
    r.access_token = TOKEN;
    r.now = NOW;
    r.window = 60;
    r.skew = 5;
    return r;
}

static apr_status_t check(apr_pool_t *p, const char *prf, const obo_dpop_rules *r,
                          obo_dpop_proof *out, const char **err)
{
    *err = NULL;
    return obo_dpop_verify(p, prf, r, out, err);
}

/* Refused for the reason want names (a part of the error text). */
static int refused(apr_pool_t *p, const char *prf, const obo_dpop_rules *r, const char *want)
{
    obo_dpop_proof o;
    const char *e = NULL;
    int good = check(p, prf, r, &o, &e) == APR_EINVAL && e && strstr(e, want);

    if (!good) {
        printf("# error: %s\n", e ? e : "(none)");
    }
    return good;
}

#define REFUSED(p, prf, r, want, ...) ok(refused(p, prf, r, want), __VA_ARGS__)

static void test_valid(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    obo_dpop_rules r = rules();
    obo_dpop_proof o;
    const char *err = NULL, *jkt = NULL;
    const char *prf = proof(p, k, "ES256", "dpop+jwt",
                            claims(p, "GET", URL, NOW, "j-1", ath_of(p, TOKEN)), NULL);

    is_int(check(p, prf, &r, &o, &err), APR_SUCCESS, "a valid ES256 proof");
    obo_jwk_thumbprint(p, tk_jwk(p, k, NULL), &jkt);
    ok(o.jkt && jkt && strcmp(o.jkt, jkt) == 0, "its thumbprint is the key's");
    ok(o.jti && strcmp(o.jti, "j-1") == 0 && o.iat == NOW && o.nonce == NULL,
       "jti, iat, no nonce");
    r.access_token = NULL;
    is_int(check(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", NULL),
                          NULL), &r, &o, &err), APR_SUCCESS, "no ath needed without a token");
    r = rules();
    is_int(check(p, proof(p, k, "ES256", "dpop+jwt",
                          claims(p, "GET", "HTTPS://API.example.com:443/orders/%34%32?q=1#f",
                                 NOW, "j", ath_of(p, TOKEN)), NULL), &r, &o, &err),
           APR_SUCCESS, "htu normalised: case, default port, %%34%%32, query and fragment");
    is_int(check(p, proof(p, tk_gen(p, "RSA", "2048"), "PS256", "dpop+jwt",
                          claims(p, "GET", URL, NOW, "j", ath_of(p, TOKEN)), NULL),
                 &r, &o, &err), APR_SUCCESS, "PS256");
    is_int(check(p, proof(p, tk_gen(p, "ED25519", NULL), "EdDSA", "dpop+jwt",
                          claims(p, "GET", URL, NOW, "j", ath_of(p, TOKEN)), NULL),
                 &r, &o, &err), APR_SUCCESS, "EdDSA");
}

static void test_each_rule(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256"), *other = tk_gen(p, "EC", "P-256");
    obo_dpop_rules r = rules();
    const char *ath = ath_of(p, TOKEN);
    json_t *priv = tk_jwk(p, k, NULL);
    apr_array_header_t *rs = apr_array_make(p, 1, sizeof(const char *));

    REFUSED(p, proof(p, k, "ES256", "JWT", claims(p, "GET", URL, NOW, "j", ath), NULL), &r,
            "typ", "typ JWT");
    REFUSED(p, proof(p, k, "ES256", NULL, claims(p, "GET", URL, NOW, "j", ath), NULL), &r,
            "typ", "no typ");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "POST", URL, NOW, "j", ath), NULL),
            &r, "htm", "wrong htm");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "get", URL, NOW, "j", ath), NULL),
            &r, "htm", "htm is case-sensitive");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt",
                     claims(p, "GET", "https://api.example.com/orders/43", NOW, "j", ath),
                     NULL), &r, "htu", "wrong htu path");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt",
                     claims(p, "GET", "https://api.example.com:8443/orders/42", NOW, "j", ath),
                     NULL), &r, "htu", "wrong htu port");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt",
                     claims(p, "GET", "http://api.example.com/orders/42", NOW, "j", ath),
                     NULL), &r, "htu", "wrong htu scheme");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW - 66, "j", ath),
                     NULL), &r, "too old", "iat older than window + skew");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW + 6, "j", ath),
                     NULL), &r, "future", "iat beyond the skew");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, 0, "j", ath), NULL),
            &r, "iat", "no iat");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, NULL, ath), NULL),
            &r, "jti", "no jti");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", NULL), NULL),
            &r, "ath", "no ath");
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt",
                     claims(p, "GET", URL, NOW, "j", ath_of(p, "another")), NULL),
            &r, "ath", "ath of another token");
    /* the header's key is another than the signing one */
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath),
                     tk_jwk(p, other, NULL)), &r, "signature", "signed by another key");
    /* a private member in the jwk */
    json_object_set_new(priv, "d", json_string("AAAA"));
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), priv),
            &r, "public key", "a jwk with d");
    /* review 30C: a jwk naming another alg than the header's */
    priv = tk_jwk(p, k, NULL);
    json_object_set_new(priv, "alg", json_string("HS256"));
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), priv),
            &r, "jwk's alg", "a jwk whose alg is HS256 under an ES256 header");
    priv = tk_jwk(p, k, NULL);
    json_object_set_new(priv, "alg", json_string("ES256"));
    {
        obo_dpop_proof o;
        const char *e = NULL;
        ok(check(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), priv),
                 &r, &o, &e) == APR_SUCCESS, "a jwk whose alg is the header's: accepted");
    }
    APR_ARRAY_PUSH(rs, const char *) = "RS256";
    r.algs = rs;
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), NULL),
            &r, "algorithm", "ES256 where only RS256 is allowed");
    r = rules();
    REFUSED(p, "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.", &r, "", "alg none");
    REFUSED(p, "", &r, "missing", "empty");
}

static void test_htu_norm(apr_pool_t *p)
{
    const char *o = NULL;

    is_int(obo_dpop_htu_norm(p, "https://h:99999/x", &o), APR_EINVAL, "port 99999: refused");
    is_int(obo_dpop_htu_norm(p, "https://h:000443/x", &o), APR_EINVAL,
           "a port of six digits: refused");
    ok(obo_dpop_htu_norm(p, "https://h:65535/x", &o) == APR_SUCCESS, "port 65535: fine");

    ok(obo_dpop_htu_norm(p, "https://Example.COM", &o) == APR_SUCCESS
       && strcmp(o, "https://example.com/") == 0, "empty path is /");
    ok(obo_dpop_htu_norm(p, "http://h:80/a%2fb%7e?x", &o) == APR_SUCCESS
       && strcmp(o, "http://h/a%2Fb~") == 0, "port 80 dropped, %%2f kept upper, %%7e decoded");
    ok(obo_dpop_htu_norm(p, "https://[::1]:8443/x", &o) == APR_SUCCESS
       && strcmp(o, "https://[::1]:8443/x") == 0, "IP literal with a port");
    ok(obo_dpop_htu_norm(p, "https://u:pw@h/x", &o) == APR_EINVAL, "user information refused");
    ok(obo_dpop_htu_norm(p, "ftp://h/x", &o) == APR_EINVAL, "other schemes refused");
    ok(obo_dpop_htu_norm(p, "https:///x", &o) == APR_EINVAL, "no host refused");
    ok(obo_dpop_htu_norm(p, "https://h:8x/", &o) == APR_EINVAL, "bad port refused");
    ok(obo_dpop_htu_norm(p, "https://h/%4", &o) == APR_EINVAL, "short escape refused");
    ok(obo_dpop_htu_norm(p, "https://h/%zz", &o) == APR_EINVAL, "bad escape refused");
}

/* RFC 7638 s.3.1: the example RSA key and its thumbprint. */
static void test_thumbprint(apr_pool_t *p)
{
    json_t *rsa = obj(p, "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWh"
        "M78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4"
        "Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
        "u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqb"
        "w0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
        "\"kid\":\"2011-04-29\"}");
    json_t *ec = obj(p, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"abc\"}");
    const char *t = NULL;

    ok(obo_jwk_thumbprint(p, rsa, &t) == APR_SUCCESS
       && strcmp(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == 0,
       "RFC 7638 s.3.1 example thumbprint");
    ok(obo_jwk_thumbprint(p, ec, &t) == APR_EINVAL, "EC without y refused");
    ok(obo_jwk_thumbprint(p, obj(p, "{\"kty\":\"oct\",\"k\":\"x\"}"), &t) == APR_EINVAL,
       "oct refused");
}

/* The parsed-key cache changes no verdict: a cached key still checks each
 * signature, a jwk with a private member is not its cached public twin, a
 * token's jkt is compared first, and more keys than slots all verify. */
static void test_key_cache(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256"), *other = tk_gen(p, "EC", "P-256");
    const char *ath = ath_of(p, TOKEN), *jkt = NULL, *err = NULL;
    obo_dpop_keys *keys = NULL;
    obo_dpop_rules r = rules();
    json_t *priv = tk_jwk(p, k, NULL);
    obo_dpop_proof o;
    int i, good = 0;

    is_int(obo_dpop_keys_create(p, &keys), APR_SUCCESS, "a key cache");
    r.keys = keys;
    for (i = 0; i < 3; i++) {
        good += check(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath),
                               NULL), &r, &o, &err) == APR_SUCCESS;
    }
    is_int(good, 3, "the same key three times (parsed once): accepted");
    check(p, proof(p, other, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), NULL),
          &r, &o, &err);
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath),
                     tk_jwk(p, other, NULL)), &r, "signature",
            "a cached key's jwk on a proof signed by another key: refused");
    json_object_set_new(priv, "d", json_string("AAAA"));
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), priv),
            &r, "public key", "the cached key's jwk with d: refused");
    obo_jwk_thumbprint(p, tk_jwk(p, other, NULL), &jkt);
    r.jkt = jkt;
    REFUSED(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), NULL),
            &r, "bound to", "a proof by a key other than the token's jkt: refused first");
    r.jkt = NULL;
    for (i = 0, good = 0; i < OBO_DPOP_KEY_SLOTS + 6; i++) {
        EVP_PKEY *n = tk_gen(p, "EC", "P-256");
        good += check(p, proof(p, n, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath),
                               NULL), &r, &o, &err) == APR_SUCCESS;
    }
    is_int(good, OBO_DPOP_KEY_SLOTS + 6, "more keys than slots: every one accepted");
    is_int(check(p, proof(p, k, "ES256", "dpop+jwt", claims(p, "GET", URL, NOW, "j", ath), NULL),
                 &r, &o, &err), APR_SUCCESS, "an evicted key is parsed again");
}

/* Stateless server nonces: accepted during their period and the next,
 * refused once older, from the future, under another key, or altered. */
static void test_nonce(apr_pool_t *p)
{
    unsigned char key[OBO_DPOP_NONCE_KEY_LEN], other[OBO_DPOP_NONCE_KEY_LEN];
    apr_int64_t t0 = (apr_int64_t)NOW / OBO_DPOP_NONCE_PERIOD * OBO_DPOP_NONCE_PERIOD;
    const char *n = NULL;
    char *bad;
    int cur = -1;

    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    n = obo_dpop_nonce(p, key, t0 + 10);
    is_int(strlen(n), 32, "a nonce is 32 characters");
    ok(strcmp(n, obo_dpop_nonce(p, key, t0 + 290)) == 0, "one nonce per period");
    ok(strcmp(n, obo_dpop_nonce(p, key, t0 + 310)) != 0, "a new one in the next period");
    ok(obo_dpop_nonce_check(p, key, n, t0 + 20, 0, &cur) == APR_SUCCESS && cur == 1,
       "accepted and current in its period");
    ok(obo_dpop_nonce_check(p, key, n, t0 + 400, 0, &cur) == APR_SUCCESS && cur == 0,
       "accepted in the next period, not current (a fresh one is due)");
    is_int(obo_dpop_nonce_check(p, key, n, t0 + 600, 0, &cur), APR_EINVAL,
           "refused two periods later");
    is_int(obo_dpop_nonce_check(p, key, n, t0 + 605, 10, &cur), APR_SUCCESS,
           "the skew covers a peer's slower clock");
    is_int(obo_dpop_nonce_check(p, key, n, t0 - 30, 0, &cur), APR_EINVAL,
           "a nonce from the future refused");
    is_int(obo_dpop_nonce_check(p, other, n, t0 + 20, 0, &cur), APR_EINVAL,
           "another key's nonce refused");
    bad = apr_pstrdup(p, n);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    is_int(obo_dpop_nonce_check(p, key, bad, t0 + 20, 0, &cur), APR_EINVAL,
           "an altered nonce refused");
    bad = apr_pstrdup(p, obo_dpop_nonce(p, key, t0 + 20 + 100 * OBO_DPOP_NONCE_PERIOD));
    is_int(obo_dpop_nonce_check(p, key, bad, t0 + 20, 0, &cur), APR_EINVAL,
           "a nonce for a later period refused");
    is_int(obo_dpop_nonce_check(p, key, "short", t0, 0, &cur), APR_EINVAL, "garbage refused");
    is_int(obo_dpop_nonce_check(p, key, NULL, t0, 0, &cur), APR_EINVAL, "none refused");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_valid);
    TAP_RUN(test_each_rule);
    TAP_RUN(test_htu_norm);
    TAP_RUN(test_thumbprint);
    TAP_RUN(test_nonce);
    TAP_RUN(test_key_cache);
    apr_terminate();
    return tap_done();
}
