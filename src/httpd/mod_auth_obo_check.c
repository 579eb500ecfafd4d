/* SPDX-License-Identifier: Apache-2.0 */
/* Startup and configtest checks (see mod_auth_obo_check.h): what a
 * configuration needs, read from httpd's configuration tree and the merged
 * server configurations, refused (EMERG) or warned about before the server
 * runs. */
#include "mod_auth_obo_check.h"
#include "mod_auth_obo_envcheck.h"
#include "mod_auth_obo_socache.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "apr_hash.h"
#include "apr_lib.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"
#include "http_request.h"
#include "http_ssl.h"
#include "mod_auth.h"
#include "unixd.h"

#include "obo_text.h"
#include "obo_crypto.h"
#include "obo_http.h"
#include "obo_provider.h"

APLOG_USE_MODULE(auth_obo);

/* ---- warnings, where an administrator reads them ---------------------------
 * At a cold start httpd reads its configuration twice; the second pass runs
 * check_config with stderr detached and before the error log is open, so
 * warnings logged there went nowhere (review 28B: OBO063, OBO401, OBO100...
 * reached the console of the first pass, never the error log). In that
 * pass they are kept and written by post_config, once the log is open;
 * configtest, the first pass and restarts log them at once. */

typedef struct kept_warning {
    server_rec *s;
    const char *msg;
} kept_warning;

static apr_array_header_t *kept_warnings;    /* ptemp of the pass, or NULL */

/* The first pass of the main loop (httpd counts generations from 1 there;
 * a restart's pass is 2 or more, with the error log already on stderr). */
static int warnings_wait(void)
{
    return ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST
           && ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_CONFIG
           && ap_state_query(AP_SQ_CONFIG_GEN) <= 1;
}

static void check_warn(apr_pool_t *p, server_rec *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check_warn(apr_pool_t *p, server_rec *s, const char *fmt, ...)
{
    va_list ap;
    kept_warning *w;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    if (!warnings_wait() || !kept_warnings) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s", msg);
        return;
    }
    w = apr_array_push(kept_warnings);
    w->s = s;
    w->msg = apr_pstrdup(kept_warnings->pool, msg);
}

void auth_obo_check_warnings_flush(void)
{
    int i;

    for (i = 0; kept_warnings && i < kept_warnings->nelts; i++) {
        kept_warning *w = &APR_ARRAY_IDX(kept_warnings, i, kept_warning);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s, "%s", w->msg);
    }
    kept_warnings = NULL;
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

static int condition_has_audience(const ap_directive_t *d, const ap_directive_t **last);

/* An OBOAudience in the directive's section or any enclosing one, also in
 * an <If> chain there whose every branch, <Else> included, sets one (review
 * 34B-F10: the docs say such a chain counts). */
