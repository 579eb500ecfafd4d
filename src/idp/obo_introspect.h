/* SPDX-License-Identifier: Apache-2.0 */
/* Opaque bearer tokens: RFC 7662 token introspection. The IdP's answer is
 * parsed (obo_introspect_parse), checked like a JWT's claims
 * (obo_introspect_check: active, exp/nbf with skew, iss and aud when
 * present, no refresh token) and remembered: sealed in the shared cache
 * under a key derived from the SHA-256 of the token (never the token) with
 * its own domain separator and the endpoint and client that asked, for
 * min(exp - now, cache time), an inactive answer for at most
 * OBO_INTROSPECT_INACTIVE_TTL; one IdP call per key for a herd of requests
 * across threads, processes and servers (obo_cache_get_or_fetch_ex, the
 * exchange's single flight); a per-process L1 (obo_vcache.h) in front. A
 * 429/503 with Retry-After pauses the endpoint for this client
 * (obo_guard.h). A failed call is never cached: only the waiters of that
 * call share it. */
#ifndef OBO_INTROSPECT_H
#define OBO_INTROSPECT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "obo_cache.h"
#include "obo_exchange.h"
#include "obo_guard.h"
#include "obo_http.h"
#include "obo_vcache.h"

#define OBO_INTROSPECT_INACTIVE_TTL 10        /* seconds an inactive answer is kept */
#define OBO_INTROSPECT_DEFAULT_TTL 60         /* OBOIntrospectionCacheTime default */
#define OBO_INTROSPECT_MAX_BYTES (64 * 1024)  /* an answer larger than this is refused */

/* What an answer must satisfy (the Location's rules). */
typedef struct obo_introspect_rules {
    const apr_array_header_t *issuers;    /* const char *; checked when iss is present */
    const apr_array_header_t *audiences;  /* const char *; checked when aud is present */
    /* const char *, or NULL: OBOAcceptIssuer. When set, iss must be present
     * and listed here too: without it the answer does not say whose token
     * it was. */
    const apr_array_header_t *accept_issuers;
    apr_int64_t skew;                     /* seconds */
    apr_int64_t now;                      /* seconds since the epoch */
    apr_int32_t now_usec;                 /* and microseconds (0..999999) */
} obo_introspect_rules;

/* The answer's body (len bytes of untrusted JSON): a JSON object of at
 * most OBO_INTROSPECT_MAX_BYTES, nesting bounded, no duplicate members.
 * APR_SUCCESS with *answer (tied to p), or APR_EINVAL with *err. */
apr_status_t obo_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                  json_t **answer, const char **err);

/* "active" must be the JSON literal true (absent, false, "true" or 1 all
 * refuse); exp (if present) > now - skew, nbf (if present) <= now + skew;
 * iss, if present, one of the issuers ("{tenantid}" as for JWTs), and with
 * accept_issuers present and one of those too; aud, if
 * present (string or array), names one of the audiences; token_type, if
 * present, a string that is not a refresh token ("refresh_token" or its
 * RFC 8693 URN, any case). APR_SUCCESS, or APR_EINVAL with *err fit for
 * error_description (never quotes the answer). */
apr_status_t obo_introspect_check(const obo_introspect_rules *rules, const json_t *answer,
                                  const char **err);

/* The answer's "scope" (space-separated; an array is taken too) has scope. */
int obo_introspect_has_scope(const json_t *answer, const char *scope);

/* Seconds an answer may be kept at now: an active one (active true)
 * min(exp - now, cache_time), cache_time without exp; any other
 * min(OBO_INTROSPECT_INACTIVE_TTL, cache_time). 0: not kept. */
apr_int64_t obo_introspect_ttl(const json_t *answer, apr_int64_t now, apr_int64_t cache_time);

/* "obo1:" + hex SHA-256 over a domain separator of its own (no exchange or
 * session key can equal it), the endpoint, the client id and the token's
 * SHA-256: printable, fixed length, no client input. */
char *obo_introspect_cache_key(apr_pool_t *p, const char *endpoint, const char *client_id,
                               const unsigned char token_sha256[OBO_SHA256_LEN]);

/* One server's introspection set-up. */
typedef struct obo_introspection {
    obo_http *http;
    const char *endpoint;          /* https URL */
    const obo_client *client;      /* authenticates as at the token endpoint */
    const char *assertion_aud;     /* private_key_jwt audience (the token endpoint), or
                                    * NULL: the introspection endpoint */
    obo_http_opts opts;
    obo_cache *cache;              /* shared cache, or NULL */
    obo_vcache *l1;                /* this process's answers, or NULL */
    const obo_guard *guard;        /* pauses (429/503 with Retry-After), or NULL */
    obo_cache_flight_opts flight;
    apr_int64_t cache_time;        /* seconds (OBOIntrospectionCacheTime); 0: none */
    int metrics_provider;          /* the provider whose calls these count as, 0: none */
} obo_introspection;

/* Where an answer came from. */
typedef enum { OBO_INTROSPECT_IDP = 0, OBO_INTROSPECT_L1, OBO_INTROSPECT_SHARED }
    obo_introspect_source;

/* The IdP's answer for token (token_sha256 its SHA-256), from the L1, the
 * shared cache or one IdP call. APR_SUCCESS with *answer (unchecked:
 * obo_introspect_check) and *source; otherwise the IdP could not be asked
 * or failed (transport, HTTP status other than 200, an unusable answer, a
 * pause), with *err and *retry_after (seconds the caller should wait, >= 1).
 * Every IdP call is logged (OBO421) and counted (endpoint "introspection"). */
apr_status_t obo_introspect_token(apr_pool_t *p, const obo_introspection *ix,
                                  const char *token,
                                  const unsigned char token_sha256[OBO_SHA256_LEN],
                                  json_t **answer, obo_introspect_source *source,
                                  const char **err, apr_int64_t *retry_after);

#endif
