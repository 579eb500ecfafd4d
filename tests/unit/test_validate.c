/* SPDX-License-Identifier: Apache-2.0 */
/* The validation pipeline with a real provider (JWKS from a file): the
 * verified-signature memo must never outlive the keys or bypass a check. */
#include <stdio.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "testkeys.h"
#include "obo_jws.h"
#include "obo_provider.h"
#include "obo_json.h"
#include "obo_validate.h"
#include "obo_vcache.h"

#define ISS "https://issuer.test/v2.0"
#define AUD "api://test-api"

typedef struct fixture {
    char path[64];
    obo_provider *pv;
    obo_memo *vc;
    obo_validate_opts o;
    obo_provider_cfg cfg;
} fixture;

static apr_array_header_t *list(apr_pool_t *p, const char *a, const char *b)
{
    apr_array_header_t *l = apr_array_make(p, 2, sizeof(const char *));
    APR_ARRAY_PUSH(l, const char *) = a;
    if (b) {
        APR_ARRAY_PUSH(l, const char *) = b;
    }
    return l;
}

static void write_jwks(apr_pool_t *p, const char *path, EVP_PKEY *k, const char *kid)
{
    json_t *set = obo_json_pool(p, json_pack("{s:[O]}", "keys", tk_jwk(p, k, kid)));
    FILE *f = fopen(path, "w");

    fputs(obo_json_dump(p, set), f);
    fclose(f);
}

/* A token of issuer iss signed by k under kid, valid for exp_in seconds. */
static const char *token_iss(apr_pool_t *p, EVP_PKEY *k, const char *kid, const char *iss,
                             long exp_in)
{
    json_t *h = obo_json_pool(p, json_pack("{s:s}", "kid", kid));
    json_t *c = obo_json_pool(p, json_pack("{s:s,s:s,s:s,s:I}", "iss", iss, "aud", AUD,
                                           "sub", "alice",
                                           "exp", (json_int_t)(time(NULL) + exp_in)));
    char *out = NULL;
    const char *err = NULL;

    obo_jws_sign(p, k, "RS256", h, c, &out, &err);
    return out;
}

static const char *token(apr_pool_t *p, EVP_PKEY *k, const char *kid, long exp_in)
{
    return token_iss(p, k, kid, ISS, exp_in);
}

/* A token with header typ (NULL: none), else like token(). */
static const char *typed(apr_pool_t *p, EVP_PKEY *k, const char *typ)
{
    json_t *h = obo_json_pool(p, typ ? json_pack("{s:s,s:s}", "kid", "k1", "typ", typ)
                                     : json_pack("{s:s}", "kid", "k1"));
    json_t *c = obo_json_pool(p, json_pack("{s:s,s:s,s:s,s:I}", "iss", ISS, "aud", AUD,
                                           "sub", "alice",
                                           "exp", (json_int_t)(time(NULL) + 600)));
    char *out = NULL;
    const char *err = NULL;

    obo_jws_sign(p, k, "RS256", h, c, &out, &err);
    return out;
}

static void setup(apr_pool_t *p, fixture *f, EVP_PKEY *k)
{
    obo_http *http = NULL;

    apr_snprintf(f->path, sizeof(f->path), "/tmp/obo-test-jwks.%ld.json", (long)getpid());
    write_jwks(p, f->path, k, "k1");
    memset(&f->cfg, 0, sizeof(f->cfg));
    memset(&f->o, 0, sizeof(f->o));
    f->cfg.jwks_file = f->path;
    f->cfg.issuers = list(p, ISS, NULL);
    obo_http_create(p, &http);
    obo_provider_create(p, &f->cfg, http, &f->pv);
    obo_memo_create(p, 64, &f->vc);
    f->o.algs = list(p, "RS256", "ES256");
    f->o.audiences = list(p, AUD, NULL);
    f->o.skew = 0;
    f->o.verified = f->vc;
}

static apr_status_t check(apr_pool_t *p, fixture *f, const char *tok)
{
    obo_jws *jws = NULL;
    const char *err = NULL;
    return obo_validate_bearer(p, f->pv, &f->o, tok, strlen(tok), &jws, &err);
}

