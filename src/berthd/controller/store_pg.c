/* store_pg: the shared engine, PostgreSQL through libpq. Several
 * controllers open the same database; only the leader writes. Every
 * commit first takes a share lock on the lease row and checks that the
 * lease's term is still the one this controller won (leader.c): a
 * controller that lost the lead while paused writes nothing, and a
 * takeover (an UPDATE of that row) waits for a commit in flight, so the
 * new leader loads state only after the old leader's last write.
 * COMMIT returns once PostgreSQL has flushed it (synchronous_commit on,
 * its default), which is when the control API may acknowledge. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "store_backend.h"
#include "store_pg.h"

typedef struct pg_db {
  PGconn *conn;
  _Atomic int64_t term;
} pg_db;

/* Migration N+1 runs on a database at version N (berth_schema_migrations);
 * append, never edit. Every controller applies what is missing at start,
 * one at a time (an advisory lock). */
static const char *const migrations[] = {
  "CREATE TABLE objects ("
  " seq bigserial PRIMARY KEY,"
  " kind text NOT NULL, name text NOT NULL, doc text NOT NULL,"
  " UNIQUE (kind, name))",
  "CREATE TABLE berth_lease ("
  " id integer PRIMARY KEY CHECK (id = 1),"
  " holder text NOT NULL, term bigint NOT NULL, url text NOT NULL,"
  " expires_at timestamptz NOT NULL);"
  "INSERT INTO berth_lease VALUES (1, '', 0, '', '-infinity')",
};

/* "berth" on a phone keypad: the key of the advisory lock migrations take. */
#define MIGRATION_LOCK "237840"

void store_pg_redact(const char *conninfo, char *out, size_t outsz) {
  /* postgresql://user:password@host/db -> postgresql://user:***@host/db;
   * key=value strings: password=... -> password=*** */
  const char *scheme = strstr(conninfo, "://");
  const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
  const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
  if (colon) {
    snprintf(out, outsz, "%.*s:***%s", (int)(colon - conninfo), conninfo, at);
    return;
  }
  const char *pw = strstr(conninfo, "password=");
  if (pw) {
    const char *end = strchr(pw, ' ');
    snprintf(out, outsz, "%.*spassword=***%s", (int)(pw - conninfo), conninfo, end ? end : "");
    return;
  }
  snprintf(out, outsz, "%s", conninfo);
}

/* PostgreSQL's notices (CREATE ... IF NOT EXISTS that skipped) are not
 * news for an operator. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

PGconn *store_pg_connect(const char *conninfo, char *err, size_t errsz) {
  const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
  const char *vals[] = {conninfo, "berthd", "10", NULL};
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  if (conn && PQstatus(conn) == CONNECTION_OK) {
    PQsetNoticeProcessor(conn, quiet, NULL);
    return conn;
  }
  char shown[512];
  store_pg_redact(conninfo, shown, sizeof shown);
  const char *why = conn ? PQerrorMessage(conn) : "out of memory";
  size_t n = strlen(why);
  while (n && (why[n - 1] == '\n' || why[n - 1] == ' ')) n--;
  snprintf(err, errsz, "cannot connect to the PostgreSQL store %.200s: %.*s", shown, (int)n, why);
  PQfinish(conn);
  return NULL;
}

/* Runs sql; 0 when it succeeded (returned rows or not). */
int store_pg_exec(PGconn *conn, const char *sql) {
  PGresult *r = PQexec(conn, sql);
  int st = PQresultStatus(r);
  PQclear(r);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -EIO;
}

static void set_err(PGconn *conn, char *err, size_t errsz) {
  const char *why = PQerrorMessage(conn);
  size_t n = strlen(why);
  while (n && (why[n - 1] == '\n' || why[n - 1] == ' ')) n--;
  snprintf(err, errsz, "%.*s", (int)n, why);
}

