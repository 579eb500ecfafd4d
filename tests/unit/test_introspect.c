/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 7662 introspection answers: parsing (huge, deep, odd answers), the
 * checks (active, exp/nbf with skew, iss and aud when present, token_type),
 * scope, how long an answer is kept, and the cache key. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_crypto.h"
#include "obo_introspect.h"
#include "obo_json.h"

#define NOW 1700000000
#define SKEW 60
#define ISS "https://idp.example/realms/r"
#define MS_TMPL "https://login.microsoftonline.com/{tenantid}/v2.0"
#define TID "72f988bf-86f1-41af-91ab-2d7cd011db47"

static obo_introspect_rules rules(apr_pool_t *p)
{
    obo_introspect_rules r;
    apr_array_header_t *iss = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *aud = apr_array_make(p, 2, sizeof(const char *));

    APR_ARRAY_PUSH(iss, const char *) = ISS;
    APR_ARRAY_PUSH(iss, const char *) = MS_TMPL;
    APR_ARRAY_PUSH(aud, const char *) = "api://orders";
    APR_ARRAY_PUSH(aud, const char *) = "api://other";
    r.issuers = iss;
    r.audiences = aud;
    r.skew = SKEW;
    r.now = NOW;
    r.now_usec = 0;
    return r;
}

/* A passing answer with member name set to the JSON text val (removed when
 * val is NULL). */
static json_t *answer(apr_pool_t *p, const char *name, const char *val)
{
    json_t *j = obo_json_pool(p, json_pack("{s:b, s:s, s:s, s:I, s:s, s:s, s:s}",
                                           "active", 1, "iss", ISS, "aud", "api://orders",
                                           "exp", (json_int_t)NOW + 600, "sub", "alice",
                                           "scope", "read write", "token_type", "Bearer"));

    if (name && val) {
        json_object_set_new(j, name, json_loads(val, JSON_DECODE_ANY, NULL));
    }
    else if (name) {
        json_object_del(j, name);
    }
    return j;
}

static apr_status_t check(apr_pool_t *p, const json_t *a, const char **err)
{
    obo_introspect_rules r = rules(p);

    *err = NULL;
    return obo_introspect_check(&r, a, err);
}

static int refused(apr_pool_t *p, const char *name, const char *val, const char *want_err)
{
    const char *err = NULL;
    apr_status_t rv = check(p, answer(p, name, val), &err);

    return rv == APR_EINVAL && err && (!want_err || strcmp(err, want_err) == 0);
}

static int passes(apr_pool_t *p, const char *name, const char *val)
{
    const char *err = NULL;

    return check(p, answer(p, name, val), &err) == APR_SUCCESS;
}

static void test_active(apr_pool_t *p)
{
    ok(passes(p, NULL, NULL), "a complete active answer passes");
    ok(refused(p, "active", "false", "token is not active"), "active false: refused");
    ok(refused(p, "active", NULL, "token is not active"), "active missing: refused");
    ok(refused(p, "active", "\"true\"", "token is not active"), "active \"true\": refused");
    ok(refused(p, "active", "1", "token is not active"), "active 1: refused");
    ok(refused(p, "active", "null", "token is not active"), "active null: refused");
    ok(refused(p, "active", "[true]", "token is not active"), "active [true]: refused");
}

static void test_times(apr_pool_t *p)
{
    const char *e = apr_psprintf(p, "%d", NOW - SKEW);
    const char *in_skew = apr_psprintf(p, "%d", NOW - SKEW + 1);

    ok(passes(p, "exp", NULL), "no exp: passes (RFC 7662 makes it optional)");
    ok(refused(p, "exp", e, "token expired"), "exp at now - skew: expired");
    ok(passes(p, "exp", in_skew), "exp inside the skew: passes");
    ok(refused(p, "exp", "\"soon\"", "invalid exp"), "exp a string: refused");
    ok(refused(p, "nbf", apr_psprintf(p, "%d", NOW + SKEW + 1), "token not yet valid"),
       "nbf beyond the skew: refused");
    ok(passes(p, "nbf", apr_psprintf(p, "%d", NOW + SKEW)), "nbf inside the skew: passes");
    ok(refused(p, "nbf", "true", "invalid nbf"), "nbf a boolean: refused");
    ok(refused(p, "exp", "-9223372036854775808", "token expired"), "exp INT64_MIN: expired");
    ok(passes(p, "exp", "9223372036854775807"), "exp INT64_MAX: no overflow");
}

