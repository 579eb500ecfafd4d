/* SPDX-License-Identifier: Apache-2.0 */
/* DPoP at the resource server (RFC 9449): see mod_auth_obo_dpop.h. */
#include "mod_auth_obo_dpop.h"

#include <string.h>
#include "apr_fnmatch.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"

#include "obo_cache.h"
#include "obo_crypto.h"
#include "obo_dpop.h"
#include "obo_jwt.h"
#include "obo_metrics.h"
#include "obo_replay.h"

APLOG_USE_MODULE(auth_obo);

#define REPLAY_KEPT "auth_obo_dpop_replay"
#define NONCE_KEY_KEPT "auth_obo_dpop_nonce_key"
#define NONCE_INFO "mod_auth_obo DPoP nonce key"
/* OBOCache none: each process's own table, smaller than the shared one */
#define PROCESS_SLOTS 16384

/* ---- the replay stores ---------------------------------------------------- */

/* The shared table (OBOCache shm, the default, and memcached): one for the
 * whole server in anonymous shared memory of the parent's process pool, so
 * that it survives graceful restarts (a proof accepted before one is still
 * refused after it). The table locks itself (obo_replay.h). */
typedef struct replay_kept {
    apr_shm_t *shm;
    obo_replay tab;
} replay_kept;

static replay_kept *shared_table;          /* this generation's, or NULL */
static obo_replay process_table;           /* OBOCache none, per process */
static obo_dpop_keys *proof_keys;          /* this process's parsed proof keys */
static int process_table_ok;

/* 1 if a server takes DPoP with that cache type (0: any) */
static int any_dpop(server_rec *s, int cache_type)
{
    for (; s; s = s->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(s->module_config, &auth_obo_module);
        if (sc->uses_dpop && (!cache_type
                              || auth_obo_ival(sc->cache_type, CACHE_SHM) == cache_type)) {
            return 1;
        }
    }
    return 0;
}

/* The table of the previous generation when its size is still the one
 * configured; else a new one, with the old one's live records (a new
 * OBODPoPReplayCache at a graceful restart must not forget them: review
 * 28C). The old one stays mapped for the old generation's processes. */
static apr_status_t shared_table_get(server_rec *s, apr_pool_t *ptemp)
{
    auth_obo_srv_cfg *msc = ap_get_module_config(s->module_config, &auth_obo_module);
    apr_size_t n = (apr_size_t)auth_obo_ival(msc->dpop_replay_slots, OBO_REPLAY_DEFAULT_SLOTS);
    apr_pool_t *pproc = s->process->pool;
    replay_kept *k = NULL, *old = NULL;
    apr_status_t rv;

    /* the table's layout is part of the name: a new module at a graceful
     * restart never reads an old layout */
    const char *kept = apr_psprintf(ptemp, REPLAY_KEPT ":%" APR_SIZE_T_FMT, obo_replay_size(1));

    apr_pool_userdata_get((void **)&old, kept, pproc);
    if (old && old->tab.nslots == n) {
        shared_table = old;
        return APR_SUCCESS;
    }
    k = apr_pcalloc(pproc, sizeof(*k));
    rv = apr_shm_create(&k->shm, obo_replay_size(n), NULL, pproc);
    if (rv == APR_SUCCESS) {
        rv = obo_replay_setup(&k->tab, apr_shm_baseaddr_get(k->shm), n);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "OBO494: cannot create the DPoP replay "
                     "table (%" APR_SIZE_T_FMT " entries, %" APR_SIZE_T_FMT " bytes of shared "
                     "memory)", n, obo_replay_size(n));
        return rv;
    }
    if (old) {
        /* (the old generation may still write a record as it is read: at
         * worst that one is not copied) */
        obo_replay_copy(&k->tab, &old->tab, apr_time_now());
    }
    apr_pool_userdata_set(k, apr_pstrdup(pproc, kept), apr_pool_cleanup_null, pproc);
    shared_table = k;
    return APR_SUCCESS;
}

/* The key of OBODPoPNonce: every server sharing OBOCacheSecret derives the
 * same one, so any of them accepts another's nonce; without the secret a
 * random one kept by the parent (this server's nonces only, across its
 * graceful restarts). */
