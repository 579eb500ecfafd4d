/* SPDX-License-Identifier: Apache-2.0 */
/* Acquiring a downstream token: cache lookup, single-flight exchange on a
 * miss, and storing the result for as long as it may be used. */
#ifndef OBO_TOKEN_H
#define OBO_TOKEN_H

#include <apr_pools.h>
#include "obo_cache.h"
#include "obo_exchange.h"
#include "obo_memo.h"

typedef struct obo_acquire {
    obo_cache *cache;                 /* NULL: no caching */
    obo_memo *l1;                     /* per-process L1 in front of cache, or NULL */
    obo_http *http;
    obo_exchange_req req;             /* what to ask the IdP */
    const char *authority;            /* for the cache key (tenant-specific endpoint) */
    apr_interval_time_t margin;       /* refresh this long before expiry (default 300 s) */
    apr_time_t assertion_expiry;      /* the incoming token's exp: never cache past it */
    const unsigned char *assertion_sha256;  /* SHA-256 of req.assertion, or NULL */
    obo_cache_flight_opts flight;
    /* Remembered IdP answers (obo_guard.h): user failures for this long
     * (0: not), and pauses of the token endpoint; kept in this per-process
     * memo (or NULL) and in cache. */
    apr_interval_time_t negative_ttl;
    obo_memo *guard;
    /* Early refresh (MSAL's refresh_in): a token's refresh window opens at
     * the IdP's refresh_in, else after refresh_share percent of its
     * lifetime, and ends at the margin. 0: no early refresh. */
    int refresh_share;
    apr_interval_time_t refresh_backoff;  /* after a failed refresh (default 60 s) */
} obo_acquire;

/* APR_SUCCESS with *res (and *hit = 1 if no IdP call was made by this
 * request), or the exchange's failure with *xerr. Cache failures never fail
 * the call. A failure may also be a remembered one (no IdP call) or
 * OBO_XERR_THROTTLED (APR_EAGAIN) when the IdP asked for a pause or while
 * the token endpoint is paused (obo_guard.h); its retry_after is then at
 * most OBO_GUARD_PAUSE_MAX_S. */
/* a->margin is used as given (0: none). A token is stored until
 * min(expires_on - margin, assertion_expiry) (assertion_expiry 0: no cap)
 * and not at all if that is not in the future or expires_in was 0; such a
 * token is still shared with concurrent requests of this process (single
 * flight), never with other processes. (*res)->refresh_token is set only
 * for the request that made the IdP call. *xerr is allocated from p. */
apr_status_t obo_token_acquire(apr_pool_t *p, const obo_acquire *a,
                               obo_token_result **res, obo_exchange_error **xerr,
                               int *hit);

/* As obo_token_acquire; *refresh_due (may be NULL) is set to 1 when the
 * token served came from the cache and is inside its refresh window: the
 * caller should call obo_token_refresh once it has answered. */
apr_status_t obo_token_acquire_ex(apr_pool_t *p, const obo_acquire *a,
                                  obo_token_result **res, obo_exchange_error **xerr,
                                  int *hit, int *refresh_due);

/* The early refresh of a's token, with a's assertion, single flight across
 * threads, processes and servers (a "<key>.refresh" lock in the cache).
 * APR_SUCCESS: refreshed (cache and L1 hold the new token); APR_EEXIST:
 * nothing to do (another caller refreshes or did, or a failed refresh's
 * backoff runs); APR_ENOTIMPL without a cache; otherwise the exchange
 * failed: the cached token stays in use until the margin, and no caller
 * tries again for refresh_backoff. Logged (OBO360-OBO362). */
apr_status_t obo_token_refresh(apr_pool_t *p, const obo_acquire *a);

/* Shares an exchange failure (obo_exchange_error) with the waiters of
 * other processes (obo_cache_get_or_fetch_ex): whoever fills a key with an
 * exchange of any kind uses it. */
extern const obo_cache_errshare obo_token_errshare;

/* Serialisation of a cached token (JSON inside the sealed value). */
char *obo_token_serialize(apr_pool_t *p, const obo_token_result *t);
apr_status_t obo_token_deserialize(apr_pool_t *p, const char *buf, apr_size_t len,
                                   obo_token_result **t);

#endif
