/* SPDX-License-Identifier: Apache-2.0 */
/* memcached backend (see obo_cache_memcached.h). A memcached_st is not
 * thread-safe, so every operation borrows a clone from a memcached_pool and
 * returns it. Timeouts are short and failed servers are ejected and retried
 * later, so a dead memcached costs a request milliseconds, not seconds, and
 * the backend heals by itself when the server returns. */
#include "obo_cache_memcached.h"
#include "obo_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>

#define OBO_MC_DEFAULT_TIMEOUT apr_time_from_msec(200)
#define OBO_MC_DEFAULT_RETRY_S 10
#define OBO_MC_DEFAULT_CONNS 64
#define OBO_MC_FAILURE_LIMIT 2
#define OBO_MC_MAX_TTL_S (30 * 24 * 3600)   /* beyond this memcached reads a date */

typedef struct obo_mc {
    memcached_st *master;
    memcached_pool_st *pool;
} obo_mc;

typedef struct obo_mc_server {
    const char *host;
    int port;
} obo_mc_server;

/* ---- rate-limited warnings, one clock per operation kind */

enum { OBO_MC_RL_POOL, OBO_MC_RL_GET, OBO_MC_RL_SET, OBO_MC_RL_ADD, OBO_MC_RL_DEL,
       OBO_MC_RL_N };
static const char *const obo_mc_msgid[OBO_MC_RL_N] = {
    "OBO210", "OBO211", "OBO212", "OBO213", "OBO214"
};
static const char *const obo_mc_opname[OBO_MC_RL_N] = {
    "connection pool", "get", "set", "add", "delete"
};
static apr_uint32_t obo_mc_rl_last[OBO_MC_RL_N];

static int obo_mc_rl_allow(int kind)
{
    return obo_log_ratelimit(&obo_mc_rl_last[kind], OBO_LOG_INTERVAL_S);
}

/* memc may be NULL (no connection could be borrowed). */
static void obo_mc_warn(int kind, memcached_st *memc, memcached_return_t rc)
{
    if (obo_mc_rl_allow(kind)) {
        obo_log(OBO_LOG_WARN, obo_mc_msgid[kind], "memcached %s failed: %s (further "
                "such messages suppressed for %d s)", obo_mc_opname[kind],
                memc ? memcached_last_error_message(memc) : memcached_strerror(NULL, rc),
                OBO_LOG_INTERVAL_S);
    }
}

/* ---- connections */

static memcached_st *obo_mc_borrow(obo_mc *mc)
{
    /* Bounded: if every clone stays busy (up to a second: the pool's clock
     * counts whole seconds), treat the cache as down rather than stall. */
    struct timespec wait = { 1, 0 };
    memcached_return_t rc = MEMCACHED_FAILURE;
    memcached_st *memc = memcached_pool_fetch(mc->pool, &wait, &rc);

    if (!memc) {
        obo_mc_warn(OBO_MC_RL_POOL, NULL, rc == MEMCACHED_SUCCESS ? MEMCACHED_FAILURE : rc);
    }
    return memc;
}

static apr_status_t obo_mc_status(int kind, memcached_st *memc, memcached_return_t rc)
{
    apr_status_t rv = APR_EGENERAL;

    if (rc == MEMCACHED_SUCCESS) {
        rv = APR_SUCCESS;
    }
    else if (rc == MEMCACHED_NOTFOUND) {
        rv = APR_NOTFOUND;
    }
    else if (kind == OBO_MC_RL_ADD && (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS)) {
        rv = APR_EEXIST;
    }
    else {
        obo_mc_warn(kind, memc, rc);
    }
    return rv;
}

/* Relative seconds, rounded up, at least 1 (0 would mean "never expires"). */
static time_t obo_mc_ttl(apr_time_t expiry)
{
    apr_interval_time_t left = expiry - apr_time_now();
    apr_int64_t s = left <= 0 ? 1 : (left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;

    return (time_t)(s < 1 ? 1 : s > OBO_MC_MAX_TTL_S ? OBO_MC_MAX_TTL_S : s);
}

/* ---- backend operations */

/* A pooled connection the server closed (memcached restarted, an idle
 * timeout, a proxy in between) fails its next operation although the server
 * is fine: such failures are worth one more try on a fresh connection. A
 * server that refuses, times out or is marked dead is not retried here: the
 * ejection and retry timers deal with those without slowing requests. */
static int obo_mc_conn_lost(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_ERRNO:
        return 1;
    default:
        return 0;
    }
}

