/* SPDX-License-Identifier: Apache-2.0 */
/* A per-process memo: fixed number of slots, keyed by a 32-byte digest,
 * values copied in and out, optional expiry. Direct-mapped (a new entry
 * replaces whatever shared its slot), so memory is bounded whatever callers
 * send. Thread-safe. Used for the verified-signature memo and as the L1 in
 * front of the shared token cache, as MSAL keeps an in-memory L1 in front
 * of its distributed L2. */
#ifndef OBO_MEMO_H
#define OBO_MEMO_H

#include <apr_pools.h>
#include <apr_time.h>

#define OBO_MEMO_KEY_LEN 32
#define OBO_MEMO_MAX_VALUE (32 * 1024)

typedef struct obo_memo obo_memo;

typedef struct obo_memo_stats {
    unsigned long hits, misses, stores;
} obo_memo_stats;

/* Values are malloc'd copies, wiped (OPENSSL_cleanse: they are tokens) and
 * freed on replacement and when p is cleared. */
apr_status_t obo_memo_create(apr_pool_t *p, unsigned slots, obo_memo **out);

/* How a value's memory is released, after it has been wiped (default:
 * free). For tests that must see what an evicted value left behind; set it
 * before the first obo_memo_put. */
typedef void obo_memo_release_fn(void *val, apr_size_t len);
void obo_memo_set_release(obo_memo *m, obo_memo_release_fn *release);

/* Stores a copy of val (len <= OBO_MEMO_MAX_VALUE, else ignored) until
 * expiry (absolute; 0: no expiry). */
void obo_memo_put(obo_memo *m, const unsigned char *key, const void *val, apr_size_t len,
                  apr_time_t expiry);

/* APR_SUCCESS with a NUL-terminated copy allocated from p (wiped when p is
 * cleared), or APR_NOTFOUND (absent, replaced or expired). */
apr_status_t obo_memo_get(obo_memo *m, apr_pool_t *p, const unsigned char *key,
                          void **val, apr_size_t *len);

void obo_memo_get_stats(obo_memo *m, obo_memo_stats *st);

#endif
