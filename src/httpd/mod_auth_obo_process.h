/* SPDX-License-Identifier: Apache-2.0 */
/* The per-process objects of the glue (mod_auth_obo_process.c), built by
 * httpd's startup hooks. post_config (in the parent, at every start and
 * restart) points the core's log at httpd's error logs, builds each
 * exchanging server's client credentials and shm cache and makes the state
 * directory for the IdP's last good keys. child_init (in every child) gives
 * each server its runtime (auth_obo_runtime): the HTTP client, the memos,
 * the validated-token cache, a cache and a provider shared by the servers
 * whose settings are the same. What fails in post_config stops the server;
 * what fails in child_init is logged and that process runs without it: a
 * server without its runtime answers 500 (OBO001, OBO067), one without its
 * cache exchanges without it (OBO046). Relies on the check_config hook
 * having marked the servers that exchange tokens (mod_auth_obo_check.h). */
#ifndef MOD_AUTH_OBO_PROCESS_H
#define MOD_AUTH_OBO_PROCESS_H

#include "mod_auth_obo_config.h"

int auth_obo_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int auth_obo_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                         server_rec *s);
void auth_obo_child_init(apr_pool_t *pchild, server_rec *s);

#endif
