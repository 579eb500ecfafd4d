/* SPDX-License-Identifier: Apache-2.0 */
/* What every request hook shares: the request's state (made by
 * authentication, read by authorization, the fixups, the scrub and the
 * metrics), the core's log lines against the request being served, the
 * RFC 6750 answers, and the hand-off of a downstream token to the backend
 * (environment, request headers, Authorization), whether the token comes
 * from an exchange (mod_auth_obo_fixups.c) or a long-running session
 * (mod_auth_obo_session.c). */
#include "mod_auth_obo_request.h"

#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "obo_b64.h"
#include "obo_json.h"
#include "obo_text.h"

APLOG_USE_MODULE(auth_obo);

/* Bounds of what the IdP returns, before it goes into a header or variable:
 * the core's own bound on access tokens, and a token_type is a short word. */
#define MAX_ACCESS_TOKEN (64 * 1024)
#define MAX_TOKEN_TYPE 64

/* ---- the request's state ------------------------------------------------- */

/* State lives on the request that authenticated; subrequests and internal
 * redirects find it on their main or previous request. */
obo_provider *auth_obo_token_provider(const auth_obo_srv_cfg *sc, const auth_obo_req *st)
{
    return st && st->provider ? st->provider : sc->rt->provider;
}

auth_obo_req *auth_obo_req_state(request_rec *r)
{
    auth_obo_req *st = NULL;

    for (; r && !st; r = r->main ? r->main : r->prev) {
        st = ap_get_module_config(r->request_config, &auth_obo_module);
    }
    return st;
}

/* The request r was internally redirected from, when that one ended with
 * an error status in the same configuration (r is its error page); NULL
 * otherwise. */
static request_rec *failed_predecessor(request_rec *r)
{
    request_rec *p = r->prev;

    return p && p->per_dir_config == r->per_dir_config && p->status >= 400 ? p : NULL;
}

/* httpd skips authentication and authorization for an internal redirect
 * in its predecessor's configuration, and copies its user, even when that
 * request FAILED authorization: an ErrorDocument 401/403 in the same
 * Location. Such a request must get nothing the module hands to users who
 * passed (claims, downstream tokens). A predecessor that reached fixups, or
 * ended without an error status, did pass. */
int auth_obo_inherits_denial(request_rec *r)
{
    request_rec *p = failed_predecessor(r);
    const auth_obo_req *st = p ? auth_obo_req_state(p) : NULL;

    return p && !(st && st->authorized);
}

/* The same skip after a request that passed authorization but whose
 * exchange failed (an ErrorDocument 502 in the exchanging Location): the
 * fixups run again for the error page, and would call the IdP again (with
 * its retry) and fail again, answering "Additionally, a 502 ..." instead of
 * the page. */
int auth_obo_follows_failed_handoff(request_rec *r)
{
    request_rec *p = failed_predecessor(r);
    const auth_obo_req *st = p ? auth_obo_req_state(p) : NULL;

    return st && st->handoff_failed;
}

/* Made once per request, by authentication (mod_auth_obo_authn.c). */
auth_obo_req *auth_obo_req_state_new(request_rec *r)
{
    request_rec *from = r->main ? r->main : r->prev;
    const auth_obo_req *prior = from ? auth_obo_req_state(from) : NULL;
    auth_obo_req *st = apr_pcalloc(r->pool, sizeof(*st));

    /* The Authorization header as the caller sent it, before any exchange
     * replaced or removed it (see mod_auth_obo_scrub.c). */
    st->caller_authz = prior ? prior->caller_authz
                             : apr_table_get(r->headers_in, "Authorization");
    ap_set_module_config(r->request_config, &auth_obo_module, st);
    return st;
}

/* The authn, fixups and scrub hooks each need it: merged once per request
 * (and again only if the request moved to another per_dir_config). */
auth_obo_dir_cfg *auth_obo_effective(request_rec *r)
{
    auth_obo_dir_cfg *d = ap_get_module_config(r->per_dir_config, &auth_obo_module);
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    auth_obo_req *st = ap_get_module_config(r->request_config, &auth_obo_module);

    if (st && st->eff && st->eff_for == r->per_dir_config) {
        return st->eff;
    }
    d = auth_obo_merge_dir_cfg(r->pool, sc->defaults, d);
    if (st) {
        st->eff_for = r->per_dir_config;
        st->eff = d;
    }
    return d;
}

/* ---- logging from the core ------------------------------------------------ */

/* The request a hook of this thread is serving while it calls the core, so
 * that the core's lines carry [client ...] and go to the request's virtual
 * host's ErrorLog at its LogLevel. Thread-local: worker threads serve
 * different requests at the same time; set at a hook's entry, restored at
 * its exit (auth_obo_log_enter/leave), never left pointing at a request
 * whose pool is gone. */
