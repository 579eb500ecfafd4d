/* SPDX-License-Identifier: Apache-2.0 */
/* The last good view of an identity provider (discovery values and the raw
 * JWKS), kept in a file so that a restarted server or a new child process
 * can validate tokens while the IdP is unreachable. The file is sealed with
 * AES-256-GCM under a key held by the server and bound to the IdP's
 * identity: a file that was altered, written for another IdP or under
 * another key is refused. Public data only (no secrets are stored). */
#ifndef OBO_IDPSTATE_H
#define OBO_IDPSTATE_H

#include <apr_pools.h>
#include <apr_time.h>
#include "obo_crypto.h"

typedef struct obo_idpstate {
    const char *issuer, *jwks_uri, *token_endpoint;   /* from discovery, or NULL */
    const char *introspection_endpoint;               /* from discovery, or NULL */
    const char *jwks;                                  /* the JWKS document */
    apr_size_t jwks_len;
    apr_time_t saved_at;
} obo_idpstate;

/* st as JSON, the one form of the state file (inside its seal) and of the
 * shared cache's entry (obo_provider.c): {"v": version, when_key: when,
 * "issuer", "jwks_uri", "token_endpoint", "introspection_endpoint" (those
 * set), "jwks": the document}.
 * NULL if the JWKS is not UTF-8 text. */
char *obo_idpstate_encode(apr_pool_t *p, const obo_idpstate *st, int version,
                          const char *when_key, apr_int64_t when);
/* Back: APR_EINVAL (with *err) unless "v" is version, when_key an integer
 * and "jwks" a string. The strings are copied into p; saved_at is left to
 * the caller (*when is what the document says). */
apr_status_t obo_idpstate_decode(apr_pool_t *p, const char *buf, apr_size_t len, int version,
                                 const char *when_key, apr_int64_t *when, obo_idpstate *st,
                                 const char **err);

/* Writes st to path atomically (a private temporary file in the same
 * directory, mode 0600, then rename). id names the IdP (bound into the seal). */
apr_status_t obo_idpstate_save(apr_pool_t *p, const char *path,
                               const unsigned char key[OBO_AEAD_KEY_LEN], const char *id,
                               const obo_idpstate *st, const char **err);

/* Reads and opens what obo_idpstate_save wrote. APR_ENOENT if there is no
 * file; APR_EINVAL (with *err) if it is not a valid seal for key and id. */
apr_status_t obo_idpstate_load(apr_pool_t *p, const char *path,
                               const unsigned char key[OBO_AEAD_KEY_LEN], const char *id,
                               obo_idpstate *st, const char **err);

#endif
