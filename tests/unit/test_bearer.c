/* SPDX-License-Identifier: Apache-2.0 */
/* obo_bearer: a bearer token in an Authorization value, urlencoded text (query
 * string, form body) and Cookie headers (RFC 6750 s.2), and the text left. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_bearer.h"

#define JWT "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_"

static apr_array_header_t *list(apr_pool_t *p)
{
    return apr_array_make(p, 2, sizeof(const char *));
}

static const char *at(const apr_array_header_t *a, int i)
{
    return i < a->nelts ? APR_ARRAY_IDX(a, i, const char *) : "(none)";
}

static int same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static void test_authorization(apr_pool_t *p)
{
    ok(same(obo_bearer_authorization(p, "Bearer " JWT), JWT), "Bearer <jwt>");
    ok(same(obo_bearer_authorization(p, "bearer\t " JWT " \t"), JWT), "case, tabs, trailing space");
    ok(same(obo_bearer_authorization(p, "Bearer abc+/=="), "abc+/=="), "b64token with + / and =");
    ok(obo_bearer_authorization(p, "Basic dXNlcjpwdw==") == NULL, "another scheme: NULL");
    ok(obo_bearer_authorization(p, "Bearer") == NULL, "no space after the scheme: NULL");
    ok(same(obo_bearer_authorization(p, "Bearer "), ""), "no token: malformed");
    ok(same(obo_bearer_authorization(p, "Bearer a b"), ""), "two tokens: malformed");
    ok(same(obo_bearer_authorization(p, "Bearer a=b"), ""), "'=' inside: malformed");
    ok(same(obo_bearer_authorization(p, "Bearer a,Bearer b"), ""), "a merged header: malformed");
}

static void test_urldecode(apr_pool_t *p)
{
    char *s = apr_pstrdup(p, "a%5Fb+c%2b%2F");
    ok(obo_bearer_urldecode(s) == APR_SUCCESS && same(s, "a_b c+/"), "%%XX, + and case");
    s = apr_pstrdup(p, "a%2");
    ok(obo_bearer_urldecode(s) == APR_EINVAL, "a truncated escape");
    s = apr_pstrdup(p, "a%zz");
    ok(obo_bearer_urldecode(s) == APR_EINVAL, "a bad escape");
    s = apr_pstrdup(p, "a%00b");
    ok(obo_bearer_urldecode(s) == APR_EINVAL, "%%00");
}

static void test_param(apr_pool_t *p)
{
    apr_array_header_t *v = list(p);
    const char *text = "a=1&b=2";

    ok(obo_bearer_drop_param(p, text, v) == text && v->nelts == 0, "none: the same text");
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "a=1&access_token=" JWT "&b=2", v), "a=1&b=2")
       && v->nelts == 1 && same(at(v, 0), JWT), "in the middle: removed, its value kept");
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "access_token=" JWT, v), "") && v->nelts == 1,
       "alone: nothing left");
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "access%5Ftoken=abc%2B&x=%20", v), "x=%20")
       && same(at(v, 0), "abc+"), "name and value decoded, the rest kept encoded");
    v = list(p);
    obo_bearer_drop_param(p, "access_token=a&access_token=b", v);
    ok(v->nelts == 2 && same(at(v, 0), "a") && same(at(v, 1), "b"), "twice: two values");
    v = list(p);
    obo_bearer_drop_param(p, "access_token=&y=1", v);
    ok(v->nelts == 1 && same(at(v, 0), ""), "empty value: malformed");
    v = list(p);
    obo_bearer_drop_param(p, "access_token", v);
    ok(v->nelts == 1 && same(at(v, 0), ""), "no '=': malformed");
    v = list(p);
    obo_bearer_drop_param(p, "access_token=a+b", v);
    ok(v->nelts == 1 && same(at(v, 0), ""), "'+' is a space: malformed");
    v = list(p);
    obo_bearer_drop_param(p, "access_token=a%00", v);
    ok(v->nelts == 1 && same(at(v, 0), ""), "%%00: malformed");
    v = list(p);
    ok(obo_bearer_drop_param(p, "access_tokenx=1&xaccess_token=2", v)
       && v->nelts == 0, "other names");
    /* review 30B: ASP.NET reads these as access_token (case-insensitive
     * collections); they reached it unvalidated beside a valid token */
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "ACCESS_TOKEN=3&Access_Token=4&access.TOKEN=5&b=1", v),
            "b=1") && v->nelts == 3 && same(at(v, 0), "3"),
       "case variants: the parameter");
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "&&a=1&&access_token=x&", v), "a=1"), "empty items go");
    /* names a backend (PHP) reads as access_token: each one is the parameter */
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "access.token=f1&access+token=f2&access%20token=f3"
                                     "&access_token[]=f4&access_token%5B0%5D=f5"
                                     "&access_token%00x=f6&access[token=f7&%20access_token=f8"
                                     "&b=2", v), "b=2") && v->nelts == 8,
       "access.token, access+token, access_token[], access_token%%00x, access[token: "
       "all the parameter (%d)", v->nelts);
    v = list(p);
    ok(same(obo_bearer_drop_param(p, "access_token]=1&accesstoken=2&access-token=3", v),
            "access_token]=1&accesstoken=2&access-token=3") && v->nelts == 0,
       "names no backend reads as access_token stay");
}

