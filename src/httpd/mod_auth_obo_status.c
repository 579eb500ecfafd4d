/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics and the status page: the shared counter block (obo_metrics.c),
 * "SetHandler obo-status" (HTML, ?format=json, ?format=prometheus), a
 * section in mod_status's page, and the classification of each request's
 * authentication result.
 *
 * The block is one anonymous shared memory segment in the process pool,
 * created by the first post_config before any child forks, so every child of
 * every generation maps it at the same address. A graceful restart finds it
 * again (pool userdata) and the figures go on; a full stop ends them. There
 * is one set of figures per server (all virtual hosts together). */
#include "obo_build.h"
static const char auth_obo_status_version[] = PACKAGE_VERSION;
#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION

#include "mod_auth_obo_status.h"
#include "mod_auth_obo_request.h"

#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"

#include "obo_cache_memcached.h"
#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_ledger.h"
#include "obo_metrics.h"
#include "obo_provider.h"
#include "obo_summary.h"
#include "obo_text.h"

APLOG_USE_MODULE(auth_obo);

#define STATUS_HANDLER "obo-status"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the shared block ------------------------------------------------------ */

/* The counters, then the ledger of live sessions (8-byte aligned). */
static apr_size_t metrics_shm_size(void)
{
    return APR_ALIGN(obo_metrics_size(), 8) + obo_ledger_size();
}

static apr_status_t metrics_shm(apr_pool_t *ptemp, server_rec *s, apr_shm_t **out)
{
    apr_pool_t *pproc = s->process->pool;
    /* A module whose counters changed (an upgrade, then a graceful
     * restart) gets a new segment: the size is part of the name. */
    const char *key = apr_psprintf(ptemp, "auth_obo_metrics:%" APR_SIZE_T_FMT,
                                   metrics_shm_size());
    apr_shm_t *shm = NULL;
    void *kept = NULL;
    apr_status_t rv = APR_SUCCESS;

    apr_pool_userdata_get(&kept, key, pproc);
    if (kept) {
        *out = kept;
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&shm, metrics_shm_size(), NULL, pproc);
    if (rv == APR_ENOTIMPL) {
        /* No anonymous shared memory here: a file-based segment. */
        const char *fn = ap_runtime_dir_relative(pproc, "auth_obo_metrics");

        apr_shm_remove(fn, pproc);
        rv = apr_shm_create(&shm, metrics_shm_size(), fn, pproc);
    }
    if (rv == APR_SUCCESS) {
        apr_pool_userdata_set(shm, apr_pstrdup(pproc, key), apr_pool_cleanup_null, pproc);
        *out = shm;
    }
    return rv;
}

