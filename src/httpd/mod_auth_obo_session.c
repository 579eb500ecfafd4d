/* SPDX-License-Identifier: Apache-2.0 */
/* Long-running sessions (OBOLongRunning) and the token endpoint for
 * backends (SetHandler obo-token): the glue around obo_session.c. A
 * request in a long-running Location opens (or finds) the session of its
 * caller token and hands its key to the backend; the backend later asks
 * the handler for a downstream token with that key, long after the user's
 * token has expired. The key travels only in the OBO-Session-Key header:
 * URLs end up in access logs, so a query or path other than downstream=
 * is refused. */
#include "mod_auth_obo_session.h"
#include "mod_auth_obo_request.h"

#include <stdlib.h>
#include <string.h>
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_session.h"
#include "obo_text.h"

APLOG_USE_MODULE(auth_obo);

#define TOKEN_HANDLER "obo-token"
#define HANDLER_RAN_NOTE "auth_obo_token_handler_ran"
#define OFFLINE_ACCESS "offline_access"
#define DEFAULT_IDLE_S AUTH_OBO_SESSION_IDLE_S
#define DEFAULT_MAX_S AUTH_OBO_SESSION_MAX_S
#define FORM_MAX 4096              /* bytes of a POST form */
#define RETRY_AFTER_S "2"          /* after a cache failure: memcached is back soon or not */

/* ---- configuration of a session -------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The Location's scopes with offline_access (sorted, unique): the IdP then
 * returns a refresh token with the access token. */
static apr_array_header_t *with_offline(apr_pool_t *p, const apr_array_header_t *scopes)
{
    apr_array_header_t *a = apr_array_copy(p, scopes);
    int i, have = 0;

    for (i = 0; i < a->nelts; i++) {
        have |= !strcmp(APR_ARRAY_IDX(a, i, const char *), OFFLINE_ACCESS);
    }
    if (!have) {
        APR_ARRAY_PUSH(a, const char *) = OFFLINE_ACCESS;
        qsort(a->elts, a->nelts, sizeof(const char *), cmp_str);
    }
    return a;
}

static apr_array_header_t *session_dss(apr_pool_t *p, const apr_array_header_t *dss)
{
    apr_array_header_t *out = apr_array_make(p, dss->nelts, sizeof(obo_session_ds));
    int i;

    for (i = 0; i < dss->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(dss, i, auth_obo_downstream *);
        obo_session_ds *o = apr_array_push(out);
        o->name = ds->name;
        o->scopes = with_offline(p, ds->scopes);
        o->audiences = ds->audiences;
    }
    return out;
}

static void session_cfg(const auth_obo_srv_cfg *sc, const char *endpoint, obo_session_cfg *c)
{
    int idle = auth_obo_ival(sc->session_idle, DEFAULT_IDLE_S);
    int max = auth_obo_ival(sc->session_max, DEFAULT_MAX_S);

    memset(c, 0, sizeof(*c));
    c->cache = sc->rt->session_cache ? sc->rt->session_cache : sc->rt->cache;
    c->gate_cache = sc->rt->cache;
    c->http = sc->rt->http;
    auth_obo_grant_setup(sc, endpoint, &c->req, &c->flight);
    c->margin = apr_time_from_sec(auth_obo_ival(sc->cache_margin, 300));
    c->idle = apr_time_from_sec(idle);
    c->max = apr_time_from_sec(max < idle ? idle : max);
    /* the same gate as the exchange (mod_auth_obo_fixups.c) */
    c->negative_ttl = apr_time_from_sec(auth_obo_ival(sc->negative_ttl, 30));
    c->guard = sc->rt->guard;
    c->limit = auth_obo_ival(sc->session_limit, AUTH_OBO_SESSION_LIMIT);
}

/* A cache failure (not a miss) says nothing about the session: it stays,
 * and the caller is told to try again, never that the session is gone. */