/* One memcached operation, retried once on a fresh connection when the
 * first failed on a connection the server had closed. */
typedef struct obo_mc_op {
    int kind;
    const char *key;
    const unsigned char *val;   /* set/add */
    apr_size_t len;
    time_t ttl;
    char *out;                  /* get: malloc()ed by libmemcached */
    size_t outlen;
} obo_mc_op;

static memcached_return_t obo_mc_run(memcached_st *memc, obo_mc_op *op)
{
    size_t klen = strlen(op->key);
    uint32_t flags = 0;
    memcached_return_t rc = MEMCACHED_FAILURE;

    switch (op->kind) {
    case OBO_MC_RL_GET:
        free(op->out);
        op->out = memcached_get(memc, op->key, klen, &op->outlen, &flags, &rc);
        break;
    case OBO_MC_RL_SET:
        rc = memcached_set(memc, op->key, klen, (const char *)op->val, op->len, op->ttl, 0);
        break;
    case OBO_MC_RL_ADD:
        rc = memcached_add(memc, op->key, klen, (const char *)op->val, op->len, op->ttl, 0);
        break;
    case OBO_MC_RL_DEL:
        rc = memcached_delete(memc, op->key, klen, 0);
        break;
    }
    return rc;
}

static apr_status_t obo_mc_do(obo_mc *mc, obo_mc_op *op)
{
    memcached_st *memc = obo_mc_borrow(mc);
    memcached_return_t rc = MEMCACHED_FAILURE;
    apr_status_t rv = APR_EGENERAL;

    if (memc) {
        rc = obo_mc_run(memc, op);
        if (obo_mc_conn_lost(rc)) {
            /* Close what is left of the old connection: the next call
             * connects afresh. */
            memcached_quit(memc);
            rc = obo_mc_run(memc, op);
        }
        rv = obo_mc_status(op->kind, memc, rc);
        memcached_pool_push(mc->pool, memc);
    }
    return rv;
}

static apr_status_t obo_mc_get(void *ctx, apr_pool_t *p, const char *key,
                               unsigned char **val, apr_size_t *len)
{
    obo_mc_op op = { OBO_MC_RL_GET, key, NULL, 0, 0, NULL, 0 };
    apr_status_t rv = obo_mc_do(ctx, &op);

    if (rv == APR_SUCCESS) {
        /* libmemcached returns malloc()ed memory: copy and free at once. */
        *val = apr_palloc(p, op.outlen + 1);
        memcpy(*val, op.out ? op.out : "", op.outlen);
        (*val)[op.outlen] = '\0';
        *len = op.outlen;
    }
    free(op.out);
    return rv;
}

static apr_status_t obo_mc_set(void *ctx, apr_pool_t *p, const char *key,
                               const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    obo_mc_op op = { OBO_MC_RL_SET, key, val, len, obo_mc_ttl(expiry), NULL, 0 };

    return obo_mc_do(ctx, &op);
}

static apr_status_t obo_mc_add(void *ctx, apr_pool_t *p, const char *key,
                               const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    obo_mc_op op = { OBO_MC_RL_ADD, key, val, len, obo_mc_ttl(expiry), NULL, 0 };

    return obo_mc_do(ctx, &op);
}

static apr_status_t obo_mc_del(void *ctx, apr_pool_t *p, const char *key)
{
    obo_mc_op op = { OBO_MC_RL_DEL, key, NULL, 0, 0, NULL, 0 };

    return obo_mc_do(ctx, &op);
}

/* ---- server list */

