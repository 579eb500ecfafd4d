/* SPDX-License-Identifier: Apache-2.0 */
/* The one gate to the token endpoint. Every grant the module sends there
 * (On-Behalf-Of, RFC 8693 token exchange, the refresh_token grant of
 * long-running sessions, and any later one) goes through
 * obo_guard_exchange, so that one caller cannot make the module call the
 * IdP again and again, whichever path its request takes:
 *  - a failure that belongs to the user (consent or interaction required,
 *    assertion or refresh token rejected) is remembered for that request's
 *    key for a short time and answered from memory;
 *  - a 429 or 503 with Retry-After from a token endpoint pauses every call
 *    to that endpoint until it passes (capped), for every user and grant.
 * Both live in this process's memo and, when there is one, in the shared
 * cache (sealed like every entry) so other processes and servers see them.
 * Each IdP attempt is counted by obo_exchange (obo_metrics_idp); a call the
 * gate answers from memory is counted here
 * (mod_auth_obo_idp_calls_avoided_total{reason}). */
#ifndef OBO_GUARD_H
#define OBO_GUARD_H

#include <apr_pools.h>
#include "obo_cache.h"
#include "obo_exchange.h"
#include "obo_memo.h"

#define OBO_GUARD_PAUSE_MAX_S 300   /* a longer Retry-After is capped to this */

typedef struct obo_guard {
    obo_cache *cache;                   /* shared, or NULL */
    obo_memo *local;                    /* this process's, or NULL */
    apr_interval_time_t negative_ttl;   /* 0: user failures are not remembered */
} obo_guard;

/* The key of a request's answer: everything that makes the IdP's answer
 * identical (client id, authority, grant, scopes, audiences, requested
 * token type, and the SHA-256 of the assertion or refresh token, never the
 * token itself). It is also the token cache key of the On-Behalf-Of and
 * token-exchange grants (obo_cache_key), so a remembered failure sits
 * beside the token it stands for. authority NULL: the token endpoint;
 * assertion_sha256 NULL: computed from req->assertion. */
char *obo_guard_key(apr_pool_t *p, const obo_exchange_req *req, const char *authority,
                    const unsigned char *assertion_sha256);

/* obo_exchange(h, p, req, res, xerr) unless the gate answers for it:
 *  - a remembered user failure for key: APR_EACCES with the IdP's answer
 *    as it was (kind, error, description, claims), no IdP call;
 *  - the token endpoint is paused: APR_EAGAIN, kind OBO_XERR_THROTTLED,
 *    retry_after = seconds left, no IdP call;
 * otherwise the exchange's own result, after which a user failure is
 * remembered (g->negative_ttl) and a 429/503 with Retry-After pauses the
 * endpoint; a THROTTLED failure's retry_after is then at most
 * OBO_GUARD_PAUSE_MAX_S (what the requests after it will be told).
 * key NULL: obo_guard_key(p, req, NULL, NULL). *called (may be NULL) is 1
 * if the IdP was called. */
apr_status_t obo_guard_exchange(apr_pool_t *p, const obo_guard *g, obo_http *h,
                                const obo_exchange_req *req, const char *key,
                                obo_token_result **res, obo_exchange_error **xerr,
                                int *called);

/* What obo_guard_exchange would answer without calling the IdP (a
 * remembered user failure: APR_EACCES; a pause: APR_EAGAIN; *xerr set), or
 * APR_NOTFOUND when it would call. For several grants made as one: none is
 * sent while the gate answers for any of them. */
apr_status_t obo_guard_peek(apr_pool_t *p, const obo_guard *g, const obo_exchange_req *req,
                            const char *key, obo_exchange_error **xerr);

/* The same pause for another endpoint of the IdP (introspection), keyed
 * by its URL and the client calling it: APR_EAGAIN with *retry_after
 * (seconds left, >= 1) while it is paused for client_id, APR_NOTFOUND
 * otherwise. Counted as a call avoided (reason "paused"). */
apr_status_t obo_guard_paused(apr_pool_t *p, const obo_guard *g, const char *endpoint,
                              const char *client_id, apr_int64_t *retry_after);

/* Pauses endpoint for client_id after it answered status with Retry-After
 * retry_after (capped at OBO_GUARD_PAUSE_MAX_S; nothing for <= 0). Returns
 * the pause's seconds (0: none). The caller logs it. */
apr_int64_t obo_guard_pause(apr_pool_t *p, const obo_guard *g, const char *endpoint,
                            const char *client_id, int status, apr_int64_t retry_after);

#endif
