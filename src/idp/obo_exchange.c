/* SPDX-License-Identifier: Apache-2.0 */
/* The token exchange (see obo_exchange.h). One request is built per
 * attempt (a private_key_jwt assertion is single-use: fresh jti each time),
 * retried at most max_retries times on 5xx, 429 or a refused connection,
 * never on a timeout (a worker must not wait for the IdP's timeout twice),
 * never on a 4xx (the answer would not change) and never on a 429/503 whose
 * Retry-After is longer than the retry wait (the IdP asked for a pause). */
#include "obo_exchange.h"
#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_jwk.h"
#include "obo_jws.h"
#include "obo_log.h"
#include "obo_metrics.h"
#include "obo_text.h"

#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define OBO_GT_JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define OBO_GT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define OBO_GT_REFRESH "refresh_token"
#define OBO_TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define OBO_CA_JWT "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define OBO_ASSERTION_TTL 300                 /* seconds, RFC 7523 client assertion */
#define OBO_ACCESS_TOKEN_MAX (64 * 1024)
#define OBO_EXPIRES_IN_MAX (366 * 86400)      /* keeps expires_on arithmetic sane */
#define OBO_DEFAULT_RETRY_WAIT apr_time_from_sec(2)
#define OBO_JITTER_MIN_MS 100
#define OBO_JITTER_SPAN_MS 201                /* 100..300 ms */
#define OBO_LOG_TEXT_MAX 160                  /* IdP-supplied text quoted in logs */
#define OBO_RSA_MIN_BITS 2048

/* One exchange in progress. */
typedef struct obo_xctx {
    obo_http *h;
    apr_pool_t *p;
    const obo_exchange_req *req;
    const char *grant;          /* for logs */
    const char *scopes;         /* space-joined, "" if none */
    const char *fp;             /* fingerprint of the caller's token */
    const char *shown;          /* the token endpoint as logs show it (obo_url_shown) */
    int max_retries;
    apr_interval_time_t max_wait;
} obo_xctx;

/* The outcome of the last attempt. */
typedef struct obo_attempt {
    apr_status_t rv;            /* transport status */
    obo_http_response *resp;    /* when rv == APR_SUCCESS */
    const char *terr;           /* transport failure text */
    apr_time_t sent;            /* when the request left: expires_on is relative to it */
} obo_attempt;

/* ---- small helpers */

static const char *obo_join(apr_pool_t *p, const apr_array_header_t *a, const char *sep)
{
    const char *s = "";
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const char *v = APR_ARRAY_IDX(a, i, const char *);
        s = i == 0 ? v : apr_pstrcat(p, s, sep, v, NULL);
    }
    return s;
}

/* IdP-supplied text goes into a log line: no control characters (no forged
 * log lines), bounded length. */
static const char *obo_log_text(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrndup(p, s ? s : "-", OBO_LOG_TEXT_MAX);
    apr_size_t i;

    for (i = 0; out[i]; i++) {
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
            out[i] = ' ';
        }
    }
    return out;
}

static apr_status_t obo_bio_cleanup(void *b)
{
    BIO_free(b);
    return APR_SUCCESS;
}

static apr_status_t obo_x509_cleanup(void *x)
{
    X509_free(x);
    return APR_SUCCESS;
}

/* ---- private_key_jwt */

static const char *obo_assertion_alg(const obo_client *c)
{
    return c->assertion_alg ? c->assertion_alg : "PS256";
}

static json_t *obo_assertion_header(apr_pool_t *p, const obo_client *c, const char *alg)
{
    json_t *h = obo_json_pool(p, json_object());
    /* Entra identifies the certificate by x5t#S256 with PS256 and by the
     * SHA-1 x5t with RS256. */
    const char *name = strcmp(alg, "RS256") == 0 ? "x5t" : "x5t#S256";
    const char *thumb = strcmp(alg, "RS256") == 0 ? c->x5t : c->x5t_s256;

    if (h && (json_object_set_new(h, "typ", json_string("JWT")) != 0
              || (thumb && json_object_set_new(h, name, json_string(thumb)) != 0))) {
        h = NULL;
    }
    return h;
}

static json_t *obo_assertion_payload(apr_pool_t *p, const obo_client *c,
                                     const char *aud, const char *jti)
{
    json_int_t now = (json_int_t)apr_time_sec(apr_time_now());

    return obo_json_pool(p, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
                                      "iss", c->client_id, "sub", c->client_id,
                                      "aud", aud, "jti", jti, "iat", now, "nbf", now,
                                      "exp", now + OBO_ASSERTION_TTL));
}

apr_status_t obo_client_assertion(apr_pool_t *p, const obo_client *c,
                                  const char *token_endpoint, char **jwt,
                                  const char **err)
{
    apr_status_t rv = APR_EINVAL;
    const char *alg = obo_assertion_alg(c);
    unsigned char raw[16];
    json_t *hdr = NULL, *pl = NULL;

    if (c->key == NULL || c->client_id == NULL || token_endpoint == NULL) {
        *err = "private_key_jwt needs a client id, a key and a token endpoint";
    }
    else if ((rv = obo_random(raw, sizeof(raw))) != APR_SUCCESS) {
        *err = "no random bytes for the assertion jti";
    }
    else if ((hdr = obo_assertion_header(p, c, alg)) == NULL
             || (pl = obo_assertion_payload(p, c, token_endpoint,
                                            obo_b64url_encode(p, raw, sizeof(raw)))) == NULL) {
        *err = "cannot build the client assertion";
        rv = APR_ENOMEM;
    }
    else {
        rv = obo_jws_sign(p, c->key, alg, hdr, pl, jwt, err);
    }
    return rv;
}

