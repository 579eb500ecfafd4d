/* SPDX-License-Identifier: Apache-2.0 */
/* Per-process set-up (see mod_auth_obo_process.h): the core's log sink,
 * post_config's objects shared by all children (client credentials, the shm
 * cache, the state directory) and child_init's per-process handles
 * (providers, caches, memos). */
/* The version from configure. httpd's ap_config_auto.h defines the same
 * PACKAGE_* names (empty), so ours is copied before httpd's headers come. */
#include "obo_build.h"
static const char auth_obo_version[] = PACKAGE_VERSION;
#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION

#include "mod_auth_obo_process.h"
#include "mod_auth_obo_check.h"
#include "mod_auth_obo_dpop.h"
#include "mod_auth_obo_request.h"
#include "mod_auth_obo_socache.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "apr_hash.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"
#include "mpm_common.h"
#include "unixd.h"

#include "obo_cache_memcached.h"
#include "obo_crypto.h"
#include "obo_log.h"
#include "obo_metrics.h"

APLOG_USE_MODULE(auth_obo);

/* Per-process memos: verified signatures (4096 slots, ~80 bytes each) and
 * the L1 of downstream tokens (1024 slots, one token each); remembered IdP
 * failures and pauses (256 slots, obo_guard.h). */
#define VERIFIED_SLOTS 4096
#define L1_SLOTS 1024
#define GUARD_SLOTS 256

/* ---- logging from the core ------------------------------------------------ */

/* The core's lines go against the request this thread's hook is serving
 * (auth_obo_log_enter, mod_auth_obo_request.c), else against the server. */
static void log_sink(void *baton, obo_log_level level, const char *msgid, const char *msg)
{
    request_rec *r = auth_obo_log_request();

    if (r) {
        ap_log_rerror(APLOG_MARK, (int)level, 0, r, "%s: %s", msgid, msg);
    }
    else {
        ap_log_error(APLOG_MARK, (int)level, 0, (server_rec *)baton, "%s: %s", msgid, msg);
    }
}

/* The core drops what no server would log; httpd filters the rest by the
 * level of the server (or request) each line is logged against. A
 * LogLevel in a <Location> or <Directory> is not seen here. */
static void setup_core_log(server_rec *s)
{
    server_rec *v;
    int lvl = APLOG_EMERG;

    for (v = s; v; v = v->next) {
        int l = ap_get_server_module_loglevel(v, APLOG_MODULE_INDEX);
        lvl = l > lvl ? l : lvl;
    }
    obo_log_set(log_sink, s);
    obo_log_set_level(lvl > APLOG_DEBUG ? OBO_LOG_DEBUG : (obo_log_level)lvl);
}

/* ---- post_config: objects shared by all children ---------------------------- */

static apr_status_t build_client(apr_pool_t *pconf, server_rec *s, auth_obo_srv_cfg *sc)
{
    obo_client *c = apr_pcalloc(pconf, sizeof(*c));
    const char *err = NULL;
    apr_status_t rv = APR_SUCCESS;

    c->client_id = sc->client_id;
    c->secret = sc->client_secret;
    c->assertion_alg = sc->assertion_alg ? sc->assertion_alg : "PS256";
    c->auth = auth_obo_client_auth(sc);
    if (sc->client_cert) {
        rv = obo_client_load_certificate(pconf, sc->client_cert, sc->client_key, c, &err);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "OBO044: OBOClientCertificate: %s", err);
    }
    sc->client = c;
    return rv;
}

/* shm values are only read by this server's own children: a random key is
 * enough. The socache keeps one per cache across graceful restarts (so that
 * the cache survives them); this is the fallback if it did not. */
static apr_status_t shm_secret(apr_pool_t *pconf, auth_obo_srv_cfg *sc)
{
    unsigned char *k = apr_palloc(pconf, 32);
    apr_status_t rv = obo_random(k, 32);

    obo_cleanse_on_clear(pconf, k, 32);

    sc->cache_secret = k;
    sc->cache_secret_len = 32;
    return rv;
}

