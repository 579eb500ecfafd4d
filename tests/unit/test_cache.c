/* SPDX-License-Identifier: Apache-2.0 */
/* obo_cache: keys, sealed values, single flight (threads and "processes")
 * and degradation when the backend fails; then the memcached backend
 * against a real memcached started and killed by this test. */
#include "tap.h"
#include "obo_cache.h"
#include "obo_cache_memcached.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#define MEMCACHED_BIN "/usr/bin/memcached"
#define SECRET "0123456789abcdef-test-secret"

/* ---- a thread-safe in-memory backend with failure switches */

typedef struct mem_entry {
    unsigned char *data;
    apr_size_t len;
    apr_time_t expiry;
} mem_entry;

typedef struct mem_be {
    obo_cache_backend be;
    apr_pool_t *pool;
    apr_thread_mutex_t *mu;
    apr_hash_t *h;
    int fail;               /* every call returns APR_EGENERAL */
    int keep_expired;       /* behave like a backend that outlives expiry */
    int fail_add;           /* add() alone returns APR_EGENERAL (get/set work) */
    int fail_get;           /* get() alone returns APR_EGENERAL (a value's server down,
                             * its lock's up: several memcached servers) */
    apr_uint32_t adds;
} mem_be;

static apr_status_t mem_get(void *ctx, apr_pool_t *p, const char *key,
                            unsigned char **val, apr_size_t *len)
{
    mem_be *m = ctx;
    apr_status_t rv = APR_NOTFOUND;
    mem_entry *e;

    if (m->fail || m->fail_get) {
        return APR_EGENERAL;
    }
    apr_thread_mutex_lock(m->mu);
    e = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (e && !m->keep_expired && e->expiry <= apr_time_now()) {
        apr_hash_set(m->h, key, APR_HASH_KEY_STRING, NULL);
        e = NULL;
    }
    if (e) {
        *val = apr_pmemdup(p, e->data, e->len);
        *len = e->len;
        rv = APR_SUCCESS;
    }
    apr_thread_mutex_unlock(m->mu);
    return rv;
}

static apr_status_t mem_store(mem_be *m, const char *key, const unsigned char *val,
                              apr_size_t len, apr_time_t expiry, int only_new)
{
    apr_status_t rv = APR_SUCCESS;
    mem_entry *e;

    if (m->fail) {
        return APR_EGENERAL;
    }
    apr_thread_mutex_lock(m->mu);
    e = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (only_new && e && e->expiry > apr_time_now()) {
        rv = APR_EEXIST;
    }
    else {
        e = apr_palloc(m->pool, sizeof(*e));
        e->data = apr_pmemdup(m->pool, val, len);
        e->len = len;
        e->expiry = expiry;
        apr_hash_set(m->h, apr_pstrdup(m->pool, key), APR_HASH_KEY_STRING, e);
    }
    apr_thread_mutex_unlock(m->mu);
    return rv;
}

static apr_status_t mem_set(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    return mem_store(ctx, key, val, len, expiry, 0);
}

static apr_status_t mem_add(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    apr_atomic_inc32(&((mem_be *)ctx)->adds);
    return ((mem_be *)ctx)->fail_add ? APR_EGENERAL : mem_store(ctx, key, val, len, expiry, 1);
}

static apr_status_t mem_del(void *ctx, apr_pool_t *p, const char *key)
{
    mem_be *m = ctx;
    apr_status_t rv = APR_NOTFOUND;

    if (m->fail) {
        return APR_EGENERAL;
    }
    apr_thread_mutex_lock(m->mu);
    if (apr_hash_get(m->h, key, APR_HASH_KEY_STRING)) {
        apr_hash_set(m->h, key, APR_HASH_KEY_STRING, NULL);
        rv = APR_SUCCESS;
    }
    apr_thread_mutex_unlock(m->mu);
    return rv;
}

static mem_be *mem_create(apr_pool_t *p)
{
    mem_be *m = apr_pcalloc(p, sizeof(*m));

    m->pool = p;
    m->h = apr_hash_make(p);
    apr_thread_mutex_create(&m->mu, APR_THREAD_MUTEX_DEFAULT, p);
    m->be.name = "memory";
    m->be.get = mem_get;
    m->be.set = mem_set;
    m->be.add = mem_add;
    m->be.del = mem_del;
    m->be.ctx = m;
    return m;
}

static obo_cache *cache_on(apr_pool_t *p, const obo_cache_backend *be)
{
    obo_cache *c = NULL;

    obo_cache_create(p, be, (const unsigned char *)SECRET, strlen(SECRET), &c);
    return c;
}

/* ---- a counting fetch and a thread harness */

typedef struct fetch_baton {
    apr_uint32_t calls;
    apr_interval_time_t sleep;
    apr_status_t rv;
    const char *val;
} fetch_baton;

static apr_status_t test_fetch(void *baton, apr_pool_t *p, char **val, apr_size_t *len,
                               apr_time_t *expiry, void **errval)
{
    fetch_baton *b = baton;
    apr_uint32_t n = apr_atomic_inc32(&b->calls) + 1;

    apr_sleep(b->sleep);
    if (b->rv == APR_SUCCESS) {
        *val = apr_psprintf(p, "%s#%u", b->val, n);
        *len = strlen(*val);
        *expiry = apr_time_now() + apr_time_from_sec(60);
    }
    else {
        *errval = apr_psprintf(p, "invalid_grant #%u", n);
    }
    return b->rv;
}

typedef struct worker {
    obo_cache *c;
    const char *key;
    const obo_cache_flight_opts *o;
    const obo_cache_errshare *share;    /* NULL: plain get_or_fetch */
    fetch_baton *fb;
    apr_pool_t *pool;
    apr_thread_t *t;
    apr_status_t rv;
    char *val;
    apr_size_t len;
    int hit;
    void *errval;
} worker;

/* Workers start together, so a slow thread start (valgrind) cannot turn a
 * follower into a late second leader after an uncached failure. */
static apr_uint32_t workers_gate;

