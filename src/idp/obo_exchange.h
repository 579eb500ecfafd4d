/* SPDX-License-Identifier: Apache-2.0 */
/* The token exchange: Entra's On-Behalf-Of (jwt-bearer) grant and RFC 8693
 * token exchange, with client_secret_post / client_secret_basic /
 * private_key_jwt client authentication, one retry with jitter on 5xx or a
 * failed connection, Retry-After / 429 honoured, and IdP errors classified
 * into what the caller must answer. */
#ifndef OBO_EXCHANGE_H
#define OBO_EXCHANGE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <openssl/evp.h>
#include "obo_http.h"
#include "obo_json.h"

/* OBO_GRANT_REFRESH: the refresh_token grant (long-running sessions,
 * obo_session.h); its refresh token travels in obo_exchange_req.assertion.
 * OBO_GRANT_CLIENT_CREDENTIALS: RFC 6749 s.4.4, the application's own
 * token (OBOScope ... app); no assertion. */
typedef enum {
    OBO_GRANT_OBO = 0, OBO_GRANT_TOKEN_EXCHANGE = 1, OBO_GRANT_REFRESH = 2,
    OBO_GRANT_CLIENT_CREDENTIALS = 3
} obo_grant;

typedef enum {
    OBO_AUTH_SECRET_POST = 0, OBO_AUTH_SECRET_BASIC = 1, OBO_AUTH_PRIVATE_KEY_JWT = 2
} obo_client_auth;

typedef struct obo_client {
    const char *client_id;
    obo_client_auth auth;
    const char *secret;          /* client_secret_post / _basic */
    EVP_PKEY *key;               /* private_key_jwt: tied to the config pool */
    const char *assertion_alg;   /* "PS256" (header x5t#S256, Entra) or "RS256" (x5t) */
    const char *x5t;             /* base64url SHA-1 of the certificate DER */
    const char *x5t_s256;        /* base64url SHA-256 of the certificate DER */
} obo_client;

typedef struct obo_exchange_req {
    obo_grant grant;
    const char *token_endpoint;
    const char *assertion;                  /* the caller's (validated) token; NULL
                                             * for OBO_GRANT_CLIENT_CREDENTIALS */
    const apr_array_header_t *scopes;       /* const char *, may be empty for 8693 */
    const apr_array_header_t *audiences;    /* RFC 8693 "audience" values, or NULL */
    const char *requested_token_type;       /* RFC 8693; NULL: access_token */
    const obo_client *client;
    obo_http_opts http;
    int max_retries;                        /* default 1 */
    apr_interval_time_t max_retry_wait;     /* cap on Retry-After honoured, default 2 s */
    int metrics_provider;                   /* the token endpoint's provider in the
                                             * metrics (obo_metrics.h), 0: none */
} obo_exchange_req;

typedef struct obo_token_result {
    const char *access_token;
    const char *token_type;      /* "Bearer" unless the IdP says otherwise */
    const char *scope;           /* granted scopes, or NULL */
    const char *refresh_token;   /* or NULL; never cached (see README) */
    const char *issued_token_type;
    apr_int64_t expires_in;      /* seconds, as the IdP said */
    apr_time_t expires_on;       /* absolute */
    apr_int64_t lifetime;        /* seconds: expires_in as issued, also once read back
                                  * from a cache (where expires_in is what is left);
                                  * 0 unknown */
    apr_int64_t refresh_in;      /* seconds: the IdP's advice to renew early (MSAL), 0 none */
    apr_time_t refresh_on;       /* absolute start of the early-refresh window, 0 none
                                  * (set by obo_token, kept in the cache) */
} obo_token_result;

typedef enum {
    OBO_XERR_NONE = 0,
    OBO_XERR_INTERACTION,    /* consent / MFA / conditional access: the user must act (401) */
    OBO_XERR_INVALID_GRANT,  /* the assertion was rejected: invalid/expired (401 invalid_token) */
    OBO_XERR_CLIENT,         /* our own credentials rejected (500, loud log) */
    OBO_XERR_REQUEST,        /* invalid_scope / invalid_request / unsupported grant (500) */
    OBO_XERR_UPSTREAM,       /* IdP 5xx, 429 after retry, bad JSON, TLS failure (502) */
    OBO_XERR_TIMEOUT,        /* IdP did not answer in time (504) */
    OBO_XERR_THROTTLED       /* 429/503 with Retry-After over the retry wait (not retried),
                              * or not called while paused (obo_guard): 503 + Retry-After */
} obo_exchange_errkind;