static apr_status_t setup_server(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    int cache = auth_obo_ival(sc->cache_type, CACHE_SHM);
    apr_status_t rv = APR_SUCCESS;

    sc->s = s;
    if (!sc->uses_exchange && !sc->introspects) {
        return APR_SUCCESS;
    }
    rv = build_client(pconf, s, sc);
    /* A virtual host without a directive of the module shares the main
     * server's configuration, set up first: one segment, the main server's
     * (per server, each such host made its own, and the last made was used:
     * a ServerAlias changed on one of them emptied the main cache). */
    if (rv == APR_SUCCESS && cache == CACHE_SHM && !sc->socache_inst) {
        rv = auth_obo_socache_post_config(pconf, ptemp, s, sc);
        if (rv == APR_SUCCESS && !sc->cache_secret) {
            rv = shm_secret(pconf, sc);
        }
        /* OBO195 once per start, into the error log: not in the first of the
         * two passes httpd makes when it starts (configtest: check_config) */
        if (rv == APR_SUCCESS && sc->uses_sessions
            && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
            auth_obo_socache_check_sessions(s, sc);
        }
    }
    return rv;
}

/* ---- the last good IdP state, kept for restarts and new children --------------
 *
 * A file per IdP under <runtime dir>/mod_auth_obo, sealed (AES-256-GCM) under a
 * random key that lives in the parent's process pool: it survives graceful
 * and full restarts of the same parent (and is inherited by every child), but
 * not a new parent, whose files then fail to open and are simply replaced.
 * A file rather than the shared cache: the shm cache is re-created on every
 * restart and exists only where exchanges are configured; memcached is
 * optional and would make the fallback depend on a second service. */

#define STATE_KEY_NAME "auth_obo_state_key"

static const unsigned char *state_key;   /* process pool: survives restarts */
static const char *state_dir;            /* pconf; NULL if it cannot be made */

static apr_status_t state_key_get(server_rec *s)
{
    void *k = NULL;
    apr_status_t rv = APR_SUCCESS;

    apr_pool_userdata_get(&k, STATE_KEY_NAME, s->process->pool);
    if (!k) {
        k = apr_palloc(s->process->pool, OBO_AEAD_KEY_LEN);
        rv = obo_random(k, OBO_AEAD_KEY_LEN);
        if (rv == APR_SUCCESS) {
            rv = apr_pool_userdata_set(k, STATE_KEY_NAME, apr_pool_cleanup_null,
                                       s->process->pool);
        }
    }
    state_key = rv == APR_SUCCESS ? k : NULL;
    return rv;
}

/* Made by the parent (often root), owned by the user the children run as:
 * they write the files. */
static void state_dir_setup(apr_pool_t *pconf, server_rec *s)
{
    const char *dir = ap_runtime_dir_relative(pconf, AUTH_OBO_STATE_DIR_NAME);
    const char *why = dir ? auth_obo_state_dir_trust(pconf, dir, 0) : "no runtime directory";

    state_dir = NULL;
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OBO078: state directory %s refused: %s; "
                     "the module runs without the IdP's last good keys (a new child or a "
                     "restart will need the IdP). Remove it: httpd creates it, mode 0700, "
                     "owned by the user it runs as", dir ? dir : AUTH_OBO_STATE_DIR_NAME, why);
    }
    else if (state_key_get(s) == APR_SUCCESS) {
        state_dir = dir;
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "OBO074: cannot use %s for the IdP's "
                     "last good keys; a new child or a restart will need the IdP", dir);
    }
}

int auth_obo_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    auth_obo_socache_pre_config(pconf);
    auth_obo_dpop_horizon_reset();
    return OK;
}

