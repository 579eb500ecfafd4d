/* SPDX-License-Identifier: Apache-2.0 */
/* Where the caller's token comes from (mod_auth_obo_source.c): the places
 * OBOAcceptTokenAs allows (the Authorization header, named cookies, RFC 6750
 * s.2.3's access_token query parameter, s.2.2's access_token form field of
 * a urlencoded POST body), the 400 for a token in more than one of them, and
 * the removal of an accepted cookie, query parameter or form field from
 * what the backend and the access log see. Also what a CORS preflight is
 * (OBOPreflight). Reads only the configuration. */
#ifndef MOD_AUTH_OBO_SOURCE_H
#define MOD_AUTH_OBO_SOURCE_H

#include "mod_auth_obo_config.h"

/* How much of a urlencoded body is read to look for a form token. */
#define AUTH_OBO_FORM_MAX (64 * 1024)

/* The token of a request, as the accepted places show it. */
typedef struct auth_obo_found {
    const char *token;       /* NULL: no token in an accepted place; "": malformed */
    const char *where;       /* "header", "cookie NAME", "query", "form" */
    const char *error;       /* with a 4xx answer: its error_description */
    int dpop;                /* the token came as "Authorization: DPoP" (OBODPoP) */
} auth_obo_found;

/* Looks in every place d accepts and removes the token from the cookie,
 * the query string and the form body. OK with out filled, or the status of
 * an answer: 400 (a token in more than one place, an unreadable body; logged
 * OBO400/OBO403) or 413 (a urlencoded body over AUTH_OBO_FORM_MAX, OBO402). */
int auth_obo_find_token(request_rec *r, const auth_obo_dir_cfg *d, auth_obo_found *out);

/* 1 if r is a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) that carries no credentials (no
 * Authorization header, none of d's cookies) and d allows preflights. */
int auth_obo_is_preflight(request_rec *r, const auth_obo_dir_cfg *d);

/* A preflight goes to the URL of the request it announces, token in the
 * query string included: removed all the same when d accepts query tokens. */
void auth_obo_strip_query(request_rec *r, const auth_obo_dir_cfg *d);

void auth_obo_register_source(apr_pool_t *p);

#endif