static int status_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                              server_rec *s)
{
    apr_shm_t *shm = NULL;
    apr_status_t rv = metrics_shm(ptemp, s, &shm);

    if (rv == APR_SUCCESS) {
        char *base = apr_shm_baseaddr_get(shm);
        apr_size_t at = APR_ALIGN(obo_metrics_size(), 8);

        rv = obo_metrics_attach(base, at);
        if (rv == APR_SUCCESS) {
            rv = obo_ledger_attach(base + at, apr_shm_size_get(shm) - at);
        }
    }
    if (rv != APR_SUCCESS) {
        /* Metrics are for the operators: the server runs without them. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "OBO140: cannot set up the shared "
                     "metrics; obo-status and the mod_status section will be empty");
        obo_metrics_detach();
        obo_ledger_detach();
    }
    return OK;
}

/* ---- what a request counts as ---------------------------------------------- */

/* Called where authentication ends in failure, where an authorized request
 * reaches fixups and where Require obo-* refused it. Subrequests are the
 * main request's business and are not counted. */
void auth_obo_metrics_request(request_rec *r, const auth_obo_req *st)
{
    if (r->main || !st) {
        return;
    }
    if (st->preflight) {
        /* Counted once it passed authorization (reached fixups). */
        if (st->authorized) {
            obo_metrics_inc(OBO_M_REQ_PREFLIGHT);
        }
        return;
    }
    if (st->status == OK) {
        if (st->authorized) {
            obo_metrics_inc(OBO_M_REQ_ACCEPTED);
        }
        else if (st->insufficient) {
            obo_metrics_inc(OBO_M_REQ_INSUFFICIENT_SCOPE);
        }
    }
    else if (st->status == HTTP_UNAUTHORIZED) {
        obo_metrics_inc(st->no_token ? OBO_M_REQ_NO_TOKEN : OBO_M_REQ_INVALID_TOKEN);
    }
    else if (st->status == HTTP_SERVICE_UNAVAILABLE) {
        obo_metrics_inc(OBO_M_REQ_NO_KEYS);
    }
    else if (st->status == HTTP_BAD_REQUEST || st->status == HTTP_REQUEST_ENTITY_TOO_LARGE
             || st->status == HTTP_UNSUPPORTED_MEDIA_TYPE) {
        obo_metrics_inc(OBO_M_REQ_INVALID_REQUEST);
    }
}

/* ---- the status page -------------------------------------------------------- */

enum { FMT_HTML, FMT_JSON, FMT_PROM, FMT_HEALTH, FMT_BAD };

static int wanted_format(request_rec *r)
{
    const char *args = r->args ? r->args : "";
    int fmt = FMT_HTML, seen = 0;
    char *pair, *last = NULL;

    for (pair = apr_strtok(apr_pstrdup(r->pool, args), "&", &last); pair && fmt != FMT_BAD;
         pair = apr_strtok(NULL, "&", &last)) {
        if (!strncmp(pair, "format=", 7)) {
            const char *v = pair + 7;
            int f = !strcmp(v, "json") ? FMT_JSON : !strcmp(v, "prometheus") ? FMT_PROM
                  : !strcmp(v, "html") ? FMT_HTML : !strcmp(v, "health") ? FMT_HEALTH : FMT_BAD;

            /* two that differ are refused, not settled by order: a proxy
             * or cache in front may pick the other one (round 33B) */
            fmt = seen && f != fmt ? FMT_BAD : f;
            seen = 1;
        }
    }
    return fmt;
}

/* Zero rows are folded away on the status page unless ?all=1 (a note on
 * the request, not a global: requests render at once in threads); not in
 * mod_status's page. */
#define FOLD_NOTE "auth_obo_fold_zero"

static int folded(request_rec *r)
{
    return apr_table_get(r->notes, FOLD_NOTE) != NULL;
}

static void html_row(request_rec *r, const char *name, const char *labels,
                     apr_uint64_t v)
{
    if (v || !folded(r)) {
        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   name, labels, v);
    }
}

/* The per-provider counters that are not zero. */
static void html_provider_rows(request_rec *r, const obo_metrics_snapshot *s)
{
    static const char *const sources[] = { "idp", "shared_cache", "state_file" };
    int i, j, k;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            for (k = 0; k < OBO_M_OUTCOMES; k++) {
                if (s->pidp[i][j][k]) {
                    html_row(r, "provider_idp_requests", apr_psprintf(r->pool,
                             "provider=%d endpoint=%s outcome=%s", i + 1,
                             obo_metrics_endpoint_name(j), obo_metrics_outcome_name(k)),
                             s->pidp[i][j][k]);
                }
            }
        }
        for (j = 0; j < OBO_M_KEYSOURCES; j++) {
            if (s->pkeys[i][j]) {
                html_row(r, "provider_key_sets", apr_psprintf(r->pool, "provider=%d source=%s",
                         i + 1, sources[j]), s->pkeys[i][j]);
            }
        }
    }
}

