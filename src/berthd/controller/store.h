/* store: durable desired state as JSON documents keyed by kind and name,
 * in SQLite (WAL) under the data dir by default or in PostgreSQL
 * (--store postgresql://...), where several controllers share it and one
 * leads (leader.h). The engines sit under one interface (store_backend.h).
 *
 * DESIGN: writes never block the loop. store_put and store_delete queue the
 * change (in order) and return; one batch at a time is committed on libuv's
 * thread pool (uv_queue_work) in a single transaction, so a burst of changes
 * costs one fsync (group commit). store_sync says when everything queued
 * before it is durable: the control API answers a mutating call only then
 * (ARCHITECTURE.md rule 3), while the router and the reconciler never wait.
 * The queue is bounded (STORE_MAX_QUEUED_BYTES); past it a write fails with
 * -ENOBUFS and the caller refuses its change. Everything else (store_each,
 * store_close) runs on the loop thread. */
#ifndef BERTHD_STORE_H
#define BERTHD_STORE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#define STORE_MAX_QUEUED_BYTES (64u << 20)

typedef struct store store;

/* Opens url (a postgresql:// or postgres:// connection string), or with
 * url NULL DIR/berth.db (created if needed), and applies the schema's
 * pending migrations; commits run for loop. On error writes a message to
 * err (never the connection string's password). */
int store_open(uv_loop_t *loop, const char *url, const char *dir, store **out, char *err,
               size_t errsz);
/* 1 when several controllers may share this store (PostgreSQL): then a
 * controller writes only while it leads, with the term store_set_term gave. */
int store_shared(const store *s);
void store_set_term(store *s, int64_t term);
/* Called (from the loop) when a commit found that another controller leads
 * now: nothing of that batch was written. */
void store_on_fenced(store *s, void (*cb)(void *ud), void *ud);
/* Commits what is queued (running the loop while a batch is in flight),
 * then closes. */
void store_close(store *s);
/* Queue a change: 0, or -ENOBUFS (queue full) / -ENOMEM. doc is serialized
 * now: later changes to it are not written. */
int store_put(store *s, const char *kind, const char *name, json_t *doc);
int store_delete(store *s, const char *kind, const char *name);
/* Calls cb(ud, rc) from the loop once every change queued before this call
 * is committed: rc 0, or -EIO (-ESTALE: this controller lost the lead) when
 * one of them (since the previous sync) could not be written. Never calls cb from inside store_sync. */
void store_sync(store *s, void (*cb)(void *ud, int rc), void *ud);
/* Changes queued so far (a counter): whether a call queued any. */
uint64_t store_writes(const store *s);
/* Calls fn for each committed document of kind in insertion order; doc is
 * borrowed. Call only before any change is queued (loading at start). */
int store_each(store *s, const char *kind,
               int (*fn)(const char *name, json_t *doc, void *ud), void *ud);

#endif