/* "host:port[,host:port...]"; the last ':' splits so "[::1]:11211" works. */
static apr_status_t obo_mc_parse(apr_pool_t *p, const char *servers,
                                 apr_array_header_t **out, const char **err)
{
    apr_array_header_t *list = apr_array_make(p, 4, sizeof(obo_mc_server));
    char *copy = apr_pstrdup(p, servers ? servers : ""), *last = NULL, *item, *colon, *end;
    apr_status_t rv = APR_SUCCESS;
    obo_mc_server *s;
    long port;

    if (!*copy || strpbrk(copy, " \t\r\n")) {
        *err = "memcached server list must be non-empty host:port[,host:port...] "
               "without spaces";
        rv = APR_EINVAL;
    }
    for (item = apr_strtok(copy, ",", &last); rv == APR_SUCCESS && item;
         item = apr_strtok(NULL, ",", &last)) {
        colon = strrchr(item, ':');
        port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == item || !colon[1] || *end || port < 1 || port > 65535) {
            *err = apr_psprintf(p, "bad memcached server '%s': expected host:port with "
                                "port 1-65535", item);
            rv = APR_EINVAL;
        }
        else {
            *colon = '\0';
            if (item[0] == '[' && colon[-1] == ']' && colon - item > 2) {
                colon[-1] = '\0';
                item++;
            }
            else if (strchr(item, ':')) {
                /* "host:port:weight" (libmemcached's own syntax) would be host
                 * "host:port" here, never reached (review 28B); an IPv6
                 * address goes in brackets */
                *err = apr_psprintf(p, "bad memcached server '%s:%ld': expected host:port "
                                    "(an IPv6 address in brackets, no weight)", item, port);
                rv = APR_EINVAL;
                continue;
            }
            /* a server named twice weighs twice on the ketama ring: keys
             * are placed unlike the other servers' (review 33B-F14) */
            for (s = (obo_mc_server *)list->elts; rv == APR_SUCCESS
                 && s < (obo_mc_server *)list->elts + list->nelts; s++) {
                if (s->port == (int)port && !strcasecmp(s->host, item)) {
                    *err = apr_psprintf(p, "memcached server '%s:%ld' is named twice", item,
                                        port);
                    rv = APR_EINVAL;
                }
            }
            if (rv == APR_SUCCESS) {
                s = apr_array_push(list);
                s->host = item;
                s->port = (int)port;
            }
        }
    }
    if (rv == APR_SUCCESS && list->nelts == 0) {
        *err = "memcached server list is empty";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        *out = list;
    }
    return rv;
}

apr_status_t obo_memcached_check_servers(apr_pool_t *p, const char *servers,
                                         const char **err)
{
    apr_array_header_t *list;

    return obo_mc_parse(p, servers, &list, err);
}

/* One connection per server, asked for its version: whether it answers
 * now, whatever the process pools think of it (an ejected server is retried
 * only after retry_timeout). For the status page and its gauges. */
static memcached_return_t obo_mc_behaviours(memcached_st *m, const obo_memcached_opts *o);

static int obo_mc_answers(const obo_mc_server *sv, apr_interval_time_t timeout)
{
    memcached_st *m = memcached_create(NULL);
    obo_memcached_opts o;
    int up = 0;

    memset(&o, 0, sizeof(o));
    o.timeout = timeout;
    o.keep_failed = 1;
    if (m) {
        /* the pools' behaviours and timeouts (obo_mc_behaviours) */
        up = obo_mc_behaviours(m, &o) == MEMCACHED_SUCCESS
             && memcached_server_add(m, sv->host, (in_port_t)sv->port) == MEMCACHED_SUCCESS
             && memcached_version(m) == MEMCACHED_SUCCESS;
        memcached_free(m);
    }
    return up;
}

int obo_memcached_node_answers(const char *node, apr_interval_time_t timeout)
{
    apr_pool_t *p = NULL;
    apr_array_header_t *list = NULL;
    const char *err = NULL;
    int up = 0;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    if (obo_mc_parse(p, node, &list, &err) == APR_SUCCESS && list->nelts == 1) {
        up = obo_mc_answers(&APR_ARRAY_IDX(list, 0, obo_mc_server),
                            timeout > 0 ? timeout : OBO_MC_DEFAULT_TIMEOUT);
    }
    apr_pool_destroy(p);
    return up;
}

apr_status_t obo_memcached_probe(apr_pool_t *p, const char *servers,
                                 apr_interval_time_t timeout, apr_array_header_t **nodes)
{
    apr_array_header_t *list = NULL;
    const char *err = NULL;
    obo_memcached_node *n;
    obo_mc_server *sv;
    apr_status_t rv = obo_mc_parse(p, servers, &list, &err);
    int i;

    *nodes = apr_array_make(p, list ? list->nelts : 1, sizeof(obo_memcached_node));
    for (i = 0; rv == APR_SUCCESS && i < list->nelts; i++) {
        sv = &APR_ARRAY_IDX(list, i, obo_mc_server);
        n = apr_array_push(*nodes);
        n->name = apr_psprintf(p, strchr(sv->host, ':') ? "[%s]:%d" : "%s:%d", sv->host,
                               sv->port);
        n->up = timeout < 0 ? 0 : obo_mc_answers(sv, timeout > 0 ? timeout
                                                            : OBO_MC_DEFAULT_TIMEOUT);
    }
    return rv;
}

