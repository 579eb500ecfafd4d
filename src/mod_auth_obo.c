/* mod_auth_obo: module definition, startup checks, per-process set-up.
 * The work itself is in the core (obo_*.c); the hooks are in
 * mod_auth_obo_authn.c, _authz.c and _fixups.c. */
#include "mod_auth_obo.h"

#include <string.h>
#include "apr_hash.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_request.h"
#include "mod_auth.h"

#include "obo_cache_memcached.h"
#include "obo_crypto.h"
#include "obo_log.h"


/* Per-process memos: verified signatures (4096 slots, ~80 bytes each) and
 * the L1 of downstream tokens (1024 slots, one token each). */
#define VERIFIED_SLOTS 4096
#define L1_SLOTS 1024

/* ---- logging from the core ------------------------------------------------ */

static void log_sink(void *baton, obo_log_level level, const char *msgid, const char *msg)
{
    ap_log_error(APLOG_MARK, (int)level, 0, (server_rec *)baton, "%s: %s", msgid, msg);
}

static void setup_core_log(server_rec *s)
{
    int lvl = ap_get_server_module_loglevel(s, APLOG_MODULE_INDEX);

    obo_log_set(log_sink, s);
    obo_log_set_level(lvl > APLOG_DEBUG ? OBO_LOG_DEBUG : (obo_log_level)lvl);
}

/* ---- startup checks (check_config: also run by apachectl configtest) -------- */

/* Directive names are compared case-insensitively, as httpd does. */
static int is_directive(const ap_directive_t *d, const char *name)
{
    return d->directive && !strcasecmp(d->directive, name);
}

static server_rec *server_of(server_rec *main_s, const ap_directive_t *d)
{
    server_rec *s;

    for (d = d->parent; d && !is_directive(d, "<VirtualHost"); d = d->parent) {
    }
    for (s = main_s->next; d && s; s = s->next) {
        if (s->defn_line_number == (unsigned)d->line_num && s->defn_name
            && !strcmp(s->defn_name, d->filename)) {
            return s;
        }
    }
    return main_s;
}

/* An OBOAudience in the directive's section or any enclosing one. */
static int audience_in_scope(const ap_directive_t *d)
{
    const ap_directive_t *sib;

    for (; d; d = d->parent) {
        for (sib = d->parent ? d->parent->first_child : ap_conftree; sib; sib = sib->next) {
            if (is_directive(sib, "OBOAudience")) {
                return 1;
            }
        }
    }
    return 0;
}

static const char *where(apr_pool_t *p, const ap_directive_t *d)
{
    return apr_psprintf(p, "%s:%d", d->filename, d->line_num);
}

/* AuthType may be an expression in httpd 2.4.55+, so it is read from the
 * parsed configuration tree rather than from mod_authn_core. */
static int check_authtype(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    server_rec *s = server_of(main_s, d);
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const char *err = NULL;

    if (!auth_obo_has_idp(sc)) {
        err = "AuthType obo needs OBOMetadataURL, OBOJWKSURL or OBOJWKSFile";
    }
    else if (!audience_in_scope(d) && !sc->defaults->audiences) {
        err = "AuthType obo needs OBOAudience";
    }
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, "OBO040: %s (%s)", err, where(p, d));
    }
    return err == NULL;
}

static int walk_tree(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (is_directive(d, "AuthType") && d->args
            && !strcasecmp(ap_getword_conf(p, &(const char *){ d->args }), AUTH_OBO_TYPE)
            && !check_authtype(p, main_s, d)) {
            return 0;
        }
        if (d->first_child && !walk_tree(p, main_s, d->first_child)) {
            return 0;
        }
    }
    return 1;
}

