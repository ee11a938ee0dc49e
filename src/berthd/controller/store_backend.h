/* store_backend: what store.c asks of the engine under it (SQLite in the
 * data dir, or PostgreSQL). store.c owns the queue, the batching and the
 * callbacks; a backend only opens, commits one batch in one transaction,
 * reads documents back and closes. Its schema is a list of numbered
 * migrations, applied in order at open, each once. */
#ifndef BERTHD_STORE_BACKEND_H
#define BERTHD_STORE_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum { STORE_OP_PUT, STORE_OP_DELETE, STORE_OP_SYNC };

typedef struct store_op {
  struct store_op *next;
  int op;
  char *kind, *name, *text;     /* PUT, DELETE */
  size_t bytes;
  void (*cb)(void *ud, int rc); /* SYNC */
  void *ud;
} store_op;

typedef int (*store_each_fn)(const char *name, json_t *doc, void *ud);

typedef struct store_backend {
  /* Runs on libuv's thread pool: applies every PUT and DELETE of batch in
   * order, in one transaction, durable when it returns 0. -ESTALE: this
   * controller no longer leads (nothing was written); -EIO otherwise, with
   * a message in err. */
  int (*commit)(void *db, const store_op *batch, char *err, size_t errsz);
  /* Loop thread, before any commit: the committed documents of kind in the
   * order they were first written. */
  int (*each)(void *db, const char *kind, store_each_fn fn, void *ud);
  void (*close)(void *db);
} store_backend;

/* 1 when batch holds a PUT or a DELETE (not only syncs). */
int store_batch_writes(const store_op *batch);

/* Parses one stored document and calls fn with it; an unreadable one is
 * logged and skipped (0). */
int store_each_doc(const char *kind, const char *name, const char *text, store_each_fn fn,
                   void *ud);

/* store_sqlite.c: DIR/berth.db. */
int store_sqlite_open(const char *dir, void **db, char *err, size_t errsz);
extern const store_backend store_sqlite;

/* store_pg.c: a libpq connection string (postgresql://...). */
int store_pg_open(const char *conninfo, void **db, char *err, size_t errsz);
extern const store_backend store_pg;
/* The term a commit must still hold the lead with (leader.h); 0 until this
 * controller leads, and then no commit succeeds. */
void store_pg_set_term(void *db, int64_t term);

#endif