static int audience_in_scope(const ap_directive_t *d)
{
    const ap_directive_t *sib, *last;

    for (; d; d = d->parent) {
        for (sib = d->parent ? d->parent->first_child : ap_conftree; sib; sib = sib->next) {
            if (is_directive(sib, "OBOAudience")
                || (is_directive(sib, "<If") && condition_has_audience(sib, &last))) {
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

static const char *location_path(apr_pool_t *p, const ap_directive_t *sec);
static const char *section_path(apr_pool_t *p, const ap_directive_t *sec);
static int path_within(const char *path, const char *prefix);
static int is_path_section(const ap_directive_t *d);

static int list_has_audience(const ap_directive_t *d);

static int is_condition(const ap_directive_t *d)
{
    return is_directive(d, "<If") || is_directive(d, "<ElseIf") || is_directive(d, "<Else");
}

/* An <If> chain (<If>, <ElseIf>..., <Else>) starting at d sets an
 * OBOAudience for every request only if it ends in an <Else> and every
 * branch sets one (review 33B-F1: one inside a lone <If> left the other
 * requests without an audience, 500 at run time). *last: its last branch. */
static int condition_has_audience(const ap_directive_t *d, const ap_directive_t **last)
{
    int all = 1, has_else = 0;

    *last = d;
    for (; d && is_condition(d) && (d == *last || !is_directive(d, "<If")); d = d->next) {
        all &= d->first_child && list_has_audience(d->first_child);
        has_else |= is_directive(d, "<Else");
        *last = d;
        if (has_else) {
            break;
        }
    }
    return all && has_else;
}

/* An OBOAudience among list, also inside <Limit>, <IfModule>... and an
 * <If> chain that sets one in every branch; not in nested path sections. */
static int list_has_audience(const ap_directive_t *d)
{
    const ap_directive_t *last;

    for (; d; d = d->next) {
        if (is_directive(d, "<If")) {
            if (condition_has_audience(d, &last)) {
                return 1;
            }
            d = last;
        }
        else if (is_directive(d, "OBOAudience")
                 || (d->first_child && !is_path_section(d) && !is_condition(d)
                     && list_has_audience(d->first_child))) {
            return 1;
        }
    }
    return 0;
}

/* <Location q> with an OBOAudience among list, q a prefix of path ("/" for
 * a section that is not a <Location>: it covers every URL). */
static int prefix_location_has_audience(apr_pool_t *p, const ap_directive_t *list,
                                        const char *path)
{
    const char *q;

    for (; list; list = list->next) {
        if ((q = location_path(p, list)) != NULL
            && (path ? path_within(path, q) : !strcmp(q, "/"))
            && list_has_audience(list->first_child)) {
            return 1;
        }
    }
    return 0;
}

/* httpd merges every <Location> whose path is a prefix of the request's:
 * an OBOAudience in <Location /api> applies to AuthType obo in
 * <Location /api/env>, in the same server or the main server's. */
static int audience_by_location(apr_pool_t *p, const ap_directive_t *at)
{
    const ap_directive_t *sec = at->parent, *v;
    const char *path = section_path(p, sec);

    for (v = sec; v && !is_directive(v, "<VirtualHost"); v = v->parent) {
    }
    return (v && prefix_location_has_audience(p, v->first_child, path))
           || prefix_location_has_audience(p, ap_conftree, path);
}

/* AuthType may be an expression in httpd 2.4.55+, so it is read from the
 * parsed configuration tree rather than from mod_authn_core. */
/* Why AuthType obo at d cannot work as server sc merges it, or NULL; vhost:
 * the <VirtualHost> whose <Location>s merge too (NULL: d's own server). */
static const char *authtype_err(apr_pool_t *p, const auth_obo_srv_cfg *sc,
                                const ap_directive_t *d, const ap_directive_t *vhost)
{
    const char *path = section_path(p, d->parent);

    if (!auth_obo_has_idp(sc)) {
        return "AuthType obo needs OBOMetadataURL, OBOJWKSURL or OBOJWKSFile";
    }
    if ((sc->jwks_url || sc->jwks_file) && !sc->metadata_url && !sc->issuers) {
        /* Only discovery gives an issuer: without one, no token passes. */
        return "AuthType obo with OBOJWKSURL or OBOJWKSFile needs OBOIssuer (there is no "
               "discovery document to take the issuer from: every token would be rejected)";
    }
    if (!audience_in_scope(d) && !sc->defaults->audiences && !audience_by_location(p, d)
        && !(vhost && prefix_location_has_audience(p, vhost->first_child, path))) {
        return "AuthType obo needs OBOAudience";
    }
    return NULL;
}

/* A main-server section serves every virtual host too: one that fails in
 * the main server but works in every host (the Debian layout: a
 * conf-enabled snippet, the sites as hosts setting OBOAudience or their
 * IdP) is said, not refused (review 34B-F8); one failing in a host is
 * refused. */
static int check_authtype(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    server_rec *s = server_of(main_s, d), *v;
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const char *err = authtype_err(p, sc, d, NULL), *verr = NULL;
    const ap_directive_t *vh;
    int hosts = 0;

    if (err && s == main_s) {
        for (vh = ap_conftree; vh && !verr; vh = vh->next) {
            if (is_directive(vh, "<VirtualHost") && vh->first_child
                && (v = server_of(main_s, vh->first_child)) != main_s) {
                hosts++;
                verr = authtype_err(p, ap_get_module_config(v->module_config,
                                                            &auth_obo_module), d, vh);
            }
        }
        if (hosts && !verr) {
            /* without an issuer the tokens are refused, not a 500 (39B-F3) */
            check_warn(p, main_s, "OBO040: %s (%s) in the main server: the requests it "
                       "answers itself would get %s; every virtual host supplies it", err,
                       where(p, d), strstr(err, "needs OBOIssuer")
                       ? "401 (no issuer to accept)" : "500 (OBO001)");
            return 1;
        }
    }
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, "OBO040: %s (%s)", err, where(p, d));
    }
    return err == NULL;
}
/* ---- AuthType obo without a Require that needs a user ----------------------
 * mod_authz_core's merged configuration is private, so this reads the
 * configuration tree: the section of the AuthType, the sections enclosing
 * it and, for a <Location>, the <Location>s of the same server (or of the
 * main server) whose path is a prefix of its path. A Require in a
 * <Directory> is not seen: the warning may then be a false alarm. */

/* Require providers that grant access without a user. */
static int require_needs_user(apr_pool_t *p, const ap_directive_t *d)
{
    static const char *const anon[] = {
        "all", "ip", "host", "local", "env", "method", "forward-dns", "expr", "not", NULL
    };
    const char *args = d->args ? d->args : "";
    const char *w = ap_getword_conf(p, &args);
    int i;

    for (i = 0; anon[i]; i++) {
        if (!strcasecmp(w, anon[i])) {
            return 0;
        }
    }
    return *w != '\0';
}

static int is_path_section(const ap_directive_t *d)
{
    static const char *const secs[] = {
        "<Location", "<LocationMatch", "<Directory", "<DirectoryMatch", "<Files",
        "<FilesMatch", "<VirtualHost", NULL
    };
    int i;

    for (i = 0; secs[i]; i++) {
        if (is_directive(d, secs[i])) {
            return 1;
        }
    }
    return 0;
}

/* A Require that needs a user among d's list, also inside <RequireAny>,
 * <RequireAll> and a complete <If>...<Else> chain, but not in nested path
 * sections, <Limit>/<LimitExcept> (other methods pass) or <RequireNone>
 * (which only denies). */
static int condition_requires_user(apr_pool_t *p, const ap_directive_t *d,
                                   const ap_directive_t **last);

static int list_requires_user(apr_pool_t *p, const ap_directive_t *d)
{
    const ap_directive_t *last;

    for (; d; d = d->next) {
        if (is_directive(d, "Require") && require_needs_user(p, d)) {
            return 1;
        }
        /* <Limit GET> or a lone <If> leaves the other methods or requests
         * without it (review 36B-F14): only a whole <If>...<Else> chain
         * whose every branch needs a user counts */
        if (is_condition(d)) {
            if (condition_requires_user(p, d, &last)) {
                return 1;
            }
            d = last;
        }
        else if (d->first_child && !is_path_section(d) && !is_directive(d, "<RequireNone")
                 && !is_directive(d, "<Limit") && !is_directive(d, "<LimitExcept")
                 && list_requires_user(p, d->first_child)) {
            return 1;
        }
    }
    return 0;
}

/* As condition_has_audience, for a Require that needs a user. */
static int condition_requires_user(apr_pool_t *p, const ap_directive_t *d,
                                   const ap_directive_t **last)
{
    int all = 1, has_else = 0;

    *last = d;
    for (; d && is_condition(d) && (d == *last || !is_directive(d, "<If")); d = d->next) {
        all &= d->first_child && list_requires_user(p, d->first_child);
        has_else |= is_directive(d, "<Else");
        *last = d;
        if (has_else) {
            break;
        }
    }
    return all && has_else;
}

/* The path of a plain <Location path>, or NULL (regex or another section). */
static const char *location_path(apr_pool_t *p, const ap_directive_t *sec)
{
    const char *args, *w;
    apr_size_t n;

    if (!sec || !is_directive(sec, "<Location") || !sec->args) {
        return NULL;
    }
    args = sec->args;
    w = ap_getword_conf(p, &args);
    n = strlen(w);
    if (n && w[n - 1] == '>') {
        w = apr_pstrndup(p, w, n - 1);
    }
    return *w == '~' || !*w ? NULL : w;
}

/* <Location prefix> merges into every request of a section at path: a
 * plain prefix up to a '/'. A wildcard one never does: httpd matches it
 * with fnmatch against the whole URI, where '*' stops at a '/', so
 * <Location /api*> covers /api but not /api/x (review 36B-F5: counting it
 * let configtest pass a configuration whose requests all answer 500). */
static int path_within(const char *path, const char *prefix)
{
    apr_size_t n = strlen(prefix);

    return !strncmp(path, prefix, n)
           && (n == 0 || prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/');
}

/* <Location q> among list (a server's top-level directives) with q a prefix
 * of path and a Require that needs a user. */
static int prefix_location_requires_user(apr_pool_t *p, const ap_directive_t *list,
                                         const char *path)
{
    const char *q;

    for (; list; list = list->next) {
        if ((q = location_path(p, list)) != NULL && path_within(path, q)
            && list_requires_user(p, list->first_child)) {
            return 1;
        }
    }
    return 0;
}

/* A Require or <Require...> block of the section itself, and no
 * AuthMerging: mod_authz_core then uses the section's own rules, not the
 * ones it would inherit. */
static int own_require_only(const ap_directive_t *d)
{
    int own = 0;

    for (; d; d = d->next) {
        if (is_directive(d, "AuthMerging")) {
            return 0;
        }
        own |= is_directive(d, "Require") || is_directive(d, "<RequireAll")
               || is_directive(d, "<RequireAny") || is_directive(d, "<RequireNone");
    }
    return own;
}

static int authtype_requires_user(apr_pool_t *p, const ap_directive_t *at)
{
    const ap_directive_t *sec = at->parent, *s;
    const char *path = section_path(p, sec);

    if (sec && own_require_only(sec->first_child)) {
        return list_requires_user(p, sec->first_child);
    }

    for (s = sec; s && !is_directive(s, "<VirtualHost"); s = s->parent) {
        if (list_requires_user(p, s->first_child)) {
            return 1;
        }
    }
    if (path) {
        /* the server of the section (a virtual host's top level or the main
         * server's), then the main server's, which virtual hosts inherit */
        for (s = sec->parent; s && !is_directive(s, "<VirtualHost"); s = s->parent) {
        }
        if ((s && prefix_location_requires_user(p, s->first_child, path))
            || prefix_location_requires_user(p, ap_conftree, path)) {
            return 1;
        }
    }
    return 0;
}

static void warn_if_open(apr_pool_t *p, server_rec *main_s, const ap_directive_t *at)
{
    const ap_directive_t *sec = at->parent;

    if (authtype_requires_user(p, at)) {
        return;
    }
    check_warn(p, main_s, "OBO063: %s%s%s (%s) has AuthType "
                 "obo but no Require that needs a user: requests without a valid token "
                 "are let through; add Require valid-user or Require obo-*",
                 sec ? sec->directive : "", sec && sec->args ? " " : "",
                 sec && sec->args ? sec->args : "", where(p, at));
}

/* Tokens in URLs are written wherever URLs are: access logs (%r, %U%q),
 * proxies' and browsers' histories, Referer headers; form bodies are
 * seldom logged, but a form token is one a page's script or markup holds.
 * Both are RFC 6750's last resorts (s.2.2, s.2.3), allowed only when named,
 * and said at each start. */
static void warn_if_in_url(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    const char *args = d->args, *w;

    while (*args && (w = ap_getword_conf(p, &args)) && *w) {
        if (!strcasecmp(w, "query") || !strcasecmp(w, "form")) {
            check_warn(p, main_s, "OBO401: OBOAcceptTokenAs %s "
                         "(%s): %s", w, where(p, d), !strcasecmp(w, "query")
                         ? "tokens in URLs reach access logs, proxy logs, browser history "
                           "and Referer headers; the module removes the access_token "
                           "parameter from what the backend and the access log see after "
                           "authentication, not from what was recorded before"
                         : "form tokens are readable by the page's scripts and reach "
                           "whatever logs request bodies; prefer the Authorization header");
        }
    }
}

/* ---- what <Location> prefixes merge ------------------------------------------ */

/* The last directive called name in a section's list, also inside <IfModule>,
 * <Limit>...; not in nested path sections or <If> (conditional). */
static const ap_directive_t *last_in(const ap_directive_t *d, const char *name)
{
    const ap_directive_t *found = NULL, *inner;

    for (; d; d = d->next) {
        if (is_directive(d, name)) {
            found = d;
        }
        else if (d->first_child && !is_path_section(d) && !is_condition(d)
                 && (inner = last_in(d->first_child, name)) != NULL) {
            found = inner;
        }
    }
    return found;
}

/* A server list's own server-level line called name (the last). */
static const ap_directive_t *server_line(const ap_directive_t *list, const char *name,
                                         const ap_directive_t *found)
{
    for (; list; list = list->next) {
        if (is_directive(list, name)) {
            found = list;
        }
    }
    return found;
}

/* The last line called name among a list's <Location>s whose path is a
 * prefix of path, in the order of the file. */
static const ap_directive_t *location_lines(apr_pool_t *p, const ap_directive_t *list,
                                            const char *path, const char *name,
                                            const ap_directive_t *found)
{
    const ap_directive_t *v;
    const char *q;

    for (; list; list = list->next) {
        if ((q = location_path(p, list)) != NULL && path_within(path, q)
            && (v = last_in(list->first_child, name)) != NULL) {
            found = v;
        }
    }
    return found;
}

/* The value of name at <Location path> in a virtual host (vhost, or NULL for
 * the main server), in httpd's merge order: the server levels (the main
 * server's, then the host's), then every <Location> (the main server's,
 * then the host's: review 34B-F2). */
static const ap_directive_t *merged_at(apr_pool_t *p, const ap_directive_t *vhost,
                                       const char *path, const char *name)
{
    const ap_directive_t *found = server_line(ap_conftree, name, NULL);

    found = vhost ? server_line(vhost->first_child, name, found) : found;
    found = location_lines(p, ap_conftree, path, name, found);
    return vhost ? location_lines(p, vhost->first_child, path, name, found) : found;
}

static int first_word_is(apr_pool_t *p, const ap_directive_t *d, const char *w)
{
    return d && d->args && !strcasecmp(ap_getword_conf(p, &(const char *){ d->args }), w);
}

/* An OBOScope line of the list ending in "app" (app) or not (user). */
static void scope_kinds(apr_pool_t *p, const ap_directive_t *d, int *app, int *user)
{
    const char *args, *w, *lastw;

    for (; d; d = d->next) {
        if (is_directive(d, "OBOScope") && d->args) {
            for (args = d->args, lastw = ""; *(w = ap_getword_conf(p, &args));) {
                lastw = w;
            }
            *app |= !strcmp(lastw, "app");
            *user |= strcmp(lastw, "app") != 0;
        }
        else if (d->first_child && !is_path_section(d) && !is_condition(d)) {
            scope_kinds(p, d->first_child, app, user);
        }
    }
}

static int every_host(server_rec *main_s, int (*ok)(const auth_obo_srv_cfg *));
static int uses_token_exchange(const auth_obo_srv_cfg *vc);
static const char *server_level(apr_pool_t *p, const server_rec *s);

/* A line called name in list below its top level (in a section, an
 * <IfModule>...); other virtual hosts left out. */
static int nested_line(const ap_directive_t *list, const char *name, int top)
{
    for (; list; list = list->next) {
        if ((!top && is_directive(list, name))
            || (list->first_child && !is_directive(list, "<VirtualHost")
                && nested_line(list->first_child, name, 0))) {
            return 1;
        }
    }
    return 0;
}

/* fmt, the format a main-server <Location> gets in virtual host vhost, is
 * the host's server-level line, and no section of the host or the main
 * server sets another: a plain merge, as certain as the main server's
 * level in a host's own section (review 39B-F12: that case was refused,
 * this one only said, twice). */
static int host_format_sure(const ap_directive_t *vhost, const ap_directive_t *fmt)
{
    return vhost && fmt && fmt->parent == vhost
           && !nested_line(vhost->first_child, "OBOTokenFormat", 1)
           && !nested_line(ap_conftree, "OBOTokenFormat", 1);
}

/* OBO452 and OBO427/OBO420 for <Location path> as one server (vhost, or
 * NULL for the main server) merges it; said[] the lines already said for
 * the main server, not said again for each host. */
static int judge_location_merge(apr_pool_t *p, server_rec *s, const ap_directive_t *vhost,
                                const ap_directive_t *loc, const char *path, int app,
                                int user, const ap_directive_t **said)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const ap_directive_t *lr = merged_at(p, vhost, path, "OBOLongRunning");
    const ap_directive_t *fmt = merged_at(p, vhost, path, "OBOTokenFormat");
    const char *as = vhost ? apr_pstrcat(p, " (as ", server_level(p, s), " merges it)", NULL)
                           : "";

    /* Warnings, not refusals: what the tree says of httpd's merge is not
     * sure (a host's <Location> replacing the downstreams, wildcard paths,
     * <Directory> sections between them), and a refusal of a working
     * configuration stops a server at its reload (review 35). Refused only
     * where a host's server level is the one format line that can apply. */
    if (app && first_word_is(p, lr, "on") && lr != said[0]) {
        check_warn(p, s, "OBO452: OBOLongRunning on (%s:%d) seems to apply to <Location %s> at "
                   "%s:%d%s, which has an app downstream (OBOScope ... app): where both "
                   "apply, requests answer 500 (OBO454); set OBOLongRunning off there, or move "
                   "the app downstream out from under it", lr->filename, lr->line_num, path,
                   loc->filename, loc->line_num, as);
        said[0] = vhost ? said[0] : lr;
    }
    if (!user || !first_word_is(p, fmt, "opaque") || fmt == said[1]
        || auth_obo_ival(sc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO
        || (!vhost && every_host(s, uses_token_exchange))) {
        return 1;
    }
    if (host_format_sure(vhost, fmt)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO420: OBOExchange on-behalf-of (Entra's "
                     "jwt-bearer grant, the default) needs a JWT caller token: it cannot "
                     "exchange the tokens of OBOTokenFormat opaque (%s:%d, %s, in <Location %s> "
                     "at %s:%d); use OBOExchange token-exchange (RFC 8693), or OBOTokenFormat "
                     "jwt or auto", fmt->filename, fmt->line_num, server_level(p, s), path,
                     loc->filename, loc->line_num);
        return 0;
    }
    check_warn(p, s, "OBO427: OBOTokenFormat opaque (%s:%d) seems to apply to <Location %s> at "
               "%s:%d%s, which exchanges with OBOExchange on-behalf-of (Entra's jwt-bearer "
               "grant, the default): it cannot exchange opaque tokens (OBO428, 401); use "
               "OBOExchange token-exchange, or OBOTokenFormat jwt or auto there",
               fmt->filename, fmt->line_num, path, loc->filename, loc->line_num, as);
    said[1] = vhost ? said[1] : fmt;
    return 1;
}

/* A <Location> that names a downstream gets OBOLongRunning and
 * OBOTokenFormat from every <Location> whose path is a prefix of its own:
 * the checks of one section (OBO451, OBO420) must see that merge too, or
 * configtest passes what answers 500 or 401 on every request (review
 * 33B-F12). A main server's <Location> is judged in the main server and in
 * each virtual host, whose <Location>s httpd merges after it (34B-F2). */
static int check_location_merge(apr_pool_t *p, server_rec *main_s, const ap_directive_t *loc)
{
    const ap_directive_t *vhost, *v, *said[2] = { NULL, NULL };
    const char *path = location_path(p, loc);
    int app = 0, user = 0, ok;

    if (!path) {
        return 1;
    }
    scope_kinds(p, loc->first_child, &app, &user);
    if (!app && !user) {
        return 1;
    }
    for (vhost = loc->parent; vhost && !is_directive(vhost, "<VirtualHost");
         vhost = vhost->parent) {
    }
    ok = judge_location_merge(p, server_of(main_s, loc), vhost, loc, path, app, user, said);
    for (v = ap_conftree; ok && !vhost && v; v = v->next) {
        if (is_directive(v, "<VirtualHost") && v->first_child) {
            ok = judge_location_merge(p, server_of(main_s, v->first_child), v, loc, path,
                                      app, user, said);
        }
    }
    return ok;
}

static int lists_word(apr_pool_t *p, const ap_directive_t *d, const char *word)
{
    const char *args = d->args ? d->args : "", *w;

    while (*(w = ap_getword_conf(p, &args))) {
        if (!strcasecmp(w, word)) {
            return 1;
        }
    }
    return 0;
}

/* DPoP is read from the Authorization header only: OBODPoP where the
 * OBOAcceptTokenAs that applies leaves the header out can never take a
 * proof. With required, every request is refused (review 33B-F13). Said,
 * not refused: the tree's reading of the merge is not sure (review 35). */
static void warn_dpop_sources(apr_pool_t *p, server_rec *s, const ap_directive_t *dpop,
                              const ap_directive_t *acc)
{
    if (!dpop || !acc || first_word_is(p, dpop, "off") || lists_word(p, acc, "header")) {
        return;
    }
    if (first_word_is(p, dpop, "required")) {
        check_warn(p, s, "OBO497: OBODPoP required (%s:%d) where OBOAcceptTokenAs (%s:%d) "
                   "leaves out header: a DPoP token comes only in the Authorization header, "
                   "so every request there is refused; add header to OBOAcceptTokenAs",
                   dpop->filename, dpop->line_num, acc->filename, acc->line_num);
        return;
    }
    check_warn(p, s, "OBO498: OBODPoP allowed (%s:%d) where OBOAcceptTokenAs (%s:%d) leaves "
               "out header: a DPoP token comes only in the Authorization header, so no "
               "request there can use DPoP", dpop->filename, dpop->line_num, acc->filename,
               acc->line_num);
}

/* <Location path> as httpd merges it in the main server and, for a
 * main-server <Location>, in each virtual host: the server levels come
 * first, so a server-level OBOAcceptTokenAs (the main server's or a
 * host's) counts too (review 39B-F14; a <Directory> merged before the
 * <Location>s may replace it, hence a warning). A host whose merge gives
 * the main server's lines is not said again. */
static void check_dpop_location(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d,
                                const ap_directive_t *vhost, const char *path)
{
    const ap_directive_t *dpop = merged_at(p, vhost, path, "OBODPoP");
    const ap_directive_t *acc = merged_at(p, vhost, path, "OBOAcceptTokenAs");
    const ap_directive_t *v, *vd, *va;

    warn_dpop_sources(p, server_of(main_s, d), dpop, acc);
    for (v = vhost ? NULL : ap_conftree; v; v = v->next) {
        if (!is_directive(v, "<VirtualHost") || !v->first_child) {
            continue;
        }
        vd = merged_at(p, v, path, "OBODPoP");
        va = merged_at(p, v, path, "OBOAcceptTokenAs");
        if (vd != dpop || va != acc) {
            warn_dpop_sources(p, server_of(main_s, v->first_child), vd, va);
        }
    }
}

/* The section of an OBODPoP line that is not a <Location> is judged by its
 * own OBOAcceptTokenAs only. */
static int check_dpop_sources(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    const ap_directive_t *sec = d->parent, *vhost, *list;
    const char *path;

    while (sec && !is_path_section(sec)) {
        sec = sec->parent;
    }
    for (vhost = d->parent; vhost && !is_directive(vhost, "<VirtualHost");
         vhost = vhost->parent) {
    }
    path = sec ? location_path(p, sec) : NULL;
    if (path) {
        check_dpop_location(p, main_s, d, vhost, path);
        return 1;
    }
    /* a <Directory>, <Files>... or the server level: only what the same
     * section says is sure; a <Location> merged after it may set either
     * (review 34B-F3: OBODPoP required in a <Directory> served through a
     * <Location> that takes the header was refused) */
    if (!sec || sec == vhost) {
        return 1;       /* the server level: every <Location> may set its own */
    }
    list = sec->first_child;
    warn_dpop_sources(p, server_of(main_s, d), last_in(list, "OBODPoP"),
                      last_in(list, "OBOAcceptTokenAs"));
    return 1;
}

static int walk_tree(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (is_directive(d, "OBOAcceptTokenAs") && d->args) {
            warn_if_in_url(p, main_s, d);
        }
        if (is_directive(d, "<Location") && !check_location_merge(p, main_s, d)) {
            return 0;
        }
        /* each OBODPoP line, and a <Location> whose OBOAcceptTokenAs meets
         * an OBODPoP of a prefix <Location> */
        if ((is_directive(d, "OBODPoP")
             || (is_directive(d, "OBOAcceptTokenAs") && d->parent
                 && is_directive(d->parent, "<Location")
                 && !last_in(d->parent->first_child, "OBODPoP")))
            && !check_dpop_sources(p, main_s, d)) {
            return 0;
        }
        if (is_directive(d, "AuthType") && d->args
            && !strcasecmp(ap_getword_conf(p, &(const char *){ d->args }), AUTH_OBO_TYPE)) {
            if (!check_authtype(p, main_s, d)) {
                return 0;
            }
            warn_if_open(p, main_s, d);
        }
        if (d->first_child && !walk_tree(p, main_s, d->first_child)) {
            return 0;
        }
    }
    return 1;
}

/* A place a token goes, as the backend sees it: variables upper-cased
 * with '-' as '_' (a header is also the CGI's HTTP_ variable). */
static const char *place(apr_pool_t *p, const char *kind, const char *name)
{
    char *k = apr_pstrdup(p, name), *c;

    for (c = k; *c; c++) {
        *c = *c == '-' ? '_' : apr_toupper(*c);
    }
    return apr_pstrcat(p, kind, k, NULL);
}

static const char *place_taken1(apr_pool_t *p, apr_hash_t *seen,
                                const auth_obo_downstream *ds, const char *key)
{
    const auth_obo_downstream *other = apr_hash_get(seen, key, APR_HASH_KEY_STRING);

    if (other && other != ds) {
        return apr_psprintf(p, "downstreams %s and %s both hand their token to %s: only "
                            "the last would arrive; give each its own OBOPassToken",
                            other->name ? other->name : "(default)",
                            ds->name ? ds->name : "(default)", key);
    }
    apr_hash_set(seen, key, APR_HASH_KEY_STRING, ds);
    return NULL;
}

/* A token's place and its expiry's (NAME_EXPIRES_ON, NAME-Expires-On):
 * downstreams x and x_expires_on met in the second. */
static const char *place_taken(apr_pool_t *p, apr_hash_t *seen,
                               const auth_obo_downstream *ds, const char *key)
{
    const char *err = place_taken1(p, seen, ds, key);

    if (!err && strncmp(key, "the ", 4) != 0) {
        err = place_taken1(p, seen, ds, apr_pstrcat(p, key, "_EXPIRES_ON", NULL));
    }
    return err;
}

/* Two downstreams of a section whose tokens go to one place (a name twice
 * in another case or spelling, a downstream's default variable, a header
 * and the variable a CGI sees it as): a review found one token silently
 * lost each way. */
static const char *check_places(apr_pool_t *p, const auth_obo_dir_cfg *d)
{
    apr_hash_t *seen = apr_hash_make(p);
    const char *err = NULL;
    int i, k;

    for (i = 0; !err && d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                      auth_obo_downstream *);
        if (ds->pass->nelts == 0) {
            err = place_taken(p, seen, ds, place(p, "variable ", auth_obo_default_env(p, ds)));
        }
        for (k = 0; !err && k < ds->pass->nelts; k++) {
            const auth_obo_pass *ps = &APR_ARRAY_IDX(ds->pass, k, auth_obo_pass);
            if (ps->kind == PASS_AUTHORIZATION) {
                err = place_taken(p, seen, ds, "the Authorization header");
            }
            else if (ps->kind == PASS_ENV) {
                err = place_taken(p, seen, ds, place(p, "variable ", ps->name));
            }
            else if (!(err = place_taken(p, seen, ds, place(p, "header ", ps->name)))) {
                err = place_taken(p, seen, ds, place(p, "variable HTTP_",
                                                     ps->name));
            }
        }
    }
    return err;
}

/* A downstream named by OBOPassToken alone has nothing to exchange for:
 * every request would fail, so the configuration does. */
static const char *check_downstreams(apr_pool_t *p, const auth_obo_srv_cfg *sc,
                                     const auth_obo_dir_cfg *d)
{
    int i;

    (void)sc;
    for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                      auth_obo_downstream *);
        int audiences = ds->audiences && ds->audiences->nelts > 0;

        if (ds->scopes->nelts == 0 && !audiences) {
            return apr_psprintf(p, "OBOPassToken%s%s names a downstream without "
                                "OBOScope or OBOExchangeAudience%s%s",
                                ds->name ? " downstream=" : "", ds->name ? ds->name : "",
                                ds->name ? " downstream=" : "", ds->name ? ds->name : "");
        }
    }
    return check_places(p, d);
}

