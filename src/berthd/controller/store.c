/* store: the queue of changes and its group commits (see store.h); the
 * engines are store_sqlite.c and store_pg.c. */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "store_backend.h"

struct store {
  const store_backend *be;
  void *db;
  int shared;
  uv_loop_t *loop;
  uv_work_t work;
  store_op *head, *tail;        /* queued, not yet in a batch */
  store_op *batch;              /* being committed on the pool (owned by it) */
  int batch_rc;                 /* set by the pool thread */
  char batch_err[512];          /* set by the pool thread */
  int busy;                     /* a batch is in flight */
  int err;                      /* an error since the last SYNC delivered */
  size_t queued_bytes;
  uint64_t writes;
  void (*fenced)(void *ud);
  void *fenced_ud;
};

int store_open(uv_loop_t *loop, const char *url, const char *dir, store **out, char *err,
               size_t errsz) {
  store *s = berth_xcalloc(1, sizeof *s);
  s->loop = loop;
  int rc;
  if (url) {
    s->be = &store_pg;
    s->shared = 1;
    rc = store_pg_open(url, &s->db, err, errsz);
  } else {
    s->be = &store_sqlite;
    rc = store_sqlite_open(dir, &s->db, err, errsz);
  }
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int store_shared(const store *s) {
  return s->shared;
}

void store_set_term(store *s, int64_t term) {
  if (s->shared) store_pg_set_term(s->db, term);
}

void store_on_fenced(store *s, void (*cb)(void *ud), void *ud) {
  s->fenced = cb;
  s->fenced_ud = ud;
}

static void op_free(store_op *o) {
  free(o->kind);
  free(o->name);
  free(o->text);
  free(o);
}

static void commit_batch(uv_work_t *w) {
  store *s = w->data;
  s->batch_err[0] = '\0';
  s->batch_rc = s->be->commit(s->db, s->batch, s->batch_err, sizeof s->batch_err);
}

static void start_batch(store *s);

static void on_batch_done(uv_work_t *w, int status) {
  store *s = w->data;
  int rc = status ? -EIO : s->batch_rc;
  if (rc == -ESTALE) {
    berth_log(BERTH_LOG_ERROR, "store: another controller leads now; a batch of changes was "
              "not written");
  } else if (rc) {
    berth_log(BERTH_LOG_ERROR, "store: could not commit a batch of changes: %s",
              s->batch_err[0] ? s->batch_err : "the work queue failed");
  }
  if (rc) s->err = rc;
  store_op *o = s->batch;
  s->batch = NULL;
  s->busy = 0;
  while (o) {
    store_op *next = o->next;
    if (o->op == STORE_OP_SYNC) {
      int e = s->err;
      s->err = 0;
      o->cb(o->ud, e);
    } else {
      s->queued_bytes -= o->bytes;
    }
    op_free(o);
    o = next;
  }
  if (rc == -ESTALE && s->fenced) s->fenced(s->fenced_ud);
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
  return enqueue(s, STORE_OP_PUT, kind, name, text);
}

int store_delete(store *s, const char *kind, const char *name) {
  return enqueue(s, STORE_OP_DELETE, kind, name, NULL);
}

void store_sync(store *s, void (*cb)(void *ud, int rc), void *ud) {
  store_op *o = berth_xcalloc(1, sizeof *o);
  o->op = STORE_OP_SYNC;
  o->cb = cb;
  o->ud = ud;
  append(s, o);
}

uint64_t store_writes(const store *s) {
  return s->writes;
}

int store_batch_writes(const store_op *batch) {
  for (const store_op *o = batch; o; o = o->next)
    if (o->op != STORE_OP_SYNC) return 1;
  return 0;
}

int store_each_doc(const char *kind, const char *name, const char *text, store_each_fn fn,
                   void *ud) {
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  if (!doc) {
    berth_log(BERTH_LOG_ERROR, "store: skipping unreadable %s %s: %s", kind, name, jerr.text);
    return 0;
  }
  int rc = fn(name, doc, ud);
  json_decref(doc);
  return rc;
}

int store_each(store *s, const char *kind, store_each_fn fn, void *ud) {
  return s->be->each(s->db, kind, fn, ud);
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
  s->be->close(s->db);
  free(s);
}
