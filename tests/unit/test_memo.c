/* SPDX-License-Identifier: Apache-2.0 */
/* The bounded per-process memo: copies in and out, expiry, replacement in a
 * shared slot, size limits, and many threads at once. */
#include <pthread.h>
#include <stdlib.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_crypto.h"
#include "obo_memo.h"

static void key_of(const char *s, unsigned char *k)
{
    obo_sha256(s, strlen(s), k);
}

static void test_put_get(apr_pool_t *p)
{
    obo_memo *m = NULL;
    unsigned char k[32], other[32];
    void *v = NULL;
    apr_size_t n = 0;
    char buf[] = "value-1";
    obo_memo_stats st;

    is_int(obo_memo_create(p, 8, &m), APR_SUCCESS, "created");
    key_of("a", k);
    key_of("b", other);
    is_int(obo_memo_get(m, p, k, &v, &n), APR_NOTFOUND, "empty: miss");
    obo_memo_put(m, k, buf, strlen(buf), 0);
    buf[0] = 'X';
    is_int(obo_memo_get(m, p, k, &v, &n), APR_SUCCESS, "hit");
    is_str((char *)v, "value-1", "a copy was stored, not the caller's buffer");
    is_int(n, 7, "length");
    is_int(obo_memo_get(m, p, other, &v, &n), APR_NOTFOUND, "another key: miss");
    obo_memo_get_stats(m, &st);
    ok(st.hits == 1 && st.misses == 2 && st.stores == 1, "stats count hits, misses, stores");
}

static void test_expiry_and_limits(apr_pool_t *p)
{
    obo_memo *m = NULL;
    unsigned char k[32];
    void *v = NULL;
    apr_size_t n = 0;
    char *big = apr_pcalloc(p, OBO_MEMO_MAX_VALUE + 1);

    obo_memo_create(p, 8, &m);
    key_of("e", k);
    obo_memo_put(m, k, "x", 1, apr_time_now() - 1);
    is_int(obo_memo_get(m, p, k, &v, &n), APR_NOTFOUND, "expired entry: miss");
    obo_memo_put(m, k, "y", 1, apr_time_now() + apr_time_from_sec(60));
    is_int(obo_memo_get(m, p, k, &v, &n), APR_SUCCESS, "live entry: hit");
    obo_memo_put(m, k, big, OBO_MEMO_MAX_VALUE + 1, 0);
    ok(obo_memo_get(m, p, k, &v, &n) == APR_SUCCESS && n == 1,
       "an oversized value is not stored (the previous one stays)");
}

static void test_shared_slot(apr_pool_t *p)
{
    obo_memo *m = NULL;
    unsigned char k1[32], k2[32];
    void *v = NULL;
    apr_size_t n = 0;

    obo_memo_create(p, 1, &m);
    key_of("one", k1);
    key_of("two", k2);
    obo_memo_put(m, k1, "1", 1, 0);
    obo_memo_put(m, k2, "2", 1, 0);
    is_int(obo_memo_get(m, p, k1, &v, &n), APR_NOTFOUND, "one slot: the older key was replaced");
    ok(obo_memo_get(m, p, k2, &v, &n) == APR_SUCCESS && *(char *)v == '2',
       "and never answers for another key");
}

typedef struct {
    obo_memo *m;
    int id, bad;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    apr_pool_t *p = NULL;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 5000; i++) {
        char name[32], want[32];
        unsigned char k[32];
        void *v = NULL;
        apr_size_t n = 0;

        apr_snprintf(name, sizeof(name), "k%d", i % 97);
        apr_snprintf(want, sizeof(want), "v%d", i % 97);
        key_of(name, k);
        obo_memo_put(w->m, k, want, strlen(want), 0);
        if (obo_memo_get(w->m, p, k, &v, &n) == APR_SUCCESS && strcmp(v, want) != 0) {
            w->bad++;
        }
        if (i % 500 == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    return NULL;
}

static void test_threads(apr_pool_t *p)
{
    obo_memo *m = NULL;
    pthread_t th[8];
    worker w[8];
    int i, bad = 0;

    obo_memo_create(p, 16, &m);
    for (i = 0; i < 8; i++) {
        w[i].m = m;
        w[i].id = i;
        w[i].bad = 0;
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
    }
    is_int(bad, 0, "8 threads x 5000 put/get on 16 slots: a key only ever yields its value");
}

/* What the memo released: seen by the release hook, after the wipe and
 * before free. */
static struct {
    int calls, all_zero;
    apr_size_t bytes;
} released;

static void record_release(void *val, apr_size_t len)
{
    const unsigned char *b = val;
    apr_size_t i;

    released.calls++;
    released.bytes += len;
    for (i = 0; i < len; i++) {
        released.all_zero &= b[i] == 0;
    }
    free(val);
}

static apr_status_t copy_probe(void *data)
{
    const char **copy = data;
    apr_size_t i, n = strlen("eyJ.token-B.sig");
    int zero = *copy != NULL;

    for (i = 0; *copy && i < n; i++) {
        zero &= (*copy)[i] == 0;
    }
    ok(zero, "the copy handed out by get is wiped when its pool goes");
    return APR_SUCCESS;
}

static void test_evicted_values_are_wiped(apr_pool_t *p)
{
    const char *a = "eyJ.token-A.sig", *b = "eyJ.token-B.sig";
    const char *copy = NULL;
    unsigned char ka[32], kb[32];
    apr_pool_t *mp, *rp;
    obo_memo *m = NULL;
    apr_size_t n = 0;
    void *v = NULL;

    memset(&released, 0, sizeof(released));
    released.all_zero = 1;
    apr_pool_create(&mp, p);
    obo_memo_create(mp, 1, &m);       /* one slot: every new key evicts */
    obo_memo_set_release(m, record_release);
    key_of("a", ka);
    key_of("b", kb);
    obo_memo_put(m, ka, a, strlen(a), 0);
    is_int(released.calls, 0, "nothing released yet");
    obo_memo_put(m, kb, b, strlen(b), 0);
    is_int(released.calls, 1, "token A evicted by token B");
    is_int(released.bytes, strlen(a), "all of it");
    ok(released.all_zero, "evicted token A was wiped before its memory was freed");
    obo_memo_put(m, kb, b, strlen(b), 0);
    ok(released.calls == 2 && released.all_zero, "a replaced value is wiped too");

    apr_pool_create(&rp, p);
    apr_pool_cleanup_register(rp, &copy, copy_probe, apr_pool_cleanup_null);
    is_int(obo_memo_get(m, rp, kb, &v, &n), APR_SUCCESS, "token B is served");
    copy = v;
    apr_pool_destroy(rp);

    apr_pool_destroy(mp);
    ok(released.calls == 3 && released.all_zero, "the memo's pool cleanup wipes what is left");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_put_get);
    TAP_RUN(test_expiry_and_limits);
    TAP_RUN(test_shared_slot);
    TAP_RUN(test_threads);
    TAP_RUN(test_evicted_values_are_wiped);
    apr_terminate();
    return tap_done();
}
