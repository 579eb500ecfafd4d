/* SPDX-License-Identifier: Apache-2.0 */
/* The request layer of the glue (mod_auth_obo_request.c), shared by every
 * request hook: authentication makes the request's state once, the others
 * find it on the request, its main request or the one it was redirected
 * from. The core logs against the request a hook is serving between
 * auth_obo_log_enter and auth_obo_log_leave. The RFC 6750 answers (the
 * challenges, an exchange failure mapped to what the caller can act on) and
 * the hand-off of a downstream token to the backend (environment, headers,
 * Authorization) are here once, for the exchange and long-running sessions
 * alike. Calls nothing of the other glue units but the configuration. */
#ifndef MOD_AUTH_OBO_REQUEST_H
#define MOD_AUTH_OBO_REQUEST_H

#include "mod_auth_obo_config.h"

#include "obo_cache.h"
#include "obo_crypto.h"
#include "obo_exchange.h"
#include "obo_jws.h"


/* What authentication established for this request (request_config). */
typedef struct auth_obo_req {
    const char *token;       /* the caller's token, for the exchange */
    const char *presented;   /* the token the request carried, verified or not */
    obo_jws *jws;            /* verified; payload = claims (an introspected token's:
                              * the IdP's answer, and no header) */
    int introspected;        /* the token was opaque: RFC 7662 introspection */
    struct obo_provider *provider;   /* the provider that verified it (its token
                                      * endpoint is the exchange's), or NULL */
    const char *error_desc;  /* invalid_token description, or NULL */
    int no_token;            /* no credentials presented */
    int status;              /* memoised authentication result (OK, 401, 503...) */
    const char *insufficient;  /* Require obo-* failed: scope="..." value or "" */
    const char *insufficient_desc;  /* its error_description instead of scope, or NULL */
    /* Step-up (Require obo-acr / obo-auth-age / obo-acrs) not met: the
     * failed lines (configuration pool: st may be the main request's) and
     * the smallest failed age; they make the 401's challenge. */
    const char *stepup_acr;
    const char *stepup_acrs;
    apr_int64_t stepup_max_age;    /* 0: none failed */
    const char *caller_authz;  /* Authorization as the caller sent it (or NULL) */
    int authz_changed;         /* the exchange replaced or removed Authorization */
    int authorized;            /* this request reached fixups: authorization passed */
    int handoff_failed;        /* its fixups answered an error (the exchange failed) */
    int preflight;             /* a CORS preflight let through without a token */
    /* DPoP (RFC 9449, mod_auth_obo_dpop.c): the token came as
     * "Authorization: DPoP"; the challenge's error when the proof was
     * refused ("invalid_dpop_proof", "use_dpop_nonce"); the proof as sent
     * (the header is removed from what anything after sees; a subrequest or
     * internal redirect takes it from the request it belongs to). */
    int dpop;
    const char *dpop_error;
    const char *dpop_proof;
    int dpop_proofs;           /* DPoP headers the request carried */
    /* SHA-256 of the caller's token, computed once for every consumer. */
    unsigned char token_hash[OBO_SHA256_LEN];
    /* The effective configuration, merged once for this per_dir_config. */
    struct ap_conf_vector_t *eff_for;
    struct auth_obo_dir_cfg *eff;
} auth_obo_req;

/* The provider whose token endpoint takes the exchanges for st's caller:
 * the one that verified the caller's token (several issuers), else the
 * primary (an introspected token). */
obo_provider *auth_obo_token_provider(const auth_obo_srv_cfg *sc, const auth_obo_req *st);

/* The state of r (or of its main or previous request), or NULL. */
auth_obo_req *auth_obo_req_state(request_rec *r);
/* A new, empty state on r, remembering the Authorization the caller sent. */
auth_obo_req *auth_obo_req_state_new(request_rec *r);
/* The effective per-directory settings: the Location's, else the server's;
 * merged once per request and per_dir_config. */
