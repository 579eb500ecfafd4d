/* SPDX-License-Identifier: Apache-2.0 */
/* obo_metrics: counting into a shared block from several processes, the
 * block's survival of a re-attach (a graceful restart), the outcome
 * classes, the histogram and the two text outputs. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_metrics.h"
#include "obo_summary.h"

#define KIDS 4
#define PER_KID 10000

static void test_noop(apr_pool_t *p)
{
    obo_metrics_snapshot s;

    obo_metrics_detach();
    obo_metrics_inc(OBO_M_REQ_ACCEPTED);
    obo_metrics_idp(OBO_M_EP_TOKEN, OBO_M_OK, apr_time_now());
    obo_metrics_read(&s);
    ok(!obo_metrics_attached() && s.c[OBO_M_REQ_ACCEPTED] == 0 && s.bucket[0] == 0,
       "without a block, counting is a no-op");
    ok(obo_metrics_attach(apr_pcalloc(p, 8), 8) == APR_EINVAL, "a block too small is refused");
}

static void test_processes(apr_pool_t *p)
{
    apr_shm_t *shm = NULL;
    obo_metrics_snapshot s;
    void *base;
    int i, status, all_ok = 1;
    pid_t kid[KIDS];

    ok(apr_shm_create(&shm, obo_metrics_size(), NULL, p) == APR_SUCCESS, "anonymous shm");
    base = apr_shm_baseaddr_get(shm);
    ok(obo_metrics_attach(base, obo_metrics_size()) == APR_SUCCESS, "attach");
    for (i = 0; i < KIDS; i++) {
        kid[i] = fork();
        if (kid[i] == 0) {
            int n;
            for (n = 0; n < PER_KID; n++) {
                obo_metrics_inc(OBO_M_CACHE_L1_HIT);
                obo_metrics_hit(OBO_M_CACHE_SHARED, n % 2);
            }
            _exit(0);
        }
    }
    for (i = 0; i < KIDS; i++) {
        all_ok = all_ok && kid[i] > 0 && waitpid(kid[i], &status, 0) == kid[i]
                 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ok(all_ok, "%d processes counted", KIDS);
    obo_metrics_read(&s);
    is_int(s.c[OBO_M_CACHE_L1_HIT], KIDS * PER_KID, "no increment lost across processes");
    is_int(s.c[OBO_M_CACHE_SHARED_HIT], KIDS * PER_KID / 2, "hits: odd lookups");
    is_int(s.c[OBO_M_CACHE_SHARED_MISS], KIDS * PER_KID / 2, "misses: even lookups");

    /* A new generation attaches to the kept block: the figures stay. */
    obo_metrics_detach();
    ok(obo_metrics_attach(base, obo_metrics_size()) == APR_SUCCESS, "re-attach");
    obo_metrics_inc(OBO_M_CACHE_L1_HIT);
    obo_metrics_read(&s);
    is_int(s.c[OBO_M_CACHE_L1_HIT], KIDS * PER_KID + 1, "figures survive a re-attach");
    obo_metrics_detach();
    apr_shm_destroy(shm);
}

static void test_outcomes(apr_pool_t *p)
{
    is_int(obo_metrics_http_outcome(APR_SUCCESS, 200), OBO_M_OK, "200 ok");
    is_int(obo_metrics_http_outcome(APR_SUCCESS, 404), OBO_M_CLIENT_ERROR, "404");
    is_int(obo_metrics_http_outcome(APR_SUCCESS, 429), OBO_M_SERVER_ERROR, "429");
    is_int(obo_metrics_http_outcome(APR_SUCCESS, 503), OBO_M_SERVER_ERROR, "503");
    is_int(obo_metrics_http_outcome(APR_SUCCESS, 302), OBO_M_SERVER_ERROR, "302 (unusable)");
    is_int(obo_metrics_http_outcome(APR_TIMEUP, 0), OBO_M_TIMEOUT, "timeout");
    is_int(obo_metrics_http_outcome(APR_ECONNREFUSED, 0), OBO_M_NETWORK, "refused");
    (void)p;
}

