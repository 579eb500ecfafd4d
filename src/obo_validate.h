/* Bearer token validation: the whole RFC 8725 pipeline in one call. */
#ifndef OBO_VALIDATE_H
#define OBO_VALIDATE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "obo_jws.h"
#include "obo_provider.h"

/* Per-process memo of verified signatures: SHA-256 of the exact token bytes
 * -> "verified under key-set generation G of provider P". A direct-mapped
 * table of fixed size, so memory is bounded whatever callers send. Only
 * the signature check is skipped on a hit: parsing, the algorithm allow-list
 * and every claim check run on each request, and any JWKS change (a new
 * generation) invalidates every entry. */
typedef struct obo_vcache obo_vcache;

apr_status_t obo_vcache_create(apr_pool_t *p, unsigned slots, obo_vcache **out);

typedef struct obo_vcache_stats {
    unsigned long hits, misses;
} obo_vcache_stats;
void obo_vcache_get_stats(obo_vcache *vc, obo_vcache_stats *st);

typedef struct obo_validate_opts {
    const apr_array_header_t *algs;       /* allow-list (const char *) */
    const apr_array_header_t *audiences;  /* const char * */
    apr_int64_t skew;                     /* seconds */
    obo_vcache *vcache;                   /* NULL: verify every time */
} obo_validate_opts;

/* Parses the compact JWS, checks alg against the allow-list, verifies the
 * signature with the provider's keys only (by kid, or every compatible key
 * when there is no kid), then the claims. APR_SUCCESS with *out (payload =
 * the claims); APR_EINVAL: invalid token, *err fit for error_description;
 * APR_EAGAIN: no usable keys or issuer (IdP unavailable: 503). */
apr_status_t obo_validate_bearer(apr_pool_t *p, obo_provider *pv,
                                 const obo_validate_opts *o, const char *token,
                                 apr_size_t len, obo_jws **out, const char **err);

/* 1 if alg is in the allow-list. */
int obo_validate_alg_allowed(const apr_array_header_t *algs, const char *alg);

#endif
