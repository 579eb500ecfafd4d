/* SPDX-License-Identifier: Apache-2.0 */
/* Directives, configuration creation and merging.
 *
 * Server-scope directives merge main server -> virtual host. Validation
 * directives (OBOAudience, OBOClockSkew, OBOAlgorithms, OBORemoteUserClaim,
 * OBOPassClaims) and the downstream ones (OBOScope, OBOPassToken,
 * OBOExchangeAudience) may also stand at server level, where they set the
 * defaults that every <Location> without its own value inherits. Every
 * field has an unset marker (NULL or AUTH_OBO_UNSET) and a merge rule. */
#include "mod_auth_obo_config.h"
#include "obo_dpop.h"

#include <stddef.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"

#include "obo_cache_memcached.h"
#include "obo_text.h"
#include "obo_crypto.h"
#include "obo_http.h"
#include "obo_jws.h"
#include "obo_jwt.h"
#include "obo_validate.h"

#define MERGE_PTR(f) (add->f ? add->f : base->f)
#define MERGE_INT(f) (add->f != AUTH_OBO_UNSET ? add->f : base->f)

int auth_obo_ival(int v, int dflt)
{
    return v == AUTH_OBO_UNSET ? dflt : v;
}

/* ---- creation and merging ---------------------------------------------- */

static auth_obo_dir_cfg *dir_new(apr_pool_t *p)
{
    auth_obo_dir_cfg *d = apr_pcalloc(p, sizeof(*d));
    d->skew = AUTH_OBO_UNSET;
    d->remote_user_bare = AUTH_OBO_UNSET;
    d->pass_claims = AUTH_OBO_UNSET;
    d->token_typ = AUTH_OBO_UNSET;
    d->cert_bound = AUTH_OBO_UNSET;
    d->forward_caller = AUTH_OBO_UNSET;
    d->long_running = AUTH_OBO_UNSET;
    d->token_format = AUTH_OBO_UNSET;
    d->sources = AUTH_OBO_UNSET;
    d->preflight = AUTH_OBO_UNSET;
    d->dpop = AUTH_OBO_UNSET;
    d->dpop_nonce = AUTH_OBO_UNSET;
    d->dpop_window = AUTH_OBO_UNSET;
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
    d->remote_user_bare = MERGE_INT(remote_user_bare);
    d->pass_claims = MERGE_INT(pass_claims);
    /* A Location that names its own downstreams replaces the parent's set:
     * a token for one API must never leak to a backend of another. */
    d->downstreams = MERGE_PTR(downstreams);
    d->token_typ = MERGE_INT(token_typ);
    d->cert_bound = MERGE_INT(cert_bound);
    d->forward_caller = MERGE_INT(forward_caller);
    d->long_running = MERGE_INT(long_running);
    d->token_format = MERGE_INT(token_format);
    /* The list of places is one value: a section's list replaces its parent's
     * (cookie names included), as OBOScope's set does. */
    d->sources = MERGE_INT(sources);
    d->cookies = add->sources != AUTH_OBO_UNSET ? add->cookies : base->cookies;
    d->preflight = MERGE_INT(preflight);
    d->accept_issuers = MERGE_PTR(accept_issuers);
    d->dpop = MERGE_INT(dpop);
    d->dpop_nonce = MERGE_INT(dpop_nonce);
    d->dpop_window = MERGE_INT(dpop_window);
    d->dpop_url = MERGE_PTR(dpop_url);
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
    sc->dpop_replay_slots = AUTH_OBO_UNSET;
    sc->cache_timeout_ms = AUTH_OBO_UNSET;
    sc->flight_wait_ms = AUTH_OBO_UNSET;
    sc->negative_ttl = AUTH_OBO_UNSET;
    sc->session_idle = AUTH_OBO_UNSET;
    sc->session_max = AUTH_OBO_UNSET;
    sc->validated_slots = AUTH_OBO_UNSET;
    sc->refresh_share = AUTH_OBO_UNSET;
    sc->session_limit = AUTH_OBO_UNSET;
    sc->session_users = AUTH_OBO_UNSET;
    sc->preload_keys = AUTH_OBO_UNSET;
    sc->introspection_ttl = AUTH_OBO_UNSET;
    sc->app_only_rules = AUTH_OBO_UNSET;
    sc->defaults = dir_new(p);
    sc->s = s;
    return sc;
}

void *auth_obo_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    auth_obo_srv_cfg *base = basev, *add = addv;
    auth_obo_srv_cfg *sc = apr_pcalloc(p, sizeof(*sc));

    /* A virtual host that names any provider has its own set of them, with
     * everything that belongs to a provider: merged one by one, it kept the
     * main server's OBOIssuer (its own IdP's tokens refused, the main's
     * accepted) and sent its exchanges to the main's OBOTokenEndpoint
     * (review 28B). */
    const auth_obo_srv_cfg *idp = auth_obo_has_idp(add) ? add : base;

    sc->metadata_url = idp->metadata_url;
    sc->jwks_url = idp->jwks_url;
    sc->jwks_file = idp->jwks_file;
    sc->token_endpoint = idp == add ? add->token_endpoint : MERGE_PTR(token_endpoint);
    /* a host's own OBOIssuer under the main server's provider replaces all
     * of its issuers, those on its OBOMetadataURL line too: a host narrows
     * what the main server accepts (review 41-F7 undid 40B-F3's merge) */
    sc->issuers = idp == add ? add->issuers : MERGE_PTR(issuers);
    sc->more_idps = idp->more_idps;
    sc->ca_file = MERGE_PTR(ca_file);
    sc->jwks_refresh = MERGE_INT(jwks_refresh);
    sc->connect_timeout_ms = MERGE_INT(connect_timeout_ms);
    sc->timeout_ms = MERGE_INT(timeout_ms);
    sc->client_id = MERGE_PTR(client_id);
    sc->client_secret = MERGE_PTR(client_secret);
    sc->client_secret_file = add->client_secret ? add->client_secret_file
                                                : base->client_secret_file;
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
    sc->cache_secret_file = add->cache_secret ? add->cache_secret_file
                                              : base->cache_secret_file;
    sc->cache_margin = MERGE_INT(cache_margin);
    sc->cache_timeout_ms = MERGE_INT(cache_timeout_ms);
    sc->flight_wait_ms = MERGE_INT(flight_wait_ms);
    sc->negative_ttl = MERGE_INT(negative_ttl);
    sc->session_idle = MERGE_INT(session_idle);
    sc->session_max = MERGE_INT(session_max);
    sc->validated_slots = MERGE_INT(validated_slots);
    sc->refresh_share = MERGE_INT(refresh_share);
    sc->session_limit = MERGE_INT(session_limit);
    sc->session_users = MERGE_INT(session_users);
    sc->preload_keys = MERGE_INT(preload_keys);
    sc->introspection_url = idp == add ? add->introspection_url : MERGE_PTR(introspection_url);
    sc->introspection_ttl = MERGE_INT(introspection_ttl);
    /* a virtual host inherits the main server's OBOTokenFormat */
    sc->introspects = add->introspects || base->introspects;
    sc->introspects_here = add->introspects_here;
    sc->uses_dpop = add->uses_dpop || base->uses_dpop;
    sc->dpop_tuned_at = MERGE_PTR(dpop_tuned_at);
    sc->cert_required_at = MERGE_PTR(cert_required_at);
    sc->introspects_at = MERGE_PTR(introspects_at);
    sc->dpop_replay_slots = MERGE_INT(dpop_replay_slots);
    sc->app_only_rules = MERGE_INT(app_only_rules);
    sc->defaults = dir_merge(p, base->defaults, add->defaults);
    /* The main server's sections apply to a virtual host's requests too. */
    sc->sections = add->sections && base->sections
                   ? apr_array_append(p, add->sections, base->sections) : MERGE_PTR(sections);
    sc->s = add->s;
    return sc;
}

