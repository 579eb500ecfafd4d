/* SPDX-License-Identifier: Apache-2.0 */
/* Injected logging for the core (see obo_log.h). */
#include "obo_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_time.h>

static obo_log_sink *log_sink;
static void *log_baton;
static obo_log_level log_level = OBO_LOG_WARN;

void obo_log_set(obo_log_sink *sink, void *baton)
{
    log_sink = sink;
    log_baton = baton;
}

void obo_log_set_level(obo_log_level level)
{
    log_level = level;
}

int obo_log_enabled(obo_log_level level)
{
    return level <= log_level;
}

void obo_log(obo_log_level level, const char *msgid, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!obo_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (log_sink) {
        log_sink(log_baton, level, msgid, buf);
    }
    else {
        fprintf(stderr, "[auth_obo:%d] %s: %s\n", (int)level, msgid, buf);
    }
}

int obo_log_ratelimit(apr_uint32_t *last, apr_uint32_t interval_s)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t seen = apr_atomic_read32(last);

    if (seen != 0 && now - seen < interval_s) {
        return 0;
    }
    return apr_atomic_cas32(last, now, seen) == seen;
}
