/* SPDX-License-Identifier: Apache-2.0 */
/* obo_exchange and obo_token against a real local HTTPS server: the exact
 * requests for both grants and all three client authentication methods,
 * success and error parsing, retry timing, timeouts, and token acquisition
 * through a real cache on a thread-safe in-memory backend; the gate to the
 * token endpoint (obo_guard) for every grant, long-running sessions too. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "tap.h"
#include "obo_b64.h"
#include "obo_cache.h"
#include "obo_crypto.h"
#include "obo_exchange.h"
#include "obo_guard.h"
#include "obo_http.h"
#include "obo_json.h"
#include "obo_log.h"
#include "obo_metrics.h"
#include "obo_session.h"
#include "obo_token.h"

#define USER_TOKEN "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl-user-token"
#define SECRET "p@ss w\xc3\xb6rd&=/+:%"
#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define OK_BODY "{\"token_type\":\"Bearer\",\"scope\":\"api://down/read\",\"expires_in\":3599," \
    "\"ext_expires_in\":3599,\"access_token\":\"downstream-AT-1\"," \
    "\"refresh_token\":\"downstream-RT-1\"}"
#define SRV_MAX 16

/* ---- a tiny scripted HTTP/1.1 server over TLS (one connection at a time);
 * the module's HTTP client speaks https only */

static SSL_CTX *srv_tls;    /* made by creds_make */

typedef struct {
    int status;
    const char *headers;    /* extra header lines, each ending in \r\n */
    const char *body;
    int delay_ms;           /* before answering */
} srv_resp;

typedef struct {
    char *head;             /* request line and headers */
    char *body;
    apr_time_t at;          /* when it arrived */
} srv_req;

typedef struct {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    srv_resp script[SRV_MAX];
    int nscript;
    srv_req reqs[SRV_MAX];
    int nreq;
    atomic_int stop;
} srv;

static int srv_listen(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0
        || getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static const char *find_header(const char *head, const char *name)
{
    size_t n = strlen(name);
    const char *l = strstr(head, "\r\n");

    for (; l && l[2]; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n;
            while (*v == ' ') {
                v++;
            }
            return v;
        }
    }
    return NULL;
}

/* Reads one request; answers "100 Continue" if curl asks for it. */
static int srv_read(SSL *c, char **head, char **body)
{
    char *buf = malloc(1 << 18), *end = NULL;
    size_t len = 0, want = 0, hlen;
    int n;
    const char *cl;
    int cont = 0;

    while ((end == NULL || len < want) && len < (1 << 18) - 1
           && (n = SSL_read(c, buf + len, (int)((1 << 18) - 1 - len))) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            hlen = (size_t)(end - buf) + 4;
            *head = strndup(buf, hlen - 2);
            cl = find_header(*head, "Content-Length");
            want = hlen + (cl ? strtoul(cl, NULL, 10) : 0);
            cont = find_header(*head, "Expect") != NULL;
        }
        if (cont && len < want) {
            SSL_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            cont = 0;
        }
    }
    if (end) {
        *body = strndup(buf + hlen, len - hlen);
    }
    free(buf);
    return end != NULL;
}

static void srv_answer(srv *s, SSL *c, const srv_resp *r)
{
    char *out;
    int i, n;

    for (i = 0; i < r->delay_ms / 10 && !atomic_load(&s->stop); i++) {
        usleep(10000);
    }
    n = asprintf(&out, "HTTP/1.1 %d Scripted\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n%s\r\n%s", r->status,
                 r->body && r->body[0] == '{' ? "application/json" : "text/html",
                 strlen(r->body ? r->body : ""), r->headers ? r->headers : "",
                 r->body ? r->body : "");
    if (n > 0) {
        SSL_write(c, out, n);
        free(out);
    }
}

static void srv_handle(srv *s, SSL *c)
{
    char *head = NULL, *body = NULL;
    srv_resp r = { 500, NULL, "{\"error\":\"script_exhausted\"}", 0 };
    int idx = -1;

    if (!srv_read(c, &head, &body)) {
        free(head);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->nreq < SRV_MAX) {
        idx = s->nreq++;
        s->reqs[idx].head = head;
        s->reqs[idx].body = body;
        s->reqs[idx].at = apr_time_now();
        if (s->nscript > 0) {
            r = s->script[idx < s->nscript ? idx : s->nscript - 1];
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (idx < 0) {
        free(head);
        free(body);
    }
    srv_answer(s, c, &r);
}

static void srv_serve(srv *s, int fd)
{
    struct timeval tv = { 2, 0 };
    SSL *ssl = SSL_new(srv_tls);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    signal(SIGPIPE, SIG_IGN);   /* SSL_write to a client that gave up */
    if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
        srv_handle(s, ssl);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    struct pollfd pfd;
    int c;

    while (!atomic_load(&s->stop)) {
        pfd.fd = s->fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 20) > 0 && (c = accept(s->fd, NULL, NULL)) >= 0) {
            srv_serve(s, c);
            close(c);
        }
    }
    return NULL;
}

static srv *srv_start(int n, const srv_resp *script)
{
    srv *s = calloc(1, sizeof(*s));

    memcpy(s->script, script, sizeof(*script) * (size_t)n);
    s->nscript = n;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = srv_listen(&s->port);
    pthread_create(&s->th, NULL, srv_main, s);
    return s;
}

static int srv_count(srv *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->nreq;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_stop(srv *s)
{
    int i;

    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->fd);
    for (i = 0; i < s->nreq; i++) {
        free(s->reqs[i].head);
        free(s->reqs[i].body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A copy of request i, taken under the lock (the server thread wrote it). */
static srv_req srv_get(apr_pool_t *p, srv *s, int i)
{
    srv_req r = { "", "", 0 };

    pthread_mutex_lock(&s->mu);
    if (i < s->nreq) {
        r.head = apr_pstrdup(p, s->reqs[i].head);
        r.body = apr_pstrdup(p, s->reqs[i].body);
        r.at = s->reqs[i].at;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Time between the first two requests, 0 if there were not two. */
static apr_interval_time_t srv_gap(apr_pool_t *p, srv *s)
{
    return srv_count(s) == 2 ? srv_get(p, s, 1).at - srv_get(p, s, 0).at : 0;
}

static const char *srv_url(apr_pool_t *p, srv *s)
{
    return apr_psprintf(p, "https://127.0.0.1:%d/tenant-x/oauth2/v2.0/token", s->port);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
    int port = 0, fd = srv_listen(&port);

    close(fd);
    return port;
}

/* ---- form decoding */

typedef struct {
    const char *name, *value;
} field;

static char *url_decode(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        }
        else if (s[i] == '%' && i + 2 < n + 1) {
            char hex[3] = { s[i + 1], s[i + 2], 0 };
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static apr_array_header_t *form_parse(apr_pool_t *p, const char *body)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(field));
    const char *s = body;

    while (s && *s) {
        const char *amp = strchr(s, '&'), *eq;
        size_t n = amp ? (size_t)(amp - s) : strlen(s);
        field *f = apr_array_push(a);
        eq = memchr(s, '=', n);
        f->name = url_decode(p, s, eq ? (size_t)(eq - s) : n);
        f->value = eq ? url_decode(p, eq + 1, n - (size_t)(eq - s) - 1) : "";
        s = amp ? amp + 1 : NULL;
    }
    return a;
}

/* The idx-th value of name, or NULL. */
static const char *form_get(const apr_array_header_t *a, const char *name, int idx)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        const field *f = &APR_ARRAY_IDX(a, i, field);
        if (strcmp(f->name, name) == 0 && idx-- == 0) {
            return f->value;
        }
    }
    return NULL;
}

/* Did every raw value use the application/x-www-form-urlencoded alphabet? */
static int form_strict(const char *body)
{
    return strspn(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        "-._*%+=&") == strlen(body);
}

/* ---- test credentials */

typedef struct {
    const char *dir, *crt, *key, *other_key, *ec_crt, *ec_key, *srv_crt;
    X509 *x509;
    char *x5t, *x5t_s256;
} creds;

static creds cr;

static EVP_PKEY *gen_key(int rsa)
{
    return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
               : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static X509 *self_sign(EVP_PKEY *k)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"obo-test",
                               -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");

    if (x) {
        PEM_write_X509(f, x);
    }
    else {
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    }
    fclose(f);
}

static char *thumb(apr_pool_t *p, X509 *x, const EVP_MD *md)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    X509_digest(x, md, buf, &n);
    return obo_b64url_encode(p, buf, n);
}

/* The HTTPS server's certificate: self-signed for 127.0.0.1, trusted by
 * the requests through ca_file. */
static void server_tls(apr_pool_t *p)
{
    EVP_PKEY *k = gen_key(0);
    X509 *x = self_sign(k);
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, k, EVP_sha256());
    cr.srv_crt = apr_pstrcat(p, cr.dir, "/server.crt", NULL);
    write_pem(cr.srv_crt, x, NULL);
    srv_tls = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(srv_tls, x);
    SSL_CTX_use_PrivateKey(srv_tls, k);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void creds_make(apr_pool_t *p)
{
    char tmpl[] = "/tmp/obo-exchange-XXXXXX";
    EVP_PKEY *k = gen_key(1), *other = gen_key(1), *ec = gen_key(0);
    X509 *ecx = self_sign(ec);

    cr.dir = apr_pstrdup(p, mkdtemp(tmpl));
    cr.crt = apr_pstrcat(p, cr.dir, "/client.crt", NULL);
    cr.key = apr_pstrcat(p, cr.dir, "/client.key", NULL);
    cr.other_key = apr_pstrcat(p, cr.dir, "/other.key", NULL);
    cr.ec_crt = apr_pstrcat(p, cr.dir, "/ec.crt", NULL);
    cr.ec_key = apr_pstrcat(p, cr.dir, "/ec.key", NULL);
    cr.x509 = self_sign(k);
    write_pem(cr.crt, cr.x509, NULL);
    write_pem(cr.key, NULL, k);
    write_pem(cr.other_key, NULL, other);
    write_pem(cr.ec_crt, ecx, NULL);
    write_pem(cr.ec_key, NULL, ec);
    cr.x5t = thumb(p, cr.x509, EVP_sha1());
    cr.x5t_s256 = thumb(p, cr.x509, EVP_sha256());
    X509_free(ecx);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ec);
    server_tls(p);
}

static void creds_remove(void)
{
    unlink(cr.crt);
    unlink(cr.key);
    unlink(cr.other_key);
    unlink(cr.ec_crt);
    unlink(cr.ec_key);
    unlink(cr.srv_crt);
    rmdir(cr.dir);
    SSL_CTX_free(srv_tls);
    X509_free(cr.x509);
}

/* ---- log capture: nothing secret may ever reach a log line */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;

