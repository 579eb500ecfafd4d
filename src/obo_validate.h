/* SPDX-License-Identifier: Apache-2.0 */
/* Bearer token validation: the whole RFC 8725 pipeline in one call. */
#ifndef OBO_VALIDATE_H
#define OBO_VALIDATE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "obo_jws.h"
#include "obo_jwt.h"
#include "obo_memo.h"
#include "obo_provider.h"
#include "obo_vcache.h"

typedef struct obo_validate_opts {
    const apr_array_header_t *algs;       /* allow-list (const char *) */
    const apr_array_header_t *audiences;  /* const char * */
    apr_int64_t skew;                     /* seconds */
    /* Verified signatures: SHA-256 of the exact token bytes -> verified under
     * key-set generation G of provider P. Only the signature check is
     * skipped on a hit; parsing, the allow-list and every claim check run on
     * each request, and a new key set invalidates every entry. NULL: verify
     * every time. */
    obo_memo *verified;
    obo_typ_rule typ;                     /* header "typ" rule (0: OBO_TYP_ANY) */
    /* Validated tokens (obo_vcache.h): on a hit neither parsing nor the
     * signature check runs, only the alg allow-list, typ and claim checks
     * of these options. NULL: none. */
    obo_vcache *validated;
    /* SHA-256 of the exact token if the caller already has it (it is
     * computed once per request and shared), else NULL. */
    const unsigned char *token_hash;
    /* OBOAcceptIssuer (obo_validate_bearer_among only): the token's iss must
     * be one of these ("{tenantid}" allowed) before any key is looked up.
     * NULL: any configured provider's. */
    const apr_array_header_t *accept_issuers;
} obo_validate_opts;

/* Parses the compact JWS, checks alg against the allow-list and the header
 * typ against o->typ (so no other kind of JWT signed by the same keys, such
 * as a logout token, passes for an access token), verifies the
 * signature with the provider's keys only (by kid, or every compatible key
 * when there is no kid), then the claims. APR_SUCCESS with *out (payload =
 * the claims); APR_EINVAL: invalid token, *err fit for error_description;
 * APR_EAGAIN: no usable keys or issuer (IdP unavailable: 503). */
apr_status_t obo_validate_bearer(apr_pool_t *p, obo_provider *pv,
                                 const obo_validate_opts *o, const char *token,
                                 apr_size_t len, obo_jws **out, const char **err);

/* The same with several providers (obo_provider *, in configuration
 * order): the token's iss, read before any key is used, selects the one
 * provider whose keys may verify it (obo_select.h); an iss no provider
 * accepts, or one o->accept_issuers does not list, is APR_EINVAL without a
 * network call. A validated-token L1 entry counts only for the provider
 * that verified it. *used: the provider that did (its token endpoint is
 * the exchange's). One provider and no accept_issuers: obo_validate_bearer. */
apr_status_t obo_validate_bearer_among(apr_pool_t *p, const apr_array_header_t *providers,
                                       const obo_validate_opts *o, const char *token,
                                       apr_size_t len, obo_jws **out, obo_provider **used,
                                       const char **err);

/* 1 if alg is in the allow-list. */
int obo_validate_alg_allowed(const apr_array_header_t *algs, const char *alg);

/* The allow-list when OBOAlgorithms is not set: every asymmetric algorithm
 * obo_jws.c verifies (RS*, PS*, ES*, EdDSA). A static, read-only array (no
 * pool, nothing to race on); the conformance corpus replays through it. */
const apr_array_header_t *obo_validate_default_algs(void);

#endif
