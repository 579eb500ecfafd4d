/* SPDX-License-Identifier: Apache-2.0 */
/* The module's configuration, shared by every glue unit: the module record
 * (defined in mod_auth_obo.c) through which httpd keeps it, the
 * per-directory and per-server types and their defaults, and the
 * directives, merging and accessors of mod_auth_obo_config.c. A setting no
 * directive set is AUTH_OBO_UNSET (or NULL); its default is applied where
 * it is read (auth_obo_ival, the accessors). The server fields after
 * "Built at post_config / child_init" are not settings: the startup checks
 * (mod_auth_obo_check.c) and the per-process set-up (mod_auth_obo_process.c,
 * mod_auth_obo_socache.c) fill them before any request. Includes no other
 * glue header. */
#ifndef MOD_AUTH_OBO_CONFIG_H
#define MOD_AUTH_OBO_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_socache.h"
#include "apr_global_mutex.h"

#include "obo_cache.h"
#include "obo_crypto.h"
#include "obo_exchange.h"
#include "obo_guard.h"
#include "obo_http.h"
#include "obo_jws.h"
#include "obo_provider.h"
#include "obo_validate.h"
#include "obo_vcache.h"

#define AUTH_OBO_TYPE "obo"
#define AUTH_OBO_UNSET -1
#define AUTH_OBO_CLAIM_ENV_PREFIX "OBO_CLAIM_"
#define AUTH_OBO_CLAIM_HDR_PREFIX "OBO-Claim-"
/* A long-running session's key handed to the backend (variable, header);
 * OBOPassToken may not take them. */
#define AUTH_OBO_SESSION_ENV "OBO_SESSION_KEY"
/* The variable a downstream token goes to without OBOPassToken. */
#define AUTH_OBO_DEFAULT_ENV "OBO_ACCESS_TOKEN"
#define AUTH_OBO_SESSION_HDR "OBO-Session-Key"
#define AUTH_OBO_CACHE_SECRET_MIN 32     /* bytes of OBOCacheSecret */

extern module AP_MODULE_DECLARE_DATA auth_obo_module;

enum { PASS_CLAIMS_NONE = 0, PASS_CLAIMS_ENV = 1, PASS_CLAIMS_HEADERS = 2,
       PASS_CLAIMS_BOTH = 3 };
enum { CACHE_SHM = 1, CACHE_MEMCACHED = 2, CACHE_NONE = 3 };
enum { PASS_AUTHORIZATION = 1, PASS_ENV = 2, PASS_HEADER = 3 };
/* Where the caller's token may come from (OBOAcceptTokenAs): a bit set. */
enum { SOURCE_HEADER = 1, SOURCE_COOKIE = 2, SOURCE_QUERY = 4, SOURCE_FORM = 8 };
/* OBOPreflight */
enum { PREFLIGHT_DENY = 0, PREFLIGHT_ALLOW = 1 };
/* OBOCertificateBound (RFC 8705 s.3) */
enum { CERT_BOUND_AUTO = 0, CERT_BOUND_REQUIRED = 1, CERT_BOUND_OFF = 2 };
/* OBODPoP (RFC 9449) */
enum { DPOP_OFF = 0, DPOP_ALLOWED = 1, DPOP_REQUIRED = 2 };
/* OBODPoPWindow default (seconds a proof's iat may lie behind) */
#define AUTH_OBO_DPOP_WINDOW 60
#define AUTH_OBO_SKEW 60            /* OBOClockSkew's default */

/* Where a downstream token goes. */
typedef struct auth_obo_pass {
    int kind;
    const char *name;            /* env variable or header name */
} auth_obo_pass;

/* One downstream API of a Location: its scopes and hand-offs. The default
 * one has name NULL; others are named with downstream=NAME. */
typedef struct auth_obo_downstream {
    const char *name;
    apr_array_header_t *scopes;      /* const char *, sorted, unique */
    apr_array_header_t *audiences;   /* RFC 8693 audience values */
    apr_array_header_t *pass;        /* auth_obo_pass */
    int app;                         /* OBOScope ... app: the application's own token
                                      * (client credentials), not the caller's */
} auth_obo_downstream;

