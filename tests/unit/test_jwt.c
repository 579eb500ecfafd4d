/* SPDX-License-Identifier: Apache-2.0 */
/* Access-token claim rules (exp/nbf/iat with skew, issuer incl. the
 * {tenantid} template, audience, ID-token refusal) and claim helpers. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_json.h"
#include "obo_jwt.h"

#define NOW 1700000000
#define SKEW 60
#define MS_TMPL "https://login.microsoftonline.com/{tenantid}/v2.0"
#define TID "72f988bf-86f1-41af-91ab-2d7cd011db47"

static obo_jwt_rules rules(apr_pool_t *p)
{
    obo_jwt_rules r;
    apr_array_header_t *iss = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *aud = apr_array_make(p, 2, sizeof(const char *));

    APR_ARRAY_PUSH(iss, const char *) = "https://issuer.example/";
    APR_ARRAY_PUSH(iss, const char *) = MS_TMPL;
    APR_ARRAY_PUSH(aud, const char *) = "api://orders";
    APR_ARRAY_PUSH(aud, const char *) = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    r.issuers = iss;
    r.audiences = aud;
    r.skew = SKEW;
    r.now = NOW;
    r.now_usec = 0;
    return r;
}

/* A valid payload with member name replaced by the JSON text val
 * (or removed when val is NULL). */
static json_t *claims(apr_pool_t *p, const char *name, const char *val)
{
    json_t *j = obo_json_pool(p, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}",
                                           "iss", "https://issuer.example/",
                                           "aud", "api://orders",
                                           "exp", (json_int_t)NOW + 600,
                                           "nbf", (json_int_t)NOW - 10,
                                           "iat", (json_int_t)NOW - 10, "sub", "alice"));

    if (name && val) {
        json_object_set_new(j, name, json_loads(val, JSON_DECODE_ANY, NULL));
    }
    else if (name) {
        json_object_del(j, name);
    }
    return j;
}

static apr_status_t check(apr_pool_t *p, json_t *pl, const char **err)
{
    obo_jwt_rules r = rules(p);

    *err = NULL;
    return obo_jwt_check_claims(&r, pl, err);
}

#define ACCEPT(p, pl, ...) do { const char *e_; \
    is_int(check(p, pl, &e_), APR_SUCCESS, __VA_ARGS__); } while (0)
#define REJECT(p, pl, want, ...) do { const char *e_; \
    ok(check(p, pl, &e_) == APR_EINVAL && e_ && strcmp(e_, want) == 0, __VA_ARGS__); \
    } while (0)