static int cache_unavailable(request_rec *r, const char *key, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO180: long-running session %s: %s: the "
                  "shared cache failed (not a miss; is memcached reachable?) or the refresh "
                  "could not hold its cache lock; the session is kept, answering 503",
                  key ? obo_fingerprint(r->pool, key, strlen(key)) : "-", what);
    apr_table_setn(r->err_headers_out, "Retry-After", RETRY_AFTER_S);
    return HTTP_SERVICE_UNAVAILABLE;
}

/* ---- opening a session in a user's request ------------------------------------ */

/* The issuer of an introspected token whose answer names none (iss is
 * optional in RFC 7662): the answer came from the introspection endpoint of
 * the provider that takes its exchanges, so its first issuer. NULL for a
 * JWT (whose iss was checked) or when the provider has none yet. */
static const char *answer_issuer(request_rec *r, const auth_obo_srv_cfg *sc,
                                 const auth_obo_req *st)
{
    const apr_array_header_t *issuers = NULL;
    const char *err = NULL;

    if (!st->introspected || obo_json_str(st->jws->payload, "iss")
        || obo_provider_issuers(auth_obo_token_provider(sc, st), r->pool, &issuers,
                                &err) != APR_SUCCESS
        || !issuers || issuers->nelts < 1) {
        return NULL;
    }
    return APR_ARRAY_IDX(issuers, 0, const char *);
}

/* Who owns a session: the issuer with Entra's tid+oid, else with sub. The
 * issuer always takes part (review 13A: with several providers one could
 * issue another's tid and oid, and end that user's sessions through
 * OBOSessionLimit), and every field is length-prefixed (a newline in a
 * claim could make two owners one). With tid+oid the issuer is the one the
 * verifying provider is configured for first, not the token's: one user's
 * v1 and v2 tokens (two iss, one provider) are one owner (review 39B-F9). */
static const char *user_of(apr_pool_t *p, const json_t *claims, const char *dflt_iss,
                           const obo_provider *pv)
{
    const char *tid = obo_json_str(claims, "tid"), *oid = obo_json_str(claims, "oid");
    const char *iss = obo_json_str(claims, "iss"), *sub = obo_json_str(claims, "sub");
    const char *kind = tid && oid ? "tid+oid" : "iss+sub";
    const char *a = tid && oid ? tid : NULL, *b = tid && oid ? oid : sub;
    const char *own = tid && oid && pv ? obo_provider_owner_issuer(pv) : NULL;

    iss = own ? own : iss ? iss : dflt_iss ? dflt_iss : "";
    if (!b || (!a && !*iss)) {
        return NULL;
    }
    a = a ? a : "";
    return apr_psprintf(p, "%s\n%" APR_SIZE_T_FMT ":%s\n%" APR_SIZE_T_FMT ":%s\n%"
                        APR_SIZE_T_FMT ":%s", kind, strlen(iss), iss, strlen(a), a,
                        strlen(b), b);
}

static apr_time_t claims_exp(const json_t *claims)
{
    apr_int64_t exp = 0;
    apr_int32_t frac = 0;       /* dropped: no later than the token */

    return obo_json_numericdate(claims, "exp", &exp, &frac) == APR_SUCCESS && exp > 0
           && exp < APR_INT64_MAX / APR_USEC_PER_SEC ? apr_time_from_sec(exp) : 0;
}

static const auth_obo_downstream *ds_at(const auth_obo_dir_cfg *d, int i)
{
    return APR_ARRAY_IDX(d->downstreams, i, auth_obo_downstream *);
}

