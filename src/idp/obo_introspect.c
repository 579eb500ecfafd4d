/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 7662 token introspection (see obo_introspect.h). The answer's values
 * are the IdP's, but an answer larger or deeper than a token's claims has
 * no business here: it is refused before anything reads it. Nothing in a
 * log line quotes the answer or the token (fingerprints only). */
#include "obo_introspect.h"
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_jwt.h"
#include "obo_log.h"
#include "obo_text.h"
#include "obo_metrics.h"

#include <string.h>
#include <strings.h>
#include <apr_strings.h>

#define OBO_IX_KEY_DOMAIN "obo-introspect-v1"
#define OBO_IX_RT_URN "urn:ietf:params:oauth:token-type:refresh_token"
#define OBO_IX_FAIL_MAX 1024          /* a shared failure's text */
#define OBO_IX_RETRY_AFTER 5          /* what a failed call tells the caller */

/* ---- the answer */

apr_status_t obo_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                  json_t **answer, const char **err)
{
    if (len > OBO_INTROSPECT_MAX_BYTES) {
        *err = "introspection answer too large";
        return APR_EINVAL;
    }
    return obo_json_parse(p, body, len, OBO_JSON_MAX_DEPTH, 1, answer, err);
}

static int obo_ix_is_refresh(const char *tt)
{
    return strcasecmp(tt, "refresh_token") == 0 || strcasecmp(tt, OBO_IX_RT_URN) == 0;
}

/* token_type (RFC 7662 s.2.2) when present: a refresh token is never a
 * bearer credential for this resource. */