/* The histogram buckets: bounds are inclusive (le). */
static void test_histogram(apr_pool_t *p)
{
    void *mem = apr_pcalloc(p, obo_metrics_size());
    obo_metrics_snapshot s;
    apr_time_t now = apr_time_now();
    char *text;

    obo_metrics_attach(mem, obo_metrics_size());
    obo_metrics_idp(OBO_M_EP_TOKEN, OBO_M_OK, now - apr_time_from_msec(30));
    obo_metrics_idp(OBO_M_EP_TOKEN, OBO_M_USER_ERROR, now - apr_time_from_sec(20));
    obo_metrics_idp(OBO_M_EP_JWKS, OBO_M_OK, now - apr_time_from_sec(20));
    obo_metrics_read(&s);
    is_int(s.idp[OBO_M_EP_TOKEN][OBO_M_OK], 1, "token ok");
    is_int(s.idp[OBO_M_EP_TOKEN][OBO_M_USER_ERROR], 1, "token user_error");
    is_int(s.idp[OBO_M_EP_JWKS][OBO_M_OK], 1, "jwks ok");
    is_int(s.bucket[3], 1, "30 ms in the 0.05 bucket");
    is_int(s.bucket[OBO_M_BUCKETS], 1, "20 s in +Inf: only token requests are timed");
    ok(s.sum_usec >= 20030000 && s.sum_usec < 21000000, "sum about 20.03 s");
    text = obo_metrics_prometheus(p, &s, NULL, "1.2\"x\\y\nz");
    ok(strstr(text, "mod_auth_obo_idp_request_duration_seconds_bucket{le=\"0.025\"} 0\n")
       && strstr(text, "mod_auth_obo_idp_request_duration_seconds_bucket{le=\"0.05\"} 1\n")
       && strstr(text, "mod_auth_obo_idp_request_duration_seconds_bucket{le=\"10\"} 1\n")
       && strstr(text, "mod_auth_obo_idp_request_duration_seconds_bucket{le=\"+Inf\"} 2\n")
       && strstr(text, "mod_auth_obo_idp_request_duration_seconds_count 2\n"),
       "cumulative buckets, +Inf is the count");
    ok(strstr(text, "mod_auth_obo_build_info{version=\"1.2\\\"x\\\\y\\nz\"} 1\n") != NULL,
       "label value escaping");
    ok(strstr(text, "mod_auth_obo_idp_requests_total{endpoint=\"jwks\",outcome=\"ok\"} 1\n")
       != NULL, "idp requests by endpoint and outcome");
    text = obo_metrics_json(p, &s, NULL, "1.2");
    ok(text && strstr(text, "\"+Inf\":2") && strstr(text, "\"version\":\"1.2\""),
       "JSON: %s", text ? "histogram and version" : "NULL");
    obo_metrics_detach();
}

/* Per provider and endpoint: last success, last failure with its message
 * id, durations and their quantiles; the live gauges. */
