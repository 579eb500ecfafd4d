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
    text = obo_metrics_prometheus(p, &s, "1.2\"x\\y\nz");
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
    text = obo_metrics_json(p, &s, "1.2");
    ok(text && strstr(text, "\"+Inf\":2") && strstr(text, "\"version\":\"1.2\""),
       "JSON: %s", text ? "histogram and version" : "NULL");
    obo_metrics_detach();
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_noop);
    TAP_RUN(test_processes);
    TAP_RUN(test_outcomes);
    TAP_RUN(test_histogram);
    return tap_done();
}