static void log_sink(void *baton, obo_log_level level, const char *id, const char *msg)
{
    pthread_mutex_lock(&log_mu);
    log_len += (size_t)snprintf(log_buf + log_len, sizeof(log_buf) - log_len,
                                "%d %s %s\n", (int)level, id, msg);
    if (log_len >= sizeof(log_buf) - 1) {
        log_len = 0;    /* the tests only look at recent lines */
    }
    if (getenv("OBO_TEST_VERBOSE")) {
        printf("# log %d %s %s\n", (int)level, id, msg);
    }
    pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

static int log_has(const char *s)
{
    int found;

    pthread_mutex_lock(&log_mu);
    found = strstr(log_buf, s) != NULL;
    pthread_mutex_unlock(&log_mu);
    return found;
}

/* The wait announced by the last "retrying in N ms" line, or -1. */
static long logged_wait(void)
{
    const char *at = NULL, *s;
    long ms = -1;

    pthread_mutex_lock(&log_mu);
    for (s = log_buf; (s = strstr(s, "retrying in ")) != NULL; s++) {
        at = s;
    }
    if (at) {
        ms = strtol(at + strlen("retrying in "), NULL, 10);
    }
    pthread_mutex_unlock(&log_mu);
    return ms;
}

/* ---- request fixtures */

static obo_http *http;

static apr_array_header_t *strs(apr_pool_t *p, const char *a, const char *b)
{
    apr_array_header_t *arr = apr_array_make(p, 2, sizeof(const char *));

    if (a) {
        APR_ARRAY_PUSH(arr, const char *) = a;
    }
    if (b) {
        APR_ARRAY_PUSH(arr, const char *) = b;
    }
    return arr;
}

static obo_client *client_secret(apr_pool_t *p, obo_client_auth auth, const char *id)
{
    obo_client *c = apr_pcalloc(p, sizeof(*c));

    c->client_id = id;
    c->auth = auth;
    c->secret = SECRET;
    return c;
}

static obo_client *client_cert(apr_pool_t *p, const char *alg)
{
    obo_client *c = apr_pcalloc(p, sizeof(*c));
    const char *err = NULL;

    c->client_id = CLIENT_ID;
    c->auth = OBO_AUTH_PRIVATE_KEY_JWT;
    c->assertion_alg = alg;
    if (obo_client_load_certificate(p, cr.crt, cr.key, c, &err) != APR_SUCCESS) {
        printf("# certificate load failed: %s\n", err);
    }
    return c;
}

static obo_exchange_req make_req(apr_pool_t *p, srv *s, const obo_client *c, obo_grant g)
{
    obo_exchange_req r;

    memset(&r, 0, sizeof(r));
    r.grant = g;
    r.token_endpoint = s ? srv_url(p, s) : NULL;
    r.assertion = USER_TOKEN;
    r.scopes = strs(p, "api://down/read", "api://down/write");
    r.client = c;
    r.http.timeout = apr_time_from_sec(3);
    r.http.connect_timeout = apr_time_from_sec(1);
    r.http.ca_file = cr.srv_crt;
    return r;
}

typedef struct {
    apr_status_t rv;
    obo_token_result *res;
    obo_exchange_error *xerr;
    apr_interval_time_t took;
} outcome;

static outcome run(apr_pool_t *p, const obo_exchange_req *r)
{
    outcome o = { 0, NULL, NULL, 0 };
    apr_time_t t0 = apr_time_now();

    o.rv = obo_exchange(http, p, r, &o.res, &o.xerr);
    o.took = apr_time_now() - t0;
    return o;
}

static obo_exchange_errkind kind_of(const outcome *o)
{
    return o->xerr ? o->xerr->kind : OBO_XERR_NONE;
}

/* Never NULL, so that the checks below can dereference freely. */
static const obo_exchange_error *xe(const outcome *o)
{
    static const obo_exchange_error none;

    return o->xerr ? o->xerr : &none;
}

static const obo_token_result *tr(const outcome *o)
{
    static const obo_token_result none = { NULL, NULL, NULL, NULL, NULL, -1, 0, 0, 0, 0 };

    return o->res ? o->res : &none;
}

/* One exchange against a one-response server; the request is returned. */
static outcome run_one(apr_pool_t *p, const obo_client *c, obo_grant g, const srv_resp *resp,
                       apr_array_header_t **form, const char **head)
{
    srv *s = srv_start(1, resp);
    obo_exchange_req r = make_req(p, s, c, g);
    outcome o = run(p, &r);

    if (srv_count(s) > 0) {
        *form = form_parse(p, srv_get(p, s, 0).body);
        *head = apr_pstrdup(p, srv_get(p, s, 0).head);
        ok(form_strict(srv_get(p, s, 0).body), "the form is strictly urlencoded");
    }
    else {
        *form = apr_array_make(p, 1, sizeof(field));
        *head = "";
    }
    srv_stop(s);
    return o;
}

/* ---- the client assertion, checked with plain OpenSSL */

static int verify_sig(apr_pool_t *p, const char *jwt, const char *alg)
{
    const char *dot = strrchr(jwt, '.');
    unsigned char *sig = NULL;
    apr_size_t siglen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int good = dot && obo_b64url_decode(p, dot + 1, strlen(dot + 1), &sig, &siglen) == 0
               && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL,
                                       X509_get0_pubkey(cr.x509)) == 1;

    if (good && strcmp(alg, "PS256") == 0) {
        good = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
               && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    good = good && EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jwt,
                                    (size_t)(dot - jwt)) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return good;
}

static json_t *jwt_part(apr_pool_t *p, const char *jwt, int part)
{
    const char *s = jwt, *e;
    unsigned char *raw = NULL;
    apr_size_t len = 0;
    json_t *j = NULL;
    const char *err;

    while (part-- > 0 && s) {
        s = strchr(s, '.');
        s = s ? s + 1 : NULL;
    }
    e = s ? strchr(s, '.') : NULL;
    if (e && obo_b64url_decode(p, s, (apr_size_t)(e - s), &raw, &len) == APR_SUCCESS) {
        obo_json_parse(p, (const char *)raw, len, 8, 1, &j, &err);
    }
    return j;
}

static apr_int64_t jint(const json_t *j, const char *k)
{
    apr_int64_t v = -1;

    obo_json_int(j, k, &v);
    return v;
}

static void check_assertion(apr_pool_t *p, const char *jwt, const char *alg, const char *aud)
{
    json_t *h = jwt ? jwt_part(p, jwt, 0) : NULL, *pl = jwt ? jwt_part(p, jwt, 1) : NULL;
    apr_int64_t now = apr_time_sec(apr_time_now());
    int rs = strcmp(alg, "RS256") == 0;

    ok(h && pl, "%s client assertion decodes", alg);
    is_str(obo_json_str(h, "alg"), alg, "assertion alg %s", alg);
    is_str(obo_json_str(h, "typ"), "JWT", "assertion typ JWT");
    is_str(obo_json_str(h, rs ? "x5t" : "x5t#S256"), rs ? cr.x5t : cr.x5t_s256,
           "%s header carries the certificate thumbprint %s", alg, rs ? "x5t" : "x5t#S256");
    ok(obo_json_str(h, rs ? "x5t#S256" : "x5t") == NULL, "and only that thumbprint");
    is_str(obo_json_str(pl, "iss"), CLIENT_ID, "iss = client_id");
    is_str(obo_json_str(pl, "sub"), CLIENT_ID, "sub = client_id");
    is_str(obo_json_str(pl, "aud"), aud, "aud = token endpoint");
    ok(jint(pl, "iat") >= now - 5 && jint(pl, "iat") <= now, "iat is now");
    is_int(jint(pl, "nbf"), jint(pl, "iat"), "nbf = iat");
    is_int(jint(pl, "exp") - jint(pl, "iat"), 300, "exp = iat + 300");
    is_int(obo_json_str(pl, "jti") ? strlen(obo_json_str(pl, "jti")) : 0, 22,
           "jti is 16 random bytes, base64url");
    ok(verify_sig(p, jwt, alg), "%s signature verifies with the certificate's key", alg);
}

/* ---- exchange: requests */

static void test_obo_secret_post(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    apr_array_header_t *f;
    const char *head;
    outcome o = run_one(p, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID), OBO_GRANT_OBO,
                        &ok200, &f, &head);
    apr_time_t now = apr_time_now();

    is_int(o.rv, APR_SUCCESS, "OBO with client_secret_post succeeds");
    ok(strncmp(head, "POST /tenant-x/oauth2/v2.0/token HTTP/1.1", 41) == 0, "POST to the path");
    ok(find_header(head, "Content-Type")
       && strncmp(find_header(head, "Content-Type"), "application/x-www-form-urlencoded",
                  33) == 0, "form content type");
    ok(find_header(head, "Authorization") == NULL, "no Authorization header");
    is_int(f->nelts, 6, "exactly six form fields");
    is_str(form_get(f, "grant_type", 0), "urn:ietf:params:oauth:grant-type:jwt-bearer",
           "grant_type jwt-bearer");
    is_str(form_get(f, "assertion", 0), USER_TOKEN, "assertion is the caller's token");
    is_str(form_get(f, "requested_token_use", 0), "on_behalf_of", "requested_token_use");
    is_str(form_get(f, "scope", 0), "api://down/read api://down/write", "space-joined scope");
    is_str(form_get(f, "client_id", 0), CLIENT_ID, "client_id");
    is_str(form_get(f, "client_secret", 0), SECRET, "client_secret (special characters)");
    if (o.res) {
        is_str(o.res->access_token, "downstream-AT-1", "access_token parsed");
        is_str(o.res->token_type, "Bearer", "token_type parsed");
        is_str(o.res->scope, "api://down/read", "scope parsed");
        is_str(o.res->refresh_token, "downstream-RT-1", "refresh_token parsed");
        is_int(o.res->expires_in, 3599, "expires_in parsed");
        ok(o.res->expires_on > now + apr_time_from_sec(3590)
           && o.res->expires_on <= now + apr_time_from_sec(3599), "expires_on = now + 3599 s");
    }
    ok(o.xerr == NULL, "no error on success");
}

/* The decoded credentials of an "Authorization: Basic" header, or NULL. */
static const char *basic_credentials(apr_pool_t *p, const char *head)
{
    const char *auth = find_header(head, "Authorization");
    unsigned char *dec = NULL;
    apr_size_t declen = 0;

    ok(auth && strncmp(auth, "Basic ", 6) == 0, "Authorization: Basic");
    if (auth && strncmp(auth, "Basic ", 6) == 0) {
        obo_b64_decode(p, auth + 6, strcspn(auth + 6, "\r\n"), &dec, &declen);
    }
    return (const char *)dec;
}

static void test_te_secret_basic(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, "{\"access_token\":\"te-AT\",\"expires_in\":\"3600\","
                       "\"issued_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
                       "\"token_type\":\"N_A\"}", 0 };
    obo_client *c = client_secret(p, OBO_AUTH_SECRET_BASIC, "my client:id");
    srv *s = srv_start(1, &ok200);
    obo_exchange_req r = make_req(p, s, c, OBO_GRANT_TOKEN_EXCHANGE);
    apr_array_header_t *f;
    outcome o;

    r.audiences = strs(p, "https://api-a.example", "urn:api:b");
    r.requested_token_type = "urn:ietf:params:oauth:token-type:jwt";
    o = run(p, &r);
    is_int(o.rv, APR_SUCCESS, "token exchange with client_secret_basic succeeds");
    f = form_parse(p, srv_get(p, s, 0).body);
    is_str(basic_credentials(p, srv_get(p, s, 0).head),
           "my+client%3Aid:p%40ss+w%C3%B6rd%26%3D%2F%2B%3A%25",
           "Basic credentials are form-urlencoded id ':' secret (RFC 6749 2.3.1)");
    is_int(f->nelts, 8, "exactly eight form fields");
    is_str(form_get(f, "grant_type", 0), "urn:ietf:params:oauth:grant-type:token-exchange",
           "grant_type token-exchange");
    is_str(form_get(f, "subject_token", 0), USER_TOKEN, "subject_token");
    is_str(form_get(f, "subject_token_type", 0), "urn:ietf:params:oauth:token-type:access_token",
           "subject_token_type access_token");
    is_str(form_get(f, "requested_token_type", 0), "urn:ietf:params:oauth:token-type:jwt",
           "requested_token_type as configured");
    is_str(form_get(f, "scope", 0), "api://down/read api://down/write", "scope");
    is_str(form_get(f, "audience", 0), "https://api-a.example", "first audience");
    is_str(form_get(f, "audience", 1), "urn:api:b", "second audience");
    is_str(form_get(f, "client_id", 0), "my client:id", "client_id in the form");
    ok(form_get(f, "client_secret", 0) == NULL, "no client_secret in the form");
    is_int(tr(&o)->expires_in, 3600, "expires_in as a numeric string");
    is_str(tr(&o)->issued_token_type, "urn:ietf:params:oauth:token-type:jwt",
           "issued_token_type parsed");
    is_str(tr(&o)->token_type, "N_A", "token_type as the IdP said");
    srv_stop(s);
}

