/* SPDX-License-Identifier: Apache-2.0 */
/* Logging for the portable core. The core never calls httpd; the glue injects
 * a sink (obo_log_set) that forwards to ap_log_error with the module index.
 * Every message carries a stable id ("OBO0xx") so operators can grep and
 * alert on it. Never pass a token, secret or key: use obo_fingerprint(). */
#ifndef OBO_LOG_H
#define OBO_LOG_H

#include <apr_pools.h>

typedef enum {
    OBO_LOG_ERR = 3, OBO_LOG_WARN = 4, OBO_LOG_NOTICE = 5,
    OBO_LOG_INFO = 6, OBO_LOG_DEBUG = 7
} obo_log_level;

typedef void obo_log_sink(void *baton, obo_log_level level, const char *msgid,
                          const char *msg);

void obo_log_set(obo_log_sink *sink, void *baton);
int obo_log_enabled(obo_log_level level);
void obo_log_set_level(obo_log_level level);
void obo_log(obo_log_level level, const char *msgid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For warnings that could repeat on every request (a dead backend): 1 at
 * most once per interval_s for one *last, a zero-initialised timestamp the
 * caller keeps per kind of warning. Lock-free and thread-safe: only the
 * thread that moves the timestamp gets 1. */
#define OBO_LOG_INTERVAL_S 30
int obo_log_ratelimit(apr_uint32_t *last, apr_uint32_t interval_s);

#endif
