/* SPDX-License-Identifier: Apache-2.0 */
/* The IdP's keys shared through the cache (obo_provider.h): the entry is
 * bound to the IdP settings and sealed, the freshest set wins in the cache
 * and in a process, a process without keys takes the shared set, requests
 * waiting for a first load in flight take one published meanwhile, and the
 * background load at process start needs no request. No IdP is reachable
 * here: every key comes from the cache or nowhere. */
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include "tap.h"
#include "testkeys.h"
#include "obo_cache.h"
#include "obo_json.h"
#include "obo_provider.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define ISS "https://idp.test/tenant/v2.0"
#define META "https://127.0.0.1:1/tenant/v2.0/.well-known/openid-configuration"

/* ---- an in-memory backend (one mutex; expiry ignored: entries are fresh) */

typedef struct mem_be {
    obo_cache_backend be;
    apr_pool_t *pool;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *gate;   /* with mu: signalled when `closed` is cleared */
    int closed;                /* a get waits until the gate opens */
    apr_hash_t *h;
} mem_be;

typedef struct mem_val {
    unsigned char *data;
    apr_size_t len;
} mem_val;

static apr_status_t mem_get(void *ctx, apr_pool_t *p, const char *key,
                            unsigned char **val, apr_size_t *len)
{
    mem_be *m = ctx;
    mem_val *v;

    apr_thread_mutex_lock(m->mu);
    while (m->closed) {
        apr_thread_cond_wait(m->gate, m->mu);
    }
    v = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (v) {
        *val = apr_pmemdup(p, v->data, v->len);
        *len = v->len;
    }
    apr_thread_mutex_unlock(m->mu);
    return v ? APR_SUCCESS : APR_NOTFOUND;
}

static apr_status_t mem_set(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    mem_be *m = ctx;
    mem_val *v;

    (void)p;
    (void)expiry;
    apr_thread_mutex_lock(m->mu);
    v = apr_palloc(m->pool, sizeof(*v));
    v->data = apr_pmemdup(m->pool, val, len);
    v->len = len;
    apr_hash_set(m->h, apr_pstrdup(m->pool, key), APR_HASH_KEY_STRING, v);
    apr_thread_mutex_unlock(m->mu);
    return APR_SUCCESS;
}

static apr_status_t mem_add(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    unsigned char *old = NULL;
    apr_size_t olen = 0;

    if (mem_get(ctx, p, key, &old, &olen) == APR_SUCCESS) {
        return APR_EEXIST;
    }
    return mem_set(ctx, p, key, val, len, expiry);
}