static int deliver_all(request_rec *r, const auth_obo_srv_cfg *sc, auth_obo_req *st,
                       const auth_obo_dir_cfg *d, const obo_session_cfg *c,
                       const char *user, const char *key)
{
    int i, status = OK;

    for (i = 0; i < d->downstreams->nelts && status == OK; i++) {
        const auth_obo_downstream *ds = ds_at(d, i);
        obo_token_result *t = NULL;
        obo_exchange_error *x = NULL;
        int hit = 0;
        apr_status_t rv = obo_session_token(r->pool, c, key, user, ds->name, &t, &x, &hit);

        if (rv == APR_SUCCESS) {
            status = auth_obo_deliver(r, st, ds, t);
        }
        else if (rv == APR_EAGAIN) {
            status = cache_unavailable(r, key, "downstream token");
        }
        else if (x) {
            status = auth_obo_exchange_failed(r, sc, ds, st, x);
        }
        else {
            /* rv (APR_NOTFOUND) would print as an unrelated poll error */
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv == APR_NOTFOUND ? 0 : rv, r,
                          "OBO131: long-running session %s ended while this request used it "
                          "(ended, or evicted from the cache); try again",
                          obo_fingerprint(r->pool, key, strlen(key)));
            status = HTTP_SERVICE_UNAVAILABLE;
        }
    }
    return status;
}

/* A request that opens or uses a session carries its key in its headers
 * (set below) and in those of its subrequests and internal redirects: the
 * token handler must never serve any of them (see handler_refusal). The
 * mark goes on the whole chain: a subrequest that opened a session marks
 * the main request too. */
static void mark_session_pass(request_rec *r)
{
    for (; r; r = r->main ? r->main : r->prev) {
        apr_table_setn(r->notes, AUTH_OBO_SESSION_USED_NOTE, "1");
    }
}

static int session_in_pass(request_rec *r)
{
    for (; r; r = r->main ? r->main : r->prev) {
        if (apr_table_get(r->notes, AUTH_OBO_SESSION_USED_NOTE)) {
            return 1;
        }
    }
    return 0;
}

int auth_obo_session_fixups(request_rec *r, auth_obo_srv_cfg *sc, auth_obo_req *st,
                            const auth_obo_dir_cfg *d)
{
    const json_t *claims = st->jws->payload;
    /* an introspected token's provider is the one that introspects (review
     * 40A-F3: its owner took the answer's iss, two owners for v1 and v2) */
    const char *user = user_of(r->pool, claims, answer_issuer(r, sc, st),
                               auth_obo_token_provider(sc, st));
    const char *endpoint = NULL, *err = NULL, *key = NULL;
    obo_exchange_error *x = NULL;
    obo_session_cfg c;
    int created = 0, failed = 0, status;
    apr_status_t rv;

    mark_session_pass(r);
    if (!sc->rt->cache) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO130: no long-running session: "
                      "OBOLongRunning needs a shared cache (OBOCache shm or memcached), not "
                      "OBOCache none");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO130: no long-running session: the "
                      "token names no user (tid+oid or iss+sub)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = obo_provider_token_endpoint(auth_obo_token_provider(sc, st), r->pool, &endpoint,
                                     &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO056: no token endpoint: %s", err);
        return rv == APR_EAGAIN ? HTTP_SERVICE_UNAVAILABLE : HTTP_INTERNAL_SERVER_ERROR;
    }
    session_cfg(sc, auth_obo_tenant_endpoint(r->pool, endpoint, claims,
                                             auth_obo_token_provider(sc, st)), &c);
    c.req.metrics_provider = obo_provider_metrics_number(auth_obo_token_provider(sc, st));
    c.downstreams = session_dss(r->pool, d->downstreams);
    rv = obo_session_open(r->pool, &c, user, st->token, claims_exp(claims), &key, &created,
                          &x, &failed);
    if (rv == APR_EAGAIN) {
        return cache_unavailable(r, NULL, "session start");
    }
    if (rv == OBO_SESSION_LIMITED) {
        /* Logged by the core (OBO340): the client must obtain a new token. */
        st->error_desc = "the long-running session of this token was ended by the "
                         "per-user session limit; obtain a new token";
        ap_note_auth_failure(r);
        return HTTP_UNAUTHORIZED;
    }
    if (rv != APR_SUCCESS && x && x->error && strcmp(x->error, OBO_SESSION_RATE_ERROR) == 0) {
        /* Logged by the core (OBO341): this user, not the server, must wait. */
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, x->retry_after));
        return HTTP_TOO_MANY_REQUESTS;
    }
    if (rv != APR_SUCCESS) {
        return auth_obo_exchange_failed(r, sc, ds_at(d, failed), st, x);
    }
    status = deliver_all(r, sc, st, d, &c, user, key);
    if (status != OK) {
        return status;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO133: long-running session %s (%s) "
                  "handed to the backend", obo_fingerprint(r->pool, key, strlen(key)),
                  created ? "new" : "existing");
    apr_table_set(r->subprocess_env, AUTH_OBO_SESSION_ENV, key);
    apr_table_set(r->headers_in, AUTH_OBO_SESSION_HDR, key);
    return DECLINED;
}