static void test_te_defaults(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, "{\"access_token\":\"x\"}", 0 };
    apr_array_header_t *f;
    const char *head;
    obo_client *c = client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID);
    srv *s = srv_start(1, &ok200);
    obo_exchange_req r = make_req(p, s, c, OBO_GRANT_TOKEN_EXCHANGE);
    outcome o;

    r.scopes = strs(p, NULL, NULL);
    o = run(p, &r);
    f = form_parse(p, srv_get(p, s, 0).body);
    head = srv_get(p, s, 0).head;
    is_int(o.rv, APR_SUCCESS, "token exchange without scope or audience");
    ok(form_get(f, "scope", 0) == NULL && form_get(f, "audience", 0) == NULL,
       "no scope and no audience fields when there are none");
    is_str(form_get(f, "requested_token_type", 0),
           "urn:ietf:params:oauth:token-type:access_token", "default requested_token_type");
    ok(find_header(head, "Authorization") == NULL, "no Authorization header with _post");
    is_str(tr(&o)->token_type, "Bearer", "token_type defaults to Bearer");
    is_int(tr(&o)->expires_in, 0, "missing expires_in is 0 (do not cache)");
    srv_stop(s);
}

static void test_incomplete_request(apr_pool_t *p)
{
    obo_exchange_req r = make_req(p, NULL, NULL, OBO_GRANT_OBO);
    outcome o;

    r.token_endpoint = "https://127.0.0.1:1/token";
    o = run(p, &r);
    ok(o.rv == APR_EINVAL && kind_of(&o) == OBO_XERR_REQUEST && o.res == NULL,
       "no client configured: REQUEST error, no call");
}

static void test_private_key_jwt(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    obo_client *c = client_cert(p, "PS256");
    srv *s = srv_start(1, &ok200);
    obo_exchange_req r = make_req(p, s, c, OBO_GRANT_OBO);
    outcome o = run(p, &r);
    apr_array_header_t *f = form_parse(p, srv_get(p, s, 0).body);

    is_int(o.rv, APR_SUCCESS, "OBO with private_key_jwt (PS256) succeeds");
    ok(form_strict(srv_get(p, s, 0).body), "the form is strictly urlencoded");
    is_int(f->nelts, 7, "exactly seven form fields");
    is_str(form_get(f, "client_assertion_type", 0),
           "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion_type");
    is_str(form_get(f, "client_id", 0), CLIENT_ID, "client_id");
    is_str(form_get(f, "assertion", 0), USER_TOKEN, "assertion");
    ok(form_get(f, "client_secret", 0) == NULL, "no client_secret");
    ok(find_header(srv_get(p, s, 0).head, "Authorization") == NULL, "no Authorization header");
    check_assertion(p, form_get(f, "client_assertion", 0), "PS256", r.token_endpoint);
    srv_stop(s);
}

static void test_private_key_jwt_rs256(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    obo_client *c = client_cert(p, "RS256");
    srv *s = srv_start(1, &ok200);
    obo_exchange_req r = make_req(p, s, c, OBO_GRANT_TOKEN_EXCHANGE);
    outcome o = run(p, &r);
    apr_array_header_t *f = form_parse(p, srv_get(p, s, 0).body);

    is_int(o.rv, APR_SUCCESS, "token exchange with private_key_jwt (RS256) succeeds");
    is_str(form_get(f, "subject_token", 0), USER_TOKEN, "subject_token");
    check_assertion(p, form_get(f, "client_assertion", 0), "RS256", r.token_endpoint);
    srv_stop(s);
}

static void test_load_certificate(apr_pool_t *p)
{
    obo_client c;
    const char *err = NULL;

    memset(&c, 0, sizeof(c));
    is_int(obo_client_load_certificate(p, cr.crt, cr.key, &c, &err), APR_SUCCESS,
           "certificate and matching key load");
    is_str(c.x5t, cr.x5t, "x5t is base64url SHA-1 of the DER");
    is_str(c.x5t_s256, cr.x5t_s256, "x5t#S256 is base64url SHA-256 of the DER");
    ok(c.key != NULL, "key set");
    memset(&c, 0, sizeof(c));
    ok(obo_client_load_certificate(p, cr.crt, cr.other_key, &c, &err) != APR_SUCCESS
       && err && strstr(err, "match"), "a key of another certificate is refused (%s)", err);
    ok(c.key == NULL && c.x5t == NULL, "nothing filled on failure");
    ok(obo_client_load_certificate(p, cr.ec_crt, cr.ec_key, &c, &err) != APR_SUCCESS
       && err && strstr(err, "RSA"), "an EC key is refused for PS256/RS256 (%s)", err);
    ok(obo_client_load_certificate(p, "/nonexistent/c.crt", cr.key, &c, &err) != APR_SUCCESS,
       "a missing certificate file fails (%s)", err);
    ok(obo_client_load_certificate(p, cr.crt, "/nonexistent/c.key", &c, &err) != APR_SUCCESS,
       "a missing key file fails (%s)", err);
    ok(obo_client_load_certificate(p, cr.key, cr.key, &c, &err) != APR_SUCCESS,
       "a key file is not a certificate (%s)", err);
}

/* ---- exchange: answers and errors */

static outcome run_script(apr_pool_t *p, int n, const srv_resp *script, int *nreq)
{
    srv *s = srv_start(n, script);
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o = run(p, &r);

    *nreq = srv_count(s);
    srv_stop(s);
    return o;
}


static void test_err_consent(apr_pool_t *p)
{
    srv_resp r = { 400, NULL, "{\"error\":\"consent_required\",\"error_description\":"
                   "\"AADSTS65001: The user or administrator has not consented.\","
                   "\"error_codes\":[65001],\"trace_id\":\"tr-1\",\"correlation_id\":\"co-1\","
                   "\"suberror\":\"consent_required\"}", 0 };
    int n = 0;
    outcome o = run_script(p, 1, &r, &n);

    ok(o.rv != APR_SUCCESS && o.res == NULL, "consent_required fails the exchange");
    is_int(kind_of(&o), OBO_XERR_INTERACTION, "consent_required -> INTERACTION");
    if (o.xerr) {
        is_int(o.xerr->http_status, 400, "IdP status kept");
        is_str(o.xerr->error, "consent_required", "error kept");
        is_str(o.xerr->error_codes, "[65001]", "error_codes kept as compact JSON");
        is_str(o.xerr->trace_id, "tr-1", "trace_id kept");
        is_str(o.xerr->correlation_id, "co-1", "correlation_id kept");
        is_str(o.xerr->suberror, "consent_required", "suberror kept");
        ok(strstr(o.xerr->error_description, "AADSTS65001") != NULL, "description kept");
        ok(o.xerr->detail && strstr(o.xerr->detail, "400"), "detail: %s", o.xerr->detail);
    }
    is_int(n, 1, "a 4xx is not retried");
}

static void test_err_interaction_claims(apr_pool_t *p)
{
    srv_resp r = { 400, NULL, "{\"error\":\"interaction_required\",\"error_description\":"
                   "\"AADSTS50076: MFA\",\"error_codes\":[50076],"
                   "\"claims\":\"{\\\"access_token\\\":{\\\"capolids\\\":{\\\"essential\\\":true,"
                   "\\\"values\\\":[\\\"c1\\\"]}}}\"}", 0 };
    int n = 0;
    outcome o = run_script(p, 1, &r, &n);

    is_int(kind_of(&o), OBO_XERR_INTERACTION, "interaction_required with claims -> "
           "INTERACTION");
    is_str(xe(&o)->claims,
           "{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"c1\"]}}}",
           "claims challenge kept verbatim");
}

static void test_err_invalid_grant(apr_pool_t *p)
{
    srv_resp mfa = { 400, NULL, "{\"error\":\"invalid_grant\",\"error_description\":"
                     "\"AADSTS50079: enrol MFA\",\"error_codes\":[50079]}", 0 };
    srv_resp plain = { 400, NULL, "{\"error\":\"invalid_grant\",\"error_description\":"
                       "\"AADSTS500133: Assertion is not within its valid time range.\","
                       "\"error_codes\":[500133]}", 0 };
    srv_resp claims = { 400, NULL, "{\"error\":\"invalid_grant\",\"claims\":\"{}\"}", 0 };
    int n = 0;
    outcome o = run_script(p, 1, &mfa, &n);

    is_int(kind_of(&o), OBO_XERR_INTERACTION, "invalid_grant with 50079 -> INTERACTION");
    is_str(xe(&o)->error_codes, "[50079]", "error_codes [50079]");
    o = run_script(p, 1, &plain, &n);
    is_int(kind_of(&o), OBO_XERR_INVALID_GRANT, "plain invalid_grant -> INVALID_GRANT");
    is_int(o.rv, APR_EACCES, "returned as APR_EACCES");
    o = run_script(p, 1, &claims, &n);
    is_int(kind_of(&o), OBO_XERR_INTERACTION, "invalid_grant carrying claims -> INTERACTION");
}

/* Review 39A-F9: an IdP echoing the request in error_description put the
 * client secret in the error log (OBO310) and, for interaction_required,
 * in the answer to the caller. */
static void test_err_echo(apr_pool_t *p)
{
    srv_resp client = { 401, NULL, "{\"error\":\"invalid_client\",\"error_description\":"
                        "\"bad request: client_id=x&client_secret=p%40ss+w%C3%B6rd%26%3D"
                        "&grant_type=jwt-bearer&assertion=" USER_TOKEN "; secret " SECRET
                        " ; auth Basic eHl6OnNlY3JldA==\"}", 0 };
    /* review 40A-F1: the secret as the form spelled it, encoded twice,
     * with %20, and the Basic credential URL-encoded */
    srv_resp spelled = { 400, NULL, "{\"error\":\"interaction_required\",\"error_description\":"
                         "\"got p%40ss+w%C3%B6rd%26%3D%2F%2B%3A%25 and p%2540ss%2Bw%25C3%25B6rd"
                         "%2526%253D%252F%252B%253A%2525 and p%40ss%20w%c3%b6rd%26%3d%2f%2b%3a%25"
                         " and MTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1OnAlNDBzcyt3JUMzJU"
                         "I2cmQlMjYlM0QlMkYlMkIlM0ElMjU%3D end\"}", 0 };
    srv_resp user = { 400, NULL, "{\"error\":\"interaction_required\",\"error_description\":"
                      "\"AADSTS50076: MFA; you sent " SECRET " and token=abc.def\","
                      "\"error_codes\":[50076]}", 0 };
    int n = 0;
    outcome o;

    log_reset();
    o = run_script(p, 1, &client, &n);
    is_int(kind_of(&o), OBO_XERR_CLIENT, "echoing invalid_client -> CLIENT");
    ok(log_has("3 OBO310") && log_has("[redacted]"), "OBO310 logged, the echo redacted");
    ok(!log_has(SECRET) && !log_has("p%40ss") && !log_has("c2lnbmF0dXJl-user-token")
       && !log_has("eHl6OnNlY3JldA"), "neither the secret (raw or encoded), the caller's "
       "token nor a Basic credential reaches the log");
    ok(o.xerr && strstr(o.xerr->error_description, "bad request: client_id=x&[redacted]"
                        "&grant_type=jwt-bearer&[redacted]; secret [redacted] ; auth "
                        "[redacted]") != NULL, "the description keeps the rest: %s",
       o.xerr ? o.xerr->error_description : "-");
    o = run_script(p, 1, &user, &n);
    is_int(kind_of(&o), OBO_XERR_INTERACTION, "echoing interaction_required -> INTERACTION");
    is_str(xe(&o)->error_description, "AADSTS50076: MFA; you sent [redacted] and [redacted]",
           "the description the caller gets has no secret");
    o = run_script(p, 1, &spelled, &n);
    is_str(xe(&o)->error_description, "got [redacted] and [redacted] and [redacted] and "
           "[redacted] end", "every spelling of the secret redacted");
}