static void test_issuer(apr_pool_t *p)
{
    json_t *a;
    const char *err = NULL;

    ok(passes(p, "iss", NULL), "no iss: passes");
    ok(refused(p, "iss", "\"https://evil.example/\"", "issuer not accepted"),
       "another issuer: refused");
    ok(refused(p, "iss", "\"" ISS "/\"", "issuer not accepted"), "a trailing slash: refused");
    ok(refused(p, "iss", "42", "issuer not accepted"), "iss a number: refused");
    a = answer(p, "iss", "\"https://login.microsoftonline.com/" TID "/v2.0\"");
    json_object_set_new(a, "tid", json_string(TID));
    ok(check(p, a, &err) == APR_SUCCESS, "{tenantid} issuer with the answer's own tid");
    json_object_set_new(a, "tid", json_string("00000000-0000-0000-0000-000000000000"));
    ok(check(p, a, &err) == APR_EINVAL, "{tenantid} issuer with another tid: refused");
}

static void test_audience(apr_pool_t *p)
{
    ok(passes(p, "aud", NULL), "no aud: passes");
    ok(passes(p, "aud", "\"api://other\""), "aud a string, the second accepted value");
    ok(passes(p, "aud", "[\"x\", \"api://orders\"]"), "aud an array holding an accepted one");
    ok(refused(p, "aud", "\"api://nope\"", "audience not accepted"), "wrong aud string");
    ok(refused(p, "aud", "[\"a\", \"b\"]", "audience not accepted"), "wrong aud array");
    ok(refused(p, "aud", "[]", "audience not accepted"), "empty aud array");
    ok(refused(p, "aud", "[1, {\"x\": 1}]", "audience not accepted"), "aud of non-strings");
}

static void test_token_type(apr_pool_t *p)
{
    ok(passes(p, "token_type", NULL), "no token_type: passes");
    ok(passes(p, "token_type", "\"access_token\""), "access_token passes");
    ok(refused(p, "token_type", "\"refresh_token\"", "a refresh token is not an access token"),
       "refresh_token: refused");
    ok(refused(p, "token_type", "\"Refresh_Token\"", "a refresh token is not an access token"),
       "Refresh_Token (case): refused");
    ok(refused(p, "token_type", "\"urn:ietf:params:oauth:token-type:refresh_token\"",
               "a refresh token is not an access token"), "the RFC 8693 URN: refused");
    ok(refused(p, "token_type", "[\"Bearer\"]", NULL), "token_type an array: refused");
}

static void test_scope(apr_pool_t *p)
{
    json_t *a = answer(p, NULL, NULL);

    ok(obo_introspect_has_scope(a, "read"), "first scope");
    ok(obo_introspect_has_scope(a, "write"), "second scope");
    ok(!obo_introspect_has_scope(a, "rea"), "no prefix match");
    ok(!obo_introspect_has_scope(a, "read write"), "not the whole string as one scope");
    ok(!obo_introspect_has_scope(answer(p, "scope", NULL), "read"), "no scope member");
    ok(!obo_introspect_has_scope(answer(p, "scope", "42"), "42"), "scope a number");
    ok(obo_introspect_has_scope(answer(p, "scope", "\"  a   b \""), "b"),
       "runs of spaces separate");
    ok(!obo_introspect_has_scope(answer(p, "scope", "\"\""), ""), "the empty scope never");
}

static void test_parse(apr_pool_t *p)
{
    json_t *a = NULL;
    const char *err = NULL;
    apr_size_t big = OBO_INTROSPECT_MAX_BYTES + 1;
    char *huge = apr_palloc(p, big + 1), *deep;
    int i;

    ok(obo_introspect_parse(p, "{\"active\":true}", 15, &a, &err) == APR_SUCCESS,
       "an object parses");
    ok(obo_introspect_parse(p, "[true]", 6, &a, &err) == APR_EINVAL, "an array: refused");
    ok(obo_introspect_parse(p, "true", 4, &a, &err) == APR_EINVAL, "a scalar: refused");
    ok(obo_introspect_parse(p, "{\"active\":true} x", 17, &a, &err) == APR_EINVAL,
       "trailing garbage: refused");
    ok(obo_introspect_parse(p, "{\"active\":false,\"active\":true}", 30, &a, &err)
       == APR_EINVAL, "a duplicate active: refused");
    ok(obo_introspect_parse(p, "", 0, &a, &err) == APR_EINVAL, "empty body: refused");
    ok(obo_introspect_parse(p, "<html>", 6, &a, &err) == APR_EINVAL, "HTML: refused");
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    err = NULL;
    ok(obo_introspect_parse(p, huge, big, &a, &err) == APR_EINVAL && err,
       "an answer over %d bytes: refused", OBO_INTROSPECT_MAX_BYTES);
    deep = apr_pstrcat(p, "{\"active\":true,\"x\":", NULL);
    for (i = 0; i < 40; i++) {
        deep = apr_pstrcat(p, deep, "[", NULL);
    }
    for (i = 0; i < 40; i++) {
        deep = apr_pstrcat(p, deep, "]", NULL);
    }
    deep = apr_pstrcat(p, deep, "}", NULL);
    ok(obo_introspect_parse(p, deep, strlen(deep), &a, &err) == APR_EINVAL,
       "nesting 40 deep: refused");
    ok(obo_introspect_parse(p, "{\"active\":true,\"sub\":\"a\\u0000b\"}", 32, &a, &err)
       == APR_EINVAL || !obo_json_str(a, "sub") || strlen(obo_json_str(a, "sub")) == 1,
       "an embedded NUL never yields a longer C string");
}