static apr_status_t nonce_key(server_rec *s, auth_obo_srv_cfg *sc)
{
    apr_pool_t *pproc = s->process->pool;
    unsigned char *k = NULL;

    if (sc->cache_secret) {
        return obo_hkdf_sha256(sc->cache_secret, sc->cache_secret_len, NULL, 0, NONCE_INFO,
                               sc->dpop_nonce_key, sizeof(sc->dpop_nonce_key));
    }
    apr_pool_userdata_get((void **)&k, NONCE_KEY_KEPT, pproc);
    if (!k) {
        k = apr_palloc(pproc, sizeof(sc->dpop_nonce_key));
        if (obo_random(k, sizeof(sc->dpop_nonce_key)) != APR_SUCCESS) {
            return APR_EGENERAL;
        }
        apr_pool_userdata_set(k, NONCE_KEY_KEPT, apr_pool_cleanup_null, pproc);
    }
    memcpy(sc->dpop_nonce_key, k, sizeof(sc->dpop_nonce_key));
    return APR_SUCCESS;
}

apr_status_t auth_obo_dpop_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_status_t rv = APR_SUCCESS;
    server_rec *sv;

    shared_table = NULL;
    for (sv = s; sv && rv == APR_SUCCESS; sv = sv->next) {
        auth_obo_srv_cfg *sc = ap_get_module_config(sv->module_config, &auth_obo_module);
        if (sc->uses_dpop) {
            rv = nonce_key(sv, sc);
        }
    }
    /* memcached too: its records can be lost, this server's cannot */
    if (rv == APR_SUCCESS && (any_dpop(s, CACHE_SHM) || any_dpop(s, CACHE_MEMCACHED))) {
        rv = shared_table_get(s, ptemp);
    }
    if (rv == APR_SUCCESS && shared_table) {
        obo_replay_set_horizon(&shared_table->tab, auth_obo_dpop_horizon(),
                               apr_time_sec(apr_time_now()));
    }
    return rv;
}

void auth_obo_dpop_child_init(apr_pool_t *pchild, server_rec *s)
{
    void *mem;

    proof_keys = NULL;
    if (any_dpop(s, 0) && obo_dpop_keys_create(pchild, &proof_keys) != APR_SUCCESS) {
        proof_keys = NULL;      /* each proof's key is parsed anew */
    }
    process_table_ok = 0;
    if (any_dpop(s, CACHE_NONE)) {
        mem = apr_palloc(pchild, obo_replay_size(PROCESS_SLOTS));
        process_table_ok = mem && obo_replay_setup(&process_table, mem, PROCESS_SLOTS)
                                  == APR_SUCCESS;
        if (!process_table_ok) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "OBO494: cannot create this process's "
                         "DPoP replay table: DPoP requests will get 503");
        }
    }
}

static apr_status_t table_add(const obo_replay *t, const char *id, const char *owner,
                              apr_time_t until)
{
    return obo_replay_add(t, id, strlen(id), owner, strlen(owner), until, apr_time_now());
}

/* First sighting of id (the proof's key and jti) of owner (the key's
 * thumbprint) until `until`: APR_SUCCESS; APR_EEXIST for a replay; anything
 * else: no store answered. */
static apr_status_t replay_add(request_rec *r, const auth_obo_srv_cfg *sc, const char *id,
                               const char *owner, apr_time_t until)
{
    int type = auth_obo_ival(sc->cache_type, CACHE_SHM);
    const char *holder = NULL;

    apr_status_t rv;

    if (type == CACHE_MEMCACHED) {
        /* This server's table first: a replay to it is refused even when
         * memcached lost the record (flushed, restarted, evicted: review
         * 28C); then an add across every server, on the pool that never
         * moves a failing server's keys, named by an HMAC under the secret. */
        rv = shared_table ? table_add(&shared_table->tab, id, owner, until) : APR_EGENERAL;
        return rv != APR_SUCCESS ? rv
               : sc->rt && sc->rt->strict_cache
               ? obo_cache_lock(sc->rt->strict_cache, r->pool, apr_pstrcat(r->pool, "dpop:",
                                obo_sha256_hex(r->pool, id, strlen(id)), NULL), until, &holder)
               : APR_EGENERAL;
    }
    if (type == CACHE_NONE) {
        return process_table_ok ? table_add(&process_table, id, owner, until) : APR_EGENERAL;
    }
    return shared_table ? table_add(&shared_table->tab, id, owner, until) : APR_EGENERAL;
}

