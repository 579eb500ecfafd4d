/* SPDX-License-Identifier: Apache-2.0 */
/* Token cache core (see obo_cache.h): hashed keys, sealed values bound to
 * their key, and single flight in two layers - threads of one process
 * share an in-process flight, processes and servers share a lock entry in
 * the backend. The backend is an optimisation: whenever it fails, the
 * request still gets a token by calling fetch directly. */
#include "obo_cache.h"
#include "obo_log.h"
#include "obo_metrics.h"

#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

#define OBO_KEY_PREFIX "obo1:"
#define OBO_LOCK_SUFFIX ".lock"
#define OBO_HKDF_SALT "mod_auth_obo cache"
#define OBO_HKDF_INFO "obo cache v1"
#define OBO_HKDF_NAMES_INFO "obo cache names v1"
#define OBO_NAME_PREFIX "obo2:"
#define OBO_SECRET_MIN 16
#define OBO_EXPIRY_LEN 8
#define OBO_LOCK_TOKEN_LEN 16
#define OBO_POLL_CAP apr_time_from_msec(50)
#define OBO_FAIL_SUFFIX ".fail"
#define OBO_FAIL_TTL apr_time_from_sec(5)  /* waiters poll every 50 ms at most */
#define OBO_WAIT_ERRORS 3       /* backend errors in a row before a waiter gives up */
#define OBO_TAKEOVERS 4         /* lock races after holders that left no result */
#define OBO_WAIT_SHARED (APR_OS_START_USERERR + 1)  /* internal: a shared failure */

struct obo_cache {
    const obo_cache_backend *be;
    unsigned char key[OBO_AEAD_KEY_LEN];
    apr_thread_mutex_t *mutex;      /* guards flights, fpool and every flight's fields */
    apr_pool_t *fpool;              /* private: the flights table grows here */
    apr_hash_t *flights;            /* cache key -> obo_flight, while in progress */
};

/* One in-process fill. It lives in its own unmanaged pool so that the
 * leader's fetch can allocate the value and errval there and every
 * participant can use errval until its own pool goes: each participant
 * holds a reference that a cleanup on its pool drops. */
typedef struct obo_flight {
    obo_cache *cache;
    apr_pool_t *pool;
    apr_thread_cond_t *cond;
    const char *key;
    int refs;
    int done;
    apr_status_t rv;
    char *val;
    apr_size_t len;
    int hit;
    void *errval;
} obo_flight;

/* What one caller needs to fill a key across processes. */
typedef struct obo_fill {
    obo_cache *c;
    apr_pool_t *p;                  /* caller's pool: scratch work */
    apr_pool_t *rpool;              /* where the result and errval live */
    const char *key;
    const obo_cache_flight_opts *o;
    const obo_cache_errshare *share;    /* or NULL */
    obo_cache_fetch_fn *fetch;
    void *baton;
    char *val;
    apr_size_t len;
    int hit;
    void *errval;
    apr_time_t deadline;            /* a waiter's end: max_wait after its first add */
} obo_fill;

/* ---- rate-limited warnings: a dead backend must not flood the error log */

enum { OBO_RL_GET, OBO_RL_SET, OBO_RL_ADD, OBO_RL_DEL, OBO_RL_AUTH, OBO_RL_WAIT, OBO_RL_N };
static const char *const obo_rl_msgid[OBO_RL_N] = {
    "OBO201", "OBO202", "OBO203", "OBO204", "OBO205", "OBO206"
};
static apr_uint32_t obo_rl_last[OBO_RL_N];

static int obo_rl_allow(int kind)
{
    return obo_log_ratelimit(&obo_rl_last[kind], OBO_LOG_INTERVAL_S);
}

static void obo_backend_warn(int kind, const char *op, obo_cache *c, apr_pool_t *p,
                             const char *key, apr_status_t rv)
{
    char err[120];

    obo_metrics_backend_error(c->be->name);
    if (obo_rl_allow(kind)) {
        obo_log(OBO_LOG_WARN, obo_rl_msgid[kind], "cache backend %s %s failed for key %s: "
                "%s; calling the identity provider directly (further such messages "
                "suppressed for %d s)", c->be->name, op, obo_fingerprint(p, key, strlen(key)),
                apr_strerror(rv, err, sizeof(err)), OBO_LOG_INTERVAL_S);
    }
}

/* ---- keys */

static void obo_put_field(apr_array_header_t *buf, const void *data, apr_size_t len)
{
    unsigned char hdr[4];
    apr_size_t i;

    /* NULL and "" must hash differently: NULL gets the reserved length. */
    apr_uint32_t n = data ? (apr_uint32_t)len : 0xffffffffu;
    hdr[0] = (unsigned char)(n >> 24);
    hdr[1] = (unsigned char)(n >> 16);
    hdr[2] = (unsigned char)(n >> 8);
    hdr[3] = (unsigned char)n;
    for (i = 0; i < sizeof(hdr); i++) {
        APR_ARRAY_PUSH(buf, unsigned char) = hdr[i];
    }
    for (i = 0; data && i < len; i++) {
        APR_ARRAY_PUSH(buf, unsigned char) = ((const unsigned char *)data)[i];
    }
}

static void obo_put_str(apr_array_header_t *buf, const char *s)
{
    obo_put_field(buf, s, s ? strlen(s) : 0);
}

static int obo_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, deduplicated, case preserved (scopes are case-sensitive URIs);
 * NULL and empty entries are dropped as a split of "a  b" produces them. */