int auth_obo_client_auth(const auth_obo_srv_cfg *sc)
{
    return sc->client_auth != AUTH_OBO_UNSET ? sc->client_auth
           : sc->client_cert ? OBO_AUTH_PRIVATE_KEY_JWT : OBO_AUTH_SECRET_POST;
}

int auth_obo_skew(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->skew, AUTH_OBO_SKEW);
}

int auth_obo_pass_claims(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->pass_claims, PASS_CLAIMS_NONE);
}

int auth_obo_token_format(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->token_format, AUTH_OBO_FORMAT_JWT);
}

int auth_obo_forward_caller(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->forward_caller, 0);
}

int auth_obo_sources(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->sources, SOURCE_HEADER);
}

int auth_obo_preflight(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->preflight, PREFLIGHT_ALLOW);
}

int auth_obo_cert_bound(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->cert_bound, CERT_BOUND_AUTO);
}

int auth_obo_dpop(const auth_obo_dir_cfg *d)
{
    return auth_obo_ival(d->dpop, DPOP_OFF);
}

const char *auth_obo_user_claim(const auth_obo_dir_cfg *d)
{
    return d->remote_user_claim ? d->remote_user_claim : "sub";
}

/* Set only with the claim (OBORemoteUserClaim claim bare): unset or 0 is
 * the default, names of a further provider qualified. */
int auth_obo_user_bare(const auth_obo_dir_cfg *d)
{
    return d->remote_user_bare > 0;
}

const apr_array_header_t *auth_obo_algs(apr_pool_t *p, const auth_obo_dir_cfg *d)
{
    return d->algs ? d->algs : obo_validate_default_algs();
}

int auth_obo_has_idp(const auth_obo_srv_cfg *sc)
{
    return sc->metadata_url || sc->jwks_url || sc->jwks_file
           || (sc->more_idps && sc->more_idps->nelts > 0);
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
    /* strtod also reads hex ("0x10") and exponents ("1e1"): decimal digits
     * and one point only (review 33B-F14) */
    int decimal = strspn(arg, "0123456789.") == strlen(arg)
                  && strchr(arg, '.') == strrchr(arg, '.');

    /* strtod reads "nan", which compares false with every bound */
    if (!decimal || !*arg || *end || isnan(v) || v < 0.001 || v > 300) {
        return err_for(cmd, apr_psprintf(cmd->pool,
                       "'%s' is not a number of seconds from 0.001 to 300", arg));
    }
    *out = (int)(v * 1000 + 0.5);
    return NULL;
}

/* A DNS name or an IP address (IPv6 without its brackets, as parsed). */
static int host_ok(const char *h)
{
    return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:")
           == strlen(h);
}

static const char *check_url(cmd_parms *cmd, const char *arg)
{
    apr_uri_t u;

    /* https only: a plaintext JWKS lets anyone on the path forge tokens, and
     * the token endpoint receives the client secret and the user's token. */
    /* apr_uri_parse gives "https:///x" an empty host, not none, and takes
     * any port text and host characters (reviews 13B, 14B) */
    if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname
        || !*u.hostname || strcasecmp(u.scheme, "https") || !host_ok(u.hostname)
        || (u.port_str && (!*u.port_str || strspn(u.port_str, "0123456789")
                           != strlen(u.port_str) || u.port == 0 || atoi(u.port_str) > 65535))) {
        /* without its query and fragment, as the logs show IdP URLs: a
         * query may carry a key (?code=, review 33B-F19) */
        return err_for(cmd, apr_psprintf(cmd->pool, "'%.*s%s' is not an https URL with a "
                                         "host (the IdP must be reached over TLS)",
                                         (int)strcspn(arg, "?#"), arg,
                                         arg[strcspn(arg, "?#")] ? "?..." : ""));
    }
    /* A password in a URL would be used, then written wherever the URL is
     * (error log lines, the status page): refused, and not repeated here
     * (review 20). */
    if (u.user || u.password) {
        u.user = NULL;
        u.password = NULL;
        return err_for(cmd, apr_psprintf(cmd->pool, "'%s' (shown without it) carries a user "
                                         "name or password: credentials never go in a URL "
                                         "(use OBOClientSecret or OBOClientAuth)",
                                         apr_uri_unparse(cmd->pool, &u,
                                                         APR_URI_UNP_OMITQUERY)));
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

/* "file:/path", "env:NAME" or a literal: keeps secrets out of httpd.conf.
 * *file is the file's full path (for the permission check at startup) or
 * NULL. Our copy is wiped when the configuration goes. */
/* The env: secrets of this configuration (auth_obo_env_secrets), in pconf's
 * userdata: a new list for each reading of the configuration. */
#define ENV_SECRETS_KEY "auth_obo_env_secrets"

static void note_env_secret(cmd_parms *cmd, const char *name, const char *value,
                            apr_size_t len)
{
    apr_array_header_t *list = NULL;
    auth_obo_env_secret *e;

    apr_pool_userdata_get((void **)&list, ENV_SECRETS_KEY, cmd->pool);
    if (!list) {
        list = apr_array_make(cmd->pool, 2, sizeof(auth_obo_env_secret));
        apr_pool_userdata_setn(list, ENV_SECRETS_KEY, apr_pool_cleanup_null, cmd->pool);
    }
    e = apr_array_push(list);
    e->directive = cmd->cmd->name;
    e->name = name;
    obo_sha256(value, len, e->sha256);
}

const apr_array_header_t *auth_obo_env_secrets(apr_pool_t *pconf)
{
    apr_array_header_t *list = NULL;

    apr_pool_userdata_get((void **)&list, ENV_SECRETS_KEY, pconf);
    return list;
}

static const char *load_secret(cmd_parms *cmd, const char *arg, const char **out,
                               apr_size_t *len, const char **file)
{
    char *buf = NULL;
    apr_size_t n = 0;
    const char *path = NULL, *why = NULL;

    if (strncmp(arg, "file:", 5) == 0) {
        path = ap_server_root_relative(cmd->pool, arg + 5);
        /* never blocks: a FIFO there hung configtest and the start (review
         * 36A-F2) */
        if (!path
            || obo_file_read(cmd->pool, path, 64 * 1024, &buf, &n, &why) != APR_SUCCESS) {
            return err_for(cmd, apr_psprintf(cmd->pool, "cannot read secret file '%s'%s%s",
                                             arg + 5, why ? ": " : "", why ? why : ""));
        }
        obo_cleanse_on_clear(cmd->pool, buf, n);
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
        obo_cleanse_on_clear(cmd->pool, buf, n);
        note_env_secret(cmd, arg + 4, buf, n);
    }
    else {
        buf = apr_pstrdup(cmd->pool, arg);
        n = strlen(buf);
        obo_cleanse_on_clear(cmd->pool, buf, n);
    }
    if (n == 0) {
        return err_for(cmd, "the secret is empty");
    }
    *out = buf;
    if (len) {
        *len = n;
    }
    *file = path;
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

static auth_obo_idp *push_idp(cmd_parms *cmd)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);

    if (!sc->more_idps) {
        sc->more_idps = apr_array_make(cmd->pool, 2, sizeof(auth_obo_idp));
    }
    return memset(apr_array_push(sc->more_idps), 0, sizeof(auth_obo_idp));
}

static int names_metadata(const auth_obo_srv_cfg *sc, const char *url)
{
    int i;

    for (i = 0; sc->more_idps && i < sc->more_idps->nelts; i++) {
        const char *u = APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp).metadata_url;
        if (u && strcmp(u, url) == 0) {
            return 1;
        }
    }
    return sc->metadata_url && strcmp(sc->metadata_url, url) == 0;
}

