/* SPDX-License-Identifier: Apache-2.0 */
/* Require obo-scope / obo-role / obo-claim / obo-caller: authorization on
 * the claims of the token that authentication verified. */
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
 * in "scp". */
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

static const authz_provider scope_provider = { check_scope, parse_words };
static const authz_provider role_provider = { check_role, parse_words };
static const authz_provider claim_provider = { check_claim, parse_claims };
static const authz_provider caller_provider = { check_caller, parse_caller };

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
}
