/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication: the Bearer token from the places OBOAcceptTokenAs allows
 * (mod_auth_obo_source.c), validated by the core; CORS preflights; RFC 6750
 * challenges; claims handed to the backend (client-sent
 * look-alikes of what the module sets are removed before: mod_auth_obo_scrub.c). */
#include "mod_auth_obo_authn.h"
#include "mod_auth_obo_dpop.h"
#include "mod_auth_obo_request.h"
#include "mod_auth_obo_source.h"
#include "mod_auth_obo_status.h"

#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "mod_auth.h"

#include "obo_crypto.h"
#include "obo_introspect.h"
#include "obo_json.h"
#include "obo_jws.h"
#include "obo_jwt.h"
#include "obo_metrics.h"
#include "obo_text.h"
#include "obo_validate.h"

APLOG_USE_MODULE(auth_obo);

#define MAX_EXPORTED_CLAIMS 64
#define MAX_CLAIM_TEXT 4096
/* REMOTE_USER is logged, compared and copied into headers: a user name
 * longer than this is not one (README: OBORemoteUserClaim). */
#define MAX_USER_LEN 256
/* ... and with "@issuer" (a discovery issuer is at most 2048 bytes) */
#define MAX_REMOTE_USER_LEN (MAX_USER_LEN + 1 + 2048)

/* ---- claims export ------------------------------------------------------- */

static char *claim_name(apr_pool_t *p, const char *key, char dash)
{
    char *n = apr_pstrdup(p, key), *c;

    for (c = n; *c; c++) {
        if (!apr_isalnum(*c)) {
            *c = dash;
        }
    }
    return n;
}

static const char *claim_value(apr_pool_t *p, const json_t *payload, const char *key)
{
    const char *v = obo_jwt_claim_text(p, payload, key);
    char *c;

    if (!v || strlen(v) > MAX_CLAIM_TEXT) {
        return NULL;
    }
    c = apr_pstrdup(p, v);
    for (v = c; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = ' ';   /* no header injection through a claim */
        }
    }
    return v;
}

/* The name a claim is exported under, as httpd's case-insensitive tables
 * and CGI (which makes '-' and '_' alike) see it. */
static const char *export_key(apr_pool_t *p, const char *key)
{
    char *n = claim_name(p, key, '_'), *c;

    for (c = n; *c; c++) {
        *c = apr_tolower(*c);
    }
    return n;
}

/* Claims whose names map to the same variable or header ("roles" and
 * "ROLES", "preferred_username" and "preferred~username"): a token could
 * shadow one claim with another, so none of them is exported. */
static apr_hash_t *ambiguous_names(apr_pool_t *p, const json_t *payload)
{
    apr_hash_t *seen = apr_hash_make(p), *dup = apr_hash_make(p);
    const char *key;
    json_t *val;

    json_object_foreach((json_t *)payload, key, val) {
        const char *k = export_key(p, key);
        if (apr_hash_get(seen, k, APR_HASH_KEY_STRING)) {
            apr_hash_set(dup, k, APR_HASH_KEY_STRING, k);
        }
        apr_hash_set(seen, k, APR_HASH_KEY_STRING, k);
    }
    return dup;
}

static void export_claims(request_rec *r, const json_t *payload, int mode)
{
    apr_hash_t *dup;
    const char *key;
    json_t *val;
    int n = 0;

    if (!mode) {
        return;
    }
    dup = ambiguous_names(r->pool, payload);
    json_object_foreach((json_t *)payload, key, val) {
        const char *v;
        if (n++ >= MAX_EXPORTED_CLAIMS || strlen(key) > 64) {
            continue;
        }
        if (apr_hash_get(dup, export_key(r->pool, key), APR_HASH_KEY_STRING)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO065: claim %s not exported: "
                          "another claim of the token maps to the same name",
                          auth_obo_quote(r->pool, key));
            continue;
        }
        v = claim_value(r->pool, payload, key);
        if (!v) {
            continue;
        }
        if (mode & PASS_CLAIMS_ENV) {
            apr_table_setn(r->subprocess_env, apr_pstrcat(r->pool, AUTH_OBO_CLAIM_ENV_PREFIX,
                           claim_name(r->pool, key, '_'), NULL), v);
        }
        if (mode & PASS_CLAIMS_HEADERS) {
            apr_table_setn(r->headers_in, apr_pstrcat(r->pool, AUTH_OBO_CLAIM_HDR_PREFIX,
                           claim_name(r->pool, key, '-'), NULL), v);
        }
    }
}