static apr_status_t mem_del(void *ctx, apr_pool_t *p, const char *key)
{
    mem_be *m = ctx;

    (void)p;
    apr_thread_mutex_lock(m->mu);
    apr_hash_set(m->h, key, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(m->mu);
    return APR_SUCCESS;
}

/* A closed gate: the cache's gets hang (a shared cache that stops
 * answering), until it opens. */
static void gate_set(mem_be *m, int closed)
{
    apr_thread_mutex_lock(m->mu);
    m->closed = closed;
    apr_thread_cond_broadcast(m->gate);
    apr_thread_mutex_unlock(m->mu);
}

static obo_cache *cache_on(apr_pool_t *p, mem_be **mem, const char *secret)
{
    mem_be *m = *mem;
    obo_cache *c = NULL;

    if (!m) {
        m = apr_pcalloc(p, sizeof(*m));
        m->pool = p;
        m->h = apr_hash_make(p);
        apr_thread_mutex_create(&m->mu, APR_THREAD_MUTEX_DEFAULT, p);
        apr_thread_cond_create(&m->gate, p);
        m->be = (obo_cache_backend){ .name = "memory", .get = mem_get, .set = mem_set,
                                     .add = mem_add, .del = mem_del, .ctx = m };
        *mem = m;
    }
    obo_cache_create(p, &m->be, (const unsigned char *)secret, strlen(secret), &c);
    return c;
}

/* ---- key sets and providers */

/* A shared entry: one EC key `kid`, fetched at `fetched`. */
static obo_idpstate entry(apr_pool_t *p, const char *kid, apr_time_t fetched)
{
    json_t *set = obo_json_pool(p, json_pack("{s:[O]}", "keys",
                                             tk_jwk(p, tk_gen(p, "EC", "P-256"), kid)));
    obo_idpstate st;

    memset(&st, 0, sizeof(st));
    st.issuer = ISS;
    st.jwks_uri = "https://127.0.0.1:1/tenant/discovery/v2.0/keys";
    st.token_endpoint = "https://127.0.0.1:1/tenant/oauth2/v2.0/token";
    st.introspection_endpoint = "https://127.0.0.1:1/tenant/oauth2/v2.0/introspect";
    st.jwks = obo_json_dump(p, set);
    st.jwks_len = strlen(st.jwks);
    st.saved_at = fetched;
    return st;
}

/* The entry as obo_provider_shared_put writes it, stored without its
 * freshness check: an older server overwriting a fresher set. */
static void overwrite(apr_pool_t *p, obo_cache *c, const char *key, const obo_idpstate *st)
{
    json_t *o = obo_json_pool(p, json_pack("{s:i,s:I,s:s,s:s,s:s%}", "v", 1, "fetched",
                                           (json_int_t)st->saved_at, "issuer", st->issuer,
                                           "jwks_uri", st->jwks_uri, "jwks", st->jwks,
                                           st->jwks_len));
    char *val = obo_json_dump(p, o);

    obo_cache_set(c, p, key, val, strlen(val), apr_time_now() + apr_time_from_sec(60));
}

static obo_provider_cfg cfg_for(apr_pool_t *p, const char *meta, obo_cache *c)
{
    obo_provider_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.metadata_url = meta;
    cfg.http.connect_timeout = apr_time_from_sec(2);   /* TLS handshake included */
    cfg.http.timeout = apr_time_from_sec(2);
    cfg.shared = c;
    (void)p;
    return cfg;
}

static obo_provider *provider(apr_pool_t *p, const obo_provider_cfg *cfg)
{
    obo_http *http = NULL;
    obo_provider *pv = NULL;

    obo_http_create(p, &http);
    obo_provider_create(p, cfg, http, &pv);
    return pv;
}

/* Number of keys for kid, or -1 when the provider has no keys at all. */
static int keys_for(apr_pool_t *p, obo_provider *pv, const char *kid)
{
    apr_array_header_t *keys = NULL;
    const char *err = NULL;

    if (obo_provider_keys(pv, p, kid, "ES256", &keys, NULL, &err) != APR_SUCCESS) {
        return -1;
    }
    return keys->nelts;
}

/* ---- tests */

static void test_key_binding(apr_pool_t *p)
{
    obo_provider_cfg a = cfg_for(p, META, NULL), b = a, f = a, i = a;
    apr_array_header_t *iss = apr_array_make(p, 1, sizeof(const char *));
    const char *ka = obo_provider_shared_key(p, &a);

    b.metadata_url = "https://127.0.0.1:1/other/v2.0/.well-known/openid-configuration";
    f.jwks_file = "/etc/jwks.json";
    APR_ARRAY_PUSH(iss, const char *) = ISS;
    i.issuers = iss;
    ok(ka && strncmp(ka, "oboidp1:", 8) == 0 && strlen(ka) == 8 + 64,
       "the entry's key is a prefix and a SHA-256");
    is_str(obo_provider_shared_key(p, &a), ka, "the same settings give the same key");
    ok(strcmp(obo_provider_shared_key(p, &b), ka) != 0, "another metadata URL, another key");
    ok(strcmp(obo_provider_shared_key(p, &i), ka) != 0, "other issuers, another key");
    i = a;
    i.http.ca_file = "/etc/obo/private-ca.pem";
    ok(strcmp(obo_provider_shared_key(p, &i), ka) != 0,
       "another OBOCACertificateFile, another key (review 13A)");
    ok(!strstr(ka, "127.0.0.1"), "the key does not show the URL");
    ok(obo_provider_shared_key(p, &f) == NULL, "a JWKS file is never shared");
}

/* Review 12: a refetch for an unknown kid (anyone can send one) rewrote the
 * unchanged set at each, and on shm its ring turned over others' sessions. */
static void test_put_unchanged(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    const char *key = obo_provider_shared_key(p, &cfg);
    apr_time_t t1 = apr_time_now() - apr_time_from_sec(100);
    obo_idpstate s1 = entry(p, "k1", t1), same = s1;
    obo_idpstate changed = entry(p, "k2", t1 + apr_time_from_sec(11)), again = changed;
    obo_idpstate got;

    same.saved_at = t1 + apr_time_from_sec(10);
    again.saved_at = t1 + apr_time_from_sec(11 + OBO_PROVIDER_SHARED_SAME_SECS);

    obo_provider_shared_put(c, p, key, &s1);
    is_int(obo_provider_shared_put(c, p, key, &same), APR_EEXIST,
           "the same set fetched 10 s later is not written again");
    obo_provider_shared_get(c, p, key, &got);
    ok(got.saved_at == t1, "the entry keeps its fetch time");
    is_int(obo_provider_shared_put(c, p, key, &changed), APR_SUCCESS,
           "a changed set 11 s later is written at once");
    is_int(obo_provider_shared_put(c, p, key, &again), APR_SUCCESS,
           "the same set a minute later is written again");
}

static void test_put_freshest_wins(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET), *other = cache_on(p, &m, SECRET "-other");
    obo_provider_cfg cfg = cfg_for(p, META, c);
    const char *key = obo_provider_shared_key(p, &cfg);
    apr_time_t t1 = apr_time_now() - apr_time_from_sec(100);
    obo_idpstate s1 = entry(p, "k1", t1), s0 = entry(p, "k0", t1 - 1), s2 = entry(p, "k2", t1 + 1);
    obo_idpstate got;

    is_int(obo_provider_shared_get(c, p, key, &got), APR_NOTFOUND, "nothing shared yet");
    is_int(obo_provider_shared_put(c, p, key, &s1), APR_SUCCESS, "a set is published");
    is_int(obo_provider_shared_get(c, p, key, &got), APR_SUCCESS, "and read back");
    ok(got.saved_at == t1 && got.jwks_len == s1.jwks_len
       && memcmp(got.jwks, s1.jwks, s1.jwks_len) == 0, "with its fetch time and JWKS");
    is_str(got.issuer, ISS, "and discovery's issuer");
    is_int(obo_provider_shared_put(c, p, key, &s0), APR_EEXIST,
           "an older set does not replace it");
    is_int(obo_provider_shared_put(c, p, key, &s1), APR_EEXIST,
           "nor does one fetched at the same time");
    obo_provider_shared_get(c, p, key, &got);
    ok(got.saved_at == t1, "the entry is still the fresher set");
    is_int(obo_provider_shared_put(c, p, key, &s2), APR_SUCCESS, "a newer set replaces it");
    obo_provider_shared_get(c, p, key, &got);
    ok(got.saved_at == t1 + 1, "the entry is now the newer set");
    is_int(obo_provider_shared_get(other, p, key, &got), APR_NOTFOUND,
           "sealed: a server with another cache secret sees nothing");
    ok(m && !strstr((const char *)((mem_val *)apr_hash_get(m->h, key, APR_HASH_KEY_STRING))
                    ->data, "keys"), "the backend holds no plain JWKS");
}