/* Sections that name a downstream need client credentials. */
static int check_sections(server_rec *s, auth_obo_srv_cfg *sc, apr_array_header_t *secs)
{
    int i;

    for (i = 0; secs && i < secs->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(secs, i, ap_conf_vector_t *);
        auth_obo_dir_cfg *d = ap_get_module_config(v, &auth_obo_module);
        core_dir_config *cd = ap_get_core_module_config(v);
        const char *err = NULL;

        if (!d || !d->downstreams || d->downstreams->nelts == 0) {
            continue;
        }
        sc->uses_exchange = 1;
        if (!sc->client_id) {
            err = "OBOScope/OBOPassToken need OBOClientID";
        }
        else if (!sc->client_secret && !sc->client_cert) {
            err = "OBOScope/OBOPassToken need OBOClientSecret or OBOClientCertificate";
        }
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO040: %s (in <%s>)", err,
                         cd && cd->d ? cd->d : "server");
            return 0;
        }
    }
    return 1;
}

static const char *check_client(apr_pool_t *p, auth_obo_srv_cfg *sc)
{
    if (sc->client_auth == OBO_AUTH_PRIVATE_KEY_JWT && !sc->client_cert) {
        return "OBOClientAuth private_key_jwt needs OBOClientCertificate";
    }
    if ((sc->client_auth == OBO_AUTH_SECRET_POST || sc->client_auth == OBO_AUTH_SECRET_BASIC)
        && !sc->client_secret) {
        return "OBOClientAuth client_secret_* needs OBOClientSecret";
    }
    if (sc->cache_type == CACHE_MEMCACHED && !sc->cache_secret) {
        return "OBOCache memcached needs OBOCacheSecret (values shared between servers "
               "must be encrypted under a key they share)";
    }
    return NULL;
}

static int check_server(apr_pool_t *ptemp, server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    core_server_config *core = ap_get_core_module_config(s->module_config);
    const char *err = check_client(ptemp, sc);

    sc->uses_exchange = sc->defaults->downstreams && sc->defaults->downstreams->nelts > 0;
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO040: %s", err);
        return 0;
    }
    return check_sections(s, sc, core->sec_url) && check_sections(s, sc, core->sec_dir);
}

static int auth_obo_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                 server_rec *s)
{
    server_rec *main_s = s;

    for (; s; s = s->next) {
        if (!check_server(ptemp, s)) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return walk_tree(ptemp, main_s, ap_conftree) ? OK : HTTP_INTERNAL_SERVER_ERROR;
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
    c->auth = sc->client_auth != AUTH_OBO_UNSET ? sc->client_auth
              : sc->client_cert ? OBO_AUTH_PRIVATE_KEY_JWT : OBO_AUTH_SECRET_POST;
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
    if (!sc->uses_exchange) {
        return APR_SUCCESS;
    }
    rv = build_client(pconf, s, sc);
    if (rv == APR_SUCCESS && cache == CACHE_SHM) {
        rv = auth_obo_socache_post_config(pconf, ptemp, s, sc);
        if (rv == APR_SUCCESS && !sc->cache_secret) {
            rv = shm_secret(pconf, sc);
        }
    }
    return rv;
}

static int auth_obo_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    auth_obo_socache_pre_config(pconf);
    return OK;
}