/* ---- the hook ------------------------------------------------------------ */

static apr_status_t validate(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                             const auth_obo_runtime *rt, const char *token,
                             obo_jws **jws, const char **err)
{
    apr_size_t len = strlen(token);
    obo_validate_opts o;

    obo_sha256(token, len, st->token_hash);
    o.validated = rt->validated;
    o.token_hash = st->token_hash;
    o.algs = auth_obo_algs(r->pool, d);
    o.audiences = d->audiences;
    o.skew = auth_obo_skew(d);
    /* The L1 remembers verified signatures too: the signature memo only
     * serves when the L1 is off. */
    o.verified = rt->validated ? NULL : rt->verified;
    o.typ = (obo_typ_rule)auth_obo_ival(d->token_typ, OBO_TYP_ANY);
    o.accept_issuers = d->accept_issuers;
    return obo_validate_bearer_among(r->pool, rt->providers, &o, token, len, jws,
                                     &st->provider, err);
}

/* RFC 8705 s.3: a token bound to a client certificate (cnf x5t#S256) is
 * accepted only on a TLS connection that presented that certificate, as
 * mod_ssl saw it (SSLVerifyClient as the administrator set it; with
 * optional_no_ca a self-signed certificate binds too). NULL, or why not. */
static const char *binding_refused(request_rec *r, const auth_obo_req *st,
                                   const auth_obo_dir_cfg *d, const json_t *claims)
{
    int mode = auth_obo_cert_bound(d);
    const char *want = NULL, *have = NULL, *pem = NULL;

    /* RFC 9449 s.7.2: a DPoP-bound token (cnf jkt) is never a bearer
     * token, whatever the certificate setting (review 26: it passed); sent
     * as DPoP, its proof is checked after (auth_obo_dpop_check). */
    if (!st->dpop && obo_jwt_cnf(claims, "jkt", &want)) {
        obo_metrics_inc(OBO_M_DPOP_BEARER_REFUSED);
        return "it is DPoP-bound (cnf jkt) and was presented as a bearer token";
    }
    if (mode == CERT_BOUND_OFF) {
        return NULL;
    }
    if (!obo_jwt_cnf(claims, "x5t#S256", &want)) {
        return mode == CERT_BOUND_REQUIRED ? "the token is not bound to a client certificate "
                                             "(OBOCertificateBound required)" : NULL;
    }
    if (!want) {
        return "its certificate binding (cnf x5t#S256) is not a string";
    }
    pem = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_CLIENT_CERT");
    if (!pem || !*pem) {
        return "it is bound to a client certificate and the connection presented none";
    }
    if (obo_x509_thumbprint(r->pool, pem, &have) != APR_SUCCESS
        || !obo_ct_equal(have, strlen(have), want, strlen(want))) {
        return "the client certificate is not the one it is bound to";
    }
    return NULL;
}

/* REMOTE_USER of a token that a further provider of the server verified:
 * "user@issuer". A partner's (or any other) provider chooses its sub and
 * user names freely, and REMOTE_USER is what Require user and backends key
 * users on: a bare name let its tokens pass as the first provider's user of
 * the same name (review 36A-F3). The first provider's users keep their bare
 * names; OBORemoteUserClaim ... bare keeps every name bare (providers that
 * share one namespace, as in a migration). */