static void test_err_client(apr_pool_t *p)
{
    srv_resp bad = { 401, NULL, "{\"error\":\"invalid_client\",\"error_description\":"
                     "\"AADSTS7000215: Invalid client secret provided.\","
                     "\"error_codes\":[7000215],\"trace_id\":\"t-9\"}", 0 };
    srv_resp unauth = { 400, NULL, "{\"error\":\"unauthorized_client\"}", 0 };
    srv_resp bare401 = { 401, NULL, "{}", 0 };
    int n = 0;
    outcome o;

    log_reset();
    o = run_script(p, 1, &bad, &n);
    is_int(kind_of(&o), OBO_XERR_CLIENT, "invalid_client 401 -> CLIENT");
    is_int(n, 1, "invalid_client is not retried");
    ok(log_has("3 OBO310") && log_has(CLIENT_ID) && log_has("OBOClientSecret"),
       "invalid_client is logged loudly at ERR with the client id and the directives");
    o = run_script(p, 1, &unauth, &n);
    is_int(kind_of(&o), OBO_XERR_CLIENT, "unauthorized_client -> CLIENT");
    o = run_script(p, 1, &bare401, &n);
    is_int(kind_of(&o), OBO_XERR_CLIENT, "any 401 -> CLIENT");
}

static void test_err_request(apr_pool_t *p)
{
    const char *errs[] = { "invalid_scope", "invalid_request", "unsupported_grant_type",
                           "invalid_target" };
    int i, n = 0;

    for (i = 0; i < 4; i++) {
        srv_resp r = { 400, NULL, apr_psprintf(p, "{\"error\":\"%s\"}", errs[i]), 0 };
        outcome o = run_script(p, 1, &r, &n);
        is_int(kind_of(&o), OBO_XERR_REQUEST, "%s -> REQUEST", errs[i]);
    }
}

static void test_err_upstream(apr_pool_t *p)
{
    srv_resp e500 = { 500, NULL, "{\"error\":\"server_error\"}", 0 };
    srv_resp html = { 502, NULL, "<html>Bad gateway</html>", 0 };
    srv_resp html200 = { 200, NULL, "<html>maintenance</html>", 0 };
    srv_resp noat = { 200, NULL, "{\"token_type\":\"Bearer\",\"expires_in\":3600}", 0 };
    srv_resp html400 = { 400, NULL, "not json", 0 };
    int n = 0;
    outcome o = run_script(p, 1, &e500, &n);

    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "500 -> UPSTREAM");
    is_int(n, 2, "a 500 is retried once (2 requests)");
    o = run_script(p, 1, &html, &n);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "502 with an HTML body -> UPSTREAM");
    o = run_script(p, 1, &html200, &n);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "200 with a non-JSON body -> UPSTREAM");
    is_int(n, 1, "a bad 200 is not retried");
    ok(o.xerr && strstr(o.xerr->detail, "unusable"), "detail: %s",
       xe(&o)->detail);
    o = run_script(p, 1, &noat, &n);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "200 without access_token -> UPSTREAM");
    o = run_script(p, 1, &html400, &n);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "400 with a non-JSON body -> UPSTREAM");
    is_int(n, 1, "and is not retried");
}

/* ---- exchange: retries and time limits */

static void test_retry_503(apr_pool_t *p)
{
    srv_resp script[2] = { { 503, NULL, "{\"error\":\"temporarily_unavailable\"}", 0 },
                           { 200, NULL, OK_BODY, 0 } };
    srv *s = srv_start(2, script);
    obo_exchange_req r = make_req(p, s, client_cert(p, "PS256"), OBO_GRANT_OBO);
    outcome o;
    apr_interval_time_t gap = 0;
    const char *j1 = NULL, *j2 = NULL;
    long wait;

    log_reset();
    o = run(p, &r);

    is_int(o.rv, APR_SUCCESS, "503 then 200 -> success");
    is_int(srv_count(s), 2, "after exactly one retry (2 requests seen)");
    if (srv_count(s) == 2) {
        gap = srv_gap(p, s);
        j1 = form_get(form_parse(p, srv_get(p, s, 0).body), "client_assertion", 0);
        j2 = form_get(form_parse(p, srv_get(p, s, 1).body), "client_assertion", 0);
    }
    wait = logged_wait();
    printf("# 503 retry: jitter %ld ms, gap between requests %ld ms\n", wait,
           (long)apr_time_as_msec(gap));
    ok(wait >= 100 && wait <= 300, "the retry waits 100-300 ms of jitter (%ld ms)", wait);
    ok(gap >= apr_time_from_msec(wait) && gap < apr_time_from_msec(wait + 300),
       "and then sends at once (%ld ms between the requests)", (long)apr_time_as_msec(gap));
    ok(j1 && j2 && strcmp(obo_json_str(jwt_part(p, j1, 1), "jti"),
                          obo_json_str(jwt_part(p, j2, 1), "jti")) != 0,
       "each attempt has a fresh client assertion (jti)");
    srv_stop(s);
}

static void test_retry_429(apr_pool_t *p)
{
    srv_resp script[2] = { { 429, "Retry-After: 1\r\n", "{\"error\":\"throttled\"}", 0 },
                           { 200, NULL, OK_BODY, 0 } };
    srv_resp twice[2] = { { 429, "Retry-After: 1\r\n", "{}", 0 },
                          { 429, "Retry-After: 1\r\n", "{}", 0 } };
    srv_resp capped[2] = { { 500, "Retry-After: 30\r\n", "{}", 0 },
                           { 200, NULL, OK_BODY, 0 } };
    srv *s = srv_start(2, script);
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o = run(p, &r);
    apr_interval_time_t gap = srv_gap(p, s);
    int n = 0;

    is_int(o.rv, APR_SUCCESS, "429 with Retry-After: 1, then 200 -> success");
    printf("# 429 Retry-After: 1 gap: %ld ms\n", (long)apr_time_as_msec(gap));
    ok(gap >= apr_time_from_msec(990) && gap < apr_time_from_msec(1300),
       "waited ~1 s before retrying (%ld ms)", (long)apr_time_as_msec(gap));
    srv_stop(s);
    o = run_script(p, 2, twice, &n);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "429 after the retry -> UPSTREAM");
    is_int(n, 2, "two requests, no more");
    s = srv_start(2, capped);
    r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID), OBO_GRANT_OBO);
    r.max_retry_wait = apr_time_from_msec(500);
    o = run(p, &r);
    gap = srv_gap(p, s);
    printf("# 500 Retry-After: 30 capped at 500 ms: %ld ms\n", (long)apr_time_as_msec(gap));
    ok(o.rv == APR_SUCCESS && gap >= apr_time_from_msec(490) && gap < apr_time_from_msec(800),
       "a 500's Retry-After is capped by max_retry_wait (%ld ms)",
       (long)apr_time_as_msec(gap));
    srv_stop(s);
}

/* A 429 or 503 whose Retry-After is longer than the retry wait allows is a
 * request to pause: no retry (it would be refused too, and the caller
 * would wait for nothing), THROTTLED at once with the IdP's Retry-After. */
static void pause_asked(apr_pool_t *p, int status, const char *hdr, apr_interval_time_t wait,
                        const char *name)
{
    srv_resp script[2] = { { status, hdr, "{\"error\":\"temporarily_unavailable\"}", 0 },
                           { 200, NULL, OK_BODY, 0 } };
    srv *s = srv_start(2, script);
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o;

    r.max_retry_wait = wait;
    log_reset();
    o = run(p, &r);
    printf("# %s: %ld ms, %d request(s)\n", name, (long)apr_time_as_msec(o.took),
           srv_count(s));
    is_int(srv_count(s), 1, "%s: exactly one request", name);
    is_int(o.rv, APR_EAGAIN, "%s: APR_EAGAIN", name);
    is_int(kind_of(&o), OBO_XERR_THROTTLED, "%s: THROTTLED", name);
    is_int(xe(&o)->http_status, status, "%s: with the IdP's status", name);
    ok(o.took < apr_time_from_msec(500), "%s: answered at once (%ld ms)", name,
       (long)apr_time_as_msec(o.took));
    ok(!log_has("retrying in"), "%s: no retry announced", name);
    ok(log_has("OBO316"), "%s: logged as OBO316", name);
    srv_stop(s);
}

static void test_retry_after_too_long(apr_pool_t *p)
{
    outcome o;
    int n = 0;
    srv_resp e503 = { 503, "Retry-After: 250\r\n", "{}", 0 };
    srv_resp short503[2] = { { 503, "Retry-After: 1\r\n", "{}", 0 },
                             { 429, "Retry-After: 250\r\n", "{}", 0 } };
    char date[APR_RFC822_DATE_LEN];
    const char *hdr;

    pause_asked(p, 503, "Retry-After: 250\r\n", 0, "503 Retry-After: 250");
    pause_asked(p, 429, "Retry-After: 3\r\n", 0, "429 Retry-After: 3 (over 2 s)");
    pause_asked(p, 503, "Retry-After: 1\r\n", apr_time_from_msec(500),
                "503 Retry-After: 1 over a 500 ms wait");
    apr_rfc822_date(date, apr_time_now() + apr_time_from_sec(120));
    hdr = apr_pstrcat(p, "Retry-After: ", date, "\r\n", NULL);
    pause_asked(p, 429, hdr, 0, "429 Retry-After as an HTTP date 120 s ahead");
    o = run_script(p, 1, &e503, &n);
    is_int((int)xe(&o)->retry_after, 250, "retry_after is the IdP's 250 s");
    ok(xe(&o)->detail && strstr(xe(&o)->detail, "Retry-After 250"), "detail: %s",
       xe(&o)->detail ? xe(&o)->detail : "-");
    /* A short pause is waited for; a long one asked by the retry's answer
     * ends there too. */
    o = run_script(p, 2, short503, &n);
    is_int(n, 2, "503 Retry-After: 1 is retried (2 requests)");
    is_int(kind_of(&o), OBO_XERR_THROTTLED, "then 429 Retry-After: 250 -> THROTTLED");
}

static void test_no_retry_setting(apr_pool_t *p)
{
    srv_resp e503 = { 503, NULL, "{}", 0 };
    srv *s = srv_start(1, &e503);
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o;

    r.max_retries = -1;
    o = run(p, &r);
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "503 with retries disabled -> UPSTREAM");
    is_int(srv_count(s), 1, "max_retries < 0: one request only");
    srv_stop(s);
}

/* The client secret and the user's token never travel in clear: a plain
 * http: endpoint is refused before any connection is made. */
