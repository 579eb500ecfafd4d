/* Directives, configuration creation and merging.
 *
 * Server-scope directives merge main server -> virtual host. Validation
 * directives (OBOAudience, OBOClockSkew, OBOAlgorithms, OBORemoteUserClaim,
 * OBOPassClaims) and the downstream ones (OBOScope, OBOPassToken,
 * OBOExchangeAudience) may also stand at server level, where they set the
 * defaults that every <Location> without its own value inherits. Every
 * field has an unset marker (NULL or AUTH_OBO_UNSET) and a merge rule. */
#include "mod_auth_obo.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "apr_strings.h"
#include "http_core.h"

#include "obo_cache_memcached.h"
#include "obo_http.h"
#include "obo_jws.h"

#define MERGE_PTR(f) (add->f ? add->f : base->f)
#define MERGE_INT(f) (add->f != AUTH_OBO_UNSET ? add->f : base->f)

static const char *const default_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", NULL
};

int auth_obo_ival(int v, int dflt)
{
    return v == AUTH_OBO_UNSET ? dflt : v;
}

/* ---- creation and merging ---------------------------------------------- */

static auth_obo_dir_cfg *dir_new(apr_pool_t *p)
{
    auth_obo_dir_cfg *d = apr_pcalloc(p, sizeof(*d));
    d->skew = AUTH_OBO_UNSET;
    d->pass_claims = AUTH_OBO_UNSET;
    return d;
}

void *auth_obo_create_dir_cfg(apr_pool_t *p, char *dir)
{
    return dir_new(p);
}

static auth_obo_dir_cfg *dir_merge(apr_pool_t *p, const auth_obo_dir_cfg *base,
                                   const auth_obo_dir_cfg *add)
{
    auth_obo_dir_cfg *d = dir_new(p);

    d->audiences = MERGE_PTR(audiences);
    d->algs = MERGE_PTR(algs);
    d->skew = MERGE_INT(skew);
    d->remote_user_claim = MERGE_PTR(remote_user_claim);
    d->pass_claims = MERGE_INT(pass_claims);
    /* A Location that names its own downstreams replaces the parent's set:
     * a token for one API must never leak to a backend of another. */
    d->downstreams = MERGE_PTR(downstreams);
    return d;
}

void *auth_obo_merge_dir_cfg(apr_pool_t *p, void *base, void *add)
{
    return dir_merge(p, base, add);
}

void *auth_obo_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    auth_obo_srv_cfg *sc = apr_pcalloc(p, sizeof(*sc));

    sc->jwks_refresh = AUTH_OBO_UNSET;
    sc->connect_timeout_ms = AUTH_OBO_UNSET;
    sc->timeout_ms = AUTH_OBO_UNSET;
    sc->client_auth = AUTH_OBO_UNSET;
    sc->exchange = AUTH_OBO_UNSET;
    sc->cache_type = AUTH_OBO_UNSET;
    sc->cache_shm_size = AUTH_OBO_UNSET;
    sc->cache_margin = AUTH_OBO_UNSET;
    sc->cache_timeout_ms = AUTH_OBO_UNSET;
    sc->flight_wait_ms = AUTH_OBO_UNSET;
    sc->defaults = dir_new(p);
    sc->s = s;
    return sc;
}

void *auth_obo_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    auth_obo_srv_cfg *base = basev, *add = addv;
    auth_obo_srv_cfg *sc = apr_pcalloc(p, sizeof(*sc));

    sc->metadata_url = MERGE_PTR(metadata_url);
    sc->jwks_url = MERGE_PTR(jwks_url);
    sc->jwks_file = MERGE_PTR(jwks_file);
    sc->ca_file = MERGE_PTR(ca_file);
    sc->token_endpoint = MERGE_PTR(token_endpoint);
    sc->issuers = MERGE_PTR(issuers);
    sc->jwks_refresh = MERGE_INT(jwks_refresh);
    sc->connect_timeout_ms = MERGE_INT(connect_timeout_ms);
    sc->timeout_ms = MERGE_INT(timeout_ms);
    sc->client_id = MERGE_PTR(client_id);
    sc->client_secret = MERGE_PTR(client_secret);
    sc->client_cert = MERGE_PTR(client_cert);
    sc->client_key = MERGE_PTR(client_key);
    sc->assertion_alg = MERGE_PTR(assertion_alg);
    sc->client_auth = MERGE_INT(client_auth);
    sc->exchange = MERGE_INT(exchange);
    sc->token_type = MERGE_PTR(token_type);
    sc->cache_type = MERGE_INT(cache_type);
    sc->cache_servers = add->cache_type != AUTH_OBO_UNSET ? add->cache_servers
                                                          : base->cache_servers;
    sc->cache_shm_size = MERGE_INT(cache_shm_size);
    sc->cache_secret = MERGE_PTR(cache_secret);
    sc->cache_secret_len = add->cache_secret ? add->cache_secret_len : base->cache_secret_len;
    sc->cache_margin = MERGE_INT(cache_margin);
    sc->cache_timeout_ms = MERGE_INT(cache_timeout_ms);
    sc->flight_wait_ms = MERGE_INT(flight_wait_ms);
    sc->defaults = dir_merge(p, base->defaults, add->defaults);
    sc->s = add->s;
    return sc;
}