static char *qualified_user(request_rec *r, const auth_obo_req *st, const auth_obo_dir_cfg *d,
                            const char *user, const json_t *payload)
{
    const auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config,
                                                      &auth_obo_module);
    const char *iss = obo_json_str(payload, "iss");
    /* an introspected token is the first provider's (its endpoint answered;
     * an answer without iss is named by that provider's issuer): without a
     * primary, its users got bare names too (review 39B-F1) */
    const obo_provider *pv = st->introspected && sc->rt ? sc->rt->provider : st->provider;

    if (!iss && st->introspected && pv) {
        iss = obo_provider_owner_issuer(pv);
    }
    /* the primary is the provider of OBOMetadataURL or an issuer-less JWKS
     * line; with only lines that name their issuers, every provider is a
     * further one (review 38F-F6: the first such line's users got bare
     * names, as the docs say no JWKS line with issuers ever does) */
    int primary = sc->metadata_url || sc->jwks_url || sc->jwks_file;

    /* ... also when it is the server's only provider (review 39B-F1: a lone
     * partner line gave bare names, which a main-server Require user meant
     * for another provider's users let in) */
    if (auth_obo_user_bare(d) || !pv || !sc->rt || !iss || !sc->rt->providers
        || (primary && (sc->rt->providers->nelts < 2 || pv == sc->rt->provider))) {
        return apr_pstrdup(r->pool, user);
    }
    return apr_pstrcat(r->pool, user, "@", iss, NULL);
}

/* The user name as REMOTE_USER will carry it, checked whole: the issuer
 * part is checked when its provider's document is read, but REMOTE_USER
 * reaches headers, logs and CGI, so no part of it may split a line
 * (review 39A-F6). NULL if it may not be used. */
static char *remote_user(request_rec *r, const auth_obo_req *st, const auth_obo_dir_cfg *d,
                         const char *user, const json_t *payload, const char *token)
{
    char *name = qualified_user(r, st, d, user, payload);
    const char *why = NULL;

    if (obo_text_check(name, MAX_REMOTE_USER_LEN, OBO_TEXT_UTF8, &why) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO060: token %s rejected: its user "
                      "name with its issuer cannot be REMOTE_USER (%s)",
                      obo_fingerprint(r->pool, token, strlen(token)), why);
        return NULL;
    }
    return name;
}

static int accept_token(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                        const char *token, obo_jws *jws)
{
    const char *claim = auth_obo_user_claim(d);
    /* A string only (RFC 7519 makes sub a StringOrURI): an array or a
     * number would be flattened into a user name (["alice"] and "alice"
     * the same user). */
    const char *user = obo_json_str(jws->payload, claim);
    const char *why = NULL;
    int status;

    if (!user || !*user) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "OBO005: token has no usable '%s' claim for REMOTE_USER", claim);
        st->error_desc = "token lacks the user claim";
        return HTTP_UNAUTHORIZED;
    }
    /* r->user reaches headers (RequestHeader ... %{REMOTE_USER}), logs and
     * CGI: no control characters, only UTF-8, a sane length. */
    if (obo_text_check(user, MAX_USER_LEN, OBO_TEXT_UTF8, &why) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO060: token %s rejected: its '%s' "
                      "claim cannot be REMOTE_USER (%s)",
                      obo_fingerprint(r->pool, token, strlen(token)), claim, why);
        st->error_desc = "the user claim is not a usable user name";
        return HTTP_UNAUTHORIZED;
    }
    if ((why = binding_refused(r, st, d, jws->payload)) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO480: token %s refused: %s",
                      obo_fingerprint(r->pool, token, strlen(token)), why);
        st->error_desc = !st->dpop && obo_jwt_cnf(jws->payload, "jkt", &(const char *){ NULL })
                         ? "a DPoP-bound token cannot be used as a bearer token"
                         : "certificate binding not satisfied (RFC 8705)";
        return HTTP_UNAUTHORIZED;
    }
    if (st->dpop && (status = auth_obo_dpop_check(r, st, d, token, jws->payload)) != OK) {
        return status;
    }
    if ((r->user = remote_user(r, st, d, user, jws->payload, token)) == NULL) {
        st->error_desc = "the user claim is not a usable user name";
        return HTTP_UNAUTHORIZED;
    }
    r->ap_auth_type = AUTH_OBO_TYPE;
    /* The answer is this user's: mod_cache stores nothing for it (also
     * with CacheQuickHandler off, which runs after authentication). */
    auth_obo_no_cache(r);
    st->token = token;
    st->jws = jws;
    export_claims(r, jws->payload, auth_obo_pass_claims(d));
    return OK;
}

