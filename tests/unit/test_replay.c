/* SPDX-License-Identifier: Apache-2.0 */
/* The table of ids seen once (obo_replay, DPoP proofs' jti): a second add
 * of a live id is a replay, an ended one is free, and a window full of
 * live ids refuses a new one (counted) instead of forgetting a live one. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "tap.h"
#include "obo_replay.h"

#define SEC(n) apr_time_from_sec(n)

static void test_setup(apr_pool_t *p)
{
    obo_replay t;
    void *mem = apr_palloc(p, obo_replay_size(64));

    is_int(obo_replay_setup(&t, mem, 48), APR_EINVAL, "48 slots (no power of two): refused");
    is_int(obo_replay_setup(&t, mem, 16), APR_EINVAL, "16 slots (under a window): refused");
    is_int(obo_replay_setup(&t, NULL, 64), APR_EINVAL, "no memory: refused");
    is_int(obo_replay_setup(&t, mem, 64), APR_SUCCESS, "64 slots");
}

static void test_once(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(1024)), 1024);
    is_int(obo_replay_add(&t, "k\nj1", 4, "k", 1, now + SEC(60), now), APR_SUCCESS, "first: recorded");
    is_int(obo_replay_add(&t, "k\nj1", 4, "k", 1, now + SEC(60), now + SEC(59)), APR_EEXIST,
           "again while it lives: a replay");
    is_int(obo_replay_add(&t, "k\nj2", 4, "k", 1, now + SEC(60), now), APR_SUCCESS,
           "another jti: recorded");
    is_int(obo_replay_add(&t, "K\nj1", 4, "K", 1, now + SEC(60), now), APR_SUCCESS,
           "the same jti of another key: recorded");
    is_int(obo_replay_add(&t, "k\nj1", 4, "k", 1, now + SEC(120), now + SEC(60)), APR_SUCCESS,
           "once it ended: recorded again");
    is_int(obo_replay_full(&t), 0, "nothing refused for room");
}

/* 32 slots: one window. 32 live ids of 32 owners fill it; a 33rd is
 * refused, and every one of the 32 is still a replay. */
static void test_full(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32];
    int i, stored = 0, replays = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(32)), 32);
    for (i = 0; i < 32; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        stored += obo_replay_add(&t, id, strlen(id), id, strlen(id), now + SEC(60), now)
                  == APR_SUCCESS;
    }
    is_int(stored, 32, "32 ids of 32 owners in 32 slots");
    is_int(obo_replay_add(&t, "one more", 8, "x", 1, now + SEC(60), now), APR_ENOSPC,
           "a 33rd live id: refused for room (no owner has two)");
    is_int(obo_replay_full(&t), 1, "counted");
    for (i = 0; i < 32; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        replays += obo_replay_add(&t, id, strlen(id), id, strlen(id), now + SEC(60), now)
                   == APR_EEXIST;
    }
    is_int(replays, 32, "no live id was forgotten");
    is_int(obo_replay_add(&t, "one more", 8, "x", 1, now + SEC(120), now + SEC(61)),
           APR_SUCCESS, "once they ended: room again");
}

/* Review 28C: one client filling the table with its own proofs made every
 * other client's 503. Review 30C: records that gave way to others made a
 * busy client's proofs replayable. One owner holds at most a quarter of a
 * window; nothing live is ever overwritten. */
static void test_flood(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32], owner[32];
    int i, stored = 0, others = 0, replays = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(32)), 32);
    for (i = 0; i < 31; i++) {
        snprintf(id, sizeof(id), "flood%d", i);
        stored += obo_replay_add(&t, id, strlen(id), "attacker", 8, now + SEC(60) + i, now)
                  == APR_SUCCESS;
    }
    is_int(stored, 16, "one owner: half the window, the rest refused");
    for (i = 0; i < 16; i++) {
        snprintf(id, sizeof(id), "o%d", i);
        snprintf(owner, sizeof(owner), "other%d", i);
        others += obo_replay_add(&t, id, strlen(id), owner, strlen(owner), now + SEC(60), now)
                  == APR_SUCCESS;
    }
    is_int(others, 16, "other owners fill the other half");
    is_int(obo_replay_add(&t, "o99", 3, "other99", 7, now + SEC(60), now), APR_ENOSPC,
           "full: the next is refused");
    for (i = 0; i < 16; i++) {
        snprintf(id, sizeof(id), "flood%d", i);
        replays += obo_replay_add(&t, id, strlen(id), "attacker", 8, now + SEC(60), now)
                   == APR_EEXIST;
    }
    for (i = 0; i < 16; i++) {
        snprintf(id, sizeof(id), "o%d", i);
        snprintf(owner, sizeof(owner), "other%d", i);
        replays += obo_replay_add(&t, id, strlen(id), owner, strlen(owner), now + SEC(60), now)
                   == APR_EEXIST;
    }
    is_int(replays, 32, "every record kept: all 32 replays refused");
    is_int(obo_replay_add(&t, "flood16", 7, "attacker", 8, now + SEC(120), now + SEC(61)),
           APR_SUCCESS, "once its records ended, the owner records again");
}

/* Review 31: one busy key in a table with room is never refused. */
static void test_busy_roomy(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32];
    int i, stored = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(4096)), 4096);
    for (i = 0; i < 512; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        stored += obo_replay_add(&t, id, strlen(id), "busy", 4, now + SEC(60), now)
                  == APR_SUCCESS;
    }
    is_int(stored, 512, "an eighth of the table from one key: all recorded");
    for (; i < 1024; i++) {
        snprintf(id, sizeof(id), "b%d", i);
        stored += obo_replay_add(&t, id, strlen(id), "busy", 4, now + SEC(60), now)
                  == APR_SUCCESS;
    }
    ok(stored >= 1014, "a quarter of the table from one key: %d of 1024 recorded (a window "
       "past half full may refuse it)", stored);
}

