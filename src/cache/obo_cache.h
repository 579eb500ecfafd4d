/* SPDX-License-Identifier: Apache-2.0 */
/* Token cache: a small backend interface (shm via httpd's socache in the
 * glue, memcached in the core) plus what every backend shares: hashed keys,
 * AES-256-GCM sealed values bound to their key, and single-flight fills so
 * that concurrent misses on one key make one identity-provider call. */
#ifndef OBO_CACHE_H
#define OBO_CACHE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "obo_crypto.h"

/* A backend stores opaque bytes under printable keys (<= 250 bytes, no
 * spaces: memcached's rules). All calls must be safe from any thread. */
typedef struct obo_cache_backend {
    const char *name;
    /* APR_SUCCESS with *val allocated from p, APR_NOTFOUND on a miss, any
     * other status on failure (the caller treats it as a miss). */
    apr_status_t (*get)(void *ctx, apr_pool_t *p, const char *key,
                        unsigned char **val, apr_size_t *len);
    /* Store, replacing; the entry expires at `expiry` (absolute). */
    apr_status_t (*set)(void *ctx, apr_pool_t *p, const char *key,
                        const unsigned char *val, apr_size_t len, apr_time_t expiry);
    /* Store only if absent: APR_SUCCESS if stored, APR_EEXIST if present.
     * Atomic across every process and server sharing the backend. */
    apr_status_t (*add)(void *ctx, apr_pool_t *p, const char *key,
                        const unsigned char *val, apr_size_t len, apr_time_t expiry);
    apr_status_t (*del)(void *ctx, apr_pool_t *p, const char *key);
    void *ctx;
    /* Optional. A backend that evicts in insertion order (shmcb: each
     * subcache is a ring, a rewrite is a new insertion) counts what has been
     * written to it since it started, in millionths of the capacity of one
     * ring (an entry or its bytes, whichever fills first), following the
     * ring that turns fastest: an entry written when this read w is evicted
     * no sooner than about when it passes w + 1000000 less a quarter, read
     * or not. NULL for a backend that keeps what is read (memcached's LRU). */
    apr_uint64_t (*written)(void *ctx);
    /* Optional. Where locks and notes (obo_cache_lock, obo_cache_note) live
     * when not here: a backend for small values (up to 96 bytes) that live
     * seconds, so that what any request can cause (a lock per miss, a note
     * per unknown token) never turns this one over (shm: obo_locktab.h).
     * Its entries are not sealed. NULL: this backend (memcached, whose
     * slabs keep small entries apart from tokens anyway). */
    const struct obo_cache_backend *locks;
    /* Optional, for a lock's owner, each in one step (NULL: a get then a
     * del or set, which another holder may slip between): del_if removes
     * key only while it holds val (APR_EEXIST if it holds another);
     * hold keeps or retakes key holding val until expiry (APR_EEXIST if
     * another value is live). */
    apr_status_t (*del_if)(void *ctx, apr_pool_t *p, const char *key,
                           const unsigned char *val, apr_size_t len);
    apr_status_t (*hold)(void *ctx, apr_pool_t *p, const char *key,
                         const unsigned char *val, apr_size_t len, apr_time_t expiry);
    /* 1 when servers that do not share this server's cache secret may use
     * it too (memcached): obo_cache_create then names every entry, lock and
     * note by an HMAC under a key derived from the secret, so that those
     * servers never meet and nobody without the secret can compute a name. */
    int shared;
} obo_cache_backend;

/* OBO_CACHE_WRITTEN_FULL: the unit of obo_cache_backend.written. */
#define OBO_CACHE_WRITTEN_FULL APR_UINT64_C(1000000)

typedef struct obo_cache obo_cache;

/* What identifies a cached token (MSAL's choice of key). */
#define OBO_TOKEN_TYPE_ACCESS_TOKEN "urn:ietf:params:oauth:token-type:access_token"