/* ---- the handler --------------------------------------------------------- */

static int reply(request_rec *r, int status, json_t *body)
{
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "Pragma", "no-cache");
    r->status = status;
    if (body) {
        ap_set_content_type(r, "application/json");
        ap_rputs(obo_json_dump(r->pool, body), r);
    }
    return OK;
}

static json_t *err_json(request_rec *r, const char *error, const char *desc)
{
    json_t *j = obo_json_pool(r->pool, json_object());

    json_object_set_new(j, "error", json_string(error));
    if (desc) {
        json_object_set_new(j, "error_description", json_string(desc));
    }
    return j;
}

static int reply_error(request_rec *r, int status, const char *error, const char *desc)
{
    return reply(r, status, err_json(r, error, desc));
}

/* One name=value list (query or form): only downstream= is accepted, once
 * or with one value: two that differ are refused, not settled by order (a
 * framework or proxy that appends "downstream=" would get the default
 * downstream's token, one for another API; review 36B-F6). *seen says that
 * a downstream was named before, in this list or the query. */
static const char *take_params(request_rec *r, const char *list, const char **ds, int *seen)
{
    char *copy = apr_pstrdup(r->pool, list ? list : ""), *last = NULL, *pair;

    for (pair = apr_strtok(copy, "&", &last); pair; pair = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(pair, '='), *v;
        if (!eq || strncmp(pair, "downstream", eq - pair) != 0
            || (apr_size_t)(eq - pair) != strlen("downstream")) {
            return "only downstream=NAME is accepted; the session key goes in the "
                   "OBO-Session-Key header";
        }
        v = eq + 1;
        if (*v && (ap_unescape_urlencoded(v) != OK
                   || obo_text_check(v, 64, OBO_TEXT_TOKEN, &(const char *){ NULL })
                      != APR_SUCCESS)) {
            return "bad downstream name";
        }
        if (*seen && strcmp(*ds ? *ds : "", v) != 0) {
            return "downstream given more than once, with different values: name one";
        }
        *ds = *v ? v : NULL;    /* downstream= : the default one */
        *seen = 1;
    }
    return NULL;
}

/* Content-Type application/x-www-form-urlencoded, with parameters or not. */
static int is_form(const char *ct)
{
    static const char form[] = "application/x-www-form-urlencoded";
    size_t n = sizeof(form) - 1;

    return ct && strncasecmp(ct, form, n) == 0
           && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/* The POST body as sent (at most FORM_MAX bytes), for take_params to
 * decode once, like the query. A body of any other type is refused, not
 * discarded: a backend that named its downstream in JSON or multipart got
 * the default downstream's token, one meant for another API (review
 * 36B-F6). An empty body of any type names nothing. */
/* The request has a body: a Content-Length above 0, or a chunked one that
 * brings a byte (an empty chunked body, as streaming clients send with a
 * DELETE, names nothing: review 38E-F2). */
static int has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    char byte;

    if (cl && strspn(cl, "0") != strlen(cl)) {
        return 1;
    }
    if (!apr_table_get(r->headers_in, "Transfer-Encoding")) {
        return 0;
    }
    return ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK
           || (ap_should_client_block(r) && ap_get_client_block(r, &byte, 1) != 0);
}