/* ---- opaque tokens: RFC 7662 introspection --------------------------------- */

/* Seconds a client is told to wait when the IdP's introspection fails. */
#define INTROSPECT_RETRY_AFTER 5

static const char *const source_name[] = { "the identity provider", "this process's L1",
                                           "the shared cache" };

/* This server's introspection: the endpoint (OBOIntrospectionURL, else
 * discovery's), its client authentication and timeouts as the exchange's
 * (one setup: auth_obo_grant_setup), the caches and the pause gate. */
static apr_status_t introspection_setup(request_rec *r, const auth_obo_srv_cfg *sc,
                                        obo_introspection *ix, const char **err)
{
    const char *endpoint = sc->introspection_url, *token_ep = NULL, *ignored = NULL;
    apr_status_t rv = APR_SUCCESS;
    obo_exchange_req req;

    if (!endpoint) {
        rv = obo_provider_introspection_endpoint(sc->rt->provider, r->pool, &endpoint, err);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    memset(ix, 0, sizeof(*ix));
    /* a private_key_jwt assertion names the token endpoint, as RFC 7523 asks */
    if (sc->client && sc->client->auth == OBO_AUTH_PRIVATE_KEY_JWT) {
        obo_provider_token_endpoint(sc->rt->provider, r->pool, &token_ep, &ignored);
    }
    auth_obo_grant_setup(sc, token_ep, &req, &ix->flight);
    ix->http = sc->rt->http;
    ix->endpoint = endpoint;
    ix->client = sc->client;
    ix->assertion_aud = token_ep;
    ix->opts = req.http;
    ix->opts.max_body = OBO_INTROSPECT_MAX_BYTES;
    ix->cache = sc->rt->cache;
    ix->l1 = sc->rt->introspected;
    ix->guard = &sc->rt->guard_cfg;
    ix->cache_time = auth_obo_ival(sc->introspection_ttl, OBO_INTROSPECT_DEFAULT_TTL);
    /* the primary provider's, unless OBOIntrospectionURL names another place */
    ix->metrics_provider = sc->introspection_url ? 0
                           : obo_provider_metrics_number(sc->rt->provider);
    return APR_SUCCESS;
}

static int introspection_unavailable(request_rec *r, const char *token, const char *err,
                                     apr_int64_t retry_after)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO426: cannot validate token %s: "
                  "introspection unavailable: %s", obo_fingerprint(r->pool, token,
                  strlen(token)), err ? err : "failed");
    apr_table_setn(r->err_headers_out, "Retry-After", apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                   retry_after > 0 ? retry_after : INTROSPECT_RETRY_AFTER));
    return HTTP_SERVICE_UNAVAILABLE;
}

/* The answer against the Location's rules; iss, when the answer has one,
 * against the accepted issuers (discovery's: 503 while unknown), and where
 * OBOAcceptIssuer narrows the place, present and listed there too. */
static apr_status_t check_answer(request_rec *r, const auth_obo_srv_cfg *sc,
                                 const auth_obo_dir_cfg *d, const json_t *answer,
                                 const char **err)
{
    obo_introspect_rules rules;
    apr_status_t rv = APR_SUCCESS;

    memset(&rules, 0, sizeof(rules));
    if (json_object_get(answer, "iss")) {
        rv = obo_provider_issuers(sc->rt->provider, r->pool, &rules.issuers, err);
    }
    if (rv == APR_SUCCESS) {
        rules.audiences = d->audiences;
        rules.accept_issuers = d->accept_issuers;
        rules.skew = auth_obo_skew(d);
        apr_time_t now = apr_time_now();

        rules.now = apr_time_sec(now);
        rules.now_usec = (apr_int32_t)apr_time_usec(now);
        rv = obo_introspect_check(&rules, answer, err);
    }
    return rv;
}

