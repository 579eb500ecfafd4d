/* SPDX-License-Identifier: Apache-2.0 */
/* What the module hands to backends (OBO-Claim-* headers, OBO_CLAIM_*
 * variables, downstream tokens) is the module's alone. Before the module
 * (or anything after it) reads a request, client-sent look-alikes are
 * removed, and so is whatever an earlier request of the same client request
 * (the one an internal redirect replaces, the one a subrequest belongs to)
 * set for its own Location: each Location gets only its own values.
 *
 * httpd shares r->headers_in with an internal redirect, copies it and
 * r->subprocess_env into a subrequest, renames the environment to
 * REDIRECT_* for a redirect, and CGI turns every header into HTTP_*; so the
 * checks run at post_perdir_config, which every request passes (initial,
 * redirect, subrequest), right after its configuration is known. */
#include "mod_auth_obo_scrub.h"
#include "mod_auth_obo_request.h"
#include "mod_auth_obo_session.h"

#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_request.h"

APLOG_USE_MODULE(auth_obo);

#define EXP_HDR_SUFFIX "-Expires-On"
#define EXP_ENV_SUFFIX "_EXPIRES_ON"
#define REDIRECT_PREFIX "REDIRECT_"
#define HTTP_PREFIX "HTTP_"

/* Backends and gateways fold header names loosely (CGI maps '-' to '_',
 * some frameworks map any separator): every character but a letter or a
 * digit counts as '-', so "OBO.Claim.Sub" is ours as "OBO-Claim-Sub" is. */
static char name_fold(char c)
{
    return c && !apr_isalnum(c) ? '-' : apr_tolower(c);
}

/* Compares n characters as folded, case-insensitively. */
static int name_eq(const char *a, const char *b, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        char x = name_fold(a[i]);
        char y = name_fold(b[i]);
        if (x != y || !x) {
            return 0;
        }
    }
    return 1;
}

static int has_prefix(const char *name, const char *prefix)
{
    return name_eq(name, prefix, strlen(prefix));
}

/* name is base, or base followed by suffix. */
static int is_name(const char *name, const char *base, const char *suffix)
{
    apr_size_t n = strlen(base), len = strlen(name);

    return len >= n && name_eq(name, base, n)
           && (len == n || (len - n == strlen(suffix) && name_eq(name + n, suffix, len - n)));
}

/* A pass-through name of kind in one of the configurations. */
static int is_pass_name(const char *name, const apr_array_header_t *cfgs, int kind,
                        const char *suffix)
{
    int c, i, j;

    for (c = 0; c < cfgs->nelts; c++) {
        const auth_obo_dir_cfg *d = APR_ARRAY_IDX(cfgs, c, const auth_obo_dir_cfg *);
        for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
            const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                          auth_obo_downstream *);
            for (j = 0; j < ds->pass->nelts; j++) {
                const auth_obo_pass *ps = &APR_ARRAY_IDX(ds->pass, j, auth_obo_pass);
                if (ps->kind == kind && is_name(name, ps->name, suffix)) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

static int header_is_ours(const char *name, const apr_array_header_t *cfgs)
{
    return has_prefix(name, AUTH_OBO_CLAIM_HDR_PREFIX)
           || is_name(name, AUTH_OBO_SESSION_HDR, "")
           || is_pass_name(name, cfgs, PASS_HEADER, EXP_HDR_SUFFIX);
}

/* Any REDIRECT_ copies are the module's too; HTTP_X is header X as CGI
 * shows it (a CGI that did a local redirect leaves REDIRECT_HTTP_X). */
static int env_is_ours(const char *name, const apr_array_header_t *cfgs)
{
    while (!strncmp(name, REDIRECT_PREFIX, sizeof(REDIRECT_PREFIX) - 1)) {
        name += sizeof(REDIRECT_PREFIX) - 1;
    }
    if (!strncmp(name, HTTP_PREFIX, sizeof(HTTP_PREFIX) - 1)
        && header_is_ours(name + sizeof(HTTP_PREFIX) - 1, cfgs)) {
        return 1;
    }
    return has_prefix(name, AUTH_OBO_CLAIM_ENV_PREFIX)
           || has_prefix(name, AUTH_OBO_DEFAULT_ENV)
           || is_name(name, AUTH_OBO_SESSION_ENV, "")
           || is_pass_name(name, cfgs, PASS_ENV, EXP_ENV_SUFFIX);
}

static void scrub_table(request_rec *r, apr_table_t *t, const apr_array_header_t *cfgs,
                        int (*ours)(const char *, const apr_array_header_t *),
                        const char *what)
{
    const apr_array_header_t *h = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = apr_array_make(r->pool, 2, sizeof(const char *));
    int i;

    for (i = 0; i < h->nelts; i++) {
        if (e[i].key && ours(e[i].key, cfgs)) {
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
        }
    }
    for (i = 0; i < drop->nelts; i++) {
        const char *k = APR_ARRAY_IDX(drop, i, const char *);
        /* OBO-Session-Key is also the obo-token handler's input, kept
         * before this (capture_client_key): every backend call logged it
         * as a forged header where a server-level OBOScope applies (review
         * 37D-F2) */
        if (strcasecmp(k, AUTH_OBO_SESSION_HDR) != 0) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "OBO030: removed %s %s (the module "
                          "sets it)", what, k);
        }
        apr_table_unset(t, k);
    }
}