static apr_array_header_t *argv_list(apr_pool_t *p, int argc, char *const argv[])
{
    apr_array_header_t *a = apr_array_make(p, argc, sizeof(const char *));
    int i;

    for (i = 0; i < argc; i++) {
        APR_ARRAY_PUSH(a, const char *) = argv[i];
    }
    return a;
}

/* OBOJWKSURL url [issuer...] / OBOJWKSFile path [issuer...]: without
 * issuers, the primary provider's keys (as with one provider); with them,
 * a provider of its own that accepts those issuers. where: the checked URL
 * or the file's full path. */
static const char *add_jwks_source(cmd_parms *cmd, int argc, char *const argv[],
                                   const char *where, int file)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    auth_obo_idp *idp;

    if (argc == 1) {
        /* one of the two would be ignored without a word (review 39B-F7) */
        if (sc->jwks_file || sc->jwks_url) {
            return err_for(cmd, apr_psprintf(cmd->pool, "'%s': this server's keys are named "
                           "already (%s); OBOJWKSURL and OBOJWKSFile without issuers name the "
                           "primary provider's keys, once", argv[0],
                           sc->jwks_file ? sc->jwks_file : obo_url_shown(cmd->pool,
                                                                         sc->jwks_url)));
        }
        *(file ? &sc->jwks_file : &sc->jwks_url) = where;
        return NULL;
    }
    idp = push_idp(cmd);
    *(file ? &idp->jwks_file : &idp->jwks_url) = where;
    idp->issuers = argv_list(cmd->pool, argc - 1, argv + 1);
    return NULL;
}

/* The words of an OBOMetadataURL, OBOJWKSURL or OBOJWKSFile line (a URL or
 * path, then issuers), as TAKE_ARGV splits them, but an empty one ("", or
 * "${ISS}" with an empty variable) is an error: TAKE_ARGV ends the list at
 * it, and "OBOJWKSFile partner.json \"\"" then named the primary provider's
 * keys instead of a partner's (review 39A-F7). */
static const char *line_words(cmd_parms *cmd, const char *args, int *argc, char ***argv)
{
    apr_array_header_t *a = apr_array_make(cmd->pool, 4, sizeof(char *));

    while (*args) {
        char *w;

        while (apr_isspace(*args)) {
            args++;
        }
        if (!*args) {
            break;
        }
        if (!*(w = ap_getword_conf(cmd->pool, &args))) {
            return err_for(cmd, "an empty argument (an issuer from an empty variable?)");
        }
        APR_ARRAY_PUSH(a, char *) = w;
    }
    *argc = a->nelts;
    *argv = (char **)a->elts;
    return NULL;
}

static const char *set_jwks_url(cmd_parms *cmd, void *m, const char *args)
{
    int argc = 0;
    char **argv = NULL;
    const char *err = line_words(cmd, args, &argc, &argv);

    if (!err) {
        err = argc < 1 ? err_for(cmd, "needs a URL") : check_url(cmd, argv[0]);
    }
    return err ? err : add_jwks_source(cmd, argc, argv, argv[0], 0);
}

static const char *set_jwks_file(cmd_parms *cmd, void *m, const char *args)
{
    const char *path = NULL;
    int argc = 0;
    char **argv = NULL;
    const char *err = line_words(cmd, args, &argc, &argv);

    if (!err) {
        err = argc < 1 ? err_for(cmd, "needs a path") : check_file(cmd, argv[0], &path);
    }
    return err ? err : add_jwks_source(cmd, argc, argv, path, 1);
}

