/* SPDX-License-Identifier: Apache-2.0 */
/* Per-process objects under threads, as two virtual hosts use them in one
 * worker/event child: two caches and two providers created from ONE pool
 * (the child pool), hammered by several threads at once. Nothing on the
 * request path may allocate from that shared pool (each object's mutex
 * covers only its own users); this test checks that directly, and
 * scripts/helgrind.sh runs it under helgrind to show no race is left. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <apr_atomic.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "tap.h"
#include "testkeys.h"
#include "obo_cache.h"
#include "obo_log.h"
#include "obo_provider.h"

#define NTHREADS 4      /* two per cache and provider */
#define ITERATIONS 150

/* ---- a small HTTPS server (the module's client speaks https only):
 * discovery documents that change on every fetch (so providers keep copying
 * new values) and one JWKS */

static SSL_CTX *srv_tls;
static char srv_ca[] = "/tmp/obo-threads-ca-XXXXXX";

/* A certificate for 127.0.0.1, self-signed, that the providers trust
 * through ca_file. */
static int srv_tls_make(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    FILE *f;
    int fd = mkstemp(srv_ca);

    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, k, EVP_sha256());
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        PEM_write_X509(f, x);
        fclose(f);
    }
    srv_tls = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(srv_tls, x);
    SSL_CTX_use_PrivateKey(srv_tls, k);
    X509_free(x);
    return f ? 0 : -1;
}

typedef struct server {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;     /* guards stop */
    int stop;
    const char *jwks;
    unsigned served;
} server;

static void srv_reply(server *s, SSL *c)
{
    char req[2048], path[256], body[1024], *out = NULL;
    size_t have = 0;
    int n;

    req[0] = '\0';
    while (have < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
        n = SSL_read(c, req + have, (int)(sizeof(req) - 1 - have));
        if (n <= 0) {
            return;
        }
        have += (size_t)n;
        req[have] = '\0';
    }
    path[0] = '\0';
    sscanf(req, "GET %255s", path);
    s->served++;
    if (strcmp(path, "/jwks") == 0) {
        snprintf(body, sizeof(body), "%s", s->jwks);
    }
    else {
        /* "/a/meta" or "/b/meta": a new token_endpoint every time */
        snprintf(body, sizeof(body), "{\"issuer\":\"https://%c.test\",\"jwks_uri\":"
                 "\"https://127.0.0.1:%d/jwks\",\"token_endpoint\":\"https://%c.test/t/%u\"}",
                 path[1], s->port, path[1], s->served);
    }
    n = asprintf(&out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
    if (n > 0) {
        SSL_write(c, out, n);
        free(out);
    }
}

static void srv_serve(server *s, int fd)
{
    SSL *ssl = SSL_new(srv_tls);

    if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
        srv_reply(s, ssl);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
}

static int srv_stopping(server *s)
{
    int stop;

    pthread_mutex_lock(&s->mu);
    stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void *srv_main(void *data)
{
    server *s = data;
    int c;

    while (!srv_stopping(s)) {
        c = accept(s->fd, NULL, NULL);
        if (c >= 0) {
            if (!srv_stopping(s)) {
                srv_serve(s, c);
            }
            close(c);
        }
    }
    return NULL;
}

static int srv_start(server *s, const char *jwks)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->jwks = jwks;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 64) != 0
        || getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(server *s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, (struct sockaddr *)&a, sizeof(a));   /* wakes accept() */
    close(fd);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    close(s->fd);
}

/* ---- a thread-safe in-memory backend: fixed slots, malloc'd values */

#define MEM_SLOTS 4096

typedef struct mem_entry {
    char *key;
    unsigned char *val;
    apr_size_t len;
} mem_entry;

typedef struct mem_be {
    obo_cache_backend be;
    pthread_mutex_t mu;
    mem_entry e[MEM_SLOTS];
} mem_be;

static mem_entry *mem_find(mem_be *m, const char *key, int create)
{
    int i;

    for (i = 0; i < MEM_SLOTS && m->e[i].key; i++) {
        if (strcmp(m->e[i].key, key) == 0) {
            return &m->e[i];
        }
    }
    if (create && i < MEM_SLOTS) {
        m->e[i].key = strdup(key);
        return &m->e[i];
    }
    return NULL;
}

