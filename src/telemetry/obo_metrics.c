/* SPDX-License-Identifier: Apache-2.0 */
/* Operational counters (see obo_metrics.h). The block lives in shared
 * memory mapped at the same address in every process (created before the
 * fork), so a plain pointer to it is valid everywhere; relaxed atomic adds
 * are enough: readers want totals, not an order between counters. */
#include "obo_metrics.h"
#include "obo_json.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>

/* "obometr3": change it with any change of obo_metrics_block or of the
 * counters' order, so that a graceful restart into a new layout starts anew. */
#define OBO_M_MAGIC APR_UINT64_C(0x6f626f6d65747233)

typedef struct obo_metrics_block {
    apr_uint64_t magic;            /* set last: the block is initialised */
    apr_uint64_t layout;           /* sizeof(obo_metrics_block) */
    apr_time_t since;
    atomic_ullong c[OBO_M_COUNTERS];
    atomic_ullong idp[OBO_M_ENDPOINTS][OBO_M_OUTCOMES];
    atomic_ullong bucket[OBO_M_BUCKETS + 1];
    atomic_ullong sum_usec;
    atomic_ullong pidp[OBO_M_PROVIDERS][OBO_M_ENDPOINTS][OBO_M_OUTCOMES];
    atomic_ullong pkeys[OBO_M_PROVIDERS][OBO_M_KEYSOURCES];
} obo_metrics_block;

static obo_metrics_block *obo_mb;

static const apr_interval_time_t obo_m_bounds[OBO_M_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000
};
static const char *const obo_m_le[OBO_M_BUCKETS + 1] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
};
static const char *const obo_m_outcomes[OBO_M_OUTCOMES] = {
    "ok", "user_error", "client_error", "server_error", "timeout", "network"
};
static const char *const obo_m_endpoints[OBO_M_ENDPOINTS] = {
    "token", "jwks", "discovery", "introspection"
};
static const char *const obo_m_keysources[OBO_M_KEYSOURCES] = {
    "idp", "shared_cache", "state_file"
};

apr_size_t obo_metrics_size(void)
{
    return sizeof(obo_metrics_block);
}

apr_status_t obo_metrics_attach(void *mem, apr_size_t len)
{
    obo_metrics_block *b = mem;

#if ATOMIC_LLONG_LOCK_FREE != 2
    /* Emulated atomics take a per-process lock: wrong across processes. */
    return APR_ENOTIMPL;
#endif
    if (!b || len < sizeof(*b)) {
        return APR_EINVAL;
    }
    if (b->magic != OBO_M_MAGIC || b->layout != sizeof(*b)) {
        memset(b, 0, sizeof(*b));   /* all-zero bits are zero atomics here */
        b->layout = sizeof(*b);
        b->since = apr_time_now();
        b->magic = OBO_M_MAGIC;
    }
    obo_mb = b;
    return APR_SUCCESS;
}

void obo_metrics_detach(void)
{
    obo_mb = NULL;
}

int obo_metrics_attached(void)
{
    return obo_mb != NULL;
}

void obo_metrics_inc(obo_metric m)
{
    if (obo_mb && (unsigned)m < OBO_M_COUNTERS) {
        atomic_fetch_add_explicit(&obo_mb->c[m], 1, memory_order_relaxed);
    }
}

int obo_metrics_hit(obo_metric level, int is_hit)
{
    obo_metrics_inc(is_hit ? level : (obo_metric)(level + 1));
    return is_hit;
}

void obo_metrics_backend_error(const char *backend)
{
    if (backend && !strcmp(backend, "memcached")) {
        obo_metrics_inc(OBO_M_BACKEND_ERROR_MEMCACHED);
    }
    else if (backend && !strcmp(backend, "shm")) {
        obo_metrics_inc(OBO_M_BACKEND_ERROR_SHM);
    }
}

obo_m_outcome obo_metrics_http_outcome(apr_status_t rv, int http_status)
{
    if (rv == APR_TIMEUP) {
        return OBO_M_TIMEOUT;
    }
    if (rv != APR_SUCCESS) {
        return OBO_M_NETWORK;
    }
    if (http_status >= 200 && http_status < 300) {
        return OBO_M_OK;
    }
    return http_status >= 500 || http_status == 429 || http_status < 400
           ? OBO_M_SERVER_ERROR : OBO_M_CLIENT_ERROR;
}