/* One more value of a list directive (ITERATE), the list made at its first. */
static void push_value(apr_pool_t *p, apr_array_header_t **list, const char *arg)
{
    if (!*list) {
        *list = apr_array_make(p, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(*list, const char *) = arg;
}

/* OBOMetadataURL url [issuer...]: the first of a server is the primary
 * provider's (as with one provider; issuers on its line add to OBOIssuer);
 * each further one adds a provider, whose issuers are those on its line,
 * else its discovery document's. Issuers on the line pin a further
 * provider whose URL does not name its issuer (B2C), which another
 * provider's document could otherwise contest (review 39A-F8, OBO474). */
static const char *set_metadata_url(cmd_parms *cmd, void *m, const char *args)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    int argc = 0, i;
    char **argv = NULL;
    const char *err = line_words(cmd, args, &argc, &argv);

    if (!err) {
        err = argc < 1 ? err_for(cmd, "needs a URL") : check_url(cmd, argv[0]);
    }
    if (!err && names_metadata(sc, argv[0])) {
        err = err_for(cmd, apr_psprintf(cmd->pool, "'%s' is named twice", argv[0]));
    }
    if (err) {
        return err;
    }
    if (!sc->metadata_url) {
        sc->metadata_url = argv[0];
        for (i = 1; i < argc; i++) {
            push_value(cmd->pool, &sc->issuers, argv[i]);
        }
    }
    else {
        auth_obo_idp *idp = push_idp(cmd);
        idp->metadata_url = argv[0];
        idp->issuers = argc > 1 ? argv_list(cmd->pool, argc - 1, argv + 1) : NULL;
    }
    return NULL;
}

static const char *add_issuer(cmd_parms *cmd, void *m, const char *arg)
{
    push_value(cmd->pool, &srv_of(cmd)->issuers, arg);
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
    else if (!err) {
        /* The total default is never shorter than the connect timeout. Both
         * are set here, so that a virtual host never pairs its connect
         * timeout with the main server's total. */
        sc->timeout_ms = sc->connect_timeout_ms > AUTH_OBO_TOTAL_MS ? sc->connect_timeout_ms
                                                                    : AUTH_OBO_TOTAL_MS;
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
    auth_obo_srv_cfg *sc = srv_of(cmd);

    return load_secret(cmd, arg, &sc->client_secret, NULL, &sc->client_secret_file);
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
        if (arg) {
            err = err_for(cmd, "none takes no argument");
        }
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
    const char *err = load_secret(cmd, arg, &v, &sc->cache_secret_len,
                                  &sc->cache_secret_file);

    /* The AEAD key is derived from it: anything shorter is guessable. */
    if (!err && sc->cache_secret_len < AUTH_OBO_CACHE_SECRET_MIN) {
        err = err_for(cmd, apr_psprintf(cmd->pool, "the cache secret is %" APR_SIZE_T_FMT
                                        " bytes; it must be at least %d (use 32 random "
                                        "bytes, e.g. openssl rand -hex 32)",
                                        sc->cache_secret_len, AUTH_OBO_CACHE_SECRET_MIN));
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

static const char *set_validated_slots(cmd_parms *cmd, void *m, const char *arg)
{
    return parse_int(cmd, arg, 0, 1048576, &srv_of(cmd)->validated_slots);
}

/* A day at most, as the validated-token L1 keeps nothing longer either. */
static const char *set_introspection_ttl(cmd_parms *cmd, void *m, const char *arg)
{
    return parse_int(cmd, arg, 0, 86400, &srv_of(cmd)->introspection_ttl);
}

/* A day at most: the user must be able to act and retry the same day. */
static const char *set_negative_ttl(cmd_parms *cmd, void *m, const char *arg)
{
    return parse_int(cmd, arg, 0, 86400, &srv_of(cmd)->negative_ttl);
}

/* A share of the lifetime after which a cached token is renewed in the
 * background; off: only when it is within OBOCacheMargin of expiry. */
static const char *set_refresh_share(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);

    if (!strcasecmp(arg, "off")) {
        sc->refresh_share = 0;
        return NULL;
    }
    return parse_int(cmd, arg, 1, 99, &sc->refresh_share);
}

/* ---- validation directives (server or directory) ------------------------ */

/* httpd's AllowOverrideList admits any directive allowed in <Directory>
 * into .htaccess, whatever its req_override says. The module's section
 * directives are read at startup (sections noted in the server's
 * configuration, the startup checks): parsed per request from .htaccess
 * they would skip those checks and note sections in a request's pool. */
#define REFUSE_IN_HTACCESS(cmd)                                                   \
    do {                                                                          \
        const char *in_htaccess_ = ap_check_cmd_context((cmd), NOT_IN_HTACCESS);  \
        if (in_htaccess_) {                                                       \
            return in_htaccess_;                                                  \
        }                                                                         \
    } while (0)

/* OBOAcceptIssuer: the issuers (of the configured providers) whose tokens
 * this place takes; a section's list replaces its parent's. */
static const char *add_accept_issuer(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
    push_value(cmd->pool, &dir_of(cmd, m)->accept_issuers, arg);
    return NULL;
}

static const char *add_audience(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
    push_value(cmd->pool, &dir_of(cmd, m)->audiences, arg);
    return NULL;
}

static const char *add_alg(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
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

/* The longest OBODPoPWindow and OBOClockSkew of the configuration (both
 * refused in .htaccess: every value is seen here), reset before each read
 * of it: DPoP replay records are kept that long (auth_obo_dpop_horizon). */
static int dpop_window_max, skew_max;

void auth_obo_dpop_horizon_reset(void)
{
    dpop_window_max = AUTH_OBO_DPOP_WINDOW;
    skew_max = AUTH_OBO_SKEW;
}

int auth_obo_dpop_horizon(void)
{
    return (dpop_window_max > AUTH_OBO_DPOP_WINDOW ? dpop_window_max : AUTH_OBO_DPOP_WINDOW)
           + (skew_max > AUTH_OBO_SKEW ? skew_max : AUTH_OBO_SKEW);
}

static const char *set_skew(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err;

    REFUSE_IN_HTACCESS(cmd);
    err = parse_int(cmd, arg, 0, 3600, &dir_of(cmd, m)->skew);
    skew_max = !err && dir_of(cmd, m)->skew > skew_max ? dir_of(cmd, m)->skew : skew_max;
    return err;
}

/* OBORemoteUserClaim claim [bare]: bare keeps a further provider's user
 * names unqualified (providers that share one namespace: a migration). */
static const char *set_user_claim(cmd_parms *cmd, void *m, const char *arg, const char *mode)
{
    REFUSE_IN_HTACCESS(cmd);
    if (!mode && strcasecmp(arg, "bare") == 0) {
        /* review 37D-F5: read as a claim named "bare", every token 401 */
        return apr_psprintf(cmd->pool, "%s bare: name the claim first (%s sub bare)",
                            cmd->cmd->name, cmd->cmd->name);
    }
    if (mode && strcasecmp(mode, "bare") != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s': the second word can only be 'bare' (a "
                            "further identity provider's user names without @issuer)",
                            cmd->cmd->name, mode);
    }
    dir_of(cmd, m)->remote_user_claim = arg;
    dir_of(cmd, m)->remote_user_bare = mode != NULL;
    return NULL;
}

static const char *set_pass_claims(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
    static const keyword kw[] = {
        { "none", PASS_CLAIMS_NONE }, { "env", PASS_CLAIMS_ENV },
        { "headers", PASS_CLAIMS_HEADERS }, { "both", PASS_CLAIMS_BOTH },
        { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "none, env, headers or both",
                         &dir_of(cmd, m)->pass_claims);
}

static const char *set_token_typ(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
    static const keyword kw[] = {
        { "any", OBO_TYP_ANY }, { "at+jwt", OBO_TYP_AT_JWT }, { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "any (access-token or plain JWT types) or at+jwt "
                         "(RFC 9068 tokens only)", &dir_of(cmd, m)->token_typ);
}

/* Where a directive was read ("file:line"), for the startup checks. */
static const char *read_at(cmd_parms *cmd)
{
    return cmd->directive ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                         cmd->directive->line_num) : "(unknown)";
}

static const char *set_cert_bound(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "auto", CERT_BOUND_AUTO }, { "required", CERT_BOUND_REQUIRED },
        { "off", CERT_BOUND_OFF }, { NULL, 0 }
    };
    const char *err;

    REFUSE_IN_HTACCESS(cmd);
    err = parse_keyword(cmd, arg, kw, "auto (a certificate-bound token needs its client "
                        "certificate), required (every token must be bound) or off",
                        &dir_of(cmd, m)->cert_bound);
    if (!err && dir_of(cmd, m)->cert_bound == CERT_BOUND_REQUIRED
        && !srv_of(cmd)->cert_required_at) {
        srv_of(cmd)->cert_required_at = read_at(cmd);
    }
    return err;
}

/* OBODPoPNonce, OBODPoPWindow and OBODPoPURL act only where OBODPoP is on. */
static void note_dpop_tuned(cmd_parms *cmd)
{
    if (!srv_of(cmd)->dpop_tuned_at) {
        srv_of(cmd)->dpop_tuned_at = apr_pstrcat(cmd->pool, cmd->cmd->name, " at ",
                                                 read_at(cmd), NULL);
    }
}

static void note_section(cmd_parms *cmd, const auth_obo_dir_cfg *d);

/* ---- DPoP (RFC 9449) ------------------------------------------------------ */

/* The server notes that some section takes DPoP: its processes then get a
 * replay store and it a nonce key (mod_auth_obo_dpop.c). */
static const char *set_dpop(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "off", DPOP_OFF }, { "allowed", DPOP_ALLOWED }, { "required", DPOP_REQUIRED },
        { NULL, 0 }
    };
    auth_obo_dir_cfg *d;
    const char *err;

    REFUSE_IN_HTACCESS(cmd);
    d = dir_of(cmd, m);
    err = parse_keyword(cmd, arg, kw, "off (default), allowed (DPoP or a bearer token "
                        "that is not DPoP-bound) or required (DPoP only)", &d->dpop);
    if (!err && d->dpop != DPOP_OFF) {
        srv_of(cmd)->uses_dpop = 1;
    }
    return err;
}

static const char *set_dpop_nonce(cmd_parms *cmd, void *m, int on)
{
    REFUSE_IN_HTACCESS(cmd);
    dir_of(cmd, m)->dpop_nonce = on;
    note_dpop_tuned(cmd);
    return NULL;
}

static const char *set_dpop_window(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err;

    REFUSE_IN_HTACCESS(cmd);
    err = parse_int(cmd, arg, 1, 3600, &dir_of(cmd, m)->dpop_window);
    note_dpop_tuned(cmd);
    dpop_window_max = !err && dir_of(cmd, m)->dpop_window > dpop_window_max
                      ? dir_of(cmd, m)->dpop_window : dpop_window_max;
    return err;
}

/* The URL the clients address, scheme, host, port and an optional path
 * prefix, when a TLS terminator or a proxy in front changes them. */
static const char *set_dpop_url(cmd_parms *cmd, void *m, const char *arg)
{
    const char *norm = NULL;

    REFUSE_IN_HTACCESS(cmd);
    if (strpbrk(arg, "?#") || obo_dpop_htu_norm(cmd->pool, arg, &norm) != APR_SUCCESS) {
        return err_for(cmd, "must be an absolute http or https URL with a host and no "
                       "query or fragment (e.g. https://api.example.com)");
    }
    /* "https://h/" and "https://h" name the same base: no trailing slash */
    if (norm[strlen(norm) - 1] == '/') {
        norm = apr_pstrndup(cmd->pool, norm, strlen(norm) - 1);
    }
    dir_of(cmd, m)->dpop_url = norm;
    note_dpop_tuned(cmd);
    return NULL;
}