auth_obo_dir_cfg *auth_obo_effective(request_rec *r)
{
    auth_obo_dir_cfg *d = ap_get_module_config(r->per_dir_config, &auth_obo_module);
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);

    return dir_merge(r->pool, sc->defaults, d);
}

int auth_obo_skew(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->skew, 60);
}

int auth_obo_pass_claims(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->pass_claims, PASS_CLAIMS_NONE);
}

const char *auth_obo_user_claim(const auth_obo_dir_cfg *d)
{
    return d->remote_user_claim ? d->remote_user_claim : "sub";
}

const apr_array_header_t *auth_obo_algs(apr_pool_t *p, const auth_obo_dir_cfg *d)
{
    /* A static, read-only view of default_algs: no pool, nothing to race on. */
    static const apr_array_header_t dflt = {
        NULL, sizeof(const char *), 10, 10, (char *)default_algs
    };

    return d->algs ? d->algs : &dflt;
}

int auth_obo_has_idp(const auth_obo_srv_cfg *sc)
{
    return sc->metadata_url || sc->jwks_url || sc->jwks_file;
}

/* ---- directive helpers --------------------------------------------------- */

static auth_obo_srv_cfg *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &auth_obo_module);
}

/* Per-directory directives used at server level set the server defaults. */
static auth_obo_dir_cfg *dir_of(cmd_parms *cmd, void *mconfig)
{
    return cmd->path ? mconfig : srv_of(cmd)->defaults;
}

static const char *err_for(cmd_parms *cmd, const char *what)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, what);
}

static const char *parse_int(cmd_parms *cmd, const char *arg, int min, int max, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (!*arg || *end || v < min || v > max) {
        return err_for(cmd, apr_psprintf(cmd->pool, "'%s' is not a whole number from %d to %d",
                                         arg, min, max));
    }
    *out = (int)v;
    return NULL;
}

/* Seconds, fractions allowed ("0.5"), to milliseconds. */
static const char *parse_secs_ms(cmd_parms *cmd, const char *arg, int *out)
{
    char *end;
    double v = strtod(arg, &end);

    if (!*arg || *end || v < 0.001 || v > 300) {
        return err_for(cmd, apr_psprintf(cmd->pool,
                       "'%s' is not a number of seconds from 0.001 to 300", arg));
    }
    *out = (int)(v * 1000 + 0.5);
    return NULL;
}

static const char *check_url(cmd_parms *cmd, const char *arg)
{
    apr_uri_t u;

    /* https only: a plaintext JWKS lets anyone on the path forge tokens, and
     * the token endpoint receives the client secret and the user's token. */
    if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname
        || strcasecmp(u.scheme, "https")) {
        return err_for(cmd, apr_psprintf(cmd->pool, "'%s' is not an https URL (the IdP "
                                         "must be reached over TLS)", arg));
    }
    return NULL;
}

