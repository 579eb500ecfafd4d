/* SPDX-License-Identifier: Apache-2.0 */
/* DPoP proofs (see obo_dpop.h). A proof carries its own public key: it
 * proves possession of that key only, and binds nothing until the caller
 * compares the thumbprint with the access token's cnf.jkt. */
#include "obo_dpop.h"
#include "obo_b64.h"
#include "obo_crypto.h"
#include "obo_json.h"
#include "obo_jwk.h"
#include "obo_jws.h"

#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

/* ---- htu */

static int obo_unreserved(int c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int obo_hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The path (up to a query or fragment) with its percent-encodings
 * normalised; NULL for a malformed one. */
static char *obo_norm_path(apr_pool_t *p, const char *s, apr_size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, n + 2), *o = out;
    apr_size_t i;

    if (n == 0) {
        return apr_pstrdup(p, "/");
    }
    for (i = 0; i < n; i++) {
        int hi, lo, c;

        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n) {
            return NULL;        /* a '%' without two characters after it */
        }
        hi = obo_hexval((unsigned char)s[i + 1]);
        lo = obo_hexval((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0) {
            return NULL;
        }
        c = hi * 16 + lo;
        if (obo_unreserved(c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[hi];
            *o++ = hex[lo];
        }
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Host (IP-literal or reg-name, lower case) and port (digits, or NULL when
 * absent, empty or the scheme's default) of an authority of alen bytes. */
static apr_status_t obo_norm_authority(apr_pool_t *p, const char *auth, apr_size_t alen,
                                       int https, char **host, const char **port)
{
    const char *end = auth + alen;
    const char *hend = auth[0] == '[' ? memchr(auth, ']', alen) : NULL;
    apr_size_t plen;
    char *h;

    hend = hend ? hend + 1 : auth + strcspn(auth, ":/?#");
    if (hend == auth || hend > end || (hend < end && *hend != ':')) {
        return APR_EINVAL;
    }
    plen = hend < end ? (apr_size_t)(end - hend - 1) : 0;
    if (hend < end && (strspn(hend + 1, "0123456789") < plen || plen > 5
                       || (plen && apr_atoi64(apr_pstrmemdup(p, hend + 1, plen)) > 65535))) {
        return APR_EINVAL;      /* a port is a number up to 65535 */
    }
    *port = plen ? apr_pstrmemdup(p, hend + 1, plen) : NULL;
    if (*port && strcmp(*port, https ? "443" : "80") == 0) {
        *port = NULL;
    }
    *host = apr_pstrmemdup(p, auth, (apr_size_t)(hend - auth));
    for (h = *host; *h; h++) {
        *h = (char)apr_tolower(*h);
    }
    return APR_SUCCESS;
}

apr_status_t obo_dpop_htu_norm(apr_pool_t *p, const char *url, const char **out)
{
    const char *auth, *rest, *port = NULL;
    char *host = NULL, *path = NULL;
    apr_size_t alen;
    int https = url && strncasecmp(url, "https://", 8) == 0;
    apr_status_t rv = APR_EINVAL;

    if (url && strlen(url) <= OBO_DPOP_PROOF_MAX
        && (https || strncasecmp(url, "http://", 7) == 0)) {
        auth = url + (https ? 8 : 7);
        alen = strcspn(auth, "/?#");
        rest = auth + alen;
        /* no host, or user information: refused */
        rv = alen == 0 || memchr(auth, '@', alen) ? APR_EINVAL
             : obo_norm_authority(p, auth, alen, https, &host, &port);
        if (rv == APR_SUCCESS && !(path = obo_norm_path(p, rest, strcspn(rest, "?#")))) {
            rv = APR_EINVAL;
        }
    }
    if (rv == APR_SUCCESS) {
        *out = apr_pstrcat(p, https ? "https://" : "http://", host, port ? ":" : "",
                           port ? port : "", path, NULL);
    }
    return rv;
}

/* ---- thumbprints */

apr_status_t obo_jwk_thumbprint(apr_pool_t *p, const json_t *jwk, const char **out)
{
    static const char *const rsa[] = { "e", "kty", "n", NULL };
    static const char *const ec[] = { "crv", "kty", "x", "y", NULL };
    static const char *const okp[] = { "crv", "kty", "x", NULL };
    const char *kty = obo_json_str(jwk, "kty");
    const char *const *names = !kty ? NULL : strcmp(kty, "RSA") == 0 ? rsa
                             : strcmp(kty, "EC") == 0 ? ec : strcmp(kty, "OKP") == 0 ? okp
                             : NULL;
    json_t *req = obo_json_pool(p, json_object());
    unsigned char h[OBO_SHA256_LEN];
    const char *text;
    int i;

    for (i = 0; names && names[i]; i++) {
        const char *v = obo_json_str(jwk, names[i]);
        if (!v) {
            return APR_EINVAL;
        }
        json_object_set_new(req, names[i], json_string(v));
    }
    /* members inserted in lexicographic order: the dump keeps it */
    text = names ? obo_json_dump(p, req) : NULL;
    if (!text) {
        return APR_EINVAL;
    }
    obo_sha256(text, strlen(text), h);
    *out = obo_b64url_encode(p, h, sizeof(h));
    return APR_SUCCESS;
}

/* ---- parsed proof keys */

typedef struct obo_key_slot {
    unsigned char id[OBO_SHA256_LEN];   /* SHA-256 of the jwk as sent */
    apr_pool_t *pool;                   /* unmanaged: the key's; NULL: free slot */
    obo_jwk *key;
    int refs;                           /* verifications using it now */
} obo_key_slot;

struct obo_dpop_keys {
    apr_thread_mutex_t *mu;
    obo_key_slot slot[OBO_DPOP_KEY_SLOTS];
    unsigned next;                      /* where the next eviction looks first */
};

/* A key being used: its slot, or its own pool when it was not kept. */
typedef struct obo_key_use {
    obo_key_slot *slot;
    apr_pool_t *own;
} obo_key_use;

static apr_status_t obo_keys_free(void *data)
{
    obo_dpop_keys *k = data;
    int i;

    for (i = 0; i < OBO_DPOP_KEY_SLOTS; i++) {
        if (k->slot[i].pool) {
            apr_pool_destroy(k->slot[i].pool);
            k->slot[i].pool = NULL;
        }
    }
    return APR_SUCCESS;
}

apr_status_t obo_dpop_keys_create(apr_pool_t *p, obo_dpop_keys **out)
{
    obo_dpop_keys *k = apr_pcalloc(p, sizeof(*k));
    apr_status_t rv = apr_thread_mutex_create(&k->mu, APR_THREAD_MUTEX_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        apr_pool_cleanup_register(p, k, obo_keys_free, apr_pool_cleanup_null);
        *out = k;
    }
    return rv;
}

static obo_key_slot *obo_keys_find(obo_dpop_keys *k, const unsigned char *id)
{
    int i;

    for (i = 0; i < OBO_DPOP_KEY_SLOTS; i++) {
        if (k->slot[i].pool && memcmp(k->slot[i].id, id, OBO_SHA256_LEN) == 0) {
            return &k->slot[i];
        }
    }
    return NULL;
}

/* Keeps a freshly parsed key (its pool) unless every slot is in use: the
 * first unused slot from `next` on gives way. */
static obo_key_slot *obo_keys_keep(obo_dpop_keys *k, const unsigned char *id, apr_pool_t *pool,
                                   obo_jwk *key)
{
    int i;

    for (i = 0; i < OBO_DPOP_KEY_SLOTS; i++) {
        obo_key_slot *s = &k->slot[(k->next + (unsigned)i) % OBO_DPOP_KEY_SLOTS];
        if (s->refs == 0) {
            if (s->pool) {
                apr_pool_destroy(s->pool);
            }
            memcpy(s->id, id, OBO_SHA256_LEN);
            s->pool = pool;
            s->key = key;
            s->refs = 1;
            k->next = (k->next + (unsigned)i + 1) % OBO_DPOP_KEY_SLOTS;
            return s;
        }
    }
    return NULL;
}

/* The key of jwk: from the cache (in use until obo_key_done) or parsed. */
static apr_status_t obo_key_get(apr_pool_t *p, obo_dpop_keys *k, const json_t *jwk,
                                obo_jwk **key, obo_key_use *use, const char **err)
{
    unsigned char id[OBO_SHA256_LEN];
    const char *text = k ? json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    apr_pool_t *own = NULL;
    obo_key_slot *s = NULL;
    apr_status_t rv;

    memset(use, 0, sizeof(*use));
    if (!text) {
        return obo_jwk_parse(p, jwk, key, err);
    }
    obo_sha256(text, strlen(text), id);
    free((void *)text);
    apr_thread_mutex_lock(k->mu);
    if ((s = obo_keys_find(k, id)) != NULL) {
        s->refs++;
        *key = s->key;
        use->slot = s;
    }
    apr_thread_mutex_unlock(k->mu);
    if (s) {
        return APR_SUCCESS;
    }
    /* unmanaged: no parent shared with other threads */
    if ((rv = apr_pool_create_unmanaged_ex(&own, NULL, NULL)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = obo_jwk_parse(own, jwk, key, err)) != APR_SUCCESS) {
        apr_pool_destroy(own);
        return rv;
    }
    apr_thread_mutex_lock(k->mu);
    use->slot = obo_keys_find(k, id) ? NULL : obo_keys_keep(k, id, own, *key);
    apr_thread_mutex_unlock(k->mu);
    use->own = use->slot ? NULL : own;
    return APR_SUCCESS;
}

static void obo_key_done(obo_dpop_keys *k, obo_key_use *use)
{
    if (use->slot) {
        apr_thread_mutex_lock(k->mu);
        use->slot->refs--;
        apr_thread_mutex_unlock(k->mu);
    }
    if (use->own) {
        apr_pool_destroy(use->own);
    }
}

/* ---- the proof */

static int obo_alg_allowed(const obo_dpop_rules *r, const char *alg)
{
    int i, ok = r->algs == NULL;

    for (i = 0; r->algs && i < r->algs->nelts; i++) {
        ok |= strcmp(APR_ARRAY_IDX(r->algs, i, const char *), alg) == 0;
    }
    return ok && obo_jws_alg_known(alg);
}

static int obo_typ_is_dpop(const char *typ)
{
    return typ && (strcasecmp(typ, "dpop+jwt") == 0
                   || strcasecmp(typ, "application/dpop+jwt") == 0);
}

/* The jwk's thumbprint, before anything costly: when the token names its
 * key, a proof by another key is refused without parsing or verifying. */
static apr_status_t obo_dpop_jkt(apr_pool_t *p, const json_t *jwk, const obo_dpop_rules *r,
                                 const char **jkt, const char **err)
{
    apr_status_t rv = obo_jwk_thumbprint(p, jwk, jkt);

    if (rv != APR_SUCCESS) {
        *err = "DPoP proof: the jwk lacks a required member";
    }
    else if (r->jkt && !obo_ct_equal(*jkt, strlen(*jkt), r->jkt, strlen(r->jkt))) {
        *err = "the proof's key is not the one the token is bound to (cnf jkt)";
        rv = APR_EINVAL;
    }
    return rv;
}

/* The header: type, algorithm, the key it carries and the signature. */
static apr_status_t obo_dpop_key(apr_pool_t *p, const obo_jws *jws, const obo_dpop_rules *r,
                                 const char **jkt, const char **err)
{
    const json_t *jwk = json_object_get(jws->header, "jwk");
    obo_jwk *key = NULL;
    obo_key_use use;
    apr_status_t rv = APR_EINVAL;

    memset(&use, 0, sizeof(use));
    if (!obo_typ_is_dpop(jws->typ)) {
        *err = "DPoP proof: typ is not dpop+jwt";
    }
    else if (!obo_alg_allowed(r, jws->alg)) {
        *err = "DPoP proof: algorithm not allowed";
    }
    else if (!json_is_object(jwk)) {
        *err = "DPoP proof: no jwk header";
    }
    else if (json_object_get(jwk, "alg")
             && (!json_is_string(json_object_get(jwk, "alg"))
                 || strcmp(json_string_value(json_object_get(jwk, "alg")), jws->alg))) {
        /* a key that names its algorithm is used with that one only
         * (RFC 7517 s.4.4; review 30C) */
        *err = "DPoP proof: the jwk's alg is not the header's";
    }
    else if ((rv = obo_dpop_jkt(p, jwk, r, jkt, err)) != APR_SUCCESS) {
        /* *err set */
    }
    else if ((rv = obo_key_get(p, r->keys, jwk, &key, &use, err)) != APR_SUCCESS) {
        *err = rv == APR_ENOTIMPL ? "DPoP proof: unsupported key type" : "DPoP proof: "
               "the jwk is not a usable public key";
        rv = APR_EINVAL;
    }
    else if ((rv = obo_jws_verify(p, jws, key, err)) != APR_SUCCESS) {
        *err = "DPoP proof: bad signature";
    }
    if (key) {
        obo_key_done(r->keys, &use);
    }
    return rv;
}

static apr_status_t obo_dpop_time(const json_t *pl, const obo_dpop_rules *r, apr_int64_t *iat,
                                  const char **err)
{
    apr_int32_t frac = 0;
    apr_status_t rv = obo_json_numericdate(pl, "iat", iat, &frac);

    if (rv != APR_SUCCESS) {
        *err = "DPoP proof: no valid iat";
    }
    else if (*iat > r->now + r->skew) {
        *err = "DPoP proof: issued in the future";
        rv = APR_EINVAL;
    }
    else if (*iat < r->now - r->window - r->skew) {
        *err = "DPoP proof: too old";
        rv = APR_EINVAL;
    }
    return rv == APR_SUCCESS ? APR_SUCCESS : APR_EINVAL;
}

/* ath: base64url of the SHA-256 of the access token (RFC 9449 s.4.2). */
static int obo_ath_ok(apr_pool_t *p, const json_t *pl, const char *token)
{
    unsigned char h[OBO_SHA256_LEN];
    const char *ath = obo_json_str(pl, "ath"), *want;

    if (!token) {
        return 1;
    }
    obo_sha256(token, strlen(token), h);
    want = obo_b64url_encode(p, h, sizeof(h));
    return ath && obo_ct_equal(ath, strlen(ath), want, strlen(want));
}

static apr_status_t obo_dpop_claims(apr_pool_t *p, const obo_jws *jws,
                                    const obo_dpop_rules *r, obo_dpop_proof *out,
                                    const char **err)
{
    const json_t *pl = jws->payload;
    const char *htm = obo_json_str(pl, "htm"), *htu = obo_json_str(pl, "htu");
    const char *jti = obo_json_str(pl, "jti"), *nonce = obo_json_str(pl, "nonce");
    const char *got = NULL, *want = NULL;
    apr_status_t rv = APR_EINVAL;

    if (!htm || !r->htm || strcmp(htm, r->htm) != 0) {
        *err = "DPoP proof: htm does not match the request method";
    }
    else if (!htu || obo_dpop_htu_norm(p, htu, &got) != APR_SUCCESS
             || obo_dpop_htu_norm(p, r->htu, &want) != APR_SUCCESS || strcmp(got, want) != 0) {
        *err = "DPoP proof: htu does not match the request URL";
    }
    else if (!jti || !*jti || strlen(jti) > OBO_DPOP_JTI_MAX) {
        *err = "DPoP proof: no usable jti";
    }
    else if (json_object_get(pl, "nonce") && !nonce) {
        *err = "DPoP proof: nonce is not a string";
    }
    else if (!obo_ath_ok(p, pl, r->access_token)) {
        *err = "DPoP proof: ath does not match the access token";
    }
    else if ((rv = obo_dpop_time(pl, r, &out->iat, err)) == APR_SUCCESS) {
        out->jti = apr_pstrdup(p, jti);
        out->nonce = nonce ? apr_pstrdup(p, nonce) : NULL;
    }
    return rv;
}

apr_status_t obo_dpop_verify(apr_pool_t *p, const char *proof, const obo_dpop_rules *rules,
                             obo_dpop_proof *out, const char **err)
{
    apr_size_t len = proof ? strlen(proof) : 0;
    obo_jws *jws = NULL;
    const char *jkt = NULL;
    apr_status_t rv = APR_EINVAL;

    memset(out, 0, sizeof(*out));
    if (len == 0 || len > OBO_DPOP_PROOF_MAX) {
        *err = "DPoP proof missing or too long";
    }
    else if ((rv = obo_jws_parse(p, proof, len, &jws, err)) != APR_SUCCESS) {
        /* an HS256 or "none" proof fails in the parser, on its alg; other
         * reasons may quote the input, which is never echoed */
        *err = *err && strstr(*err, "alg") ? "DPoP proof: algorithm not allowed"
                                           : "DPoP proof: not a compact JWS";
    }
    else if ((rv = obo_dpop_key(p, jws, rules, &jkt, err)) == APR_SUCCESS
             && (rv = obo_dpop_claims(p, jws, rules, out, err)) == APR_SUCCESS) {
        out->jkt = jkt;
    }
    return rv == APR_SUCCESS ? APR_SUCCESS : APR_EINVAL;
}

/* ---- server nonces */

#define OBO_NONCE_MAC 16      /* bytes of the HMAC kept */
#define OBO_NONCE_LABEL "mod_auth_obo DPoP nonce v1"

static void obo_nonce_bytes(const unsigned char *key, apr_int64_t period,
                            unsigned char out[8 + OBO_NONCE_MAC])
{
    unsigned char msg[sizeof(OBO_NONCE_LABEL) - 1 + 8], mac[OBO_SHA256_LEN];
    apr_uint64_t v = (apr_uint64_t)period;
    int i;

    for (i = 7; i >= 0; i--, v >>= 8) {
        out[i] = (unsigned char)(v & 0xff);
    }
    memcpy(msg, OBO_NONCE_LABEL, sizeof(OBO_NONCE_LABEL) - 1);
    memcpy(msg + sizeof(OBO_NONCE_LABEL) - 1, out, 8);
    obo_hmac_sha256(key, OBO_DPOP_NONCE_KEY_LEN, msg, sizeof(msg), mac);
    memcpy(out + 8, mac, OBO_NONCE_MAC);
}

const char *obo_dpop_nonce(apr_pool_t *p, const unsigned char key[OBO_DPOP_NONCE_KEY_LEN],
                           apr_int64_t now)
{
    unsigned char raw[8 + OBO_NONCE_MAC];

    obo_nonce_bytes(key, now / OBO_DPOP_NONCE_PERIOD, raw);
    return obo_b64url_encode(p, raw, sizeof(raw));
}

apr_status_t obo_dpop_nonce_check(apr_pool_t *p,
                                  const unsigned char key[OBO_DPOP_NONCE_KEY_LEN],
                                  const char *nonce, apr_int64_t now, apr_int64_t skew,
                                  int *current)
{
    unsigned char *raw = NULL, want[8 + OBO_NONCE_MAC];
    apr_size_t len = 0;
    apr_uint64_t v = 0;
    apr_int64_t period, start;
    int i;

    *current = 0;
    if (!nonce || strlen(nonce) != 32
        || obo_b64url_decode(p, nonce, 32, &raw, &len) != APR_SUCCESS
        || len != sizeof(want)) {
        return APR_EINVAL;
    }
    for (i = 0; i < 8; i++) {
        v = (v << 8) | raw[i];
    }
    if (v > (apr_uint64_t)APR_INT64_MAX / OBO_DPOP_NONCE_PERIOD) {
        return APR_EINVAL;
    }
    period = (apr_int64_t)v;
    start = period * OBO_DPOP_NONCE_PERIOD;
    obo_nonce_bytes(key, period, want);
    if (!obo_ct_equal(raw, len, want, sizeof(want))
        || start > now + skew || start + 2 * OBO_DPOP_NONCE_PERIOD + skew <= now) {
        return APR_EINVAL;
    }
    *current = period == now / OBO_DPOP_NONCE_PERIOD;
    return APR_SUCCESS;
}
