/* SPDX-License-Identifier: Apache-2.0 */
/* Where the caller's token comes from: the Authorization header, named
 * cookies, the access_token query parameter (RFC 6750 s.2.3) or form field
 * (s.2.2), as OBOAcceptTokenAs allows. A token is looked for in every
 * allowed place, so that one in two places is a 400 invalid_request (s.2:
 * "MUST NOT use more than one method"), and a token found in a cookie, the
 * query string or the form body is removed from what the backend (and, for
 * the query, the access log) sees, whether it then validates or not: the
 * user's token stays in the middle tier, as the Authorization header does in
 * an exchanging Location. A token in a place that is not allowed is not
 * looked at (nor removed). */
#include "mod_auth_obo_source.h"
#include "mod_auth_obo_request.h"

#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "obo_bearer.h"
#include "obo_crypto.h"

APLOG_USE_MODULE(auth_obo);

#define FORM_TYPE "application/x-www-form-urlencoded"
#define KEPT_BODY_FILTER "AUTH_OBO_KEPT_BODY"
#define KEPT_BODY_NOTE "auth_obo_kept_body"

/* The token of "Authorization: Bearer <token>" (Proxy-Authorization in a
 * forward proxy: auth_obo_credentials_header): NULL when there are no
 * Bearer credentials (nor DPoP ones where OBODPoP takes them), "" when they
 * are malformed; *dpop 1 for the DPoP scheme. */
static const char *header_token(request_rec *r, const auth_obo_dir_cfg *d, int *dpop)
{
    const char *h = apr_table_get(r->headers_in, auth_obo_credentials_header(r));
    const char *t = h ? obo_bearer_authorization(r->pool, h) : NULL;

    /* RFC 9449 s.7.1: "DPoP <token>" where OBODPoP takes it */
    if (h && !t && auth_obo_dpop(d) != DPOP_OFF
        && (t = obo_bearer_scheme_token(r->pool, h, "DPoP")) != NULL) {
        *dpop = 1;
    }
    return t;
}

/* 1 if v holds a second "scheme credentials" after a comma, as httpd joins
 * two Authorization headers ("Bearer a, Bearer b"); a malformed token with
 * a comma in it (JWS JSON serialization) is one malformed token. */
static int second_credentials(const char *v)
{
    const char *c = v ? ap_strchr_c(v, ',') : NULL;

    for (; c; c = ap_strchr_c(c + 1, ',')) {
        const char *s = c + 1 + strspn(c + 1, " \t");
        apr_size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789!#$%&'*+.^_`|~-");

        if (n > 0 && (s[n] == ' ' || s[n] == '\t')) {
            return 1;
        }
    }
    return 0;
}

/* ---- what was found ------------------------------------------------------- */

typedef struct finds {
    apr_array_header_t *tokens;   /* const char *: one per place that carried one */
    apr_array_header_t *places;   /* const char *: "header", "cookie NAME"... */
    int nul;                      /* a form body with a NUL byte */
    int trailers;                 /* a form body with trailer fields */
} finds;

static void found(apr_pool_t *p, finds *f, const char *place, const char *token)
{
    APR_ARRAY_PUSH(f->tokens, const char *) = token;
    APR_ARRAY_PUSH(f->places, const char *) = apr_pstrdup(p, place);
}

/* ---- the query string ------------------------------------------------------ */

/* text with its query part (after the first '?', up to a '#') replaced by
 * args, or removed when args is NULL. */
static const char *with_query(apr_pool_t *p, const char *text, const char *args)
{
    const char *q = strchr(text, '?'), *frag;

    if (!q) {
        return text;
    }
    frag = strchr(q, '#');
    return apr_pstrcat(p, apr_pstrndup(p, text, (apr_size_t)(q - text)), args ? "?" : "",
                       args ? args : "", frag ? frag : "", NULL);
}

/* Everything httpd derives the query from after this point: r->args (CGI's
 * QUERY_STRING, mod_proxy's backend URL, %q), the raw target (CGI's
 * REQUEST_URI when taken from the request line, %U%q), the request line
 * (%r) and a proxy: filename that already holds the query (ProxyPass
 * nocanon, RewriteRule [P]). What httpd copied before authentication (the
 * scoreboard's request for mod_status, RewriteCond %{QUERY_STRING}, a
 * log line of an earlier hook) keeps it. */