/* Per-directory settings. Also embedded in the server config as the
 * server-wide defaults of the directives allowed in both places. */
typedef struct auth_obo_dir_cfg {
    apr_array_header_t *audiences;       /* NULL = unset */
    apr_array_header_t *algs;            /* NULL = unset */
    int skew;                            /* seconds, UNSET */
    const char *remote_user_claim;       /* NULL = unset */
    int remote_user_bare;                /* OBORemoteUserClaim ... bare; UNSET */
    int pass_claims;                     /* UNSET */
    apr_array_header_t *downstreams;     /* auth_obo_downstream *, NULL = unset */
    int token_typ;                       /* obo_typ_rule (OBOTokenType), UNSET */
    int cert_bound;                      /* OBOCertificateBound (CERT_BOUND_*), UNSET */
    int forward_caller;                  /* OBOForwardCallerToken, UNSET */
    int long_running;                    /* OBOLongRunning, UNSET */
    int token_format;                    /* OBOTokenFormat (AUTH_OBO_FORMAT_*), UNSET */
    int sources;                         /* OBOAcceptTokenAs: SOURCE_* bits, UNSET */
    apr_array_header_t *cookies;         /* its cookie names (const char *), with sources */
    int preflight;                       /* OBOPreflight: PREFLIGHT_*, UNSET */
    apr_array_header_t *accept_issuers;  /* OBOAcceptIssuer (const char *), NULL = unset */
    int dpop;                            /* OBODPoP (DPOP_*), UNSET */
    int dpop_nonce;                      /* OBODPoPNonce on/off, UNSET */
    int dpop_window;                     /* OBODPoPWindow seconds, UNSET */
    const char *dpop_url;                /* OBODPoPURL base (normalised), NULL = unset */
} auth_obo_dir_cfg;

/* OBOTokenFormat: what a bearer token is taken to be. */
enum { AUTH_OBO_FORMAT_JWT = 0, AUTH_OBO_FORMAT_OPAQUE = 1, AUTH_OBO_FORMAT_AUTO = 2 };

/* A section of any kind (<Location>, <Directory>, <Files>, <Proxy>, <If>...)
 * whose per-directory configuration names a downstream or OBOLongRunning,
 * noted when its directive is read: httpd keeps <Files>, <If> and <Proxy>
 * sections where the startup checks cannot list them (nested in other
 * sections, or in mod_proxy), so the checks use this list instead. */
typedef struct auth_obo_section {
    const auth_obo_dir_cfg *d;
    const char *name;            /* "<Files \"env.cgi\">" */
    const char *where;           /* file:line of the section */
} auth_obo_section;

/* A further identity provider of a server (several issuers): a second or
 * later OBOMetadataURL, or an OBOJWKSURL / OBOJWKSFile naming its issuers.
 * The first OBOMetadataURL, an OBOJWKSURL / OBOJWKSFile without issuers,
 * OBOIssuer and OBOTokenEndpoint make the primary provider, as with one. */
typedef struct auth_obo_idp {
    const char *metadata_url, *jwks_url, *jwks_file;   /* one of them */
    apr_array_header_t *issuers;     /* const char *; NULL: discovery's */
} auth_obo_idp;

/* Per-process runtime objects of a server (created in child_init). */
typedef struct auth_obo_runtime {
    obo_http *http;
    obo_provider *provider;      /* the primary provider (opaque tokens, sessions) */
    apr_array_header_t *providers;   /* obo_provider *: the primary first, then the
                                      * further ones in configuration order */
    obo_cache *cache;
    /* Long-running sessions: with OBOCache shm a segment of their own
     * (what anyone's tokens write never turns its rings), else cache. */
    obo_cache *session_cache;
    /* memcached where a lost entry ends something (sessions, DPoP replay
     * records): a pool that never takes a failing server out of the ring,
     * so that its keys fail (503) instead of moving and missing; NULL
     * elsewhere. */
    obo_cache *strict_cache;
    obo_memo *verified;          /* verified-signature memo, shared by the process */
    obo_memo *l1;                /* L1 token memo in front of the cache */
    obo_memo *guard;             /* remembered IdP failures and pauses (obo_guard.h) */
    obo_vcache *validated;       /* L1 of validated tokens (obo_vcache.h), or NULL */
    obo_vcache *introspected;    /* L1 of introspection answers, or NULL */
    obo_guard guard_cfg;         /* the gate (obo_guard.h) introspection's pauses use */
} auth_obo_runtime;