static int is_obo(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && !strcasecmp(type, AUTH_OBO_TYPE);
}

static int exchanges(const auth_obo_dir_cfg *d)
{
    return d->downstreams && d->downstreams->nelts > 0;
}

/* The request this one continues: the main request of a subrequest, the
 * request an internal redirect replaces. */
static request_rec *parent_of(request_rec *r)
{
    return r->main ? r->main : r->prev;
}

/* A Require or hand-off of the parent request may have set values for its
 * Location: the parent's Authorization (replaced or removed by the exchange)
 * comes back as the caller sent it. */
static void restore_authorization(request_rec *r, const auth_obo_req *prior)
{
    if (!prior || !prior->authz_changed) {
        return;
    }
    if (prior->caller_authz) {
        apr_table_set(r->headers_in, "Authorization", prior->caller_authz);
    }
    else {
        apr_table_unset(r->headers_in, "Authorization");
    }
}

/* The configurations whose names are the module's in this request: its
 * own, then its parents'. */
static apr_array_header_t *cfgs_of(request_rec *r)
{
    apr_array_header_t *cfgs = apr_array_make(r->pool, 2, sizeof(auth_obo_dir_cfg *));
    request_rec *a;

    APR_ARRAY_PUSH(cfgs, auth_obo_dir_cfg *) = auth_obo_effective(r);
    for (a = parent_of(r); a; a = parent_of(a)) {
        APR_ARRAY_PUSH(cfgs, auth_obo_dir_cfg *) = auth_obo_effective(a);
    }
    return cfgs;
}

/* The configuration this request was scrubbed for (r->pool: an internal
 * redirect shares it and is scrubbed again; a subrequest has its own). */
#define SCRUBBED_FOR "auth_obo_scrubbed_for"

int auth_obo_scrub_fast_redirected(request_rec *r)
{
    void *seen = NULL;

    apr_pool_userdata_get(&seen, SCRUBBED_FOR, r->pool);
    if (!seen || seen == (void *)r->per_dir_config) {
        return 0;
    }
    /* ap_internal_fast_redirect (mod_dir's DirectoryIndex, MultiViews) gave
     * this request a subrequest's configuration but kept its own headers:
     * a client's copy of a header only the new section names was never
     * removed. Its environment comes from the subrequest, scrubbed then. */
    scrub_table(r, r->headers_in, cfgs_of(r), header_is_ours, "header");
    apr_pool_userdata_setn(r->per_dir_config, SCRUBBED_FOR, NULL, r->pool);
    return 1;
}

static int auth_obo_scrub(request_rec *r)
{
    request_rec *parent = parent_of(r);
    const auth_obo_req *prior = parent ? auth_obo_req_state(parent) : NULL;
    auth_obo_dir_cfg *d = auth_obo_effective(r);
    apr_array_header_t *cfgs;

    apr_pool_userdata_setn(r->per_dir_config, SCRUBBED_FOR, NULL, r->pool);

    /* Same configuration as the parent: httpd skips authentication and the
     * parent's values are this Location's own; unless the parent failed
     * authorization (an ErrorDocument 401/403 here) or its exchange failed
     * (an ErrorDocument 502 here, after one downstream's token was handed
     * off and another's exchange failed): then what it set goes. */
    if (parent && parent->per_dir_config == r->per_dir_config
        && !auth_obo_inherits_denial(r) && !auth_obo_follows_failed_handoff(r)) {
        return DECLINED;
    }
    if (!is_obo(r) && !exchanges(d) && !prior) {
        return DECLINED;
    }
    cfgs = cfgs_of(r);
    restore_authorization(r, prior);
    /* The key a client sent to a handler Location (SetHandler obo-token)
     * was kept before this (mod_auth_obo_session.c: capture_client_key). */
    scrub_table(r, r->headers_in, cfgs, header_is_ours, "header");
    scrub_table(r, r->subprocess_env, cfgs, env_is_ours, "variable");
    return DECLINED;
}

void auth_obo_register_scrub(apr_pool_t *p)
{
    ap_hook_post_perdir_config(auth_obo_scrub, NULL, NULL, APR_HOOK_REALLY_FIRST);
}