/* ---- the request's URL (htu) --------------------------------------------- */

/* The request the client sent: a subrequest's or internal redirect's
 * proof was made for it. */
static request_rec *first_request(request_rec *r)
{
    while (r->main || r->prev) {
        r = r->main ? r->main : r->prev;
    }
    return r;
}

/* 1 if host is a name of r's server (ServerName, ServerAlias, a
 * <VirtualHost> address) or the address the connection came in on: a
 * proof made for another site (a default virtual host answers any Host)
 * is not this server's. */
static int host_is_ours(request_rec *r, const char *host)
{
    server_rec *s = r->server;
    server_addr_rec *a;
    int i;

    if ((s->server_hostname && !strcasecmp(host, s->server_hostname))
        || (r->connection->local_ip && !strcmp(host, r->connection->local_ip))) {
        return 1;
    }
    for (a = s->addrs; a; a = a->next) {
        if (a->virthost && !strcasecmp(host, a->virthost)) {
            return 1;
        }
    }
    for (i = 0; s->names && i < s->names->nelts; i++) {
        if (!strcasecmp(host, APR_ARRAY_IDX(s->names, i, const char *))) {
            return 1;
        }
    }
    for (i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        if (apr_fnmatch(APR_ARRAY_IDX(s->wild_names, i, const char *), host,
                        APR_FNM_CASE_BLIND) == APR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

/* The URL the client addressed, without query: OBODPoPURL and the path as
 * sent, or the connection's scheme, the Host header's name (when it names
 * this server) and the port the connection came in on. The port is never
 * the Host header's: a client chooses that, and a proof made for another
 * server on this host (another port) was accepted with it (review 28C). */
static const char *request_htu(request_rec *r, const auth_obo_dir_cfg *d, const char **err)
{
    request_rec *f = first_request(r);
    const char *path = f->parsed_uri.path && *f->parsed_uri.path ? f->parsed_uri.path : "/";
    const char *name = f->hostname ? f->hostname : f->server->server_hostname;
    apr_port_t port = f->connection->local_addr ? f->connection->local_addr->port : 0;
    const char *scheme = ap_http_scheme(f);
    int dflt = port == (strcmp(scheme, "https") ? 80 : 443);

    if (d->dpop_url) {
        return apr_pstrcat(r->pool, d->dpop_url, path, NULL);
    }
    if (!name || !host_is_ours(f, name)) {
        /* not quoted: a quoted-string inside error_description's would
         * need escapes RFC 6750 s.3 does not allow (review 30C) */
        *err = apr_psprintf(r->pool, "the Host header names no name of this server "
                            "(ServerName, ServerAlias): OBODPoPURL states the URL clients use");
        return NULL;
    }
    return apr_psprintf(r->pool, "%s://%s%s%s%s%s", scheme, strchr(name, ':') ? "[" : "", name,
                        strchr(name, ':') ? "]" : "", dflt ? "" : apr_psprintf(r->pool, ":%u",
                        (unsigned)port), path);
}

/* ---- the check ----------------------------------------------------------- */

#define RECORDED_NOTE "auth_obo_dpop_recorded"

/* The proof this client request recorded, noted on the request the client
 * sent (its subrequests and internal redirects share it, no other request
 * does). */
static int recorded_here(request_rec *r, const char *proof)
{
    const char *n = apr_table_get(first_request(r)->notes, RECORDED_NOTE);
    const char *h = obo_sha256_hex(r->pool, proof, strlen(proof));

    return n && obo_ct_equal(n, strlen(n), h, strlen(h));
}

static void record_here(request_rec *r, const char *proof)
{
    request_rec *f = first_request(r);

    apr_table_setn(f->notes, RECORDED_NOTE, obo_sha256_hex(f->pool, proof, strlen(proof)));
}

static int collect(void *rec, const char *key, const char *value)
{
    APR_ARRAY_PUSH((apr_array_header_t *)rec, const char *) = value;
    return 1;
}

void auth_obo_dpop_take_proof(request_rec *r, auth_obo_req *st)
{
    apr_array_header_t *v = apr_array_make(r->pool, 1, sizeof(const char *));

    apr_table_do(collect, v, r->headers_in, "DPoP", NULL);
    st->dpop_proofs = v->nelts;
    st->dpop_proof = v->nelts == 1 ? APR_ARRAY_IDX(v, 0, const char *) : NULL;
    /* httpd folds repeated headers into one "a, b": a proof has no comma */
    if (st->dpop_proof && strchr(st->dpop_proof, ',')) {
        st->dpop_proofs = 2;
        st->dpop_proof = NULL;
    }
    if (v->nelts) {
        apr_table_unset(r->headers_in, "DPoP");
    }
}

/* The asymmetric algorithms of OBOAlgorithms: what a proof may use. */
static apr_array_header_t *proof_algs(apr_pool_t *p, const auth_obo_dir_cfg *d)
{
    const apr_array_header_t *all = auth_obo_algs(p, d);
    apr_array_header_t *out = apr_array_make(p, all->nelts, sizeof(const char *));
    int i;

    for (i = 0; i < all->nelts; i++) {
        const char *a = APR_ARRAY_IDX(all, i, const char *);
        if (strncmp(a, "HS", 2) != 0 && strcmp(a, "none") != 0) {
            APR_ARRAY_PUSH(out, const char *) = a;
        }
    }
    return out;
}

static int refuse(request_rec *r, auth_obo_req *st, const char *token, obo_metric m,
                  const char *error, const char *why)
{
    obo_metrics_inc(m);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "%s: token %s refused: %s",
                  m == OBO_M_DPOP_REPLAYED ? "OBO491" : m == OBO_M_DPOP_NONCE ? "OBO492"
                  : "OBO490", obo_fingerprint(r->pool, token, strlen(token)), why);
    st->dpop_error = error;
    st->error_desc = why;
    return HTTP_UNAUTHORIZED;
}

static int unavailable(request_rec *r, const char *token, apr_status_t rv)
{
    obo_metrics_inc(OBO_M_DPOP_UNAVAILABLE);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "OBO494: token %s: the DPoP replay store %s; "
                  "refused rather than accepting a proof that may be replayed",
                  obo_fingerprint(r->pool, token, strlen(token)),
                  rv == APR_ENOSPC ? "is full (raise OBODPoPReplayCache)" : "is unavailable");
    apr_table_setn(r->err_headers_out, "Retry-After", "5");
    return HTTP_SERVICE_UNAVAILABLE;
}

/* OBODPoPNonce: the proof's nonce must be one of ours and current enough;
 * OK with *fresh 1 when the client should get the current one. */
static int nonce_ok(request_rec *r, const auth_obo_srv_cfg *sc, const auth_obo_dir_cfg *d,
                    const obo_dpop_proof *pf, int *fresh)
{
    int current = 0;

    *fresh = 0;
    if (!pf->nonce || obo_dpop_nonce_check(r->pool, sc->dpop_nonce_key, pf->nonce,
                                           apr_time_sec(apr_time_now()), auth_obo_skew(d),
                                           &current) != APR_SUCCESS) {
        return 0;
    }
    *fresh = !current;
    return 1;
}

static void send_nonce(request_rec *r, const auth_obo_srv_cfg *sc, apr_table_t *t)
{
    apr_table_setn(t, "DPoP-Nonce", obo_dpop_nonce(r->pool, sc->dpop_nonce_key,
                                                   apr_time_sec(apr_time_now())));
}

int auth_obo_dpop_check(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                        const char *token, const json_t *claims)
{
    auth_obo_srv_cfg *sc = ap_get_module_config(r->server->module_config, &auth_obo_module);
    const char *want = NULL, *err = NULL;
    obo_dpop_rules rules;
    obo_dpop_proof pf;
    apr_status_t rv;
    int fresh = 0, again;

    if (!obo_jwt_cnf(claims, "jkt", &want) || !want) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_token",
                      "the token is not DPoP-bound (no cnf jkt) and was sent as DPoP");
    }
    if (st->dpop_proofs != 1) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_dpop_proof",
                      st->dpop_proofs ? "more than one DPoP header" : "no DPoP proof");
    }
    memset(&rules, 0, sizeof(rules));
    rules.algs = proof_algs(r->pool, d);
    rules.htm = first_request(r)->method;
    rules.access_token = token;
    rules.jkt = want;
    rules.keys = proof_keys;
    rules.now = apr_time_sec(apr_time_now());
    rules.window = auth_obo_ival(d->dpop_window, AUTH_OBO_DPOP_WINDOW);
    rules.skew = auth_obo_skew(d);
    if (!(rules.htu = request_htu(r, d, &err))) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_dpop_proof", err);
    }
    if (obo_dpop_verify(r->pool, st->dpop_proof, &rules, &pf, &err) != APR_SUCCESS) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_dpop_proof", err);
    }
    if (!obo_ct_equal(pf.jkt, strlen(pf.jkt), want, strlen(want))) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_dpop_proof",
                      "the proof's key is not the one the token is bound to (cnf jkt)");
    }
    if (auth_obo_ival(d->dpop_nonce, 0) && !nonce_ok(r, sc, d, &pf, &fresh)) {
        send_nonce(r, sc, r->err_headers_out);
        return refuse(r, st, token, OBO_M_DPOP_NONCE, "use_dpop_nonce",
                      pf.nonce ? "the DPoP proof's nonce is not a current one"
                               : "this resource requires a nonce in the DPoP proof");
    }
    /* remembered while any Location of the server would take the proof
     * (the longest window and skew anywhere: review 30C, a record kept for
     * a short window was gone when a longer one took the proof again); a
     * replay after that is too old everywhere. Once per client request:
     * its subrequests and internal redirects (SSI including two DPoP
     * resources, ErrorDocument) check the same proof again under their own
     * Location's rules, not as a replay. */
    again = recorded_here(r, st->dpop_proof);
    if (!again && shared_table
        && obo_replay_too_old(&shared_table->tab, pf.iat, rules.now)) {
        return refuse(r, st, token, OBO_M_DPOP_INVALID_PROOF, "invalid_dpop_proof",
                      "the DPoP proof is older than its replay record can be since the "
                      "last restart (iat)");
    }
    rv = again ? APR_SUCCESS
         : replay_add(r, sc, apr_pstrcat(r->pool, pf.jkt, "\n", pf.jti, NULL), pf.jkt,
                      apr_time_from_sec(pf.iat + auth_obo_dpop_horizon() + 1));
    if (rv == APR_EEXIST) {
        return refuse(r, st, token, OBO_M_DPOP_REPLAYED, "invalid_dpop_proof",
                      "the DPoP proof was used before (jti replayed)");
    }
    if (rv != APR_SUCCESS) {
        return unavailable(r, token, rv);
    }
    if (!again) {
        record_here(r, st->dpop_proof);
        obo_metrics_inc(OBO_M_DPOP_OK);     /* once per client request */
    }
    if (fresh) {
        /* err_headers_out: mod_proxy replaces headers_out with the
         * backend's, and the next nonce was lost (review 30C) */
        send_nonce(r, sc, r->err_headers_out);
    }
    return OK;
}