static const char *read_form(request_rec *r, char **out)
{
    char *buf = apr_palloc(r->pool, FORM_MAX + 2);    /* one byte over: too long */
    apr_size_t len = 0;
    long n = 0;
    const char *bad = NULL;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        bad = "unreadable body";
    }
    else if (ap_should_client_block(r)) {
        while (!bad && (n = ap_get_client_block(r, buf + len, FORM_MAX + 1 - len)) > 0) {
            len += (apr_size_t)n;
            bad = len > FORM_MAX ? "a form over 4096 bytes" : NULL;
        }
        bad = !bad && n < 0 ? "unreadable body" : bad;
    }
    if (!bad && len && !is_form(apr_table_get(r->headers_in, "Content-Type"))) {
        bad = "a POST body must be application/x-www-form-urlencoded (downstream=NAME); "
              "the handler reads no other";
    }
    /* a NUL would end the text take_params reads: what follows unread */
    bad = !bad && memchr(buf, '\0', len) ? "a NUL byte in the form" : bad;
    buf[len] = '\0';
    *out = buf;
    return bad;
}

/* A refused path or query may hold a session key sent the wrong way: the
 * access log (%r, %U, %q) records the handler's URL without them (review
 * 36A-F7). What a proxy in front logged is out of reach: README says to
 * end such a session. */
static void hide_target(request_rec *r)
{
    apr_size_t n = strlen(r->uri), pi = r->path_info ? strlen(r->path_info) : 0;
    const char *base = apr_pstrndup(r->pool, r->uri, pi <= n ? n - pi : n);
    const char *line = auth_obo_request_line(r, r->unparsed_uri ? r->unparsed_uri : "", base);

    if (line) {
        r->the_request = apr_pstrdup(r->pool, line);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO182: the token handler's request "
                      "line could not be rewritten without its path and query: %%r in the "
                      "access log shows them");
    }
    r->uri = (char *)base;
    r->unparsed_uri = (char *)base;
    r->path_info = "";
    r->args = NULL;
    r->parsed_uri.query = NULL;
    r->parsed_uri.path = (char *)base;
}

static int reply_token(request_rec *r, const char *ds, const obo_token_result *t)
{
    json_t *j;

    if (auth_obo_check_token(r, ds, t) != OK) {
        return reply_error(r, HTTP_BAD_GATEWAY, "temporarily_unavailable", NULL);
    }
    j = obo_json_pool(r->pool, json_object());
    json_object_set_new(j, "access_token", json_string(t->access_token));
    json_object_set_new(j, "token_type", json_string(t->token_type ? t->token_type : "Bearer"));
    json_object_set_new(j, "expires_on", json_integer((json_int_t)apr_time_sec(t->expires_on)));
    json_object_set_new(j, "expires_in", json_integer((json_int_t)(
                            apr_time_sec(t->expires_on) - apr_time_sec(apr_time_now()))));
    if (t->scope) {
        json_object_set_new(j, "scope", json_string(t->scope));
    }
    return reply(r, HTTP_OK, j);
}

static int reply_unavailable(request_rec *r, const char *key, const char *what)
{
    cache_unavailable(r, key, what);
    return reply_error(r, HTTP_SERVICE_UNAVAILABLE, "temporarily_unavailable",
                       "the session store is unavailable; the session is kept, try again");
}

static int reply_refused(request_rec *r, const char *fp, const obo_exchange_error *x)
{
    json_t *j = err_json(r, "interaction_required", x->error_description
                         ? x->error_description : "the user must sign in again");

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO137: session %s: the identity provider "
                  "refused its refresh token (%s); session ended, the user must sign in "
                  "again", fp, x->error ? x->error : "no refresh token");
    if (x->suberror) {
        json_object_set_new(j, "suberror", json_string(x->suberror));
    }
    if (x->claims) {
        json_object_set_new(j, "claims", json_string(x->claims));
    }
    return reply(r, HTTP_UNAUTHORIZED, j);
}

