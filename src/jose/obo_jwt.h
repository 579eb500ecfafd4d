/* SPDX-License-Identifier: Apache-2.0 */
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
    apr_int32_t now_usec;                 /* and microseconds (0..999999): times
                                           * with a fraction compare exactly */
} obo_jwt_rules;

/* Checks: exp present and a NumericDate (a fraction compares exactly),
 * now < exp + skew; nbf (if present) <= now + skew; iat (if present) <=
 * now + skew; iss equals one issuer exactly, where "{tenantid}" in a
 * configured issuer matches only the token's own "tid" claim (which must be
 * a GUID-like [0-9a-zA-Z-]{1,64}); sub (if present) a string; aud (a string,
 * or an array of strings only) intersects audiences; an ID token (idtyp "id" or a
 * "nonce" claim) is rejected. APR_SUCCESS or APR_EINVAL with *err a short
 * description fit for error_description (never echoes claim values). */
apr_status_t obo_jwt_check_claims(const obo_jwt_rules *rules, const json_t *payload,
                                  const char **err);

/* The parts of obo_jwt_check_claims, for other claim sets with the same
 * members (an RFC 7662 introspection answer: obo_introspect.h).
 * Times: as above; exp_optional: an absent exp passes (present, it is
 * checked). Issuer and audience: 1 if iss / aud (string or array) is
 * accepted by the rules, 0 otherwise (also when absent). */
apr_status_t obo_jwt_check_times(const obo_jwt_rules *rules, const json_t *claims,
                                 int exp_optional, const char **err);
int obo_jwt_issuer_ok(const obo_jwt_rules *rules, const json_t *claims);
int obo_jwt_audience_ok(const obo_jwt_rules *rules, const json_t *claims);
/* RFC 7519 s.4.1.2: sub, when present, is a string (a number is refused,
 * never turned into a user name). */
int obo_jwt_sub_ok(const json_t *claims);

/* What the JOSE header "typ" may say (RFC 8725 s.3.11, RFC 9068 s.4). */
typedef enum {
    OBO_TYP_ANY = 0,     /* absent, "JWT", or an access-token type (below) */
    OBO_TYP_AT_JWT = 1   /* RFC 9068 only: "at+jwt" or "application/at+jwt" */
} obo_typ_rule;

/* Checks typ (NULL: absent) under rule. Media types compare without case
 * and with or without "application/". OBO_TYP_ANY accepts an absent typ,
 * "JWT", "at+jwt" and vendor access-token types whose subtype ends in
 * "-at+jwt" or ".at+jwt" (application/okta-internal-at+jwt); it refuses
 * every other type, in particular the other JWTs an IdP signs with the same
 * keys (logout+jwt, secevent+jwt, id_token+jwt, ...). APR_SUCCESS or
 * APR_EINVAL with *err (never echoes the value). */
apr_status_t obo_jwt_check_typ(const char *typ, obo_typ_rule rule, const char **err);

/* Member name, a space-separated string or an array of strings, contains
 * want. */
int obo_jwt_list_claim_has(const json_t *claims, const char *name, const char *want);
/* Space-separated "scp" (or array "scp") contains scope. */
int obo_jwt_has_scope(const json_t *payload, const char *scope);
/* "roles" array (or space-separated string) contains role. */
int obo_jwt_has_role(const json_t *payload, const char *role);
/* Claim name (string, number or bool rendered as text; or an array that has
 * such an element) equals value. */
int obo_jwt_claim_matches(const json_t *payload, const char *name, const char *value);
/* Which callers are applications acting as themselves (no user), as
 * OBOAppOnlyWhen lists its rules. OBO_APP_IDTYP: Entra's idtyp, when the
 * token has "app" or "user", decides alone; otherwise any other listed
 * rule that holds makes the caller app-only. OBO_APP_NO_SCOPE: neither
 * "scp" nor "scope" (a delegated token always has one; Entra app tokens
 * carry "roles" instead); OBO_APP_SUB_IS_CLIENT: "sub" equals "client_id"
 * (RFC 9068 s.2.2, the client credentials grant); OBO_APP_OID_IS_SUB: "oid"
 * equals "sub" (Entra: the service principal is its own subject). */
enum {
    OBO_APP_IDTYP = 1, OBO_APP_NO_SCOPE = 2, OBO_APP_SUB_IS_CLIENT = 4,
    OBO_APP_OID_IS_SUB = 8
};
#define OBO_APP_DEFAULT (OBO_APP_IDTYP | OBO_APP_NO_SCOPE | OBO_APP_SUB_IS_CLIENT \
                         | OBO_APP_OID_IS_SUB)
/* 1 if the token's caller is app-only under rules (a mask of OBO_APP_*;
 * 0: never). */
int obo_jwt_app_only(const json_t *payload, unsigned rules);
/* Step-up (RFC 9470, Entra authentication context). 1 if the token's "acr"
 * is a string equal to acr (a number or an array is not an acr). */
int obo_jwt_acr_is(const json_t *payload, const char *acr);
/* Whole seconds between the token's "auth_time" and now (0 if auth_time is later:
 * clocks differ), in *age. APR_NOTFOUND if auth_time is absent or not a
 * NumericDate (a fraction is dropped). */
apr_status_t obo_jwt_auth_age(const json_t *payload, apr_time_t now, apr_int64_t *age);
/* The claims challenge that asks for the authentication context ids (Entra
 * "acrs"): standard base64 (as Entra and MSAL write it) of
 * {"access_token":{"acrs":{"essential":true,"value":ID}}}, "values":[...]
 * for more than one. NULL if ids is empty. */
const char *obo_jwt_acrs_challenge(apr_pool_t *p, const apr_array_header_t *ids);
/* RFC 7800 confirmation: 1 if the token's "cnf" is an object with member
 * (e.g. "x5t#S256", "jkt"), with *value its string or NULL when it is not a
 * string (a binding to nothing usable: the caller refuses it); else 0. */
int obo_jwt_cnf(const json_t *payload, const char *member, const char **value);
/* A claim rendered as text for export: strings as is, numbers and booleans
 * in JSON form, arrays of strings joined by spaces, objects as compact
 * JSON. NULL if absent. */
const char *obo_jwt_claim_text(apr_pool_t *p, const json_t *payload, const char *name);

#endif