/* Review 27: keys older than three refresh intervals still validate; the
 * health answer said 503, and every server of a pool (one fetch time,
 * shared) left the balancer at once during a long IdP outage. */
static void test_health_stale(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    obo_provider *pv;
    const char *key = obo_provider_shared_key(p, &cfg), *why = NULL;
    obo_idpstate old = entry(p, "k1", apr_time_now() - apr_time_from_sec(200));
    apr_int64_t age = 0;

    cfg.jwks_refresh = apr_time_from_sec(60);
    pv = provider(p, &cfg);
    obo_provider_shared_put(c, p, key, &old);
    is_int(obo_provider_take_shared(pv), APR_SUCCESS, "keys fetched 200 s ago, taken");
    is_int(obo_provider_health(pv, 1, &age, &why), APR_SUCCESS,
           "older than 3 x 60 s: still healthy (they validate)");
    /* review 31: a process that has not tried to refresh (no request) is
     * not degraded; once a refresh failed (the IdP at port 1 is down), it is */
    ok(age >= 200 && !why, "no refresh tried yet: not degraded (%s)", why ? why : "-");
    obo_provider_refresh_if_due(pv);
    is_int(obo_provider_health(pv, 1, &age, &why), APR_SUCCESS, "the refresh failed: healthy");
    ok(age >= 200 && why && strstr(why, "older than three"), "... said as degraded (%s)",
       why ? why : "-");
}

