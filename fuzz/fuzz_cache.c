/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for cache values (untrusted: memcached is shared, and
 * anyone who can write to it can plant bytes). Each input goes through
 *  1. the sealed-value open path: obo_cache_get on a backend that returns
 *     the input as the stored value (version, nonce, tag and length checks
 *     before and around AES-GCM; forged values must read as misses);
 *  2. the value path: the input stored with obo_cache_set, read back with
 *     obo_cache_get (must be byte-identical) and parsed by
 *     obo_token_deserialize, as a cache hit does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "obo_cache.h"
#include "obo_log.h"
#include "obo_token.h"

#define KEY "obo1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static apr_pool_t *root;
static obo_cache *cache;

/* One stored value (the fuzz target is single-threaded). */
static struct {
    unsigned char *val;
    apr_size_t len;
    int present;
} slot;

static void quiet(void *baton, obo_log_level level, const char *msgid, const char *msg)
{
}

static apr_status_t free_copy(void *data)
{
    free(data);
    return APR_SUCCESS;
}

/* An exact-size malloc copy, so ASan sees a read past its end. */
static apr_status_t be_get(void *ctx, apr_pool_t *p, const char *key, unsigned char **val,
                           apr_size_t *len)
{
    unsigned char *copy;

    if (!slot.present) {
        return APR_NOTFOUND;
    }
    copy = malloc(slot.len ? slot.len : 1);
    memcpy(copy, slot.val, slot.len);
    apr_pool_cleanup_register(p, copy, free_copy, apr_pool_cleanup_null);
    *val = copy;
    *len = slot.len;
    return APR_SUCCESS;
}

static apr_status_t be_set(void *ctx, apr_pool_t *p, const char *key,
                           const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    slot.val = apr_pmemdup(p, val, len);
    slot.len = len;
    slot.present = 1;
    return APR_SUCCESS;
}

static apr_status_t be_add(void *ctx, apr_pool_t *p, const char *key,
                           const unsigned char *val, apr_size_t len, apr_time_t expiry)
{
    return slot.present ? APR_EEXIST : be_set(ctx, p, key, val, len, expiry);
}

static apr_status_t be_del(void *ctx, apr_pool_t *p, const char *key)
{
    slot.present = 0;
    return APR_SUCCESS;
}

static const obo_cache_backend backend = { "fuzz", be_get, be_set, be_add, be_del, NULL, NULL,
                                           NULL, NULL, NULL, 0 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const unsigned char secret[] = "fuzz-cache-secret-0123456789abcdef";

    apr_initialize();
    /* The cache's private pool has an allocator of its own, freed only
     * when its pool is destroyed: destroy everything at exit, or ASan's
     * leak checker reports that allocator. */
    atexit(apr_terminate);
    apr_pool_create(&root, NULL);
    obo_log_set(quiet, NULL);
    if (obo_cache_create(root, &backend, secret, sizeof(secret) - 1, &cache) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    obo_token_result *t = NULL;
    apr_size_t len = 0;
    char *val = NULL;
    apr_pool_t *p;
    apr_status_t rv;

    apr_pool_create(&p, root);
    slot.val = (unsigned char *)data;
    slot.len = size;
    slot.present = 1;
    rv = obo_cache_get(cache, p, KEY, &val, &len);
    if (rv != APR_NOTFOUND) {
        abort();   /* nobody holds the key: a planted value never opens */
    }

    if (obo_cache_set(cache, p, KEY, (const char *)data, size,
                      apr_time_now() + apr_time_from_sec(60)) != APR_SUCCESS
        || obo_cache_get(cache, p, KEY, &val, &len) != APR_SUCCESS
        || len != size || memcmp(val, data, size) != 0 || val[len] != '\0') {
        abort();   /* what we sealed must open, unchanged and terminated */
    }
    obo_token_deserialize(p, val, len, &t);
    slot.present = 0;
    apr_pool_destroy(p);
    return 0;
}
