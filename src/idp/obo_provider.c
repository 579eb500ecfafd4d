/* SPDX-License-Identifier: Apache-2.0 */
/* Discovery and JWKS cache behind obo_provider.h.
 *
 * Concurrency: `lock` guards the small shared state and is never held
 * across network I/O; `fetch_lock` serialises fetches so that one thread
 * talks to the IdP while the others keep using the current keys (or, before
 * the first keys, wait on `loaded` and look at the shared cache; for an
 * unknown kid, wait on `loaded` for the fetch in flight). Every wait for
 * another thread's fetch is bounded: a fetch may never end. Key sets
 * are reference-counted: a request pins the set it verifies with, so a
 * refresh can swap in a new set without freeing keys in use.
 *
 * Freshness: every set carries the time the IdP answered for it
 * (`fetched_at`), whoever fetched it; a set from the shared cache or the
 * state file is installed only over an older one, so a process never goes
 * back to keys older than those it holds. */
#include "obo_provider.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include "obo_crypto.h"
#include "obo_idpstate.h"
#include "obo_json.h"
#include "obo_log.h"
#include "obo_text.h"
#include "obo_metrics.h"

#define JWKS_MAX_BYTES (256 * 1024)
#define DISCOVERY_MAX_BYTES (64 * 1024)
/* How often a process without (fresh) keys looks at the shared cache: a
 * waiting request sees a set another server published within this time. */
#define SHARED_PROBE_INTERVAL apr_time_from_msec(200)
#define SHARED_KEY_PREFIX "oboidp1:"
#define SHARED_VERSION 1

typedef struct keyset {
    apr_pool_t *pool;
    obo_jwks *jwks;
    unsigned refs;
    unsigned long generation;
    obo_keys_from from;
} keyset;

struct obo_provider {
    apr_pool_t *pool;           /* private (own allocator), used under `lock` */
    obo_provider_cfg cfg;
    obo_http *http;
    apr_thread_mutex_t *lock;
    apr_thread_mutex_t *fetch_lock;
    apr_thread_cond_t *loaded;  /* with `lock`: a load or fetch ended, or keys arrived */
    const apr_array_header_t *ranked[OBO_CLAIM_RANKS];   /* claimed issuers, made once */
    apr_thread_t *starter;      /* obo_provider_start's thread, until joined */
    const char *shared_key;     /* the entry in cfg.shared, or NULL */
    keyset *current;
    apr_time_t fetched_at;      /* when the IdP answered for the current set */
    apr_time_t shared_probe;    /* last look at the shared cache */
    apr_time_t loaded_at;       /* last successful JWKS load (refresh schedule) */
    apr_time_t last_refetch;    /* last unknown-kid refetch */
    apr_time_t last_failure;    /* last failed fetch, for the backoff */
    int asked;                  /* a first load began (under lock): not idle */
    apr_time_t discovered_at;
    const char *issuer, *jwks_uri, *token_endpoint;   /* from discovery */
    const char *introspection_endpoint;               /* from discovery */
    unsigned long generation;   /* bumped by every install() */
    obo_provider_stats stats;
    unsigned char saved_digest[OBO_SHA256_LEN];   /* of the last state written */
};

typedef struct pin {
    obo_provider *pv;
    keyset *ks;
} pin;

static void keyset_destroy(keyset *ks)
{
    apr_pool_destroy(ks->pool);
}

static apr_status_t provider_cleanup(void *data)
{
    obo_provider *pv = data;
    if (pv->current && pv->current->refs == 0) {
        keyset_destroy(pv->current);
    }
    pv->current = NULL;
    return APR_SUCCESS;
}

static void rank_claims(apr_pool_t *p, obo_provider *pv);

apr_status_t obo_provider_create(apr_pool_t *p, const obo_provider_cfg *cfg,
                                 obo_http *http, obo_provider **out)
{
    obo_provider *pv = apr_pcalloc(p, sizeof(*pv));
    apr_allocator_t *alloc = NULL;
    apr_status_t rv;

    /* Discovery values are copied on the request path: into a pool of our
     * own, since other providers in this process allocate from p meanwhile. */
    rv = apr_allocator_create(&alloc);
    if (rv == APR_SUCCESS) {
        rv = apr_pool_create_ex(&pv->pool, p, NULL, alloc);
        if (rv == APR_SUCCESS) {
            apr_allocator_owner_set(alloc, pv->pool);
        }
        else {
            apr_allocator_destroy(alloc);
        }
    }
    pv->cfg = *cfg;
    pv->http = http;
    if (pv->cfg.jwks_refresh <= 0) {
        pv->cfg.jwks_refresh = apr_time_from_sec(3600);
    }
    if (pv->cfg.refetch_throttle <= 0) {
        pv->cfg.refetch_throttle = apr_time_from_sec(OBO_PROVIDER_REFETCH_SECS);
    }
    if (pv->cfg.retry_backoff <= 0) {
        pv->cfg.retry_backoff = apr_time_from_sec(5);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_mutex_create(&pv->lock, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_mutex_create(&pv->fetch_lock, APR_THREAD_MUTEX_DEFAULT, p);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&pv->loaded, p);
    }
    if (rv == APR_SUCCESS && pv->cfg.shared) {
        pv->shared_key = obo_provider_shared_key(p, &pv->cfg);
    }
    if (rv == APR_SUCCESS) {
        rank_claims(p, pv);
    }
    if (rv == APR_SUCCESS) {
        apr_pool_cleanup_register(p, pv, provider_cleanup, apr_pool_cleanup_null);
        *out = pv;
    }
    return rv;
}

static apr_status_t http_get(obo_provider *pv, apr_pool_t *p, const char *url,
                             apr_size_t max, char **body, apr_size_t *len,
                             const char **err)
{
    obo_http_opts o = pv->cfg.http;
    obo_http_response *resp = NULL;
    apr_time_t sent = apr_time_now();
    apr_status_t rv;

    o.max_body = max;
    rv = obo_http_request(pv->http, p, url, NULL, NULL, &o, &resp, err);
    obo_metrics_idp(url == pv->cfg.metadata_url ? OBO_M_EP_DISCOVERY : OBO_M_EP_JWKS,
                    obo_metrics_http_outcome(rv, resp ? resp->status : 0), 0);
    obo_metrics_provider_idp(pv->cfg.metrics_provider, url == pv->cfg.metadata_url
                             ? OBO_M_EP_DISCOVERY : OBO_M_EP_JWKS,
                             obo_metrics_http_outcome(rv, resp ? resp->status : 0), sent);
    if (rv == APR_SUCCESS && resp->status != 200) {
        *err = apr_psprintf(p, "HTTP status %d", resp->status);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        *body = resp->body;
        *len = resp->len;
    }
    return rv;
}

/* Keeps the old string when unchanged so a periodic refresh does not grow
 * the process pool. Called with pv->lock held. */
static const char *keep_or_copy(obo_provider *pv, const char *old, const char *now)
{
    if (!now) {
        return old;
    }
    return (old && strcmp(old, now) == 0) ? old : apr_pstrdup(pv->pool, now);
}

static int is_https(const char *url);

/* The longest issuer a discovery document may name. */
#define OBO_ISSUER_MAX 2048

