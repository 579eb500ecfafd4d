/* SPDX-License-Identifier: Apache-2.0 */
/* The exchange (mod_auth_obo_fixups.c): after authorization passed, the
 * fixups exchange the caller's token for each downstream API the Location
 * names, through the core's cache and single flight, and hand the tokens to
 * the backend (mod_auth_obo_request.h); an OBOLongRunning Location goes to
 * its session instead (mod_auth_obo_session.h). The caller's own token is
 * removed unless OBOForwardCallerToken. A token served inside its refresh
 * window is renewed after the response (log_transaction). */
#ifndef MOD_AUTH_OBO_FIXUPS_H
#define MOD_AUTH_OBO_FIXUPS_H

#include "mod_auth_obo_config.h"

void auth_obo_register_fixups(apr_pool_t *p);

#endif
