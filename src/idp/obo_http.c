/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl client behind obo_http.h. */
#include "obo_http.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <apr_date.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define OBO_HTTP_IDLE_MAX 32   /* pooled easy handles kept per process */

struct obo_http {
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    CURL *idle[OBO_HTTP_IDLE_MAX];
    int nidle;
};

typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap, max;
    int overflow;
    obo_http_response *resp;
} transfer;

apr_status_t obo_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? APR_SUCCESS : APR_EGENERAL;
}

static apr_status_t http_cleanup(void *data)
{
    obo_http *h = data;
    while (h->nidle > 0) {
        curl_easy_cleanup(h->idle[--h->nidle]);
    }
    return APR_SUCCESS;
}

apr_status_t obo_http_create(apr_pool_t *p, obo_http **out)
{
    obo_http *h = apr_pcalloc(p, sizeof(*h));
    apr_status_t rv = apr_thread_mutex_create(&h->lock, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        h->pool = p;
        apr_pool_cleanup_register(p, h, http_cleanup, apr_pool_cleanup_null);
        *out = h;
    }
    return rv;
}

static CURL *handle_get(obo_http *h)
{
    CURL *c = NULL;

    apr_thread_mutex_lock(h->lock);
    if (h->nidle > 0) {
        c = h->idle[--h->nidle];
    }
    apr_thread_mutex_unlock(h->lock);
    return c ? c : curl_easy_init();
}

