/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger behind mod_auth_obo_sessions_live: a session counts once
 * however often it is seen, leaves when it ends or its time passes, a
 * graceful restart keeps the entries, and a full ledger says the count is
 * a lower bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_ledger.h"

#define SEC(n) apr_time_from_sec(n)

static const char *key_of(apr_pool_t *p, int i)
{
    return apr_psprintf(p, "sess-%08d-abcdefghijklmnopqrstuvwxyz012345", i);
}

static void *block(apr_pool_t *p)
{
    void *mem = apr_palloc(p, obo_ledger_size());

    memset(mem, 0xa5, obo_ledger_size());    /* not zero: attach sets it up */
    return mem;
}

static void test_detached(apr_pool_t *p)
{
    (void)p;
    obo_ledger_detach();
    obo_ledger_seen("k", apr_time_now() + SEC(60));
    is_int(obo_ledger_count(apr_time_now(), NULL), -1, "detached: not known");
    is_int(obo_ledger_attach(apr_palloc(p, 64), 64), APR_EINVAL, "a block too small: refused");
}

static void test_count(apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    int i, full = -1;

    is_int(obo_ledger_attach(block(p), obo_ledger_size()), APR_SUCCESS, "attached");
    is_int(obo_ledger_count(now, &full), 0, "a new ledger is empty");
    is_int(full, 0, "and not full");
    ok(!obo_ledger_used(), "nothing entered yet");
    for (i = 0; i < 1000; i++) {
        obo_ledger_seen(key_of(p, i), now + SEC(60 + i % 7));
    }
    is_int(obo_ledger_count(now, NULL), 1000, "1000 sessions seen: 1000 live");
    ok(obo_ledger_used(), "entered");
    for (i = 0; i < 1000; i++) {
        obo_ledger_seen(key_of(p, i), now + SEC(120));
    }
    is_int(obo_ledger_count(now, NULL), 1000, "seen again (the idle expiry slid): still 1000");
    is_int(obo_ledger_count(now + SEC(100), NULL), 1000, "the later end is the one kept");
    for (i = 0; i < 1000; i += 2) {
        obo_ledger_gone(key_of(p, i));
    }
    is_int(obo_ledger_count(now, NULL), 500, "500 ended: 500 live");
    obo_ledger_gone("never-seen");
    is_int(obo_ledger_count(now, NULL), 500, "ending an unknown session changes nothing");
    obo_ledger_seen(key_of(p, 1), now - SEC(1));
    is_int(obo_ledger_count(now, NULL), 499, "seen with an end already past: gone");
    is_int(obo_ledger_count(now + SEC(121), NULL), 0, "past every end: none live");
    obo_ledger_seen(key_of(p, 3), now + SEC(5));
    is_int(obo_ledger_count(now, NULL), 499, "an earlier end replaces the one entered");
    is_int(obo_ledger_count(now + SEC(6), NULL), 498, "and counts: that one has ended");
}

static void test_restart(apr_pool_t *p)
{
    void *mem = block(p);
    apr_time_t now = apr_time_now();
    int i;

    obo_ledger_attach(mem, obo_ledger_size());
    for (i = 0; i < 10; i++) {
        obo_ledger_seen(key_of(p, i), now + SEC(60));
    }
    obo_ledger_detach();
    obo_ledger_attach(mem, obo_ledger_size());
    is_int(obo_ledger_count(now, NULL), 10, "attached again (graceful restart): entries kept");
}

/* Ended entries make room: a ledger turned over many times by short
 * sessions still holds every live one. */
static void test_reuse(apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    int i, full = -1;

    obo_ledger_attach(block(p), obo_ledger_size());
    for (i = 0; i < 3 * OBO_LEDGER_SLOTS / 4; i++) {
        obo_ledger_seen(key_of(p, i), now + SEC(1));
        obo_ledger_gone(key_of(p, i));
    }
    for (i = 0; i < OBO_LEDGER_SLOTS / 2; i++) {
        obo_ledger_seen(key_of(p, 1000000 + i), now + SEC(60));
    }
    is_int(obo_ledger_count(now, &full), OBO_LEDGER_SLOTS / 2,
           "half the ledger live after three quarters of it ended: all counted");
    is_int(full, 0, "nothing pushed out");
}

static void test_full(apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    apr_int64_t n;
    int i, full = 0;

    obo_ledger_attach(block(p), obo_ledger_size());
    for (i = 0; i < OBO_LEDGER_SLOTS + 5000; i++) {
        obo_ledger_seen(key_of(p, i), now + SEC(60 + i % 100));
    }
    n = obo_ledger_count(now, &full);
    ok(n <= OBO_LEDGER_SLOTS && n > OBO_LEDGER_SLOTS * 9 / 10,
       "more sessions than slots: the ledger is nearly all live (%lld)", (long long)n);
    is_int(full, 1, "and says the count is a lower bound");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_detached);
    TAP_RUN(test_count);
    TAP_RUN(test_restart);
    TAP_RUN(test_reuse);
    TAP_RUN(test_full);
    apr_terminate();
    return tap_done();
}