/* ---- certificate loading */

static char *obo_x509_thumb(apr_pool_t *p, X509 *x, const EVP_MD *md)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    return X509_digest(x, md, buf, &n) == 1 ? obo_b64url_encode(p, buf, n) : NULL;
}

/* A certificate with its chain is far smaller. */
#define CERT_FILE_MAX (1024 * 1024)

/* Read with obo_file_read: a FIFO there must not hang the start (review
 * 36A-F2). */
static X509 *obo_x509_load(apr_pool_t *tmp, const char *path)
{
    char *pem = NULL;
    apr_size_t len = 0;
    BIO *bio = obo_file_read(tmp, path, CERT_FILE_MAX, &pem, &len, NULL) == APR_SUCCESS
               ? BIO_new_mem_buf(pem, (int)len) : NULL;
    X509 *x = NULL;

    if (bio) {
        apr_pool_cleanup_register(tmp, bio, obo_bio_cleanup, apr_pool_cleanup_null);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    }
    if (x) {
        apr_pool_cleanup_register(tmp, x, obo_x509_cleanup, apr_pool_cleanup_null);
    }
    return x;
}

/* PS256 and RS256 both need RSA; small moduli are refused like in obo_jwk. */
static const char *obo_key_check(X509 *x, EVP_PKEY *key)
{
    const char *why = NULL;

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        why = "client key is not an RSA key (PS256/RS256 need RSA)";
    }
    else if (EVP_PKEY_get_bits(key) < OBO_RSA_MIN_BITS) {
        why = "client RSA key is shorter than 2048 bits";
    }
    else if (X509_check_private_key(x, key) != 1) {
        why = "client key does not match the certificate";
    }
    return why;
}

/* The PEM text is as secret as the key: it is read into our own buffer and
 * wiped as soon as it is parsed (a stdio buffer behind BIO_new_file would
 * go back to the heap with the key in it). */
apr_status_t obo_pkey_load_pem(apr_pool_t *p, const char *path, EVP_PKEY **out,
                               const char **err)
{
    apr_status_t rv;
    apr_pool_t *tmp = NULL;
    char *pem = NULL;
    apr_size_t len = 0;
    const char *why = NULL;

    apr_pool_create(&tmp, p);
    if (obo_file_read(tmp, path, OBO_PEM_MAX, &pem, &len, &why) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read private key file %s: %s", path, why);
        rv = APR_ENOENT;
    }
    else {
        rv = obo_pkey_from_pem(p, pem, len, out, err);
    }
    if (pem) {
        OPENSSL_cleanse(pem, len);
    }
    apr_pool_destroy(tmp);
    return rv;
}

apr_status_t obo_client_load_certificate(apr_pool_t *p, const char *crt_path,
                                         const char *key_path, obo_client *c,
                                         const char **err)
{
    apr_status_t rv = APR_EINVAL;
    apr_pool_t *tmp = NULL;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;

    apr_pool_create(&tmp, p);
    if ((x = obo_x509_load(tmp, crt_path)) == NULL) {
        *err = "cannot read the PEM client certificate";
    }
    else if ((rv = obo_pkey_load_pem(p, key_path, &key, err)) == APR_SUCCESS
             && (*err = obo_key_check(x, key)) != NULL) {
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        c->x5t = obo_x509_thumb(p, x, EVP_sha1());
        c->x5t_s256 = obo_x509_thumb(p, x, EVP_sha256());
        c->key = key;
        rv = c->x5t && c->x5t_s256 ? APR_SUCCESS : APR_EGENERAL;
        *err = rv == APR_SUCCESS ? NULL : "cannot hash the client certificate";
    }
    ERR_clear_error();
    apr_pool_destroy(tmp);
    return rv;
}

/* ---- the request */

static void obo_form_obo(obo_xctx *x, apr_array_header_t *f)
{
    obo_http_form_add(x->p, f, "grant_type", OBO_GT_JWT_BEARER);
    obo_http_form_add(x->p, f, "assertion", x->req->assertion);
    obo_http_form_add(x->p, f, "requested_token_use", "on_behalf_of");
    /* Entra requires scope, so it is sent even if empty. */
    obo_http_form_add(x->p, f, "scope", x->scopes);
}

static void obo_form_8693(obo_xctx *x, apr_array_header_t *f)
{
    const obo_exchange_req *r = x->req;
    int i;

    obo_http_form_add(x->p, f, "grant_type", OBO_GT_EXCHANGE);
    obo_http_form_add(x->p, f, "subject_token", r->assertion);
    obo_http_form_add(x->p, f, "subject_token_type", OBO_TT_ACCESS);
    obo_http_form_add(x->p, f, "requested_token_type",
                 r->requested_token_type ? r->requested_token_type : OBO_TT_ACCESS);
    if (*x->scopes) {
        obo_http_form_add(x->p, f, "scope", x->scopes);
    }
    for (i = 0; r->audiences && i < r->audiences->nelts; i++) {
        obo_http_form_add(x->p, f, "audience", APR_ARRAY_IDX(r->audiences, i, const char *));
    }
}

