/* SPDX-License-Identifier: Apache-2.0 */
/* JWT claim checks for access tokens (see obo_jwt.h). Claim values are
 * attacker-chosen until the checks pass, so no error string quotes them. */
#include "obo_jwt.h"
#include "obo_json.h"
#include "obo_b64.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>

#define OBO_TENANT_PH "{tenantid}"
#define OBO_TID_MAX 64

/* Time checks. Comparisons are arranged so that token-controlled values
 * are never added to (no int64 overflow from a hostile exp). */
/* The current time shifted by shift seconds against a NumericDate (sec,
 * usec): negative, 0 or positive as it is before, at or after it. Both
 * fractions lie in [0, 1), so the pairs compare in order. */
static int obo_now_cmp(const obo_jwt_rules *r, apr_int64_t shift, apr_int64_t sec,
                       apr_int32_t usec)
{
    apr_int64_t base = r->now + shift;      /* now and skew are small: no overflow */

    if (base != sec) {
        return base < sec ? -1 : 1;
    }
    return r->now_usec < usec ? -1 : r->now_usec > usec ? 1 : 0;
}

apr_status_t obo_jwt_check_times(const obo_jwt_rules *r, const json_t *pl, int exp_optional,
                                 const char **err)
{
    apr_status_t rv = APR_EINVAL, st;
    apr_int64_t exp = 0, nbf = 0, iat = 0;
    apr_int32_t exp_us = 0, nbf_us = 0, iat_us = 0;

    st = obo_json_numericdate(pl, "exp", &exp, &exp_us);
    if (st == APR_NOTFOUND && exp_optional) {
        exp = APR_INT64_MAX;
        exp_us = 0;
        st = APR_SUCCESS;
    }
    if (st == APR_NOTFOUND) {
        *err = "missing exp";
    }
    else if (st != APR_SUCCESS) {
        *err = "invalid exp";
    }
    else if (obo_now_cmp(r, -r->skew, exp, exp_us) >= 0) {
        *err = "token expired";
    }
    else if ((st = obo_json_numericdate(pl, "nbf", &nbf, &nbf_us)) != APR_SUCCESS
             && st != APR_NOTFOUND) {
        *err = "invalid nbf";
    }
    else if (st == APR_SUCCESS && obo_now_cmp(r, r->skew, nbf, nbf_us) < 0) {
        *err = "token not yet valid";
    }
    else if ((st = obo_json_numericdate(pl, "iat", &iat, &iat_us)) != APR_SUCCESS
             && st != APR_NOTFOUND) {
        *err = "invalid iat";
    }
    else if (st == APR_SUCCESS && obo_now_cmp(r, r->skew, iat, iat_us) < 0) {
        *err = "token issued in the future";
    }
    else {
        rv = APR_SUCCESS;
    }
    return rv;
}

/* Tenant ids are GUIDs in practice; anything else could smuggle path
 * segments or dots into the issuer we compare against. */
static int obo_tid_ok(const char *tid)
{
    apr_size_t i, len = tid ? strlen(tid) : 0;
    int good = len >= 1 && len <= OBO_TID_MAX;

    for (i = 0; good && i < len; i++) {
        char c = tid[i];
        good = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
               || c == '-';
    }
    return good;
}

/* iss equals tmpl with every "{tenantid}" replaced by tid; compared piece
 * by piece so nothing is allocated. */
static int obo_iss_template(const char *tmpl, const char *tid, const char *iss)
{
    const char *ph;
    apr_size_t n, tidlen = strlen(tid), phlen = strlen(OBO_TENANT_PH);
    int good = 1;

    while (good && (ph = strstr(tmpl, OBO_TENANT_PH)) != NULL) {
        n = (apr_size_t)(ph - tmpl);
        good = strncmp(iss, tmpl, n) == 0 && strncmp(iss + n, tid, tidlen) == 0;
        if (good) {
            iss += n + tidlen;
            tmpl = ph + phlen;
        }
    }
    return good && strcmp(iss, tmpl) == 0;
}

