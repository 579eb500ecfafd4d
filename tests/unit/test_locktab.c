/* SPDX-License-Identifier: Apache-2.0 */
/* The table of locks and notes kept apart from the token cache
 * (obo_locktab): add is exclusive while an entry lives, an ended entry is
 * free, a flood of other names never displaces a live entry while its
 * window has room, and when it has none the entry that ends first gives
 * way (counted). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "tap.h"
#include "obo_locktab.h"
#include "obo_crypto.h"

#define SLOTS 64
#define SEC(n) apr_time_from_sec(n)

static void *mem;

static void test_setup(obo_locktab *t)
{
    mem = malloc(obo_locktab_size(1024));
    is_int(obo_locktab_setup(t, mem, 48), APR_EINVAL, "48 slots (no power of two): refused");
    is_int(obo_locktab_setup(t, mem, 8), APR_EINVAL, "8 slots (under a window): refused");
    is_int(obo_locktab_setup(t, NULL, 64), APR_EINVAL, "no memory: refused");
    is_int(obo_locktab_setup(t, mem, SLOTS), APR_SUCCESS, "64 slots");
}

static void test_ops(apr_pool_t *p, const obo_locktab *t)
{
    unsigned char *v = NULL;
    apr_size_t len = 0;
    apr_time_t now = SEC(1000);
    char big[OBO_LOCKTAB_VALUE_MAX + 1];

    is_int(obo_locktab_get(t, p, "a.lock", now, &v, &len), APR_NOTFOUND, "empty: a miss");
    is_int(obo_locktab_add(t, "a.lock", "tok1", 4, now + SEC(30), now), APR_SUCCESS, "add");
    is_int(obo_locktab_add(t, "a.lock", "tok2", 4, now + SEC(30), now), APR_EEXIST,
           "a second add while it lives: EEXIST");
    ok(obo_locktab_get(t, p, "a.lock", now, &v, &len) == APR_SUCCESS && len == 4
       && memcmp(v, "tok1", 4) == 0, "get: the first holder's value");
    is_int(obo_locktab_add(t, "a.lock", "tok3", 4, now + SEC(60), now + SEC(30)), APR_SUCCESS,
           "add once it ended: taken");
    ok(obo_locktab_get(t, p, "a.lock", now + SEC(31), &v, &len) == APR_SUCCESS
       && memcmp(v, "tok3", 4) == 0, "the new holder's value");
    is_int(obo_locktab_set(t, "a.lock", "tok4", 4, now + SEC(90), now), APR_SUCCESS, "set");
    ok(obo_locktab_get(t, p, "a.lock", now + SEC(80), &v, &len) == APR_SUCCESS
       && memcmp(v, "tok4", 4) == 0, "set replaced it, with its end");
    is_int(obo_locktab_del(t, "a.lock"), APR_SUCCESS, "del");
    is_int(obo_locktab_get(t, p, "a.lock", now, &v, &len), APR_NOTFOUND, "gone");
    is_int(obo_locktab_del(t, "a.lock"), APR_NOTFOUND, "del again: not found");
    memset(big, 'x', sizeof(big));
    is_int(obo_locktab_set(t, "b", big, sizeof(big), now + SEC(5), now), APR_ENOSPC,
           "a value over the maximum: refused");
    obo_locktab_set(t, "c", "1", 1, now + SEC(5), now);
    obo_locktab_set(t, "c", "1", 1, now - 1, now);
    is_int(obo_locktab_get(t, p, "c", now, &v, &len), APR_NOTFOUND,
           "set with an end already passed removes it");
}

/* 10,000 names, half released at once and half left to end after 1 s (five
 * live at a time), through a 64-slot table while "victim" lives: the victim stays as long as its window has a free or ended slot. */
static void test_flood(apr_pool_t *p, const obo_locktab *t)
{
    unsigned char *v = NULL;
    apr_size_t len = 0;
    apr_time_t now = SEC(5000);
    int i, lost = 0;

    obo_locktab_setup((obo_locktab *)t, mem, SLOTS);
    obo_locktab_add(t, "victim.lock", "held", 4, now + SEC(2000), now);
    for (i = 0; i < 10000; i++) {
        char name[32];

        snprintf(name, sizeof(name), "flood-%d.lock", i);
        now += apr_time_from_msec(100);
        obo_locktab_add(t, name, "x", 1, now + SEC(1), now);
        if (i % 2) {
            obo_locktab_del(t, name);     /* half released, half left to end */
        }
        lost += obo_locktab_get(t, p, "victim.lock", now, &v, &len) != APR_SUCCESS;
    }
    is_int(lost, 0, "a flood of short-lived names never displaced a live entry");
    is_int(obo_locktab_displaced(t), 0, "nothing gave way");
}