/* RFC 6749 s.6; scope is optional there but names what the session holds. */
static void obo_form_refresh(obo_xctx *x, apr_array_header_t *f)
{
    obo_http_form_add(x->p, f, "grant_type", OBO_GT_REFRESH);
    obo_http_form_add(x->p, f, "refresh_token", x->req->assertion);
    if (*x->scopes) {
        obo_http_form_add(x->p, f, "scope", x->scopes);
    }
}

/* RFC 6749 s.4.4: the application's own identity; Entra needs the scope
 * (<resource>/.default), so it is sent even if empty. */
static void obo_form_client_credentials(obo_xctx *x, apr_array_header_t *f)
{
    obo_http_form_add(x->p, f, "grant_type", "client_credentials");
    obo_http_form_add(x->p, f, "scope", x->scopes);
}

/* RFC 6749 s.2.3.1: id and secret are form-urlencoded before base64. */
static const char *obo_basic_auth(apr_pool_t *p, const obo_client *c)
{
    const char *pair = apr_pstrcat(p, obo_http_form_escape(p, c->client_id ? c->client_id : ""),
                                   ":",
                                   obo_http_form_escape(p, c->secret ? c->secret : ""),
                                   NULL);

    return apr_pstrcat(p, "Basic ",
                       obo_b64_encode(p, (const unsigned char *)pair, strlen(pair)), NULL);
}

apr_status_t obo_client_authenticate(apr_pool_t *p, const obo_client *c, const char *aud,
                                     apr_array_header_t *form, const char **auth,
                                     const char **err)
{
    apr_status_t rv = APR_SUCCESS;
    char *jwt = NULL;

    obo_http_form_add(p, form, "client_id", c->client_id);
    if (c->auth == OBO_AUTH_SECRET_POST) {
        obo_http_form_add(p, form, "client_secret", c->secret);
    }
    else if (c->auth == OBO_AUTH_SECRET_BASIC) {
        *auth = obo_basic_auth(p, c);
    }
    else if ((rv = obo_client_assertion(p, c, aud, &jwt, err)) == APR_SUCCESS) {
        obo_http_form_add(p, form, "client_assertion_type", OBO_CA_JWT);
        obo_http_form_add(p, form, "client_assertion", jwt);
    }
    return rv;
}

/* Client authentication: form fields and/or the Authorization header. */
static apr_status_t obo_form_client(obo_xctx *x, apr_array_header_t *f,
                                    const char **auth, const char **err)
{
    return obo_client_authenticate(x->p, x->req->client, x->req->token_endpoint, f, auth, err);
}

static void obo_log_attempt(obo_xctx *x, const obo_attempt *a)
{
    long ms = (long)apr_time_as_msec(apr_time_now() - a->sent);

    if (a->rv == APR_SUCCESS) {
        obo_log(OBO_LOG_INFO, "OBO301", "token request to %s: grant %s, scopes \"%s\", "
                "assertion %s, %ld ms, HTTP %d", x->shown, x->grant,
                x->scopes, x->fp, ms, a->resp->status);
    }
    else {
        obo_log(OBO_LOG_INFO, "OBO301", "token request to %s: grant %s, scopes \"%s\", "
                "assertion %s, %ld ms, no response: %s", x->shown, x->grant,
                x->scopes, x->fp, ms, obo_log_text(x->p, a->terr));
    }
}

/* One attempt. Only a local failure (no assertion could be signed) is an
 * error here; the transport's outcome is left in *a for the caller. */
static apr_status_t obo_send_once(obo_xctx *x, obo_attempt *a, const char **err)
{
    apr_array_header_t *f = apr_array_make(x->p, 10, sizeof(const char *));
    const char *auth = NULL;
    apr_status_t rv = obo_form_client(x, f, &auth, err);

    if (rv == APR_SUCCESS) {
        if (x->req->grant == OBO_GRANT_OBO) {
            obo_form_obo(x, f);
        }
        else if (x->req->grant == OBO_GRANT_REFRESH) {
            obo_form_refresh(x, f);
        }
        else if (x->req->grant == OBO_GRANT_CLIENT_CREDENTIALS) {
            obo_form_client_credentials(x, f);
        }
        else {
            obo_form_8693(x, f);
        }
        a->resp = NULL;
        a->terr = NULL;
        a->sent = apr_time_now();
        a->rv = obo_http_request(x->h, x->p, x->req->token_endpoint, obo_join(x->p, f, "&"),
                                 auth, &x->req->http, &a->resp, &a->terr);
        obo_log_attempt(x, a);
    }
    return rv;
}

/* A 429 or 503 whose Retry-After is longer than this client may wait: the
 * IdP asked for a pause. A retry before it passes would be refused as well,
 * after holding the worker for the whole wait; the caller answers 503 with
 * Retry-After instead (and obo_guard pauses the endpoint). Retry-After is
 * whole seconds, so "longer than max_wait" is "longer than its seconds". */
static int obo_pause_asked(const obo_xctx *x, const obo_http_response *r)
{
    return (r->status == 429 || r->status == 503)
           && r->retry_after > (apr_int64_t)apr_time_sec(x->max_wait);
}

/* Worth a second try: the IdP is overloaded or restarting, or the
 * connection was refused (a node going away). A timeout is not: the worker
 * has already waited the whole configured time once. */
static int obo_retryable(const obo_xctx *x, const obo_attempt *a)
{
    return a->rv == APR_SUCCESS
           ? (a->resp->status >= 500 || a->resp->status == 429) && !obo_pause_asked(x, a->resp)
           : a->rv == APR_ECONNREFUSED;
}

