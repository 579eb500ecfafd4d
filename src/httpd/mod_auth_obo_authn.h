/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication (mod_auth_obo_authn.c): AuthType obo takes the Bearer
 * token from where OBOAcceptTokenAs allows (mod_auth_obo_source.h: the
 * Authorization header by default; 400 for a token in two places), lets a
 * CORS preflight through Require without a user (OBOPreflight), has the
 * core validate the token once per request
 * (whichever hook asks first), sets REMOTE_USER from the configured claim
 * and exports the claims (OBOPassClaims). Invalid or missing tokens get RFC
 * 6750's 401 challenge, a failed Require obo-* its 403 insufficient_scope.
 * The request's state it makes is mod_auth_obo_request.h's. */
#ifndef MOD_AUTH_OBO_AUTHN_H
#define MOD_AUTH_OBO_AUTHN_H

#include "mod_auth_obo_config.h"

void auth_obo_register_authn_hooks(apr_pool_t *p);

#endif