static void *APR_THREAD_FUNC worker_run(apr_thread_t *t, void *data)
{
    worker *w = data;

    while (!apr_atomic_read32(&workers_gate)) {
        apr_sleep(1000);
    }
    w->rv = w->share
        ? obo_cache_get_or_fetch_ex(w->c, w->pool, w->key, w->o, w->share, test_fetch, w->fb,
                                    &w->val, &w->len, &w->hit, &w->errval)
        : obo_cache_get_or_fetch(w->c, w->pool, w->key, w->o, test_fetch, w->fb,
                                 &w->val, &w->len, &w->hit, &w->errval);
    return NULL;
}

static void workers_start(apr_pool_t *p, worker *w, int n)
{
    int i;

    apr_atomic_set32(&workers_gate, 0);
    for (i = 0; i < n; i++) {
        apr_pool_create_unmanaged_ex(&w[i].pool, NULL, NULL);
        apr_thread_create(&w[i].t, NULL, worker_run, &w[i], p);
    }
    apr_atomic_set32(&workers_gate, 1);
}

static void workers_join(worker *w, int n)
{
    apr_status_t trv;
    int i;

    for (i = 0; i < n; i++) {
        apr_thread_join(&trv, w[i].t);
    }
}

/* Results (and errvals) must stay valid until the caller's pool goes. */
static void workers_free(worker *w, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        apr_pool_destroy(w[i].pool);
    }
}

/* ---- keys */

static obo_cache_keyparts base_parts(apr_pool_t *p)
{
    obo_cache_keyparts k;
    apr_array_header_t *s = apr_array_make(p, 2, sizeof(const char *));

    memset(&k, 0, sizeof(k));
    APR_ARRAY_PUSH(s, const char *) = "api://downstream/read";
    APR_ARRAY_PUSH(s, const char *) = "offline_access";
    k.client_id = "client-1";
    k.authority = "https://login.example.com/tenant/oauth2/v2.0/token";
    k.scopes = s;
    k.exchange = "on-behalf-of";
    k.audience = NULL;
    k.assertion = "eyJ.header.payload.sig";
    return k;
}

static apr_array_header_t *scopes_of(apr_pool_t *p, const char *a, const char *b,
                                     const char *c)
{
    apr_array_header_t *s = apr_array_make(p, 3, sizeof(const char *));

    APR_ARRAY_PUSH(s, const char *) = a;
    APR_ARRAY_PUSH(s, const char *) = b;
    if (c) {
        APR_ARRAY_PUSH(s, const char *) = c;
    }
    return s;
}

static int key_is_safe(const char *key)
{
    int i, safe = strncmp(key, "obo1:", 5) == 0 && strlen(key) == 69;

    for (i = 5; safe && key[i]; i++) {
        safe = (key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f');
    }
    return safe;
}

static void test_key(apr_pool_t *p)
{
    obo_cache_keyparts b = base_parts(p), k;
    const char *base = obo_cache_key(p, &b);

    ok(key_is_safe(base), "key is obo1: + 64 lower-case hex (69 bytes)");
    is_str(obo_cache_key(p, &b), base, "key is deterministic");
    {
        unsigned char h[OBO_SHA256_LEN];

        obo_sha256(b.assertion, strlen(b.assertion), h);
        k = b;
        k.assertion_sha256 = h;
        is_str(obo_cache_key(p, &k), base, "a precomputed assertion hash gives the same key");
        h[0] ^= 1;
        ok(strcmp(obo_cache_key(p, &k), base) != 0, "the precomputed hash is what is used");
    }
    k = b;
    k.scopes = scopes_of(p, "offline_access", "api://downstream/read", "offline_access");
    is_str(obo_cache_key(p, &k), base, "scope order and duplicates do not matter");
    k.scopes = scopes_of(p, "Offline_access", "api://downstream/read", NULL);
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "scopes are case-sensitive");
    k = b;
    k.client_id = "client-2";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "client_id changes the key");
    k = b;
    k.authority = "https://login.example.com/other/oauth2/v2.0/token";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "authority changes the key");
    k = b;
    k.scopes = scopes_of(p, "api://downstream/read", "openid", NULL);
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "scopes change the key");
    k = b;
    k.exchange = "token-exchange";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "exchange type changes the key");
    k = b;
    k.audience = "";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "empty audience differs from none");
    k = b;
    k.requested_token_type = "urn:ietf:params:oauth:token-type:jwt";
    ok(strcmp(obo_cache_key(p, &k), base) != 0,
       "requested_token_type changes the key (two vhosts asking for other token types)");
    k.requested_token_type = "urn:ietf:params:oauth:token-type:access_token";
    is_str(obo_cache_key(p, &k), base, "asking for an access token is the default's key");
    k = b;
    k.assertion = "eyJ.header.payload.sig2";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "assertion changes the key");
    k = b;
    k.client_id = "client-1h";
    k.authority = "ttps://login.example.com/tenant/oauth2/v2.0/token";
    ok(strcmp(obo_cache_key(p, &k), base) != 0, "fields are length-prefixed (no shifting)");
    k = b;
    k.assertion = "a token with spaces\nand newlines\r\n";
    k.client_id = "client id with spaces";
    ok(key_is_safe(obo_cache_key(p, &k)), "spaces/newlines in input still give a safe key");
    ok(strstr(obo_cache_key(p, &k), "token") == NULL, "key contains no client input");
}

/* ---- sealed values */

