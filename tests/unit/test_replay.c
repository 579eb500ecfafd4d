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
    is_int(obo_replay_add(&t, "k\nj1", 4, now + SEC(60), now), APR_SUCCESS, "first: recorded");
    is_int(obo_replay_add(&t, "k\nj1", 4, now + SEC(60), now + SEC(59)), APR_EEXIST,
           "again while it lives: a replay");
    is_int(obo_replay_add(&t, "k\nj2", 4, now + SEC(60), now), APR_SUCCESS,
           "another jti: recorded");
    is_int(obo_replay_add(&t, "K\nj1", 4, now + SEC(60), now), APR_SUCCESS,
           "the same jti of another key: recorded");
    is_int(obo_replay_add(&t, "k\nj1", 4, now + SEC(120), now + SEC(60)), APR_SUCCESS,
           "once it ended: recorded again");
    is_int(obo_replay_full(&t), 0, "nothing refused for room");
}

/* 32 slots: one window. 32 live ids fill it; the 33rd is refused, and
 * every one of the 32 is still a replay. */
static void test_full(apr_pool_t *p)
{
    obo_replay t;
    apr_time_t now = SEC(1000);
    char id[32];
    int i, stored = 0, replays = 0;

    obo_replay_setup(&t, apr_palloc(p, obo_replay_size(32)), 32);
    for (i = 0; i < 32; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        stored += obo_replay_add(&t, id, strlen(id), now + SEC(60), now) == APR_SUCCESS;
    }
    is_int(stored, 32, "32 ids in 32 slots");
    is_int(obo_replay_add(&t, "one more", 8, now + SEC(60), now), APR_ENOSPC,
           "a 33rd live id: refused for room");
    is_int(obo_replay_full(&t), 1, "counted");
    for (i = 0; i < 32; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        replays += obo_replay_add(&t, id, strlen(id), now + SEC(60), now) == APR_EEXIST;
    }
    is_int(replays, 32, "no live id was forgotten");
    is_int(obo_replay_add(&t, "one more", 8, now + SEC(120), now + SEC(61)), APR_SUCCESS,
           "once they ended: room again");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_setup);
    TAP_RUN(test_once);
    TAP_RUN(test_full);
    apr_terminate();
    return tap_done();
}
