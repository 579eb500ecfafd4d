/* SPDX-License-Identifier: Apache-2.0 */
/* Ids seen once (see obo_replay.h). */
#include "obo_replay.h"
#include "obo_crypto.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <apr_atomic.h>
#include <apr_thread_proc.h>

#define OBO_REPLAY_TAG 16

#define OBO_REPLAY_OWNER 4

struct obo_replay_slot {
    unsigned char tag[OBO_REPLAY_TAG];      /* the salted hash of the id, its first
                                             * bytes: where its window starts */
    unsigned char owner[OBO_REPLAY_OWNER];  /* part of the salted hash of its owner */
    unsigned char pad[4];
    apr_time_t until;                       /* free when <= now */
};

/* Locks, each over the windows that start in every OBO_REPLAY_STRIPES-th
 * run of OBO_REPLAY_WINDOW slots: one mutex for the table made every
 * DPoP request of every process queue on it (a robust process mutex: a
 * futex system call whenever two met), so a window takes the lock of its
 * run and of the next one, the only two it touches. A lock word holds its
 * holder's pid; a waiter takes over the lock of a holder that died. */
#define OBO_REPLAY_STRIPES 1024

/* The memory: a header (ids refused, the salt, the locks), then the
 * slots. */
typedef struct obo_replay_head {
    volatile apr_uint64_t full;
    /* how long records are kept (seconds after a proof's iat), the value
     * before the last raise and when that was (obo_replay_set_horizon) */
    volatile apr_int64_t horizon, prev_horizon, raised_at;
    unsigned char salt[OBO_SHA256_LEN];
    volatile apr_uint32_t lock[OBO_REPLAY_STRIPES];
} obo_replay_head;

static obo_replay_head *obo_rp_head(const obo_replay *t)
{
    return (obo_replay_head *)((char *)t->slots - sizeof(obo_replay_head));
}

apr_size_t obo_replay_size(apr_size_t nslots)
{
    return sizeof(obo_replay_head) + nslots * sizeof(obo_replay_slot);
}

apr_status_t obo_replay_setup(obo_replay *t, void *mem, apr_size_t nslots)
{
    if (nslots < OBO_REPLAY_WINDOW || (nslots & (nslots - 1)) != 0 || !mem) {
        return APR_EINVAL;
    }
    memset(mem, 0, obo_replay_size(nslots));
    t->slots = (obo_replay_slot *)((char *)mem + sizeof(obo_replay_head));
    t->nslots = nslots;
    return obo_random(obo_rp_head(t)->salt, sizeof(obo_rp_head(t)->salt));
}

static void obo_rp_lock(volatile apr_uint32_t *w)
{
    apr_uint32_t me = (apr_uint32_t)getpid(), holder;
    unsigned spins = 0;

    while ((holder = apr_atomic_cas32(w, me, 0)) != 0) {
        if (++spins < 64) {
            continue;
        }
        apr_thread_yield();
        /* a holder that died mid-update leaves at worst one slot half
         * written: a record lost or refused, never a crash */
        if ((spins & 255) == 0 && holder != me && kill((pid_t)holder, 0) != 0
            && errno == ESRCH && apr_atomic_cas32(w, me, holder) == holder) {
            return;
        }
    }
}

static void obo_rp_unlock(volatile apr_uint32_t *w)
{
    apr_atomic_set32(w, 0);
}

static void obo_rp_hash(const obo_replay *t, const void *data, apr_size_t len,
                        unsigned char h[OBO_SHA256_LEN])
{
    unsigned char buf[2 * OBO_SHA256_LEN];

    memcpy(buf, obo_rp_head(t)->salt, OBO_SHA256_LEN);
    obo_sha256(data, len, buf + OBO_SHA256_LEN);
    obo_sha256(buf, sizeof(buf), h);
}

/* The live records one owner may hold in a window that is half full. A
 * live record never gives way: one that did made its proof replayable
 * (review 30C: a busy client's records were displaced by others' and 161
 * of its proofs were accepted twice). So a flood is held back where it
 * starts: one key fills at most half of any window (its proofs pass
 * freely while the window is less than half full, then only while it
 * holds fewer than a quarter), and others keep the rest (review 28C: one
 * client filling the table made every other client's 503). */
#define OBO_REPLAY_HEAVY (OBO_REPLAY_WINDOW / 4)