static void test_provider_state(apr_pool_t *p)
{
    void *mem = apr_pcalloc(p, obo_metrics_size());
    obo_metrics_snapshot s;
    apr_time_t now = apr_time_now();
    obo_metrics_live_provider lp[1] = { { 2, 125, 3, 3600, "the IdP", "k1 k2 k3", NULL, 60, 0 } };
    obo_metrics_live_node ln[2] = { { "memcached", "127.0.0.1:1", 0 },
                                    { "memcached", "a\"b:2", 1 } };
    obo_metrics_live live = { lp, 1, ln, 2, 0, 7, 0 };
    apr_uint64_t b[OBO_M_BUCKETS + 1] = { 0 };
    char *text;
    int i;

    obo_metrics_attach(mem, obo_metrics_size());
    for (i = 0; i < 9; i++) {
        obo_metrics_provider_idp(2, OBO_M_EP_TOKEN, OBO_M_OK, now - apr_time_from_msec(30));
    }
    obo_metrics_provider_idp(2, OBO_M_EP_TOKEN, OBO_M_USER_ERROR, now - apr_time_from_sec(3));
    obo_metrics_provider_idp(2, OBO_M_EP_JWKS, OBO_M_OK, 0);
    obo_metrics_provider_failure_id(2, OBO_M_EP_JWKS, "OBO012");   /* unusable answer */
    obo_metrics_provider_idp(2, OBO_M_EP_DISCOVERY, OBO_M_NETWORK, now);
    obo_metrics_provider_failure_id(2, OBO_M_EP_DISCOVERY, "OBO010");
    obo_metrics_provider_idp(17, OBO_M_EP_TOKEN, OBO_M_OK, now);   /* not counted */
    obo_metrics_read(&s);
    ok(s.pep[1][OBO_M_EP_TOKEN].last_ok >= (apr_uint64_t)now
       && s.pep[1][OBO_M_EP_TOKEN].last_fail == 0, "a user's refusal counts as an answer");
    is_int(s.pep[1][OBO_M_EP_TOKEN].bucket[3], 9, "nine 30 ms answers in 0.05");
    is_int(s.pep[1][OBO_M_EP_TOKEN].bucket[9], 1, "one of 3 s in 5");
    ok(s.pep[1][OBO_M_EP_JWKS].last_fail > s.pep[1][OBO_M_EP_JWKS].last_ok,
       "an unusable JWKS after its HTTP success is the newer event");
    is_int((int)s.pep[1][OBO_M_EP_JWKS].fail_id, 12, "its message id");
    is_int((int)s.pep[1][OBO_M_EP_JWKS].fail_outcome, OBO_M_SERVER_ERROR, "as a server error");
    is_int((int)s.pep[1][OBO_M_EP_DISCOVERY].fail_outcome, OBO_M_NETWORK, "network");
    is_int((int)s.pep[1][OBO_M_EP_DISCOVERY].fail_id, 10, "OBO010");
    ok(s.pep[1][OBO_M_EP_DISCOVERY].last_ok == 0, "discovery never answered");
    /* 0.5 of ten observations: rank 5 of nine in (0.025, 0.05] */
    ok(obo_metrics_quantile(s.pep[1][OBO_M_EP_TOKEN].bucket, 0.5) > 0.025
       && obo_metrics_quantile(s.pep[1][OBO_M_EP_TOKEN].bucket, 0.5) < 0.05, "median");
    ok(obo_metrics_quantile(s.pep[1][OBO_M_EP_TOKEN].bucket, 0.95) > 2.5
       && obo_metrics_quantile(s.pep[1][OBO_M_EP_TOKEN].bucket, 0.95) <= 5, "p95 in (2.5, 5]");
    ok(obo_metrics_quantile(b, 0.5) < 0, "no observations: -1");
    b[OBO_M_BUCKETS] = 4;
    ok(obo_metrics_quantile(b, 0.5) == 10, "all in +Inf: its lower bound");

    text = obo_metrics_prometheus(p, &s, &live, "1");
    ok(strstr(text, "mod_auth_obo_idp_last_success_timestamp_seconds{provider=\"2\","
                    "endpoint=\"discovery\"} 0.000\n") != NULL, "never: 0");
    ok(strstr(text, "mod_auth_obo_idp_last_failure_timestamp_seconds{provider=\"2\","
                    "endpoint=\"token\"} 0.000\n") != NULL, "no failure: 0");
    ok(strstr(text, "mod_auth_obo_provider_idp_request_duration_seconds_count{provider=\"2\","
                    "endpoint=\"token\"} 10\n") != NULL, "per provider histogram");
    ok(strstr(text, "mod_auth_obo_provider_idp_request_duration_seconds_bucket{provider=\"2\","
                    "endpoint=\"token\",le=\"0.05\"} 9\n") != NULL, "cumulative");
    ok(strstr(text, "provider=\"17\"") == NULL, "no provider 17");
    ok(strstr(text, "mod_auth_obo_jwks_age_seconds{provider=\"2\"} 125\n")
       && strstr(text, "mod_auth_obo_jwks_keys{provider=\"2\"} 3\n")
       && strstr(text, "mod_auth_obo_jwks_refresh_interval_seconds{provider=\"2\"} 3600\n"),
       "key gauges");
    ok(strstr(text, "mod_auth_obo_cache_backend_up{backend=\"memcached\","
                    "node=\"127.0.0.1:1\"} 0\n")
       && strstr(text, "node=\"a\\\"b:2\"} 1\n"), "node gauges, escaped");
    ok(strstr(text, "mod_auth_obo_sessions_live 7\n") != NULL, "sessions live");
    text = obo_metrics_json(p, &s, &live, "1");
    ok(text && strstr(text, "\"last_failure_id\":\"OBO012\"")
       && strstr(text, "\"last_failure_outcome\":\"network\"")
       && strstr(text, "\"sessions_live\":7")
       && strstr(text, "\"age_seconds\":125") && strstr(text, "\"up\":false"),
       "JSON: %s", text ? text : "NULL");
    obo_metrics_detach();
}