static int reply_failure(request_rec *r, const auth_obo_srv_cfg *sc, const char *fp,
                         apr_status_t rv, const obo_exchange_error *x)
{
    const char *what = x->detail ? x->detail : x->error ? x->error : "refresh failed";

    if (rv == APR_EACCES && x->kind != OBO_XERR_CLIENT) {
        return reply_refused(r, fp, x);
    }
    if (x->kind == OBO_XERR_CLIENT || x->kind == OBO_XERR_REQUEST) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO138: session %s: the IdP refused "
                      "this server's refresh request (client id %s): %s", fp, sc->client_id,
                      what);
        return reply_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error", NULL);
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO139: session %s: refresh failed: %s",
                  fp, what);
    if (x->kind == OBO_XERR_TIMEOUT) {
        return reply_error(r, HTTP_GATEWAY_TIME_OUT, "temporarily_unavailable",
                           "the identity provider did not answer in time");
    }
    if (x->kind == OBO_XERR_THROTTLED) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    x->retry_after > 0 ? x->retry_after : 1));
        return reply_error(r, HTTP_SERVICE_UNAVAILABLE, "temporarily_unavailable", NULL);
    }
    return reply_error(r, HTTP_BAD_GATEWAY, "temporarily_unavailable",
                       "the identity provider failed");
}

static int serve(request_rec *r, const auth_obo_srv_cfg *sc, const obo_session_cfg *c,
                 const char *key, const char *ds)
{
    const char *fp = obo_fingerprint(r->pool, key, strlen(key));
    obo_token_result *t = NULL;
    obo_exchange_error *x = NULL;
    int hit = 0;
    apr_status_t rv;

    if (r->method_number == M_DELETE) {
        rv = obo_session_end(r->pool, c, key);
        if (rv == APR_EAGAIN) {
            return reply_unavailable(r, key, "DELETE");
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO134: DELETE of session %s: %s", fp,
                      rv == APR_SUCCESS ? "ended" : "not found");
        return rv == APR_SUCCESS ? reply(r, HTTP_NO_CONTENT, NULL)
                                 : reply_error(r, HTTP_NOT_FOUND, "session_not_found", NULL);
    }
    rv = obo_session_token(r->pool, c, key, NULL, ds, &t, &x, &hit);
    if (rv == APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO129: session %s: token %s for %s "
                      "(%s)", fp, obo_fingerprint(r->pool, t->access_token,
                                                  strlen(t->access_token)),
                      ds ? ds : "the default downstream", hit ? "stored" : "refreshed");
        return reply_token(r, ds, t);
    }
    if (rv == APR_EAGAIN) {
        return reply_unavailable(r, key, "token request");
    }
    if (rv == APR_NOTFOUND || rv == APR_ENOENT) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO135: session %s%s%s: not found "
                      "(unknown, ended, expired or bound elsewhere)", fp,
                      rv == APR_ENOENT ? ", downstream " : "", rv == APR_ENOENT ? ds : "");
        return reply_error(r, HTTP_NOT_FOUND, "session_not_found", NULL);
    }
    return reply_failure(r, sc, fp, rv, x);
}

