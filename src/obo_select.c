/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing the provider of a token by its iss (see obo_select.h). */
#include "obo_select.h"

#include <string.h>
#include "obo_jwt.h"
#include "obo_log.h"
#include "obo_text.h"

static int accepts(const apr_array_header_t *issuers, const json_t *claims)
{
    obo_jwt_rules rules;

    memset(&rules, 0, sizeof(rules));
    rules.issuers = issuers;
    return obo_jwt_issuer_ok(&rules, claims);
}

static obo_provider *provider_at(const apr_array_header_t *providers, int i)
{
    return APR_ARRAY_IDX(providers, i, obo_provider *);
}

/* Another provider is configured for this token's issuer (its issuers, or
 * the one its discovery URL names) while pv only has it from its discovery
 * document: that document may name any issuer, and a hostile or
 * compromised further IdP named another provider's to verify tokens in its
 * name with its own keys, or the primary's while the primary's discovery
 * was unavailable (review 37C-F7). pv yields the issuer to that provider. */
static int claimed_elsewhere(apr_pool_t *p, const apr_array_header_t *providers,
                             const obo_provider *pv, const json_t *claims)
{
    int i, other = 0;

    if (accepts(obo_provider_claimed_issuers(pv, p), claims)) {
        return 0;
    }
    for (i = 0; i < providers->nelts && !other; i++) {
        const obo_provider *q = provider_at(providers, i);
        other = q != pv && accepts(obo_provider_claimed_issuers(q, p), claims);
    }
    return other;
}

static apr_uint32_t yield_logged;   /* OBO474's rate limit */

static int yields(apr_pool_t *p, const apr_array_header_t *providers, obo_provider *pv,
                  const json_t *claims)
{
    if (!claimed_elsewhere(p, providers, pv, claims)) {
        return 0;
    }
    if (obo_log_ratelimit(&yield_logged, OBO_LOG_INTERVAL_S)) {
        obo_log(OBO_LOG_WARN, "OBO474", "the discovery document of " OBO_URL_FMT " names an "
                "issuer another identity provider of this server is configured for: its keys "
                "do not verify that issuer's tokens (further such messages suppressed for %d s)",
                OBO_URL_ARGS(obo_provider_source(pv)), OBO_LOG_INTERVAL_S);
    }
    return 1;
}

apr_status_t obo_select_provider(apr_pool_t *p, const apr_array_header_t *providers,
                                 const json_t *claims, obo_provider **out, const char **err)
{
    const apr_array_header_t *issuers = NULL;
    apr_status_t rv = APR_NOTFOUND;
    int i, unknown = 0;

    *out = NULL;
    for (i = 0; i < providers->nelts && !*out; i++) {
        if (obo_provider_known_issuers(provider_at(providers, i), p, &issuers) != APR_SUCCESS) {
            unknown = 1;
        }
        else if (accepts(issuers, claims) && !yields(p, providers, provider_at(providers, i),
                                                     claims)) {
            *out = provider_at(providers, i);
        }
    }
    /* Only a provider that has never had its discovery document may still
     * name this issuer: ask those, in order. */
    for (i = 0; i < providers->nelts && !*out && unknown; i++) {
        obo_provider *pv = provider_at(providers, i);
        apr_status_t st;

        if (obo_provider_known_issuers(pv, p, &issuers) == APR_SUCCESS) {
            continue;
        }
        st = obo_provider_issuers(pv, p, &issuers, err);
        if (st != APR_SUCCESS) {
            rv = APR_EAGAIN;
        }
        else if (accepts(issuers, claims) && !yields(p, providers, pv, claims)) {
            *out = pv;
        }
    }
    if (*out) {
        return APR_SUCCESS;
    }
    if (rv == APR_NOTFOUND) {
        *err = "issuer not accepted";
    }
    return rv;
}