/* One table for the whole server (every virtual host): the main server's. */
static const char *set_dpop_replay(cmd_parms *cmd, void *m, const char *arg)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err;
    int n = 1024;

    if (cmd->server->is_virtual) {
        return err_for(cmd, "is a setting of the main server (one table serves every "
                       "virtual host)");
    }
    err = parse_int(cmd, arg, 1024, 16777216, &sc->dpop_replay_slots);
    while (!err && n < sc->dpop_replay_slots) {
        n *= 2;
    }
    if (!err) {
        sc->dpop_replay_slots = n;
    }
    return err;
}

/* The server notes that some section introspects: its processes then get
 * the introspection L1, and the startup checks look at its exchange. */
static const char *set_token_format(cmd_parms *cmd, void *m, const char *arg)
{
    static const keyword kw[] = {
        { "jwt", AUTH_OBO_FORMAT_JWT }, { "opaque", AUTH_OBO_FORMAT_OPAQUE },
        { "auto", AUTH_OBO_FORMAT_AUTO }, { NULL, 0 }
    };
    auth_obo_dir_cfg *d;
    const char *err;

    REFUSE_IN_HTACCESS(cmd);
    d = dir_of(cmd, m);
    err = parse_keyword(cmd, arg, kw, "jwt (validated here), opaque (RFC 7662 "
                        "introspection) or auto (a JWS-shaped token validated here, any "
                        "other introspected)", &d->token_format);
    if (!err && d->token_format != AUTH_OBO_FORMAT_JWT) {
        srv_of(cmd)->introspects = 1;
        srv_of(cmd)->introspects_here = 1;
        if (!srv_of(cmd)->introspects_at) {
            srv_of(cmd)->introspects_at = read_at(cmd);
        }
        note_section(cmd, d);
    }
    return err;
}

/* ---- sections that exchange --------------------------------------------- */

/* Containers that are not sections of their own (<IfModule>, <IfDefine>,
 * <Limit>...) belong to the enclosing section; <If> itself is a section. */
static int is_section(const ap_directive_t *d)
{
    const char *n = d->directive;

    return n && n[0] == '<' && strncasecmp(n, "<Limit", 6) != 0
           && (strncasecmp(n, "<If", 3) != 0 || n[3] == '\0');
}

/* "<Files x.cgi>", "<Else>" */
static const char *section_name(apr_pool_t *p, const ap_directive_t *sec)
{
    const char *args = sec->args ? sec->args : ">";

    return apr_pstrcat(p, sec->directive, *args == '>' ? "" : " ", args, NULL);
}

/* Notes the section of a directive that names a downstream or sets
 * OBOLongRunning (once per section): the startup checks walk this list, so
 * they see every kind of section httpd merges. Server level is sc->defaults,
 * checked per server. */
static void note_section(cmd_parms *cmd, const auth_obo_dir_cfg *d)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const ap_directive_t *sec = cmd->directive ? cmd->directive->parent : NULL;
    auth_obo_section *n;
    int i;

    if (!cmd->path) {
        return;
    }
    for (i = 0; sc->sections && i < sc->sections->nelts; i++) {
        if (APR_ARRAY_IDX(sc->sections, i, auth_obo_section).d == d) {
            return;
        }
    }
    while (sec && sec->parent && !is_section(sec)) {
        sec = sec->parent;
    }
    if (!sc->sections) {
        sc->sections = apr_array_make(cmd->pool, 4, sizeof(auth_obo_section));
    }
    n = apr_array_push(sc->sections);
    n->d = d;
    n->name = sec ? section_name(cmd->pool, sec) : apr_pstrcat(cmd->pool, "<", cmd->path, ">",
                                                               NULL);
    n->where = sec ? apr_psprintf(cmd->pool, "%s:%d", sec->filename, sec->line_num) : "";
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

/* OBOScope's "app" keyword: the downstream gets the application's own token
 * (client credentials). A scope cannot be named "app": Entra's need
 * <resource>/.default, and IdPs name scopes with more than that. */
static int take_app(int *argc, char *const argv[])
{
    int i, j;

    for (i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "app") == 0) {
            for (j = i; j < *argc - 1; j++) {
                ((char **)argv)[j] = argv[j + 1];
            }
            (*argc)--;
            return 1;
        }
    }
    return 0;
}

/* Every OBOScope line of one downstream agrees on "app", and an app
 * downstream takes no RFC 8693 audience (its grant has none). */
static const char *set_app(cmd_parms *cmd, auth_obo_downstream *ds, int app, int audiences)
{
    if (audiences && ds->app) {
        return err_for(cmd, "an app downstream (OBOScope ... app) gets the application's own "
                       "token with the client credentials grant, which takes no audience");
    }
    if (!audiences && ds->scopes->nelts > 0 && ds->app != app) {
        return err_for(cmd, "every OBOScope line of one downstream must agree on 'app'");
    }
    if (app && ds->audiences && ds->audiences->nelts > 0) {
        return err_for(cmd, "an app downstream takes no OBOExchangeAudience (the client "
                       "credentials grant has no audience)");
    }
    ds->app = audiences ? ds->app : app;
    return NULL;
}

/* OBOScope and OBOExchangeAudience: sorted, unique values of one downstream.
 * No spaces or quotes: values are space-joined on the wire and in the cache
 * key, where one value with a space would read as two. */
static const char *add_values(cmd_parms *cmd, void *m, int argc, char *const argv[],
                              int audiences)
{
    const char *name = NULL;
    const char *err = take_downstream(cmd, &argc, argv, &name);
    int app = audiences ? 0 : take_app(&argc, argv);
    apr_array_header_t **list;
    auth_obo_downstream *ds;
    int i;

    if (err || argc < 1) {
        return err ? err : err_for(cmd, "needs at least one value");
    }
    ds = downstream(cmd, dir_of(cmd, m), name);
    if ((err = set_app(cmd, ds, app, audiences)) != NULL) {
        return err;
    }
    note_section(cmd, dir_of(cmd, m));
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
    REFUSE_IN_HTACCESS(cmd);
    return add_values(cmd, m, argc, argv, 0);
}

static const char *add_exchange_audience(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    REFUSE_IN_HTACCESS(cmd);
    return add_values(cmd, m, argc, argv, 1);
}

const char *auth_obo_default_env(apr_pool_t *p, const auth_obo_downstream *ds)
{
    char *n, *c;

    if (!ds->name) {
        return AUTH_OBO_DEFAULT_ENV;
    }
    n = apr_pstrcat(p, AUTH_OBO_DEFAULT_ENV "_", ds->name, NULL);
    for (c = n; *c; c++) {
        *c = *c == '-' ? '_' : apr_toupper(*c);
    }
    return n;
}

static int valid_token_name(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_-") == strlen(s);
}

/* Header names a downstream token must not take: hop-by-hop and framing
 * headers (RFC 9110 s.7.6.1, RFC 9112), routing headers and those httpd or
 * mod_proxy set or rewrite; with any of them the token is dropped, breaks
 * the request or ends up in error_log. Compared with '-' and '_' alike. */
static const char *const reserved_headers[] = {
    "Connection", "Keep-Alive", "Host", "Transfer-Encoding", "Content-Length",
    "Content-Type", "Content-Encoding", "TE", "Trailer", "Upgrade", "Expect",
    "Max-Forwards", "Via", "Forwarded", "HTTP2-Settings",
    "Proxy",    /* httpd drops it for a CGI (httpoxy, CVE-2016-5387) */
    /* the caller's cookies (replaced whole, and scrubbed as a look-alike:
     * review 30B) and the answer's */
    "Cookie", "Set-Cookie",
    NULL
};
static const char *const reserved_prefixes[] = {
    "Proxy-", "X-Forwarded-", AUTH_OBO_CLAIM_HDR_PREFIX, NULL
};

