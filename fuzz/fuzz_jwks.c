/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for obo_jwks_parse (untrusted JWKS documents fetched
 * from the network) and key selection on whatever it accepts. */
#include <stdint.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "obo_jwk.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const algs[] = {
        "RS256", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "none",
    };
    apr_pool_t *p;
    obo_jwks *set = NULL;
    const char *err = NULL;
    int skipped = 0;
    size_t i;

    apr_pool_create(&p, root);
    /* libFuzzer's own buffer, exactly size bytes and no terminator, so ASan
     * sees any read past len (a pool copy would hide it). */
    if (obo_jwks_parse(p, (const char *)data, size, &set, &skipped, &err) == APR_SUCCESS) {
        apr_array_header_t *out = apr_array_make(p, 4, sizeof(obo_jwk *));
        for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
            obo_jwks_select(set, NULL, algs[i], out);
            obo_jwks_select(set, "1", algs[i], out);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
