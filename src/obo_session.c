/* SPDX-License-Identifier: Apache-2.0 */
/* Long-running On-Behalf-Of sessions (see obo_session.h).
 *
 * Why the refresh is safe with rotating refresh tokens: a refresh runs only
 * as the fill of the session's "at" entry, under the cache's single flight
 * (one caller per process, one process per backend lock across servers).
 * The filler stores the rotated refresh token before it returns the access
 * token, i.e. before the cache publishes it and releases the lock, so no
 * one reads the old refresh token after the IdP rotated it. A caller that
 * gave up waiting (max wait) and refreshes itself may still present a
 * token another server has just rotated; a strict IdP refuses it
 * (invalid_grant). So a refusal ends the session only if the stored
 * refresh token is still the one refused; otherwise the newer one is
 * tried once. (Entra itself keeps a used refresh token valid until it
 * expires; rotating IdPs with reuse detection do not.) */
#include "obo_session.h"
#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_guard.h"
#include "obo_json.h"
#include "obo_ledger.h"
#include "obo_log.h"
#include "obo_metrics.h"
#include "obo_token.h"

#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#define OBO_SESSION_JSON_MAX (256 * 1024)
/* The idle expiry is rewritten (slides) once a hundredth of the idle
 * lifetime has passed since its last rewrite, at most once a second: a
 * session then ends at most 1% early, and a user's busy sessions write a
 * handful of entries an hour into an insertion-order cache (shm), not one
 * per session and second, which evicted other users' idle sessions. */
#define OBO_SESSION_SLIDE_MIN_S 1
#define OBO_SESSION_SLIDE_SHARE 100
#define OBO_SESSION_META_REWRITE_S 86400 /* memcached keeps nothing over 30 days */
/* A session in use is rewritten once the fastest ring of an insertion-order
 * cache (shm) has turned this share after it: its entries, in whichever
 * ring, then live through at least half a turn more (obo_cache_backend
 * .written lags the fastest ring by up to a quarter), while one session's
 * rewrites take a few entries per quarter. */
#define OBO_KEEP_SHARE (OBO_CACHE_WRITTEN_FULL * 5 / 16)
#define OBO_LIST_LOCK_TTL_S 5            /* the user's list lock: a holder that died */
#define OBO_LIST_WAIT (2 * APR_USEC_PER_SEC)  /* waiting for another holder */
#define OBO_KEEP_LOCK_TTL_S 5            /* a refresh token rewritten under its lock */
#define OBO_ENDED_MARK_S 60              /* an ended session's mark outlives any rewrite */
/* Sessions one user may open per hour: OBO_OPENS_SHARE x OBOSessionLimit,
 * at least OBO_OPENS_MIN.
 * Each open writes about 8 entries; without a bound, one user cycling
 * fresh tokens (each ending the user's own oldest session) turned an shm
 * cache over every other user's idle sessions (review 20). */
#define OBO_OPENS_WINDOW_S 3600
#define OBO_OPENS_SHARE 2
#define OBO_OPENS_MIN 20                 /* for small limits */
#define OBO_OPENS_SKEW_S 300             /* another server's clock ahead */
/* An access token whose answer gave no lifetime (expires_in absent, 0 or
 * negative: RFC 6749 only recommends it) is assumed to live this long: it
 * is handed out and kept this briefly, so that a session is not lost and
 * the IdP not asked on every request, while a token that dies sooner is
 * replaced soon. */
#define OBO_SESSION_UNKNOWN_LIFE_S 60

/* What the meta entry holds. */
typedef struct obo_smeta {
    const char *client_id;
    const char *digest;          /* hash of the downstream set */
    const char *user;            /* hash of the user */
    const char *endpoint;        /* token endpoint of the refresh grant */
    apr_time_t until;            /* absolute end (max lifetime) */
    apr_time_t written;          /* created or last kept (a use) */
    apr_interval_time_t idle;    /* the idle lifetime it was opened with (0: unknown) */
    apr_uint64_t kept;           /* obo_cache_written() then (0: unknown) */
    json_t *names;               /* downstream names ("" = default) */
    json_t *j;
} obo_smeta;

/* ---- keys */

static char *obo_skey(apr_pool_t *p, const char *label, const char *key, const char *ds)
{
    const char *in = apr_pstrcat(p, label, "\n", key, "\n", ds ? ds : "", NULL);

    return apr_pstrcat(p, "obos:", obo_sha256_hex(p, in, strlen(in)), NULL);
}

static const char *obo_join(apr_pool_t *p, const apr_array_header_t *a)
{
    return a && a->nelts ? apr_array_pstrcat(p, a, ' ') : "";
}

/* What a session is bound to besides client id and user: the downstream
 * set (names, scopes, audiences), the grant and the token type asked for
 * (only when not an access token: the digests of sessions that ask for one
 * stay what they were). */
static const char *obo_digest(apr_pool_t *p, const obo_session_cfg *c)
{
    const char *s = apr_psprintf(p, "grant=%d", (int)c->req.grant);
    const char *rtt = c->req.requested_token_type;
    int i;

    if (rtt && strcmp(rtt, OBO_TOKEN_TYPE_ACCESS_TOKEN) != 0) {
        s = apr_pstrcat(p, s, "\nrtt=", rtt, NULL);
    }
    for (i = 0; c->downstreams && i < c->downstreams->nelts; i++) {
        const obo_session_ds *d = &APR_ARRAY_IDX(c->downstreams, i, obo_session_ds);
        s = apr_pstrcat(p, s, "\nds=", d->name ? d->name : "", "\ns=", obo_join(p, d->scopes),
                        "\na=", obo_join(p, d->audiences), NULL);
    }
    return obo_sha256_hex(p, s, strlen(s));
}

static const char *obo_user_hash(apr_pool_t *p, const char *user)
{
    const char *in = apr_pstrcat(p, "user\n", user, NULL);

    return obo_sha256_hex(p, in, strlen(in));
}

static const char *obo_client_id(const obo_session_cfg *c)
{
    return c->req.client && c->req.client->client_id ? c->req.client->client_id : "";
}

int obo_session_key_valid(const char *key)
{
    return key && strlen(key) == OBO_SESSION_KEY_CHARS
           && strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789-_") == OBO_SESSION_KEY_CHARS;
}

/* ---- entries */

static apr_status_t obo_put(apr_pool_t *p, const obo_session_cfg *c, const char *k,
                            json_t *j, apr_time_t expiry)
{
    const char *v = j ? obo_json_dump(p, j) : NULL;

    return v ? obo_cache_set(c->cache, p, k, v, strlen(v), expiry) : APR_ENOMEM;
}

/* APR_SUCCESS; APR_NOTFOUND: no such entry (or an unreadable one);
 * APR_EAGAIN: the cache failed, which says nothing about the entry: the
 * caller must neither end the session nor call it gone. */
static apr_status_t obo_load(apr_pool_t *p, const obo_session_cfg *c, const char *k,
                             json_t **j)
{
    char *v = NULL;
    apr_size_t len = 0;
    const char *err = NULL;
    apr_status_t rv = obo_cache_get(c->cache, p, k, &v, &len);

    if (rv == APR_SUCCESS) {
        rv = len <= OBO_SESSION_JSON_MAX
             ? obo_json_parse(p, v, len, OBO_JSON_MAX_DEPTH, 1, j, &err) : APR_EINVAL;
        obo_cleanse_on_clear(p, v, len);
        rv = rv == APR_SUCCESS ? rv : APR_NOTFOUND;
    }
    return rv == APR_SUCCESS || rv == APR_NOTFOUND ? rv : APR_EAGAIN;
}

static apr_time_t obo_jtime(const json_t *j, const char *k)
{
    apr_int64_t v = 0;

    return obo_json_int(j, k, &v) == APR_SUCCESS && v > 0
           && v < APR_INT64_MAX / APR_USEC_PER_SEC ? apr_time_from_sec(v) : 0;
}