/* Reset keeps the handle's live connections and TLS sessions: keep-alive. */
static void handle_put(obo_http *h, CURL *c)
{
    curl_easy_reset(c);
    apr_thread_mutex_lock(h->lock);
    if (h->nidle < OBO_HTTP_IDLE_MAX) {
        h->idle[h->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(h->lock);
    if (c) {
        curl_easy_cleanup(c);
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *baton)
{
    transfer *t = baton;
    apr_size_t add = size * n;

    if (t->len + add > t->max) {
        t->overflow = 1;
        return 0;   /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (t->len + add + 1 > t->cap) {
        apr_size_t cap = t->cap ? t->cap * 2 : 4096;
        char *nb;
        while (cap < t->len + add + 1) {
            cap *= 2;
        }
        nb = apr_palloc(t->p, cap);
        if (t->len) {
            memcpy(nb, t->buf, t->len);
        }
        t->buf = nb;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, add);
    t->len += add;
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *baton)
{
    transfer *t = baton;
    apr_size_t len = size * n;
    static const char name[] = "retry-after:";

    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char *v = apr_pstrndup(t->p, data + sizeof(name) - 1, len - (sizeof(name) - 1));
        char *end;
        apr_int64_t secs;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        secs = apr_strtoi64(v, &end, 10);
        if (end != v && secs >= 0) {
            t->resp->retry_after = secs;
        }
        else {
            /* HTTP-date form */
            apr_time_t when = apr_date_parse_http(v);
            if (when > 0) {
                apr_int64_t d = apr_time_sec(when - apr_time_now());
                t->resp->retry_after = d > 0 ? d : 0;
            }
        }
    }
    return len;
}

static apr_status_t map_curl(CURLcode cc, int overflow)
{
    switch (cc) {
    case CURLE_OK:
        return APR_SUCCESS;
    case CURLE_OPERATION_TIMEDOUT:
        return APR_TIMEUP;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return APR_ECONNREFUSED;
    case CURLE_WRITE_ERROR:
        return overflow ? APR_ENOSPC : APR_EGENERAL;
    default:
        return APR_EGENERAL;
    }
}

static long ms(apr_interval_time_t t, long dflt)
{
    return t > 0 ? (long)(t / 1000) : dflt;
}

/* A CGI that mod_cgi forks from this process must not inherit the
 * connection to the identity provider (review 28A: it held it open and
 * could write into other users' exchanges): libcurl's sockets are created
 * close-on-exec, atomically (review 29: set after socket(), a fork by
 * another thread in between still passed it on). */
static curl_socket_t open_cloexec(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *a)
{
    (void)clientp;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void set_options(CURL *c, transfer *t, const char *url, const char *form,
                        struct curl_slist *hdrs, const obo_http_opts *o, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* The IdP is only ever reached over TLS, redirects or not. */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms(o->connect_timeout, 3000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms(o->timeout, 10000));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    }
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_auth_obo/" "0.1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    }
}

/* What an administrator does about a TLS verification failure. */
static const char *tls_hint(CURLcode cc, const obo_http_opts *o)
{
    if (cc == CURLE_PEER_FAILED_VERIFICATION
#if defined(CURLE_SSL_CACERT) && CURLE_SSL_CACERT != CURLE_PEER_FAILED_VERIFICATION
        || cc == CURLE_SSL_CACERT
#endif
        ) {
        return o->ca_file ? " (hint: the server's certificate does not verify against "
                            "OBOCACertificateFile: name the CA that issued it)"
                          : " (hint: set OBOCACertificateFile to the CA that issued the "
                            "server's certificate)";
    }
    if (cc == CURLE_SSL_CACERT_BADFILE) {
        return " (hint: OBOCACertificateFile cannot be read or holds no certificate)";
    }
    return "";
}

apr_status_t obo_http_request(obo_http *h, apr_pool_t *p, const char *url,
                              const char *form, const char *auth_header,
                              const obo_http_opts *opts,
                              obo_http_response **resp, const char **err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    transfer t = { p, NULL, 0, 0, opts->max_body ? opts->max_body : 1024 * 1024, 0, NULL };
    CURL *c = handle_get(h);
    CURLcode cc = CURLE_FAILED_INIT;
    apr_status_t rv;
    long status = 0;
    char *ctype = NULL;

    t.resp = apr_pcalloc(p, sizeof(*t.resp));
    t.resp->retry_after = -1;
    if (auth_header) {
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Authorization: ", auth_header, NULL));
    }
    if (c && hdrs) {
        set_options(c, &t, url, form, hdrs, opts, errbuf);
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
        t.resp->content_type = ctype ? apr_pstrdup(p, ctype) : NULL;
        handle_put(h, c);
    }
    curl_slist_free_all(hdrs);
    rv = map_curl(cc, t.overflow);
    if (rv == APR_SUCCESS) {
        t.resp->status = (int)status;
        t.resp->body = t.buf ? t.buf : apr_pstrdup(p, "");
        t.resp->len = t.len;
        t.resp->body[t.len] = '\0';
        *resp = t.resp;
    }
    else {
        *err = t.overflow ? "response too large"
             : apr_pstrcat(p, errbuf[0] ? errbuf : curl_easy_strerror(cc),
                           tls_hint(cc, opts), NULL);
    }
    return rv;
}

char *obo_http_form_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
            || ch == '-' || ch == '.' || ch == '_' || ch == '*') {
            *o++ = (char)ch;
        }
        else if (ch == ' ') {
            *o++ = '+';
        }
        else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

void obo_http_form_add(apr_pool_t *p, apr_array_header_t *form, const char *name,
                       const char *value)
{
    APR_ARRAY_PUSH(form, const char *) =
        apr_pstrcat(p, name, "=", obo_http_form_escape(p, value ? value : ""), NULL);
}

/* Opened without blocking and read only if the descriptor is a regular
 * file: the JWKS file is read again on every refresh and unknown kid, and a
 * FIFO there (nobody writing) held the request in open() for ever, then
 * every later one on fetch_lock (review 36A-F1); a file: secret that is a
 * FIFO hung configtest (36A-F2). Symbolic links are followed, unlike the
 * state files': administrators link these files (/etc/ssl, secrets
 * managers). The size is taken from fstat on the descriptor, not the name. */
apr_status_t obo_file_read(apr_pool_t *p, const char *path, apr_size_t max,
                           char **buf, apr_size_t *len, const char **why)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    apr_size_t got = 0;
    apr_status_t rv = fd < 0 ? errno : APR_SUCCESS;
    const char *w = NULL;
    char eb[128];
    ssize_t n = 1;

    if (rv != APR_SUCCESS) {
        w = apr_psprintf(p, "cannot open it (%s)", apr_strerror(rv, eb, sizeof(eb)));
    }
    if (rv == APR_SUCCESS && fstat(fd, &sb) != 0) {
        rv = errno;
        w = apr_psprintf(p, "cannot stat it (%s)", apr_strerror(rv, eb, sizeof(eb)));
    }
    if (rv == APR_SUCCESS && !S_ISREG(sb.st_mode)) {
        rv = APR_EINVAL;
        w = "it is not a regular file (a FIFO, socket, device or directory is not read)";
    }
    if (rv == APR_SUCCESS && (apr_size_t)sb.st_size > max) {
        rv = APR_ENOSPC;
        w = apr_psprintf(p, "it is larger than %" APR_SIZE_T_FMT " bytes", max);
    }
    if (rv == APR_SUCCESS) {
        *buf = apr_palloc(p, (apr_size_t)sb.st_size + 1);
        /* a file that shrinks meanwhile ends the loop at its end (n == 0) */
        while (rv == APR_SUCCESS && got < (apr_size_t)sb.st_size && n != 0) {
            n = read(fd, *buf + got, (apr_size_t)sb.st_size - got);
            got += n > 0 ? (apr_size_t)n : 0;
            rv = n < 0 && errno != EINTR ? errno : APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            w = apr_psprintf(p, "cannot read it (%s)", apr_strerror(rv, eb, sizeof(eb)));
        }
        (*buf)[got] = '\0';
        *len = got;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (why) {
        *why = w;
    }
    return rv;
}

/* A CA bundle is far smaller (a system's whole one: some 200 KiB). */
#define CA_FILE_MAX (16 * 1024 * 1024)

/* The way libcurl's OpenSSL backend reads CURLOPT_CAINFO
 * (X509_load_cert_crl_file): PEM blocks of certificates and CRLs, other
 * text between them ignored; one unreadable block, or no certificate at
 * all, and every TLS handshake to the IdP fails. Read with obo_file_read:
 * a FIFO there must not hang configtest (review 36A-F2). */
apr_status_t obo_http_check_ca_file(apr_pool_t *p, const char *path, int *ncerts,
                                    const char **err)
{
    apr_status_t rv = APR_EINVAL;
    STACK_OF(X509_INFO) *infos = NULL;
    BIO *in = NULL;
    char *text = NULL;
    apr_size_t len = 0;
    const char *why = NULL;
    int i, n = 0;

    ERR_clear_error();
    if (obo_file_read(p, path, CA_FILE_MAX, &text, &len, &why) != APR_SUCCESS) {
        rv = APR_ENOENT;
        *err = why;
    }
    else if ((in = BIO_new_mem_buf(text, (int)len)) == NULL) {
        *err = "out of memory";
    }
    else if ((infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL)) == NULL) {
        *err = apr_psprintf(p, "not PEM, or a PEM block in it is damaged (%s)",
                            ERR_reason_error_string(ERR_peek_last_error())
                            ? ERR_reason_error_string(ERR_peek_last_error()) : "no detail");
    }
    else {
        for (i = 0; i < sk_X509_INFO_num(infos); i++) {
            n += sk_X509_INFO_value(infos, i)->x509 != NULL;
        }
        *err = "no PEM certificate in it (BEGIN CERTIFICATE)";
        rv = n > 0 ? APR_SUCCESS : APR_EINVAL;
    }
    *ncerts = n;
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(in);
    ERR_clear_error();
    return rv;
}