static void set_query(request_rec *r, const char *args)
{
    const char *old_target = r->unparsed_uri ? r->unparsed_uri : "";
    const char *target = with_query(r->pool, old_target, args);
    const char *line = auth_obo_request_line(r, old_target, target);

    r->args = args ? apr_pstrdup(r->pool, args) : NULL;
    r->parsed_uri.query = r->args;
    r->unparsed_uri = apr_pstrdup(r->pool, target);
    if (line) {
        r->the_request = apr_pstrdup(r->pool, line);
    }
    else if (!r->prev) {
        /* (an internal redirect's line is its first request's: strip_earlier) */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO406: the request line could not be "
                      "rewritten without the access_token query parameter: %%r in the access "
                      "log shows it");
    }
    if (r->filename && !strncmp(r->filename, "proxy:", 6) && strchr(r->filename, '?')) {
        apr_array_header_t *dropped = apr_array_make(r->pool, 1, sizeof(const char *));
        const char *q = strchr(r->filename, '?') + 1;
        const char *rest = obo_bearer_drop_param(r->pool, q, dropped);
        r->filename = (char *)with_query(r->pool, r->filename, *rest ? rest : NULL);
    }
}

/* An internal redirect (Action, ErrorDocument, a RewriteRule in a
 * <Directory>) into a Location that accepts query tokens: the requests
 * before it hold the token too, and they are what the access log's %r
 * (the first request's line), CGI's REQUEST_URI (this request's copy of
 * that line) and REDIRECT_QUERY_STRING show (review 11). */
static void strip_earlier(request_rec *r)
{
    request_rec *e, *first = r;
    const char *line;

    for (e = r->prev; e; e = e->prev) {
        first = e;
    }
    line = first->the_request;
    for (e = r->prev; e; e = e->prev) {
        apr_array_header_t *dropped = apr_array_make(r->pool, 1, sizeof(const char *));
        const char *rest = e->args ? obo_bearer_drop_param(r->pool, e->args, dropped) : NULL;
        if (dropped->nelts) {
            set_query(e, *rest ? rest : NULL);
        }
    }
    /* this request's line is a copy of the first one's */
    if (first != r && line && r->the_request && !strcmp(r->the_request, line)) {
        r->the_request = first->the_request;
    }
    if (r->prev && apr_table_get(r->subprocess_env, "REDIRECT_QUERY_STRING")) {
        apr_table_set(r->subprocess_env, "REDIRECT_QUERY_STRING",
                      r->prev->args ? r->prev->args : "");
    }
}

static void query_tokens(request_rec *r, finds *f)
{
    apr_array_header_t *values = apr_array_make(r->pool, 1, sizeof(const char *));
    const char *rest;
    int i;

    if (!r->args) {
        return;
    }
    rest = obo_bearer_drop_param(r->pool, r->args, values);
    if (values->nelts == 0) {
        return;
    }
    set_query(r, *rest ? rest : NULL);
    strip_earlier(r);
    for (i = 0; i < values->nelts; i++) {
        found(r->pool, f, "query", APR_ARRAY_IDX(values, i, const char *));
    }
}

void auth_obo_strip_query(request_rec *r, const auth_obo_dir_cfg *d)
{
    finds f;

    if (!(auth_obo_sources(d) & SOURCE_QUERY)) {
        return;
    }
    f.tokens = apr_array_make(r->pool, 1, sizeof(const char *));
    f.places = apr_array_make(r->pool, 1, sizeof(const char *));
    query_tokens(r, &f);
}

/* ---- cookies ---------------------------------------------------------------- */

/* The strings of a, sep between them. */
static const char *join(apr_pool_t *p, const apr_array_header_t *a, const char *sep)
{
    const char *out = "";
    int i;

    for (i = 0; i < a->nelts; i++) {
        out = apr_pstrcat(p, out, i ? sep : "", APR_ARRAY_IDX(a, i, const char *), NULL);
    }
    return out;
}

/* One Cookie header without d's cookies (their values pushed to f). */
static const char *drop_cookies(request_rec *r, const auth_obo_dir_cfg *d, const char *hdr,
                                finds *f)
{
    apr_array_header_t *values = apr_array_make(r->pool, 1, sizeof(const char *));
    apr_array_header_t *names = apr_array_make(r->pool, 1, sizeof(const char *));
    const char *rest = obo_bearer_drop_cookies(r->pool, hdr, d->cookies, values, names);
    int i;

    for (i = 0; i < values->nelts; i++) {
        found(r->pool, f, apr_pstrcat(r->pool, "cookie ",
                                      APR_ARRAY_IDX(names, i, const char *), NULL),
              APR_ARRAY_IDX(values, i, const char *));
    }
    return rest;
}

static int collect_cookie(void *rec, const char *key, const char *value)
{
    APR_ARRAY_PUSH((apr_array_header_t *)rec, const char *) = value;
    return 1;
}

