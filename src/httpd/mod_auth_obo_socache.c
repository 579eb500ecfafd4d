/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded "shm" cache backend: httpd's socache (shmcb) shared by every
 * process and thread of the server. shmcb is not safe across processes on
 * its own, so every operation takes one global mutex; that same mutex makes
 * add() atomic, which single flight relies on.
 *
 * The cache outlives a graceful restart ("apachectl graceful", a log
 * rotation): the socache instance, its mutex and the random sealing key live
 * in the process pool, found again by each generation's post_config. Old
 * children finishing their requests and the new generation then share one
 * segment under one mutex, and cached tokens stay valid. A full stop (or a
 * changed OBOCache shm size) starts empty. */
#include "mod_auth_obo_socache.h"

#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "obo_crypto.h"
#include "obo_locktab.h"
#include "obo_metrics.h"
#include "obo_turn.h"
#include "ap_provider.h"
#include "http_core.h"
#include "util_mutex.h"

APLOG_USE_MODULE(auth_obo);

#define MUTEX_TYPE "auth-obo-cache"
#define MAX_VALUE (32 * 1024)

/* The module's hints to shmcb: ids of about 69 bytes, values up to 3000. */
#define HINT_ID_LEN 69
#define HINT_OBJ_SIZE 3000
#define SHMCB_DEFAULT_SIZE (512 * 1024)   /* mod_socache_shmcb's, without a size */

/* How far the cache's rings have turned (obo_cache_backend.written, see
 * obo_turn.h), its counts in anonymous shared memory. */
typedef struct shm_turn {
    obo_turn turn;                   /* turn.counts NULL if there is no memory */
    apr_shm_t *shm;                  /* the counts' segment */
    apr_size_t entries, bytes;       /* the capacity, all rings */
    apr_size_t rings;                /* shmcb's subcaches: a power of two */
} shm_turn;


/* Locks and notes (obo_locktab.h), in anonymous shared memory of their
 * own: what any request can cause never turns shmcb's rings. */
typedef struct shm_locks {
    obo_locktab tab;                 /* tab.slots NULL if there is no memory */
    apr_shm_t *shm;
} shm_locks;

typedef struct shm_ctx {
    ap_socache_provider_t *prov;
    ap_socache_instance_t *inst;
    apr_global_mutex_t *mutex;
    server_rec *s;
    const shm_turn *turn;
    const shm_locks *locks;
} shm_ctx;

static apr_global_mutex_t *cache_mutex;   /* shared by every generation */

/* What survives a graceful restart, per virtual host (process pool). The
 * module and mod_socache_shmcb are unloaded and reloaded on a restart, so no
 * cleanup of theirs may run from a pool that outlives pconf: shmcb registers
 * one in the pool it is created in, hence an unmanaged pool that is never
 * destroyed; at the real exit, a pconf cleanup (running while the current
 * generation's DSOs are still loaded) destroys the segment through the
 * current provider. */
typedef struct shm_kept {
    ap_socache_instance_t *inst;
    unsigned char secret[32];
    shm_turn turn;
    shm_locks locks;
    int gen;             /* the last configuration generation that used it */
} shm_kept;

/* Every kept instance, by key (process pool): a generation's post_config
 * destroys those it no longer uses (auth_obo_socache_sweep). */
#define KEPT_ALL "auth_obo_shm_all"

typedef struct shm_exit {
    shm_kept *k;
    ap_socache_provider_t *prov;
    server_rec *s;
} shm_exit;

static apr_status_t release_on_exit(void *data)
{
    shm_exit *e = data;
    int state = ap_state_query(AP_SQ_MAIN_STATE);

    if (state == AP_SQ_MS_EXITING && e->k->inst) {
        e->prov->destroy(e->k->inst, e->s);
        e->k->inst = NULL;
    }
    return APR_SUCCESS;
}

