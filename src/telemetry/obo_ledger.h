/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger of live long-running sessions behind the gauge
 * mod_auth_obo_sessions_live.
 *
 * Sessions live in the shared cache, which cannot be listed (memcached),
 * so each server keeps its own ledger in shared memory: a session is
 * entered when this server starts it or serves it, with the time its idle
 * or maximum lifetime runs out, and leaves it when this server ends it or
 * that time passes. The count is therefore per server: a session served
 * through two servers that share memcached counts on each, and one ended
 * through another server counts here until its idle lifetime would have
 * run out. The ledger has OBO_LEDGER_SLOTS slots and counts every session
 * up to half of them (32,768 per server); fuller, a new session may push
 * out the one nearest its end, and the count is then a lower bound
 * (obo_ledger_count says so). Lock-free: one 64-bit word per session
 * (32 bits of a hash of its key, 32 bits of its end in Unix seconds). */
#ifndef OBO_LEDGER_H
#define OBO_LEDGER_H

#include <apr_time.h>

#define OBO_LEDGER_SLOTS 65536             /* 512 KiB */

/* Bytes the shared block needs. */
apr_size_t obo_ledger_size(void);

/* Uses mem (obo_ledger_size() bytes, shared by every process). A block set
 * up before with the same layout keeps its entries (graceful restarts).
 * APR_ENOTIMPL without lock-free 64-bit atomics, APR_EINVAL when too small. */
apr_status_t obo_ledger_attach(void *mem, apr_size_t len);
void obo_ledger_detach(void);

/* The session `key` lives until `until` (a later or earlier time replaces
 * the one entered). No-op when detached. */
void obo_ledger_seen(const char *key, apr_time_t until);

/* The session `key` ended. */
void obo_ledger_gone(const char *key);

/* Whether a session was ever entered since the block was set up. */
int obo_ledger_used(void);

/* Sessions whose end is after `now`; -1 when detached. *full (may be NULL)
 * is set when live sessions were pushed out: the count is a lower bound. */
apr_int64_t obo_ledger_count(apr_time_t now, int *full);

#endif