/* The Cookie headers without the accepted cookies: httpd hands every
 * other cookie on (CGI's HTTP_COOKIE, mod_proxy's Cookie header). */
static void cookie_tokens(request_rec *r, const auth_obo_dir_cfg *d, finds *f)
{
    apr_array_header_t *hdrs = apr_array_make(r->pool, 1, sizeof(const char *));
    apr_array_header_t *out = apr_array_make(r->pool, 1, sizeof(const char *));
    int i, before = f->tokens->nelts;

    apr_table_do(collect_cookie, hdrs, r->headers_in, "Cookie", NULL);
    for (i = 0; i < hdrs->nelts; i++) {
        APR_ARRAY_PUSH(out, const char *) = drop_cookies(r, d, APR_ARRAY_IDX(hdrs, i,
                                                         const char *), f);
    }
    if (f->tokens->nelts == before) {
        return;
    }
    apr_table_unset(r->headers_in, "Cookie");
    for (i = 0; i < out->nelts; i++) {
        const char *v = APR_ARRAY_IDX(out, i, const char *);
        if (*v) {
            apr_table_addn(r->headers_in, "Cookie", v);
        }
    }
}

/* Headers by which some frameworks take a POST or an OPTIONS for another
 * method: a browser's preflight never has them. */
static const char *const method_overrides[] = {
    "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", NULL
};

/* A preflight as a browser sends it (Fetch): OPTIONS with Origin and
 * Access-Control-Request-Method, no credentials, no body. An OPTIONS with
 * a body, or one that names another method for the backend, is a request
 * like any other: let through without a user it would reach a CGI or a
 * backend that acts on it (review 11: a body and X-HTTP-Method-Override:
 * DELETE ran the protected CGI anonymously). */
static int preflight_shaped(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    const char *acrm = apr_table_get(r->headers_in, "Access-Control-Request-Method");
    int i;

    /* an empty method names none (review 14B) */
    if (r->method_number != M_OPTIONS || !apr_table_get(r->headers_in, "Origin")
        || !acrm || !*acrm
        || apr_table_get(r->headers_in, auth_obo_credentials_header(r))
        || apr_table_get(r->headers_in, "Transfer-Encoding")
        || (cl && strspn(cl, "0") != strlen(cl))) {
        return 0;
    }
    for (i = 0; method_overrides[i]; i++) {
        if (apr_table_get(r->headers_in, method_overrides[i])) {
            return 0;
        }
    }
    return 1;
}

int auth_obo_is_preflight(request_rec *r, const auth_obo_dir_cfg *d)
{
    apr_array_header_t *hdrs;
    finds f;
    int i;

    if (auth_obo_preflight(d) != PREFLIGHT_ALLOW || !preflight_shaped(r)) {
        return 0;
    }
    if (!(auth_obo_sources(d) & SOURCE_COOKIE)) {
        return 1;
    }
    /* A browser sends no cookie with a preflight (Fetch: credentials are
     * omitted): one of ours makes it a request like any other. */
    hdrs = apr_array_make(r->pool, 1, sizeof(const char *));
    f.tokens = apr_array_make(r->pool, 1, sizeof(const char *));
    f.places = apr_array_make(r->pool, 1, sizeof(const char *));
    apr_table_do(collect_cookie, hdrs, r->headers_in, "Cookie", NULL);
    for (i = 0; i < hdrs->nelts; i++) {
        drop_cookies(r, d, APR_ARRAY_IDX(hdrs, i, const char *), &f);
    }
    return f.tokens->nelts == 0;
}

/* ---- the form body ---------------------------------------------------------- */

/* The body read here, handed back to whoever reads it next (the handler, a
 * CGI, mod_proxy) by an input filter in front of httpd's HTTP_IN, which has
 * already delivered it: as mod_request's KEPT_BODY does. Its type puts it
 * below the content filters a handler adds later (SetInputFilter DEFLATE),
 * which then see the bytes as the client sent them. */
typedef struct kept_body {
    const char *data;
    apr_size_t len, off;
    request_rec *r;          /* the request whose input chain holds the filter */
} kept_body;

static ap_filter_rec_t *kept_body_handle;