static const char *check_file(cmd_parms *cmd, const char *path, const char **out)
{
    const char *full = ap_server_root_relative(cmd->pool, path);
    apr_finfo_t fi;

    if (!full || apr_stat(&fi, full, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        return err_for(cmd, apr_psprintf(cmd->pool, "cannot read file '%s'", path));
    }
    *out = full;
    return NULL;
}

/* "file:/path", "env:NAME" or a literal: keeps secrets out of httpd.conf. */
static const char *load_secret(cmd_parms *cmd, const char *arg, const char **out,
                               apr_size_t *len)
{
    char *buf = NULL;
    apr_size_t n = 0;
    const char *path;

    if (strncmp(arg, "file:", 5) == 0) {
        path = ap_server_root_relative(cmd->pool, arg + 5);
        if (!path || obo_file_read(cmd->pool, path, 64 * 1024, &buf, &n) != APR_SUCCESS) {
            return err_for(cmd, apr_psprintf(cmd->pool, "cannot read secret file '%s'",
                                             arg + 5));
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
            buf[--n] = '\0';
        }
    }
    else if (strncmp(arg, "env:", 4) == 0) {
        const char *v = getenv(arg + 4);
        if (!v || !*v) {
            return err_for(cmd, apr_psprintf(cmd->pool, "environment variable %s is not set",
                                             arg + 4));
        }
        buf = apr_pstrdup(cmd->pool, v);
        n = strlen(buf);
    }
    else {
        buf = apr_pstrdup(cmd->pool, arg);
        n = strlen(buf);
    }
    if (n == 0) {
        return err_for(cmd, "the secret is empty");
    }
    *out = buf;
    if (len) {
        *len = n;
    }
    return NULL;
}

/* ---- server directives --------------------------------------------------- */

static const char *set_srv_url(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = check_url(cmd, arg);
    int off = (int)(apr_size_t)cmd->info;

    if (!err) {
        *(const char **)((char *)srv_of(cmd) + off) = arg;
    }
    return err;
}

static const char *set_srv_file(cmd_parms *cmd, void *m, const char *arg)
{
    int off = (int)(apr_size_t)cmd->info;
    return check_file(cmd, arg, (const char **)((char *)srv_of(cmd) + off));
}

static const char *add_issuer(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);

    if (!sc->issuers) {
        sc->issuers = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(sc->issuers, const char *) = arg;
    return NULL;
}

static const char *set_jwks_refresh(cmd_parms *cmd, void *m, const char *arg)
{
    return parse_int(cmd, arg, 60, 7 * 86400, &srv_of(cmd)->jwks_refresh);
}

static const char *set_timeout(cmd_parms *cmd, void *m, const char *c, const char *t)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err = parse_secs_ms(cmd, c, &sc->connect_timeout_ms);

    if (!err && t) {
        err = parse_secs_ms(cmd, t, &sc->timeout_ms);
    }
    if (!err && sc->timeout_ms != AUTH_OBO_UNSET && sc->timeout_ms < sc->connect_timeout_ms) {
        err = err_for(cmd, "the total timeout is shorter than the connect timeout");
    }
    return err;
}

static const char *set_client_id(cmd_parms *cmd, void *m, const char *arg)
{
    srv_of(cmd)->client_id = arg;
    return NULL;
}

static const char *set_client_secret(cmd_parms *cmd, void *m, const char *arg)
{
    return load_secret(cmd, arg, &srv_of(cmd)->client_secret, NULL);
}

static const char *set_client_cert(cmd_parms *cmd, void *m, const char *crt, const char *key)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err = check_file(cmd, crt, &sc->client_cert);

    return err ? err : check_file(cmd, key, &sc->client_key);
}

static const char *set_assertion_alg(cmd_parms *cmd, void *m, const char *arg)
{
    if (strcmp(arg, "PS256") && strcmp(arg, "RS256")) {
        return err_for(cmd, "must be PS256 (x5t#S256, Entra) or RS256 (x5t)");
    }
    srv_of(cmd)->assertion_alg = arg;
    return NULL;
}

/* A directive argument that must be one of a few keywords (any case). */
typedef struct keyword {
    const char *name;
    int value;
} keyword;

static const char *parse_keyword(cmd_parms *cmd, const char *arg, const keyword *kw,
                                 const char *expected, int *out)
{
    for (; kw->name; kw++) {
        if (!strcasecmp(arg, kw->name)) {
            *out = kw->value;
            return NULL;
        }
    }
    return err_for(cmd, apr_pstrcat(cmd->pool, "must be ", expected, NULL));
}

static const char *set_client_auth(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "client_secret_post", OBO_AUTH_SECRET_POST },
        { "client_secret_basic", OBO_AUTH_SECRET_BASIC },
        { "private_key_jwt", OBO_AUTH_PRIVATE_KEY_JWT },
        { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "client_secret_post, client_secret_basic or "
                         "private_key_jwt", &srv_of(cmd)->client_auth);
}

static const char *set_exchange(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "on-behalf-of", OBO_GRANT_OBO },
        { "token-exchange", OBO_GRANT_TOKEN_EXCHANGE },
        { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "on-behalf-of or token-exchange",
                         &srv_of(cmd)->exchange);
}