static apr_status_t obo_rp_add(const obo_replay *t, const unsigned char *h,
                               const unsigned char *o, apr_size_t start, apr_time_t until,
                               apr_time_t now)
{
    obo_replay_slot *free_slot = NULL;
    apr_size_t i;
    int mine = 0, nfree = 0;

    /* the whole window first: a live record of id may sit past a free slot */
    for (i = 0; i < OBO_REPLAY_WINDOW; i++) {
        obo_replay_slot *s = &t->slots[(start + i) & (t->nslots - 1)];
        if (s->until <= now) {
            free_slot = free_slot ? free_slot : s;
            nfree++;
        }
        else if (memcmp(s->tag, h, OBO_REPLAY_TAG) == 0) {
            return APR_EEXIST;
        }
        else {
            mine += memcmp(s->owner, o, OBO_REPLAY_OWNER) == 0;
        }
    }
    /* the cap only once the window is half full: a busy client in an
     * emptier table was refused for nothing (review 31) */
    if (!free_slot || (nfree <= OBO_REPLAY_WINDOW / 2 && mine >= OBO_REPLAY_HEAVY)) {
        apr_atomic_inc64(&obo_rp_head(t)->full);
        return APR_ENOSPC;
    }
    memcpy(free_slot->tag, h, OBO_REPLAY_TAG);
    memcpy(free_slot->owner, o, OBO_REPLAY_OWNER);
    free_slot->until = until > now ? until : now + 1;
    return APR_SUCCESS;
}

apr_status_t obo_replay_add(const obo_replay *t, const void *id, apr_size_t len,
                            const void *owner, apr_size_t olen, apr_time_t until,
                            apr_time_t now)
{
    unsigned char h[OBO_SHA256_LEN], o[OBO_SHA256_LEN];
    apr_size_t start = 0, runs = t->nslots / OBO_REPLAY_WINDOW, run, a, b, i;
    obo_replay_head *hd = obo_rp_head(t);
    apr_status_t rv;

    obo_rp_hash(t, id, len, h);
    obo_rp_hash(t, owner, olen, o);
    for (i = 0; i < sizeof(start); i++) {
        start = (start << 8) | h[i];
    }
    /* the window's run and the next one (in order: no deadlock) */
    run = (start & (t->nslots - 1)) / OBO_REPLAY_WINDOW;
    a = run % OBO_REPLAY_STRIPES;
    b = ((run + 1) % runs) % OBO_REPLAY_STRIPES;
    if (a > b) {
        i = a, a = b, b = i;
    }
    obo_rp_lock(&hd->lock[a]);
    if (b != a) {
        obo_rp_lock(&hd->lock[b]);
    }
    rv = obo_rp_add(t, h, o, start, until, now);
    if (b != a) {
        obo_rp_unlock(&hd->lock[b]);
    }
    obo_rp_unlock(&hd->lock[a]);
    return rv;
}

apr_size_t obo_replay_copy(const obo_replay *dst, const obo_replay *src, apr_time_t now)
{
    apr_size_t i, j, start, kept = 0;

    memcpy(obo_rp_head(dst)->salt, obo_rp_head(src)->salt, OBO_SHA256_LEN);
    obo_rp_head(dst)->horizon = obo_rp_head(src)->horizon;
    obo_rp_head(dst)->prev_horizon = obo_rp_head(src)->prev_horizon;
    obo_rp_head(dst)->raised_at = obo_rp_head(src)->raised_at;
    for (i = 0; i < src->nslots; i++) {
        const obo_replay_slot *s = &src->slots[i];
        if (s->until <= now) {
            continue;
        }
        for (j = 0, start = 0; j < sizeof(start); j++) {
            start = (start << 8) | s->tag[j];
        }
        for (j = 0; j < OBO_REPLAY_WINDOW; j++) {
            obo_replay_slot *d = &dst->slots[(start + j) & (dst->nslots - 1)];
            if (d->until <= now) {
                *d = *s;
                kept++;
                break;
            }
        }
    }
    return kept;
}

void obo_replay_set_horizon(const obo_replay *t, apr_int64_t horizon, apr_int64_t now)
{
    obo_replay_head *hd = obo_rp_head(t);

    if (hd->horizon && horizon > hd->horizon) {
        hd->prev_horizon = hd->horizon;
        hd->raised_at = now;
    }
    hd->horizon = horizon;
}

int obo_replay_too_old(const obo_replay *t, apr_int64_t iat, apr_int64_t now)
{
    const obo_replay_head *hd = obo_rp_head(t);

    /* a proof made before the raise may have been recorded for the
     * shorter time only, and that record may be gone */
    return hd->raised_at && iat < hd->raised_at && iat + hd->prev_horizon < now;
}

apr_uint64_t obo_replay_full(const obo_replay *t)
{
    return obo_rp_head(t)->full;
}