static apr_array_header_t *obo_norm_scopes(apr_pool_t *p, const apr_array_header_t *in)
{
    apr_array_header_t *tmp = apr_array_make(p, in ? in->nelts : 0, sizeof(const char *));
    apr_array_header_t *out = apr_array_make(p, in ? in->nelts : 0, sizeof(const char *));
    int i;

    for (i = 0; in && i < in->nelts; i++) {
        const char *s = APR_ARRAY_IDX(in, i, const char *);
        if (s && *s) {
            APR_ARRAY_PUSH(tmp, const char *) = s;
        }
    }
    if (tmp->nelts > 1) {
        qsort(tmp->elts, (size_t)tmp->nelts, sizeof(const char *), obo_strcmp_p);
    }
    for (i = 0; i < tmp->nelts; i++) {
        const char *s = APR_ARRAY_IDX(tmp, i, const char *);
        if (out->nelts == 0 || strcmp(APR_ARRAY_IDX(out, out->nelts - 1, const char *), s)) {
            APR_ARRAY_PUSH(out, const char *) = s;
        }
    }
    return out;
}

char *obo_cache_key(apr_pool_t *p, const obo_cache_keyparts *k)
{
    apr_array_header_t *buf = apr_array_make(p, 256, 1);
    apr_array_header_t *scopes = obo_norm_scopes(p, k->scopes);
    unsigned char ahash[OBO_SHA256_LEN];
    char count[16];
    int i;

    obo_put_str(buf, "obo-cache-key-v1");
    obo_put_str(buf, k->client_id);
    obo_put_str(buf, k->authority);
    obo_put_str(buf, k->exchange);
    obo_put_str(buf, k->audience);
    apr_snprintf(count, sizeof(count), "%d", scopes->nelts);
    obo_put_str(buf, count);
    for (i = 0; i < scopes->nelts; i++) {
        obo_put_str(buf, APR_ARRAY_IDX(scopes, i, const char *));
    }
    /* The assertion itself never reaches the key material, only its hash. */
    if (k->assertion && k->assertion_sha256) {
        memcpy(ahash, k->assertion_sha256, sizeof(ahash));
    }
    else if (k->assertion) {
        obo_sha256(k->assertion, strlen(k->assertion), ahash);
    }
    obo_put_field(buf, k->assertion ? ahash : NULL, sizeof(ahash));
    /* Only when it asks for something else than an access token, so that the
     * keys of every other configuration stay what they were (servers of two
     * versions share one memcached during an upgrade). Unambiguous: the
     * fields before are length-prefixed and the hash has a fixed size. */
    if (k->requested_token_type
        && strcmp(k->requested_token_type, OBO_TOKEN_TYPE_ACCESS_TOKEN) != 0) {
        obo_put_str(buf, "requested_token_type");
        obo_put_str(buf, k->requested_token_type);
    }
    return apr_pstrcat(p, OBO_KEY_PREFIX,
                       obo_sha256_hex(p, buf->elts, (apr_size_t)buf->nelts), NULL);
}

/* ---- sealed values: plaintext = 8-byte big-endian expiry || value */

/* A subpool of p with an allocator of its own, so that allocating from it
 * under our mutex cannot race with anyone else's use of p (two caches in
 * one threaded process share the child pool). Destroyed with p. */
static apr_status_t obo_private_pool(apr_pool_t *p, apr_pool_t **out)
{
    apr_allocator_t *alloc = NULL;
    apr_status_t rv = apr_allocator_create(&alloc);

    if (rv == APR_SUCCESS) {
        rv = apr_pool_create_ex(out, p, NULL, alloc);
        if (rv == APR_SUCCESS) {
            apr_allocator_owner_set(alloc, *out);
        }
        else {
            apr_allocator_destroy(alloc);
        }
    }
    return rv;
}

/* ---- names on a backend that servers with other secrets may share
 *
 * Every name goes to such a backend as an HMAC under a key derived from the
 * cache secret. With plain names, servers with different secrets on one
 * memcached (staging beside production, a farm halfway through a secret
 * change) each took the other's sealed entry for a miss and wrote their own
 * over it: a user's session list and start count (OBOSessionLimit and the
 * hourly cap stopped holding), the shared key set (a cold server answered
 * 503). Unsealed locks and notes could also be aimed by anyone who can
 * compute a name (review 24). Sealed values stay bound to their plain
 * names. */

typedef struct obo_named {
    const obo_cache_backend *inner;
    unsigned char key[OBO_SHA256_LEN];
} obo_named;

static const char *obo_named_key(const obo_named *n, apr_pool_t *p, const char *key)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[OBO_SHA256_LEN];
    char *out = apr_palloc(p, sizeof(OBO_NAME_PREFIX) + 2 * OBO_SHA256_LEN);
    char *o = out + sizeof(OBO_NAME_PREFIX) - 1;
    apr_size_t i;

    if (obo_hmac_sha256(n->key, sizeof(n->key), key, strlen(key), mac) != APR_SUCCESS) {
        return NULL;
    }
    memcpy(out, OBO_NAME_PREFIX, sizeof(OBO_NAME_PREFIX) - 1);
    for (i = 0; i < sizeof(mac); i++) {
        *o++ = hex[mac[i] >> 4];
        *o++ = hex[mac[i] & 15];
    }
    *o = '\0';
    return out;
}

static apr_status_t obo_named_get(void *ctx, apr_pool_t *p, const char *key,
                                  unsigned char **val, apr_size_t *len)
{
    const obo_named *n = ctx;
    const char *k = obo_named_key(n, p, key);

    return k ? n->inner->get(n->inner->ctx, p, k, val, len) : APR_EGENERAL;
}

