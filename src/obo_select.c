/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing the provider of a token by its iss (see obo_select.h). */
#include "obo_select.h"

#include <string.h>
#include "obo_jwt.h"

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
        else if (accepts(issuers, claims)) {
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
        else if (accepts(issuers, claims)) {
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
