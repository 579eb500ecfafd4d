/* SPDX-License-Identifier: Apache-2.0 */
/* The shm cache backend (mod_auth_obo_socache.c): httpd's socache (shmcb)
 * shared by every process and thread of a server, under one global mutex
 * that also makes add() atomic for single flight. The instance, its mutex
 * and its sealing key live in the process pool and survive a graceful
 * restart; post_config finds them again, child_init attaches a child. */
#ifndef MOD_AUTH_OBO_SOCACHE_H
#define MOD_AUTH_OBO_SOCACHE_H

#include "mod_auth_obo_config.h"

void auth_obo_socache_pre_config(apr_pool_t *pconf);
apr_status_t auth_obo_socache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                          server_rec *s, auth_obo_srv_cfg *sc);
/* After every server's post_config: destroys the segments that no server of
 * this configuration generation uses any more (each size or name changed by
 * a graceful restart left one behind, for the parent's whole life). */
void auth_obo_socache_sweep(server_rec *s);
/* OBO195: a warning when a server's shm cache cannot hold the sessions
 * OBOSessionLimit allows its expected users. */
void auth_obo_socache_check_sessions(server_rec *s, const auth_obo_srv_cfg *sc);
/* The backend of the server's token segment, or (sessions) of its
 * sessions' segment (sc->session_inst). */
apr_status_t auth_obo_socache_child_init(apr_pool_t *pchild, server_rec *s,
                                         auth_obo_srv_cfg *sc, int sessions,
                                         obo_cache_backend **be);

#endif
