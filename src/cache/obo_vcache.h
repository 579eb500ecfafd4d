/* SPDX-License-Identifier: Apache-2.0 */
/* The per-process L1 of validated bearer tokens: SHA-256 of the exact token
 * -> the parsed header and claims that a full validation produced, so that a
 * repeated token is neither base64-decoded, nor JSON-parsed, nor verified
 * again. An entry records which key set (owner, generation) verified it and
 * is only returned for that same key set: any JWKS change forgets it. What
 * depends on the Location (alg allow-list, typ, audience, expiry with skew,
 * Require) is NOT cached: the caller checks it on every hit.
 *
 * Bounded (a fixed number of direct-mapped slots; a new entry replaces the
 * one sharing its slot) and safe under threads: the slots are split over
 * shards, each with its own mutex held only to compare a key and take a
 * reference, never across I/O, parsing or crypto. Entries hold immutable
 * jansson objects shared by reference (jansson's reference counts are
 * atomic); nobody may modify them. */
#ifndef OBO_VCACHE_H
#define OBO_VCACHE_H

#include <apr_pools.h>
#include <jansson.h>

#define OBO_VCACHE_KEY_LEN 32
#define OBO_VCACHE_DEFAULT_SLOTS 4096

typedef struct obo_vcache obo_vcache;

typedef struct obo_vcache_stats {
    unsigned long hits, misses, stores, evictions;
    unsigned long entries;      /* slots in use now */
    unsigned long deferred;     /* first sightings not admitted (obo_vcache_offer) */
} obo_vcache_stats;

/* slots: capacity (0: OBO_VCACHE_DEFAULT_SLOTS). Every reference the cache
 * holds is dropped when p is cleared. */
apr_status_t obo_vcache_create(apr_pool_t *p, unsigned slots, obo_vcache **out);

/* Remembers that key (SHA-256 of the token) was verified by owner's key set
 * of generation gen, with these parsed parts (a reference to each is
 * taken). Replaces whatever shared the slot. */
void obo_vcache_put(obo_vcache *c, const unsigned char *key, const void *owner,
                    unsigned long gen, json_t *header, json_t *payload);

/* obo_vcache_put under an admission rule (TinyLFU's "doorkeeper"): a token
 * takes a free slot (or refreshes its own) at once, but replaces another
 * entry only on its second sighting; a first sighting is only remembered,
 * as a 32-bit tag in a table of 4 x slots. Tokens that come once (many
 * users, one request each) then neither evict the tokens that repeat nor
 * keep parsed claims alive to be freed later by another thread, which made
 * the allocator grow and trim its heaps on every request. Returns 1 when
 * stored. */
int obo_vcache_offer(obo_vcache *c, const unsigned char *key, const void *owner,
                     unsigned long gen, json_t *header, json_t *payload);

/* APR_SUCCESS with *header and *payload (references released when p is
 * cleared) if key is present and was verified by owner's key set gen;
 * APR_NOTFOUND otherwise. */
apr_status_t obo_vcache_get(obo_vcache *c, apr_pool_t *p, const unsigned char *key,
                            const void *owner, unsigned long gen,
                            json_t **header, json_t **payload);

void obo_vcache_get_stats(obo_vcache *c, obo_vcache_stats *st);

#endif
