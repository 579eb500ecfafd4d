/* SPDX-License-Identifier: Apache-2.0 */
/* Require obo-scope / obo-role / obo-claim / obo-caller: authorization on
 * the claims of the token that authentication verified; Require obo-acr /
 * obo-auth-age / obo-acrs: step-up (RFC 9470, Entra authentication
 * context), answered with a 401 challenge instead of a 403. */
#include "mod_auth_obo_authz.h"
#include "mod_auth_obo_request.h"

#include <string.h>
#include "apr_strings.h"
#include "http_core.h"
#include "http_request.h"
#include "mod_auth.h"

#include "obo_introspect.h"
#include "obo_jwt.h"

APLOG_USE_MODULE(auth_obo);

enum { NEED_SCOPE, NEED_ROLE, NEED_CLAIM };

/* An introspection answer names its scopes in "scope" (RFC 7662), a JWT
 * in "scp" (Entra) or "scope" (RFC 9068). */
static int matches(const auth_obo_req *st, int kind, const char *want)
{
    const json_t *claims = st->jws->payload;

    if (kind == NEED_SCOPE) {
        return st->introspected ? obo_introspect_has_scope(claims, want)
                                : obo_jwt_has_scope(claims, want);
    }
    return obo_jwt_has_role(claims, want);
}

static authz_status check(request_rec *r, const char *line, int kind)
{
    auth_obo_req *st = auth_obo_req_state(r);
    const char *w, *rest = line;

    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (!st || !st->jws) {
        return AUTHZ_DENIED;   /* authenticated by something other than a token */
    }
    while (*rest && (w = ap_getword_conf(r->pool, &rest)) && *w) {
        if (kind == NEED_CLAIM) {
            const char *colon = strchr(w, ':');
            if (colon && obo_jwt_claim_matches(st->jws->payload,
                                               apr_pstrndup(r->pool, w, colon - w),
                                               colon + 1)) {
                return AUTHZ_GRANTED;
            }
        }
        else if (matches(st, kind, w)) {
            return AUTHZ_GRANTED;
        }
    }
    /* st may belong to the main request while r is a subrequest, whose pool
     * goes first: point at the Require line itself, which lives in the
     * configuration pool. */
    st->insufficient = kind == NEED_SCOPE ? line : "";
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO020: user '%s' lacks %s '%s'", r->user,
                  kind == NEED_SCOPE ? "scope" : kind == NEED_ROLE ? "role" : "claim", line);
    return AUTHZ_DENIED;
}

static authz_status check_scope(request_rec *r, const char *line, const void *parsed)
{
    return check(r, line, NEED_SCOPE);
}

static authz_status check_role(request_rec *r, const char *line, const void *parsed)
{
    return check(r, line, NEED_ROLE);
}

static authz_status check_claim(request_rec *r, const char *line, const void *parsed)
{
    return check(r, line, NEED_CLAIM);
}

/* Require obo-caller user|app: which kind of caller (OBOAppOnlyWhen) the
 * Location admits. */
static authz_status check_caller(request_rec *r, const char *line, const void *parsed)
{
    auth_obo_req *st = auth_obo_req_state(r);
    const auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config,
                                                      &auth_obo_module);
    const char *kind;

    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (!st || !st->jws) {
        return AUTHZ_DENIED;
    }
    kind = auth_obo_app_only(sc, st->jws->payload) ? "app" : "user";
    if (strcmp(kind, (const char *)parsed) == 0) {
        return AUTHZ_GRANTED;
    }
    st->insufficient = "";
    st->insufficient_desc = strcmp(kind, "app") == 0
        ? "this resource admits users only, not an application acting as itself"
        : "this resource admits applications acting as themselves only, not users";
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO456: caller '%s' is %s, but Require "
                  "obo-caller %s", r->user, strcmp(kind, "app") == 0
                  ? "an application acting as itself" : "a user", (const char *)parsed);
    return AUTHZ_DENIED;
}

static const char *parse_caller(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *rest = line, *w = line ? ap_getword_conf(cmd->pool, &rest) : NULL;

    if (!w || (strcmp(w, "user") != 0 && strcmp(w, "app") != 0) || *rest) {
        return "Require obo-caller needs one word: user or app";
    }
    *parsed = w;
    return NULL;
}

static const char *parse_words(cmd_parms *cmd, const char *line, const void **parsed)
{
    if (!line || !*line) {
        return "Require obo-scope and Require obo-role need at least one value";
    }
    *parsed = line;
    return NULL;
}

static const char *parse_claims(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *rest = line, *w;

    if (!line || !*line) {
        return "Require obo-claim needs at least one name:value";
    }
    while (*rest && (w = ap_getword_conf(cmd->temp_pool, &rest)) && *w) {
        const char *colon = strchr(w, ':');
        if (!colon || colon == w) {
            return apr_psprintf(cmd->pool, "Require obo-claim: '%s' is not name:value", w);
        }
    }
    *parsed = line;
    return NULL;
}

/* ---- step-up ---------------------------------------------------------- */

enum { NEED_ACR, NEED_ACRS };

/* A step-up that is not met is "not authenticated enough", not "not
 * allowed": AUTHZ_DENIED_NO_USER makes mod_authz_core answer 401 after
 * authentication (and call note_auth_failure, which writes the step-up
 * challenge), where AUTHZ_DENIED would be a 403. */
