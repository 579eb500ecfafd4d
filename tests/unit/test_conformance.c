/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance corpus (the JSON files of tests/conformance/, docs/conformance.md):
 * public test vectors no one here wrote, each replayed through the code the
 * module validates bearer tokens with, and its verdict asserted. A vector
 * gives a key set (a JWKS), a token, the source's verdict and this module's
 * (with a reason id where they differ on purpose).
 *
 * What runs, as obo_validate_bearer runs it for a provider's keys:
 * obo_jwks_parse (the key set as a JWKS document), obo_jws_parse, the
 * default allow-list (obo_validate_default_algs: no OBOAlgorithms), the
 * typ rule of OBOTokenType's default, obo_jwks_select by kid and alg, then
 * obo_jws_verify with each key selected. Then the claims, at the vector's
 * "now" (chosen inside the token's window unless the vector is about time):
 *   verify, parse: the claim types the module relies on (obo_jwt_check_times
 *     with exp optional, sub, iss and aud as the token's own values would be
 *     configured) - a signature vector is not about which iss or aud a
 *     deployment accepts;
 *   claims: obo_jwt_check_claims in full, with the token's iss configured
 *     and the vector's audiences;
 *   times: obo_jwt_check_times at the vector's now and skew;
 *   payload: the claims of a "parse" vector the module refuses before its
 *     claims (HS256), checked alone as for "parse";
 *   jwks: a key set document alone (obo_jwks_parse: accepted when it has
 *     a usable key).
 * "parse", "times" and "payload" vectors carry placeholder signatures in
 * their source (a parser's or clock's test): no signature is checked. */
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "tap.h"
#include "obo_b64.h"
#include "obo_json.h"
#include "obo_jwk.h"
#include "obo_jws.h"
#include "obo_jwt.h"
#include "obo_validate.h"

#ifndef OBO_CONFORMANCE_DIR
#error "OBO_CONFORMANCE_DIR: the directory of the corpus"
#endif

static const char *const corpus_files[] = {
    "jwt_verify_lib.json", "rfc7520.json", "rfc8037.json", NULL
};

/* What the module made of a vector. */
typedef struct outcome {
    const char *verdict;    /* "accept" or "refuse" */
    const char *stage;      /* where it was refused: jwks, parse, alg, typ, key, ... */
    const char *err;
    const json_t *claims;   /* once the payload parsed */
    const obo_jwks *set;    /* once the key set parsed */
} outcome;

static const char *vstr(const json_t *v, const char *name)
{
    return json_string_value(json_object_get(v, name));
}

static apr_array_header_t *strings(apr_pool_t *p, const json_t *list)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e) {
        if (json_is_string(e)) {
            APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(p, json_string_value(e));
        }
    }
    return a;
}

/* A list of one: the claim's own value, as a deployment would configure it
 * ("" when it is no string: nothing a configuration could name). */
static apr_array_header_t *own(apr_pool_t *p, const json_t *claims, const char *name)
{
    const json_t *c = json_object_get(claims, name);
    apr_array_header_t *a;

    if (json_is_array(c)) {
        a = strings(p, c);
        if (a->nelts == 0) {
            APR_ARRAY_PUSH(a, const char *) = "";
        }
        return a;
    }
    a = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(a, const char *) = json_is_string(c) ? json_string_value(c) : "";
    return a;
}

static int refuse(outcome *o, const char *stage, const char *err)
{
    o->verdict = "refuse";
    o->stage = stage;
    o->err = err ? err : "";
    return 0;
}

/* The key set: "jwks" (an object) serialised, or "jwks_document" (the
 * source's text as is, which need not even be JSON). */
static int keys_ok(apr_pool_t *p, const json_t *v, outcome *o)
{
    const char *text = vstr(v, "jwks_document");
    char *doc = text ? NULL : json_dumps(json_object_get(v, "jwks"), JSON_COMPACT);
    obo_jwks *set = NULL;
    const char *err = NULL;
    int skipped = 0;
    apr_status_t rv = obo_jwks_parse(p, text ? text : doc, strlen(text ? text : doc), &set,
                                     &skipped, &err);

    free(doc);
    o->set = set;
    return rv == APR_SUCCESS ? 1 : refuse(o, "jwks", err);
}

/* Every key obo_jwks_select gives for the token's kid and alg, as
 * obo_validate.c's verify_with_any tries them. */
