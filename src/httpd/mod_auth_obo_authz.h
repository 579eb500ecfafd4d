/* SPDX-License-Identifier: Apache-2.0 */
/* Authorization (mod_auth_obo_authz.c): the Require providers obo-scope,
 * obo-role and obo-claim, judged on the claims of the token authentication
 * verified (mod_auth_obo_request.h's state); a denial names what was missing
 * for the insufficient_scope challenge. */
#ifndef MOD_AUTH_OBO_AUTHZ_H
#define MOD_AUTH_OBO_AUTHZ_H

#include "mod_auth_obo_config.h"

void auth_obo_register_authz_providers(apr_pool_t *p);

#endif
