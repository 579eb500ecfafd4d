/* SPDX-License-Identifier: Apache-2.0 */
/* Small, short-lived entries apart from the token cache (see obo_locktab.h). */
#include "obo_locktab.h"
#include "obo_crypto.h"

#include <string.h>
#include <apr_strings.h>

struct obo_locktab_slot {
    unsigned char id[OBO_SHA256_LEN];   /* SHA-256 of the name */
    apr_time_t until;                   /* free when <= now */
    apr_uint16_t lock;                  /* taken by add (a lock), else a note */
    apr_uint16_t len;
    unsigned char val[OBO_LOCKTAB_VALUE_MAX];
};

/* The memory: a header (what gave way, the salt), then the slots. */
typedef struct obo_locktab_head {
    apr_uint64_t displaced;
    apr_uint64_t pad;
    unsigned char salt[OBO_SHA256_LEN];
} obo_locktab_head;

static obo_locktab_head *obo_lt_head(const obo_locktab *t)
{
    return (obo_locktab_head *)((char *)t->slots - sizeof(obo_locktab_head));
}

apr_size_t obo_locktab_size(apr_size_t nslots)
{
    return sizeof(obo_locktab_head) + nslots * sizeof(obo_locktab_slot);
}

apr_status_t obo_locktab_setup(obo_locktab *t, void *mem, apr_size_t nslots)
{
    if (nslots < OBO_LOCKTAB_WINDOW || (nslots & (nslots - 1)) != 0 || !mem) {
        return APR_EINVAL;
    }
    memset(mem, 0, obo_locktab_size(nslots));
    t->slots = (obo_locktab_slot *)((char *)mem + sizeof(obo_locktab_head));
    t->nslots = nslots;
    return obo_random(obo_lt_head(t)->salt, sizeof(obo_lt_head(t)->salt));
}

/* Where name's window starts, and its id: both from a hash salted with
 * this table's random salt. Lock names can be computed by anyone (a hash
 * of a token they sent, a session owner's ids): unsalted, sixteen names
 * aimed at one window push out the lock held there (review 19: the lock
 * on a user's session list, so two requests both opened sessions past
 * OBOSessionLimit). */
static apr_size_t obo_lt_start(const obo_locktab *t, const char *name,
                               unsigned char id[OBO_SHA256_LEN])
{
    unsigned char buf[2 * OBO_SHA256_LEN];
    apr_size_t h = 0, i;

    memcpy(buf, obo_lt_head(t)->salt, OBO_SHA256_LEN);
    obo_sha256(name, strlen(name), buf + OBO_SHA256_LEN);
    obo_sha256(buf, sizeof(buf), id);
    for (i = 0; i < sizeof(h); i++) {
        h = h << 8 | id[i];
    }
    return h & (t->nslots - 1);
}

static obo_locktab_slot *obo_lt_at(const obo_locktab *t, apr_size_t start, apr_size_t i)
{
    return &t->slots[(start + i) & (t->nslots - 1)];
}

/* name's slot in its window whether live or ended (a name is stored once),
 * or NULL. */
static obo_locktab_slot *obo_lt_find(const obo_locktab *t, const char *name)
{
    unsigned char id[OBO_SHA256_LEN];
    apr_size_t start = obo_lt_start(t, name, id), i;

    for (i = 0; i < OBO_LOCKTAB_WINDOW; i++) {
        obo_locktab_slot *s = obo_lt_at(t, start, i);

        if (s->until != 0 && memcmp(s->id, id, sizeof(id)) == 0) {
            return s;
        }
    }
    return NULL;
}

/* Whether live slot s may give way to a new entry (a lock or a note):
 * anything may replace a note; only a lock replaces a lock. Notes can be
 * caused by anyone (an unknown opaque token), so a flood of them never
 * pushes out a held lock (review 18A: a refresh lock lost that way could
 * let two refreshes spend one refresh token). */
static int obo_lt_yields(const obo_locktab_slot *s, int lock)
{
    return !s->lock || lock;
}

/* The better victim of two live slots: notes before locks, then the one
 * that ends first. */
static obo_locktab_slot *obo_lt_victim(obo_locktab_slot *a, obo_locktab_slot *b)
{
    if (!a) {
        return b;
    }
    if (a->lock != b->lock) {
        return a->lock ? b : a;
    }
    return b->until < a->until ? b : a;
}

/* A slot for name: its own, else a free one, else a live one that may give
 * way (counted as displaced), else NULL (a note finds only held locks:
 * dropped, and counted too). */