static void test_process_freshest_wins(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    obo_provider *pv = provider(p, &cfg);
    const char *key = obo_provider_shared_key(p, &cfg), *err = NULL;
    apr_time_t t1 = apr_time_now() - apr_time_from_sec(100);
    obo_idpstate s1 = entry(p, "k1", t1), s0 = entry(p, "k0", t1 - 1), s2 = entry(p, "k2", t1 + 1);
    const apr_array_header_t *iss = NULL;
    const char *tok = NULL;
    unsigned long gen;
    obo_provider_stats st;

    is_int(obo_provider_take_shared(pv), APR_NOTFOUND, "nothing to take yet");
    obo_provider_shared_put(c, p, key, &s1);
    is_int(obo_provider_take_shared(pv), APR_SUCCESS, "a process without keys takes the set");
    is_int(keys_for(p, pv, "k1"), 1, "its key verifies");
    is_int(obo_provider_issuers(pv, p, &iss, &err), APR_SUCCESS, "discovery came with it");
    ok(iss && iss->nelts == 1 && strcmp(APR_ARRAY_IDX(iss, 0, const char *), ISS) == 0,
       "the issuer of the shared discovery");
    is_int(obo_provider_token_endpoint(pv, p, &tok, &err), APR_SUCCESS, "and its token endpoint");
    is_int(obo_provider_introspection_endpoint(pv, p, &tok, &err), APR_SUCCESS,
           "and its introspection endpoint (a process that never ran discovery)");
    is_str(tok, "https://127.0.0.1:1/tenant/oauth2/v2.0/introspect", "the shared one");
    gen = obo_provider_generation(pv);

    overwrite(p, c, key, &s0);
    is_int(obo_provider_take_shared(pv), APR_NOTFOUND,
           "an older set in the cache is not taken over the process's own");
    is_int(keys_for(p, pv, "k1"), 1, "the process keeps its fresher key");
    ok(obo_provider_generation(pv) == gen, "and its key set (same generation)");
    overwrite(p, c, key, &s1);
    is_int(obo_provider_take_shared(pv), APR_NOTFOUND, "nor is the same set again");

    obo_provider_shared_put(c, p, key, &s2);
    is_int(obo_provider_take_shared(pv), APR_SUCCESS, "a fresher set is taken");
    is_int(keys_for(p, pv, "k2"), 1, "its key verifies");
    ok(obo_provider_generation(pv) != gen, "a new generation: facts of the old keys go");
    obo_provider_get_stats(pv, &st);
    is_int(st.shared_restores, 2, "two sets came from the shared cache");
    is_int(st.jwks_fetches, 0, "none from the IdP");
}

/* A TCP port that accepts connections (the kernel's backlog) and never
 * answers: an IdP whose answers queue behind other work. */
static apr_port_t silent_port(apr_pool_t *p)
{
    apr_sockaddr_t *sa = NULL;
    apr_socket_t *s = NULL;

    apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p);
    apr_socket_create(&s, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p);
    apr_socket_bind(s, sa);
    apr_socket_listen(s, 16);
    apr_socket_addr_get(&sa, APR_LOCAL, s);
    return sa->port;
}

typedef struct waiter {
    obo_provider *pv;
    apr_pool_t *p;
    int nkeys;
    apr_time_t took;
    const char *kid;           /* NULL: k1 */
    volatile apr_uint32_t done;
} waiter;

static void *APR_THREAD_FUNC wait_keys(apr_thread_t *t, void *data)
{
    waiter *w = data;
    apr_time_t t0 = apr_time_now();

    (void)t;
    w->nkeys = keys_for(w->p, w->pv, w->kid ? w->kid : "k1");
    w->took = apr_time_now() - t0;
    apr_atomic_set32(&w->done, 1);
    return NULL;
}

/* Review 13A: a set fetched "a day from now" (a member whose clock runs
 * ahead) replaced a process's current set, retired keys included, and no
 * correct fetch could replace it. */