int obo_jwt_issuer_ok(const obo_jwt_rules *r, const json_t *pl)
{
    const char *iss = obo_json_str(pl, "iss");
    const char *tid = obo_json_str(pl, "tid");
    int i, good = 0;

    for (i = 0; iss && r->issuers && i < r->issuers->nelts && !good; i++) {
        const char *want = APR_ARRAY_IDX(r->issuers, i, const char *);
        if (strstr(want, OBO_TENANT_PH) == NULL) {
            good = strcmp(want, iss) == 0;
        }
        else {
            good = obo_tid_ok(tid) && obo_iss_template(want, tid, iss);
        }
    }
    return good;
}

static int obo_aud_one(const obo_jwt_rules *r, const json_t *aud)
{
    int i, good = 0;

    for (i = 0; json_is_string(aud) && r->audiences && i < r->audiences->nelts; i++) {
        good |= strcmp(APR_ARRAY_IDX(r->audiences, i, const char *),
                       json_string_value(aud)) == 0;
    }
    return good;
}

int obo_jwt_audience_ok(const obo_jwt_rules *r, const json_t *pl)
{
    const json_t *aud = json_object_get(pl, "aud"), *v;
    size_t i;
    int good = 0;

    /* RFC 7519 s.4.1.3: an array of StringOrURI values. One that holds
     * anything else is malformed, even when another element matches. */
    if (json_is_array(aud)) {
        int all_strings = 1;

        json_array_foreach(aud, i, v) {
            all_strings &= json_is_string(v);
            good |= obo_aud_one(r, v);
        }
        good &= all_strings;
    }
    else {
        good = obo_aud_one(r, aud);
    }
    return good;
}

int obo_jwt_sub_ok(const json_t *pl)
{
    const json_t *sub = json_object_get(pl, "sub");

    return sub == NULL || json_is_string(sub);
}

/* An ID token proves a login to a client; accepting one as an access
 * token would let any client's ID token reach this resource. */
static int obo_jwt_is_id_token(const json_t *pl)
{
    const char *idtyp = obo_json_str(pl, "idtyp");

    return (idtyp && strcmp(idtyp, "id") == 0) || json_object_get(pl, "nonce") != NULL;
}

/* Who the token is from and for. */
static apr_status_t obo_jwt_parties(const obo_jwt_rules *r, const json_t *pl,
                                    const char **err)
{
    apr_status_t rv = APR_EINVAL;

    if (obo_json_str(pl, "iss") == NULL) {
        *err = "missing iss";
    }
    else if (!obo_jwt_issuer_ok(r, pl)) {
        *err = "issuer not accepted";
    }
    else if (!obo_jwt_sub_ok(pl)) {
        *err = "invalid sub";
    }
    else if (json_object_get(pl, "aud") == NULL) {
        *err = "missing aud";
    }
    else if (!obo_jwt_audience_ok(r, pl)) {
        *err = "audience not accepted";
    }
    else {
        rv = APR_SUCCESS;
    }
    return rv;
}

apr_status_t obo_jwt_check_claims(const obo_jwt_rules *rules, const json_t *payload,
                                  const char **err)
{
    apr_status_t rv = APR_EINVAL;

    if (!json_is_object(payload)) {
        *err = "token payload is not an object";
    }
    else if (obo_jwt_is_id_token(payload)) {
        *err = "ID token is not an access token";
    }
    else if ((rv = obo_jwt_check_times(rules, payload, 0, err)) == APR_SUCCESS) {
        rv = obo_jwt_parties(rules, payload, err);
    }
    return rv;
}

/* The subtype of a JOSE "typ" media type: RFC 7515 s.4.1.9 lets the
 * "application/" prefix be omitted, so both spellings mean the same. */
static const char *obo_typ_subtype(const char *typ)
{
    return strncasecmp(typ, "application/", 12) == 0 ? typ + 12 : typ;
}

/* "at+jwt", or a vendor's "<prefix>-at+jwt" / "<prefix>.at+jwt". */
static int obo_typ_is_access(const char *sub, int vendor_ok)
{
    apr_size_t n = strlen(sub), k = sizeof("at+jwt") - 1;

    if (strcasecmp(sub, "at+jwt") == 0) {
        return 1;
    }
    return vendor_ok && n > k + 1 && strcasecmp(sub + n - k, "at+jwt") == 0
           && (sub[n - k - 1] == '-' || sub[n - k - 1] == '.');
}