static void obo_observe(apr_interval_time_t d)
{
    int i = 0;

    d = d < 0 ? 0 : d;
    while (i < OBO_M_BUCKETS && d > obo_m_bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&obo_mb->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&obo_mb->sum_usec, (unsigned long long)d, memory_order_relaxed);
}

void obo_metrics_idp(obo_m_endpoint ep, obo_m_outcome o, apr_time_t started)
{
    if (!obo_mb || (unsigned)ep >= OBO_M_ENDPOINTS || (unsigned)o >= OBO_M_OUTCOMES) {
        return;
    }
    atomic_fetch_add_explicit(&obo_mb->idp[ep][o], 1, memory_order_relaxed);
    if (ep == OBO_M_EP_TOKEN && started > 0) {
        obo_observe(apr_time_now() - started);
    }
}

void obo_metrics_provider_idp(int provider, obo_m_endpoint ep, obo_m_outcome o)
{
    if (obo_mb && provider >= 1 && provider <= OBO_M_PROVIDERS
        && (unsigned)ep < OBO_M_ENDPOINTS && (unsigned)o < OBO_M_OUTCOMES) {
        atomic_fetch_add_explicit(&obo_mb->pidp[provider - 1][ep][o], 1,
                                  memory_order_relaxed);
    }
}

void obo_metrics_provider_keys(int provider, obo_m_keysource src)
{
    if (obo_mb && provider >= 1 && provider <= OBO_M_PROVIDERS
        && (unsigned)src < OBO_M_KEYSOURCES) {
        atomic_fetch_add_explicit(&obo_mb->pkeys[provider - 1][src], 1, memory_order_relaxed);
    }
}

static void obo_read_providers(obo_metrics_snapshot *out)
{
    int i, j, k;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            for (k = 0; k < OBO_M_OUTCOMES; k++) {
                out->pidp[i][j][k] = atomic_load_explicit(&obo_mb->pidp[i][j][k],
                                                          memory_order_relaxed);
            }
        }
        for (j = 0; j < OBO_M_KEYSOURCES; j++) {
            out->pkeys[i][j] = atomic_load_explicit(&obo_mb->pkeys[i][j], memory_order_relaxed);
        }
    }
}

void obo_metrics_read(obo_metrics_snapshot *out)
{
    int i, j;

    memset(out, 0, sizeof(*out));
    if (!obo_mb) {
        return;
    }
    out->since = obo_mb->since;
    for (i = 0; i < OBO_M_COUNTERS; i++) {
        out->c[i] = atomic_load_explicit(&obo_mb->c[i], memory_order_relaxed);
    }
    for (i = 0; i < OBO_M_ENDPOINTS; i++) {
        for (j = 0; j < OBO_M_OUTCOMES; j++) {
            out->idp[i][j] = atomic_load_explicit(&obo_mb->idp[i][j], memory_order_relaxed);
        }
    }
    for (i = 0; i <= OBO_M_BUCKETS; i++) {
        out->bucket[i] = atomic_load_explicit(&obo_mb->bucket[i], memory_order_relaxed);
    }
    out->sum_usec = atomic_load_explicit(&obo_mb->sum_usec, memory_order_relaxed);
    obo_read_providers(out);
}

const char *obo_metrics_outcome_name(obo_m_outcome o)
{
    return (unsigned)o < OBO_M_OUTCOMES ? obo_m_outcomes[o] : "";
}

const char *obo_metrics_endpoint_name(obo_m_endpoint ep)
{
    return (unsigned)ep < OBO_M_ENDPOINTS ? obo_m_endpoints[ep] : "";
}

const char *obo_metrics_bucket_le(int i)
{
    return i >= 0 && i <= OBO_M_BUCKETS ? obo_m_le[i] : "";
}

/* ---- Prometheus text exposition format 0.0.4 */

typedef struct obo_labelled {
    obo_metric m;
    const char *labels;          /* printed between the braces */
} obo_labelled;

typedef struct obo_family {
    const char *name, *type, *help;
    const obo_labelled *rows;
    int n;
} obo_family;