static const char *num(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static void test_times(apr_pool_t *p)
{
    ACCEPT(p, claims(p, NULL, NULL), "valid token");
    REJECT(p, claims(p, "exp", NULL), "missing exp", "exp required");
    REJECT(p, claims(p, "exp", "\"1800000000\""), "invalid exp", "string exp");
    ACCEPT(p, claims(p, "exp", "1800000000.5"), "fractional exp (RFC 7519 s.2)");
    REJECT(p, claims(p, "exp", "1e300"), "invalid exp", "huge real exp");
    REJECT(p, claims(p, "exp", "-1e300"), "invalid exp", "huge negative real exp");
    REJECT(p, claims(p, "exp", "-0.5"), "token expired", "negative fractional exp");
    ACCEPT(p, claims(p, "nbf", "1699999999.75"), "fractional nbf");
    ACCEPT(p, claims(p, "iat", "1699999999.25"), "fractional iat");
    ACCEPT(p, claims(p, "exp", "1800000000.0"), "whole real exp");
    ACCEPT(p, claims(p, "exp", "9223372036854775807"), "INT64_MAX exp, no overflow");
    REJECT(p, claims(p, "exp", "-9223372036854775807"), "token expired", "INT64_MIN+1 exp");

    /* Valid while now < exp + skew. */
    ACCEPT(p, claims(p, "exp", num(p, NOW - SKEW + 1)), "exp within skew");
    REJECT(p, claims(p, "exp", num(p, NOW - SKEW)), "token expired", "exp at skew edge");
    REJECT(p, claims(p, "exp", num(p, NOW - 3600)), "token expired", "exp an hour ago");
    ACCEPT(p, claims(p, "exp", num(p, NOW)), "exp == now within skew");

    ACCEPT(p, claims(p, "nbf", NULL), "nbf optional");
    ACCEPT(p, claims(p, "nbf", num(p, NOW + SKEW)), "nbf at skew edge");
    REJECT(p, claims(p, "nbf", num(p, NOW + SKEW + 1)), "token not yet valid",
           "nbf past skew");
    REJECT(p, claims(p, "nbf", "\"soon\""), "invalid nbf", "string nbf");

    ACCEPT(p, claims(p, "iat", NULL), "iat optional");
    ACCEPT(p, claims(p, "iat", num(p, NOW + SKEW)), "iat at skew edge");
    REJECT(p, claims(p, "iat", num(p, NOW + SKEW + 1)), "token issued in the future",
           "iat past skew");
    REJECT(p, claims(p, "iat", "true"), "invalid iat", "boolean iat");
}

static void test_zero_skew(apr_pool_t *p)
{
    obo_jwt_rules r = rules(p);
    const char *err = NULL;

    r.skew = 0;
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", num(p, NOW)), &err), APR_EINVAL,
           "skew 0: exp == now is expired");
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", num(p, NOW + 1)), &err), APR_SUCCESS,
           "skew 0: exp == now + 1 is valid");
    is_int(obo_jwt_check_claims(&r, claims(p, "nbf", num(p, NOW)), &err), APR_SUCCESS,
           "skew 0: nbf == now is valid");
    is_int(obo_jwt_check_claims(&r, claims(p, "nbf", num(p, NOW + 1)), &err), APR_EINVAL,
           "skew 0: nbf == now + 1 not yet valid");

    /* with the fraction: now is NOW.3 */
    r.now_usec = 300000;
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", num(p, NOW)), &err), APR_EINVAL,
           "now.3: exp == now is expired");
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", apr_psprintf(p, "%d.5", NOW)), &err),
           APR_SUCCESS, "now.3: exp now.5 (now + 0.2) has not expired");
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", apr_psprintf(p, "%d.25", NOW)), &err),
           APR_EINVAL, "now.3: exp now.25 has expired");
    is_int(obo_jwt_check_claims(&r, claims(p, "exp", apr_psprintf(p, "%d.3", NOW)), &err),
           APR_EINVAL, "now.3: exp now.3 (== now) is expired");
    is_int(obo_jwt_check_claims(&r, claims(p, "nbf", apr_psprintf(p, "%d.5", NOW)), &err),
           APR_EINVAL, "now.3: nbf now.5 is not yet valid");
    is_int(obo_jwt_check_claims(&r, claims(p, "nbf", apr_psprintf(p, "%d.25", NOW)), &err),
           APR_SUCCESS, "now.3: nbf now.25 is valid");
    is_int(obo_jwt_check_claims(&r, claims(p, "iat", apr_psprintf(p, "%d.5", NOW)), &err),
           APR_EINVAL, "now.3: iat now.5 is in the future");
    is_int(obo_jwt_check_claims(&r, claims(p, "nbf", num(p, NOW)), &err), APR_SUCCESS,
           "now.3: a whole nbf == now is valid");
}

static json_t *ms(apr_pool_t *p, const char *iss, const char *tid)
{
    json_t *j = claims(p, "iss", NULL);

    if (iss) {
        json_object_set_new(j, "iss", json_string(iss));
    }
    if (tid) {
        json_object_set_new(j, "tid", json_string(tid));
    }
    return j;
}

