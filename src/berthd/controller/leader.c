/* leader: the lease (see leader.h). */
#include "leader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/log.h"
#include "berth/secret.h"
#include "store_pg.h"

/* A leader trusts its lease for this long after its last renewal; the
 * margin covers the renewal's own round trip and clock rate drift. */
#define TRUST_MS (LEADER_LEASE_S * 1000 - 1500)

struct leader {
  char *conninfo;
  char url[256];
  char holder[80];              /* DATA_DIR/controller-id: a restart is the same holder */
  PGconn *first_conn;           /* leader_start's, handed to the thread */
  store *s;
  uv_loop_t *loop;
  uv_async_t async;
  void (*on_lead)(void *ud), (*on_lost)(void *ud);
  void *ud;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stopping;                 /* under mu */
  char leader_url[256];         /* under mu */
  int64_t term;                 /* the thread's */
  _Atomic int leading;
  _Atomic int lost;
  _Atomic int64_t renewed_ms;   /* monotonic */
  int told_lead, told_lost;     /* the loop's */
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One statement returning at most one row's first column; 1 with the value
 * in out, 0 for no row, -1 on error. */
static int one_value(PGconn *conn, const char *sql, int n, const char *const *vals, char *out,
                     size_t outsz) {
  PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
  int st = PQresultStatus(r), rc = -1;
  if (st == PGRES_TUPLES_OK) {
    rc = PQntuples(r) > 0;
    if (rc) snprintf(out, outsz, "%s", PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  return rc;
}

static const char lease_s[] = {'0' + LEADER_LEASE_S, '\0'};

/* Takes the lease if it has run out, or if its holder is this controller
 * (restarted after a crash: its data dir's id) with a new term, so a
 * predecessor that still runs writes nothing: the new term, 0, or -1. */
static int64_t try_take(leader *l, PGconn *conn) {
  const char *vals[] = {l->holder, l->url, lease_s};
  char term[32];
  int rc = one_value(conn,
                     "UPDATE berth_lease SET holder = $1, url = $2, term = term + 1,"
                     " expires_at = now() + make_interval(secs => $3::int)"
                     " WHERE id = 1 AND (expires_at < now() OR holder = $1) RETURNING term",
                     3, vals, term, sizeof term);
  return rc < 0 ? -1 : rc == 0 ? 0 : strtoll(term, NULL, 10);
}

/* 1 renewed, 0 the lease is another's now, -1 no answer. */
static int renew(leader *l, PGconn *conn) {
  char term[32], got[32];
  snprintf(term, sizeof term, "%" PRId64, l->term);
  const char *vals[] = {l->holder, term, lease_s};
  return one_value(conn,
                   "UPDATE berth_lease SET expires_at = now() + make_interval(secs => $3::int)"
                   " WHERE id = 1 AND holder = $1 AND term = $2::bigint RETURNING term",
                   3, vals, got, sizeof got);
}

static void read_leader(leader *l, PGconn *conn) {
  char url[256] = "";
  if (one_value(conn, "SELECT url FROM berth_lease WHERE id = 1 AND expires_at >= now()", 0,
                NULL, url, sizeof url) < 0)
    return;
  pthread_mutex_lock(&l->mu);
  snprintf(l->leader_url, sizeof l->leader_url, "%s", url);
  pthread_mutex_unlock(&l->mu);
}

static void give_up(leader *l, PGconn *conn) {
  char term[32];
  snprintf(term, sizeof term, "%" PRId64, l->term);
  const char *vals[] = {l->holder, term};
  PGresult *r = PQexecParams(conn,
                             "UPDATE berth_lease SET expires_at = '-infinity'"
                             " WHERE id = 1 AND holder = $1 AND term = $2::bigint",
                             2, NULL, vals, NULL, NULL, 0);
  PQclear(r);
}

/* The lead is ours from now on (term won). */
static void won(leader *l, int64_t term) {
  l->term = term;
  atomic_store(&l->renewed_ms, mono_ms());
  store_set_term(l->s, term);
  atomic_store(&l->leading, 1);
  pthread_mutex_lock(&l->mu);
  snprintf(l->leader_url, sizeof l->leader_url, "%s", l->url);
  pthread_mutex_unlock(&l->mu);
}

static void *run(void *arg) {
  leader *l = arg;
  PGconn *conn = l->first_conn;
  int warned = 0;
  for (;;) {
    pthread_mutex_lock(&l->mu);
    int stopping = l->stopping;
    pthread_mutex_unlock(&l->mu);
    if (stopping) break;
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
      PQfinish(conn);
      char err[512];
      conn = store_pg_connect(l->conninfo, err, sizeof err);
      if (!conn && !warned) berth_log(BERTH_LOG_WARN, "lease: %s (retrying)", err);
      warned = !conn;
    }
    if (conn && !atomic_load(&l->leading)) {
      int64_t term = try_take(l, conn);
      if (term > 0) {
        won(l, term);
        uv_async_send(&l->async);
      } else if (term == 0) {
        read_leader(l, conn);
      }
    } else if (atomic_load(&l->leading)) {
      int rc = conn ? renew(l, conn) : -1;
      if (rc == 1) atomic_store(&l->renewed_ms, mono_ms());
      if (rc == 0 || mono_ms() - atomic_load(&l->renewed_ms) > LEADER_LEASE_S * 1000) {
        store_set_term(l->s, 0); /* no commit succeeds from here on */
        atomic_store(&l->leading, 0);
        atomic_store(&l->lost, 1);
        uv_async_send(&l->async);
        break;
      }
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LEADER_RENEW_MS / 1000;
    until.tv_nsec += (long)(LEADER_RENEW_MS % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&l->mu);
    if (!l->stopping) pthread_cond_timedwait(&l->cv, &l->mu, &until);
    pthread_mutex_unlock(&l->mu);
  }
  if (conn && atomic_load(&l->leading)) give_up(l, conn);
  PQfinish(conn);
  return NULL;
}

static void on_async(uv_async_t *a) {
  leader *l = a->data;
  if (atomic_load(&l->leading) && !l->told_lead) {
    l->told_lead = 1;
    l->on_lead(l->ud);
  }
  if (atomic_load(&l->lost) && !l->told_lost) {
    l->told_lost = 1;
    l->on_lost(l->ud);
  }
}

/* DATA_DIR/controller-id: who holds the lease, kept across restarts. */
static int holder_of(const char *data_dir, char *out, size_t outsz) {
  char path[1200];
  snprintf(path, sizeof path, "%s/controller-id", data_dir);
  if (berth_secret_read(path, out, outsz) > 0) return 0;
  if (berth_secret_random(out, 32, BERTH_HEX_DIGITS)) return -1;
  return berth_secret_write(path, out) ? -1 : 0;
}

int leader_start(uv_loop_t *loop, const char *conninfo, const char *data_dir, const char *url,
                 store *s, void (*on_lead)(void *ud), void (*on_lost)(void *ud), void *ud,
                 leader **out, char *err, size_t errsz) {
  leader *l = berth_xcalloc(1, sizeof *l);
  if (holder_of(data_dir, l->holder, sizeof l->holder)) {
    snprintf(err, errsz, "lease: cannot keep this controller's id in %.900s/controller-id",
             data_dir);
    free(l);
    return -EIO;
  }
  l->conninfo = berth_xstrdup(conninfo);
  snprintf(l->url, sizeof l->url, "%s", url);
  l->s = s;
  l->loop = loop;
  l->on_lead = on_lead;
  l->on_lost = on_lost;
  l->ud = ud;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  /* The first try here, before the loop runs: a controller alone on its
   * store (or restarted) leads before it answers anything. */
  int leads = 0;
  l->first_conn = store_pg_connect(conninfo, err, errsz);
  if (!l->first_conn) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->conninfo);
    free(l);
    return -EIO;
  }
  int64_t term = try_take(l, l->first_conn);
  if (term > 0) {
    won(l, term);
    l->told_lead = leads = 1;
  }
  uv_async_init(loop, &l->async, on_async);
  l->async.data = l;
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    snprintf(err, errsz, "lease: cannot start its thread");
    return -EIO; /* the process exits */
  }
  *out = l;
  return leads;
}

int leader_current(leader *l) {
  return atomic_load(&l->leading) && mono_ms() - atomic_load(&l->renewed_ms) < TRUST_MS;
}

void leader_url(leader *l, char *out, size_t outsz) {
  pthread_mutex_lock(&l->mu);
  snprintf(out, outsz, "%s", l->leader_url);
  pthread_mutex_unlock(&l->mu);
  /* Itself, while its lease is in doubt: no one known to lead. */
  if (strcmp(out, l->url) == 0 && !leader_current(l)) out[0] = '\0';
}

static void on_async_closed(uv_handle_t *h) {
  leader *l = h->data;
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  free(l->conninfo);
  free(l);
}

void leader_stop(leader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->stopping = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  uv_loop_t *loop = l->loop;
  uv_close((uv_handle_t *)&l->async, on_async_closed);
  uv_run(loop, UV_RUN_NOWAIT); /* the loop has ended: run the close */
}