static void test_sealed(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be), *other = NULL, *bad = NULL;
    apr_time_t exp = apr_time_now() + apr_time_from_sec(60);
    mem_entry *e1, *e2, tmp;
    char *val = NULL;
    apr_size_t len = 0;
    const char *other_secret = "another-secret-of-enough-length";

    ok(c != NULL, "cache created");
    is_int(obo_cache_create(p, &m->be, (const unsigned char *)"short", 5, &bad), APR_EINVAL,
           "a secret shorter than 16 bytes is refused");
    is_int(obo_cache_set(c, p, "obo1:k1", "token-one", 9, exp), APR_SUCCESS, "set k1");
    is_int(obo_cache_set(c, p, "obo1:k2", "token-two", 9, exp), APR_SUCCESS, "set k2");
    is_int(obo_cache_get(c, p, "obo1:k1", &val, &len), APR_SUCCESS, "get k1");
    ok(len == 9 && strcmp(val, "token-one") == 0, "k1 value round trips");
    e1 = apr_hash_get(m->h, "obo1:k1", APR_HASH_KEY_STRING);
    ok(e1 && e1->len > 9 && !memmem(e1->data, e1->len, "token-one", 9),
       "backend holds ciphertext, not the token");
    e2 = apr_hash_get(m->h, "obo1:k2", APR_HASH_KEY_STRING);
    tmp = *e1;
    *e1 = *e2;
    *e2 = tmp;
    is_int(obo_cache_get(c, p, "obo1:k1", &val, &len), APR_NOTFOUND,
           "swapped entry under k1 is a miss");
    is_int(obo_cache_get(c, p, "obo1:k2", &val, &len), APR_NOTFOUND,
           "swapped entry under k2 is a miss");
    obo_cache_create(p, &m->be, (const unsigned char *)other_secret, strlen(other_secret),
                     &other);
    obo_cache_set(c, p, "obo1:k3", "token-three", 11, exp);
    is_int(obo_cache_get(other, p, "obo1:k3", &val, &len), APR_NOTFOUND,
           "a cache with another secret cannot read the entry");
    is_int(obo_cache_get(c, p, "obo1:none", &val, &len), APR_NOTFOUND, "absent key: miss");
    is_int(obo_cache_del(c, p, "obo1:k3"), APR_SUCCESS, "delete");
    is_int(obo_cache_get(c, p, "obo1:k3", &val, &len), APR_NOTFOUND, "deleted: miss");
}

/* Review 24: on a shared backend (memcached) names are keyed by the
 * secret, so that servers with other secrets never overwrite each other. */
static void test_shared_names(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *a, *b = NULL;
    apr_time_t exp = apr_time_now() + apr_time_from_sec(60);
    const char *other_secret = "another-secret-of-enough-length";
    const char *tok = NULL;
    apr_hash_index_t *hi;
    char *val = NULL;
    apr_size_t len = 0;
    int named = 0, n = 0;

    m->be.shared = 1;
    a = cache_on(p, &m->be);
    obo_cache_create(p, &m->be, (const unsigned char *)other_secret, strlen(other_secret), &b);
    ok(a && b, "two caches with different secrets on one shared backend");
    obo_cache_set(a, p, "obosu:list", "server-a-list", 13, exp);
    obo_cache_set(b, p, "obosu:list", "server-b-list", 13, exp);
    is_int(obo_cache_get(a, p, "obosu:list", &val, &len), APR_SUCCESS, "a reads its entry");
    ok(val && strcmp(val, "server-a-list") == 0, "... b's write did not replace it");
    is_int(obo_cache_get(b, p, "obosu:list", &val, &len), APR_SUCCESS, "b reads its own");
    ok(val && strcmp(val, "server-b-list") == 0, "... its own value");
    ok(obo_cache_lock(a, p, "obosu:list.lock", exp, &tok) == APR_SUCCESS
       && obo_cache_lock(b, p, "obosu:list.lock", exp, &tok) == APR_SUCCESS,
       "locks of the same name do not meet either");
    obo_cache_note(a, p, "obo1:x.note", exp);
    ok(obo_cache_noted(a, p, "obo1:x.note") && !obo_cache_noted(b, p, "obo1:x.note"),
       "nor do notes");
    ok(apr_hash_get(m->h, "obosu:list", APR_HASH_KEY_STRING) == NULL
       && apr_hash_get(m->h, "obosu:list.lock", APR_HASH_KEY_STRING) == NULL,
       "no plain name reaches the backend");
    for (hi = apr_hash_first(p, m->h); hi; hi = apr_hash_next(hi)) {
        const char *k = apr_hash_this_key(hi);
        n++;
        named += strncmp(k, "obo2:", 5) == 0 && strlen(k) == 69;
    }
    ok(n == 5 && named == n, "every name is obo2: and 64 hex digits (%d of %d)", named, n);
}

static void test_expired(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    char *val = NULL;
    apr_size_t len = 0;

    m->keep_expired = 1;
    obo_cache_set(c, p, "obo1:e", "short-lived", 11, apr_time_now() + apr_time_from_msec(50));
    is_int(obo_cache_get(c, p, "obo1:e", &val, &len), APR_SUCCESS, "fresh entry: hit");
    apr_sleep(apr_time_from_msec(80));
    is_int(obo_cache_get(c, p, "obo1:e", &val, &len), APR_NOTFOUND,
           "expired entry the backend still keeps: miss");
    obo_cache_set(c, p, "obo1:e2", "stale", 5, apr_time_now() - 1);
    is_int(obo_cache_get(c, p, "obo1:e2", &val, &len), APR_NOTFOUND,
           "entry stored already expired: miss");
}

static apr_uint64_t mem_written(void *ctx)
{
    (void)ctx;
    return 4242;
}

/* obo_cache_written: what a backend that evicts in insertion order says it
 * has written; a backend without the counter (memcached) says nothing. */
static void test_written(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    apr_uint64_t w = 7;

    is_int(obo_cache_written(c, &w), 0, "no counter: unknown");
    is_int(w, 7, "... and nothing written to *written");
    m->be.written = mem_written;
    c = cache_on(p, &m->be);
    is_int(obo_cache_written(c, &w), 1, "a counter: known");
    is_int(w, 4242, "... its figure");
}

/* ---- single flight in one process */