typedef struct auth_obo_srv_cfg {
    const char *metadata_url, *jwks_url, *jwks_file, *ca_file, *token_endpoint;
    apr_array_header_t *issuers;         /* NULL = unset */
    apr_array_header_t *more_idps;       /* auth_obo_idp: further providers, NULL = none */
    int jwks_refresh;                    /* seconds, UNSET */
    int connect_timeout_ms, timeout_ms;  /* UNSET */
    const char *client_id;
    const char *client_secret;           /* resolved value; never logged */
    const char *client_secret_file;      /* its file (file:), or NULL */
    const char *client_cert, *client_key;
    const char *assertion_alg;           /* PS256 | RS256 */
    int client_auth;                     /* obo_client_auth or UNSET */
    int exchange;                        /* obo_grant or UNSET */
    const char *token_type;              /* RFC 8693 requested_token_type */
    int cache_type;                      /* CACHE_* or UNSET */
    const char *cache_servers;           /* memcached list */
    int cache_shm_size;                  /* bytes, UNSET */
    const unsigned char *cache_secret;
    apr_size_t cache_secret_len;
    const char *cache_secret_file;       /* its file (file:), or NULL */
    int cache_margin;                    /* seconds, UNSET */
    int cache_timeout_ms;                /* memcached I/O, UNSET */
    int flight_wait_ms;                  /* how long waiters wait, UNSET */
    auth_obo_dir_cfg *defaults;          /* server-wide per-dir defaults */
    /* Built at post_config / child_init. */
    obo_client *client;
    ap_socache_provider_t *socache;
    ap_socache_instance_t *socache_inst;
    apr_global_mutex_t *socache_mutex;
    const struct shm_turn *socache_turn;  /* mod_auth_obo_socache.c */
    const struct shm_locks *socache_locks; /* mod_auth_obo_socache.c */
    /* the sessions' segment (uses_sessions on shm), NULL otherwise */
    ap_socache_instance_t *session_inst;
    const struct shm_turn *session_turn;
    const struct shm_locks *session_locks;
    auth_obo_runtime *rt;
    int uses_exchange;                   /* some section names a downstream */
    server_rec *s;
    int negative_ttl;                    /* OBONegativeCacheTime seconds, UNSET */
    int session_idle, session_max;       /* OBOSessionLifetime seconds, UNSET */
    int validated_slots;                 /* OBOValidatedTokenCache, UNSET */
    int refresh_share;                   /* OBOCacheRefresh percent, 0 off, UNSET */
    int session_limit, session_users;    /* OBOSessionLimit n [users], UNSET */
    int uses_sessions;                   /* some section has OBOLongRunning on */
    apr_array_header_t *sections;        /* auth_obo_section, this server's and the
                                          * main server's (which it inherits) */
    int preload_keys;                    /* OBOPreloadKeys, UNSET (on) */
    const char *introspection_url;       /* OBOIntrospectionURL, or NULL (discovery's) */
    int introspection_ttl;               /* OBOIntrospectionCacheTime seconds, UNSET */
    int introspects;                     /* OBOTokenFormat opaque|auto somewhere here */
    int introspects_here;                /* ... in this server's own lines (not inherited) */
    const char *introspects_at;          /* file:line of the first such OBOTokenFormat */
    int app_only_rules;                  /* OBOAppOnlyWhen: OBO_APP_* mask, UNSET */
    int uses_dpop;                       /* OBODPoP allowed|required somewhere here */
    const char *dpop_tuned_at;           /* file:line of a first OBODPoPNonce/Window/URL */
    const char *cert_required_at;        /* file:line of OBOCertificateBound required */
    int dpop_replay_slots;               /* OBODPoPReplayCache (main server), UNSET */
    /* OBODPoPNonce's key: from OBOCacheSecret, else random per start
     * (mod_auth_obo_dpop.c, post_config) */
    unsigned char dpop_nonce_key[32];
} auth_obo_srv_cfg;