static apr_status_t obo_named_set(void *ctx, apr_pool_t *p, const char *key,
                                  const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    const obo_named *n = ctx;
    const char *k = obo_named_key(n, p, key);

    return k ? n->inner->set(n->inner->ctx, p, k, val, len, expiry) : APR_EGENERAL;
}

static apr_status_t obo_named_add(void *ctx, apr_pool_t *p, const char *key,
                                  const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    const obo_named *n = ctx;
    const char *k = obo_named_key(n, p, key);

    return k ? n->inner->add(n->inner->ctx, p, k, val, len, expiry) : APR_EGENERAL;
}

static apr_status_t obo_named_del(void *ctx, apr_pool_t *p, const char *key)
{
    const obo_named *n = ctx;
    const char *k = obo_named_key(n, p, key);

    return k ? n->inner->del(n->inner->ctx, p, k) : APR_EGENERAL;
}

/* A backend that calls be with named keys. be keeps everything else: a
 * shared backend has no lock table of its own and evicts by use. */
static apr_status_t obo_named_backend(apr_pool_t *p, const obo_cache_backend *be,
                                      const unsigned char *secret, apr_size_t secretlen,
                                      const obo_cache_backend **out)
{
    obo_named *n = apr_pcalloc(p, sizeof(*n));
    obo_cache_backend *w = apr_pcalloc(p, sizeof(*w));
    apr_status_t rv = be->locks || be->del_if || be->hold ? APR_ENOTIMPL : APR_SUCCESS;

    if (rv == APR_SUCCESS) {
        rv = obo_hkdf_sha256(secret, secretlen, (const unsigned char *)OBO_HKDF_SALT,
                             strlen(OBO_HKDF_SALT), OBO_HKDF_NAMES_INFO, n->key,
                             sizeof(n->key));
        obo_cleanse_on_clear(p, n->key, sizeof(n->key));
    }
    if (rv == APR_SUCCESS) {
        n->inner = be;
        *w = *be;
        w->get = obo_named_get;
        w->set = obo_named_set;
        w->add = obo_named_add;
        w->del = obo_named_del;
        w->ctx = n;
        *out = w;
    }
    return rv;
}

apr_status_t obo_cache_create(apr_pool_t *p, const obo_cache_backend *be,
                              const unsigned char *secret, apr_size_t secretlen,
                              obo_cache **out)
{
    apr_status_t rv = APR_EINVAL;
    obo_cache *c = apr_pcalloc(p, sizeof(*c));

    if (be && secret && secretlen >= OBO_SECRET_MIN
        && obo_private_pool(p, &c->fpool) == APR_SUCCESS) {
        c->be = be;
        c->flights = apr_hash_make(c->fpool);
        rv = obo_hkdf_sha256(secret, secretlen, (const unsigned char *)OBO_HKDF_SALT,
                             strlen(OBO_HKDF_SALT), OBO_HKDF_INFO, c->key, sizeof(c->key));
        obo_cleanse_on_clear(p, c->key, sizeof(c->key));
    }
    if (rv == APR_SUCCESS && be->shared) {
        rv = obo_named_backend(p, be, secret, secretlen, &c->be);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        *out = c;
    }
    return rv;
}

/* Like obo_cache_get, but a backend failure keeps its own status so that
 * get_or_fetch can tell "miss" from "backend down". */
static apr_status_t obo_cache_lookup(obo_cache *c, apr_pool_t *p, const char *key,
                                     char **val, apr_size_t *len)
{
    unsigned char *sealed = NULL, *pt = NULL;
    apr_size_t slen = 0, ptlen = 0;
    apr_time_t expiry = 0;
    apr_status_t rv = c->be->get(c->be->ctx, p, key, &sealed, &slen);
    int i;

    if (rv == APR_SUCCESS
        && (obo_aead_open(p, c->key, key, strlen(key), sealed, slen, &pt, &ptlen)
            != APR_SUCCESS || ptlen < OBO_EXPIRY_LEN)) {
        /* Wrong secret on another server, corruption, or a swapped entry. */
        if (obo_rl_allow(OBO_RL_AUTH)) {
            obo_log(OBO_LOG_WARN, obo_rl_msgid[OBO_RL_AUTH], "cache entry for key %s failed "
                    "authentication (different ObO cache secret?); treated as a miss",
                    obo_fingerprint(p, key, strlen(key)));
        }
        rv = APR_NOTFOUND;
    }
    if (rv == APR_SUCCESS) {
        for (i = 0; i < OBO_EXPIRY_LEN; i++) {
            expiry = (apr_time_t)(((apr_uint64_t)expiry << 8) | pt[i]);
        }
        /* The backend may keep an entry past its expiry; we don't. */
        rv = expiry > apr_time_now() ? APR_SUCCESS : APR_NOTFOUND;
    }
    if (rv == APR_SUCCESS) {
        *val = (char *)pt + OBO_EXPIRY_LEN;   /* NUL-terminated by obo_aead_open */
        *len = ptlen - OBO_EXPIRY_LEN;
    }
    else if (rv != APR_NOTFOUND) {
        obo_backend_warn(OBO_RL_GET, "get", c, p, key, rv);
    }
    return rv;
}

apr_status_t obo_cache_get(obo_cache *c, apr_pool_t *p, const char *key,
                           char **val, apr_size_t *len)
{
    return obo_cache_lookup(c, p, key, val, len);
}

