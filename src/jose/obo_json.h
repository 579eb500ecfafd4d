/* SPDX-License-Identifier: Apache-2.0 */
/* jansson helpers: bounded parsing and pool-bound lifetimes. */
#ifndef OBO_JSON_H
#define OBO_JSON_H

#include <apr_pools.h>
#include <jansson.h>

#define OBO_JSON_MAX_DEPTH 16

/* Ties j to pool p: json_decref runs when p is cleared. Returns j. */
json_t *obo_json_pool(apr_pool_t *p, json_t *j);

/* Parses buf[0..len) as JSON. Rejects nesting deeper than max_depth (checked
 * by a pre-scan before jansson allocates anything), NUL bytes, duplicate
 * keys (JSON_REJECT_DUPLICATES) and trailing garbage. If want_object, the
 * top level must be an object. The result is tied to p.
 * APR_SUCCESS, or APR_EINVAL with *err a short reason (no input echoed). */
apr_status_t obo_json_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                            int max_depth, int want_object, json_t **out,
                            const char **err);

/* String member or NULL (absent or not a string). */
const char *obo_json_str(const json_t *obj, const char *key);

/* Numeric member (integer, or real with no fraction) into *out.
 * APR_NOTFOUND if absent, APR_EINVAL if present but not a number. */
apr_status_t obo_json_int(const json_t *obj, const char *key, apr_int64_t *out);

/* A NumericDate member (RFC 7519 s.2: an integer or a real with a
 * fraction): its floor in *sec and the fraction in *usec (0..999999).
 * APR_NOTFOUND if absent, APR_EINVAL if present but not a number or out of
 * the int64 range. */
apr_status_t obo_json_numericdate(const json_t *obj, const char *key, apr_int64_t *sec,
                                  apr_int32_t *usec);

/* Compact serialisation allocated from p (NULL on failure). */
char *obo_json_dump(apr_pool_t *p, const json_t *j);

#endif
