/* store_sqlite: the embedded engine, DIR/berth.db in WAL mode.
 * synchronous=FULL in WAL mode makes each commit durable when it returns.
 * The schema's version is SQLite's user_version. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "berth/buf.h"
#include "store_backend.h"

typedef struct sqlite_db {
  sqlite3 *db;
  sqlite3_stmt *put, *del, *each;
} sqlite_db;

/* Migration N+1 runs on a database at user_version N; append, never edit
 * (version 1 is also what databases made before versioning hold, so it
 * only creates what is missing). */
static const char *const migrations[] = {
  "CREATE TABLE IF NOT EXISTS objects ("
  " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
  " kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
  " UNIQUE(kind, name));"
  "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
};

static int migrate(sqlite3 *db) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
  int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  int n = (int)(sizeof migrations / sizeof migrations[0]);
  if (version < 0 || version > n) return -1; /* a newer Berth's database */
  for (int v = version; v < n; v++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
    if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  return 0;
}

static void sq_close(void *p) {
  sqlite_db *d = p;
  if (!d) return;
  sqlite3_finalize(d->put);
  sqlite3_finalize(d->del);
  sqlite3_finalize(d->each);
  sqlite3_close(d->db);
  free(d);
}

int store_sqlite_open(const char *dir, void **out, char *err, size_t errsz) {
  char path[1200];
  snprintf(path, sizeof path, "%s/berth.db", dir);
  sqlite_db *d = berth_xcalloc(1, sizeof *d);
  /* FULLMUTEX: the connection is used from the loop (loading) and from a
   * pool thread (commits), never at the same time, but safely either way. */
  if (sqlite3_open_v2(path, &d->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK)
    goto fail;
  sqlite3_busy_timeout(d->db, 5000);
  if (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                   NULL) != SQLITE_OK ||
      migrate(d->db))
    goto fail;
  /* Owner only, whatever the umask: the data dir may be traversable for
   * copies (ctl_open_copy_dirs), and the state holds agent tokens. */
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char f[1300];
    snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
    if (chmod(f, 0600) != 0 && errno != ENOENT) goto fail;
  }
  if (sqlite3_prepare_v2(d->db,
        "INSERT INTO objects(kind,name,doc) VALUES(?1,?2,?3) "
        "ON CONFLICT(kind,name) DO UPDATE SET doc=excluded.doc", -1, &d->put, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db, "DELETE FROM objects WHERE kind=?1 AND name=?2", -1,
                         &d->del, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(d->db, "SELECT name, doc FROM objects WHERE kind=?1 ORDER BY seq", -1,
                         &d->each, NULL) != SQLITE_OK)
    goto fail;
  *out = d;
  return 0;
fail:
  snprintf(err, errsz, "cannot open the state database %s: %s", path,
           d->db ? sqlite3_errmsg(d->db) : "out of memory");
  sq_close(d);
  return -EIO;
}

static int step_done(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int apply(sqlite_db *d, const store_op *o) {
  sqlite3_stmt *st = o->op == STORE_OP_PUT ? d->put : d->del;
  sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, o->name, -1, SQLITE_STATIC);
  if (o->op == STORE_OP_PUT) sqlite3_bind_text(st, 3, o->text, -1, SQLITE_STATIC);
  return step_done(st);
}

static int sq_commit(void *p, const store_op *batch, char *err, size_t errsz) {
  sqlite_db *d = p;
  if (!store_batch_writes(batch)) return 0; /* only syncs: nothing to commit */
  int rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
  for (const store_op *o = batch; o && rc == 0; o = o->next)
    if (o->op != STORE_OP_SYNC) rc = apply(d, o);
  if (rc == 0 && sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = -EIO;
  if (rc) {
    snprintf(err, errsz, "%s", sqlite3_errmsg(d->db));
    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
  }
  return rc;
}

static int sq_each(void *p, const char *kind, store_each_fn fn, void *ud) {
  sqlite_db *d = p;
  int rc = 0;
  sqlite3_bind_text(d->each, 1, kind, -1, SQLITE_STATIC);
  while (sqlite3_step(d->each) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(d->each, 0);
    const char *text = (const char *)sqlite3_column_text(d->each, 1);
    rc = store_each_doc(kind, name, text, fn, ud);
    if (rc) break;
  }
  sqlite3_reset(d->each);
  sqlite3_clear_bindings(d->each);
  return rc;
}

const store_backend store_sqlite = {sq_commit, sq_each, sq_close};
