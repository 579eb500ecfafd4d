/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for OIDC discovery documents (untrusted JSON fetched
 * from the metadata URL): obo_discovery_parse, which the provider runs on
 * every document it fetches. */
#include <stdint.h>
#include <stdlib.h>
#include <apr_general.h>
#include "obo_provider.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    obo_discovery d = { NULL, NULL, NULL, NULL };
    const char *err = NULL;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    /* libFuzzer's own buffer, exactly size bytes and no terminator, so ASan
     * sees any read past len. */
    if (obo_discovery_parse(p, (const char *)data, size, &d, &err) == APR_SUCCESS) {
        if (!d.issuer || !d.jwks_uri) {
            abort();
        }
    }
    else if (!err) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
