/* SPDX-License-Identifier: Apache-2.0 */
/* Bearer tokens in request text (RFC 6750 s.2): the Authorization value,
 * urlencoded text, Cookie headers. */
#include "obo_bearer.h"

#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>

#define B64CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"

apr_size_t obo_bearer_b64token_len(const char *t)
{
    const char *p = t;

    p += strspn(p, B64CHARS);
    if (p == t) {
        return 0;
    }
    p += strspn(p, "=");
    return (apr_size_t)(p - t);
}

const char *obo_bearer_whole(const char *value)
{
    apr_size_t n = obo_bearer_b64token_len(value);

    return n > 0 && value[n] == '\0' ? value : "";
}

const char *obo_bearer_authorization(apr_pool_t *p, const char *value)
{
    return obo_bearer_scheme_token(p, value, "Bearer");
}

const char *obo_bearer_scheme_token(apr_pool_t *p, const char *value, const char *scheme)
{
    apr_size_t sl = strlen(scheme), n;
    const char *t;

    while (*value == ' ' || *value == '\t') {
        value++;
    }
    if (strncasecmp(value, scheme, sl) != 0 || (value[sl] != ' ' && value[sl] != '\t')) {
        return NULL;
    }
    for (t = value + sl; *t == ' ' || *t == '\t'; t++) {
    }
    n = obo_bearer_b64token_len(t);
    if (n == 0 || t[n + strspn(t + n, " \t")] != '\0') {
        return "";
    }
    return apr_pstrndup(p, t, n);
}

static int hexval(char c)
{
    return apr_isdigit(c) ? c - '0' : apr_isxdigit(c) ? apr_tolower(c) - 'a' + 10 : -1;
}

apr_status_t obo_bearer_urldecode(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '+') {
            *out++ = ' ';
        }
        else if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) {
                return APR_EINVAL;
            }
            *out++ = (char)(hi * 16 + lo);
            s += 2;
        }
        else {
            *out++ = *s;
        }
    }
    *out = '\0';
    return APR_SUCCESS;
}

static const char *join(apr_pool_t *p, const apr_array_header_t *a, const char *sep)
{
    apr_size_t n = 0, k = strlen(sep);
    char *out, *o;
    int i;

    for (i = 0; i < a->nelts; i++) {
        n += strlen(APR_ARRAY_IDX(a, i, const char *)) + k;
    }
    o = out = apr_palloc(p, n + 1);
    for (i = 0; i < a->nelts; i++) {
        const char *s = APR_ARRAY_IDX(a, i, const char *);
        apr_size_t len = strlen(s);
        if (i) {
            memcpy(o, sep, k);
            o += k;
        }
        memcpy(o, s, len);
        o += len;
    }
    *o = '\0';
    return out;
}

/* The name a backend reads: PHP (and frameworks that follow it) cuts a name
 * at a NUL, reads "a[...]" as an array a, and turns '.' and ' ' (and a '['
 * without its ']') into '_', so "access.token", "access+token",
 * "access_token[]" and "access_token%00x" all arrive as access_token. Each
 * of them is the parameter: removed, and a second value is a second token
 * (review 11: they passed beside the validated one, never validated). */
static char *backend_name(apr_pool_t *p, const char *raw, apr_size_t n)
{
    char *name = apr_pstrndup(p, raw, n), *c, *nul = strstr(name, "%00");
    char *open;

    if (nul) {
        *nul = '\0';
    }
    if (obo_bearer_urldecode(name) != APR_SUCCESS) {
        return NULL;
    }
    while (*name == ' ') {
        name++;
    }
    if ((open = strchr(name, '[')) != NULL) {
        if (strchr(open, ']')) {
            *open = '\0';
        }
        else {
            *open = '_';
        }
    }
    for (c = name; *c; c++) {
        *c = *c == '.' || *c == ' ' ? '_' : *c;
    }
    return name;
}

