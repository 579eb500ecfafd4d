/* SPDX-License-Identifier: Apache-2.0 */
/* Operational counters (see obo_metrics.h). The block lives in shared
 * memory mapped at the same address in every process (created before the
 * fork), so a plain pointer to it is valid everywhere; relaxed atomic adds
 * are enough: readers want totals, not an order between counters. */
#include "obo_metrics.h"
#include "obo_json.h"
#include "obo_summary.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>

/* "obometr5": change it with any change of obo_metrics_block or of the
 * counters' order, so that a graceful restart into a new layout starts anew. */
#define OBO_M_MAGIC APR_UINT64_C(0x6f626f6d65747235)

typedef struct obo_ep_block {
    atomic_ullong last_ok, last_fail, fail_id, fail_outcome;
    atomic_ullong bucket[OBO_M_BUCKETS + 1];
    atomic_ullong sum_usec;
} obo_ep_block;

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
    obo_ep_block pep[OBO_M_PROVIDERS][OBO_M_ENDPOINTS];
    /* two marks of the counters by the views (obo_metrics_window) */
    atomic_ullong win_at[2];
    atomic_ullong win_c[2][OBO_M_COUNTERS];
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

static void obo_observe_into(atomic_ullong *bucket, atomic_ullong *sum,
                             apr_interval_time_t d)
{
    int i = 0;

    d = d < 0 ? 0 : d;
    while (i < OBO_M_BUCKETS && d > obo_m_bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(sum, (unsigned long long)d, memory_order_relaxed);
}

static void obo_observe(apr_interval_time_t d)
{
    obo_observe_into(obo_mb->bucket, &obo_mb->sum_usec, d);
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

void obo_metrics_provider_idp(int provider, obo_m_endpoint ep, obo_m_outcome o,
                              apr_time_t started)
{
    apr_time_t now = apr_time_now();
    obo_ep_block *e;

    if (!obo_mb || provider < 1 || provider > OBO_M_PROVIDERS
        || (unsigned)ep >= OBO_M_ENDPOINTS || (unsigned)o >= OBO_M_OUTCOMES) {
        return;
    }
    e = &obo_mb->pep[provider - 1][ep];
    atomic_fetch_add_explicit(&obo_mb->pidp[provider - 1][ep][o], 1, memory_order_relaxed);
    if (started > 0) {
        obo_observe_into(e->bucket, &e->sum_usec, now - started);
    }
    /* A user's refusal is an answer: the endpoint works. */
    if (o == OBO_M_OK || o == OBO_M_USER_ERROR) {
        atomic_store_explicit(&e->last_ok, (unsigned long long)now, memory_order_relaxed);
    }
    else {
        atomic_store_explicit(&e->fail_outcome, (unsigned long long)o, memory_order_relaxed);
        atomic_store_explicit(&e->fail_id, 0, memory_order_relaxed);
        atomic_store_explicit(&e->last_fail, (unsigned long long)now, memory_order_relaxed);
    }
}

void obo_metrics_provider_failure_id(int provider, obo_m_endpoint ep, const char *msgid)
{
    const char *d = msgid;
    obo_ep_block *e;
    apr_time_t now = apr_time_now();
    apr_uint64_t ok;

    while (d && *d && (*d < '0' || *d > '9')) {
        d++;
    }
    if (!obo_mb || !d || !*d || provider < 1 || provider > OBO_M_PROVIDERS
        || (unsigned)ep >= OBO_M_ENDPOINTS) {
        return;
    }
    e = &obo_mb->pep[provider - 1][ep];
    ok = atomic_load_explicit(&e->last_ok, memory_order_relaxed);
    /* An answer that came (counted as one) but could not be used, such as
     * an unusable JWKS: a failure after that success, even within its
     * microsecond. */
    if (atomic_load_explicit(&e->last_fail, memory_order_relaxed) < ok) {
        atomic_store_explicit(&e->fail_outcome, OBO_M_SERVER_ERROR, memory_order_relaxed);
    }
    if ((apr_uint64_t)now <= ok) {
        now = (apr_time_t)ok + 1;
    }
    atomic_store_explicit(&e->fail_id, strtoull(d, NULL, 10), memory_order_relaxed);
    atomic_store_explicit(&e->last_fail, (unsigned long long)now, memory_order_relaxed);
}

void obo_metrics_provider_keys(int provider, obo_m_keysource src)
{
    if (obo_mb && provider >= 1 && provider <= OBO_M_PROVIDERS
        && (unsigned)src < OBO_M_KEYSOURCES) {
        atomic_fetch_add_explicit(&obo_mb->pkeys[provider - 1][src], 1, memory_order_relaxed);
    }
}

#define OBO_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void obo_read_endpoint(const obo_ep_block *e, obo_metrics_endpoint_state *out)
{
    int k;

    out->last_ok = OBO_LOAD(e->last_ok);
    out->last_fail = OBO_LOAD(e->last_fail);
    out->fail_id = OBO_LOAD(e->fail_id);
    out->fail_outcome = OBO_LOAD(e->fail_outcome);
    for (k = 0; k <= OBO_M_BUCKETS; k++) {
        out->bucket[k] = OBO_LOAD(e->bucket[k]);
    }
    out->sum_usec = OBO_LOAD(e->sum_usec);
}

static void obo_read_providers(obo_metrics_snapshot *out)
{
    int i, j, k;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            obo_read_endpoint(&obo_mb->pep[i][j], &out->pep[i][j]);
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

void obo_metrics_window(obo_metrics_snapshot *out, apr_time_t now)
{
    apr_uint64_t t = (apr_uint64_t)apr_time_sec(now), a0, a1;
    int newer, older, i;

    if (!obo_mb) {
        return;
    }
    a0 = atomic_load_explicit(&obo_mb->win_at[0], memory_order_relaxed);
    a1 = atomic_load_explicit(&obo_mb->win_at[1], memory_order_relaxed);
    newer = a1 > a0;
    older = !newer;
    /* the older mark is replaced by now's once the newer is old enough;
     * two views doing it at once write nearly the same figures */
    if ((newer ? a1 : a0) + OBO_M_WINDOW_S <= t) {
        for (i = 0; i < OBO_M_COUNTERS; i++) {
            atomic_store_explicit(&obo_mb->win_c[older][i], out->c[i], memory_order_relaxed);
        }
        atomic_store_explicit(&obo_mb->win_at[older], t, memory_order_release);
        newer = older;
        older = !newer;
    }
    out->base_at = 0;
    if (atomic_load_explicit(&obo_mb->win_at[older], memory_order_acquire) > 0) {
        out->base_at = apr_time_from_sec(atomic_load_explicit(&obo_mb->win_at[older],
                                                              memory_order_relaxed));
        for (i = 0; i < OBO_M_COUNTERS; i++) {
            apr_uint64_t b = atomic_load_explicit(&obo_mb->win_c[older][i],
                                                  memory_order_relaxed);
            out->base[i] = b <= out->c[i] ? b : out->c[i];
        }
    }
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

double obo_metrics_quantile(const apr_uint64_t *bucket, double q)
{
    apr_uint64_t total = 0, seen = 0;
    double rank, lo;
    int i;

    for (i = 0; i <= OBO_M_BUCKETS; i++) {
        total += bucket[i];
    }
    if (total == 0) {
        return -1;
    }
    rank = q * (double)total;
    for (i = 0; i < OBO_M_BUCKETS; i++) {
        if ((double)(seen + bucket[i]) >= rank && bucket[i]) {
            lo = i ? (double)obo_m_bounds[i - 1] / 1e6 : 0;
            return lo + ((double)obo_m_bounds[i] / 1e6 - lo)
                        * ((rank - (double)seen) / (double)bucket[i]);
        }
        seen += bucket[i];
    }
    return (double)obo_m_bounds[OBO_M_BUCKETS - 1] / 1e6;
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

static void obo_put_provider_times(apr_array_header_t *out, apr_pool_t *p,
                                   const obo_metrics_snapshot *s);

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
    obo_put_provider_times(out, p, s);
}

/* 1 if provider i's endpoint j was asked at all: its gauges are listed. */
static int obo_endpoint_used(const obo_metrics_snapshot *s, int i, int j)
{
    int k, used = 0;

    for (k = 0; k < OBO_M_OUTCOMES; k++) {
        used |= s->pidp[i][j][k] != 0;
    }
    return used;
}

/* Per provider and endpoint: the last success and the last failure (0 when
 * none, so that "failure > success" compares in PromQL) and the durations. */
static void obo_put_provider_times(apr_array_header_t *out, apr_pool_t *p,
                                   const obo_metrics_snapshot *s)
{
    static const char ok[] = "mod_auth_obo_idp_last_success_timestamp_seconds";
    static const char fail[] = "mod_auth_obo_idp_last_failure_timestamp_seconds";
    static const char hist[] = "mod_auth_obo_provider_idp_request_duration_seconds";
    const obo_metrics_endpoint_state *e;
    apr_uint64_t total;
    int i, j, k, pass, any = 0;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            any |= obo_endpoint_used(s, i, j);
        }
    }
    /* A provider whose keys all came from the shared cache or the state
     * file asked no endpoint: no family without samples (strict parsers,
     * the intermittent t/78 failure) */
    for (pass = 0; any && pass < 3; pass++) {
        obo_put_head(out, p, pass == 0 ? ok : pass == 1 ? fail : hist,
                     pass < 2 ? "gauge" : "histogram", pass == 0
                     ? "Unix time of each identity provider endpoint's last answer (0: none)."
                     : pass == 1 ? "Unix time of each identity provider endpoint's last "
                                   "failure: no answer, 5xx, 429 or our request refused "
                                   "(0: none)."
                     : "Duration of requests to each identity provider's endpoints.");
        for (i = 0; i < OBO_M_PROVIDERS; i++) {
            for (j = 0; j < OBO_M_ENDPOINTS; j++) {
                if (!obo_endpoint_used(s, i, j)) {
                    continue;
                }
                e = &s->pep[i][j];
                if (pass < 2) {
                    apr_uint64_t t = pass == 0 ? e->last_ok : e->last_fail;
                    obo_put(out, p, "%s{provider=\"%d\",endpoint=\"%s\"} %" APR_UINT64_T_FMT
                            ".%03" APR_UINT64_T_FMT "\n", pass == 0 ? ok : fail, i + 1,
                            obo_m_endpoints[j], t / 1000000, t % 1000000 / 1000);
                    continue;
                }
                for (k = 0, total = 0; k <= OBO_M_BUCKETS; k++) {
                    total += e->bucket[k];
                    obo_put(out, p, "%s_bucket{provider=\"%d\",endpoint=\"%s\",le=\"%s\"} %"
                            APR_UINT64_T_FMT "\n", hist, i + 1, obo_m_endpoints[j],
                            obo_m_le[k], total);
                }
                obo_put(out, p, "%s_sum{provider=\"%d\",endpoint=\"%s\"} %" APR_UINT64_T_FMT
                        ".%06" APR_UINT64_T_FMT "\n", hist, i + 1, obo_m_endpoints[j],
                        e->sum_usec / 1000000, e->sum_usec % 1000000);
                obo_put(out, p, "%s_count{provider=\"%d\",endpoint=\"%s\"} %"
                        APR_UINT64_T_FMT "\n", hist, i + 1, obo_m_endpoints[j], total);
            }
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

/* The gauges of what this process sees now (obo_metrics_live). */
static void obo_put_live(apr_array_header_t *out, apr_pool_t *p, const obo_metrics_live *l)
{
    static const char *const names[] = { "mod_auth_obo_jwks_age_seconds",
                                         "mod_auth_obo_jwks_keys",
                                         "mod_auth_obo_jwks_refresh_interval_seconds" };
    static const char *const helps[] = {
        "Seconds since the identity provider gave the key set this process validates with "
        "(-1: no key set).",
        "Usable keys in the key set this process validates with (no sample: not loaded "
        "yet).",
        "How often the key set is refreshed (OBOJWKSRefreshInterval), seconds." };
    const obo_metrics_live_provider *pv;
    int i, k;

    for (k = 0; k < 3 && l->nproviders > 0; k++) {
        int head = 0;

        for (i = 0; i < l->nproviders; i++) {
            pv = &l->providers[i];
            if (k < 2 && pv->unasked) {
                /* not needed here yet (OBOPreloadKeys off): no age and no
                 * key count, lest "no keys" alerts fire (review 40B-F10) */
                continue;
            }
            if (!head++) {
                /* a family without samples is malformed (t/75's checker) */
                obo_put_head(out, p, names[k], "gauge", helps[k]);
            }
            obo_put(out, p, "%s{provider=\"%d\"} %" APR_INT64_T_FMT "\n", names[k], pv->number,
                    k == 0 ? pv->age : k == 1 ? (apr_int64_t)pv->nkeys : pv->refresh);
        }
    }
    if (l->nnodes > 0) {
        obo_put_head(out, p, "mod_auth_obo_cache_backend_up", "gauge",
                     "1 when the shared cache's node answers now (shm: attached), else 0.");
    }
    for (i = 0; i < l->nnodes; i++) {
        obo_put(out, p, "mod_auth_obo_cache_backend_up{backend=\"%s\",node=\"%s\"} %d\n",
                obo_label_escape(p, l->nodes[i].backend), obo_label_escape(p, l->nodes[i].node),
                l->nodes[i].up ? 1 : 0);
    }
    if (l->sessions_live >= 0) {
        obo_put_head(out, p, "mod_auth_obo_sessions_live", "gauge",
                     "Long-running sessions this server started or served whose idle or "
                     "maximum lifetime has not run out and that it has not ended.");
        obo_put(out, p, "mod_auth_obo_sessions_live %" APR_INT64_T_FMT "\n", l->sessions_live);
    }
}

char *obo_metrics_prometheus(apr_pool_t *p, const obo_metrics_snapshot *s,
                             const obo_metrics_live *live, const char *version)
{
    apr_array_header_t *out = apr_array_make(p, 96, sizeof(const char *));

    obo_put_families(out, p, s, OBO_ROWS(obo_families_head));
    obo_put_idp(out, p, s);
    obo_put_families(out, p, s, OBO_ROWS(obo_families_tail));
    obo_put_providers(out, p, s);
    if (live) {
        obo_put_live(out, p, live);
    }
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

/* {"last_success": t, "last_failure": t, "last_failure_id": "OBO310",
 *  "last_failure_outcome": o, "p50_seconds": x, "p95_seconds": x, "count": n}
 * of an endpoint that was asked; nonzero on failure. */
static int obo_jendpoint_state(json_t *o, const obo_metrics_endpoint_state *e)
{
    apr_uint64_t total = 0;
    int k;

    for (k = 0; k <= OBO_M_BUCKETS; k++) {
        total += e->bucket[k];
    }
    return json_object_set_new(o, "last_success", json_real((double)e->last_ok / 1e6)) != 0
           || json_object_set_new(o, "last_failure", json_real((double)e->last_fail / 1e6)) != 0
           || json_object_set_new(o, "last_failure_id", e->fail_id
                                  ? json_sprintf("OBO%03u", (unsigned)e->fail_id)
                                  : json_null()) != 0
           || json_object_set_new(o, "last_failure_outcome", e->last_fail
                                  ? json_string(obo_metrics_outcome_name(
                                                    (obo_m_outcome)e->fail_outcome))
                                  : json_null()) != 0
           || json_object_set_new(o, "p50_seconds", total ? json_real(
                                      obo_metrics_quantile(e->bucket, 0.5)) : json_null()) != 0
           || json_object_set_new(o, "p95_seconds", total ? json_real(
                                      obo_metrics_quantile(e->bucket, 0.95)) : json_null()) != 0
           || obo_jset(o, "count", total);
}

static int obo_jendpoint_states(json_t *pv, const obo_metrics_snapshot *s, int i)
{
    json_t *eps = json_object(), *e;
    int j, bad = eps == NULL || json_object_set_new(pv, "endpoints", eps) != 0;

    for (j = 0; !bad && j < OBO_M_ENDPOINTS; j++) {
        if (obo_endpoint_used(s, i, j)) {
            bad = (e = json_object()) == NULL
                  || json_object_set_new(eps, obo_m_endpoints[j], e) != 0
                  || obo_jendpoint_state(e, &s->pep[i][j]);
        }
    }
    return bad;
}

/* {"1": {"idp_requests": {endpoint: {outcome: n}}, "key_sets": {source: n},
 *        "endpoints": {endpoint: state}}, ...} */
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
        bad = bad || obo_jendpoints(reqs, s->pidp[i]) || obo_jendpoint_states(pv, s, i);
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

/* "keys": [{"provider", "age_seconds", "keys", "refresh_seconds"}],
 * "cache_nodes": [{"backend", "node", "up"}], "sessions_live": n|null,
 * "sessions_live_lower_bound": the ledger was full (obo_ledger.h) */
static int obo_jlive(json_t *j, const obo_metrics_live *l)
{
    json_t *keys = json_array(), *nodes = json_array();
    const obo_metrics_live_provider *pv;
    int i, bad = json_object_set_new(j, "keys", keys) != 0
                 || json_object_set_new(j, "cache_nodes", nodes) != 0;

    for (i = 0; !bad && l && i < l->nproviders; i++) {
        pv = &l->providers[i];
        bad = json_array_append_new(keys, json_pack(
            "{s:i, s:I, s:i, s:I, s:s?, s:s?, s:s?, s:I, s:b}", "provider", pv->number,
            "age_seconds", (json_int_t)pv->age, "keys", pv->nkeys, "refresh_seconds",
            (json_int_t)pv->refresh, "from", pv->from, "kids", pv->kids, "issuers",
            pv->issuers, "next_refresh_seconds", (json_int_t)pv->next_refresh,
            "not_loaded_yet", pv->unasked)) != 0;
    }
    for (i = 0; !bad && l && i < l->nnodes; i++) {
        bad = json_array_append_new(nodes, json_pack(
            "{s:s, s:s, s:b}", "backend", l->nodes[i].backend, "node", l->nodes[i].node,
            "up", l->nodes[i].up)) != 0;
    }
    return bad || json_object_set_new(j, "sessions_live", l && l->sessions_live >= 0
                                      ? json_integer((json_int_t)l->sessions_live)
                                      : json_null()) != 0
           || json_object_set_new(j, "cache_nodes_not_asked", json_integer(l ? l->unasked : 0))
              != 0
           || json_object_set_new(j, "sessions_live_lower_bound",
                                  json_boolean(l && l->sessions_live >= 0
                                               && l->sessions_full)) != 0;
}

/* "verdict": the worst, "summary": [{"concern", "verdict", "reason"}] */
static int obo_jsummary(json_t *j, const obo_metrics_snapshot *s, const obo_metrics_live *l,
                        apr_pool_t *p)
{
    apr_array_header_t *lines = obo_summary(p, s, l, apr_time_now());
    json_t *a = json_array();
    int i, bad = a == NULL || json_object_set_new(j, "summary", a) != 0
                 || json_object_set_new(j, "verdict", json_string(obo_verdict_name(
                                            obo_summary_worst(lines)))) != 0;

    for (i = 0; !bad && i < lines->nelts; i++) {
        const obo_summary_line *ln = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        bad = json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "concern", ln->concern,
                                                 "verdict", obo_verdict_name(ln->verdict),
                                                 "reason", ln->reason)) != 0;
    }
    return bad;
}

char *obo_metrics_json(apr_pool_t *p, const obo_metrics_snapshot *s,
                       const obo_metrics_live *live, const char *version)
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
    bad = bad || obo_jlive(j, live);
    bad = bad || obo_jsummary(j, s, live, p);
    return bad ? NULL : obo_json_dump(p, j);
}
