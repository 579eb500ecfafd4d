/* SPDX-License-Identifier: Apache-2.0 */
/* Startup and configtest checks (check_config, also run by apachectl
 * configtest), in mod_auth_obo_check.c: a configuration that could only
 * fail requests is refused before the server runs (EMERG, OBO040...), one
 * that is probably not meant is warned about. The checks read httpd's
 * configuration tree (AuthType, Require, the sections that set the
 * obo-token handler) and every server's merged configuration (client
 * credentials, caches, readable files and keys). They also note, in each
 * server's configuration, whether it exchanges tokens (uses_exchange) and
 * keeps long-running sessions (uses_sessions): post_config and child_init
 * (mod_auth_obo_process.c) build a server's client and cache from that. */
#ifndef MOD_AUTH_OBO_CHECK_H
#define MOD_AUTH_OBO_CHECK_H

#include "mod_auth_obo_config.h"

/* The check_config hook: OK, or HTTP_INTERNAL_SERVER_ERROR after an EMERG. */
int auth_obo_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);

/* The warnings of a cold start's second configuration pass, kept by
 * check_config while no log was open: post_config writes them to the error
 * log (and forgets them). */
void auth_obo_check_warnings_flush(void);

/* The saved IdP state's directory under the runtime directory. */
#define AUTH_OBO_STATE_DIR_NAME "mod_auth_obo"

/* Why dir cannot be trusted with the saved IdP state (OBO078), or NULL.
 * Not probing: made 0700 if missing, and its owner and mode set through
 * the descriptor; probing (configtest): nothing made or changed, a missing
 * one is fine. */
const char *auth_obo_state_dir_trust(apr_pool_t *p, const char *dir, int probe);

#endif