auth_obo_dir_cfg *auth_obo_effective(request_rec *r);
/* 1 if r is an internal redirect after a request that failed authorization
 * in the same configuration: it gets nothing handed to users who passed. */
int auth_obo_inherits_denial(request_rec *r);
/* 1 if r is an internal redirect (an ErrorDocument) after a request whose
 * exchange or hand-off failed in the same configuration: it must not
 * exchange again. */
int auth_obo_follows_failed_handoff(request_rec *r);

/* Core log lines go against r until auth_obo_log_leave(the value returned). */
request_rec *auth_obo_log_enter(request_rec *r);
void auth_obo_log_leave(request_rec *prev);
/* The request this thread's hook is serving, or NULL. */
request_rec *auth_obo_log_request(void);

/* The request line "METHOD target PROTOCOL" with old_target replaced by
 * new_target (what %r logs), or NULL where it does not hold old_target. */
const char *auth_obo_request_line(request_rec *r, const char *old_target,
                                  const char *new_target);
const char *auth_obo_quote(apr_pool_t *p, const char *s);
/* AuthName, else the configured ServerName, quoted. */
const char *auth_obo_realm(request_rec *r);
/* The Bearer challenge: realm, then error and one parameter (value quoted
 * by the caller) when not NULL. */
const char *auth_obo_challenge(request_rec *r, const char *error, const char *param,
                               const char *value);
/* The answer to an exchange failure (401 with a challenge, 5xx, or DONE
 * after a JSON body); logged. */
int auth_obo_exchange_failed(request_rec *r, const auth_obo_srv_cfg *sc,
                             const auth_obo_downstream *ds, auth_obo_req *st,
                             const obo_exchange_error *x);

/* The token endpoint of the token's home tenant for Entra's multi-tenant
 * authorities (common, organizations) when its iss names that tid as a path
 * segment (Entra's issuers do) and pv is multi-tenant (a {tenantid} issuer);
 * url otherwise. */
const char *auth_obo_tenant_endpoint(apr_pool_t *p, const char *url, const json_t *claims,
                                     obo_provider *pv);
/* How long an exchange's or a refresh's cache lock lives, and how long
 * waiters wait for its holder (OBOCacheLockWait), in milliseconds. */
int auth_obo_lock_ms(const auth_obo_srv_cfg *sc);
int auth_obo_wait_ms(const auth_obo_srv_cfg *sc);
/* What every grant of this server asks the token endpoint at endpoint, and
 * how its cache lock lives and is waited for: one setup for the exchange
 * (mod_auth_obo_fixups.c) and long-running sessions (mod_auth_obo_session.c),
 * so the two never drift apart. The caller adds the grant's own fields
 * (assertion, scopes, audiences). */
void auth_obo_grant_setup(const auth_obo_srv_cfg *sc, const char *endpoint,
                          obo_exchange_req *req, obo_cache_flight_opts *flight);
/* 502 (OBO061) unless the IdP's access_token and token_type are usable in
 * a header line; OK otherwise. */
int auth_obo_check_token(request_rec *r, const char *ds_name, const obo_token_result *t);
/* t checked, then handed to the backend as ds says: OK or 502. */
int auth_obo_deliver(request_rec *r, auth_obo_req *st, const auth_obo_downstream *ds,
                     const obo_token_result *t);

/* The header that carries the caller's credentials: Proxy-Authorization
 * in a forward proxy's request (ProxyRequests On: its Authorization is the
 * origin's, and the module's 407 asks for Proxy-Authorization, RFC 9110
 * s.11.7.2), else Authorization. */
const char *auth_obo_credentials_header(const request_rec *r);

/* Marks the answer as this user's, never to be stored by mod_cache: this
 * request and every request it belongs to (a subrequest's main request, an
 * internal redirect's earlier ones), whose answer mod_cache stores. */
void auth_obo_no_cache(request_rec *r);

#endif
