/* SPDX-License-Identifier: Apache-2.0 */
/* memcached backend for obo_cache (libmemcached + memcached_pool). */
#ifndef OBO_CACHE_MEMCACHED_H
#define OBO_CACHE_MEMCACHED_H

#include "obo_cache.h"

typedef struct obo_memcached_opts {
    const char *servers;            /* "host:port,host:port" */
    apr_interval_time_t timeout;    /* connect/poll/io timeout (default 200 ms) */
    int retry_timeout_s;            /* how long a dead server stays ejected (default 10) */
    int max_conns;                  /* pool size (default: threads per child) */
    /* 1: a failing server is never taken out of the ring, so that its keys
     * fail (the caller answers 503) rather than move to another server,
     * where they would be real misses: for entries whose loss ends
     * something (long-running sessions), not for a cache that may miss. */
    int keep_failed;
} obo_memcached_opts;

/* Creates the per-process connection pool (call in child_init). Binary
 * protocol, ketama consistent hashing, TCP_NODELAY, dead-server ejection
 * with automatic retry (unless keep_failed). Destroyed with p. */
apr_status_t obo_memcached_create(apr_pool_t *p, const obo_memcached_opts *opts,
                                  obo_cache_backend **out, const char **err);

/* Parses and checks a server list at config time. */
apr_status_t obo_memcached_check_servers(apr_pool_t *p, const char *servers,
                                         const char **err);

/* Whether each server of the list answers now (a version request on a
 * connection of its own, within timeout; 0: the default; negative: none
 * is asked, the list only). *nodes: of obo_memcached_node, in the list's
 * order. APR_EINVAL for a bad list. */
typedef struct obo_memcached_node {
    const char *name;               /* "host:port" */
    int up;
} obo_memcached_node;
apr_status_t obo_memcached_probe(apr_pool_t *p, const char *servers,
                                 apr_interval_time_t timeout, apr_array_header_t **nodes);
/* Whether node ("host:port", as a probe names it) answers within timeout. */
int obo_memcached_node_answers(const char *node, apr_interval_time_t timeout);

#endif