static int introspect(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                      const auth_obo_srv_cfg *sc, const char *token)
{
    obo_introspection ix;
    obo_introspect_source src = OBO_INTROSPECT_IDP;
    json_t *answer = NULL;
    const char *err = NULL;
    apr_int64_t retry_after = 0;
    apr_status_t rv = introspection_setup(r, sc, &ix, &err);
    obo_jws *jws;

    obo_sha256(token, strlen(token), st->token_hash);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO425: no introspection endpoint: %s "
                      "(set OBOIntrospectionURL, or use an IdP whose discovery document "
                      "names introspection_endpoint)", err ? err : "unknown");
        return introspection_unavailable(r, token, "no introspection endpoint", 0);
    }
    rv = obo_introspect_token(r->pool, &ix, token, st->token_hash, &answer, &src, &err,
                              &retry_after);
    if (rv != APR_SUCCESS) {
        return introspection_unavailable(r, token, err, retry_after);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO429: token %s introspected (answer from "
                  "%s)", obo_fingerprint(r->pool, token, strlen(token)), source_name[src]);
    rv = check_answer(r, sc, d, answer, &err);
    if (rv == APR_EAGAIN) {
        return introspection_unavailable(r, token, err, 0);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO424: bearer token %s refused after "
                      "introspection: %s", obo_fingerprint(r->pool, token, strlen(token)), err);
        st->error_desc = err ? err : "invalid token";
        return HTTP_UNAUTHORIZED;
    }
    jws = apr_pcalloc(r->pool, sizeof(*jws));
    jws->payload = answer;
    st->introspected = 1;
    return accept_token(r, st, d, token, jws);
}

static int wants_introspection(const auth_obo_dir_cfg *d, const char *token)
{
    int format = auth_obo_token_format(d);

    return format == AUTH_OBO_FORMAT_OPAQUE
           || (format == AUTH_OBO_FORMAT_AUTO && !obo_jws_compact_shape(token));
}

/* With OBOTokenFormat auto, a string that is not a JWS is introspected; where
 * no endpoint can ever be known (no OBOIntrospectionURL, a primary provider
 * with keys only: OBO432 at startup) it is a token this server can never
 * accept, as with jwt: 401, not an outage's 503, which any client could
 * provoke at will (review 39B-F11). With opaque every token needs the
 * endpoint: the configuration fails, 503 (OBO425). */
static int never_introspected(const auth_obo_dir_cfg *d, const auth_obo_srv_cfg *sc)
{
    return auth_obo_token_format(d) == AUTH_OBO_FORMAT_AUTO && !sc->introspection_url
           && !sc->metadata_url;
}

/* A subrequest or internal redirect carries the main request's headers, in
 * which OBOPassToken authorization may already have put a downstream token
 * (and from which the cookie, query or form token was removed): the token to
 * verify is the caller's own, from the request that did. NULL when there is
 * none, "" when it is malformed; the status of a 400 or 413 otherwise. */
static int caller_token(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                        const char **token)
{
    request_rec *from = r->main ? r->main : r->prev;
    const auth_obo_req *prior = from ? auth_obo_req_state(from) : NULL;
    auth_obo_found f;
    int status;

    if (prior && prior->token) {
        *token = prior->token;
        /* its proof too, checked again under this Location's rules (its
         * jti is already recorded: mod_auth_obo_dpop.c) */
        st->dpop = prior->dpop;
        st->dpop_proof = prior->dpop_proof;
        st->dpop_proofs = prior->dpop_proofs;
        return OK;
    }
    status = auth_obo_find_token(r, d, &f);
    *token = f.token;
    st->presented = f.token;
    st->dpop = f.dpop;
    st->error_desc = f.error;
    return status;
}