apr_status_t obo_jwt_check_typ(const char *typ, obo_typ_rule rule, const char **err)
{
    const char *sub = typ ? obo_typ_subtype(typ) : NULL;
    int good;

    if (rule == OBO_TYP_AT_JWT) {
        good = sub && obo_typ_is_access(sub, 0);
    }
    else {
        good = !sub || strcasecmp(sub, "jwt") == 0 || obo_typ_is_access(sub, 1);
    }
    if (!good) {
        *err = rule == OBO_TYP_AT_JWT && !typ ? "token has no typ (at+jwt required)"
             : "token type (typ) is not an access token";
    }
    return good ? APR_SUCCESS : APR_EINVAL;
}

/* Is word one of the space-separated words of list? */
static int obo_word_in(const char *list, const char *word)
{
    apr_size_t wlen = strlen(word), n;
    int found = 0;

    while (list && *list && !found && wlen > 0) {
        while (*list == ' ') {
            list++;
        }
        n = strcspn(list, " ");
        found = n == wlen && strncmp(list, word, n) == 0;
        list += n;
    }
    return found;
}

/* A claim holding a space-separated string or an array of strings. */
int obo_jwt_list_claim_has(const json_t *pl, const char *name, const char *want)
{
    const json_t *c = json_is_object(pl) ? json_object_get(pl, name) : NULL, *v;
    size_t i;
    int found = 0;

    if (want == NULL) {
        found = 0;
    }
    else if (json_is_string(c)) {
        found = obo_word_in(json_string_value(c), want);
    }
    else if (json_is_array(c)) {
        json_array_foreach(c, i, v) {
            found |= json_is_string(v) && strcmp(json_string_value(v), want) == 0;
        }
    }
    return found;
}

/* Entra's scp; RFC 9068's scope (Keycloak, Okta...) where there is no scp
 * (reviews 36A-F5, 36B-F3: such a token got a false insufficient_scope). A
 * token with both is judged by scp alone. */
int obo_jwt_has_scope(const json_t *payload, const char *scope)
{
    const json_t *scp = json_is_object(payload) ? json_object_get(payload, "scp") : NULL;

    return obo_jwt_list_claim_has(payload, scp ? "scp" : "scope", scope);
}

int obo_jwt_has_role(const json_t *payload, const char *role)
{
    return obo_jwt_list_claim_has(payload, "roles", role);
}

/* A scope claim that says something: a non-empty string or array. */
static int obo_has_scopes(const json_t *payload, const char *name)
{
    const json_t *v = json_object_get(payload, name);

    return (json_is_string(v) && json_string_length(v) > 0)
           || (json_is_array(v) && json_array_size(v) > 0);
}

static int obo_same_str(const json_t *payload, const char *a, const char *b)
{
    const char *x = obo_json_str(payload, a), *y = obo_json_str(payload, b);

    return x && y && *x && strcmp(x, y) == 0;
}

int obo_jwt_app_only(const json_t *payload, unsigned rules)
{
    const char *idtyp = obo_json_str(payload, "idtyp");

    if ((rules & OBO_APP_IDTYP) && idtyp
        && (strcmp(idtyp, "app") == 0 || strcmp(idtyp, "user") == 0)) {
        return strcmp(idtyp, "app") == 0;
    }
    return ((rules & OBO_APP_NO_SCOPE) && !obo_has_scopes(payload, "scp")
            && !obo_has_scopes(payload, "scope"))
           || ((rules & OBO_APP_SUB_IS_CLIENT) && obo_same_str(payload, "sub", "client_id"))
           || ((rules & OBO_APP_OID_IS_SUB) && obo_same_str(payload, "oid", "sub"));
}

/* Scalar as text: strings as is, numbers and booleans in JSON form. */
static int obo_scalar_equals(const json_t *v, const char *value)
{
    char buf[64];
    size_t n;
    int eq = 0;

    if (json_is_string(v)) {
        eq = strcmp(json_string_value(v), value) == 0;
    }
    else if (json_is_real(v)) {
        /* a fraction as written (0.1) is not what printing the double gives
         * (0.10000000000000001): the value written in Require is read as a
         * number and compared (review 36B-F2) */
        char *end = NULL;
        double d = *value ? strtod(value, &end) : 0;

        eq = end && *end == '\0' && d == json_real_value(v);
    }
    else if (json_is_number(v) || json_is_boolean(v)) {
        n = json_dumpb(v, buf, sizeof(buf) - 1, JSON_ENCODE_ANY);
        if (n > 0 && n < sizeof(buf)) {
            buf[n] = '\0';
            eq = strcmp(buf, value) == 0;
        }
    }
    return eq;
}