static int same_char(char a, char b)
{
    a = a == '_' ? '-' : (char)apr_tolower(a);
    b = b == '_' ? '-' : (char)apr_tolower(b);
    return a == b;
}

static int name_matches(const char *name, const char *want, int prefix)
{
    for (; *name && *want; name++, want++) {
        if (!same_char(*name, *want)) {
            return 0;
        }
    }
    return !*want && (prefix || !*name);
}

static const char *reserved_header(apr_pool_t *p, const char *name)
{
    int i;

    for (i = 0; reserved_headers[i]; i++) {
        if (name_matches(name, reserved_headers[i], 0)) {
            return reserved_headers[i];
        }
    }
    for (i = 0; reserved_prefixes[i]; i++) {
        if (name_matches(name, reserved_prefixes[i], 1)) {
            return apr_pstrcat(p, reserved_prefixes[i], "*", NULL);
        }
    }
    return NULL;
}

/* Names the module or httpd set themselves (compared as headers are: case
 * and '-'/'_' alike): a downstream token under one of them overwrote it or
 * was overwritten (OBO_SESSION_KEY took the token's place; REMOTE_USER
 * lost it), and "..._EXPIRES_ON" is every token variable's expiry. */
static const char *const own_names[] = {
    "REMOTE_USER", "AUTH_TYPE", AUTH_OBO_SESSION_ENV, NULL
};
/* Variables only (a header of such a name is harmless): what httpd sets
 * for a CGI itself (RFC 3875 and its own), after the module. */
static const char *const cgi_names[] = {
    "PATH", "QUERY_STRING", "GATEWAY_INTERFACE", "CONTENT_TYPE", "CONTENT_LENGTH",
    "PATH_INFO", "PATH_TRANSLATED", "HTTPS", "UNIQUE_ID", NULL
};
/* HTTP_*: the client's request headers, which httpd turns into variables
 * over the module's (X-Api-Token: a client could set HTTP_X_API_TOKEN). */
static const char *const own_prefixes[] = {
    "HTTP_", "SERVER_", "REMOTE_", "REQUEST_", "SCRIPT_", "DOCUMENT_", "CONTEXT_", "SSL_",
    "REDIRECT_", NULL
};
#define EXPIRES_SUFFIX "_EXPIRES_ON"

static const char *own_name(const char *name, int env, int suffix)
{
    size_t n = strlen(name), k = sizeof(EXPIRES_SUFFIX) - 1;
    int i;

    for (i = 0; own_names[i]; i++) {
        if (name_matches(name, own_names[i], 0)) {
            return own_names[i];
        }
    }
    for (i = 0; env && cgi_names[i]; i++) {
        if (name_matches(name, cgi_names[i], 0)) {
            return cgi_names[i];
        }
    }
    if (name_matches(name, AUTH_OBO_CLAIM_HDR_PREFIX, 1)) {
        return "OBO_CLAIM_*";
    }
    for (i = 0; env && own_prefixes[i]; i++) {
        if (name_matches(name, own_prefixes[i], 1)) {
            return own_prefixes[i];
        }
    }
    return suffix && n > k && name_matches(name + n - k, EXPIRES_SUFFIX, 0)
           ? "*" EXPIRES_SUFFIX : NULL;
}

/* The name, and the expiry's name the module derives from it (env HTTP
 * made HTTP_EXPIRES_ON, which a client's Expires-On header overwrote). */
static const char *own_pass_name(apr_pool_t *p, const auth_obo_pass *pass)
{
    const char *r = own_name(pass->name, pass->kind == PASS_ENV, 1);

    return r ? r : own_name(apr_pstrcat(p, pass->name, EXPIRES_SUFFIX, NULL),
                            pass->kind == PASS_ENV, 0);
}

/* Another hand-off of this section already there (two downstreams both to
 * Authorization, or to one name): only the last token would arrive. */
static const char *pass_taken(const auth_obo_dir_cfg *d, const auth_obo_pass *want)
{
    int i, k;

    for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i, auth_obo_downstream *);
        for (k = 0; ds->pass && k < ds->pass->nelts; k++) {
            const auth_obo_pass *p = &APR_ARRAY_IDX(ds->pass, k, auth_obo_pass);
            if (p->kind == want->kind && (p->kind == PASS_AUTHORIZATION
                                          || name_matches(p->name, want->name, 0))) {
                return ds->name ? ds->name : "the default downstream";
            }
        }
    }
    return NULL;
}

static const char *add_pass(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    REFUSE_IN_HTACCESS(cmd);
    const char *name = NULL;
    const char *err = take_downstream(cmd, &argc, argv, &name);
    auth_obo_pass pass = { 0, NULL };
    const char *reserved;

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
        /* the header, and its expiry's header (X-Forwarded made
         * X-Forwarded-Expires-On) */
        if (pass.kind == PASS_HEADER
            && ((reserved = reserved_header(cmd->pool, pass.name)) != NULL
                || (reserved = reserved_header(cmd->pool, apr_pstrcat(
                        cmd->pool, pass.name, "-Expires-On", NULL))) != NULL)) {
            /* the claim headers are the module's own (review 33B-F14) */
            int own = name_matches(reserved, AUTH_OBO_CLAIM_HDR_PREFIX, 1);

            return err_for(cmd, apr_psprintf(cmd->pool, "header %s: %s %s; choose another "
                                             "name (e.g. X-Downstream-Token)", pass.name,
                                             reserved, own
                                             ? "is where the module hands claims on "
                                               "(OBOPassClaims), and is scrubbed from "
                                               "what the client sends"
                                             : "is a hop-by-hop, framing, routing or cookie "
                                               "header that httpd, mod_proxy or the "
                                               "caller's cookies need"));
        }
        /* httpd turns no header with '_' into a CGI variable (nor into
         * FastCGI's): its token would never arrive. */
        if (pass.kind == PASS_HEADER && strchr(pass.name, '_')) {
            return err_for(cmd, apr_psprintf(cmd->pool, "header %s: httpd drops a header "
                                             "whose name holds '_' on its way to a CGI; "
                                             "use '-'", pass.name));
        }
    }
    else {
        return err_for(cmd, "must be: authorization | env NAME | header NAME "
                            "[downstream=NAME]");
    }
    if (pass.name && (reserved = own_pass_name(cmd->pool, &pass)) != NULL) {
        return err_for(cmd, apr_psprintf(cmd->pool, "%s: %s is a name httpd or the module sets "
                                         "itself; choose another", pass.name, reserved));
    }
    if ((reserved = pass_taken(dir_of(cmd, m), &pass)) != NULL) {
        return err_for(cmd, apr_psprintf(cmd->pool, "%s is already where %s's token goes: "
                                         "each downstream needs its own place",
                                         pass.name ? pass.name : "Authorization", reserved));
    }
    APR_ARRAY_PUSH(downstream(cmd, dir_of(cmd, m), name)->pass, auth_obo_pass) = pass;
    note_section(cmd, dir_of(cmd, m));
    return NULL;
}

static const char *set_forward_caller(cmd_parms *cmd, void *m, int on)
{
    REFUSE_IN_HTACCESS(cmd);
    dir_of(cmd, m)->forward_caller = on ? 1 : 0;
    return NULL;
}