static void test_issuer(apr_pool_t *p)
{
    const char *iss = "https://login.microsoftonline.com/" TID "/v2.0";
    char tid64[65];

    REJECT(p, claims(p, "iss", NULL), "missing iss", "iss required");
    REJECT(p, claims(p, "iss", "42"), "missing iss", "numeric iss");
    REJECT(p, claims(p, "iss", "\"https://issuer.example\""), "issuer not accepted",
           "no trailing slash is another issuer");
    REJECT(p, claims(p, "iss", "\"HTTPS://issuer.example/\""), "issuer not accepted",
           "case matters");
    REJECT(p, claims(p, "iss", "\"https://issuer.example/x\""), "issuer not accepted",
           "prefix is not enough");

    ACCEPT(p, ms(p, iss, TID), "{tenantid} matches the token's own tid");
    ACCEPT(p, ms(p, "https://login.microsoftonline.com/X/v2.0", "X"), "1-char tid");
    REJECT(p, ms(p, iss, NULL), "issuer not accepted", "template needs a tid");
    REJECT(p, ms(p, iss, "00000000-0000-0000-0000-000000000000"), "issuer not accepted",
           "tid of another tenant");
    REJECT(p, ms(p, "https://login.microsoftonline.com/evil/v2.0", TID),
           "issuer not accepted", "iss of another tenant");
    REJECT(p, ms(p, MS_TMPL, "{tenantid}"), "issuer not accepted",
           "literal template with a bogus tid");
    REJECT(p, ms(p, "https://login.microsoftonline.com/a/b/v2.0", "a/b"),
           "issuer not accepted", "tid with a slash");
    REJECT(p, ms(p, "https://login.microsoftonline.com/../v2.0", ".."),
           "issuer not accepted", "tid with dots");
    REJECT(p, ms(p, "https://login.microsoftonline.com//v2.0", ""), "issuer not accepted",
           "empty tid");
    REJECT(p, ms(p, "https://login.microsoftonline.com/" TID "/v2.0/x", TID),
           "issuer not accepted", "suffix must match exactly");
    REJECT(p, ms(p, "https://login.microsoftonline.com/" TID "/v2.", TID),
           "issuer not accepted", "truncated suffix");

    memset(tid64, 'a', 64);
    tid64[64] = '\0';
    ACCEPT(p, ms(p, apr_pstrcat(p, "https://login.microsoftonline.com/", tid64, "/v2.0",
                                NULL), tid64), "64-char tid");
    tid64[63] = '_';
    REJECT(p, ms(p, apr_pstrcat(p, "https://login.microsoftonline.com/", tid64, "/v2.0",
                                NULL), tid64), "issuer not accepted", "tid with '_'");
    {
        char tid65[66];
        memset(tid65, 'a', 65);
        tid65[65] = '\0';
        REJECT(p, ms(p, apr_pstrcat(p, "https://login.microsoftonline.com/", tid65,
                                    "/v2.0", NULL), tid65), "issuer not accepted",
               "65-char tid");
    }
}

static void test_issuer_lists(apr_pool_t *p)
{
    obo_jwt_rules r = rules(p);
    apr_array_header_t *two = apr_array_make(p, 1, sizeof(const char *));
    const char *err = NULL;

    r.issuers = apr_array_make(p, 1, sizeof(const char *));
    is_int(obo_jwt_check_claims(&r, claims(p, NULL, NULL), &err), APR_EINVAL,
           "no configured issuer accepts nothing");
    r.issuers = NULL;
    is_int(obo_jwt_check_claims(&r, claims(p, NULL, NULL), &err), APR_EINVAL,
           "NULL issuers accept nothing");
    APR_ARRAY_PUSH(two, const char *) = "https://a/{tenantid}/b/{tenantid}";
    r.issuers = two;
    is_int(obo_jwt_check_claims(&r, ms(p, "https://a/t1/b/t1", "t1"), &err), APR_SUCCESS,
           "every {tenantid} is replaced");
    is_int(obo_jwt_check_claims(&r, ms(p, "https://a/t1/b/t2", "t1"), &err), APR_EINVAL,
           "each {tenantid} must be the tid");
}

