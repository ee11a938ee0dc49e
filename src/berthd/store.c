/* store: SQLite-backed documents. synchronous=FULL in WAL mode makes each
 * commit durable on return, which the API relies on (rule 3). */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "berth/buf.h"

struct store {
  sqlite3 *db;
  sqlite3_stmt *put, *del, *each, *next_id;
};

static const char schema[] =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=FULL;"
  "CREATE TABLE IF NOT EXISTS objects ("
  " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
  " kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
  " UNIQUE(kind, name));"
  "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

int store_open(const char *dir, store **out, char *err, size_t errsz) {
  char path[1200];
  snprintf(path, sizeof path, "%s/berth.db", dir);
  store *s = berth_xcalloc(1, sizeof *s);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_busy_timeout(s->db, 5000);
  if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) goto fail;
  if (sqlite3_prepare_v2(s->db,
        "INSERT INTO objects(kind,name,doc) VALUES(?1,?2,?3) "
        "ON CONFLICT(kind,name) DO UPDATE SET doc=excluded.doc", -1, &s->put, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "DELETE FROM objects WHERE kind=?1 AND name=?2", -1,
                         &s->del, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "SELECT name, doc FROM objects WHERE kind=?1 ORDER BY seq", -1,
                         &s->each, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
        "INSERT INTO counters(name,value) VALUES(?1,1) "
        "ON CONFLICT(name) DO UPDATE SET value=value+1 RETURNING value", -1,
                         &s->next_id, NULL) != SQLITE_OK)
    goto fail;
  *out = s;
  return 0;
fail:
  snprintf(err, errsz, "cannot open the state database %s: %s", path,
           s->db ? sqlite3_errmsg(s->db) : "out of memory");
  store_close(s);
  return -EIO;
}

void store_close(store *s) {
  if (!s) return;
  sqlite3_finalize(s->put);
  sqlite3_finalize(s->del);
  sqlite3_finalize(s->each);
  sqlite3_finalize(s->next_id);
  sqlite3_close(s->db);
  free(s);
}

static int step_done(store *s, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "berthd: store: %s\n", sqlite3_errmsg(s->db));
    return -EIO;
  }
  return 0;
}

int store_put(store *s, const char *kind, const char *name, json_t *doc) {
  char *text = json_dumps(doc, JSON_COMPACT);
  if (!text) return -ENOMEM;
  sqlite3_bind_text(s->put, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->put, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->put, 3, text, -1, SQLITE_STATIC);
  int rc = step_done(s, s->put);
  free(text);
  return rc;
}

int store_delete(store *s, const char *kind, const char *name) {
  sqlite3_bind_text(s->del, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->del, 2, name, -1, SQLITE_STATIC);
  return step_done(s, s->del);
}

int store_each(store *s, const char *kind,
               int (*fn)(const char *name, json_t *doc, void *ud), void *ud) {
  int rc = 0;
  sqlite3_bind_text(s->each, 1, kind, -1, SQLITE_STATIC);
  while (sqlite3_step(s->each) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(s->each, 0);
    const char *text = (const char *)sqlite3_column_text(s->each, 1);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc) {
      fprintf(stderr, "berthd: store: skipping unreadable %s %s: %s\n", kind, name, jerr.text);
      continue;
    }
    rc = fn(name, doc, ud);
    json_decref(doc);
    if (rc) break;
  }
  sqlite3_reset(s->each);
  sqlite3_clear_bindings(s->each);
  return rc;
}

int64_t store_next_id(store *s, const char *counter) {
  int64_t v = -1;
  sqlite3_bind_text(s->next_id, 1, counter, -1, SQLITE_STATIC);
  if (sqlite3_step(s->next_id) == SQLITE_ROW) v = sqlite3_column_int64(s->next_id, 0);
  sqlite3_reset(s->next_id);
  sqlite3_clear_bindings(s->next_id);
  return v;
}