/* RFC 6265 cookie-name: an RFC 9110 token. */
static int is_cookie_name(const char *n)
{
    apr_size_t len = strlen(n);

    return len > 0 && len <= 256 && strspn(n, "!#$%&'*+-.^_`|~0123456789"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                                    == len;
}

static const char *add_source(cmd_parms *cmd, auth_obo_dir_cfg *d, const char *arg)
{
    static const keyword kw[] = {
        { "header", SOURCE_HEADER }, { "query", SOURCE_QUERY }, { "form", SOURCE_FORM },
        { NULL, 0 }
    };
    int kind = 0, i;

    if (!strncasecmp(arg, "cookie:", 7)) {
        const char *name = arg + 7;
        if (!is_cookie_name(name)) {
            return err_for(cmd, apr_psprintf(cmd->pool, "'%s' does not name a cookie "
                           "(cookie:NAME, NAME an RFC 6265 cookie name)", arg));
        }
        /* a cookie's case variants are the same cookie (review 33B-F14) */
        for (i = 0; i < d->cookies->nelts; i++) {
            if (!strcasecmp(APR_ARRAY_IDX(d->cookies, i, const char *), name)) {
                return err_for(cmd, apr_psprintf(cmd->pool, "%s is listed twice (cookie "
                                                 "names are compared without case)", arg));
            }
        }
        APR_ARRAY_PUSH(d->cookies, const char *) = name;
        d->sources |= SOURCE_COOKIE;
        return NULL;
    }
    if (parse_keyword(cmd, arg, kw, "", &kind) != NULL) {
        return err_for(cmd, apr_psprintf(cmd->pool, "'%s' is not a place a token comes "
                       "from: header, cookie:NAME, query or form", arg));
    }
    if (d->sources & kind) {
        return err_for(cmd, apr_psprintf(cmd->pool, "%s is listed twice", arg));
    }
    d->sources |= kind;
    return NULL;
}

/* OBOAcceptTokenAs header|cookie:NAME|query|form ...: one list per section;
 * a second line in the same section is refused rather than silently
 * replacing or widening the first. */
static const char *set_sources(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    REFUSE_IN_HTACCESS(cmd);
    auth_obo_dir_cfg *d = dir_of(cmd, m);
    const char *err = NULL;
    int i;

    if (argc < 1) {
        return err_for(cmd, "needs at least one of header, cookie:NAME, query, form");
    }
    if (d->sources != AUTH_OBO_UNSET) {
        return err_for(cmd, "is given twice in this section: list every place on one line");
    }
    d->sources = 0;
    d->cookies = apr_array_make(cmd->pool, 1, sizeof(const char *));
    for (i = 0; i < argc && !err; i++) {
        err = add_source(cmd, d, argv[i]);
    }
    return err;
}

static const char *set_preflight(cmd_parms *cmd, void *m, const char *arg)
{
    REFUSE_IN_HTACCESS(cmd);
    static const keyword kw[] = {
        { "allow", PREFLIGHT_ALLOW }, { "deny", PREFLIGHT_DENY }, { NULL, 0 }
    };
    return parse_keyword(cmd, arg, kw, "allow or deny", &dir_of(cmd, m)->preflight);
}

static const char *set_long_running(cmd_parms *cmd, void *m, int on)
{
    REFUSE_IN_HTACCESS(cmd);
    dir_of(cmd, m)->long_running = on ? 1 : 0;
    note_section(cmd, dir_of(cmd, m));
    return NULL;
}

/* OBOAppOnlyWhen rule...: how an app-only caller is told from a user. */
static const char *set_app_only_when(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    static const keyword kw[] = {
        { "idtyp", OBO_APP_IDTYP }, { "no-scope", OBO_APP_NO_SCOPE },
        { "sub-is-client", OBO_APP_SUB_IS_CLIENT }, { "oid-is-sub", OBO_APP_OID_IS_SUB },
        { "none", 0 }, { NULL, 0 }
    };
    int i, k, rules = 0;

    for (i = 0; i < argc; i++) {
        for (k = 0; kw[k].name && strcasecmp(kw[k].name, argv[i]) != 0; k++) {
        }
        if (!kw[k].name || (argc > 1 && kw[k].value == 0)) {
            return err_for(cmd, apr_psprintf(cmd->pool, "'%s' is not one of idtyp, no-scope, "
                                             "sub-is-client, oid-is-sub (or none alone)",
                                             argv[i]));
        }
        rules |= kw[k].value;
    }
    if (argc == 0) {
        return err_for(cmd, "needs at least one rule");
    }
    srv_of(cmd)->app_only_rules = rules;
    return NULL;
}

int auth_obo_app_only(const auth_obo_srv_cfg *sc, const json_t *claims)
{
    return obo_jwt_app_only(claims, (unsigned)auth_obo_ival(sc->app_only_rules,
                                                            OBO_APP_DEFAULT));
}

static int count_app(const auth_obo_dir_cfg *d, int app)
{
    int i, n = 0;

    for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
        n += APR_ARRAY_IDX(d->downstreams, i, const auth_obo_downstream *)->app == app;
    }
    return n;
}

int auth_obo_needs_user(const auth_obo_dir_cfg *d)
{
    return count_app(d, 0) > 0;
}

int auth_obo_has_app(const auth_obo_dir_cfg *d)
{
    return count_app(d, 1) > 0;
}

static const char *set_preload_keys(cmd_parms *cmd, void *m, int on)
{
    srv_of(cmd)->preload_keys = on ? 1 : 0;
    return NULL;
}

/* A duration: seconds, or a number with s, m, h or d. */
static const char *parse_duration(cmd_parms *cmd, const char *arg, int *out)
{
    char *end = NULL;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    apr_int64_t unit = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                     : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : 0;

    if (end == arg || unit == 0 || v < 1 || v > 366 * 86400 / unit) {
        return err_for(cmd, "needs a duration of 1 s to 366 d (e.g. 3600, 12h, 7d)");
    }
    *out = (int)(v * unit);
    return NULL;
}

static const char *set_session_lifetime(cmd_parms *cmd, void *m, const char *idle,
                                        const char *max)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err = parse_duration(cmd, idle, &sc->session_idle);

    if (!err && max) {
        err = parse_duration(cmd, max, &sc->session_max);
    }
    else if (!err) {
        /* Both set here: a virtual host never pairs its idle lifetime with
         * the main server's maximum. */
        sc->session_max = AUTH_OBO_SESSION_MAX_S;
    }
    if (!err && sc->session_max < sc->session_idle) {
        err = err_for(cmd, max ? "the maximum lifetime is shorter than the idle lifetime"
                               : "the idle lifetime is longer than the default maximum "
                                 "lifetime (90d): give the maximum too (OBOSessionLifetime "
                                 "idle max)");
    }
    return err;
}

static const char *set_session_limit(cmd_parms *cmd, void *m, const char *n,
                                     const char *users)
{
    auth_obo_srv_cfg *sc = srv_of(cmd);
    const char *err = parse_int(cmd, n, 1, AUTH_OBO_SESSION_LIMIT_MAX, &sc->session_limit);

    if (!err && users) {
        err = parse_int(cmd, users, 1, 10000000, &sc->session_users);
    }
    else if (!err) {
        sc->session_users = AUTH_OBO_SESSION_USERS;   /* not the main server's (review 14B) */
    }
    return err;
}

/* offsetof, not APR_OFFSETOF: that one subtracts null pointers (undefined; clang
 * -Werror rejects it). */
#define SRV(f) (void *)offsetof(auth_obo_srv_cfg, f)
#define BOTH (RSRC_CONF | ACCESS_CONF)