void auth_obo_socache_pre_config(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

/* One mutex for all generations (the module's statics do not survive the
 * DSO reload of a restart; the process pool does). */
static apr_status_t kept_mutex(server_rec *s)
{
    static const char key[] = "auth_obo_shm_mutex";
    apr_pool_t *pproc = s->process->pool;
    void *m = NULL;
    apr_status_t rv = APR_SUCCESS;

    apr_pool_userdata_get(&m, key, pproc);
    if (!m) {
        rv = ap_global_mutex_create(&cache_mutex, NULL, MUTEX_TYPE, NULL, s, pproc, 0);
        if (rv == APR_SUCCESS) {
            apr_pool_userdata_set(cache_mutex, apr_pstrdup(pproc, key),
                                  apr_pool_cleanup_null, pproc);
        }
    }
    else {
        cache_mutex = m;
    }
    return rv;
}

static const char *names_of(apr_pool_t *p, const char *k, const apr_array_header_t *names)
{
    int i;

    for (i = 0; names && i < names->nelts; i++) {
        k = apr_pstrcat(p, k, " ", APR_ARRAY_IDX(names, i, const char *), NULL);
    }
    return k;
}

/* Identity of a virtual host's cache across generations: its names (two
 * virtual hosts that only differ by ServerAlias, both inheriting the main
 * server's ServerName, shared one segment and its sealing key), port,
 * addresses and the cache size. */
static const char *kept_key(apr_pool_t *p, server_rec *s, int size)
{
    const char *k = apr_psprintf(p, "auth_obo_shm:%s:%u:%d:%d",
                                 s->server_hostname ? s->server_hostname : "",
                                 (unsigned)s->port, s->is_virtual, size);
    server_addr_rec *a;

    for (a = s->addrs; a; a = a->next) {
        k = apr_psprintf(p, "%s:%s:%u", k, a->virthost ? a->virthost : "",
                         (unsigned)a->host_port);
    }
    k = names_of(p, apr_pstrcat(p, k, ":names", NULL), s->names);
    return names_of(p, apr_pstrcat(p, k, ":wild", NULL), s->wild_names);
}

static apr_hash_t *kept_all(apr_pool_t *pproc)
{
    apr_hash_t *all = NULL;

    apr_pool_userdata_get((void **)&all, KEPT_ALL, pproc);
    if (!all) {
        all = apr_hash_make(pproc);
        apr_pool_userdata_set(all, KEPT_ALL, apr_pool_cleanup_null, pproc);
    }
    return all;
}

void auth_obo_socache_sweep(server_rec *s)
{
    apr_hash_t *all = kept_all(s->process->pool);
    ap_socache_provider_t *prov = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                                     AP_SOCACHE_PROVIDER_VERSION);
    int gen = ap_state_query(AP_SQ_CONFIG_GEN);
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, all); hi && prov; hi = apr_hash_next(hi)) {
        shm_kept *k = apr_hash_this_val(hi);

        /* A graceful restart's old children keep their own mapping. */
        if (k->gen != gen && k->inst) {
            /* a warning: its tokens cost new exchanges and its long-running
             * sessions end (review 36B-F8: a ServerAlias added on a reload
             * ended every session of the host, said only at info) */
            const char *id = apr_hash_this_key(hi), *name = strchr(id, ':');
            const char *end = name ? strchr(name + 1, ':') : NULL;

            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "OBO196: OBOCache shm: the segment "
                         "of server %.*s, which no virtual host of this configuration uses "
                         "any more (its size, names, port or addresses changed), is released: "
                         "the tokens cached in it are gone, and the long-running sessions kept "
                         "in it have ended", name && end ? (int)(end - name - 1) : 1,
                         name && end ? name + 1 : "-");
            prov->destroy(k->inst, s);
            k->inst = NULL;
            /* APR's own segment: its cleanup is APR's, not the unloaded
             * shmcb's (whose cleanup keeps the instance's pool alive) */
            if (k->turn.shm) {
                apr_shm_destroy(k->turn.shm);
                k->turn.shm = NULL;
            }
            if (k->locks.shm) {
                apr_shm_destroy(k->locks.shm);
                k->locks.shm = NULL;
            }
            apr_hash_set(all, apr_hash_this_key(hi), APR_HASH_KEY_STRING, NULL);
        }
    }
}

/* What shmcb makes of `size` bytes with the module's hints (its
 * socache_shmcb_init): num_idx = size / (69 + 3000) index entries, rounded
 * down to a multiple of its subcaches, and the rest for data. Each subcache
 * is a ring: an entry is dropped when the entries or bytes written after it
 * into its subcache fill it, whether it is read or not. */
/* shmcb's own arithmetic: the index count from the segment less its header
 * (SHMCBHeader, under 128 bytes), in as many subcaches (a power of two up
 * to 256) as keep at least twice as many entries each, rounded down. */
#define SHMCB_HEADER_MAX 128
#define AUTH_OBO_SHM_MAX (1024 * 1024 * 1024)   /* OBOCache shm's largest size */