int auth_obo_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                server_rec *s)
{
    server_rec *sv;

    setup_core_log(s);
    /* httpd reads its configuration twice at startup: say it once, when the
     * server is about to run (and again at each restart, with the version
     * the restarted server runs). */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "OBO000: mod_auth_obo/%s configured",
                     auth_obo_version);
    }
    auth_obo_check_warnings_flush();
    if (obo_http_global_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO045: libcurl initialisation failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    state_dir_setup(pconf, s);
    for (sv = s; sv; sv = sv->next) {
        if (setup_server(pconf, ptemp, sv) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    auth_obo_socache_sweep(s);
    /* after the servers: a shm cache's kept secret is known by then */
    if (auth_obo_dpop_post_config(pconf, ptemp, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* ---- child_init: per-process handles ---------------------------------------- */

/* The settings every provider of a server shares (TLS, timeouts, refresh). */
static obo_provider_cfg provider_common(const auth_obo_srv_cfg *sc)
{
    obo_provider_cfg c;

    memset(&c, 0, sizeof(c));
    c.jwks_refresh = apr_time_from_sec(auth_obo_ival(sc->jwks_refresh, 3600));
    c.http.ca_file = sc->ca_file;
    c.http.connect_timeout = auth_obo_ival(sc->connect_timeout_ms, 3000) * 1000LL;
    c.http.timeout = auth_obo_ival(sc->timeout_ms, 10000) * 1000LL;
    return c;
}

/* A provider from its source and issuers; its token endpoint is its
 * discovery document's unless OBOTokenEndpoint takes every exchange. */
static obo_provider_cfg source_cfg(const auth_obo_srv_cfg *sc, const char *metadata_url,
                                   const char *jwks_url, const char *jwks_file,
                                   const apr_array_header_t *issuers)
{
    obo_provider_cfg c = provider_common(sc);

    c.metadata_url = metadata_url;
    c.jwks_url = jwks_url;
    c.jwks_file = jwks_file;
    c.issuers = issuers;
    c.token_endpoint = sc->token_endpoint;
    return c;
}

/* The primary provider: the first OBOMetadataURL, an OBOJWKSURL or
 * OBOJWKSFile without issuers, OBOIssuer and OBOTokenEndpoint. */
static obo_provider_cfg provider_cfg(const auth_obo_srv_cfg *sc)
{
    return source_cfg(sc, sc->metadata_url, sc->jwks_url, sc->jwks_file, sc->issuers);
}

/* A further provider: its own source and issuers. */
static obo_provider_cfg more_provider_cfg(const auth_obo_srv_cfg *sc, const auth_obo_idp *idp)
{
    obo_provider_cfg c = source_cfg(sc, idp->metadata_url, idp->jwks_url, idp->jwks_file,
                                    idp->issuers);

    c.further = 1;
    return c;
}

static const char *join(apr_pool_t *p, const apr_array_header_t *a)
{
    return a ? apr_array_pstrcat(p, a, ' ') : "";
}

/* The IdP's identity is where its keys and metadata come from, which
 * issuers are accepted and which CAs are trusted to fetch them: a saved
 * state is only ever used for the same. The file's name also holds which
 * server this is (its ServerRoot and PidFile): two servers sharing a
 * runtime directory (each with its own PidFile) seal their files under
 * keys of their own, and one overwrote the other's, which then found no
 * usable state when it needed it (review 30A). */
static void state_for(apr_pool_t *pchild, obo_provider_cfg *c)
{
    const char *name;
    char *hex;

    if (!state_dir || !state_key || c->jwks_file) {
        return;
    }
    c->state_id = apr_psprintf(pchild, "%s|%s|%s|%s|%s", c->metadata_url ? c->metadata_url : "",
                               c->jwks_url ? c->jwks_url : "", join(pchild, c->issuers),
                               c->token_endpoint ? c->token_endpoint : "",
                               c->http.ca_file ? c->http.ca_file : "");
    name = apr_psprintf(pchild, "%s|%s|%s", c->state_id, ap_server_root,
                        ap_pid_fname ? ap_server_root_relative(pchild, ap_pid_fname) : "");
    hex = obo_sha256_hex(pchild, name, strlen(name));
    hex[24] = '\0';
    c->state_file = apr_pstrcat(pchild, state_dir, "/idp-", hex, ".state", NULL);
    c->state_key = state_key;
}

/* Which shared cache a provider publishes its keys to and takes them from:
 * servers share one provider only if their caches are the same (a key set
 * sealed with one server's secret never serves another's). */
static const char *cache_identity(apr_pool_t *pchild, const auth_obo_srv_cfg *sc,
                                  const obo_cache *cache)
{
    if (!cache) {
        return "none";
    }
    return apr_psprintf(pchild, "%d|%s|%s", auth_obo_ival(sc->cache_type, CACHE_SHM),
                        sc->cache_servers ? sc->cache_servers : "",
                        obo_sha256_hex(pchild, sc->cache_secret, sc->cache_secret_len));
}

/* Virtual hosts that inherit the same IdP settings (and cache) share one
 * provider (one JWKS cache) per process. With OBOPreloadKeys on (the
 * default) its keys start loading now, in the background. */
static apr_status_t provider_for(apr_pool_t *pchild, apr_hash_t *seen, obo_http *http,
                                 server_rec *s, const auth_obo_srv_cfg *sc, obo_cache *cache,
                                 obo_provider_cfg c, obo_provider **pv)
{
    /* primary or further is part of it: a further provider's endpoints are
     * held to its own host (OBO077), a primary's are not (review 41-F1) */
    const char *id = apr_psprintf(pchild, "%s|%s|%s|%s|%s|%s|%" APR_TIME_T_FMT "|%"
                                  APR_TIME_T_FMT "|%" APR_TIME_T_FMT "|%s|%d",
                                  c.metadata_url ? c.metadata_url : "",
                                  c.jwks_url ? c.jwks_url : "", c.jwks_file ? c.jwks_file : "",
                                  c.http.ca_file ? c.http.ca_file : "", join(pchild, c.issuers),
                                  c.token_endpoint ? c.token_endpoint : "", c.jwks_refresh,
                                  c.http.connect_timeout, c.http.timeout,
                                  cache_identity(pchild, sc, cache), c.further);
    apr_status_t rv = APR_SUCCESS;

    *pv = apr_hash_get(seen, id, APR_HASH_KEY_STRING);
    if (!*pv) {
        state_for(pchild, &c);
        c.shared = cache;
        /* numbered in creation order, the configuration's in every process */
        c.metrics_provider = (int)apr_hash_count(seen) + 1;
        c.metrics_provider = c.metrics_provider <= OBO_M_PROVIDERS ? c.metrics_provider : 0;
        rv = obo_provider_create(pchild, &c, http, pv);
        if (rv == APR_SUCCESS) {
            apr_hash_set(seen, id, APR_HASH_KEY_STRING, *pv);
        }
        if (rv == APR_SUCCESS && auth_obo_ival(sc->preload_keys, 1)
            && obo_provider_start(*pv, pchild) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "OBO016: cannot start loading the "
                         "IdP's keys in the background; they load at the first request");
        }
    }
    return rv;
}

/* Every provider of a server, the primary first (if there is one). */
static apr_status_t providers_for(apr_pool_t *pchild, apr_hash_t *seen, obo_http *http,
                                  server_rec *s, const auth_obo_srv_cfg *sc,
                                  auth_obo_runtime *rt)
{
    int i, n = sc->more_idps ? sc->more_idps->nelts : 0;
    apr_status_t rv = APR_SUCCESS;
    obo_provider *pv = NULL;

    rt->providers = apr_array_make(pchild, n + 1, sizeof(obo_provider *));
    if (sc->metadata_url || sc->jwks_url || sc->jwks_file) {
        rv = provider_for(pchild, seen, http, s, sc, rt->cache, provider_cfg(sc), &pv);
        if (rv == APR_SUCCESS) {
            APR_ARRAY_PUSH(rt->providers, obo_provider *) = pv;
        }
    }
    for (i = 0; i < n && rv == APR_SUCCESS; i++) {
        rv = provider_for(pchild, seen, http, s, sc, rt->cache, more_provider_cfg(sc,
                          &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp)), &pv);
        if (rv == APR_SUCCESS) {
            APR_ARRAY_PUSH(rt->providers, obo_provider *) = pv;
        }
    }
    if (rv == APR_SUCCESS) {
        rt->provider = APR_ARRAY_IDX(rt->providers, 0, obo_provider *);
    }
    return rv;
}

static apr_status_t memcached_for(apr_pool_t *pchild, const auth_obo_srv_cfg *sc,
                                  int keep_failed, obo_cache_backend **be, const char **err)
{
    obo_memcached_opts mo;

    memset(&mo, 0, sizeof(mo));
    mo.servers = sc->cache_servers;
    mo.timeout = auth_obo_ival(sc->cache_timeout_ms, 200) * 1000LL;
    mo.keep_failed = keep_failed;
    return obo_memcached_create(pchild, &mo, be, err);
}

/* On memcached, for sessions and DPoP replay records, a connection pool
 * that never takes a failing server out of the ring: their entries must
 * answer 503 until the server is back, not move to another server and be
 * missed there (a session's 404 and a new session, review 28A; a replayed
 * proof accepted, review 28C). */
static void strict_cache_for(apr_pool_t *pchild, server_rec *s, auth_obo_srv_cfg *sc,
                             auth_obo_runtime *rt)
{
    obo_cache_backend *be = NULL;
    const char *err = NULL;

    if (auth_obo_ival(sc->cache_type, CACHE_SHM) != CACHE_MEMCACHED
        || !(sc->uses_sessions || sc->uses_dpop)) {
        return;
    }
    if (memcached_for(pchild, sc, 1, &be, &err) != APR_SUCCESS
        || obo_cache_create(pchild, be, sc->cache_secret, sc->cache_secret_len,
                            &rt->strict_cache) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OBO046: the memcached pool of sessions and "
                     "DPoP records is unavailable in this process (%s); they answer 503",
                     err ? err : "setup failed");
        rt->strict_cache = NULL;
    }
}

/* The sessions' own segment on shm (auth_obo_socache_post_config); on
 * memcached, the strict pool; without either, the token cache. */
static void session_cache_for(apr_pool_t *pchild, server_rec *s, auth_obo_srv_cfg *sc,
                              auth_obo_runtime *rt)
{
    obo_cache_backend *be = NULL;

    rt->session_cache = rt->strict_cache && sc->uses_sessions ? rt->strict_cache : rt->cache;
    if (rt->cache && sc->session_inst
        && (auth_obo_socache_child_init(pchild, s, sc, 1, &be) != APR_SUCCESS
            || obo_cache_create(pchild, be, sc->cache_secret, sc->cache_secret_len,
                                &rt->session_cache) != APR_SUCCESS)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OBO046: the sessions' shm segment is "
                     "unavailable in this process; sessions share the token cache");
        rt->session_cache = rt->cache;
    }
}

static apr_status_t cache_for(apr_pool_t *pchild, server_rec *s, auth_obo_srv_cfg *sc,
                              obo_cache **cache)
{
    obo_cache_backend *be = NULL;
    const char *err = NULL;
    apr_status_t rv;
    int type = auth_obo_ival(sc->cache_type, CACHE_SHM);

    *cache = NULL;
    if (type == CACHE_NONE) {
        return APR_SUCCESS;
    }
    if (type == CACHE_MEMCACHED) {
        rv = memcached_for(pchild, sc, 0, &be, &err);
    }
    else {
        rv = auth_obo_socache_child_init(pchild, s, sc, 0, &be);
        err = "cannot attach the shm cache";
    }
    if (rv == APR_SUCCESS) {
        rv = obo_cache_create(pchild, be, sc->cache_secret, sc->cache_secret_len, cache);
    }
    if (rv != APR_SUCCESS) {
        /* A cache failure never fails requests: exchange without one. */
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "OBO046: token cache unavailable in this "
                     "process (%s); exchanging without it", err ? err : "setup failed");
        *cache = NULL;
    }
    return APR_SUCCESS;
}

