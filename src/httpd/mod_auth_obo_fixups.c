/* SPDX-License-Identifier: Apache-2.0 */
/* After authorization: exchange the caller's token for each downstream API
 * the Location names (or, with OBOLongRunning on, open the caller's session:
 * mod_auth_obo_session.c), renew tokens due for refresh once the response
 * is out. The hand-off to the backend and the answers to failures (RFC 6750
 * and Entra's claims challenge) are mod_auth_obo_request.c's. */
#include "mod_auth_obo_fixups.h"
#include "mod_auth_obo_request.h"
#include "mod_auth_obo_scrub.h"
#include "mod_auth_obo_session.h"
#include "mod_auth_obo_status.h"

#include <string.h>
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_token.h"

APLOG_USE_MODULE(auth_obo);

/* 0 (no cap) when exp is beyond what apr_time_t can hold: validation accepts
 * any future exp, and the multiplication would overflow (undefined). */
static apr_time_t assertion_expiry(const json_t *claims)
{
    apr_int64_t exp = 0;
    apr_int32_t frac = 0;       /* dropped: the cap ends no later than the token */

    if (obo_json_numericdate(claims, "exp", &exp, &frac) != APR_SUCCESS || exp <= 0
        || exp > APR_INT64_MAX / APR_USEC_PER_SEC) {
        return 0;
    }
    return apr_time_from_sec(exp);
}

static void fill_acquire(request_rec *r, const auth_obo_srv_cfg *sc, const auth_obo_req *st,
                         const auth_obo_downstream *ds, const char *endpoint, obo_acquire *a)
{
    memset(a, 0, sizeof(*a));
    a->cache = sc->rt->cache;
    a->l1 = sc->rt->cache ? sc->rt->l1 : NULL;   /* OBOCache none: no caching at all */
    a->http = sc->rt->http;
    auth_obo_grant_setup(sc, endpoint, &a->req, &a->flight);
    a->req.scopes = ds->scopes;
    a->authority = endpoint;
    a->margin = apr_time_from_sec(auth_obo_ival(sc->cache_margin, 300));
    if (ds->app) {
        /* The application's own token: one per client, authority and
         * scopes, shared by every caller, so neither the caller's token
         * (key, assertion) nor its exp (lifetime) has a part in it. */
        a->req.grant = OBO_GRANT_CLIENT_CREDENTIALS;
        a->req.requested_token_type = NULL;
    }
    else {
        a->req.assertion = st->token;
        a->assertion_sha256 = st->token_hash;   /* computed once, in authn */
        a->req.audiences = ds->audiences;
        a->assertion_expiry = assertion_expiry(st->jws->payload);
    }
    a->negative_ttl = apr_time_from_sec(auth_obo_ival(sc->negative_ttl, 30));
    a->guard = sc->rt->guard;
    a->refresh_share = auth_obo_ival(sc->refresh_share, AUTH_OBO_REFRESH_SHARE);
}

/* ---- early refresh ------------------------------------------------------- */

/* A request that was served a cached token inside its refresh window
 * renews it after its response has gone out: in log_transaction, which
 * runs once the response is written, on every MPM (prefork, worker,
 * event), with the request (its pool, its caller token - the assertion
 * the exchange needs -, its log context) still alive. No request waits for
 * it, nothing outlives the request, and nothing is stored in clear: the
 * pending work is this request's own acquisition parameters in r->pool. */
#define REFRESH_NOTE "auth_obo_refresh"