apr_status_t obo_cache_set(obo_cache *c, apr_pool_t *p, const char *key,
                           const char *val, apr_size_t len, apr_time_t expiry)
{
    unsigned char *pt = apr_palloc(p, len + OBO_EXPIRY_LEN), *sealed = NULL;
    apr_size_t slen = 0;
    apr_status_t rv;
    int i;

    obo_cleanse_on_clear(p, pt, len + OBO_EXPIRY_LEN);   /* a token in clear */

    for (i = 0; i < OBO_EXPIRY_LEN; i++) {
        pt[i] = (unsigned char)((apr_uint64_t)expiry >> (8 * (OBO_EXPIRY_LEN - 1 - i)));
    }
    memcpy(pt + OBO_EXPIRY_LEN, val, len);
    rv = obo_aead_seal(p, c->key, key, strlen(key), pt, len + OBO_EXPIRY_LEN,
                       &sealed, &slen);
    if (rv == APR_SUCCESS) {
        rv = c->be->set(c->be->ctx, p, key, sealed, slen, expiry);
        if (rv != APR_SUCCESS) {
            obo_backend_warn(OBO_RL_SET, "set", c, p, key, rv);
        }
    }
    return rv;
}

apr_status_t obo_cache_del(obo_cache *c, apr_pool_t *p, const char *key)
{
    apr_status_t rv = c->be->del(c->be->ctx, p, key);

    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        obo_backend_warn(OBO_RL_DEL, "delete", c, p, key, rv);
    }
    return rv;
}

int obo_cache_written(const obo_cache *c, apr_uint64_t *written)
{
    if (!c->be->written) {
        return 0;
    }
    *written = c->be->written(c->be->ctx);
    return 1;
}

/* ---- named locks and notes: in the backend's lock table when it has one */

static const obo_cache_backend *obo_lock_be(const obo_cache *c)
{
    return c->be->locks ? c->be->locks : c->be;
}

static const char *obo_lock_token(apr_pool_t *p)
{
    unsigned char raw[OBO_LOCK_TOKEN_LEN];

    return obo_random(raw, sizeof(raw)) == APR_SUCCESS
           ? apr_pstrndup(p, obo_sha256_hex(p, raw, sizeof(raw)), OBO_LOCK_TOKEN_LEN * 2)
           : NULL;
}

apr_status_t obo_cache_lock(obo_cache *c, apr_pool_t *p, const char *name, apr_time_t until,
                            const char **token)
{
    const obo_cache_backend *be = obo_lock_be(c);
    const char *t = obo_lock_token(p);
    apr_status_t rv = t ? be->add(be->ctx, p, name, (const unsigned char *)t, strlen(t), until)
                        : APR_EGENERAL;

    if (rv == APR_SUCCESS) {
        *token = t;
    }
    else if (rv != APR_EEXIST) {
        obo_backend_warn(OBO_RL_ADD, "add", c, p, name, rv);
    }
    return rv;
}

apr_status_t obo_cache_lock_hold(obo_cache *c, apr_pool_t *p, const char *name,
                                 const char *token, apr_time_t until)
{
    const obo_cache_backend *be = obo_lock_be(c);
    const unsigned char *v = (const unsigned char *)token;
    apr_status_t rv = be->hold ? be->hold(be->ctx, p, name, v, strlen(token), until)
                               : be->set(be->ctx, p, name, v, strlen(token), until);

    if (rv != APR_SUCCESS && rv != APR_EEXIST) {
        obo_backend_warn(OBO_RL_SET, "set", c, p, name, rv);
    }
    return rv;
}

void obo_cache_unlock(obo_cache *c, apr_pool_t *p, const char *name, const char *token)
{
    const obo_cache_backend *be = obo_lock_be(c);
    unsigned char *lv = NULL;
    apr_size_t lvlen = 0;
    apr_status_t rv;

    if (be->del_if) {
        rv = be->del_if(be->ctx, p, name, (const unsigned char *)token, strlen(token));
        rv = rv == APR_EEXIST ? APR_NOTFOUND : rv;
    }
    else if ((rv = be->get(be->ctx, p, name, &lv, &lvlen)) == APR_SUCCESS
             && obo_ct_equal(lv, lvlen, token, strlen(token))) {
        rv = be->del(be->ctx, p, name);
    }
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        obo_backend_warn(OBO_RL_DEL, "unlock", c, p, name, rv);
    }
}

static int obo_small_beside(const obo_cache *c)
{
    return c->be->written && c->be->locks;
}

apr_status_t obo_cache_set_small(obo_cache *c, apr_pool_t *p, const char *key,
                                 const char *val, apr_size_t len, apr_time_t expiry)
{
    const obo_cache_backend *be = c->be->locks;

    if (!obo_small_beside(c)) {
        return obo_cache_set(c, p, key, val, len, expiry);
    }
    return len <= OBO_CACHE_SMALL_MAX
           ? be->set(be->ctx, p, key, (const unsigned char *)val, len, expiry) : APR_ENOSPC;
}

/* A plain entry beside the locks, as a NUL-terminated copy. */
static apr_status_t obo_locks_get_text(const obo_cache *c, apr_pool_t *p, const char *key,
                                       char **val, apr_size_t *len)
{
    const obo_cache_backend *be = obo_lock_be(c);
    unsigned char *raw = NULL;
    apr_status_t rv = be->get(be->ctx, p, key, &raw, len);

    if (rv == APR_SUCCESS) {
        *val = apr_pstrmemdup(p, (const char *)raw, *len);
    }
    return rv;
}

apr_status_t obo_cache_get_small(obo_cache *c, apr_pool_t *p, const char *key,
                                 char **val, apr_size_t *len)
{
    return obo_small_beside(c) ? obo_locks_get_text(c, p, key, val, len)
                               : obo_cache_get(c, p, key, val, len);
}