/* Entra's On-Behalf-Of grant has no audience parameter: OBOExchangeAudience
 * there is dropped, and alone it leaves an empty scope that fails every
 * request at the IdP (review 30B). Warned, not refused: a main server's
 * section may serve virtual hosts whose OBOExchange is token-exchange, and
 * a configuration that ran before must still restart (review 31). */
static void warn_obo_audiences(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                               const auth_obo_dir_cfg *d, const char *in)
{
    int i;

    if (auth_obo_ival(sc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO) {
        return;
    }
    for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                      auth_obo_downstream *);
        if (ds->audiences && ds->audiences->nelts > 0 && !ds->app) {
            check_warn(p, s, "OBO059: OBOExchangeAudience%s%s (%s) is sent only with "
                       "OBOExchange token-exchange (RFC 8693); with the on-behalf-of grant "
                       "it is dropped%s: name the downstream with OBOScope, or set "
                       "OBOExchange token-exchange", ds->name ? " downstream=" : "",
                       ds->name ? ds->name : "", in, ds->scopes->nelts == 0
                       ? ", and without OBOScope every exchange fails (no scope)" : "");
        }
    }
}

/* Entra's client credentials grant takes one scope, <resource>/.default
 * (the application permissions granted to the app), and refuses anything
 * else (AADSTS1002012); other IdPs take any scope (RFC 6749 s.4.4). The
 * provider is not known before the first request: with the On-Behalf-Of
 * grant (Entra's) a warning, not an error. */
static void warn_app_scopes(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                            const auth_obo_dir_cfg *d, const char *in)
{
    static const char suffix[] = "/.default";
    int i, j;

    if (auth_obo_ival(sc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO) {
        return;
    }
    for (i = 0; d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                      auth_obo_downstream *);
        for (j = 0; ds->app && j < ds->scopes->nelts; j++) {
            const char *sc1 = APR_ARRAY_IDX(ds->scopes, j, const char *);
            size_t n = strlen(sc1);
            if (ds->scopes->nelts > 1 || n < sizeof(suffix) - 1
                || strcmp(sc1 + n - (sizeof(suffix) - 1), suffix) != 0) {
                check_warn(p, s, "OBO453: app downstream %s "
                             "(%s) asks for scope '%s'%s: Microsoft Entra's client credentials "
                             "grant takes exactly one scope, <resource>/.default, and refuses "
                             "others (AADSTS1002012)", ds->name ? ds->name : "default", in,
                             sc1, ds->scopes->nelts > 1 ? " among several" : "");
                break;
            }
        }
    }
}

/* "the server configuration" of the main server or of the virtual host
 * defined at file:line: a server-level setting named by where it is. */
static const char *server_level(apr_pool_t *p, const server_rec *s)
{
    return s->is_virtual && s->defn_name
           ? apr_psprintf(p, "the configuration of <VirtualHost> at %s:%u", s->defn_name,
                          s->defn_line_number)
           : "the main server configuration";
}

/* Entra's On-Behalf-Of grant takes the caller's token as a jwt-bearer
 * assertion: an opaque token can never be exchanged with it, so a section
 * that only takes opaque tokens and exchanges them that way would fail on
 * every request. (With auto, JWTs are exchanged; an opaque one is refused
 * at the exchange, OBO428.) */
static int any_discovery(const auth_obo_srv_cfg *sc);

/* Each virtual host has what an exchange needs: a client id, a secret or
 * certificate, a token endpoint or discovery. */
static int exchange_ready(const auth_obo_srv_cfg *vc)
{
    return vc->client_id && (vc->client_secret || vc->client_cert)
           && (vc->token_endpoint || any_discovery(vc));
}

/* Each virtual host keeps sessions somewhere (OBOLongRunning). */
static int has_cache(const auth_obo_srv_cfg *vc)
{
    return auth_obo_ival(vc->cache_type, CACHE_SHM) != CACHE_NONE;
}

/* Each virtual host exchanges with token-exchange. */
static int uses_token_exchange(const auth_obo_srv_cfg *vc)
{
    return auth_obo_ival(vc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO;
}

/* Every virtual host (at least one) has what ok() asks of it: a main
 * server's section that lacks it at the main server's level still works in
 * each of them, and with name-based hosts covering every address the main
 * server answers nothing itself. Said, not refused (reviews 34B-F8, 35-F10,
 * F11, F13): refusing a working configuration stops it at its next reload. */
static int every_host(server_rec *main_s, int (*ok)(const auth_obo_srv_cfg *))
{
    server_rec *v;
    int hosts = 0;

    for (v = main_s->next; v; v = v->next, hosts++) {
        if (!ok(ap_get_module_config(v->module_config, &auth_obo_module))) {
            return 0;
        }
    }
    return hosts > 0;
}

/* A main-server section judged in a virtual host (whose own <Location>s,
 * merged after it, may set what the host's server level says otherwise). */
static int inherited_in_host(server_rec *s, const auth_obo_dir_cfg *d)
{
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(ap_server_conf->module_config,
                                                           &auth_obo_module);
    int i;

    for (i = 0; s->is_virtual && main_sc->sections && i < main_sc->sections->nelts; i++) {
        if (APR_ARRAY_IDX(main_sc->sections, i, auth_obo_section).d == d) {
            return 1;
        }
    }
    return 0;
}

/* A plain <Location> (no regex) is judged with httpd's merge read from the
 * configuration tree (judge_location_merge), which also sees the host's own
 * <Location>s merged after it: not judged again by its server level here
 * (review 39B-F12: the same cause said twice, once wrongly). */
static int merge_judged(const char *name)
{
    return name && !strncasecmp(name, "<Location ", 10) && name[10] != '~';
}

static int check_opaque_exchange(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                                 const auth_obo_dir_cfg *d, const char *name, const char *in)
{
    int format = d->token_format != AUTH_OBO_UNSET ? d->token_format
                                                   : auth_obo_token_format(sc->defaults);

    /* App downstreams (client credentials) never send the caller's token. */
    if (format == AUTH_OBO_FORMAT_OPAQUE && auth_obo_needs_user(d)
        && auth_obo_ival(sc->exchange, OBO_GRANT_OBO) == OBO_GRANT_OBO
        && !(!s->is_virtual && every_host(s, uses_token_exchange))) {
        /* a main-server section with the format of a host's server level:
         * the host's own <Location> merged later may set another (review
         * 35 F7): said, not refused */
        if (d->token_format == AUTH_OBO_UNSET && inherited_in_host(s, d)) {
            if (!merge_judged(name)) {
                check_warn(p, s, "OBO427: OBOTokenFormat opaque (%s) seems to apply %s, "
                           "which exchanges with OBOExchange on-behalf-of (Entra's "
                           "jwt-bearer grant, the default): it cannot exchange opaque tokens "
                           "(OBO428, 401); use OBOExchange token-exchange, or OBOTokenFormat "
                           "jwt or auto there", server_level(p, s), in);
            }
            return 1;
        }
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO420: OBOExchange on-behalf-of (Entra's "
                     "jwt-bearer grant, the default) needs a JWT caller token: it cannot "
                     "exchange the tokens of OBOTokenFormat opaque (%s); use OBOExchange "
                     "token-exchange (RFC 8693), or OBOTokenFormat jwt or auto", in);
        return 0;
    }
    return 1;
}

/* Introspection authenticates this server at the IdP, at an endpoint that
 * must be known: OBOIntrospectionURL, or the primary provider's discovery.
 * A primary provider with keys only (OBOJWKSURL, OBOJWKSFile) has none, and
 * every opaque token would be answered 503 (review 33B-F5); with auto, 401
 * (a string that is not a JWS, which any client can send, is no outage:
 * review 39B-F11). */
static int introspection_ready(const auth_obo_srv_cfg *sc)
{
    return sc->client_id && (sc->client_secret || sc->client_cert);
}

/* The server surely introspects: its own lines say so, not a main-server
 * section a virtual host may never serve (review 34B-F5); or, in a virtual
 * host, the server-level OBOTokenFormat (its own or the main server's), a
 * plain merge that every section of the host without its own format gets
 * (review 39B-F11). A host with the main server's providers and endpoint is
 * judged once, with the main server. */
static int introspects_surely(const server_rec *s, const auth_obo_srv_cfg *sc)
{
    const auth_obo_srv_cfg *main_sc;

    if (sc->introspects_here || !s->is_virtual
        || auth_obo_token_format(sc->defaults) == AUTH_OBO_FORMAT_JWT) {
        return sc->introspects_here;
    }
    main_sc = ap_get_module_config(ap_server_conf->module_config, &auth_obo_module);
    return sc->jwks_url != main_sc->jwks_url || sc->jwks_file != main_sc->jwks_file
           || sc->more_idps != main_sc->more_idps;
}

static int check_introspection(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc)
{
    if (introspects_surely(s, sc) && !sc->introspection_url && !sc->metadata_url) {
        /* a warning: a main server that name-based hosts leave without
         * requests may never introspect (review 35) */
        check_warn(p, s, "OBO432: OBOTokenFormat opaque or auto (%s) needs an introspection "
                   "endpoint: set OBOIntrospectionURL (the identity provider here is "
                   "OBOJWKSURL or OBOJWKSFile, which has no discovery document to name one); "
                   "with opaque every token is answered 503 (OBO425), with auto every token "
                   "that is not a JWT is refused (401)", server_level(p, s));
    }
    if (!sc->introspects || introspection_ready(sc)) {
        return 1;
    }
    if (!s->is_virtual && every_host(s, introspection_ready)) {
        /* a server-wide OBOTokenFormat, the credentials per site (36B-F9) */
        check_warn(p, s, "OBO430: OBOTokenFormat opaque or auto (%s) needs OBOClientID and "
                   "OBOClientSecret or OBOClientCertificate in the main server: the requests it "
                   "answers itself would get 503; every virtual host has them",
                   server_level(p, s));
        return 1;
    }
    /* where the line is, not only the server (review 36B-F1) */
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO430: OBOTokenFormat opaque or auto (%s%s%s) "
                 "needs OBOClientID and OBOClientSecret or OBOClientCertificate: the "
                 "introspection endpoint authenticates this server as the token endpoint does",
                 server_level(p, s), sc->introspects_at ? ", first at " : "",
                 sc->introspects_at ? sc->introspects_at : "");
    return 0;
}

/* A section (or the server level, name NULL) that names a downstream
 * needs valid downstreams and client credentials; it makes the server
 * exchange (client, cache). */
/* A further provider without discovery (OBOJWKSURL/OBOJWKSFile with its
 * issuers) has no token endpoint: in a server that exchanges, its tokens
 * validate but cannot be exchanged unless OBOTokenEndpoint takes every
 * exchange. Said once per provider at startup (OBOAcceptIssuer keeps them
 * out of the exchanging Locations). */
static void warn_no_token_endpoint(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc)
{
    int i;

    for (i = 0; sc->uses_exchange && !sc->token_endpoint && sc->more_idps
                && i < sc->more_idps->nelts; i++) {
        const auth_obo_idp *idp = &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp);
        if (!idp->metadata_url) {
            check_warn(p, s, "OBO472: the identity provider of "
                         "%s (issuer %s) has no discovery document, so no token endpoint: "
                         "its tokens cannot be exchanged (OBO056). Set OBOTokenEndpoint, or "
                         "keep them out of exchanging Locations with OBOAcceptIssuer",
                         idp->jwks_file ? idp->jwks_file : obo_url_shown(p, idp->jwks_url),
                         apr_array_pstrcat(p, idp->issuers, ' '));
        }
    }
}

static void note_issuers_quiet(apr_hash_t *seen, const apr_array_header_t *issuers,
                               const char *who)
{
    int i;

    for (i = 0; who && issuers && i < issuers->nelts; i++) {
        const char *iss = APR_ARRAY_IDX(issuers, i, const char *);
        if (!apr_hash_get(seen, iss, APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, iss, APR_HASH_KEY_STRING, who);
        }
    }
}

/* An issuer named by two providers (OBOIssuer of the primary, issuers on an
 * OBOJWKSURL/OBOJWKSFile line): a token of it is only ever checked with the
 * first one's keys, so the second's tokens all fail. */