static void refresh_later(request_rec *r, const obo_acquire *a)
{
    apr_array_header_t *todo = NULL;
    request_rec *m = r;
    obo_acquire *k;

    /* log_transaction runs for the main request only: a subrequest's (SSI
     * include virtual, DirectoryIndex) work goes there, in its pool, with
     * what the subrequest's pool held (destroyed before) copied. */
    while (m->main) {
        m = m->main;
    }
    apr_pool_userdata_get((void **)&todo, REFRESH_NOTE, m->pool);
    if (!todo) {
        todo = apr_array_make(m->pool, 1, sizeof(obo_acquire *));
        apr_pool_userdata_setn(todo, REFRESH_NOTE, NULL, m->pool);
    }
    k = apr_pmemdup(m->pool, a, sizeof(*a));
    if (m != r) {
        k->req.assertion = apr_pstrdup(m->pool, a->req.assertion);
        k->req.token_endpoint = apr_pstrdup(m->pool, a->req.token_endpoint);
        k->authority = apr_pstrdup(m->pool, a->authority);
        k->assertion_sha256 = a->assertion_sha256
                              ? apr_pmemdup(m->pool, a->assertion_sha256, OBO_SHA256_LEN) : NULL;
    }
    APR_ARRAY_PUSH(todo, obo_acquire *) = k;
}

static int refresh_after(request_rec *r)
{
    apr_array_header_t *todo = NULL;
    request_rec *prev;
    int i;

    apr_pool_userdata_get((void **)&todo, REFRESH_NOTE, r->pool);
    if (!todo || todo->nelts == 0) {
        return DECLINED;
    }
    prev = auth_obo_log_enter(r);
    for (i = 0; i < todo->nelts; i++) {
        obo_token_refresh(r->pool, APR_ARRAY_IDX(todo, i, obo_acquire *));
    }
    todo->nelts = 0;
    auth_obo_log_leave(prev);
    return DECLINED;
}

/* ---- the hook ------------------------------------------------------------ */

static int acquire_one(request_rec *r, const auth_obo_srv_cfg *sc, auth_obo_req *st,
                       const auth_obo_downstream *ds)
{
    const char *endpoint = NULL, *err = NULL;
    obo_token_result *t = NULL;
    obo_exchange_error *x = NULL;
    obo_acquire a;
    int hit = 0, due = 0;
    apr_status_t rv = obo_provider_token_endpoint(auth_obo_token_provider(sc, st), r->pool,
                                                  &endpoint, &err);

    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO056: no token endpoint: %s", err);
        return rv == APR_EAGAIN ? HTTP_SERVICE_UNAVAILABLE : HTTP_INTERNAL_SERVER_ERROR;
    }
    fill_acquire(r, sc, st, ds, auth_obo_tenant_endpoint(r->pool, endpoint, st->jws->payload,
                                                         auth_obo_token_provider(sc, st)),
                 &a);
    a.req.metrics_provider = obo_provider_metrics_number(auth_obo_token_provider(sc, st));
    rv = obo_token_acquire_ex(r->pool, &a, &t, &x, &hit, &due);
    if (rv != APR_SUCCESS) {
        return auth_obo_exchange_failed(r, sc, ds, st, x);
    }
    if (due) {
        refresh_later(r, &a);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO057: downstream token %s for %s (%s%s)",
                  obo_fingerprint(r->pool, t->access_token, strlen(t->access_token)),
                  ds->name ? ds->name : "default", hit ? "cache hit" : "from the IdP",
                  ds->app ? ", application token" : "");
    return auth_obo_deliver(r, st, ds, t);
}

/* An application calling as itself has no user to act for: a Location
 * with a downstream that needs one (On-Behalf-Of, token exchange) answers
 * 403 insufficient_scope before any IdP call (the error filter adds the
 * challenge, st->insufficient_desc). App downstreams alone need no user. */
static int app_caller_refused(request_rec *r, const auth_obo_srv_cfg *sc,
                              const auth_obo_dir_cfg *d, auth_obo_req *st)
{
    /* An introspected token at an On-Behalf-Of exchange cannot be exchanged
     * whosever it is: OBO428 says why (it needs a JWT). */
    if (!auth_obo_needs_user(d) || (st->introspected && auth_obo_ival(sc->exchange,
                                                                     OBO_GRANT_OBO)
                                                         == OBO_GRANT_OBO)
        || !auth_obo_app_only(sc, st->jws->payload)) {
        return 0;
    }
    st->insufficient = "";
    st->insufficient_desc = "an app-only token cannot be exchanged on behalf of a user";
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO450: caller '%s' is an application "
                  "acting as itself (OBOAppOnlyWhen): %s; this Location needs a user's "
                  "token for its downstream API, answering 403 without calling the IdP",
                  r->user ? r->user : "-", st->insufficient_desc);
    return 1;
}

