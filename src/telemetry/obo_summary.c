/* SPDX-License-Identifier: Apache-2.0 */
/* Verdicts of the status page (see obo_summary.h). */
#include "obo_summary.h"

#include <string.h>
#include <apr_strings.h>

/* An endpoint that took longer than this at the 95th percentile makes every
 * cache miss wait: degraded. */
#define OBO_SLOW_P95_S 1.0
/* A failure this recent, even after an answer, is still worth a look. */
#define OBO_RECENT_FAILURE_S 300

static const char *const obo_results[] = {
    "accepted", "no_token", "invalid_token", "insufficient_scope", "no_keys",
    "invalid_request", "step_up"
};
static const obo_metric obo_result_counters[] = {
    OBO_M_REQ_ACCEPTED, OBO_M_REQ_NO_TOKEN, OBO_M_REQ_INVALID_TOKEN,
    OBO_M_REQ_INSUFFICIENT_SCOPE, OBO_M_REQ_NO_KEYS, OBO_M_REQ_INVALID_REQUEST,
    OBO_M_REQ_STEP_UP
};
#define OBO_NRESULTS ((int)(sizeof(obo_result_counters) / sizeof(obo_result_counters[0])))

const char *obo_verdict_name(obo_verdict v)
{
    return v == OBO_V_OK ? "OK" : v == OBO_V_DEGRADED ? "degraded" : "failing";
}

static void obo_line(apr_array_header_t *out, const char *concern, obo_verdict v,
                     const char *reason)
{
    obo_summary_line *l = apr_array_push(out);

    l->concern = concern;
    l->verdict = v;
    l->reason = reason;
}

/* "42 s", "7 min", "3 h", "2 d" */
static const char *obo_age(apr_pool_t *p, apr_int64_t s)
{
    s = s < 0 ? 0 : s;
    return s < 120 ? apr_psprintf(p, "%" APR_INT64_T_FMT " s", s)
         : s < 7200 ? apr_psprintf(p, "%" APR_INT64_T_FMT " min", s / 60)
         : s < 172800 ? apr_psprintf(p, "%" APR_INT64_T_FMT " h", s / 3600)
         : apr_psprintf(p, "%" APR_INT64_T_FMT " d", s / 86400);
}

static const char *obo_pct(apr_pool_t *p, apr_uint64_t part, apr_uint64_t whole)
{
    return whole ? apr_psprintf(p, "%.0f%%", 100.0 * (double)part / (double)whole) : "-";
}

/* Requests since the counters started: the accepted share, the top refusal. */
/* The verdict reads the traffic since the older mark of the views (5 to 10
 * minutes while someone looks), not since the start: one 503 long ago, or a
 * scanner's requests without a token last week, kept the page "degraded"
 * for good (review 33B-F16). */
static apr_uint64_t obo_recent(const obo_metrics_snapshot *s, int counter)
{
    return s->base_at ? s->c[counter] - s->base[counter] : s->c[counter];
}

static void obo_requests(apr_pool_t *p, apr_array_header_t *out, const obo_metrics_snapshot *s,
                         apr_time_t now)
{
    apr_uint64_t total = 0, refused = 0, top = 0, all = 0;
    const char *top_name = NULL, *span;
    obo_verdict v = OBO_V_OK;
    int i;

    span = s->base_at ? apr_psprintf(p, "in the last %s", obo_age(p, apr_time_sec(now
                                                               - s->base_at)))
                      : "since the counters started";
    for (i = 0; i < OBO_NRESULTS; i++) {
        all += s->c[obo_result_counters[i]];
    }
    for (i = 0; i < OBO_NRESULTS; i++) {
        apr_uint64_t n = obo_recent(s, obo_result_counters[i]);
        total += n;
        if (i > 0) {
            refused += n;
            if (n > top) {
                top = n;
                top_name = obo_results[i];
            }
        }
    }
    if (total == 0) {
        obo_line(out, "requests", OBO_V_OK, all ? apr_psprintf(p, "no request %s (%"
                                                               APR_UINT64_T_FMT " since the "
                                                               "counters started)", span, all)
                                                : "no request yet");
        return;
    }
    /* 503s are this server's failure, not the callers' */
    if (obo_recent(s, OBO_M_REQ_NO_KEYS) * 2 >= total) {
        v = OBO_V_FAILING;
    }
    else if (obo_recent(s, OBO_M_REQ_NO_KEYS) > 0 || refused * 2 >= total) {
        v = OBO_V_DEGRADED;
    }
    obo_line(out, "requests", v, apr_psprintf(
                 p, "%" APR_UINT64_T_FMT " %s, %s accepted%s%s%s",
                 total, span, obo_pct(p, obo_recent(s, OBO_M_REQ_ACCEPTED), total),
                 top_name ? "; most refused: " : "", top_name ? top_name : "",
                 top_name ? apr_psprintf(p, " (%" APR_UINT64_T_FMT ")", top) : ""));
}

