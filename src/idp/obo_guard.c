/* SPDX-License-Identifier: Apache-2.0 */
/* The gate to the token endpoint (see obo_guard.h). A remembered answer
 * is a small JSON object with its absolute end ("until", microseconds). In
 * memcached it is sealed and bound to its key like a token, so a negative
 * entry cannot be forged or moved to another user's key; on shm it lives
 * beside the locks, in the server's own memory (obo_cache_set_small). */
#include "obo_guard.h"
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_log.h"
#include "obo_metrics.h"
#include "obo_text.h"

#include <string.h>
#include <apr_strings.h>

#define OBO_GUARD_NEG_SUFFIX ".neg"
#define OBO_GUARD_PAUSE_PREFIX "obo1:pause:"
#define OBO_GUARD_VALUE_MAX (48 * 1024)

/* One call through the gate: the gate, the endpoint it would call and the
 * client calling it (the scope of a pause: IdPs such as Entra throttle per
 * application, so one client's 429 must not stop another's calls) and the
 * request's key (the scope of a failure). */
typedef struct obo_gcall {
    const obo_guard *g;
    const char *endpoint;
    const char *client_id;
    const char *key;
} obo_gcall;

/* ---- keys: the negative entry sits beside the token's entry; a pause is
 * keyed by a hash of the endpoint (no URL reaches the backend) */

/* The grant's name in the key: the first two are what token cache keys
 * always said; every grant needs its own, or two grants of one token would
 * share their remembered answers (no default: -Wswitch flags a new grant
 * without a name). */
static const char *obo_guard_grant(obo_grant grant)
{
    switch (grant) {
    case OBO_GRANT_OBO:
        return "on-behalf-of";
    case OBO_GRANT_TOKEN_EXCHANGE:
        return "token-exchange";
    case OBO_GRANT_REFRESH:
        return "refresh-token";
    case OBO_GRANT_CLIENT_CREDENTIALS:
        return "client-credentials";
    }
    return "unknown";
}

char *obo_guard_key(apr_pool_t *p, const obo_exchange_req *req, const char *authority,
                    const unsigned char *assertion_sha256)
{
    obo_cache_keyparts k;
    const apr_array_header_t *aud = req->audiences;

    memset(&k, 0, sizeof(k));
    k.client_id = req->client ? req->client->client_id : NULL;
    k.authority = authority ? authority : req->token_endpoint;
    k.scopes = req->scopes;
    k.exchange = obo_guard_grant(req->grant);
    k.audience = aud && aud->nelts > 0 ? apr_array_pstrcat(p, aud, ' ') : NULL;
    k.requested_token_type = req->requested_token_type;
    k.assertion = req->assertion;
    k.assertion_sha256 = assertion_sha256;
    return obo_cache_key(p, &k);
}

static const char *obo_guard_neg_key(apr_pool_t *p, const obo_gcall *c)
{
    return c->g->negative_ttl > 0 && c->key
           ? apr_pstrcat(p, c->key, OBO_GUARD_NEG_SUFFIX, NULL) : NULL;
}

static const char *obo_guard_pause_key(apr_pool_t *p, const obo_gcall *c)
{
    const char *s = c->endpoint ? apr_pstrcat(p, "obo-pause-v2 ", c->endpoint, "\n",
                                              c->client_id ? c->client_id : "", NULL)
                                : NULL;

    return s ? apr_pstrcat(p, OBO_GUARD_PAUSE_PREFIX, obo_sha256_hex(p, s, strlen(s)), NULL)
             : NULL;
}

/* ---- storage: this process first, then the shared cache */

static apr_status_t obo_guard_parse(apr_pool_t *p, const char *val, apr_size_t len,
                                    json_t **j, apr_time_t *until)
{
    const char *err = NULL;
    apr_int64_t u = 0;
    apr_status_t rv = len <= OBO_GUARD_VALUE_MAX
        ? obo_json_parse(p, val, len, OBO_JSON_MAX_DEPTH, 1, j, &err) : APR_EINVAL;

    if (rv == APR_SUCCESS && (obo_json_int(*j, "until", &u) != APR_SUCCESS
                              || u <= apr_time_now())) {
        rv = APR_NOTFOUND;
    }
    *until = (apr_time_t)u;
    return rv;
}

/* A pause or a user's refusal: kept beside the locks on shm
 * (obo_cache_set_small). */