/* An app downstream is never part of a long-running session (a session
 * keeps a user's refresh token): refused at startup where the section
 * says both; here where they only meet by merging. */
static int session_with_app(request_rec *r, const auth_obo_dir_cfg *d)
{
    if (!auth_obo_has_app(d)) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO454: no downstream token: %s has "
                  "OBOLongRunning on and an app downstream (OBOScope ... app), which is never "
                  "part of a session; put the app downstream in a Location without "
                  "OBOLongRunning", r->uri);
    return 1;
}

/* TRACE echoes the request as the server (or, proxied, the backend)
 * received it: after the hand-off, that is the downstream token, a
 * session's key and the claim headers, all of which the caller must never
 * see. A Location that exchanges tokens answers TRACE 405 before any
 * exchange. */
static int trace_refused(request_rec *r)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO068: TRACE refused in %s: this Location "
                  "exchanges tokens, and the echo would show the caller what the backend gets "
                  "(the downstream token); answering 405", r->uri);
    r->allowed &= ~(AP_METHOD_BIT << M_TRACE);
    return HTTP_METHOD_NOT_ALLOWED;
}

/* A RewriteRule in a <Directory> (or .htaccess) that rewrites to a URL has
 * mod_rewrite's fixup (which runs first) hand the request to its redirect
 * handler: this request's handler never runs, the redirected one does, in
 * its own section. Exchanging here would cost an IdP call for nothing, fail
 * the request when that exchange failed, and start a long-running session
 * nobody uses. The caller's token stays for the redirected request. */
#define REWRITE_REDIRECT_HANDLER "redirect-handler"

static int redirected_by_rewrite(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, REWRITE_REDIRECT_HANDLER) != 0) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO075: no exchange for %s: mod_rewrite "
                  "redirects it internally; the new URL gets its own section's token", r->uri);
    return 1;
}

/* mod_dir (DirectoryIndex) and MultiViews serve a file chosen by a
 * subrequest in this request (ap_internal_fast_redirect): its section's
 * configuration, its environment, but this request's headers and user. The
 * module's fixups run after mod_dir's, so they hand off for the chosen
 * file's section, with this request's validated token. Without one (the
 * directory does not authenticate with the module, the file's section
 * does) the subrequest's environment hand-off came over, but a header
 * hand-off was lost with its headers: refused rather than a silent 200
 * without the token the section asks for. */
static int in_headers(const auth_obo_dir_cfg *d)
{
    int i, j;

    if (auth_obo_ival(d->long_running, 0)) {
        return 1;
    }
    for (i = 0; i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i, auth_obo_downstream *);
        for (j = 0; ds->pass && j < ds->pass->nelts; j++) {
            if (APR_ARRAY_IDX(ds->pass, j, auth_obo_pass).kind != PASS_ENV) {
                return 1;
            }
        }
    }
    return 0;
}