static void test_plaintext_refused(apr_pool_t *p)
{
    obo_exchange_req r = make_req(p, NULL, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    int port = 0, fd = srv_listen(&port);
    struct pollfd pfd = { fd, POLLIN, 0 };
    outcome o;

    r.token_endpoint = apr_psprintf(p, "http://127.0.0.1:%d/token", port);
    o = run(p, &r);
    ok(o.rv != APR_SUCCESS && o.res == NULL, "http: token endpoint -> an error");
    ok(poll(&pfd, 1, 0) == 0, "and nothing connected to the plaintext listener");
    close(fd);
}

static void test_refused(apr_pool_t *p)
{
    obo_exchange_req r = make_req(p, NULL, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o;

    r.token_endpoint = apr_psprintf(p, "https://127.0.0.1:%d/token", dead_port());
    log_reset();
    o = run(p, &r);
    printf("# connection refused, with one retry: %ld ms\n", (long)apr_time_as_msec(o.took));
    is_int(o.rv, APR_ECONNREFUSED, "connection refused -> APR_ECONNREFUSED");
    is_int(kind_of(&o), OBO_XERR_UPSTREAM, "connection refused -> UPSTREAM");
    ok(log_has("OBO302"), "and it was retried once");
    ok(o.took >= apr_time_from_msec(95) && o.took < apr_time_from_msec(1000),
       "after 100-300 ms of jitter (%ld ms in all)", (long)apr_time_as_msec(o.took));
}

static void test_timeout(apr_pool_t *p)
{
    srv_resp slow = { 200, NULL, OK_BODY, 1500 };
    srv *s = srv_start(1, &slow);
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_OBO);
    outcome o;

    r.http.timeout = apr_time_from_msec(300);
    o = run(p, &r);
    printf("# 300 ms timeout returned after %ld ms\n", (long)apr_time_as_msec(o.took));
    is_int(o.rv, APR_TIMEUP, "a slow IdP -> APR_TIMEUP");
    is_int(kind_of(&o), OBO_XERR_TIMEOUT, "-> TIMEOUT");
    ok(o.took >= apr_time_from_msec(295) && o.took < apr_time_from_msec(400),
       "within ~400 ms (%ld ms)", (long)apr_time_as_msec(o.took));
    is_int(srv_count(s), 1, "a timeout is not retried");
    srv_stop(s);
}

/* Nothing the exchanges above handled may have reached a log line. */
static void test_log_hygiene(apr_pool_t *p)
{
    srv_resp script[2] = { { 500, NULL, "{}", 0 }, { 200, NULL, OK_BODY, 0 } };
    srv_resp bad = { 401, NULL, "{\"error\":\"invalid_client\"}", 0 };
    int n = 0;

    log_reset();
    run_script(p, 2, script, &n);
    run_script(p, 1, &bad, &n);
    ok(log_has("6 OBO301"), "IdP calls are logged at INFO as OBO301");
    ok(log_has(obo_fingerprint(p, USER_TOKEN, strlen(USER_TOKEN))),
       "the caller's token appears as its fingerprint");
    ok(!log_has(USER_TOKEN) && !log_has("c2lnbmF0dXJl"), "but never itself");
    ok(!log_has("p@ss") && !log_has("p%40ss"), "the client secret never appears");
    ok(!log_has("downstream-AT-1") && !log_has("downstream-RT-1"),
       "issued tokens never appear");
}

/* ---- a thread-safe in-memory cache backend */

typedef struct {
    unsigned char *val;
    apr_size_t len;
    apr_time_t expiry;
} mem_entry;

typedef struct {
    pthread_mutex_t mu;
    apr_pool_t *pool;
    apr_hash_t *h;
    int sets, gets;
    apr_time_t last_expiry;
} mem_be;

static apr_status_t mem_get(void *ctx, apr_pool_t *p, const char *key, unsigned char **val,
                            apr_size_t *len)
{
    mem_be *m = ctx;
    mem_entry *e;
    apr_status_t rv = APR_NOTFOUND;

    pthread_mutex_lock(&m->mu);
    if (!strstr(key, ".lock")) {
        m->gets++;
    }
    e = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (e && e->expiry > apr_time_now()) {
        *val = apr_pmemdup(p, e->val, e->len);
        *len = e->len;
        rv = APR_SUCCESS;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

/* Called with the mutex held. */
static void mem_put(mem_be *m, const char *key, const unsigned char *val, apr_size_t len,
                    apr_time_t expiry)
{
    mem_entry *e = apr_palloc(m->pool, sizeof(*e));

    e->val = apr_pmemdup(m->pool, val, len);
    e->len = len;
    e->expiry = expiry;
    apr_hash_set(m->h, apr_pstrdup(m->pool, key), APR_HASH_KEY_STRING, e);
}

static apr_status_t mem_set(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    mem_be *m = ctx;

    pthread_mutex_lock(&m->mu);
    mem_put(m, key, val, len, expiry);
    /* counts stored values: not a lock, nor a failed fill's note to its waiters */
    if (!strstr(key, ".lock") && !strstr(key, ".fail")) {
        m->sets++;
        m->last_expiry = expiry;
    }
    pthread_mutex_unlock(&m->mu);
    return APR_SUCCESS;
}

static apr_status_t mem_add(void *ctx, apr_pool_t *p, const char *key,
                            const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    mem_be *m = ctx;
    mem_entry *e;
    apr_status_t rv = APR_EEXIST;

    pthread_mutex_lock(&m->mu);
    e = apr_hash_get(m->h, key, APR_HASH_KEY_STRING);
    if (!e || e->expiry <= apr_time_now()) {
        mem_put(m, key, val, len, expiry);
        rv = APR_SUCCESS;
    }
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static apr_status_t mem_del(void *ctx, apr_pool_t *p, const char *key)
{
    mem_be *m = ctx;
    apr_status_t rv;

    pthread_mutex_lock(&m->mu);
    rv = apr_hash_get(m->h, key, APR_HASH_KEY_STRING) ? APR_SUCCESS : APR_NOTFOUND;
    apr_hash_set(m->h, key, APR_HASH_KEY_STRING, NULL);
    pthread_mutex_unlock(&m->mu);
    return rv;
}

static apr_status_t mem_cleanup(void *data)
{
    pthread_mutex_destroy(&((mem_be *)data)->mu);
    return APR_SUCCESS;
}

static obo_cache *mem_cache(apr_pool_t *p, mem_be **out)
{
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    obo_cache_backend *be = apr_pcalloc(p, sizeof(*be));
    mem_be *m = apr_pcalloc(p, sizeof(*m));
    obo_cache *c = NULL;

    pthread_mutex_init(&m->mu, NULL);
    apr_pool_cleanup_register(p, m, mem_cleanup, apr_pool_cleanup_null);
    apr_pool_create(&m->pool, p);
    m->h = apr_hash_make(m->pool);
    be->name = "memory";
    be->get = mem_get;
    be->set = mem_set;
    be->add = mem_add;
    be->del = mem_del;
    be->ctx = m;
    obo_cache_create(p, be, secret, 32, &c);
    *out = m;
    return c;
}

/* ---- obo_token */

static void test_serialize(apr_pool_t *p)
{
    obo_token_result t = { "AT-x", "Bearer", "api://down/read", "RT-x",
                           "urn:ietf:params:oauth:token-type:access_token", 3599,
                           apr_time_from_sec(1900000000), 3599, 0, 0 };
    char *s = obo_token_serialize(p, &t);
    obo_token_result *r = NULL;

    const char *shown = s ? s : "(null)";

    ok(s && strstr(s, "\"expires_on\":1900000000") && !strstr(s, ": ") && !strstr(s, ", "),
       "serialised compactly, expires_on in seconds: %s", shown);
    ok(s && strstr(s, "refresh_token") == NULL, "refresh tokens are not serialised");
    is_int(obo_token_deserialize(p, s, s ? strlen(s) : 0, &r), APR_SUCCESS, "deserialises");
    if (r) {
        is_str(r->access_token, "AT-x", "access_token round trip");
        is_str(r->token_type, "Bearer", "token_type round trip");
        is_str(r->scope, "api://down/read", "scope round trip");
        is_str(r->issued_token_type, t.issued_token_type, "issued_token_type round trip");
        ok(r->refresh_token == NULL, "no refresh token after the round trip");
        is_int(r->expires_on, t.expires_on, "expires_on round trip (whole seconds)");
        ok(llabs(r->expires_in - (1900000000 - apr_time_sec(apr_time_now()))) <= 1,
           "expires_in is what is left");
        is_int(r->lifetime, 3599, "the lifetime as issued round trips (a short one's margin)");
    }
    ok(obo_token_deserialize(p, "{\"expires_on\":5}", 16, &r) != APR_SUCCESS,
       "no access_token: refused");
    ok(obo_token_deserialize(p, "{\"access_token\":\"a\"}", 20, &r) != APR_SUCCESS,
       "no expires_on: refused");
    ok(obo_token_deserialize(p, "[1]", 3, &r) != APR_SUCCESS, "not an object: refused");
    ok(obo_token_deserialize(p, "{\"access_token\":", 16, &r) != APR_SUCCESS,
       "truncated: refused");
}

/* Found by fuzz_cache (fuzz/corpus/cache/expires_on_overflow): seconds that
 * do not fit apr_time_t once multiplied into microseconds (undefined
 * behaviour, then a garbage expiry) are refused, not converted. */
static void test_deserialize_huge_expiry(apr_pool_t *p)
{
    static const char *const bad[] = {
        "{\"access_token\":\"ey!\",\"expires_on\":12e12}",
        "{\"access_token\":\"a\",\"expires_on\":9223372036855}",
        "{\"access_token\":\"a\",\"expires_on\":9223372036854775807}",
    };
    const char *edge = "{\"access_token\":\"a\",\"expires_on\":9223372036854}";
    obo_token_result *r = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = NULL;
        is_int(obo_token_deserialize(p, bad[i], strlen(bad[i]), &r), APR_EINVAL,
               "expires_on beyond apr_time_t refused: %s", bad[i]);
    }
    is_int(obo_token_deserialize(p, edge, strlen(edge), &r), APR_SUCCESS,
           "the largest expires_on apr_time_t holds is read");
    ok(r && r->expires_on == apr_time_from_sec(APR_INT64_C(9223372036854)),
       "and converted exactly");
}

static obo_acquire make_acquire(apr_pool_t *p, srv *s, obo_cache *c)
{
    obo_acquire a;

    memset(&a, 0, sizeof(a));
    a.cache = c;
    a.http = http;
    a.req = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID), OBO_GRANT_OBO);
    a.authority = "https://login.example/tenant-x";
    a.margin = apr_time_from_sec(300);
    a.assertion_expiry = apr_time_now() + apr_time_from_sec(3600);
    a.flight.lock_ttl = apr_time_from_sec(10);
    a.flight.max_wait = apr_time_from_sec(10);
    a.flight.poll = apr_time_from_msec(5);
    return a;
}

typedef struct {
    apr_status_t rv;
    obo_token_result *res;
    obo_exchange_error *xerr;
    int hit;
} got;

static got acquire(apr_pool_t *p, const obo_acquire *a)
{
    got g = { 0, NULL, NULL, -1 };

    g.rv = obo_token_acquire(p, a, &g.res, &g.xerr, &g.hit);
    return g;
}

static void test_acquire_hit(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    mem_be *m;
    srv *s = srv_start(1, &ok200);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    got g1 = acquire(p, &a), g2;
    apr_time_t want = g1.res ? g1.res->expires_on - apr_time_from_sec(300) : 0;

    is_int(g1.rv, APR_SUCCESS, "first acquisition succeeds");
    is_int(g1.hit, 0, "from the IdP");
    is_str(g1.res ? g1.res->refresh_token : "", "downstream-RT-1",
           "the caller that exchanged gets the refresh token");
    is_int(m->sets, 1, "and stored it");
    ok(m->last_expiry == want, "until expires_on - margin");
    g2 = acquire(p, &a);
    is_int(g2.rv, APR_SUCCESS, "second acquisition succeeds");
    is_int(g2.hit, 1, "as a cache hit");
    is_int(srv_count(s), 1, "without a request to the IdP");
    is_str(g2.res ? g2.res->access_token : "", "downstream-AT-1", "same access token");
    ok(g2.res && g2.res->refresh_token == NULL, "no refresh token from the cache");
    is_int(g2.res ? apr_time_sec(g2.res->expires_on) : 0,
           g1.res ? apr_time_sec(g1.res->expires_on) : 1, "same expires_on");
    a.req.scopes = strs(p, "api://down/other", NULL);
    g2 = acquire(p, &a);
    ok(g2.rv == APR_SUCCESS && g2.hit == 0 && srv_count(s) == 2,
       "other scopes are another key: a miss");
    srv_stop(s);
}

/* The per-process L1 answers repeated hits without touching the shared
 * cache, and never holds what the shared cache would not. */
static void test_acquire_l1(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    srv_resp short_lived[2] = {
        { 200, NULL, "{\"access_token\":\"short\",\"expires_in\":120}", 0 },
        { 200, NULL, "{\"access_token\":\"short\",\"expires_in\":120}", 0 }
    };
    mem_be *m;
    srv *s = srv_start(1, &ok200);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    obo_memo *l1 = NULL;
    got g;
    int gets;

    obo_memo_create(p, 16, &l1);
    a.l1 = l1;
    g = acquire(p, &a);
    ok(g.rv == APR_SUCCESS && g.hit == 0, "first: from the IdP");
    gets = m->gets;
    g = acquire(p, &a);
    ok(g.rv == APR_SUCCESS && g.hit == 1, "second: a hit");
    is_str(g.res ? g.res->access_token : "", "downstream-AT-1", "same token");
    ok(g.res && g.res->refresh_token == NULL, "no refresh token from L1");
    is_int(m->gets, gets, "served by L1: no shared-cache read");
    a.req.assertion = "another.caller.token";
    g = acquire(p, &a);
    ok(g.rv == APR_SUCCESS && g.hit == 0 && srv_count(s) == 2,
       "another caller token is another key: the IdP is asked");
    srv_stop(s);

    s = srv_start(2, short_lived);
    a = make_acquire(p, s, mem_cache(p, &m));
    a.l1 = l1;
    a.req.assertion = "a.third.caller";   /* a key part one did not fill */
    acquire(p, &a);
    g = acquire(p, &a);
    ok(g.rv == APR_SUCCESS && g.hit == 1 && srv_count(s) == 1,
       "expires_in <= margin: L1 keeps it too (for half its life)");

    srv_stop(s);
}

static void test_acquire_margin(apr_pool_t *p)
{
    srv_resp short_lived = { 200, NULL, "{\"access_token\":\"short\",\"expires_in\":120}", 0 };
    mem_be *m;
    srv *s = srv_start(1, &short_lived);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    got g1 = acquire(p, &a), g2 = acquire(p, &a);

    ok(g1.rv == APR_SUCCESS && g2.rv == APR_SUCCESS, "expires_in <= margin: both succeed");
    is_str(g2.res ? g2.res->access_token : "", "short", "with the token");
    /* It used to be never stored: an IdP call per request. */
    is_int(m->sets, 1, "stored (for half its lifetime)");
    is_int(srv_count(s), 1, "the second call does not ask the IdP");
    is_int(g2.hit, 1, "and is a hit");
    ok(m->last_expiry > apr_time_now() + apr_time_from_sec(55)
       && m->last_expiry <= apr_time_now() + apr_time_from_sec(60),
       "kept until half its lifetime (60 of 120 s)");
    srv_stop(s);
}

static void test_acquire_no_expires_in(apr_pool_t *p)
{
    srv_resp unknown = { 200, NULL, "{\"access_token\":\"unknown-life\"}", 0 };
    mem_be *m;
    srv *s = srv_start(1, &unknown);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    got g = acquire(p, &a);

    is_str(g.res ? g.res->access_token : "", "unknown-life",
           "a token without expires_in is returned");
    is_int(m->sets, 0, "but never cached");
    srv_stop(s);
}

static void test_acquire_cap(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    mem_be *m;
    srv *s = srv_start(1, &ok200);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    got g;

    a.assertion_expiry = apr_time_now() + apr_time_from_sec(600);
    g = acquire(p, &a);
    is_int(g.rv, APR_SUCCESS, "acquired");
    is_int(m->sets, 1, "stored");
    is_int(m->last_expiry, a.assertion_expiry, "the TTL is capped by the caller's token exp");
    g = acquire(p, &a);
    ok(g.hit == 1 && srv_count(s) == 1, "and served from the cache until then");
    a.assertion_expiry = apr_time_now() - apr_time_from_sec(1);
    a.req.assertion = "another.user.token";
    g = acquire(p, &a);
    ok(g.rv == APR_SUCCESS && m->sets == 1, "an already expired caller token: not stored");
    srv_stop(s);
}

/* ---- early refresh (MSAL's refresh_in) */

#define RIN_BODY "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"refresh_in\":1," \
    "\"access_token\":\"downstream-AT-1\"}"
#define NEW_BODY "{\"token_type\":\"Bearer\",\"expires_in\":3599," \
    "\"access_token\":\"downstream-AT-2\"}"

static got acquire_due(apr_pool_t *p, const obo_acquire *a, int *due)
{
    got g = { 0, NULL, NULL, -1 };

    *due = -1;
    g.rv = obo_token_acquire_ex(p, a, &g.res, &g.xerr, &g.hit, due);
    return g;
}

static void test_refresh(apr_pool_t *p)
{
    srv_resp script[2] = { { 200, NULL, RIN_BODY, 0 }, { 200, NULL, NEW_BODY, 0 } };
    mem_be *m;
    srv *s = srv_start(2, script);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    obo_acquire off;
    int due = -1;
    got g;

    a.refresh_share = 75;
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && g.hit == 0 && due == 0, "from the IdP: nothing due");
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && g.hit == 1 && due == 0, "before refresh_in: a hit, not due");
    apr_sleep(apr_time_from_msec(1100));
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && g.hit == 1 && due == 1, "after refresh_in: a hit, due");
    is_str(g.res ? g.res->access_token : "", "downstream-AT-1", "still the cached token");
    is_int(srv_count(s), 1, "no IdP call on the request path");
    off = a;
    off.refresh_share = 0;
    g = acquire_due(p, &off, &due);
    ok(g.rv == APR_SUCCESS && due == 0, "OBOCacheRefresh off: never due");
    is_int(obo_token_refresh(p, &a), APR_SUCCESS, "the refresh renews it");
    is_int(srv_count(s), 2, "with one IdP call");
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && g.hit == 1 && due == 0, "then a hit, not due");
    is_str(g.res ? g.res->access_token : "", "downstream-AT-2", "with the new token");
    is_int(obo_token_refresh(p, &a), APR_EEXIST, "a late second refresh finds it done");
    is_int(srv_count(s), 2, "without an IdP call");
    srv_stop(s);
}