apr_status_t obo_cache_del_small(obo_cache *c, apr_pool_t *p, const char *key)
{
    const obo_cache_backend *be = c->be->locks;

    return obo_small_beside(c) ? be->del(be->ctx, p, key) : obo_cache_del(c, p, key);
}

apr_status_t obo_cache_note(obo_cache *c, apr_pool_t *p, const char *name, apr_time_t until)
{
    const obo_cache_backend *be = obo_lock_be(c);
    apr_status_t rv = be->set(be->ctx, p, name, (const unsigned char *)"1", 1, until);

    if (rv != APR_SUCCESS) {
        obo_backend_warn(OBO_RL_SET, "set", c, p, name, rv);
    }
    return rv;
}

int obo_cache_noted(obo_cache *c, apr_pool_t *p, const char *name)
{
    const obo_cache_backend *be = obo_lock_be(c);
    unsigned char *v = NULL;
    apr_size_t len = 0;

    return be->get(be->ctx, p, name, &v, &len) == APR_SUCCESS && len == 1 && v[0] == '1';
}

/* ---- cross-process fill */

/* Calls fetch into the result pool and, unless the backend is known to be
 * failing, stores what it returned. A failed store still returns the value. */
static apr_status_t obo_fill_fetch(obo_fill *f, int store)
{
    apr_time_t expiry = 0;
    apr_status_t rv;

    f->val = NULL;
    f->len = 0;
    f->hit = 0;
    f->errval = NULL;
    rv = f->fetch(f->baton, f->rpool, &f->val, &f->len, &expiry, &f->errval);
    if (rv == APR_SUCCESS && store && f->val && expiry > apr_time_now()) {
        obo_cache_set(f->c, f->p, f->key, f->val, f->len, expiry);
    }
    return rv;
}

static void obo_fill_hit(obo_fill *f, const char *val, apr_size_t len)
{
    f->val = apr_pstrmemdup(f->rpool, val, len);
    f->len = len;
    f->hit = 1;
}

/* ---- failures shared with the waiters of one lock: "<key>.fail" holds
 * "<lock token> <status>\n<encoded errval>", sealed like a value. It is
 * read only by waiters of that lock, so it answers the requests that were
 * waiting for that IdP call and no later one (a later request takes a new
 * lock and calls again: a 5xx is not remembered; a user's failure is, by
 * the caller's negative cache if it wants). */

/* Where a failure is shared with the waiters of its call. Not among the
 * entries of a backend that evicts in insertion order (shm): one caller
 * whose exchange keeps failing (an IdP answering 5xx, invalid_client in
 * its tenant), with waiters in other processes, rewrote one key per failed
 * call, turned its ring and evicted idle sessions (reviews 15A, 16A).
 * There it goes beside the locks whole when it fits (OBO_LOCKTAB_VALUE_MAX:
 * the table is this server's own memory, written by its processes only),
 * else nowhere: the waiters take the lock over one at a time. On an LRU
 * backend (memcached) it is sealed among the entries, and only when a
 * waiter said it waits ("<key>.wait", beside the locks, as long as a lock
 * lives): a failure nobody waits for writes nothing (a waiter that comes
 * after the holder looked takes the lock over: one more call at most). */
typedef enum { OBO_FAIL_SEALED, OBO_FAIL_NOTE_CUT, OBO_FAIL_NOTE_WHOLE, OBO_FAIL_NOWHERE }
    obo_fail_place;

#define OBO_WAIT_SUFFIX ".wait"

static obo_fail_place obo_fail_where(const obo_fill *f)
{
    if (f->share->beside_locks) {
        return OBO_FAIL_NOTE_CUT;
    }
    if (f->c->be->written) {
        return f->c->be->locks ? OBO_FAIL_NOTE_WHOLE : OBO_FAIL_NOWHERE;
    }
    return OBO_FAIL_SEALED;
}

static void obo_fill_waiting(obo_fill *f)
{
    if (f->share && obo_fail_where(f) == OBO_FAIL_SEALED) {
        obo_cache_note(f->c, f->p, apr_pstrcat(f->p, f->key, OBO_WAIT_SUFFIX, NULL),
                       apr_time_now() + f->o->lock_ttl);
    }
}

static void obo_fail_share(obo_fill *f, apr_status_t rv, const char *token)
{
    const char *name = apr_pstrcat(f->p, f->key, OBO_FAIL_SUFFIX, NULL), *val;
    obo_fail_place where = f->share ? obo_fail_where(f) : OBO_FAIL_NOWHERE;
    const obo_cache_backend *be = obo_lock_be(f->c);
    char *enc = where != OBO_FAIL_NOWHERE && f->share->encode && f->errval
        && (where != OBO_FAIL_SEALED
            || obo_cache_noted(f->c, f->p, apr_pstrcat(f->p, f->key, OBO_WAIT_SUFFIX, NULL)))
        ? f->share->encode(f->p, rv, f->errval) : NULL;

    if (!enc) {
        return;
    }
    val = where == OBO_FAIL_NOTE_CUT
          ? apr_psprintf(f->p, "%s %d\n%.*s", token, (int)rv, OBO_CACHE_NOTE_TEXT_MAX, enc)
          : apr_psprintf(f->p, "%s %d\n%s", token, (int)rv, enc);
    if (where == OBO_FAIL_SEALED) {
        obo_cache_set(f->c, f->p, name, val, strlen(val), apr_time_now() + OBO_FAIL_TTL);
    }
    else {
        /* too long for the table: not stored (APR_ENOSPC), nothing shared */
        be->set(be->ctx, f->p, name, (const unsigned char *)val, strlen(val),
                apr_time_now() + OBO_FAIL_TTL);
    }
}