static const char *set_token_type(cmd_parms *cmd, void *m, const char *arg)
{
    if (strncmp(arg, "urn:", 4) != 0) {
        return err_for(cmd, "must be a token type URN (urn:ietf:params:oauth:token-type:...)");
    }
    srv_of(cmd)->token_type = arg;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *m, const char *type, const char *arg)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err = NULL;

    if (!strcasecmp(type, "shm")) {
        sc->cache_type = CACHE_SHM;
        if (arg) {
            err = parse_int(cmd, arg, 64 * 1024, 1024 * 1024 * 1024, &sc->cache_shm_size);
        }
    }
    else if (!strcasecmp(type, "memcached")) {
        sc->cache_type = CACHE_MEMCACHED;
        if (!arg) {
            return err_for(cmd, "memcached needs a server list: host:port[,host:port...]");
        }
        if (obo_memcached_check_servers(cmd->pool, arg, &err) != APR_SUCCESS) {
            return err_for(cmd, err);
        }
        sc->cache_servers = arg;
    }
    else if (!strcasecmp(type, "none")) {
        sc->cache_type = CACHE_NONE;
    }
    else {
        err = err_for(cmd, "must be shm [bytes], memcached host:port[,...] or none");
    }
    return err;
}

static const char *set_cache_secret(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *v = NULL;
    const char *err = load_secret(cmd, arg, &v, &sc->cache_secret_len);

    if (!err && sc->cache_secret_len < 16) {
        err = err_for(cmd, "the cache secret must be at least 16 bytes (use 32 random bytes)");
    }
    sc->cache_secret = (const unsigned char *)v;
    return err;
}

static const char *set_srv_int(cmd_parms *cmd, void *m, const char *arg)
{
    int off = (int)(apr_size_t)cmd->info;
    int *field = (int *)((char *)srv_of(cmd) + off);

    if (off == (int)offsetof(auth_obo_srv_cfg, cache_margin)) {
        return parse_int(cmd, arg, 0, 3600, field);
    }
    return parse_int(cmd, arg, 1, 60000, field);
}

/* ---- validation directives (server or directory) ------------------------ */

static const char *add_audience(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_dir_cfg *d = dir_of(cmd, m);

    if (!d->audiences) {
        d->audiences = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(d->audiences, const char *) = arg;
    return NULL;
}

static const char *add_alg(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_dir_cfg *d = dir_of(cmd, m);

    if (!obo_jws_alg_known(arg)) {
        return err_for(cmd, apr_psprintf(cmd->pool, "'%s' is not an accepted algorithm "
                       "(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA; "
                       "none and HMAC are never accepted)", arg));
    }
    if (!d->algs) {
        d->algs = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(d->algs, const char *) = arg;
    return NULL;
}

static const char *set_skew(cmd_parms *cmd, void *m, const char *arg)
{
    return parse_int(cmd, arg, 0, 3600, &dir_of(cmd, m)->skew);
}

static const char *set_user_claim(cmd_parms *cmd, void *m, const char *arg)
{
    dir_of(cmd, m)->remote_user_claim = arg;
    return NULL;
}

static const char *set_pass_claims(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "none", PASS_CLAIMS_NONE }, { "env", PASS_CLAIMS_ENV },
        { "headers", PASS_CLAIMS_HEADERS }, { "both", PASS_CLAIMS_BOTH },
        { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "none, env, headers or both",
                         &dir_of(cmd, m)->pass_claims);
}

/* ---- downstream directives ----------------------------------------------- */

static auth_obo_downstream *downstream(cmd_parms *cmd, auth_obo_dir_cfg *d, const char *name)
{
    auth_obo_downstream *ds;
    int i;

    if (!d->downstreams) {
        d->downstreams = apr_array_make(cmd->pool, 1, sizeof(auth_obo_downstream *));
    }
    for (i = 0; i < d->downstreams->nelts; i++) {
        ds = APR_ARRAY_IDX(d->downstreams, i, auth_obo_downstream *);
        if ((!ds->name && !name) || (ds->name && name && !strcmp(ds->name, name))) {
            return ds;
        }
    }
    ds = apr_pcalloc(cmd->pool, sizeof(*ds));
    ds->name = name;
    ds->scopes = apr_array_make(cmd->pool, 2, sizeof(const char *));
    ds->pass = apr_array_make(cmd->pool, 1, sizeof(auth_obo_pass));
    APR_ARRAY_PUSH(d->downstreams, auth_obo_downstream *) = ds;
    return ds;
}

/* "downstream=NAME" names which downstream API a directive configures. */
static const char *take_downstream(cmd_parms *cmd, int *argc, char *const argv[],
                                   const char **name)
{
    int i, j;

    *name = NULL;
    for (i = 0; i < *argc; i++) {
        if (strncasecmp(argv[i], "downstream=", 11) == 0) {
            *name = argv[i] + 11;
            if (!**name || strspn(*name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-") != strlen(*name)) {
                return err_for(cmd, "downstream= needs a name of letters, digits, - and _");
            }
            for (j = i; j < *argc - 1; j++) {
                ((char **)argv)[j] = argv[j + 1];
            }
            (*argc)--;
            return NULL;
        }
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_unique_sorted(apr_array_header_t *a, const char *v)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), v)) {
            return;
        }
    }
    APR_ARRAY_PUSH(a, const char *) = v;
    qsort(a->elts, a->nelts, sizeof(const char *), cmp_str);
}