static void test_flight_threads(apr_pool_t *p)
{
    enum { N = 50 };
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(100), APR_SUCCESS, "tok" };
    worker w[N];
    int i, same = 1, okrv = 1, hits = 0;
    char *val = NULL;
    apr_size_t len = 0;

    memset(w, 0, sizeof(w));
    for (i = 0; i < N; i++) {
        w[i].c = c;
        w[i].key = "obo1:burst";
        w[i].o = &o;
        w[i].fb = &fb;
    }
    workers_start(p, w, N);
    workers_join(w, N);
    for (i = 0; i < N; i++) {
        okrv &= w[i].rv == APR_SUCCESS;
        same &= w[i].val && strcmp(w[i].val, "tok#1") == 0 && w[i].len == 5;
        hits += w[i].hit;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "50 concurrent misses: exactly one fetch");
    ok(okrv, "all 50 calls succeed");
    ok(same, "all 50 results are the fetched value");
    is_int(hits, N - 1, "49 followers report a hit, the leader does not");
    is_int(apr_atomic_read32(&m->adds), 1, "one backend lock attempt for the process");
    workers_free(w, N);
    is_int(obo_cache_get(c, p, "obo1:burst", &val, &len), APR_SUCCESS, "value was stored");
    ok(apr_hash_get(m->h, "obo1:burst.lock", APR_HASH_KEY_STRING) == NULL,
       "the fill lock was released");
}

static void test_flight_failure(apr_pool_t *p)
{
    enum { N = 10 };
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(100), APR_EACCES, NULL };
    worker w[N];
    int i, allfail = 1, errs = 1;
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;
    void *err = NULL;

    memset(w, 0, sizeof(w));
    for (i = 0; i < N; i++) {
        w[i].c = c;
        w[i].key = "obo1:fail";
        w[i].o = &o;
        w[i].fb = &fb;
    }
    workers_start(p, w, N);
    workers_join(w, N);
    for (i = 0; i < N; i++) {
        allfail &= w[i].rv == APR_EACCES && w[i].val == NULL && !w[i].hit;
        errs &= w[i].errval && strcmp(w[i].errval, "invalid_grant #1") == 0;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "failing leader: one fetch for 10 threads");
    ok(allfail, "every follower gets the leader's status");
    ok(errs, "every follower gets the leader's errval");
    workers_free(w, N);
    ok(apr_hash_get(m->h, "obo1:fail.lock", APR_HASH_KEY_STRING) == NULL,
       "failed fill released its lock");
    fb.sleep = 0;
    is_int(obo_cache_get_or_fetch(c, p, "obo1:fail", &o, test_fetch, &fb, &val, &len, &hit,
                                  &err), APR_EACCES, "failures are not cached");
    is_int(apr_atomic_read32(&fb.calls), 2, "next call fetches again");
}

/* ---- single flight across processes, simulated with a lock entry */

static void test_dead_lock_holder(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "mine" };
    const char *key = "obo1:dead";
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;
    apr_time_t t0;
    apr_interval_time_t took;
    apr_status_t rv;

    /* Another process took the lock and died: it expires in 300 ms. */
    mem_add(m, p, "obo1:dead.lock", (const unsigned char *)"x", 1,
            apr_time_now() + apr_time_from_msec(300));
    t0 = apr_time_now();
    rv = obo_cache_get_or_fetch(c, p, key, &o, test_fetch, &fb, &val, &len, &hit, NULL);
    took = apr_time_now() - t0;
    is_int(rv, APR_SUCCESS, "waiter behind a dead holder succeeds");
    is_str(val, "mine#1", "it fetched the value itself");
    is_int(hit, 0, "reported as a fetch, not a hit");
    ok(took >= apr_time_from_msec(280) && took < apr_time_from_sec(2),
       "it waited for the lock to expire, not for max_wait (%d ms)",
       (int)apr_time_as_msec(took));
    is_int(obo_cache_get(c, p, key, &val, &len), APR_SUCCESS, "and stored it for others");
}

static void test_stuck_lock_holder(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_msec(200), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "mine" };
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;
    apr_time_t t0 = apr_time_now();
    apr_interval_time_t took;
    apr_status_t rv;

    /* The holder is alive and within its lock: the IdP is slow, and a
     * second call would only add to its load. */
    mem_add(m, p, "obo1:stuck.lock", (const unsigned char *)"x", 1,
            apr_time_now() + apr_time_from_sec(10));
    rv = obo_cache_get_or_fetch(c, p, "obo1:stuck", &o, test_fetch, &fb, &val, &len, &hit,
                                NULL);
    took = apr_time_now() - t0;
    ok(rv == APR_TIMEUP && fb.calls == 0,
       "a live lock after max_wait: the waiter gives up without fetching (rv %d, %u calls)",
       rv, fb.calls);
    ok(took >= apr_time_from_msec(190) && took < apr_time_from_sec(2),
       "after max_wait, not the 10 s lock (%d ms)", (int)apr_time_as_msec(took));
}

/* ---- failures shared across processes (each obo_cache plays one) */

static char *str_encode(apr_pool_t *p, apr_status_t rv, const void *errval)
{
    (void)rv;
    return apr_pstrdup(p, errval);
}

static void *str_decode(apr_pool_t *p, const char *buf, apr_size_t len)
{
    return apr_pstrmemdup(p, buf, len);
}

static const obo_cache_errshare str_share = { str_encode, str_decode, 0 };
static const obo_cache_errshare str_share_locks = { str_encode, str_decode, 1 };

#define NPROC 6

static void procs_run(apr_pool_t *p, mem_be *m, worker *w, const char *key,
                      const obo_cache_flight_opts *o, const obo_cache_errshare *share,
                      fetch_baton *fb)
{
    int i;

    memset(w, 0, sizeof(*w) * NPROC);
    for (i = 0; i < NPROC; i++) {
        w[i].c = cache_on(p, &m->be);   /* one cache per "process": no in-process flight */
        w[i].key = key;
        w[i].o = o;
        w[i].share = share;
        w[i].fb = fb;
    }
    workers_start(p, w, NPROC);
    workers_join(w, NPROC);
}

static void test_shared_failure(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(300), APR_EACCES, NULL };
    worker w[NPROC];
    int i, same = 1;

    procs_run(p, m, w, "obo1:xfail", &o, &str_share, &fb);
    for (i = 0; i < NPROC; i++) {
        same &= w[i].rv == APR_EACCES && w[i].errval
                && strcmp(w[i].errval, "invalid_grant #1") == 0 && !w[i].hit;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "a failing holder: one fetch for %d processes",
           NPROC);
    ok(same, "every waiting process returns the holder's status and errval");
    workers_free(w, NPROC);
    ok(apr_hash_get(m->h, "obo1:xfail.lock", APR_HASH_KEY_STRING) == NULL,
       "the failed fill released its lock");

    /* Without sharing, the waiters take the lock over one at a time. */
    apr_atomic_set32(&fb.calls, 0);
    procs_run(p, m, w, "obo1:xfail2", &o, NULL, &fb);
    is_int(apr_atomic_read32(&fb.calls), NPROC, "nothing shared: each process calls in turn");
    workers_free(w, NPROC);
}