apr_status_t obo_discovery_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                 obo_discovery *out, const char **err)
{
    json_t *doc = NULL;
    apr_status_t rv = obo_json_parse(p, body, len, OBO_JSON_MAX_DEPTH, 1, &doc, err);
    const char *why = NULL;

    if (rv == APR_SUCCESS) {
        out->issuer = obo_json_str(doc, "issuer");
        out->jwks_uri = obo_json_str(doc, "jwks_uri");
        out->token_endpoint = obo_json_str(doc, "token_endpoint");
        out->introspection_endpoint = obo_json_str(doc, "introspection_endpoint");
        if (!out->issuer || !out->jwks_uri) {
            *err = "discovery document lacks issuer or jwks_uri";
            rv = APR_EINVAL;
        }
        /* OpenID Connect Discovery: an https URL. A bare name (or one with
         * user info) let a further provider's users be named value@issuer
         * as one of the primary's users is (review 38G-F2: issuer
         * "corp.example", upn alice: "alice@corp.example") */
        /* ... of visible ASCII only (RFC 3986): it becomes part of REMOTE_USER
         * (value@issuer), and a CR LF in it split the headers a backend got
         * (review 39A-F6) */
        else if (!is_https(out->issuer)
                 || obo_text_check(out->issuer, OBO_ISSUER_MAX, OBO_TEXT_VISIBLE, &why)
                    != APR_SUCCESS) {
            *err = "discovery document's issuer is not an https URL (visible ASCII, without "
                   "user info)";
            rv = APR_EINVAL;
        }
    }
    return rv;
}

/* An https URL with a host and no user name or password in its authority
 * (one would be sent, then logged with the URL: review 20). */
static int is_https(const char *url)
{
    return url && strncasecmp(url, "https://", 8) == 0 && url[8] && url[8] != '/'
           && url[8] != ':' && url[8] != '?' && url[8] != '#'
           && memchr(url + 8, '@', strcspn(url + 8, "/?#")) == NULL;
}

/* A discovery document may not send the module to a plaintext endpoint:
 * keys fetched in clear text can be forged, and the token endpoint receives
 * the client's credentials and the user's token. */
static apr_status_t check_discovered_urls(obo_provider *pv, const obo_discovery *d,
                                          const char **err)
{
    /* an OBOTokenEndpoint override means discovery's is never used (a
     * plaintext introspection_endpoint is refused where it is used:
     * obo_provider_introspection_endpoint) */
    const char *tok = d->token_endpoint;
    const char *what = !is_https(d->jwks_uri) ? "jwks_uri"
                       : (tok && !pv->cfg.token_endpoint && !is_https(tok)) ? "token_endpoint"
                       : NULL;

    if (!what) {
        return APR_SUCCESS;
    }
    obo_log(OBO_LOG_ERR, "OBO070", "discovery document from " OBO_URL_FMT " refused: its %s "
            "is not an https URL without user name or password",
            OBO_URL_ARGS(pv->cfg.metadata_url), what);
    *err = "discovery document names a non-https endpoint";
    return APR_EINVAL;
}

