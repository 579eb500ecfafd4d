/* SPDX-License-Identifier: Apache-2.0 */
/* The L1 of validated tokens as a data structure: bounded, evicting,
 * keyed by digest AND key set (owner, generation), references released,
 * and many threads at once. */
#include <pthread.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_crypto.h"
#include "obo_vcache.h"

static void key_of(const char *s, unsigned char *k)
{
    obo_sha256(s, strlen(s), k);
}

static int owner_a, owner_b;

static void test_put_get(apr_pool_t *p)
{
    obo_vcache *c = NULL;
    unsigned char k[32], other[32];
    json_t *h = json_pack("{s:s}", "alg", "RS256"), *pl = json_pack("{s:s}", "sub", "u1");
    json_t *gh = NULL, *gp = NULL;
    apr_pool_t *rp;
    obo_vcache_stats st;

    is_int(obo_vcache_create(p, 8, &c), APR_SUCCESS, "created");
    key_of("token-1", k);
    key_of("token-2", other);
    is_int(obo_vcache_get(c, p, k, &owner_a, 1, &gh, &gp), APR_NOTFOUND, "empty: miss");
    obo_vcache_put(c, k, &owner_a, 1, h, pl);
    is_int(pl->refcount, 2, "the cache holds its own reference");
    apr_pool_create(&rp, p);
    is_int(obo_vcache_get(c, rp, k, &owner_a, 1, &gh, &gp), APR_SUCCESS, "hit");
    ok(gh == h && gp == pl, "the same immutable objects, no copy");
    is_int(pl->refcount, 3, "the request holds one more");
    apr_pool_destroy(rp);
    is_int(pl->refcount, 2, "released with the request's pool");
    is_int(obo_vcache_get(c, p, k, &owner_a, 2, &gh, &gp), APR_NOTFOUND,
           "another generation of the key set: miss");
    is_int(obo_vcache_get(c, p, k, &owner_b, 1, &gh, &gp), APR_NOTFOUND,
           "another provider: miss");
    is_int(obo_vcache_get(c, p, other, &owner_a, 1, &gh, &gp), APR_NOTFOUND,
           "another token: miss");
    obo_vcache_get_stats(c, &st);
    ok(st.hits == 1 && st.misses == 4 && st.stores == 1 && st.entries == 1,
       "stats: 1 hit, 4 misses, 1 store, 1 entry");
    json_decref(h);
    json_decref(pl);
}

/* More tokens than slots: bounded, the newest of a slot wins, every
 * evicted entry's objects are freed (refcount back to the owner's one). */
static void test_eviction_bounded(apr_pool_t *p)
{
    enum { SLOTS = 16, N = 1000 };
    obo_vcache *c = NULL;
    json_t *objs[N];
    unsigned char k[32];
    json_t *gh = NULL, *gp = NULL;
    obo_vcache_stats st;
    apr_pool_t *mp;
    int i, held = 0, last_hit;

    apr_pool_create(&mp, p);
    obo_vcache_create(mp, SLOTS, &c);
    for (i = 0; i < N; i++) {
        objs[i] = json_pack("{s:i}", "n", i);
        key_of(apr_psprintf(p, "tok-%d", i), k);
        obo_vcache_put(c, k, &owner_a, 1, objs[i], objs[i]);
    }
    obo_vcache_get_stats(c, &st);
    ok(st.entries <= SLOTS, "at most %d entries after %d tokens (got %lu)", SLOTS, N,
       st.entries);
    is_int(st.evictions, N - st.entries, "every other store evicted one");
    for (i = 0; i < N; i++) {
        held += objs[i]->refcount > 1;
    }
    is_int(held, st.entries, "only the entries in the cache still hold references");
    key_of(apr_psprintf(p, "tok-%d", N - 1), k);
    last_hit = obo_vcache_get(c, p, k, &owner_a, 1, &gh, &gp) == APR_SUCCESS;
    ok(last_hit && json_integer_value(json_object_get(gp, "n")) == N - 1,
       "the newest token is there");
    apr_pool_destroy(mp);
    held = 0;
    for (i = 0; i < N; i++) {
        held += objs[i]->refcount > 1;
    }
    /* the get above still holds one reference in p */
    is_int(held, last_hit ? 1 : 0, "the cache's pool cleanup released everything");
    for (i = 0; i < N; i++) {
        json_decref(objs[i]);
    }
}

/* The admission rule: a free slot is taken at once; an occupied one only
 * by a token seen before; one-shot tokens never evict a repeated one. */