/* A shared failure: sealed among the entries, or plain beside the locks. */
static apr_status_t obo_fail_get(obo_fill *f, apr_pool_t *scratch, char **val,
                                 apr_size_t *len)
{
    const char *name = apr_pstrcat(scratch, f->key, OBO_FAIL_SUFFIX, NULL);
    obo_fail_place where = obo_fail_where(f);

    return where == OBO_FAIL_SEALED ? obo_cache_lookup(f->c, scratch, name, val, len)
           : where == OBO_FAIL_NOWHERE ? APR_NOTFOUND
           : obo_locks_get_text(f->c, scratch, name, val, len);
}

/* APR_SUCCESS when a shared failure of the lock `seen` (or of any lock when
 * the waiter never saw one) is there: *frv and f->errval are the holder's. */
static apr_status_t obo_fail_read(obo_fill *f, apr_pool_t *scratch, const char *seen,
                                  apr_status_t *frv)
{
    char *val = NULL, *nl, *sp;
    apr_size_t len = 0;
    apr_status_t rv = f->share && f->share->decode ? obo_fail_get(f, scratch, &val, &len)
                                                   : APR_NOTFOUND;

    if (rv == APR_SUCCESS && ((nl = strchr(val, '\n')) == NULL
                              || (sp = memchr(val, ' ', (apr_size_t)(nl - val))) == NULL
                              || (*seen && (apr_size_t)(sp - val) != strlen(seen))
                              || (*seen && memcmp(val, seen, strlen(seen)) != 0))) {
        rv = APR_NOTFOUND;
    }
    if (rv == APR_SUCCESS) {
        *frv = (apr_status_t)atoi(sp + 1);
        f->errval = f->share->decode(f->rpool, nl + 1, len - (apr_size_t)(nl + 1 - val));
        rv = f->errval && *frv != APR_SUCCESS ? APR_SUCCESS : APR_NOTFOUND;
    }
    return rv;
}

/* Waits for another process's fill. APR_SUCCESS: the value appeared (a
 * hit); OBO_WAIT_SHARED: the holder failed and shared its failure (*frv,
 * f->errval); APR_NOTFOUND: the lock vanished with neither (take it over);
 * APR_TIMEUP: the lock still lives at the deadline; anything else: the
 * backend keeps failing (fetch, don't store). The holder is never second-
 * guessed while its lock lives: lock_ttl covers its whole IdP call. */
static apr_status_t obo_fill_wait(obo_fill *f, const char *lockkey, apr_status_t *frv)
{
    apr_interval_time_t poll = f->o->poll;
    apr_status_t rv = APR_EAGAIN;
    char seen[OBO_LOCK_TOKEN_LEN * 2 + 1] = "";
    apr_pool_t *scratch;
    unsigned char *lv;
    apr_size_t vlen;
    char *val;
    int errors = 0;

    apr_pool_create(&scratch, f->p);
    while (rv == APR_EAGAIN) {
        apr_sleep(poll);
        poll = poll * 2 > OBO_POLL_CAP ? OBO_POLL_CAP : poll * 2;
        apr_pool_clear(scratch);
        rv = obo_cache_lookup(f->c, scratch, f->key, &val, &vlen);
        if (rv == APR_NOTFOUND) {
            rv = obo_lock_be(f->c)->get(obo_lock_be(f->c)->ctx, scratch, lockkey, &lv,
                                        &vlen);
            if (rv == APR_SUCCESS && vlen < sizeof(seen)) {
                memcpy(seen, lv, vlen);
                seen[vlen] = '\0';
            }
            if (rv == APR_NOTFOUND) {
                /* The holder stores the value (or its failure) before it
                 * deletes its lock: look again to tell the cases apart. */
                rv = obo_cache_lookup(f->c, scratch, f->key, &val, &vlen);
                if (rv == APR_NOTFOUND && obo_fail_read(f, scratch, seen, frv) == APR_SUCCESS) {
                    rv = OBO_WAIT_SHARED;
                }
            }
            else if (rv == APR_SUCCESS) {
                rv = apr_time_now() < f->deadline ? APR_EAGAIN : APR_TIMEUP;
            }
        }
        if (rv != APR_SUCCESS && rv != APR_NOTFOUND && rv != APR_TIMEUP
            && rv != OBO_WAIT_SHARED && rv != APR_EAGAIN) {
            /* A transient backend error (a timeout under load) is no reason
             * to call the IdP; a backend that stays down is. */
            rv = ++errors < OBO_WAIT_ERRORS && apr_time_now() < f->deadline ? APR_EAGAIN : rv;
        }
        else if (rv == APR_EAGAIN) {
            errors = 0;
        }
    }
    if (rv == APR_SUCCESS) {
        obo_fill_hit(f, val, vlen);
    }
    else if ((rv == APR_NOTFOUND || rv == APR_TIMEUP) && obo_rl_allow(OBO_RL_WAIT)) {
        obo_log(OBO_LOG_INFO, obo_rl_msgid[OBO_RL_WAIT], "cache fill for key %s: %s",
                obo_fingerprint(scratch, f->key, strlen(f->key)), rv == APR_TIMEUP
                ? "another request's identity-provider call is still running after the "
                  "lock wait; answering without calling the identity provider"
                : "the lock holder finished without a value (it died, its lock "
                  "expired, or its value was not to be stored: a token without a "
                  "lifetime); taking the lock over");
    }
    apr_pool_destroy(scratch);
    return rv;
}