typedef struct obo_exchange_error {
    obo_exchange_errkind kind;
    int http_status;             /* the IdP's status, 0 if none */
    const char *error;           /* OAuth error code, e.g. "interaction_required" */
    const char *error_description;
    const char *suberror;
    const char *claims;          /* claims challenge JSON string, or NULL */
    const char *error_codes;     /* e.g. "[50079]" as the IdP sent it, or NULL */
    const char *trace_id;
    const char *correlation_id;
    const char *detail;          /* our own description for the log */
    apr_int64_t retry_after;     /* seconds from the IdP's Retry-After, <= 0 if none */
    int part;                    /* of several exchanges made as one (a long-running
                                  * session's downstreams), the one that failed: 0 for
                                  * the first or only one */
} obo_exchange_error;

/* Performs the exchange. APR_SUCCESS with *res, or an error status with
 * *xerr filled (never both). */
/* The error status is the transport's for transport failures (APR_TIMEUP,
 * APR_ECONNREFUSED, APR_ENOSPC, APR_EGENERAL), APR_EACCES when the IdP
 * refused (INTERACTION, INVALID_GRANT, CLIENT), APR_EINVAL for REQUEST,
 * APR_EAGAIN for THROTTLED (a 429/503 whose Retry-After is longer than
 * max_retry_wait: not retried, xerr->retry_after as the IdP sent it) and
 * APR_EGENERAL for any other UPSTREAM; callers decide on xerr->kind.
 * req->max_retries 0 means the default (1), a negative value no retry;
 * req->max_retry_wait 0 means the default (2 s). A response without
 * expires_in yields expires_in = 0: returned, but not to be cached.
 * Every IdP call is logged (OBO301, INFO), failures at ERR (OBO310-315). */
apr_status_t obo_exchange(obo_http *h, apr_pool_t *p, const obo_exchange_req *req,
                          obo_token_result **res, obo_exchange_error **xerr);

/* How obo_exchange reads the token endpoint's answer, alone: an HTTP status
 * and the body (NUL-terminated as obo_http returns it; len bytes). The
 * same code path (success body for 200, OAuth error body otherwise) without
 * a request; for the fuzz targets and tests. Statuses as obo_exchange,
 * *res or *xerr allocated from p; nothing is logged. */
apr_status_t obo_exchange_parse_response(apr_pool_t *p, int status, const char *body,
                                         apr_size_t len, obo_token_result **res,
                                         obo_exchange_error **xerr);

/* An exchange error as a JSON object (from p: every field, part and
 * retry_after included), and back (NULL when kind is not an error kind; the
 * strings copied into p, detail NULL when absent). The one form in which a
 * failure is remembered (the negative cache, obo_guard.c) and shared with
 * the waiters of the call that met it (obo_token.c). */
/* 1 if e asks the user (or an administrator) to consent: the error
 * consent_required, or Entra's AADSTS65001 among its error codes. */
int obo_exchange_error_is_consent(const obo_exchange_error *e);

json_t *obo_exchange_error_to_json(apr_pool_t *p, const obo_exchange_error *e);
obo_exchange_error *obo_exchange_error_from_json(apr_pool_t *p, const json_t *j);

/* Loads a PEM private key file (at most OBO_PEM_MAX bytes, wiped once
 * parsed; see obo_pkey_from_pem) and ties the key to p. APR_ENOENT when the
 * file cannot be read. */
apr_status_t obo_pkey_load_pem(apr_pool_t *p, const char *path, EVP_PKEY **out,
                               const char **err);

/* Loads a PEM certificate and its private key for private_key_jwt: fills
 * key, x5t and x5t_s256 (the key is tied to p). */
apr_status_t obo_client_load_certificate(apr_pool_t *p, const char *crt_path,
                                         const char *key_path, obo_client *c,
                                         const char **err);

/* Client authentication of a request to the IdP, the same at every
 * endpoint (token, introspection): appends client_id and the method's
 * fields to form (obo_http_form_add), or sets *auth to the Authorization
 * value (client_secret_basic); a private_key_jwt assertion names aud as its
 * audience. APR_SUCCESS, or the failure to sign an assertion with *err. */
apr_status_t obo_client_authenticate(apr_pool_t *p, const obo_client *c, const char *aud,
                                     apr_array_header_t *form, const char **auth,
                                     const char **err);

/* The signed client assertion (RFC 7523): iss = sub = client_id, aud =
 * token endpoint, jti random, iat/nbf now, exp now + 5 min. */
apr_status_t obo_client_assertion(apr_pool_t *p, const obo_client *c,
                                  const char *token_endpoint, char **jwt,
                                  const char **err);

#endif