/* A CORS preflight (OBOPreflight allow) carries no credentials and gets
 * none checked: it is let through by auth_obo_preflight_access once the
 * Require lines have been evaluated without a user. Its query string loses
 * a token all the same. Nothing else is done for it: no validation, no
 * claims, no exchange. */
static int preflight(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d)
{
    st->preflight = 1;
    st->no_token = 1;
    auth_obo_strip_query(r, d);
    return HTTP_UNAUTHORIZED;
}

static int authenticate(request_rec *r, auth_obo_req *st)
{
    const char *token = NULL, *err = NULL;
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    auth_obo_dir_cfg *d = auth_obo_effective(r);
    obo_jws *jws = NULL;
    apr_status_t rv;
    int status;

    if (!sc->rt || !sc->rt->provider || !d->audiences) {
        /* what is missing, and for which request and file (review 33B-F10) */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO001: AuthType obo for %s (file %s) "
                      "needs %s%s%s in its configuration", r->uri,
                      r->filename ? r->filename : "-",
                      !sc->rt || !sc->rt->provider
                      ? "an identity provider (OBOMetadataURL, OBOJWKSURL or OBOJWKSFile) "
                        "for this server" : "",
                      (!sc->rt || !sc->rt->provider) && !d->audiences ? " and " : "",
                      !d->audiences ? "OBOAudience (none applies to this request: a "
                                      "section or <If> that sets it does not "
                                      "cover it)" : "");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    auth_obo_dpop_take_proof(r, st);
    if (auth_obo_is_preflight(r, d)) {
        return preflight(r, st, d);
    }
    if ((status = caller_token(r, st, d, &token)) != OK) {
        return status;
    }
    if (!token) {
        st->no_token = 1;
        return HTTP_UNAUTHORIZED;
    }
    if (!*token) {
        st->error_desc = st->dpop ? "malformed DPoP credentials" : "malformed bearer credentials";
        return HTTP_UNAUTHORIZED;
    }
    if (!st->dpop && auth_obo_dpop(d) == DPOP_REQUIRED) {
        obo_metrics_inc(OBO_M_DPOP_BEARER_REFUSED);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO493: token %s refused: sent as a "
                      "bearer token where OBODPoP required asks for DPoP",
                      obo_fingerprint(r->pool, token, strlen(token)));
        st->error_desc = "this resource requires DPoP (RFC 9449)";
        return HTTP_UNAUTHORIZED;
    }
    if (wants_introspection(d, token) && never_introspected(d, sc)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO003: bearer token %s rejected: token "
                      "is not a compact JWS (OBOTokenFormat auto, and no introspection "
                      "endpoint here: OBO432)", obo_fingerprint(r->pool, token, strlen(token)));
        st->error_desc = "token is not a compact JWS";
        return HTTP_UNAUTHORIZED;
    }
    if (wants_introspection(d, token)) {
        return introspect(r, st, d, sc, token);
    }
    rv = validate(r, st, d, sc->rt, token, &jws, &err);
    if (rv == APR_EAGAIN) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO002: cannot validate tokens: "
                      "identity provider keys unavailable");
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO003: bearer token %s rejected: %s",
                      obo_fingerprint(r->pool, token, strlen(token)), err);
        st->error_desc = err ? err : "invalid token";
        return HTTP_UNAUTHORIZED;
    }
    return accept_token(r, st, d, token, jws);
}

/* RFC 6750 s.3.1: a malformed request (the token in two places) is a 400
 * invalid_request, with the challenge; a body too large to look into, 413. */
/* hdr (a Bearer challenge) as the Location's OBODPoP makes it: one header
 * line per challenge. */
static void set_challenges(request_rec *r, const auth_obo_req *st, const char *name,
                           const char *hdr)
{
    apr_array_header_t *all = auth_obo_dpop_challenges(r, st, auth_obo_effective(r), hdr);
    int i;

    apr_table_unset(r->err_headers_out, name);
    for (i = 0; i < all->nelts; i++) {
        apr_table_addn(r->err_headers_out, name, APR_ARRAY_IDX(all, i, const char *));
    }
}