static void test_future_refused(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    obo_provider *pv = provider(p, &cfg);
    const char *key = obo_provider_shared_key(p, &cfg);
    apr_time_t now = apr_time_now();
    obo_idpstate s1 = entry(p, "k1", now - apr_time_from_sec(100));
    obo_idpstate fut = entry(p, "kf", now + apr_time_from_sec(86400));
    obo_idpstate s2 = entry(p, "k2", now - apr_time_from_sec(10));
    obo_idpstate got;

    obo_provider_shared_put(c, p, key, &s1);
    is_int(obo_provider_take_shared(pv), APR_SUCCESS, "a process takes a current set");
    overwrite(p, c, key, &fut);
    ok(obo_provider_take_shared(pv) != APR_SUCCESS,
       "a set fetched a day ahead is not taken over it");
    is_int(keys_for(p, pv, "k1"), 1, "the process keeps its own key");
    /* unknown to the set, and the refetch fails (no IdP here): 503, not a
     * 401 that sends the client for a new token (review 37C-F3) */
    is_int(keys_for(p, pv, "kf"), -1, "the future set's key does not verify (keys "
           "unavailable: the refetch for its kid failed)");
    is_int(obo_provider_shared_put(c, p, key, &s2), APR_SUCCESS,
           "a correct fetch replaces the future entry");
    obo_provider_shared_get(c, p, key, &got);
    ok(got.saved_at == s2.saved_at, "the entry is now the correct set");
}

static void test_waiters_take_published(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    const char *meta = apr_psprintf(p, "https://127.0.0.1:%d/t/v2.0/.well-known/openid-"
                                    "configuration", (int)silent_port(p));
    obo_provider_cfg cfg = cfg_for(p, meta, c);
    obo_provider *pv = provider(p, &cfg);
    obo_idpstate s1 = entry(p, "k1", apr_time_now());
    waiter a = { pv, NULL, 0, 0, NULL, 0 }, b = { pv, NULL, 0, 0, NULL, 0 };
    apr_thread_t *ta = NULL, *tb = NULL;
    apr_status_t trv;

    apr_pool_create(&a.p, p);
    apr_pool_create(&b.p, p);
    apr_thread_create(&ta, NULL, wait_keys, &a, p);   /* fetches: 2 s to time out */
    apr_sleep(apr_time_from_msec(150));
    apr_thread_create(&tb, NULL, wait_keys, &b, p);   /* waits for that fetch */
    apr_sleep(apr_time_from_msec(300));
    obo_provider_shared_put(c, p, obo_provider_shared_key(p, &cfg), &s1);   /* another server */
    apr_thread_join(&trv, tb);
    is_int(b.nkeys, 1, "a request waiting for a fetch in flight gets the key another server "
           "published meanwhile");
    ok(b.took < apr_time_from_msec(1500), "without waiting for the stuck fetch (%d ms)",
       (int)apr_time_as_msec(b.took));
    apr_thread_join(&trv, ta);
    is_int(a.nkeys, 1, "the fetching request, when its fetch fails, takes the shared set too");
}

static void test_waiters_bounded(apr_pool_t *p)
{
    const char *meta = apr_psprintf(p, "https://127.0.0.1:%d/t/v2.0/.well-known/openid-"
                                    "configuration", (int)silent_port(p));
    obo_provider_cfg cfg = cfg_for(p, meta, NULL);
    obo_provider *pv = provider(p, &cfg);
    waiter a = { pv, NULL, 0, 0, NULL, 0 }, b = { pv, NULL, 0, 0, NULL, 0 };
    apr_thread_t *ta = NULL, *tb = NULL;
    apr_status_t trv;

    apr_pool_create(&a.p, p);
    apr_pool_create(&b.p, p);
    apr_thread_create(&ta, NULL, wait_keys, &a, p);
    apr_sleep(apr_time_from_msec(150));
    apr_thread_create(&tb, NULL, wait_keys, &b, p);
    apr_thread_join(&trv, tb);
    apr_thread_join(&trv, ta);
    is_int(a.nkeys, -1, "an IdP that never answers: no keys");
    is_int(b.nkeys, -1, "and the waiter gets the fetch's outcome");
    ok(b.took > apr_time_from_msec(1000) && b.took < apr_time_from_sec(5),
       "after waiting for it, bounded by the timeout (%d ms)", (int)apr_time_as_msec(b.took));
}