static void test_audience(apr_pool_t *p)
{
    obo_jwt_rules r = rules(p);
    const char *err = NULL;

    ACCEPT(p, claims(p, "aud", "\"6e74172b-be56-4843-9ff4-e66a39bb12e3\""),
           "second configured audience");
    ACCEPT(p, claims(p, "aud", "[\"other\",\"api://orders\"]"), "aud array intersects");
    REJECT(p, claims(p, "aud", "[\"other\",\"api://ORDERS\"]"), "audience not accepted",
           "aud array without a match");
    REJECT(p, claims(p, "aud", "\"api://orders/\""), "audience not accepted", "near miss");
    REJECT(p, claims(p, "aud", "[]"), "audience not accepted", "empty aud array");
    REJECT(p, claims(p, "aud", "[[\"api://orders\"]]"), "audience not accepted",
           "nested array does not count");
    REJECT(p, claims(p, "aud", "7"), "audience not accepted", "numeric aud");
    REJECT(p, claims(p, "aud", "[\"api://orders\",7]"), "audience not accepted",
           "a match beside a number: the array is malformed (RFC 7519 s.4.1.3)");
    REJECT(p, claims(p, "aud", "[null,\"api://orders\"]"), "audience not accepted",
           "a match beside null");
    ACCEPT(p, claims(p, "aud", "[\"other\",\"api://orders\"]"), "strings only, one matches");
    REJECT(p, claims(p, "sub", "123456"), "invalid sub", "numeric sub (RFC 7519 s.4.1.2)");
    REJECT(p, claims(p, "sub", "[\"alice\"]"), "invalid sub", "array sub");
    ACCEPT(p, claims(p, "sub", NULL), "no sub: not a claim check (the user claim decides)");
    REJECT(p, claims(p, "aud", NULL), "missing aud", "aud required");
    r.audiences = NULL;
    is_int(obo_jwt_check_claims(&r, claims(p, NULL, NULL), &err), APR_EINVAL,
           "no configured audience accepts nothing");
}

static void test_id_token(apr_pool_t *p)
{
    REJECT(p, claims(p, "nonce", "\"n-0S6_WzA2Mj\""), "ID token is not an access token",
           "nonce means ID token");
    REJECT(p, claims(p, "idtyp", "\"id\""), "ID token is not an access token", "idtyp id");
    ACCEPT(p, claims(p, "idtyp", "\"app\""), "idtyp app is an access token");
    ACCEPT(p, claims(p, "idtyp", "\"user\""), "idtyp user is an access token");
}

static void test_not_object(apr_pool_t *p)
{
    const char *err = NULL;
    obo_jwt_rules r = rules(p);

    is_int(obo_jwt_check_claims(&r, NULL, &err), APR_EINVAL, "NULL payload");
    is_int(obo_jwt_check_claims(&r, obo_json_pool(p, json_array()), &err), APR_EINVAL,
           "array payload");
}

static void test_errors_do_not_echo(apr_pool_t *p)
{
    const char *err = NULL;
    json_t *j = ms(p, "https://evil.example/<script>", "<script>");

    json_object_set_new(j, "aud", json_string("<script>"));
    check(p, j, &err);
    ok(err && strstr(err, "script") == NULL, "error description has no claim values");
}

static json_t *pl(apr_pool_t *p, const char *text)
{
    return obo_json_pool(p, json_loads(text, 0, NULL));
}

static void test_scopes_roles(apr_pool_t *p)
{
    json_t *j = pl(p, "{\"scp\":\" User.Read  Mail.Send\",\"roles\":[\"Admin\",\"Reader\"]}");
    json_t *k = pl(p, "{\"scp\":[\"a\",\"b c\"],\"roles\":\"Admin Writer\"}");

    ok(obo_jwt_has_scope(j, "User.Read"), "scope in string");
    ok(obo_jwt_has_scope(j, "Mail.Send"), "last scope, extra spaces");
    ok(!obo_jwt_has_scope(j, "User"), "no prefix match");
    ok(!obo_jwt_has_scope(j, "Read"), "no suffix match");
    ok(!obo_jwt_has_scope(j, "User.Read Mail.Send"), "no multi-word match");
    ok(!obo_jwt_has_scope(j, ""), "empty scope never matches");
    ok(!obo_jwt_has_scope(j, "Admin"), "roles are not scopes");
    ok(obo_jwt_has_scope(k, "a") && obo_jwt_has_scope(k, "b c") && !obo_jwt_has_scope(k, "b"),
       "scp array elements are whole");
    {
        json_t *r = pl(p, "{\"scope\":\"openid read\"}");
        json_t *b = pl(p, "{\"scp\":\"write\",\"scope\":\"read\"}");
        ok(obo_jwt_has_scope(r, "read") && !obo_jwt_has_scope(r, "write"),
           "RFC 9068 scope where there is no scp");
        ok(!obo_jwt_has_scope(b, "read") && obo_jwt_has_scope(b, "write"),
           "scp alone where a token has both");
    }
    ok(obo_jwt_has_role(j, "Admin") && obo_jwt_has_role(j, "Reader"), "roles array");
    ok(!obo_jwt_has_role(j, "admin"), "roles are case-sensitive");
    ok(obo_jwt_has_role(k, "Writer") && !obo_jwt_has_role(k, "Admin Writer"),
       "roles string");
    ok(!obo_jwt_has_role(pl(p, "{}"), "Admin") && !obo_jwt_has_scope(NULL, "a"), "absent");
    ok(!obo_jwt_has_role(pl(p, "{\"roles\":[1,{\"Admin\":1}]}"), "Admin"),
       "non-string elements ignored");
}