static _Thread_local request_rec *log_request;

request_rec *auth_obo_log_enter(request_rec *r)
{
    request_rec *prev = log_request;

    log_request = r;
    return prev;
}

void auth_obo_log_leave(request_rec *prev)
{
    log_request = prev;
}

/* For the log sink (mod_auth_obo_process.c): NULL outside a hook. */
request_rec *auth_obo_log_request(void)
{
    return log_request;
}

/* The request line "METHOD target PROTOCOL" with target replaced, or NULL
 * when it does not hold old_target where expected. */
const char *auth_obo_request_line(request_rec *r, const char *old_target,
                                  const char *new_target)
{
    const char *line = r->the_request, *sp = line ? strchr(line, ' ') : NULL;
    apr_size_t n = strlen(old_target);

    if (!sp || strncmp(sp + 1, old_target, n) != 0 || (sp[1 + n] != ' ' && sp[1 + n])) {
        return NULL;
    }
    return apr_pstrcat(r->pool, apr_pstrndup(r->pool, line, (apr_size_t)(sp + 1 - line)),
                       new_target, sp + 1 + n, NULL);
}

/* ---- RFC 6750 answers ------------------------------------------------------- */

/* A quoted-string of s without its control characters. */
const char *auth_obo_quote(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 3), *o = out;

    *o++ = '"';
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            continue;
        }
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

const char *auth_obo_realm(request_rec *r)
{
    const char *name = ap_auth_name(r);

    /* mod_authn_core keeps AuthName escaped already (ap_escape_quotes):
     * quoted as mod_auth_basic does, not escaped twice (review 30B) */
    if (name && !ap_strchr_c(name, '\r') && !ap_strchr_c(name, '\n')) {
        return apr_pstrcat(r->pool, "\"", name, "\"", NULL);
    }
    /* The configured ServerName, never the client's Host header (which
     * ap_get_server_name follows with UseCanonicalName Off). */
    if (!name) {
        name = r->server->server_hostname ? r->server->server_hostname : "";
    }
    return auth_obo_quote(r->pool, name);
}

/* "Bearer realm=..." with the error and one more parameter (its value
 * already quoted) when given: every challenge the module sends. */
const char *auth_obo_challenge(request_rec *r, const char *error, const char *param,
                               const char *value)
{
    const char *hdr = apr_pstrcat(r->pool, "Bearer realm=", auth_obo_realm(r), NULL);

    if (error) {
        hdr = apr_pstrcat(r->pool, hdr, ", error=\"", error, "\"", NULL);
    }
    if (param && value) {
        hdr = apr_pstrcat(r->pool, hdr, ", ", param, "=", value, NULL);
    }
    return hdr;
}

/* ---- exchange failures ------------------------------------------------------ */

static const char *interaction_error(const obo_exchange_error *x)
{
    return obo_exchange_error_is_consent(x) ? "consent_required" : "interaction_required";
}

static json_t *scopes_json(const auth_obo_downstream *ds)
{
    json_t *a = json_array();
    int i;

    for (i = 0; i < ds->scopes->nelts; i++) {
        json_array_append_new(a, json_string(APR_ARRAY_IDX(ds->scopes, i, const char *)));
    }
    return a;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v) {
        json_object_set_new(o, k, json_string(v));
    }
}

/* 401 with Entra's claims challenge (the form MSAL clients parse) and a JSON
 * body saying what the user must do. */
static int reply_interaction(request_rec *r, const auth_obo_downstream *ds,
                             const obo_exchange_error *x)
{
    const char *err = interaction_error(x);
    json_t *body = obo_json_pool(r->pool, json_object());
    const char *claims = x->claims
        ? apr_pstrcat(r->pool, "\"", obo_b64_encode(r->pool, (const unsigned char *)x->claims,
                                                    strlen(x->claims)), "\"", NULL)
        : NULL;
    /* The challenge MSAL clients parse; the body says which action. */
    const char *hdr = auth_obo_challenge(r, "insufficient_claims", "claims", claims);

    set_str(body, "error", err);
    set_str(body, "error_description", x->error_description);
    set_str(body, "suberror", x->suberror);
    json_object_set_new(body, "scopes", scopes_json(ds));
    set_str(body, "claims", x->claims);
    r->status = HTTP_UNAUTHORIZED;
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", hdr);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "application/json");
    ap_rputs(obo_json_dump(r->pool, body), r);
    return DONE;
}

/* An exchange (or a session's first exchange) failed: answered as what the
 * caller can act on. */
