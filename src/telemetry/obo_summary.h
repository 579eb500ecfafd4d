/* SPDX-License-Identifier: Apache-2.0 */
/* The status page's verdicts: from the counters (obo_metrics_snapshot) and
 * what the answering process sees now (obo_metrics_live), one line per
 * concern an administrator asks about during an incident, each with a
 * plain verdict and the reason. One data model for the HTML page and the
 * JSON (mod_auth_obo_status.c renders it). */
#ifndef OBO_SUMMARY_H
#define OBO_SUMMARY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "obo_metrics.h"

typedef enum obo_verdict { OBO_V_OK, OBO_V_DEGRADED, OBO_V_FAILING } obo_verdict;

typedef struct obo_summary_line {
    const char *concern;     /* "requests", "identity provider 1 token", "keys 1", ... */
    obo_verdict verdict;
    const char *reason;      /* one sentence, no token, claim or user */
} obo_summary_line;

/* The lines, in the order shown (requests, each provider's endpoints, each
 * provider's keys, the cache, sessions, single flight), as
 * obo_summary_line, allocated from p. now: apr_time_now(). */
apr_array_header_t *obo_summary(apr_pool_t *p, const obo_metrics_snapshot *s,
                                const obo_metrics_live *live, apr_time_t now);

/* "OK", "degraded", "failing". */
const char *obo_verdict_name(obo_verdict v);

/* The worst verdict of the lines. */
obo_verdict obo_summary_worst(const apr_array_header_t *lines);

#endif