/* Review 14A: a failure anyone can cause (an unknown opaque token) is
 * shared beside the locks: the token cache gets no entry for it. */
static void test_shared_failure_beside_locks(apr_pool_t *p)
{
    mem_be *m = mem_create(p), *locks = mem_create(p);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(300), APR_EACCES, NULL };
    worker w[NPROC];
    int i, same = 1;

    m->be.locks = &locks->be;
    procs_run(p, m, w, "obo1:xfl", &o, &str_share_locks, &fb);
    for (i = 0; i < NPROC; i++) {
        same &= w[i].rv == APR_EACCES && w[i].errval
                && strcmp(w[i].errval, "invalid_grant #1") == 0;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "beside the locks: one fetch for %d processes",
           NPROC);
    ok(same, "every waiting process returns the holder's status and errval");
    is_int(apr_hash_count(m->h), 0, "the token cache holds nothing: no lock, no failure");
    ok(apr_hash_get(locks->h, "obo1:xfl.fail", APR_HASH_KEY_STRING) != NULL,
       "the failure is beside the locks");
    workers_free(w, NPROC);
}

static apr_uint64_t ring_written(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Review 16A: on a backend that evicts in insertion order (shm), a failure
 * is never written among the entries: beside the locks when it fits. */
static void test_shared_failure_ring_backend(apr_pool_t *p)
{
    mem_be *m = mem_create(p), *locks = mem_create(p);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(300), APR_EACCES, NULL };
    worker w[NPROC];
    int i, same = 1;

    m->be.written = ring_written;
    m->be.locks = &locks->be;
    procs_run(p, m, w, "obo1:ring", &o, &str_share, &fb);
    for (i = 0; i < NPROC; i++) {
        same &= w[i].rv == APR_EACCES && w[i].errval
                && strcmp(w[i].errval, "invalid_grant #1") == 0;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "ring backend: one fetch for %d processes", NPROC);
    ok(same, "every waiting process returns the holder's failure");
    is_int(apr_hash_count(m->h), 0, "nothing written among the entries");
    workers_free(w, NPROC);
}

/* Review 15A: a failure nobody waits for is not written among the entries. */
static void test_failure_alone_not_stored(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, 0, APR_EACCES, NULL };
    char *val = NULL;
    apr_size_t len = 0;
    void *errval = NULL;
    int hit = 0;
    apr_status_t rv = obo_cache_get_or_fetch_ex(c, p, "obo1:alone", &o, &str_share, test_fetch,
                                                &fb, &val, &len, &hit, &errval);

    ok(rv == APR_EACCES && errval, "the fill fails with its errval");
    ok(apr_hash_get(m->h, "obo1:alone.fail", APR_HASH_KEY_STRING) == NULL,
       "nobody waited: no shared failure written");
}

static void test_dead_holder_herd(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(100), APR_SUCCESS, "taken" };
    worker w[NPROC];
    int i, got = 1, hits = 0;

    /* A holder that died: its lock expires in 300 ms; then exactly one of
     * the waiting processes fetches and the others get its value. */
    mem_add(m, p, "obo1:herd.lock", (const unsigned char *)"x", 1,
            apr_time_now() + apr_time_from_msec(300));
    procs_run(p, m, w, "obo1:herd", &o, &str_share, &fb);
    for (i = 0; i < NPROC; i++) {
        got &= w[i].rv == APR_SUCCESS && w[i].val && strcmp(w[i].val, "taken#1") == 0;
        hits += w[i].hit;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "dead holder: one takeover fetch for %d processes",
           NPROC);
    ok(got, "every process gets the takeover's value");
    is_int(hits, NPROC - 1, "the others as hits");
    workers_free(w, NPROC);
}

typedef struct filler {
    obo_cache *c;
    mem_be *m;
} filler;

/* Plays another process that finishes its fill after 150 ms. */
static void *APR_THREAD_FUNC filler_run(apr_thread_t *t, void *data)
{
    filler *f = data;
    apr_pool_t *fp;

    apr_pool_create_unmanaged_ex(&fp, NULL, NULL);
    apr_sleep(apr_time_from_msec(150));
    obo_cache_set(f->c, fp, "obo1:other", "theirs", 6,
                  apr_time_now() + apr_time_from_sec(60));
    mem_del(f->m, fp, "obo1:other.lock");
    apr_pool_destroy(fp);
    return NULL;
}

static void test_other_process_fills(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be), *c2 = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "mine" };
    filler f = { c2, m };
    apr_thread_t *t;
    apr_status_t trv, rv;
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;

    mem_add(m, p, "obo1:other.lock", (const unsigned char *)"x", 1,
            apr_time_now() + apr_time_from_sec(10));
    apr_thread_create(&t, NULL, filler_run, &f, p);
    rv = obo_cache_get_or_fetch(c, p, "obo1:other", &o, test_fetch, &fb, &val, &len, &hit,
                                NULL);
    apr_thread_join(&trv, t);
    is_int(rv, APR_SUCCESS, "waiter gets the other process's value");
    is_str(val, "theirs", "value is the one the lock holder stored");
    is_int(hit, 1, "reported as a hit");
    is_int(fb.calls, 0, "no fetch of its own");
}

/* ---- backend failures degrade to a direct fetch */

static void test_backend_errors(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "direct" };
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;
    apr_status_t rv;

    m->fail = 1;
    ok(obo_cache_get(c, p, "obo1:x", &val, &len) != APR_SUCCESS, "get fails with the backend");
    rv = obo_cache_get_or_fetch(c, p, "obo1:x", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    is_int(rv, APR_SUCCESS, "get_or_fetch still succeeds");
    is_str(val, "direct#1", "with the fetched value");
    ok(fb.calls == 1 && hit == 0, "fetch was called once, no hit");
    rv = obo_cache_get_or_fetch(c, p, "obo1:x", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    ok(rv == APR_SUCCESS && fb.calls == 2, "and again on the next call");
}

/* ---- the real memcached */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0
        && getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), up;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    up = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return up;
}