static int note_issuers(apr_pool_t *p, server_rec *s, apr_hash_t *seen,
                        const apr_array_header_t *issuers, const char *who)
{
    int i;

    for (i = 0; issuers && i < issuers->nelts; i++) {
        const char *iss = APR_ARRAY_IDX(issuers, i, const char *);
        const char *first = apr_hash_get(seen, iss, APR_HASH_KEY_STRING);

        if (first && strcmp(first, who) != 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO473: issuer %s is named by two "
                         "identity providers (%s and %s): its tokens would only ever be "
                         "checked with the first one's keys (%s)", iss,
                         obo_url_shown(p, first), obo_url_shown(p, who),
                         server_level(p, s));
            return 0;
        }
        apr_hash_set(seen, iss, APR_HASH_KEY_STRING, who);
    }
    return 1;
}

/* OBOIssuer sets the primary provider's issuers; where every provider
 * names its own on its JWKS line there is none, and it applied to nothing
 * without a word (review 39B-F2). Said where it is written. */
static void warn_issuer_unused(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                               const auth_obo_srv_cfg *main_sc)
{
    if (sc->issuers && sc->issuers->nelts > 0 && !sc->metadata_url && !sc->jwks_url
        && !sc->jwks_file && sc->more_idps && sc->more_idps->nelts > 0
        && (!s->is_virtual || sc->issuers != main_sc->issuers)) {
        check_warn(p, s, "OBO476: OBOIssuer %s applies to no identity provider (%s): it "
                   "sets the issuers of the primary provider (the first OBOMetadataURL, or an "
                   "OBOJWKSURL/OBOJWKSFile without issuers), and every provider here names its "
                   "issuers on its OBOJWKSURL/OBOJWKSFile line, so tokens of that issuer are "
                   "refused (OBO470); add it to the line of the provider that signs them",
                   apr_array_pstrcat(p, sc->issuers, ' '), server_level(p, s));
    }
}

/* An issuer-less JWKS line beside OBOMetadataURL replaces the discovery
 * document's keys (a documented override); the same line meant for a
 * partner, its issuer from an empty variable (${PARTNER_ISS} unquoted: httpd
 * leaves no word), made the partner's keys the primary's (review 40B-F1).
 * Said at each start where it is written. */
static void warn_keys_override(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                               const auth_obo_srv_cfg *main_sc)
{
    const char *src = sc->jwks_file ? sc->jwks_file : sc->jwks_url;

    if (sc->metadata_url && src
        && (!s->is_virtual || sc->jwks_file != main_sc->jwks_file
            || sc->jwks_url != main_sc->jwks_url)) {
        check_warn(p, s, "OBO479: the primary provider's keys come from %s, not from the "
                   "jwks_uri of its discovery document %s (%s): an OBOJWKSURL/OBOJWKSFile line "
                   "without issuers replaces them. If that line is a partner's, name its "
                   "issuers on it (an issuer from an empty variable leaves none)",
                   obo_url_shown(p, src), obo_url_shown(p, sc->metadata_url),
                   server_level(p, s));
    }
}

static int check_issuers_unique(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc)
{
    apr_hash_t *seen = apr_hash_make(p);
    const char *primary = sc->metadata_url ? sc->metadata_url
                          : sc->jwks_url ? sc->jwks_url : sc->jwks_file;
    int i, ok = !primary || note_issuers(p, s, seen, sc->issuers, primary);

    for (i = 0; ok && sc->more_idps && i < sc->more_idps->nelts; i++) {
        const auth_obo_idp *idp = &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp);

        ok = note_issuers(p, s, seen, idp->issuers, idp->metadata_url ? idp->metadata_url
                          : idp->jwks_url ? idp->jwks_url : idp->jwks_file);
    }
    return ok;
}

/* Is d in server s's own list (a <VirtualHost> of s, or none for the main
 * server)? */
static int in_server(const ap_directive_t *d, const server_rec *s)
{
    for (d = d->parent; d && !is_directive(d, "<VirtualHost"); d = d->parent) {
    }
    return s->is_virtual ? d && s->defn_name && s->defn_line_number == (unsigned)d->line_num
                           && !strcmp(s->defn_name, d->filename)
                         : !d;
}

/* The provider line whose first argument is url, s's own first, else any. */
static const ap_directive_t *provider_line(apr_pool_t *p, const ap_directive_t *d,
                                           const server_rec *s, const char *url,
                                           const ap_directive_t **any)
{
    const ap_directive_t *hit = NULL;

    for (; d && !hit; d = d->next) {
        const char *args = d->args ? d->args : "";

        if ((is_directive(d, "OBOMetadataURL") || is_directive(d, "OBOJWKSURL")
             || is_directive(d, "OBOJWKSFile")) && !strcmp(ap_getword_conf(p, &args), url)) {
            *any = *any ? *any : d;
            hit = in_server(d, s) ? d : NULL;
        }
        hit = hit ? hit : provider_line(p, d->first_child, s, url, any);
    }
    return hit;
}

/* url for OBO475: without its query, so with the line that writes it, which
 * tells two B2C policies' URLs apart (review 40B-F4). */
static const char *url_named(apr_pool_t *p, const server_rec *s, const char *url)
{
    const ap_directive_t *any = NULL, *d = provider_line(p, ap_conftree, s, url, &any);

    d = d ? d : any;
    return d ? apr_psprintf(p, "%s (%s)", obo_url_shown(p, url), where(p, d))
             : obo_url_shown(p, url);
}

/* The issuer a discovery URL names (the URL without the well-known suffix)
 * is a provider's claim, after its written ones. Where it equals
 * an issuer another provider claims, one of them never sees its tokens:
 * a written issuer selects first, else the first provider. Only a warning:
 * the document may name another issuer (OBO475). A provider with written
 * issuers is selected by them first: its derived claim losing does not
 * hurt it, so it is kept quiet (review 40B-F4; the claim itself stays,
 * review 39A-F11). */
static void note_url_issuer(apr_pool_t *p, server_rec *s, apr_hash_t *seen, const char *url,
                            const apr_array_header_t *written)
{
    apr_array_header_t *a = apr_array_make(p, 2, sizeof(const char *));
    const char *iss, *other;

    obo_provider_url_issuers(p, url, a);
    if (a->nelts == 0) {
        return;
    }
    iss = APR_ARRAY_IDX(a, 0, const char *);
    other = apr_hash_get(seen, iss, APR_HASH_KEY_STRING);
    if (other && strcmp(other, url) != 0) {
        if (!written || written->nelts == 0) {
            const char *them = url_named(p, s, other);

            check_warn(p, s, "OBO475: the discovery URL %s names the issuer %s, which %s is "
                       "configured for too: tokens of that issuer select %s only (%s)",
                       url_named(p, s, url), iss, them, them, server_level(p, s));
        }
        return;
    }
    apr_hash_set(seen, iss, APR_HASH_KEY_STRING, url);
}

static void warn_url_issuers(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc)
{
    apr_hash_t *seen = apr_hash_make(p);
    int i;

    /* Written issuers first: they select before any derived one. */
    note_issuers_quiet(seen, sc->issuers, sc->metadata_url ? sc->metadata_url
                       : sc->jwks_url ? sc->jwks_url : sc->jwks_file);
    for (i = 0; sc->more_idps && i < sc->more_idps->nelts; i++) {
        const auth_obo_idp *idp = &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp);
        note_issuers_quiet(seen, idp->issuers, idp->metadata_url ? idp->metadata_url
                           : idp->jwks_url ? idp->jwks_url : idp->jwks_file);
    }
    if (sc->metadata_url) {
        note_url_issuer(p, s, seen, sc->metadata_url, sc->issuers);
    }
    for (i = 0; sc->more_idps && i < sc->more_idps->nelts; i++) {
        const auth_obo_idp *idp = &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp);
        if (idp->metadata_url) {
            note_url_issuer(p, s, seen, idp->metadata_url, idp->issuers);
        }
    }
}

/* Some provider of the server has a discovery document (a token endpoint). */
static int any_discovery(const auth_obo_srv_cfg *sc)
{
    int i;

    for (i = 0; !sc->metadata_url && sc->more_idps && i < sc->more_idps->nelts; i++) {
        if (APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp).metadata_url) {
            return 1;
        }
    }
    return sc->metadata_url != NULL;
}

static int check_section(apr_pool_t *p, server_rec *s, auth_obo_srv_cfg *sc,
                         const auth_obo_dir_cfg *d, const char *name, const char *at)
{
    const char *in = name ? apr_psprintf(p, "in %s at %s", name, at) : server_level(p, s);
    const char *err;

    /* OBOLongRunning counts for the cache-size warning (OBO195) wherever it is on */
    sc->uses_sessions |= d->long_running == 1;
    if (!d->downstreams || d->downstreams->nelts == 0) {
        return 1;
    }
    sc->uses_exchange = 1;
    if (!check_opaque_exchange(p, s, sc, d, name, in)) {
        return 0;
    }
    if ((err = check_downstreams(p, sc, d)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO062: %s (%s)", err, in);
        return 0;
    }
    if (auth_obo_has_app(d) && auth_obo_ival(d->long_running,
                                              auth_obo_ival(sc->defaults->long_running, 0))) {
        /* A main-server section's app downstream with a host's server-level
         * on: the host's <Location> merged later may turn it off (review
         * 35 F6), so said; otherwise refused. */
        if (d->long_running == AUTH_OBO_UNSET && inherited_in_host(s, d)) {
            check_warn(p, s, "OBO452: OBOLongRunning on (%s) seems to apply to an app "
                       "downstream (OBOScope ... app) %s: where both apply, requests answer "
                       "500 (OBO454); set OBOLongRunning off there", server_level(p, s), in);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO451: OBOLongRunning on with an "
                         "app downstream (OBOScope ... app) %s: a session keeps a user's "
                         "refresh token, an application token needs none and is never part "
                         "of one; put the app downstream in a Location without "
                         "OBOLongRunning", in);
            return 0;
        }
    }
    warn_app_scopes(p, s, sc, d, in);
    warn_obo_audiences(p, s, sc, d, in);
    if (!sc->client_id) {
        err = "OBOScope/OBOPassToken need OBOClientID";
    }
    else if (!sc->client_secret && !sc->client_cert) {
        err = "OBOScope/OBOPassToken need OBOClientSecret or OBOClientCertificate";
    }
    else if (!sc->token_endpoint && !any_discovery(sc)) {
        /* OBOJWKSFile or OBOJWKSURL validate; nothing says where to exchange
         * (with another provider's discovery, OBO472 warns about the others) */
        err = "OBOScope/OBOPassToken need a token endpoint: OBOMetadataURL (discovery) or "
              "OBOTokenEndpoint";
    }
    if (err && !s->is_virtual && every_host(s, exchange_ready)) {
        /* the main server's section serves every virtual host, each with
         * credentials and a token endpoint of its own (per-site client
         * ids): said, not refused (review 35-F13) */
        check_warn(p, s, "OBO040: %s (%s) in the main server: the requests it answers "
                   "itself would get 500; every virtual host has its own", err, in);
        return 1;
    }
    if (err) {
        /* a host merging a main-server section: name the host, whose own
         * configuration is what lacks it (review 39B-F3) */
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO040: %s (%s%s)", err, in,
                     s->is_virtual && s->defn_name
                     ? apr_psprintf(p, ", for the requests of <VirtualHost> at %s:%u",
                                    s->defn_name, s->defn_line_number) : "");
        return 0;
    }
    return 1;
}

/* Every section of every kind that names a downstream, as noted when the
 * configuration was read (mod_auth_obo_config.c), and the server level.
 * OBOLongRunning anywhere needs a cache to keep its sessions in. */
static int check_sections(apr_pool_t *p, server_rec *s, auth_obo_srv_cfg *sc)
{
    const auth_obo_section *lr = NULL;
    int i, ok = check_section(p, s, sc, sc->defaults, NULL, NULL);

    for (i = 0; ok && sc->sections && i < sc->sections->nelts; i++) {
        const auth_obo_section *n = &APR_ARRAY_IDX(sc->sections, i, auth_obo_section);

        ok = check_section(p, s, sc, n->d, n->name, n->where);
        lr = !lr && auth_obo_ival(n->d->long_running, 0) ? n : lr;
    }
    if (ok && (lr || auth_obo_ival(sc->defaults->long_running, 0)) && !has_cache(sc)
        && !s->is_virtual && every_host(s, has_cache)) {
        check_warn(p, s, "OBO066: OBOLongRunning on (%s%s%s) in the main server, which has "
                   "OBOCache none: the requests it answers itself would get 500; every "
                   "virtual host has a cache of its own", lr ? lr->name : server_level(p, s),
                   lr ? " at " : "", lr ? lr->where : "");
    }
    else if (ok && (lr || auth_obo_ival(sc->defaults->long_running, 0)) && !has_cache(sc)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO066: OBOLongRunning on (%s%s%s) "
                     "needs a cache to keep its sessions in: OBOCache shm or memcached, "
                     "not OBOCache none", lr ? lr->name : server_level(p, s),
                     lr ? " at " : "", lr ? lr->where : "");
        ok = 0;
    }
    return ok;
}

/* What a server's client method or memcached lacks, judged only where the
 * server uses them (review 36B-F9: a server-wide OBOClientAuth or OBOCache
 * memcached meant for the sites, each with its own secret, was refused
 * because the main server, which exchanges nothing, lacked the secret). */
static const char *client_lacks(const auth_obo_srv_cfg *sc)
{
    int client = sc->uses_exchange || sc->introspects;

    if (client && sc->client_auth == OBO_AUTH_PRIVATE_KEY_JWT && !sc->client_cert) {
        return "OBOClientAuth private_key_jwt needs OBOClientCertificate";
    }
    if (client && (sc->client_auth == OBO_AUTH_SECRET_POST
                   || sc->client_auth == OBO_AUTH_SECRET_BASIC) && !sc->client_secret) {
        return "OBOClientAuth client_secret_* needs OBOClientSecret";
    }
    if ((client || sc->uses_sessions || sc->uses_dpop)
        && sc->cache_type == CACHE_MEMCACHED && !sc->cache_secret) {
        return "OBOCache memcached needs OBOCacheSecret (values shared between servers "
               "must be encrypted under a key they share)";
    }
    return NULL;
}

static int client_ready(const auth_obo_srv_cfg *sc)
{
    return client_lacks(sc) == NULL;
}

/* After the sections and handlers: they say whether a server exchanges,
 * keeps sessions or introspects. */
static int check_client(apr_pool_t *p, server_rec *s)
{
    const char *err = client_lacks(ap_get_module_config(s->module_config, &auth_obo_module));

    if (err && !s->is_virtual && every_host(s, client_ready)) {
        check_warn(p, s, "OBO040: %s (%s) in the main server: the requests it answers itself "
                   "would fail; every virtual host has what it needs", err,
                   server_level(p, s));
        return 1;
    }
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO040: %s (%s)", err, server_level(p, s));
    }
    return err == NULL;
}

static int check_server(apr_pool_t *ptemp, server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);

    sc->uses_exchange = 0;
    sc->uses_sessions = 0;
    return check_introspection(ptemp, s, sc) && check_sections(ptemp, s, sc);
}

