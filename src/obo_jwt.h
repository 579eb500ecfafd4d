/* JWT claim checks for access tokens (RFC 7519, RFC 8725, RFC 9068). */
#ifndef OBO_JWT_H
#define OBO_JWT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <jansson.h>

typedef struct obo_jwt_rules {
    const apr_array_header_t *issuers;    /* const char *; "{tenantid}" allowed */
    const apr_array_header_t *audiences;  /* const char *; any one must be in aud */
    apr_int64_t skew;                     /* seconds of clock skew tolerated */
    apr_int64_t now;                      /* seconds since the epoch */
} obo_jwt_rules;

/* Checks: exp present and numeric, now < exp + skew; nbf (if present)
 * <= now + skew; iat (if present) <= now + skew; iss equals one issuer
 * exactly, where "{tenantid}" in a configured issuer matches only the
 * token's own "tid" claim (which must be a GUID-like [0-9a-zA-Z-]{1,64});
 * aud (string or array) intersects audiences; an ID token (idtyp "id" or a
 * "nonce" claim) is rejected. APR_SUCCESS or APR_EINVAL with *err a short
 * description fit for error_description (never echoes claim values). */
apr_status_t obo_jwt_check_claims(const obo_jwt_rules *rules, const json_t *payload,
                                  const char **err);

/* Space-separated "scp" (or array "scp") contains scope. */
int obo_jwt_has_scope(const json_t *payload, const char *scope);
/* "roles" array (or space-separated string) contains role. */
int obo_jwt_has_role(const json_t *payload, const char *role);
/* Claim name (string, number or bool rendered as text; or an array that has
 * such an element) equals value. */
int obo_jwt_claim_matches(const json_t *payload, const char *name, const char *value);
/* A claim rendered as text for export: strings as is, numbers and booleans
 * in JSON form, arrays of strings joined by spaces, objects as compact
 * JSON. NULL if absent. */
const char *obo_jwt_claim_text(apr_pool_t *p, const json_t *payload, const char *name);

#endif
