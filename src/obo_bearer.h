/* SPDX-License-Identifier: Apache-2.0 */
/* Where RFC 6750 puts a bearer token in the text of a request: an
 * Authorization value (s.2.1), the access_token item of urlencoded text - a
 * query string (s.2.3) or a form body (s.2.2) -, a named cookie of a Cookie
 * header (RFC 6265 s.4.2). Each finder gives the text without what it found,
 * so that the caller can hand the rest on, and every value found: a token
 * (one b64token, decoded) or "" when the value is not one. No I/O, no httpd:
 * the glue (mod_auth_obo_source.c) applies them to a request. */
#ifndef OBO_BEARER_H
#define OBO_BEARER_H

#include <apr_pools.h>
#include <apr_tables.h>

#define OBO_BEARER_PARAM "access_token"

/* Length of the b64token (1*b64char *"=") at the start of t, 0 if none. */
apr_size_t obo_bearer_b64token_len(const char *t);

/* value itself when it is exactly one b64token, else "". */
const char *obo_bearer_whole(const char *value);

/* The token of an Authorization value "Bearer <token>" (scheme
 * case-insensitive, spaces or tabs around the token): NULL when the scheme
 * is not Bearer, "" when the credentials are malformed. */
const char *obo_bearer_authorization(apr_pool_t *p, const char *value);

/* The same for another scheme with a b64token (RFC 9449 s.7.1: "DPoP
 * <token>"). */
const char *obo_bearer_scheme_token(apr_pool_t *p, const char *value, const char *scheme);

/* Decodes application/x-www-form-urlencoded text in place ('+' is a space,
 * %XX a byte). APR_EINVAL for a bad or NUL escape (s is then unusable). */
apr_status_t obo_bearer_urldecode(char *s);

/* text ('&'-separated name=value items) without the items whose decoded
 * name is access_token; their decoded values (or "") pushed to values
 * (const char *). text itself, untouched, when there is none; empty items
 * are dropped from a rewritten text. */
const char *obo_bearer_drop_param(apr_pool_t *p, const char *text, apr_array_header_t *values);

/* A Cookie header value without the cookies named in names (const char *,
 * compared case-sensitively); each one's value (without DQUOTEs, or "")
 * pushed to values and its name to found. The other cookie-pairs, trimmed,
 * joined with "; " ("" when none is left); header itself when none matched. */
const char *obo_bearer_drop_cookies(apr_pool_t *p, const char *header,
                                    const apr_array_header_t *names,
                                    apr_array_header_t *values, apr_array_header_t *found);

#endif
