/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for obo_jws_parse and what runs on its result (claim
 * checks, claim helpers, verification with every key type). Inputs that
 * start with '{' are "structured": split at newlines into raw header JSON,
 * payload JSON and signature bytes, which are base64url-encoded here so the
 * fuzzer reaches the JSON rules quickly instead of having to discover
 * base64 first. Anything else is taken as a compact token as is (real
 * tokens start with "eyJ", so they never collide). */
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "obo_b64.h"
#include "obo_jws.h"
#include "obo_jwt.h"

static apr_pool_t *root;
static obo_jwk keys[3];

static void make_key(apr_pool_t *p, obo_jwk *k, EVP_PKEY *pk, const char *kty,
                     const char *crv, int bits)
{
    k->kty = kty;
    k->crv = crv;
    k->rsa_bits = bits;
    k->pkey = obo_pkey_pool(p, pk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    make_key(root, &keys[0], EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "RSA",
             NULL, 2048);
    make_key(root, &keys[1], EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "EC", "P-256", 0);
    make_key(root, &keys[2], EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "OKP", "Ed25519", 0);
    return 0;
}

/* Next newline-terminated segment of [*d, end), base64url-encoded. */
static const char *segment(apr_pool_t *p, const uint8_t **d, const uint8_t *end)
{
    const uint8_t *nl = memchr(*d, '\n', (size_t)(end - *d));
    const uint8_t *stop = nl ? nl : end;
    const char *s = obo_b64url_encode(p, *d, (apr_size_t)(stop - *d));

    *d = nl ? nl + 1 : end;
    return s;
}

static void exercise(apr_pool_t *p, const obo_jws *jws)
{
    apr_array_header_t *iss = apr_array_make(p, 1, sizeof(const char *));
    apr_array_header_t *aud = apr_array_make(p, 1, sizeof(const char *));
    obo_jwt_rules r = { iss, aud, 60, 1700000000, 0 };
    const char *err = NULL;
    int i;

    APR_ARRAY_PUSH(iss, const char *) = "https://login.example/{tenantid}/v2.0";
    APR_ARRAY_PUSH(aud, const char *) = "api://x";
    obo_jwt_check_claims(&r, jws->payload, &err);
    obo_jwt_check_typ(jws->typ, OBO_TYP_ANY, &err);
    obo_jwt_check_typ(jws->typ, OBO_TYP_AT_JWT, &err);
    obo_jwt_has_scope(jws->payload, "read");
    obo_jwt_has_role(jws->payload, "admin");
    obo_jwt_claim_matches(jws->payload, "sub", "1");
    obo_jwt_claim_text(p, jws->payload, "sub");
    for (i = 0; i < 3; i++) {
        obo_jws_verify(p, jws, &keys[i], &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *tok, *err = NULL;
    apr_size_t len = size;
    obo_jws *jws = NULL;
    const uint8_t *d = data, *end = data + size;

    apr_pool_create(&p, root);
    if (size > 0 && data[0] == '{') {
        tok = segment(p, &d, end);
        tok = apr_pstrcat(p, tok, ".", segment(p, &d, end), NULL);
        tok = apr_pstrcat(p, tok, ".", segment(p, &d, end), NULL);
        len = strlen(tok);
    }
    else {
        /* libFuzzer's own buffer, exactly size bytes and no terminator, so
         * ASan sees any read past len (a pool copy would hide it). */
        tok = (const char *)data;
    }
    if (obo_jws_parse(p, tok, len, &jws, &err) == APR_SUCCESS) {
        exercise(p, jws);
    }
    apr_pool_destroy(p);
    return 0;
}