static apr_status_t obo_meta_load(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                                  obo_smeta *m)
{
    json_t *j = NULL;
    apr_int64_t kt = 0;
    apr_status_t rv = obo_load(p, c, obo_skey(p, "meta", key, NULL), &j);

    if (rv == APR_SUCCESS) {
        m->j = j;
        m->client_id = obo_json_str(j, "c");
        m->digest = obo_json_str(j, "d");
        m->user = obo_json_str(j, "u");
        m->endpoint = obo_json_str(j, "e");
        m->until = obo_jtime(j, "mx");
        m->written = obo_jtime(j, "w");
        m->idle = obo_jtime(j, "i");
        m->kept = obo_json_int(j, "kt", &kt) == APR_SUCCESS && kt > 0 ? (apr_uint64_t)kt : 0;
        m->names = json_object_get(j, "n");
        if (!m->client_id || !m->digest || !m->user || !m->endpoint || !m->until
            || !json_is_array(m->names)) {
            rv = APR_NOTFOUND;
        }
    }
    return rv;
}

static apr_time_t obo_min(apr_time_t a, apr_time_t b)
{
    return a < b ? a : b;
}

/* The idle lifetime of a session: the one it was opened with, or this
 * server's if shorter. A server that serves only the handler (default
 * lifetimes) must not stretch a session opened for 15 minutes of idleness
 * to its own 7 days (review 13A). */
static apr_interval_time_t obo_idle(const obo_session_cfg *c, const obo_smeta *m)
{
    return m->idle > 0 && m->idle < c->idle ? m->idle : c->idle;
}

static apr_time_t obo_idle_until(const obo_session_cfg *c, const obo_smeta *m, apr_time_t now)
{
    return obo_min(now + obo_idle(c, m), m->until);
}

/* Until when the "at" entry may be used: margin before expiry; a token
 * that lives no longer than the margin for half its lifetime (as the
 * exchange's cache, obo_token.c: the backend never gets one about to
 * expire); never past the session. */
static apr_time_t obo_at_until(const obo_session_cfg *c, const obo_token_result *t,
                               apr_time_t session_until)
{
    /* The lifetime as issued: a token read back from the cache (rewritten
     * by obo_keep) has only what is left in expires_in, and half of that
     * moved the cutoff towards its expiry at every rewrite. */
    apr_int64_t secs = t->lifetime > 0 ? t->lifetime : t->expires_in;
    apr_interval_time_t m = c->margin > 0 ? c->margin : 0;
    apr_interval_time_t life = apr_time_from_sec(secs);

    m = secs > 0 && life <= m ? life / 2 : m;
    return t->expires_in > 0 ? obo_min(t->expires_on - m, session_until) : 0;
}

/* A token without a lifetime gets the assumed one (see the top). */
static void obo_assume_life(apr_pool_t *p, const char *key, const char *ds,
                            obo_token_result *t)
{
    if (t->expires_in <= 0) {
        obo_log(OBO_LOG_INFO, "OBO381", "session %s: the identity provider gave no lifetime "
                "(expires_in %" APR_INT64_T_FMT ") for downstream '%s'; assuming %d s",
                obo_fingerprint(p, key, strlen(key)), (apr_int64_t)t->expires_in,
                ds ? ds : "", OBO_SESSION_UNKNOWN_LIFE_S);
        t->expires_in = OBO_SESSION_UNKNOWN_LIFE_S;
        t->lifetime = OBO_SESSION_UNKNOWN_LIFE_S;
        t->expires_on = apr_time_now() + apr_time_from_sec(OBO_SESSION_UNKNOWN_LIFE_S);
    }
}

static json_t *obo_rt_json(apr_pool_t *p, const char *rt, const char *scopes)
{
    return obo_json_pool(p, json_pack("{s:o, s:s}", "rt", rt ? json_string(rt) : json_null(),
                                      "s", scopes));
}

/* Deletes a session's entries; counts `why` (OBO_M_SESSION_*) if this call
 * removed its meta entry. */
static void obo_del_entries(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                            const json_t *names, obo_metric why, apr_time_t limit_until)
{
    size_t i;

    /* First the mark a concurrent rewrite (obo_keep) looks for last: what
     * it wrote back after these deletes is deleted again. A session the
     * limit ended keeps its mark for the rest of its life: its caller token
     * must not start another (obo_session_open), or a user holding one token
     * more than the limit would end one session per request, each costing
     * an IdP call. */
    /* With OBOSessionLimit, for the hour a start counts in: a caller token
     * whose session ended (not evicted) starts the next one counted (review
     * 32: after a 60 s mark, start, DELETE, wait, start escaped the cap). */
    apr_time_t until = apr_time_now() + apr_time_from_sec(c->limit ? OBO_OPENS_WINDOW_S
                                                                   : OBO_ENDED_MARK_S);
    json_t *mark = obo_json_pool(p, json_pack("{s:b}", "e", 1)), *was = NULL;
    const char *ek = obo_skey(p, "ended", key, NULL);

    if (why == OBO_M_SESSION_LIMIT && limit_until > until) {
        json_object_set_new(mark, "l", json_true());
        until = limit_until;
    }
    /* A limit's mark stays as it is: a concurrent rewrite (obo_keep) ending
     * the session again must not shorten it to the short mark. */
    if (!(why != OBO_M_SESSION_LIMIT && obo_load(p, c, ek, &was) == APR_SUCCESS
          && json_is_true(json_object_get(was, "l")))) {
        obo_put(p, c, ek, mark, until);
    }

    for (i = 0; json_is_array(names) && i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        obo_cache_del(c->cache, p, obo_skey(p, "rt", key, n ? n : ""));
        obo_cache_del(c->cache, p, obo_skey(p, "at", key, n ? n : ""));
    }
    obo_cache_del(c->cache, p, obo_skey(p, "alive", key, NULL));
    obo_ledger_gone(key);
    /* Counted once: of concurrent enders only one removes the meta entry. */
    if (obo_cache_del(c->cache, p, obo_skey(p, "meta", key, NULL)) == APR_SUCCESS) {
        obo_metrics_inc(why);
    }
}

/* When a use rewrites the session (see OBO_KEEP_SHARE); *w is what to
 * record. A cache that keeps what is read (memcached) only needs the meta
 * entry rewritten daily: it keeps nothing over 30 days. */
static int obo_keep_due(const obo_session_cfg *c, const obo_smeta *m, apr_uint64_t *w)
{
    if (obo_cache_written(c->cache, w)) {
        /* Behind the recorded figure: a new cache (a restart). */
        return *w < m->kept || *w - m->kept >= OBO_KEEP_SHARE;
    }
    *w = 0;
    return apr_time_now() - m->written >= apr_time_from_sec(OBO_SESSION_META_REWRITE_S);
}

/* ---- the user's list (per-user limit) */

static const char *obo_list_key(apr_pool_t *p, const char *client_id, const char *user_hash)
{
    const char *in = apr_pstrcat(p, "users\n", client_id, "\n", user_hash, NULL);

    return apr_pstrcat(p, "obosu:", obo_sha256_hex(p, in, strlen(in)), NULL);
}

/* The list's lock, shared by every process and server on the cache; waits
 * a bounded time for another holder. */
static apr_status_t obo_list_lock(apr_pool_t *p, const obo_session_cfg *c, const char *lk,
                                  const char **tok)
{
    apr_time_t deadline = apr_time_now() + OBO_LIST_WAIT;
    apr_interval_time_t nap = 2000;
    apr_status_t rv;

    while ((rv = obo_cache_lock(c->cache, p, lk, apr_time_now()
                                + apr_time_from_sec(OBO_LIST_LOCK_TTL_S), tok)) == APR_EEXIST
           && apr_time_now() < deadline) {
        apr_sleep(nap);
        nap = nap < 50000 ? nap * 2 : nap;
    }
    return rv;
}

/* Writes the user's list with the cache's figure (obo_list_current). */
static apr_status_t obo_list_put(apr_pool_t *p, const obo_session_cfg *c, const char *lk,
                                 json_t *sessions, apr_time_t latest)
{
    apr_uint64_t w = 0;

    obo_cache_written(c->cache, &w);
    return obo_put(p, c, lk, obo_json_pool(p, json_pack("{s:O, s:I}", "s", sessions, "kt",
                                                        (json_int_t)w)), latest);
}

static obo_exchange_error *obo_serr(apr_pool_t *p, obo_exchange_errkind kind,
                                    const char *error, const char *detail);

/* The user's session starts this hour, beside the locks
 * (obo_cache_set_small: the lock table on shm, a sealed entry on
 * memcached), never among the sessions, whose rings other users' sessions
 * turn (a count kept in the user's list was lost with it: review 21):
 * "start opened inflight". Starts in flight are counted apart, so that one
 * refused beside them is told to come back in seconds, not at the end of
 * the hour (review 23); a process that dies mid-start leaves one counted
 * until the hour ends. A start a little in the future (another server's
 * clock) is this window. */
