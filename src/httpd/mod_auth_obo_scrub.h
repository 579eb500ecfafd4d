/* SPDX-License-Identifier: Apache-2.0 */
/* The scrub (mod_auth_obo_scrub.c): at post_perdir_config, which every
 * request passes, client-sent look-alikes of what the module hands to
 * backends (claims, downstream tokens, the session key) are removed, and so
 * is what an earlier request of the same client request set for another
 * Location: each Location gets only its own values. */
#ifndef MOD_AUTH_OBO_SCRUB_H
#define MOD_AUTH_OBO_SCRUB_H

#include "mod_auth_obo_config.h"

void auth_obo_register_scrub(apr_pool_t *p);

/* 1 when a fast redirect (DirectoryIndex, MultiViews) changed the request's
 * configuration after it was scrubbed: its headers are then scrubbed for
 * the new one. */
int auth_obo_scrub_fast_redirected(request_rec *r);

#endif