static apr_status_t mem_get(void *ctx, apr_pool_t *p, const char *key,
                            unsigned char **val, apr_size_t *len)
{
    mem_be *m = ctx;
    mem_entry *e;
    apr_status_t rv = APR_NOTFOUND;

    pthread_mutex_lock(&m->mu);
    e = mem_find(m, key, 0);
    if (e && e->val) {
        *val = apr_pmemdup(p, e->val, e->len);
        *len = e->len;
        rv = APR_SUCCESS;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static apr_status_t mem_put(mem_be *m, const char *key, const unsigned char *val,
                            apr_size_t len, int only_new)
{
    mem_entry *e;
    apr_status_t rv = APR_ENOSPC;

    pthread_mutex_lock(&m->mu);
    e = mem_find(m, key, 1);
    if (e && only_new && e->val) {
        rv = APR_EEXIST;
    }
    else if (e) {
        free(e->val);
        e->val = malloc(len ? len : 1);
        memcpy(e->val, val, len);
        e->len = len;
        rv = APR_SUCCESS;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static apr_status_t mem_set(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    return mem_put(ctx, key, val, len, 0);
}

static apr_status_t mem_add(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    return mem_put(ctx, key, val, len, 1);
}

static apr_status_t mem_del(void *ctx, apr_pool_t *p, const char *key)
{
    mem_be *m = ctx;
    mem_entry *e;
    apr_status_t rv = APR_NOTFOUND;

    pthread_mutex_lock(&m->mu);
    e = mem_find(m, key, 0);
    if (e && e->val) {
        free(e->val);
        e->val = NULL;
        rv = APR_SUCCESS;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static apr_status_t mem_cleanup(void *data)
{
    mem_be *m = data;
    int i;

    for (i = 0; i < MEM_SLOTS; i++) {
        free(m->e[i].key);
        free(m->e[i].val);
    }
    pthread_mutex_destroy(&m->mu);
    return APR_SUCCESS;
}

/* The backend lives in its own pool: only the caches' pool is on trial. */
static mem_be *mem_create(apr_pool_t *p)
{
    mem_be *m = apr_pcalloc(p, sizeof(*m));

    pthread_mutex_init(&m->mu, NULL);
    m->be.name = "mem";
    m->be.get = mem_get;
    m->be.set = mem_set;
    m->be.add = mem_add;
    m->be.del = mem_del;
    m->be.ctx = m;
    apr_pool_cleanup_register(p, m, mem_cleanup, apr_pool_cleanup_null);
    return m;
}

/* ---- the hammer */

static apr_uint32_t fetches;

static apr_status_t fetch_fn(void *baton, apr_pool_t *p, char **val, apr_size_t *len,
                             apr_time_t *expiry, void **errval)
{
    const char *key = baton;

    apr_atomic_inc32(&fetches);
    *val = apr_pstrcat(p, key, "#v", NULL);
    *len = strlen(*val);
    *expiry = apr_time_now() + apr_time_from_sec(60);
    return APR_SUCCESS;
}

typedef struct worker {
    apr_thread_t *t;
    obo_cache *c;
    obo_provider *pv;
    char name;              /* 'a' or 'b': which cache and provider */
    int wrong, failed;
} worker;

static pthread_barrier_t start_line;

static void one_round(worker *w, apr_pool_t *tp, int i)
{
    const char *key = apr_psprintf(tp, "obo1:%c:%d", w->name, i), *url = NULL, *err = NULL;
    const apr_array_header_t *iss = NULL;
    apr_array_header_t *keys = NULL;
    char *val = NULL, want[16];
    apr_size_t len = 0;
    int hit = 0;

    /* Threads of one cache go through the same keys at about the same
     * time: in-process flights are created, joined and retired. */
    if (obo_cache_get_or_fetch(w->c, tp, key, NULL, fetch_fn, (void *)key, &val, &len, &hit,
                               NULL) != APR_SUCCESS) {
        w->failed++;
    }
    else if (!val || strcmp(val, apr_pstrcat(tp, key, "#v", NULL)) != 0) {
        w->wrong++;
    }
    /* A refresh is always due: one thread re-runs discovery and the JWKS
     * fetch while the others read the provider's values. */
    if (obo_provider_keys(w->pv, tp, "k1", "ES256", &keys, NULL, &err) != APR_SUCCESS
        || keys->nelts != 1
        || obo_provider_issuers(w->pv, tp, &iss, &err) != APR_SUCCESS
        || obo_provider_token_endpoint(w->pv, tp, &url, &err) != APR_SUCCESS) {
        w->failed++;
    }
    else {
        snprintf(want, sizeof(want), "https://%c", w->name);
        if (iss->nelts != 1 || strncmp(APR_ARRAY_IDX(iss, 0, const char *), want, 9) != 0
            || strncmp(url, want, 9) != 0) {
            w->wrong++;
        }
    }
}

static void *APR_THREAD_FUNC worker_run(apr_thread_t *t, void *data)
{
    worker *w = data;
    apr_pool_t *tp = NULL;
    int i;

    apr_pool_create_unmanaged_ex(&tp, NULL, NULL);
    pthread_barrier_wait(&start_line);
    for (i = 0; i < ITERATIONS; i++) {
        one_round(w, tp, i);
        apr_pool_clear(tp);
    }
    apr_pool_destroy(tp);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static void quiet(void *baton, obo_log_level level, const char *msgid, const char *msg)
{
    if (level <= OBO_LOG_WARN) {
        fprintf(stderr, "# %s %s\n", msgid, msg);
    }
}

/* Two of each, all from `child` (as child_init makes them), then used by
 * NTHREADS threads at once. The shared pool must not grow meanwhile: two
 * consecutive allocations from it, taken before and after the hammer, must
 * be adjacent. */
static void test_two_vhosts(apr_pool_t *p)
{
    static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    json_t *set = obo_json_pool(p, json_pack("{s:[O]}", "keys", tk_jwk(p, k, "k1")));
    apr_pool_t *child = NULL;
    obo_cache *c[2];
    obo_provider *pv[2];
    obo_provider_cfg cfg;
    obo_http *http = NULL;
    worker w[NTHREADS];
    server srv;
    char *m1, *m2, *m3;
    int i, wrong = 0, failed = 0;
    apr_status_t trv;

    ok(srv_tls_make(p) == 0, "self-signed server certificate");
    i = srv_start(&srv, obo_json_dump(p, set));
    ok(i == 0, "discovery/JWKS server on 127.0.0.1:%d", srv.port);
    apr_pool_create(&child, p);
    obo_http_create(child, &http);
    for (i = 0; i < 2; i++) {
        memset(&cfg, 0, sizeof(cfg));
        cfg.metadata_url = apr_psprintf(p, "https://127.0.0.1:%d/%c/meta", srv.port, 'a' + i);
        cfg.http.ca_file = srv_ca;
        cfg.jwks_refresh = 1;                       /* 1 us: refresh on every call */
        ok(obo_provider_create(child, &cfg, http, &pv[i]) == APR_SUCCESS, "provider %d", i);
        ok(obo_cache_create(child, &mem_create(p)->be, secret, sizeof(secret), &c[i])
           == APR_SUCCESS, "cache %d", i);
    }
    m1 = apr_palloc(child, 8);
    m2 = apr_palloc(child, 8);

    pthread_barrier_init(&start_line, NULL, NTHREADS);
    memset(w, 0, sizeof(w));
    for (i = 0; i < NTHREADS; i++) {
        w[i].c = c[i % 2];
        w[i].pv = pv[i % 2];
        w[i].name = (char)('a' + i % 2);
        apr_thread_create(&w[i].t, NULL, worker_run, &w[i], p);
    }
    for (i = 0; i < NTHREADS; i++) {
        apr_thread_join(&trv, w[i].t);
        wrong += w[i].wrong;
        failed += w[i].failed;
    }
    pthread_barrier_destroy(&start_line);
    m3 = apr_palloc(child, 8);

    is_int(failed, 0, "no call failed");
    is_int(wrong, 0, "every thread got its own cache's and provider's values");
    ok(apr_atomic_read32(&fetches) >= ITERATIONS * 2, "each key fetched (%u fetches for %d "
       "keys)", apr_atomic_read32(&fetches), ITERATIONS * 2);
    ok(m2 == m1 + 8, "marker allocations are adjacent (sanity)");
    ok(m3 == m2 + 8, "nothing on the request path allocated from the shared child pool");
    apr_pool_destroy(child);
    srv_stop(&srv);
    ok(srv.served > 4, "discovery and JWKS were refetched while in use (%u requests)",
       srv.served);
    SSL_CTX_free(srv_tls);
    unlink(srv_ca);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* SSL_write to a client that gave up */
    apr_initialize();
    obo_http_global_init();
    obo_log_set(quiet, NULL);
    TAP_RUN(test_two_vhosts);
    apr_terminate();
    return tap_done();
}
