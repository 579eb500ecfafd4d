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
#include "obo_cache.h"
#include "obo_http.h"
#include "obo_idpstate.h"
#include "obo_jwk.h"

/* An unknown kid refetches the JWKS at most once per this many seconds per
 * provider and process, independently of the periodic refresh: a key the
 * IdP has just published is accepted within this time (plus one fetch) even
 * while tokens with random kids keep arriving. */
#define OBO_PROVIDER_REFETCH_SECS 10

/* A key set shared through the cache lives this long without a newer fetch
 * replacing it: the last good set for a cold process while the IdP cannot
 * be reached (a restart of the same server also has the state file). */
#define OBO_PROVIDER_SHARED_TTL_SECS 86400
/* An unchanged key set is written to the shared cache again after this long. */
#define OBO_PROVIDER_SHARED_SAME_SECS 60
/* A shared or saved key set whose fetch time lies further ahead than this is
 * not taken, and is overwritten by the next fetch (a member of the cluster
 * whose clock runs ahead would otherwise keep its set in place, retired
 * keys included, for as long as its clock leads: review 13A). */
#define OBO_PROVIDER_FUTURE_SKEW_SECS 300

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
    /* The cache (obo_cache.h, sealed with the cache secret) through which
     * the processes and servers sharing it pass each other the last good
     * discovery and key set, as they share tokens; NULL: none. */
    obo_cache *shared;
    /* The label provider="N" of the per-provider metrics (obo_metrics.h),
     * 1..OBO_M_PROVIDERS; 0: counted without the label only. */
    int metrics_provider;
    /* Not the server's first (primary) provider: its discovery document is
     * trusted for its own keys and endpoints only (check_discovered_urls). */
    int further;
} obo_provider_cfg;

typedef struct obo_provider obo_provider;

/* Nothing is fetched here: discovery and JWKS load at first use, or in the
 * background after obo_provider_start. A process without keys takes them,
 * in this order, from the shared cache, the IdP, the state file. Requests
 * that find a first load in flight wait for it (at most the time the load's
 * HTTP requests may take) and take a set published meanwhile in the shared
 * cache by another process or server. */
apr_status_t obo_provider_create(apr_pool_t *p, const obo_provider_cfg *cfg,
                                 obo_http *http, obo_provider **out);

/* Loads discovery and keys in a thread of its own and returns at once, so
 * that a new process has them before its first request. The thread runs
 * with signals blocked; a pre-cleanup of p joins it (at most one load's
 * time: its HTTP requests are bounded by cfg->http's timeouts). */
apr_status_t obo_provider_start(obo_provider *pv, apr_pool_t *p);

/* Accepted issuers. APR_EAGAIN if they come from discovery and discovery
 * has never succeeded (the IdP is unavailable: 503). */
apr_status_t obo_provider_issuers(obo_provider *pv, apr_pool_t *p,
                                  const apr_array_header_t **issuers, const char **err);

/* The accepted issuers if they are known without a network call (configured,
 * or from a discovery document this process already has): APR_SUCCESS, or
 * APR_EAGAIN when only a load could tell (obo_provider_issuers). */
apr_status_t obo_provider_known_issuers(obo_provider *pv, apr_pool_t *p,
                                        const apr_array_header_t **issuers);

/* The issuers this provider is configured for, by rank, the order in which
 * they select: its written issuers, and the one its discovery URL names (the
 * URL without "/.well-known/openid-configuration", OpenID Connect Discovery
 * 4.3; a guess, which also claims the issuer with a final '/'); written
 * before derived, and exact ones before {tenantid} templates, so that the
 * most specific claim wins. What discovery brings is no claim another
 * provider's tokens must yield to (obo_select_provider). */
enum {
    OBO_CLAIM_WRITTEN = 0,          /* exact, written */
    OBO_CLAIM_DERIVED,              /* exact, from the discovery URL */
    OBO_CLAIM_WRITTEN_TEMPLATE,     /* {tenantid}, written */
    OBO_CLAIM_DERIVED_TEMPLATE,     /* {tenantid}, from organizations/common/consumers */
    OBO_CLAIM_RANKS
};
const apr_array_header_t *obo_provider_claimed_rank(const obo_provider *pv, int rank);

/* The first of those issuers (NULL if it claims none: a provider known by
 * its discovery document only): the same for every token the provider
 * verifies, whatever its iss, and in every server configured alike. */
const char *obo_provider_owner_issuer(const obo_provider *pv);

/* It accepts any tenant's tokens: a {tenantid} issuer (configured, named by
 * an organizations/common/consumers URL, or its document's). */
int obo_provider_multi_tenant(obo_provider *pv, apr_pool_t *p);

/* Not the server's primary provider (obo_provider_cfg.further). */
int obo_provider_is_further(const obo_provider *pv);

/* The issuers a discovery URL names (see obo_provider_claimed_rank),
 * appended to a; none if the URL does not end in the well-known suffix. */
void obo_provider_url_issuers(apr_pool_t *p, const char *url, apr_array_header_t *a);

/* Token endpoint: the override, else discovery's. APR_EAGAIN as above,
 * APR_NOTFOUND if neither exists. */
apr_status_t obo_provider_token_endpoint(obo_provider *pv, apr_pool_t *p,
                                         const char **url, const char **err);

/* RFC 7662 introspection endpoint from discovery (kept, shared and saved
 * with the other discovery values; an override is the caller's). Statuses
 * as obo_provider_token_endpoint, and APR_EINVAL when it is not https. */
