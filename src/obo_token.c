/* SPDX-License-Identifier: Apache-2.0 */
/* Acquiring a downstream token (see obo_token.h): the cache key, a
 * single-flight fill that runs the exchange, and the rule for how long a
 * token may be served from the cache: until `margin` before it expires, and
 * never past the caller's own token (the key contains that token's hash, so
 * a later entry could never be used anyway). */
#include "obo_token.h"
#include "obo_guard.h"
#include "obo_json.h"
#include "obo_log.h"
#include "obo_metrics.h"

#include <string.h>
#include <apr_strings.h>

#define OBO_TOKEN_JSON_MAX (128 * 1024)   /* a serialised token; access_token <= 64 KiB */
/* Marks a value that the fill shared with in-process followers but did not
 * store: its lifetime is below the margin, and it is fresh from the IdP. */
#define OBO_SHARED_ONLY "shared_only"

/* One acquisition: the fill callback's state. */
typedef struct obo_fetch_baton {
    const obo_acquire *a;
    const char *key;             /* the token's cache key */
    apr_pool_t *p;               /* the caller's pool */
    obo_token_result *res;       /* the full result when this caller called the IdP */
} obo_fetch_baton;

/* ---- serialisation */

static json_t *obo_token_json(apr_pool_t *p, const obo_token_result *t, int shared_only)
{
    json_t *j = obo_json_pool(p, json_object());
    int bad = j == NULL;

    /* The refresh token stays out: a cache entry must not outlive its use. */
    bad = bad || json_object_set_new(j, "access_token", json_string(t->access_token)) != 0;
    bad = bad || json_object_set_new(j, "token_type", json_string(
                                         t->token_type ? t->token_type : "Bearer")) != 0;
    bad = bad || (t->scope && json_object_set_new(j, "scope", json_string(t->scope)) != 0);
    bad = bad || json_object_set_new(j, "expires_on", json_integer(
                                         (json_int_t)apr_time_sec(t->expires_on))) != 0;
    bad = bad || (t->issued_token_type
                  && json_object_set_new(j, "issued_token_type",
                                         json_string(t->issued_token_type)) != 0);
    bad = bad || (t->lifetime > 0
                  && json_object_set_new(j, "lifetime", json_integer(
                                             (json_int_t)t->lifetime)) != 0);
    bad = bad || (t->refresh_on > 0
                  && json_object_set_new(j, "refresh_on", json_integer(
                                             (json_int_t)apr_time_sec(t->refresh_on))) != 0);
    bad = bad || (shared_only && json_object_set_new(j, OBO_SHARED_ONLY, json_true()) != 0);
    return bad ? NULL : j;
}

char *obo_token_serialize(apr_pool_t *p, const obo_token_result *t)
{
    json_t *j = t && t->access_token ? obo_token_json(p, t, 0) : NULL;

    return j ? obo_json_dump(p, j) : NULL;
}

static apr_status_t obo_token_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                                    obo_token_result **t, int *shared_only)
{
    const char *err = NULL, *at;
    apr_int64_t exp = 0, ron = 0, life = 0;
    json_t *j = NULL;
    obo_token_result *r;
    apr_status_t rv = len <= OBO_TOKEN_JSON_MAX
        ? obo_json_parse(p, buf, len, OBO_JSON_MAX_DEPTH, 1, &j, &err) : APR_EINVAL;

    if (rv == APR_SUCCESS && ((at = obo_json_str(j, "access_token")) == NULL || !*at
                              || obo_json_int(j, "expires_on", &exp) != APR_SUCCESS
                              || exp <= 0 || exp > APR_INT64_MAX / APR_USEC_PER_SEC)) {
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        r = apr_pcalloc(p, sizeof(*r));
        r->access_token = apr_pstrdup(p, at);
        r->token_type = apr_pstrdup(p, obo_json_str(j, "token_type") ? obo_json_str(
                                        j, "token_type") : "Bearer");
        r->scope = obo_json_str(j, "scope") ? apr_pstrdup(p, obo_json_str(j, "scope")) : NULL;
        r->issued_token_type = obo_json_str(j, "issued_token_type")
            ? apr_pstrdup(p, obo_json_str(j, "issued_token_type")) : NULL;
        r->expires_on = apr_time_from_sec(exp);
        r->refresh_on = obo_json_int(j, "refresh_on", &ron) == APR_SUCCESS && ron > 0
                        && ron < exp ? apr_time_from_sec(ron) : 0;
        r->lifetime = obo_json_int(j, "lifetime", &life) == APR_SUCCESS && life > 0
                      && life <= 366 * 86400 ? life : 0;   /* obo_exchange.c's bound */
        /* What is left of the lifetime, as a client would read expires_in. */
        r->expires_in = exp - apr_time_sec(apr_time_now());
        r->expires_in = r->expires_in < 0 ? 0 : r->expires_in;
        *shared_only = json_is_true(json_object_get(j, OBO_SHARED_ONLY));
        *t = r;
    }
    return rv;
}

