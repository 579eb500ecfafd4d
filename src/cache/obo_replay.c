/* SPDX-License-Identifier: Apache-2.0 */
/* Ids seen once (see obo_replay.h). */
#include "obo_replay.h"
#include "obo_crypto.h"

#include <string.h>

#define OBO_REPLAY_TAG 16

struct obo_replay_slot {
    unsigned char tag[OBO_REPLAY_TAG];  /* part of the salted hash of the id */
    apr_time_t until;                   /* free when <= now */
};

/* The memory: a header (ids refused, the salt), then the slots. */
typedef struct obo_replay_head {
    apr_uint64_t full;
    apr_uint64_t pad;
    unsigned char salt[OBO_SHA256_LEN];
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

apr_status_t obo_replay_add(const obo_replay *t, const void *id, apr_size_t len,
                            apr_time_t until, apr_time_t now)
{
    unsigned char buf[2 * OBO_SHA256_LEN], h[OBO_SHA256_LEN];
    obo_replay_slot *free_slot = NULL;
    apr_size_t start = 0, i;

    memcpy(buf, obo_rp_head(t)->salt, OBO_SHA256_LEN);
    obo_sha256(id, len, buf + OBO_SHA256_LEN);
    obo_sha256(buf, sizeof(buf), h);
    for (i = 0; i < sizeof(start); i++) {
        start = (start << 8) | h[i];
    }
    /* the whole window first: a live record of id may sit past a free slot */
    for (i = 0; i < OBO_REPLAY_WINDOW; i++) {
        obo_replay_slot *s = &t->slots[(start + i) & (t->nslots - 1)];
        if (s->until <= now) {
            free_slot = free_slot ? free_slot : s;
        }
        else if (memcmp(s->tag, h + OBO_SHA256_LEN - OBO_REPLAY_TAG, OBO_REPLAY_TAG) == 0) {
            return APR_EEXIST;
        }
    }
    if (!free_slot) {
        obo_rp_head(t)->full++;
        return APR_ENOSPC;
    }
    memcpy(free_slot->tag, h + OBO_SHA256_LEN - OBO_REPLAY_TAG, OBO_REPLAY_TAG);
    free_slot->until = until > now ? until : now + 1;
    return APR_SUCCESS;
}

apr_uint64_t obo_replay_full(const obo_replay *t)
{
    return obo_rp_head(t)->full;
}