typedef struct obo_cache_keyparts {
    const char *client_id;
    const char *authority;          /* token endpoint or tenant authority */
    const apr_array_header_t *scopes;  /* const char *; normalised: sorted, deduplicated */
    const char *exchange;           /* "on-behalf-of" or "token-exchange" */
    const char *audience;           /* RFC 8693 audience, or NULL */
    /* RFC 8693 requested_token_type, or NULL (an access token: the URN of
     * an access token is the same key as NULL) */
    const char *requested_token_type;
    const char *assertion;          /* the incoming token: only its SHA-256 is used */
    /* SHA-256 of assertion when the caller already has it (one hash of the
     * caller's token per request), or NULL: then it is computed here. */
    const unsigned char *assertion_sha256;
} obo_cache_keyparts;

/* "obo1:" + hex SHA-256 over the length-prefixed fields above: fixed
 * length, printable, never contains client input. */
char *obo_cache_key(apr_pool_t *p, const obo_cache_keyparts *k);

/* secret (any length >= 16 bytes) is stretched with HKDF-SHA256 into the
 * AEAD key. The cache lives as long as p. */
apr_status_t obo_cache_create(apr_pool_t *p, const obo_cache_backend *be,
                              const unsigned char *secret, apr_size_t secretlen,
                              obo_cache **out);

/* Decrypts with the key as associated data. APR_NOTFOUND on a miss, on an
 * expired entry, or on a value that fails authentication (logged). */
apr_status_t obo_cache_get(obo_cache *c, apr_pool_t *p, const char *key,
                           char **val, apr_size_t *len);
apr_status_t obo_cache_set(obo_cache *c, apr_pool_t *p, const char *key,
                           const char *val, apr_size_t len, apr_time_t expiry);
apr_status_t obo_cache_del(obo_cache *c, apr_pool_t *p, const char *key);

/* 1 and *written (obo_cache_backend.written) if the backend evicts in
 * insertion order; 0 if it keeps what is read. */
int obo_cache_written(const obo_cache *c, apr_uint64_t *written);

/* A named lock shared by every process and server on the backend (the
 * entry "<name>" holds a random token). APR_SUCCESS: taken until `until`,
 * *token identifies the holder; APR_EEXIST: someone holds it; other: the
 * backend failed. */
apr_status_t obo_cache_lock(obo_cache *c, apr_pool_t *p, const char *name, apr_time_t until,
                            const char **token);
/* Keeps a lock taken with obo_cache_lock until `until` (e.g. a backoff):
 * APR_EEXIST if another holder took it meanwhile (it is left to them). */
apr_status_t obo_cache_lock_hold(obo_cache *c, apr_pool_t *p, const char *name,
                                 const char *token, apr_time_t until);
/* Releases it if it still holds token. */
void obo_cache_unlock(obo_cache *c, apr_pool_t *p, const char *name, const char *token);

/* A small entry (at most OBO_CACHE_SMALL_MAX bytes) that requests of anyone
 * may cause to be rewritten again and again (an IdP's pause): on a backend
 * that evicts in insertion order and has a lock table (shm) it lives
 * there, plain (the table is the server's own memory), never among the
 * entries, whose ring one key rewritten at every pause would turn over
 * idle sessions (review 17A); elsewhere sealed among them as any entry.
 * set: APR_ENOSPC if too long for the table. */
#define OBO_CACHE_SMALL_MAX 96
apr_status_t obo_cache_set_small(obo_cache *c, apr_pool_t *p, const char *key,
                                 const char *val, apr_size_t len, apr_time_t expiry);
apr_status_t obo_cache_get_small(obo_cache *c, apr_pool_t *p, const char *key,
                                 char **val, apr_size_t *len);
apr_status_t obo_cache_del_small(obo_cache *c, apr_pool_t *p, const char *key);

/* A note shared like a lock (obo_cache_backend.locks): a fact about `name`
 * until `until`, e.g. "the IdP said this token is not active". A note only
 * ever refuses or delays, never admits: its backend is not sealed.
 * obo_cache_noted: 1 while the note lives. */
apr_status_t obo_cache_note(obo_cache *c, apr_pool_t *p, const char *name, apr_time_t until);
int obo_cache_noted(obo_cache *c, apr_pool_t *p, const char *name);