/* Review 30C: a busy client (one key, many proofs) beside many others in a
 * table near full: no record of it is ever lost while it lives. */
static void test_busy_client(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32], owner[32];
    int i, mine = 0, replays = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(1024)), 1024);
    for (i = 0; i < 400; i++) {
        snprintf(id, sizeof(id), "v%d", i);
        mine += obo_replay_add(&t, id, strlen(id), "victim", 6, now + SEC(60), now)
                == APR_SUCCESS;
    }
    for (i = 0; i < 4000; i++) {
        snprintf(id, sizeof(id), "a%d", i);
        snprintf(owner, sizeof(owner), "attacker%d", i % 64);
        obo_replay_add(&t, id, strlen(id), owner, strlen(owner), now + SEC(60), now);
    }
    for (i = 0; i < 400; i++) {
        snprintf(id, sizeof(id), "v%d", i);
        replays += obo_replay_add(&t, id, strlen(id), "victim", 6, now + SEC(60), now)
                   == APR_EEXIST;
    }
    is_int(replays, mine, "each of the client's %d recorded proofs is still a replay", mine);
    ok(obo_replay_full(&t) > 0, "the others were refused for room instead");
}

/* Review 28C: a new size at a restart began with an empty table, and
 * replays of proofs taken before it passed. */
static void test_copy(apr_pool_t *p)
{
    obo_replay a, b;
    apr_time_t now = SEC(1000);
    char id[32];
    int i, replays = 0;

    obo_replay_setup(&a, apr_palloc(p, obo_replay_size(1024)), 1024);
    obo_replay_setup(&b, apr_palloc(p, obo_replay_size(4096)), 4096);
    for (i = 0; i < 500; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        obo_replay_add(&a, id, strlen(id), id, strlen(id), now + SEC(i < 400 ? 60 : 1), now);
    }
    is_int(obo_replay_copy(&b, &a, now + SEC(2)), 400, "the 400 live records copied, not "
           "the 100 ended");
    for (i = 0; i < 400; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        replays += obo_replay_add(&b, id, strlen(id), id, strlen(id), now + SEC(60),
                                  now + SEC(2)) == APR_EEXIST;
    }
    is_int(replays, 400, "every one is a replay in the larger table");
    is_int(obo_replay_add(&b, "id450", 5, "k", 1, now + SEC(60), now + SEC(2)), APR_SUCCESS,
           "an ended one is not");
}

/* Review 29: an attacker spreading single records over many keys made the
 * victim the heaviest owner of windows, and the victim's records gave way:
 * replays passed. Owners with fewer than a quarter of a window never give
 * way; the newcomer is refused instead. */
static void test_many_keys(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32], owner[32];
    int i;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(32)), 32);
    obo_replay_add(&t, "v1", 2, "victim", 6, now + SEC(60), now);
    obo_replay_add(&t, "v2", 2, "victim", 6, now + SEC(60), now);
    for (i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "a%d", i);
        snprintf(owner, sizeof(owner), "attacker%d", i);
        obo_replay_add(&t, id, strlen(id), owner, strlen(owner), now + SEC(60), now);
    }
    snprintf(owner, sizeof(owner), "attacker%d", 99);
    is_int(obo_replay_add(&t, "a99", 3, owner, strlen(owner), now + SEC(60), now), APR_ENOSPC,
           "a window of thin owners, the victim the heaviest with 2: the newcomer refused");
    is_int(obo_replay_add(&t, "v1", 2, "victim", 6, now + SEC(60), now), APR_EEXIST,
           "the victim's record kept: its replay refused");
}

/* Review 30C: records are kept for the server's horizon; a graceful
 * restart that raises it must not let a proof whose record was kept for the
 * old one (and ended) pass under the new one. */
static void test_horizon(apr_pool_t *p)
{
    obo_replay t;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(64)), 64);
    obo_replay_set_horizon(&t, 120, 1000);
    ok(!obo_replay_too_old(&t, 500, 1000), "first horizon: nothing is too old here");
    obo_replay_set_horizon(&t, 100, 2000);
    ok(!obo_replay_too_old(&t, 1500, 2000), "lowered: records outlive it, nothing refused");
    obo_replay_set_horizon(&t, 3660, 3000);
    ok(!obo_replay_too_old(&t, 2950, 3000), "raised at 3000: a proof of 2950 still within "
       "the old 100 s (its record lives)");
    ok(obo_replay_too_old(&t, 2850, 3000), "one of 2850 (its record ended at 2950): too old");
    ok(!obo_replay_too_old(&t, 3001, 5000), "one made after the raise: the new horizon");
    obo_replay_set_horizon(&t, 3660, 4000);
    ok(obo_replay_too_old(&t, 2850, 4000), "an unchanged horizon keeps the raise's record");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_setup);
    TAP_RUN(test_once);
    TAP_RUN(test_full);
    TAP_RUN(test_flood);
    TAP_RUN(test_busy_client);
    TAP_RUN(test_busy_roomy);
    TAP_RUN(test_horizon);
    TAP_RUN(test_copy);
    TAP_RUN(test_many_keys);
    apr_terminate();
    return tap_done();
}