/* OBOAppOnlyWhen: who is an application acting as itself. */
static void test_app_only(apr_pool_t *p)
{
    const unsigned d = OBO_APP_DEFAULT;
    json_t *entra_app = pl(p, "{\"idtyp\":\"app\",\"roles\":[\"Data.Read\"],"
                              "\"oid\":\"o1\",\"sub\":\"o1\"}");
    json_t *entra_user = pl(p, "{\"idtyp\":\"user\",\"scp\":\"access_as_user\","
                               "\"oid\":\"o1\",\"sub\":\"pairwise\"}");
    json_t *v1_app = pl(p, "{\"roles\":[\"Data.Read\"],\"oid\":\"o2\",\"sub\":\"o2\"}");
    json_t *rfc_cc = pl(p, "{\"sub\":\"daemon\",\"client_id\":\"daemon\","
                           "\"scope\":\"read\"}");
    json_t *rfc_user = pl(p, "{\"sub\":\"alice\",\"client_id\":\"web\",\"scope\":\"read\"}");

    ok(obo_jwt_app_only(entra_app, d), "Entra idtyp app");
    ok(!obo_jwt_app_only(entra_user, d), "Entra idtyp user");
    ok(!obo_jwt_app_only(pl(p, "{\"idtyp\":\"user\"}"), d),
       "idtyp user decides even without scp");
    ok(obo_jwt_app_only(v1_app, d), "no idtyp, no scp, roles: app");
    ok(obo_jwt_app_only(v1_app, OBO_APP_OID_IS_SUB), "oid == sub alone");
    ok(obo_jwt_app_only(rfc_cc, d), "RFC 9068: sub == client_id");
    ok(!obo_jwt_app_only(rfc_cc, OBO_APP_NO_SCOPE | OBO_APP_IDTYP),
       "... not without sub-is-client (it has a scope)");
    ok(!obo_jwt_app_only(rfc_user, d), "RFC 9068 user token");
    ok(obo_jwt_app_only(pl(p, "{\"scp\":\"\"}"), OBO_APP_NO_SCOPE), "empty scp is none");
    ok(!obo_jwt_app_only(pl(p, "{\"scp\":[\"a\"]}"), OBO_APP_NO_SCOPE), "scp array");
    ok(!obo_jwt_app_only(entra_app, 0), "no rules: never app-only");
    ok(obo_jwt_app_only(entra_app, OBO_APP_NO_SCOPE), "without idtyp: other rules");
    ok(!obo_jwt_app_only(pl(p, "{\"sub\":\"\",\"client_id\":\"\",\"scp\":\"x\"}"),
                         OBO_APP_SUB_IS_CLIENT), "empty sub is no match");
}

