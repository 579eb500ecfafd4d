/* SPDX-License-Identifier: Apache-2.0 */
/* A profiling aid for the distinct-token path (issue 18), not a test and
 * not the benchmark: bench/run.sh measures the module in httpd. This runs
 * the core's validation (obo_validate_bearer with the L1 of validated
 * tokens, as the module does) over pre-signed distinct tokens in one
 * thread, and the signature check alone over the same tokens, and prints
 * the CPU microseconds per token of each, so that "everything else" is a
 * difference of two figures that other load on the machine hardly moves;
 * run it under `perf record` to see where that part goes.
 *
 *   validate_cpu JWKS_FILE ISSUER AUDIENCE TOKENS_FILE [ROUNDS]
 *
 * Built by `make bench/validate_cpu` (not installed, not run by make check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/evp.h>

#include "obo_b64.h"
#include "obo_http.h"
#include "obo_jws.h"
#include "obo_provider.h"
#include "obo_validate.h"
#include "obo_vcache.h"

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static apr_array_header_t *one(apr_pool_t *p, const char *v)
{
    apr_array_header_t *a = apr_array_make(p, 1, sizeof(const char *));

    APR_ARRAY_PUSH(a, const char *) = v;
    return a;
}

static apr_array_header_t *read_tokens(apr_pool_t *p, const char *path)
{
    apr_array_header_t *t = apr_array_make(p, 1024, sizeof(const char *));
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (!f) {
        perror(path);
        exit(2);
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n > 0) {
            APR_ARRAY_PUSH(t, const char *) = apr_pstrmemdup(p, line, n);
        }
    }
    free(line);
    fclose(f);
    return t;
}

int main(int argc, char **argv)
{
    apr_pool_t *p, *rp;
    obo_provider_cfg cfg;
    obo_provider *pv = NULL;
    obo_http *http = NULL;
    obo_vcache *l1 = NULL;
    obo_validate_opts o;
    apr_array_header_t *toks;
    obo_jws *jws = NULL;
    const char *err = NULL;
    double t0, full = 0, sig = 0;
    int i, r, rounds = argc > 5 ? atoi(argv[5]) : 1, bad = 0;
    long n = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: %s JWKS_FILE ISSUER AUDIENCE TOKENS_FILE [ROUNDS]\n", argv[0]);
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    memset(&cfg, 0, sizeof(cfg));
    memset(&o, 0, sizeof(o));
    cfg.jwks_file = argv[1];
    cfg.issuers = one(p, argv[2]);
    obo_http_create(p, &http);
    if (obo_provider_create(p, &cfg, http, &pv) != APR_SUCCESS
        || obo_vcache_create(p, 4096, &l1) != APR_SUCCESS) {
        fprintf(stderr, "cannot set up the provider\n");
        return 1;
    }
    o.algs = obo_validate_default_algs();
    o.audiences = one(p, argv[3]);
    o.skew = 300;
    o.validated = l1;
    toks = read_tokens(p, argv[4]);
    apr_pool_create(&rp, p);
    /* the first call loads the key set: not counted */
    obo_validate_bearer(rp, pv, &o, APR_ARRAY_IDX(toks, 0, const char *),
                        strlen(APR_ARRAY_IDX(toks, 0, const char *)), &jws, &err);
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < toks->nelts; i++) {
            const char *tok = APR_ARRAY_IDX(toks, i, const char *);
            apr_pool_clear(rp);
            t0 = cpu_now();
            bad += obo_validate_bearer(rp, pv, &o, tok, strlen(tok), &jws, &err) != APR_SUCCESS;
            full += cpu_now() - t0;
            n++;
        }
    }
    /* the signature alone: the same bytes, the same key, one verification */
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < toks->nelts; i++) {
            const char *tok = APR_ARRAY_IDX(toks, i, const char *);
            const char *dot = strrchr(tok, '.');
            apr_array_header_t *keys = NULL;
            unsigned long gen = 0;
            obo_jws *j = NULL;

            apr_pool_clear(rp);
            if (obo_jws_parse(rp, tok, strlen(tok), &j, &err) != APR_SUCCESS
                || obo_provider_keys(pv, rp, j->kid, j->alg, &keys, &gen, &err) != APR_SUCCESS
                || keys->nelts < 1 || !dot) {
                bad++;
                continue;
            }
            t0 = cpu_now();
            bad += obo_jws_verify(rp, j, APR_ARRAY_IDX(keys, 0, const obo_jwk *), &err)
                   != APR_SUCCESS;
            sig += cpu_now() - t0;
        }
    }
    printf("%ld validations, %d refused: %.2f us CPU each; signature alone %.2f us; "
           "everything else %.2f us\n", n, bad, full / n, sig / n, (full - sig) / n);
    apr_pool_destroy(p);
    apr_terminate();
    return bad ? 1 : 0;
}