/* The L1 of validated tokens: one per process, shared by the virtual
 * hosts with the main server's size; a virtual host with its own
 * OBOValidatedTokenCache gets its own (0: none). */
static obo_vcache *validated_for(apr_pool_t *pchild, server_rec *s,
                                 const auth_obo_srv_cfg *main_sc, const auth_obo_srv_cfg *sc,
                                 obo_vcache *shared)
{
    int slots = auth_obo_ival(sc->validated_slots, OBO_VCACHE_DEFAULT_SLOTS);
    obo_vcache *c = NULL;

    if (slots == auth_obo_ival(main_sc->validated_slots, OBO_VCACHE_DEFAULT_SLOTS)) {
        return shared;
    }
    if (slots > 0 && obo_vcache_create(pchild, (unsigned)slots, &c) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OBO150: cannot create the validated-token "
                     "cache; validating every token in full");
        c = NULL;
    }
    return c;
}

/* Introspection answers: an L1 of their own (never mixed with validated
 * JWTs), as large as the validated-token L1; the gate's pauses in this
 * process's memo and the shared cache. */
static void introspection_for(apr_pool_t *pchild, server_rec *s, const auth_obo_srv_cfg *sc,
                              auth_obo_runtime *rt)
{
    int slots = auth_obo_ival(sc->validated_slots, OBO_VCACHE_DEFAULT_SLOTS);

    if (slots > 0 && obo_vcache_create(pchild, (unsigned)slots, &rt->introspected)
                     != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OBO431: cannot create the introspection "
                     "L1; using the shared cache only");
        rt->introspected = NULL;
    }
    rt->guard_cfg.cache = rt->cache;
    rt->guard_cfg.local = rt->guard;
    rt->guard_cfg.negative_ttl = 0;
}