static apr_status_t kept_body_in(ap_filter_t *f, apr_bucket_brigade *bb,
                                 ap_input_mode_t mode, apr_read_type_e block,
                                 apr_off_t readbytes)
{
    kept_body *k = f->ctx;
    apr_size_t n = k->len - k->off;
    const char *nl;

    if (n == 0 || (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE
                   && mode != AP_MODE_GETLINE)) {
        /* Done: HTTP_IN, past the body, answers EOS. */
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    if (mode == AP_MODE_GETLINE && (nl = memchr(k->data + k->off, '\n', n)) != NULL) {
        n = (apr_size_t)(nl - (k->data + k->off)) + 1;
    }
    else if (mode != AP_MODE_GETLINE && readbytes > 0 && (apr_off_t)n > readbytes) {
        n = (apr_size_t)readbytes;
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(k->data + k->off, n, f->r->pool,
                                                       f->c->bucket_alloc));
    if (mode != AP_MODE_SPECULATIVE) {
        k->off += n;
    }
    return APR_SUCCESS;
}

static void keep_body(request_rec *r, kept_body *k)
{
    k->r = r;
    ap_add_input_filter_handle(kept_body_handle, k, r, r->connection);
    /* An internal redirect keeps only the protocol filters, and shares the
     * pool: auth_obo_rekeep_body gives it the rest of the body back. */
    apr_pool_userdata_setn(k, KEPT_BODY_NOTE, NULL, r->pool);
}

static void auth_obo_rekeep_body(request_rec *r)
{
    kept_body *k = NULL;

    if (r->main || !r->prev) {
        return;
    }
    apr_pool_userdata_get((void **)&k, KEPT_BODY_NOTE, r->pool);
    if (k && k->r != r && k->off < k->len) {
        keep_body(r, k);
    }
}

/* 1: a urlencoded body the module looks into; 0: none; -1: one with a
 * content coding, which it cannot read and a backend may (review 34A-F1:
 * PHP, Rack, ASP.NET read "Content-Encoding: identity" or an unknown coding
 * as a plain form, and PUT, PATCH or DELETE bodies too). */
static int is_form(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    const char *ce = apr_table_get(r->headers_in, "Content-Encoding");
    apr_size_t n = sizeof(FORM_TYPE) - 1;

    /* RFC 6750 s.2.2: single-part urlencoded, a method whose body has
     * defined semantics (not GET, nor HEAD). The media type ends where a
     * parameter, blank or (as PHP reads it) a comma begins:
     * "FORM_TYPE,text/plain" is a form to PHP (review 33A-F3b). */
    if (r->method_number == M_GET || r->header_only || !ct || strncasecmp(ct, FORM_TYPE, n)
        || !(ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t' || ct[n] == ',')) {
        return 0;
    }
    while (ce && (*ce == ' ' || *ce == '\t')) {
        ce++;
    }
    return !ce || !*ce || !strcasecmp(ce, "identity") ? 1 : -1;
}

static int too_large(request_rec *r)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO402: a form body over %d bytes where "
                  "OBOAcceptTokenAs allows form tokens: 413", AUTH_OBO_FORM_MAX);
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

/* Reads the whole body (at most AUTH_OBO_FORM_MAX bytes) into *out. */
static int read_body(request_rec *r, char **out, apr_size_t *len)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_bucket_brigade *all = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_off_t total = 0;
    int eos = 0;

    if (cl && apr_atoi64(cl) > AUTH_OBO_FORM_MAX) {
        return too_large(r);
    }
    while (!eos) {
        apr_bucket *b;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, "OBO403: cannot read the request "
                          "body to look for a form token");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
            eos = eos || APR_BUCKET_IS_EOS(b);
        }
        APR_BRIGADE_CONCAT(all, bb);
        if (apr_brigade_length(all, 1, &total) != APR_SUCCESS
            || total > AUTH_OBO_FORM_MAX) {
            return too_large(r);
        }
    }
    return apr_brigade_pflatten(all, out, len, r->pool) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/* The body handed on without the access_token field (Content-Length
 * following it), or as it came when it has none. */
