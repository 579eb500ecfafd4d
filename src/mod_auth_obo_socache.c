/* The embedded "shm" cache backend: httpd's socache (shmcb) shared by every
 * process and thread of the server. shmcb is not safe across processes on
 * its own, so every operation takes one global mutex; that same mutex makes
 * add() atomic, which single flight relies on. */
#include "mod_auth_obo.h"

#include "apr_strings.h"
#include "ap_provider.h"
#include "http_core.h"
#include "util_mutex.h"

APLOG_USE_MODULE(auth_obo);

#define MUTEX_TYPE "auth-obo-cache"
#define MAX_VALUE (32 * 1024)

typedef struct shm_ctx {
    ap_socache_provider_t *prov;
    ap_socache_instance_t *inst;
    apr_global_mutex_t *mutex;
    server_rec *s;
} shm_ctx;

static apr_global_mutex_t *cache_mutex;   /* one per server generation */

void auth_obo_socache_pre_config(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t destroy_inst(void *data)
{
    auth_obo_srv_cfg *sc = data;

    if (sc->socache_inst) {
        sc->socache->destroy(sc->socache_inst, sc->s);
        sc->socache_inst = NULL;
    }
    cache_mutex = NULL;
    return APR_SUCCESS;
}

static apr_status_t create_mutex(apr_pool_t *pconf, server_rec *s)
{
    if (cache_mutex) {
        return APR_SUCCESS;
    }
    return ap_global_mutex_create(&cache_mutex, NULL, MUTEX_TYPE, NULL, s, pconf, 0);
}

apr_status_t auth_obo_socache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                          server_rec *s, auth_obo_srv_cfg *sc)
{
    struct ap_socache_hints hints = { 69, 3000, 300 };
    const char *arg = NULL, *err;
    apr_status_t rv;

    sc->socache = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                     AP_SOCACHE_PROVIDER_VERSION);
    if (!sc->socache) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO041: OBOCache shm needs "
                     "mod_socache_shmcb: LoadModule socache_shmcb_module, or use OBOCache "
                     "memcached");
        return APR_EGENERAL;
    }
    if (sc->cache_shm_size != AUTH_OBO_UNSET) {
        arg = apr_psprintf(ptemp, "%s(%d)", ap_runtime_dir_relative(ptemp,
                           apr_psprintf(ptemp, "auth_obo_cache.%pp", (void *)sc)),
                           sc->cache_shm_size);
    }
    err = sc->socache->create(&sc->socache_inst, arg, ptemp, pconf);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO042: OBOCache shm: %s", err);
        return APR_EGENERAL;
    }
    rv = sc->socache->init(sc->socache_inst, "auth_obo", &hints, s, pconf);
    if (rv == APR_SUCCESS) {
        apr_pool_cleanup_register(pconf, sc, destroy_inst, apr_pool_cleanup_null);
        rv = create_mutex(pconf, s);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "OBO043: cannot set up the shm cache");
    }
    return rv;
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

static apr_status_t retrieve(shm_ctx *c, apr_pool_t *p, const char *key,
                             unsigned char **val, apr_size_t *len)
{
    unsigned int n = MAX_VALUE;
    unsigned char *buf = apr_palloc(p, MAX_VALUE);
    apr_status_t rv = c->prov->retrieve(c->inst, c->s, (const unsigned char *)key,
                                        (unsigned int)strlen(key), buf, &n, p);

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
    if (len > MAX_VALUE) {
        return APR_ENOSPC;
    }
    return c->prov->store(c->inst, c->s, (const unsigned char *)key,
                          (unsigned int)strlen(key), expiry, (unsigned char *)val,
                          (unsigned int)len, p);
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
    apr_status_t rv;

    lock(c);
    rv = c->prov->remove(c->inst, c->s, (const unsigned char *)key,
                         (unsigned int)strlen(key), p);
    unlock(c);
    return rv;
}

apr_status_t auth_obo_socache_child_init(apr_pool_t *pchild, server_rec *s,
                                         auth_obo_srv_cfg *sc, obo_cache_backend **be)
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
    c->inst = sc->socache_inst;
    c->mutex = cache_mutex;
    c->s = s;
    b->name = "shm";
    b->get = shm_get;
    b->set = shm_set;
    b->add = shm_add;
    b->del = shm_del;
    b->ctx = c;
    *be = b;
    return rv;
}