/* Review 36A-F1: a fetch that never ended (the JWKS file a FIFO, a hung
 * mount) held fetch_lock, and every request with an unknown kid that
 * queued behind it waited for ever: one worker each, until none was left.
 * Here the fetch in flight is a periodic refresh stuck in the shared
 * cache's get. The unknown kid's request waits for it at most as long as a
 * first load may take (twice OBOTimeout with discovery: 1 s here), then is
 * answered with the keys there are. */
static void test_unknown_kid_wait_bounded(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    obo_provider *pv;
    obo_idpstate s1 = entry(p, "k1", apr_time_now());
    waiter a = { NULL, NULL, 0, 0, NULL, 0 }, b = { NULL, NULL, 0, 0, "unknown", 0 };
    apr_thread_t *ta = NULL, *tb = NULL;
    apr_status_t trv;
    int i;

    cfg.http.timeout = apr_time_from_msec(500);
    cfg.jwks_refresh = 1;                   /* 1 us: a refresh is due at every call */
    pv = provider(p, &cfg);
    a.pv = b.pv = pv;
    apr_pool_create(&a.p, p);
    apr_pool_create(&b.p, p);
    obo_provider_shared_put(c, p, obo_provider_shared_key(p, &cfg), &s1);
    is_int(obo_provider_take_shared(pv), APR_SUCCESS, "the process has key k1");
    apr_sleep(apr_time_from_msec(250));     /* the next refresh looks at the cache */
    gate_set(m, 1);
    apr_thread_create(&ta, NULL, wait_keys, &a, p);     /* its refresh hangs */
    apr_sleep(apr_time_from_msec(200));
    apr_thread_create(&tb, NULL, wait_keys, &b, p);     /* an unknown kid */
    for (i = 0; i < 50 && !apr_atomic_read32(&b.done); i++) {
        apr_sleep(apr_time_from_msec(100));
    }
    ok(apr_atomic_read32(&b.done), "a request with an unknown kid is answered while another "
       "thread's fetch hangs");
    gate_set(m, 0);
    apr_thread_join(&trv, tb);
    apr_thread_join(&trv, ta);
    is_int(b.nkeys, -1, "past the bound, keys unavailable (503), not a 401 for a kid the "
           "hanging fetch may bring (review 37C-F3)");
    ok(b.took >= apr_time_from_msec(900) && b.took < apr_time_from_sec(3),
       "after waiting for the fetch's outcome a bounded time (%d ms)",
       (int)apr_time_as_msec(b.took));
    is_int(a.nkeys, 1, "the refreshing request, once the cache answers, has key k1");
}

static void test_start_takes_shared(apr_pool_t *p)
{
    mem_be *m = NULL;
    obo_cache *c = cache_on(p, &m, SECRET);
    obo_provider_cfg cfg = cfg_for(p, META, c);
    apr_pool_t *child = NULL;
    obo_provider *pv;
    obo_idpstate s1 = entry(p, "k1", apr_time_now());
    obo_provider_stats st;
    int i;

    obo_provider_shared_put(c, p, obo_provider_shared_key(p, &cfg), &s1);
    apr_pool_create(&child, p);
    pv = provider(child, &cfg);
    is_int(obo_provider_start(pv, child), APR_SUCCESS, "the background load starts");
    memset(&st, 0, sizeof(st));
    for (i = 0; i < 100 && st.shared_restores == 0; i++) {
        apr_sleep(apr_time_from_msec(20));
        obo_provider_get_stats(pv, &st);
    }
    is_int(st.shared_restores, 1, "and takes the shared set before any request");
    is_int(keys_for(p, pv, "k1"), 1, "the first request finds the key");
    apr_pool_destroy(child);   /* joins the (finished) thread */
    ok(1, "the process pool goes with the thread joined");
}

int main(void)
{
    apr_initialize();
    obo_http_global_init();
    TAP_RUN(test_key_binding);
    TAP_RUN(test_put_freshest_wins);
    TAP_RUN(test_put_unchanged);
    TAP_RUN(test_process_freshest_wins);
    TAP_RUN(test_health_stale);
    TAP_RUN(test_future_refused);
    TAP_RUN(test_waiters_take_published);
    TAP_RUN(test_waiters_bounded);
    TAP_RUN(test_unknown_kid_wait_bounded);
    TAP_RUN(test_start_takes_shared);
    apr_terminate();
    return tap_done();
}