/* Retry-After when the IdP gave one (capped: a long one on 429/503 is not
 * retried at all, see obo_pause_asked), else 100-300 ms of jitter so
 * that the workers that failed together do not retry together. */
static apr_interval_time_t obo_retry_wait(const obo_xctx *x, const obo_attempt *a)
{
    unsigned char r[2] = { 0, 0 };
    apr_interval_time_t w;

    if (a->rv == APR_SUCCESS && a->resp->retry_after >= 0) {
        w = a->resp->retry_after > apr_time_sec(x->max_wait)
            ? x->max_wait : apr_time_from_sec(a->resp->retry_after);
    }
    else {
        obo_random(r, sizeof(r));
        w = apr_time_from_msec(OBO_JITTER_MIN_MS + ((r[0] << 8) | r[1]) % OBO_JITTER_SPAN_MS);
    }
    return w;
}

/* An attempt's class for the metrics. The IdP's error, once parsed, tells
 * a user's refused token (user_error) from a refusal of our own request. */
static obo_m_outcome obo_attempt_outcome(const obo_attempt *a, const obo_exchange_error *e)
{
    if (a->rv != APR_SUCCESS || !e) {
        return obo_metrics_http_outcome(a->rv, a->resp ? a->resp->status : 0);
    }
    return e->kind == OBO_XERR_INTERACTION || e->kind == OBO_XERR_INVALID_GRANT
           ? OBO_M_USER_ERROR
           : e->kind == OBO_XERR_CLIENT || e->kind == OBO_XERR_REQUEST
           ? OBO_M_CLIENT_ERROR : OBO_M_SERVER_ERROR;
}

static apr_status_t obo_send(obo_xctx *x, obo_attempt *a, const char **err)
{
    apr_status_t rv;
    apr_interval_time_t w;
    int attempt = 0;

    while ((rv = obo_send_once(x, a, err)) == APR_SUCCESS
           && attempt++ < x->max_retries && obo_retryable(x, a)) {
        obo_metrics_idp(OBO_M_EP_TOKEN, obo_attempt_outcome(a, NULL), a->sent);
        obo_metrics_provider_idp(x->req->metrics_provider, OBO_M_EP_TOKEN,
                                 obo_attempt_outcome(a, NULL), a->sent);
        w = obo_retry_wait(x, a);
        obo_log(OBO_LOG_NOTICE, "OBO302", "token request to %s failed (%s); retrying in "
                "%ld ms", x->shown,
                a->rv == APR_SUCCESS ? apr_itoa(x->p, a->resp->status) : "connect",
                (long)apr_time_as_msec(w));
        apr_sleep(w);
    }
    return rv;
}

/* ---- the answer */

/* expires_in (and refresh_in) is a number (an integer, or a real such as
 * 3600.0 or 1e20 that some IdPs send, its whole seconds), or a numeric
 * string (Entra v1 endpoints), blanks around it allowed. */
static apr_int64_t obo_seconds(const json_t *j, const char *key)
{
    apr_int64_t v = 0;
    const char *s = obo_json_str(j, key);
    const json_t *n = json_object_get(j, key);
    char *end = NULL;

    if (s) {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        v = apr_strtoi64(s, &end, 10);
        while (end && (*end == ' ' || *end == '\t')) {
            end++;
        }
        v = (end == s || *end != '\0') ? 0 : v;
    }
    else if (json_is_real(n)) {
        double d = json_real_value(n);
        /* NaN fails both comparisons */
        v = d >= 0 && d < (double)OBO_EXPIRES_IN_MAX ? (apr_int64_t)d
            : d >= (double)OBO_EXPIRES_IN_MAX ? OBO_EXPIRES_IN_MAX : 0;
    }
    else if (obo_json_int(j, key, &v) != APR_SUCCESS) {
        v = 0;
    }
    return v < 0 ? 0 : v > OBO_EXPIRES_IN_MAX ? OBO_EXPIRES_IN_MAX : v;
}

static apr_int64_t obo_expires_in(const json_t *j)
{
    return obo_seconds(j, "expires_in");
}

static const char *obo_dup_str(apr_pool_t *p, const json_t *j, const char *key)
{
    const char *s = obo_json_str(j, key);

    return s ? apr_pstrdup(p, s) : NULL;
}

static void obo_set_str(json_t *j, const char *k, const char *v)
{
    if (v) {
        json_object_set_new(j, k, json_string(v));
    }
}

int obo_exchange_error_is_consent(const obo_exchange_error *e)
{
    return (e->error && strcmp(e->error, "consent_required") == 0)
           || (e->error_codes && strstr(e->error_codes, "65001") != NULL);
}

json_t *obo_exchange_error_to_json(apr_pool_t *p, const obo_exchange_error *e)
{
    json_t *j = e ? obo_json_pool(p, json_object()) : NULL;

    if (j) {
        json_object_set_new(j, "kind", json_integer(e->kind));
        json_object_set_new(j, "status", json_integer(e->http_status));
        json_object_set_new(j, "retry_after", json_integer((json_int_t)e->retry_after));
        json_object_set_new(j, "part", json_integer(e->part));
        obo_set_str(j, "error", e->error);
        obo_set_str(j, "error_description", e->error_description);
        obo_set_str(j, "suberror", e->suberror);
        obo_set_str(j, "claims", e->claims);
        obo_set_str(j, "error_codes", e->error_codes);
        obo_set_str(j, "trace_id", e->trace_id);
        obo_set_str(j, "correlation_id", e->correlation_id);
        obo_set_str(j, "detail", e->detail);
    }
    return j;
}