/* A provider whose keys came from the shared cache asked no endpoint: the
 * endpoint families are not listed without samples (a strict parser
 * refuses a family with none). */
static void test_keys_only(apr_pool_t *p)
{
    void *mem = apr_pcalloc(p, obo_metrics_size());
    obo_metrics_snapshot s;
    const char *text;

    is_int(obo_metrics_attach(mem, obo_metrics_size()), APR_SUCCESS, "attached");
    obo_metrics_provider_keys(1, OBO_M_KS_SHARED);
    obo_metrics_read(&s);
    text = obo_metrics_prometheus(p, &s, NULL, "1");
    ok(strstr(text, "mod_auth_obo_provider_key_sets_total{provider=\"1\",source=\"shared_cache\"} 1\n")
       != NULL, "the key set is counted");
    ok(strstr(text, "last_success_timestamp_seconds") == NULL
       && strstr(text, "last_failure_timestamp_seconds") == NULL
       && strstr(text, "provider_idp_request_duration_seconds") == NULL,
       "no endpoint family without samples");
    obo_metrics_detach();
}

/* review 33B-F16: the requests verdict reads the traffic since the views'
 * older mark, so one 503 long ago no longer keeps the page degraded. */
static void test_window(apr_pool_t *p)
{
    void *mem = apr_pcalloc(p, obo_metrics_size());
    obo_metrics_snapshot s;
    apr_time_t t0 = apr_time_from_sec(1800000000);
    const obo_summary_line *l;
    int i;

    obo_metrics_attach(mem, obo_metrics_size());
    obo_metrics_inc(OBO_M_REQ_NO_KEYS);
    for (i = 0; i < 5; i++) {
        obo_metrics_inc(OBO_M_REQ_ACCEPTED);
    }
    obo_metrics_read(&s);
    obo_metrics_window(&s, t0);
    is_int(s.base_at, 0, "the first view marks the counters, with no older mark yet");
    l = &APR_ARRAY_IDX(obo_summary(p, &s, NULL, t0), 0, obo_summary_line);
    ok(l->verdict == OBO_V_DEGRADED && strstr(l->reason, "since the counters started"),
       "a 503 since the start: degraded (%s)", l->reason);
    for (i = 0; i < 10; i++) {
        obo_metrics_inc(OBO_M_REQ_ACCEPTED);
    }
    obo_metrics_read(&s);
    obo_metrics_window(&s, t0 + apr_time_from_sec(OBO_M_WINDOW_S + 1));
    ok(s.base_at == t0, "five minutes later: the older mark is the first view's");
    l = &APR_ARRAY_IDX(obo_summary(p, &s, NULL, t0 + apr_time_from_sec(OBO_M_WINDOW_S + 1)),
                       0, obo_summary_line);
    ok(l->verdict == OBO_V_OK && strstr(l->reason, "10 in the last")
       && strstr(l->reason, "100% accepted"), "since then only accepted: OK (%s)", l->reason);
    obo_metrics_read(&s);
    obo_metrics_window(&s, t0 + apr_time_from_sec(OBO_M_WINDOW_S + 30));
    ok(s.base_at == t0, "a view within the window keeps the marks");
    obo_metrics_detach();
}