static pid_t memcached_start(int port)
{
    char portstr[16];
    pid_t pid;
    int i;

    snprintf(portstr, sizeof(portstr), "%d", port);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (geteuid() == 0) {
            execl(MEMCACHED_BIN, "memcached", "-l", "127.0.0.1", "-p", portstr, "-U", "0",
                  "-u", "nobody", (char *)NULL);
        }
        else {
            execl(MEMCACHED_BIN, "memcached", "-l", "127.0.0.1", "-p", portstr, "-U", "0",
                  (char *)NULL);
        }
        _exit(127);
    }
    for (i = 0; pid > 0 && i < 300 && !port_open(port); i++) {
        apr_sleep(apr_time_from_msec(10));
    }
    return pid;
}

static void memcached_kill(pid_t pid)
{
    int st;

    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
}

static obo_cache_backend *mc_backend(apr_pool_t *p, int port)
{
    obo_memcached_opts mo = { NULL, apr_time_from_msec(200), 1, 8, 0 };
    obo_cache_backend *be = NULL;
    const char *err = NULL;

    mo.servers = apr_psprintf(p, "127.0.0.1:%d", port);
    if (obo_memcached_create(p, &mo, &be, &err) != APR_SUCCESS) {
        printf("# obo_memcached_create: %s\n", err ? err : "?");
    }
    return be;
}

static void test_mc_check_servers(apr_pool_t *p)
{
    const char *err = NULL;

    is_int(obo_memcached_check_servers(p, "127.0.0.1:11211", &err), APR_SUCCESS, "one server");
    is_int(obo_memcached_check_servers(p, "a:1,b.example:65535,[::1]:11211", &err),
           APR_SUCCESS, "several servers, IPv6 in brackets");
    is_int(obo_memcached_check_servers(p, "a:0", &err), APR_EINVAL, "port 0 refused");
    is_int(obo_memcached_check_servers(p, "a:65536", &err), APR_EINVAL, "port 65536 refused");
    is_int(obo_memcached_check_servers(p, "a:11x", &err), APR_EINVAL, "non-numeric port");
    /* review 28B: libmemcached's host:port:weight parsed as host "a:11211" */
    is_int(obo_memcached_check_servers(p, "127.0.0.1:11211:1", &err), APR_EINVAL,
           "host:port:weight refused");
    is_int(obo_memcached_check_servers(p, "::1:11211", &err), APR_EINVAL,
           "an IPv6 address without brackets refused");
    is_int(obo_memcached_check_servers(p, ":11211", &err), APR_EINVAL, "empty host refused");
    is_int(obo_memcached_check_servers(p, "a", &err), APR_EINVAL, "missing port refused");
    is_int(obo_memcached_check_servers(p, "a:1, b:2", &err), APR_EINVAL, "spaces refused");
    is_int(obo_memcached_check_servers(p, "", &err), APR_EINVAL, "empty list refused");
    ok(err != NULL, "an error message is given");
}

static void mc_basic(apr_pool_t *p, obo_cache_backend *be)
{
    apr_time_t exp = apr_time_now() + apr_time_from_sec(60);
    unsigned char *v = NULL;
    apr_size_t len = 0;

    is_int(be->set(be->ctx, p, "obo1:mc", (const unsigned char *)"v\0x", 3, exp),
           APR_SUCCESS, "memcached set");
    is_int(be->get(be->ctx, p, "obo1:mc", &v, &len), APR_SUCCESS, "memcached get");
    ok(len == 3 && memcmp(v, "v\0x", 3) == 0, "binary value round trips");
    is_int(be->add(be->ctx, p, "obo1:mc", (const unsigned char *)"w", 1, exp), APR_EEXIST,
           "add on an existing key: EEXIST");
    is_int(be->add(be->ctx, p, "obo1:mc2", (const unsigned char *)"w", 1, exp), APR_SUCCESS,
           "add on a new key stores");
    is_int(be->del(be->ctx, p, "obo1:mc"), APR_SUCCESS, "memcached delete");
    is_int(be->get(be->ctx, p, "obo1:mc", &v, &len), APR_NOTFOUND, "deleted: NOTFOUND");
    is_int(be->del(be->ctx, p, "obo1:mc"), APR_NOTFOUND, "delete of absent: NOTFOUND");
    be->set(be->ctx, p, "obo1:short", (const unsigned char *)"s", 1,
            apr_time_now() + apr_time_from_msec(100));
    is_int(be->get(be->ctx, p, "obo1:short", &v, &len), APR_SUCCESS, "short-lived entry");
    apr_sleep(apr_time_from_msec(2100));
    is_int(be->get(be->ctx, p, "obo1:short", &v, &len), APR_NOTFOUND,
           "memcached expired it (TTL rounded up to 1 s)");
}

/* Two "processes": separate backends (connection pools) and caches. */
static void mc_two_processes(apr_pool_t *p, int port)
{
    enum { N = 20 };
    obo_cache *c1 = cache_on(p, mc_backend(p, port)), *c2 = cache_on(p, mc_backend(p, port));
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, apr_time_from_msec(200), APR_SUCCESS, "shared" };
    worker w[N];
    int i, same = 1;

    memset(w, 0, sizeof(w));
    for (i = 0; i < N; i++) {
        w[i].c = i % 2 ? c2 : c1;
        w[i].key = "obo1:twoproc";
        w[i].o = &o;
        w[i].fb = &fb;
    }
    workers_start(p, w, N);
    workers_join(w, N);
    for (i = 0; i < N; i++) {
        same &= w[i].rv == APR_SUCCESS && w[i].val && strcmp(w[i].val, "shared#1") == 0;
    }
    is_int(apr_atomic_read32(&fb.calls), 1, "two caches on memcached: one fetch for 20 calls");
    ok(same, "all 20 calls return the one fetched value");
    workers_free(w, N);
}