obo_exchange_error *obo_exchange_error_from_json(apr_pool_t *p, const json_t *j)
{
    apr_int64_t kind = 0, status = 0, ra = 0, part = 0;
    obo_exchange_error *e;

    if (!j || obo_json_int(j, "kind", &kind) != APR_SUCCESS
        || kind <= OBO_XERR_NONE || kind > OBO_XERR_THROTTLED) {
        return NULL;
    }
    obo_json_int(j, "status", &status);
    obo_json_int(j, "retry_after", &ra);
    obo_json_int(j, "part", &part);
    e = apr_pcalloc(p, sizeof(*e));
    e->kind = (obo_exchange_errkind)kind;
    e->http_status = status >= 0 && status < 1000 ? (int)status : 0;
    e->retry_after = ra;
    e->part = part >= 0 && part < 1000 ? (int)part : 0;
    e->error = obo_dup_str(p, j, "error");
    e->error_description = obo_dup_str(p, j, "error_description");
    e->suberror = obo_dup_str(p, j, "suberror");
    e->claims = obo_dup_str(p, j, "claims");
    e->error_codes = obo_dup_str(p, j, "error_codes");
    e->trace_id = obo_dup_str(p, j, "trace_id");
    e->correlation_id = obo_dup_str(p, j, "correlation_id");
    e->detail = obo_dup_str(p, j, "detail");
    return e;
}

/* A missing or unusable expires_in becomes 0: the token is still returned
 * (the IdP did issue it) but the caller must not cache it, as its lifetime
 * is unknown. */
static apr_status_t obo_parse_success(obo_xctx *x, const obo_attempt *a,
                                      obo_token_result **res, const char **why)
{
    apr_status_t rv;
    json_t *j = NULL;
    const char *at;
    obo_token_result *t;

    rv = obo_json_parse(x->p, a->resp->body, a->resp->len, OBO_JSON_MAX_DEPTH, 1, &j, why);
    if (rv == APR_SUCCESS && ((at = obo_json_str(j, "access_token")) == NULL || !*at
                              || strlen(at) > OBO_ACCESS_TOKEN_MAX)) {
        *why = "no usable access_token in the response";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        t = apr_pcalloc(x->p, sizeof(*t));
        t->access_token = apr_pstrdup(x->p, at);
        t->token_type = obo_json_str(j, "token_type") ? obo_dup_str(x->p, j, "token_type")
                                                      : "Bearer";
        t->scope = obo_dup_str(x->p, j, "scope");
        t->refresh_token = obo_dup_str(x->p, j, "refresh_token");
        t->issued_token_type = obo_dup_str(x->p, j, "issued_token_type");
        t->expires_in = obo_expires_in(j);
        t->lifetime = t->expires_in;
        if (t->expires_in == 0 && json_object_get(j, "expires_in")) {
            obo_log(OBO_LOG_WARN, "OBO317", "token endpoint %s answered an expires_in that is "
                    "not a lifetime (not a positive number of seconds): the token is handed "
                    "on but not cached",
                    x->shown);
        }
        t->expires_on = a->sent + apr_time_from_sec(t->expires_in);
        /* MSAL's refresh_in: when to renew it early; ignored unless it falls
         * inside the lifetime. */
        t->refresh_in = obo_seconds(j, "refresh_in");
        t->refresh_in = t->refresh_in < t->expires_in ? t->refresh_in : 0;
        *res = t;
    }
    return rv;
}

static int obo_codes_have(const json_t *codes, const long *want, int n)
{
    size_t i;
    int k, found = 0;

    for (i = 0; json_is_array(codes) && i < json_array_size(codes); i++) {
        const json_t *c = json_array_get(codes, i);
        for (k = 0; k < n && json_is_integer(c); k++) {
            found |= json_integer_value(c) == want[k];
        }
    }
    return found;
}

static int obo_is(const char *s, const char *a, const char *b)
{
    return s && ((a && strcmp(s, a) == 0) || (b && strcmp(s, b) == 0));
}

/* The order matters: a user-fixable condition wins over invalid_grant
 * (Entra reports MFA enrolment as invalid_grant + 50079), and anything the
 * IdP says while failing (5xx, 429) is its own trouble, not ours. */
static obo_exchange_errkind obo_classify(const obo_exchange_error *e, const json_t *codes)
{
    /* MFA required, MFA registration, conditional access, consent. */
    static const long user[] = { 50076, 50079, 50158, 65001 };
    /* Bad secret, bad assertion signature, expired/unknown certificate. */
    static const long client[] = { 7000215, 700027, 7000222 };
    const char *err = e->error;
    obo_exchange_errkind kind = OBO_XERR_UPSTREAM;

    if (e->http_status >= 500 || e->http_status == 429) {
        kind = OBO_XERR_UPSTREAM;
    }
    else if (obo_is(err, "interaction_required", "consent_required") || e->claims
             || obo_codes_have(codes, user, 4)) {
        kind = OBO_XERR_INTERACTION;
    }
    else if (obo_is(err, "invalid_grant", NULL)) {
        kind = OBO_XERR_INVALID_GRANT;
    }
    else if (obo_is(err, "invalid_client", "unauthorized_client") || e->http_status == 401
             || obo_codes_have(codes, client, 3)) {
        kind = OBO_XERR_CLIENT;
    }
    else if (obo_is(err, "invalid_scope", "invalid_request")
             || obo_is(err, "unsupported_grant_type", "invalid_target")) {
        kind = OBO_XERR_REQUEST;
    }
    return kind;
}