/* Case folded too: ASP.NET's query, form and cookie collections are
 * case-insensitive, so "ACCESS_TOKEN" is access_token to them (review
 * 30B: it reached such a backend unvalidated beside a valid token). */
static int is_token_param(apr_pool_t *p, const char *raw, apr_size_t n)
{
    const char *name = backend_name(p, raw, n);

    return name && strcasecmp(name, OBO_BEARER_PARAM) == 0;
}

const char *obo_bearer_drop_param(apr_pool_t *p, const char *text, apr_array_header_t *values)
{
    char *copy = apr_pstrdup(p, text), *item, *last = NULL;
    apr_array_header_t *kept = apr_array_make(p, 4, sizeof(const char *));
    int before = values->nelts;

    for (item = apr_strtok(copy, "&", &last); item; item = apr_strtok(NULL, "&", &last)) {
        const char *eq = strchr(item, '=');
        if (is_token_param(p, item, eq ? (apr_size_t)(eq - item) : strlen(item))) {
            char *v = apr_pstrdup(p, eq ? eq + 1 : "");
            APR_ARRAY_PUSH(values, const char *) = obo_bearer_urldecode(v) == APR_SUCCESS
                                                   ? obo_bearer_whole(v) : "";
        }
        else {
            APR_ARRAY_PUSH(kept, const char *) = item;
        }
    }
    return values->nelts == before ? text : join(p, kept, "&");
}

/* A cookie the backend reads as one of names: compared as PHP and its
 * followers read cookie names (backend_name: "obo.token" and "obo%5ftoken"
 * are obo_token) and, ignoring ASCII case, as ASP.NET does, so that a
 * look-alike is removed and counts as a second token instead of reaching
 * the backend unvalidated (reviews 28A, 30B). */
static int named(apr_pool_t *p, const apr_array_header_t *names, const char *name)
{
    const char *got = backend_name(p, name, strlen(name)), *want;
    int i;

    for (i = 0; got && names && i < names->nelts; i++) {
        want = APR_ARRAY_IDX(names, i, const char *);
        if (!strcasecmp(want, name) || ((want = backend_name(p, want, strlen(want))) != NULL
                                        && !strcasecmp(want, got))) {
            return 1;
        }
    }
    return 0;
}

/* A cookie-value without its optional DQUOTEs (RFC 6265 s.4.1.1). */
static const char *cookie_value(apr_pool_t *p, const char *v)
{
    apr_size_t n = strlen(v);

    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        return obo_bearer_whole(apr_pstrndup(p, v + 1, n - 2));
    }
    return obo_bearer_whole(v);
}

static char *trimmed(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    for (end = s + strlen(s); end > s && (end[-1] == ' ' || end[-1] == '\t');) {
        *--end = '\0';
    }
    return s;
}

const char *obo_bearer_drop_cookies(apr_pool_t *p, const char *header,
                                    const apr_array_header_t *names,
                                    apr_array_header_t *values, apr_array_header_t *found)
{
    char *copy = apr_pstrdup(p, header), *pair, *last = NULL;
    apr_array_header_t *kept = apr_array_make(p, 4, sizeof(const char *));
    int before = values->nelts;

    /* ',' too: httpd joins repeated Cookie headers with ", ", and backends
     * split the result there (review 29); a cookie-value holds no comma */
    for (pair = apr_strtok(copy, ";,", &last); pair; pair = apr_strtok(NULL, ";,", &last)) {
        char *eq, *name;
        pair = trimmed(pair);
        eq = strchr(pair, '=');
        name = eq ? apr_pstrndup(p, pair, (apr_size_t)(eq - pair)) : NULL;
        if (name && named(p, names, trimmed(name))) {
            APR_ARRAY_PUSH(values, const char *) = cookie_value(p, trimmed(eq + 1));
            APR_ARRAY_PUSH(found, const char *) = trimmed(name);
        }
        else if (*pair) {
            APR_ARRAY_PUSH(kept, const char *) = pair;
        }
    }
    return values->nelts == before ? header : join(p, kept, "; ");
}
