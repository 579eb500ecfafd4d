/* SPDX-License-Identifier: Apache-2.0 */
/* Bearer token validation pipeline (see obo_validate.h). */
#include "obo_validate.h"

#include <string.h>
#include <apr_strings.h>
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_jwt.h"
#include "obo_log.h"
#include "obo_metrics.h"
#include "obo_select.h"
#include "obo_text.h"

/* Token values quoted in the debug log: bounded, control characters dropped
 * (the text is the sender's, not the IdP's). */
#define DIAG_MAX 200

/* What a verified-signature memo entry says: verified by this provider's
 * key set of this generation. */
typedef struct verified_by {
    const obo_provider *pv;
    unsigned long generation;
} verified_by;

static int memo_says_verified(obo_memo *m, apr_pool_t *p, const unsigned char *hash,
                              const obo_provider *pv, unsigned long gen)
{
    void *val = NULL;
    apr_size_t len = 0;
    const verified_by *v;

    if (obo_memo_get(m, p, hash, &val, &len) != APR_SUCCESS || len != sizeof(*v)) {
        return 0;
    }
    v = val;
    return v->pv == pv && v->generation == gen;
}

static const char *const default_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", NULL
};

const apr_array_header_t *obo_validate_default_algs(void)
{
    static const apr_array_header_t dflt = {
        NULL, sizeof(const char *), 10, 10, (char *)default_algs
    };

    return &dflt;
}

int obo_validate_alg_allowed(const apr_array_header_t *algs, const char *alg)
{
    int i;

    for (i = 0; algs && i < algs->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(algs, i, const char *), alg) == 0) {
            return obo_jws_alg_known(alg);
        }
    }
    return 0;
}

static apr_status_t verify_with_any(apr_pool_t *p, const obo_jws *jws,
                                    const apr_array_header_t *keys, const char **err)
{
    apr_status_t rv = APR_EINVAL;
    int i;

    *err = "no key matches the token";
    for (i = 0; i < keys->nelts && rv != APR_SUCCESS; i++) {
        rv = obo_jws_verify(p, jws, APR_ARRAY_IDX(keys, i, const obo_jwk *), err);
    }
    if (rv != APR_SUCCESS && keys->nelts > 0) {
        *err = "signature verification failed";
    }
    return rv;
}

static apr_status_t check_claims(apr_pool_t *p, obo_provider *pv,
                                 const obo_validate_opts *o, const obo_jws *jws,
                                 const char **err)
{
    obo_jwt_rules rules;
    apr_status_t rv = obo_provider_issuers(pv, p, &rules.issuers, err);

    if (rv == APR_SUCCESS) {
        rules.audiences = o->audiences;
        rules.skew = o->skew;
        apr_time_t now = apr_time_now();

        rules.now = apr_time_sec(now);
        rules.now_usec = (apr_int32_t)apr_time_usec(now);
        rv = obo_jwt_check_claims(&rules, jws->payload, err);
    }
    return rv;
}

/* The signature check, skipped when these exact bytes were verified under
 * the key set that is still current. An entry records the generation of the
 * key set that verified it, so a refresh can only make it stale. *gen: the
 * generation that verified the token. */
static apr_status_t verify_signature(apr_pool_t *p, obo_provider *pv,
                                     const obo_validate_opts *o, const obo_jws *jws,
                                     const unsigned char *hash, unsigned long *gen,
                                     const char **err)
{
    apr_array_header_t *keys = NULL;
    apr_status_t rv;

    if (o->verified) {
        *gen = obo_provider_generation(pv);
        if (memo_says_verified(o->verified, p, hash, pv, *gen)) {
            return APR_SUCCESS;
        }
    }
    rv = obo_provider_keys(pv, p, jws->kid, jws->alg, &keys, gen, err);
    if (rv == APR_SUCCESS) {
        rv = verify_with_any(p, jws, keys, err);
    }
    if (rv == APR_SUCCESS && o->verified) {
        verified_by v = { pv, *gen };
        obo_memo_put(o->verified, hash, &v, sizeof(v), 0);
    }
    return rv;
}