static obo_locktab_slot *obo_lt_place(const obo_locktab *t, const char *name, apr_time_t now,
                                      int lock)
{
    unsigned char id[OBO_SHA256_LEN];
    apr_size_t start = obo_lt_start(t, name, id), i;
    obo_locktab_slot *mine = NULL, *free_slot = NULL, *victim = NULL;

    for (i = 0; i < OBO_LOCKTAB_WINDOW && !mine; i++) {
        obo_locktab_slot *s = obo_lt_at(t, start, i);

        if (s->until != 0 && memcmp(s->id, id, sizeof(id)) == 0) {
            mine = s;
        }
        else if (s->until <= now) {
            free_slot = free_slot ? free_slot : s;
        }
        else if (obo_lt_yields(s, lock)) {
            victim = obo_lt_victim(victim, s);
        }
    }
    if (!mine && !free_slot) {
        obo_lt_head(t)->displaced++;
    }
    mine = mine ? mine : free_slot ? free_slot : victim;
    if (mine) {
        memcpy(mine->id, id, sizeof(id));
    }
    return mine;
}

apr_status_t obo_locktab_get(const obo_locktab *t, apr_pool_t *p, const char *name,
                             apr_time_t now, unsigned char **val, apr_size_t *len)
{
    const obo_locktab_slot *s = obo_lt_find(t, name);

    if (!s || s->until <= now) {
        return APR_NOTFOUND;
    }
    *val = apr_pmemdup(p, s->val, s->len);
    *len = s->len;
    return APR_SUCCESS;
}

static apr_status_t obo_lt_store(const obo_locktab *t, const char *name, const void *val,
                                 apr_size_t len, apr_time_t until, apr_time_t now, int add)
{
    obo_locktab_slot *s;

    if (len > OBO_LOCKTAB_VALUE_MAX) {
        return APR_ENOSPC;
    }
    if (until <= now) {
        obo_locktab_del(t, name);    /* ended already: nothing to keep */
        return APR_SUCCESS;
    }
    if (add && (s = obo_lt_find(t, name)) != NULL && s->until > now) {
        return APR_EEXIST;
    }
    /* add takes a lock; set keeps a held lock a lock (obo_cache_lock_hold) */
    s = obo_lt_find(t, name);
    add = add || (s && s->until > now && s->lock);
    s = obo_lt_place(t, name, now, add);
    if (!s) {
        return APR_ENOSPC;           /* a note among held locks only: not kept, and said
                                      * so (a start count or a refusal the caller relies
                                      * on must not pass for stored) */
    }
    memcpy(s->val, val, len);
    s->len = (apr_uint16_t)len;
    s->lock = (apr_uint16_t)(add != 0);
    s->until = until;
    return APR_SUCCESS;
}

apr_status_t obo_locktab_set(const obo_locktab *t, const char *name, const void *val,
                             apr_size_t len, apr_time_t until, apr_time_t now)
{
    return obo_lt_store(t, name, val, len, until, now, 0);
}

apr_status_t obo_locktab_add(const obo_locktab *t, const char *name, const void *val,
                             apr_size_t len, apr_time_t until, apr_time_t now)
{
    return obo_lt_store(t, name, val, len, until, now, 1);
}

apr_status_t obo_locktab_del(const obo_locktab *t, const char *name)
{
    obo_locktab_slot *s = obo_lt_find(t, name);

    if (!s) {
        return APR_NOTFOUND;
    }
    memset(s, 0, sizeof(*s));
    return APR_SUCCESS;
}

/* name's live entry holding val, or NULL; *other: a live entry holds
 * another value. */
static obo_locktab_slot *obo_lt_mine(const obo_locktab *t, const char *name, const void *val,
                                     apr_size_t len, apr_time_t now, int *other)
{
    obo_locktab_slot *s = obo_lt_find(t, name);

    *other = 0;
    if (!s || s->until <= now) {
        return NULL;
    }
    if (!obo_ct_equal(s->val, s->len, val, len)) {
        *other = 1;
        return NULL;
    }
    return s;
}

apr_status_t obo_locktab_del_if(const obo_locktab *t, const char *name, const void *val,
                                apr_size_t len, apr_time_t now)
{
    int other = 0;
    obo_locktab_slot *s = obo_lt_mine(t, name, val, len, now, &other);

    if (s) {
        memset(s, 0, sizeof(*s));
    }
    return s ? APR_SUCCESS : other ? APR_EEXIST : APR_NOTFOUND;
}

apr_status_t obo_locktab_hold(const obo_locktab *t, const char *name, const void *val,
                              apr_size_t len, apr_time_t until, apr_time_t now)
{
    int other = 0;
    const obo_locktab_slot *s = obo_lt_mine(t, name, val, len, now, &other);

    /* a live lock of ours is rewritten (and stays a lock); else retaken */
    return other ? APR_EEXIST : obo_lt_store(t, name, val, len, until, now, !s || !s->lock);
}

apr_uint64_t obo_locktab_displaced(const obo_locktab *t)
{
    return obo_lt_head(t)->displaced;
}