static void mc_down_and_back(apr_pool_t *p, obo_cache_backend *be, int port, pid_t *pid)
{
    obo_cache *c = cache_on(p, be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_sec(5), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "nocache" };
    apr_interval_time_t worst = 0, took;
    apr_time_t t0, deadline;
    unsigned char *v;
    apr_size_t len;
    char *val = NULL;
    int i, hit, errs = 1, fetched = 1;

    memcached_kill(*pid);
    *pid = -1;
    for (i = 0; i < 5; i++) {
        t0 = apr_time_now();
        apr_status_t rv = be->get(be->ctx, p, "obo1:down", &v, &len);
        took = apr_time_now() - t0;
        errs &= rv != APR_SUCCESS && rv != APR_NOTFOUND;
        worst = took > worst ? took : worst;
    }
    ok(errs, "memcached down: get returns an error");
    ok(worst < apr_time_from_sec(1), "quickly (worst %d us)", (int)worst);
    worst = 0;
    for (i = 0; i < 5; i++) {
        t0 = apr_time_now();
        fetched &= obo_cache_get_or_fetch(c, p, "obo1:down", &o, test_fetch, &fb, &val,
                                          &len, &hit, NULL) == APR_SUCCESS && val && !hit;
        took = apr_time_now() - t0;
        worst = took > worst ? took : worst;
    }
    ok(fetched, "memcached down: get_or_fetch returns fetched values");
    ok(worst < apr_time_from_sec(1), "each within 1 s (worst %d us)", (int)worst);

    *pid = memcached_start(port);
    t0 = apr_time_now();
    deadline = t0 + apr_time_from_sec(10);
    while (be->set(be->ctx, p, "obo1:back", (const unsigned char *)"b", 1,
                   apr_time_now() + apr_time_from_sec(60)) != APR_SUCCESS
           && apr_time_now() < deadline) {
        apr_sleep(apr_time_from_msec(100));
    }
    ok(be->get(be->ctx, p, "obo1:back", &v, &len) == APR_SUCCESS,
       "memcached restarted: the backend recovers by itself (%d ms)",
       (int)apr_time_as_msec(apr_time_now() - t0));
    obo_cache_get_or_fetch(c, p, "obo1:back2", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    is_int(obo_cache_get_or_fetch(c, p, "obo1:back2", &o, test_fetch, &fb, &val, &len, &hit,
                                  NULL), APR_SUCCESS, "after recovery values are cached again");
    is_int(hit, 1, "second call is a hit");
}

/* memcached restarted while the pool holds connections to the old one:
 * each first operation on such a connection must be retried on a fresh one,
 * not reported as a failure (or a miss) - the first store must land. */
static void mc_restart(apr_pool_t *p, int port, pid_t *pid)
{
    obo_cache_backend *be = mc_backend(p, port);
    apr_time_t exp = apr_time_now() + apr_time_from_sec(60);
    unsigned char *v = NULL;
    apr_size_t len = 0;

    is_int(be->set(be->ctx, p, "obo1:r0", (const unsigned char *)"0", 1, exp), APR_SUCCESS,
           "restart: a pooled connection is up");
    memcached_kill(*pid);
    *pid = memcached_start(port);
    is_int(be->set(be->ctx, p, "obo1:r1", (const unsigned char *)"1", 1, exp), APR_SUCCESS,
           "restart: the first set lands");
    is_int(be->get(be->ctx, p, "obo1:r1", &v, &len), APR_SUCCESS, "restart: and is there");

    memcached_kill(*pid);
    *pid = memcached_start(port);
    is_int(be->get(be->ctx, p, "obo1:r1", &v, &len), APR_NOTFOUND,
           "restart: the first get is a clean miss, not a failure");

    memcached_kill(*pid);
    *pid = memcached_start(port);
    is_int(be->add(be->ctx, p, "obo1:r2", (const unsigned char *)"2", 1, exp), APR_SUCCESS,
           "restart: the first add lands");

    memcached_kill(*pid);
    *pid = memcached_start(port);
    be->set(be->ctx, p, "obo1:r3", (const unsigned char *)"3", 1, exp);
    memcached_kill(*pid);
    *pid = memcached_start(port);
    is_int(be->del(be->ctx, p, "obo1:r3"), APR_NOTFOUND,
           "restart: the first delete reaches the new server");
}

/* A listening socket nobody serves. With `fill` its one-slot backlog is
 * filled first so further SYNs are dropped: a blackholed host. */
static int silent_server(int fill, int *port, int *extra)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), i;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0
        && listen(fd, fill ? 0 : 64) == 0
        && getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        *port = ntohs(a.sin_port);
    }
    /* Non-blocking: a connect into the full backlog would otherwise wait
     * for the kernel's SYN retries (minutes; it hung make check). */
    for (i = 0; fill && *port && i < 2; i++) {
        extra[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(extra[i], (struct sockaddr *)&a, sizeof(a));
    }
    return fd;
}

/* Times six gets; returns 1 if all failed. */
static int timed_gets(apr_pool_t *p, obo_cache_backend *be, apr_interval_time_t *took)
{
    unsigned char *v;
    apr_size_t len;
    apr_time_t t0;
    apr_status_t rv;
    int i, errs = 1;

    for (i = 0; be && i < 6; i++) {
        t0 = apr_time_now();
        rv = be->get(be->ctx, p, "obo1:silent", &v, &len);
        took[i] = apr_time_now() - t0;
        errs &= rv != APR_SUCCESS && rv != APR_NOTFOUND;
    }
    return be && errs;
}