static void request_refused(request_rec *r, const auth_obo_req *st)
{
    if (st->status == HTTP_BAD_REQUEST) {
        set_challenges(r, st, "WWW-Authenticate",
                       auth_obo_challenge(r, "invalid_request", "error_description",
                                          auth_obo_quote(r->pool, st->error_desc
                                                         ? st->error_desc : "bad request")));
    }
}

/* Validates once per request, whichever hook asks first. */
static int authenticate_once(request_rec *r)
{
    auth_obo_req *st = ap_get_module_config(r->request_config, &auth_obo_module);

    if (!st) {
        request_rec *prev = auth_obo_log_enter(r);

        st = auth_obo_req_state_new(r);
        st->status = authenticate(r, st);
        request_refused(r, st);
        auth_obo_metrics_request(r, st);
        auth_obo_log_leave(prev);
    }
    return st->status;
}

static int is_obo(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && !strcasecmp(type, AUTH_OBO_TYPE);
}

/* Authentication runs before mod_authz_core's user-less pass, so that a
 * verified token's user is known there: a failed Require obo-* is then a
 * 403 (RFC 6750 insufficient_scope), not the 401 httpd gives an
 * authenticated user whose authorization fails. Invalid or missing tokens
 * are left to check_authn, which answers the 401 challenge. */
static int auth_obo_access_checker_ex(request_rec *r)
{
    int status;

    if (!is_obo(r)) {
        return DECLINED;
    }
    status = authenticate_once(r);
    return status == HTTP_SERVICE_UNAVAILABLE || status == HTTP_INTERNAL_SERVER_ERROR
           || status == HTTP_BAD_REQUEST || status == HTTP_REQUEST_ENTITY_TOO_LARGE
           || status == HTTP_UNSUPPORTED_MEDIA_TYPE
           ? status : DECLINED;
}

/* A CORS preflight is let through here, after mod_authz_core's user-less
 * pass (check_access_ex, APR_HOOK_LAST: this hook is ordered after it).
 * That pass evaluates every Require without a user and answers alone when
 * it can: a Require ip, host, env, method, expr... that refuses the request
 * whatever the user is a 403 already; one that grants it without a user, a
 * 200. This hook is reached only when the answer depends on a user
 * (AUTHZ_DENIED_NO_USER: Require valid-user, user, group, obo-*...), and for
 * a preflight, which never has one, says OK: "authorized without
 * authentication", so httpd runs neither check_authn nor the Require lines
 * with a user. r->user stays NULL (no REMOTE_USER, no claims, no exchange:
 * the fixups find no verified token). Setting a placeholder user instead
 * would reach REMOTE_USER, %u and Require user lines; returning OK earlier
 * (before mod_authz_core) would skip Require ip. */
static int auth_obo_preflight_access(request_rec *r)
{
    auth_obo_req *st;

    if (!is_obo(r) || !(st = ap_get_module_config(r->request_config, &auth_obo_module))
        || !st->preflight) {
        return DECLINED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "OBO405: CORS preflight (OPTIONS from "
                  "origin %s) let through without a token (OBOPreflight allow)",
                  auth_obo_quote(r->pool, apr_table_get(r->headers_in, "Origin")));
    return OK;
}

static int auth_obo_check_authn(request_rec *r)
{
    int status;

    if (!is_obo(r)) {
        return DECLINED;
    }
    status = authenticate_once(r);
    if (status == HTTP_UNAUTHORIZED) {
        ap_note_auth_failure(r);
    }
    return status;
}

/* ---- challenges ---------------------------------------------------------- */

/* The words of a Require line, space-separated (acr_values) or listed. */
static apr_array_header_t *line_words(apr_pool_t *p, const char *line)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    const char *w, *rest = line;

    while (*rest && (w = ap_getword_conf(p, &rest)) && *w) {
        APR_ARRAY_PUSH(a, const char *) = w;
    }
    return a;
}