static void html_table(request_rec *r, const obo_metrics_snapshot *s)
{
    static const char *const results[] = { "accepted", "no_token", "invalid_token",
                                           "insufficient_scope", "no_keys", "preflight",
                                           "invalid_request", "step_up" };
    static const obo_metric counters[] = { OBO_M_REQ_ACCEPTED, OBO_M_REQ_NO_TOKEN,
                                           OBO_M_REQ_INVALID_TOKEN,
                                           OBO_M_REQ_INSUFFICIENT_SCOPE, OBO_M_REQ_NO_KEYS,
                                           OBO_M_REQ_PREFLIGHT, OBO_M_REQ_INVALID_REQUEST,
                                           OBO_M_REQ_STEP_UP };
    int i, j;

    ap_rputs("<table border=\"1\">\n<tr><th>metric</th><th>labels</th><th>value</th></tr>\n",
             r);
    for (i = 0; i < (int)(sizeof(counters) / sizeof(counters[0])); i++) {
        html_row(r, "requests", apr_psprintf(r->pool, "result=%s", results[i]),
                 s->c[counters[i]]);
    }
    html_row(r, "token_cache", "level=l1 result=hit", s->c[OBO_M_CACHE_L1_HIT]);
    html_row(r, "token_cache", "level=l1 result=miss", s->c[OBO_M_CACHE_L1_MISS]);
    html_row(r, "token_cache", "level=shared result=hit", s->c[OBO_M_CACHE_SHARED_HIT]);
    html_row(r, "token_cache", "level=shared result=miss", s->c[OBO_M_CACHE_SHARED_MISS]);
    for (i = 0; i < OBO_M_ENDPOINTS; i++) {
        for (j = 0; j < OBO_M_OUTCOMES; j++) {
            html_row(r, "idp_requests", apr_psprintf(r->pool, "endpoint=%s outcome=%s",
                     obo_metrics_endpoint_name(i), obo_metrics_outcome_name(j)),
                     s->idp[i][j]);
        }
    }
    html_row(r, "single_flight_waits", "", s->c[OBO_M_SINGLE_FLIGHT_WAIT]);
    html_row(r, "cache_backend_errors", "backend=shm", s->c[OBO_M_BACKEND_ERROR_SHM]);
    html_row(r, "cache_backend_errors", "backend=memcached",
             s->c[OBO_M_BACKEND_ERROR_MEMCACHED]);
    html_row(r, "jwks_refreshes", "", s->c[OBO_M_JWKS_REFRESH]);
    html_row(r, "sessions", "event=started", s->c[OBO_M_SESSION_STARTED]);
    html_row(r, "sessions", "event=ended", s->c[OBO_M_SESSION_ENDED]);
    html_row(r, "sessions", "event=limit", s->c[OBO_M_SESSION_LIMIT]);
    html_row(r, "sessions", "event=evicted", s->c[OBO_M_SESSION_EVICTED]);
    html_row(r, "sessions", "event=rated", s->c[OBO_M_SESSION_RATED]);
    html_row(r, "validated_token_cache", "result=hit", s->c[OBO_M_VCACHE_HIT]);
    html_row(r, "validated_token_cache", "result=miss", s->c[OBO_M_VCACHE_MISS]);
    html_row(r, "validated_token_cache_deferred", "", s->c[OBO_M_VCACHE_DEFERRED]);
    html_row(r, "idp_calls_avoided", "reason=remembered", s->c[OBO_M_IDP_AVOIDED_REMEMBERED]);
    html_row(r, "idp_calls_avoided", "reason=paused", s->c[OBO_M_IDP_AVOIDED_PAUSED]);
    html_row(r, "key_sets_reused", "source=shared_cache", s->c[OBO_M_KEYS_FROM_SHARED]);
    html_row(r, "key_sets_reused", "source=state_file", s->c[OBO_M_KEYS_FROM_STATE]);
    html_row(r, "introspection_cache", "level=l1 result=hit", s->c[OBO_M_INTRO_L1_HIT]);
    html_row(r, "introspection_cache", "level=l1 result=miss", s->c[OBO_M_INTRO_L1_MISS]);
    html_row(r, "introspection_cache", "level=shared result=hit", s->c[OBO_M_INTRO_SHARED_HIT]);
    html_row(r, "introspection_cache", "level=shared result=miss",
             s->c[OBO_M_INTRO_SHARED_MISS]);
    html_provider_rows(r, s);
    ap_rputs("</table>\n", r);
}

/* This virtual host's identity providers and their numbers in the
 * provider="N" label (the numbers are the same in every process). */
static void html_providers(request_rec *r)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    const apr_array_header_t *iss = NULL;
    int i;

    if (!sc->rt || !sc->rt->providers || sc->rt->providers->nelts == 0) {
        return;
    }
    ap_rputs("<h2>Identity providers of this virtual host</h2>\n<table border=\"1\">\n"
             "<tr><th>provider</th><th>keys from</th><th>issuers</th></tr>\n", r);
    for (i = 0; i < sc->rt->providers->nelts; i++) {
        obo_provider *pv = APR_ARRAY_IDX(sc->rt->providers, i, obo_provider *);
        int n = obo_provider_metrics_number(pv);
        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                   n ? apr_itoa(r->pool, n) : "-",
                   ap_escape_html(r->pool, obo_url_shown(r->pool, obo_provider_source(pv))),
                   obo_provider_known_issuers(pv, r->pool, &iss) == APR_SUCCESS
                   ? ap_escape_html(r->pool, apr_array_pstrcat(r->pool, iss, ' '))
                   : "(not loaded yet)");
    }
    ap_rputs("</table>\n", r);
}

/* A histogram as a distribution people read: per bucket its count, its
 * share and a bar, empty buckets folded unless ?all=1. */