int auth_obo_exchange_failed(request_rec *r, const auth_obo_srv_cfg *sc,
                             const auth_obo_downstream *ds, auth_obo_req *st,
                             const obo_exchange_error *x)
{
    const char *what = x->detail ? x->detail : (x->error ? x->error : "exchange failed");

    switch (x->kind) {
    case OBO_XERR_INTERACTION:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO050: user '%s' must act: %s (%s)",
                      r->user, interaction_error(x), what);
        return reply_interaction(r, ds, x);
    case OBO_XERR_INVALID_GRANT:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO051: IdP rejected the assertion: %s",
                      what);
        st->error_desc = "token rejected by the identity provider";
        ap_note_auth_failure(r);
        return HTTP_UNAUTHORIZED;
    case OBO_XERR_CLIENT:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO052: the IdP rejected OUR client "
                      "credentials (client id %s): %s; check OBOClientSecret / "
                      "OBOClientCertificate", sc->client_id, what);
        return HTTP_INTERNAL_SERVER_ERROR;
    case OBO_XERR_REQUEST:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO053: the IdP refused the exchange "
                      "request: %s; check OBOScope / OBOExchange", what);
        return HTTP_INTERNAL_SERVER_ERROR;
    case OBO_XERR_TIMEOUT:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO054: IdP timeout: %s", what);
        return HTTP_GATEWAY_TIME_OUT;
    case OBO_XERR_THROTTLED:
        /* INFO: the pause itself was logged once (OBO091) when it began.
         * With an IdP status this request met it (no retry, OBO316). */
        if (x->http_status) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO092: the IdP asked for a "
                          "pause: %s", what);
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO090: not calling the IdP: %s",
                          what);
        }
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, x->retry_after));
        return HTTP_SERVICE_UNAVAILABLE;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO055: IdP failure: %s", what);
        return HTTP_BAD_GATEWAY;
    }
}

/* ---- the exchange's settings ---------------------------------------------- */

/* The token's tid is its issuer's: iss names it as a path segment, as
 * Entra's v1 and v2 issuers do (a provider's issuer is fixed or a
 * {tenantid} template bound to tid, so no caller chooses it). A provider
 * whose issuer does not name the tenant (a partner's, a JWKS file's) could
 * put any tid in its tokens (review 14C). */