static void test_refresh_failure(apr_pool_t *p)
{
    srv_resp script[4] = { { 200, NULL, RIN_BODY, 0 }, { 500, NULL, "{}", 0 },
                           { 500, NULL, "{}", 0 }, { 200, NULL, NEW_BODY, 0 } };
    mem_be *m;
    srv *s = srv_start(4, script);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    int due = -1;
    got g;

    a.refresh_share = 75;
    a.req.max_retry_wait = apr_time_from_msec(10);
    g = acquire_due(p, &a, &due);
    apr_sleep(apr_time_from_msec(1100));
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && due == 1, "in the window: due");
    ok(obo_token_refresh(p, &a) != APR_SUCCESS, "the IdP fails the refresh");
    is_int(srv_count(s), 3, "one attempt (a call and its retry)");
    g = acquire_due(p, &a, &due);
    ok(g.rv == APR_SUCCESS && g.hit == 1, "the valid token is still served");
    is_str(g.res ? g.res->access_token : "", "downstream-AT-1", "the cached one");
    is_int(obo_token_refresh(p, &a), APR_EEXIST, "no new attempt during the backoff");
    is_int(srv_count(s), 3, "no IdP call");
    srv_stop(s);
}

static void test_acquire_no_cache(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    srv *s = srv_start(1, &ok200);
    obo_acquire a = make_acquire(p, s, NULL);
    got g1 = acquire(p, &a), g2 = acquire(p, &a);

    ok(g1.rv == APR_SUCCESS && g2.rv == APR_SUCCESS && g1.hit == 0 && g2.hit == 0,
       "without a cache every call exchanges");
    is_int(srv_count(s), 2, "two IdP requests");
    srv_stop(s);
}

static void test_acquire_error(apr_pool_t *p)
{
    srv_resp bad = { 400, NULL, "{\"error\":\"invalid_grant\",\"error_codes\":[50079]}", 0 };
    mem_be *m;
    srv *s = srv_start(1, &bad);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m));
    got g = acquire(p, &a);

    ok(g.rv != APR_SUCCESS && g.res == NULL, "an exchange error fails the acquisition");
    is_int(g.xerr ? g.xerr->kind : 0, OBO_XERR_INTERACTION, "with the classified error");
    is_str(g.xerr ? g.xerr->error_codes : "", "[50079]", "and its details");
    g = acquire(p, &a);
    ok(g.rv != APR_SUCCESS && srv_count(s) == 2 && m->sets == 0, "errors are not cached");
    srv_stop(s);
}

/* A failure that belongs to the user is remembered for negative_ttl, in the
 * process (memo) and in the shared cache: another "process" (its own memo)
 * sees it too, and no request reaches the IdP again. */
static void test_guard_negative(apr_pool_t *p)
{
    srv_resp consent = { 400, NULL, "{\"error\":\"invalid_grant\",\"suberror\":"
                         "\"consent_required\",\"error_codes\":[65001],"
                         "\"error_description\":\"AADSTS65001: no consent\"}", 0 };
    mem_be *m;
    obo_memo *memo1 = NULL, *memo2 = NULL;
    srv *s = srv_start(1, &consent);
    obo_acquire a = make_acquire(p, s, mem_cache(p, &m)), b;
    got g1, g2, g3;

    obo_memo_create(p, 16, &memo1);
    obo_memo_create(p, 16, &memo2);
    a.negative_ttl = apr_time_from_sec(30);
    a.guard = memo1;
    g1 = acquire(p, &a);
    g2 = acquire(p, &a);
    b = a;
    b.guard = memo2;
    g3 = acquire(p, &b);
    is_int(g1.xerr ? g1.xerr->kind : 0, OBO_XERR_INTERACTION, "consent required");
    is_int(g2.rv, g1.rv, "remembered: same status");
    is_int(g2.xerr ? g2.xerr->kind : 0, OBO_XERR_INTERACTION, "same kind");
    is_str(g2.xerr ? g2.xerr->suberror : "", "consent_required", "same suberror");
    is_str(g2.xerr ? g2.xerr->error_codes : "", "[65001]", "same error codes");
    is_str(g2.xerr ? g2.xerr->error_description : "", "AADSTS65001: no consent",
           "same description");
    is_int(g3.xerr ? g3.xerr->kind : 0, OBO_XERR_INTERACTION, "another process: remembered "
           "through the cache");
    is_int(srv_count(s), 1, "one IdP call for three acquisitions");
    srv_stop(s);
}

/* A 429 with a long Retry-After fails at once and pauses the endpoint for
 * every assertion, capped at OBO_GUARD_PAUSE_MAX_S: per process without a
 * cache (memo only), and through the cache for another process (its own
 * memo). */
static void pause_case(apr_pool_t *p, int shared)
{
    srv_resp busy[2] = { { 429, "Retry-After: 100000\r\n", "{}", 0 },
                         { 429, "Retry-After: 100000\r\n", "{}", 0 } };
    mem_be *m;
    obo_memo *memo1 = NULL, *memo2 = NULL;
    srv *s = srv_start(2, busy);
    obo_acquire a = make_acquire(p, s, shared ? mem_cache(p, &m) : NULL), b;
    got g1, g2;

    obo_memo_create(p, 16, &memo1);
    obo_memo_create(p, 16, &memo2);
    a.req.max_retry_wait = apr_time_from_msec(10);
    a.guard = memo1;
    g1 = acquire(p, &a);
    b = a;
    b.req.assertion = "another-user-token";
    b.guard = shared ? memo2 : memo1;
    g2 = acquire(p, &b);
    is_int(g1.rv, APR_EAGAIN, "429 with Retry-After over the retry wait: not retried");
    is_int(g1.xerr ? g1.xerr->kind : 0, OBO_XERR_THROTTLED, "THROTTLED at once");
    is_int(g1.xerr ? (int)g1.xerr->retry_after : -1, 300,
           "its Retry-After 100000 capped at 300 s, as the pause is");
    is_int(g2.rv, APR_EAGAIN, "another user%s: paused", shared ? ", another process" : "");
    is_int(g2.xerr ? g2.xerr->kind : 0, OBO_XERR_THROTTLED, "THROTTLED");
    ok(g2.xerr && g2.xerr->retry_after > 295 && g2.xerr->retry_after <= 300,
       "Retry-After 100000 capped at 300 s (%d)", g2.xerr ? (int)g2.xerr->retry_after : -1);
    is_int(srv_count(s), 1, "one IdP call: no retry, none during the pause");
    srv_stop(s);
}