static void html_distribution(request_rec *r, const char *title, const apr_uint64_t *bucket)
{
    apr_uint64_t total = 0;
    int i, bar;

    for (i = 0; i <= OBO_M_BUCKETS; i++) {
        total += bucket[i];
    }
    if (!total) {
        return;
    }
    ap_rprintf(r, "<h3>%s</h3>\n<table>\n<tr><th>duration</th><th>requests</th><th>share"
               "</th><th></th></tr>\n", title);
    for (i = 0; i <= OBO_M_BUCKETS; i++) {
        if (!bucket[i] && folded(r)) {
            continue;
        }
        bar = (int)(40 * bucket[i] / total);
        ap_rprintf(r, "<tr><td>%s%s s</td><td>%" APR_UINT64_T_FMT "</td><td>%.0f%%</td>"
                   "<td class=\"bar\">%s</td></tr>\n", i < OBO_M_BUCKETS ? "&le; " : "&gt; ",
                   obo_metrics_bucket_le(i < OBO_M_BUCKETS ? i : i - 1), bucket[i],
                   100.0 * (double)bucket[i] / (double)total,
                   apr_pstrndup(r->pool, "########################################",
                                (apr_size_t)(bar ? bar : 1)));
    }
    ap_rprintf(r, "<tr><td>median / p95</td><td colspan=\"3\">%.0f ms / %.0f ms</td></tr>\n"
               "</table>\n", obo_metrics_quantile(bucket, 0.5) * 1000,
               obo_metrics_quantile(bucket, 0.95) * 1000);
}

static void html_distributions(request_rec *r, const obo_metrics_snapshot *s)
{
    int i, j;

    html_distribution(r, "Token endpoint requests (all providers)", s->bucket);
    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            html_distribution(r, apr_psprintf(r->pool, "Identity provider %d, %s endpoint",
                                              i + 1, obo_metrics_endpoint_name(j)),
                              s->pep[i][j].bucket);
        }
    }
}

static void html_summary(request_rec *r, const apr_array_header_t *lines)
{
    int i;

    ap_rputs("<table class=\"summary\">\n<tr><th>concern</th><th>verdict</th><th>why"
             "</th></tr>\n", r);
    for (i = 0; i < lines->nelts; i++) {
        const obo_summary_line *l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        ap_rprintf(r, "<tr><td>%s</td><td class=\"v%d\">%s</td><td>%s</td></tr>\n",
                   ap_escape_html(r->pool, l->concern), (int)l->verdict,
                   obo_verdict_name(l->verdict), ap_escape_html(r->pool, l->reason));
    }
    ap_rputs("</table>\n", r);
}

static const char *since_text(request_rec *r, const obo_metrics_snapshot *s)
{
    char *t = apr_palloc(r->pool, APR_RFC822_DATE_LEN);

    return s->since && apr_rfc822_date(t, s->since) == APR_SUCCESS ? t : "-";
}

/* The page's only style, inline so that it works air-gapped; the page's
 * own Content-Security-Policy allows it by its hash and nothing else (no
 * script, no external resource). */
