/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing the provider of a token by its iss (see obo_select.h). */
#include "obo_select.h"

#include <string.h>
#include "apr_strings.h"
#include "obo_json.h"
#include "obo_jwt.h"
#include "obo_log.h"
#include "obo_text.h"

static obo_provider *provider_at(const apr_array_header_t *providers, int i)
{
    return APR_ARRAY_IDX(providers, i, obo_provider *);
}

/* iss has the shape of template t: "...{tenantid}..." with one path
 * segment, any tenant, for it. */
static int shape_of(const char *t, const char *iss)
{
    const char *at = strstr(t, "{tenantid}");
    apr_size_t pre = at ? (apr_size_t)(at - t) : 0, post = at ? strlen(at + 10) : 0;
    apr_size_t n = iss ? strlen(iss) : 0;

    return at && n > pre + post && !strncmp(iss, t, pre) && !strcmp(iss + n - post, at + 10)
           && !memchr(iss + pre, '/', n - pre - post);
}

static int accepts(const apr_array_header_t *issuers, const json_t *claims)
{
    obo_jwt_rules rules;

    memset(&rules, 0, sizeof(rules));
    rules.issuers = issuers;
    return obo_jwt_issuer_ok(&rules, claims);
}

/* The iss has the shape of a provider's {tenantid} template (a tenant of a
 * multi-tenant provider) though no provider claims it (its tid does not
 * match, or is missing): it is that provider's to refuse, never a further
 * document's to take (review 42-F1: a hostile document naming a tenant's
 * issuer verified such tokens with its own key). */
static int in_template_space(const apr_array_header_t *providers, const json_t *claims)
{
    const char *iss = obo_json_str(claims, "iss");
    int i, r, k;

    for (i = 0; iss && i < providers->nelts; i++) {
        for (r = OBO_CLAIM_WRITTEN_TEMPLATE; r <= OBO_CLAIM_DERIVED_TEMPLATE; r++) {
            const apr_array_header_t *a = obo_provider_claimed_rank(provider_at(providers, i), r);
            for (k = 0; k < a->nelts; k++) {
                if (shape_of(APR_ARRAY_IDX(a, k, const char *), iss)) {
                    return 1;
                }
            }
        }
    }
    return 0;
}


int obo_select_claims(const obo_provider *pv, const json_t *claims)
{
    int rank;

    for (rank = 0; rank < OBO_CLAIM_RANKS; rank++) {
        const apr_array_header_t *a = obo_provider_claimed_rank(pv, rank);
        if (a->nelts > 0 && accepts(a, claims)) {
            return 1;
        }
    }
    return 0;
}

static apr_uint32_t ambiguity_logged;   /* OBO474's rate limit */

#define OBO_ISS_SHOWN_MAX 200                /* bytes of a token's iss in OBO474 */

/* The first provider configured for the token's issuer, or NULL, by rank
 * (obo_provider_claimed_rank): an issuer derived from a discovery URL is a
 * guess and must not shadow a provider the administrator named for it; a
 * {tenantid} issuer must not shadow one tenant's own provider (reviews
 * 38G, 39B-F5). */
static obo_provider *claimed_by(const apr_array_header_t *providers, const json_t *claims)
{
    obo_provider *hit = NULL;
    int rank, i;

    for (rank = 0; rank < OBO_CLAIM_RANKS && !hit; rank++) {
        for (i = 0; i < providers->nelts && !hit; i++) {
            const apr_array_header_t *a = obo_provider_claimed_rank(provider_at(providers, i),
                                                                    rank);
            if (a->nelts > 0 && accepts(a, claims)) {
                hit = provider_at(providers, i);
            }
        }
    }
    return hit;
}

/* A provider as OBO474 names it: its number on the status page and its
 * URL, whose query (B2C's ?p=) the number tells apart. */
static const char *provider_shown(apr_pool_t *p, const obo_provider *pv)
{
    int n = obo_provider_metrics_number(pv);
    const char *url = obo_url_shown(p, obo_provider_source(pv));

    return n ? apr_psprintf(p, "provider %d, %s", n, url) : url;
}

/* OBO474, rate-limited: which issuer and which two providers' documents
 * (review 40B-F6); the issuer is the token's, so sanitised like OBO470's. */
static void log_ambiguous(apr_pool_t *p, const json_t *claims, const obo_provider *a,
                          const obo_provider *b)
{
    if (obo_log_ratelimit(&ambiguity_logged, OBO_LOG_INTERVAL_S)) {
        obo_log(OBO_LOG_WARN, "OBO474", "the discovery documents of two identity providers "
                "of this server (%s; %s) name the same issuer \"%s\", which none of them is "
                "configured for: neither verifies its tokens (further such messages "
                "suppressed for %d s); set that provider's issuer in the configuration",
                provider_shown(p, a), provider_shown(p, b),
                obo_text_shown(p, obo_jwt_claim_text(p, claims, "iss"), OBO_ISS_SHOWN_MAX),
                OBO_LOG_INTERVAL_S);
    }
}

/* A discovery document may name any issuer: a hostile or compromised
 * further IdP named the primary's, or another provider's, and verified
 * tokens in its name with its own keys (reviews 37C-F7, 38E-F1, 38F-F2).
 * So a provider is first chosen by what it is configured for; an issuer a
 * provider only has from its document selects it only where every other
 * provider's issuers are known and none names it too: two documents naming
 * one issuer select neither (OBO474), an unknown one waits (503). */
apr_status_t obo_select_provider(apr_pool_t *p, const apr_array_header_t *providers,
                                 const json_t *claims, obo_provider **out, int *claimed,
                                 const char **err)
{
    const apr_array_header_t *issuers = NULL;
    obo_provider *found = NULL, *also = NULL;
    int i, unknown = 0;

    *out = claimed_by(providers, claims);
    *claimed = *out != NULL;
    if (!*out && in_template_space(providers, claims)) {
        *err = "issuer not accepted";
        return APR_NOTFOUND;
    }
    for (i = 0; i < providers->nelts && !*out; i++) {
        obo_provider *pv = provider_at(providers, i);

        if (obo_provider_known_issuers(pv, p, &issuers) != APR_SUCCESS
            && obo_provider_issuers(pv, p, &issuers, err) != APR_SUCCESS) {
            unknown = 1;
        }
        else if (accepts(issuers, claims)) {
            also = found && !also ? pv : also;
            found = found ? found : pv;
        }
    }
    if (*out) {
        return APR_SUCCESS;
    }
    if (also) {
        log_ambiguous(p, claims, found, also);
        *err = "issuer not accepted";
        return APR_NOTFOUND;
    }
    if (found && !unknown) {
        *out = found;
        return APR_SUCCESS;
    }
    if (unknown) {
        return APR_EAGAIN;  /* a provider whose document could not be had may name it */
    }
    *err = "issuer not accepted";
    return APR_NOTFOUND;
}