/* A token this key set already verified: its parts as the full parse made
 * them (the header rules of obo_jws_parse held then and the parts are
 * immutable), without decoding, parsing or verifying again. */
static int l1_hit(apr_pool_t *p, obo_provider *pv, const obo_validate_opts *o,
                  const unsigned char *hash, obo_jws **out)
{
    json_t *header = NULL, *payload = NULL;
    obo_jws *jws;

    if (obo_vcache_get(o->validated, p, hash, pv, obo_provider_generation(pv), &header,
                       &payload) != APR_SUCCESS) {
        return 0;
    }
    jws = apr_pcalloc(p, sizeof(*jws));
    jws->header = header;
    jws->payload = payload;
    jws->alg = obo_json_str(header, "alg");
    jws->kid = obo_json_str(header, "kid");
    jws->typ = obo_json_str(header, "typ");
    *out = jws;
    return jws->alg != NULL;
}

/* ---- why a token was refused (LogLevel debug) ------------------------------ */

static const char *diag_text(apr_pool_t *p, const char *s)
{
    return obo_text_shown(p, s, DIAG_MAX);
}

static const char *diag_list(apr_pool_t *p, const apr_array_header_t *a)
{
    return diag_text(p, a && a->nelts ? apr_array_pstrcat(p, a, ' ') : NULL);
}

static const char *diag_claim(apr_pool_t *p, const json_t *pl, const char *name)
{
    return diag_text(p, pl ? obo_jwt_claim_text(p, pl, name) : NULL);
}

/* Entra issues v1 tokens (sts.windows.net) unless the API's manifest asks
 * for v2 (login.microsoftonline.com/.../v2.0), and they differ in iss. */
static const char *diag_issuer_hint(const char *iss, const char *accepted)
{
    if (!iss || !accepted) {
        return "";
    }
    if (strstr(iss, "sts.windows.net") && !strstr(accepted, "sts.windows.net")) {
        return "; hint: an Entra v1 token (sts.windows.net) where v2 issuers are "
               "accepted: set \"requestedAccessTokenVersion\": 2 in the API's app manifest, "
               "or add the v1 issuer to OBOIssuer";
    }
    if (strstr(iss, "login.microsoftonline.com") && strstr(iss, "/v2.0")
        && !strstr(accepted, "/v2.0")) {
        return "; hint: an Entra v2 token where only v1 issuers (sts.windows.net) are "
               "accepted: use the v2.0 metadata URL or add the v2 issuer to OBOIssuer";
    }
    return "";
}

static void diag_rejection(apr_pool_t *p, obo_provider *pv, const obo_validate_opts *o,
                           const obo_jws *jws, const char *token, apr_size_t len,
                           const char *err)
{
    const json_t *pl = jws ? jws->payload : NULL;
    const apr_array_header_t *issuers = NULL;
    const char *ierr = NULL, *accepted, *iss;
    apr_int64_t exp = 0, nbf = 0;
    apr_int32_t us = 0;
    int has_exp = pl && obo_json_numericdate(pl, "exp", &exp, &us) == APR_SUCCESS;
    int has_nbf = pl && obo_json_numericdate(pl, "nbf", &nbf, &us) == APR_SUCCESS;

    if (pv && obo_provider_issuers(pv, p, &issuers, &ierr) != APR_SUCCESS) {
        issuers = NULL;
    }
    accepted = diag_list(p, issuers);
    iss = pl ? obo_jwt_claim_text(p, pl, "iss") : NULL;
    obo_log(OBO_LOG_DEBUG, "OBO122", "token %s rejected (%s): iss \"%s\" (accepted: %s); "
            "aud \"%s\" (accepted: %s); exp %s, nbf %s (now %" APR_INT64_T_FMT ", skew %"
            APR_INT64_T_FMT " s); kid \"%s\", alg \"%s\" (allowed: %s), typ \"%s\"%s",
            obo_fingerprint(p, token, len), err ? err : "invalid", diag_text(p, iss), accepted,
            diag_claim(p, pl, "aud"), diag_list(p, o->audiences),
            has_exp ? apr_psprintf(p, "%" APR_INT64_T_FMT, exp) : "(none)",
            has_nbf ? apr_psprintf(p, "%" APR_INT64_T_FMT, nbf) : "(none)",
            (apr_int64_t)apr_time_sec(apr_time_now()), o->skew,
            diag_text(p, jws ? jws->kid : NULL), diag_text(p, jws ? jws->alg : NULL),
            diag_list(p, o->algs), diag_text(p, jws ? jws->typ : NULL),
            diag_issuer_hint(iss, issuers ? accepted : NULL));
}

