/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the token endpoint's answers (untrusted bytes from
 * the network): obo_exchange_parse_response, the code obo_exchange runs on
 * every response, for success (200) and error bodies. The first input byte
 * picks the HTTP status; the rest is the body. A success is then serialised
 * for the cache and read back, which must give the same token. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "obo_exchange.h"
#include "obo_log.h"
#include "obo_token.h"

static apr_pool_t *root;

static void quiet(void *baton, obo_log_level level, const char *msgid, const char *msg)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    obo_log_set(quiet, NULL);
    return 0;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Cached and re-read, a token must come back as it went in. */
static void roundtrip(apr_pool_t *p, const obo_token_result *t)
{
    char *json = obo_token_serialize(p, t);
    obo_token_result *back = NULL;

    if (json && obo_token_deserialize(p, json, strlen(json), &back) == APR_SUCCESS
        && (!same(back->access_token, t->access_token) || !same(back->scope, t->scope)
            || !same(back->token_type, t->token_type)
            || !same(back->issued_token_type, t->issued_token_type))) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = { 200, 400, 401, 403, 429, 500, 503, 302 };
    obo_token_result *res = NULL;
    obo_exchange_error *xerr = NULL;
    apr_pool_t *p;
    char *body;
    int status;

    if (size == 0) {
        return 0;
    }
    status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    /* obo_http hands over len bytes plus a NUL; an exact malloc keeps ASan
     * watching the byte after it. */
    body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    apr_pool_create(&p, root);
    if (obo_exchange_parse_response(p, status, body, size - 1, &res, &xerr) == APR_SUCCESS) {
        if (!res || xerr || !res->access_token || !*res->access_token) {
            abort();   /* success means a usable token, and nothing else */
        }
        roundtrip(p, res);
    }
    else if (!xerr || res) {
        abort();       /* a failure always says why */
    }
    apr_pool_destroy(p);
    free(body);
    return 0;
}