static int token_request(request_rec *r, const auth_obo_srv_cfg *sc, const char *key)
{
    const auth_obo_dir_cfg *own = ap_get_module_config(r->per_dir_config, &auth_obo_module);
    const char *ds = NULL, *bad = NULL;
    char *form = NULL;
    int seen = 0;
    obo_session_cfg c;

    /* httpd's Allow header comes from allowed_methods, not r->allowed;
     * this answer is JSON with no-store like every other of the handler. */
    ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", "DELETE", NULL);
    if (r->method_number != M_GET && r->method_number != M_POST
        && r->method_number != M_DELETE) {
        apr_table_setn(r->err_headers_out, "Allow", "GET, POST, DELETE");
        return reply_error(r, HTTP_METHOD_NOT_ALLOWED, "invalid_request",
                           "the method must be GET, POST or DELETE");
    }
    if (!sc->rt || !sc->rt->cache || !sc->client) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO136: SetHandler obo-token needs "
                      "this server's OBOClientID/credentials and a shared cache (OBOCache "
                      "shm or memcached)");
        return reply_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error", NULL);
    }
    if (r->path_info && *r->path_info) {
        bad = "no path after the handler's URL; the session key goes in the "
              "OBO-Session-Key header";
    }
    if (!bad) {
        bad = take_params(r, r->args, &ds, &seen);
    }
    if (bad) {
        hide_target(r);
    }
    if (!bad && r->method_number == M_POST && (bad = read_form(r, &form)) == NULL) {
        bad = take_params(r, form, &ds, &seen);
    }
    /* a GET or DELETE with a body: many HTTP clients send parameters there
     * whatever the method; unread, a downstream named in it would get the
     * default downstream's token (review 37C-F1) */
    if (!bad && r->method_number != M_POST && has_body(r)) {
        bad = "a body is read only with POST: name the downstream in the query "
              "(?downstream=NAME)";
    }
    if (!bad && !key) {
        bad = "the OBO-Session-Key header is missing";
    }
    /* httpd joins repeated headers with ", ": no key has a comma, and a
     * 404 would tell the backend its session ended (review 33B-F9) */
    if (!bad && strchr(key, ',')) {
        bad = "more than one OBO-Session-Key header, or a list: send one session key";
    }
    if (bad) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO132: token handler: bad request: %s",
                      bad);
        return reply_error(r, HTTP_BAD_REQUEST, "invalid_request", bad);
    }
    session_cfg(sc, NULL, &c);
    /* Sessions are compared with a downstream set only when a section of
     * the handler names one (OBOScope in its <Location>, <Directory>... or
     * one httpd merges into it). A server-level OBOScope is the default of
     * every section: compared, it made the handler refuse every session of
     * a Location with a set of its own (review 36B-F10). Server-level lines
     * go to sc->defaults (dir_of), never into r->per_dir_config, so that
     * the section config tells the two apart, as the effective one cannot. */
    c.downstreams = own->downstreams && own->downstreams->nelts
                    ? session_dss(r->pool, own->downstreams) : NULL;
    return serve(r, sc, &c, key, ds);
}

/* Why this request must not be served, or NULL. The handler is for a
 * backend's own request with the key it stored; a request of the end user
 * (one the module authenticated, or that opened a session) would get the
 * session's downstream token. The startup check refuses such
 * configurations (OBO192); this covers what it cannot see (.htaccess,
 * mod_rewrite's H=, a Location mapped onto a <Directory>...). */
static const char *handler_refusal(request_rec *r, const auth_obo_dir_cfg *d)
{
    const char *type = ap_auth_type(r);

    if (session_in_pass(r)) {
        return "this request opened or used a long-running session";
    }
    if (auth_obo_ival(d->long_running, 0)) {
        return "its configuration has OBOLongRunning on";
    }
    if (type && !strcasecmp(type, AUTH_OBO_TYPE)) {
        return "its configuration has AuthType obo";
    }
    return NULL;
}

static int token_handler(request_rec *r)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    auth_obo_dir_cfg *d = auth_obo_effective(r);
    const char *why;

    /* Only a backend's own request: an internal redirect (ErrorDocument, a
     * CGI's local redirect, mod_rewrite in a directory) or a subrequest (SSI)
     * shares the headers of a long-running Location's request, where the
     * module put the session key itself, and would send the token to the
     * end user. */
    if (r->main || r->prev) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO190: SetHandler obo-token reached "
                      "by an internal redirect or subrequest (from %s); refused: backends "
                      "must call it directly", (r->main ? r->main : r->prev)->uri);
        return HTTP_NOT_FOUND;
    }
    if ((why = handler_refusal(r, d)) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO191: obo-token handler refused for "
                      "%s: %s; the handler must have a Location of its own, without "
                      "AuthType obo or OBOLongRunning", r->uri, why);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Only the key the client sent (capture_client_key): headers_in may hold
     * the one the fixups set for a session of this very request. */
    return token_request(r, sc, apr_table_get(r->notes, AUTH_OBO_SESSION_NOTE));
}

static int auth_obo_token_handler(request_rec *r)
{
    request_rec *prev;
    int status;

    if (!r->handler || strcmp(r->handler, TOKEN_HANDLER) != 0) {
        return DECLINED;
    }
    apr_table_setn(r->notes, HANDLER_RAN_NOTE, "1");
    prev = auth_obo_log_enter(r);
    status = token_handler(r);
    auth_obo_log_leave(prev);
    return status;
}