static void test_mc_unreachable(apr_pool_t *p)
{
    apr_interval_time_t took[6] = { 0 }, worst = 0;
    int port, extra[2] = { -1, -1 }, fd, i;
    obo_cache_backend *be;

    /* Hung server: connects, never answers. libmemcached only ejects on
     * connect failures, so every call pays the I/O timeout - bounded. */
    fd = silent_server(0, &port, extra);
    be = port ? mc_backend(p, port) : NULL;
    ok(timed_gets(p, be, took), "hung memcached: get returns an error");
    for (i = 0; i < 6; i++) {
        worst = took[i] > worst ? took[i] : worst;
    }
    ok(worst < apr_time_from_msec(700), "each call bounded by the 200 ms timeout (worst %d ms)",
       (int)apr_time_as_msec(worst));
    close(fd);

    /* Blackholed host: connects time out, the server is ejected. */
    fd = silent_server(1, &port, extra);
    be = port ? mc_backend(p, port) : NULL;
    ok(timed_gets(p, be, took), "blackholed memcached: get returns an error");
    printf("# blackholed: call times %d %d %d %d %d %d ms\n", (int)apr_time_as_msec(took[0]),
           (int)apr_time_as_msec(took[1]), (int)apr_time_as_msec(took[2]),
           (int)apr_time_as_msec(took[3]), (int)apr_time_as_msec(took[4]),
           (int)apr_time_as_msec(took[5]));
    ok(took[0] < apr_time_from_sec(1), "first call bounded by the connect timeout (%d ms)",
       (int)apr_time_as_msec(took[0]));
    ok(took[5] < apr_time_from_msec(20), "once ejected, calls fail fast (%d us)",
       (int)took[5]);
    for (i = 0; i < 2; i++) {
        if (extra[i] >= 0) {
            close(extra[i]);
        }
    }
    close(fd);
}

enum { MC_TESTS = 11 + 2 + 7 + 6 };

static void test_memcached(apr_pool_t *p)
{
    obo_cache_backend *be;
    int port, i;
    pid_t pid;

    if (access(MEMCACHED_BIN, X_OK) != 0) {
        for (i = 0; i < MC_TESTS; i++) {
            tap_ok(1, __FILE__, __LINE__, "# SKIP %s not installed", MEMCACHED_BIN);
        }
        return;
    }
    port = free_port();
    pid = memcached_start(port);
    ok(pid > 0 && port_open(port), "memcached started on port %d", port);
    be = mc_backend(p, port);
    if (be) {
        mc_basic(p, be);
        mc_two_processes(p, port);
        mc_down_and_back(p, be, port, &pid);
        mc_restart(p, port, &pid);
    }
    memcached_kill(pid);
}

/* A rotating refresh token must never be used without the lock: with
 * locked_only, a backend whose add fails (or that fails altogether) gets
 * APR_EAGAIN and no fetch; without it, the request still works as before. */
static void test_locked_only(apr_pool_t *p)
{
    mem_be *m = mem_create(p);
    obo_cache *c = cache_on(p, &m->be);
    obo_cache_flight_opts o = { apr_time_from_sec(5), apr_time_from_msec(200), 0, 1 };
    obo_cache_flight_opts plain = { apr_time_from_sec(5), apr_time_from_msec(200), 0, 0 };
    fetch_baton fb = { 0, 0, APR_SUCCESS, "rt" };
    char *val = NULL;
    apr_size_t len = 0;
    int hit = -1;
    apr_status_t rv;

    m->fail_add = 1;
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    ok(rv == APR_EAGAIN && fb.calls == 0 && val == NULL,
       "locked_only, add fails: APR_EAGAIN and no fetch (rv %d, %u calls)", rv, fb.calls);
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo", &plain, test_fetch, &fb, &val, &len, &hit,
                                NULL);
    ok(rv == APR_SUCCESS && fb.calls == 1 && val && hit == 0,
       "without it, add fails: fetched anyway, as before (rv %d, %u calls)", rv, fb.calls);

    m->fail_add = 0;
    m->fail = 1;
    fb.calls = 0;
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo2", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    ok(rv == APR_EAGAIN && fb.calls == 0,
       "locked_only, backend down: APR_EAGAIN and no fetch (rv %d, %u calls)", rv, fb.calls);
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo2", &plain, test_fetch, &fb, &val, &len, &hit,
                                NULL);
    ok(rv == APR_SUCCESS && fb.calls == 1,
       "without it, backend down: fetched directly, as before (rv %d, %u calls)", rv,
       fb.calls);

    /* Review 28A: the value cannot be read but the lock can be taken (their
     * memcached servers differ): a session start exchanged, then could not
     * store the session. */
    m->fail = 0;
    m->fail_get = 1;
    fb.calls = 0;
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo4", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    ok(rv == APR_EAGAIN && fb.calls == 0,
       "locked_only, the value unreadable, the lock taken: APR_EAGAIN and no fetch (rv %d, "
       "%u calls)", rv, fb.calls);
    m->fail_get = 0;

    m->fail = 0;
    fb.calls = 0;
    rv = obo_cache_get_or_fetch(c, p, "obo1:lo3", &o, test_fetch, &fb, &val, &len, &hit, NULL);
    ok(rv == APR_SUCCESS && fb.calls == 1 && hit == 0,
       "locked_only, healthy backend: one fetch under the lock (rv %d)", rv);
    {
        unsigned char *lv = NULL;
        is_int(mem_get(m, p, "obo1:lo3.lock", &lv, &len), APR_NOTFOUND,
               "and the lock is released");
    }
}

int main(void)
{
    apr_initialize();
    signal(SIGPIPE, SIG_IGN);
    TAP_RUN(test_key);
    TAP_RUN(test_sealed);
    TAP_RUN(test_shared_names);
    TAP_RUN(test_expired);
    TAP_RUN(test_written);
    TAP_RUN(test_flight_threads);
    TAP_RUN(test_flight_failure);
    TAP_RUN(test_dead_lock_holder);
    TAP_RUN(test_stuck_lock_holder);
    TAP_RUN(test_shared_failure);
    TAP_RUN(test_shared_failure_beside_locks);
    TAP_RUN(test_failure_alone_not_stored);
    TAP_RUN(test_shared_failure_ring_backend);
    TAP_RUN(test_dead_holder_herd);
    TAP_RUN(test_other_process_fills);
    TAP_RUN(test_backend_errors);
    TAP_RUN(test_locked_only);
    TAP_RUN(test_mc_check_servers);
    TAP_RUN(test_memcached);
    TAP_RUN(test_mc_unreachable);
    apr_terminate();
    return tap_done();
}