static void shm_capacity(apr_size_t size, apr_size_t *entries, apr_size_t *bytes,
                         apr_size_t *rings)
{
    apr_size_t idx = (size > SHMCB_HEADER_MAX ? size - SHMCB_HEADER_MAX : 0)
                     / (HINT_ID_LEN + HINT_OBJ_SIZE);
    apr_size_t sub = 256;

    while (sub > 1 && idx / sub < 2 * sub) {
        sub /= 2;
    }
    *entries = idx / sub * sub;
    *bytes = size - *entries * 32;     /* an index entry is about 32 bytes */
    *rings = sub;
}

static void turn_init(shm_turn *t, apr_size_t size, apr_pool_t *keep)
{
    apr_shm_t *shm = NULL;

    shm_capacity(size, &t->entries, &t->bytes, &t->rings);
    /* Anonymous: mapped before the fork at one address in every child. */
    if (apr_shm_create(&shm, OBO_TURN_COUNTS_SIZE, NULL, keep) == APR_SUCCESS) {
        if (obo_turn_setup(&t->turn, apr_shm_baseaddr_get(shm), t->entries, t->bytes,
                           t->rings) == APR_SUCCESS) {
            t->shm = shm;
        }
        else {
            apr_shm_destroy(shm);
        }
    }
}

static void locks_init(shm_locks *l, apr_pool_t *keep, apr_size_t nslots)
{
    apr_size_t size = obo_locktab_size(nslots);
    apr_shm_t *shm = NULL;

    if (apr_shm_create(&shm, size, NULL, keep) == APR_SUCCESS) {
        if (obo_locktab_setup(&l->tab, apr_shm_baseaddr_get(shm), nslots) == APR_SUCCESS) {
            l->shm = shm;
        }
        else {
            apr_shm_destroy(shm);
        }
    }
}

static apr_size_t shm_size_of(const auth_obo_srv_cfg *sc)
{
    return sc->cache_shm_size != AUTH_OBO_UNSET ? (apr_size_t)sc->cache_shm_size
                                                : SHMCB_DEFAULT_SIZE;
}

/* The instance of the previous generation, or a new one in the process pool.
 * Without OBOCacheSecret, values are sealed with a random key kept with it. */
static apr_status_t kept_instance(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                  auth_obo_srv_cfg *sc, struct ap_socache_hints *hints,
                                  const char *purpose, apr_size_t nslots, shm_kept **out)
{
    apr_pool_t *pproc = s->process->pool, *keep = NULL;
    shm_exit *e;
    const char *key = apr_psprintf(ptemp, "%s:%s:%" APR_SIZE_T_FMT,
                                   kept_key(ptemp, s, sc->cache_shm_size), purpose, nslots);
    const char *arg = NULL;
    shm_kept *k = NULL;
    const char *err;
    apr_status_t rv = APR_SUCCESS;

    apr_pool_userdata_get((void **)&k, key, pproc);
    if (!k || !k->inst) {     /* new, or released by an earlier generation's sweep */
        if (sc->cache_shm_size != AUTH_OBO_UNSET) {
            apr_ssize_t klen = APR_HASH_KEY_STRING;

            arg = apr_psprintf(ptemp, "%s(%d)", ap_runtime_dir_relative(ptemp,
                               apr_psprintf(ptemp, "auth_obo_cache.%08x",
                                            apr_hashfunc_default(key, &klen))),
                               sc->cache_shm_size);
        }
        k = apr_pcalloc(pproc, sizeof(*k));
        rv = apr_pool_create_unmanaged_ex(&keep, NULL, NULL);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        err = sc->socache->create(&k->inst, arg, ptemp, keep);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO042: OBOCache shm: %s", err);
            return APR_EGENERAL;
        }
        rv = sc->socache->init(k->inst, "auth_obo", hints, s, keep);
        if (rv == APR_SUCCESS) {
            rv = obo_random(k->secret, sizeof(k->secret));
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        turn_init(&k->turn, shm_size_of(sc), keep);
        locks_init(&k->locks, keep, nslots);
        key = apr_pstrdup(pproc, key);
        apr_pool_userdata_set(k, key, apr_pool_cleanup_null, pproc);
        apr_hash_set(kept_all(pproc), key, APR_HASH_KEY_STRING, k);
    }
    k->gen = ap_state_query(AP_SQ_CONFIG_GEN);
    e = apr_palloc(pconf, sizeof(*e));
    e->k = k;
    e->prov = sc->socache;
    e->s = s;
    apr_pool_cleanup_register(pconf, e, release_on_exit, apr_pool_cleanup_null);
    *out = k;
    return rv;
}