/* A step-up that was not met (an authenticated user, 401): RFC 9470's
 * insufficient_user_authentication with acr_values and max_age; for Entra's
 * authentication context alone, the insufficient_claims challenge its
 * clients (MSAL WithClaims) answer. */
static const char *stepup_challenge(request_rec *r, const auth_obo_req *st)
{
    const char *hdr, *desc;

    if (!r->main) {
        obo_metrics_inc(OBO_M_REQ_STEP_UP);
    }
    if (!st->stepup_acr && !st->stepup_max_age) {
        const char *claims = obo_jwt_acrs_challenge(r->pool,
                                                    line_words(r->pool, st->stepup_acrs));
        return auth_obo_challenge(r, "insufficient_claims", "claims",
                                  auth_obo_quote(r->pool, claims ? claims : ""));
    }
    desc = st->stepup_acr && st->stepup_max_age
           ? "a stronger and more recent authentication is required"
           : st->stepup_acr ? "a stronger authentication is required"
           : "a more recent authentication is required";
    hdr = auth_obo_challenge(r, "insufficient_user_authentication", "error_description",
                             auth_obo_quote(r->pool, desc));
    if (st->stepup_acr) {
        hdr = apr_pstrcat(r->pool, hdr, ", acr_values=", auth_obo_quote(r->pool,
                          apr_array_pstrcat(r->pool, line_words(r->pool, st->stepup_acr), ' ')),
                          NULL);
    }
    if (st->stepup_max_age) {
        hdr = apr_psprintf(r->pool, "%s, max_age=\"%" APR_INT64_T_FMT "\"", hdr,
                           st->stepup_max_age);
    }
    return hdr;
}

static int auth_obo_note_auth_failure(request_rec *r, const char *type)
{
    auth_obo_req *st;
    const char *hdr;

    if (strcasecmp(type, AUTH_OBO_TYPE)) {
        return DECLINED;
    }
    st = auth_obo_req_state(r);
    hdr = st && r->user && (st->stepup_acr || st->stepup_max_age || st->stepup_acrs)
          ? stepup_challenge(r, st)
          : st && st->error_desc
          ? auth_obo_challenge(r, st->dpop_error ? st->dpop_error : "invalid_token",
                               "error_description", auth_obo_quote(r->pool, st->error_desc))
          : auth_obo_challenge(r, NULL, NULL, NULL);
    set_challenges(r, st, r->proxyreq == PROXYREQ_PROXY ? "Proxy-Authenticate"
                                                         : "WWW-Authenticate", hdr);
    return OK;
}

/* A 403 from Require obo-* carries RFC 6750's insufficient_scope challenge;
 * set only on the error response, so a Require that failed inside a
 * <RequireAny> that granted access leaves no trace. */
static void auth_obo_insert_error_filter(request_rec *r)
{
    auth_obo_req *st;
    const char *hdr;

    if (r->status != HTTP_FORBIDDEN || !(st = auth_obo_req_state(r)) || !st->insufficient) {
        return;
    }
    hdr = st->insufficient_desc
          ? auth_obo_challenge(r, "insufficient_scope", "error_description",
                               auth_obo_quote(r->pool, st->insufficient_desc))
          : auth_obo_challenge(r, "insufficient_scope", "scope", *st->insufficient
                               ? auth_obo_quote(r->pool, st->insufficient) : NULL);
    set_challenges(r, st, "WWW-Authenticate", hdr);
    auth_obo_metrics_request(r, st);
}

void auth_obo_register_authn_hooks(apr_pool_t *p)
{
    ap_hook_check_access_ex(auth_obo_access_checker_ex, NULL, NULL, APR_HOOK_FIRST,
                            AP_AUTH_INTERNAL_PER_CONF);
    static const char *const after_authz_core[] = { "mod_authz_core.c", NULL };

    ap_hook_check_access_ex(auth_obo_preflight_access, after_authz_core, NULL, APR_HOOK_LAST,
                            AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(auth_obo_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(auth_obo_note_auth_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(auth_obo_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