/* Deletes the lock only if it still holds our token: after lock_ttl it may
 * belong to someone else. (get+delete is not atomic; the window is tiny
 * and the worst case is one extra identity-provider call.) */
static void obo_fill_unlock(obo_fill *f, const char *lockkey, const char *token)
{
    obo_cache_unlock(f->c, f->p, lockkey, token);
}

/* A locked-only fill that cannot hold the lock (the backend failed or the
 * lock kept vanishing): no fetch; the caller answers "try again". */
static void obo_fill_refused(obo_fill *f, apr_status_t rv)
{
    if (obo_rl_allow(OBO_RL_WAIT)) {
        obo_log(OBO_LOG_WARN, "OBO380", "cache fill for key %s: the cache lock cannot be "
                "held (%s, status %d); not calling the identity provider without it",
                obo_fingerprint(f->p, f->key, strlen(f->key)),
                rv == APR_NOTFOUND ? "the lock holder kept vanishing" : "cache backend error",
                (int)rv);
    }
}

static apr_status_t obo_fill_locked(obo_fill *f, const char *lockkey, const char *token)
{
    char *val = NULL;
    apr_size_t len = 0;
    apr_status_t rv = obo_cache_lookup(f->c, f->p, f->key, &val, &len);

    if (rv == APR_SUCCESS) {
        obo_fill_hit(f, val, len);      /* filled between our miss and our add */
    }
    else if (rv != APR_NOTFOUND && f->o->locked_only) {
        /* The value cannot be read (its memcached server is down, the lock's
         * is not): it may well exist, and a locked-only fill never makes a
         * second one (a session start would exchange, then fail to store:
         * review 28A). */
        obo_fill_refused(f, rv);
        rv = APR_EAGAIN;
    }
    else {
        rv = obo_fill_fetch(f, rv == APR_NOTFOUND);
        if (rv != APR_SUCCESS) {
            obo_fail_share(f, rv, token);   /* before the unlock: waiters look after it */
        }
    }
    obo_fill_unlock(f, lockkey, token);
    return rv;
}

/* One caller per process gets here on a miss. A waiter whose holder
 * vanished without a result races for the lock again (bounded). */
static apr_status_t obo_fill_run(obo_fill *f, int degraded)
{
    const char *lockkey = apr_pstrcat(f->p, f->key, OBO_LOCK_SUFFIX, NULL);
    const char *token = NULL;
    apr_status_t rv = APR_EGENERAL, frv = APR_EGENERAL;
    int round, locked = 0;

    f->deadline = apr_time_now() + f->o->max_wait;
    /* A locked-only fill tries the lock even when the lookup failed: the
     * lock is its only way to the fetch. */
    degraded = degraded && !f->o->locked_only;
    for (round = 0; ; round++) {
        rv = degraded ? APR_EGENERAL
                      : obo_cache_lock(f->c, f->p, lockkey, apr_time_now() + f->o->lock_ttl,
                                       &token);
        locked = rv == APR_SUCCESS;
        if (rv != APR_EEXIST) {
            break;
        }
        if (round == 0) {
            obo_metrics_inc(OBO_M_SINGLE_FLIGHT_WAIT);
            obo_fill_waiting(f);
        }
        rv = obo_fill_wait(f, lockkey, &frv);
        if (rv != APR_NOTFOUND || round + 1 >= OBO_TAKEOVERS
            || apr_time_now() >= f->deadline) {
            break;
        }
    }
    if (locked) {
        rv = obo_fill_locked(f, lockkey, token);
    }
    else if (rv == OBO_WAIT_SHARED) {
        rv = frv;                       /* the holder's failure, as its own */
    }
    else if (f->o->locked_only && rv != APR_SUCCESS && rv != APR_TIMEUP) {
        obo_fill_refused(f, rv);        /* never a fetch without the lock */
        rv = APR_EAGAIN;
    }
    else if (rv == APR_NOTFOUND) {
        rv = obo_fill_fetch(f, 1);      /* takeovers exhausted: rare */
    }
    else if (rv != APR_SUCCESS && rv != APR_TIMEUP) {
        rv = obo_fill_fetch(f, 0);      /* backend down: the request still works */
    }
    return rv;
}

/* ---- in-process flights */

static apr_status_t obo_flight_release(void *data)
{
    obo_flight *fl = data;
    int last;

    apr_thread_mutex_lock(fl->cache->mutex);
    last = --fl->refs == 0;
    apr_thread_mutex_unlock(fl->cache->mutex);
    if (last) {
        apr_pool_destroy(fl->pool);
    }
    return APR_SUCCESS;
}

/* Called with the mutex held. */
static apr_status_t obo_flight_create(obo_cache *c, const char *key, obo_flight **out)
{
    apr_pool_t *fp = NULL;
    obo_flight *fl;
    apr_status_t rv = apr_pool_create_unmanaged_ex(&fp, NULL, NULL);

    if (rv == APR_SUCCESS) {
        fl = apr_pcalloc(fp, sizeof(*fl));
        fl->cache = c;
        fl->pool = fp;
        fl->key = apr_pstrdup(fp, key);
        rv = apr_thread_cond_create(&fl->cond, fp);
        if (rv != APR_SUCCESS) {
            apr_pool_destroy(fp);
        }
    }
    if (rv == APR_SUCCESS) {
        apr_hash_set(c->flights, fl->key, APR_HASH_KEY_STRING, fl);
        *out = fl;
    }
    return rv;
}