/* The sessions' lock table also keeps each user's count of session starts
 * for an hour (obo_session.c): four slots per user OBOSessionLimit is
 * sized for, so that the counts of the users expected in an hour never
 * push each other out (a fixed 4,096 let a few thousand users' counts
 * reset anyone's: review 22). A power of two, 4,096 to 262,144 (36 MiB). */
#define SESSION_LOCK_SLOTS_MAX 262144

static apr_size_t session_lock_slots(const auth_obo_srv_cfg *sc)
{
    apr_uint64_t want = 4 * (apr_uint64_t)auth_obo_ival(sc->session_users,
                                                      AUTH_OBO_SESSION_USERS);
    apr_size_t n = OBO_LOCKTAB_DEFAULT_SLOTS;

    while (n < want && n < SESSION_LOCK_SLOTS_MAX) {
        n *= 2;
    }
    return n;
}

apr_status_t auth_obo_socache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                          server_rec *s, auth_obo_srv_cfg *sc)
{
    struct ap_socache_hints hints = { HINT_ID_LEN, HINT_OBJ_SIZE, 300 };
    apr_status_t rv;

    sc->socache = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                     AP_SOCACHE_PROVIDER_VERSION);
    if (!sc->socache) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO041: OBOCache shm needs "
                     "mod_socache_shmcb: LoadModule socache_shmcb_module, or use OBOCache "
                     "memcached");
        return APR_EGENERAL;
    }
    shm_kept *k = NULL, *ks = NULL;

    rv = kept_mutex(s);
    if (rv == APR_SUCCESS) {
        rv = kept_instance(pconf, ptemp, s, sc, &hints, "tokens", OBO_LOCKTAB_DEFAULT_SLOTS, &k);
    }
    if (rv == APR_SUCCESS) {
        sc->socache_inst = k->inst;
        sc->socache_turn = &k->turn;
        sc->socache_locks = &k->locks;
        if (!sc->cache_secret) {
            sc->cache_secret = k->secret;
            sc->cache_secret_len = sizeof(k->secret);
        }
    }
    /* Long-running sessions get a segment of their own, of the same size:
     * in one shared with tokens, one user's fresh tokens at any exchanging
     * Location (an entry each) turned the rings over other users' idle
     * sessions (review 20). Sealed with the same secret. */
    if (rv == APR_SUCCESS && sc->uses_sessions) {
        rv = kept_instance(pconf, ptemp, s, sc, &hints, "sessions", session_lock_slots(sc), &ks);
    }
    if (rv == APR_SUCCESS && ks) {
        sc->session_inst = ks->inst;
        sc->session_turn = &ks->turn;
        sc->session_locks = &ks->locks;
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "OBO043: cannot set up the shm cache");
    }
    return rv;
}

/* A session takes meta, alive and index entries, a refresh token and an
 * access token per downstream (2 assumed), and its share of its user's list
 * and of lock entries (one more): 8 entries. docs/directives.md
 * (OBOSessionLimit) gives the same arithmetic. */
#define SESSION_ENTRIES 8

void auth_obo_socache_check_sessions(server_rec *s, const auth_obo_srv_cfg *sc)
{
    int limit = auth_obo_ival(sc->session_limit, AUTH_OBO_SESSION_LIMIT);
    int users = auth_obo_ival(sc->session_users, AUTH_OBO_SESSION_USERS);
    apr_uint64_t need = (apr_uint64_t)limit * (apr_uint64_t)users * SESSION_ENTRIES;
    apr_size_t entries = 0, bytes = 0, rings = 0;

    apr_uint64_t advice = need * (HINT_ID_LEN + HINT_OBJ_SIZE) * 5 / 4 + SHMCB_HEADER_MAX;
    apr_size_t most = 0;
    const char *what;

    shm_capacity(AUTH_OBO_SHM_MAX, &most, &bytes, &rings);
    what = need > most
           ? apr_psprintf(s->process->pconf, "That is more than the largest OBOCache shm "
                          "(%d bytes, %" APR_SIZE_T_FMT " entries) holds: use memcached",
                          AUTH_OBO_SHM_MAX, most)
           : advice > AUTH_OBO_SHM_MAX
           ? apr_psprintf(s->process->pconf, "Set OBOCache shm %d (the largest), or use "
                          "memcached", AUTH_OBO_SHM_MAX)
           : apr_psprintf(s->process->pconf, "Set OBOCache shm %" APR_UINT64_T_FMT
                          " or more, or use memcached", advice);
    shm_capacity(shm_size_of(sc), &entries, &bytes, &rings);
    if (need > entries) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "OBO195: OBOLongRunning with an shm "
                     "cache of %" APR_SIZE_T_FMT " bytes (%" APR_SIZE_T_FMT " entries): "
                     "OBOSessionLimit %d x %d user(s) x %d entries per session needs %"
                     APR_UINT64_T_FMT " entries; sessions in use will be evicted. %s",
                     shm_size_of(sc), entries, limit, users, SESSION_ENTRIES, need, what);
    }
}