static unsigned long hits(fixture *f)
{
    obo_memo_stats st;
    obo_memo_get_stats(f->vc, &st);
    return st.hits;
}

static void test_memo_hits_but_rechecks(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    fixture f;
    const char *tok;
    char *tampered;

    setup(p, &f, k);
    tok = token(p, k, "k1", 600);
    is_int(check(p, &f, tok), APR_SUCCESS, "valid token accepted");
    is_int(hits(&f), 0, "first validation verifies the signature");
    is_int(check(p, &f, tok), APR_SUCCESS, "accepted again");
    is_int(hits(&f), 1, "second validation is a memo hit");
    tampered = apr_pstrdup(p, tok);
    tampered[strlen(tampered) - 5] ^= 1;
    ok(check(p, &f, tampered) != APR_SUCCESS, "different bytes are not a hit: tampered fails");
    f.o.audiences = list(p, "api://other", NULL);
    is_int(check(p, &f, tok), APR_EINVAL, "claims are checked on a hit (audience)");
    f.o.audiences = list(p, AUD, NULL);
    f.o.algs = list(p, "PS256", NULL);
    is_int(check(p, &f, tok), APR_EINVAL, "the allow-list applies on a hit");
    unlink(f.path);
}

static void test_expired_after_memo(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    fixture f;
    const char *tok;

    setup(p, &f, k);
    /* 3 s: a loaded machine took over 1 s between minting and the check */
    tok = token(p, k, "k1", 3);
    is_int(check(p, &f, tok), APR_SUCCESS, "short-lived token accepted");
    sleep(4);
    is_int(check(p, &f, tok), APR_EINVAL, "and rejected once expired, memo or not");
    unlink(f.path);
}

static void test_rotation_invalidates(apr_pool_t *p)
{
    EVP_PKEY *k1 = tk_gen(p, "RSA", "2048"), *k2 = tk_gen(p, "RSA", "2048");
    fixture f;
    const char *old, *fresh;
    obo_provider_stats st;

    setup(p, &f, k1);
    old = token(p, k1, "k1", 600);
    is_int(check(p, &f, old), APR_SUCCESS, "token of key 1 accepted");
    is_int(check(p, &f, old), APR_SUCCESS, "and memoised");
    write_jwks(p, f.path, k2, "k2");
    fresh = token(p, k2, "k2", 600);
    is_int(check(p, &f, fresh), APR_SUCCESS, "unknown kid k2: one refetch finds the new key");
    is_int(check(p, &f, old), APR_EINVAL, "key 1 left the JWKS: its memoised token is refused");
    obo_provider_get_stats(f.pv, &st);
    is_int(st.jwks_fetches, 2, "two JWKS loads (first use + unknown kid)");
    is_int(check(p, &f, token(p, k2, "k9", 600)), APR_EINVAL, "another unknown kid refused");
    obo_provider_get_stats(f.pv, &st);
    is_int(st.jwks_fetches, 2, "and its refetch throttled (60 s)");
    unlink(f.path);
}

static void test_no_keys_is_unavailable(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    fixture f;
    const char *tok;

    setup(p, &f, k);
    tok = token(p, k, "k1", 600);
    unlink(f.path);
    is_int(check(p, &f, tok), APR_EAGAIN, "JWKS never loadable: unavailable (503), not invalid");
}

static void test_periodic_refresh_on_hits(apr_pool_t *p)
{
    EVP_PKEY *k1 = tk_gen(p, "RSA", "2048"), *k2 = tk_gen(p, "RSA", "2048");
    fixture f;
    const char *tok;
    obo_http *http = NULL;

    setup(p, &f, k1);
    f.cfg.jwks_refresh = apr_time_from_msec(500);
    obo_http_create(p, &http);
    obo_provider_create(p, &f.cfg, http, &f.pv);
    tok = token(p, k1, "k1", 600);
    is_int(check(p, &f, tok), APR_SUCCESS, "accepted, memoised");
    write_jwks(p, f.path, k2, "k2");      /* key 1 revoked */
    apr_sleep(apr_time_from_msec(700));
    is_int(check(p, &f, tok), APR_EINVAL,
           "a token seen only as memo hits still meets the periodic refresh");
    unlink(f.path);
}