apr_status_t obo_provider_introspection_endpoint(obo_provider *pv, apr_pool_t *p,
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

/* Where its keys come from (its JWKS file or URL, else the metadata URL),
 * for the status page. */
const char *obo_provider_source(const obo_provider *pv);

/* cfg->metrics_provider: the provider's number in the metrics, 0 if none. */
int obo_provider_metrics_number(const obo_provider *pv);

/* Changes whenever the key set is replaced: facts derived from the old keys
 * (a verified signature) must not outlive them. */
unsigned long obo_provider_generation(obo_provider *pv);

/* Whether this process can validate this provider's tokens now (a health
 * check): a key set is loaded. Cheap: a provider that has no set makes one
 * load attempt when no other thread is loading and the retry backoff has
 * passed (so polls also bring keys back), else answers at once; it never
 * refreshes. APR_SUCCESS (with *why a note, or NULL, when the set is older
 * than 3 x the refresh interval and its refresh failed since: degraded,
 * still validating), or
 * APR_EGENERAL with *why (static text). *age: seconds since the set was
 * fetched, -1 without one. */
apr_status_t obo_provider_health(obo_provider *pv, int may_load, apr_int64_t *age,
                                 const char **why);

/* Where a process's key set came from. */
typedef enum obo_keys_from {
    OBO_KEYS_NONE, OBO_KEYS_IDP, OBO_KEYS_FILE, OBO_KEYS_SHARED, OBO_KEYS_STATE
} obo_keys_from;

/* A provider's key set as this process holds it, for the status page. */
typedef struct obo_provider_view {
    int nkeys;
    apr_array_header_t *kids;      /* const char *: each key's kid ("-": none) */
    apr_time_t fetched_at;         /* when the IdP gave the set (0: no set) */
    apr_time_t next_refresh;       /* when a request will refresh it next */
    apr_interval_time_t refresh;   /* OBOJWKSRefreshInterval */
    obo_keys_from from;
    int unasked;                   /* no key set, and none was ever asked for here
                                    * (OBOPreloadKeys off: its first token loads it) */
} obo_provider_view;

/* Fills *out (strings in p). Never loads or refreshes. */
void obo_provider_view_get(obo_provider *pv, apr_pool_t *p, obo_provider_view *out);

/* Starts the periodic refresh when it is due (one thread fetches, the others
 * go on). obo_provider_keys does this itself; callers that skip it on a
 * fast path call this instead. */
void obo_provider_refresh_if_due(obo_provider *pv);

/* What this module takes from an OIDC discovery document. */
typedef struct obo_discovery {
    const char *issuer;            /* required */
    const char *jwks_uri;          /* required */
    const char *token_endpoint;    /* or NULL */
    const char *introspection_endpoint;   /* or NULL */
} obo_discovery;

/* Parses a discovery document (len bytes of untrusted JSON): an object
 * with string issuer and jwks_uri. The strings are tied to p. APR_SUCCESS
 * or APR_EINVAL with *err. Used by the provider; exposed for fuzzing. */
apr_status_t obo_discovery_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                 obo_discovery *out, const char **err);

/* Counters for tests and the status page. Where the key sets of this
 * process came from: jwks_fetches (the IdP or the JWKS file),
 * shared_restores (the shared cache), state_restores (the state file). */
typedef struct obo_provider_stats {
    unsigned long jwks_fetches, jwks_failures, discovery_fetches;
    unsigned long state_saves, state_restores;
    unsigned long shared_restores, shared_publishes;
} obo_provider_stats;
void obo_provider_get_stats(obo_provider *pv, obo_provider_stats *st);

/* ---- the last good set in the shared cache ----
 * One entry per IdP: discovery's values, the JWKS document and the time the
 * IdP answered (st->saved_at). The freshest wins: a set never replaces a
 * fresher one, in the cache or in a process. */

/* The entry's cache key: a hash of the IdP settings (metadata URL, JWKS URL,
 * issuers); NULL for a JWKS file, which is never shared. */
const char *obo_provider_shared_key(apr_pool_t *p, const obo_provider_cfg *cfg);

/* The entry under key. APR_SUCCESS, APR_NOTFOUND (none, expired, sealed under
 * another secret), APR_EINVAL (unreadable), or the backend's failure. */
apr_status_t obo_provider_shared_get(obo_cache *c, apr_pool_t *p, const char *key,
                                     obo_idpstate *st);

/* Stores st under key unless the entry there was fetched at the same time or
 * later: APR_SUCCESS (stored), APR_EEXIST (kept the fresher), or a failure.
 * (A read, then a write: two servers publishing within the same moment may
 * leave the older of two sets; readers still never take an older set than
 * their own.) */
apr_status_t obo_provider_shared_put(obo_cache *c, apr_pool_t *p, const char *key,
                                     const obo_idpstate *st);

/* Takes the shared set if it is fresher than this process's keys.
 * APR_SUCCESS (taken), APR_NOTFOUND (none, or not fresher), or a failure. */
apr_status_t obo_provider_take_shared(obo_provider *pv);

/* The JWKS file a provider would read (OBOJWKSFile) read and parsed as it
 * will be on requests: APR_SUCCESS with *nkeys usable keys, or the error of
 * reading or parsing it (not JSON, not a JWKS, no usable key) with *err.
 * For the startup checks: the keys are parsed in a subpool of p, freed
 * before it returns. */
apr_status_t obo_provider_check_jwks_file(apr_pool_t *p, const char *path, int *nkeys,
                                          const char **err);

#endif