/* The host of an https URL (case as written), or "" . */
static const char *url_host(apr_pool_t *p, const char *url)
{
    const char *h = url && strncasecmp(url, "https://", 8) == 0 ? url + 8 : "";

    /* an IPv6 literal holds ':' (review 41-F4: compared by its first group) */
    return apr_pstrndup(p, h, *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#"));
}

/* A further provider's endpoint on another host than its discovery URL's
 * (OBO077): never used, wherever it was learnt (the document, another
 * process's through the shared cache, the state file; review 41-F1). */
static int foreign_endpoint(obo_provider *pv, apr_pool_t *p, const char *url)
{
    return pv->cfg.further && pv->cfg.metadata_url && url
           && strcasecmp(url_host(p, url), url_host(p, pv->cfg.metadata_url)) != 0;
}

/* A further provider's document may name endpoints on its own host only:
 * the module authenticates there as this application, and a document
 * naming the primary's token endpoint got its users the primary tenant's
 * application token (review 40A-F4). Such an endpoint is not used (OBO077);
 * its keys and issuer still are. */
static void keep_own_endpoints(obo_provider *pv, apr_pool_t *tmp, obo_discovery *d)
{
    const char *own = url_host(tmp, pv->cfg.metadata_url);
    const char **ep[2];
    int i;

    ep[0] = &d->token_endpoint;
    ep[1] = &d->introspection_endpoint;
    for (i = 0; pv->cfg.further && i < 2; i++) {
        if (*ep[i] && strcasecmp(url_host(tmp, *ep[i]), own) != 0) {
            obo_log(OBO_LOG_ERR, "OBO077", "discovery document from " OBO_URL_FMT " names its "
                    "%s on another host (" OBO_URL_FMT "): not used; a further identity "
                    "provider's endpoints must be on the host of its discovery URL",
                    OBO_URL_ARGS(pv->cfg.metadata_url),
                    i == 0 ? "token_endpoint" : "introspection_endpoint",
                    OBO_URL_ARGS(*ep[i]));
            *ep[i] = NULL;
        }
    }
}

static apr_status_t discover(obo_provider *pv, apr_pool_t *tmp, const char **err)
{
    char *body = NULL;
    apr_size_t len = 0;
    obo_discovery d;
    apr_status_t rv = http_get(pv, tmp, pv->cfg.metadata_url, DISCOVERY_MAX_BYTES,
                               &body, &len, err);

    if (rv == APR_SUCCESS) {
        rv = obo_discovery_parse(tmp, body, len, &d, err);
    }
    if (rv == APR_SUCCESS) {
        rv = check_discovered_urls(pv, &d, err);
    }
    if (rv == APR_SUCCESS) {
        keep_own_endpoints(pv, tmp, &d);
        apr_thread_mutex_lock(pv->lock);
        pv->issuer = keep_or_copy(pv, pv->issuer, d.issuer);
        pv->jwks_uri = keep_or_copy(pv, pv->jwks_uri, d.jwks_uri);
        pv->token_endpoint = keep_or_copy(pv, pv->token_endpoint, d.token_endpoint);
        pv->introspection_endpoint = keep_or_copy(pv, pv->introspection_endpoint,
                                                  d.introspection_endpoint);
        pv->discovered_at = apr_time_now();
        pv->stats.discovery_fetches++;
        apr_thread_mutex_unlock(pv->lock);
    }
    if (rv != APR_SUCCESS) {
        obo_log(OBO_LOG_ERR, "OBO010", "OIDC discovery from " OBO_URL_FMT " failed: %s",
                OBO_URL_ARGS(pv->cfg.metadata_url), *err);
        obo_metrics_provider_failure_id(pv->cfg.metrics_provider, OBO_M_EP_DISCOVERY,
                                        "OBO010");
    }
    return rv;
}

static const char *jwks_source(obo_provider *pv)
{
    const char *src;

    if (pv->cfg.jwks_file) {
        return pv->cfg.jwks_file;
    }
    apr_thread_mutex_lock(pv->lock);
    src = pv->cfg.jwks_url ? pv->cfg.jwks_url : pv->jwks_uri;
    apr_thread_mutex_unlock(pv->lock);
    return src;
}

static apr_status_t read_jwks(obo_provider *pv, apr_pool_t *tmp, const char *src,
                              char **body, apr_size_t *len, const char **err)
{
    apr_status_t rv;

    if (!pv->cfg.jwks_file) {
        return http_get(pv, tmp, src, JWKS_MAX_BYTES, body, len, err);
    }
    rv = obo_file_read(tmp, src, JWKS_MAX_BYTES, body, len, err);
    if (rv != APR_SUCCESS) {
        *err = apr_pstrcat(tmp, "cannot read the JWKS file: ", *err, NULL);
    }
    return rv;
}

static void install(obo_provider *pv, keyset *ks)
{
    keyset *old;

    apr_thread_mutex_lock(pv->lock);
    old = pv->current;
    pv->current = ks;
    pv->loaded_at = apr_time_now();
    pv->fetched_at = pv->loaded_at;
    ks->generation = ++pv->generation;
    pv->stats.jwks_fetches++;
    if (old && old->refs == 0) {
        keyset_destroy(old);
    }
    apr_thread_cond_broadcast(pv->loaded);
    apr_thread_mutex_unlock(pv->lock);
}

/* ---- the last good state, for new processes while the IdP is down ---- */

static int persists(const obo_provider *pv)
{
    return pv->cfg.state_file && pv->cfg.state_key && pv->cfg.state_id
           && !pv->cfg.jwks_file;
}

/* What this process knows of the IdP now, with the JWKS document jwks. */
static void snapshot(obo_provider *pv, apr_pool_t *tmp, const char *jwks, apr_size_t len,
                     obo_idpstate *st)
{
    memset(st, 0, sizeof(*st));
    apr_thread_mutex_lock(pv->lock);
    st->issuer = pv->issuer ? apr_pstrdup(tmp, pv->issuer) : NULL;
    st->jwks_uri = pv->jwks_uri ? apr_pstrdup(tmp, pv->jwks_uri) : NULL;
    st->token_endpoint = pv->token_endpoint ? apr_pstrdup(tmp, pv->token_endpoint) : NULL;
    st->introspection_endpoint = pv->introspection_endpoint
                                 ? apr_pstrdup(tmp, pv->introspection_endpoint) : NULL;
    st->saved_at = pv->fetched_at;
    apr_thread_mutex_unlock(pv->lock);
    st->jwks = jwks;
    st->jwks_len = len;
}

/* Written after every JWKS load (fetched or taken from the shared cache)
 * whose content differs from the last one this process wrote (so at most
 * once per load, usually once). Its time is when the IdP answered. */
static void save_state(obo_provider *pv, apr_pool_t *tmp, const char *jwks,
                       apr_size_t len)
{
    obo_idpstate st;
    unsigned char d[OBO_SHA256_LEN];
    const char *err = NULL, *digest_in;
    int same;
    apr_status_t rv;

    if (!persists(pv)) {
        return;
    }
    snapshot(pv, tmp, jwks, len, &st);
    digest_in = apr_psprintf(tmp, "%s\n%s\n%s\n%s\n%.*s", st.issuer ? st.issuer : "",
                             st.jwks_uri ? st.jwks_uri : "",
                             st.token_endpoint ? st.token_endpoint : "",
                             st.introspection_endpoint ? st.introspection_endpoint : "",
                             (int)len, jwks);
    obo_sha256(digest_in, strlen(digest_in), d);
    apr_thread_mutex_lock(pv->lock);
    same = memcmp(d, pv->saved_digest, sizeof(d)) == 0;
    apr_thread_mutex_unlock(pv->lock);
    if (same) {
        return;
    }
    rv = obo_idpstate_save(tmp, pv->cfg.state_file, pv->cfg.state_key, pv->cfg.state_id,
                           &st, &err);
    if (rv != APR_SUCCESS) {
        obo_log(OBO_LOG_WARN, "OBO071", "cannot keep the IdP's keys for restarts in %s: "
                "%s", pv->cfg.state_file, err);
        return;
    }
    apr_thread_mutex_lock(pv->lock);
    memcpy(pv->saved_digest, d, sizeof(d));
    pv->stats.state_saves++;
    apr_thread_mutex_unlock(pv->lock);
}

typedef enum { FROM_SHARED, FROM_STATE } adopt_from;

/* Installs a set that another process fetched (st->saved_at: when the IdP
 * answered for it) unless this process holds one at least as fresh: then
 * APR_NOTFOUND. Discovery's values come with it unless this process has
 * fresher ones. A set from the state file leaves the refresh due (retried
 * after each backoff until the IdP is back); a shared one is due when its
 * fetch is OBOJWKSRefreshInterval old. */
static apr_status_t adopt(obo_provider *pv, const obo_idpstate *st, adopt_from from,
                          int *nkeys, const char **err)
{
    apr_pool_t *kp = NULL;
    keyset *ks = NULL, *old = NULL;
    int skipped = 0, fresher = 0;
    apr_time_t now = apr_time_now();
    apr_status_t rv = APR_SUCCESS;

    if (pv->cfg.metadata_url && !st->jwks_uri && !pv->cfg.jwks_url) {
        *err = "no jwks_uri in the saved state";
        rv = APR_EINVAL;
    }
    else if (st->saved_at > now + apr_time_from_sec(OBO_PROVIDER_FUTURE_SKEW_SECS)) {
        *err = "the key set's fetch time lies in the future (a clock ahead?)";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        rv = apr_pool_create(&kp, NULL);
    }
    if (rv == APR_SUCCESS) {
        ks = apr_pcalloc(kp, sizeof(*ks));
        ks->pool = kp;
        rv = obo_jwks_parse(kp, st->jwks, st->jwks_len, &ks->jwks, &skipped, err);
    }
    if (rv == APR_SUCCESS) {
        *nkeys = ks->jwks->keys->nelts;
        apr_thread_mutex_lock(pv->lock);
        fresher = !pv->current || st->saved_at > pv->fetched_at;
        if (fresher && pv->cfg.metadata_url && st->saved_at > pv->discovered_at) {
            pv->issuer = keep_or_copy(pv, pv->issuer, st->issuer);
            pv->jwks_uri = keep_or_copy(pv, pv->jwks_uri, st->jwks_uri);
            pv->token_endpoint = keep_or_copy(pv, pv->token_endpoint, st->token_endpoint);
            pv->introspection_endpoint = keep_or_copy(pv, pv->introspection_endpoint,
                                                      st->introspection_endpoint);
            pv->discovered_at = st->saved_at ? st->saved_at : 1;
        }
        if (fresher) {
            old = pv->current;
            ks->from = from == FROM_STATE ? OBO_KEYS_STATE : OBO_KEYS_SHARED;
            pv->current = ks;
            ks->generation = ++pv->generation;
            pv->fetched_at = st->saved_at;
            pv->loaded_at = from == FROM_STATE ? 0 : (st->saved_at < now ? st->saved_at : now);
            if (from == FROM_STATE) {
                pv->stats.state_restores++;
            }
            else {
                pv->stats.shared_restores++;
            }
            obo_metrics_inc(from == FROM_STATE ? OBO_M_KEYS_FROM_STATE : OBO_M_KEYS_FROM_SHARED);
            obo_metrics_provider_keys(pv->cfg.metrics_provider,
                                      from == FROM_STATE ? OBO_M_KS_STATE : OBO_M_KS_SHARED);
            if (old && old->refs == 0) {
                keyset_destroy(old);
            }
            apr_thread_cond_broadcast(pv->loaded);
        }
        apr_thread_mutex_unlock(pv->lock);
        rv = fresher ? APR_SUCCESS : APR_NOTFOUND;
        *err = fresher ? NULL : "this process holds a fresher key set";
    }
    if (rv != APR_SUCCESS && kp) {
        apr_pool_destroy(kp);
    }
    return rv;
}

/* The IdP could not be reached at the first load of this process: use what
 * a process of this server saved when it last could. Rotation then works
 * through the unknown-kid refetch as always. */
static apr_status_t restore_state(obo_provider *pv, const char **err)
{
    apr_pool_t *tmp = NULL;
    obo_idpstate st;
    int n = 0;
    apr_status_t rv = persists(pv) ? apr_pool_create(&tmp, NULL) : APR_ENOENT;

    if (rv == APR_SUCCESS) {
        rv = obo_idpstate_load(tmp, pv->cfg.state_file, pv->cfg.state_key,
                               pv->cfg.state_id, &st, err);
    }
    if (rv == APR_SUCCESS) {
        rv = adopt(pv, &st, FROM_STATE, &n, err);
    }
    if (rv == APR_SUCCESS) {
        obo_log(OBO_LOG_WARN, "OBO072", "identity provider unreachable: using %d keys "
                "saved %" APR_TIME_T_FMT " s ago in %s until it answers again",
                n, apr_time_sec(apr_time_now() - st.saved_at), pv->cfg.state_file);
    }
    else if (rv != APR_ENOENT || persists(pv)) {
        obo_log(rv == APR_ENOENT ? OBO_LOG_INFO : OBO_LOG_WARN, "OBO073",
                "no usable saved IdP state in %s: %s", pv->cfg.state_file, *err);
    }
    if (tmp) {
        apr_pool_destroy(tmp);
    }
    return rv;
}

/* ---- the last good set in the shared cache ---- */

static void put_field(apr_array_header_t *parts, apr_pool_t *p, const char *s)
{
    APR_ARRAY_PUSH(parts, const char *) = s ? apr_psprintf(p, "%" APR_SIZE_T_FMT ":%s",
                                                           strlen(s), s) : "-";
}

const char *obo_provider_shared_key(apr_pool_t *p, const obo_provider_cfg *cfg)
{
    apr_array_header_t *parts = apr_array_make(p, 8, sizeof(const char *));
    const char *in;
    int i;

    if (cfg->jwks_file) {
        return NULL;
    }
    put_field(parts, p, "obo-idp-keys-v1");
    put_field(parts, p, cfg->metadata_url);
    put_field(parts, p, cfg->jwks_url);
    /* keys fetched under one trust (OBOCACertificateFile) never serve a
     * provider that trusts less (review 13A) */
    put_field(parts, p, cfg->http.ca_file);
    put_field(parts, p, apr_itoa(p, cfg->issuers ? cfg->issuers->nelts : 0));
    for (i = 0; cfg->issuers && i < cfg->issuers->nelts; i++) {
        put_field(parts, p, APR_ARRAY_IDX(cfg->issuers, i, const char *));
    }
    in = apr_array_pstrcat(p, parts, 0);
    return apr_pstrcat(p, SHARED_KEY_PREFIX, obo_sha256_hex(p, in, strlen(in)), NULL);
}

apr_status_t obo_provider_shared_get(obo_cache *c, apr_pool_t *p, const char *key,
                                     obo_idpstate *st)
{
    char *val = NULL;
    apr_size_t len = 0;
    apr_int64_t fetched = 0;
    const char *err = NULL;
    apr_status_t rv = key ? obo_cache_get(c, p, key, &val, &len) : APR_NOTFOUND;

    if (rv == APR_SUCCESS) {
        rv = obo_idpstate_decode(p, val, len, SHARED_VERSION, "fetched", &fetched, st, &err);
    }
    if (rv == APR_SUCCESS && fetched <= 0) {
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        st->saved_at = (apr_time_t)fetched;
    }
    return rv;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The same key set and endpoints as the entry there. */
static int same_state(const obo_idpstate *a, const obo_idpstate *b)
{
    return a->jwks_len == b->jwks_len && a->jwks && b->jwks
           && memcmp(a->jwks, b->jwks, a->jwks_len) == 0 && same_str(a->issuer, b->issuer)
           && same_str(a->jwks_uri, b->jwks_uri)
           && same_str(a->token_endpoint, b->token_endpoint)
           && same_str(a->introspection_endpoint, b->introspection_endpoint);
}

apr_status_t obo_provider_shared_put(obo_cache *c, apr_pool_t *p, const char *key,
                                     const obo_idpstate *st)
{
    obo_idpstate there;
    char *val = obo_idpstate_encode(p, st, SHARED_VERSION, "fetched", st->saved_at);
    apr_status_t rv = val ? APR_SUCCESS : APR_EINVAL;

    /* An unchanged set is written again at most once a minute: refetches
     * for unknown kids (anyone can send one, once per 10 s per process)
     * rewrote this one key at each, and on OBOCache shm its ring turned
     * over other users' sessions (review 12). */
    if (rv == APR_SUCCESS && obo_provider_shared_get(c, p, key, &there) == APR_SUCCESS
        && there.saved_at <= apr_time_now() + apr_time_from_sec(OBO_PROVIDER_FUTURE_SKEW_SECS)
        && (there.saved_at >= st->saved_at
            || (same_state(&there, st)
                && st->saved_at - there.saved_at
                   < apr_time_from_sec(OBO_PROVIDER_SHARED_SAME_SECS)))) {
        rv = APR_EEXIST;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_cache_set(c, p, key, val, strlen(val),
                           apr_time_now() + apr_time_from_sec(OBO_PROVIDER_SHARED_TTL_SECS));
    }
    return rv;
}

/* Every set this process fetched goes to the shared cache for the others. */
static void publish(obo_provider *pv, apr_pool_t *tmp, const char *jwks, apr_size_t len)
{
    obo_idpstate st;

    if (!pv->shared_key) {
        return;
    }
    snapshot(pv, tmp, jwks, len, &st);
    if (obo_provider_shared_put(pv->cfg.shared, tmp, pv->shared_key, &st) == APR_SUCCESS) {
        apr_thread_mutex_lock(pv->lock);
        pv->stats.shared_publishes++;
        apr_thread_mutex_unlock(pv->lock);
    }
}

static apr_uint32_t unusable_logged;   /* OBO015's rate limit */

/* Looks at the shared cache at most once per SHARED_PROBE_INTERVAL per
 * process (every time if force). */
static apr_status_t take_shared(obo_provider *pv, int force)
{
    apr_pool_t *tmp = NULL;
    obo_idpstate st;
    const char *err = NULL;
    apr_time_t now = apr_time_now();
    int skip, n = 0;
    apr_status_t rv;

    if (!pv->shared_key) {
        return APR_NOTFOUND;
    }
    apr_thread_mutex_lock(pv->lock);
    skip = !force && pv->shared_probe && now - pv->shared_probe < SHARED_PROBE_INTERVAL;
    if (!skip) {
        pv->shared_probe = now;
    }
    apr_thread_mutex_unlock(pv->lock);
    rv = skip ? APR_NOTFOUND : apr_pool_create(&tmp, NULL);
    if (rv == APR_SUCCESS) {
        rv = obo_provider_shared_get(pv->cfg.shared, tmp, pv->shared_key, &st);
        err = rv == APR_EINVAL ? "unexpected content" : NULL;
    }
    if (rv == APR_SUCCESS) {
        rv = adopt(pv, &st, FROM_SHARED, &n, &err);
    }
    if (rv == APR_SUCCESS) {
        obo_log(OBO_LOG_INFO, "OBO014", "took %d keys of the IdP, fetched %" APR_TIME_T_FMT
                " s ago by another process or server, from the shared cache",
                n, apr_time_sec(now - st.saved_at));
        save_state(pv, tmp, st.jwks, st.jwks_len);
    }
    else if (rv == APR_EINVAL && err && obo_log_ratelimit(&unusable_logged,
                                                          OBO_LOG_INTERVAL_S)) {
        obo_log(OBO_LOG_WARN, "OBO015", "the IdP's keys in the shared cache are unusable: "
                "%s; ignoring them (further such messages suppressed for %d s)", err,
                OBO_LOG_INTERVAL_S);
    }
    if (tmp) {
        apr_pool_destroy(tmp);
    }
    return rv == APR_SUCCESS ? rv : APR_NOTFOUND;
}

apr_status_t obo_provider_take_shared(obo_provider *pv)
{
    return take_shared(pv, 1);
}

static apr_status_t load_jwks(obo_provider *pv, apr_pool_t *tmp, const char **err)
{
    const char *src = jwks_source(pv);
    char *body = NULL;
    apr_size_t len = 0;
    int skipped = 0;
    keyset *ks;
    apr_pool_t *kp = NULL;
    apr_status_t rv = src ? read_jwks(pv, tmp, src, &body, &len, err) : APR_EINVAL;

    if (!src) {
        *err = "no JWKS location known";
    }
    if (rv == APR_SUCCESS) {
        rv = apr_pool_create(&kp, NULL);
    }
    if (rv == APR_SUCCESS) {
        ks = apr_pcalloc(kp, sizeof(*ks));
        ks->pool = kp;
        rv = obo_jwks_parse(kp, body, len, &ks->jwks, &skipped, err);
        if (rv == APR_SUCCESS) {
            ks->from = pv->cfg.jwks_file ? OBO_KEYS_FILE : OBO_KEYS_IDP;
            install(pv, ks);
            obo_metrics_inc(OBO_M_JWKS_REFRESH);
            obo_metrics_provider_keys(pv->cfg.metrics_provider, OBO_M_KS_IDP);
            obo_log(OBO_LOG_INFO, "OBO011", "loaded %d keys from " OBO_URL_FMT
                    " (%d skipped)", ks->jwks->keys->nelts, OBO_URL_ARGS(src), skipped);
            publish(pv, tmp, body, len);
            save_state(pv, tmp, body, len);
        }
        else {
            apr_pool_destroy(kp);
        }
    }
    /* A JWKS file's read is this provider's jwks "request": a file broken
     * at run time shows on the status page and in the alerts, not only in
     * the log (review 33B-F18). */
    if (pv->cfg.jwks_file) {
        obo_metrics_provider_idp(pv->cfg.metrics_provider, OBO_M_EP_JWKS,
                                 rv == APR_SUCCESS ? OBO_M_OK : OBO_M_SERVER_ERROR, 0);
    }
    if (rv != APR_SUCCESS) {
        obo_log(OBO_LOG_ERR, "OBO012", "JWKS from " OBO_URL_FMT " unusable: %s; keeping the "
                "last good set", OBO_URL_ARGS(src ? src : "(none)"), *err);
        obo_metrics_provider_failure_id(pv->cfg.metrics_provider, OBO_M_EP_JWKS, "OBO012");
    }
    return rv;
}

/* One fetch: discovery first when it is due (or never succeeded), then the
 * JWKS. Called with fetch_lock held. */
static apr_status_t fetch(obo_provider *pv, int with_discovery, const char **err)
{
    apr_pool_t *tmp = NULL;
    apr_status_t rv = apr_pool_create(&tmp, NULL);

    if (rv == APR_SUCCESS && pv->cfg.metadata_url && (with_discovery || !pv->discovered_at)) {
        rv = discover(pv, tmp, err);
        if (rv != APR_SUCCESS && pv->discovered_at) {
            rv = APR_SUCCESS;   /* keep using what discovery said before */
        }
    }
    if (rv == APR_SUCCESS) {
        rv = load_jwks(pv, tmp, err);
    }
    apr_thread_mutex_lock(pv->lock);
    if (rv != APR_SUCCESS) {
        pv->last_failure = apr_time_now();
        pv->stats.jwks_failures++;
    }
    apr_thread_cond_broadcast(pv->loaded);   /* refetch() waiters: it ended */
    apr_thread_mutex_unlock(pv->lock);
    if (tmp) {
        apr_pool_destroy(tmp);   /* details were logged; callers need no more */
    }
    *err = rv == APR_SUCCESS ? NULL : "identity provider keys unavailable";
    return rv;
}

static int in_backoff(obo_provider *pv, apr_time_t now)
{
    int r;
    apr_thread_mutex_lock(pv->lock);
    r = pv->last_failure && now - pv->last_failure < pv->cfg.retry_backoff;
    apr_thread_mutex_unlock(pv->lock);
    return r;
}

static int has_keys(obo_provider *pv)
{
    int r;
    apr_thread_mutex_lock(pv->lock);
    r = pv->current != NULL;
    apr_thread_mutex_unlock(pv->lock);
    return r;
}

static int due_for_refresh(obo_provider *pv, apr_time_t now)
{
    int due;

    apr_thread_mutex_lock(pv->lock);
    due = now - pv->loaded_at >= pv->cfg.jwks_refresh;
    apr_thread_mutex_unlock(pv->lock);
    return due;
}

/* The first load of this process, with fetch_lock held: the set another
 * process or server shared, else the IdP, else what was shared while the
 * IdP failed, else the state file. Wakes the waiters whatever the outcome. */
static apr_status_t first_load(obo_provider *pv, const char **err)
{
    apr_status_t rv = APR_SUCCESS;

    apr_thread_mutex_lock(pv->lock);
    pv->asked = 1;
    apr_thread_mutex_unlock(pv->lock);
    if (!has_keys(pv) && take_shared(pv, 0) != APR_SUCCESS) {
        rv = in_backoff(pv, apr_time_now()) ? APR_EAGAIN : fetch(pv, 1, err);
        if (rv != APR_SUCCESS && rv != APR_EAGAIN && !has_keys(pv)
            && take_shared(pv, 1) != APR_SUCCESS) {
            rv = restore_state(pv, err);
        }
    }
    if (rv != APR_SUCCESS && has_keys(pv)) {
        rv = APR_SUCCESS;   /* a waiter took a shared set meanwhile */
    }
    apr_thread_mutex_lock(pv->lock);
    apr_thread_cond_broadcast(pv->loaded);
    apr_thread_mutex_unlock(pv->lock);
    return rv;
}

/* The most a first load can take: its HTTP requests' timeouts. */
static apr_interval_time_t load_bound(obo_provider *pv)
{
    apr_interval_time_t t = pv->cfg.http.timeout > 0 ? pv->cfg.http.timeout
                                                     : apr_time_from_sec(10);

    return pv->cfg.metadata_url ? 2 * t : t;
}

static apr_uint32_t stuck_logged;   /* OBO017's rate limit */

/* Until a fetch in flight ends or the deadline, at most one probe interval. */
static void wait_fetched(obo_provider *pv, unsigned long gen, apr_time_t deadline)
{
    apr_interval_time_t left = deadline - apr_time_now();

    apr_thread_mutex_lock(pv->lock);
    if (pv->generation == gen && left > 0) {
        apr_thread_cond_timedwait(pv->loaded, pv->lock,
                                  left < SHARED_PROBE_INTERVAL ? left : SHARED_PROBE_INTERVAL);
    }
    apr_thread_mutex_unlock(pv->lock);
}

/* An unknown kid's refetch (gen: the set the request looked in). A fetch
 * that ended while this thread waited for fetch_lock already brought the
 * IdP's current keys: one fetch in flight, not two. The wait is bounded
 * like a first load's (load_bound): a fetch that never ends (a JWKS file on
 * a hung mount) holds the lock, and each unknown-kid request that queued
 * for it took a worker for ever until none was left (review 36A-F1). Past
 * the bound the request goes on with the keys it has. */
static int refetch(obo_provider *pv, unsigned long gen)
{
    apr_interval_time_t bound = load_bound(pv);
    apr_time_t deadline = apr_time_now() + bound;
    const char *err = NULL;
    int done = 0;

    while (!done) {
        if (obo_provider_generation(pv) != gen) {
            done = 1;
        }
        else if (apr_thread_mutex_trylock(pv->fetch_lock) == APR_SUCCESS) {
            if (obo_provider_generation(pv) == gen) {
                fetch(pv, 0, &err);
            }
            apr_thread_mutex_unlock(pv->fetch_lock);
            done = 1;
        }
        else if (apr_time_now() < deadline) {
            wait_fetched(pv, gen, deadline);
        }
        else {
            if (obo_log_ratelimit(&stuck_logged, OBO_LOG_INTERVAL_S)) {
                obo_log(OBO_LOG_WARN, "OBO017", "unknown kid: a key fetch for " OBO_URL_FMT
                        " has been in progress for over %" APR_TIME_T_FMT " s; going on "
                        "with the current keys (further such messages suppressed for %d s)",
                        OBO_URL_ARGS(obo_provider_source(pv)), apr_time_sec(bound),
                        OBO_LOG_INTERVAL_S);
            }
            done = 2;
        }
    }
    return done == 2;
}

static int refresh_failed(obo_provider *pv);

static void wait_loaded(obo_provider *pv, apr_time_t deadline)
{
    apr_interval_time_t left = deadline - apr_time_now();

    apr_thread_mutex_lock(pv->lock);
    if (!pv->current && left > 0) {
        apr_thread_cond_timedwait(pv->loaded, pv->lock,
                                  left < SHARED_PROBE_INTERVAL ? left : SHARED_PROBE_INTERVAL);
    }
    apr_thread_mutex_unlock(pv->lock);
}

/* No keys yet. One thread loads them (first_load); the others wait for its
 * outcome instead of failing at once, bounded by the time a load may take,
 * and meanwhile take a set that another process or server publishes in the
 * shared cache (a cold server whose own fetch queues behind a busy IdP). */
static apr_status_t ensure_loaded(obo_provider *pv, const char **err)
{
    apr_time_t deadline = apr_time_now() + load_bound(pv);
    apr_status_t rv = APR_EAGAIN;
    int done = 0;

    while (!done) {
        if (has_keys(pv)) {
            rv = APR_SUCCESS;
        }
        else if (apr_thread_mutex_trylock(pv->fetch_lock) == APR_SUCCESS) {
            rv = first_load(pv, err);
            apr_thread_mutex_unlock(pv->fetch_lock);
        }
        else if (take_shared(pv, 0) == APR_SUCCESS) {
            rv = APR_SUCCESS;
        }
        else if (apr_time_now() < deadline) {
            wait_loaded(pv, deadline);
            continue;
        }
        done = 1;
    }
    if (rv != APR_SUCCESS) {
        *err = "identity provider keys unavailable";
        rv = APR_EAGAIN;
    }
    return rv;
}

/* Periodic refresh: only one thread fetches; the others go on with the
 * current keys instead of queueing behind a slow IdP. A fresher set in the
 * shared cache (another process's refresh) spares the fetch. */
static void maybe_refresh(obo_provider *pv, apr_time_t now)
{
    const char *err = NULL;

    if (due_for_refresh(pv, now)
        && apr_thread_mutex_trylock(pv->fetch_lock) == APR_SUCCESS) {
        if ((take_shared(pv, 0) != APR_SUCCESS || due_for_refresh(pv, now))
            && !in_backoff(pv, now)) {
            fetch(pv, 1, &err);
        }
        apr_thread_mutex_unlock(pv->fetch_lock);
    }
}

/* ---- loading at process start ---- */

static void *APR_THREAD_FUNC start_load(apr_thread_t *t, void *data)
{
    obo_provider *pv = data;
    const char *err = NULL;

    (void)t;
    /* Never blocks on the lock: whoever holds it is loading the keys already,
     * and a prefork child's exit (in a signal handler, perhaps inside that
     * load) joins this thread. */
    if (apr_thread_mutex_trylock(pv->fetch_lock) == APR_SUCCESS) {
        first_load(pv, &err);
        apr_thread_mutex_unlock(pv->fetch_lock);
    }
    if (has_keys(pv)) {
        maybe_refresh(pv, apr_time_now());   /* a shared set already old */
    }
    return NULL;
}

/* A pre-cleanup: it runs before the pool's subpools (pv->pool, the
 * thread's own) are destroyed. */
static apr_status_t start_join(void *data)
{
    obo_provider *pv = data;
    apr_status_t trv = APR_SUCCESS;

    if (pv->starter) {
        apr_thread_join(&trv, pv->starter);
        pv->starter = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t obo_provider_start(obo_provider *pv, apr_pool_t *p)
{
    sigset_t all, old;
    apr_status_t rv;

    /* The thread inherits this mask: the process's signals (a prefork
     * child's SIGTERM runs its exit in the receiving thread) stay with the
     * threads that expect them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&pv->starter, NULL, start_load, pv, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv == APR_SUCCESS) {
        apr_pool_pre_cleanup_register(p, pv, start_join);
    }
    else {
        pv->starter = NULL;
    }
    return rv;
}

static int refetch_allowed(obo_provider *pv, apr_time_t now)
{
    int ok;
    apr_thread_mutex_lock(pv->lock);
    ok = !pv->last_refetch || now - pv->last_refetch >= pv->cfg.refetch_throttle;
    if (ok) {
        pv->last_refetch = now;
    }
    apr_thread_mutex_unlock(pv->lock);
    return ok;
}

static apr_status_t unpin(void *data)
{
    pin *pn = data;
    obo_provider *pv = pn->pv;

    apr_thread_mutex_lock(pv->lock);
    if (--pn->ks->refs == 0 && pn->ks != pv->current) {
        keyset_destroy(pn->ks);
    }
    apr_thread_mutex_unlock(pv->lock);
    return APR_SUCCESS;
}

static unsigned long select_pinned(obo_provider *pv, apr_pool_t *p, const char *kid,
                                   const char *alg, apr_array_header_t *keys)
{
    unsigned long gen;
    pin *pn = apr_palloc(p, sizeof(*pn));

    apr_thread_mutex_lock(pv->lock);
    pn->pv = pv;
    pn->ks = pv->current;
    pn->ks->refs++;
    obo_jwks_select(pn->ks->jwks, kid, alg, keys);
    gen = pn->ks->generation;
    apr_thread_mutex_unlock(pv->lock);
    apr_pool_cleanup_register(p, pn, unpin, apr_pool_cleanup_null);
    return gen;
}

apr_status_t obo_provider_keys(obo_provider *pv, apr_pool_t *p, const char *kid,
                               const char *alg, apr_array_header_t **keys,
                               unsigned long *generation, const char **err)
{
    unsigned long gen = 0;
    apr_time_t now = apr_time_now();
    apr_status_t rv = has_keys(pv) ? APR_SUCCESS : ensure_loaded(pv, err);
    int stuck = 0;

    if (rv == APR_SUCCESS) {
        maybe_refresh(pv, now);
        *keys = apr_array_make(p, 2, sizeof(obo_jwk *));
        gen = select_pinned(pv, p, kid, alg, *keys);
        if ((*keys)->nelts == 0 && kid && refetch_allowed(pv, now)) {
            obo_log(OBO_LOG_INFO, "OBO013", "unknown kid: refetching the JWKS");
            stuck = refetch(pv, gen);
            gen = select_pinned(pv, p, kid, alg, *keys);
        }
        /* Whether the kid exists could not be learnt: the IdP's keys are
         * unavailable (503 with Retry-After), not the token invalid (a 401
         * sends every client for a new token signed with the same new key,
         * review 37C-F3). A kid unknown to a set fetched well stays a 401. */
        if ((*keys)->nelts == 0 && kid && (stuck || refresh_failed(pv))) {
            *err = "identity provider keys unavailable: the token's key is not in the "
                   "current set and fetching the set again failed";
            rv = APR_EAGAIN;
        }
        if (generation) {
            *generation = gen;
        }
    }
    return rv;
}

apr_status_t obo_provider_issuers(obo_provider *pv, apr_pool_t *p,
                                  const apr_array_header_t **issuers, const char **err)
{
    apr_array_header_t *a;
    apr_status_t rv = APR_SUCCESS;

    if (pv->cfg.issuers && pv->cfg.issuers->nelts > 0) {
        *issuers = pv->cfg.issuers;
        return APR_SUCCESS;
    }
    if (!has_keys(pv)) {
        rv = ensure_loaded(pv, err);
    }
    if (rv == APR_SUCCESS) {
        a = apr_array_make(p, 1, sizeof(const char *));
        apr_thread_mutex_lock(pv->lock);
        if (pv->issuer) {
            APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(p, pv->issuer);
        }
        apr_thread_mutex_unlock(pv->lock);
        *issuers = a;
    }
    return rv;
}

apr_status_t obo_provider_known_issuers(obo_provider *pv, apr_pool_t *p,
                                        const apr_array_header_t **issuers)
{
    apr_array_header_t *a;

    if (pv->cfg.issuers && pv->cfg.issuers->nelts > 0) {
        *issuers = pv->cfg.issuers;
        return APR_SUCCESS;
    }
    a = apr_array_make(p, 1, sizeof(const char *));
    apr_thread_mutex_lock(pv->lock);
    if (pv->issuer) {
        APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(p, pv->issuer);
    }
    apr_thread_mutex_unlock(pv->lock);
    *issuers = a;
    return a->nelts > 0 ? APR_SUCCESS : APR_EAGAIN;
}

/* The issuer a discovery URL names (OpenID Connect Discovery 4.3: the
 * issuer, without a terminating '/', then /.well-known/openid-configuration):
 * the query (Entra's ?appid=, B2C's ?p=) and fragment are no part of it, the
 * issuer may end in '/' (Auth0), and Entra's multi-tenant authorities
 * (organizations, common, consumers) stand for the {tenantid} template
 * their documents name (review 38E-F1, 38F-F2). */
void obo_provider_url_issuers(apr_pool_t *p, const char *u, apr_array_header_t *a)
{
    static const char suffix[] = "/.well-known/openid-configuration";
    static const char *const multi[] = { "/organizations/", "/common/", "/consumers/", NULL };
    apr_size_t n = u ? strcspn(u, "?#") : 0, k = sizeof(suffix) - 1;
    char *iss;
    int i;

    if (n <= k || strncmp(u + n - k, suffix, k) != 0) {
        return;
    }
    iss = apr_pstrndup(p, u, n - k);
    /* scheme and host compare without case (RFC 3986 6.2.2.1); issuers are
     * written in lower case (review 39A-F10: an HTTPS:// URL claimed none) */
    for (i = 0; iss[i] && iss[i] != '/'; i++) {
        iss[i] = (char)apr_tolower(iss[i]);
    }
    for (i += (iss[i] == '/' && iss[i + 1] == '/') ? 2 : 0; iss[i] && iss[i] != '/'; i++) {
        iss[i] = (char)apr_tolower(iss[i]);
    }
    for (i = 0; multi[i]; i++) {
        char *at = strstr(iss, multi[i]);
        if (at) {
            iss = apr_pstrcat(p, apr_pstrndup(p, iss, (apr_size_t)(at - iss)), "/{tenantid}/",
                              at + strlen(multi[i]), NULL);
            break;
        }
    }
    APR_ARRAY_PUSH(a, const char *) = iss;
    APR_ARRAY_PUSH(a, const char *) = apr_pstrcat(p, iss, "/", NULL);
}

static void rank_list(apr_array_header_t **a, const apr_array_header_t *issuers, int written)
{
    int i;

    for (i = 0; issuers && i < issuers->nelts; i++) {
        const char *iss = APR_ARRAY_IDX(issuers, i, const char *);
        int r = strstr(iss, "{tenantid}") ? (written ? OBO_CLAIM_WRITTEN_TEMPLATE
                                                     : OBO_CLAIM_DERIVED_TEMPLATE)
                                          : (written ? OBO_CLAIM_WRITTEN : OBO_CLAIM_DERIVED);
        APR_ARRAY_PUSH(a[r], const char *) = iss;
    }
}

/* Made once when the provider is created (selection asks for every
 * distinct token): its written issuers and the one its discovery URL
 * names, by rank. The URL's is claimed also where issuers are written: a
 * primary written for its v1 issuer left its own v2 issuer to any further
 * document naming it (review 39A-F11); claimed, it selects the primary,
 * whose written issuers then refuse it. */
static void rank_claims(apr_pool_t *p, obo_provider *pv)
{
    apr_array_header_t *a[OBO_CLAIM_RANKS], *url = apr_array_make(p, 2, sizeof(const char *));
    int r;

    for (r = 0; r < OBO_CLAIM_RANKS; r++) {
        a[r] = apr_array_make(p, 1, sizeof(const char *));
        pv->ranked[r] = a[r];
    }
    obo_provider_url_issuers(p, pv->cfg.metadata_url, url);
    rank_list(a, pv->cfg.issuers, 1);
    rank_list(a, url, 0);
}

const apr_array_header_t *obo_provider_claimed_rank(const obo_provider *pv, int rank)
{
    return pv->ranked[rank];
}

int obo_provider_is_further(const obo_provider *pv)
{
    return pv->cfg.further;
}

int obo_provider_multi_tenant(obo_provider *pv, apr_pool_t *p)
{
    const apr_array_header_t *known = NULL;
    int i;

    if (pv->ranked[OBO_CLAIM_WRITTEN_TEMPLATE]->nelts > 0
        || pv->ranked[OBO_CLAIM_DERIVED_TEMPLATE]->nelts > 0) {
        return 1;
    }
    for (i = 0; obo_provider_known_issuers(pv, p, &known) == APR_SUCCESS && i < known->nelts;
         i++) {
        if (strstr(APR_ARRAY_IDX(known, i, const char *), "{tenantid}")) {
            return 1;
        }
    }
    return 0;
}

const char *obo_provider_owner_issuer(const obo_provider *pv)
{
    int r;

    for (r = 0; r < OBO_CLAIM_RANKS; r++) {
        if (pv->ranked[r]->nelts > 0) {
            return APR_ARRAY_IDX(pv->ranked[r], 0, const char *);
        }
    }
    return NULL;
}

/* An endpoint: the override, else discovery's (*found, read under the
 * lock; name for the messages). */
static apr_status_t endpoint_of(obo_provider *pv, apr_pool_t *p, const char *override,
                                const char *const *found, const char *name,
                                const char **url, const char **err)
{
    apr_status_t rv = APR_SUCCESS;

    if (override) {
        *url = override;
        return APR_SUCCESS;
    }
    if (!pv->cfg.metadata_url) {
        *err = apr_psprintf(p, "no %s configured", name);
        return APR_NOTFOUND;
    }
    if (!has_keys(pv)) {
        rv = ensure_loaded(pv, err);
    }
    if (rv == APR_SUCCESS) {
        apr_thread_mutex_lock(pv->lock);
        *url = *found ? apr_pstrdup(p, *found) : NULL;
        apr_thread_mutex_unlock(pv->lock);
        if (!*url) {
            *err = apr_psprintf(p, "discovery document has no %s", name);
            rv = APR_NOTFOUND;
        }
    }
    return rv;
}

apr_status_t obo_provider_token_endpoint(obo_provider *pv, apr_pool_t *p,
                                         const char **url, const char **err)
{
    apr_status_t rv = endpoint_of(pv, p, pv->cfg.token_endpoint, &pv->token_endpoint,
                                  "token_endpoint", url, err);

    if (rv == APR_SUCCESS && !pv->cfg.token_endpoint && foreign_endpoint(pv, p, *url)) {
        *err = "the further provider's token_endpoint is on another host than its discovery "
               "URL (OBO077)";
        rv = APR_NOTFOUND;
    }
    return rv;
}

apr_status_t obo_provider_introspection_endpoint(obo_provider *pv, apr_pool_t *p,
                                                 const char **url, const char **err)
{
    apr_status_t rv = endpoint_of(pv, p, NULL, &pv->introspection_endpoint,
                                  "introspection_endpoint", url, err);

    if (rv == APR_SUCCESS && foreign_endpoint(pv, p, *url)) {
        *err = "the further provider's introspection_endpoint is on another host than its "
               "discovery URL (OBO077)";
        rv = APR_NOTFOUND;
    }
    /* it would receive this server's credentials and the user's token */
    if (rv == APR_SUCCESS && !is_https(*url)) {
        *err = "discovery's introspection_endpoint is not an https URL without user name or "
               "password";
        rv = APR_EINVAL;
    }
    return rv;
}

void obo_provider_get_stats(obo_provider *pv, obo_provider_stats *st)
{
    apr_thread_mutex_lock(pv->lock);
    *st = pv->stats;
    apr_thread_mutex_unlock(pv->lock);
}

/* A JWKS file or URL beside a discovery URL overrides its jwks_uri: the
 * keys come from it (review 39B-F10: the page named the discovery URL). */
const char *obo_provider_source(const obo_provider *pv)
{
    return pv->cfg.jwks_file ? pv->cfg.jwks_file
           : pv->cfg.jwks_url ? pv->cfg.jwks_url : pv->cfg.metadata_url;
}

int obo_provider_metrics_number(const obo_provider *pv)
{
    return pv ? pv->cfg.metrics_provider : 0;
}

unsigned long obo_provider_generation(obo_provider *pv)
{
    unsigned long g;

    apr_thread_mutex_lock(pv->lock);
    g = pv->generation;
    apr_thread_mutex_unlock(pv->lock);
    return g;
}

static apr_int64_t set_age(obo_provider *pv, apr_time_t now)
{
    apr_int64_t age = -1;

    apr_thread_mutex_lock(pv->lock);
    if (pv->current) {
        age = apr_time_sec(now - pv->fetched_at);
    }
    apr_thread_mutex_unlock(pv->lock);
    return age;
}

/* The last attempt to fetch the keys failed (since the last good load). */
static int refresh_failed(obo_provider *pv)
{
    int failed;

    apr_thread_mutex_lock(pv->lock);
    failed = pv->last_failure > pv->loaded_at;
    apr_thread_mutex_unlock(pv->lock);
    return failed;
}

/* How long a health poll waits for another thread's first load. */
#define HEALTH_LOAD_WAIT apr_time_from_msec(1000)

apr_status_t obo_provider_health(obo_provider *pv, int may_load, apr_int64_t *age,
                                 const char **why)
{
    apr_time_t now = apr_time_now();
    const char *err = NULL;

    /* A refresh is the requests' business (review 27: a poll that ran it
     * waited for a hanging IdP); only a process with no keys at all, which
     * a balancer may keep from getting requests, loads from a poll. */
    int loading = 0;

    if (may_load && !has_keys(pv) && !in_backoff(pv, now)) {
        if (apr_thread_mutex_trylock(pv->fetch_lock) == APR_SUCCESS) {
            first_load(pv, &err);
            apr_thread_mutex_unlock(pv->fetch_lock);
        }
        /* Another thread loads (a new child's preload): the keys may be one
         * shared-cache read away, or come within a poll's patience; a 503
         * then took every server of a pool out at each graceful restart
         * (review 33A-F2). */
        else {
            while (!has_keys(pv) && take_shared(pv, 0) != APR_SUCCESS
                   && apr_time_now() < now + HEALTH_LOAD_WAIT) {
                wait_loaded(pv, now + HEALTH_LOAD_WAIT);
            }
            loading = !has_keys(pv);
        }
    }
    *age = set_age(pv, apr_time_now());
    *why = NULL;
    if (*age < 0) {
        *why = loading ? "no key set loaded yet (the first load is in progress)"
                       : "no key set loaded (none from the identity provider yet: see OBO010, OBO012)";
        return APR_EGENERAL;
    }
    /* Old keys still validate: healthy, said as degraded. Every server of a
     * pool shares the set's fetch time, so a 503 here took the whole pool
     * out at once during a long IdP outage (review 27). */
    /* ... and only when refreshing them failed since: an idle process does
     * not refresh at all, nor does a JWKS file (review 31) */
    if (*age > 3 * apr_time_sec(pv->cfg.jwks_refresh) && refresh_failed(pv)) {
        *why = "the key set is older than three refresh intervals (the identity provider "
               "has not answered since)";
    }
    return APR_SUCCESS;
}

void obo_provider_view_get(obo_provider *pv, apr_pool_t *p, obo_provider_view *out)
{
    const obo_jwk *k;
    int i;

    memset(out, 0, sizeof(*out));
    out->kids = apr_array_make(p, 4, sizeof(const char *));
    out->refresh = pv->cfg.jwks_refresh;
    apr_thread_mutex_lock(pv->lock);
    out->unasked = !pv->asked && !pv->current;
    if (pv->current) {
        out->nkeys = pv->current->jwks->keys->nelts;
        out->from = pv->current->from;
        out->fetched_at = pv->fetched_at;
        out->next_refresh = pv->loaded_at + pv->cfg.jwks_refresh;
        for (i = 0; i < out->nkeys; i++) {
            k = APR_ARRAY_IDX(pv->current->jwks->keys, i, const obo_jwk *);
            APR_ARRAY_PUSH(out->kids, const char *) = apr_pstrdup(p, k->kid ? k->kid : "-");
        }
    }
    apr_thread_mutex_unlock(pv->lock);
}

void obo_provider_refresh_if_due(obo_provider *pv)
{
    if (has_keys(pv)) {
        maybe_refresh(pv, apr_time_now());
    }
}

/* ---- the startup checks -------------------------------------------------- */

apr_status_t obo_provider_check_jwks_file(apr_pool_t *p, const char *path, int *nkeys,
                                          const char **err)
{
    apr_pool_t *tmp = NULL;
    obo_jwks *set = NULL;
    char *body = NULL;
    apr_size_t len = 0;
    apr_status_t rv = apr_pool_create(&tmp, p);

    *nkeys = 0;
    if (rv == APR_SUCCESS) {
        rv = obo_file_read(tmp, path, JWKS_MAX_BYTES, &body, &len, err);
        if (rv != APR_SUCCESS) {
            *err = rv == APR_ENOSPC ? "cannot read it (larger than 256 KiB)"
                                    : apr_psprintf(p, "cannot read it: %s", *err);
        }
    }
    if (rv == APR_SUCCESS) {
        rv = obo_jwks_parse(tmp, body, len, &set, NULL, err);
        if (rv == APR_SUCCESS) {
            *nkeys = set->keys->nelts;
        }
        else {
            *err = apr_pstrdup(p, *err);   /* may live in tmp */
        }
    }
    if (tmp) {
        apr_pool_destroy(tmp);
    }
    return rv;
}