/* One line per endpoint a provider has asked. */
static void obo_endpoints(apr_pool_t *p, apr_array_header_t *out, const obo_metrics_snapshot *s,
                          apr_time_t now)
{
    int i, j, k;

    for (i = 0; i < OBO_M_PROVIDERS; i++) {
        for (j = 0; j < OBO_M_ENDPOINTS; j++) {
            const obo_metrics_endpoint_state *e = &s->pep[i][j];
            apr_uint64_t asked = 0;
            double p50, p95;
            const char *lat, *concern, *fail;
            obo_verdict v = OBO_V_OK;

            for (k = 0; k < OBO_M_OUTCOMES; k++) {
                asked += s->pidp[i][j][k];
            }
            if (!asked) {
                continue;
            }
            p50 = obo_metrics_quantile(e->bucket, 0.5);
            p95 = obo_metrics_quantile(e->bucket, 0.95);
            lat = p50 >= 0 ? apr_psprintf(p, "; median %.0f ms, p95 %.0f ms", p50 * 1000,
                                          p95 * 1000) : "";
            concern = apr_psprintf(p, "identity provider %d %s", i + 1,
                                   obo_metrics_endpoint_name((obo_m_endpoint)j));
            fail = e->last_fail ? apr_psprintf(
                p, "%s%s%s %s ago", e->fail_id ? apr_psprintf(p, "OBO%03u",
                                                              (unsigned)e->fail_id) : "",
                e->fail_id ? ", " : "",
                obo_metrics_outcome_name((obo_m_outcome)e->fail_outcome),
                obo_age(p, apr_time_sec(now - (apr_time_t)e->last_fail))) : NULL;
            if (e->last_fail > e->last_ok) {
                obo_line(out, concern, OBO_V_FAILING, apr_psprintf(
                             p, "failing: last failure %s; %s%s", fail, e->last_ok
                             ? apr_psprintf(p, "last answer %s ago", obo_age(
                                   p, apr_time_sec(now - (apr_time_t)e->last_ok)))
                             : "no answer since the counters started", lat));
                continue;
            }
            if (p95 > OBO_SLOW_P95_S
                || (fail && now - (apr_time_t)e->last_fail
                            < apr_time_from_sec(OBO_RECENT_FAILURE_S))) {
                v = OBO_V_DEGRADED;
            }
            obo_line(out, concern, v, apr_psprintf(
                         p, "last answer %s ago%s%s%s", obo_age(
                             p, apr_time_sec(now - (apr_time_t)e->last_ok)), lat,
                         fail ? "; last failure " : "", fail ? fail : ""));
        }
    }
}

/* Old keys matter when refreshing them fails: a process without requests
 * does not refresh at all (review 31: the line and the alert fired for an
 * idle process, or a JWKS file). */
static int obo_jwks_failing(const obo_metrics_snapshot *s, int number)
{
    const obo_metrics_endpoint_state *e;

    if (number < 1 || number > OBO_M_PROVIDERS) {
        return 0;
    }
    e = &s->pep[number - 1][OBO_M_EP_JWKS];
    return e->last_fail > e->last_ok;
}

static void obo_keys(apr_pool_t *p, apr_array_header_t *out, const obo_metrics_snapshot *s,
                     const obo_metrics_live *l)
{
    int i, stale;

    for (i = 0; l && i < l->nproviders; i++) {
        const obo_metrics_live_provider *pv = &l->providers[i];
        const char *concern = apr_psprintf(p, "keys of identity provider %d", pv->number);
        const char *what;

        /* OBOPreloadKeys off: a process loads a provider's keys at its
         * first token; until then it has none, and nothing fails (review
         * 39A-F2: shown failing, and the OBONoKeySet alert fired) */
        if (pv->age < 0 && pv->unasked) {
            obo_line(out, concern, OBO_V_OK, "not loaded in this process yet: its keys load "
                     "at its first token (OBOPreloadKeys off)");
            continue;
        }
        if (pv->age < 0) {
            obo_line(out, concern, OBO_V_FAILING, "no key set in this process: its tokens "
                     "are answered 503 (OBO002)");
            continue;
        }
        what = apr_psprintf(p, "%d key(s)%s%s%s, from %s, %s %s ago; %s%s%s",
                            pv->nkeys, pv->kids ? " (" : "", pv->kids ? pv->kids : "",
                            pv->kids ? ")" : "", pv->from ? pv->from : "the IdP",
                            pv->from && strstr(pv->from, "file") ? "read"
                                                                 : "given by the IdP",
                            obo_age(p, pv->age), pv->next_refresh > 0
                            ? apr_psprintf(p, "next refresh in %s", obo_age(p, pv->next_refresh))
                            : "refresh due at the next request",
                            pv->issuers ? "; issuers " : "", pv->issuers ? pv->issuers : "");
        stale = pv->age > 3 * pv->refresh && obo_jwks_failing(s, pv->number);
        obo_line(out, concern, stale ? OBO_V_DEGRADED : OBO_V_OK, stale
                 ? apr_pstrcat(p, "older than three refresh intervals, and refreshing it "
                               "fails: ", what, NULL) : what);
    }
}