static authz_status check_stepup(request_rec *r, const char *line, int kind)
{
    auth_obo_req *st = auth_obo_req_state(r);
    const char *w, *rest = line;

    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (!st || !st->jws) {
        return AUTHZ_DENIED;
    }
    while (*rest && (w = ap_getword_conf(r->pool, &rest)) && *w) {
        if (kind == NEED_ACR ? obo_jwt_acr_is(st->jws->payload, w)
                             : obo_jwt_list_claim_has(st->jws->payload, "acrs", w)) {
            return AUTHZ_GRANTED;
        }
    }
    /* Noted (and logged) once: authorization runs before and after
     * authentication. */
    if (kind == NEED_ACR ? st->stepup_acr != NULL : st->stepup_acrs != NULL) {
        return AUTHZ_DENIED_NO_USER;
    }
    *(kind == NEED_ACR ? &st->stepup_acr : &st->stepup_acrs) = line;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO460: user '%s' must step up: the token's "
                  "%s is not among '%s' (answered 401 %s)", r->user,
                  kind == NEED_ACR ? "acr" : "acrs", line, kind == NEED_ACR
                  ? "insufficient_user_authentication" : "insufficient_claims");
    return AUTHZ_DENIED_NO_USER;
}

static authz_status check_acr(request_rec *r, const char *line, const void *parsed)
{
    return check_stepup(r, line, NEED_ACR);
}

static authz_status check_acrs(request_rec *r, const char *line, const void *parsed)
{
    return check_stepup(r, line, NEED_ACRS);
}

static authz_status check_auth_age(request_rec *r, const char *line, const void *parsed)
{
    auth_obo_req *st = auth_obo_req_state(r);
    apr_int64_t max = *(const apr_int64_t *)parsed, age = 0;
    apr_status_t rv;

    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (!st || !st->jws) {
        return AUTHZ_DENIED;
    }
    rv = obo_jwt_auth_age(st->jws->payload, apr_time_now(), &age);
    if (rv == APR_SUCCESS && age <= max) {
        return AUTHZ_GRANTED;
    }
    if (st->stepup_max_age && st->stepup_max_age <= max) {
        return AUTHZ_DENIED_NO_USER;   /* noted already */
    }
    st->stepup_max_age = max;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO461: user '%s' must step up: %s, "
                  "Require obo-auth-age %" APR_INT64_T_FMT " (answered 401 "
                  "insufficient_user_authentication)", r->user, rv != APR_SUCCESS
                  ? "the token has no auth_time" : apr_psprintf(r->pool, "signed in %"
                  APR_INT64_T_FMT " s ago", age), max);
    return AUTHZ_DENIED_NO_USER;
}

/* Seconds: one whole number from 1 to ten years (a longer age asks for
 * nothing). */
static const char *parse_age(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *rest = line, *w = line ? ap_getword_conf(cmd->pool, &rest) : NULL;
    apr_int64_t *age = apr_palloc(cmd->pool, sizeof(*age));
    char *end = NULL;

    if (!w || !*w || *rest) {
        return "Require obo-auth-age needs one number of seconds";
    }
    *age = apr_strtoi64(w, &end, 10);
    if (*end || *age < 1 || *age > 315360000) {
        return apr_psprintf(cmd->pool, "Require obo-auth-age: '%s' is not a number of "
                            "seconds from 1 to 315360000", w);
    }
    *parsed = age;
    return NULL;
}

/* The challenge lists the values space-separated (RFC 9470 acr_values, the
 * claims request's ids): a value with a space in it could not be read back. */
static const char *parse_stepup_words(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *rest = line, *w;

    if (!line || !*line) {
        return "Require obo-acr and Require obo-acrs need at least one value";
    }
    while (*rest && (w = ap_getword_conf(cmd->temp_pool, &rest)) && *w) {
        if (w[strcspn(w, " \t")]) {
            return apr_psprintf(cmd->pool, "Require obo-acr/obo-acrs: '%s' holds a space, "
                                "which a challenge's space-separated list cannot carry", w);
        }
    }
    *parsed = line;
    return NULL;
}

static const authz_provider scope_provider = { check_scope, parse_words };
static const authz_provider role_provider = { check_role, parse_words };
static const authz_provider claim_provider = { check_claim, parse_claims };
static const authz_provider caller_provider = { check_caller, parse_caller };
static const authz_provider acr_provider = { check_acr, parse_stepup_words };
static const authz_provider acrs_provider = { check_acrs, parse_stepup_words };
static const authz_provider auth_age_provider = { check_auth_age, parse_age };

void auth_obo_register_authz_providers(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-scope", AUTHZ_PROVIDER_VERSION,
                              &scope_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-role", AUTHZ_PROVIDER_VERSION,
                              &role_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-claim", AUTHZ_PROVIDER_VERSION,
                              &claim_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-caller", AUTHZ_PROVIDER_VERSION,
                              &caller_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-acr", AUTHZ_PROVIDER_VERSION,
                              &acr_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-acrs", AUTHZ_PROVIDER_VERSION,
                              &acrs_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "obo-auth-age", AUTHZ_PROVIDER_VERSION,
                              &auth_age_provider, AP_AUTH_INTERNAL_PER_CONF);
}
