/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 and base64url (RFC 4648) for untrusted input. */
#ifndef OBO_B64_H
#define OBO_B64_H

#include <apr_pools.h>

/* Strict base64url decode (RFC 7515 s.2): alphabet [A-Za-z0-9_-] only, no
 * padding, no whitespace, length % 4 != 1, unused trailing bits must be 0.
 * On success *out is NUL-terminated (not counted in *outlen).
 * Returns APR_SUCCESS or APR_EINVAL. */
apr_status_t obo_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                               unsigned char **out, apr_size_t *outlen);

/* base64url without padding. */
char *obo_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len);

/* Standard base64 with padding (RFC 4648 s.4). */
char *obo_b64_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len);

/* Standard base64 decode (padding optional, no whitespace): for x5c, PEM-less
 * material. APR_EINVAL on any bad character. */
apr_status_t obo_b64_decode(apr_pool_t *p, const char *in, apr_size_t inlen,
                            unsigned char **out, apr_size_t *outlen);

#endif
