/* SPDX-License-Identifier: Apache-2.0 */
/* DPoP at the resource server (RFC 9449), in mod_auth_obo_dpop.c: the
 * proof of a token sent as "Authorization: DPoP" checked against the
 * request (htm, htu as the client addressed it, ath, the token's cnf.jkt),
 * its jti remembered once per window across every process and server
 * (memcached), every process (shm: a table of its own) or the process
 * (OBOCache none), server nonces (OBODPoPNonce) that any server sharing
 * OBOCacheSecret accepts, and the DPoP challenges. Reads the configuration
 * and the request state; the proof rules themselves are the core's
 * (obo_dpop.c). */
#ifndef MOD_AUTH_OBO_DPOP_H
#define MOD_AUTH_OBO_DPOP_H

#include "mod_auth_obo_request.h"

/* Nonce keys (from OBOCacheSecret, else random for the parent's life) and
 * the shared replay table, for the servers with OBODPoP allowed|required. */
apr_status_t auth_obo_dpop_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void auth_obo_dpop_child_init(apr_pool_t *pchild, server_rec *s);

/* The DPoP header(s) of r, noted in st and removed from r (no backend and
 * no later hook sees a proof). */
void auth_obo_dpop_take_proof(request_rec *r, auth_obo_req *st);

/* The proof of a verified token that came with the DPoP scheme (claims:
 * its JWT payload or introspection answer): OK, or the status of the answer
 * (401 with st->dpop_error and st->error_desc, 503), logged. On OK with
 * OBODPoPNonce on, a fresh DPoP-Nonce goes out when the proof's is not the
 * current one. */
int auth_obo_dpop_check(request_rec *r, auth_obo_req *st, const auth_obo_dir_cfg *d,
                        const char *token, const json_t *claims);

/* The challenges of a 401 or 403 (hdr: the Bearer challenge the module
 * would send without DPoP) as d's OBODPoP asks: each a header value to add
 * under the header name the caller uses. */
apr_array_header_t *auth_obo_dpop_challenges(request_rec *r, const auth_obo_req *st,
                                             const auth_obo_dir_cfg *d, const char *hdr);

#endif