/* OBOSessionLimit defaults: sessions per user, users for the startup check. */
#define AUTH_OBO_SESSION_LIMIT 20
#define AUTH_OBO_SESSION_USERS 10  /* a cache for one user's sessions is not a deployment */
#define AUTH_OBO_SESSION_LIMIT_MAX 100   /* the user's list stays one small entry */

/* OBOTimeout and OBOSessionLifetime defaults (docs/directives.md). */
#define AUTH_OBO_CONNECT_MS 3000
#define AUTH_OBO_TOTAL_MS 10000
#define AUTH_OBO_SESSION_IDLE_S (7 * 86400)
#define AUTH_OBO_SESSION_MAX_S (90 * 86400)

/* OBOCacheRefresh default: renew after 75 % of the lifetime (docs/directives.md). */
#define AUTH_OBO_REFRESH_SHARE 75

/* mod_auth_obo_config.c */
extern const command_rec auth_obo_cmds[];
void *auth_obo_create_dir_cfg(apr_pool_t *p, char *dir);
void *auth_obo_merge_dir_cfg(apr_pool_t *p, void *base, void *add);
void *auth_obo_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *auth_obo_merge_srv_cfg(apr_pool_t *p, void *base, void *add);
int auth_obo_skew(const auth_obo_dir_cfg *d);
/* How the server's client authenticates at the token endpoint (obo_client_auth):
 * OBOClientAuth, else private_key_jwt with a certificate, else the secret. */
int auth_obo_client_auth(const auth_obo_srv_cfg *sc);
/* The longest OBODPoPWindow plus the longest OBOClockSkew of the whole
 * configuration (seconds): how long a DPoP proof's jti is remembered after
 * its iat, whichever Location took it. Reset before each read. */
int auth_obo_dpop_horizon(void);
void auth_obo_dpop_horizon_reset(void);
int auth_obo_pass_claims(const auth_obo_dir_cfg *d);
int auth_obo_forward_caller(const auth_obo_dir_cfg *d);
int auth_obo_token_format(const auth_obo_dir_cfg *d);
/* OBOAcceptTokenAs (default: the Authorization header only) and OBOPreflight
 * (default allow). */
int auth_obo_sources(const auth_obo_dir_cfg *d);
int auth_obo_preflight(const auth_obo_dir_cfg *d);
int auth_obo_cert_bound(const auth_obo_dir_cfg *d);
int auth_obo_dpop(const auth_obo_dir_cfg *d);
const char *auth_obo_user_claim(const auth_obo_dir_cfg *d);
/* REMOTE_USER of a further provider's token stays the claim alone */
int auth_obo_user_bare(const auth_obo_dir_cfg *d);
const apr_array_header_t *auth_obo_algs(apr_pool_t *p, const auth_obo_dir_cfg *d);
int auth_obo_has_idp(const auth_obo_srv_cfg *sc);
int auth_obo_ival(int v, int dflt);

/* OBOAppOnlyWhen: 1 if the caller of these claims is an application
 * acting as itself (no user). */
int auth_obo_app_only(const auth_obo_srv_cfg *sc, const json_t *claims);
/* 1 if some downstream of d needs a user (an On-Behalf-Of or token
 * exchange, not OBOScope ... app); 1 if some is an app downstream. */
int auth_obo_needs_user(const auth_obo_dir_cfg *d);
int auth_obo_has_app(const auth_obo_dir_cfg *d);

/* OBO_ACCESS_TOKEN, or OBO_ACCESS_TOKEN_<NAME> for a named downstream
 * (upper-cased, '-' as '_'): where a downstream without OBOPassToken goes. */
const char *auth_obo_default_env(apr_pool_t *p, const auth_obo_downstream *ds);

/* A secret read from the environment (OBOClientSecret/OBOCacheSecret
 * env:NAME): what configtest compares with the running httpd's environment
 * (mod_auth_obo_envcheck.h). */
typedef struct auth_obo_env_secret {
    const char *directive;
    const char *name;
    unsigned char sha256[OBO_SHA256_LEN];
} auth_obo_env_secret;

/* The env: secrets of the configuration read into pconf, or NULL. */
const apr_array_header_t *auth_obo_env_secrets(apr_pool_t *pconf);

#endif