/* A logout token is signed by the same keys, for the same audience: only
 * its typ says it is no access token. The memo must not let it through. */
static void test_typ(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    const char *logout = typed(p, k, "logout+jwt"), *err = NULL;
    obo_jws *jws = NULL;
    fixture f;

    setup(p, &f, k);
    is_int(check(p, &f, typed(p, k, NULL)), APR_SUCCESS, "no typ: accepted");
    is_int(check(p, &f, typed(p, k, "JWT")), APR_SUCCESS, "typ JWT: accepted");
    is_int(check(p, &f, typed(p, k, "application/okta-internal-at+jwt")), APR_SUCCESS,
           "vendor at+jwt: accepted");
    is_int(obo_validate_bearer(p, f.pv, &f.o, logout, strlen(logout), &jws, &err),
           APR_EINVAL, "typ logout+jwt: refused although its signature is good");
    is_str(err, "token type (typ) is not an access token", "with invalid_token's reason");
    is_int(check(p, &f, typed(p, k, "secevent+jwt")), APR_EINVAL, "secevent+jwt refused");
    is_int(check(p, &f, typed(p, k, "id_token+jwt")), APR_EINVAL, "id_token+jwt refused");
    f.o.typ = OBO_TYP_AT_JWT;
    is_int(check(p, &f, typed(p, k, "at+jwt")), APR_SUCCESS, "at+jwt rule: at+jwt accepted");
    is_int(check(p, &f, typed(p, k, "application/at+jwt")), APR_SUCCESS,
           "at+jwt rule: application/at+jwt accepted");
    is_int(check(p, &f, typed(p, k, NULL)), APR_EINVAL, "at+jwt rule: no typ refused");
    is_int(check(p, &f, typed(p, k, "JWT")), APR_EINVAL, "at+jwt rule: JWT refused");
    unlink(f.path);
}

/* ---- the L1 of validated tokens (obo_vcache) in the pipeline ------------- */

static void setup_l1(apr_pool_t *p, fixture *f, EVP_PKEY *k, obo_vcache **l1)
{
    setup(p, f, k);
    obo_vcache_create(p, 64, l1);
    f->o.verified = NULL;
    f->o.validated = *l1;
}

static unsigned long l1_hits(obo_vcache *l1)
{
    obo_vcache_stats st;
    obo_vcache_get_stats(l1, &st);
    return st.hits;
}

static void test_l1_hit_rechecks_location_rules(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    obo_vcache *l1 = NULL;
    obo_jws *jws = NULL;
    const char *tok, *err = NULL;
    char *tampered;
    fixture f;

    setup_l1(p, &f, k, &l1);
    tok = token(p, k, "k1", 600);
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: valid token accepted");
    is_int(l1_hits(l1), 0, "L1: first validation is a miss");
    is_int(obo_validate_bearer(p, f.pv, &f.o, tok, strlen(tok), &jws, &err), APR_SUCCESS,
           "L1: accepted again");
    is_int(l1_hits(l1), 1, "L1: second validation is a hit");
    is_str(obo_json_str(jws->payload, "sub"), "alice", "L1: the hit carries the claims");
    is_str(jws->alg, "RS256", "L1: and the header");
    tampered = apr_pstrdup(p, tok);
    tampered[strlen(tampered) - 5] ^= 1;
    ok(check(p, &f, tampered) != APR_SUCCESS, "L1: different bytes are not a hit");
    f.o.audiences = list(p, "api://other", NULL);
    is_int(check(p, &f, tok), APR_EINVAL, "L1: another Location's audience refuses the hit");
    f.o.audiences = list(p, AUD, NULL);
    f.o.algs = list(p, "PS256", NULL);
    is_int(check(p, &f, tok), APR_EINVAL, "L1: another Location's alg allow-list too");
    f.o.algs = list(p, "RS256", NULL);
    f.o.typ = OBO_TYP_AT_JWT;
    is_int(check(p, &f, tok), APR_EINVAL, "L1: and its typ rule");
    f.o.typ = OBO_TYP_ANY;
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: back at the first Location: accepted");
    ok(l1_hits(l1) >= 4, "L1: those were all hits (got %lu)", l1_hits(l1));
    unlink(f.path);
}