static int auth_obo_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                server_rec *s)
{
    setup_core_log(s);
    if (obo_http_global_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO045: libcurl initialisation failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (; s; s = s->next) {
        if (setup_server(pconf, ptemp, s) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ---- child_init: per-process handles ---------------------------------------- */

static obo_provider_cfg provider_cfg(const auth_obo_srv_cfg *sc)
{
    obo_provider_cfg c;

    memset(&c, 0, sizeof(c));
    c.metadata_url = sc->metadata_url;
    c.jwks_url = sc->jwks_url;
    c.jwks_file = sc->jwks_file;
    c.issuers = sc->issuers;
    c.token_endpoint = sc->token_endpoint;
    c.jwks_refresh = apr_time_from_sec(auth_obo_ival(sc->jwks_refresh, 3600));
    c.http.ca_file = sc->ca_file;
    c.http.connect_timeout = auth_obo_ival(sc->connect_timeout_ms, 3000) * 1000LL;
    c.http.timeout = auth_obo_ival(sc->timeout_ms, 10000) * 1000LL;
    return c;
}

static const char *join(apr_pool_t *p, const apr_array_header_t *a)
{
    return a ? apr_array_pstrcat(p, a, ' ') : "";
}

/* Virtual hosts that inherit the same IdP settings share one provider (one
 * JWKS cache) per process. */
static apr_status_t provider_for(apr_pool_t *pchild, apr_hash_t *seen, obo_http *http,
                                 const auth_obo_srv_cfg *sc, obo_provider **pv)
{
    obo_provider_cfg c = provider_cfg(sc);
    const char *id = apr_psprintf(pchild, "%s|%s|%s|%s|%s|%s|%" APR_TIME_T_FMT "|%"
                                  APR_TIME_T_FMT "|%" APR_TIME_T_FMT,
                                  c.metadata_url ? c.metadata_url : "",
                                  c.jwks_url ? c.jwks_url : "", c.jwks_file ? c.jwks_file : "",
                                  c.http.ca_file ? c.http.ca_file : "", join(pchild, c.issuers),
                                  c.token_endpoint ? c.token_endpoint : "", c.jwks_refresh,
                                  c.http.connect_timeout, c.http.timeout);
    apr_status_t rv = APR_SUCCESS;

    *pv = apr_hash_get(seen, id, APR_HASH_KEY_STRING);
    if (!*pv) {
        rv = obo_provider_create(pchild, &c, http, pv);
        if (rv == APR_SUCCESS) {
            apr_hash_set(seen, id, APR_HASH_KEY_STRING, *pv);
        }
    }
    return rv;
}

static apr_status_t cache_for(apr_pool_t *pchild, server_rec *s, auth_obo_srv_cfg *sc,
                              obo_cache **cache)
{
    obo_cache_backend *be = NULL;
    obo_memcached_opts mo;
    const char *err = NULL;
    apr_status_t rv;
    int type = auth_obo_ival(sc->cache_type, CACHE_SHM);

    *cache = NULL;
    if (type == CACHE_NONE) {
        return APR_SUCCESS;
    }
    if (type == CACHE_MEMCACHED) {
        memset(&mo, 0, sizeof(mo));
        mo.servers = sc->cache_servers;
        mo.timeout = auth_obo_ival(sc->cache_timeout_ms, 200) * 1000LL;
        rv = obo_memcached_create(pchild, &mo, &be, &err);
    }
    else {
        rv = auth_obo_socache_child_init(pchild, s, sc, &be);
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

static void auth_obo_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(pchild);
    obo_http *http = NULL;
    obo_memo *verified = NULL, *l1 = NULL;

    if (obo_http_create(pchild, &http) != APR_SUCCESS
        || obo_memo_create(pchild, VERIFIED_SLOTS, &verified) != APR_SUCCESS
        || obo_memo_create(pchild, L1_SLOTS, &l1) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "OBO047: cannot create the HTTP client");
        return;
    }
    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        auth_obo_runtime *rt = apr_pcalloc(pchild, sizeof(*rt));

        rt->http = http;
        rt->verified = verified;
        rt->l1 = l1;
        if (auth_obo_has_idp(sc)
            && provider_for(pchild, seen, http, sc, &rt->provider) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "OBO048: cannot create the provider");
            continue;
        }
        if (sc->uses_exchange) {
            cache_for(pchild, s, sc, &rt->cache);
        }
        sc->rt = rt;
    }
}

static void auth_obo_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(auth_obo_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(auth_obo_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(auth_obo_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(auth_obo_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    auth_obo_register_authn_hooks(p);
    auth_obo_register_authz_providers(p);
    auth_obo_register_fixups(p);
}

AP_DECLARE_MODULE(auth_obo) = {
    STANDARD20_MODULE_STUFF,
    auth_obo_create_dir_cfg,
    auth_obo_merge_dir_cfg,
    auth_obo_create_srv_cfg,
    auth_obo_merge_srv_cfg,
    auth_obo_cmds,
    auth_obo_register_hooks,
    AP_MODULE_FLAG_NONE
};