/* The file is owned by httpd's User (not root): the children, and every
 * CGI they run, can read it, or write and chmod it, whatever its mode. */
static int owned_by_user(const apr_finfo_t *fi)
{
    return geteuid() == 0 && ap_unixd_config.user_id != 0
           && fi->user == ap_unixd_config.user_id;
}

/* A secret or private key file that other users can read is one local
 * account away from a stolen client identity or readable cache. A warning,
 * not an error: a group-readable key can be deliberate (a dedicated group
 * such as Debian's ssl-cert). Once per file and directive. */
static void warn_if_exposed(apr_pool_t *p, server_rec *s, apr_hash_t *seen,
                            const char *msgid, const char *directive, const char *path)
{
    const char *id = path ? apr_pstrcat(p, directive, " ", path, NULL) : NULL;
    apr_finfo_t fi;

    if (!id || apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
        return;
    }
    apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
    if (apr_stat(&fi, path, APR_FINFO_PROT | APR_FINFO_OWNER, p) != APR_SUCCESS) {
        return;
    }
    if (owned_by_user(&fi)) {
        /* its owner reads it whatever the mode: the children, and every
         * CGI or script they run (review 30B) */
        check_warn(p, s, "%s: %s file %s is owned by %s, the User httpd's children and "
                     "their CGIs run as: they can read it; make it owned by root "
                     "(chown root: %s; chmod 600 %s)", msgid, directive, path,
                     ap_unixd_config.user_name, path, path);
    }
    else if (fi.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD)) {
        /* apr_fileperms_t keeps the Unix bits one per hex digit. */
        check_warn(p, s, "%s: %s file %s is readable by %s "
                     "(mode 0%03x): make it readable by its owner only (chmod 600)",
                     msgid, directive, path,
                     (fi.protection & APR_FPROT_WREAD) ? "every local user" : "its group",
                     (unsigned)(fi.protection & 0x777));
    }
}

/* A trust anchor the children read (the JWKS file, re-read at each refresh
 * and unknown kid; the CA file of the IdP's TLS) that others can write:
 * whoever writes it (a CGI running as the User, another local account)
 * adds a key and mints tokens for any user, or stands in for the IdP
 * (review 28A). Its directory too: a writable one lets the file be
 * replaced. */
static void warn_if_writable(apr_pool_t *p, server_rec *s, apr_hash_t *seen,
                             const char *directive, const char *path)
{
    const char *id = path ? apr_pstrcat(p, "w ", directive, " ", path, NULL) : NULL;
    const char *what[2];
    apr_finfo_t fi;
    int i;

    if (!id || apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
        return;
    }
    apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
    what[0] = path;
    what[1] = ap_make_dirstr_parent(p, path);
    for (i = 0; i < 2; i++) {
        if (apr_stat(&fi, what[i], APR_FINFO_PROT | APR_FINFO_TYPE | APR_FINFO_OWNER, p)
            != APR_SUCCESS) {
            continue;
        }
        if (owned_by_user(&fi)) {
            check_warn(p, s, "OBO102: %s %s %s is owned by %s, the User httpd's children "
                         "and their CGIs run as: whoever can write it decides which tokens "
                         "are valid; make it owned and writable by root only", directive,
                         i ? "directory" : "file", what[i], ap_unixd_config.user_name);
            continue;
        }
        if ((fi.protection & (APR_FPROT_GWRITE | APR_FPROT_WWRITE))
            /* in a sticky directory (/tmp) others cannot replace the file */
            && !(i == 1 && (fi.protection & APR_FPROT_WSTICKY))) {
            check_warn(p, s, "OBO102: %s %s %s is writable by %s "
                         "(mode 0%03x): whoever can write it decides which tokens are valid; "
                         "make it writable by root only", directive, i ? "directory" : "file",
                         what[i], (fi.protection & APR_FPROT_WWRITE) ? "every local user"
                                                                    : "its group",
                         (unsigned)(fi.protection & 0x777));
        }
    }
}

/* "OBOClientSecret /etc/apache2/secret" sends the path as the secret: the
 * IdP then answers invalid_client. Warned when the value is the path of an
 * existing file (the value itself is never logged then, only the hint). */
static void warn_if_path(apr_pool_t *p, server_rec *s, const char *directive,
                         const char *value, apr_size_t len, const char *file)
{
    apr_finfo_t fi;
    char *v;

    if (file || !value || len == 0 || len > 1024 || value[0] != '/') {
        return;
    }
    v = apr_pstrndup(p, value, len);
    if (strlen(v) == len && apr_stat(&fi, v, APR_FINFO_TYPE, p) == APR_SUCCESS
        && fi.filetype == APR_REG) {
        check_warn(p, s, "OBO123: the value of %s is the path "
                     "of a file, used as the secret itself: write file:%s to read the "
                     "secret from the file", directive, v);
    }
}

static void warn_exposed_secrets(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(s->module_config,
                                                           &auth_obo_module);
    int i;

    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        /* once: virtual hosts inherit the main server's value */
        if (!s->is_virtual || sc->client_secret != main_sc->client_secret) {
            warn_if_path(ptemp, s, "OBOClientSecret", sc->client_secret,
                         sc->client_secret ? strlen(sc->client_secret) : 0,
                         sc->client_secret_file);
        }
        warn_if_exposed(ptemp, s, seen, "OBO100", "OBOClientSecret", sc->client_secret_file);
        warn_if_exposed(ptemp, s, seen, "OBO100", "OBOCacheSecret", sc->cache_secret_file);
        warn_if_exposed(ptemp, s, seen, "OBO101", "OBOClientCertificate private key",
                        sc->client_key);
        warn_if_writable(ptemp, s, seen, "OBOJWKSFile", sc->jwks_file);
        warn_if_writable(ptemp, s, seen, "OBOCACertificateFile", sc->ca_file);
        for (i = 0; sc->more_idps && i < sc->more_idps->nelts; i++) {
            warn_if_writable(ptemp, s, seen, "OBOJWKSFile",
                             APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp).jwks_file);
        }
    }
}

/* ---- files the server must be able to read ---------------------------------
 * check_file (configuration) only sees that a file exists. Startup (root)
 * reads the client certificate and key; the children, as the User, read
 * OBOCACertificateFile and OBOJWKSFile on requests: a file they cannot read
 * would only show as 503s. configtest runs these checks too. */

/* 0 if the file opens for reading, else the errno. Without blocking: a
 * FIFO put there since the configuration was read must not hang the start
 * (review 36A-F2); check_contents then refuses it. */
static int open_errno(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        return errno;
    }
    close(fd);
    return 0;
}

/* The errno of opening path as the children's user: a forked process takes
 * that identity (groups included) when the parent runs as root. -1 if that
 * cannot be tried. */
static int open_errno_as_user(const char *path)
{
    int fds[2], e = -1;
    pid_t pid;

    if (geteuid() != 0 || ap_unixd_config.user_id == 0) {
        return open_errno(path);
    }
    if (pipe(fds) != 0) {
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        e = (setgid(ap_unixd_config.group_id) != 0
             || initgroups(ap_unixd_config.user_name, ap_unixd_config.group_id) != 0
             || setuid(ap_unixd_config.user_id) != 0) ? -1 : open_errno(path);
        if (write(fds[1], &e, sizeof(e)) != (ssize_t)sizeof(e)) {
            _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], &e, sizeof(e)) != (ssize_t)sizeof(e)) {
        e = -1;
    }
    close(fds[0]);
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return e;
}

static const char *user_name(apr_pool_t *p, uid_t uid)
{
    struct passwd *pw = getpwuid(uid);

    return pw ? apr_pstrdup(p, pw->pw_name) : apr_psprintf(p, "uid %ld", (long)uid);
}

/* Once per file and directive; 0 (and an error logged) if unreadable. */
static int check_readable(apr_pool_t *p, server_rec *s, apr_hash_t *seen,
                          const char *directive, const char *path, int by_children)
{
    const char *id = path ? apr_pstrcat(p, directive, " ", path, NULL) : NULL;
    int as_user = by_children && geteuid() == 0 && ap_unixd_config.user_id != 0;
    int e;

    if (!id || apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
        return 1;
    }
    apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
    e = by_children ? open_errno_as_user(path) : open_errno(path);
    if (e <= 0) {
        return 1;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO120: %s %s cannot be read by user %s "
                 "(%s): %s (errno %d); make it readable by that user%s", directive, path,
                 as_user ? ap_unixd_config.user_name : user_name(p, geteuid()),
                 by_children ? (as_user ? "the User httpd's children run as"
                                        : "the user httpd runs as")
                             : "httpd reads it at startup",
                 strerror(e), e, as_user ? ", not its owner (root-owned, in that user's "
                                           "group, chmod 640)" : "");
    return 0;
}

/* The JWKS files of the further providers (OBOJWKSFile path issuer...). */
static int check_more_jwks(apr_pool_t *ptemp, server_rec *s, apr_hash_t *seen,
                           const auth_obo_srv_cfg *sc,
                           int (*check)(apr_pool_t *, server_rec *, apr_hash_t *, const char *))
{
    int i, ok = 1;

    for (i = 0; sc->more_idps && i < sc->more_idps->nelts; i++) {
        ok &= check(ptemp, s, seen, APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp).jwks_file);
    }
    return ok;
}

static int jwks_readable(apr_pool_t *ptemp, server_rec *s, apr_hash_t *seen,
                         const char *path)
{
    return check_readable(ptemp, s, seen, "OBOJWKSFile", path, 1);
}

static int check_files(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    int ok = 1;

    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        if (auth_obo_has_idp(sc) || sc->uses_exchange) {
            ok &= check_readable(ptemp, s, seen, "OBOCACertificateFile", sc->ca_file, 1);
        }
        if (auth_obo_has_idp(sc)) {
            ok &= check_readable(ptemp, s, seen, "OBOJWKSFile", sc->jwks_file, 1);
            ok &= check_more_jwks(ptemp, s, seen, sc, jwks_readable);
        }
        if (sc->uses_exchange || sc->introspects) {
            ok &= check_readable(ptemp, s, seen, "OBOClientCertificate", sc->client_cert, 0);
            ok &= check_readable(ptemp, s, seen, "OBOClientCertificate key", sc->client_key, 0);
        }
    }
    return ok;
}

/* Files that open but can never work: a CA file with no PEM certificate (a
 * TLS handshake to the IdP needs one: every request would answer 503) and
 * a JWKS file that is not JSON, not a JWKS or has no usable key (no token
 * could ever validate). Read with the core's own loaders, once per file,
 * at configtest and startup alike; after check_files, so an unreadable
 * file is reported as that (OBO120). */
static int check_ca_file(apr_pool_t *p, server_rec *s, apr_hash_t *seen, const char *path)
{
    const char *id = path ? apr_pstrcat(p, "ca ", path, NULL) : NULL, *err = NULL;
    int n = 0;
    apr_status_t rv;

    if (!id || apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
        return 1;
    }
    apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
    rv = obo_http_check_ca_file(p, path, &n, &err);
    if (rv == APR_SUCCESS) {
        return 1;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO124: OBOCACertificateFile %s holds no "
                 "usable CA certificate: %s; TLS to the identity provider would fail on "
                 "every request. Give a PEM file of the CA certificates that issued the "
                 "IdP's certificate", path, err);
    return 0;
}

static int check_jwks_file(apr_pool_t *p, server_rec *s, apr_hash_t *seen, const char *path)
{
    const char *id = path ? apr_pstrcat(p, "jwks ", path, NULL) : NULL, *err = NULL;
    int n = 0;
    apr_status_t rv;

    if (!id || apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
        return 1;
    }
    apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
    rv = obo_provider_check_jwks_file(p, path, &n, &err);
    if (rv == APR_SUCCESS) {
        return 1;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO125: OBOJWKSFile %s is not a usable key "
                 "set: %s; no token could validate. Give a JWKS document {\"keys\":[...]} "
                 "with at least one public RSA, EC or OKP signing key", path, err);
    return 0;
}

static int check_contents(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    int ok = 1;

    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        if (auth_obo_has_idp(sc) || sc->uses_exchange) {
            ok &= check_ca_file(ptemp, s, seen, sc->ca_file);
        }
        if (auth_obo_has_idp(sc)) {
            ok &= check_jwks_file(ptemp, s, seen, sc->jwks_file);
            ok &= check_more_jwks(ptemp, s, seen, sc, check_jwks_file);
        }
    }
    return ok;
}

/* Every configured client certificate and key is loaded here, at configtest
 * and at startup alike, and a key that is encrypted, not PEM or not the
 * certificate's stops both (OBO044): on Debian a reload runs configtest, then
 * a graceful restart that would stop the server. Loaded into ptemp, once per
 * pair, whether or not a section exchanges yet. */
static int check_keys(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);

    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        obo_client c;
        const char *id, *err = NULL;
        apr_status_t rv;

        /* also where nothing exchanges yet: a pair staged before the first
         * OBOScope must not pass here and fail at the reload that adds it */
        if (!sc->client_cert) {
            continue;
        }
        id = apr_pstrcat(ptemp, sc->client_cert, "\n", sc->client_key, NULL);
        if (apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
        memset(&c, 0, sizeof(c));
        rv = obo_client_load_certificate(ptemp, sc->client_cert, sc->client_key, &c, &err);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "OBO044: OBOClientCertificate: %s",
                         err);
            return 0;
        }
    }
    return 1;
}

/* ---- SetHandler obo-token where the module authenticates users --------------
 * The token handler answers with a session's downstream token: in a section
 * that also has AuthType obo or OBOLongRunning on, the end user's own request
 * there would be answered (the fixups just put the key in its headers). The
 * sections that apply to a handler are read from the tree, as above: its own
 * and enclosing sections (with their <If>, <Limit>...), the server level,
 * and the <Location>/<LocationMatch> (or <Directory>/<DirectoryMatch>) of the
 * same server or the main server whose space overlaps its own (a path prefix
 * either way; a regex that matches the other's path; two equal regexes).
 * What it cannot see (.htaccess, mod_rewrite's H=, a URL mapped onto a
 * <Directory>) the handler refuses at run time (OBO191). */

/* Which of AuthType and OBOLongRunning a section closer to the handler set
 * itself: httpd's merge gives the handler that value, so an outer or
 * earlier-merged AuthType obo / OBOLongRunning on no longer applies there
 * (review 36B-F12: a handler's own "OBOLongRunning off" or "AuthType None"
 * was ignored and a working configuration refused). */
#define SET_AUTHTYPE 1
#define SET_LONG_RUNNING 2

static int set_in_list(const ap_directive_t *d)
{
    int set = 0;

    for (; d; d = d->next) {
        set |= is_directive(d, "AuthType") ? SET_AUTHTYPE : 0;
        set |= is_directive(d, "OBOLongRunning") ? SET_LONG_RUNNING : 0;
    }
    return set;
}