static void test_l1_expiry(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    obo_vcache *l1 = NULL;
    const char *tok;
    fixture f;

    setup_l1(p, &f, k, &l1);
    tok = token(p, k, "k1", 3);     /* as test_expired_after_memo */
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: short-lived token accepted");
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: and a hit");
    sleep(4);
    is_int(check(p, &f, tok), APR_EINVAL, "L1: refused once its exp has passed in the L1");
    is_int(l1_hits(l1), 2, "L1: that refusal was a hit, checked for expiry");
    unlink(f.path);
}

/* Refused tokens take no slot: a well-signed token that is expired (or of
 * an issuer not accepted) would otherwise fill the L1 (review finding). */
static void test_l1_refused_not_stored(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    obo_vcache *l1 = NULL;
    obo_vcache_stats st;
    const char *expired;
    fixture f;
    int i;

    setup_l1(p, &f, k, &l1);
    expired = token(p, k, "k1", -3600);
    for (i = 0; i < 3; i++) {
        is_int(check(p, &f, expired), APR_EINVAL, "L1: expired, well-signed token refused");
    }
    obo_vcache_get_stats(l1, &st);
    ok(st.stores == 0 && st.hits == 0 && st.deferred == 0,
       "L1: it was never stored nor offered (stores %lu, hits %lu, deferred %lu)", st.stores,
       st.hits, st.deferred);
    unlink(f.path);
}

static void test_l1_rotation(apr_pool_t *p)
{
    EVP_PKEY *k1 = tk_gen(p, "RSA", "2048"), *k2 = tk_gen(p, "RSA", "2048");
    obo_vcache *l1 = NULL;
    const char *old;
    fixture f;

    setup_l1(p, &f, k1, &l1);
    old = token(p, k1, "k1", 600);
    is_int(check(p, &f, old), APR_SUCCESS, "L1: token of key 1 accepted");
    is_int(check(p, &f, old), APR_SUCCESS, "L1: and remembered");
    write_jwks(p, f.path, k2, "k2");
    is_int(check(p, &f, token(p, k2, "k2", 600)), APR_SUCCESS, "L1: new key set loaded");
    is_int(check(p, &f, old), APR_EINVAL, "L1: key 1 left the JWKS: its token is refused");
    unlink(f.path);
}

static void test_l1_periodic_refresh(apr_pool_t *p)
{
    EVP_PKEY *k1 = tk_gen(p, "RSA", "2048"), *k2 = tk_gen(p, "RSA", "2048");
    obo_vcache *l1 = NULL;
    obo_http *http = NULL;
    const char *tok;
    fixture f;

    setup_l1(p, &f, k1, &l1);
    f.cfg.jwks_refresh = apr_time_from_msec(500);
    obo_http_create(p, &http);
    obo_provider_create(p, &f.cfg, http, &f.pv);
    tok = token(p, k1, "k1", 600);
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: accepted");
    is_int(check(p, &f, tok), APR_SUCCESS, "L1: a hit");
    write_jwks(p, f.path, k2, "k2");      /* key 1 revoked */
    apr_sleep(apr_time_from_msec(700));
    is_int(check(p, &f, tok), APR_EINVAL, "L1: hits still meet the periodic JWKS refresh");
    unlink(f.path);
}

static void test_l1_typ(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "RSA", "2048");
    const char *logout = typed(p, k, "logout+jwt");
    obo_vcache *l1 = NULL;
    fixture f;

    setup_l1(p, &f, k, &l1);
    is_int(check(p, &f, logout), APR_EINVAL, "L1: logout+jwt refused");
    is_int(check(p, &f, logout), APR_EINVAL, "L1: and again (never served from the L1)");
    unlink(f.path);
}

/* ---- several providers ---------------------------------------------------- */

#define ISS2 "https://second.test/v2.0"

/* A token of issuer iss signed by k under kid k1. */
static const char *token_of(apr_pool_t *p, EVP_PKEY *k, const char *iss)
{
    return token_iss(p, k, "k1", iss, 600);
}