/* ---- challenges ------------------------------------------------------------ */

static const char *dpop_scheme(request_rec *r, const auth_obo_dir_cfg *d, const char *hdr)
{
    const char *algs = apr_array_pstrcat(r->pool, proof_algs(r->pool, d), ' ');
    const char *rest = hdr && !strncmp(hdr, "Bearer", 6) ? hdr + 6 : "";

    rest += strspn(rest, " ");
    return apr_pstrcat(r->pool, "DPoP algs=\"", algs, "\"", *rest ? ", " : "", rest, NULL);
}

apr_array_header_t *auth_obo_dpop_challenges(request_rec *r, const auth_obo_req *st,
                                             const auth_obo_dir_cfg *d, const char *hdr)
{
    apr_array_header_t *out = apr_array_make(r->pool, 2, sizeof(const char *));
    int mode = auth_obo_dpop(d);

    if (mode == DPOP_OFF) {
        APR_ARRAY_PUSH(out, const char *) = hdr;
    }
    else if ((st && st->dpop) || mode == DPOP_REQUIRED) {
        /* the error belongs to the scheme the client used, or must use */
        APR_ARRAY_PUSH(out, const char *) = dpop_scheme(r, d, hdr);
        if (mode == DPOP_ALLOWED) {
            APR_ARRAY_PUSH(out, const char *) = auth_obo_challenge(r, NULL, NULL, NULL);
        }
    }
    else {
        APR_ARRAY_PUSH(out, const char *) = hdr;
        APR_ARRAY_PUSH(out, const char *) = dpop_scheme(r, d, NULL);
    }
    return out;
}
