/* store: SQLite-backed documents, committed off the loop (see store.h).
 * synchronous=FULL in WAL mode makes each commit durable when it returns. */
#include "berth/log.h"
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/buf.h"

enum { OP_PUT, OP_DELETE, OP_SYNC };

typedef struct store_op {
  struct store_op *next;
  int op;
  char *kind, *name, *text;     /* OP_PUT, OP_DELETE */
  size_t bytes;
  void (*cb)(void *ud, int rc); /* OP_SYNC */
  void *ud;
} store_op;

struct store {
  sqlite3 *db;
  sqlite3_stmt *put, *del, *each;
  uv_loop_t *loop;
  uv_work_t work;
  store_op *head, *tail;        /* queued, not yet in a batch */
  store_op *batch;              /* being committed on the pool (owned by it) */
  int batch_rc;                 /* set by the pool thread */
  int busy;                     /* a batch is in flight */
  int err;                      /* an error since the last OP_SYNC delivered */
  size_t queued_bytes;
  uint64_t writes;
};

static const char schema[] =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=FULL;"
  "CREATE TABLE IF NOT EXISTS objects ("
  " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
  " kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
  " UNIQUE(kind, name));"
  "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

int store_open(uv_loop_t *loop, const char *dir, store **out, char *err, size_t errsz) {
  char path[1200];
  snprintf(path, sizeof path, "%s/berth.db", dir);
  store *s = berth_xcalloc(1, sizeof *s);
  s->loop = loop;
  /* FULLMUTEX: the connection is used from the loop (loading) and from a
   * pool thread (commits), never at the same time, but safely either way. */
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK)
    goto fail;
  sqlite3_busy_timeout(s->db, 5000);
  if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) goto fail;
  /* Owner only, whatever the umask: the data dir may be traversable for
   * copies (ctl_open_copy_dirs), and the state holds agent tokens. */
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char f[1300];
    snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
    if (chmod(f, 0600) != 0 && errno != ENOENT) goto fail;
  }
  if (sqlite3_prepare_v2(s->db,
        "INSERT INTO objects(kind,name,doc) VALUES(?1,?2,?3) "
        "ON CONFLICT(kind,name) DO UPDATE SET doc=excluded.doc", -1, &s->put, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "DELETE FROM objects WHERE kind=?1 AND name=?2", -1,
                         &s->del, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "SELECT name, doc FROM objects WHERE kind=?1 ORDER BY seq", -1,
                         &s->each, NULL) != SQLITE_OK)
    goto fail;
  *out = s;
  return 0;
fail:
  snprintf(err, errsz, "cannot open the state database %s: %s", path,
           s->db ? sqlite3_errmsg(s->db) : "out of memory");
  sqlite3_finalize(s->put);
  sqlite3_finalize(s->del);
  sqlite3_finalize(s->each);
  sqlite3_close(s->db);
  free(s);
  return -EIO;
}

static void op_free(store_op *o) {
  free(o->kind);
  free(o->name);
  free(o->text);
  free(o);
}

/* ---- the pool thread: one transaction per batch ---- */

static int step_done(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

static int apply(store *s, const store_op *o) {
  sqlite3_stmt *st = o->op == OP_PUT ? s->put : s->del;
  sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, o->name, -1, SQLITE_STATIC);
  if (o->op == OP_PUT) sqlite3_bind_text(st, 3, o->text, -1, SQLITE_STATIC);
  return step_done(st);
}

static void commit_batch(uv_work_t *w) {
  store *s = w->data;
  int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
  for (store_op *o = s->batch; o && rc == 0; o = o->next)
    if (o->op != OP_SYNC) rc = apply(s, o);
  if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = -EIO;
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  s->batch_rc = rc;
}

/* ---- the loop thread ---- */

static void start_batch(store *s);

static void on_batch_done(uv_work_t *w, int status) {
  store *s = w->data;
  int rc = status ? -EIO : s->batch_rc;
  if (rc) {
    berth_log(BERTH_LOG_ERROR, "store: could not commit a batch of changes: %s",
            sqlite3_errmsg(s->db));
    s->err = rc;
  }
  store_op *o = s->batch;
  s->batch = NULL;
  s->busy = 0;
  while (o) {
    store_op *next = o->next;
    if (o->op == OP_SYNC) {
      int e = s->err;
      s->err = 0;
      o->cb(o->ud, e);
    } else {
      s->queued_bytes -= o->bytes;
    }
    op_free(o);
    o = next;
  }
  start_batch(s);
}

static void start_batch(store *s) {
  if (s->busy || !s->head) return;
  s->batch = s->head;
  s->head = s->tail = NULL;
  s->busy = 1;
  s->work.data = s;
  if (uv_queue_work(s->loop, &s->work, commit_batch, on_batch_done) != 0) {
    /* Cannot happen with a live loop; commit here rather than lose it. */
    commit_batch(&s->work);
    on_batch_done(&s->work, 0);
  }
}

/* Queues o after everything queued before and starts a batch if none runs. */
static void append(store *s, store_op *o) {
  if (s->tail) s->tail->next = o;
  else s->head = o;
  s->tail = o;
  start_batch(s);
}

static int enqueue(store *s, int op, const char *kind, const char *name, char *text) {
  size_t bytes = strlen(kind) + strlen(name) + (text ? strlen(text) : 0) + sizeof(store_op);
  if (s->queued_bytes + bytes > STORE_MAX_QUEUED_BYTES) {
    free(text);
    return -ENOBUFS;
  }
  store_op *o = berth_xcalloc(1, sizeof *o);
  o->op = op;
  o->kind = berth_xstrdup(kind);
  o->name = berth_xstrdup(name);
  o->text = text;
  o->bytes = bytes;
  s->queued_bytes += bytes;
  s->writes++;
  append(s, o);
  return 0;
}

int store_put(store *s, const char *kind, const char *name, json_t *doc) {
  char *text = json_dumps(doc, JSON_COMPACT);
  if (!text) return -ENOMEM;
  return enqueue(s, OP_PUT, kind, name, text);
}

int store_delete(store *s, const char *kind, const char *name) {
  return enqueue(s, OP_DELETE, kind, name, NULL);
}

void store_sync(store *s, void (*cb)(void *ud, int rc), void *ud) {
  store_op *o = berth_xcalloc(1, sizeof *o);
  o->op = OP_SYNC;
  o->cb = cb;
  o->ud = ud;
  append(s, o);
}

uint64_t store_writes(const store *s) {
  return s->writes;
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
      berth_log(BERTH_LOG_ERROR, "store: skipping unreadable %s %s: %s", kind, name, jerr.text);
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

static void on_closing_sync(void *ud, int rc) {
  (void)rc;
  *(int *)ud = 1;
}

void store_close(store *s) {
  if (!s) return;
  int done = 0;
  store_sync(s, on_closing_sync, &done);
  while (!done) uv_run(s->loop, UV_RUN_ONCE);
  sqlite3_finalize(s->put);
  sqlite3_finalize(s->del);
  sqlite3_finalize(s->each);
  sqlite3_close(s->db);
  free(s);
}