typedef struct obo_opens {
    apr_int64_t start, opened, inflight;
} obo_opens;

#define OBO_OPENS_INFLIGHT_RETRY_S 5

static void obo_opens_get(apr_pool_t *p, const obo_session_cfg *c, const char *ck,
                          apr_time_t now, obo_opens *n)
{
    char *v = NULL;
    apr_size_t len = 0;
    apr_int64_t t = apr_time_sec(now);

    memset(n, 0, sizeof(*n));
    if (obo_cache_get_small(c->cache, p, ck, &v, &len) != APR_SUCCESS
        || sscanf(v, "%" APR_INT64_T_FMT " %" APR_INT64_T_FMT " %" APR_INT64_T_FMT,
                  &n->start, &n->opened, &n->inflight) != 3
        || n->start > t + OBO_OPENS_SKEW_S || t - n->start >= OBO_OPENS_WINDOW_S
        || n->opened < 0 || n->inflight < 0) {
        memset(n, 0, sizeof(*n));
    }
}

/* The user's count (*ck) and the list lock that guards it (*lock). */
static void obo_opens_names(apr_pool_t *p, const obo_session_cfg *c, const char *user,
                            const char **ck, const char **lock)
{
    const char *lk = obo_list_key(p, obo_client_id(c), obo_user_hash(p, user));

    *ck = apr_pstrcat(p, lk, ".opens", NULL);
    *lock = apr_pstrcat(p, lk, ".lock", NULL);
}

/* Writes n (removed when nothing is counted). */
static apr_status_t obo_opens_put(apr_pool_t *p, const obo_session_cfg *c, const char *ck,
                                  const obo_opens *n)
{
    const char *v;

    if (n->opened <= 0 && n->inflight <= 0) {
        obo_cache_del_small(c->cache, p, ck);
        return APR_SUCCESS;
    }
    v = apr_psprintf(p, "%" APR_INT64_T_FMT " %" APR_INT64_T_FMT " %" APR_INT64_T_FMT,
                     n->start, n->opened, n->inflight);
    return obo_cache_set_small(c->cache, p, ck, v, strlen(v),
                               apr_time_from_sec(n->start + OBO_OPENS_WINDOW_S));
}

static obo_exchange_error *obo_opens_refusal(apr_pool_t *p, const obo_opens *n, int most,
                                             apr_time_t now)
{
    obo_exchange_error *x = apr_pcalloc(p, sizeof(*x));
    int full = n->opened >= most;

    x->kind = OBO_XERR_THROTTLED;
    x->error = OBO_SESSION_RATE_ERROR;
    x->retry_after = full ? n->start + OBO_OPENS_WINDOW_S - apr_time_sec(now)
                          : OBO_OPENS_INFLIGHT_RETRY_S;
    x->retry_after = x->retry_after < 1 ? 1 : x->retry_after;
    x->detail = apr_psprintf(p, "its user opened %" APR_INT64_T_FMT " long-running sessions "
                             "within the hour and %" APR_INT64_T_FMT " more are starting (at "
                             "most %d: twice OBOSessionLimit, at least %d); no new one for %"
                             APR_INT64_T_FMT " s", n->opened, n->inflight, most,
                             OBO_OPENS_MIN, x->retry_after);
    x->error_description = x->detail;
    return x;
}

/* Before a new session's exchanges, under the user's list lock (shared by
 * every process and server), so that concurrent starts each count (a check
 * outside the lock let 60 starts sent at once all pass: review 21): one
 * more in flight, or APR_EBUSY (*e set) when the user's opened and
 * starting sessions reach OBO_OPENS_SHARE x the limit this hour. APR_EAGAIN
 * (*e set): the lock or the cache failed; no session is started without
 * being counted. *start: the window counted in, for obo_list_counted. */
static apr_status_t obo_list_budget(apr_pool_t *p, const obo_session_cfg *c, const char *user,
                                    apr_int64_t *start, obo_exchange_error **e)
{
    const char *ck, *lock, *tok = NULL;
    int most = OBO_OPENS_SHARE * c->limit > OBO_OPENS_MIN ? OBO_OPENS_SHARE * c->limit
                                                          : OBO_OPENS_MIN;
    apr_time_t now = apr_time_now();
    obo_opens n;
    apr_status_t rv;

    obo_opens_names(p, c, user, &ck, &lock);
    if (obo_list_lock(p, c, lock, &tok) != APR_SUCCESS) {
        *e = obo_serr(p, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                      "its user's session list could not be locked");
        return APR_EAGAIN;
    }
    obo_opens_get(p, c, ck, now, &n);
    if (n.opened + n.inflight >= most) {
        *e = obo_opens_refusal(p, &n, most, now);
        obo_log(OBO_LOG_WARN, "OBO341", "long-running session not started: %s", (*e)->detail);
        obo_metrics_inc(OBO_M_SESSION_RATED);
        rv = APR_EBUSY;
    }
    else {
        n.start = n.start ? n.start : apr_time_sec(now);
        n.inflight++;
        *start = n.start;
        rv = obo_opens_put(p, c, ck, &n);
        if (rv != APR_SUCCESS) {
            *e = obo_serr(p, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                          "its user's session starts could not be counted");
            rv = APR_EAGAIN;
        }
    }
    obo_cache_unlock(c->cache, p, lock, tok);
    return rv;
}

/* A start counted by obo_list_budget (in window `start`) has ended: it
 * opened a session (counted as opened) or not (it counts no more: a start
 * the gate answered, or the IdP refused, wrote nothing; counting it locked
 * users out for the hour after a 30 s pause or an MFA prompt: review 22).
 * Nothing is taken from a window it was not counted in (review 23). Best
 * effort: without the lock, the start stays counted in flight. */
static void obo_list_counted(apr_pool_t *p, const obo_session_cfg *c, const char *user,
                             apr_int64_t start, int opened)
{
    const char *ck, *lock, *tok = NULL;
    apr_time_t now = apr_time_now();
    obo_opens n;

    obo_opens_names(p, c, user, &ck, &lock);
    if (obo_list_lock(p, c, lock, &tok) != APR_SUCCESS) {
        return;
    }
    obo_opens_get(p, c, ck, now, &n);
    if (n.start == start && n.inflight > 0) {
        n.inflight--;
        n.opened += opened != 0;
        obo_opens_put(p, c, ck, &n);
    }
    else if (opened) {
        /* its window ended meanwhile: the session counts in the new one */
        n.start = n.start ? n.start : apr_time_sec(now);
        n.opened++;
        obo_opens_put(p, c, ck, &n);
    }
    obo_cache_unlock(c->cache, p, lock, tok);
}

/* A session that ended otherwise leaves its user's list, so that the list
 * later tells an evicted session from an ended one. Best effort: a list
 * that cannot be locked keeps the key (it is then counted as evicted). */
static void obo_list_forget(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                            const obo_smeta *m)
{
    const char *lk = obo_list_key(p, m->client_id, m->user);
    const char *lock = apr_pstrcat(p, lk, ".lock", NULL), *tok = NULL;
    json_t *j = NULL, *out;
    apr_time_t latest = 0;
    size_t i;

    if (!c->limit || obo_list_lock(p, c, lock, &tok) != APR_SUCCESS) {
        return;
    }
    if (obo_load(p, c, lk, &j) == APR_SUCCESS) {
        json_t *list = json_object_get(j, "s");
        out = obo_json_pool(p, json_array());
        for (i = 0; i < json_array_size(list); i++) {
            json_t *e = json_array_get(list, i);
            const char *k = obo_json_str(e, "k");
            if (k && strcmp(k, key) != 0) {
                json_array_append(out, e);
                latest = latest > obo_jtime(e, "mx") ? latest : obo_jtime(e, "mx");
            }
        }
        if (json_array_size(out)) {
            obo_list_put(p, c, lk, out, latest);
        }
        else {
            obo_cache_del(c->cache, p, lk);
        }
    }
    obo_cache_unlock(c->cache, p, lock, tok);
}

static void obo_list_trim(apr_pool_t *p, const obo_session_cfg *c, json_t *list);