static void lock(shm_ctx *c)
{
    if (c->mutex) {
        apr_global_mutex_lock(c->mutex);
    }
}

static void unlock(shm_ctx *c)
{
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
}

/* The id shmcb sees: the key behind one byte of its FNV-1a hash. shmcb picks
 * the subcache from an id's first byte (SHMCB_MASK: *id & (subcache_num - 1))
 * and every key of the module starts with "obo"; unchanged they all went to one
 * subcache, and entries were evicted with the rest of the cache unused. */
static const unsigned char *shm_id(apr_pool_t *p, const char *key, unsigned int *len)
{
    apr_size_t n = strlen(key), i;
    apr_uint32_t h = 2166136261u;
    unsigned char *id = apr_palloc(p, n + 1);

    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    }
    id[0] = (unsigned char)(h ^ h >> 8 ^ h >> 16 ^ h >> 24);
    memcpy(id + 1, key, n);
    *len = (unsigned int)(n + 1);
    return id;
}

static apr_status_t retrieve(shm_ctx *c, apr_pool_t *p, const char *key,
                             unsigned char **val, apr_size_t *len)
{
    unsigned int n = MAX_VALUE, idlen;
    unsigned char *buf = apr_palloc(p, MAX_VALUE);
    const unsigned char *id = shm_id(p, key, &idlen);
    apr_status_t rv = c->prov->retrieve(c->inst, c->s, id, idlen, buf, &n, p);

    if (rv == APR_SUCCESS) {
        *val = buf;
        *len = n;
    }
    return rv;
}

static apr_status_t shm_get(void *ctx, apr_pool_t *p, const char *key,
                            unsigned char **val, apr_size_t *len)
{
    shm_ctx *c = ctx;
    apr_status_t rv;

    lock(c);
    rv = retrieve(c, p, key, val, len);
    unlock(c);
    return rv;
}

static apr_status_t store(shm_ctx *c, apr_pool_t *p, const char *key,
                          const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    unsigned int idlen;
    const unsigned char *id;

    if (len > MAX_VALUE) {
        return APR_ENOSPC;
    }
    id = shm_id(p, key, &idlen);
    if (c->turn && c->turn->shm) {
        /* shmcb's ring: SHMCB_MASK */
        obo_turn_count(&c->turn->turn, id[0], idlen + len);
    }
    obo_metrics_inc(OBO_M_SHM_WRITES);
    return c->prov->store(c->inst, c->s, id, idlen, expiry, (unsigned char *)val,
                          (unsigned int)len, p);
}

static apr_uint64_t shm_written(void *ctx)
{
    shm_ctx *c = ctx;

    return obo_turn_top(&c->turn->turn);
}

static apr_status_t shm_set(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    shm_ctx *c = ctx;
    apr_status_t rv;

    lock(c);
    rv = store(c, p, key, val, len, expiry);
    unlock(c);
    return rv;
}

static apr_status_t shm_add(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    shm_ctx *c = ctx;
    unsigned char *old;
    apr_size_t oldlen;
    apr_status_t rv;

    lock(c);
    rv = retrieve(c, p, key, &old, &oldlen);
    rv = rv == APR_SUCCESS ? APR_EEXIST : store(c, p, key, val, len, expiry);
    unlock(c);
    return rv;
}

static apr_status_t shm_del(void *ctx, apr_pool_t *p, const char *key)
{
    shm_ctx *c = ctx;
    unsigned int idlen;
    const unsigned char *id = shm_id(p, key, &idlen);
    apr_status_t rv;

    lock(c);
    rv = c->prov->remove(c->inst, c->s, id, idlen, p);
    unlock(c);
    return rv;
}

/* ---- the lock table: the same global mutex as shmcb */

static apr_status_t locks_get(void *ctx, apr_pool_t *p, const char *key,
                              unsigned char **val, apr_size_t *len)
{
    shm_ctx *c = ctx;
    apr_status_t rv;

    lock(c);
    rv = obo_locktab_get(&c->locks->tab, p, key, apr_time_now(), val, len);
    unlock(c);
    return rv;
}