/* AuthType obo or OBOLongRunning on in list d (or in <Limit>, <IfModule>...
 * inside it), leaving out what masked says a closer section set. An <If>
 * merges after every other section and its condition cannot be judged
 * here: conds 0 leaves <If> chains out (what startup refuses), conds 1
 * looks only inside them, never masked (what startup warns about; the
 * handler refuses such a request at run time, OBO191: reviews 37D-F4,
 * 38E-F3, 38F-F3). */
static const ap_directive_t *obo_in_list_masked(apr_pool_t *p, const ap_directive_t *d,
                                                int masked, int conds, int inside)
{
    const ap_directive_t *hit = NULL;

    for (; d && !hit; d = d->next) {
        const char *w = d->args ? ap_getword_conf(p, &(const char *){ d->args }) : "";
        if ((!conds || inside)
            && ((is_directive(d, "AuthType") && !strcasecmp(w, AUTH_OBO_TYPE)
                 && !(masked & SET_AUTHTYPE))
                || (is_directive(d, "OBOLongRunning") && !strcasecmp(w, "on")
                    && !(masked & SET_LONG_RUNNING)))) {
            hit = d;
        }
        /* <Proxy> applies to proxied requests only, never to a handler's */
        else if (d->first_child && !is_path_section(d) && !is_directive(d, "<Proxy")
                 && !is_directive(d, "<ProxyMatch") && (conds || !is_condition(d))) {
            hit = obo_in_list_masked(p, d->first_child, is_condition(d) ? 0 : masked, conds,
                                     inside || is_condition(d));
        }
    }
    return hit;
}


/* SetHandler or AddHandler naming obo-token, also inside an expression. */
/* httpd compares handler names without case: SetHandler OBO-Token is it. */
static int names_token_handler(const ap_directive_t *d)
{
    const char *at = d->args ? ap_strcasestr(d->args, "obo-token") : NULL;

    for (; at && (apr_isalnum(at[9]) || at[9] == '-' || at[9] == '_');
         at = ap_strcasestr(at + 9, "obo-token")) {
    }
    return (is_directive(d, "SetHandler") || is_directive(d, "AddHandler")) && at;
}

typedef struct space {
    int kind;               /* 1 <Location*>, 2 <Directory*>, 3 <Files*>, 0 none */
    const char *path;       /* the prefix, or the regex's text */
    ap_regex_t *re;         /* for <...Match> and "~" */
} space;

static space space_of(apr_pool_t *p, const ap_directive_t *sec)
{
    space sp = { 0, NULL, NULL };
    char *args = apr_pstrdup(p, sec && sec->args ? sec->args : "");
    const char *a = args, *w;
    apr_size_t n = strlen(args);
    int regex;

    if (!sec) {
        return sp;
    }
    sp.kind = is_directive(sec, "<Location") || is_directive(sec, "<LocationMatch") ? 1
              : is_directive(sec, "<Directory") || is_directive(sec, "<DirectoryMatch") ? 2
              : is_directive(sec, "<Files") || is_directive(sec, "<FilesMatch") ? 3 : 0;
    regex = is_directive(sec, "<LocationMatch") || is_directive(sec, "<DirectoryMatch")
            || is_directive(sec, "<FilesMatch");
    if (n && args[n - 1] == '>') {
        args[n - 1] = '\0';
    }
    w = ap_getword_conf(p, &a);
    if (!strcmp(w, "~")) {
        regex = 1;
        w = ap_getword_conf(p, &a);
    }
    sp.path = w;
    if (sp.kind && regex && (sp.re = ap_pregcomp(p, w, AP_REG_EXTENDED)) == NULL) {
        sp.kind = 0;
    }
    return sp;
}

/* The literal start of an anchored regex ("^/jobs/x" -> "/jobs/x"), or
 * NULL: every path it matches starts with it. */
static const char *regex_literal(apr_pool_t *p, const char *re)
{
    apr_size_t n;

    if (!re || re[0] != '^') {
        return NULL;
    }
    n = strcspn(re + 1, ".[]()*+?{}|\\$^");
    /* a quantifier binds to the last character: it is not certain */
    if (re[1 + n] && strchr("*?{", re[1 + n]) && n > 0) {
        n--;
    }
    return n > 1 ? apr_pstrmemdup(p, re + 1, n) : NULL;
}

/* The path a <LocationMatch ^literal...> section's URIs all start with, for
 * path_within(): ^/api also matches /apifoo, which <Location /api> does not
 * merge into (review 36B-F5). Where the regex may go on with anything but a
 * '/', a '*' stands for that: <Location /api> then does not count, while
 * <Location /> and, for ^/api/x, <Location /api> still do. */
static const char *regex_path(apr_pool_t *p, const char *re)
{
    const char *lit = regex_literal(p, re);
    apr_size_t n = lit ? strlen(lit) : 0;
    const char *rest = lit ? re + 1 + n : NULL;

    if (!lit || lit[n - 1] == '/' || !strcmp(rest, "$") || !strncmp(rest, "(/|$)", 5)
        || !strncmp(rest, "($|/)", 5)) {
        return lit;
    }
    return apr_pstrcat(p, lit, "*", NULL);
}

static int spaces_overlap(apr_pool_t *p, const space *a, const space *b)
{
    if (!a->kind || a->kind != b->kind) {
        return 0;
    }
    if (a->re && b->re) {
        return !strcmp(a->path, b->path);
    }
    if (a->re || b->re) {
        const space *r = a->re ? a : b, *q = a->re ? b : a;
        const char *lit = r->kind == 1 ? regex_literal(p, r->path) : NULL;

        /* It matches the prefix itself, or only paths under it. */
        return ap_regexec(r->re, q->path, 0, NULL, 0) == 0
               || (lit && path_within(lit, q->path));
    }
    return a->kind == 3 ? !strcmp(a->path, b->path)
                        : path_within(a->path, b->path) || path_within(b->path, a->path);
}

/* The path every URL of a <Location> (its prefix) or an anchored
 * <LocationMatch> (its regex's literal start) begins with, or NULL: what
 * httpd's merge of the prefix <Location>s above it is judged by. */
static const char *section_path(apr_pool_t *p, const ap_directive_t *sec)
{
    const char *path = location_path(p, sec);
    space sp;

    if (!path && sec && (is_directive(sec, "<LocationMatch") || is_directive(sec, "<Location"))) {
        sp = space_of(p, sec);
        path = sp.kind == 1 && sp.re ? regex_path(p, sp.path) : NULL;
    }
    return path;
}

/* A section among list (a server's top level) that overlaps sp and has
 * AuthType obo or OBOLongRunning on; sp.kind 0 (the handler is set for a
 * whole server) overlaps every section. */
static const ap_directive_t *obo_overlapping(apr_pool_t *p, const ap_directive_t *list,
                                             const space *sp, const ap_directive_t *own,
                                             int masked, int conds)
{
    const ap_directive_t *hit = NULL;
    int after = 0;

    for (; list && !hit; list = list->next) {
        space q = space_of(p, list);
        /* a section after the handler's own in the same list merges after
         * it: what it sets wins over the handler's section */
        if (q.kind && list != own && (!sp->kind || spaces_overlap(p, sp, &q))) {
            hit = obo_in_list_masked(p, list->first_child, after ? 0 : masked, conds, 0);
        }
        after |= list == own;
    }
    return hit;
}

/* What any section of list (a virtual host's top level) over sp sets of
 * AuthType and OBOLongRunning: it merges after the handler's sections. */
static int set_over(apr_pool_t *p, const ap_directive_t *list, const space *sp)
{
    int set = 0;

    for (; list; list = list->next) {
        space q = space_of(p, list);
        if (q.kind && (!sp->kind || spaces_overlap(p, sp, &q))) {
            set |= set_in_list(list->first_child);
        }
    }
    return set;
}

/* What virtual host vh adds where a main-server handler (space sp, its
 * sections setting set) serves its requests: the host's sections merge
 * after the handler's, its server level before them (review 39B-F13: a
 * host-level OBOLongRunning on reached the handler, OBO191 at every call).
 * A host section over the handler that sets the same directive may mask
 * the server level: not sure, left out. */
static const ap_directive_t *obo_in_host(apr_pool_t *p, const ap_directive_t *vh,
                                         const space *sp, int set, int conds)
{
    const ap_directive_t *hit = obo_overlapping(p, vh->first_child, sp, NULL, 0, conds);

    return hit ? hit : obo_in_list_masked(p, vh->first_child,
                                          set | set_over(p, vh->first_child, sp), conds, 0);
}

/* The AuthType obo or OBOLongRunning on that applies where h sets the
 * handler, or NULL. */
static const ap_directive_t *obo_for_handler(apr_pool_t *p, const ap_directive_t *h, int conds)
{
    const ap_directive_t *s, *outer = NULL, *hit = NULL;
    int set = 0;
    space sp;

    for (s = h->parent; s && !is_directive(s, "<VirtualHost"); s = s->parent) {
        hit = hit ? hit : obo_in_list_masked(p, s->first_child, set, conds, 0);
        set |= set_in_list(s->first_child);
        outer = is_path_section(s) ? s : outer;
    }
    sp = space_of(p, outer);
    if (!hit && s) {            /* s: its virtual host; NULL: the main server */
        hit = obo_in_list_masked(p, s->first_child, set, conds, 0);
        hit = hit ? hit : obo_overlapping(p, s->first_child, &sp, outer, set, conds);
        set |= set_in_list(s->first_child);
    }
    if (!hit) {
        /* the main server's sections merge before a host's own */
        hit = obo_in_list_masked(p, ap_conftree, set, conds, 0);
        hit = hit ? hit : obo_overlapping(p, ap_conftree, &sp, s ? NULL : outer, set, conds);
    }
    /* A handler of the main server serves every virtual host too. */
    for (s = !hit && !s ? ap_conftree : NULL; s && !hit; s = s->next) {
        hit = is_directive(s, "<VirtualHost") ? obo_in_host(p, s, &sp, set, conds) : NULL;
    }
    return hit;
}

/* "<Location /x>" for a directive in that section, "server" at top level. */
static const char *section_name(apr_pool_t *p, const ap_directive_t *d)
{
    const ap_directive_t *sec = d->parent;

    return sec ? apr_pstrcat(p, sec->directive, " ", sec->args ? sec->args : ">", NULL)
               : "server";
}

/* 1 if a long-running section of sc is its own, not one of the main
 * server's sections that apply to its requests too. */
static int own_sessions(const auth_obo_srv_cfg *sc, const auth_obo_srv_cfg *main_sc)
{
    int i, j, inherited;

    for (i = 0; sc->sections && i < sc->sections->nelts; i++) {
        const auth_obo_section *a = &APR_ARRAY_IDX(sc->sections, i, auth_obo_section);

        inherited = 0;
        for (j = 0; main_sc->sections && j < main_sc->sections->nelts && !inherited; j++) {
            inherited = APR_ARRAY_IDX(main_sc->sections, j, auth_obo_section).d == a->d;
        }
        if (!inherited && a->d->long_running == 1) {
            return 1;
        }
    }
    return 0;
}

/* A virtual host with directives of its own has an shm segment of its own:
 * the main server's long-running Locations open sessions there only for
 * requests that come to this host; those that come to the main server are
 * in the main server's segment, where this host's handler never looks
 * (review 28B: every key 404). It works for the one and not the other, so
 * it is said, not refused (review 29: refusing it stopped servers whose
 * sessions are all opened through the host). */
static void warn_handler_segment(apr_pool_t *p, server_rec *s, const auth_obo_srv_cfg *sc,
                                 const auth_obo_srv_cfg *main_sc, const ap_directive_t *h)
{
    if (auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_SHM && sc != main_sc
        && !own_sessions(sc, main_sc)) {
        check_warn(p, s, "OBO198: %s %s (%s, %s) serves a virtual host whose shm cache is its "
                   "own: it finds the sessions opened through this virtual host's requests "
                   "only, not those the main server or other hosts open; share OBOCache "
                   "memcached if backends bring it those", h->directive, h->args,
                   section_name(p, h), where(p, h));
    }
}

/* The mirror of OBO198 (review 36B-F15): a handler reading the shm segment
 * of sc, where a host with a segment of its own opens sessions (its own
 * long-running Locations, or the main server's serving its requests): their
 * keys are in that host's segment, and this handler answers 404 to every
 * one. Said, not refused: sessions opened through the handler's own
 * servers work. Once per handler and segment. */
static void warn_handler_readers(apr_pool_t *p, server_rec *main_s, const auth_obo_srv_cfg *sc,
                                 const ap_directive_t *h)
{
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);
    const char *seen = apr_psprintf(p, "obo181:%pp:%pp", (void *)h, (void *)sc);
    void *done = NULL;
    server_rec *o;

    /* Only the main server's segment, read by a handler of a server without
     * directives of its own, misses the sessions the main server's
     * long-running sections open in a host's own segment; a host's own
     * sessions are its own handler's business. */
    apr_pool_userdata_get(&done, seen, p);
    for (o = main_s->next; o && !done && sc == main_sc && main_sc->uses_sessions
                           && auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_SHM;
         o = o->next) {
        const auth_obo_srv_cfg *oc = ap_get_module_config(o->module_config, &auth_obo_module);

        if (oc != main_sc && oc->uses_sessions && !own_sessions(oc, main_sc)
            && auth_obo_ival(oc->cache_type, CACHE_SHM) == CACHE_SHM) {
            check_warn(p, o, "OBO181: %s %s (%s, %s) reads the shm cache of the servers it "
                       "serves, but %s %s:%u keeps the long-running sessions of its "
                       "requests in a segment of its own: their keys answer 404 there; share "
                       "OBOCache memcached, or serve the handler from that host",
                       h->directive, h->args, section_name(p, h), where(p, h),
                       o->is_virtual ? "virtual host" : "the main server",
                       o->server_hostname ? o->server_hostname : "-",
                       o->addrs ? o->addrs->host_port : 0);
            apr_pool_userdata_setn("1", seen, NULL, p);
            done = "1";
        }
    }
}

/* Whether two servers share one memcached session store: the same server
 * list and the same secret (entries are named and sealed under it). */
static int same_store(const auth_obo_srv_cfg *a, const auth_obo_srv_cfg *b)
{
    return a->cache_servers && b->cache_servers && !strcmp(a->cache_servers, b->cache_servers)
           && a->cache_secret_len == b->cache_secret_len
           && (!a->cache_secret_len
               || !memcmp(a->cache_secret, b->cache_secret, a->cache_secret_len));
}

/* A handler on memcached where every server of this configuration that
 * opens sessions keeps them in another store (another secret, another
 * server list): it answers 404 to every key they hand out, which tells the
 * backends the sessions ended (review 33B-F8). Said, not refused: other
 * httpd instances may open sessions in its store. */