static int fast_redirect_refused(request_rec *r, const auth_obo_dir_cfg *d)
{
    if (!in_headers(d)) {
        return DECLINED;        /* the subrequest's environment has it all */
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO076: no downstream token for %s: "
                  "DirectoryIndex or MultiViews chose a file whose section exchanges tokens, "
                  "but the section of the URL asked for does not authenticate with the module; "
                  "set AuthType obo there too, or ask for the file by its name", r->uri);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* The caller's token stays in the middle tier (the point of On-Behalf-Of)
 * unless OBOForwardCallerToken says otherwise: removed in every request of
 * an exchanging Location, also when no exchange happens (a token that did
 * not validate, but another Require granted access). OBOPassToken
 * authorization puts the downstream token there after. */
/* 1 if v is a copy of the presented, unverified token t: the token itself
 * or "<scheme> <token>" (what SetEnvIf, RewriteRule [E=] and RequestHeader
 * copy). Whole values only: the client chose t (review 31). */
static int is_copy(const char *v, const char *t)
{
    const char *sp = ap_strchr_c(v, ' ');

    return !strcmp(v, t) || (sp && !strcmp(sp + 1 + strspn(sp + 1, " \t"), t));
}

/* Entries of t that hold the verified token (anywhere in the value) or are
 * a copy of the unverified one, except the one named keep. */
static void drop_copies(request_rec *r, apr_table_t *t, const char *verified,
                        const char *presented, const char *keep)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *gone = NULL;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key && e[i].val && (!keep || strcasecmp(e[i].key, keep))
            && ((verified && strstr(e[i].val, verified))
                || (presented && is_copy(e[i].val, presented)))) {
            gone = gone ? gone : apr_array_make(r->pool, 2, sizeof(const char *));
            APR_ARRAY_PUSH(gone, const char *) = e[i].key;
        }
    }
    for (i = 0; gone && i < gone->nelts; i++) {
        apr_table_unset(t, APR_ARRAY_IDX(gone, i, const char *));
    }
}

/* Copies of the caller's token that the configuration made before
 * (PHP's idioms: SetEnvIf Authorization "(.*)" HTTP_AUTHORIZATION=$1, a
 * RewriteRule [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}], their
 * REDIRECT_ copies; SetEnvIf Cookie, RequestHeader set X-... from
 * Authorization) reached CGI, FastCGI and proxied backends (reviews 30B,
 * 31, 32): every variable and request header holding the verified token
 * goes, and every one that is a whole copy of a token that did not verify
 * (another Require granted access). A client-chosen string is never looked
 * for inside values: it would let the client pick what to delete. Tokens
 * shorter than a JWT's smallest parts are not looked for at all. */
static void drop_caller_copies(request_rec *r, const auth_obo_req *st, const char *hdr)
{
    const char *verified = st && st->jws && st->token && strlen(st->token) >= 16
                           ? st->token : NULL;
    const char *presented = st && st->presented && strlen(st->presented) >= 16
                            ? st->presented : NULL;

    if (verified || presented) {
        drop_copies(r, r->subprocess_env, verified, presented, NULL);
        drop_copies(r, r->headers_in, verified, presented, hdr);
    }
}

static void drop_caller_token(request_rec *r, const auth_obo_dir_cfg *d, auth_obo_req *st)
{
    const char *h = auth_obo_credentials_header(r);

    if (auth_obo_forward_caller(d)) {
        return;
    }
    drop_caller_copies(r, st, h);
    if (!apr_table_get(r->headers_in, h)) {
        return;
    }
    apr_table_unset(r->headers_in, h);
    /* Without it mod_cache would take the answer for an anonymous one. */
    auth_obo_no_cache(r);
    if (st) {
        st->authz_changed = 1;
    }
}

/* Entra's On-Behalf-Of grant takes a JWT assertion: an opaque token that
 * OBOTokenFormat auto introspected cannot be exchanged with it (opaque
 * alone is refused at startup, OBO420). */
static int opaque_refused(request_rec *r, auth_obo_req *st)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO428: no downstream token for '%s': an "
                  "opaque (introspected) token cannot be exchanged with OBOExchange "
                  "on-behalf-of, which needs a JWT; answering 401", r->user ? r->user : "-");
    st->error_desc = "this resource needs a JWT access token";
    ap_note_auth_failure(r);
    return HTTP_UNAUTHORIZED;
}