static int form_tokens(request_rec *r, finds *f)
{
    apr_array_header_t *values = apr_array_make(r->pool, 1, sizeof(const char *));
    kept_body *k = apr_pcalloc(r->pool, sizeof(*k));
    char *body = NULL;
    const char *rest;
    apr_size_t len = 0;
    int i, status;

    if ((status = read_body(r, &body, &len)) != OK) {
        return status;   /* logged: OBO402, OBO403 */
    }
    /* Reading a chunked body to its end brings its trailers, which httpd
     * merges into the headers (MergeTrailers on) after the scrub of the
     * client's copies of the module's headers has run: an OBO-Claim-* or a
     * second Authorization would reach the backend (review 34A-F3). A form
     * has no business with trailers. */
    if (r->trailers_in && !apr_is_empty_table(r->trailers_in)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO408: a form body with trailer "
                      "fields where OBOAcceptTokenAs allows form tokens: 400");
        f->trailers = 1;
        return HTTP_BAD_REQUEST;
    }
    k->data = body;
    k->len = len;
    /* urlencoded data has no raw NUL: such a body cannot be looked into as
     * a string, and a backend that reads past the NUL would find a token
     * the module did not see or remove (review 33A-F3) */
    if (memchr(body, '\0', len) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO407: a form body with a NUL byte "
                      "where OBOAcceptTokenAs allows form tokens: 400");
        f->nul = 1;
        return HTTP_BAD_REQUEST;
    }
    rest = obo_bearer_drop_param(r->pool, apr_pstrndup(r->pool, body, len), values);
    if (values->nelts > 0) {
        k->data = rest;
        k->len = strlen(rest);
        if (apr_table_get(r->headers_in, "Content-Length")) {
            apr_table_setn(r->headers_in, "Content-Length",
                           apr_off_t_toa(r->pool, (apr_off_t)k->len));
        }
    }
    for (i = 0; i < values->nelts; i++) {
        found(r->pool, f, "form", APR_ARRAY_IDX(values, i, const char *));
    }
    keep_body(r, k);
    return OK;
}

/* ---- the request's token ----------------------------------------------------- */

int auth_obo_find_token(request_rec *r, const auth_obo_dir_cfg *d, auth_obo_found *out)
{
    int kinds = auth_obo_sources(d), status = OK, dpop = 0, form = 0;
    const char *h;
    finds f;

    memset(out, 0, sizeof(*out));
    memset(&f, 0, sizeof(f));
    f.tokens = apr_array_make(r->pool, 2, sizeof(const char *));
    f.places = apr_array_make(r->pool, 2, sizeof(const char *));
    if ((kinds & SOURCE_HEADER) && (h = header_token(r, d, &dpop)) != NULL) {
        found(r->pool, &f, "header", h);
        /* Two Authorization headers, which httpd joins with ", " (a
         * b64token has no comma): two tokens, 400 (RFC 6750 s.2), not one
         * malformed token (review 30C) */
        if (!*h && second_credentials(apr_table_get(r->headers_in,
                                                    auth_obo_credentials_header(r)))) {
            found(r->pool, &f, "header", h);
        }
    }
    if (kinds & SOURCE_COOKIE) {
        cookie_tokens(r, d, &f);
    }
    if (kinds & SOURCE_QUERY) {
        query_tokens(r, &f);
    }
    /* Not for a subrequest: the body is its main request's. */
    if ((kinds & SOURCE_FORM) && !r->main && (form = is_form(r)) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO409: a form body with a content "
                      "coding (Content-Encoding: %s) where OBOAcceptTokenAs allows form "
                      "tokens: 415", auth_obo_quote(r->pool, apr_table_get(r->headers_in,
                                                                        "Content-Encoding")));
        out->error = "a form body with a content coding cannot be looked into for a token";
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    if ((kinds & SOURCE_FORM) && !r->main && form > 0) {
        status = form_tokens(r, &f);
    }
    if (status != OK) {
        out->error = status == HTTP_REQUEST_ENTITY_TOO_LARGE
                     ? "request body too large to look for a form token"
                     : status == HTTP_BAD_REQUEST && f.nul
                     ? "the form body holds a NUL byte"
                     : status == HTTP_BAD_REQUEST && f.trailers
                     ? "trailer fields are not accepted with a form body"
                     : "the request body could not be read";
        return status;
    }
    if (f.tokens->nelts > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO400: bearer token in more than one "
                      "place (%s): 400 invalid_request (RFC 6750 section 2)",
                      join(r->pool, f.places, ", "));
        out->error = "the bearer token must be sent in one place only";
        return HTTP_BAD_REQUEST;
    }
    if (f.tokens->nelts == 1) {
        out->token = APR_ARRAY_IDX(f.tokens, 0, const char *);
        out->where = APR_ARRAY_IDX(f.places, 0, const char *);
        out->dpop = dpop;
        if (*out->token && strcmp(out->where, "header")) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO404: token %s taken from the "
                          "%s and removed from what the backend sees",
                          obo_fingerprint(r->pool, out->token, strlen(out->token)), out->where);
        }
    }
    return OK;
}

void auth_obo_register_source(apr_pool_t *p)
{
    /* Beneath every content filter (AP_FTYPE_CONTENT_SET), above HTTP_IN. */
    kept_body_handle = ap_register_input_filter(KEPT_BODY_FILTER, kept_body_in, NULL,
                                                (ap_filter_type)(AP_FTYPE_PROTOCOL - 1));
    ap_hook_insert_filter(auth_obo_rekeep_body, NULL, NULL, APR_HOOK_MIDDLE);
}