static void obo_cache_line(apr_pool_t *p, apr_array_header_t *out, const obo_metrics_snapshot *s,
                           const obo_metrics_live *l)
{
    const apr_uint64_t *c = s->c;
    const char *down = NULL, *backend = NULL;
    int i, ndown = 0;

    for (i = 0; l && i < l->nnodes; i++) {
        backend = l->nodes[i].backend;
        if (!l->nodes[i].up) {
            ndown++;
            down = down ? apr_pstrcat(p, down, ", ", l->nodes[i].node, NULL) : l->nodes[i].node;
        }
    }
    if (!backend) {
        return;     /* nothing here uses a token cache */
    }
    /* nodes not asked in this view may answer: never "failing" for them
     * (review 33B-F6) */
    obo_line(out, "token cache", ndown == 0 ? OBO_V_OK
             : ndown == l->nnodes && !l->unasked ? OBO_V_FAILING : OBO_V_DEGRADED, apr_psprintf(
                 p, "%s, %d node(s)%s%s%s%s; L1 hits %s, shared hits %s; %" APR_UINT64_T_FMT
                 " backend errors since the counters started", backend,
                 l->nnodes + l->unasked, down ? ", down: " : "", down ? down : "",
                 down ? "" : l->unasked ? ", all asked answer" : ", all answer",
                 l->unasked ? apr_psprintf(p, ", %d not asked in this view (time budget)",
                                           l->unasked) : "",
                 obo_pct(p, c[OBO_M_CACHE_L1_HIT], c[OBO_M_CACHE_L1_HIT] + c[OBO_M_CACHE_L1_MISS]),
                 obo_pct(p, c[OBO_M_CACHE_SHARED_HIT],
                         c[OBO_M_CACHE_SHARED_HIT] + c[OBO_M_CACHE_SHARED_MISS]),
                 c[OBO_M_BACKEND_ERROR_SHM] + c[OBO_M_BACKEND_ERROR_MEMCACHED]));
}

apr_array_header_t *obo_summary(apr_pool_t *p, const obo_metrics_snapshot *s,
                                const obo_metrics_live *live, apr_time_t now)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(obo_summary_line));
    const apr_uint64_t *c = s->c;

    obo_requests(p, out, s, now);
    obo_endpoints(p, out, s, now);
    obo_keys(p, out, s, live);
    obo_cache_line(p, out, s, live);
    if (c[OBO_M_SESSION_STARTED] || (live && live->sessions_live >= 0)) {
        obo_line(out, "long-running sessions", OBO_V_OK, apr_psprintf(
                     p, "%s%" APR_UINT64_T_FMT " started, %" APR_UINT64_T_FMT " ended, %"
                     APR_UINT64_T_FMT " ended by OBOSessionLimit, %" APR_UINT64_T_FMT
                     " found evicted, %" APR_UINT64_T_FMT " refused (hourly cap)",
                     live && live->sessions_live >= 0
                     ? apr_psprintf(p, "%s%" APR_INT64_T_FMT " live here; ",
                                    live->sessions_full ? "at least " : "",
                                    live->sessions_live) : "",
                     c[OBO_M_SESSION_STARTED], c[OBO_M_SESSION_ENDED], c[OBO_M_SESSION_LIMIT],
                     c[OBO_M_SESSION_EVICTED], c[OBO_M_SESSION_RATED]));
    }
    obo_line(out, "single flight", OBO_V_OK, apr_psprintf(
                 p, "%" APR_UINT64_T_FMT " request(s) waited for another's identity provider "
                 "call", c[OBO_M_SINGLE_FLIGHT_WAIT]));
    return out;
}

obo_verdict obo_summary_worst(const apr_array_header_t *lines)
{
    obo_verdict w = OBO_V_OK;
    int i;

    for (i = 0; lines && i < lines->nelts; i++) {
        obo_verdict v = APR_ARRAY_IDX(lines, i, obo_summary_line).verdict;
        w = v > w ? v : w;
    }
    return w;
}