/* The status page's verdicts from the same figures. */
static void test_summary(apr_pool_t *p)
{
    void *mem = apr_pcalloc(p, obo_metrics_size());
    obo_metrics_snapshot s;
    apr_time_t now = apr_time_now();
    obo_metrics_live_provider lp[2] = { { 1, 30, 3, 3600, "the saved state", "a b c", NULL, 0, 0 },
                                        { 2, -1, 0, 3600, NULL, NULL, NULL, 0, 0 } };
    obo_metrics_live_node ln[2] = { { "memcached", "10.0.0.1:11211", 1 },
                                    { "memcached", "10.0.0.2:11211", 0 } };
    obo_metrics_live live = { lp, 2, ln, 2, 0, -1, 0 };
    apr_array_header_t *lines;
    const obo_summary_line *l;
    int i, failing = 0, found = 0;

    obo_metrics_attach(mem, obo_metrics_size());
    obo_metrics_read(&s);
    lines = obo_summary(p, &s, NULL, now);
    l = &APR_ARRAY_IDX(lines, 0, obo_summary_line);
    ok(!strcmp(l->concern, "requests") && l->verdict == OBO_V_OK
       && strstr(l->reason, "no request"), "no requests: OK");
    for (i = 0; i < 7; i++) {
        obo_metrics_inc(OBO_M_REQ_INVALID_TOKEN);
    }
    obo_metrics_inc(OBO_M_REQ_ACCEPTED);
    obo_metrics_provider_idp(1, OBO_M_EP_TOKEN, OBO_M_OK, now);
    obo_metrics_provider_idp(1, OBO_M_EP_JWKS, OBO_M_NETWORK, 0);
    obo_metrics_provider_failure_id(1, OBO_M_EP_JWKS, "OBO012");
    obo_metrics_read(&s);
    lines = obo_summary(p, &s, &live, now);
    for (i = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        if (!strcmp(l->concern, "requests")) {
            found += l->verdict == OBO_V_DEGRADED && strstr(l->reason, "13% accepted")
                     && strstr(l->reason, "most refused: invalid_token (7)");
        }
        else if (!strcmp(l->concern, "identity provider 1 jwks")) {
            found += l->verdict == OBO_V_FAILING && strstr(l->reason, "OBO012") != NULL;
        }
        else if (!strcmp(l->concern, "identity provider 1 token")) {
            found += l->verdict == OBO_V_OK;
        }
        else if (!strcmp(l->concern, "keys of identity provider 1")) {
            found += l->verdict == OBO_V_OK && strstr(l->reason, "the saved state")
                     && strstr(l->reason, "(a b c)");
        }
        else if (!strcmp(l->concern, "keys of identity provider 2")) {
            found += l->verdict == OBO_V_FAILING;
        }
        else if (!strcmp(l->concern, "token cache")) {
            found += l->verdict == OBO_V_DEGRADED && strstr(l->reason, "down: 10.0.0.2:11211");
        }
        failing += l->verdict == OBO_V_FAILING;
    }
    is_int(found, 6, "each concern's verdict and reason");
    /* review 31: keys older than three refresh intervals in a process
     * without requests (no refresh tried): OK; with failing refreshes:
     * degraded */
    lp[0].age = 4 * 3600;
    lines = obo_summary(p, &s, &live, now);
    for (i = 0, found = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        found += !strcmp(l->concern, "keys of identity provider 1") && l->verdict == OBO_V_DEGRADED;
    }
    is_int(found, 1, "old keys, their JWKS refresh failing: degraded");
    obo_metrics_provider_idp(1, OBO_M_EP_JWKS, OBO_M_OK, 0);
    obo_metrics_read(&s);
    lines = obo_summary(p, &s, &live, now);
    for (i = 0, found = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        found += !strcmp(l->concern, "keys of identity provider 1") && l->verdict == OBO_V_OK;
    }
    is_int(found, 1, "as old, the last refresh answered: OK");
    is_int(failing, 2, "two failing lines");
    ok(obo_summary_worst(lines) == OBO_V_FAILING, "the worst: failing");
    /* review 39A-F2: no keys because none was needed yet (OBOPreloadKeys
     * off): not failing, and no age gauge for the OBONoKeySet alert */
    lp[1].unasked = 1;
    lines = obo_summary(p, &s, &live, now);
    for (i = 0, found = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        found += !strcmp(l->concern, "keys of identity provider 2") && l->verdict == OBO_V_OK
                 && strstr(l->reason, "not loaded in this process yet");
    }
    is_int(found, 1, "a provider not needed yet: OK, said so");
    {
        const char *txt = obo_metrics_prometheus(p, &s, &live, "1");
        ok(strstr(txt, "mod_auth_obo_jwks_age_seconds{provider=\"2\"}") == NULL
           && strstr(txt, "mod_auth_obo_jwks_keys{provider=\"2\"}") == NULL
           && strstr(txt, "mod_auth_obo_jwks_refresh_interval_seconds{provider=\"2\"}")
              != NULL,
           "... and no jwks_age_seconds or jwks_keys sample for it (review 40B-F10)");
    }
    {
        /* every provider not needed yet: no age family at all (a HELP and
         * TYPE without samples failed the strict checker in t/75) */
        obo_metrics_live_provider one = lp[1];
        obo_metrics_live solo = live;
        const char *txt;

        solo.providers = &one;
        solo.nproviders = 1;
        txt = obo_metrics_prometheus(p, &s, &solo, "1");
        ok(strstr(txt, "mod_auth_obo_jwks_age_seconds") == NULL,
           "no provider with an age: the family is left out, HELP and TYPE too");
    }
    lp[0].unasked = 1;
    {
        const char *txt = obo_metrics_prometheus(p, &s, &live, "1");
        ok(strstr(txt, "# TYPE mod_auth_obo_jwks_keys ") == NULL
           && strstr(txt, "# TYPE mod_auth_obo_jwks_age_seconds ") == NULL
           && strstr(txt, "mod_auth_obo_jwks_refresh_interval_seconds{provider=\"1\"}") != NULL,
           "no provider loaded yet: no jwks_keys or jwks_age_seconds family without samples");
    }
    lp[0].unasked = 0;
    lp[1].unasked = 0;
    /* review 33B-F6: every node asked is down, but some were not asked in
     * this view (time budget): degraded, counted; all asked down and none
     * left: failing */
    ln[0].up = 0;
    live.unasked = 3;
    lines = obo_summary(p, &s, &live, now);
    for (i = 0, found = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        found += !strcmp(l->concern, "token cache") && l->verdict == OBO_V_DEGRADED
                 && strstr(l->reason, "5 node(s)") && strstr(l->reason, "3 not asked");
    }
    is_int(found, 1, "nodes not asked: degraded, 5 nodes, 3 not asked");
    live.unasked = 0;
    lines = obo_summary(p, &s, &live, now);
    for (i = 0, found = 0; i < lines->nelts; i++) {
        l = &APR_ARRAY_IDX(lines, i, obo_summary_line);
        found += !strcmp(l->concern, "token cache") && l->verdict == OBO_V_FAILING;
    }
    is_int(found, 1, "every node asked and down: failing");
    obo_metrics_detach();
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_noop);
    TAP_RUN(test_processes);
    TAP_RUN(test_outcomes);
    TAP_RUN(test_histogram);
    TAP_RUN(test_provider_state);
    TAP_RUN(test_keys_only);
    TAP_RUN(test_window);
    TAP_RUN(test_summary);
    return tap_done();
}