static void test_claim_matches(apr_pool_t *p)
{
    json_t *j = pl(p, "{\"s\":\"abc\",\"i\":42,\"r\":1.5,\"t\":true,\"f\":false,"
                      "\"a\":[\"x\",7,null],\"o\":{\"k\":\"v\"},\"n\":null}");

    ok(obo_jwt_claim_matches(j, "s", "abc") && !obo_jwt_claim_matches(j, "s", "ab"),
       "string");
    ok(obo_jwt_claim_matches(j, "i", "42") && !obo_jwt_claim_matches(j, "i", "42.0"),
       "integer as text");
    ok(obo_jwt_claim_matches(j, "r", "1.5"), "real as text");
    {
        json_t *g = pl(p, "{\"a\":[\"Not Admin\",\"Reader\"],\"b\":[\"Not\",\"Admin\",\"Reader\"],"
                          "\"c\":[\"x\",\"\"]}");
        const char *ta = obo_jwt_claim_text(p, g, "a"), *tb = obo_jwt_claim_text(p, g, "b");
        ok(ta && tb && strcmp(ta, tb) != 0 && ta[0] == '[',
           "an array with a spaced element goes as JSON, not joined (review 36A-F8)");
        ok(tb && strcmp(tb, "Not Admin Reader") == 0, "plain elements are still joined");
        ok(obo_jwt_claim_text(p, g, "c")[0] == '[', "an empty element: JSON too");
    }
    {
        json_t *f = pl(p, "{\"lvl\":0.1,\"x\":[0.2,3]}");
        ok(obo_jwt_claim_matches(f, "lvl", "0.1") && !obo_jwt_claim_matches(f, "lvl", "0.2")
           && !obo_jwt_claim_matches(f, "lvl", "0.1x") && !obo_jwt_claim_matches(f, "lvl", ""),
           "a fraction not exact in binary matches as written (review 36B-F2)");
        ok(obo_jwt_claim_matches(f, "x", "0.2"), "... in an array too");
    }
    ok(obo_jwt_claim_matches(j, "t", "true") && obo_jwt_claim_matches(j, "f", "false")
       && !obo_jwt_claim_matches(j, "t", "1"), "booleans as text");
    ok(obo_jwt_claim_matches(j, "a", "x") && obo_jwt_claim_matches(j, "a", "7"),
       "array element");
    ok(!obo_jwt_claim_matches(j, "a", "null") && !obo_jwt_claim_matches(j, "n", "null"),
       "null never matches");
    ok(!obo_jwt_claim_matches(j, "o", "{\"k\":\"v\"}") && !obo_jwt_claim_matches(j, "o", "v"),
       "objects never match");
    ok(!obo_jwt_claim_matches(j, "missing", "") && !obo_jwt_claim_matches(j, "s", NULL),
       "absent claim or NULL value");
}

static void test_stepup(apr_pool_t *p)
{
    json_t *j = pl(p, "{\"acr\":\"urn:mfa\",\"auth_time\":1000,\"acrs\":[\"c1\",\"c2\"]}");
    json_t *bad = pl(p, "{\"acr\":[\"urn:mfa\"],\"auth_time\":\"1000\"}");
    apr_array_header_t *ids = apr_array_make(p, 2, sizeof(const char *));
    apr_int64_t age = -1;

    ok(obo_jwt_acr_is(j, "urn:mfa") && !obo_jwt_acr_is(j, "urn:MFA")
       && !obo_jwt_acr_is(j, NULL), "acr: exact string");
    ok(!obo_jwt_acr_is(bad, "urn:mfa"), "acr: an array is not an acr");
    ok(obo_jwt_auth_age(j, apr_time_from_sec(1300), &age) == APR_SUCCESS && age == 300,
       "auth_time 300 s ago");
    ok(obo_jwt_auth_age(j, apr_time_from_sec(900), &age) == APR_SUCCESS && age == 0,
       "auth_time in the future: 0");
    ok(obo_jwt_auth_age(bad, apr_time_from_sec(1300), &age) == APR_NOTFOUND,
       "auth_time as a string: not found");
    ok(obo_jwt_auth_age(pl(p, "{\"auth_time\":-5}"), apr_time_from_sec(1300), &age)
       == APR_NOTFOUND, "negative auth_time: not found");
    ok(obo_jwt_acrs_challenge(p, ids) == NULL, "no ids: no challenge");
    APR_ARRAY_PUSH(ids, const char *) = "c1";
    /* the form of Microsoft's documented challenge (cp1), with c1 */
    is_str(obo_jwt_acrs_challenge(p, ids),
           "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19",
           "one id: value");
    APR_ARRAY_PUSH(ids, const char *) = "c\"2";
    is_str(obo_jwt_acrs_challenge(p, ids),
           "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlcyI6WyJjMSIsImNcIjIi"
           "XX19fQ==", "two ids: values, JSON-escaped");
}

