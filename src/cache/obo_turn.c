/* SPDX-License-Identifier: Apache-2.0 */
/* See obo_turn.h. A count of the whole cache let one ring pass entries that
 * a quarter of the cache had not yet been written over: one user opening
 * session after session rewrote their list of sessions into one ring at
 * each start, and another user's session in that ring was evicted while in
 * use (issue 14, A1). */
#include <string.h>
#include "obo_turn.h"
#include "obo_cache.h"

apr_status_t obo_turn_setup(obo_turn *t, apr_uint64_t *counts, apr_size_t entries,
                            apr_size_t bytes, apr_size_t rings)
{
    if (!rings || rings > OBO_TURN_RINGS_MAX || (rings & (rings - 1)) || entries < rings
        || bytes < rings) {
        return APR_EINVAL;
    }
    memset(counts, 0, OBO_TURN_COUNTS_SIZE);
    t->counts = counts;
    t->rings = rings;
    t->per_entry = OBO_CACHE_WRITTEN_FULL * rings / entries;
    t->per_kbyte = OBO_CACHE_WRITTEN_FULL * 1024 * rings / bytes;
    return APR_SUCCESS;
}

/* A ring's count is first raised to within OBO_TURN_LAG of the figure, so
 * that it moves the figure only while it turns faster than the others: the
 * figure then advances by at least what any one ring took less the lag, and
 * with rings that turn alike about as fast as each of them. */
void obo_turn_count(const obo_turn *t, unsigned int ring, apr_size_t bytes)
{
    apr_uint64_t by_bytes = t->per_kbyte * bytes / 1024;
    apr_uint64_t *count = &t->counts[1 + (ring & (t->rings - 1))];
    apr_uint64_t top = __atomic_load_n(&t->counts[0], __ATOMIC_RELAXED);
    apr_uint64_t floor = top > OBO_TURN_LAG ? top - OBO_TURN_LAG : 0;
    apr_uint64_t v = *count > floor ? *count : floor;

    v += by_bytes > t->per_entry ? by_bytes : t->per_entry;
    *count = v;
    if (v > top) {
        __atomic_store_n(&t->counts[0], v, __ATOMIC_RELAXED);
    }
}

apr_uint64_t obo_turn_top(const obo_turn *t)
{
    return __atomic_load_n(&t->counts[0], __ATOMIC_RELAXED);
}
