/* leader: which of several controllers on one PostgreSQL store leads.
 *
 * DESIGN: a lease row (berth_lease: holder, term, url, expires_at on
 * PostgreSQL's clock) rather than a session advisory lock, so that a
 * leader that is paused (a stopped process, a frozen VM) loses the lead
 * when its lease runs out even though its connection stays open. A
 * controller takes an expired lease by raising its term; the store checks
 * that term in every commit (store_pg.c), so an old leader that wakes up
 * writes nothing. The lease is renewed every LEADER_RENEW_MS by a thread
 * of its own with its own connection, so a slow query never stalls the
 * loop; the loop asks leader_current() before acting on what it holds in
 * memory (answering agents and routers), and it is false as soon as the
 * last renewal is older than the lease minus a margin, on the monotonic
 * clock, which also runs while a process is stopped. */
#ifndef BERTHD_LEADER_H
#define BERTHD_LEADER_H

#include <stddef.h>
#include <uv.h>

#include "store.h"

#define LEADER_LEASE_S 5
#define LEADER_RENEW_MS 1000

typedef struct leader leader;

/* Starts contending for the lead on conninfo's database; data_dir keeps
 * this controller's id; url is its control API as others should reach it
 * (a standby tells clients). Returns 1 when it leads at once (then
 * on_lead is not called: the caller loads now), 0 when another leads, or
 * -EIO (err says why). on_lead runs on loop once this controller wins the
 * lead later (after the store's term is set); on_lost when it led and no
 * longer does (another took over, or renewals failed for a whole lease). */
int leader_start(uv_loop_t *loop, const char *conninfo, const char *data_dir, const char *url,
                 store *s, void (*on_lead)(void *ud), void (*on_lost)(void *ud), void *ud,
                 leader **out, char *err, size_t errsz);
/* 1 while this controller leads and its lease is surely still its own. */
int leader_current(leader *l);
/* The leading controller's url as last read ("" when none leads). */
void leader_url(leader *l, char *out, size_t outsz);
/* Stops the thread; a lease held is given up so a standby leads at once. */
void leader_stop(leader *l);

#endif