/* The user's list names this session and was itself written less than a
 * keep's share of the cache ago: nothing to rewrite. Each of a user's
 * sessions in use rewrote the list at its own keep: 20 busy sessions
 * wrote one key 20 times as often as any other, and that key's ring
 * turned so fast that the cache's figure (which follows the fastest ring)
 * had every session rewritten at every use. */
static int obo_list_current(apr_pool_t *p, const obo_session_cfg *c, const char *lk,
                            const char *key)
{
    json_t *j = NULL, *list;
    apr_int64_t kt = 0;
    apr_uint64_t w = 0;
    size_t i;

    if (!obo_cache_written(c->cache, &w) || obo_load(p, c, lk, &j) != APR_SUCCESS
        || obo_json_int(j, "kt", &kt) != APR_SUCCESS || kt <= 0 || w < (apr_uint64_t)kt
        || w - (apr_uint64_t)kt >= OBO_KEEP_SHARE) {
        return 0;
    }
    list = json_object_get(j, "s");
    for (i = 0; i < json_array_size(list); i++) {
        const char *k = obo_json_str(json_array_get(list, i), "k");
        if (k && strcmp(k, key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A session in use keeps its user's list too (with obo_keep): shmcb drops
 * entries in insertion order, and a list it dropped would let the user
 * start over from an empty one, past OBOSessionLimit. A list that was lost
 * is started again with this session; the user's other sessions in use
 * re-enter it at their own next rewrite, and one over the limit then ends
 * the oldest, as at a start. Best effort, like obo_list_forget. */
static void obo_list_keep(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                          const obo_smeta *m)
{
    const char *lk = obo_list_key(p, m->client_id, m->user);
    const char *lock = apr_pstrcat(p, lk, ".lock", NULL), *tok = NULL;
    json_t *j = NULL, *list, *out = obo_json_pool(p, json_array());
    apr_time_t latest = m->until;
    int found = 0;
    size_t i;

    if (!c->limit || obo_list_current(p, c, lk, key)
        || obo_list_lock(p, c, lock, &tok) != APR_SUCCESS) {
        return;
    }
    list = obo_load(p, c, lk, &j) == APR_SUCCESS ? json_object_get(j, "s") : NULL;
    for (i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *k = obo_json_str(e, "k");
        if (k) {
            found |= strcmp(k, key) == 0;
            json_array_append(out, e);
            latest = latest > obo_jtime(e, "mx") ? latest : obo_jtime(e, "mx");
        }
    }
    if (!found) {
        json_array_append_new(out, json_pack("{s:s, s:I}", "k", key,
                                             "mx", (json_int_t)apr_time_sec(m->until)));
        obo_list_trim(p, c, out);
    }
    obo_list_put(p, c, lk, out, latest);
    obo_cache_unlock(c->cache, p, lock, tok);
}

/* A session ended by DELETE, a refused refresh, idleness or eviction. */
static void obo_del_all(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                        const obo_smeta *m, obo_metric why)
{
    obo_del_entries(p, c, key, m->names, why, 0);
    obo_list_forget(p, c, key, m);
}

/* The meta entry of a session, if it is this configuration's (and user's). */
static apr_status_t obo_session_find(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                                     const char *user, obo_smeta *m)
{
    apr_status_t rv = obo_session_key_valid(key) ? obo_meta_load(p, c, key, m) : APR_NOTFOUND;
    const char *why = NULL;

    if (rv == APR_SUCCESS) {
        if (strcmp(m->client_id, obo_client_id(c)) != 0) {
            why = "another client id";
        }
        else if (c->downstreams && strcmp(m->digest, obo_digest(p, c)) != 0) {
            why = "another downstream set";
        }
        else if (user && strcmp(m->user, obo_user_hash(p, user)) != 0) {
            why = "another user";
        }
    }
    if (why) {
        obo_log(OBO_LOG_WARN, "OBO330", "session %s is bound to %s: not used here",
                obo_fingerprint(p, key, strlen(key)), why);
        rv = APR_NOTFOUND;
    }
    else if (rv == APR_NOTFOUND) {
        /* gone (ended elsewhere, evicted, a cache restart): this server
         * no longer counts it live (review 33A-F1, 33B-F2) */
        obo_ledger_gone(key);
    }
    return rv;
}

/* ---- opening */

typedef struct obo_open_baton {
    const obo_session_cfg *c;
    apr_pool_t *p;
    const char *user;
    const char *assertion;
    apr_time_t assertion_exp;
    const char *idx;            /* the caller token's index entry */
    int evicted;                /* the index named a session gone without an end */
    int created;
    int failed;
} obo_open_baton;

static obo_exchange_error *obo_serr(apr_pool_t *p, obo_exchange_errkind kind,
                                    const char *error, const char *detail)
{
    obo_exchange_error *e = apr_pcalloc(p, sizeof(*e));

    e->kind = kind;
    e->error = error;
    e->error_description = detail;
    e->detail = detail;
    return e;
}

/* A failure without the IdP's answer: a waiter behind another request's
 * live lock (APR_TIMEUP, obo_cache.h) timed out; anything else failed. */
static obo_exchange_error *obo_lost(apr_pool_t *p, apr_status_t rv, const char *what)
{
    return rv == APR_TIMEUP
        ? obo_serr(p, OBO_XERR_TIMEOUT, NULL, apr_pstrcat(p, what, ": another request's "
                   "identity-provider call did not finish within the lock wait", NULL))
        : obo_serr(p, OBO_XERR_UPSTREAM, NULL, what);
}

static obo_exchange_error *obo_xerr_copy(apr_pool_t *p, const obo_exchange_error *e)
{
    obo_exchange_error *c = apr_pmemdup(p, e, sizeof(*e));

    c->error = e->error ? apr_pstrdup(p, e->error) : NULL;
    c->error_description = e->error_description ? apr_pstrdup(p, e->error_description) : NULL;
    c->suberror = e->suberror ? apr_pstrdup(p, e->suberror) : NULL;
    c->claims = e->claims ? apr_pstrdup(p, e->claims) : NULL;
    c->error_codes = e->error_codes ? apr_pstrdup(p, e->error_codes) : NULL;
    c->trace_id = e->trace_id ? apr_pstrdup(p, e->trace_id) : NULL;
    c->correlation_id = e->correlation_id ? apr_pstrdup(p, e->correlation_id) : NULL;
    c->detail = e->detail ? apr_pstrdup(p, e->detail) : NULL;
    return c;
}

/* Every token-endpoint call of a session goes through the gate
 * (obo_guard.h) under the key the ordinary exchange would use for the same
 * request (client, endpoint, grant, scopes, hash of the caller token or of
 * the refresh token). A pause (APR_EAGAIN, THROTTLED) is APR_EBUSY here:
 * APR_EAGAIN of a session says that the cache failed (obo_session.h). */
static apr_status_t obo_call(apr_pool_t *p, const obo_session_cfg *c,
                             const obo_exchange_req *req, obo_token_result **t,
                             obo_exchange_error **e)
{
    obo_guard g = { c->gate_cache ? c->gate_cache : c->cache, c->guard, c->negative_ttl };
    apr_status_t rv = obo_guard_exchange(p, &g, c->http, req, NULL, t, e, NULL);

    return rv == APR_EAGAIN ? APR_EBUSY : rv;
}

static obo_exchange_req obo_ds_req(const obo_open_baton *b, int i)
{
    const obo_session_ds *d = &APR_ARRAY_IDX(b->c->downstreams, i, obo_session_ds);
    obo_exchange_req req = b->c->req;

    req.assertion = b->assertion;
    req.scopes = d->scopes;
    req.audiences = d->audiences;
    return req;
}

/* One exchange per downstream, all or none: the gate is asked for every
 * downstream first, so that a failure remembered for a later one costs no
 * call for the earlier ones (whose tokens a failed start throws away). The
 * error names the downstream (part) for the waiters it is shared with. */
static apr_status_t obo_exchange_all(apr_pool_t *p, obo_open_baton *b,
                                     obo_token_result **toks, obo_exchange_error **e)
{
    const obo_session_cfg *c = b->c;
    obo_guard g = { c->gate_cache ? c->gate_cache : c->cache, c->guard, c->negative_ttl };
    apr_status_t rv = APR_NOTFOUND;
    int i;

    for (i = 0; i < c->downstreams->nelts && rv == APR_NOTFOUND; i++) {
        obo_exchange_req req = obo_ds_req(b, i);
        rv = obo_guard_peek(p, &g, &req, NULL, e);
        b->failed = i;
    }
    rv = rv == APR_EAGAIN ? APR_EBUSY : rv == APR_NOTFOUND ? APR_SUCCESS : rv;
    for (i = 0; i < c->downstreams->nelts && rv == APR_SUCCESS; i++) {
        obo_exchange_req req = obo_ds_req(b, i);
        rv = obo_call(p, c, &req, &toks[i], e);
        b->failed = i;
    }
    if (rv != APR_SUCCESS && *e) {
        (*e)->part = b->failed;
    }
    return rv;
}

static json_t *obo_names_json(apr_pool_t *p, const obo_session_cfg *c)
{
    json_t *names = obo_json_pool(p, json_array());
    int i;

    for (i = 0; c->downstreams && i < c->downstreams->nelts; i++) {
        const obo_session_ds *d = &APR_ARRAY_IDX(c->downstreams, i, obo_session_ds);
        json_array_append_new(names, json_string(d->name ? d->name : ""));
    }
    return names;
}

static json_t *obo_meta_json(apr_pool_t *p, obo_open_baton *b, apr_time_t until)
{
    const obo_session_cfg *c = b->c;
    json_t *names = json_deep_copy(obo_names_json(p, c));
    apr_uint64_t w = 0;

    obo_cache_written(c->cache, &w);    /* written now: kept (obo_keep_due) */
    return obo_json_pool(p, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}",
                                      "c", obo_client_id(c), "d", obo_digest(p, c),
                                      "u", obo_user_hash(p, b->user),
                                      "e", c->req.token_endpoint,
                                      "mx", (json_int_t)apr_time_sec(until),
                                      "w", (json_int_t)apr_time_sec(apr_time_now()),
                                      "i", (json_int_t)apr_time_sec(c->idle),
                                      "kt", (json_int_t)w, "n", names));
}

/* One session of the user's list: live (its meta entry is there, or the
 * cache cannot tell), or gone before its end: evicted, as a session that
 * ended otherwise has left the list. */
static int obo_list_live(apr_pool_t *p, const obo_session_cfg *c, const char *k,
                         obo_smeta *m)
{
    apr_status_t rv = obo_meta_load(p, c, k, m);

    if (rv == APR_NOTFOUND) {
        obo_log(OBO_LOG_WARN, "OBO339", "long-running session %s was evicted from the cache "
                "before its end (its user's list still names it); make the cache larger "
                "(OBO195)", obo_fingerprint(p, k, strlen(k)));
        obo_metrics_inc(OBO_M_SESSION_EVICTED);
        obo_cache_del(c->cache, p, obo_skey(p, "alive", k, NULL));
        obo_ledger_gone(k);
    }
    return rv != APR_NOTFOUND;
}

/* Ends the user's oldest sessions while the list holds more than the limit. */
static void obo_list_trim(apr_pool_t *p, const obo_session_cfg *c, json_t *list)
{
    while (json_array_size(list) > (size_t)c->limit) {
        const char *k = obo_json_str(json_array_get(list, 0), "k");
        obo_smeta m;
        apr_status_t rv = k ? obo_meta_load(p, c, k, &m) : APR_NOTFOUND;

        /* The cache cannot tell (EAGAIN): the oldest stays listed, to be
         * ended at the next start, instead of leaving the list alive and
         * escaping the limit (review 33A-F5) */
        if (rv == APR_EAGAIN) {
            break;
        }
        if (rv == APR_SUCCESS) {
            obo_log(OBO_LOG_INFO, "OBO338", "long-running session %s ended: its user opened "
                    "more than OBOSessionLimit %d sessions (the oldest ends first)",
                    obo_fingerprint(p, k, strlen(k)), c->limit);
            obo_del_entries(p, c, k, m.names, OBO_M_SESSION_LIMIT, m.until);
        }
        json_array_remove(list, 0);
    }
}

/* The new session joins its user's list (under the list's lock, so that
 * concurrent starts of one user, in any process or server, each see the
 * others); the oldest sessions beyond the limit end. */
static apr_status_t obo_list_admit(apr_pool_t *p, obo_open_baton *b, const char *key,
                                   apr_time_t until)
{
    const obo_session_cfg *c = b->c;
    const char *lk = obo_list_key(p, obo_client_id(c), obo_user_hash(p, b->user));
    const char *lock = apr_pstrcat(p, lk, ".lock", NULL), *tok = NULL;
    json_t *j = NULL, *list, *out = obo_json_pool(p, json_array());
    apr_time_t now = apr_time_now(), latest = until;
    apr_status_t rv = obo_list_lock(p, c, lock, &tok);
    size_t i;

    if (rv != APR_SUCCESS) {
        return rv == APR_EEXIST ? APR_TIMEUP : rv;
    }
    rv = obo_load(p, c, lk, &j);
    list = rv == APR_SUCCESS ? json_object_get(j, "s") : NULL;
    for (i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *k = obo_json_str(e, "k");
        apr_time_t mx = obo_jtime(e, "mx");
        obo_smeta m;

        if (k && obo_session_key_valid(k) && mx > now && obo_list_live(p, c, k, &m)) {
            json_array_append(out, e);
            latest = latest > mx ? latest : mx;
        }
    }
    if (rv == APR_SUCCESS || rv == APR_NOTFOUND) {
        json_array_append_new(out, json_pack("{s:s, s:I}", "k", key,
                                             "mx", (json_int_t)apr_time_sec(until)));
        obo_list_trim(p, c, out);
        rv = obo_list_put(p, c, lk, out, latest);
    }
    obo_cache_unlock(c->cache, p, lock, tok);
    return rv;
}

/* Everything of a new session, the refresh tokens before the meta entry
 * that makes the session visible. */
static apr_status_t obo_store_new(apr_pool_t *p, obo_open_baton *b, const char *key,
                                  obo_token_result **toks, apr_time_t until)
{
    const obo_session_cfg *c = b->c;
    apr_status_t rv = APR_SUCCESS;
    apr_time_t now = apr_time_now();
    int i;

    for (i = 0; i < c->downstreams->nelts && rv == APR_SUCCESS; i++) {
        const obo_session_ds *d = &APR_ARRAY_IDX(c->downstreams, i, obo_session_ds);
        const char *n = d->name ? d->name : "";
        const char *at = NULL;
        apr_time_t at_until;

        obo_assume_life(p, key, n, toks[i]);
        at = obo_token_serialize(p, toks[i]);
        at_until = obo_at_until(c, toks[i], until);

        rv = obo_put(p, c, obo_skey(p, "rt", key, n),
                     obo_rt_json(p, toks[i]->refresh_token, obo_join(p, d->scopes)), until);
        if (rv == APR_SUCCESS && at && at_until > now) {
            obo_cache_set(c->cache, p, obo_skey(p, "at", key, n), at, strlen(at), at_until);
        }
    }
    if (rv == APR_SUCCESS) {
        rv = obo_put(p, c, obo_skey(p, "alive", key, NULL),
                     obo_json_pool(p, json_pack("{s:I}", "lu", (json_int_t)apr_time_sec(now))),
                     obo_min(now + c->idle, until));
    }
    if (rv == APR_SUCCESS) {
        rv = obo_put(p, c, obo_skey(p, "meta", key, NULL), obo_meta_json(p, b, until), until);
    }
    return rv;
}

static apr_status_t obo_new_key(apr_pool_t *p, char **key)
{
    unsigned char raw[OBO_SESSION_KEY_BYTES];
    apr_status_t rv = obo_random(raw, sizeof(raw));

    *key = rv == APR_SUCCESS ? obo_b64url_encode(p, raw, sizeof(raw)) : NULL;
    return rv;
}

/* obo_cache_fetch_fn of the index: creates the session; its value is the
 * session key (sealed in the cache like every value). */
static apr_status_t obo_open_fetch(void *baton, apr_pool_t *rp, char **val, apr_size_t *len,
                                   apr_time_t *expiry, void **errval)
{
    obo_open_baton *b = baton;
    const obo_session_cfg *c = b->c;
    obo_token_result **toks = apr_pcalloc(b->p, sizeof(*toks) * c->downstreams->nelts);
    obo_exchange_error *e = NULL;
    apr_time_t until = apr_time_now() + c->max;
    apr_pool_t *tmp = NULL;
    char *key = NULL;
    apr_status_t rv;
    apr_int64_t start = 0;
    const char *counted_name = apr_pstrcat(b->p, b->idx, ".counted", NULL);
    int counted, again;

    apr_pool_create(&tmp, b->p);
    /* A caller token whose session was evicted (by other users' entries in
     * a cache too small, OBO195) starts it again: counted once an hour, not
     * at each restart, which locked its user out for the hour through
     * nobody's fault but the others' traffic (review 30A). A session that
     * was ended (DELETE, a refused refresh: its "ended" mark) counts again:
     * start, DELETE, start with one token escaped the cap (review 31). */
    again = c->limit && b->evicted && obo_cache_noted(c->cache, tmp, counted_name);
    rv = c->limit ? obo_list_budget(tmp, c, b->user, &start, &e) : APR_SUCCESS;
    counted = c->limit && rv == APR_SUCCESS;
    if (rv == APR_SUCCESS) {
        rv = obo_exchange_all(tmp, b, toks, &e);
    }
    if (rv == APR_SUCCESS && (rv = obo_new_key(tmp, &key)) == APR_SUCCESS
        && (rv = obo_store_new(tmp, b, key, toks, until)) == APR_SUCCESS && c->limit
        && (rv = obo_list_admit(tmp, b, key, until)) != APR_SUCCESS) {
        /* Not in its user's list: it would escape the limit. */
        obo_del_entries(tmp, c, key, obo_names_json(tmp, c), OBO_M_COUNTERS, 0);
    }
    if (rv != APR_SUCCESS && key) {
        obo_log(OBO_LOG_ERR, "OBO331", "cannot store a new long-running session in the "
                "cache (%d); is the cache reachable?", rv);
        e = obo_serr(tmp, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                     "the session could not be stored");
        /* the cache failed, not the IdP: 503 with Retry-After (OBO180) */
        rv = APR_EAGAIN;
    }
    if (rv == APR_SUCCESS) {
        obo_log(OBO_LOG_INFO, "OBO332", "long-running session %s started (%d downstream(s))",
                obo_fingerprint(tmp, key, strlen(key)), c->downstreams->nelts);
        *val = apr_pstrdup(rp, key);
        *len = strlen(key);
        *expiry = b->assertion_exp > 0 ? obo_min(b->assertion_exp, until)
                                       : obo_min(apr_time_now() + c->idle, until);
        b->created = 1;
        obo_metrics_inc(OBO_M_SESSION_STARTED);
        obo_ledger_seen(key, obo_min(apr_time_now() + c->idle, until));
    }
    else {
        *errval = obo_xerr_copy(rp, e);
    }
    if (counted) {
        obo_list_counted(tmp, c, b->user, start, rv == APR_SUCCESS && !again);
    }
    if (counted && rv == APR_SUCCESS && !again) {
        obo_cache_note(c->cache, tmp, counted_name,
                       apr_time_now() + apr_time_from_sec(OBO_OPENS_WINDOW_S));
    }
    apr_pool_destroy(tmp);
    return rv;
}

static const char *obo_index_key(apr_pool_t *p, const obo_session_cfg *c, const char *assertion)
{
    const char *in = apr_pstrcat(p, "idx\n", obo_client_id(c), "\n", obo_digest(p, c), "\n",
                                 c->req.token_endpoint, "\n",
                                 obo_sha256_hex(p, assertion, strlen(assertion)), NULL);

    return apr_pstrcat(p, "obosi:", obo_sha256_hex(p, in, strlen(in)), NULL);
}

/* The index of a session found through it is rewritten with the rest of
 * the session (obo_keep), so that the same caller token finds it again. */
static void obo_keep_index(apr_pool_t *p, const obo_session_cfg *c, const char *idx,
                           const char *key, apr_time_t assertion_exp, const obo_smeta *m)
{
    apr_time_t until = assertion_exp > 0 ? obo_min(assertion_exp, m->until)
                                         : obo_idle_until(c, m, apr_time_now());
    apr_uint64_t w = 0;

    if (obo_keep_due(c, m, &w) && until > apr_time_now()) {
        obo_cache_set(c->cache, p, idx, key, strlen(key), until);
    }
}

/* 1 if the session the index names was ended by the per-user limit. */
static int obo_ended_by_limit(apr_pool_t *p, const obo_session_cfg *c, const char *key)
{
    json_t *j = NULL;

    return obo_session_key_valid(key)
           && obo_load(p, c, obo_skey(p, "ended", key, NULL), &j) == APR_SUCCESS
           && json_is_true(json_object_get(j, "l"));
}

apr_status_t obo_session_open(apr_pool_t *p, const obo_session_cfg *c, const char *user,
                              const char *assertion, apr_time_t assertion_exp,
                              const char **key, int *created,
                              obo_exchange_error **xerr, int *failed)
{
    const char *idx = obo_index_key(p, c, assertion);
    obo_open_baton b = { c, p, user, assertion, assertion_exp, idx, 0, 0, 0 };
    /* Only the holder of the index's lock starts a session: with the cache
     * failing (or the lock out of reach) a start could not be stored, and
     * an unlocked one would exchange at every request and throw the tokens
     * away. APR_EAGAIN instead: the caller answers 503 with Retry-After. */
    obo_cache_flight_opts fo = c->flight;
    apr_status_t rv = APR_NOTFOUND;
    obo_smeta m;
    apr_status_t frv;
    int attempt, hit = 0;

    fo.locked_only = 1;
    /* The lock is sized for one grant; a start makes one per downstream,
     * one after the other, and must not outlive its lock (a waiter would
     * take it over and start a second session). */
    fo.lock_ttl *= c->downstreams && c->downstreams->nelts > 1 ? c->downstreams->nelts : 1;
    /* A second attempt only when the index named a session that is gone
     * (ended, expired, evicted): the caller token starts a new one. */
    for (attempt = 0; attempt < 2 && rv == APR_NOTFOUND; attempt++) {
        char *val = NULL;
        apr_size_t len = 0;
        void *errval = NULL;

        rv = obo_cache_get_or_fetch_ex(c->cache, p, idx, &fo, &obo_token_errshare,
                                       obo_open_fetch, &b, &val, &len, &hit, &errval);
        if (rv != APR_SUCCESS) {
            *xerr = errval ? obo_xerr_copy(p, errval)
                           : obo_lost(p, rv, "session start failed");
            /* the waiters of another request's start learn it from the error */
            *failed = *xerr ? (*xerr)->part : b.failed;
        }
        else if ((frv = obo_session_find(p, c, val, user, &m)) == APR_SUCCESS) {
            *key = val;
            obo_keep_index(p, c, idx, val, assertion_exp, &m);
        }
        else if (frv == APR_EAGAIN) {
            /* The cache failed reading it: not a reason to start another. */
            *xerr = obo_serr(p, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                             "the session could not be read from the cache");
            rv = APR_EAGAIN;
        }
        else if (b.created) {
            /* Just stored and already gone: the cache does not keep it. */
            *xerr = obo_serr(p, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                             "the session could not be stored");
            rv = APR_EGENERAL;
        }
        else if (obo_ended_by_limit(p, c, val)) {
            /* The index stays: this token's next requests cost no more. */
            obo_log(OBO_LOG_INFO, "OBO340", "caller token %s: its long-running session %s "
                    "was ended by OBOSessionLimit; it does not start another",
                    obo_fingerprint(p, assertion, strlen(assertion)),
                    obo_fingerprint(p, val, strlen(val)));
            *xerr = obo_serr(p, OBO_XERR_INVALID_GRANT, NULL, "its session was ended by "
                             "OBOSessionLimit");
            rv = OBO_SESSION_LIMITED;
        }
        else {
            json_t *mark = NULL;

            b.evicted = !obo_session_key_valid(val)
                        || obo_load(p, c, obo_skey(p, "ended", val, NULL), &mark)
                           != APR_SUCCESS;
            obo_cache_del(c->cache, p, idx);
            rv = APR_NOTFOUND;
        }
    }
    if (rv == APR_NOTFOUND) {
        *xerr = obo_serr(p, OBO_XERR_UPSTREAM, NULL, "session start failed");
        rv = APR_EGENERAL;
    }
    *created = b.created;
    return rv;
}

/* ---- tokens */

typedef struct obo_refresh_baton {
    const obo_session_cfg *c;
    apr_pool_t *p;
    const char *key;
    const char *ds;
    const obo_smeta *m;
    int refreshed;
    int rt_gone;                 /* the meta entry is there, the refresh token not */
} obo_refresh_baton;

static apr_status_t obo_rt_load(apr_pool_t *p, obo_refresh_baton *b, const char **rt,
                                const char **scopes)
{
    json_t *j = NULL;
    apr_status_t rv = obo_load(p, b->c, obo_skey(p, "rt", b->key, b->ds), &j);

    if (rv == APR_SUCCESS) {
        *rt = obo_json_str(j, "rt");
        *scopes = obo_json_str(j, "s") ? obo_json_str(j, "s") : "";
    }
    return rv;
}

static apr_array_header_t *obo_split(apr_pool_t *p, const char *s)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    char *last = NULL, *copy = apr_pstrdup(p, s);
    const char *w;

    for (w = apr_strtok(copy, " ", &last); w; w = apr_strtok(NULL, " ", &last)) {
        APR_ARRAY_PUSH(a, const char *) = w;
    }
    return a;
}

static apr_status_t obo_refresh_once(apr_pool_t *p, obo_refresh_baton *b, const char *rt,
                                     const char *scopes, obo_token_result **t,
                                     obo_exchange_error **e)
{
    obo_exchange_req req = b->c->req;

    req.grant = OBO_GRANT_REFRESH;
    req.assertion = rt;
    req.scopes = obo_split(p, scopes);
    req.audiences = NULL;
    req.token_endpoint = b->m->endpoint;
    b->refreshed = 1;
    return obo_call(p, b->c, &req, t, e);
}

static int obo_refused(apr_status_t rv, const obo_exchange_error *e)
{
    return rv == APR_EACCES && e
           && (e->kind == OBO_XERR_INTERACTION || e->kind == OBO_XERR_INVALID_GRANT);
}

/* The refresh, with the second chance described at the top. */
static apr_status_t obo_refresh(apr_pool_t *p, obo_refresh_baton *b, const char **used,
                                const char **used_scopes, obo_token_result **t,
                                obo_exchange_error **e)
{
    const char *rt = NULL, *scopes = NULL, *now_rt = NULL, *now_scopes = NULL;
    apr_status_t rv = obo_rt_load(p, b, &rt, &scopes);

    if (rv == APR_EAGAIN) {
        *e = obo_serr(p, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                      "the session's refresh token could not be read from the cache");
        return rv;
    }
    if (rv != APR_SUCCESS) {
        b->rt_gone = 1;
        return APR_NOTFOUND;
    }
    if (rt == NULL) {
        *e = obo_serr(p, OBO_XERR_INTERACTION, "interaction_required",
                      "the session has no refresh token (the identity provider issued "
                      "none) and its access token has expired");
        return APR_EACCES;
    }
    rv = obo_refresh_once(p, b, rt, scopes, t, e);
    if (obo_refused(rv, *e) && obo_rt_load(p, b, &now_rt, &now_scopes) == APR_SUCCESS
        && now_rt && strcmp(now_rt, rt) != 0) {
        obo_log(OBO_LOG_INFO, "OBO333", "session %s: refresh token was rotated by another "
                "request meanwhile; using the new one", obo_fingerprint(p, b->key,
                                                                      strlen(b->key)));
        rt = now_rt;
        scopes = now_scopes;
        *e = NULL;
        rv = obo_refresh_once(p, b, rt, now_scopes, t, e);
    }
    *used = rt;
    *used_scopes = scopes;
    if (rv == APR_SUCCESS) {
        *e = NULL;
    }
    return rv;
}

static void obo_end_refused(apr_pool_t *p, obo_refresh_baton *b, const obo_exchange_error *e)
{
    obo_log(OBO_LOG_INFO, "OBO334", "session %s ended: the identity provider refused its "
            "refresh token for downstream '%s' (%s); the user must sign in again",
            obo_fingerprint(p, b->key, strlen(b->key)), b->ds,
            e->error ? e->error : "no refresh token");
    obo_del_all(p, b->c, b->key, b->m, OBO_M_SESSION_ENDED);
}

/* obo_cache_fetch_fn of the "at" entry: one refresh grant. */
static apr_status_t obo_refresh_fetch(void *baton, apr_pool_t *rp, char **val,
                                      apr_size_t *len, apr_time_t *expiry, void **errval)
{
    obo_refresh_baton *b = baton;
    obo_token_result *t = NULL;
    obo_exchange_error *e = NULL;
    const char *used = NULL, *used_scopes = "", *rt_key = obo_skey(b->p, "rt", b->key, b->ds);
    apr_pool_t *tmp = NULL;
    obo_smeta m2;
    apr_status_t rv;

    apr_pool_create(&tmp, b->p);
    rv = obo_refresh(tmp, b, &used, &used_scopes, &t, &e);
    if (rv == APR_SUCCESS) {
        /* The scopes stay those the session asked for: they name the resource. */
        json_t *j = obo_rt_json(tmp, t->refresh_token ? t->refresh_token : used, used_scopes);

        /* The rotated refresh token first: nobody may use the old one after. */
        rv = obo_put(tmp, b->c, rt_key, j, b->m->until);
        /* Ended meanwhile only if the meta entry is really gone: a cache
         * error must not delete the refresh token just rotated. */
        if (rv == APR_SUCCESS && obo_meta_load(tmp, b->c, b->key, &m2) == APR_NOTFOUND) {
            obo_cache_del(b->c->cache, tmp, rt_key);
            rv = APR_NOTFOUND;
        }
        else if (rv != APR_SUCCESS) {
            e = obo_serr(tmp, OBO_XERR_UPSTREAM, "temporarily_unavailable",
                         "the rotated refresh token could not be stored");
            obo_log(OBO_LOG_ERR, "OBO335", "session %s: cannot store the rotated refresh "
                    "token (%d)", obo_fingerprint(tmp, b->key, strlen(b->key)), rv);
            /* the cache failed, not the IdP: answered as a cache failure
             * (503 with Retry-After, the session kept) */
            rv = APR_EAGAIN;
        }
    }
    else if (obo_refused(rv, e)) {
        obo_end_refused(tmp, b, e);
    }
    /* The meta entry gone too: the session was ended meanwhile (a DELETE
     * racing this use), not evicted (review 36A-F6: a false "make the cache
     * larger" for a cache that was not too small). */
    else if (b->rt_gone && obo_meta_load(tmp, b->c, b->key, &m2) == APR_NOTFOUND) {
        obo_log(OBO_LOG_INFO, "OBO342", "long-running session %s was ended while this "
                "request used it", obo_fingerprint(tmp, b->key, strlen(b->key)));
    }
    else if (b->rt_gone) {
        obo_log(OBO_LOG_WARN, "OBO339", "long-running session %s ended: its refresh token "
                "for downstream '%s' was evicted from the cache; make the cache larger "
                "(OBO195)", obo_fingerprint(tmp, b->key, strlen(b->key)), b->ds);
        obo_del_all(tmp, b->c, b->key, b->m, OBO_M_SESSION_EVICTED);
    }
    if (rv == APR_SUCCESS) {
        obo_assume_life(tmp, b->key, b->ds, t);
        *val = obo_token_serialize(rp, t);
        *len = *val ? strlen(*val) : 0;
        *expiry = obo_at_until(b->c, t, b->m->until);
        rv = *val ? APR_SUCCESS : APR_ENOMEM;
    }
    else if (e) {
        *errval = obo_xerr_copy(rp, e);
    }
    apr_pool_destroy(tmp);
    return rv;
}

static int obo_has_ds(const obo_smeta *m, const char *ds)
{
    size_t i;

    for (i = 0; i < json_array_size(m->names); i++) {
        const char *n = json_string_value(json_array_get(m->names, i));
        if (n && strcmp(n, ds) == 0) {
            return 1;
        }
    }
    return 0;
}

static apr_interval_time_t obo_slide_step(const obo_session_cfg *c, const obo_smeta *m)
{
    apr_interval_time_t step = obo_idle(c, m) / OBO_SESSION_SLIDE_SHARE;

    return step > apr_time_from_sec(OBO_SESSION_SLIDE_MIN_S)
           ? step : apr_time_from_sec(OBO_SESSION_SLIDE_MIN_S);
}

/* The idle expiry: gone means the session ended; else it slides. */
static apr_status_t obo_touch(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                              const obo_smeta *m)
{
    const char *ak = obo_skey(p, "alive", key, NULL);
    apr_time_t now = apr_time_now();
    json_t *j = NULL;
    apr_status_t rv = obo_load(p, c, ak, &j);

    if (rv == APR_EAGAIN) {
        return rv;                      /* unknown: the session stays */
    }
    if (rv != APR_SUCCESS && now - m->written >= obo_idle(c, m)) {
        obo_log(OBO_LOG_INFO, "OBO336", "session %s ended: idle for longer than its idle "
                "lifetime", obo_fingerprint(p, key, strlen(key)));
        obo_del_all(p, c, key, m, OBO_M_SESSION_ENDED);
        return APR_NOTFOUND;
    }
    /* Gone although the session was used (created or kept) less than the
     * idle lifetime ago: it cannot have idled out, the cache dropped it. */
    if (rv != APR_SUCCESS || now - obo_jtime(j, "lu") >= obo_slide_step(c, m)) {
        obo_put(p, c, ak, obo_json_pool(p, json_pack("{s:I}", "lu", (json_int_t)
                                                     apr_time_sec(now))),
                obo_idle_until(c, m, now));
        obo_ledger_seen(key, obo_idle_until(c, m, now));
    }
    else {
        obo_ledger_seen(key, obo_idle_until(c, m, obo_jtime(j, "lu")));
    }
    return APR_SUCCESS;
}

/* A refresh token is rewritten only under the lock of its refresh: one
 * read before a rotation and written back after it would bring the old
 * token back. A refresh in progress stores the new one anyway. 0 when the
 * lock was not to be had: the caller's rewrite is then not complete. */
static int obo_keep_rt(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                       const char *ds, apr_time_t until)
{
    const char *rk = obo_skey(p, "rt", key, ds), *tok = NULL;
    const char *lock = apr_pstrcat(p, obo_skey(p, "at", key, ds), ".lock", NULL);
    json_t *j = NULL;

    if (obo_cache_lock(c->cache, p, lock, apr_time_now()
                       + apr_time_from_sec(OBO_KEEP_LOCK_TTL_S), &tok) != APR_SUCCESS) {
        return 0;
    }
    if (obo_load(p, c, rk, &j) == APR_SUCCESS) {
        obo_put(p, c, rk, j, until);
    }
    obo_cache_unlock(c->cache, p, lock, tok);
    return 1;
}

/* Rewrites what the session needs to live: its refresh tokens, the access
 * token just read (else a refresh at the next use), the idle marker, and
 * last the meta entry with the new mark. */
static void obo_keep(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                     const obo_smeta *m, const char *ds, const obo_token_result *t,
                     apr_uint64_t w)
{
    apr_time_t now = apr_time_now();
    const char *at = t ? obo_token_serialize(p, t) : NULL;
    apr_time_t at_until = t ? obo_at_until(c, t, m->until) : 0;
    json_t *j = NULL;
    size_t i;
    int whole = 1;

    for (i = 0; i < json_array_size(m->names); i++) {
        const char *n = json_string_value(json_array_get(m->names, i));
        whole &= obo_keep_rt(p, c, key, n ? n : "", m->until);
    }
    if (at && at_until > now) {
        obo_cache_set(c->cache, p, obo_skey(p, "at", key, ds), at, strlen(at), at_until);
    }
    obo_put(p, c, obo_skey(p, "alive", key, NULL),
            obo_json_pool(p, json_pack("{s:I}", "lu", (json_int_t)apr_time_sec(now))),
            obo_idle_until(c, m, now));
    json_object_set_new(m->j, "w", json_integer((json_int_t)apr_time_sec(now)));
    /* A refresh token left out (its lock was held) keeps the old mark: the
     * next use rewrites again, rather than a quarter of the cache later,
     * when the ring may already have passed that token. */
    json_object_set_new(m->j, "kt", json_integer((json_int_t)(whole ? w : m->kept)));
    obo_put(p, c, obo_skey(p, "meta", key, NULL), m->j, m->until);
    /* Ended meanwhile (DELETE, a refused refresh, the limit): what this
     * rewrite brought back must not revive it, nor bring it back into its
     * user's list. */
    if (obo_load(p, c, obo_skey(p, "ended", key, NULL), &j) == APR_SUCCESS) {
        obo_del_entries(p, c, key, m->names, OBO_M_COUNTERS, 0);
    }
    else {
        obo_list_keep(p, c, key, m);
    }
}

static apr_status_t obo_token_of(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                                 const char *ds, const obo_smeta *m, obo_token_result **t,
                                 obo_exchange_error **xerr, int *hit)
{
    obo_refresh_baton b = { c, p, key, ds, m, 0, 0 };
    obo_cache_flight_opts fo = c->flight;
    char *val = NULL;
    apr_size_t len = 0;
    void *errval = NULL;
    int chit = 0;
    apr_status_t rv;

    /* A refresh token may rotate: two grants at once with one of them
     * refused would end the session, so no grant without the lock, and the
     * lock outlives the two grants a refusal followed by a newer stored
     * token makes (obo_refresh). */
    fo.locked_only = 1;
    fo.lock_ttl *= 2;
    rv = obo_cache_get_or_fetch_ex(c->cache, p, obo_skey(p, "at", key, ds), &fo,
                                   &obo_token_errshare, obo_refresh_fetch, &b, &val, &len,
                                   &chit, &errval);

    if (rv == APR_SUCCESS) {
        /* The session is there: a token that cannot be used is the IdP's
         * (or the store's) failure, not an ended session, which a 404
         * would tell the backend (it would drop the key). */
        rv = obo_token_deserialize(p, val, len, t);
        if (rv != APR_SUCCESS || (*t)->expires_on <= apr_time_now()) {
            *xerr = obo_serr(p, OBO_XERR_UPSTREAM, NULL, rv != APR_SUCCESS
                             ? "the session's token could not be read"
                             : b.refreshed ? "the identity provider issued a token that has "
                                             "already expired"
                             : "the session's stored token has expired");
            rv = APR_EGENERAL;
        }
        *hit = !b.refreshed;
    }
    else if (rv == APR_TIMEUP && !errval) {
        /* Behind another request's refresh lock for the whole wait (no
         * failure of the holder's to share): the holder is slow, or died
         * and left its lock (a memcached stall at its unlock). Not the
         * IdP's timeout (a 504 said so, review 33A-F6): the session is kept
         * and the caller is told to try again (503, Retry-After, OBO180).
         * This request's own refresh timing out at the IdP comes with its
         * error and stays a 504 (review 34A-F2). */
        rv = APR_EAGAIN;
    }
    else if (rv != APR_NOTFOUND) {
        *xerr = errval ? obo_xerr_copy(p, errval) : obo_lost(p, rv, "refresh failed");
    }
    return rv;
}

apr_status_t obo_session_token(apr_pool_t *p, const obo_session_cfg *c, const char *key,
                               const char *user, const char *ds_name,
                               obo_token_result **t, obo_exchange_error **xerr, int *hit)
{
    const char *ds = ds_name ? ds_name : "";
    obo_smeta m;
    apr_uint64_t w = 0;
    apr_status_t rv = obo_session_find(p, c, key, user, &m);

    *hit = 0;
    if (rv == APR_SUCCESS && !obo_has_ds(&m, ds)) {
        rv = APR_ENOENT;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_touch(p, c, key, &m);
    }
    if (rv == APR_SUCCESS) {
        rv = obo_token_of(p, c, key, ds, &m, t, xerr, hit);
    }
    if (rv == APR_SUCCESS && obo_keep_due(c, &m, &w)) {
        obo_keep(p, c, key, &m, ds, *hit ? *t : NULL, w);
    }
    return rv;
}

apr_status_t obo_session_end(apr_pool_t *p, const obo_session_cfg *c, const char *key)
{
    obo_smeta m;
    apr_status_t rv = obo_session_find(p, c, key, NULL, &m);

    if (rv == APR_SUCCESS) {
        obo_del_all(p, c, key, &m, OBO_M_SESSION_ENDED);
        obo_log(OBO_LOG_INFO, "OBO337", "long-running session %s ended by its backend",
                obo_fingerprint(p, key, strlen(key)));
    }
    return rv;
}
