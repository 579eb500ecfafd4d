/* Bearer token validation pipeline (see obo_validate.h). */
#include "obo_validate.h"

#include <string.h>
#include <apr_thread_mutex.h>
#include "obo_crypto.h"
#include "obo_jwt.h"

typedef struct vslot {
    unsigned char hash[OBO_SHA256_LEN];
    const obo_provider *pv;
    unsigned long generation;
    int used;
} vslot;

struct obo_vcache {
    apr_thread_mutex_t *lock;
    vslot *slots;
    unsigned nslots;
    obo_vcache_stats stats;
};

apr_status_t obo_vcache_create(apr_pool_t *p, unsigned slots, obo_vcache **out)
{
    obo_vcache *vc = apr_pcalloc(p, sizeof(*vc));
    apr_status_t rv = apr_thread_mutex_create(&vc->lock, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        vc->nslots = slots ? slots : 1;
        vc->slots = apr_pcalloc(p, sizeof(vslot) * vc->nslots);
        *out = vc;
    }
    return rv;
}

void obo_vcache_get_stats(obo_vcache *vc, obo_vcache_stats *st)
{
    apr_thread_mutex_lock(vc->lock);
    *st = vc->stats;
    apr_thread_mutex_unlock(vc->lock);
}

static vslot *slot_of(obo_vcache *vc, const unsigned char *hash)
{
    apr_uint32_t h = ((apr_uint32_t)hash[0] << 24) | ((apr_uint32_t)hash[1] << 16)
                     | ((apr_uint32_t)hash[2] << 8) | hash[3];
    return &vc->slots[h % vc->nslots];
}

static int vcache_has(obo_vcache *vc, const unsigned char *hash, const obo_provider *pv,
                      unsigned long gen)
{
    vslot *s;
    int hit;

    apr_thread_mutex_lock(vc->lock);
    s = slot_of(vc, hash);
    hit = s->used && s->pv == pv && s->generation == gen
          && obo_ct_equal(s->hash, sizeof(s->hash), hash, OBO_SHA256_LEN);
    if (hit) {
        vc->stats.hits++;
    }
    else {
        vc->stats.misses++;
    }
    apr_thread_mutex_unlock(vc->lock);
    return hit;
}

static void vcache_put(obo_vcache *vc, const unsigned char *hash, const obo_provider *pv,
                       unsigned long gen)
{
    vslot *s;

    apr_thread_mutex_lock(vc->lock);
    s = slot_of(vc, hash);
    memcpy(s->hash, hash, OBO_SHA256_LEN);
    s->pv = pv;
    s->generation = gen;
    s->used = 1;
    apr_thread_mutex_unlock(vc->lock);
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

    if (o->vcache) {
        obo_provider_refresh_if_due(pv);
        obo_sha256(token, len, hash);
        if (vcache_has(o->vcache, hash, pv, obo_provider_generation(pv))) {
            return APR_SUCCESS;
        }
    }
    rv = obo_provider_keys(pv, p, jws->kid, jws->alg, &keys, &gen, err);
    if (rv == APR_SUCCESS) {
        rv = verify_with_any(p, jws, keys, err);
    }
    if (rv == APR_SUCCESS && o->vcache) {
        vcache_put(o->vcache, hash, pv, gen);
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