void auth_obo_child_init(apr_pool_t *pchild, server_rec *s)
{
    auth_obo_srv_cfg *main_sc = ap_get_module_config(s->module_config, &auth_obo_module);
    int main_slots = auth_obo_ival(main_sc->validated_slots, OBO_VCACHE_DEFAULT_SLOTS);
    obo_vcache *validated = NULL;
    apr_hash_t *seen = apr_hash_make(pchild);
    obo_http *http = NULL;
    obo_memo *verified = NULL, *l1 = NULL, *guard = NULL;

    auth_obo_dpop_child_init(pchild, s);
    if (obo_http_create(pchild, &http) != APR_SUCCESS
        || obo_memo_create(pchild, VERIFIED_SLOTS, &verified) != APR_SUCCESS
        || obo_memo_create(pchild, L1_SLOTS, &l1) != APR_SUCCESS
        || obo_memo_create(pchild, GUARD_SLOTS, &guard) != APR_SUCCESS
        || (main_slots > 0
            && obo_vcache_create(pchild, (unsigned)main_slots, &validated) != APR_SUCCESS)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "OBO047: cannot create the HTTP client");
        return;
    }
    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        auth_obo_runtime *rt = apr_pcalloc(pchild, sizeof(*rt));

        rt->http = http;
        rt->verified = verified;
        rt->l1 = l1;
        rt->guard = guard;
        rt->validated = validated_for(pchild, s, main_sc, sc, validated);
        strict_cache_for(pchild, s, sc, rt);
        if (sc->uses_exchange || sc->introspects) {
            cache_for(pchild, s, sc, &rt->cache);   /* first: the provider shares keys in it */
            session_cache_for(pchild, s, sc, rt);
        }
        if (sc->introspects) {
            introspection_for(pchild, s, sc, rt);
        }
        if (auth_obo_has_idp(sc) && providers_for(pchild, seen, http, s, sc, rt)
                                    != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "OBO048: cannot create the provider");
            continue;
        }
        sc->rt = rt;
    }
}