static void warn_handler_store(apr_pool_t *p, server_rec *main_s, server_rec *s,
                               const auth_obo_srv_cfg *sc, const ap_directive_t *h)
{
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);
    server_rec *o;
    int openers = 0, shared = 0;

    /* A host opens sessions of its own through sections that are its own
     * (the main server's serve it too, but its backends get their keys
     * from the main server's requests, review 28B) */
    if (auth_obo_ival(sc->cache_type, CACHE_SHM) != CACHE_MEMCACHED
        || (sc == main_sc ? sc->uses_sessions : own_sessions(sc, main_sc))) {
        return;
    }
    for (o = main_s; o && !shared; o = o->next) {
        const auth_obo_srv_cfg *oc = ap_get_module_config(o->module_config, &auth_obo_module);
        if (oc == sc) {
            continue;
        }
        if (oc == main_sc ? oc->uses_sessions : own_sessions(oc, main_sc)) {
            openers++;
            shared = auth_obo_ival(oc->cache_type, CACHE_SHM) == CACHE_MEMCACHED
                     && same_store(sc, oc);
        }
    }
    if (openers && !shared) {
        check_warn(p, s, "OBO194: %s %s (%s, %s) reads sessions from a memcached store (server "
                   "list and OBOCacheSecret) that no server of this configuration opening "
                   "long-running sessions uses: it answers 404 to their keys; give it the "
                   "same OBOCache and OBOCacheSecret", h->directive, h->args,
                   section_name(p, h), where(p, h));
    }
}

/* What a server serving the handler lacks, or NULL: the handler reads
 * sessions with the server's client id and credentials (a refresh) from
 * its cache. */
static const char *handler_lacks(const auth_obo_srv_cfg *sc)
{
    if (!sc->client_id) {
        return "OBOClientID";
    }
    if (!sc->client_secret && !sc->client_cert) {
        return "OBOClientSecret or OBOClientCertificate";
    }
    if (auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_NONE) {
        return "a cache holding the sessions (OBOCache shm or memcached, not none)";
    }
    /* Each server has an shm cache of its own: a server that opens no
     * session can find none there. */
    if (auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_SHM && !sc->uses_sessions) {
        return "OBOCache memcached, shared with the servers that open the sessions (an shm "
               "cache is per virtual host, and this server has no OBOLongRunning Location)";
    }
    return NULL;
}

static int handler_ready(const auth_obo_srv_cfg *sc)
{
    return handler_lacks(sc) == NULL;
}

/* The servers where handler h applies (its virtual host, or every server
 * for one outside any) get a client and a cache as if they exchanged; one
 * that cannot would answer 500 (OBO136) to every request: refused here. */
static int check_handler_servers(apr_pool_t *p, server_rec *main_s, const ap_directive_t *h)
{
    const ap_directive_t *vh = h->parent;
    server_rec *s = server_of(main_s, h);
    const char *lacks;

    for (; vh && !is_directive(vh, "<VirtualHost"); vh = vh->parent) {
    }
    for (s = vh ? s : main_s; s; s = vh ? NULL : s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);

        if ((lacks = handler_lacks(sc)) != NULL && !vh && s == main_s
            && every_host(main_s, handler_ready)) {
            check_warn(p, s, "OBO193: %s %s (%s, %s) needs %s in the main server: the "
                       "requests it answers itself would get 500; every virtual host has "
                       "them", h->directive, h->args, section_name(p, h), where(p, h), lacks);
            continue;
        }
        if (lacks != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO193: %s %s (%s, %s) needs %s "
                         "in the server%s it serves: it reads long-running sessions with "
                         "them", h->directive, h->args, section_name(p, h), where(p, h),
                         lacks, vh ? "" : "s (outside any virtual host: every server)");
            return 0;
        }
        warn_handler_segment(p, s, sc, ap_get_module_config(main_s->module_config,
                                                            &auth_obo_module), h);
        warn_handler_readers(p, main_s, sc, h);
        warn_handler_store(p, main_s, s, sc, h);
        sc->uses_exchange = 1;
    }
    return 1;
}

/* Some access rule in list d (Require, a <Require...> block, or the old
 * Allow/Deny of mod_access_compat). */
static int list_restricts(const ap_directive_t *d)
{
    int any = 0;

    for (; d && !any; d = d->next) {
        any = is_directive(d, "Require") || is_directive(d, "<RequireAll")
              || is_directive(d, "<RequireAny") || is_directive(d, "<RequireNone")
              || is_directive(d, "Allow") || is_directive(d, "Deny");
    }
    return any;
}

/* The handler gives a session's downstream token to whoever holds its key:
 * without a rule of its own (or of an enclosing section) it answers as far
 * as the <Directory> rules let anyone in (on Debian, /var/www grants all).
 * Said at each start (review 26); a rule in another, overlapping section
 * is not seen, hence a warning, not a refusal. */
static void warn_if_handler_open(apr_pool_t *p, server_rec *main_s, const ap_directive_t *h)
{
    const ap_directive_t *sec;

    for (sec = h->parent; sec && !is_directive(sec, "<VirtualHost"); sec = sec->parent) {
        if (list_restricts(sec->first_child)) {
            return;
        }
    }
    check_warn(p, main_s, "OBO197: %s %s (%s, %s) has no "
                 "Require of its own: anyone who holds a session key can fetch that "
                 "session's downstream tokens from anywhere the server's other rules let "
                 "in; restrict it to the backends (Require ip ..., Require local)",
                 h->directive, h->args, section_name(p, h), where(p, h));
}

static int check_token_handlers(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    int ok = 1;

    for (; d && ok; d = d->next) {
        const ap_directive_t *hit = names_token_handler(d) ? obo_for_handler(p, d, 0) : NULL;
        const ap_directive_t *maybe = names_token_handler(d) && !hit
                                      ? obo_for_handler(p, d, 1) : NULL;
        if (names_token_handler(d) && !hit) {
            ok = check_handler_servers(p, main_s, d);
            if (ok) {
                warn_if_handler_open(p, main_s, d);
            }
        }
        if (ok && maybe) {
            check_warn(p, main_s, "OBO192: %s %s (%s, %s) applies where %s %s (%s, %s) does if "
                       "that condition matches its requests: the handler then refuses them "
                       "(OBO191, 500); give the <If> a condition that leaves the handler's URL "
                       "out", d->directive, d->args, section_name(p, d), where(p, d),
                       maybe->directive, maybe->args, section_name(p, maybe), where(p, maybe));
        }
        if (hit) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, "OBO192: %s %s (%s, %s) "
                         "applies where %s %s (%s, %s) does: the end user's own request "
                         "would get the session's downstream token; give the handler a "
                         "Location of its own, without AuthType obo or OBOLongRunning",
                         d->directive, d->args, section_name(p, d), where(p, d),
                         hit->directive, hit->args, section_name(p, hit), where(p, hit));
            ok = 0;
        }
        if (ok && d->first_child) {
            ok = check_token_handlers(p, main_s, d->first_child);
        }
    }
    return ok;
}

/* post_config needs mod_socache_shmcb for the default cache; configtest does
 * not run post_config, so the same check is made here (a graceful restart
 * with a configuration that fails there stops the server). */
static int check_shm_provider(server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);

    if ((!sc->uses_exchange && !sc->introspects)
        || auth_obo_ival(sc->cache_type, CACHE_SHM) != CACHE_SHM
        || ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                              AP_SOCACHE_PROVIDER_VERSION)) {
        return 1;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO041: OBOCache shm (the default) needs "
                 "mod_socache_shmcb: a2enmod socache_shmcb, or LoadModule "
                 "socache_shmcb_module, or use OBOCache memcached or OBOCache none");
    return 0;
}

/* OBO195 where apachectl configtest shows it. A start logs it from
 * post_config (mod_auth_obo_process.c): a daemon's second configuration
 * pass runs this check with stderr already closed, before its error log. */
static void warn_session_room(server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);

    if (sc->uses_exchange && sc->uses_sessions
        && auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_SHM
        && ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST) {
        auth_obo_socache_check_sessions(s, sc);
    }
}

/* Its name and port as OBO189/OBO199 say them (a <VirtualHost *:443>'s
 * server port is 0: its address's). */
static const char *vhost_name(apr_pool_t *p, const server_rec *s)
{
    unsigned port = s->port ? s->port : s->addrs ? (unsigned)s->addrs->host_port : 0;

    return apr_psprintf(p, "%s:%u", s->server_hostname ? s->server_hostname : "", port);
}

/* The client authenticates with its secret (not a certificate). */
static int sends_secret(const auth_obo_srv_cfg *sc)
{
    return sc->client_secret && auth_obo_client_auth(sc) != OBO_AUTH_PRIVATE_KEY_JWT;
}

static int same_idp(const auth_obo_srv_cfg *a, const auth_obo_srv_cfg *b)
{
    return a->metadata_url == b->metadata_url && a->jwks_url == b->jwks_url
           && a->jwks_file == b->jwks_file && a->more_idps == b->more_idps;
}

/* Another server that sends these very credentials (inherited from the
 * main server, the same pointers) to an identity provider other than sc's. */
static int credentials_shared_elsewhere(server_rec *main_s, const auth_obo_srv_cfg *sc)
{
    const server_rec *t;
    const auth_obo_srv_cfg *tc;

    for (t = main_s; t; t = t->next) {
        tc = ap_get_module_config(t->module_config, &auth_obo_module);
        if (tc != sc && auth_obo_has_idp(tc) && (tc->uses_exchange || tc->introspects)
            && !same_idp(tc, sc)
            && ((tc->client_id == sc->client_id && tc->client_secret == sc->client_secret
                 && tc->client_key == sc->client_key)
                /* one server-wide secret, whatever the client ids (review 31) */
                || (sends_secret(sc) && sends_secret(tc)
                    && tc->client_secret == sc->client_secret))) {
            return 1;
        }
    }
    return 0;
}

/* A virtual host with an identity provider of its own but the main
 * server's client id and credentials sends them to its own IdP's token
 * endpoint: right for one registration used with several tenants (Entra
 * multi-tenant), a disclosure when that IdP is another party's (review 29).
 * Said, so that nobody does it without knowing: where the main server has
 * an IdP of its own, or where another virtual host sends the same
 * credentials to another IdP (review 30B: server-wide credentials and one
 * IdP per virtual host). */
static void warn_inherited_client(apr_pool_t *p, server_rec *s, server_rec *main_s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);

    int inherited = sc->client_secret == main_sc->client_secret
                    && sc->client_key == main_sc->client_key
                    && (sc->client_secret || sc->client_key);

    if (s->is_virtual && sc != main_sc && !same_idp(sc, main_sc) && inherited
        && (sc->uses_exchange || sc->introspects) && sc->client_id
        && ((sc->client_id == main_sc->client_id && auth_obo_has_idp(main_sc))
            || credentials_shared_elsewhere(main_s, sc))) {
        check_warn(p, s, "OBO199: virtual host %s has an identity provider of its own but "
                   "the main server's credentials (OBOClientSecret, OBOClientCertificate%s): "
                   "they are sent to its provider's token endpoint; set OBOClientID and its "
                   "credentials in the virtual host unless that provider is meant to have them",
                   vhost_name(p, s), sc->client_id == main_sc->client_id
                   ? " and OBOClientID" : "");
    }
}

/* A virtual host that names a client of its own (another OBOClientID) but
 * no secret would send the main server's client's OBOClientSecret as that
 * client's: never what was meant, and a disclosure when its IdP is another
 * party's (review 30B). A certificate may well be registered for both
 * clients (and a client assertion is no secret): not refused. */
static int check_inherited_secret(apr_pool_t *p, server_rec *s, server_rec *main_s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);

    /* the secret it would send is the main server's, for another client
     * (with a certificate, inherited or not, the secret is never sent:
     * review 31) */
    if (!s->is_virtual || sc == main_sc || !(sc->uses_exchange || sc->introspects)
        || !sc->client_id || !main_sc->client_id || !strcmp(sc->client_id, main_sc->client_id)
        || !main_sc->client_secret || sc->client_secret != main_sc->client_secret
        || !sends_secret(sc)) {
        return 1;
    }
    /* with a certificate of its own, the cause is the method it inherits
     * (review 36B-F13: the message asked for what was there) */
    if (sc->client_cert) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO189: virtual host %s sets its own "
                     "OBOClientID (%s) and OBOClientCertificate but inherits OBOClientAuth "
                     "client_secret_* from the main server: the main server's secret (of "
                     "client %s) would be sent as its secret; set OBOClientAuth "
                     "private_key_jwt in the virtual host, or its own OBOClientSecret",
                     vhost_name(p, s), sc->client_id, main_sc->client_id);
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO189: virtual host %s sets its own "
                 "OBOClientID (%s) but no OBOClientSecret or OBOClientCertificate: the main "
                 "server's secret (of client %s) would be sent as its secret; set the "
                 "client's own credentials in the virtual host", vhost_name(p, s),
                 sc->client_id, main_sc->client_id);
    return 0;
}

/* OBOLongRunning on where no section of the server names a downstream:
 * a session keeps a downstream's refresh token, so none is ever opened,
 * and the backend waits for a key that never comes (review 30B). The
 * main server's sections apply to its virtual hosts too. */
static void warn_idle_long_running(apr_pool_t *p, server_rec *s, server_rec *main_s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);

    const char *in = server_level(p, s);
    server_rec *o;
    int i, any = sc->uses_exchange || main_sc->uses_exchange;

    /* the main server's sections serve the virtual hosts too, whose own
     * downstreams may meet them (review 34B-F13) */
    for (o = sc == main_sc ? s->next : NULL; o && !any; o = o->next) {
        any = ((auth_obo_srv_cfg *)ap_get_module_config(o->module_config,
                                                        &auth_obo_module))->uses_exchange;
    }
    if (sc->uses_sessions && !any) {
        /* name the section that sets it (review 33B-F3) */
        for (i = 0; sc->sections && i < sc->sections->nelts; i++) {
            const auth_obo_section *n = &APR_ARRAY_IDX(sc->sections, i, auth_obo_section);
            if (n->d->long_running == 1) {
                in = apr_psprintf(p, "in %s at %s", n->name, n->where);
                break;
            }
        }
        check_warn(p, s, "OBO058: OBOLongRunning on (%s) but no OBOScope or "
                   "OBOExchangeAudience in this server: sessions are opened only where a "
                   "Location names a downstream, so none ever is", in);
    }
}

/* OBODPoP with OBOCache none: a proof's jti is remembered by the process
 * that took it, so the same proof sent again to another process passes
 * (RFC 9449 s.11.1 asks for one record across the resource server). */
static void warn_dpop_replay(apr_pool_t *p, server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);

    if (sc->uses_dpop && auth_obo_ival(sc->cache_type, CACHE_SHM) == CACHE_NONE) {
        check_warn(p, s, "OBO495: OBODPoP with OBOCache none: "
                     "each process remembers the DPoP proofs it took, and a proof replayed "
                     "to another process is accepted; use OBOCache shm (the default) or "
                     "memcached");
    }
}

/* OBODPoPNonce, OBODPoPWindow or OBODPoPURL where OBODPoP is off in the
 * whole server (and its main server): they do nothing, and an
 * administrator who set them believes proofs are checked. */
