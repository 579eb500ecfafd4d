/* Remembered identity-provider answers, so that one caller cannot make the
 * module call the IdP again and again:
 *  - a failure that belongs to the user (consent or interaction required,
 *    assertion rejected) is remembered for that cache key for a short time
 *    and answered from memory;
 *  - a 429 or 503 with Retry-After from a token endpoint pauses every call
 *    to that endpoint until it passes (capped), for every user.
 * Both live in this process's memo and, when there is one, in the shared
 * cache (sealed like every entry) so other processes and servers see them. */
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
    const char *endpoint;               /* the token endpoint: scope of a pause */
    const char *key;                    /* the token's cache key: scope of a failure */
} obo_guard;

/* Before an IdP call. APR_NOTFOUND: nothing remembered, call the IdP.
 * Otherwise *e (from p) says why not and the status is what the exchange
 * would have returned: APR_EACCES for a remembered user failure (same kind,
 * error, description, claims as the IdP's answer), APR_EAGAIN for a pause
 * (kind OBO_XERR_THROTTLED, retry_after = seconds left). */
apr_status_t obo_guard_check(apr_pool_t *p, const obo_guard *g, obo_exchange_error **e);

/* After a failed IdP call: remembers what is worth remembering. */
void obo_guard_note(apr_pool_t *p, const obo_guard *g, const obo_exchange_error *e);

#endif
