/* SPDX-License-Identifier: Apache-2.0 */
/* Ids seen once: the jti of every DPoP proof a server accepted, until the
 * proof is too old to be accepted anyway (RFC 9449 s.11.1). A proof is new
 * at every request, so every DPoP request writes an entry: they live here,
 * apart from the token cache, whose rings they would turn over.
 *
 * Fixed memory the caller provides (shared memory for processes), a slot
 * of 32 bytes per id: 16 bytes of a SHA-256 of the id salted with the
 * table's random salt (so nobody can aim ids at one window), 4 of its
 * owner's (the proof's key) and the time it ends. Open addressing over a
 * window of OBO_REPLAY_WINDOW slots. When a window holds only live entries,
 * an owner holding a quarter of them or more gives way, one entry (the one
 * that ends first), to another owner: one client flooding the table with
 * its own proofs only weakens the records of its own proofs and fills the
 * table for nobody else (review 28C). Otherwise (that owner is the one
 * adding, or no owner holds that many: records spread over many keys, as a
 * victim's always are) the id is refused (APR_ENOSPC) rather than any live
 * record forgotten, and the caller refuses the proof (review 29). The table
 * locks itself. */
#ifndef OBO_REPLAY_H
#define OBO_REPLAY_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_time.h>

#define OBO_REPLAY_WINDOW 32          /* slots an id may occupy */
#define OBO_REPLAY_DEFAULT_SLOTS 131072 /* 4 MiB */

typedef struct obo_replay_slot obo_replay_slot;

typedef struct obo_replay {
    obo_replay_slot *slots;
    apr_size_t nslots;                /* a power of two */
} obo_replay;

/* Bytes of memory for nslots slots. */
apr_size_t obo_replay_size(apr_size_t nslots);

/* t over mem (obo_replay_size(nslots) bytes, zeroed here, with a fresh
 * random salt). APR_EINVAL if nslots is not a power of two >=
 * OBO_REPLAY_WINDOW. */
apr_status_t obo_replay_setup(obo_replay *t, void *mem, apr_size_t nslots);

/* Records id (len bytes) of owner (olen bytes) until `until`: APR_SUCCESS
 * the first time, APR_EEXIST while an earlier record lives, APR_ENOSPC when
 * its window holds only live records, or is half full and owner holds a
 * quarter of it already (counted: obo_replay_full). A live record is never
 * overwritten. */
apr_status_t obo_replay_add(const obo_replay *t, const void *id, apr_size_t len,
                            const void *owner, apr_size_t olen, apr_time_t until,
                            apr_time_t now);

/* dst (set up, empty) takes src's salt and every live record of src, where
 * its own size puts them (a graceful restart that changes the size keeps
 * what the old table knew). The number kept (a record that finds no room in
 * dst is lost). */
apr_size_t obo_replay_copy(const obo_replay *dst, const obo_replay *src, apr_time_t now);

/* How long the records are kept: `horizon` seconds after a proof's iat,
 * the longest any check of the server accepts it (review 30C: a record kept
 * for a short window was gone when a longer one accepted the proof again).
 * Set at each (re)start; a table kept across a graceful restart that raises
 * it remembers the old value and when (now, seconds) it was raised, for
 * obo_replay_too_old. */
void obo_replay_set_horizon(const obo_replay *t, apr_int64_t horizon, apr_int64_t now);

/* 1 if a proof of that iat (seconds) may have been recorded before the last
 * raise for less time than it is accepted now, and that record may have
 * ended: it must be refused as too old. */
int obo_replay_too_old(const obo_replay *t, apr_int64_t iat, apr_int64_t now);

/* Ids refused for want of room since setup. */
apr_uint64_t obo_replay_full(const obo_replay *t);

#endif
