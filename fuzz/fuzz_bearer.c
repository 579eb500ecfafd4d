/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for obo_bearer (a request's Authorization value, query
 * string, form body and Cookie header, as OBOAcceptTokenAs reads them). The
 * first byte picks the parser (modulo 4: Authorization, urlencoded text,
 * Cookie header, URL decoding); the rest, up to a NUL, is the text. Aborts
 * when an invariant breaks: a value that is neither "" nor one b64token, a
 * text left with the item removed still holding one, an unchanged text that
 * is not the same pointer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "obo_bearer.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_values(const apr_array_header_t *v)
{
    int i;

    for (i = 0; i < v->nelts; i++) {
        const char *s = APR_ARRAY_IDX(v, i, const char *);
        if (!s || (*s && strcmp(obo_bearer_whole(s), s))) {
            abort();
        }
    }
}

static void param(apr_pool_t *p, const char *text)
{
    apr_array_header_t *v = apr_array_make(p, 2, sizeof(const char *));
    const char *rest = obo_bearer_drop_param(p, text, v);

    check_values(v);
    if ((v->nelts == 0) != (rest == text)) {
        abort();
    }
    v->nelts = 0;
    if (obo_bearer_drop_param(p, rest, v) != rest || v->nelts != 0) {
        abort();   /* what is handed on holds no access_token any more */
    }
}

static void cookies(apr_pool_t *p, const char *text)
{
    apr_array_header_t *names = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *v = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *f = apr_array_make(p, 2, sizeof(const char *));
    const char *rest;

    APR_ARRAY_PUSH(names, const char *) = "obo_at";
    APR_ARRAY_PUSH(names, const char *) = "a";
    rest = obo_bearer_drop_cookies(p, text, names, v, f);
    check_values(v);
    if (v->nelts != f->nelts || (v->nelts == 0) != (rest == text)) {
        abort();
    }
    v->nelts = 0;
    if (obo_bearer_drop_cookies(p, rest, names, v, f) != rest || v->nelts != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *text, *t;
    char *copy;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, root);
    text = apr_pstrndup(p, (const char *)data + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        t = obo_bearer_authorization(p, text);
        if (t && *t && strcmp(obo_bearer_whole(t), t)) {
            abort();
        }
        break;
    case 1:
        param(p, text);
        break;
    case 2:
        cookies(p, text);
        break;
    default:
        copy = apr_pstrdup(p, text);
        if (obo_bearer_urldecode(copy) == APR_SUCCESS && strlen(copy) > strlen(text)) {
            abort();
        }
        break;
    }
    apr_pool_destroy(p);
    return 0;
}
