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
 * other client's 503. Its records give way to others'; it alone is refused. */
static void test_flood(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32];
    int i, stored = 0, own = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(32)), 32);
    for (i = 0; i < 31; i++) {
        snprintf(id, sizeof(id), "flood%d", i);
        stored += obo_replay_add(&t, id, strlen(id), "attacker", 8, now + SEC(60) + i, now)
                  == APR_SUCCESS;
    }
    is_int(obo_replay_add(&t, "v1", 2, "victim", 6, now + SEC(60), now), APR_SUCCESS,
           "the victim's proof in the last free slot");
    is_int(stored, 31, "the flooder's 31");
    is_int(obo_replay_add(&t, "flood31", 7, "attacker", 8, now + SEC(60), now), APR_ENOSPC,
           "the flooder's next one, in a full table: refused");
    is_int(obo_replay_add(&t, "v2", 2, "victim", 6, now + SEC(60), now), APR_SUCCESS,
           "the victim's next one: a flooder's record gives way");
    is_int(obo_replay_displaced(&t), 1, "counted as displaced");
    is_int(obo_replay_add(&t, "flood0", 6, "attacker", 8, now + SEC(60), now), APR_ENOSPC,
           "the one that gave way was the flooder's that ends first (not a replay any more, "
           "but refused for room)");
    own += obo_replay_add(&t, "v1", 2, "victim", 6, now + SEC(60), now) == APR_EEXIST;
    own += obo_replay_add(&t, "v2", 2, "victim", 6, now + SEC(60), now) == APR_EEXIST;
    is_int(own, 2, "the victim's records are kept: both replays refused");
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
        obo_replay_add(&a, id, strlen(id), "k", 1, now + SEC(i < 400 ? 60 : 1), now);
    }
    is_int(obo_replay_copy(&b, &a, now + SEC(2)), 400, "the 400 live records copied, not "
           "the 100 ended");
    for (i = 0; i < 400; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        replays += obo_replay_add(&b, id, strlen(id), "k", 1, now + SEC(60), now + SEC(2))
                   == APR_EEXIST;
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
    is_int(obo_replay_displaced(&t), 0, "nothing displaced");
    is_int(obo_replay_add(&t, "v1", 2, "victim", 6, now + SEC(60), now), APR_EEXIST,
           "the victim's record kept: its replay refused");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_setup);
    TAP_RUN(test_once);
    TAP_RUN(test_full);
    TAP_RUN(test_flood);
    TAP_RUN(test_copy);
    TAP_RUN(test_many_keys);
    apr_terminate();
    return tap_done();
}