static const obo_labelled obo_rows_requests[] = {
    { OBO_M_REQ_ACCEPTED, "result=\"accepted\"" },
    { OBO_M_REQ_NO_TOKEN, "result=\"no_token\"" },
    { OBO_M_REQ_INVALID_TOKEN, "result=\"invalid_token\"" },
    { OBO_M_REQ_INSUFFICIENT_SCOPE, "result=\"insufficient_scope\"" },
    { OBO_M_REQ_NO_KEYS, "result=\"no_keys\"" },
    { OBO_M_REQ_PREFLIGHT, "result=\"preflight\"" },
    { OBO_M_REQ_INVALID_REQUEST, "result=\"invalid_request\"" },
    { OBO_M_REQ_STEP_UP, "result=\"step_up\"" },
};
static const obo_labelled obo_rows_cache[] = {
    { OBO_M_CACHE_L1_HIT, "level=\"l1\",result=\"hit\"" },
    { OBO_M_CACHE_L1_MISS, "level=\"l1\",result=\"miss\"" },
    { OBO_M_CACHE_SHARED_HIT, "level=\"shared\",result=\"hit\"" },
    { OBO_M_CACHE_SHARED_MISS, "level=\"shared\",result=\"miss\"" },
};
static const obo_labelled obo_rows_waits[] = { { OBO_M_SINGLE_FLIGHT_WAIT, NULL } };
static const obo_labelled obo_rows_backend[] = {
    { OBO_M_BACKEND_ERROR_SHM, "backend=\"shm\"" },
    { OBO_M_BACKEND_ERROR_MEMCACHED, "backend=\"memcached\"" },
};
static const obo_labelled obo_rows_jwks[] = { { OBO_M_JWKS_REFRESH, NULL } };
static const obo_labelled obo_rows_sessions[] = {
    { OBO_M_SESSION_STARTED, "event=\"started\"" },
    { OBO_M_SESSION_ENDED, "event=\"ended\"" },
    { OBO_M_SESSION_LIMIT, "event=\"limit\"" },
    { OBO_M_SESSION_EVICTED, "event=\"evicted\"" },
    { OBO_M_SESSION_RATED, "event=\"rated\"" },
};
static const obo_labelled obo_rows_vcache[] = {
    { OBO_M_VCACHE_HIT, "result=\"hit\"" },
    { OBO_M_VCACHE_MISS, "result=\"miss\"" },
};
static const obo_labelled obo_rows_vcache_deferred[] = { { OBO_M_VCACHE_DEFERRED, NULL } };
static const obo_labelled obo_rows_avoided[] = {
    { OBO_M_IDP_AVOIDED_REMEMBERED, "reason=\"remembered\"" },
    { OBO_M_IDP_AVOIDED_PAUSED, "reason=\"paused\"" },
};
static const obo_labelled obo_rows_reused[] = {
    { OBO_M_KEYS_FROM_SHARED, "source=\"shared_cache\"" },
    { OBO_M_KEYS_FROM_STATE, "source=\"state_file\"" },
};

static const obo_labelled obo_rows_intro[] = {
    { OBO_M_INTRO_L1_HIT, "level=\"l1\",result=\"hit\"" },
    { OBO_M_INTRO_L1_MISS, "level=\"l1\",result=\"miss\"" },
    { OBO_M_INTRO_SHARED_HIT, "level=\"shared\",result=\"hit\"" },
    { OBO_M_INTRO_SHARED_MISS, "level=\"shared\",result=\"miss\"" },
};
static const obo_labelled obo_rows_dpop[] = {
    { OBO_M_DPOP_OK, "result=\"ok\"" },
    { OBO_M_DPOP_INVALID_PROOF, "result=\"invalid_proof\"" },
    { OBO_M_DPOP_REPLAYED, "result=\"replayed\"" },
    { OBO_M_DPOP_NONCE, "result=\"use_dpop_nonce\"" },
    { OBO_M_DPOP_BEARER_REFUSED, "result=\"bearer_refused\"" },
    { OBO_M_DPOP_UNAVAILABLE, "result=\"unavailable\"" },
};
static const obo_labelled obo_rows_shm_writes[] = { { OBO_M_SHM_WRITES, NULL } };
static const obo_labelled obo_rows_shm_displaced[] = { { OBO_M_SHM_LOCKS_DISPLACED, NULL } };