/* Called with the mutex held: p keeps fl (and so errval) alive. */
static void obo_flight_join(obo_flight *fl, apr_pool_t *p)
{
    fl->refs++;
    apr_pool_cleanup_register(p, fl, obo_flight_release, apr_pool_cleanup_null);
}

/* Called with the mutex held, fl->done set. */
static void obo_flight_result(obo_flight *fl, obo_fill *f)
{
    f->val = fl->val ? apr_pstrmemdup(f->p, fl->val, fl->len) : NULL;
    f->len = fl->len;
    f->errval = fl->errval;
}

/* The leader fills for everyone and publishes its result. */
static apr_status_t obo_flight_lead(obo_flight *fl, obo_fill *f, int degraded)
{
    apr_status_t rv;

    f->rpool = fl->pool;                /* only the leader touches it until done */
    rv = obo_fill_run(f, degraded);
    apr_thread_mutex_lock(f->c->mutex);
    fl->rv = rv;
    fl->val = f->val;
    fl->len = f->len;
    fl->hit = f->hit;
    fl->errval = f->errval;
    fl->done = 1;
    apr_hash_set(f->c->flights, fl->key, APR_HASH_KEY_STRING, NULL);
    apr_thread_cond_broadcast(fl->cond);
    obo_flight_result(fl, f);
    apr_thread_mutex_unlock(f->c->mutex);
    return rv;
}

/* Called with the mutex held; returns with it released. */
static apr_status_t obo_flight_follow(obo_flight *fl, obo_fill *f)
{
    /* The leader's fill is bounded: a wait of max_wait, then one fetch
     * covered by lock_ttl. Calling the IdP beside it would only add load to
     * an IdP that is already slow, so a follower never does. */
    apr_time_t deadline = apr_time_now() + f->o->max_wait + f->o->lock_ttl
                          + apr_time_from_sec(1);
    apr_time_t now;
    apr_status_t rv;

    while (!fl->done && (now = apr_time_now()) < deadline) {
        apr_thread_cond_timedwait(fl->cond, f->c->mutex, deadline - now);
    }
    if (fl->done) {
        obo_flight_result(fl, f);
        f->hit = fl->rv == APR_SUCCESS;
        rv = fl->rv;
    }
    else {
        rv = APR_TIMEUP;
    }
    apr_thread_mutex_unlock(f->c->mutex);
    return rv;
}

static apr_status_t obo_flight_run(obo_fill *f, int degraded)
{
    obo_flight *fl = NULL;
    apr_status_t rv;

    apr_thread_mutex_lock(f->c->mutex);
    fl = apr_hash_get(f->c->flights, f->key, APR_HASH_KEY_STRING);
    if (fl) {
        obo_metrics_inc(OBO_M_SINGLE_FLIGHT_WAIT);
        obo_flight_join(fl, f->p);
        rv = obo_flight_follow(fl, f);
    }
    else if (obo_flight_create(f->c, f->key, &fl) == APR_SUCCESS) {
        obo_flight_join(fl, f->p);
        apr_thread_mutex_unlock(f->c->mutex);
        rv = obo_flight_lead(fl, f, degraded);
    }
    else {
        apr_thread_mutex_unlock(f->c->mutex);
        f->rpool = f->p;
        rv = obo_fill_run(f, degraded);
    }
    return rv;
}

static void obo_flight_defaults(obo_cache_flight_opts *o, const obo_cache_flight_opts *in)
{
    o->lock_ttl = in && in->lock_ttl > 0 ? in->lock_ttl : apr_time_from_sec(30);
    o->max_wait = in && in->max_wait > 0 ? in->max_wait : apr_time_from_sec(10);
    o->poll = in && in->poll > 0 ? in->poll : apr_time_from_msec(5);
    o->locked_only = in ? in->locked_only : 0;
    if (o->poll > OBO_POLL_CAP) {
        o->poll = OBO_POLL_CAP;
    }
}

apr_status_t obo_cache_get_or_fetch(obo_cache *c, apr_pool_t *p, const char *key,
                                    const obo_cache_flight_opts *opts,
                                    obo_cache_fetch_fn *fetch, void *baton,
                                    char **val, apr_size_t *len, int *hit,
                                    void **errval)
{
    return obo_cache_get_or_fetch_ex(c, p, key, opts, NULL, fetch, baton, val, len, hit,
                                     errval);
}

apr_status_t obo_cache_get_or_fetch_ex(obo_cache *c, apr_pool_t *p, const char *key,
                                       const obo_cache_flight_opts *opts,
                                       const obo_cache_errshare *share,
                                       obo_cache_fetch_fn *fetch, void *baton,
                                       char **val, apr_size_t *len, int *hit,
                                       void **errval)
{
    obo_cache_flight_opts o;
    obo_fill f;
    apr_status_t rv;

    obo_flight_defaults(&o, opts);
    memset(&f, 0, sizeof(f));
    f.c = c;
    f.p = p;
    f.rpool = p;
    f.key = key;
    f.o = &o;
    f.share = share;
    f.fetch = fetch;
    f.baton = baton;
    rv = obo_cache_lookup(c, p, key, &f.val, &f.len);
    obo_metrics_hit(OBO_M_CACHE_SHARED, rv == APR_SUCCESS);
    if (rv == APR_SUCCESS) {
        f.hit = 1;
    }
    else {
        rv = obo_flight_run(&f, rv != APR_NOTFOUND);
    }
    *val = f.val;
    *len = f.len;
    *hit = f.hit;
    if (errval) {
        *errval = f.errval;
    }
    return rv;
}
