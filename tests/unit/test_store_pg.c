/* Unit tests for the PostgreSQL store (store_pg.c) on a real server: the
 * one scripts/test.sh starts (BERTH_TEST_PG_DIR, tests/lib/postgres.mjs);
 * without it the test exits 77 (skipped). Migrations apply once and a
 * second open finds the schema current; nothing commits before this
 * controller holds a term; with the lease's term it commits and reads back
 * in order; once another controller's term is in the lease, a batch writes
 * nothing, its sync says -ESTALE and the fenced hook runs. */
#include "store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int synced, sync_rc, fenced;

static void on_sync(void *ud, int rc) {
  (void)ud;
  synced = 1;
  sync_rc = rc;
}

static void on_fenced(void *ud) {
  (void)ud;
  fenced++;
}

static int put_and_sync(uv_loop_t *loop, store *s, const char *name, int v) {
  json_t *doc = json_pack("{s:i}", "v", v);
  int rc = store_put(s, "model", name, doc);
  json_decref(doc);
  if (rc) return rc;
  synced = 0;
  store_sync(s, on_sync, NULL);
  while (!synced) uv_run(loop, UV_RUN_ONCE);
  return sync_rc;
}

static int collect(const char *name, json_t *doc, void *ud) {
  char *out = ud;
  char one[64];
  snprintf(one, sizeof one, "%s=%lld;", name, (long long)json_integer_value(json_object_get(doc, "v")));
  strcat(out, one);
  return 0;
}

static void sql(PGconn *conn, const char *q) {
  PGresult *r = PQexec(conn, q);
  int st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fprintf(stderr, "%s: %s", q, PQerrorMessage(conn));
  CHECK(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
  PQclear(r);
}

static int read_file(const char *dir, const char *name, char *out, size_t outsz) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fgets(out, (int)outsz, f) != NULL;
  fclose(f);
  out[strcspn(out, "\n")] = '\0';
  return ok ? 0 : -1;
}

int main(void) {
  const char *pgdir = getenv("BERTH_TEST_PG_DIR");
  char port[16], password[128];
  if (!pgdir || read_file(pgdir, "port", port, sizeof port) ||
      read_file(pgdir, "pwfile", password, sizeof password)) {
    fprintf(stderr, "skipped: no test PostgreSQL server (BERTH_TEST_PG_DIR)\n");
    return 77;
  }
  setenv("PGPASSWORD", password, 1);
  char admin_url[256], url[256], db[64];
  snprintf(db, sizeof db, "berth_unit_%d", (int)getpid());
  snprintf(admin_url, sizeof admin_url, "postgresql://berth@127.0.0.1:%s/postgres", port);
  snprintf(url, sizeof url, "postgresql://berth@127.0.0.1:%s/%s", port, db);
  PGconn *admin = PQconnectdb(admin_url);
  CHECK_INT(PQstatus(admin), CONNECTION_OK);
  char q[256];
  snprintf(q, sizeof q, "CREATE DATABASE %s", db);
  sql(admin, q);

  uv_loop_t *loop = uv_default_loop();
  char err[512];
  store *s = NULL;
  CHECK_INT(store_open(loop, url, "/nonexistent", &s, err, sizeof err), 0);
  CHECK_INT(store_shared(s), 1);
  store_on_fenced(s, on_fenced, NULL);
  PGconn *side = PQconnectdb(url);
  CHECK_INT(PQstatus(side), CONNECTION_OK);
  PGresult *r = PQexec(side, "SELECT max(version) FROM berth_schema_migrations");
  CHECK_STR(PQgetvalue(r, 0, 0), "2");
  PQclear(r);

  /* A second controller's open: the schema is current, nothing reapplied. */
  store *s2 = NULL;
  CHECK_INT(store_open(loop, url, "/nonexistent", &s2, err, sizeof err), 0);
  store_close(s2);
  r = PQexec(side, "SELECT count(*) FROM berth_schema_migrations");
  CHECK_STR(PQgetvalue(r, 0, 0), "2");
  PQclear(r);

  /* No term yet: a standby writes nothing. */
  CHECK_INT(put_and_sync(loop, s, "early", 1), -ESTALE);
  CHECK_INT(fenced, 1);

  /* This controller won term 7. */
  sql(side, "UPDATE berth_lease SET term = 7, holder = 'unit', expires_at = now() + interval '1 hour'");
  store_set_term(s, 7);
  CHECK_INT(put_and_sync(loop, s, "a", 1), 0);
  CHECK_INT(put_and_sync(loop, s, "b", 2), 0);
  CHECK_INT(put_and_sync(loop, s, "a", 3), 0); /* an update keeps its place */
  char seen[256] = "";
  CHECK_INT(store_each(s, "model", collect, seen), 0);
  CHECK_STR(seen, "a=3;b=2;");

  /* Another controller takes over (term 8): nothing more is written. */
  sql(side, "UPDATE berth_lease SET term = 8, holder = 'other'");
  CHECK_INT(put_and_sync(loop, s, "late", 4), -ESTALE);
  CHECK_INT(fenced, 2);
  r = PQexec(side, "SELECT count(*) FROM objects WHERE name = 'late' OR name = 'early'");
  CHECK_STR(PQgetvalue(r, 0, 0), "0");
  PQclear(r);

  /* A bad connection string names what failed, never the password. */
  store *bad = NULL;
  CHECK(store_open(loop, "postgresql://berth:s3cret@127.0.0.1:1/none", "/x", &bad, err,
                   sizeof err) != 0);
  CHECK(strstr(err, "s3cret") == NULL);
  CHECK(strstr(err, "postgresql://berth:***@127.0.0.1:1/none") != NULL);

  store_close(s);
  PQfinish(side);
  snprintf(q, sizeof q, "DROP DATABASE %s", db);
  sql(admin, q);
  PQfinish(admin);
  uv_loop_close(loop);
  CHECK_DONE();
}