static void test_guard_pause(apr_pool_t *p)
{
    pause_case(p, 0);
    pause_case(p, 1);
}

/* An entry another server stored with a smaller margin is within ours. */
static void test_acquire_stale_entry(apr_pool_t *p)
{
    srv_resp ok200 = { 200, NULL, OK_BODY, 0 };
    mem_be *m;
    obo_cache *c = mem_cache(p, &m);
    srv *s = srv_start(1, &ok200);
    obo_acquire a = make_acquire(p, s, c);
    obo_cache_keyparts k = { .client_id = CLIENT_ID, .authority = a.authority,
                             .scopes = a.req.scopes, .exchange = "on-behalf-of",
                             .assertion = USER_TOKEN };
    const char *key = obo_cache_key(p, &k);
    const char *v = apr_psprintf(p, "{\"access_token\":\"old\",\"token_type\":\"Bearer\","
                                 "\"expires_on\":%" APR_INT64_T_FMT "}",
                                 (apr_int64_t)apr_time_sec(apr_time_now()) + 100);
    got g;

    obo_cache_set(c, p, key, v, strlen(v), apr_time_now() + apr_time_from_sec(60));
    g = acquire(p, &a);
    is_str(g.res ? g.res->access_token : "", "downstream-AT-1",
           "a cached token inside the margin is a miss");
    ok(g.hit == 0 && srv_count(s) == 1, "the IdP was asked");
    g = acquire(p, &a);
    ok(g.hit == 1 && srv_count(s) == 1, "and the fresh token replaced the stale one");
    srv_stop(s);
}

/* ---- single flight across threads */

#define NTHREADS 6

typedef struct {
    const obo_acquire *a;
    pthread_barrier_t *bar;
    apr_status_t rv;
    int hit, kind;
    char token[64], detail[160];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    apr_pool_t *p = NULL;
    got g;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    pthread_barrier_wait(w->bar);
    g = acquire(p, w->a);
    w->rv = g.rv;
    w->hit = g.hit;
    w->kind = g.xerr ? (int)g.xerr->kind : 0;
    snprintf(w->token, sizeof(w->token), "%s", g.res ? g.res->access_token : "");
    snprintf(w->detail, sizeof(w->detail), "%s", g.xerr && g.xerr->detail ? g.xerr->detail
                                                                          : "");
    apr_pool_destroy(p);    /* some workers go while others still read */
    return NULL;
}

static void run_workers(const obo_acquire *a, worker *w)
{
    pthread_t th[NTHREADS];
    pthread_barrier_t bar;
    int i;

    pthread_barrier_init(&bar, NULL, NTHREADS);
    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].a = a;
        w[i].bar = &bar;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&bar);
}

static void test_flight_ex(apr_pool_t *p, const char *body, int status, int *nreq, int *hits,
                           worker *w, mem_be **m, apr_time_t assertion_expiry)
{
    srv_resp r = { status, NULL, body, 300 };
    srv *s = srv_start(1, &r);
    obo_acquire a = make_acquire(p, s, mem_cache(p, m));
    int i;

    a.assertion_expiry = assertion_expiry;
    run_workers(&a, w);
    *nreq = srv_count(s);
    for (*hits = 0, i = 0; i < NTHREADS; i++) {
        *hits += w[i].hit;
    }
    srv_stop(s);
}

static void test_flight(apr_pool_t *p, const char *body, int status, int *nreq, int *hits,
                        worker *w, mem_be **m)
{
    test_flight_ex(p, body, status, nreq, hits, w, m, 0);
}

static void test_flight_success(apr_pool_t *p)
{
    worker w[NTHREADS];
    int n = 0, hits = 0, i, same = 1;
    mem_be *m;

    test_flight(p, OK_BODY, 200, &n, &hits, w, &m);
    for (i = 0; i < NTHREADS; i++) {
        same &= w[i].rv == APR_SUCCESS && strcmp(w[i].token, "downstream-AT-1") == 0;
    }
    is_int(n, 1, "%d concurrent misses make one IdP request", NTHREADS);
    ok(same, "every thread got the token");
    is_int(hits, NTHREADS - 1, "one fetched, the others report a hit");
}

static void test_flight_uncacheable(apr_pool_t *p)
{
    worker w[NTHREADS];
    int n = 0, hits = 0, i, same = 1;
    mem_be *m;

    /* the caller's token expired (inside the validation skew): nothing may
     * be stored past it, but the concurrent requests share the fill */
    test_flight_ex(p, "{\"access_token\":\"brief\",\"expires_in\":60}", 200, &n, &hits, w, &m,
                   apr_time_now() - apr_time_from_sec(1));
    for (i = 0; i < NTHREADS; i++) {
        same &= w[i].rv == APR_SUCCESS && strcmp(w[i].token, "brief") == 0;
    }
    is_int(n, 1, "an uncacheable token still goes through one flight");
    ok(same, "every thread got it");
    is_int(m->sets, 0, "and it was not stored");
}

static void test_flight_error(apr_pool_t *p)
{
    worker w[NTHREADS];
    int n = 0, hits = 0, i, same = 1;
    mem_be *m;

    test_flight(p, "{\"error\":\"invalid_grant\",\"error_description\":\"expired\"}", 400,
                &n, &hits, w, &m);
    for (i = 0; i < NTHREADS; i++) {
        same &= w[i].rv != APR_SUCCESS && w[i].kind == OBO_XERR_INVALID_GRANT
                && strstr(w[i].detail, "invalid_grant") != NULL;
    }
    is_int(n, 1, "a failing exchange is made once for all threads");
    ok(same, "every thread got the leader's error (%s)", w[0].detail);
    is_int(hits, 0, "and none reports a hit");
}

/* ---- the gate (obo_guard.h): every grant, one memory of answers */

/* A block of counters for this process (freed by the test's pool). */
static void metrics_on(apr_pool_t *p)
{
    obo_metrics_detach();
    obo_metrics_attach(apr_pcalloc(p, obo_metrics_size()), obo_metrics_size());
}

static apr_uint64_t metric(obo_metric m)
{
    obo_metrics_snapshot s;

    obo_metrics_read(&s);
    return s.c[m];
}

typedef struct {
    apr_status_t rv;
    obo_token_result *res;
    obo_exchange_error *xerr;
    int called;
} gated;

static gated through_gate(apr_pool_t *p, const obo_guard *g, const obo_exchange_req *r)
{
    gated o = { 0, NULL, NULL, -1 };

    o.rv = obo_guard_exchange(p, g, http, r, NULL, &o.res, &o.xerr, &o.called);
    return o;
}

/* The ordinary exchange's cache keys are what they were (obo_cache_key of
 * the same parts), and each grant has its own key for the same token. */
static void test_gate_key(apr_pool_t *p)
{
    obo_client *c = client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID);
    obo_exchange_req r = make_req(p, NULL, c, OBO_GRANT_OBO), te, rt;
    obo_cache_keyparts k;
    unsigned char h[OBO_SHA256_LEN];
    const char *obo_key;

    r.token_endpoint = "https://login.example/t/oauth2/v2.0/token";
    memset(&k, 0, sizeof(k));
    k.client_id = CLIENT_ID;
    k.authority = "https://login.example/t";
    k.scopes = r.scopes;
    k.exchange = "on-behalf-of";
    k.assertion = USER_TOKEN;
    obo_key = obo_guard_key(p, &r, "https://login.example/t", NULL);
    is_str(obo_key, obo_cache_key(p, &k), "On-Behalf-Of: the token cache key as before");
    obo_sha256(USER_TOKEN, strlen(USER_TOKEN), h);
    is_str(obo_guard_key(p, &r, "https://login.example/t", h), obo_key,
           "the same key from the caller's hash of the assertion");
    k.authority = r.token_endpoint;
    is_str(obo_guard_key(p, &r, NULL, NULL), obo_cache_key(p, &k),
           "no authority: the token endpoint");
    te = r;
    te.grant = OBO_GRANT_TOKEN_EXCHANGE;
    te.audiences = strs(p, "api://a", "api://b");
    k.exchange = "token-exchange";
    k.audience = "api://a api://b";
    is_str(obo_guard_key(p, &te, NULL, NULL), obo_cache_key(p, &k),
           "token exchange: the token cache key as before");
    rt = r;
    rt.grant = OBO_GRANT_REFRESH;
    ok(strcmp(obo_guard_key(p, &rt, NULL, NULL), obo_guard_key(p, &r, NULL, NULL)) != 0,
       "the refresh grant of the same token string has its own key");
    rt.assertion = "another-refresh-token";
    ok(strcmp(obo_guard_key(p, &rt, NULL, NULL),
              obo_guard_key(p, &r, NULL, NULL)) != 0, "another refresh token, another key");
    ok(!strstr(obo_guard_key(p, &rt, NULL, NULL), "another-refresh-token"),
       "the key holds a hash, never the token");
}

/* A refused refresh token is remembered like a refused assertion: the same
 * request is answered from memory, another refresh token is not. */
static void test_gate_remembers_refresh(apr_pool_t *p)
{
    srv_resp refused = { 400, NULL, "{\"error\":\"invalid_grant\",\"error_codes\":[70008],"
                         "\"error_description\":\"AADSTS70008: the refresh token has "
                         "expired\"}", 0 };
    mem_be *m;
    obo_memo *memo = NULL;
    srv *s = srv_start(1, &refused);
    obo_guard g = { mem_cache(p, &m), NULL, apr_time_from_sec(30) };
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_REFRESH);
    gated g1, g2, g3;

    metrics_on(p);
    obo_memo_create(p, 16, &memo);
    g.local = memo;
    r.assertion = "RT-refused";
    g1 = through_gate(p, &g, &r);
    g2 = through_gate(p, &g, &r);
    is_int(g1.rv, APR_EACCES, "refused refresh token: APR_EACCES");
    is_int(g1.called, 1, "the first asks the IdP");
    is_int(g2.rv, APR_EACCES, "the same request again: APR_EACCES");
    is_int(g2.called, 0, "answered from memory");
    is_int(g2.xerr ? g2.xerr->kind : 0, OBO_XERR_INVALID_GRANT, "the same kind");
    is_str(g2.xerr ? g2.xerr->error_codes : "", "[70008]", "the same error codes");
    is_int(srv_count(s), 1, "one IdP call");
    is_int(metric(OBO_M_IDP_AVOIDED_REMEMBERED), 1, "counted as a remembered answer");
    r.assertion = "RT-other";
    g3 = through_gate(p, &g, &r);
    is_int(g3.called, 1, "another refresh token asks the IdP");
    is_int(srv_count(s), 2, "two IdP calls");
    obo_metrics_detach();
    srv_stop(s);
}

/* A 429 with Retry-After on any grant pauses the endpoint for every grant
 * and user, in this process and (through the cache) in another. */
