/* SPDX-License-Identifier: Apache-2.0 */
/* A table of small, short-lived entries (locks and notes) kept apart from
 * the token cache. Single flight takes a lock entry for every miss, and an
 * introspected token that is not active leaves a note: both can be caused
 * by anyone who sends a request, authenticated or not. In shmcb, where
 * each ring drops its oldest entry for every new one, read or not, that
 * traffic would evict tokens and sessions in use; here it only turns over
 * entries of its own kind, which live seconds.
 *
 * Fixed memory the caller provides (shared memory for processes), a slot
 * per entry keyed by a SHA-256 of its name salted with the table's random
 * salt (so nobody can aim names at one window), open addressing over a
 * short window. An entry taken by add is a lock; one stored by set is a note
 * (unless it rewrites a held lock). When the window is full of live
 * entries, a note gives way first (the one that ends first), and a lock
 * only to another lock: notes, which anyone can cause, never push out a
 * held lock; a note that finds only held locks is not kept (one more
 * identity-provider call at most). Every call must be made under the
 * caller's lock (the shm cache's global mutex). */
#ifndef OBO_LOCKTAB_H
#define OBO_LOCKTAB_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#define OBO_LOCKTAB_VALUE_MAX 96        /* a lock token (32 bytes), or a shared
                                         * failure: its lock's token, status, text */
#define OBO_LOCKTAB_WINDOW 16           /* slots a name may occupy */
#define OBO_LOCKTAB_DEFAULT_SLOTS 4096  /* about 560 KiB */

typedef struct obo_locktab_slot obo_locktab_slot;

typedef struct obo_locktab {
    obo_locktab_slot *slots;
    apr_size_t nslots;              /* a power of two */
} obo_locktab;

/* Bytes of memory for nslots slots (a power of two >= OBO_LOCKTAB_WINDOW). */
apr_size_t obo_locktab_size(apr_size_t nslots);

/* t over mem (obo_locktab_size(nslots) bytes, zeroed here, with a fresh
 * random salt). APR_EINVAL if nslots is not a power of two >=
 * OBO_LOCKTAB_WINDOW; the random generator's status if it failed. */
apr_status_t obo_locktab_setup(obo_locktab *t, void *mem, apr_size_t nslots);

/* The live entry of name: APR_SUCCESS with *val (a copy from p) and *len,
 * or APR_NOTFOUND. `now` is the current time (a parameter for tests). */
apr_status_t obo_locktab_get(const obo_locktab *t, apr_pool_t *p, const char *name,
                             apr_time_t now, unsigned char **val, apr_size_t *len);

/* Store (replace: set; only if absent or ended: add, else APR_EEXIST) a
 * value of at most OBO_LOCKTAB_VALUE_MAX bytes (else APR_ENOSPC) until
 * `until`. A note (set of a name that holds no lock) whose window holds
 * only live locks is not kept: APR_ENOSPC. */
apr_status_t obo_locktab_set(const obo_locktab *t, const char *name, const void *val,
                             apr_size_t len, apr_time_t until, apr_time_t now);
apr_status_t obo_locktab_add(const obo_locktab *t, const char *name, const void *val,
                             apr_size_t len, apr_time_t until, apr_time_t now);

/* Removes name's entry: APR_SUCCESS, or APR_NOTFOUND. */
apr_status_t obo_locktab_del(const obo_locktab *t, const char *name);

/* The owner's operations on a lock, each one step under the caller's lock
 * (a get then a del or set would let another holder's lock be removed or
 * overwritten in between). del_if removes name's entry only if it holds
 * val: APR_SUCCESS, APR_NOTFOUND (none live) or APR_EEXIST (another
 * value). hold keeps or retakes name's lock holding val until `until`:
 * APR_EEXIST if a live entry holds another value. */
apr_status_t obo_locktab_del_if(const obo_locktab *t, const char *name, const void *val,
                                apr_size_t len, apr_time_t now);
apr_status_t obo_locktab_hold(const obo_locktab *t, const char *name, const void *val,
                              apr_size_t len, apr_time_t until, apr_time_t now);

/* Entries that gave way while live (for metrics and tests). */
apr_uint64_t obo_locktab_displaced(const obo_locktab *t);

#endif