#define OBO_ROWS(a) a, (int)(sizeof(a) / sizeof(a[0]))
static const obo_family obo_families_head[] = {
    { "mod_auth_obo_requests_total", "counter",
      "Requests to AuthType obo locations by authentication result.",
      OBO_ROWS(obo_rows_requests) },
    { "mod_auth_obo_token_cache_total", "counter",
      "Downstream token lookups by cache level (l1: this process, shared: shm or "
      "memcached) and result.", OBO_ROWS(obo_rows_cache) },
};
static const obo_family obo_families_tail[] = {
    { "mod_auth_obo_single_flight_waits_total", "counter",
      "Token requests that waited for another request's identity provider call.",
      OBO_ROWS(obo_rows_waits) },
    { "mod_auth_obo_cache_backend_errors_total", "counter",
      "Failed operations of the shared token cache by backend.",
      OBO_ROWS(obo_rows_backend) },
    { "mod_auth_obo_jwks_refreshes_total", "counter",
      "Key sets (JWKS) loaded from the identity provider or the JWKS file.",
      OBO_ROWS(obo_rows_jwks) },
    { "mod_auth_obo_sessions_total", "counter",
      "Long-running sessions started, ended (DELETE, refused refresh, idle), ended by "
      "OBOSessionLimit, and found evicted from the cache.", OBO_ROWS(obo_rows_sessions) },
    { "mod_auth_obo_validated_token_cache_total", "counter",
      "Bearer tokens looked up in the process's L1 of validated tokens, by result.",
      OBO_ROWS(obo_rows_vcache) },
    { "mod_auth_obo_validated_token_cache_deferred_total", "counter",
      "Validated tokens not stored in a full L1: first sightings, stored on their second.",
      OBO_ROWS(obo_rows_vcache_deferred) },
    { "mod_auth_obo_idp_calls_avoided_total", "counter",
      "Token endpoint calls not made: a remembered user failure (OBONegativeCacheTime) "
      "or the endpoint paused after a 429/503 with Retry-After.",
      OBO_ROWS(obo_rows_avoided) },
    { "mod_auth_obo_key_sets_reused_total", "counter",
      "Key sets a process took from the shared cache or the state file instead of fetching.",
      OBO_ROWS(obo_rows_reused) },
    { "mod_auth_obo_introspection_cache_total", "counter",
      "Introspection answers (opaque tokens) looked up by cache level (l1: this process, "
      "shared: shm or memcached) and result.", OBO_ROWS(obo_rows_intro) },
    { "mod_auth_obo_shm_cache_writes_total", "counter",
      "Entries written to OBOCache shm (each one turns the cache toward evicting its oldest).",
      OBO_ROWS(obo_rows_shm_writes) },
    { "mod_auth_obo_shm_locks_displaced_total", "counter",
      "Live locks and notes of OBOCache shm's lock table that gave way to newer ones.",
      OBO_ROWS(obo_rows_shm_displaced) },
    { "mod_auth_obo_dpop_total", "counter",
      "DPoP (RFC 9449) requests by result: accepted, proof refused, proof replayed, "
      "nonce asked for, bearer token refused where DPoP was due, replay store unavailable.",
      OBO_ROWS(obo_rows_dpop) },
};

