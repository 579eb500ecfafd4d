/* SPDX-License-Identifier: Apache-2.0 */
/* Long-running On-Behalf-Of sessions: MSAL's InitiateLongRunningProcessInWebApi,
 * AcquireTokenInLongRunningProcess and StopLongRunningProcessInWebApi for
 * backends in any language. A session is opened by a user's request (the
 * exchange also asks for offline_access), named by a random 256-bit key,
 * and keeps each downstream's refresh token and access token in the shared
 * cache (sealed, under hashes of the key; never in a per-process memo), so
 * that a backend can get a downstream token after the user's token expired.
 *
 * Entries of a session (all keys "obos:" + hex SHA-256 of a label, the
 * session key and the downstream name; the key itself is never a key):
 *   meta   who and what the session is bound to, its token endpoint, its
 *          downstreams, its absolute end (max lifetime)
 *   alive  the idle expiry, slid by each use
 *   rt     per downstream: the refresh token (rotated before anyone can
 *          read the new access token) and the scopes it was granted for
 *   at     per downstream: the current access token, until margin before
 *          it expires; its miss is the single-flight refresh
 * and the index "obosi:" + hash(client, downstream set, endpoint, caller
 * token) -> session key, so that repeated requests with one caller token
 * get one session and no extra IdP call, and the user's list "obosu:" +
 * hash(client, user) -> the keys of the user's sessions, oldest first, for
 * the per-user limit (c->limit).
 *
 * A session in use keeps its entries: with a cache that evicts in insertion
 * order (shmcb) a use rewrites them once a quarter of the cache has been
 * written since their last rewrite (see obo_keep_due). */
#ifndef OBO_SESSION_H
#define OBO_SESSION_H

#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "obo_cache.h"
#include "obo_exchange.h"
#include "obo_memo.h"

#define OBO_SESSION_KEY_BYTES 32          /* 256 bits from the CSPRNG */
#define OBO_SESSION_KEY_CHARS 43          /* their base64url, no padding */

/* One downstream of a session. */
typedef struct obo_session_ds {
    const char *name;                     /* NULL: the default downstream */
    const apr_array_header_t *scopes;     /* const char *, offline_access included */
    const apr_array_header_t *audiences;  /* RFC 8693 audience values, or NULL */
} obo_session_ds;

typedef struct obo_session_cfg {
    obo_cache *cache;                     /* the shared cache; required */
    /* Where the gate (obo_guard.h) keeps refusals and pauses: the token
     * cache, so that a pause met by any exchange stops sessions' calls too,
     * where sessions have a cache of their own. NULL: cache. */
    obo_cache *gate_cache;
    obo_http *http;
    /* grant, token_endpoint, client, http, requested_token_type, retries;
     * assertion, scopes and audiences are filled per call. */
    obo_exchange_req req;
    /* obo_session_ds: the set a session is opened for, or the set a handler
     * Location serves (a session of another set is not found); NULL at a
     * handler without its own set: any. */
    const apr_array_header_t *downstreams;
    apr_interval_time_t margin;           /* hand out access tokens this long before expiry */
    apr_interval_time_t idle, max;        /* idle expiry (slides) and absolute lifetime */
    obo_cache_flight_opts flight;
    /* Every grant goes through the gate (obo_guard.h), as the ordinary
     * exchange does: user failures remembered this long (0: not), pauses
     * of the token endpoint; in this per-process memo (or NULL) and cache. */
    apr_interval_time_t negative_ttl;
    obo_memo *guard;
    /* Sessions one user may hold (per client id): opening one more ends the
     * oldest. 0: no limit and no per-user list. */
    int limit;
} obo_session_cfg;

/* obo_session_open: this caller token's session was ended by the per-user
 * limit. A code of its own: the exchange's statuses (APR_EACCES for a user
 * who must act, ...) pass through unchanged. */
#define OBO_SESSION_LIMITED (APR_OS_START_USERERR + 20)

/* The error of a session not started because its user opened twice
 * OBOSessionLimit sessions within the hour (kind THROTTLED, with
 * retry_after): the caller answers 429. */
#define OBO_SESSION_RATE_ERROR "too_many_sessions"

/* 1 if key has the form of a session key (43 base64url characters). */
int obo_session_key_valid(const char *key);

/* The session of this caller token for this user (tid+oid, else iss+sub)
 * and c->downstreams: found in the index, else created under single flight
 * (one exchange per downstream, always at the IdP, as MSAL does). *created
 * is 1 if this call created it. On an exchange failure: its status, *xerr,
 * and *failed the index of the downstream that failed (APR_EBUSY with
 * OBO_XERR_THROTTLED while the token endpoint is paused, or when it asked
 * for a pause); APR_EAGAIN (*xerr set) when the cache fails (a session is
 * started only under the index's lock: never unlocked, never twice) or failed reading the
 * session the index names; OBO_SESSION_LIMITED (*xerr set) when this caller
 * token's session was ended by the per-user limit: the token starts no other
 * (the client must obtain a new one). */
apr_status_t obo_session_open(apr_pool_t *p, const obo_session_cfg *c, const char *user,
                              const char *assertion, apr_time_t assertion_exp,
                              const char **key, int *created,
                              obo_exchange_error **xerr, int *failed);

/* A downstream token of the session: the stored access token while it has
 * more than c->margin left, else one refresh-token grant (single flight
 * across threads, processes and servers sharing the cache). Each use slides
 * the idle expiry. user NULL: not checked (the handler knows no user).
 *   APR_SUCCESS   *t (*hit = 1 if no IdP call was made by this call)
 *   APR_NOTFOUND  no such session: unknown, ended, expired, evicted, or
 *                 bound to another client id / downstream set / user
 *   APR_ENOENT    the session has no downstream of that name
 *   APR_EACCES    the IdP refused the refresh token, or there is none left
 *                 (token exchange): the session has ended; *xerr
 *                 (OBO_XERR_CLIENT: our credentials; the session stays)
 *   APR_EAGAIN    the cache failed (not a miss), or the refresh could not
 *                 hold the cache lock: nothing is known, the session stays;
 *                 try again later (*xerr may be set)
 *   other         the IdP failed (*xerr: UPSTREAM, TIMEOUT), or no call
 *                 was made while the token endpoint is paused, or the IdP
 *                 asked for a pause (APR_EBUSY, *xerr THROTTLED with
 *                 retry_after); the session stays
 * An access token answered without a lifetime (expires_in absent, 0 or
 * negative) is handed out and kept as if it lived 60 s. */
apr_status_t obo_session_token(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                               const char *user, const char *ds_name,
                               obo_token_result **t, obo_exchange_error **xerr, int *hit);

/* Ends the session everywhere: APR_SUCCESS, APR_NOTFOUND or APR_EAGAIN as
 * above. */
apr_status_t obo_session_end(apr_pool_t *p, const obo_session_cfg *c, const char *key);

#endif
