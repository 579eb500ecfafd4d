/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger of live sessions (see obo_ledger.h). Open addressing over a
 * window of OBO_LEDGER_WINDOW slots from the key's home slot; each slot is
 * one atomic word, so writers in any process never lock: a lost race only
 * retries. */
#include "obo_ledger.h"

#include <stdatomic.h>
#include <string.h>

/* "oboledg1": change it with any change of obo_ledger_block. */
#define OBO_LEDGER_MAGIC APR_UINT64_C(0x6f626f6c65646731)
#define OBO_LEDGER_WINDOW 32
#define OBO_LEDGER_TRIES 4
/* A live session pushed out within this long makes the count a lower bound. */
#define OBO_LEDGER_FULL_S 3600

typedef struct obo_ledger_block {
    apr_uint64_t magic;            /* set last: the block is initialised */
    apr_uint64_t layout;
    atomic_ullong pushed;          /* Unix seconds of the last live entry pushed out */
    atomic_ullong used;            /* a session was ever entered */
    atomic_ullong slot[OBO_LEDGER_SLOTS];
} obo_ledger_block;

static obo_ledger_block *obo_lb;

apr_size_t obo_ledger_size(void)
{
    return sizeof(obo_ledger_block);
}

apr_status_t obo_ledger_attach(void *mem, apr_size_t len)
{
    obo_ledger_block *b = mem;

#if ATOMIC_LLONG_LOCK_FREE != 2
    return APR_ENOTIMPL;   /* emulated atomics lock per process */
#endif
    if (!b || len < sizeof(*b)) {
        return APR_EINVAL;
    }
    if (b->magic != OBO_LEDGER_MAGIC || b->layout != sizeof(*b)) {
        memset(b, 0, sizeof(*b));
        b->layout = sizeof(*b);
        b->magic = OBO_LEDGER_MAGIC;
    }
    obo_lb = b;
    return APR_SUCCESS;
}

void obo_ledger_detach(void)
{
    obo_lb = NULL;
}

/* FNV-1a with a final mix: the keys are random, the mix spreads the
 * home slots of keys that share a prefix. */
static apr_uint64_t obo_ledger_hash(const char *key)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);

    for (; *key; key++) {
        h = (h ^ (unsigned char)*key) * APR_UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= APR_UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static apr_uint64_t obo_ledger_id(apr_uint64_t h)
{
    apr_uint64_t id = h >> 32;

    return id ? id : 1;            /* 0 marks an empty slot */
}

static apr_uint64_t obo_ledger_end(apr_uint64_t v)
{
    return v & APR_UINT64_C(0xffffffff);
}

static atomic_ullong *obo_ledger_at(apr_uint64_t h, int i)
{
    return &obo_lb->slot[(h + (apr_uint64_t)i) & (OBO_LEDGER_SLOTS - 1)];
}

/* The position in the window of the entry of `id`, or -1. */
static int obo_ledger_find(apr_uint64_t h, apr_uint64_t id, apr_uint64_t *v)
{
    int i;

    for (i = 0; i < OBO_LEDGER_WINDOW; i++) {
        *v = atomic_load_explicit(obo_ledger_at(h, i), memory_order_relaxed);
        if (*v && *v >> 32 == id) {
            return i;
        }
    }
    return -1;
}

/* Where a new entry goes: the first empty or ended slot, else the one
 * nearest its end (pushed out: *push set). */
static int obo_ledger_free(apr_uint64_t h, apr_uint64_t now, apr_uint64_t *v, int *push)
{
    apr_uint64_t w, best_end = ~APR_UINT64_C(0);
    int i, best = 0;

    for (i = 0; i < OBO_LEDGER_WINDOW; i++) {
        w = atomic_load_explicit(obo_ledger_at(h, i), memory_order_relaxed);
        if (!w || obo_ledger_end(w) <= now) {
            *v = w;
            *push = 0;
            return i;
        }
        if (obo_ledger_end(w) < best_end) {
            best_end = obo_ledger_end(w);
            best = i;
            *v = w;
        }
    }
    *push = 1;
    return best;
}

/* Two processes may enter one session at once into two slots: the one
 * later in the window gives way (both see the earlier one). */
static void obo_ledger_dedup(apr_uint64_t h, apr_uint64_t id, int mine, apr_uint64_t word)
{
    apr_uint64_t v;
    int first = obo_ledger_find(h, id, &v);

    if (first >= 0 && first < mine) {
        apr_uint64_t exp = word;
        atomic_compare_exchange_strong(obo_ledger_at(h, mine), &exp, 0);
        if (obo_ledger_end(v) < obo_ledger_end(word)) {
            atomic_compare_exchange_strong(obo_ledger_at(h, first), &v, word);
        }
    }
}

void obo_ledger_seen(const char *key, apr_time_t until)
{
    apr_uint64_t h, id, v = 0, word, now = (apr_uint64_t)apr_time_sec(apr_time_now());
    apr_uint64_t end = until > 0 ? (apr_uint64_t)apr_time_sec(until) : 0;
    int i, tries, push = 0;

    if (!obo_lb || !key || end <= now) {
        if (key && obo_lb) {
            obo_ledger_gone(key);
        }
        return;
    }
    h = obo_ledger_hash(key);
    id = obo_ledger_id(h);
    word = id << 32 | (end & APR_UINT64_C(0xffffffff));
    for (tries = 0; tries < OBO_LEDGER_TRIES; tries++) {
        if ((i = obo_ledger_find(h, id, &v)) >= 0) {
            if (v == word || atomic_compare_exchange_strong(obo_ledger_at(h, i), &v, word)) {
                return;
            }
            continue;
        }
        i = obo_ledger_free(h, now, &v, &push);
        if (atomic_compare_exchange_strong(obo_ledger_at(h, i), &v, word)) {
            if (push) {
                atomic_store_explicit(&obo_lb->pushed, now, memory_order_relaxed);
            }
            obo_ledger_dedup(h, id, i, word);
            if (!atomic_load_explicit(&obo_lb->used, memory_order_relaxed)) {
                atomic_store_explicit(&obo_lb->used, 1, memory_order_relaxed);
            }
            return;
        }
    }
}

void obo_ledger_gone(const char *key)
{
    apr_uint64_t h, id, v;
    int i, tries = 0;

    if (!obo_lb || !key) {
        return;
    }
    h = obo_ledger_hash(key);
    id = obo_ledger_id(h);
    while (tries++ < 2 * OBO_LEDGER_WINDOW && (i = obo_ledger_find(h, id, &v)) >= 0) {
        /* a failed exchange means it changed meanwhile: look again */
        atomic_compare_exchange_strong(obo_ledger_at(h, i), &v, 0);
    }
}

int obo_ledger_used(void)
{
    return obo_lb && atomic_load_explicit(&obo_lb->used, memory_order_relaxed);
}

apr_int64_t obo_ledger_count(apr_time_t now, int *full)
{
    apr_uint64_t s = (apr_uint64_t)apr_time_sec(now), v, pushed;
    apr_int64_t n = 0;
    size_t i;

    if (!obo_lb) {
        return -1;
    }
    for (i = 0; i < OBO_LEDGER_SLOTS; i++) {
        v = atomic_load_explicit(&obo_lb->slot[i], memory_order_relaxed);
        n += v && obo_ledger_end(v) > s;
    }
    if (full) {
        pushed = atomic_load_explicit(&obo_lb->pushed, memory_order_relaxed);
        *full = pushed && s - pushed < OBO_LEDGER_FULL_S;
    }
    return n;
}