static void test_gate_pause_any_grant(apr_pool_t *p)
{
    srv_resp busy = { 429, "Retry-After: 100000\r\n", "{}", 0 };
    mem_be *m;
    obo_memo *memo1 = NULL, *memo2 = NULL;
    srv *s = srv_start(1, &busy);
    obo_guard g = { mem_cache(p, &m), NULL, apr_time_from_sec(30) }, g2;
    obo_exchange_req r = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID),
                                  OBO_GRANT_REFRESH), o;
    gated a, b, c;

    metrics_on(p);
    obo_memo_create(p, 16, &memo1);
    obo_memo_create(p, 16, &memo2);
    g.local = memo1;
    g2 = g;
    g2.local = memo2;
    r.assertion = "RT-1";
    r.max_retry_wait = apr_time_from_msec(10);
    a = through_gate(p, &g, &r);
    o = r;
    o.grant = OBO_GRANT_OBO;
    o.assertion = "another-user-token";
    b = through_gate(p, &g, &o);
    c = through_gate(p, &g2, &o);
    is_int(a.rv, APR_EAGAIN, "429 on a refresh: APR_EAGAIN");
    is_int(a.xerr ? a.xerr->kind : 0, OBO_XERR_THROTTLED, "THROTTLED");
    is_int(a.xerr ? (int)a.xerr->retry_after : -1, 300, "Retry-After capped at 300 s");
    is_int(b.rv, APR_EAGAIN, "then an On-Behalf-Of exchange of another user: paused");
    is_int(b.called, 0, "no IdP call");
    ok(b.xerr && b.xerr->kind == OBO_XERR_THROTTLED && b.xerr->retry_after > 295
       && b.xerr->retry_after <= 300, "THROTTLED with the seconds left (%d)",
       b.xerr ? (int)b.xerr->retry_after : -1);
    is_int(c.rv, APR_EAGAIN, "another process, through the cache: paused");
    is_int(srv_count(s), 1, "one IdP call in all");
    is_int(metric(OBO_M_IDP_AVOIDED_PAUSED), 2, "two calls counted as avoided by the pause");
    obo_metrics_detach();
    srv_stop(s);
}

/* ---- long-running sessions through the gate */

#define SHORT_BODY "{\"token_type\":\"Bearer\",\"scope\":\"api://down/read\",\"expires_in\":1," \
    "\"access_token\":\"downstream-AT-1\",\"refresh_token\":\"downstream-RT-1\"}"

static obo_session_cfg session_cfg(apr_pool_t *p, srv *s, obo_cache *c, obo_memo *memo)
{
    obo_session_cfg sc;
    apr_array_header_t *dss = apr_array_make(p, 1, sizeof(obo_session_ds));
    obo_session_ds *d = apr_array_push(dss);

    memset(&sc, 0, sizeof(sc));
    d->name = NULL;
    d->scopes = strs(p, "api://down/read", "offline_access");
    sc.cache = c;
    sc.http = http;
    sc.req = make_req(p, s, client_secret(p, OBO_AUTH_SECRET_POST, CLIENT_ID), OBO_GRANT_OBO);
    sc.req.max_retry_wait = apr_time_from_msec(10);
    sc.downstreams = dss;
    sc.idle = apr_time_from_sec(3600);
    sc.max = apr_time_from_sec(7200);
    sc.flight.lock_ttl = apr_time_from_sec(10);
    sc.flight.max_wait = apr_time_from_sec(10);
    sc.flight.poll = apr_time_from_msec(5);
    sc.negative_ttl = apr_time_from_sec(30);
    sc.guard = memo;
    return sc;
}

typedef struct {
    apr_status_t rv;
    const char *key;
    obo_exchange_error *xerr;
} opened;

static opened session_open(apr_pool_t *p, const obo_session_cfg *c, const char *token)
{
    opened o = { 0, NULL, NULL };
    int created = 0, failed = 0;

    o.rv = obo_session_open(p, c, "tid+oid\nt\nu", token, apr_time_now()
                            + apr_time_from_sec(3600), &o.key, &created, &o.xerr, &failed);
    return o;
}

/* Five identical requests that need consent: one IdP call, five identical
 * refusals (the ordinary exchange's negative cache). */
static void test_session_remembers(apr_pool_t *p)
{
    srv_resp consent = { 400, NULL, "{\"error\":\"invalid_grant\",\"suberror\":"
                         "\"consent_required\",\"error_codes\":[65001],"
                         "\"error_description\":\"AADSTS65001: no consent\"}", 0 };
    mem_be *m;
    obo_memo *memo = NULL;
    srv *s = srv_start(1, &consent);
    obo_session_cfg c;
    opened o[5];
    int i, same = 1;

    obo_memo_create(p, 16, &memo);
    c = session_cfg(p, s, mem_cache(p, &m), memo);
    for (i = 0; i < 5; i++) {
        o[i] = session_open(p, &c, USER_TOKEN);
        same = same && o[i].rv == APR_EACCES && o[i].xerr
               && o[i].xerr->kind == OBO_XERR_INTERACTION
               && o[i].xerr->suberror && !strcmp(o[i].xerr->suberror, "consent_required");
    }
    ok(same, "five session starts: five consent_required refusals");
    is_int(srv_count(s), 1, "one IdP call (%d)", srv_count(s));
    srv_stop(s);
}

/* A 429 on a session's refresh pauses the endpoint: the refresh, a new
 * session and the ordinary exchange then make no IdP call, and the session
 * stays. Its status is APR_EBUSY, not the cache failure's APR_EAGAIN. */
static void test_session_pause(apr_pool_t *p)
{
    srv_resp script[2] = { { 200, NULL, SHORT_BODY, 0 },
                           { 429, "Retry-After: 100000\r\n", "{}", 0 } };
    mem_be *m;
    obo_memo *memo = NULL;
    srv *s = srv_start(2, script);
    obo_cache *cache = mem_cache(p, &m);
    obo_session_cfg c;
    obo_acquire a = make_acquire(p, s, cache);
    obo_token_result *t = NULL;
    obo_exchange_error *x = NULL, *x2 = NULL;
    opened o, o2;
    got g;
    int hit = 0;
    apr_status_t rv, rv2;

    obo_memo_create(p, 16, &memo);
    c = session_cfg(p, s, cache, memo);
    o = session_open(p, &c, USER_TOKEN);
    is_int(o.rv, APR_SUCCESS, "session opened");
    apr_sleep(apr_time_from_msec(1100));          /* its access token (1 s) is gone */
    rv = o.key ? obo_session_token(p, &c, o.key, NULL, NULL, &t, &x, &hit) : APR_EGENERAL;
    is_int(rv, APR_EBUSY, "the refresh met a 429: APR_EBUSY, not a cache failure (%d)", rv);
    ok(x && x->kind == OBO_XERR_THROTTLED && x->retry_after == 300,
       "THROTTLED, Retry-After capped at 300 s");
    is_int(srv_count(s), 2, "two IdP calls: the start and the refresh");
    rv2 = o.key ? obo_session_token(p, &c, o.key, NULL, NULL, &t, &x2, &hit) : APR_EGENERAL;
    is_int(rv2, APR_EBUSY, "refresh again during the pause: APR_EBUSY, the session stays");
    ok(x2 && x2->kind == OBO_XERR_THROTTLED && x2->retry_after > 295,
       "THROTTLED with the seconds left");
    o2 = session_open(p, &c, "another-user-token");
    is_int(o2.rv, APR_EBUSY, "a new session during the pause: APR_EBUSY");
    ok(o2.xerr && o2.xerr->kind == OBO_XERR_THROTTLED, "THROTTLED");
    a.guard = memo;
    a.req.assertion = "a-third-user-token";
    g = acquire(p, &a);
    is_int(g.rv, APR_EAGAIN, "the ordinary exchange on the same endpoint: paused");
    is_int(srv_count(s), 2, "no IdP call during the pause (%d calls in all)", srv_count(s));
    srv_stop(s);
}

static void gate_tests(void)
{
    TAP_RUN(test_gate_key);
    TAP_RUN(test_gate_remembers_refresh);
    TAP_RUN(test_gate_pause_any_grant);
    TAP_RUN(test_session_remembers);
    TAP_RUN(test_session_pause);
}

/* A review found expires_in as a real (3600.5, 1e20) or a padded string
 * read as 0: the token was never cached, silently. */
static void test_expires_in_forms(apr_pool_t *p)
{
    static const struct { const char *v; apr_int64_t want; int warned; } c[] = {
        { "3600", 3600, 0 }, { "3600.0", 3600, 0 }, { "3600.5", 3600, 0 },
        { "1e20", 366 * 86400, 0 }, { "\"3600\"", 3600, 0 }, { "\" 3600 \"", 3600, 0 },
        { "\"36x\"", 0, 1 }, { "-5.0", 0, 1 }, { "0", 0, 1 }, { "null", 0, 1 },
    };
    size_t i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        const char *body = apr_psprintf(p, "{\"access_token\":\"a\",\"expires_in\":%s}", c[i].v);
        obo_token_result *t = NULL;
        obo_exchange_error *x = NULL;
        apr_status_t rv;

        log_reset();
        rv = obo_exchange_parse_response(p, 200, body, strlen(body), &t, &x);
        ok(rv == APR_SUCCESS && t && t->expires_in == c[i].want && t->lifetime == c[i].want,
           "expires_in %s: %" APR_INT64_T_FMT " s", c[i].v, t ? t->expires_in : -1);
        ok(log_has("OBO317") == c[i].warned, "expires_in %s: %s", c[i].v,
           c[i].warned ? "OBO317 says it is not a lifetime" : "no warning");
    }
}

static void exchange_tests(void)
{
    TAP_RUN(test_expires_in_forms);
    TAP_RUN(test_obo_secret_post);
    TAP_RUN(test_te_secret_basic);
    TAP_RUN(test_te_defaults);
    TAP_RUN(test_incomplete_request);
    TAP_RUN(test_private_key_jwt);
    TAP_RUN(test_private_key_jwt_rs256);
    TAP_RUN(test_load_certificate);
    TAP_RUN(test_err_consent);
    TAP_RUN(test_err_interaction_claims);
    TAP_RUN(test_err_invalid_grant);
    TAP_RUN(test_err_echo);
    TAP_RUN(test_err_client);
    TAP_RUN(test_err_request);
    TAP_RUN(test_err_upstream);
    TAP_RUN(test_retry_503);
    TAP_RUN(test_retry_429);
    TAP_RUN(test_retry_after_too_long);
    TAP_RUN(test_no_retry_setting);
    TAP_RUN(test_plaintext_refused);
    TAP_RUN(test_refused);
    TAP_RUN(test_timeout);
    TAP_RUN(test_log_hygiene);
}

static void token_tests(void)
{
    TAP_RUN(test_serialize);
    TAP_RUN(test_deserialize_huge_expiry);
    TAP_RUN(test_acquire_hit);
    TAP_RUN(test_acquire_l1);
    TAP_RUN(test_acquire_margin);
    TAP_RUN(test_acquire_no_expires_in);
    TAP_RUN(test_acquire_cap);
    TAP_RUN(test_acquire_no_cache);
    TAP_RUN(test_refresh);
    TAP_RUN(test_refresh_failure);
    TAP_RUN(test_acquire_error);
    TAP_RUN(test_acquire_stale_entry);
    TAP_RUN(test_guard_negative);
    TAP_RUN(test_guard_pause);
    TAP_RUN(test_flight_success);
    TAP_RUN(test_flight_uncacheable);
    TAP_RUN(test_flight_error);
}

int main(void)
{
    apr_pool_t *root;

    apr_initialize();
    obo_http_global_init();
    apr_pool_create(&root, NULL);
    obo_http_create(root, &http);
    obo_log_set(log_sink, NULL);
    obo_log_set_level(OBO_LOG_DEBUG);
    creds_make(root);
    exchange_tests();
    token_tests();
    gate_tests();
    creds_remove();
    apr_pool_destroy(root);
    apr_terminate();
    return tap_done();
}