apr_status_t obo_token_deserialize(apr_pool_t *p, const char *buf, apr_size_t len,
                                   obo_token_result **t)
{
    int shared_only = 0;

    return buf ? obo_token_parse(p, buf, len, t, &shared_only) : APR_EINVAL;
}

/* ---- copies into longer-lived pools */

static const char *obo_dup(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static obo_token_result *obo_token_copy(apr_pool_t *p, const obo_token_result *t)
{
    obo_token_result *c = apr_pmemdup(p, t, sizeof(*t));

    c->access_token = obo_dup(p, t->access_token);
    c->token_type = obo_dup(p, t->token_type);
    c->scope = obo_dup(p, t->scope);
    c->refresh_token = obo_dup(p, t->refresh_token);
    c->issued_token_type = obo_dup(p, t->issued_token_type);
    return c;
}

/* The error travels from the leader's scratch pool to the flight's pool and
 * from there to each follower's own pool: every hop is a deep copy. */
static obo_exchange_error *obo_xerr_copy(apr_pool_t *p, const obo_exchange_error *e)
{
    obo_exchange_error *c = apr_pmemdup(p, e, sizeof(*e));

    c->error = obo_dup(p, e->error);
    c->error_description = obo_dup(p, e->error_description);
    c->suberror = obo_dup(p, e->suberror);
    c->claims = obo_dup(p, e->claims);
    c->error_codes = obo_dup(p, e->error_codes);
    c->trace_id = obo_dup(p, e->trace_id);
    c->correlation_id = obo_dup(p, e->correlation_id);
    c->detail = obo_dup(p, e->detail);
    return c;
}

/* ---- failures shared with the waiters of other processes (obo_cache.h):
 * every field of the exchange error, so that a waiter answers exactly what
 * the request that called the IdP answers (the same 502, the same claims
 * challenge). Only waiters of that one call read it, for a few seconds. */

static char *obo_xerr_encode(apr_pool_t *p, apr_status_t rv, const void *errval)
{
    json_t *j = obo_exchange_error_to_json(p, errval);

    (void)rv;
    return j ? obo_json_dump(p, j) : NULL;
}

static void *obo_xerr_decode(apr_pool_t *p, const char *buf, apr_size_t len)
{
    const char *err = NULL;
    json_t *j = NULL;
    obo_exchange_error *e = NULL;

    if (len <= OBO_TOKEN_JSON_MAX
        && obo_json_parse(p, buf, len, OBO_JSON_MAX_DEPTH, 1, &j, &err) == APR_SUCCESS
        && (e = obo_exchange_error_from_json(p, j)) != NULL) {
        e->detail = apr_pstrcat(p, e->detail ? e->detail : "identity provider call failed",
                                " (another request's call, shared)", NULL);
    }
    return e;
}

const obo_cache_errshare obo_token_errshare = { obo_xerr_encode, obo_xerr_decode, 0 };

/* ---- lifetimes */

/* How long before its expiry t stops being used: OBOCacheMargin, or half
 * its lifetime for a token that lives no longer than the margin (one that
 * would otherwise never be stored, costing an IdP call per request). */
static apr_interval_time_t obo_margin(const obo_acquire *a, const obo_token_result *t)
{
    apr_interval_time_t m = a->margin > 0 ? a->margin : 0;
    apr_interval_time_t life = apr_time_from_sec(t->lifetime);

    return t->lifetime > 0 && life <= m ? life / 2 : m;
}

/* Until when t may be stored: 0 if not at all (unknown lifetime, or less
 * left than its margin). */
static apr_time_t obo_cache_until(const obo_acquire *a, const obo_token_result *t)
{
    apr_time_t until = t->expires_on - obo_margin(a, t);

    if (a->assertion_expiry > 0 && a->assertion_expiry < until) {
        until = a->assertion_expiry;
    }
    return t->expires_in > 0 && until > apr_time_now() ? until : 0;
}

/* A cached value is used only while it is outside the margin; a shared-only
 * value (fresh from the IdP for a concurrent request) while it is valid. */
static int obo_usable(const obo_acquire *a, const obo_token_result *t, int shared_only)
{
    apr_time_t now = apr_time_now();

    return shared_only ? t->expires_on > now : t->expires_on - obo_margin(a, t) > now;
}

/* When t's early-refresh window opens: at the IdP's refresh_in, else after
 * refresh_share percent of its lifetime; 0 (none) when that is not before
 * the margin, when early refresh is off, or for a token that is not
 * cached at all. */
static void obo_set_refresh_on(const obo_acquire *a, obo_token_result *t)
{
    apr_time_t issued = t->expires_on - apr_time_from_sec(t->expires_in);
    apr_time_t on = 0;

    if (a->refresh_share > 0 && t->expires_in > 0) {
        on = t->refresh_in > 0 ? issued + apr_time_from_sec(t->refresh_in)
                               : issued + apr_time_from_sec(t->expires_in)
                                          * a->refresh_share / 100;
    }
    t->refresh_on = on > 0 && on < t->expires_on - obo_margin(a, t) ? on : 0;
}

static int obo_in_window(const obo_acquire *a, const obo_token_result *t)
{
    return a->refresh_share > 0 && t->refresh_on > 0 && apr_time_now() >= t->refresh_on;
}

/* ---- the IdP call, through the gate (obo_guard.h): a remembered answer
 * or a pause makes it pointless */

static apr_status_t obo_token_exchange(apr_pool_t *p, const obo_acquire *a, const char *key,
                                       obo_token_result **t, obo_exchange_error **e)
{
    obo_guard g = { a->cache, a->guard, a->negative_ttl };

    return obo_guard_exchange(p, &g, a->http, &a->req, key, t, e, NULL);
}

/* ---- the fill */

/* obo_cache_fetch_fn: the exchange runs in a scratch pool of the caller's;
 * only the serialised value or the error go to rp, which may be the
 * flight's pool that followers read after this request is gone. */
static apr_status_t obo_token_fetch(void *baton, apr_pool_t *rp, char **val,
                                    apr_size_t *len, apr_time_t *expiry, void **errval)
{
    obo_fetch_baton *b = baton;
    obo_token_result *t = NULL;
    obo_exchange_error *e = NULL;
    apr_pool_t *tmp = NULL;
    apr_status_t rv;

    apr_pool_create(&tmp, b->p);
    rv = obo_token_exchange(tmp, b->a, b->key, &t, &e);
    if (rv == APR_SUCCESS) {
        obo_set_refresh_on(b->a, t);
        b->res = obo_token_copy(b->p, t);
        *expiry = obo_cache_until(b->a, t);
        /* expiry 0 makes the cache skip the store: followers still get it. */
        *val = obo_json_dump(rp, obo_token_json(tmp, t, *expiry == 0));
        *len = *val ? strlen(*val) : 0;
        rv = *val ? APR_SUCCESS : APR_ENOMEM;
    }
    else {
        *errval = obo_xerr_copy(rp, e);
    }
    apr_pool_destroy(tmp);
    return rv;
}

/* The cache key: the gate's key of the request (obo_guard_key), which
 * also names its remembered failures. */
static const char *obo_token_key(apr_pool_t *p, const obo_acquire *a)
{
    return obo_guard_key(p, &a->req, a->authority, a->assertion_sha256);
}

/* No cache, or a cached value that turned out unusable: one exchange, and
 * a store when there is a cache and the lifetime allows it. */
static apr_status_t obo_token_direct(apr_pool_t *p, const obo_acquire *a, const char *key,
                                     obo_token_result **res, obo_exchange_error **xerr)
{
    apr_status_t rv = obo_token_exchange(p, a, key, res, xerr);
    apr_time_t until;
    const char *val;

    if (rv == APR_SUCCESS) {
        obo_set_refresh_on(a, *res);
    }
    until = rv == APR_SUCCESS ? obo_cache_until(a, *res) : 0;
    val = until ? obo_token_serialize(p, *res) : NULL;

    if (a->cache && val) {
        obo_cache_set(a->cache, p, key, val, strlen(val), until);
    }
    return rv;
}

/* After get_or_fetch succeeded without this caller's own exchange: the
 * value came from the cache or from a concurrent request's fill. */
static apr_status_t obo_token_shared(apr_pool_t *p, const obo_acquire *a, const char *key,
                                     const char *val, apr_size_t len,
                                     obo_token_result **res, obo_exchange_error **xerr,
                                     int *hit)
{
    int shared_only = 0;
    apr_status_t rv = obo_token_parse(p, val, len, res, &shared_only);

    if (rv == APR_SUCCESS && obo_usable(a, *res, shared_only)) {
        *hit = 1;
    }
    else {
        /* Stored by a server with a smaller margin, or unreadable: a miss. */
        obo_log(OBO_LOG_DEBUG, "OBO321", "cached token for key %s %s; calling the identity "
                "provider", obo_fingerprint(p, key, strlen(key)),
                rv == APR_SUCCESS ? "is within the refresh margin" : "is unreadable");
        rv = obo_token_direct(p, a, key, res, xerr);
    }
    return rv;
}

static obo_exchange_error *obo_xerr_lost(apr_pool_t *p, apr_status_t rv,
                                         const obo_acquire *a)
{
    obo_exchange_error *e = apr_pcalloc(p, sizeof(*e));

    e->kind = OBO_XERR_UPSTREAM;
    e->detail = "token acquisition failed without an exchange error";
    if (rv == APR_TIMEUP) {
        /* A waiter behind a live lock: no call of its own (obo_cache.h). */
        e->kind = OBO_XERR_TIMEOUT;
        e->detail = apr_psprintf(p, "another request's identity-provider call for the same "
                                 "token did not finish within the %" APR_INT64_T_FMT " ms "
                                 "lock wait", (apr_int64_t)apr_time_as_msec(a->flight.max_wait));
    }
    return e;
}

/* L1: this process's memo of tokens it already holds, keyed by a digest of
 * the cache key. A hit costs no round trip, no decryption and no parse:
 * a token is kept as a flat record rather than JSON (jansson's parse was
 * most of the hit path), the fixed part, then the strings back to back,
 * each NUL-terminated; it never leaves the process. Entries expire when
 * the shared cache's would (expires_on - margin, capped by the caller's
 * exp). */
typedef struct obo_l1_rec {
    apr_time_t expires_on, refresh_on;
    apr_int64_t lifetime;
    apr_uint32_t len[4];         /* access_token, token_type, scope, issued_token_type:
                                  * strlen + 1, 0 for NULL */
} obo_l1_rec;

static char *obo_l1_encode(apr_pool_t *p, const obo_token_result *t, apr_size_t *len)
{
    const char *s[4] = { t->access_token, t->token_type ? t->token_type : "Bearer",
                         t->scope, t->issued_token_type };
    obo_l1_rec rec = { t->expires_on, t->refresh_on, t->lifetime, { 0, 0, 0, 0 } };
    apr_size_t n = sizeof(rec);
    char *buf, *o;
    int i;

    for (i = 0; i < 4; i++) {
        rec.len[i] = s[i] ? (apr_uint32_t)strlen(s[i]) + 1 : 0;
        n += rec.len[i];
    }
    o = buf = apr_palloc(p, n);
    memcpy(o, &rec, sizeof(rec));
    o += sizeof(rec);
    for (i = 0; i < 4; i++) {
        memcpy(o, s[i] ? s[i] : "", rec.len[i]);
        o += rec.len[i];
    }
    *len = n;
    return buf;
}

/* The strings point into buf (a copy in the caller's pool). */
static obo_token_result *obo_l1_decode(apr_pool_t *p, char *buf, apr_size_t len)
{
    const char **dst[4];
    obo_token_result *r;
    obo_l1_rec rec;
    apr_size_t off = sizeof(rec);
    int i;

    if (len < sizeof(rec)) {
        return NULL;
    }
    memcpy(&rec, buf, sizeof(rec));
    r = apr_pcalloc(p, sizeof(*r));
    dst[0] = &r->access_token;
    dst[1] = &r->token_type;
    dst[2] = &r->scope;
    dst[3] = &r->issued_token_type;
    for (i = 0; i < 4; i++) {
        if (rec.len[i] > len - off || (rec.len[i] && buf[off + rec.len[i] - 1] != '\0')) {
            return NULL;
        }
        *dst[i] = rec.len[i] ? buf + off : NULL;
        off += rec.len[i];
    }
    if (!r->access_token || !*r->access_token || rec.expires_on <= 0) {
        return NULL;
    }
    r->expires_on = rec.expires_on;
    r->refresh_on = rec.refresh_on;
    r->lifetime = rec.lifetime;
    r->expires_in = apr_time_sec(rec.expires_on) - apr_time_sec(apr_time_now());
    r->expires_in = r->expires_in < 0 ? 0 : r->expires_in;
    return r;
}

static int obo_l1_get(apr_pool_t *p, const obo_acquire *a, const unsigned char *l1key,
                      obo_token_result **res)
{
    void *val = NULL;
    apr_size_t len = 0;

    return a->l1 && obo_memo_get(a->l1, p, l1key, &val, &len) == APR_SUCCESS
           && (*res = obo_l1_decode(p, val, len)) != NULL && obo_usable(a, *res, 0);
}

static void obo_l1_put(apr_pool_t *p, const obo_acquire *a, const unsigned char *l1key,
                       const obo_token_result *t)
{
    apr_time_t until = a->l1 && t->access_token ? obo_cache_until(a, t) : 0;
    apr_size_t len = 0;
    char *val = until ? obo_l1_encode(p, t, &len) : NULL;

    if (val) {
        obo_memo_put(a->l1, l1key, val, len, until);
        /* the record holds the access token: no copy left in the pool */
        obo_cleanse_on_clear(p, val, len);
    }
}

/* An L1 hit inside its refresh window: another process (or server) may
 * have refreshed it already, and the shared cache then holds the new one. */
static void obo_l1_newer(apr_pool_t *p, const obo_acquire *a, const char *key,
                         const unsigned char *l1key, obo_token_result **res)
{
    char *val = NULL;
    apr_size_t len = 0;
    int shared_only = 0;
    obo_token_result *t = NULL;

    if (obo_cache_get(a->cache, p, key, &val, &len) == APR_SUCCESS
        && obo_token_parse(p, val, len, &t, &shared_only) == APR_SUCCESS && !shared_only
        && obo_usable(a, t, 0) && !obo_in_window(a, t)) {
        *res = t;
        obo_l1_put(p, a, l1key, t);
    }
}

static apr_status_t obo_token_cached(apr_pool_t *p, const obo_acquire *a, const char *key,
                                     obo_token_result **res, obo_exchange_error **xerr,
                                     int *hit, int *due)
{
    unsigned char l1key[OBO_SHA256_LEN];
    obo_fetch_baton b = { a, key, p, NULL };
    char *val = NULL;
    apr_size_t len = 0;
    void *errval = NULL;
    int chit = 0;
    apr_status_t rv;

    obo_sha256(key, strlen(key), l1key);
    if (obo_metrics_hit(OBO_M_CACHE_L1, obo_l1_get(p, a, l1key, res))) {
        if (obo_in_window(a, *res)) {
            obo_l1_newer(p, a, key, l1key, res);
        }
        *hit = 1;
        *due = obo_in_window(a, *res);
        return APR_SUCCESS;
    }
    rv = obo_cache_get_or_fetch_ex(a->cache, p, key, &a->flight, &obo_token_errshare,
                                   obo_token_fetch, &b, &val, &len, &chit, &errval);
    if (rv == APR_SUCCESS && b.res) {
        *res = b.res;           /* our own exchange: keeps the refresh token */
    }
    else if (rv == APR_SUCCESS) {
        rv = obo_token_shared(p, a, key, val, len, res, xerr, hit);
        *due = rv == APR_SUCCESS && *hit && obo_in_window(a, *res);
    }
    else {
        *xerr = errval ? obo_xerr_copy(p, errval) : obo_xerr_lost(p, rv, a);
    }
    if (rv == APR_SUCCESS) {
        obo_l1_put(p, a, l1key, *res);
    }
    return rv;
}

apr_status_t obo_token_acquire_ex(apr_pool_t *p, const obo_acquire *a,
                                  obo_token_result **res, obo_exchange_error **xerr,
                                  int *hit, int *refresh_due)
{
    const char *key = obo_token_key(p, a);
    obo_token_result *t = NULL;
    obo_exchange_error *e = NULL;
    int due = 0;
    apr_status_t rv;

    *hit = 0;
    rv = a->cache ? obo_token_cached(p, a, key, &t, &e, hit, &due)
                  : obo_token_direct(p, a, key, &t, &e);
    if (rv == APR_SUCCESS) {
        *res = t;
    }
    else {
        *xerr = e;
    }
    if (refresh_due) {
        *refresh_due = rv == APR_SUCCESS && due;
    }
    return rv;
}

apr_status_t obo_token_acquire(apr_pool_t *p, const obo_acquire *a,
                               obo_token_result **res, obo_exchange_error **xerr,
                               int *hit)
{
    return obo_token_acquire_ex(p, a, res, xerr, hit, NULL);
}

/* ---- early refresh */

#define OBO_REFRESH_SUFFIX ".refresh"
#define OBO_REFRESH_BACKOFF apr_time_from_sec(60)

/* Stores a refreshed token where the next requests look: the shared
 * cache and this process's L1. */
static void obo_refresh_store(apr_pool_t *p, const obo_acquire *a, const char *key,
                              obo_token_result *t)
{
    unsigned char l1key[OBO_SHA256_LEN];
    apr_time_t until;
    const char *val;

    obo_set_refresh_on(a, t);
    until = obo_cache_until(a, t);
    val = until ? obo_token_serialize(p, t) : NULL;
    if (val) {
        obo_cache_set(a->cache, p, key, val, strlen(val), until);
        obo_sha256(key, strlen(key), l1key);
        obo_l1_put(p, a, l1key, t);
    }
}

/* Someone else's refresh already landed in the shared cache. */
static int obo_refresh_done(apr_pool_t *p, const obo_acquire *a, const char *key)
{
    unsigned char l1key[OBO_SHA256_LEN];
    obo_token_result *t = NULL;

    obo_sha256(key, strlen(key), l1key);
    obo_l1_newer(p, a, key, l1key, &t);
    return t != NULL;
}

static apr_status_t obo_refresh_locked(apr_pool_t *p, const obo_acquire *a, const char *key,
                                       const char *lock, const char *token)
{
    obo_token_result *t = NULL;
    obo_exchange_error *e = NULL;
    apr_interval_time_t backoff = a->refresh_backoff > 0 ? a->refresh_backoff
                                                         : OBO_REFRESH_BACKOFF;
    apr_status_t rv = obo_token_exchange(p, a, key, &t, &e);

    if (rv == APR_SUCCESS) {
        obo_refresh_store(p, a, key, t);
        obo_cache_unlock(a->cache, p, lock, token);
        obo_log(OBO_LOG_INFO, "OBO360", "downstream token for key %s refreshed early: "
                "now %s, valid for %" APR_INT64_T_FMT " s",
                obo_fingerprint(p, key, strlen(key)),
                obo_fingerprint(p, t->access_token, strlen(t->access_token)), t->expires_in);
    }
    else {
        /* The lock stays as the backoff: no process or server tries again
         * before it passes; the cached token is served until the margin. */
        obo_cache_lock_hold(a->cache, p, lock, token, apr_time_now() + backoff);
        obo_log(OBO_LOG_WARN, "OBO361", "early refresh of the downstream token for key %s "
                "failed: %s; the cached token is still served until %s before it expires, "
                "next attempt in %" APR_INT64_T_FMT " s", obo_fingerprint(p, key, strlen(key)),
                e && e->detail ? e->detail : (e && e->error ? e->error : "exchange failed"),
                "OBOCacheMargin", (apr_int64_t)apr_time_sec(backoff));
    }
    return rv;
}

apr_status_t obo_token_refresh(apr_pool_t *p, const obo_acquire *a)
{
    const char *key = obo_token_key(p, a);
    const char *lock = apr_pstrcat(p, key, OBO_REFRESH_SUFFIX, NULL);
    const char *token = NULL;
    apr_status_t rv = APR_ENOTIMPL;

    if (a->cache && a->refresh_share > 0) {
        rv = obo_refresh_done(p, a, key) ? APR_EEXIST
             : obo_cache_lock(a->cache, p, lock, apr_time_now() + (a->flight.lock_ttl > 0
                                                  ? a->flight.lock_ttl
                                                  : apr_time_from_sec(30)), &token);
    }
    if (rv == APR_SUCCESS) {
        /* Between our look and our lock another may have finished. */
        rv = obo_refresh_done(p, a, key) ? APR_EEXIST
             : obo_refresh_locked(p, a, key, lock, token);
        if (rv == APR_EEXIST) {
            obo_cache_unlock(a->cache, p, lock, token);
        }
    }
    else if (rv != APR_EEXIST && rv != APR_ENOTIMPL) {
        obo_log(OBO_LOG_DEBUG, "OBO362", "early refresh of the downstream token for key %s "
                "skipped: the cache backend failed", obo_fingerprint(p, key, strlen(key)));
    }
    return rv;
}