static obo_exchange_error *obo_xerr_new(apr_pool_t *p, obo_exchange_errkind kind,
                                        int status, const char *detail)
{
    obo_exchange_error *e = apr_pcalloc(p, sizeof(*e));

    e->kind = kind;
    e->http_status = status;
    e->detail = detail;
    return e;
}

/* A non-200 answer: the OAuth error body if there is one. */
/* ---- what the IdP says back, without what we sent it */

/* A form field whose value is a credential or a token. */
static const char *const obo_secret_fields[] = {
    "client_secret=", "client_assertion=", "assertion=", "subject_token=", "actor_token=",
    "refresh_token=", "access_token=", "token=", "password=", "code=", NULL
};

static int obo_b64_char(char c)
{
    return apr_isalnum(c) || c == '-' || c == '_' || c == '=' || c == '+' || c == '/';
}

/* Length of the redacted span that starts a word at s, or 0: a credential
 * form field's value (to '&', a space or a quote), a JWT ("eyJ" then
 * base64url and dots) or a Basic credential. */
static apr_size_t obo_secret_span(const char *s)
{
    apr_size_t n = 0, k;
    int i;

    for (i = 0; obo_secret_fields[i]; i++) {
        k = strlen(obo_secret_fields[i]);
        if (!strncasecmp(s, obo_secret_fields[i], k)) {
            n = k + strcspn(s + k, "& \t\r\n\"'<>,;");
            return n > k ? n : 0;
        }
    }
    if (!strncmp(s, "eyJ", 3)) {
        while (obo_b64_char(s[n]) || s[n] == '.') {
            n++;
        }
        return n;
    }
    if (!strncasecmp(s, "Basic ", 6)) {
        for (n = 6; obo_b64_char(s[n]); n++) {
        }
        return n > 6 ? n : 0;
    }
    return 0;
}