static int signature_ok(apr_pool_t *p, const obo_jwks *set, const obo_jws *jws, outcome *o)
{
    apr_array_header_t *keys = apr_array_make(p, 2, sizeof(obo_jwk *));
    const char *err = NULL;
    int i;

    obo_jwks_select(set, jws->kid, jws->alg, keys);
    if (keys->nelts == 0) {
        return refuse(o, "key", "no key matches the token");
    }
    for (i = 0; i < keys->nelts; i++) {
        if (obo_jws_verify(p, jws, APR_ARRAY_IDX(keys, i, const obo_jwk *), &err)
            == APR_SUCCESS) {
            return 1;
        }
    }
    return refuse(o, "signature", err);
}

static int claims_ok(apr_pool_t *p, const json_t *v, const char *kind, const json_t *pl,
                     outcome *o)
{
    obo_jwt_rules r;
    const char *err = NULL;

    memset(&r, 0, sizeof(r));
    r.now = (apr_int64_t)json_integer_value(json_object_get(v, "now"));
    r.skew = (apr_int64_t)json_integer_value(json_object_get(v, "skew"));
    if (strcmp(kind, "claims") == 0) {
        r.issuers = own(p, pl, "iss");
        r.audiences = strings(p, json_object_get(v, "audiences"));
        return obo_jwt_check_claims(&r, pl, &err) == APR_SUCCESS ? 1 : refuse(o, "claims", err);
    }
    if (obo_jwt_check_times(&r, pl, 1, &err) != APR_SUCCESS) {
        return refuse(o, "times", err);
    }
    if (strcmp(kind, "times") == 0) {
        return 1;
    }
    if (!obo_jwt_sub_ok(pl)) {
        return refuse(o, "sub", "sub is not a string");
    }
    r.issuers = own(p, pl, "iss");
    if (json_object_get(pl, "iss") && !obo_jwt_issuer_ok(&r, pl)) {
        return refuse(o, "iss", "iss is not a string");
    }
    r.audiences = own(p, pl, "aud");
    if (json_object_get(pl, "aud") && !obo_jwt_audience_ok(&r, pl)) {
        return refuse(o, "aud", "aud is not a string or an array of strings");
    }
    return 1;
}

/* A clock's vector, or a claim vector whose token the module refuses
 * before its claims (an HS256 token): the token's claims, decoded without
 * the rest of the token's checks (the source gives it a placeholder
 * signature), checked as kind says ("times": at the vector's now and skew;
 * "payload": the claim types, as for "parse"). */
static void run_payload(apr_pool_t *p, const json_t *v, const char *kind, outcome *o)
{
    const char *token = vstr(v, "token"), *d1 = strchr(token, '.'), *err = NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char *pl = NULL;
    apr_size_t plen = 0;
    json_t *claims = NULL;

    if (!d2
        || obo_b64url_decode(p, d1 + 1, (apr_size_t)(d2 - d1 - 1), &pl, &plen) != APR_SUCCESS
        || obo_json_parse(p, (const char *)pl, plen, 8, 1, &claims, &err) != APR_SUCCESS) {
        refuse(o, "payload", err);
        return;
    }
    o->claims = claims;
    if (claims_ok(p, v, strcmp(kind, "times") == 0 ? kind : "parse", claims, o)) {
        o->verdict = "accept";
    }
}

static void run(apr_pool_t *p, const json_t *v, outcome *o)
{
    const char *kind = vstr(v, "kind"), *token = vstr(v, "token"), *err = NULL;
    int keyed = strcmp(kind, "verify") == 0 || strcmp(kind, "claims") == 0;
    obo_jws *jws = NULL;

    memset(o, 0, sizeof(*o));
    if (strcmp(kind, "jwks") == 0) {
        o->verdict = keys_ok(p, v, o) ? "accept" : o->verdict;
        return;
    }
    if (strcmp(kind, "times") == 0 || strcmp(kind, "payload") == 0) {
        run_payload(p, v, kind, o);
        return;
    }
    if (keyed && !keys_ok(p, v, o)) {
        return;
    }
    if (obo_jws_parse(p, token, strlen(token), &jws, &err) != APR_SUCCESS) {
        refuse(o, "parse", err);
        return;
    }
    o->claims = jws->payload;
    if (!obo_validate_alg_allowed(obo_validate_default_algs(), jws->alg)) {
        refuse(o, "alg", "algorithm not allowed");
        return;
    }
    if (obo_jwt_check_typ(jws->typ, OBO_TYP_ANY, &err) != APR_SUCCESS) {
        refuse(o, "typ", err);
        return;
    }
    if (keyed && !signature_ok(p, o->set, jws, o)) {
        return;
    }
    if (claims_ok(p, v, kind, jws->payload, o)) {
        o->verdict = "accept";
    }
}