static int tid_of_issuer(const json_t *claims, const char *tid)
{
    const char *iss = obo_json_str(claims, "iss"), *at;
    apr_size_t n = strlen(tid);

    for (at = iss ? strstr(iss, tid) : NULL; at; at = strstr(at + 1, tid)) {
        if (at > iss && at[-1] == '/' && (at[n] == '/' || at[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

/* Entra multi-tenant authorities: guests must get tokens from their home
 * tenant, so common/organizations becomes the token's tid, when its issuer
 * vouches for that tid and the provider that verified it is the primary
 * (whose issuers the administrator chose: tenants listed one by one, review
 * 41-F2) or multi-tenant (a {tenantid} issuer). A further provider's token
 * names its tid and iss freely: a partner chose the tenant whose app token
 * the module fetched (review 40A-F4b). */
const char *auth_obo_tenant_endpoint(apr_pool_t *p, const char *url, const json_t *claims,
                                     obo_provider *pv)
{
    static const char *const multi[] = { "/common/", "/organizations/", NULL };
    const char *tid = obo_json_str(claims, "tid");
    const char *at;
    int i;

    if (!tid || !*tid || strspn(tid, "0123456789abcdefABCDEF-") != strlen(tid)
        || strlen(tid) > 64 || !tid_of_issuer(claims, tid) || !pv
        || (obo_provider_is_further(pv) && !obo_provider_multi_tenant(pv, p))) {
        return url;
    }
    for (i = 0; multi[i]; i++) {
        if ((at = strstr(url, multi[i])) != NULL) {
            return apr_pstrcat(p, apr_pstrndup(p, url, at - url), "/", tid, "/",
                               at + strlen(multi[i]), NULL);
        }
    }
    return url;
}

/* The longest a lock holder's exchange can take: its call, the one retry
 * and the retry wait (2 s), plus a second of slack. Its lock must live that
 * long whatever OBOCacheLockWait says, or waiters would call the IdP beside
 * a holder that is still within its timeout. */
int auth_obo_lock_ms(const auth_obo_srv_cfg *sc)
{
    return auth_obo_ival(sc->timeout_ms, 10000) * 2 + 3000;
}

int auth_obo_wait_ms(const auth_obo_srv_cfg *sc)
{
    /* Long enough for the leader's call, its retry and the retry wait. */
    return auth_obo_ival(sc->flight_wait_ms, auth_obo_lock_ms(sc));
}

void auth_obo_grant_setup(const auth_obo_srv_cfg *sc, const char *endpoint,
                          obo_exchange_req *req, obo_cache_flight_opts *flight)
{
    memset(req, 0, sizeof(*req));
    req->grant = auth_obo_ival(sc->exchange, OBO_GRANT_OBO);
    req->token_endpoint = endpoint;
    req->requested_token_type = sc->token_type;
    req->client = sc->client;
    req->http.ca_file = sc->ca_file;
    req->http.connect_timeout = auth_obo_ival(sc->connect_timeout_ms, 3000) * 1000LL;
    req->http.timeout = auth_obo_ival(sc->timeout_ms, 10000) * 1000LL;
    req->max_retries = 1;
    memset(flight, 0, sizeof(*flight));
    flight->lock_ttl = auth_obo_lock_ms(sc) * 1000LL;
    flight->max_wait = auth_obo_wait_ms(sc) * 1000LL;
    flight->poll = 5000;
}

/* ---- hand-off to the backend ---------------------------------------------- */

static void hand_off(request_rec *r, auth_obo_req *st, const auth_obo_downstream *ds,
                     const obo_token_result *t)
{
    const char *exp = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_sec(t->expires_on));
    int i;

    if (ds->pass->nelts == 0) {
        const char *env = auth_obo_default_env(r->pool, ds);
        apr_table_set(r->subprocess_env, env, t->access_token);
        apr_table_set(r->subprocess_env, apr_pstrcat(r->pool, env, "_EXPIRES_ON", NULL), exp);
    }
    for (i = 0; i < ds->pass->nelts; i++) {
        const auth_obo_pass *ps = &APR_ARRAY_IDX(ds->pass, i, auth_obo_pass);
        if (ps->kind == PASS_AUTHORIZATION) {
            /* The backend gets the downstream token, never the user's. */
            apr_table_set(r->headers_in, "Authorization",
                          apr_pstrcat(r->pool, "Bearer ", t->access_token, NULL));
            st->authz_changed = 1;
        }
        else if (ps->kind == PASS_ENV) {
            apr_table_set(r->subprocess_env, ps->name, t->access_token);
            apr_table_set(r->subprocess_env, apr_pstrcat(r->pool, ps->name, "_EXPIRES_ON", NULL),
                          exp);
        }
        else {
            apr_table_set(r->headers_in, ps->name, t->access_token);
            apr_table_set(r->headers_in, apr_pstrcat(r->pool, ps->name, "-Expires-On", NULL),
                          exp);
        }
    }
}

/* What the IdP returned goes into a header, a variable or the obo-token
 * handler's answer (backends build "Authorization: <token_type> <token>"
 * from it): a value that could end a header line or is not a token at all
 * is the IdP's failure (502). */
int auth_obo_check_token(request_rec *r, const char *ds_name, const obo_token_result *t)
{
    const char *why = NULL, *what = "access_token";
    apr_status_t rv = obo_text_check(t->access_token, MAX_ACCESS_TOKEN, OBO_TEXT_VISIBLE,
                                     &why);

    if (rv == APR_SUCCESS && t->token_type) {
        what = "token_type";
        rv = obo_text_check(t->token_type, MAX_TOKEN_TYPE, OBO_TEXT_TOKEN, &why);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO061: the IdP returned an unusable "
                      "%s for %s (%s); not handed to the backend", what,
                      ds_name ? ds_name : "the default downstream", why);
        return HTTP_BAD_GATEWAY;
    }
    return OK;
}

/* Checked, then handed off: a token the backend cannot use is a 502. */
int auth_obo_deliver(request_rec *r, auth_obo_req *st, const auth_obo_downstream *ds,
                     const obo_token_result *t)
{
    if (auth_obo_check_token(r, ds->name, t) != OK) {
        return HTTP_BAD_GATEWAY;
    }
    hand_off(r, st, ds, t);
    return OK;
}

const char *auth_obo_credentials_header(const request_rec *r)
{
    return r->proxyreq == PROXYREQ_PROXY ? "Proxy-Authorization" : "Authorization";
}

/* mod_cache's save filter refuses a request with Authorization only: an
 * exchanging Location removes the caller's, a cookie token never had one,
 * and the answer it stores is the main request's (SSI include virtual, or
 * DirectoryIndex, whose fast redirect keeps no_cache only when both
 * requests had it). */
/* mod_cache's save filter of r itself (not one further down a chain that
 * continues into another request's filters). */
static void drop_cache_save(request_rec *r)
{
    ap_filter_t *f;

    for (f = r->output_filters; f; f = f->next) {
        if (f->r == r && f->frec && f->frec->name
            && (!strcasecmp(f->frec->name, "CACHE_SAVE")
                || !strcasecmp(f->frec->name, "CACHE_SAVE_SUBREQ"))) {
            ap_remove_output_filter(f);
            return;
        }
    }
}

void auth_obo_no_cache(request_rec *r)
{
    for (; r; r = r->main ? r->main : r->prev) {
        r->no_cache = 1;
        /* A save filter already at work (an SSI page whose start went out
         * before its include) leaves the request: the entry it began never
         * sees its end, and is never committed. */
        drop_cache_save(r);
    }
}