int obo_jwt_claim_matches(const json_t *payload, const char *name, const char *value)
{
    const json_t *c = json_is_object(payload) ? json_object_get(payload, name) : NULL, *v;
    size_t i;
    int eq = 0;

    if (value && json_is_array(c)) {
        json_array_foreach(c, i, v) {
            eq |= obo_scalar_equals(v, value);
        }
    }
    else if (value && c) {
        eq = obo_scalar_equals(c, value);
    }
    return eq;
}

int obo_jwt_cnf(const json_t *payload, const char *member, const char **value)
{
    const json_t *cnf = json_is_object(payload) ? json_object_get(payload, "cnf") : NULL;
    const json_t *v = json_is_object(cnf) ? json_object_get(cnf, member) : NULL;

    *value = json_is_string(v) ? json_string_value(v) : NULL;
    return v != NULL;
}

int obo_jwt_acr_is(const json_t *payload, const char *acr)
{
    const char *v = obo_json_str(payload, "acr");

    return v && acr && strcmp(v, acr) == 0;
}

apr_status_t obo_jwt_auth_age(const json_t *payload, apr_time_t now, apr_int64_t *age)
{
    apr_int64_t at = 0, secs = apr_time_sec(now);
    apr_int32_t frac = 0;
    apr_status_t rv = obo_json_numericdate(payload, "auth_time", &at, &frac);

    if (rv == APR_SUCCESS && at < 0) {
        rv = APR_NOTFOUND;
    }
    if (rv == APR_SUCCESS) {
        *age = at >= secs ? 0 : secs - at;
    }
    return rv == APR_SUCCESS ? APR_SUCCESS : APR_NOTFOUND;
}

const char *obo_jwt_acrs_challenge(apr_pool_t *p, const apr_array_header_t *ids)
{
    json_t *acrs, *values, *top;
    const char *dump = NULL;
    int i;

    if (!ids || ids->nelts == 0) {
        return NULL;
    }
    top = obo_json_pool(p, json_object());
    acrs = json_object();
    json_object_set_new(acrs, "essential", json_true());
    if (ids->nelts == 1) {
        json_object_set_new(acrs, "value", json_string(APR_ARRAY_IDX(ids, 0, const char *)));
    }
    else {
        values = json_array();
        for (i = 0; i < ids->nelts; i++) {
            json_array_append_new(values, json_string(APR_ARRAY_IDX(ids, i, const char *)));
        }
        json_object_set_new(acrs, "values", values);
    }
    json_object_set_new(top, "access_token", json_pack("{s:o}", "acrs", acrs));
    dump = obo_json_dump(p, top);
    return dump ? obo_b64_encode(p, (const unsigned char *)dump, strlen(dump)) : NULL;
}

/* Array of strings joined by spaces, or NULL if an element is not a string. */
static int obo_has_space_or_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

static const char *obo_join_strings(apr_pool_t *p, const json_t *arr)
{
    apr_array_header_t *parts = apr_array_make(p, (int)json_array_size(arr) + 1,
                                               sizeof(const char *));
    const json_t *v;
    size_t i;
    int all = 1;

    json_array_foreach(arr, i, v) {
        const char *e = json_is_string(v) ? json_string_value(v) : NULL;

        /* an element with a space (or a control character, which the
         * hand-off turns into one) would make ["Not Admin"] and
         * ["Not","Admin"] the same text: such an array goes as JSON
         * (review 36A-F8) */
        all &= e != NULL && *e && !obo_has_space_or_ctl(e);
        if (e) {
            APR_ARRAY_PUSH(parts, const char *) = e;
        }
    }
    return all ? apr_array_pstrcat(p, parts, ' ') : NULL;
}

const char *obo_jwt_claim_text(apr_pool_t *p, const json_t *payload, const char *name)
{
    const json_t *c = json_is_object(payload) ? json_object_get(payload, name) : NULL;
    const char *text = NULL;

    if (json_is_string(c)) {
        text = apr_pstrdup(p, json_string_value(c));
    }
    else if (json_is_array(c)) {
        text = obo_join_strings(p, c);
    }
    if (c && text == NULL) {
        text = obo_json_dump(p, c);
    }
    return text;
}