static void obo_put(apr_array_header_t *out, apr_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void obo_put(apr_array_header_t *out, apr_pool_t *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    APR_ARRAY_PUSH(out, const char *) = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
}

static void obo_put_head(apr_array_header_t *out, apr_pool_t *p, const char *name,
                         const char *type, const char *help)
{
    obo_put(out, p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void obo_put_families(apr_array_header_t *out, apr_pool_t *p,
                             const obo_metrics_snapshot *s, const obo_family *f, int n)
{
    int i, j;

    for (i = 0; i < n; i++) {
        obo_put_head(out, p, f[i].name, f[i].type, f[i].help);
        for (j = 0; j < f[i].n; j++) {
            const obo_labelled *r = &f[i].rows[j];
            obo_put(out, p, "%s%s%s%s %" APR_UINT64_T_FMT "\n", f[i].name,
                    r->labels ? "{" : "", r->labels ? r->labels : "", r->labels ? "}" : "",
                    s->c[r->m]);
        }
    }
}

static void obo_put_idp(apr_array_header_t *out, apr_pool_t *p, const obo_metrics_snapshot *s)
{
    static const char name[] = "mod_auth_obo_idp_requests_total";
    static const char hist[] = "mod_auth_obo_idp_request_duration_seconds";
    apr_uint64_t total = 0;
    int i, j;

    obo_put_head(out, p, name, "counter",
                 "HTTP requests to the identity provider by endpoint and outcome.");
    for (i = 0; i < OBO_M_ENDPOINTS; i++) {
        for (j = 0; j < OBO_M_OUTCOMES; j++) {
            obo_put(out, p, "%s{endpoint=\"%s\",outcome=\"%s\"} %" APR_UINT64_T_FMT "\n",
                    name, obo_m_endpoints[i], obo_m_outcomes[j], s->idp[i][j]);
        }
    }
    obo_put_head(out, p, hist, "histogram",
                 "Duration of requests to the identity provider's token endpoint.");
    for (i = 0; i <= OBO_M_BUCKETS; i++) {
        total += s->bucket[i];      /* cumulative, and +Inf is the count */
        obo_put(out, p, "%s_bucket{le=\"%s\"} %" APR_UINT64_T_FMT "\n", hist, obo_m_le[i],
                total);
    }
    obo_put(out, p, "%s_sum %" APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT "\n", hist,
            s->sum_usec / 1000000, s->sum_usec % 1000000);
    obo_put(out, p, "%s_count %" APR_UINT64_T_FMT "\n", hist, total);
}

/* 1 if provider i (0-based) has counted anything: only those are listed. */
static int obo_provider_used(const obo_metrics_snapshot *s, int i)
{
    int j, k, used = 0;

    for (j = 0; j < OBO_M_ENDPOINTS; j++) {
        for (k = 0; k < OBO_M_OUTCOMES; k++) {
            used |= s->pidp[i][j][k] != 0;
        }
    }
    for (j = 0; j < OBO_M_KEYSOURCES; j++) {
        used |= s->pkeys[i][j] != 0;
    }
    return used;
}

static void obo_put_providers(apr_array_header_t *out, apr_pool_t *p,
                              const obo_metrics_snapshot *s)
{
    static const char idp[] = "mod_auth_obo_provider_idp_requests_total";
    static const char keys[] = "mod_auth_obo_provider_key_sets_total";
    int i, j, k, any = 0;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        any |= obo_provider_used(s, i);
    }
    if (!any) {
        return;   /* a family is listed with its samples only */
    }
    obo_put_head(out, p, idp, "counter", "HTTP requests to each identity provider (provider: "
                 "its number in configuration order) by endpoint and outcome.");
    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS && obo_provider_used(s, i); j++) {
            for (k = 0; k < OBO_M_OUTCOMES; k++) {
                obo_put(out, p, "%s{provider=\"%d\",endpoint=\"%s\",outcome=\"%s\"} %"
                        APR_UINT64_T_FMT "\n", idp, i + 1, obo_m_endpoints[j],
                        obo_m_outcomes[k], s->pidp[i][j][k]);
            }
        }
    }
    obo_put_head(out, p, keys, "counter", "Key sets each identity provider's keys were "
                 "installed from in a process: the IdP or JWKS file, the shared cache, the "
                 "state file.");
    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_KEYSOURCES && obo_provider_used(s, i); j++) {
            obo_put(out, p, "%s{provider=\"%d\",source=\"%s\"} %" APR_UINT64_T_FMT "\n",
                    keys, i + 1, obo_m_keysources[j], s->pkeys[i][j]);
        }
    }
}

/* A label value: backslash, double quote and line feed escaped. */
static char *obo_label_escape(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, strlen(v) * 2 + 1), *o = out;

    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            *o++ = '\\';
            *o++ = *v;
        }
        else if (*v == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *v;
        }
    }
    *o = '\0';
    return out;
}

char *obo_metrics_prometheus(apr_pool_t *p, const obo_metrics_snapshot *s,
                             const char *version)
{
    apr_array_header_t *out = apr_array_make(p, 96, sizeof(const char *));

    obo_put_families(out, p, s, OBO_ROWS(obo_families_head));
    obo_put_idp(out, p, s);
    obo_put_families(out, p, s, OBO_ROWS(obo_families_tail));
    obo_put_providers(out, p, s);
    obo_put_head(out, p, "mod_auth_obo_build_info", "gauge",
                 "The running mod_auth_obo version (always 1).");
    obo_put(out, p, "mod_auth_obo_build_info{version=\"%s\"} 1\n",
            obo_label_escape(p, version ? version : ""));
    return apr_array_pstrcat(p, out, 0);
}