static apr_status_t obo_guard_get(apr_pool_t *p, const obo_guard *g, const char *key,
                                  json_t **j, apr_time_t *until)
{
    unsigned char mkey[OBO_SHA256_LEN];
    void *mval = NULL;
    char *val = NULL;
    apr_size_t len = 0;
    apr_status_t rv = APR_NOTFOUND;

    obo_sha256(key, strlen(key), mkey);
    if (g->local && obo_memo_get(g->local, p, mkey, &mval, &len) == APR_SUCCESS) {
        rv = obo_guard_parse(p, mval, len, j, until);
    }
    if (rv != APR_SUCCESS && g->cache
        && obo_cache_get_small(g->cache, p, key, &val, &len) == APR_SUCCESS) {
        rv = obo_guard_parse(p, val, len, j, until);
        if (rv == APR_SUCCESS && g->local) {
            obo_memo_put(g->local, mkey, val, len, *until);
        }
    }
    return rv;
}

/* A pause: in this process and beside the locks. */
static void obo_guard_put(apr_pool_t *p, const obo_guard *g, const char *key, json_t *j,
                          apr_time_t until)
{
    unsigned char mkey[OBO_SHA256_LEN];
    const char *val;

    json_object_set_new(j, "until", json_integer((json_int_t)until));
    val = obo_json_dump(p, j);
    if (val && strlen(val) <= OBO_GUARD_VALUE_MAX) {
        obo_sha256(key, strlen(key), mkey);
        if (g->local) {
            obo_memo_put(g->local, mkey, val, strlen(val), until);
        }
        if (g->cache) {
            obo_cache_set_small(g->cache, p, key, val, strlen(val), until);
        }
    }
}

/* ---- what is remembered */

static int obo_guard_user_failure(const obo_exchange_error *e)
{
    return e->kind == OBO_XERR_INTERACTION || e->kind == OBO_XERR_INVALID_GRANT;
}

/* What a remembered refusal keeps when its whole answer is too long to
 * live beside the locks: what the caller must act on (the error, suberror
 * and claims challenge), not the IdP's description, codes or trace ids. */
/* Its members have one-letter names (k: kind, s: status, e: error, x:
 * suberror, c: claims) so that Entra's longest pair of codes fits. */
static json_t *obo_guard_compact(apr_pool_t *p, const obo_exchange_error *e)
{
    json_t *j = obo_json_pool(p, json_object());

    json_object_set_new(j, "k", json_integer(e->kind));
    json_object_set_new(j, "s", json_integer(e->http_status));
    /* the answer depends on the error codes only for consent */
    if (obo_exchange_error_is_consent(e)) {
        json_object_set_new(j, "e", json_string("consent_required"));
    }
    else if (e->error) {
        json_object_set_new(j, "e", json_string(e->error));
    }
    if (e->suberror) {
        json_object_set_new(j, "x", json_string(e->suberror));
    }
    if (e->claims) {
        json_object_set_new(j, "c", json_string(e->claims));
    }
    return j;
}

static obo_exchange_error *obo_guard_uncompact(apr_pool_t *p, const json_t *j)
{
    apr_int64_t kind = 0, status = 0;
    obo_exchange_error *e = apr_pcalloc(p, sizeof(*e));
    const char *v;

    obo_json_int(j, "k", &kind);
    obo_json_int(j, "s", &status);
    e->kind = kind == OBO_XERR_INTERACTION || kind == OBO_XERR_INVALID_GRANT
              ? (obo_exchange_errkind)kind : OBO_XERR_NONE;
    e->http_status = status >= 0 && status < 1000 ? (int)status : 0;
    e->error = (v = obo_json_str(j, "e")) != NULL ? apr_pstrdup(p, v) : NULL;
    e->suberror = (v = obo_json_str(j, "x")) != NULL ? apr_pstrdup(p, v) : NULL;
    e->claims = (v = obo_json_str(j, "c")) != NULL ? apr_pstrdup(p, v) : NULL;
    return e;
}

/* A remembered user failure answers as the IdP's did, without the retry
 * hint or the downstream of the call that met it. */
static obo_exchange_error *obo_guard_neg_error(apr_pool_t *p, const json_t *j,
                                               apr_time_t until)
{
    obo_exchange_error *e = json_object_get(j, "k") ? obo_guard_uncompact(p, j)
                                                    : obo_exchange_error_from_json(p, j);

    if (!e || !obo_guard_user_failure(e)) {
        return NULL;
    }
    e->retry_after = 0;
    e->part = 0;
    e->detail = apr_psprintf(p, "%s (remembered for %" APR_INT64_T_FMT " s more, "
                             "OBONegativeCacheTime)", e->detail ? e->detail
                             : "identity provider refused",
                             (apr_int64_t)apr_time_sec(until - apr_time_now()) + 1);
    return e;
}