static apr_status_t among(apr_pool_t *p, fixture *f, apr_array_header_t *pvs,
                          const char *tok, obo_provider **used)
{
    obo_jws *jws = NULL;
    const char *err = NULL;

    *used = NULL;
    return obo_validate_bearer_among(p, pvs, &f->o, tok, strlen(tok), &jws, used, &err);
}

/* Two providers publishing different keys under the same kid: each token
 * verifies with its own provider's key only, whatever the memo and L1 hold;
 * an issuer of neither is refused; OBOAcceptIssuer narrows the set. */
static void test_colliding_kid(apr_pool_t *p)
{
    EVP_PKEY *ka = tk_gen(p, "RSA", "2048"), *kb = tk_gen(p, "RSA", "2048");
    obo_provider_cfg cfg2;
    obo_provider *pv2 = NULL, *used = NULL;
    obo_vcache *l1 = NULL;
    obo_http *http = NULL;
    apr_array_header_t *pvs = apr_array_make(p, 2, sizeof(obo_provider *));
    char path2[64];
    fixture f;
    int round;

    setup(p, &f, ka);
    apr_snprintf(path2, sizeof(path2), "/tmp/obo-test-jwks2.%ld.json", (long)getpid());
    write_jwks(p, path2, kb, "k1");
    memset(&cfg2, 0, sizeof(cfg2));
    cfg2.jwks_file = path2;
    cfg2.issuers = list(p, ISS2, NULL);
    obo_http_create(p, &http);
    obo_provider_create(p, &cfg2, http, &pv2);
    APR_ARRAY_PUSH(pvs, obo_provider *) = f.pv;
    APR_ARRAY_PUSH(pvs, obo_provider *) = pv2;
    obo_vcache_create(p, 64, &l1);
    for (round = 0; round < 2; round++) {
        f.o.validated = round ? l1 : NULL;
        f.o.verified = round ? NULL : f.vc;
        is_int(among(p, &f, pvs, token_of(p, ka, ISS), &used), APR_SUCCESS,
               "round %d: issuer 1, key 1: accepted", round);
        ok(used == f.pv, "round %d: by provider 1", round);
        is_int(among(p, &f, pvs, token_of(p, kb, ISS2), &used), APR_SUCCESS,
               "round %d: issuer 2, key 2 (same kid): accepted", round);
        ok(used == pv2, "round %d: by provider 2", round);
        is_int(among(p, &f, pvs, token_of(p, ka, ISS2), &used), APR_EINVAL,
               "round %d: key 1 claiming issuer 2: refused", round);
        is_int(among(p, &f, pvs, token_of(p, kb, ISS), &used), APR_EINVAL,
               "round %d: key 2 claiming issuer 1: refused", round);
        is_int(among(p, &f, pvs, token_of(p, ka, "https://nobody.test/"), &used), APR_EINVAL,
               "round %d: an issuer of neither: refused", round);
    }
    f.o.accept_issuers = list(p, ISS, NULL);
    is_int(among(p, &f, pvs, token_of(p, ka, ISS), &used), APR_SUCCESS,
           "OBOAcceptIssuer: its issuer's token accepted");
    is_int(among(p, &f, pvs, token_of(p, kb, ISS2), &used), APR_EINVAL,
           "OBOAcceptIssuer: another provider's valid token refused");
    unlink(f.path);
    unlink(path2);
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_memo_hits_but_rechecks);
    TAP_RUN(test_expired_after_memo);
    TAP_RUN(test_rotation_invalidates);
    TAP_RUN(test_no_keys_is_unavailable);
    TAP_RUN(test_periodic_refresh_on_hits);
    TAP_RUN(test_typ);
    TAP_RUN(test_l1_hit_rechecks_location_rules);
    TAP_RUN(test_l1_expiry);
    TAP_RUN(test_l1_refused_not_stored);
    TAP_RUN(test_l1_rotation);
    TAP_RUN(test_l1_periodic_refresh);
    TAP_RUN(test_l1_typ);
    TAP_RUN(test_colliding_kid);
    apr_terminate();
    return tap_done();
}
