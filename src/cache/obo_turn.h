/* SPDX-License-Identifier: Apache-2.0 */
/* How far an insertion-order cache has turned (obo_cache_backend.written).
 * shmcb splits its segment into rings (subcaches), each dropping its oldest
 * entry for a new one, read or not; a ring can turn much faster than the
 * cache as a whole (one key rewritten at every request lands in one ring
 * each time). The figure reported follows the ring that turns fastest, in
 * millionths (OBO_CACHE_WRITTEN_FULL) of one ring's capacity: an entry
 * written when it read w is evicted no sooner than when it passes
 * w + OBO_CACHE_WRITTEN_FULL - OBO_TURN_LAG. The counts live in memory the
 * caller provides (shared memory for a cache shared by processes) and are
 * updated under the caller's lock; obo_turn_top may be read without it. */
#ifndef OBO_TURN_H
#define OBO_TURN_H

#include <apr.h>
#include <apr_errno.h>

/* How far a ring's count may stay behind the figure (see obo_turn_count): a
 * smaller lag follows the fastest ring more closely, but makes the figure
 * run faster than rings that turn alike (random writes over 8 rings: 1.25
 * times the average ring with a quarter, 1.55 with an eighth). */
#define OBO_TURN_LAG (APR_UINT64_C(1000000) / 4)
#define OBO_TURN_RINGS_MAX 256      /* shmcb's most subcaches */
/* The memory obo_turn_setup needs: the figure, then one count per ring. */
#define OBO_TURN_COUNTS_SIZE ((1 + OBO_TURN_RINGS_MAX) * sizeof(apr_uint64_t))

typedef struct obo_turn {
    apr_uint64_t *counts;           /* [0] the figure, [1 + i] ring i */
    apr_size_t rings;               /* a power of two, 1 to OBO_TURN_RINGS_MAX */
    apr_uint64_t per_entry;         /* what an entry costs of one ring */
    apr_uint64_t per_kbyte;         /* what a KiB costs of one ring */
} obo_turn;

/* A cache of `entries` index entries and `bytes` of data in `rings` rings;
 * counts (OBO_TURN_COUNTS_SIZE bytes) is zeroed. APR_EINVAL when rings is
 * no power of two up to OBO_TURN_RINGS_MAX, or there is no capacity. */
apr_status_t obo_turn_setup(obo_turn *t, apr_uint64_t *counts, apr_size_t entries,
                            apr_size_t bytes, apr_size_t rings);

/* Counts one store of `bytes` (id and value) into ring `ring` (shmcb:
 * an id's first byte, masked by the ring count). */
void obo_turn_count(const obo_turn *t, unsigned int ring, apr_size_t bytes);

/* The figure: obo_cache_backend.written. */
apr_uint64_t obo_turn_top(const obo_turn *t);

#endif