/* s with every '+' spelled %20 (the other percent-encoding of a space). */
static const char *obo_plus_as_pct20(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        if (*s == '+') {
            memcpy(o, "%20", 3);
            o += 3;
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* The spellings of the client secret an IdP may echo: as configured, as
 * the form carried it (form-urlencoded), that encoded again, with %20 for
 * '+', and inside the Basic credential (base64 of id:secret, both
 * form-urlencoded, RFC 6749 2.3.1), also form-urlencoded (review 40A-F1:
 * the form's spelling passed unless it followed client_secret=). */
static apr_array_header_t *obo_secret_spellings(apr_pool_t *p, const obo_client *c)
{
    apr_array_header_t *a = apr_array_make(p, 6, sizeof(const char *));
    const char *enc, *pair, *b64;

    if (!c || !c->secret || strlen(c->secret) < 6) {
        return a;
    }
    enc = obo_http_form_escape(p, c->secret);
    pair = apr_pstrcat(p, obo_http_form_escape(p, c->client_id ? c->client_id : ""), ":", enc,
                       NULL);
    b64 = obo_b64_encode(p, (const unsigned char *)pair, strlen(pair));
    APR_ARRAY_PUSH(a, const char *) = c->secret;
    APR_ARRAY_PUSH(a, const char *) = enc;
    APR_ARRAY_PUSH(a, const char *) = obo_http_form_escape(p, enc);
    APR_ARRAY_PUSH(a, const char *) = obo_plus_as_pct20(p, enc);
    APR_ARRAY_PUSH(a, const char *) = b64;
    APR_ARRAY_PUSH(a, const char *) = obo_http_form_escape(p, b64);
    return a;
}

/* The length of the spelling of the secret at s, or 0 (hex digits of a
 * percent-encoding in either case). */
static apr_size_t obo_secret_at(const char *s, const apr_array_header_t *spellings)
{
    int i;

    for (i = 0; i < spellings->nelts; i++) {
        const char *v = APR_ARRAY_IDX(spellings, i, const char *);
        apr_size_t n = strlen(v);
        if (n && !strncasecmp(s, v, n)) {
            return n;
        }
    }
    return 0;
}

/* text as the IdP wrote it, with what this request sent it replaced by
 * "[redacted]": the client secret in any of its spellings wherever it
 * appears, and credential fields, JWTs and Basic credentials where a word
 * starts. An IdP (a further provider gets the client secret too) may echo
 * the form in error_description, which reaches the error log and, for
 * interaction_required, the caller (review 39A-F9). */
static const char *obo_redact(apr_pool_t *p, const char *text, const obo_client *c)
{
    const apr_array_header_t *spellings;
    apr_size_t o = 0, n;
    char *out;

    if (!text) {
        return NULL;
    }
    spellings = obo_secret_spellings(p, c);
    /* each span is at least 3 bytes and becomes 10 */
    out = apr_palloc(p, strlen(text) * 4 + 1);
    while (*text) {
        n = obo_secret_at(text, spellings);
        if (!n && (o == 0 || !(apr_isalnum(out[o - 1]) || out[o - 1] == '_'))) {
            n = obo_secret_span(text);
        }
        if (n > 0) {
            memcpy(out + o, "[redacted]", 10);
            o += 10;
            text += n;
        }
        else {
            out[o++] = *text++;
        }
    }
    out[o] = '\0';
    return out;
}

static obo_exchange_error *obo_parse_error(obo_xctx *x, const obo_attempt *a)
{
    const obo_http_response *r = a->resp;
    obo_exchange_error *e = obo_xerr_new(x->p, OBO_XERR_UPSTREAM, r->status, NULL);
    const char *why = NULL;
    json_t *j = NULL, *codes = NULL;

    e->retry_after = r->retry_after;    /* obo_guard pauses the endpoint on 429/503 */

    if (obo_json_parse(x->p, r->body, r->len, OBO_JSON_MAX_DEPTH, 1, &j, &why)
        == APR_SUCCESS) {
        const obo_client *c = x->req->client;

        e->error = obo_redact(x->p, obo_dup_str(x->p, j, "error"), c);
        e->error_description = obo_redact(x->p, obo_dup_str(x->p, j, "error_description"), c);
        e->suberror = obo_redact(x->p, obo_dup_str(x->p, j, "suberror"), c);
        e->claims = obo_redact(x->p, obo_dup_str(x->p, j, "claims"), c);
        e->trace_id = obo_redact(x->p, obo_dup_str(x->p, j, "trace_id"), c);
        e->correlation_id = obo_redact(x->p, obo_dup_str(x->p, j, "correlation_id"), c);
        codes = json_object_get(j, "error_codes");
        e->error_codes = codes ? obo_redact(x->p, obo_json_dump(x->p, codes), c) : NULL;
    }
    e->kind = obo_pause_asked(x, r) ? OBO_XERR_THROTTLED : obo_classify(e, codes);
    e->detail = apr_psprintf(x->p, "identity provider answered HTTP %d%s%s%s%s", r->status,
                             e->error ? " " : "", e->error ? obo_log_text(x->p, e->error) : "",
                             j ? "" : " (body is not a JSON object: ",
                             j ? "" : apr_pstrcat(x->p, why, ")", NULL));
    if (e->kind == OBO_XERR_THROTTLED) {
        e->detail = apr_psprintf(x->p, "%s with Retry-After %" APR_INT64_T_FMT " s, longer "
                                 "than the %ld ms retry wait: not retried", e->detail,
                                 e->retry_after, (long)apr_time_as_msec(x->max_wait));
    }
    return e;
}

static obo_exchange_error *obo_transport_error(obo_xctx *x, const obo_attempt *a)
{
    const char *what = a->rv == APR_TIMEUP ? "identity provider timed out: "
                     : a->rv == APR_ECONNREFUSED ? "cannot connect to the identity provider: "
                     : "identity provider transport failure: ";

    return obo_xerr_new(x->p, a->rv == APR_TIMEUP ? OBO_XERR_TIMEOUT : OBO_XERR_UPSTREAM, 0,
                        apr_pstrcat(x->p, what, obo_log_text(x->p, a->terr), NULL));
}

/* The status returned with *xerr: the transport's for transport failures,
 * APR_EACCES when the IdP refused, APR_EINVAL for a bad request, APR_EAGAIN
 * when it asked for a pause (as obo_guard while paused), APR_EGENERAL for
 * an unusable upstream. */
static apr_status_t obo_kind_status(const obo_attempt *a, const obo_exchange_error *e)
{
    apr_status_t rv = APR_EGENERAL;

    if (a->rv != APR_SUCCESS) {
        rv = a->rv;
    }
    else if (e->kind == OBO_XERR_INTERACTION || e->kind == OBO_XERR_INVALID_GRANT
             || e->kind == OBO_XERR_CLIENT) {
        rv = APR_EACCES;
    }
    else if (e->kind == OBO_XERR_REQUEST) {
        rv = APR_EINVAL;
    }
    else if (e->kind == OBO_XERR_THROTTLED) {
        rv = APR_EAGAIN;
    }
    return rv;
}

static apr_status_t obo_interpret(obo_xctx *x, const obo_attempt *a,
                                  obo_token_result **res, obo_exchange_error **xerr)
{
    apr_status_t rv = APR_SUCCESS;
    const char *why = NULL;

    if (a->rv != APR_SUCCESS) {
        *xerr = obo_transport_error(x, a);
    }
    else if (a->resp->status != 200) {
        *xerr = obo_parse_error(x, a);
    }
    else if (obo_parse_success(x, a, res, &why) != APR_SUCCESS) {
        *xerr = obo_xerr_new(x->p, OBO_XERR_UPSTREAM, 200, apr_pstrcat(
                                 x->p, "unusable success response: ", why, NULL));
    }
    if (*xerr) {
        rv = obo_kind_status(a, *xerr);
    }
    return rv;
}

/* ---- logging of failures */

static const char *obo_auth_name(obo_client_auth auth)
{
    return auth == OBO_AUTH_SECRET_POST ? "client_secret_post"
         : auth == OBO_AUTH_SECRET_BASIC ? "client_secret_basic" : "private_key_jwt";
}

/* What the IdP said, for the log: its description and the ids its
 * support needs. Empty for transport failures. */
static const char *obo_idp_text(apr_pool_t *p, const obo_exchange_error *e)
{
    return e->http_status == 0 ? ""
        : apr_psprintf(p, ": %s (error_codes %s, trace_id %s, correlation_id %s)",
                       obo_log_text(p, e->error_description),
                       obo_log_text(p, e->error_codes), obo_log_text(p, e->trace_id),
                       obo_log_text(p, e->correlation_id));
}

static void obo_log_failure(obo_xctx *x, const obo_exchange_error *e)
{
    static const char *const ids[] = { "OBO319", "OBO311", "OBO312", "OBO310",
                                       "OBO313", "OBO314", "OBO315", "OBO316" };

    if (e->kind == OBO_XERR_CLIENT) {
        obo_log(OBO_LOG_ERR, "OBO310", "the identity provider REJECTED THIS SERVER'S CLIENT "
                "CREDENTIALS (client_id %s, %s) at %s - check OBOClientSecret / "
                "OBOClientCertificate (wrong or expired secret, certificate not registered "
                "or expired, wrong tenant?; at the caller's own tenant of a multi-tenant "
                "authority, the application may be disabled or not consented there): %s%s",
                obo_log_text(x->p, x->req->client->client_id),
                obo_auth_name(x->req->client->auth), x->shown, e->detail,
                obo_idp_text(x->p, e));
        obo_metrics_provider_failure_id(x->req->metrics_provider, OBO_M_EP_TOKEN, "OBO310");
    }
    else {
        /* The user must act, or sent a token the IdP refuses: expected under
         * conditional access, so not an error of this server. */
        int user = e->kind == OBO_XERR_INTERACTION || e->kind == OBO_XERR_INVALID_GRANT;
        /* A pause the IdP asked for is its choice, not a fault (OBO091 follows). */
        obo_log_level lvl = user ? OBO_LOG_INFO
                          : e->kind == OBO_XERR_THROTTLED ? OBO_LOG_WARN : OBO_LOG_ERR;
        obo_log(lvl, ids[e->kind],
                "token exchange at %s for assertion %s failed: "
                "%s%s", x->shown, x->fp,
                e->detail, obo_idp_text(x->p, e));
        if (!user) {
            obo_metrics_provider_failure_id(x->req->metrics_provider, OBO_M_EP_TOKEN,
                                            ids[e->kind]);
        }
    }
}

/* ---- entry point */

static void obo_xctx_init(obo_xctx *x, obo_http *h, apr_pool_t *p,
                          const obo_exchange_req *req)
{
    const char *tok = req->assertion ? req->assertion : "";

    x->h = h;
    x->p = p;
    x->req = req;
    x->grant = req->grant == OBO_GRANT_OBO ? "on-behalf-of"
             : req->grant == OBO_GRANT_REFRESH ? "refresh_token"
             : req->grant == OBO_GRANT_CLIENT_CREDENTIALS ? "client_credentials"
             : "token-exchange";
    x->scopes = obo_join(p, req->scopes, " ");
    /* The application's own grant has no caller token to name. */
    x->fp = req->assertion ? obo_fingerprint(p, tok, strlen(tok)) : "none (application)";
    x->shown = obo_url_shown(p, req->token_endpoint);
    /* 0 means "the default" like the zeroed obo_http_opts; negative: none. */
    x->max_retries = req->max_retries == 0 ? 1 : req->max_retries < 0 ? 0 : req->max_retries;
    x->max_wait = req->max_retry_wait == 0 ? OBO_DEFAULT_RETRY_WAIT
                : req->max_retry_wait < 0 ? 0 : req->max_retry_wait;
}

apr_status_t obo_exchange(obo_http *h, apr_pool_t *p, const obo_exchange_req *req,
                          obo_token_result **res, obo_exchange_error **xerr)
{
    obo_xctx x;
    obo_attempt a;
    obo_exchange_error *e = NULL;
    const char *err = NULL;
    apr_status_t rv;

    memset(&a, 0, sizeof(a));
    obo_xctx_init(&x, h, p, req);
    if (req->client == NULL || req->token_endpoint == NULL
        || (req->assertion == NULL && req->grant != OBO_GRANT_CLIENT_CREDENTIALS)) {
        e = obo_xerr_new(p, OBO_XERR_REQUEST, 0, "no client, token endpoint or assertion");
        rv = APR_EINVAL;
    }
    else if ((rv = obo_send(&x, &a, &err)) != APR_SUCCESS) {
        e = obo_xerr_new(p, OBO_XERR_CLIENT, 0, apr_pstrcat(
                             p, "cannot create the client assertion: ", err, NULL));
    }
    else {
        rv = obo_interpret(&x, &a, res, &e);
        obo_metrics_idp(OBO_M_EP_TOKEN, obo_attempt_outcome(&a, e), a.sent);
        obo_metrics_provider_idp(req->metrics_provider, OBO_M_EP_TOKEN,
                                 obo_attempt_outcome(&a, e), a.sent);
    }
    if (rv != APR_SUCCESS) {
        obo_log_failure(&x, e);
        *xerr = e;
    }
    return rv;
}

/* ---- the answer alone (fuzz targets, tests) */

apr_status_t obo_exchange_parse_response(apr_pool_t *p, int status, const char *body,
                                         apr_size_t len, obo_token_result **res,
                                         obo_exchange_error **xerr)
{
    obo_exchange_req req;
    obo_http_response resp;
    obo_attempt a;
    obo_xctx x;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    memset(&a, 0, sizeof(a));
    memset(&x, 0, sizeof(x));
    x.p = p;
    x.req = &req;
    resp.status = status;
    resp.body = (char *)body;
    resp.len = len;
    resp.retry_after = -1;
    a.resp = &resp;
    a.sent = apr_time_now();
    *res = NULL;
    *xerr = NULL;
    return obo_interpret(&x, &a, res, xerr);
}