/* set or add under the mutex; a store that made a live entry give way is
 * counted. */
static apr_status_t locks_store(shm_ctx *c, const char *key, const unsigned char *val,
                                apr_size_t len, apr_time_t expiry, int add)
{
    apr_uint64_t before;
    apr_status_t rv;

    lock(c);
    before = obo_locktab_displaced(&c->locks->tab);
    rv = add ? obo_locktab_add(&c->locks->tab, key, val, len, expiry, apr_time_now())
             : obo_locktab_set(&c->locks->tab, key, val, len, expiry, apr_time_now());
    if (obo_locktab_displaced(&c->locks->tab) != before) {
        obo_metrics_inc(OBO_M_SHM_LOCKS_DISPLACED);
    }
    unlock(c);
    return rv;
}

static apr_status_t locks_set(void *ctx, apr_pool_t *p, const char *key,
                              const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    (void)p;
    return locks_store(ctx, key, val, len, expiry, 0);
}

static apr_status_t locks_add(void *ctx, apr_pool_t *p, const char *key,
                              const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    (void)p;
    return locks_store(ctx, key, val, len, expiry, 1);
}

static apr_status_t locks_del(void *ctx, apr_pool_t *p, const char *key)
{
    shm_ctx *c = ctx;
    apr_status_t rv;

    (void)p;
    lock(c);
    rv = obo_locktab_del(&c->locks->tab, key);
    unlock(c);
    return rv;
}

static apr_status_t locks_del_if(void *ctx, apr_pool_t *p, const char *key,
                                 const unsigned char *val, apr_size_t len)
{
    shm_ctx *c = ctx;
    apr_status_t rv;

    (void)p;
    lock(c);
    rv = obo_locktab_del_if(&c->locks->tab, key, val, len, apr_time_now());
    unlock(c);
    return rv;
}

static apr_status_t locks_hold(void *ctx, apr_pool_t *p, const char *key,
                               const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    shm_ctx *c = ctx;
    apr_uint64_t before;
    apr_status_t rv;

    (void)p;
    lock(c);
    before = obo_locktab_displaced(&c->locks->tab);
    rv = obo_locktab_hold(&c->locks->tab, key, val, len, expiry, apr_time_now());
    if (obo_locktab_displaced(&c->locks->tab) != before) {
        obo_metrics_inc(OBO_M_SHM_LOCKS_DISPLACED);
    }
    unlock(c);
    return rv;
}

static const obo_cache_backend *locks_backend(apr_pool_t *pchild, shm_ctx *c)
{
    obo_cache_backend *b;

    if (!c->locks || !c->locks->shm) {
        return NULL;                 /* no memory for it: locks live in shmcb */
    }
    b = apr_pcalloc(pchild, sizeof(*b));
    b->name = "shm-locks";
    b->get = locks_get;
    b->set = locks_set;
    b->add = locks_add;
    b->del = locks_del;
    b->del_if = locks_del_if;
    b->hold = locks_hold;
    b->ctx = c;
    return b;
}

apr_status_t auth_obo_socache_child_init(apr_pool_t *pchild, server_rec *s,
                                         auth_obo_srv_cfg *sc, int sessions,
                                         obo_cache_backend **be)
{
    static apr_pool_t *attached;   /* re-attach the mutex once per child */
    shm_ctx *c = apr_pcalloc(pchild, sizeof(*c));
    obo_cache_backend *b = apr_pcalloc(pchild, sizeof(*b));
    apr_status_t rv = APR_SUCCESS;

    if (cache_mutex && attached != pchild) {
        rv = apr_global_mutex_child_init(&cache_mutex,
                                         apr_global_mutex_lockfile(cache_mutex), pchild);
        attached = pchild;
    }
    c->prov = sc->socache;
    c->inst = sessions ? sc->session_inst : sc->socache_inst;
    c->mutex = cache_mutex;
    c->s = s;
    c->turn = sessions ? sc->session_turn : sc->socache_turn;
    c->locks = sessions ? sc->session_locks : sc->socache_locks;
    b->name = "shm";
    b->locks = locks_backend(pchild, c);
    b->written = c->turn && c->turn->shm ? shm_written : NULL;
    b->get = shm_get;
    b->set = shm_set;
    b->add = shm_add;
    b->del = shm_del;
    b->ctx = c;
    *be = b;
    return rv;
}