/* Every slot live: the entry that ends first gives way, and that is counted. */
static void test_full(apr_pool_t *p, const obo_locktab *t)
{
    unsigned char *v = NULL;
    apr_size_t len = 0;
    apr_time_t now = SEC(9000);
    int i, held = 0;

    obo_locktab_setup((obo_locktab *)t, mem, SLOTS);
    for (i = 0; i < SLOTS * 4; i++) {
        char name[32];

        snprintf(name, sizeof(name), "n-%d", i);
        obo_locktab_set(t, name, "1", 1, now + SEC(100 + i), now);
    }
    ok(obo_locktab_displaced(t) >= SLOTS * 3, "256 live names in 64 slots: at least 192 gave "
       "way (%llu)", (unsigned long long)obo_locktab_displaced(t));
    for (i = SLOTS * 3; i < SLOTS * 4; i++) {
        char name[32];

        snprintf(name, sizeof(name), "n-%d", i);
        held += obo_locktab_get(t, p, name, now, &v, &len) == APR_SUCCESS;
    }
    ok(held >= SLOTS / 2, "the entries that end last are mostly kept (%d of the last 64)",
       held);
}

/* Review 18A: notes (anyone can cause them) never push out a held lock,
 * even ending later; a lock still takes a note's slot. */
static void test_notes_spare_locks(apr_pool_t *p, const obo_locktab *t)
{
    unsigned char *v = NULL;
    apr_size_t len = 0;
    apr_time_t now = SEC(20000);
    int i, held = 1, locks_in = 0;

    obo_locktab_setup((obo_locktab *)t, mem, SLOTS);
    for (i = 0; i < 8; i++) {
        char name[32];

        snprintf(name, sizeof(name), "lock-%d.lock", i);
        obo_locktab_add(t, name, "tok", 3, now + SEC(5), now);
    }
    for (i = 0; i < 2000; i++) {
        char name[32];

        snprintf(name, sizeof(name), "note-%d.inactive", i);
        obo_locktab_set(t, name, "1", 1, now + SEC(10), now);
    }
    for (i = 0; i < 8; i++) {
        char name[32];

        snprintf(name, sizeof(name), "lock-%d.lock", i);
        held &= obo_locktab_get(t, p, name, now, &v, &len) == APR_SUCCESS;
    }
    ok(held, "2,000 notes in a 64-slot table: every held lock is still there");
    obo_locktab_set(t, "lock-0.lock", "tok2", 4, now + SEC(6), now);
    ok(obo_locktab_get(t, p, "lock-0.lock", now, &v, &len) == APR_SUCCESS && len == 4,
       "a lock rewritten with set (held longer) stays a lock");
    for (i = 0; i < 64; i++) {
        char name[32];

        snprintf(name, sizeof(name), "new-%d.lock", i);
        locks_in += obo_locktab_add(t, name, "t", 1, now + SEC(5), now) == APR_SUCCESS
                    && obo_locktab_get(t, p, name, now, &v, &len) == APR_SUCCESS;
    }
    is_int(locks_in, 64, "new locks take the notes' slots");
    /* fill every slot with a held lock (each slot lies in 16 windows: 512 adds
     * reach them all): then a note finds no slot, and says so */
    for (i = 0; i < SLOTS * 8; i++) {
        char name[32];

        snprintf(name, sizeof(name), "fill-%d.lock", i);
        obo_locktab_add(t, name, "t", 1, now + SEC(50), now);
    }
    is_int(obo_locktab_set(t, "late-note.inactive", "1", 1, now + SEC(10), now), APR_ENOSPC,
           "a note among held locks only: APR_ENOSPC, not a silent drop");
    ok(obo_locktab_get(t, p, "late-note.inactive", now, &v, &len) == APR_NOTFOUND,
       "... and it is not there");
}

/* Where an unsalted table would start name's window (SHA-256 of the name,
 * as before review 19): what anyone could compute. */
