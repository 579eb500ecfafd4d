/* SPDX-License-Identifier: Apache-2.0 */
/* The identity provider as the module sees it: OIDC discovery (issuer,
 * jwks_uri, token_endpoint) and a per-process JWKS cache with periodic
 * refresh, a throttled refetch on an unknown kid, and last-good retention
 * when the IdP cannot be reached. Thread-safe; one per configured IdP per
 * process. */
#ifndef OBO_PROVIDER_H
#define OBO_PROVIDER_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "obo_http.h"
#include "obo_jwk.h"

/* An unknown kid refetches the JWKS at most once per this many seconds per
 * provider and process, independently of the periodic refresh: a key the
 * IdP has just published is accepted within this time (plus one fetch) even
 * while tokens with random kids keep arriving. */
#define OBO_PROVIDER_REFETCH_SECS 10

typedef struct obo_provider_cfg {
    const char *metadata_url;             /* OIDC discovery, or NULL */
    const char *jwks_url;                 /* explicit jwks_uri, or NULL */
    const char *jwks_file;                /* local JWKS, or NULL */
    const apr_array_header_t *issuers;    /* configured issuers; empty: discovery's */
    const char *token_endpoint;           /* override, or NULL */
    apr_interval_time_t jwks_refresh;     /* periodic refresh, default 1 h */
    apr_interval_time_t refetch_throttle; /* unknown-kid refetch, default 10 s */
    apr_interval_time_t retry_backoff;    /* after a failed fetch, default 5 s */
    obo_http_opts http;
    /* Last good discovery + JWKS (obo_idpstate.h), used when the IdP cannot
     * be reached at the first load of a process; NULL: not kept. */
    const char *state_file;
    const unsigned char *state_key;       /* OBO_AEAD_KEY_LEN bytes */
    const char *state_id;                 /* the IdP's identity, bound into the seal */
} obo_provider_cfg;

typedef struct obo_provider obo_provider;

/* Nothing is fetched here: discovery and JWKS load at first use. */
apr_status_t obo_provider_create(apr_pool_t *p, const obo_provider_cfg *cfg,
                                 obo_http *http, obo_provider **out);

/* Accepted issuers. APR_EAGAIN if they come from discovery and discovery
 * has never succeeded (the IdP is unavailable: 503). */
apr_status_t obo_provider_issuers(obo_provider *pv, apr_pool_t *p,
                                  const apr_array_header_t **issuers, const char **err);

/* Token endpoint: the override, else discovery's. APR_EAGAIN as above,
 * APR_NOTFOUND if neither exists. */
apr_status_t obo_provider_token_endpoint(obo_provider *pv, apr_pool_t *p,
                                         const char **url, const char **err);

/* Keys able to verify (kid, alg) — kid may be NULL — appended to *keys
 * (array of obo_jwk *, allocated from p), and *generation (if non-NULL) is
 * the generation of the key set they came from. That set stays
 * alive until p is cleared, even if a refresh replaces it meanwhile. An
 * unknown kid triggers one refetch, throttled per provider. APR_SUCCESS
 * (possibly no keys), or APR_EAGAIN when no JWKS has ever been loaded. */
apr_status_t obo_provider_keys(obo_provider *pv, apr_pool_t *p, const char *kid,
                               const char *alg, apr_array_header_t **keys,
                               unsigned long *generation, const char **err);

/* Changes whenever the key set is replaced: facts derived from the old keys
 * (a verified signature) must not outlive them. */
unsigned long obo_provider_generation(obo_provider *pv);

/* Starts the periodic refresh when it is due (one thread fetches, the others
 * go on). obo_provider_keys does this itself; callers that skip it on a
 * fast path call this instead. */
void obo_provider_refresh_if_due(obo_provider *pv);

/* What this module takes from an OIDC discovery document. */
typedef struct obo_discovery {
    const char *issuer;            /* required */
    const char *jwks_uri;          /* required */
    const char *token_endpoint;    /* or NULL */
} obo_discovery;

/* Parses a discovery document (len bytes of untrusted JSON): an object
 * with string issuer and jwks_uri. The strings are tied to p. APR_SUCCESS
 * or APR_EINVAL with *err. Used by the provider; exposed for fuzzing. */
apr_status_t obo_discovery_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                 obo_discovery *out, const char **err);

/* Counters for tests and the status page. */
typedef struct obo_provider_stats {
    unsigned long jwks_fetches, jwks_failures, discovery_fetches;
    unsigned long state_saves, state_restores;
} obo_provider_stats;
void obo_provider_get_stats(obo_provider *pv, obo_provider_stats *st);

#endif