/* Everything after parsing (or an L1 hit): the allow-list, typ, the
 * signature with pv's keys only, the claims, and the L1 offer. */
static apr_status_t check_with(apr_pool_t *p, obo_provider *pv, const obo_validate_opts *o,
                               const unsigned char *hash, obo_jws *jws, int hit,
                               const char **err)
{
    unsigned long gen = 0;
    apr_status_t rv = APR_SUCCESS;

    if (!obo_validate_alg_allowed(o->algs, jws->alg)) {
        *err = "algorithm not allowed";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_jwt_check_typ(jws->typ, o->typ, err);
    }
    if (rv == APR_SUCCESS && !hit) {
        if (hash) {
            rv = verify_signature(p, pv, o, jws, hash, &gen, err);
        }
        else {
            apr_array_header_t *keys = NULL;
            rv = obo_provider_keys(pv, p, jws->kid, jws->alg, &keys, &gen, err);
            rv = rv == APR_SUCCESS ? verify_with_any(p, jws, keys, err) : rv;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = check_claims(p, pv, o, jws, err);
    }
    /* Only a token accepted here enters the L1: a well-signed one refused
     * for its issuer or expiry (anyone with a tenant of a multi-tenant IdP
     * can mint those) would otherwise take slots from real users. */
    if (rv == APR_SUCCESS && !hit && o->validated
        && !obo_vcache_offer(o->validated, hash, pv, gen, jws->header, jws->payload)) {
        obo_metrics_inc(OBO_M_VCACHE_DEFERRED);
    }
    return rv;
}

/* The hash the memos are keyed by: the caller's, or computed into own. */
static const unsigned char *token_hash(const obo_validate_opts *o, const char *token,
                                       apr_size_t len, unsigned char *own)
{
    if (!(o->validated || o->verified) || o->token_hash) {
        return o->token_hash;
    }
    obo_sha256(token, len, own);
    return own;
}

/* The L1 of validated tokens, for a token pv verified. */
static int l1_lookup(apr_pool_t *p, obo_provider *pv, const obo_validate_opts *o,
                     const unsigned char *hash, const char *token, apr_size_t len,
                     obo_jws **jws)
{
    int hit = 0;

    if (o->validated || o->verified) {
        obo_provider_refresh_if_due(pv);
    }
    if (o->validated && len <= OBO_JWT_MAX_LEN) {
        hit = l1_hit(p, pv, o, hash, jws);
        if (hit && obo_log_enabled(OBO_LOG_DEBUG)) {
            obo_log(OBO_LOG_DEBUG, "OBO350", "token %s: signature already verified by the "
                    "current keys (validated-token cache); checking claims",
                    obo_fingerprint(p, token, len));
        }
    }
    return hit;
}

/* The checks after parsing (rv: the parse's outcome so far), *out on
 * success, and the debug line of a refusal. */
static apr_status_t conclude(apr_pool_t *p, obo_provider *pv, const obo_validate_opts *o,
                             const unsigned char *hash, obo_jws *jws, int hit,
                             const char *token, apr_size_t len, apr_status_t rv,
                             obo_jws **out, const char **err)
{
    if (rv == APR_SUCCESS) {
        rv = check_with(p, pv, o, hash, jws, hit, err);
    }
    if (rv == APR_SUCCESS) {
        *out = jws;
    }
    else if (rv == APR_EINVAL && obo_log_enabled(OBO_LOG_DEBUG)) {
        diag_rejection(p, pv, o, jws, token, len, *err);
    }
    return rv;
}

apr_status_t obo_validate_bearer(apr_pool_t *p, obo_provider *pv,
                                 const obo_validate_opts *o, const char *token,
                                 apr_size_t len, obo_jws **out, const char **err)
{
    unsigned char own[OBO_SHA256_LEN];
    const unsigned char *hash = token_hash(o, token, len, own);
    obo_jws *jws = NULL;
    int hit = l1_lookup(p, pv, o, hash, token, len, &jws);
    apr_status_t rv = APR_SUCCESS;

    if (o->validated && len <= OBO_JWT_MAX_LEN) {
        obo_metrics_hit(OBO_M_VCACHE_HIT, hit);
    }
    if (!hit) {
        rv = obo_jws_parse(p, token, len, &jws, err);
    }
    return conclude(p, pv, o, hash, jws, hit, token, len, rv, out, err);
}

/* ---- several providers ------------------------------------------------------ */

/* OBOAcceptIssuer: the token's iss (unverified yet) among those this place
 * accepts, before any key is looked up. */
static apr_status_t accepted_here(apr_pool_t *p, const obo_validate_opts *o,
                                  const obo_jws *jws, const char *token, apr_size_t len,
                                  const char **err)
{
    obo_jwt_rules rules;

    memset(&rules, 0, sizeof(rules));
    rules.issuers = o->accept_issuers;
    if (!o->accept_issuers || obo_jwt_issuer_ok(&rules, jws->payload)) {
        return APR_SUCCESS;
    }
    obo_log(OBO_LOG_INFO, "OBO471", "token %s: issuer \"%s\" is not accepted here "
            "(OBOAcceptIssuer %s)", obo_fingerprint(p, token, len),
            diag_text(p, obo_jwt_claim_text(p, jws->payload, "iss")),
            diag_list(p, o->accept_issuers));
    *err = "issuer not accepted";
    return APR_EINVAL;
}

/* Every provider's issuers as far as known without a network call (its
 * configured ones, its document's, else what its discovery URL names),
 * providers apart by " | ": what OBO470 tells an administrator to compare
 * (review 39B-F8: OBO122 then said "accepted: (none)"). */
static const char *issuers_known(apr_pool_t *p, const apr_array_header_t *providers)
{
    const char *all = "";
    int i, r;

    for (i = 0; i < providers->nelts; i++) {
        obo_provider *pv = APR_ARRAY_IDX(providers, i, obo_provider *);
        const apr_array_header_t *iss = NULL;
        const char *one = obo_provider_known_issuers(pv, p, &iss) == APR_SUCCESS
                          ? apr_array_pstrcat(p, iss, ' ') : "";

        for (r = 0; !*one && r < OBO_CLAIM_RANKS; r++) {
            const apr_array_header_t *a = obo_provider_claimed_rank(pv, r);
            one = a->nelts ? apr_array_pstrcat(p, a, ' ') : "";
        }
        all = apr_pstrcat(p, all, i ? " | " : "", *one ? one : "(not known yet)", NULL);
    }
    return all;
}

/* The provider whose keys may verify the parsed token, chosen by its iss. */
static apr_status_t select_for(apr_pool_t *p, const apr_array_header_t *providers,
                               const obo_jws *jws, const char *token, apr_size_t len,
                               obo_provider **pv, const char **err)
{
    int claimed = 0;
    apr_status_t rv = obo_select_provider(p, providers, jws->payload, pv, &claimed, err);

    if (rv == APR_NOTFOUND && obo_log_enabled(OBO_LOG_INFO)) {
        obo_log(OBO_LOG_INFO, "OBO470", "token %s: issuer \"%s\" is none of the configured "
                "identity providers'; refused before any key is looked up (their issuers: %s)",
                obo_fingerprint(p, token, len),
                diag_text(p, obo_jwt_claim_text(p, jws->payload, "iss")),
                issuers_known(p, providers));
    }
    rv = rv == APR_NOTFOUND ? APR_EINVAL : rv;
    return rv;
}

/* Where OBOAcceptIssuer pins the place, only a provider configured for the
 * iss may verify it (also for a token an earlier request validated): a pin
 * listing an issuer no provider is configured for (the workforce's v1
 * issuer beside a v2 discovery URL) let in a further provider whose
 * document named it (review 40B-F11); the docs say a listed issuer admits
 * nothing more. With one provider no other document can name it, and the
 * primary's document is trusted as with one provider (review 41-F3: B2C,
 * CIAM or a domain-name Entra URL as the primary were refused). */
static apr_status_t pinned_provider_ok(apr_pool_t *p, const obo_validate_opts *o,
                                       const apr_array_header_t *providers,
                                       const obo_provider *pv, const obo_jws *jws,
                                       const char *token, apr_size_t len, const char **err)
{
    if (!o->accept_issuers || !pv || providers->nelts < 2 || !obo_provider_is_further(pv)
        || obo_select_claims(pv, jws->payload)) {
        return APR_SUCCESS;
    }
    obo_log(OBO_LOG_INFO, "OBO471", "token %s: issuer \"%s\" is not accepted here "
            "(OBOAcceptIssuer %s): a further provider's discovery document names it, which "
            "is not configured for it (write the issuer after its OBOMetadataURL)",
            obo_fingerprint(p, token, len),
            diag_text(p, obo_jwt_claim_text(p, jws->payload, "iss")),
            diag_list(p, o->accept_issuers));
    *err = "issuer not accepted";
    return APR_EINVAL;
}

apr_status_t obo_validate_bearer_among(apr_pool_t *p, const apr_array_header_t *providers,
                                       const obo_validate_opts *o, const char *token,
                                       apr_size_t len, obo_jws **out, obo_provider **used,
                                       const char **err)
{
    unsigned char own[OBO_SHA256_LEN];
    const unsigned char *hash;
    obo_provider *pv = NULL;
    obo_jws *jws = NULL;
    apr_status_t rv = APR_SUCCESS;
    int i, hit = 0;

    if (providers->nelts == 1 && !o->accept_issuers) {
        *used = APR_ARRAY_IDX(providers, 0, obo_provider *);
        return obo_validate_bearer(p, *used, o, token, len, out, err);
    }
    hash = token_hash(o, token, len, own);
    /* An L1 entry names the provider that verified it. */
    for (i = 0; i < providers->nelts && !hit; i++) {
        pv = APR_ARRAY_IDX(providers, i, obo_provider *);
        hit = l1_lookup(p, pv, o, hash, token, len, &jws);
    }
    if (o->validated && len <= OBO_JWT_MAX_LEN) {
        obo_metrics_hit(OBO_M_VCACHE_HIT, hit);
    }
    if (!hit) {
        pv = NULL;
        rv = obo_jws_parse(p, token, len, &jws, err);
    }
    if (rv == APR_SUCCESS) {
        rv = accepted_here(p, o, jws, token, len, err);
    }
    if (rv == APR_SUCCESS && !hit) {
        rv = select_for(p, providers, jws, token, len, &pv, err);
    }
    if (rv == APR_SUCCESS) {
        rv = pinned_provider_ok(p, o, providers, pv, jws, token, len, err);
    }
    rv = conclude(p, pv, o, hash, jws, hit, token, len, rv, out, err);
    if (rv == APR_SUCCESS) {
        *used = pv;
    }
    return rv;
}