static int migrate(PGconn *conn, char *err, size_t errsz) {
  int n = (int)(sizeof migrations / sizeof migrations[0]);
  if (store_pg_exec(conn, "BEGIN") ||
      store_pg_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")") ||
      store_pg_exec(conn, "CREATE TABLE IF NOT EXISTS berth_schema_migrations ("
                          " version integer PRIMARY KEY,"
                          " applied_at timestamptz NOT NULL DEFAULT now())"))
    goto fail;
  PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM berth_schema_migrations");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    PQclear(r);
    goto fail;
  }
  int version = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  if (version > n) {
    snprintf(err, errsz, "the PostgreSQL store is at schema version %d, newer than this "
             "berthd's %d: upgrade berthd", version, n);
    store_pg_exec(conn, "ROLLBACK");
    return -EIO;
  }
  for (int v = version; v < n; v++) {
    char bump[96];
    snprintf(bump, sizeof bump, "INSERT INTO berth_schema_migrations(version) VALUES (%d)", v + 1);
    if (store_pg_exec(conn, migrations[v]) || store_pg_exec(conn, bump)) goto fail;
  }
  if (store_pg_exec(conn, "COMMIT")) goto fail;
  return 0;
fail:
  set_err(conn, err, errsz);
  store_pg_exec(conn, "ROLLBACK");
  return -EIO;
}

static void pg_close(void *p) {
  pg_db *d = p;
  if (!d) return;
  PQfinish(d->conn);
  free(d);
}

int store_pg_open(const char *conninfo, void **out, char *err, size_t errsz) {
  PGconn *conn = store_pg_connect(conninfo, err, errsz);
  if (!conn) return -EIO;
  char why[400];
  if (migrate(conn, why, sizeof why)) {
    char shown[512];
    store_pg_redact(conninfo, shown, sizeof shown);
    snprintf(err, errsz, "cannot bring the PostgreSQL store %.200s to this berthd's schema: %s",
             shown, why);
    PQfinish(conn);
    return -EIO;
  }
  pg_db *d = berth_xcalloc(1, sizeof *d);
  d->conn = conn;
  *out = d;
  return 0;
}

void store_pg_set_term(void *p, int64_t term) {
  atomic_store(&((pg_db *)p)->term, term);
}

/* 0 when the lease row still carries our term (and is now share-locked
 * until this transaction ends), -ESTALE when another term won, -EIO. */
static int check_term(pg_db *d) {
  int64_t mine = atomic_load(&d->term);
  if (mine <= 0) return -ESTALE;
  PGresult *r = PQexec(d->conn, "SELECT term FROM berth_lease WHERE id = 1 FOR SHARE");
  int rc = -EIO;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    rc = strtoll(PQgetvalue(r, 0, 0), NULL, 10) == mine ? 0 : -ESTALE;
  PQclear(r);
  return rc;
}

static int apply(pg_db *d, const store_op *o) {
  const char *vals[3] = {o->kind, o->name, o->text};
  PGresult *r = o->op == STORE_OP_PUT
    ? PQexecParams(d->conn,
                   "INSERT INTO objects(kind, name, doc) VALUES ($1, $2, $3) "
                   "ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc",
                   3, NULL, vals, NULL, NULL, 0)
    : PQexecParams(d->conn, "DELETE FROM objects WHERE kind = $1 AND name = $2", 2, NULL, vals,
                   NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -EIO;
  PQclear(r);
  return rc;
}

static int pg_commit(void *p, const store_op *batch, char *err, size_t errsz) {
  pg_db *d = p;
  if (!store_batch_writes(batch)) return 0; /* only syncs: nothing to commit */
  /* A connection PostgreSQL dropped (a restart, a failover of its own)
   * is made again; what this batch carried is still queued here. */
  if (PQstatus(d->conn) != CONNECTION_OK) PQreset(d->conn);
  int rc = store_pg_exec(d->conn, "BEGIN");
  if (rc == 0) rc = check_term(d);
  for (const store_op *o = batch; o && rc == 0; o = o->next)
    if (o->op != STORE_OP_SYNC) rc = apply(d, o);
  if (rc == 0) rc = store_pg_exec(d->conn, "COMMIT");
  if (rc) {
    if (rc == -EIO) set_err(d->conn, err, errsz);
    store_pg_exec(d->conn, "ROLLBACK");
  }
  return rc;
}

static int pg_each(void *p, const char *kind, store_each_fn fn, void *ud) {
  pg_db *d = p;
  const char *vals[1] = {kind};
  PGresult *r = PQexecParams(d->conn, "SELECT name, doc FROM objects WHERE kind = $1 ORDER BY seq",
                             1, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    PQclear(r);
    return -EIO;
  }
  int rc = 0;
  for (int i = 0, n = PQntuples(r); i < n && rc == 0; i++)
    rc = store_each_doc(kind, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), fn, ud);
  PQclear(r);
  return rc;
}

const store_backend store_pg = {pg_commit, pg_each, pg_close};
