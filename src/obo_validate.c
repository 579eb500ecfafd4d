/* Bearer token validation pipeline (see obo_validate.h). */
#include "obo_validate.h"

#include <string.h>
#include "obo_crypto.h"
#include "obo_jwt.h"

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
        rules.now = apr_time_sec(apr_time_now());
        rv = obo_jwt_check_claims(&rules, jws->payload, err);
    }
    return rv;
}

/* The signature check, skipped when these exact bytes were verified under
 * the key set that is still current. An entry records the generation of the
 * key set that verified it, so a refresh can only make it stale. */
static apr_status_t verify_signature(apr_pool_t *p, obo_provider *pv,
                                     const obo_validate_opts *o, const obo_jws *jws,
                                     const char *token, apr_size_t len, const char **err)
{
    unsigned char hash[OBO_SHA256_LEN];
    unsigned long gen = 0;
    apr_array_header_t *keys = NULL;
    apr_status_t rv;

    if (o->verified) {
        obo_provider_refresh_if_due(pv);
        obo_sha256(token, len, hash);
        if (memo_says_verified(o->verified, p, hash, pv, obo_provider_generation(pv))) {
            return APR_SUCCESS;
        }
    }
    rv = obo_provider_keys(pv, p, jws->kid, jws->alg, &keys, &gen, err);
    if (rv == APR_SUCCESS) {
        rv = verify_with_any(p, jws, keys, err);
    }
    if (rv == APR_SUCCESS && o->verified) {
        verified_by v = { pv, gen };
        obo_memo_put(o->verified, hash, &v, sizeof(v), 0);
    }
    return rv;
}

apr_status_t obo_validate_bearer(apr_pool_t *p, obo_provider *pv,
                                 const obo_validate_opts *o, const char *token,
                                 apr_size_t len, obo_jws **out, const char **err)
{
    obo_jws *jws = NULL;
    apr_status_t rv = obo_jws_parse(p, token, len, &jws, err);

    if (rv == APR_SUCCESS && !obo_validate_alg_allowed(o->algs, jws->alg)) {
        *err = "algorithm not allowed";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_jwt_check_typ(jws->typ, o->typ, err);
    }
    if (rv == APR_SUCCESS) {
        rv = verify_signature(p, pv, o, jws, token, len, err);
    }
    if (rv == APR_SUCCESS) {
        rv = check_claims(p, pv, o, jws, err);
    }
    if (rv == APR_SUCCESS) {
        *out = jws;
    }
    return rv;
}
