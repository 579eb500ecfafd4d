/* SPDX-License-Identifier: Apache-2.0 */
/* How far an insertion-order cache has turned (obo_turn): the figure must
 * follow the ring that turns fastest, or a session in use in that ring is
 * evicted before its rewrite falls due (issue 14, A1). */
#include <stdlib.h>
#include "tap.h"
#include "obo_cache.h"
#include "obo_turn.h"

#define FULL OBO_CACHE_WRITTEN_FULL
#define RINGS 8
#define PER_RING 21                     /* shmcb's 512 KiB: 168 entries in 8 rings */
#define BYTES (RINGS * 64 * 1024)

static apr_uint64_t counts[1 + OBO_TURN_RINGS_MAX];

static void test_setup(void)
{
    obo_turn t;

    is_int(obo_turn_setup(&t, counts, 168, BYTES, 0), APR_EINVAL, "no ring: refused");
    is_int(obo_turn_setup(&t, counts, 168, BYTES, 6), APR_EINVAL, "6 rings: refused");
    is_int(obo_turn_setup(&t, counts, 168, BYTES, 512), APR_EINVAL, "512 rings: refused");
    is_int(obo_turn_setup(&t, counts, 4, BYTES, 8), APR_EINVAL, "fewer entries than rings");
    is_int(obo_turn_setup(&t, counts, 168, BYTES, RINGS), APR_SUCCESS, "8 rings");
    is_int(obo_turn_top(&t), 0, "starts at 0");
    is_int(obo_turn_setup(&t, counts, 1, 100, 1), APR_SUCCESS, "one ring of one entry");
    obo_turn_count(&t, 200, 10);
    is_int(obo_turn_top(&t), FULL, "its one entry turns it whole");
}

/* One ring taking its whole capacity: the figure advances by a whole turn,
 * less the lag; a count of the whole cache advanced by an eighth. */
static void test_hot_ring(void)
{
    obo_turn t;
    int i;

    obo_turn_setup(&t, counts, 168, BYTES, RINGS);
    for (i = 0; i < PER_RING; i++) {
        obo_turn_count(&t, 3, 100);
    }
    ok(obo_turn_top(&t) >= FULL - OBO_TURN_LAG,
       "one ring's 21 entries: the figure passed a turn less the lag (%llu)",
       (unsigned long long)obo_turn_top(&t));
    /* another ring turns next: counted from within the lag of the figure */
    {
        apr_uint64_t before = obo_turn_top(&t);
        for (i = 0; i < PER_RING; i++) {
            obo_turn_count(&t, 5, 100);
        }
        ok(obo_turn_top(&t) - before >= FULL - OBO_TURN_LAG - 100,
           "then another ring's 21: one more turn less the lag (%llu)",
           (unsigned long long)(obo_turn_top(&t) - before));
    }
}

/* Rings that turn alike: about one turn when each took its capacity. */
static void test_even(void)
{
    obo_turn t;
    int i;

    obo_turn_setup(&t, counts, 168, BYTES, RINGS);
    for (i = 0; i < RINGS * PER_RING; i++) {
        obo_turn_count(&t, (unsigned int)i, 100);
    }
    ok(obo_turn_top(&t) >= FULL - OBO_TURN_LAG && obo_turn_top(&t) <= FULL + OBO_TURN_LAG,
       "168 entries over 8 rings: about one turn (%llu)", (unsigned long long)obo_turn_top(&t));
    obo_turn_setup(&t, counts, 168, BYTES, RINGS);
    obo_turn_count(&t, 0, 32 * 1024);
    ok(obo_turn_top(&t) >= FULL / 2 - 1000 && obo_turn_top(&t) <= FULL / 2 + 1000,
       "a value of half a ring's bytes: half a turn (%llu)", (unsigned long long)obo_turn_top(&t));
}

static void diag_ratio(apr_uint64_t a, apr_uint64_t b)
{
    printf("# figure / average ring: %.2f\n", (double)a / (double)b);
}

/* For random writes with hot rings: over every window, no ring took more
 * than the figure advanced plus the lag, and with even traffic the figure
 * does not run far ahead of the rings. */
static void test_windows(void)
{
    enum { N = 6000, STEP = 40, PTS = N / STEP + 1 };
    static apr_uint64_t took[PTS][RINGS], top[PTS];
    apr_uint64_t w[RINGS] = { 0 };
    obo_turn t;
    apr_uint64_t even_top = 0;
    int i, a, b, r, bad = 0, hot;

    for (hot = 0; hot < 2; hot++) {
        obo_turn_setup(&t, counts, 168, BYTES, RINGS);
        srand(7 + hot);
        memset(w, 0, sizeof(w));
        for (i = 0; i <= N; i++) {
            if (i % STEP == 0) {
                memcpy(took[i / STEP], w, sizeof(w));
                top[i / STEP] = obo_turn_top(&t);
            }
            /* hot: one ring takes a third of all writes, in bursts */
            r = hot && (rand() % 3 == 0 || (i / 500) % 2) ? (i / 1000) % RINGS : rand() % RINGS;
            obo_turn_count(&t, (unsigned int)r, 200);
            w[r] += t.per_entry;
        }
        for (a = 0; a < PTS; a++) {
            for (b = a + 1; b < PTS; b++) {
                for (r = 0; r < RINGS; r++) {
                    bad += took[b][r] - took[a][r] > top[b] - top[a] + OBO_TURN_LAG;
                }
            }
        }
        is_int(bad, 0, "%s traffic: no ring took more than the figure's advance + the lag",
               hot ? "hot-ring" : "even");
        bad = 0;
        even_top = hot ? even_top : top[PTS - 1];
    }
    /* even traffic: the figure stays near what the average ring took */
    diag_ratio(even_top, (apr_uint64_t)N / RINGS * t.per_entry);
    ok(even_top <= (apr_uint64_t)N / RINGS * t.per_entry * 3 / 2,
       "even traffic: the figure runs at most half as fast again as the average ring");
}

int main(void)
{
    apr_initialize();
    test_setup();
    test_hot_ring();
    test_even();
    test_windows();
    return tap_done();
}