static void test_offer_admission(apr_pool_t *p)
{
    enum { SLOTS = 4, N = 400 };
    obo_vcache *c = NULL;
    json_t *o = json_pack("{s:s}", "sub", "u");
    json_t *gh = NULL, *gp = NULL;
    unsigned char hot[32], k[32], stale[32];
    obo_vcache_stats st;
    int i, stored = 0, hot_kept = 1, first = -1;

    obo_vcache_create(p, SLOTS, &c);
    key_of("hot-token", hot);
    ok(obo_vcache_offer(c, hot, &owner_a, 1, o, o), "a free slot: admitted at once");
    /* one-shot tokens: each may take a free slot, never an occupied one */
    for (i = 0; i < N; i++) {
        key_of(apr_psprintf(p, "once-%d", i), k);
        if (obo_vcache_offer(c, k, &owner_a, 1, o, o)) {
            stored++;
            if (first < 0) {
                first = i;
            }
        }
        hot_kept &= obo_vcache_get(c, p, hot, &owner_a, 1, &gh, &gp) == APR_SUCCESS;
    }
    ok(stored <= SLOTS - 1, "%d one-shot tokens: only free slots taken (%d stored)", N, stored);
    ok(hot_kept, "the repeated token was never evicted by them");
    obo_vcache_get_stats(c, &st);
    is_int(st.evictions, 0, "no evictions");
    is_int(st.deferred, N - stored, "every other first sighting deferred");
    /* a second sighting is admitted, replacing whatever shared its slot */
    key_of(apr_psprintf(p, "once-%d", N - 1), k);
    if (obo_vcache_get(c, p, k, &owner_a, 1, &gh, &gp) != APR_SUCCESS) {
        ok(obo_vcache_offer(c, k, &owner_a, 1, o, o), "seen before: admitted");
        is_int(obo_vcache_get(c, p, k, &owner_a, 1, &gh, &gp), APR_SUCCESS, "and found");
    }
    else {
        ok(1, "seen before: already in a free slot");
        ok(1, "and found");
    }
    /* entries of another key set (a JWKS change) are dead: the first new
     * token of each slot replaces the old entry at once (100 tokens over 4
     * slots reach each one: (3/4)^100), later ones are first sightings */
    obo_vcache_get_stats(c, &st);
    is_int(st.entries, SLOTS, "the cache is full of key set 1's tokens");
    key_of("hot-token", stale);
    for (i = 0, stored = 0; i < 100; i++) {
        key_of(apr_psprintf(p, "gen2-%d", i), k);
        stored += obo_vcache_offer(c, k, &owner_a, 2, o, o);
    }
    is_int(stored, SLOTS, "after a key set change each slot takes a new token at once");
    is_int(obo_vcache_get(c, p, stale, &owner_a, 1, &gh, &gp), APR_NOTFOUND,
           "and the old entries are gone");
    /* another provider's entries are alive: its one-shot tokens wait */
    for (i = 0, stored = 0; i < 100; i++) {
        key_of(apr_psprintf(p, "other-provider-%d", i), k);
        stored += obo_vcache_offer(c, k, &owner_b, 1, o, o);
    }
    is_int(stored, 0, "one-shot tokens of another provider evict nothing");
    json_decref(o);
}

typedef struct targ {
    obo_vcache *c;
    int id, bad;
} targ;

static void *worker(void *data)
{
    targ *a = data;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 20000; i++) {
        unsigned char k[32];
        char name[32];
        json_t *gh = NULL, *gp = NULL;
        int n = (i * 7 + a->id) % 200;

        apr_snprintf(name, sizeof(name), "tok-%d", n);
        key_of(name, k);
        if (obo_vcache_get(a->c, p, k, &owner_a, 1, &gh, &gp) == APR_SUCCESS) {
            a->bad += json_integer_value(json_object_get(gp, "n")) != n;
        }
        else {
            json_t *o = json_pack("{s:i}", "n", n);
            obo_vcache_put(a->c, k, &owner_a, 1, o, o);
            json_decref(o);
        }
        if (i % 64 == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    return NULL;
}

static void test_threads(apr_pool_t *p)
{
    enum { T = 8 };
    pthread_t th[T];
    targ args[T];
    obo_vcache *c = NULL;
    obo_vcache_stats st;
    int i, bad = 0;

    obo_vcache_create(p, 64, &c);
    for (i = 0; i < T; i++) {
        args[i].c = c;
        args[i].id = i;
        args[i].bad = 0;
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    obo_vcache_get_stats(c, &st);
    is_int(bad, 0, "%d threads: every hit was the entry of its own token", T);
    ok(st.hits > 0 && st.evictions > 0, "with hits (%lu) and evictions (%lu)", st.hits,
       st.evictions);
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_put_get);
    TAP_RUN(test_eviction_bounded);
    TAP_RUN(test_offer_admission);
    TAP_RUN(test_threads);
    apr_terminate();
    return tap_done();
}