/* ---- lifecycle */

static apr_status_t obo_mc_cleanup(void *data)
{
    obo_mc *mc = data;

    if (mc->pool) {
        memcached_pool_destroy(mc->pool);   /* frees the clones, not the master */
        mc->pool = NULL;
    }
    if (mc->master) {
        memcached_free(mc->master);
        mc->master = NULL;
    }
    return APR_SUCCESS;
}

static memcached_return_t obo_mc_behaviours(memcached_st *m, const obo_memcached_opts *o)
{
    apr_interval_time_t t = o->timeout > 0 ? o->timeout : OBO_MC_DEFAULT_TIMEOUT;
    uint64_t ms = (uint64_t)(t / 1000 > 0 ? t / 1000 : 1);
    uint64_t retry = (uint64_t)(o->retry_timeout_s > 0 ? o->retry_timeout_s
                                                        : OBO_MC_DEFAULT_RETRY_S);
    const struct { memcached_behavior_t b; uint64_t v; } set[] = {
        { MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1 },
        { MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA },
        { MEMCACHED_BEHAVIOR_TCP_NODELAY, 1 },
        { MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms },
        { MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms },
        { MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000 },
        { MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000 },
        /* After this many consecutive failures or timeouts (a hung server
         * is worse than a dead one) a server is taken out of the ketama
         * ring - keys move to the others - and retried after retry s. */
        { MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, OBO_MC_FAILURE_LIMIT },
        { MEMCACHED_BEHAVIOR_SERVER_TIMEOUT_LIMIT, OBO_MC_FAILURE_LIMIT },
        { MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, o->keep_failed ? 0 : 1 },
        { MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, retry },
        { MEMCACHED_BEHAVIOR_DEAD_TIMEOUT, retry },
    };
    memcached_return_t rc = MEMCACHED_SUCCESS;
    size_t i;

    for (i = 0; rc == MEMCACHED_SUCCESS && i < sizeof(set) / sizeof(set[0]); i++) {
        rc = memcached_behavior_set(m, set[i].b, set[i].v);
    }
    return rc;
}

static apr_status_t obo_mc_connect(obo_mc *mc, apr_array_header_t *list,
                                   const obo_memcached_opts *o, const char **err)
{
    memcached_return_t rc = obo_mc_behaviours(mc->master, o);
    uint32_t conns = (uint32_t)(o->max_conns > 0 ? o->max_conns : OBO_MC_DEFAULT_CONNS);
    int i;

    for (i = 0; rc == MEMCACHED_SUCCESS && i < list->nelts; i++) {
        obo_mc_server *s = &APR_ARRAY_IDX(list, i, obo_mc_server);
        rc = memcached_server_add(mc->master, s->host, (in_port_t)s->port);
    }
    if (rc != MEMCACHED_SUCCESS) {
        *err = memcached_last_error_message(mc->master);
    }
    else if (!(mc->pool = memcached_pool_create(mc->master, 1, conns))) {
        *err = "cannot create the memcached connection pool";
        rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    }
    return rc == MEMCACHED_SUCCESS ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t obo_memcached_create(apr_pool_t *p, const obo_memcached_opts *opts,
                                  obo_cache_backend **out, const char **err)
{
    obo_memcached_opts defaults = { NULL, 0, 0, 0, 0 };
    const obo_memcached_opts *o = opts ? opts : &defaults;
    obo_mc *mc = apr_pcalloc(p, sizeof(*mc));
    obo_cache_backend *be = apr_pcalloc(p, sizeof(*be));
    apr_array_header_t *list = NULL;
    apr_status_t rv = obo_mc_parse(p, o->servers, &list, err);

    if (rv == APR_SUCCESS) {
        mc->master = memcached_create(NULL);
        apr_pool_cleanup_register(p, mc, obo_mc_cleanup, apr_pool_cleanup_null);
        if (!mc->master) {
            *err = "cannot allocate a memcached handle";
            rv = APR_ENOMEM;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = obo_mc_connect(mc, list, o, err);
    }
    if (rv == APR_SUCCESS) {
        be->name = "memcached";
        be->shared = 1;
        be->get = obo_mc_get;
        be->set = obo_mc_set;
        be->add = obo_mc_add;
        be->del = obo_mc_del;
        be->ctx = mc;
        *out = be;
    }
    return rv;
}