const command_rec auth_obo_cmds[] = {
    AP_INIT_RAW_ARGS("OBOMetadataURL", set_metadata_url, NULL, RSRC_CONF,
                     "OIDC discovery URL (.well-known/openid-configuration) of an IdP "
                     "[and its issuers]; repeat it for several"),
    AP_INIT_TAKE1("OBOCACertificateFile", set_srv_file, SRV(ca_file), RSRC_CONF,
                  "PEM CA bundle trusted for the IdP's TLS (default: system store)"),
    AP_INIT_ITERATE("OBOIssuer", add_issuer, NULL, RSRC_CONF,
                    "Accepted issuer(s); {tenantid} matches the token's tid"),
    AP_INIT_RAW_ARGS("OBOJWKSURL", set_jwks_url, NULL, RSRC_CONF,
                      "JWKS URL when the IdP has no discovery [and the issuers of a "
                      "further IdP]"),
    AP_INIT_RAW_ARGS("OBOJWKSFile", set_jwks_file, NULL, RSRC_CONF,
                      "Local JWKS file [and the issuers of a further IdP]"),
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
                  "2 x the total timeout + 3 s)"),
    AP_INIT_ITERATE("OBOAcceptIssuer", add_accept_issuer, NULL, BOTH,
                    "Only tokens of these issuers (of the configured IdPs) here; "
                    "{tenantid} matches the token's tid (default: every IdP's)"),
    AP_INIT_ITERATE("OBOAudience", add_audience, NULL, BOTH,
                    "Accepted audience(s): any one must be in the token's aud"),
    AP_INIT_TAKE1("OBOClockSkew", set_skew, NULL, BOTH,
                  "Seconds of clock skew tolerated for exp/nbf/iat (default 60)"),
    AP_INIT_ITERATE("OBOAlgorithms", add_alg, NULL, BOTH,
                    "Allowed signature algorithms"),
    AP_INIT_TAKE12("OBORemoteUserClaim", set_user_claim, NULL, BOTH,
                   "Claim that becomes REMOTE_USER (default sub) [bare: a further "
                   "identity provider's without @issuer]"),
    AP_INIT_TAKE1("OBOPassClaims", set_pass_claims, NULL, BOTH,
                  "none | env | headers | both"),
    AP_INIT_TAKE_ARGV("OBOScope", add_scopes, NULL, BOTH,
                      "[downstream=NAME] scope... [app] of the downstream API (app: the "
                      "application's own token, client credentials)"),
    AP_INIT_TAKE_ARGV("OBOAppOnlyWhen", set_app_only_when, NULL, RSRC_CONF,
                      "Rules that make a caller app-only: idtyp no-scope sub-is-client "
                      "oid-is-sub (default all four) | none"),
    AP_INIT_TAKE_ARGV("OBOExchangeAudience", add_exchange_audience, NULL, BOTH,
                      "[downstream=NAME] audience... (RFC 8693)"),
    AP_INIT_TAKE_ARGV("OBOPassToken", add_pass, NULL, BOTH,
                      "authorization | env NAME | header NAME [downstream=NAME]"),
    AP_INIT_TAKE1("OBOCertificateBound", set_cert_bound, NULL, BOTH,
                  "auto (default) | required | off: RFC 8705 certificate-bound tokens"),
    AP_INIT_TAKE1("OBODPoP", set_dpop, NULL, BOTH,
                  "off (default) | allowed | required: RFC 9449 DPoP-bound tokens with "
                  "proofs"),
    AP_INIT_FLAG("OBODPoPNonce", set_dpop_nonce, NULL, BOTH,
                 "on: DPoP proofs must carry a nonce this server or its peers issued "
                 "(default off)"),
    AP_INIT_TAKE1("OBODPoPWindow", set_dpop_window, NULL, BOTH,
                  "Seconds a DPoP proof's iat may lie in the past (1-3600, default 60)"),
    AP_INIT_TAKE1("OBODPoPURL", set_dpop_url, NULL, BOTH,
                  "The base URL clients address (scheme://host[:port][/prefix]) when a "
                  "TLS terminator or proxy sits in front: DPoP's htu is compared with it"),
    AP_INIT_TAKE1("OBODPoPReplayCache", set_dpop_replay, NULL, RSRC_CONF,
                  "DPoP proof ids the server's shared-memory replay table remembers at once "
                  "(1024 to 16777216, rounded up to a power of two; default 131072)"),
    AP_INIT_TAKE1("OBOTokenType", set_token_typ, NULL, BOTH,
                  "any (default: no typ, JWT or *at+jwt) | at+jwt (RFC 9068 only)"),
    AP_INIT_TAKE1("OBOTokenFormat", set_token_format, NULL, BOTH,
                  "jwt (default: validated here) | opaque (RFC 7662 introspection) | auto "
                  "(a JWS-shaped token validated here, any other introspected)"),
    AP_INIT_TAKE1("OBOIntrospectionURL", set_srv_url, SRV(introspection_url), RSRC_CONF,
                  "RFC 7662 introspection endpoint (default: discovery's "
                  "introspection_endpoint)"),
    AP_INIT_TAKE1("OBOIntrospectionCacheTime", set_introspection_ttl, NULL, RSRC_CONF,
                  "Seconds an active introspection answer is kept, at most until the "
                  "token's exp (default 60, 0 = off; inactive answers at most 10 s)"),
    AP_INIT_TAKE1("OBONegativeCacheTime", set_negative_ttl, NULL, RSRC_CONF,
                  "Seconds a user's consent/interaction/invalid_grant failure is answered "
                  "without calling the IdP again (default 30, 0 = off)"),
    AP_INIT_FLAG("OBOForwardCallerToken", set_forward_caller, NULL, BOTH,
                 "on: the backend of an exchanging Location also gets the caller's "
                 "Authorization header (default off)"),
    AP_INIT_FLAG("OBOLongRunning", set_long_running, NULL, BOTH,
                 "on: keep a long-running session (refresh token, OBO_SESSION_KEY) for "
                 "the downstreams of this Location (default off)"),
    AP_INIT_TAKE_ARGV("OBOAcceptTokenAs", set_sources, NULL, BOTH,
                      "Where the caller's token may be: header (default), cookie:NAME, "
                      "query, form; a request with it in two places gets 400"),
    AP_INIT_TAKE1("OBOPreflight", set_preflight, NULL, BOTH,
                  "allow (default): a CORS preflight passes authentication and Require "
                  "without a user; deny: it needs a token like any request"),
    AP_INIT_TAKE12("OBOSessionLifetime", set_session_lifetime, NULL, RSRC_CONF,
                   "Idle and maximum lifetime of long-running sessions (default 7d 90d)"),
    AP_INIT_TAKE12("OBOSessionLimit", set_session_limit, NULL, RSRC_CONF,
                   "Long-running sessions a user may hold (1-100, default 20; the oldest "
                   "ends first) and the users expected to hold them at once (startup check "
                   "of the shm cache size, default 10)"),
    AP_INIT_TAKE1("OBOValidatedTokenCache", set_validated_slots, NULL, RSRC_CONF,
                  "Validated tokens each process remembers (default 4096, 0 = off; a "
                  "virtual host with its own value gets its own)"),
    AP_INIT_TAKE1("OBOCacheRefresh", set_refresh_share, NULL, RSRC_CONF,
                  "Percent of a cached token's lifetime after which one request renews "
                  "it in the background, when the IdP sent no refresh_in (1-99, default "
                  "75; off: renew only at OBOCacheMargin)"),
    AP_INIT_FLAG("OBOPreloadKeys", set_preload_keys, NULL, RSRC_CONF,
                 "on (default): each child loads the IdP's discovery and keys when it "
                 "starts, in the background; off: at its first request"),
    { .name = NULL } /* designated: clang -Wextra flags a bare { NULL } */
};