static obo_exchange_error *obo_guard_pause_error(apr_pool_t *p, const json_t *j,
                                                 apr_time_t until)
{
    obo_exchange_error *e = apr_pcalloc(p, sizeof(*e));
    apr_int64_t status = 0;
    apr_interval_time_t left = until - apr_time_now();

    obo_json_int(j, "status", &status);
    e->kind = OBO_XERR_THROTTLED;
    e->retry_after = (left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    e->retry_after = e->retry_after < 1 ? 1 : e->retry_after;
    e->detail = apr_psprintf(p, "calls to the token endpoint are paused for %" APR_INT64_T_FMT
                             " s more: the identity provider answered HTTP %d with "
                             "Retry-After", e->retry_after, (int)status);
    return e;
}

/* Before an IdP call. APR_NOTFOUND: nothing remembered, call the IdP.
 * Otherwise *e (from p) says why not: APR_EACCES for a remembered user
 * failure, APR_EAGAIN for a pause. */
static apr_status_t obo_guard_check(apr_pool_t *p, const obo_gcall *c, obo_exchange_error **e)
{
    const char *nkey = obo_guard_neg_key(p, c), *pkey = obo_guard_pause_key(p, c);
    obo_exchange_error *x = NULL;
    apr_time_t until = 0;
    json_t *j = NULL;
    apr_status_t rv = APR_NOTFOUND;

    if (nkey && obo_guard_get(p, c->g, nkey, &j, &until) == APR_SUCCESS
        && (x = obo_guard_neg_error(p, j, until)) != NULL) {
        rv = APR_EACCES;
        obo_metrics_inc(OBO_M_IDP_AVOIDED_REMEMBERED);
    }
    else if (pkey && obo_guard_get(p, c->g, pkey, &j, &until) == APR_SUCCESS) {
        x = obo_guard_pause_error(p, j, until);
        rv = APR_EAGAIN;
        obo_metrics_inc(OBO_M_IDP_AVOIDED_PAUSED);
    }
    if (rv != APR_NOTFOUND) {
        *e = x;
    }
    return rv;
}

/* A user's refusal is remembered per token (a fresh token, e.g. after MFA,
 * must reach the IdP at once), so a refused user sending fresh tokens
 * would write one entry each: on shm, whose rings drop their oldest entry
 * for every write, that turned over other users' idle sessions (review
 * 19). So it is small, beside the locks: whole if it fits, else what the
 * caller acts on; if even that does not fit (a long claims challenge) it
 * stays in this process only (one IdP call per process at most). */
static void obo_guard_note_user(apr_pool_t *p, const obo_guard *g, const char *nkey,
                                const obo_exchange_error *e)
{
    apr_time_t until = apr_time_now() + g->negative_ttl;
    json_t *j = obo_exchange_error_to_json(p, e);
    const char *val;

    if (!j) {
        return;
    }
    json_object_set_new(j, "until", json_integer((json_int_t)until));
    val = obo_json_dump(p, j);
    if (val && g->local) {
        unsigned char mkey[OBO_SHA256_LEN];

        obo_sha256(nkey, strlen(nkey), mkey);
        obo_memo_put(g->local, mkey, val, strlen(val), until);
    }
    if (val && g->cache && strlen(val) <= OBO_GUARD_VALUE_MAX
        && obo_cache_set_small(g->cache, p, nkey, val, strlen(val), until) == APR_ENOSPC) {
        j = obo_guard_compact(p, e);
        json_object_set_new(j, "until", json_integer((json_int_t)until));
        val = obo_json_dump(p, j);
        if (val) {
            obo_cache_set_small(g->cache, p, nkey, val, strlen(val), until);
        }
    }
}

/* Stores the pause of c's endpoint for c's client: the IdP answered status
 * with Retry-After retry_after (capped). Returns the pause's seconds. */
static apr_int64_t obo_guard_store_pause(apr_pool_t *p, const obo_gcall *c, const char *pkey,
                                         int status, apr_int64_t retry_after)
{
    json_t *j = obo_json_pool(p, json_object());
    apr_int64_t secs = retry_after > OBO_GUARD_PAUSE_MAX_S ? OBO_GUARD_PAUSE_MAX_S
                                                           : retry_after;

    json_object_set_new(j, "status", json_integer(status));
    obo_guard_put(p, c->g, pkey, j, apr_time_now() + apr_time_from_sec(secs));
    return secs;
}

static void obo_guard_note_pause(apr_pool_t *p, const obo_gcall *c, const char *pkey,
                                 const obo_exchange_error *e)
{
    apr_int64_t secs = obo_guard_store_pause(p, c, pkey, e->http_status, e->retry_after);

    obo_log(OBO_LOG_WARN, "OBO091", "token endpoint %s answered HTTP %d with Retry-After "
            "%" APR_INT64_T_FMT " s: calls to it are paused for %" APR_INT64_T_FMT " s, for "
            "every user of client id %s (answered 503)", obo_url_shown(p, c->endpoint),
            e->http_status,
            e->retry_after, secs, c->client_id ? c->client_id : "-");
}

/* After a failed IdP call: remembers what is worth remembering. */
static void obo_guard_note(apr_pool_t *p, const obo_gcall *c, const obo_exchange_error *e)
{
    const char *nkey = obo_guard_neg_key(p, c), *pkey = obo_guard_pause_key(p, c);

    if (e && nkey && obo_guard_user_failure(e)) {
        obo_guard_note_user(p, c->g, nkey, e);
    }
    else if (e && pkey && (e->http_status == 429 || e->http_status == 503)
             && e->retry_after > 0) {
        obo_guard_note_pause(p, c, pkey, e);
    }
}

apr_status_t obo_guard_exchange(apr_pool_t *p, const obo_guard *g, obo_http *h,
                                const obo_exchange_req *req, const char *key,
                                obo_token_result **res, obo_exchange_error **xerr,
                                int *called)
{
    /* The key names only a remembered failure: none without a negative_ttl. */
    obo_gcall c = { g, req->token_endpoint, req->client ? req->client->client_id : NULL,
                    key || g->negative_ttl <= 0 ? key : obo_guard_key(p, req, NULL, NULL) };
    apr_status_t rv = obo_guard_check(p, &c, xerr);
    int call = rv == APR_NOTFOUND;

    if (call) {
        rv = obo_exchange(h, p, req, res, xerr);
        if (rv != APR_SUCCESS) {
            obo_guard_note(p, &c, *xerr);
        }
        /* The caller that met the IdP's pause is told what the ones after
         * it will be: at most the pause's length. */
        if (rv != APR_SUCCESS && (*xerr)->kind == OBO_XERR_THROTTLED
            && (*xerr)->retry_after > OBO_GUARD_PAUSE_MAX_S) {
            (*xerr)->retry_after = OBO_GUARD_PAUSE_MAX_S;
        }
    }
    if (called) {
        *called = call;
    }
    return rv;
}

apr_status_t obo_guard_peek(apr_pool_t *p, const obo_guard *g, const obo_exchange_req *req,
                            const char *key, obo_exchange_error **xerr)
{
    obo_gcall c = { g, req->token_endpoint, req->client ? req->client->client_id : NULL,
                    key || g->negative_ttl <= 0 ? key : obo_guard_key(p, req, NULL, NULL) };

    return obo_guard_check(p, &c, xerr);
}

/* ---- pauses of other endpoints (introspection) */

apr_status_t obo_guard_paused(apr_pool_t *p, const obo_guard *g, const char *endpoint,
                              const char *client_id, apr_int64_t *retry_after)
{
    obo_gcall c = { g, endpoint, client_id, NULL };
    const char *pkey = obo_guard_pause_key(p, &c);
    apr_time_t until = 0;
    json_t *j = NULL;
    apr_interval_time_t left;

    if (!pkey || obo_guard_get(p, g, pkey, &j, &until) != APR_SUCCESS) {
        return APR_NOTFOUND;
    }
    obo_metrics_inc(OBO_M_IDP_AVOIDED_PAUSED);
    left = until - apr_time_now();
    *retry_after = (left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    *retry_after = *retry_after < 1 ? 1 : *retry_after;
    return APR_EAGAIN;
}

apr_int64_t obo_guard_pause(apr_pool_t *p, const obo_guard *g, const char *endpoint,
                            const char *client_id, int status, apr_int64_t retry_after)
{
    obo_gcall c = { g, endpoint, client_id, NULL };
    const char *pkey = obo_guard_pause_key(p, &c);

    return pkey && retry_after > 0 ? obo_guard_store_pause(p, &c, pkey, status, retry_after)
                                   : 0;
}