static apr_status_t obo_ix_token_type(const json_t *a, const char **err)
{
    const json_t *tt = json_object_get(a, "token_type");

    if (tt && !json_is_string(tt)) {
        *err = "introspection answer has an invalid token_type";
        return APR_EINVAL;
    }
    if (tt && obo_ix_is_refresh(json_string_value(tt))) {
        *err = "a refresh token is not an access token";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* iss and aud are optional in an answer; when present they must be
 * accepted exactly as a JWT's would. */
static apr_status_t obo_ix_parties(const obo_jwt_rules *jr,
                                   const apr_array_header_t *accept_issuers, const json_t *a,
                                   const char **err)
{
    obo_jwt_rules here;

    memset(&here, 0, sizeof(here));
    here.issuers = accept_issuers;
    if (json_object_get(a, "iss") && !obo_jwt_issuer_ok(jr, a)) {
        *err = "issuer not accepted";
        return APR_EINVAL;
    }
    if (accept_issuers && !json_object_get(a, "iss")) {
        *err = "issuer not accepted (the introspection answer names none, and this "
               "place accepts only some issuers)";
        return APR_EINVAL;
    }
    if (accept_issuers && !obo_jwt_issuer_ok(&here, a)) {
        *err = "issuer not accepted";
        return APR_EINVAL;
    }
    if (!obo_jwt_sub_ok(a)) {
        *err = "invalid sub";
        return APR_EINVAL;
    }
    if (json_object_get(a, "aud") && !obo_jwt_audience_ok(jr, a)) {
        *err = "audience not accepted";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t obo_introspect_check(const obo_introspect_rules *rules, const json_t *answer,
                                  const char **err)
{
    obo_jwt_rules jr;
    apr_status_t rv = APR_EINVAL;

    jr.issuers = rules->issuers;
    jr.audiences = rules->audiences;
    jr.skew = rules->skew;
    jr.now = rules->now;
    jr.now_usec = rules->now_usec;
    if (!json_is_object(answer)) {
        *err = "introspection answer is not an object";
    }
    else if (!json_is_true(json_object_get(answer, "active"))) {
        *err = "token is not active";
    }
    else if ((rv = obo_ix_token_type(answer, err)) == APR_SUCCESS
             && (rv = obo_jwt_check_times(&jr, answer, 1, err)) == APR_SUCCESS) {
        rv = obo_ix_parties(&jr, rules->accept_issuers, answer, err);
    }
    return rv;
}

int obo_introspect_has_scope(const json_t *answer, const char *scope)
{
    return obo_jwt_list_claim_has(answer, "scope", scope);
}

apr_int64_t obo_introspect_ttl(const json_t *answer, apr_int64_t now, apr_int64_t cache_time)
{
    apr_int64_t exp = 0, ttl = cache_time;
    apr_int32_t frac = 0;       /* dropped: kept no later than exp */

    if (!json_is_true(json_object_get(answer, "active"))) {
        ttl = cache_time < OBO_INTROSPECT_INACTIVE_TTL ? cache_time
                                                       : OBO_INTROSPECT_INACTIVE_TTL;
    }
    else if (obo_json_numericdate(answer, "exp", &exp, &frac) == APR_SUCCESS
             && exp < now + cache_time) {
        /* Compared with now + cache_time (both ours, small) and subtracted
         * only when exp lies between them: a hostile exp cannot overflow. */
        ttl = exp > now ? exp - now : 0;
    }
    return ttl > 0 ? ttl : 0;
}

/* ---- the key */

static void obo_ix_field(apr_array_header_t *buf, const void *data, apr_size_t len)
{
    unsigned char n[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len };
    const unsigned char *d = data;
    apr_size_t i;

    for (i = 0; i < 4; i++) {
        APR_ARRAY_PUSH(buf, unsigned char) = n[i];
    }
    for (i = 0; i < len; i++) {
        APR_ARRAY_PUSH(buf, unsigned char) = d[i];
    }
}

char *obo_introspect_cache_key(apr_pool_t *p, const char *endpoint, const char *client_id,
                               const unsigned char token_sha256[OBO_SHA256_LEN])
{
    apr_array_header_t *buf = apr_array_make(p, 256, 1);

    obo_ix_field(buf, OBO_IX_KEY_DOMAIN, strlen(OBO_IX_KEY_DOMAIN));
    obo_ix_field(buf, endpoint ? endpoint : "", endpoint ? strlen(endpoint) : 0);
    obo_ix_field(buf, client_id ? client_id : "", client_id ? strlen(client_id) : 0);
    obo_ix_field(buf, token_sha256, OBO_SHA256_LEN);
    return apr_pstrcat(p, "obo1:", obo_sha256_hex(p, buf->elts, (apr_size_t)buf->nelts),
                       NULL);
}

/* ---- the call */

/* Why a call failed, for the caller and the waiters of the same call. */
typedef struct obo_ix_fail {
    const char *detail;
    apr_int64_t retry_after;
} obo_ix_fail;

static obo_ix_fail *obo_ix_fail_new(apr_pool_t *p, const char *detail, apr_int64_t ra)
{
    obo_ix_fail *f = apr_pcalloc(p, sizeof(*f));

    f->detail = detail;
    f->retry_after = ra > 0 ? ra : OBO_IX_RETRY_AFTER;
    return f;
}

static apr_status_t obo_ix_post(apr_pool_t *p, const obo_introspection *ix, const char *token,
                                obo_http_response **resp, const char **err)
{
    apr_array_header_t *form = apr_array_make(p, 8, sizeof(const char *));
    const char *auth = NULL;
    apr_status_t rv = APR_SUCCESS;

    if (ix->client) {
        rv = obo_client_authenticate(p, ix->client, ix->assertion_aud ? ix->assertion_aud
                                     : ix->endpoint, form, &auth, err);
    }
    if (rv == APR_SUCCESS) {
        obo_http_form_add(p, form, "token", token);
        obo_http_form_add(p, form, "token_type_hint", "access_token");
        rv = obo_http_request(ix->http, p, ix->endpoint, apr_array_pstrcat(p, form, '&'),
                              auth, &ix->opts, resp, err);
    }
    return rv;
}

/* A 429/503 with Retry-After pauses the endpoint for every request. */
static void obo_ix_note_pause(apr_pool_t *p, const obo_introspection *ix,
                              const obo_http_response *r)
{
    apr_int64_t secs;

    if (!ix->guard || (r->status != 429 && r->status != 503) || r->retry_after <= 0) {
        return;
    }
    secs = obo_guard_pause(p, ix->guard, ix->endpoint,
                           ix->client ? ix->client->client_id : NULL, r->status,
                           r->retry_after);
    obo_log(OBO_LOG_WARN, "OBO423", "introspection endpoint %s answered HTTP %d with "
            "Retry-After %" APR_INT64_T_FMT " s: calls to it are paused for %" APR_INT64_T_FMT
            " s (answered 503)", obo_url_shown(p, ix->endpoint), r->status, r->retry_after,
            secs);
}

/* One IdP call: the parsed answer, or *fail. */
static apr_status_t obo_ix_call(apr_pool_t *p, const obo_introspection *ix, const char *token,
                                json_t **answer, obo_ix_fail **fail)
{
    obo_http_response *r = NULL;
    const char *err = NULL, *fp = obo_fingerprint(p, token, strlen(token));
    apr_time_t sent = apr_time_now();
    apr_status_t rv = obo_ix_post(p, ix, token, &r, &err);
    long ms = (long)apr_time_as_msec(apr_time_now() - sent);

    obo_log(OBO_LOG_INFO, "OBO421", "introspection request to %s: token %s, %ld ms, %s%s",
            obo_url_shown(p, ix->endpoint), fp, ms, r && rv == APR_SUCCESS ? "HTTP "
                                                                     : "no response: ",
            r && rv == APR_SUCCESS ? apr_itoa(p, r->status) : (err ? err : "failed"));
    obo_metrics_idp(OBO_M_EP_INTROSPECTION,
                    obo_metrics_http_outcome(rv, rv == APR_SUCCESS && r ? r->status : 0), sent);
    obo_metrics_provider_idp(ix->metrics_provider, OBO_M_EP_INTROSPECTION,
                             obo_metrics_http_outcome(rv, rv == APR_SUCCESS && r ? r->status
                                                                               : 0), sent);
    if (rv == APR_SUCCESS && r->status != 200) {
        obo_ix_note_pause(p, ix, r);
        err = apr_psprintf(p, "the introspection endpoint answered HTTP %d%s", r->status,
                           r->status == 401 || r->status == 403
                           ? " (this server's client credentials refused?)" : "");
        *fail = obo_ix_fail_new(p, err, r->retry_after);
        return APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_introspect_parse(p, r->body, r->len, answer, &err);
    }
    if (rv != APR_SUCCESS) {
        err = apr_pstrcat(p, "introspection failed: ", err ? err : "no usable answer", NULL);
        *fail = obo_ix_fail_new(p, err, 0);
    }
    return rv;
}

/* ---- single flight through the shared cache */

typedef struct obo_ix_baton {
    const obo_introspection *ix;
    const char *token;
    const char *note;              /* the key of its "not active" note */
} obo_ix_baton;

/* A cache entry: the answer, its end, so that no level keeps it longer than
 * the first one that stored it, and when it was fetched, so that a server
 * with a shorter OBOIntrospectionCacheTime sharing the cache keeps it no
 * longer than its own time ({"u": until, "f": fetched, "a": answer}). */
static char *obo_ix_entry(apr_pool_t *p, json_t *answer, apr_time_t until, apr_int64_t fetched)
{
    json_t *e = obo_json_pool(p, json_pack("{s:I, s:I, s:O}", "u", (json_int_t)until, "f",
                                           (json_int_t)fetched, "a", answer));

    return e ? obo_json_dump(p, e) : NULL;
}

/* An answer the IdP gave as not active is shared as a note (obo_cache_note:
 * apart from tokens and sessions, which any client sending random strings
 * could otherwise evict), never as a cache entry. */
#define OBO_IX_INACTIVE_SUFFIX ".inactive"

static json_t *obo_ix_inactive(apr_pool_t *p)
{
    return obo_json_pool(p, json_pack("{s:b}", "active", 0));
}

static apr_status_t obo_ix_fetch(void *baton, apr_pool_t *p, char **val, apr_size_t *len,
                                 apr_time_t *expiry, void **errval)
{
    obo_ix_baton *b = baton;
    obo_ix_fail *fail = NULL;
    json_t *answer = NULL;
    apr_int64_t ttl, now = apr_time_sec(apr_time_now());
    apr_time_t until;
    int active;
    apr_status_t rv = APR_SUCCESS;

    /* a holder before this one found it not active (it left a note) */
    if (obo_cache_noted(b->ix->cache, p, b->note)) {
        answer = obo_ix_inactive(p);
    }
    else if ((rv = obo_ix_call(p, b->ix, b->token, &answer, &fail)) != APR_SUCCESS) {
        *errval = fail;
        return rv;
    }
    ttl = obo_introspect_ttl(answer, now, b->ix->cache_time);
    until = ttl > 0 ? apr_time_from_sec(now + ttl) : 0;
    active = json_is_true(json_object_get(answer, "active"));
    if (!active && until) {
        obo_cache_note(b->ix->cache, p, b->note, until);
    }
    *expiry = active ? until : 0;      /* 0: not stored; the caller still has it */
    *val = obo_ix_entry(p, answer, until, now);
    *len = *val ? strlen(*val) : 0;
    return *val ? APR_SUCCESS : APR_ENOMEM;
}

/* "RETRY_AFTER DETAIL", cut by the cache at OBO_CACHE_NOTE_TEXT_MAX: it is
 * kept unsealed beside the locks (a hostile memcached could write one, so
 * the reader keeps printable ASCII only). */
static char *obo_ix_fail_encode(apr_pool_t *p, apr_status_t rv, const void *errval)
{
    const obo_ix_fail *f = errval;

    (void)rv;
    return f ? apr_psprintf(p, "%" APR_INT64_T_FMT " %s", f->retry_after,
                            f->detail ? f->detail : "") : NULL;
}

static void *obo_ix_fail_decode(apr_pool_t *p, const char *buf, apr_size_t len)
{
    char *text = apr_pstrmemdup(p, buf, len), *sp = strchr(text, ' '), *c;
    apr_int64_t ra;

    if (len > OBO_IX_FAIL_MAX || !sp) {
        return NULL;
    }
    *sp = '\0';
    ra = apr_atoi64(text);
    for (c = sp + 1; *c; c++) {
        *c = *c >= 0x20 && *c < 0x7f ? *c : '?';
    }
    return obo_ix_fail_new(p, apr_pstrcat(p, sp + 1, " (another request's call, shared)",
                                          NULL), ra > 0 && ra <= OBO_GUARD_PAUSE_MAX_S
                                                 ? ra : 0);
}

/* Anyone can cause an introspection (an unknown token) and so its failure:
 * shared beside the locks, never among tokens and sessions. */
static const obo_cache_errshare obo_ix_errshare = { obo_ix_fail_encode, obo_ix_fail_decode,
                                                    1 };

/* ---- the per-process L1: the answer, with its end in the "header" slot;
 * one L1 per server's set-up, whose entries all name it as their owner
 * (the key already holds the endpoint and client) */

static int obo_ix_l1_get(apr_pool_t *p, const obo_introspection *ix, const unsigned char *k,
                         json_t **answer)
{
    json_t *until = NULL, *a = NULL;
    apr_int64_t u = 0;

    if (!ix->l1 || obo_vcache_get(ix->l1, p, k, ix->l1, 0, &until, &a) != APR_SUCCESS) {
        return 0;
    }
    if (obo_json_int(until, "until", &u) != APR_SUCCESS || u <= apr_time_now()) {
        return 0;
    }
    *answer = a;
    return 1;
}

static void obo_ix_l1_put(const obo_introspection *ix, const unsigned char *k, json_t *answer,
                          apr_time_t until)
{
    json_t *u;

    if (!ix->l1 || until <= apr_time_now()) {
        return;
    }
    u = json_pack("{s:I}", "until", (json_int_t)until);
    if (u) {
        obo_vcache_offer(ix->l1, k, ix->l1, 0, u, answer);
        json_decref(u);
    }
}

static apr_status_t obo_ix_failed(const obo_introspection *ix, apr_status_t rv,
                                  const obo_ix_fail *f, const char **err,
                                  apr_int64_t *retry_after)
{
    *err = f && f->detail ? f->detail
           : rv == APR_TIMEUP ? "timed out waiting for another request's introspection"
           : "introspection failed";
    *retry_after = f ? f->retry_after : OBO_IX_RETRY_AFTER;
    obo_log(OBO_LOG_ERR, "OBO422", "introspection at " OBO_URL_FMT " failed: %s",
            OBO_URL_ARGS(ix->endpoint), *err);
    obo_metrics_provider_failure_id(ix->metrics_provider, OBO_M_EP_INTROSPECTION, "OBO422");
    return rv == APR_SUCCESS ? APR_EGENERAL : rv;
}

/* The answer from the shared cache (another's call, or an entry), until the
 * earlier of the entry's end and this configuration's rule applied from
 * when it was fetched (an entry without that is due now). */
static apr_status_t obo_ix_shared(apr_pool_t *p, const obo_introspection *ix, const char *val,
                                  apr_size_t len, json_t **answer, apr_time_t *until,
                                  const char **err)
{
    apr_int64_t u = 0, f = 0, mine;
    json_t *e = NULL;
    apr_status_t rv = len <= 2 * OBO_INTROSPECT_MAX_BYTES
        ? obo_json_parse(p, val, len, OBO_JSON_MAX_DEPTH, 1, &e, err) : APR_EINVAL;

    if (rv == APR_SUCCESS && (obo_json_int(e, "u", &u) != APR_SUCCESS
                              || !json_is_object(json_object_get(e, "a")))) {
        rv = APR_EINVAL;
    }
    if (rv != APR_SUCCESS) {
        *err = "unreadable introspection answer in the cache";
        return rv;
    }
    *answer = json_object_get(e, "a");   /* e (tied to p) holds it */
    obo_json_int(e, "f", &f);
    mine = f > 0 ? f + obo_introspect_ttl(*answer, f, ix->cache_time) : 0;
    *until = (apr_time_t)u < apr_time_from_sec(mine) ? (apr_time_t)u : apr_time_from_sec(mine);
    return APR_SUCCESS;
}

static apr_status_t obo_ix_paused(apr_pool_t *p, const obo_introspection *ix,
                                  const char **err, apr_int64_t *retry_after)
{
    if (ix->guard && obo_guard_paused(p, ix->guard, ix->endpoint, ix->client
                                      ? ix->client->client_id : NULL, retry_after)
                     == APR_EAGAIN) {
        *err = apr_psprintf(p, "calls to the introspection endpoint are paused for %"
                            APR_INT64_T_FMT " s more", *retry_after);
        return APR_EAGAIN;
    }
    return APR_SUCCESS;
}

/* What the shared cache already knows, before any pause or call: an active
 * answer (an entry), or a note that the token is not active. APR_NOTFOUND:
 * neither. */
static apr_status_t obo_ix_known(apr_pool_t *p, const obo_introspection *ix, const char *key,
                                 const char *note, json_t **answer, apr_time_t *until,
                                 const char **err)
{
    char *val = NULL;
    apr_size_t len = 0;
    apr_status_t rv = obo_cache_get(ix->cache, p, key, &val, &len);

    if (rv == APR_SUCCESS) {
        rv = obo_ix_shared(p, ix, val, len, answer, until, err);
        return rv == APR_SUCCESS && *until <= apr_time_now() ? APR_NOTFOUND : rv;
    }
    if (obo_cache_noted(ix->cache, p, note)) {
        *answer = obo_ix_inactive(p);
        *until = 0;                    /* the note is the only keeper */
        return APR_SUCCESS;
    }
    return APR_NOTFOUND;
}

static apr_status_t obo_ix_through_cache(apr_pool_t *p, const obo_introspection *ix,
                                         const char *token, const char *key,
                                         json_t **answer, apr_time_t *until,
                                         obo_introspect_source *source,
                                         const char **err, apr_int64_t *retry_after,
                                         int again)
{
    obo_ix_baton b = { ix, token, apr_pstrcat(p, key, OBO_IX_INACTIVE_SUFFIX, NULL) };
    char *val = NULL;
    apr_size_t len = 0;
    void *errval = NULL;
    int hit = 0;
    apr_status_t rv = again ? APR_NOTFOUND
                            : obo_ix_known(p, ix, key, b.note, answer, until, err);

    if (rv != APR_NOTFOUND) {
        obo_metrics_hit(OBO_M_INTRO_SHARED, rv == APR_SUCCESS);
        *source = OBO_INTROSPECT_SHARED;
        return rv;
    }
    /* a pause stops calls, not answers the cache holds */
    if ((rv = obo_ix_paused(p, ix, err, retry_after)) != APR_SUCCESS) {
        return rv;
    }
    rv = obo_cache_get_or_fetch_ex(ix->cache, p, key, &ix->flight, &obo_ix_errshare,
                                   obo_ix_fetch, &b, &val, &len, &hit, &errval);
    if (rv != APR_SUCCESS) {
        return obo_ix_failed(ix, rv, errval, err, retry_after);
    }
    obo_metrics_hit(OBO_M_INTRO_SHARED, hit);
    *source = hit ? OBO_INTROSPECT_SHARED : OBO_INTROSPECT_IDP;
    /* the fetch ran in the flight's pool: its answer is read back from val,
     * which lives in p, like another's */
    rv = obo_ix_shared(p, ix, val, len, answer, until, err);
    if (rv == APR_SUCCESS && hit && *until <= apr_time_now() && !again) {
        /* Kept by a server with a longer cache time than this one's: this
         * one asks again (once), and stores what it may keep. */
        obo_cache_del(ix->cache, p, key);
        return obo_ix_through_cache(p, ix, token, key, answer, until, source, err,
                                    retry_after, 1);
    }
    return rv;
}

/* Without a shared cache: the pause, then one call. */
static apr_status_t obo_ix_direct(apr_pool_t *p, const obo_introspection *ix,
                                  const char *token, json_t **answer, apr_time_t *until,
                                  obo_introspect_source *source, const char **err,
                                  apr_int64_t *retry_after)
{
    obo_ix_fail *fail = NULL;
    apr_status_t rv = obo_ix_paused(p, ix, err, retry_after);

    if (rv == APR_SUCCESS && (rv = obo_ix_call(p, ix, token, answer, &fail)) != APR_SUCCESS) {
        rv = obo_ix_failed(ix, rv, fail, err, retry_after);
    }
    if (rv == APR_SUCCESS) {
        *source = OBO_INTROSPECT_IDP;
        *until = apr_time_now() + apr_time_from_sec(obo_introspect_ttl(
                     *answer, apr_time_sec(apr_time_now()), ix->cache_time));
    }
    return rv;
}

apr_status_t obo_introspect_token(apr_pool_t *p, const obo_introspection *ix,
                                  const char *token,
                                  const unsigned char token_sha256[OBO_SHA256_LEN],
                                  json_t **answer, obo_introspect_source *source,
                                  const char **err, apr_int64_t *retry_after)
{
    const char *key = obo_introspect_cache_key(p, ix->endpoint,
                                               ix->client ? ix->client->client_id : NULL,
                                               token_sha256);
    unsigned char l1key[OBO_SHA256_LEN];
    apr_time_t until = 0;
    apr_status_t rv;

    obo_sha256(key, strlen(key), l1key);
    if (obo_metrics_hit(OBO_M_INTRO_L1, obo_ix_l1_get(p, ix, l1key, answer))) {
        *source = OBO_INTROSPECT_L1;
        return APR_SUCCESS;
    }
    if (ix->cache && ix->cache_time > 0) {
        rv = obo_ix_through_cache(p, ix, token, key, answer, &until, source, err,
                                  retry_after, 0);
    }
    else {
        rv = obo_ix_direct(p, ix, token, answer, &until, source, err, retry_after);
    }
    /* With a shared cache an inactive answer is its note's (anyone can send
     * random strings: they would push active answers out of the L1) */
    if (rv == APR_SUCCESS && (!ix->cache || json_is_true(json_object_get(*answer, "active")))) {
        obo_ix_l1_put(ix, l1key, *answer, until);
    }
    return rv;
}