static apr_size_t plain_start(const char *name, apr_size_t nslots)
{
    unsigned char id[OBO_SHA256_LEN];
    apr_size_t h = 0, i;

    obo_sha256(name, strlen(name), id);
    for (i = 0; i < sizeof(h); i++) {
        h = h << 8 | id[i];
    }
    return h & (nslots - 1);
}

/* Review 19: lock names are public (a hash of a token anyone sends, a
 * session owner's ids). 32 names aimed at the window of a held lock, each
 * taking a lock that ends later, pushed it out when the window was the
 * plain SHA-256 of the name; salted, they land elsewhere. */
static void test_aimed(apr_pool_t *p)
{
    enum { BIG = OBO_LOCKTAB_DEFAULT_SLOTS };
    void *bigmem = malloc(obo_locktab_size(BIG));
    obo_locktab t;
    unsigned char *v = NULL;
    apr_size_t len = 0, target = plain_start("victim.lock", BIG);
    apr_time_t now = SEC(30000);
    int i, found = 0;

    obo_locktab_setup(&t, bigmem, BIG);
    obo_locktab_add(&t, "victim.lock", "held", 4, now + SEC(30), now);
    for (i = 0; found < 32 && i < 10000000; i++) {
        char name[32];

        snprintf(name, sizeof(name), "aimed-%d.lock", i);
        if (plain_start(name, BIG) == target) {
            found++;
            obo_locktab_add(&t, name, "x", 1, now + SEC(60), now);
        }
    }
    is_int(found, 32, "32 names whose plain hash starts at the held lock's window");
    ok(obo_locktab_get(&t, p, "victim.lock", now, &v, &len) == APR_SUCCESS && len == 4
       && memcmp(v, "held", 4) == 0, "the held lock is still there");
    is_int(obo_locktab_displaced(&t), 0, "nothing gave way");
    free(bigmem);
}

/* The owner's operations are one step: another holder's lock is neither
 * removed nor overwritten. */
static void test_owner(apr_pool_t *p, const obo_locktab *t)
{
    unsigned char *v = NULL;
    apr_size_t len = 0;
    apr_time_t now = SEC(40000);

    obo_locktab_setup((obo_locktab *)t, mem, SLOTS);
    obo_locktab_add(t, "o.lock", "mine", 4, now + SEC(5), now);
    is_int(obo_locktab_del_if(t, "o.lock", "them", 4, now), APR_EEXIST,
           "del_if with another holder's value: EEXIST");
    is_int(obo_locktab_hold(t, "o.lock", "them", 4, now + SEC(50), now), APR_EEXIST,
           "hold with another holder's value: EEXIST");
    ok(obo_locktab_get(t, p, "o.lock", now + SEC(4), &v, &len) == APR_SUCCESS
       && memcmp(v, "mine", 4) == 0 && obo_locktab_get(t, p, "o.lock", now + SEC(6), &v, &len)
       == APR_NOTFOUND, "the holder's lock, with its own end, is untouched");
    is_int(obo_locktab_hold(t, "o.lock", "mine", 4, now + SEC(50), now), APR_SUCCESS,
           "hold by the holder");
    ok(obo_locktab_get(t, p, "o.lock", now + SEC(40), &v, &len) == APR_SUCCESS,
       "held longer");
    is_int(obo_locktab_add(t, "o.lock", "them", 4, now + SEC(20), now + SEC(10)), APR_EEXIST,
           "still a lock: add refused");
    is_int(obo_locktab_del_if(t, "o.lock", "mine", 4, now), APR_SUCCESS, "del_if by the holder");
    is_int(obo_locktab_get(t, p, "o.lock", now, &v, &len), APR_NOTFOUND, "gone");
    is_int(obo_locktab_del_if(t, "o.lock", "mine", 4, now), APR_NOTFOUND,
           "del_if again: not found");
    is_int(obo_locktab_hold(t, "o.lock", "mine", 4, now + SEC(5), now), APR_SUCCESS,
           "hold of a vanished lock retakes it");
    is_int(obo_locktab_add(t, "o.lock", "them", 4, now + SEC(5), now), APR_EEXIST,
           "as a lock");
}

int main(void)
{
    apr_pool_t *p;
    obo_locktab t;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_setup(&t);
    test_ops(p, &t);
    test_flood(p, &t);
    test_full(p, &t);
    test_notes_spare_locks(p, &t);
    test_aimed(p);
    test_owner(p, &t);
    free(mem);
    return tap_done();
}