static void warn_dpop_unused(apr_pool_t *p, server_rec *s, server_rec *main_s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const auth_obo_srv_cfg *main_sc = ap_get_module_config(main_s->module_config,
                                                           &auth_obo_module);
    int used = sc->uses_dpop;
    server_rec *o;

    /* the main server's settings serve every virtual host: said only when
     * none takes DPoP; a host's own, when it does not (review 34B-F6) */
    if (sc == main_sc) {
        for (o = main_s; o && !used; o = o->next) {
            used = ((auth_obo_srv_cfg *)ap_get_module_config(o->module_config,
                                                             &auth_obo_module))->uses_dpop;
        }
    }
    else if (sc->dpop_tuned_at == main_sc->dpop_tuned_at) {
        return;     /* the main server's line, judged there */
    }
    if (sc->dpop_tuned_at && !used) {
        check_warn(p, s, "OBO496: %s has no effect: OBODPoP is off everywhere in %s, so no "
                   "DPoP proof is asked for or checked; set OBODPoP allowed or required "
                   "where DPoP is wanted", sc->dpop_tuned_at, server_level(p, s));
    }
}

/* OBOCertificateBound required refuses every token that is not bound to the
 * client certificate of the connection: without a TLS module no connection
 * has one, so every request would be refused (401). The certificate is read
 * with ap_ssl_var_lookup (SSL_CLIENT_CERT): mod_ssl answers it through its
 * optional function, mod_tls through the ssl_var_lookup hook. Seen at
 * configtest too. */
static int check_cert_required(server_rec *s)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    apr_array_header_t *tls = ap_hook_get_ssl_var_lookup();

    if (sc->cert_required_at && !ap_find_linked_module("mod_ssl.c")
        && (tls == NULL || tls->nelts == 0)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO481: OBOCertificateBound required "
                     "(%s) needs TLS client certificates, but no TLS module (mod_ssl or "
                     "mod_tls) is loaded: every token would be refused; load mod_ssl and set "
                     "SSLVerifyClient, or use OBOCertificateBound auto", sc->cert_required_at);
        return 0;
    }
    return 1;
}

/* Why dir cannot be trusted with the state, or NULL. The runtime directory
 * may be one other users can write to (a sticky 1777 folder), where they can
 * plant a link, a directory of their own or one they can write to before
 * httpd starts. So the directory is made 0700 if missing, then opened
 * without following a link and judged on the descriptor: a directory owned
 * by root or the user the children run as, that neither group nor others
 * can write to (refused, not repaired: what was planted in it stays), in a
 * parent that others cannot write to unless it is sticky. Ownership and mode
 * are set through the descriptor (fchown, fchmod), never through the name. */
const char *auth_obo_state_dir_trust(apr_pool_t *p, const char *dir, int probe)
{
    uid_t user = ap_unixd_config.user_id;
    const char *parent = ap_make_dirstr_parent(p, dir), *why = NULL;
    struct stat sb, up;
    int fd = (!probe && mkdir(dir, S_IRWXU) == 0) || errno == EEXIST || probe
             ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;

    if (fd < 0 && probe && errno == ENOENT) {
        return NULL;        /* a start will make it */
    }
    if (fd < 0) {
        why = errno == ELOOP || errno == ENOTDIR ? "it is a symbolic link or not a directory"
                                                 : strerror(errno);
    }
    else if (fstat(fd, &sb) != 0 || stat(parent, &up) != 0) {
        why = strerror(errno);
    }
    else if (sb.st_uid != 0 && sb.st_uid != user && sb.st_uid != geteuid()) {
        why = apr_psprintf(p, "it belongs to uid %lu, not to root or the httpd user",
                           (unsigned long)sb.st_uid);
    }
    else if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        why = apr_psprintf(p, "group or others can write to it (mode %04o)",
                           (unsigned)(sb.st_mode & 07777));
    }
    /* Whoever owns the parent, or may rename in it, can swap the directory
     * for another after this check: the children write into it later. */
    else if (up.st_uid != 0 && up.st_uid != user && up.st_uid != geteuid()) {
        why = apr_psprintf(p, "its parent %s belongs to uid %lu, not to root or the httpd "
                           "user", parent, (unsigned long)up.st_uid);
    }
    else if ((up.st_mode & (S_IWGRP | S_IWOTH)) && !(up.st_mode & S_ISVTX)) {
        why = apr_psprintf(p, "group or others can write to its parent %s, which is not "
                           "sticky", parent);
    }
    else if (!probe && ((geteuid() == 0 && fchown(fd, user, ap_unixd_config.group_id) != 0)
                        || fchmod(fd, S_IRWXU) != 0)) {
        why = strerror(errno);
    }
    if (fd >= 0) {
        close(fd);
    }
    return why;
}

/* OBO078 where apachectl configtest shows it (review 30A): a start logs it
 * as it sets the directory up (mod_auth_obo_process.c); here nothing is
 * made or changed. */
static void warn_state_dir(apr_pool_t *p, server_rec *s)
{
    const char *dir = NULL, *why;

    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST) {
        return;
    }
    dir = ap_runtime_dir_relative(p, AUTH_OBO_STATE_DIR_NAME);
    why = dir ? auth_obo_state_dir_trust(p, dir, 1) : "no runtime directory";
    if (why) {
        check_warn(p, s, "OBO078: state directory %s refused: %s; the module runs without the "
                   "IdP's last good keys (a new child or a restart will need the IdP). Remove "
                   "it: httpd creates it, mode 0700, owned by the user it runs as",
                   dir ? dir : "mod_auth_obo", why);
    }
}

/* A downstream named by OBOExchangeAudience alone (no OBOScope, not app),
 * or NULL. The same object where a virtual host inherits it. */
static const auth_obo_downstream *audience_only(const auth_obo_dir_cfg *d)
{
    int i;

    for (i = 0; d && d->downstreams && i < d->downstreams->nelts; i++) {
        const auth_obo_downstream *ds = APR_ARRAY_IDX(d->downstreams, i,
                                                      auth_obo_downstream *);
        if (!ds->app && ds->audiences && ds->audiences->nelts > 0 && ds->scopes->nelts == 0) {
            return ds;
        }
    }
    return NULL;
}

static void note_audience_only(apr_pool_t *p, apr_hash_t *seen, const char *key,
                               const char *in, int te)
{
    const char *was = apr_hash_get(seen, key, APR_HASH_KEY_STRING);

    if (!was || (te && *was == '0')) {
        apr_hash_set(seen, apr_pstrdup(p, key), APR_HASH_KEY_STRING,
                     apr_pstrcat(p, te ? "1" : "0", in, NULL));
    }
}

/* OBOExchangeAudience without OBOScope is a request for token exchange
 * (RFC 8693): under Entra's on-behalf-of grant it leaves no scope, and
 * every request makes an IdP call that fails (400, not remembered) and
 * answers 500. OBO059 warns of it wherever it appears; refused where no
 * server the section serves exchanges with token-exchange (review 33B-F17:
 * the warning said so, and configtest passed). */
static int check_audience_only(apr_pool_t *p, server_rec *main_s)
{
    apr_hash_t *seen = apr_hash_make(p);
    apr_hash_index_t *hi;
    server_rec *s;
    int i;

    for (s = main_s; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        int te = auth_obo_ival(sc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO;

        const auth_obo_downstream *ds = audience_only(sc->defaults);

        /* keyed by the downstream itself: a host's own server level is
         * judged by its own grant, one inherited from the main server by
         * every server it serves (review 34B-F1) */
        if (ds) {
            note_audience_only(p, seen, apr_psprintf(p, "%pp", (const void *)ds),
                               server_level(p, s), te);
        }
        for (i = 0; sc->sections && i < sc->sections->nelts; i++) {
            const auth_obo_section *n = &APR_ARRAY_IDX(sc->sections, i, auth_obo_section);
            if (audience_only(n->d)) {
                note_audience_only(p, seen, n->where, apr_psprintf(p, "in %s at %s", n->name,
                                                                   n->where), te);
            }
        }
    }
    /* Refused only where no server of the configuration uses token
     * exchange: which server serves which section is not sure from the
     * tree (review 35: a main-server default that every token-exchange
     * host replaces); elsewhere OBO059 warns. */
    for (s = main_s; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        if (auth_obo_ival(sc->exchange, OBO_GRANT_OBO) != OBO_GRANT_OBO) {
            return 1;
        }
    }
    for (hi = apr_hash_first(p, seen); hi; hi = apr_hash_next(hi)) {
        const char *v = apr_hash_this_val(hi);
        if (*v == '0') {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, "OBO049: OBOExchangeAudience "
                         "without OBOScope (%s) asks for token exchange (RFC 8693), but every "
                         "server it serves uses OBOExchange on-behalf-of (the default), which "
                         "takes a scope: every exchange would fail; add OBOScope, or set "
                         "OBOExchange token-exchange", v + 1);
            return 0;
        }
    }
    return 1;
}

/* ---- OBOAcceptIssuer values no provider is configured for ---------------- */

/* v matches template t ("...{tenantid}...", one path segment for it). */
static int template_matches(const char *t, const char *v)
{
    const char *at = strstr(t, "{tenantid}");
    apr_size_t pre = at ? (apr_size_t)(at - t) : 0, post = at ? strlen(at + 10) : 0;
    apr_size_t n = strlen(v);

    return at && n > pre + post && !strncmp(v, t, pre) && !strcmp(v + n - post, at + 10)
           && !memchr(v + pre, '/', n - pre - post);
}

static int claim_matches(const char *claim, const char *v)
{
    return !strcmp(claim, v) || template_matches(claim, v);
}

static int list_matches(const apr_array_header_t *a, const char *v)
{
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        if (claim_matches(APR_ARRAY_IDX(a, i, const char *), v)) {
            return 1;
        }
    }
    return 0;
}

/* v is what discovery URL u names (its exact form: OBOAcceptIssuer compares
 * exactly, so the final-'/' variant selection also tries does not count). */
static int url_names(apr_pool_t *p, const char *u, const char *v)
{
    apr_array_header_t *a = apr_array_make(p, 2, sizeof(const char *));

    obo_provider_url_issuers(p, u, a);
    return a->nelts > 0 && claim_matches(APR_ARRAY_IDX(a, 0, const char *), v);
}

/* Some provider of sc is configured for issuer v: written, or named by its
 * discovery URL. */
static int issuer_configured(apr_pool_t *p, const auth_obo_srv_cfg *sc, const char *v)
{
    int i, hit = list_matches(sc->issuers, v) || url_names(p, sc->metadata_url, v);

    for (i = 0; !hit && sc->more_idps && i < sc->more_idps->nelts; i++) {
        const auth_obo_idp *idp = &APR_ARRAY_IDX(sc->more_idps, i, auth_obo_idp);
        hit = list_matches(idp->issuers, v) || url_names(p, idp->metadata_url, v);
    }
    return hit;
}

/* The providers of host vs are its own (it names one), not the main's. */
static int own_providers(const auth_obo_srv_cfg *vsc, const auth_obo_srv_cfg *msc)
{
    return vsc->metadata_url != msc->metadata_url || vsc->jwks_url != msc->jwks_url
           || vsc->jwks_file != msc->jwks_file || vsc->more_idps != msc->more_idps;
}

/* One OBOAcceptIssuer line against server s's providers: each value no
 * provider of s is configured for admits nothing (a typo, or a host's own
 * providers under a main-server line: every token there is refused, review
 * 39B-F4, 39A-F5). Only said: a discovery document may name it (a B2C
 * provider whose issuer is not written). */
static void note_accept_values(apr_pool_t *p, server_rec *s, const ap_directive_t *d,
                               const char *host)
{
    const auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
    const char *args = d->args, *v;

    if (!auth_obo_has_idp(sc)) {
        return;
    }
    while (*(v = ap_getword_conf(p, &args)) != '\0') {
        if (!issuer_configured(p, sc, v)) {
            check_warn(p, s, "OBO478: OBOAcceptIssuer %s (%s, %s)%s names no issuer an identity "
                       "provider %s is configured for (OBOIssuer, issuers on an "
                       "OBOMetadataURL/OBOJWKSURL/OBOJWKSFile line, or what a discovery URL "
                       "names): unless the primary provider's discovery document names it, it admits no token",
                       v, section_name(p, d), where(p, d), host ? host : "",
                       host ? "of that host" : "of this server");
        }
    }
}

static void warn_accept_issuers(apr_pool_t *p, server_rec *main_s, const ap_directive_t *d)
{
    const auth_obo_srv_cfg *msc = ap_get_module_config(main_s->module_config,
                                                       &auth_obo_module);
    server_rec *s, *v;

    for (; d; d = d->next) {
        if (is_directive(d, "OBOAcceptIssuer") && d->args) {
            s = server_of(main_s, d);
            note_accept_values(p, s, d, NULL);
            /* a main-server line at the server level reaches every host */
            for (v = main_s->next; s == main_s && !d->parent && v; v = v->next) {
                const auth_obo_srv_cfg *vsc = ap_get_module_config(v->module_config,
                                                                   &auth_obo_module);
                if (own_providers(vsc, msc)) {
                    note_accept_values(p, v, d, apr_psprintf(p, ", inherited by virtual host "
                                       "%s:%u,", v->defn_name ? v->defn_name : "?",
                                       v->defn_line_number));
                }
            }
        }
        if (d->first_child) {
            warn_accept_issuers(p, main_s, d->first_child);
        }
    }
}

int auth_obo_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                 server_rec *s)
{
    server_rec *main_s = s;

    kept_warnings = warnings_wait() ? apr_array_make(ptemp, 8, sizeof(kept_warning)) : NULL;
    warn_exposed_secrets(ptemp, main_s);
    warn_accept_issuers(ptemp, main_s, ap_conftree);
    for (; s; s = s->next) {
        if (!check_server(ptemp, s)) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    /* Before the cache and files: a server serving the handler needs them. */
    if (!check_token_handlers(ptemp, main_s, ap_conftree)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (s = main_s; s; s = s->next) {
        if (!check_client(ptemp, s) || !check_shm_provider(s)) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        warn_session_room(s);
        warn_dpop_replay(ptemp, s);
        warn_dpop_unused(ptemp, s, main_s);
        if (!check_cert_required(s)) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!check_inherited_secret(ptemp, s, main_s)) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        warn_inherited_client(ptemp, s, main_s);
        warn_idle_long_running(ptemp, s, main_s);
        warn_no_token_endpoint(ptemp, s, ap_get_module_config(s->module_config,
                                                            &auth_obo_module));
        if (!check_issuers_unique(ptemp, s, ap_get_module_config(s->module_config,
                                                                 &auth_obo_module))) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        warn_url_issuers(ptemp, s, ap_get_module_config(s->module_config, &auth_obo_module));
        warn_keys_override(ptemp, s, ap_get_module_config(s->module_config, &auth_obo_module),
                           ap_get_module_config(main_s->module_config, &auth_obo_module));
        warn_issuer_unused(ptemp, s, ap_get_module_config(s->module_config, &auth_obo_module),
                           ap_get_module_config(main_s->module_config, &auth_obo_module));
    }
    if (!check_audience_only(ptemp, main_s)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    warn_state_dir(ptemp, main_s);
    if (!check_files(ptemp, main_s) || !check_contents(ptemp, main_s)
        || !check_keys(ptemp, main_s) || !auth_obo_envcheck(pconf, ptemp, main_s)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return walk_tree(ptemp, main_s, ap_conftree) ? OK : HTTP_INTERNAL_SERVER_ERROR;
}
