/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for RFC 7662 introspection answers (untrusted JSON from
 * the introspection endpoint): obo_introspect_parse, then what every request
 * runs on an answer: obo_introspect_check, the scope lookup and the
 * lifetime rule. */
#include <stdint.h>
#include <stdlib.h>
#include <apr_general.h>
#include <apr_tables.h>
#include "obo_introspect.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_answer(apr_pool_t *p, const json_t *a)
{
    apr_array_header_t *iss = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *aud = apr_array_make(p, 1, sizeof(const char *));
    obo_introspect_rules r = { iss, aud, NULL, 60, 1700000000, 0 };
    const char *err = NULL;
    apr_int64_t ttl;

    APR_ARRAY_PUSH(iss, const char *) = "https://idp.example/";
    APR_ARRAY_PUSH(iss, const char *) = "https://login.microsoftonline.com/{tenantid}/v2.0";
    APR_ARRAY_PUSH(aud, const char *) = "api://test-api";
    if (obo_introspect_check(&r, a, &err) != APR_SUCCESS && !err) {
        abort();
    }
    obo_introspect_has_scope(a, "read");
    ttl = obo_introspect_ttl(a, r.now, 60);
    if (ttl < 0 || ttl > 60) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *a = NULL;
    const char *err = NULL;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    /* libFuzzer's own buffer, exactly size bytes and no terminator, so ASan
     * sees any read past len. */
    if (obo_introspect_parse(p, (const char *)data, size, &a, &err) == APR_SUCCESS) {
        check_answer(p, a);
    }
    else if (!err) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