/* OBOScope and OBOExchangeAudience: sorted, unique values of one downstream.
 * No spaces or quotes: values are space-joined on the wire and in the cache
 * key, where one value with a space would read as two. */
static const char *add_values(cmd_parms *cmd, void *m, int argc, char *const argv[],
                              int audiences)
{
    const char *name = NULL;
    const char *err = take_downstream(cmd, &argc, argv, &name);
    apr_array_header_t **list;
    auth_obo_downstream *ds;
    int i;

    if (err || argc < 1) {
        return err ? err : err_for(cmd, "needs at least one value");
    }
    ds = downstream(cmd, dir_of(cmd, m), name);
    list = audiences ? &ds->audiences : &ds->scopes;
    if (!*list) {
        *list = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    for (i = 0; i < argc; i++) {
        if (strpbrk(argv[i], " \t\r\n\"")) {
            return err_for(cmd, "a value may not contain spaces or quotes");
        }
        add_unique_sorted(*list, argv[i]);
    }
    return NULL;
}

static const char *add_scopes(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    return add_values(cmd, m, argc, argv, 0);
}

static const char *add_exchange_audience(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    return add_values(cmd, m, argc, argv, 1);
}

static int valid_token_name(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_-") == strlen(s);
}

static const char *add_pass(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *name = NULL;
    const char *err = take_downstream(cmd, &argc, argv, &name);
    auth_obo_pass pass = { 0, NULL };

    if (err) {
        return err;
    }
    if (argc == 1 && !strcasecmp(argv[0], "authorization")) {
        pass.kind = PASS_AUTHORIZATION;
    }
    else if (argc == 2 && (!strcasecmp(argv[0], "env") || !strcasecmp(argv[0], "header"))) {
        pass.kind = !strcasecmp(argv[0], "env") ? PASS_ENV : PASS_HEADER;
        pass.name = argv[1];
        if (!valid_token_name(pass.name)) {
            return err_for(cmd, "the variable or header name may hold only letters, "
                                "digits, - and _");
        }
        if (pass.kind == PASS_HEADER && !strcasecmp(pass.name, "Authorization")) {
            return err_for(cmd, "use 'OBOPassToken authorization' for the Authorization header");
        }
    }
    else {
        return err_for(cmd, "must be: authorization | env NAME | header NAME "
                            "[downstream=NAME]");
    }
    APR_ARRAY_PUSH(downstream(cmd, dir_of(cmd, m), name)->pass, auth_obo_pass) = pass;
    return NULL;
}

/* offsetof, not APR_OFFSETOF: that one subtracts null pointers (undefined; clang
 * -Werror rejects it). */
#define SRV(f) (void *)offsetof(auth_obo_srv_cfg, f)
#define BOTH (RSRC_CONF | ACCESS_CONF)

const command_rec auth_obo_cmds[] = {
    AP_INIT_TAKE1("OBOMetadataURL", set_srv_url, SRV(metadata_url), RSRC_CONF,
                  "OIDC discovery URL (.well-known/openid-configuration) of the IdP"),
    AP_INIT_TAKE1("OBOCACertificateFile", set_srv_file, SRV(ca_file), RSRC_CONF,
                  "PEM CA bundle trusted for the IdP's TLS (default: system store)"),
    AP_INIT_ITERATE("OBOIssuer", add_issuer, NULL, RSRC_CONF,
                    "Accepted issuer(s); {tenantid} matches the token's tid"),
    AP_INIT_TAKE1("OBOJWKSURL", set_srv_url, SRV(jwks_url), RSRC_CONF,
                  "JWKS URL when the IdP has no discovery"),
    AP_INIT_TAKE1("OBOJWKSFile", set_srv_file, SRV(jwks_file), RSRC_CONF,
                  "Local JWKS file"),
    AP_INIT_TAKE1("OBOJWKSRefreshInterval", set_jwks_refresh, NULL, RSRC_CONF,
                  "Seconds between JWKS refreshes (default 3600)"),
    AP_INIT_TAKE12("OBOTimeout", set_timeout, NULL, RSRC_CONF,
                   "IdP connect timeout and total timeout in seconds (default 3 10)"),
    AP_INIT_TAKE1("OBOTokenEndpoint", set_srv_url, SRV(token_endpoint), RSRC_CONF,
                  "Token endpoint (default: from discovery)"),
    AP_INIT_TAKE1("OBOClientID", set_client_id, NULL, RSRC_CONF,
                  "Client id of this API at the IdP"),
    AP_INIT_TAKE1("OBOClientSecret", set_client_secret, NULL, RSRC_CONF,
                  "Client secret: file:/path, env:NAME or a literal"),
    AP_INIT_TAKE2("OBOClientCertificate", set_client_cert, NULL, RSRC_CONF,
                  "Certificate and key files for private_key_jwt"),
    AP_INIT_TAKE1("OBOClientAssertionAlg", set_assertion_alg, NULL, RSRC_CONF,
                  "PS256 (x5t#S256, default) or RS256 (x5t)"),
    AP_INIT_TAKE1("OBOClientAuth", set_client_auth, NULL, RSRC_CONF,
                  "client_secret_post | client_secret_basic | private_key_jwt"),
    AP_INIT_TAKE1("OBOExchange", set_exchange, NULL, RSRC_CONF,
                  "on-behalf-of (default) or token-exchange (RFC 8693)"),
    AP_INIT_TAKE1("OBORequestedTokenType", set_token_type, NULL, RSRC_CONF,
                  "RFC 8693 requested_token_type"),
    AP_INIT_TAKE12("OBOCache", set_cache, NULL, RSRC_CONF,
                   "shm [bytes] (default) | memcached host:port[,...] | none"),
    AP_INIT_TAKE1("OBOCacheSecret", set_cache_secret, NULL, RSRC_CONF,
                  "Cache encryption secret: file:/path, env:NAME or a literal"),
    AP_INIT_TAKE1("OBOCacheMargin", set_srv_int, SRV(cache_margin), RSRC_CONF,
                  "Seconds before expiry a cached token is renewed (default 300)"),
    AP_INIT_TAKE1("OBOCacheTimeout", set_srv_int, SRV(cache_timeout_ms), RSRC_CONF,
                  "memcached I/O timeout in milliseconds (default 200)"),
    AP_INIT_TAKE1("OBOCacheLockWait", set_srv_int, SRV(flight_wait_ms), RSRC_CONF,
                  "Milliseconds a request waits for another's IdP call (default: "
                  "the total timeout + 1 s)"),
    AP_INIT_ITERATE("OBOAudience", add_audience, NULL, BOTH,
                    "Accepted audience(s): any one must be in the token's aud"),
    AP_INIT_TAKE1("OBOClockSkew", set_skew, NULL, BOTH,
                  "Seconds of clock skew tolerated for exp/nbf/iat (default 60)"),
    AP_INIT_ITERATE("OBOAlgorithms", add_alg, NULL, BOTH,
                    "Allowed signature algorithms"),
    AP_INIT_TAKE1("OBORemoteUserClaim", set_user_claim, NULL, BOTH,
                  "Claim that becomes REMOTE_USER (default sub)"),
    AP_INIT_TAKE1("OBOPassClaims", set_pass_claims, NULL, BOTH,
                  "none | env | headers | both"),
    AP_INIT_TAKE_ARGV("OBOScope", add_scopes, NULL, BOTH,
                      "[downstream=NAME] scope... of the downstream API"),
    AP_INIT_TAKE_ARGV("OBOExchangeAudience", add_exchange_audience, NULL, BOTH,
                      "[downstream=NAME] audience... (RFC 8693)"),
    AP_INIT_TAKE_ARGV("OBOPassToken", add_pass, NULL, BOTH,
                      "authorization | env NAME | header NAME [downstream=NAME]"),
    { .name = NULL } /* designated: clang -Wextra flags a bare { NULL } */
};