/* ---- JSON */

static int obo_jset(json_t *o, const char *k, apr_uint64_t v)
{
    return json_object_set_new(o, k, json_integer((json_int_t)v)) != 0;
}

static json_t *obo_jpair(const char *k1, apr_uint64_t v1, const char *k2, apr_uint64_t v2)
{
    json_t *o = json_object();

    if (o && (obo_jset(o, k1, v1) || obo_jset(o, k2, v2))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *obo_jrequests(const obo_metrics_snapshot *s)
{
    json_t *o = json_object();
    int i, bad = o == NULL;

    for (i = 0; !bad && i < (int)(sizeof(obo_rows_requests) / sizeof(obo_rows_requests[0]));
         i++) {
        /* result="accepted" -> accepted */
        const char *l = strchr(obo_rows_requests[i].labels, '"') + 1;
        char k[32];
        apr_size_t n = strcspn(l, "\"");

        memcpy(k, l, n);
        k[n] = '\0';
        bad = obo_jset(o, k, s->c[obo_rows_requests[i].m]);
    }
    if (bad && o) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* {endpoint: {outcome: n}} into o; nonzero on failure. */
static int obo_jendpoints(json_t *o, const apr_uint64_t (*t)[OBO_M_OUTCOMES])
{
    json_t *ep;
    int i, j, bad = o == NULL;

    for (i = 0; !bad && i < OBO_M_ENDPOINTS; i++) {
        ep = json_object();
        bad = ep == NULL || json_object_set_new(o, obo_m_endpoints[i], ep) != 0;
        for (j = 0; !bad && j < OBO_M_OUTCOMES; j++) {
            bad = obo_jset(ep, obo_m_outcomes[j], t[i][j]);
        }
    }
    return bad;
}

static json_t *obo_jidp(const obo_metrics_snapshot *s)
{
    json_t *o = json_object();

    if (obo_jendpoints(o, s->idp) && o) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* {"l1": {"hit", "miss"}, "shared": {...}} of a two-level cache (each hit
 * counter is followed by its miss counter). */
static json_t *obo_jlevels(const apr_uint64_t *c, int l1, int shared)
{
    return json_pack("{s:o*, s:o*}", "l1", obo_jpair("hit", c[l1], "miss", c[l1 + 1]),
                     "shared", obo_jpair("hit", c[shared], "miss", c[shared + 1]));
}

static json_t *obo_jhist(const obo_metrics_snapshot *s)
{
    json_t *o = json_object(), *b = json_object();
    apr_uint64_t total = 0;
    int i, bad = o == NULL || b == NULL || json_object_set_new(o, "buckets", b) != 0;

    for (i = 0; !bad && i <= OBO_M_BUCKETS; i++) {
        total += s->bucket[i];
        bad = obo_jset(b, obo_m_le[i], total);
    }
    bad = bad || json_object_set_new(o, "sum", json_real((double)s->sum_usec / 1e6)) != 0
              || obo_jset(o, "count", total);
    if (bad) {
        json_decref(o ? o : b);
        o = NULL;
    }
    return o;
}

/* {"1": {"idp_requests": {endpoint: {outcome: n}}, "key_sets": {source: n}}, ...} */
static json_t *obo_jproviders(const obo_metrics_snapshot *s)
{
    json_t *o = json_object(), *pv = NULL, *reqs = NULL, *keys = NULL;
    char name[16];
    int i, j, bad = o == NULL;

    for (i = 0; !bad && i < OBO_M_PROVIDERS; i++) {
        if (!obo_provider_used(s, i)) {
            continue;
        }
        apr_snprintf(name, sizeof(name), "%d", i + 1);
        bad = json_object_set_new(o, name, (pv = json_object())) != 0
              || json_object_set_new(pv, "idp_requests", (reqs = json_object())) != 0
              || json_object_set_new(pv, "key_sets", (keys = json_object())) != 0;
        bad = bad || obo_jendpoints(reqs, s->pidp[i]);
        for (j = 0; !bad && j < OBO_M_KEYSOURCES; j++) {
            bad = obo_jset(keys, obo_m_keysources[j], s->pkeys[i][j]);
        }
    }
    if (bad && o) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

char *obo_metrics_json(apr_pool_t *p, const obo_metrics_snapshot *s, const char *version)
{
    json_t *j = obo_json_pool(p, json_object());
    const apr_uint64_t *c = s->c;
    int bad = j == NULL;

    bad = bad || json_object_set_new(j, "version", json_string(version ? version : "")) != 0;
    bad = bad || json_object_set_new(j, "since", json_integer(
                                         (json_int_t)apr_time_sec(s->since))) != 0;
    bad = bad || json_object_set_new(j, "requests", obo_jrequests(s)) != 0;
    bad = bad || json_object_set_new(j, "token_cache",
                                     obo_jlevels(c, OBO_M_CACHE_L1, OBO_M_CACHE_SHARED)) != 0;
    bad = bad || json_object_set_new(j, "idp_requests", obo_jidp(s)) != 0;
    bad = bad || json_object_set_new(j, "idp_request_duration_seconds", obo_jhist(s)) != 0;
    bad = bad || obo_jset(j, "single_flight_waits", c[OBO_M_SINGLE_FLIGHT_WAIT]);
    bad = bad || json_object_set_new(j, "cache_backend_errors", obo_jpair(
        "shm", c[OBO_M_BACKEND_ERROR_SHM], "memcached", c[OBO_M_BACKEND_ERROR_MEMCACHED])) != 0;
    bad = bad || obo_jset(j, "jwks_refreshes", c[OBO_M_JWKS_REFRESH]);
    bad = bad || json_object_set_new(j, "sessions", json_pack(
        "{s:I, s:I, s:I, s:I, s:I}", "started", (json_int_t)c[OBO_M_SESSION_STARTED],
        "ended", (json_int_t)c[OBO_M_SESSION_ENDED], "limit", (json_int_t)c[OBO_M_SESSION_LIMIT],
        "evicted", (json_int_t)c[OBO_M_SESSION_EVICTED],
        "rated", (json_int_t)c[OBO_M_SESSION_RATED])) != 0;
    bad = bad || json_object_set_new(j, "validated_token_cache", obo_jpair(
        "hit", c[OBO_M_VCACHE_HIT], "miss", c[OBO_M_VCACHE_MISS])) != 0;
    bad = bad || obo_jset(j, "validated_token_cache_deferred", c[OBO_M_VCACHE_DEFERRED]);
    bad = bad || json_object_set_new(j, "idp_calls_avoided", obo_jpair(
        "remembered", c[OBO_M_IDP_AVOIDED_REMEMBERED],
        "paused", c[OBO_M_IDP_AVOIDED_PAUSED])) != 0;
    bad = bad || json_object_set_new(j, "key_sets_reused", obo_jpair(
        "shared_cache", c[OBO_M_KEYS_FROM_SHARED], "state_file", c[OBO_M_KEYS_FROM_STATE])) != 0;
    bad = bad || json_object_set_new(j, "introspection_cache",
                                     obo_jlevels(c, OBO_M_INTRO_L1, OBO_M_INTRO_SHARED)) != 0;
    bad = bad || obo_jset(j, "shm_cache_writes", c[OBO_M_SHM_WRITES]);
    bad = bad || obo_jset(j, "shm_locks_displaced", c[OBO_M_SHM_LOCKS_DISPLACED]);
    bad = bad || json_object_set_new(j, "dpop", json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "ok", (json_int_t)c[OBO_M_DPOP_OK],
        "invalid_proof", (json_int_t)c[OBO_M_DPOP_INVALID_PROOF],
        "replayed", (json_int_t)c[OBO_M_DPOP_REPLAYED],
        "use_dpop_nonce", (json_int_t)c[OBO_M_DPOP_NONCE],
        "bearer_refused", (json_int_t)c[OBO_M_DPOP_BEARER_REFUSED],
        "unavailable", (json_int_t)c[OBO_M_DPOP_UNAVAILABLE])) != 0;
    bad = bad || json_object_set_new(j, "providers", obo_jproviders(s)) != 0;
    return bad ? NULL : obo_json_dump(p, j);
}