static int auth_obo_fixups(request_rec *r)
{
    auth_obo_req *own = ap_get_module_config(r->request_config, &auth_obo_module);
    auth_obo_srv_cfg *sc;
    auth_obo_dir_cfg *d;
    auth_obo_req *st;
    int i, fast, status = OK;

    if (own && own->jws && app_caller_refused(r, ap_get_module_config(
                               r->server->module_config, &auth_obo_module),
                               auth_obo_effective(r), own)) {
        return HTTP_FORBIDDEN;  /* counted as insufficient_scope by the error filter */
    }
    if (own) {
        own->authorized = 1;    /* fixups run only after authorization passed */
        /* A step-up noted inside a <RequireAny> that another line granted
         * is no reason for a later 401 (an IdP refusal, a session limit)
         * to ask for one (review 25). */
        own->stepup_acr = own->stepup_acrs = NULL;
        own->stepup_max_age = 0;
        auth_obo_metrics_request(r, own);
    }
    /* A subrequest in its main request's Location inherits its headers and
     * environment; one in another Location had them removed
     * (mod_auth_obo_scrub.c) and gets its own. */
    if (r->main && r->main->per_dir_config == r->per_dir_config) {
        return DECLINED;
    }
    d = auth_obo_effective(r);
    fast = auth_obo_scrub_fast_redirected(r);
    if (!d->downstreams || d->downstreams->nelts == 0) {
        return DECLINED;
    }
    if (r->method_number == M_TRACE) {
        return trace_refused(r);
    }
    if (redirected_by_rewrite(r)) {
        return DECLINED;
    }
    st = auth_obo_req_state(r);
    /* Wherever a downstream applies, a server-level OBOScope's included: a
     * public Location nested in an authenticated one passed the caller's
     * own token on when only sections counted (review 38F-F8, after
     * 36B-F11); docs/proxy-backend.md says to put OBOScope in sections
     * where the server also proxies applications of their own. */
    drop_caller_token(r, d, st);
    sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    if (!st || !st->jws) {
        return fast ? fast_redirect_refused(r, d) : DECLINED;
    }
    if (auth_obo_follows_failed_handoff(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO069: no downstream token for '%s': "
                      "this error page follows a failed exchange in the same Location; not "
                      "exchanging again", r->user ? r->user : "-");
        return DECLINED;
    }
    if (st->introspected && auth_obo_needs_user(d)
        && auth_obo_ival(sc->exchange, OBO_GRANT_OBO) == OBO_GRANT_OBO) {
        return opaque_refused(r, st);
    }
    if (!sc->rt || !sc->client) {
        /* Never a silent 200 without the token the Location asks for. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO067: no downstream token: this "
                      "server has no exchange set up (startup found no section naming a "
                      "downstream for it, or this process could not be set up)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (auth_obo_inherits_denial(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO064: no downstream token for '%s': "
                      "this error page follows a request that failed authorization",
                      r->user ? r->user : "-");
        return DECLINED;
    }
    if (auth_obo_ival(d->long_running, 0)) {
        return session_with_app(r, d) ? HTTP_INTERNAL_SERVER_ERROR
                                      : auth_obo_session_fixups(r, sc, st, d);
    }
    for (i = 0; i < d->downstreams->nelts && status == OK; i++) {
        status = acquire_one(r, sc, st, APR_ARRAY_IDX(d->downstreams, i,
                                                     auth_obo_downstream *));
    }
    return status == OK ? DECLINED : status;
}

/* The exchange's and the cache's log lines go against this request. */
static int auth_obo_fixups_logged(request_rec *r)
{
    request_rec *prev = auth_obo_log_enter(r);
    int status = auth_obo_fixups(r);
    auth_obo_req *st;

    /* An ErrorDocument for this status in the same Location must not run
     * the exchange again (auth_obo_follows_failed_handoff). */
    if (ap_is_HTTP_ERROR(status) && (st = auth_obo_req_state(r)) != NULL) {
        st->handoff_failed = 1;
    }
    auth_obo_log_leave(prev);
    return status;
}

void auth_obo_register_fixups(apr_pool_t *p)
{
    /* After mod_dir's: its DirectoryIndex subrequest needs the caller's
     * token, and its fast redirect changes the section to hand off for. */
    static const char *const after[] = { "mod_dir.c", NULL };

    ap_hook_fixups(auth_obo_fixups_logged, after, NULL, APR_HOOK_LAST);
    ap_hook_log_transaction(refresh_after, NULL, NULL, APR_HOOK_LAST);
}
