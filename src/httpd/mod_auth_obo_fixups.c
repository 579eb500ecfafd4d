/* SPDX-License-Identifier: Apache-2.0 */
/* After authorization: exchange the caller's token for each downstream API
 * the Location names, and hand the results to the backend. Failures are
 * mapped to what the caller can act on (RFC 6750 and Entra's claims
 * challenge). */
#include "mod_auth_obo.h"

#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_text.h"
#include "obo_token.h"

APLOG_USE_MODULE(auth_obo);

/* Bounds of what the IdP returns, before it goes into a header or variable:
 * the core's own bound on access tokens, and a token_type is a short word. */
#define MAX_ACCESS_TOKEN (64 * 1024)
#define MAX_TOKEN_TYPE 64

/* Entra multi-tenant authorities: guests must get tokens from their home
 * tenant, so common/organizations becomes the token's tid. */
static const char *tenant_endpoint(apr_pool_t *p, const char *url, const json_t *claims)
{
    static const char *const multi[] = { "/common/", "/organizations/", NULL };
    const char *tid = obo_json_str(claims, "tid");
    const char *at;
    int i;

    if (!tid || !*tid || strspn(tid, "0123456789abcdefABCDEF-") != strlen(tid)
        || strlen(tid) > 64) {
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

/* 0 (no cap) when exp is beyond what apr_time_t can hold: validation accepts
 * any future exp, and the multiplication would overflow (undefined). */
static apr_time_t assertion_expiry(const json_t *claims)
{
    apr_int64_t exp = 0;

    if (obo_json_int(claims, "exp", &exp) != APR_SUCCESS || exp <= 0
        || exp > APR_INT64_MAX / APR_USEC_PER_SEC) {
        return 0;
    }
    return apr_time_from_sec(exp);
}

/* The longest a lock holder's exchange can take: its call, the one retry
 * and the retry wait (2 s), plus a second of slack. Its lock must live that
 * long whatever OBOCacheLockWait says, or waiters would call the IdP beside
 * a holder that is still within its timeout. */
static int lock_ms(const auth_obo_srv_cfg *sc)
{
    return auth_obo_ival(sc->timeout_ms, 10000) * 2 + 3000;
}

static int wait_ms(const auth_obo_srv_cfg *sc)
{
    /* Long enough for the leader's call, its retry and the retry wait. */
    return auth_obo_ival(sc->flight_wait_ms, lock_ms(sc));
}

static void fill_acquire(request_rec *r, const auth_obo_srv_cfg *sc, const auth_obo_req *st,
                         const auth_obo_downstream *ds, const char *endpoint, obo_acquire *a)
{
    memset(a, 0, sizeof(*a));
    a->cache = sc->rt->cache;
    a->l1 = sc->rt->cache ? sc->rt->l1 : NULL;   /* OBOCache none: no caching at all */
    a->http = sc->rt->http;
    a->req.grant = auth_obo_ival(sc->exchange, OBO_GRANT_OBO);
    a->req.token_endpoint = endpoint;
    a->req.assertion = st->token;
    a->assertion_sha256 = st->token_hash;   /* computed once, in authn */
    a->req.scopes = ds->scopes;
    a->req.audiences = ds->audiences;
    a->req.requested_token_type = sc->token_type;
    a->req.client = sc->client;
    a->req.http.ca_file = sc->ca_file;
    a->req.http.connect_timeout = auth_obo_ival(sc->connect_timeout_ms, 3000) * 1000LL;
    a->req.http.timeout = auth_obo_ival(sc->timeout_ms, 10000) * 1000LL;
    a->req.max_retries = 1;
    a->authority = endpoint;
    a->margin = apr_time_from_sec(auth_obo_ival(sc->cache_margin, 300));
    a->assertion_expiry = assertion_expiry(st->jws->payload);
    a->flight.lock_ttl = lock_ms(sc) * 1000LL;
    a->flight.max_wait = wait_ms(sc) * 1000LL;
    a->flight.poll = 5000;
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

    apr_pool_userdata_get((void **)&todo, REFRESH_NOTE, r->pool);
    if (!todo) {
        todo = apr_array_make(r->pool, 1, sizeof(obo_acquire *));
        apr_pool_userdata_setn(todo, REFRESH_NOTE, NULL, r->pool);
    }
    APR_ARRAY_PUSH(todo, obo_acquire *) = apr_pmemdup(r->pool, a, sizeof(*a));
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

/* ---- hand-off ------------------------------------------------------------ */

static const char *default_env(apr_pool_t *p, const auth_obo_downstream *ds)
{
    char *n, *c;

    if (!ds->name) {
        return AUTH_OBO_DEFAULT_ENV;
    }
    n = apr_pstrcat(p, AUTH_OBO_DEFAULT_ENV "_", ds->name, NULL);
    for (c = n; *c; c++) {
        *c = *c == '-' ? '_' : apr_toupper(*c);
    }
    return n;
}

static void hand_off(request_rec *r, auth_obo_req *st, const auth_obo_downstream *ds,
                     const obo_token_result *t)
{
    const char *exp = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_sec(t->expires_on));
    int i;

    if (ds->pass->nelts == 0) {
        const char *env = default_env(r->pool, ds);
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

/* ---- errors -------------------------------------------------------------- */

static const char *interaction_error(const obo_exchange_error *x)
{
    if ((x->error && !strcmp(x->error, "consent_required"))
        || (x->error_codes && strstr(x->error_codes, "65001"))) {
        return "consent_required";
    }
    return "interaction_required";
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
    const char *hdr = apr_pstrcat(r->pool, "Bearer realm=", auth_obo_realm(r), NULL);

    /* The challenge MSAL clients parse; the body says which action. */
    hdr = apr_pstrcat(r->pool, hdr, ", error=\"insufficient_claims\"", NULL);
    if (x->claims) {
        hdr = apr_pstrcat(r->pool, hdr, ", claims=\"",
                          obo_b64_encode(r->pool, (const unsigned char *)x->claims,
                                         strlen(x->claims)), "\"", NULL);
    }
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

static int map_error(request_rec *r, const auth_obo_srv_cfg *sc,
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

/* ---- the hook ------------------------------------------------------------ */

static int acquire_one(request_rec *r, const auth_obo_srv_cfg *sc, auth_obo_req *st,
                       const auth_obo_downstream *ds)
{
    const char *endpoint = NULL, *err = NULL;
    obo_token_result *t = NULL;
    obo_exchange_error *x = NULL;
    obo_acquire a;
    int hit = 0, due = 0;
    apr_status_t rv = obo_provider_token_endpoint(sc->rt->provider, r->pool, &endpoint, &err);

    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "OBO056: no token endpoint: %s", err);
        return rv == APR_EAGAIN ? HTTP_SERVICE_UNAVAILABLE : HTTP_INTERNAL_SERVER_ERROR;
    }
    fill_acquire(r, sc, st, ds, tenant_endpoint(r->pool, endpoint, st->jws->payload), &a);
    rv = obo_token_acquire_ex(r->pool, &a, &t, &x, &hit, &due);
    if (rv != APR_SUCCESS) {
        return map_error(r, sc, ds, st, x);
    }
    if (due) {
        refresh_later(r, &a);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO057: downstream token %s for %s (%s)",
                  obo_fingerprint(r->pool, t->access_token, strlen(t->access_token)),
                  ds->name ? ds->name : "default", hit ? "cache hit" : "from the IdP");
    if (auth_obo_check_token(r, ds->name, t) != OK) {
        return HTTP_BAD_GATEWAY;
    }
    hand_off(r, st, ds, t);
    return OK;
}

/* The caller's token stays in the middle tier (the point of On-Behalf-Of)
 * unless OBOForwardCallerToken says otherwise: removed in every request of
 * an exchanging Location, also when no exchange happens (a token that did
 * not validate, but another Require granted access). OBOPassToken
 * authorization puts the downstream token there after. */
static void drop_caller_token(request_rec *r, const auth_obo_dir_cfg *d, auth_obo_req *st)
{
    if (auth_obo_forward_caller(d) || !apr_table_get(r->headers_in, "Authorization")) {
        return;
    }
    apr_table_unset(r->headers_in, "Authorization");
    if (st) {
        st->authz_changed = 1;
    }
}

static int auth_obo_fixups(request_rec *r)
{
    auth_obo_req *own = ap_get_module_config(r->request_config, &auth_obo_module);
    auth_obo_srv_cfg *sc;
    auth_obo_dir_cfg *d;
    auth_obo_req *st;
    int i, status = OK;

    if (own) {
        own->authorized = 1;    /* fixups run only after authorization passed */
        auth_obo_metrics_request(r, own);
    }
    /* A subrequest in its main request's Location inherits its headers and
     * environment; one in another Location had them removed
     * (mod_auth_obo_scrub.c) and gets its own. */
    if (r->main && r->main->per_dir_config == r->per_dir_config) {
        return DECLINED;
    }
    d = auth_obo_effective(r);
    if (!d->downstreams || d->downstreams->nelts == 0) {
        return DECLINED;
    }
    st = auth_obo_req_state(r);
    drop_caller_token(r, d, st);
    sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    if (!st || !st->jws) {
        return DECLINED;
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
        return auth_obo_session_fixups(r, sc, st, d);
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

    auth_obo_log_leave(prev);
    return status;
}

/* ---- for long-running sessions (mod_auth_obo_session.c) ------------------ */

int auth_obo_exchange_failed(request_rec *r, const auth_obo_srv_cfg *sc,
                             const auth_obo_downstream *ds, auth_obo_req *st,
                             const obo_exchange_error *x)
{
    return map_error(r, sc, ds, st, x);
}

int auth_obo_deliver(request_rec *r, auth_obo_req *st, const auth_obo_downstream *ds,
                     const obo_token_result *t)
{
    if (auth_obo_check_token(r, ds->name, t) != OK) {
        return HTTP_BAD_GATEWAY;
    }
    hand_off(r, st, ds, t);
    return OK;
}

const char *auth_obo_tenant_endpoint(apr_pool_t *p, const char *url, const json_t *claims)
{
    return tenant_endpoint(p, url, claims);
}

void auth_obo_register_fixups(apr_pool_t *p)
{
    ap_hook_fixups(auth_obo_fixups_logged, NULL, NULL, APR_HOOK_LAST);
    ap_hook_log_transaction(refresh_after, NULL, NULL, APR_HOOK_LAST);
}
