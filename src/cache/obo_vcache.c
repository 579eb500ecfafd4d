/* SPDX-License-Identifier: Apache-2.0 */
/* Per-process L1 of validated tokens (see obo_vcache.h). */
#include "obo_vcache.h"

#include <string.h>
#include <apr_atomic.h>
#include <apr_thread_mutex.h>
#include "obo_crypto.h"

/* Enough shards that 25-64 threads of one process rarely meet on a lock
 * that is held for a key comparison and two reference increments. */
#define SHARDS 64
/* Doorkeeper tags per slot: enough to remember a token across the few
 * thousand other first sightings that pass between its first and second
 * request, at 4 bytes each. */
#define SEEN_PER_SLOT 4

typedef struct entry {
    unsigned char key[OBO_VCACHE_KEY_LEN];
    const void *owner;
    unsigned long gen;
    json_t *header;             /* NULL: empty slot */
    json_t *payload;
} entry;

typedef struct shard {
    apr_thread_mutex_t *lock;
    obo_vcache_stats stats;
} shard;

struct obo_vcache {
    entry *slots;
    unsigned nslots;
    apr_uint32_t *seen;         /* doorkeeper: tags of tokens seen once */
    unsigned nseen;
    shard shards[SHARDS];
};

static apr_status_t vcache_cleanup(void *data)
{
    obo_vcache *c = data;
    unsigned i;

    for (i = 0; i < c->nslots; i++) {
        json_decref(c->slots[i].header);
        json_decref(c->slots[i].payload);
        c->slots[i].header = c->slots[i].payload = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t obo_vcache_create(apr_pool_t *p, unsigned slots, obo_vcache **out)
{
    obo_vcache *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv = APR_SUCCESS;
    unsigned i;

    c->nslots = slots ? slots : OBO_VCACHE_DEFAULT_SLOTS;
    c->slots = apr_pcalloc(p, sizeof(entry) * c->nslots);
    c->nseen = c->nslots * SEEN_PER_SLOT;
    c->seen = apr_pcalloc(p, sizeof(*c->seen) * c->nseen);
    for (i = 0; i < SHARDS && rv == APR_SUCCESS; i++) {
        rv = apr_thread_mutex_create(&c->shards[i].lock, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        apr_pool_cleanup_register(p, c, vcache_cleanup, apr_pool_cleanup_null);
        *out = c;
    }
    return rv;
}

/* Four bytes of a key; keys are digests: any four are uniformly distributed. */
static apr_uint32_t key32(const unsigned char *key, int at)
{
    return ((apr_uint32_t)key[at] << 24) | ((apr_uint32_t)key[at + 1] << 16)
           | ((apr_uint32_t)key[at + 2] << 8) | key[at + 3];
}

static entry *slot_of(obo_vcache *c, const unsigned char *key, shard **sh)
{
    unsigned i = key32(key, 0) % c->nslots;

    *sh = &c->shards[i % SHARDS];
    return &c->slots[i];
}

void obo_vcache_put(obo_vcache *c, const unsigned char *key, const void *owner,
                    unsigned long gen, json_t *header, json_t *payload)
{
    json_t *old_h, *old_p;
    shard *sh;
    entry *e = slot_of(c, key, &sh);

    if (!header || !payload) {
        return;
    }
    json_incref(header);
    json_incref(payload);
    apr_thread_mutex_lock(sh->lock);
    old_h = e->header;
    old_p = e->payload;
    memcpy(e->key, key, OBO_VCACHE_KEY_LEN);
    e->owner = owner;
    e->gen = gen;
    e->header = header;
    e->payload = payload;
    sh->stats.stores++;
    if (old_h) {
        sh->stats.evictions++;
    }
    else {
        sh->stats.entries++;
    }
    apr_thread_mutex_unlock(sh->lock);
    /* Freeing the replaced objects is the slow part: outside the lock. */
    json_decref(old_h);
    json_decref(old_p);
}

/* The doorkeeper's slot and tag for a key: other bytes of the digest than
 * slot_of uses; a tag is never 0 (an empty slot). */
static apr_uint32_t *seen_of(obo_vcache *c, const unsigned char *key, apr_uint32_t *tag)
{
    *tag = key32(key, 8) | 1u;
    return &c->seen[key32(key, 4) % c->nseen];
}

int obo_vcache_offer(obo_vcache *c, const unsigned char *key, const void *owner,
                     unsigned long gen, json_t *header, json_t *payload)
{
    apr_uint32_t tag, *seen = seen_of(c, key, &tag);
    shard *sh;
    entry *e = slot_of(c, key, &sh);
    int admit;

    apr_thread_mutex_lock(sh->lock);
    /* A free slot, the token's own, or one a JWKS change of the same
     * provider made dead. Another provider's entry (a virtual host with
     * another issuer shares the L1) is alive: its one-shot tokens must not
     * push it out either. */
    admit = !e->header || (e->owner == owner && e->gen != gen)
            || obo_ct_equal(e->key, OBO_VCACHE_KEY_LEN, key, OBO_VCACHE_KEY_LEN);
    /* The tag table is read and written with atomics rather than under a
     * lock of its own: a race costs one more full validation of a token or
     * admits one a request early; neither is wrong. */
    if (!admit && !(admit = apr_atomic_read32(seen) == tag)) {
        apr_atomic_set32(seen, tag);
        sh->stats.deferred++;
    }
    apr_thread_mutex_unlock(sh->lock);
    if (admit) {
        obo_vcache_put(c, key, owner, gen, header, payload);
    }
    return admit;
}

static apr_status_t json_release(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

apr_status_t obo_vcache_get(obo_vcache *c, apr_pool_t *p, const unsigned char *key,
                            const void *owner, unsigned long gen,
                            json_t **header, json_t **payload)
{
    json_t *h = NULL, *pl = NULL;
    shard *sh;
    entry *e = slot_of(c, key, &sh);

    apr_thread_mutex_lock(sh->lock);
    if (e->header && e->owner == owner && e->gen == gen
        && obo_ct_equal(e->key, OBO_VCACHE_KEY_LEN, key, OBO_VCACHE_KEY_LEN)) {
        h = json_incref(e->header);
        pl = json_incref(e->payload);
        sh->stats.hits++;
    }
    else {
        sh->stats.misses++;
    }
    apr_thread_mutex_unlock(sh->lock);
    if (!h) {
        return APR_NOTFOUND;
    }
    apr_pool_cleanup_register(p, h, json_release, apr_pool_cleanup_null);
    apr_pool_cleanup_register(p, pl, json_release, apr_pool_cleanup_null);
    *header = h;
    *payload = pl;
    return APR_SUCCESS;
}

void obo_vcache_get_stats(obo_vcache *c, obo_vcache_stats *st)
{
    unsigned i;

    memset(st, 0, sizeof(*st));
    for (i = 0; i < SHARDS; i++) {
        shard *sh = &c->shards[i];
        apr_thread_mutex_lock(sh->lock);
        st->hits += sh->stats.hits;
        st->misses += sh->stats.misses;
        st->stores += sh->stats.stores;
        st->evictions += sh->stats.evictions;
        st->entries += sh->stats.entries;
        st->deferred += sh->stats.deferred;
        apr_thread_mutex_unlock(sh->lock);
    }
}