static void test_claim_text(apr_pool_t *p)
{
    json_t *j = pl(p, "{\"s\":\"abc\",\"i\":42,\"r\":1.5,\"t\":true,\"g\":[\"a\",\"b\"],"
                      "\"m\":[\"a\",1],\"e\":[],\"o\":{\"k\":[1,2]}}");

    is_str(obo_jwt_claim_text(p, j, "s"), "abc", "string as is");
    is_str(obo_jwt_claim_text(p, j, "i"), "42", "integer");
    is_str(obo_jwt_claim_text(p, j, "r"), "1.5", "real");
    is_str(obo_jwt_claim_text(p, j, "t"), "true", "boolean");
    is_str(obo_jwt_claim_text(p, j, "g"), "a b", "array of strings joined");
    is_str(obo_jwt_claim_text(p, j, "m"), "[\"a\",1]", "mixed array as JSON");
    is_str(obo_jwt_claim_text(p, j, "e"), "", "empty array");
    is_str(obo_jwt_claim_text(p, j, "o"), "{\"k\":[1,2]}", "object as compact JSON");
    ok(obo_jwt_claim_text(p, j, "missing") == NULL, "absent is NULL");
}

/* RFC 8725 s.3.11: other JWTs an IdP signs with the same keys. */
static void test_typ(apr_pool_t *p)
{
    static const char *const any_ok[] = {
        NULL, "JWT", "jwt", "application/jwt", "at+jwt", "AT+JWT", "application/at+jwt",
        "Application/At+Jwt", "application/okta-internal-at+jwt", "vnd.example.at+jwt",
    };
    static const char *const any_bad[] = {
        "logout+jwt", "application/logout+jwt", "secevent+jwt", "application/secevent+jwt",
        "id_token+jwt", "JOSE", "JOSE+JSON", "", "application/", "jwt-at+jwt+x",
        "that+jwt", "-at+jwt", "at+jwt; charset=utf-8", "at+jwt ", "application/jwt/at+jwt",
        "dpop+jwt", "token-introspection+jwt", "jwt2",
    };
    static const char *const strict_ok[] = {
        "at+jwt", "AT+JWT", "application/at+jwt", "APPLICATION/AT+JWT",
    };
    static const char *const strict_bad[] = {
        NULL, "JWT", "application/jwt", "application/okta-internal-at+jwt", "logout+jwt", "",
    };
    const char *err = NULL;
    size_t i;

    for (i = 0; i < sizeof(any_ok) / sizeof(any_ok[0]); i++) {
        is_int(obo_jwt_check_typ(any_ok[i], OBO_TYP_ANY, &err), APR_SUCCESS,
               "default rule accepts typ %s", any_ok[i] ? any_ok[i] : "(absent)");
    }
    for (i = 0; i < sizeof(any_bad) / sizeof(any_bad[0]); i++) {
        err = NULL;
        is_int(obo_jwt_check_typ(any_bad[i], OBO_TYP_ANY, &err), APR_EINVAL,
               "default rule refuses typ '%s'", any_bad[i]);
        ok(err && (!*any_bad[i] || !strstr(err, any_bad[i])),
           "with a reason that does not echo it");
    }
    for (i = 0; i < sizeof(strict_ok) / sizeof(strict_ok[0]); i++) {
        is_int(obo_jwt_check_typ(strict_ok[i], OBO_TYP_AT_JWT, &err), APR_SUCCESS,
               "at+jwt rule accepts typ %s", strict_ok[i]);
    }
    for (i = 0; i < sizeof(strict_bad) / sizeof(strict_bad[0]); i++) {
        is_int(obo_jwt_check_typ(strict_bad[i], OBO_TYP_AT_JWT, &err), APR_EINVAL,
               "at+jwt rule refuses typ %s", strict_bad[i] ? strict_bad[i] : "(absent)");
    }
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_times);
    TAP_RUN(test_zero_skew);
    TAP_RUN(test_issuer);
    TAP_RUN(test_issuer_lists);
    TAP_RUN(test_audience);
    TAP_RUN(test_id_token);
    TAP_RUN(test_not_object);
    TAP_RUN(test_errors_do_not_echo);
    TAP_RUN(test_scopes_roles);
    TAP_RUN(test_app_only);
    TAP_RUN(test_claim_matches);
    TAP_RUN(test_claim_text);
    TAP_RUN(test_stepup);
    TAP_RUN(test_typ);
    apr_terminate();
    return tap_done();
}