static void test_cookies(apr_pool_t *p)
{
    apr_array_header_t *names = list(p), *v = list(p), *f = list(p);
    const char *hdr = "a=1; b=2";

    APR_ARRAY_PUSH(names, const char *) = "obo_at";
    APR_ARRAY_PUSH(names, const char *) = "alt";
    ok(obo_bearer_drop_cookies(p, hdr, names, v, f) == hdr && v->nelts == 0,
       "none: the same header");
    ok(same(obo_bearer_drop_cookies(p, "a=1; obo_at=" JWT "; b=2", names, v, f), "a=1; b=2")
       && same(at(v, 0), JWT) && same(at(f, 0), "obo_at"), "in the middle: removed");
    v = list(p);
    f = list(p);
    ok(same(obo_bearer_drop_cookies(p, "obo_at=\"abc\"", names, v, f), "")
       && same(at(v, 0), "abc"), "quoted value, nothing left");
    v = list(p);
    f = list(p);
    obo_bearer_drop_cookies(p, "obo_at=a;alt=b;obo_at=c", names, v, f);
    ok(v->nelts == 3 && same(at(f, 1), "alt") && same(at(v, 2), "c"), "every occurrence");
    v = list(p);
    f = list(p);
    obo_bearer_drop_cookies(p, "obo_at=a b", names, v, f);
    ok(v->nelts == 1 && same(at(v, 0), ""), "not a b64token: malformed");
    v = list(p);
    f = list(p);
    ok(obo_bearer_drop_cookies(p, "xobo_at=b; obo_atx=c; obo_at", names, v, f)
       && v->nelts == 0, "names compared whole; no '=' is no cookie");
    /* review 30B: ASP.NET's cookie collection ignores case */
    v = list(p);
    f = list(p);
    ok(same(obo_bearer_drop_cookies(p, "OBO_AT=a; Alt=b; z=1", names, v, f), "z=1")
       && v->nelts == 2 && same(at(f, 0), "OBO_AT"), "case variants: removed, each a token");
    v = list(p);
    f = list(p);
    ok(same(obo_bearer_drop_cookies(p, " a=1 ;\tobo_at=x ; ;b=2 ", names, v, f), "a=1; b=2"),
       "blanks trimmed, empty pairs dropped");
    /* review 28A: PHP reads these names as obo_at; they reached the
     * backend beside the validated cookie */
    v = list(p);
    f = list(p);
    ok(same(obo_bearer_drop_cookies(p, "obo_at=a; obo.at=b; obo%5fat=c; obo at=d; obo_at[x]=e; "
                                       "z=1", names, v, f), "z=1") && v->nelts == 5,
       "names a backend reads as obo_at: removed, each a token");
    /* review 29: two Cookie headers, joined by httpd with ", " */
    v = list(p);
    f = list(p);
    ok(same(obo_bearer_drop_cookies(p, "a=1, obo_at=FORGED", names, v, f), "a=1")
       && v->nelts == 1 && same(at(v, 0), "FORGED"), "a cookie after ', ' is found too");
}

static void test_b64token(apr_pool_t *p)
{
    ok(obo_bearer_b64token_len("abc==, x") == 5, "stops after the '='");
    ok(obo_bearer_b64token_len("=abc") == 0, "'=' first: none");
    ok(same(obo_bearer_whole(JWT), JWT), "a JWT is one b64token");
    ok(same(obo_bearer_whole("a.b c"), ""), "a space: not one");
    (void)p;
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_authorization);
    TAP_RUN(test_urldecode);
    TAP_RUN(test_param);
    TAP_RUN(test_cookies);
    TAP_RUN(test_b64token);
    apr_terminate();
    return tap_done();
}