static void test_ttl(apr_pool_t *p)
{
    json_t *a = answer(p, NULL, NULL);

    is_int(obo_introspect_ttl(a, NOW, 60), 60, "active, exp far: the cache time");
    is_int(obo_introspect_ttl(answer(p, "exp", apr_psprintf(p, "%d", NOW + 25)), NOW, 60), 25,
           "active, exp in 25 s: 25");
    is_int(obo_introspect_ttl(answer(p, "exp", apr_psprintf(p, "%d", NOW - 5)), NOW, 60), 0,
           "active, expired: not kept");
    is_int(obo_introspect_ttl(answer(p, "exp", NULL), NOW, 60), 60, "no exp: the cache time");
    is_int(obo_introspect_ttl(answer(p, "active", "false"), NOW, 60),
           OBO_INTROSPECT_INACTIVE_TTL, "inactive: at most 10 s");
    is_int(obo_introspect_ttl(answer(p, "active", "false"), NOW, 3), 3,
           "inactive: never longer than the cache time");
    is_int(obo_introspect_ttl(answer(p, "active", "\"true\""), NOW, 60),
           OBO_INTROSPECT_INACTIVE_TTL, "active \"true\" is kept as inactive");
    is_int(obo_introspect_ttl(a, NOW, 0), 0, "cache time 0: nothing kept");
    is_int(obo_introspect_ttl(answer(p, "exp", "-9223372036854775808"), NOW, 60), 0,
           "exp INT64_MIN: not kept, no overflow");
}

static void test_key(apr_pool_t *p)
{
    unsigned char h1[OBO_SHA256_LEN], h2[OBO_SHA256_LEN];
    const char *k1, *k2, *tok = "opaque-token-123";

    obo_sha256(tok, strlen(tok), h1);
    obo_sha256("other", 5, h2);
    k1 = obo_introspect_cache_key(p, "https://idp/introspect", "client", h1);
    is_int(strlen(k1), 5 + 64, "obo1: + 64 hex digits");
    ok(strncmp(k1, "obo1:", 5) == 0, "the cache's key prefix");
    ok(strstr(k1, tok) == NULL, "the token is not in the key");
    ok(strcmp(k1, obo_introspect_cache_key(p, "https://idp/introspect", "client", h1)) == 0,
       "stable");
    k2 = obo_introspect_cache_key(p, "https://idp/introspect", "client", h2);
    ok(strcmp(k1, k2) != 0, "another token, another key");
    k2 = obo_introspect_cache_key(p, "https://other/introspect", "client", h1);
    ok(strcmp(k1, k2) != 0, "another endpoint, another key");
    k2 = obo_introspect_cache_key(p, "https://idp/introspect", "client2", h1);
    ok(strcmp(k1, k2) != 0, "another client, another key");
    k2 = obo_introspect_cache_key(p, "https://idp/introspectc", "lient", h1);
    ok(strcmp(k1, k2) != 0, "fields are length-prefixed: no shifting between them");
    k2 = apr_pstrcat(p, "obo1:", obo_sha256_hex(p, h1, OBO_SHA256_LEN), NULL);
    ok(strcmp(k1, k2) != 0, "not the bare hash of the token hash");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_active);
    TAP_RUN(test_times);
    TAP_RUN(test_issuer);
    TAP_RUN(test_audience);
    TAP_RUN(test_token_type);
    TAP_RUN(test_scope);
    TAP_RUN(test_parse);
    TAP_RUN(test_ttl);
    TAP_RUN(test_key);
    apr_terminate();
    return tap_done();
}