/* For a token obo_jws_parse refuses only for its payload (not a JSON
 * object: the cookbook's and RFC 8037's text payloads), the signature alone,
 * with the parts split here and the same obo_jws_verify: the module still
 * computes these vectors' signatures right. */
static int signature_alone(apr_pool_t *p, const json_t *v)
{
    const char *token = vstr(v, "token"), *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char *hdr = NULL, *sig = NULL;
    apr_size_t hlen = 0, slen = 0;
    json_t *header = NULL;
    const char *err = NULL;
    obo_jws jws;
    outcome o;

    memset(&o, 0, sizeof(o));
    if (!d2 || !keys_ok(p, v, &o)
        || obo_b64url_decode(p, token, (apr_size_t)(d1 - token), &hdr, &hlen) != APR_SUCCESS
        || obo_b64url_decode(p, d2 + 1, strlen(d2 + 1), &sig, &slen) != APR_SUCCESS
        || obo_json_parse(p, (const char *)hdr, hlen, 8, 1, &header, &err) != APR_SUCCESS) {
        return 0;
    }
    memset(&jws, 0, sizeof(jws));
    jws.signing_input = apr_pstrmemdup(p, token, (apr_size_t)(d2 - token));
    jws.signing_input_len = (apr_size_t)(d2 - token);
    jws.header = header;
    jws.alg = obo_json_str(header, "alg");
    jws.kid = obo_json_str(header, "kid");
    jws.sig = sig;
    jws.siglen = slen;
    return jws.alg && signature_ok(p, o.set, &jws, &o);
}

static void check_vector(apr_pool_t *p, const json_t *v, int *counts)
{
    const json_t *m = json_object_get(v, "module");
    const char *id = vstr(v, "id"), *want = vstr(m, "verdict");
    const json_t *claims = json_object_get(m, "claims");
    const char *kind = vstr(v, "kind");
    outcome o;

    if (!ok(kind && strstr(" verify claims parse times payload jwks ",
                           apr_pstrcat(p, " ", kind, " ", NULL)), "%s: a known kind", id)) {
        return;
    }
    run(p, v, &o);
    if (!is_str(o.verdict, want, "%s: %s%s%s%s%s", id, o.verdict, o.stage ? " at " : "",
                o.stage ? o.stage : "", o.err ? ": " : "", o.err ? o.err : "")) {
        return;
    }
    counts[strcmp(want, "accept") == 0]++;
    if (claims) {
        ok(o.claims && json_equal(o.claims, claims), "%s: claims as expected", id);
    }
    if (json_is_true(json_object_get(m, "signature_valid"))) {
        ok(signature_alone(p, v), "%s: signature verifies on its own", id);
    }
}

static void check_file(apr_pool_t *p, const char *name)
{
    const char *path = apr_pstrcat(p, OBO_CONFORMANCE_DIR, "/", name, NULL);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    const json_t *vectors = json_object_get(doc, "vectors");
    int counts[2] = { 0, 0 };
    size_t i;
    json_t *v;

    if (!ok(json_array_size(vectors) > 0, "%s: loaded%s%s", name, doc ? "" : ": ",
            doc ? "" : jerr.text)) {
        json_decref(doc);
        return;
    }
    json_array_foreach(vectors, i, v) {
        apr_pool_t *vp;
        apr_pool_create(&vp, p);
        check_vector(vp, v, counts);
        apr_pool_destroy(vp);
    }
    printf("# %s: %zu vectors, %d accepted and %d refused as expected\n", name,
           json_array_size(vectors), counts[1], counts[0]);
    json_decref(doc);
}

static void test_corpus(apr_pool_t *p)
{
    int i;

    for (i = 0; corpus_files[i]; i++) {
        check_file(p, corpus_files[i]);
    }
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_corpus);
    apr_terminate();
    return tap_done();
}