/* Produces a fresh value on a miss. *expiry is absolute; a fetch that fails
 * returns its status and may set *errval (an opaque error description the
 * caller understands) which in-process waiters receive too. */
typedef apr_status_t obo_cache_fetch_fn(void *baton, apr_pool_t *p,
                                        char **val, apr_size_t *len,
                                        apr_time_t *expiry, void **errval);

/* A fill's failure, for waiters in other processes (optional). encode
 * returns a NUL-terminated description of (rv, errval) to share, or NULL to
 * share nothing (waiters then take the lock over, one at a time); decode
 * turns it back into an errval allocated from p (NULL if unreadable). */
typedef char *obo_cache_err_encode_fn(apr_pool_t *p, apr_status_t rv, const void *errval);
typedef void *obo_cache_err_decode_fn(apr_pool_t *p, const char *buf, apr_size_t len);

typedef struct obo_cache_flight_opts {
    apr_interval_time_t lock_ttl;   /* how long a fill lock lives: >= the whole fetch */
    apr_interval_time_t max_wait;   /* how long a waiter waits for a live lock */
    apr_interval_time_t poll;       /* first poll interval (doubles, capped at 50 ms) */
    /* 1: fetch is called only by the holder of the backend lock, never in
     * the degraded paths (the backend fails, the lock cannot be taken,
     * takeovers exhausted): they return APR_EAGAIN without calling fetch.
     * For fills that must never run twice at once (a rotating refresh
     * token); 0 (ordinary exchanges): a failing cache still lets requests
     * through with an unlocked fetch. */
    int locked_only;
} obo_cache_flight_opts;

typedef struct obo_cache_errshare {
    obo_cache_err_encode_fn *encode;
    obo_cache_err_decode_fn *decode;
    /* 1: what encode returns is short (OBO_CACHE_NOTE_TEXT_MAX bytes, cut
     * there), holds nothing secret and only ever makes waiters fail: it is
     * kept beside the locks (obo_cache_backend.locks, unsealed), never among
     * tokens. For fills anyone can cause (an unknown opaque token): each
     * failure would otherwise write a token-cache entry (review 14A). */
    int beside_locks;
} obo_cache_errshare;

/* The longest failure text kept beside the locks. */
#define OBO_CACHE_NOTE_TEXT_MAX 48

/* Cache lookup with single flight. On a miss: threads of this process wait
 * on an in-process flight for the same key; one thread per process then
 * tries backend add() of "<key>.lock"; the winner calls fetch, stores the
 * sealed value (or, when it failed and share->encode shares the failure, a
 * sealed "<key>.fail" entry bound to its lock for a few seconds), deletes
 * the lock. Losers never call fetch while the lock lives: they poll get()
 * until the value appears (a hit), the lock disappears with a shared failure
 * (they return the holder's status and decoded errval), or the lock
 * disappears without either (holder died, its lock expired, or it shared
 * nothing): then they race for the lock again and one of them fetches. A
 * waiter that is still behind a live lock after max_wait returns
 * APR_TIMEUP with no errval and no fetch. Backend errors (three in a row
 * while waiting) degrade to calling fetch directly, or with
 * opts->locked_only to APR_EAGAIN without a fetch.
 * *hit is 1 when the value came from the cache (or another's fill). */
apr_status_t obo_cache_get_or_fetch(obo_cache *c, apr_pool_t *p, const char *key,
                                    const obo_cache_flight_opts *opts,
                                    obo_cache_fetch_fn *fetch, void *baton,
                                    char **val, apr_size_t *len, int *hit,
                                    void **errval);

/* The same, sharing a failed fill's (status, errval) with the waiters of
 * other processes through share (NULL: as obo_cache_get_or_fetch). */
apr_status_t obo_cache_get_or_fetch_ex(obo_cache *c, apr_pool_t *p, const char *key,
                                       const obo_cache_flight_opts *opts,
                                       const obo_cache_errshare *share,
                                       obo_cache_fetch_fn *fetch, void *baton,
                                       char **val, apr_size_t *len, int *hit,
                                       void **errval);

#endif