static const char page_style[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#eee}.v0{background:#cfc}.v1{background:#fe9}.v2{background:#f99;"
    "font-weight:bold}.bar{font-family:monospace;color:#468}";

static const char *page_csp(request_rec *r)
{
    unsigned char h[OBO_SHA256_LEN];

    obo_sha256(page_style, sizeof(page_style) - 1, h);
    return apr_pstrcat(r->pool, "default-src 'none'; style-src 'sha256-",
                       obo_b64_encode(r->pool, h, sizeof(h)), "'; frame-ancestors 'none'",
                       NULL);
}

/* ?refresh=N (1 to 3600 seconds), else 0 */
static int wanted_refresh(request_rec *r)
{
    const char *v = r->args ? ap_strstr_c(r->args, "refresh=") : NULL;
    long n = v && (v == r->args || v[-1] == '&') ? strtol(v + 8, NULL, 10) : 0;

    return n >= 1 && n <= 3600 ? (int)n : 0;
}

static int wanted_all(request_rec *r)
{
    const char *v = r->args ? ap_strstr_c(r->args, "all=1") : NULL;

    return v && (v == r->args || v[-1] == '&') && (v[5] == '\0' || v[5] == '&');
}

static void html_page(request_rec *r, const obo_metrics_snapshot *s, const obo_metrics_live *l)
{
    apr_array_header_t *lines = obo_summary(r->pool, s, l, apr_time_now());
    int refresh = wanted_refresh(r);

    if (!wanted_all(r)) {
        apr_table_setn(r->notes, FOLD_NOTE, "1");
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Security-Policy", page_csp(r));
    ap_rprintf(r, "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">%s"
               "<title>mod_auth_obo status: %s</title>\n<style>%s</style></head>\n<body>\n"
               "<h1>mod_auth_obo: %s</h1>\n<p>mod_auth_obo/%s on %s; counting since %s "
               "(over all processes and virtual hosts of this server); keys and cache nodes as "
               "process %" APR_PID_T_FMT " sees them now.</p>\n",
               refresh ? apr_psprintf(r->pool, "<meta http-equiv=\"refresh\" content=\"%d\">",
                                      refresh) : "",
               obo_verdict_name(obo_summary_worst(lines)), page_style,
               obo_verdict_name(obo_summary_worst(lines)),
               ap_escape_html(r->pool, auth_obo_status_version),
               ap_escape_html(r->pool, ap_get_server_description()), since_text(r, s),
               getpid());
    html_summary(r, lines);
    ap_rprintf(r, "<h2>Counters</h2>\n<p>%s</p>\n", !folded(r)
               ? "All rows (<a href=\"?\">fold the zero rows</a>)."
               : "Rows that are not zero (<a href=\"?all=1\">show all</a>).");
    html_table(r, s);
    ap_rputs("<h2>Identity provider latency</h2>\n", r);
    html_distributions(r, s);
    html_providers(r);
    ap_rputs("<p>Also as <a href=\"?format=json\">JSON</a> and "
             "<a href=\"?format=prometheus\">Prometheus</a>; "
             "<a href=\"?refresh=10\">refresh every 10 s</a>.</p>\n</body>\n</html>\n", r);
}

/* ---- health, for load balancers ------------------------------------------- */

/* 200 when this process of this virtual host can validate tokens now (a
 * provider has a key set; an old one, or another provider without one, is
 * "OK (degraded: ...)") and, where
 * requests use it, its token cache is attached; else 503 with the first
 * reason. One line of text, no token, claim or user: cheap enough to poll
 * every second (never a refresh; a provider without keys makes at most one
 * load attempt per retry backoff). */
/* Each provider's state; returns how many have keys. load: a provider
 * without keys may load them (or wait for a load in progress). */
static int health_scan(request_rec *r, const apr_array_header_t *pvs, int load,
                       const char **why, const char **what, const char **degraded)
{
    const char *note = NULL;
    apr_int64_t age = -1;
    int i, with_keys = 0;

    *why = NULL;
    *what = "";
    *degraded = NULL;
    for (i = 0; pvs && i < pvs->nelts; i++) {
        obo_provider *pv = APR_ARRAY_IDX(pvs, i, obo_provider *);
        /* the number the metrics and the HTML page give it (review 28B),
         * not its place among this virtual host's providers */
        int n = obo_provider_metrics_number(pv);

        if (obo_provider_health(pv, load, &age, &note) != APR_SUCCESS) {
            if (!*why) {
                *why = note;
                *what = apr_psprintf(r->pool, "identity provider %d: ", n ? n : i + 1);
            }
        }
        else {
            with_keys++;
            if (note && !*degraded) {
                *degraded = apr_psprintf(r->pool, "identity provider %d: %s", n ? n : i + 1,
                                         note);
            }
        }
    }
    return with_keys;
}

static int health_reply(request_rec *r)
{
    const auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config,
                                                      &auth_obo_module);
    const apr_array_header_t *pvs = sc->rt ? sc->rt->providers : NULL;
    const char *why = NULL, *what = "", *degraded = NULL;
    /* A lookup first; a load (or a wait for one) only when no provider has
     * keys: with one that has, the answer is 200 anyway, and a partner's
     * hanging IdP held every poll for its whole timeout (review 34A-F4). */
    int with_keys = health_scan(r, pvs, 0, &why, &what, &degraded);

    if (!with_keys) {
        with_keys = health_scan(r, pvs, 1, &why, &what, &degraded);
    }
    /* Several providers: one without keys (a partner's IdP down) leaves the
     * others' tokens valid here, as on every server of the pool; taking them
     * all out of the balancer would refuse those too (review 30B). */
    if (why && with_keys > 0) {
        degraded = apr_pstrcat(r->pool, what, why, NULL);
        why = NULL;
    }
    /* only where requests use the cache: a server that validates and
     * never exchanges has none (and needs none) */
    if (!why && (sc->uses_exchange || sc->introspects)
        && auth_obo_ival(sc->cache_type, CACHE_SHM) != CACHE_NONE && sc->rt && !sc->rt->cache) {
        why = "the token cache is unavailable in this process (OBO046)";
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/plain; charset=utf-8");
    if (why) {
        r->status = HTTP_SERVICE_UNAVAILABLE;
        ap_rprintf(r, "UNAVAILABLE: %s%s\n", what, why);
        return OK;
    }
    ap_rputs(degraded ? apr_psprintf(r->pool, "OK (degraded: %s)\n", degraded)
             : pvs && pvs->nelts ? "OK\n" : "OK (no identity provider in this virtual host)\n",
             r);
    return OK;
}

/* ---- what the counters cannot say ------------------------------------------ */

/* Every provider of the server (all virtual hosts), once each, as this
 * process holds its keys. */
static void live_providers(request_rec *r, apr_array_header_t *out)
{
    const server_rec *s;
    const auth_obo_srv_cfg *sc;
    obo_metrics_live_provider *lp;
    const apr_array_header_t *iss = NULL;
    obo_provider_view v;
    int i, j, n, seen;

    for (s = ap_server_conf; s; s = s->next) {
        sc = ap_get_module_config(s->module_config, &auth_obo_module);
        for (i = 0; sc->rt && sc->rt->providers && i < sc->rt->providers->nelts; i++) {
            obo_provider *pv = APR_ARRAY_IDX(sc->rt->providers, i, obo_provider *);

            n = obo_provider_metrics_number(pv);
            for (j = 0, seen = n < 1; !seen && j < out->nelts; j++) {
                seen = APR_ARRAY_IDX(out, j, obo_metrics_live_provider).number == n;
            }
            if (seen) {
                continue;
            }
            obo_provider_view_get(pv, r->pool, &v);
            lp = apr_array_push(out);
            lp->number = n;
            lp->nkeys = v.nkeys;
            lp->refresh = apr_time_sec(v.refresh);
            lp->age = v.fetched_at ? apr_time_sec(apr_time_now() - v.fetched_at) : -1;
            lp->unasked = v.unasked;
            lp->from = v.from == OBO_KEYS_IDP ? "the IdP"
                     : v.from == OBO_KEYS_FILE ? "its JWKS file"
                     : v.from == OBO_KEYS_SHARED ? "the shared cache (another process's fetch)"
                     : v.from == OBO_KEYS_STATE ? "the saved state (the IdP did not answer)"
                     : NULL;
            lp->kids = v.kids->nelts ? apr_array_pstrcat(r->pool, v.kids, ' ') : NULL;
            lp->issuers = obo_provider_known_issuers(pv, r->pool, &iss) == APR_SUCCESS
                          && iss && iss->nelts ? apr_array_pstrcat(r->pool, iss, ' ') : NULL;
            lp->next_refresh = v.next_refresh ? apr_time_sec(v.next_refresh - apr_time_now())
                                              : 0;
        }
    }
}

static void live_node(apr_array_header_t *out, const char *backend, const char *node, int up)
{
    obo_metrics_live_node *n;
    int j;

    for (j = 0; j < out->nelts; j++) {
        n = &APR_ARRAY_IDX(out, j, obo_metrics_live_node);
        if (!strcmp(n->backend, backend) && !strcmp(n->node, node)) {
            n->up = n->up && up;
            return;
        }
    }
    n = apr_array_push(out);
    n->backend = backend;
    n->node = node;
    n->up = up;
}

/* How long one page view or scrape may spend asking memcached nodes, and
 * each node at most: nodes that accept and never answer made a view take
 * seconds per node, past Prometheus' scrape timeout (review 31). */
#define PROBE_BUDGET apr_time_from_msec(1500)
#define PROBE_NODE_MAX apr_time_from_msec(300)

/* The token cache of every virtual host that uses one: each memcached
 * server asked now (once, whichever virtual hosts name it; within the
 * budget: those left are not listed);
 * shm is up when this process has it attached. */
static void live_nodes(request_rec *r, apr_array_header_t *out, int *unasked)
{
    const server_rec *s;
    const auth_obo_srv_cfg *sc;
    apr_array_header_t *nodes;
    apr_time_t start = apr_time_now();
    apr_interval_time_t t;
    apr_array_header_t *todo = apr_array_make(r->pool, 4, sizeof(obo_memcached_node *));
    apr_array_header_t *waits = apr_array_make(r->pool, 4, sizeof(apr_interval_time_t));
    static apr_uint32_t turn;   /* where this process's next view starts asking */
    int i, j, k, type, seen, n0;

    for (s = ap_server_conf; s; s = s->next) {
        sc = ap_get_module_config(s->module_config, &auth_obo_module);
        type = auth_obo_ival(sc->cache_type, CACHE_SHM);
        if (!(sc->uses_exchange || sc->introspects || sc->uses_sessions || sc->uses_dpop)
            || type == CACHE_NONE) {
            continue;
        }
        if (type == CACHE_SHM) {
            live_node(out, "shm", "shm", sc->rt && sc->rt->cache);
            continue;
        }
        t = apr_time_from_msec(auth_obo_ival(sc->cache_timeout_ms, 200));
        t = t < PROBE_NODE_MAX ? t : PROBE_NODE_MAX;
        /* listed, not asked: each node is asked below, once */
        obo_memcached_probe(r->pool, sc->cache_servers, -1, &nodes);
        for (j = 0; j < nodes->nelts; j++) {
            obo_memcached_node *n = &APR_ARRAY_IDX(nodes, j, obo_memcached_node);
            for (k = 0, seen = 0; !seen && k < todo->nelts; k++) {
                seen = !strcmp(APR_ARRAY_IDX(todo, k, obo_memcached_node *)->name, n->name);
            }
            if (!seen) {
                APR_ARRAY_PUSH(todo, obo_memcached_node *) = n;
                APR_ARRAY_PUSH(waits, apr_interval_time_t) = t;
            }
        }
    }
    /* Past the budget a node is not asked, and not listed: said down it
     * would raise a false alert (review 32); counted as not asked. Each
     * view starts one node further, so that every node is asked in turn
     * however many hang (review 33B-F6). */
    n0 = todo->nelts ? (int)(apr_atomic_inc32(&turn) % (apr_uint32_t)todo->nelts) : 0;
    for (i = 0; i < todo->nelts; i++) {
        j = (n0 + i) % todo->nelts;
        if (apr_time_now() - start < PROBE_BUDGET) {
            const char *name = APR_ARRAY_IDX(todo, j, obo_memcached_node *)->name;
            live_node(out, "memcached", name, obo_memcached_node_answers(
                          name, APR_ARRAY_IDX(waits, j, apr_interval_time_t)));
        }
        else {
            (*unasked)++;
        }
    }
}

static void status_live(request_rec *r, obo_metrics_live *live)
{
    server_rec *s;
    auth_obo_srv_cfg *sc;
    apr_array_header_t *pv = apr_array_make(r->pool, 4, sizeof(obo_metrics_live_provider));
    apr_array_header_t *nodes = apr_array_make(r->pool, 4, sizeof(obo_metrics_live_node));

    live_providers(r, pv);
    live->unasked = 0;
    live_nodes(r, nodes, &live->unasked);
    live->providers = (const obo_metrics_live_provider *)pv->elts;
    live->nproviders = pv->nelts;
    live->nodes = (const obo_metrics_live_node *)nodes->elts;
    live->nnodes = nodes->nelts;
    /* Shown where sessions start (OBOLongRunning) or once this server
     * served one (a server with only the obo-token handler). */
    for (s = ap_server_conf; s && !obo_ledger_used(); s = s->next) {
        sc = ap_get_module_config(s->module_config, &auth_obo_module);
        if (sc->uses_sessions) {
            break;
        }
    }
    live->sessions_live = s || obo_ledger_used()
                          ? obo_ledger_count(apr_time_now(), &live->sessions_full) : -1;
}

static int status_handler(request_rec *r)
{
    obo_metrics_snapshot s;
    obo_metrics_live live;
    int fmt;

    if (!r->handler || strcmp(r->handler, STATUS_HANDLER)) {
        return DECLINED;
    }
    /* httpd's Allow header comes from allowed_methods, not r->allowed */
    ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
    if (r->method_number != M_GET) {
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    fmt = wanted_format(r);
    if (fmt == FMT_BAD) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO141: obo-status: unknown format, "
                      "or two that differ (use one format=html, json, prometheus or "
                      "health)");
        return HTTP_BAD_REQUEST;
    }
    if (fmt == FMT_HEALTH) {
        return health_reply(r);
    }
    if (!obo_metrics_attached()) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "OBO142: obo-status: no shared metrics "
                      "(see OBO140 at startup)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    obo_metrics_read(&s);
    obo_metrics_window(&s, apr_time_now());
    status_live(r, &live);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (fmt == FMT_PROM) {
        ap_set_content_type(r, PROM_TYPE);
        ap_rputs(obo_metrics_prometheus(r->pool, &s, &live, auth_obo_status_version), r);
    }
    else if (fmt == FMT_JSON) {
        const char *j = obo_metrics_json(r->pool, &s, &live, auth_obo_status_version);
        if (!j) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        ap_set_content_type(r, "application/json");
        ap_rputs(j, r);
        ap_rputs("\n", r);
    }
    else {
        html_page(r, &s, &live);
    }
    return OK;
}

/* ---- mod_status ------------------------------------------------------------- */

static void status_short(request_rec *r, const obo_metrics_snapshot *s)
{
    static const char *const results[] = { "Accepted", "NoToken", "InvalidToken",
                                           "InsufficientScope", "NoKeys", "Preflight",
                                           "InvalidRequest", "StepUp" };
    static const obo_metric counters[] = { OBO_M_REQ_ACCEPTED, OBO_M_REQ_NO_TOKEN,
                                           OBO_M_REQ_INVALID_TOKEN,
                                           OBO_M_REQ_INSUFFICIENT_SCOPE, OBO_M_REQ_NO_KEYS,
                                           OBO_M_REQ_PREFLIGHT, OBO_M_REQ_INVALID_REQUEST,
                                           OBO_M_REQ_STEP_UP };
    apr_uint64_t idp = 0;
    int i, j;

    for (i = 0; i < (int)(sizeof(counters) / sizeof(counters[0])); i++) {
        ap_rprintf(r, "AuthOBORequests%s: %" APR_UINT64_T_FMT "\n", results[i],
                   s->c[counters[i]]);
    }
    ap_rprintf(r, "AuthOBOCacheL1Hits: %" APR_UINT64_T_FMT "\n"
               "AuthOBOCacheL1Misses: %" APR_UINT64_T_FMT "\n"
               "AuthOBOCacheSharedHits: %" APR_UINT64_T_FMT "\n"
               "AuthOBOCacheSharedMisses: %" APR_UINT64_T_FMT "\n",
               s->c[OBO_M_CACHE_L1_HIT], s->c[OBO_M_CACHE_L1_MISS],
               s->c[OBO_M_CACHE_SHARED_HIT], s->c[OBO_M_CACHE_SHARED_MISS]);
    for (i = 0; i < OBO_M_ENDPOINTS; i++) {
        for (j = 0; j < OBO_M_OUTCOMES; j++) {
            idp += s->idp[i][j];
        }
    }
    ap_rprintf(r, "AuthOBOValidatedTokenCacheHits: %" APR_UINT64_T_FMT "\n"
               "AuthOBOValidatedTokenCacheMisses: %" APR_UINT64_T_FMT "\n"
               "AuthOBOValidatedTokenCacheDeferred: %" APR_UINT64_T_FMT "\n",
               s->c[OBO_M_VCACHE_HIT], s->c[OBO_M_VCACHE_MISS], s->c[OBO_M_VCACHE_DEFERRED]);
    ap_rprintf(r, "AuthOBOIdPRequests: %" APR_UINT64_T_FMT "\n"
               "AuthOBOJWKSRefreshes: %" APR_UINT64_T_FMT "\n",
               idp, s->c[OBO_M_JWKS_REFRESH]);
    ap_rprintf(r, "AuthOBOKeySetsFromSharedCache: %" APR_UINT64_T_FMT "\n"
               "AuthOBOKeySetsFromStateFile: %" APR_UINT64_T_FMT "\n",
               s->c[OBO_M_KEYS_FROM_SHARED], s->c[OBO_M_KEYS_FROM_STATE]);
    ap_rprintf(r, "AuthOBOIntrospectionCacheL1Hits: %" APR_UINT64_T_FMT "\n"
               "AuthOBOIntrospectionCacheL1Misses: %" APR_UINT64_T_FMT "\n"
               "AuthOBOIntrospectionCacheSharedHits: %" APR_UINT64_T_FMT "\n"
               "AuthOBOIntrospectionCacheSharedMisses: %" APR_UINT64_T_FMT "\n",
               s->c[OBO_M_INTRO_L1_HIT], s->c[OBO_M_INTRO_L1_MISS], s->c[OBO_M_INTRO_SHARED_HIT],
               s->c[OBO_M_INTRO_SHARED_MISS]);
    ap_rprintf(r, "AuthOBOShmCacheWrites: %" APR_UINT64_T_FMT "\n"
               "AuthOBOShmLocksDisplaced: %" APR_UINT64_T_FMT "\n",
               s->c[OBO_M_SHM_WRITES], s->c[OBO_M_SHM_LOCKS_DISPLACED]);
}

static int status_hook(request_rec *r, int flags)
{
    obo_metrics_snapshot s;

    if (!obo_metrics_attached()) {
        return OK;
    }
    obo_metrics_read(&s);
    if (flags & AP_STATUS_SHORT) {
        status_short(r, &s);
    }
    else {
        ap_rprintf(r, "<hr />\n<h2>mod_auth_obo</h2>\n<p>Counting since %s, over all "
                   "processes of this server.</p>\n", since_text(r, &s));
        html_table(r, &s);
        html_distribution(r, "mod_auth_obo: token endpoint request durations", s.bucket);
    }
    return OK;
}

void auth_obo_register_status(apr_pool_t *p)
{
    ap_hook_post_config(status_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL, APR_HOOK_MIDDLE);
}
