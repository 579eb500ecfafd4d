/* SPDX-License-Identifier: Apache-2.0 */
/* Long-running sessions and the obo-token handler
 * (mod_auth_obo_session.c), the glue around obo_session.c. In an
 * OBOLongRunning Location the fixups call auth_obo_session_fixups, which
 * opens (or finds) the session of the caller's token and hands its key and
 * its downstream tokens to the backend; a backend later asks "SetHandler
 * obo-token" for a token with that key, sent only in the OBO-Session-Key
 * header. The handler serves only a backend's own, direct request, never
 * one the module authenticated or one that opened a session. Uses the
 * request helpers (mod_auth_obo_request.h), never the fixups. */
#ifndef MOD_AUTH_OBO_SESSION_H
#define MOD_AUTH_OBO_SESSION_H

#include "mod_auth_obo_request.h"

/* The notes that keep the session key the client sent and mark a request
 * that opened or used a session (the key's own names: mod_auth_obo_config.h). */
#define AUTH_OBO_SESSION_NOTE "auth_obo_client_session_key"
#define AUTH_OBO_SESSION_USED_NOTE "auth_obo_session_used"

/* The fixups of an OBOLongRunning Location: DECLINED once the session's key
 * and downstream tokens are handed off, an HTTP status otherwise. */
int auth_obo_session_fixups(request_rec *r, auth_obo_srv_cfg *sc, auth_obo_req *st,
                            const auth_obo_dir_cfg *d);
void auth_obo_register_session(apr_pool_t *p);

#endif
