/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP client for the core (libcurl). One obo_http per process, created in
 * child_init so a forked child never shares TLS state with its parent; easy
 * handles are pooled and reused so connections to the IdP stay alive. */
#ifndef OBO_HTTP_H
#define OBO_HTTP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef struct obo_http obo_http;

typedef struct obo_http_opts {
    const char *ca_file;                  /* NULL: the system trust store */
    apr_interval_time_t connect_timeout;  /* default 3 s */
    apr_interval_time_t timeout;          /* whole transfer, default 10 s */
    apr_size_t max_body;                  /* response bytes, default 1 MiB */
} obo_http_opts;

typedef struct obo_http_response {
    int status;                /* HTTP status */
    char *body;                /* NUL-terminated */
    apr_size_t len;
    const char *content_type;  /* may be NULL */
    apr_int64_t retry_after;   /* seconds from a Retry-After header, -1 if none */
} obo_http_response;

/* Call once per process before threads start (post_config). */
apr_status_t obo_http_global_init(void);

apr_status_t obo_http_create(apr_pool_t *p, obo_http **out);

/* GET (or POST when form != NULL, as application/x-www-form-urlencoded).
 * auth_header is a complete "Authorization" value or NULL. Only https,
 * no redirects. Returns APR_SUCCESS for any HTTP status; on transport
 * failure APR_TIMEUP (timeout), APR_ECONNREFUSED (could not connect or
 * resolve), APR_ENOSPC (body over max_body), APR_EGENERAL (TLS and the
 * rest), with *err a short reason. */
apr_status_t obo_http_request(obo_http *h, apr_pool_t *p, const char *url,
                              const char *form, const char *auth_header,
                              const obo_http_opts *opts,
                              obo_http_response **resp, const char **err);

/* application/x-www-form-urlencoded escaping (RFC 6749 appendix B). */
char *obo_http_form_escape(apr_pool_t *p, const char *s);

/* Appends the field "name=value" (escaped as above; NULL value: empty) to
 * form, an array of const char *: the form is apr_array_pstrcat(p, form,
 * '&'). */
void obo_http_form_add(apr_pool_t *p, apr_array_header_t *form, const char *name,
                       const char *value);

/* A file's content, at most max bytes (config-time loads, JWKS files),
 * NUL-terminated. Never blocks: only a regular file is read (a FIFO, socket,
 * device or directory is refused with APR_EINVAL, a larger file with
 * APR_ENOSPC); symbolic links are followed. *why (if why is not NULL): what
 * went wrong, without the path (in p), or NULL. */
apr_status_t obo_file_read(apr_pool_t *p, const char *path, apr_size_t max,
                           char **buf, apr_size_t *len, const char **why);

/* A CA file (OBOCACertificateFile) loaded as the TLS verification will load
 * it: PEM, every block readable, at least one certificate. APR_SUCCESS with
 * *ncerts, or APR_EINVAL (APR_ENOENT if it cannot be opened) with *err.
 * For the startup checks; nothing is kept. */
apr_status_t obo_http_check_ca_file(apr_pool_t *p, const char *path, int *ncerts,
                                    const char **err);

#endif
