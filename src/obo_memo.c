/* Bounded per-process memo (see obo_memo.h). */
#include "obo_memo.h"

#include <stdlib.h>
#include <string.h>
#include <apr_thread_mutex.h>
#include <openssl/crypto.h>
#include "obo_crypto.h"

typedef struct slot {
    unsigned char key[OBO_MEMO_KEY_LEN];
    unsigned char *val;      /* malloc'd, NULL when empty */
    apr_size_t len;
    apr_time_t expiry;
} slot;

struct obo_memo {
    apr_thread_mutex_t *lock;
    slot *slots;
    unsigned nslots;
    obo_memo_stats stats;
    obo_memo_release_fn *release;
};

static void release_free(void *val, apr_size_t len)
{
    free(val);
}

/* A value leaves the memo: its bytes (an access token, in the L1) must not
 * stay behind in the heap for the next malloc to hand out. */
static void slot_release(obo_memo *m, slot *s)
{
    if (s->val) {
        OPENSSL_cleanse(s->val, s->len);
        m->release(s->val, s->len);
        s->val = NULL;
        s->len = 0;
    }
}

static apr_status_t memo_cleanup(void *data)
{
    obo_memo *m = data;
    unsigned i;

    for (i = 0; i < m->nslots; i++) {
        slot_release(m, &m->slots[i]);
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
    apr_status_t rv = apr_thread_mutex_create(&m->lock, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        m->nslots = slots ? slots : 1;
        m->release = release_free;
        m->slots = apr_pcalloc(p, sizeof(slot) * m->nslots);
        apr_pool_cleanup_register(p, m, memo_cleanup, apr_pool_cleanup_null);
        *out = m;
    }
    return rv;
}

/* Keys are digests: any four bytes are uniformly distributed. */
static slot *slot_of(obo_memo *m, const unsigned char *key)
{
    apr_uint32_t h = ((apr_uint32_t)key[0] << 24) | ((apr_uint32_t)key[1] << 16)
                     | ((apr_uint32_t)key[2] << 8) | key[3];
    return &m->slots[h % m->nslots];
}

void obo_memo_put(obo_memo *m, const unsigned char *key, const void *val, apr_size_t len,
                  apr_time_t expiry)
{
    unsigned char *copy;
    slot *s;

    if (len > OBO_MEMO_MAX_VALUE || !(copy = malloc(len ? len : 1))) {
        return;
    }
    memcpy(copy, val, len);
    apr_thread_mutex_lock(m->lock);
    s = slot_of(m, key);
    slot_release(m, s);
    memcpy(s->key, key, OBO_MEMO_KEY_LEN);
    s->val = copy;
    s->len = len;
    s->expiry = expiry;
    m->stats.stores++;
    apr_thread_mutex_unlock(m->lock);
}

apr_status_t obo_memo_get(obo_memo *m, apr_pool_t *p, const unsigned char *key,
                          void **val, apr_size_t *len)
{
    apr_status_t rv = APR_NOTFOUND;
    char *copy = NULL;
    slot *s;

    apr_thread_mutex_lock(m->lock);
    s = slot_of(m, key);
    if (s->val && (!s->expiry || s->expiry > apr_time_now())
        && obo_ct_equal(s->key, OBO_MEMO_KEY_LEN, key, OBO_MEMO_KEY_LEN)) {
        copy = apr_palloc(p, s->len + 1);
        obo_cleanse_on_clear(p, copy, s->len + 1);
        memcpy(copy, s->val, s->len);
        copy[s->len] = '\0';
        *len = s->len;
        rv = APR_SUCCESS;
    }
    if (rv == APR_SUCCESS) {
        m->stats.hits++;
    }
    else {
        m->stats.misses++;
    }
    apr_thread_mutex_unlock(m->lock);
    if (rv == APR_SUCCESS) {
        *val = copy;
    }
    return rv;
}

void obo_memo_get_stats(obo_memo *m, obo_memo_stats *st)
{
    apr_thread_mutex_lock(m->lock);
    *st = m->stats;
    apr_thread_mutex_unlock(m->lock);
}
