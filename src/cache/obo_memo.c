/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded per-process memo (see obo_memo.h). */
#include "obo_memo.h"

#include <stdlib.h>
#include <string.h>
#include <apr_thread_mutex.h>
#include <openssl/crypto.h>
#include "obo_crypto.h"

/* Slots are split over shards, each with its own mutex: 25-64 threads of a
 * process hit the L1 on every request, and one lock for all of them was a
 * visible share of the hit path's time (futex waits). */
#define SHARDS 16

typedef struct slot {
    unsigned char key[OBO_MEMO_KEY_LEN];
    unsigned char *val;      /* malloc'd, NULL when empty */
    apr_size_t len;
    apr_time_t expiry;
} slot;

typedef struct shard {
    apr_thread_mutex_t *lock;
    obo_memo_stats stats;
} shard;

struct obo_memo {
    slot *slots;
    unsigned nslots;
    obo_memo_release_fn *release;
    shard shards[SHARDS];
};

static void release_free(void *val, apr_size_t len)
{
    free(val);
}

/* A value leaves the memo: its bytes (an access token, in the L1) must not
 * stay behind in the heap for the next malloc to hand out. */
static void value_release(obo_memo *m, unsigned char *val, apr_size_t len)
{
    if (val) {
        OPENSSL_cleanse(val, len);
        m->release(val, len);
    }
}

static apr_status_t memo_cleanup(void *data)
{
    obo_memo *m = data;
    unsigned i;

    for (i = 0; i < m->nslots; i++) {
        value_release(m, m->slots[i].val, m->slots[i].len);
        m->slots[i].val = NULL;
        m->slots[i].len = 0;
    }
    return APR_SUCCESS;
}

void obo_memo_set_release(obo_memo *m, obo_memo_release_fn *release)
{
    m->release = release ? release : release_free;
}

apr_status_t obo_memo_create(apr_pool_t *p, unsigned slots, obo_memo **out)
{
    obo_memo *m = apr_pcalloc(p, sizeof(*m));
    apr_status_t rv = APR_SUCCESS;
    unsigned i;

    m->nslots = slots ? slots : 1;
    m->release = release_free;
    m->slots = apr_pcalloc(p, sizeof(slot) * m->nslots);
    for (i = 0; i < SHARDS && rv == APR_SUCCESS; i++) {
        rv = apr_thread_mutex_create(&m->shards[i].lock, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        apr_pool_cleanup_register(p, m, memo_cleanup, apr_pool_cleanup_null);
        *out = m;
    }
    return rv;
}

/* Keys are digests: any four bytes are uniformly distributed. */
static slot *slot_of(obo_memo *m, const unsigned char *key, shard **sh)
{
    apr_uint32_t h = ((apr_uint32_t)key[0] << 24) | ((apr_uint32_t)key[1] << 16)
                     | ((apr_uint32_t)key[2] << 8) | key[3];
    unsigned i = h % m->nslots;

    *sh = &m->shards[i % SHARDS];
    return &m->slots[i];
}

void obo_memo_put(obo_memo *m, const unsigned char *key, const void *val, apr_size_t len,
                  apr_time_t expiry)
{
    unsigned char *copy, *old;
    apr_size_t old_len;
    shard *sh;
    slot *s;

    if (len > OBO_MEMO_MAX_VALUE || !(copy = malloc(len ? len : 1))) {
        return;
    }
    memcpy(copy, val, len);
    s = slot_of(m, key, &sh);
    apr_thread_mutex_lock(sh->lock);
    old = s->val;
    old_len = s->len;
    memcpy(s->key, key, OBO_MEMO_KEY_LEN);
    s->val = copy;
    s->len = len;
    s->expiry = expiry;
    sh->stats.stores++;
    apr_thread_mutex_unlock(sh->lock);
    value_release(m, old, old_len);     /* wiping and freeing: outside the lock */
}

apr_status_t obo_memo_get(obo_memo *m, apr_pool_t *p, const unsigned char *key,
                          void **val, apr_size_t *len)
{
    apr_status_t rv = APR_NOTFOUND;
    apr_time_t now = apr_time_now();
    char *copy = NULL;
    shard *sh;
    slot *s = slot_of(m, key, &sh);

    apr_thread_mutex_lock(sh->lock);
    if (s->val && (!s->expiry || s->expiry > now)
        && obo_ct_equal(s->key, OBO_MEMO_KEY_LEN, key, OBO_MEMO_KEY_LEN)) {
        copy = apr_palloc(p, s->len + 1);
        memcpy(copy, s->val, s->len);
        copy[s->len] = '\0';
        *len = s->len;
        rv = APR_SUCCESS;
        sh->stats.hits++;
    }
    else {
        sh->stats.misses++;
    }
    apr_thread_mutex_unlock(sh->lock);
    if (rv == APR_SUCCESS) {
        obo_cleanse_on_clear(p, copy, *len + 1);
        *val = copy;
    }
    return rv;
}

void obo_memo_get_stats(obo_memo *m, obo_memo_stats *st)
{
    unsigned i;

    memset(st, 0, sizeof(*st));
    for (i = 0; i < SHARDS; i++) {
        apr_thread_mutex_lock(m->shards[i].lock);
        st->hits += m->shards[i].stats.hits;
        st->misses += m->shards[i].stats.misses;
        st->stores += m->shards[i].stats.stores;
        apr_thread_mutex_unlock(m->shards[i].lock);
    }
}
