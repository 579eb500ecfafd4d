/* SPDX-License-Identifier: Apache-2.0 */
/* Several identity providers: which one issued a token. The token's iss
 * (read from the payload before any signature is checked) selects the one
 * provider whose keys may verify it; nothing else about the token is
 * trusted here, and the issuer check after verification still runs. */
#ifndef OBO_SELECT_H
#define OBO_SELECT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "obo_provider.h"

/* The first provider of providers (obo_provider *, in configuration order)
 * whose accepted issuers match the claims' iss ("{tenantid}" templates
 * match the token's own tid, as in obo_jwt_issuer_ok). Issuers already
 * known (configured, or from a discovery document this process has) are
 * tried first, so that an iss no provider knows costs no network call; a
 * provider whose discovery never loaded is loaded only when no known one
 * matched. APR_SUCCESS with *out; APR_NOTFOUND: no provider accepts the
 * iss; APR_EAGAIN: none matched and some provider's issuers could not be
 * learnt (its IdP is unavailable: 503), *err set. *claimed: 1 when the
 * provider is configured for the iss (written, or named by its discovery
 * URL), 0 when only its discovery document names it. */
apr_status_t obo_select_provider(apr_pool_t *p, const apr_array_header_t *providers,
                                 const json_t *claims, obo_provider **out, int *claimed,
                                 const char **err);

/* pv is configured for the claims' iss (obo_provider_claimed_rank). */
int obo_select_claims(const obo_provider *pv, const json_t *claims);

#endif