/* The OBO-Session-Key header as the client sent it, before any module
 * (the scrub, a long-running Location's fixups) changes headers_in: the
 * only key the handler accepts. Initial requests only; httpd also runs
 * this hook for an internal redirect, which the handler refuses. */
static int capture_client_key(request_rec *r)
{
    const char *key = apr_table_get(r->headers_in, AUTH_OBO_SESSION_HDR);

    if (!r->main && !r->prev && key) {
        apr_table_setn(r->notes, AUTH_OBO_SESSION_NOTE, key);
    }
    return DECLINED;
}

/* Extensions that AddHandler maps to obo-token anywhere in the
 * configuration (post_config). mod_mime keeps its mapping private and
 * applies it after authorization: a refused request never gets it. */
static apr_array_header_t *handler_exts;

static void add_handler_exts(apr_pool_t *p, const char *args)
{
    const char *w = ap_getword_conf(p, &args);

    if (strcasecmp(w, TOKEN_HANDLER) != 0) {
        return;
    }
    while (*(w = ap_getword_conf(p, &args))) {
        char *ext = apr_pstrdup(p, *w == '.' ? w + 1 : w);

        ap_str_tolower(ext);
        APR_ARRAY_PUSH(handler_exts, const char *) = ext;
    }
}

static void collect_handler_exts(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "AddHandler") == 0 && d->args) {
            add_handler_exts(p, d->args);
        }
        collect_handler_exts(p, d->first_child);
    }
}

/* Does a path segment have an extension AddHandler maps to obo-token?
 * Any segment, not only the last: mod_mime looks at the file name, which
 * may end before the path does (path_info); hiding too much only costs
 * one access log line its path. */
static int has_handler_ext(request_rec *r)
{
    const char *s = r->uri;

    while (handler_exts->nelts && s && (s = strchr(s, '.')) != NULL) {
        apr_size_t n = strcspn(++s, "./");
        int i;

        for (i = 0; i < handler_exts->nelts; i++) {
            const char *e = APR_ARRAY_IDX(handler_exts, i, const char *);

            if (strlen(e) == n && strncasecmp(s, e, n) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* The handler's URL: SetHandler obo-token, a handler already set, a
 * RewriteRule [H=obo-token] (mod_rewrite applies it in its type checker,
 * after authorization) or an AddHandler obo-token extension? */
static int handler_place(request_rec *r)
{
    core_dir_config *conf = ap_get_core_module_config(r->per_dir_config);
    const char *h = r->handler, *err = NULL;

    if (!h) {
        h = apr_table_get(r->notes, "rewrite-forced-handler");
    }
    if (!h && conf && conf->expr_handler) {
        h = ap_expr_str_exec(r, conf->expr_handler, &err);
    }
    if (h && !err && strcasecmp(h, TOKEN_HANDLER) == 0) {
        return 1;
    }
    return handler_exts && r->uri && has_handler_ext(r);
}

static int collect_at_start(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    (void)plog;
    (void)ptemp;
    (void)s;
    handler_exts = apr_array_make(pconf, 4, sizeof(const char *));
    collect_handler_exts(pconf, ap_conftree);
    return OK;
}

/* A request to the handler's URL that never reached it (refused by
 * Require, authentication, a limit) may still carry a session key in its
 * path or query: hidden from the access log as the handler hides the
 * ones it refuses (hide_target). Before mod_log_config writes the line. */
static int hide_unserved(request_rec *r)
{
    if (!apr_table_get(r->notes, HANDLER_RAN_NOTE)
        && (r->args || (r->path_info && *r->path_info)) && handler_place(r)) {
        hide_target(r);
    }
    return DECLINED;
}

void auth_obo_register_session(apr_pool_t *p)
{
    ap_hook_log_transaction(hide_unserved, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_post_config(collect_at_start, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(capture_client_key, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_handler(auth_obo_token_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
