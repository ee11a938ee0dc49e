/* sessions: see sessions.h. */
#include "sessions.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/log.h"

#define BUCKETS 1024 /* per IC: chains of about 4 at the bound */

typedef struct entry {
  struct entry *next;
  int64_t copy_id;
  double expires;
  char id[];
} entry;

typedef struct ic_table {
  struct ic_table *next;
  char ic[NAME_MAX_LEN + 1];
  size_t n;
  int warned;                   /* the bound was logged (once per IC) */
  entry *buckets[BUCKETS];
} ic_table;

/* The router's threads share one table (a session opened through one
 * connection is found through any other); each call holds the lock. */
struct router_sessions {
  pthread_mutex_t lock;
  size_t per_ic;
  ic_table *tables;
};

router_sessions *router_sessions_new(size_t per_ic) {
  router_sessions *t = berth_xcalloc(1, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
  t->per_ic = per_ic ? per_ic : 1;
  return t;
}

static void table_free(ic_table *tb) {
  for (size_t b = 0; b < BUCKETS; b++) {
    entry *next;
    for (entry *e = tb->buckets[b]; e; e = next) {
      next = e->next;
      free(e);
    }
  }
  free(tb);
}

void router_sessions_free(router_sessions *t) {
  if (!t) return;
  ic_table *next;
  for (ic_table *tb = t->tables; tb; tb = next) {
    next = tb->next;
    table_free(tb);
  }
  pthread_mutex_destroy(&t->lock);
  free(t);
}

static ic_table *table_of(const router_sessions *t, const char *icname) {
  for (ic_table *tb = t->tables; tb; tb = tb->next)
    if (strcmp(tb->ic, icname) == 0) return tb;
  return NULL;
}

static size_t bucket_of(const char *id) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ULL;
  return (size_t)(h % BUCKETS);
}

/* The link that points at id's entry (*link NULL when there is none). */
static entry **find_link(ic_table *tb, const char *id) {
  entry **pp = &tb->buckets[bucket_of(id)];
  while (*pp && strcmp((*pp)->id, id) != 0) pp = &(*pp)->next;
  return pp;
}

static void unlink_entry(ic_table *tb, entry **pp) {
  entry *e = *pp;
  *pp = e->next;
  free(e);
  tb->n--;
}

/* Makes room for one more: expired sessions go first, then the one that
 * expires soonest (its client gets the session error next time). */
static void make_room(ic_table *tb, size_t max, double now) {
  for (size_t b = 0; b < BUCKETS && tb->n >= max; b++) {
    entry **pp = &tb->buckets[b];
    while (*pp) {
      if ((*pp)->expires <= now)
        unlink_entry(tb, pp);
      else
        pp = &(*pp)->next;
    }
  }
  while (tb->n >= max) {
    entry **soonest = NULL;
    for (size_t b = 0; b < BUCKETS; b++)
      for (entry **pp = &tb->buckets[b]; *pp; pp = &(*pp)->next)
        if (!soonest || (*pp)->expires < (*soonest)->expires) soonest = pp;
    if (!soonest) break;
    if (!tb->warned)
      berth_log(BERTH_LOG_WARN, "inference component %s keeps %zu sessions (the limit): from now "
                "on a new one drops the session that expires soonest", tb->ic, tb->n);
    tb->warned = 1;
    unlink_entry(tb, soonest);
  }
}

static int put_locked(router_sessions *t, const char *icname, const char *id, int64_t copy_id,
                        double expires, double now) {
  if (!router_session_id_valid(id)) return -EINVAL;
  if (expires <= now) return -ETIME;
  ic_table *tb = table_of(t, icname);
  if (!tb) {
    tb = berth_xcalloc(1, sizeof *tb);
    snprintf(tb->ic, sizeof tb->ic, "%s", icname);
    tb->next = t->tables;
    t->tables = tb;
  }
  entry **pp = find_link(tb, id);
  if (*pp) {
    (*pp)->copy_id = copy_id;
    (*pp)->expires = expires;
    return 0;
  }
  make_room(tb, t->per_ic, now);
  size_t len = strlen(id);
  entry *e = berth_xmalloc(sizeof *e + len + 1);
  memcpy(e->id, id, len + 1);
  e->copy_id = copy_id;
  e->expires = expires;
  pp = &tb->buckets[bucket_of(id)];
  e->next = *pp;
  *pp = e;
  tb->n++;
  return 0;
}

static int64_t get_locked(router_sessions *t, const char *icname, const char *id, double now) {
  ic_table *tb = table_of(t, icname);
  if (!tb) return -1;
  entry **pp = find_link(tb, id);
  if (!*pp) return -1;
  if ((*pp)->expires <= now) {
    unlink_entry(tb, pp);
    return -1;
  }
  return (*pp)->copy_id;
}

static int remove_locked(router_sessions *t, const char *icname, const char *id,
                           int64_t copy_id) {
  ic_table *tb = table_of(t, icname);
  if (!tb) return 0;
  entry **pp = find_link(tb, id);
  if (!*pp || (copy_id >= 0 && (*pp)->copy_id != copy_id)) return 0;
  unlink_entry(tb, pp);
  return 1;
}

size_t router_sessions_count(router_sessions *t, const char *icname) {
  pthread_mutex_lock(&t->lock);
  const ic_table *tb = table_of(t, icname);
  size_t n = tb ? tb->n : 0;
  pthread_mutex_unlock(&t->lock);
  return n;
}

static void drop_ic_locked(router_sessions *t, const char *icname) {
  for (ic_table **pp = &t->tables; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->ic, icname) != 0) continue;
    ic_table *tb = *pp;
    *pp = tb->next;
    table_free(tb);
    return;
  }
}

static void prune_locked(router_sessions *t, int (*keep)(const char *icname, void *ud),
                          void *ud) {
  ic_table **pp = &t->tables;
  while (*pp) {
    ic_table *tb = *pp;
    if (keep(tb->ic, ud)) {
      pp = &tb->next;
      continue;
    }
    *pp = tb->next;
    table_free(tb);
  }
}

int router_sessions_put(router_sessions *t, const char *icname, const char *id, int64_t copy_id,
                        double expires, double now) {
  pthread_mutex_lock(&t->lock);
  int rc = put_locked(t, icname, id, copy_id, expires, now);
  pthread_mutex_unlock(&t->lock);
  return rc;
}

int64_t router_sessions_get(router_sessions *t, const char *icname, const char *id, double now) {
  pthread_mutex_lock(&t->lock);
  int64_t copy_id = get_locked(t, icname, id, now);
  pthread_mutex_unlock(&t->lock);
  return copy_id;
}

int router_sessions_remove(router_sessions *t, const char *icname, const char *id,
                           int64_t copy_id) {
  pthread_mutex_lock(&t->lock);
  int rc = remove_locked(t, icname, id, copy_id);
  pthread_mutex_unlock(&t->lock);
  return rc;
}

void router_sessions_drop_ic(router_sessions *t, const char *icname) {
  pthread_mutex_lock(&t->lock);
  drop_ic_locked(t, icname);
  pthread_mutex_unlock(&t->lock);
}

void router_sessions_prune(router_sessions *t, int (*keep)(const char *icname, void *ud),
                           void *ud) {
  pthread_mutex_lock(&t->lock);
  prune_locked(t, keep, ud);
  pthread_mutex_unlock(&t->lock);
}

static int is_alnum(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

int router_session_id_valid(const char *s) {
  /* ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$, at most 256 characters. */
  size_t n = strlen(s);
  if (n == 0 || n > ROUTER_SESSION_ID_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(s[i]) && s[i] != '-') return 0;
  return 1;
}

/* Reads n decimal digits at s into *out. */
static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* YYYY-MM-DDTHH:MM:SSZ (UTC), the only form SageMaker's pattern allows. */
static int parse_expires(const char *s, double *out) {
  if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z')
    return -1;
  struct tm tm = {0};
  int y, mo, d, h, mi, se;
  if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
      digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  *out = (double)t;
  return 0;
}

int router_session_parse_new(const char *value, char *id, double *expires) {
  *expires = 0;
  size_t len = strcspn(value, ";");
  while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
  if (len == 0 || len > ROUTER_SESSION_ID_MAX) return -EINVAL;
  memcpy(id, value, len);
  id[len] = '\0';
  if (!router_session_id_valid(id)) return -EINVAL;
  const char *rest = strchr(value, ';');
  if (!rest) return 0;
  rest++;
  rest += strspn(rest, " \t");
  if (strncasecmp(rest, "Expires=", 8) == 0 && parse_expires(rest + 8, expires) != 0)
    *expires = 0;
  return 0;
}

/* ---- the router's hooks ---- */

static router_sessions *table(ctl *c) {
  if (!c->sessions) c->sessions = router_sessions_new(ROUTER_SESSIONS_PER_IC);
  return c->sessions;
}

static int ic_exists(const char *icname, void *ud) {
  return ctl_find_ic(ud, icname) != NULL;
}

static copy *find_copy(ic *x, int64_t id) {
  for (copy *cp = x->copies; cp; cp = cp->next)
    if (cp->id == id && !cp->dead) return cp;
  return NULL;
}

/* A copy whose model state is lost for good (copy ids are never reused). */
static int copy_gone(const copy *cp) {
  return !cp || cp->state == COPY_DRAINING || cp->state == COPY_STOPPING ||
         cp->state == COPY_BACKOFF;
}

static void fail_unknown(ic *x, const char *id, api_error *e) {
  api_fail(e, 400, "ValidationError",
           "Session %s of inference component %s is not valid: it was closed, it expired, or the "
           "copy that held it is gone. Start a new session with SessionId NEW_SESSION.",
           id, x->name);
}

int router_session_begin(ctl *c, ic *x, berth_http_req *req, int stream, router_session_call *s,
                         api_error *e) {
  memset(s, 0, sizeof *s);
  s->copy_id = -1;
  const char *v = berth_http_req_header(req, "x-amzn-sagemaker-session-id");
  if (!v) return 0;
  size_t len = strlen(v);
  if (len > ROUTER_SESSION_ID_MAX)
    return api_fail(e, 400, "ValidationError",
                    "1 validation error detected: Value at 'sessionId' failed to satisfy "
                    "constraint: Member must have length less than or equal to %d (it has %zu)",
                    ROUTER_SESSION_ID_MAX, len);
  if (strcmp(v, ROUTER_SESSION_NEW) == 0) {
    if (stream)
      return api_fail(e, 400, "ValidationError",
                      "SessionId NEW_SESSION cannot be used with InvokeEndpointWithResponseStream: "
                      "create the session with InvokeEndpoint, then stream with its id.");
    s->is_new = 1;
    snprintf(s->id, sizeof s->id, "%s", v);
    return 0;
  }
  if (!router_session_id_valid(v))
    return api_fail(e, 400, "ValidationError",
                    "1 validation error detected: Value '%s' at 'sessionId' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$", v);
  snprintf(s->id, sizeof s->id, "%s", v);
  router_sessions *t = table(c);
  int64_t copy_id = router_sessions_get(t, x->name, v, ctl_clock());
  if (copy_id < 0) {
    fail_unknown(x, v, e);
    return -1;
  }
  copy *cp = find_copy(x, copy_id);
  if (copy_gone(cp)) {
    /* Its copy went (scaled in, replaced, crashed): the model's state with it. */
    router_sessions_remove(t, x->name, v, -1);
    fail_unknown(x, v, e);
    return -1;
  }
  s->copy_id = copy_id;
  if (cp->state != COPY_READY || cp->unhealthy) {
    router_session_gone(x, s, e);
    return -1;
  }
  return 0;
}

copy *router_session_copy(ic *x, const router_session_call *s, int64_t exclude) {
  copy *cp = find_copy(x, s->copy_id);
  if (!cp || cp->id == exclude || cp->state != COPY_READY || cp->unhealthy) return NULL;
  return cp;
}

void router_session_gone(ic *x, const router_session_call *s, api_error *e) {
  copy *cp = find_copy(x, s->copy_id);
  if (copy_gone(cp)) {
    fail_unknown(x, s->id, e);
    return;
  }
  /* Failing health checks or refusing connections: it may come back. */
  api_fail(e, 503, "ServiceUnavailable",
           "The copy that holds session %s of inference component %s is not answering its "
           "health checks; retry shortly.", s->id, x->name);
}

void router_session_answer(ctl *c, ic *x, int64_t copy_id, router_session_call *s, int status,
                           const berth_http_header *h, size_t n) {
  if (status < 200 || status > 299) return;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(h[i].name, "x-amzn-sagemaker-new-session-id") == 0) {
      char id[ROUTER_SESSION_ID_MAX + 1];
      double expires;
      if (router_session_parse_new(h[i].value, id, &expires) != 0) {
        /* Not passed on: the client could not use it. */
        berth_log(BERTH_LOG_WARN, "inference component %s, copy %lld: its X-Amzn-SageMaker-New-"
                  "Session-Id is not \"<id>; Expires=YYYY-MM-DDTHH:MM:SSZ\" with an id of 1-256 "
                  "[a-zA-Z0-9-]; no session was created", x->name, (long long)copy_id);
        continue;
      }
      double now = ctl_clock();
      if (!expires) expires = now + ROUTER_SESSION_DEFAULT_TTL_S;
      /* A first session of x: drop the tables of ICs deleted since. */
      if (!router_sessions_count(table(c), x->name)) router_sessions_prune(table(c), ic_exists, c);
      if (router_sessions_put(table(c), x->name, id, copy_id, expires, now) == 0)
        snprintf(s->new_session, sizeof s->new_session, "%s", h[i].value);
    } else if (strcmp(h[i].name, "x-amzn-sagemaker-closed-session-id") == 0 &&
               router_session_id_valid(h[i].value)) {
      /* Only the copy that holds a session may close it. */
      router_sessions_remove(table(c), x->name, h[i].value, copy_id);
      snprintf(s->closed_session, sizeof s->closed_session, "%s", h[i].value);
    }
  }
}

size_t router_session_headers(const router_session_call *s, berth_http_header *out) {
  size_t k = 0;
  if (s->new_session[0])
    out[k++] = (berth_http_header){"x-amzn-sagemaker-new-session-id", s->new_session};
  if (s->closed_session[0])
    out[k++] = (berth_http_header){"x-amzn-sagemaker-closed-session-id", s->closed_session};
  return k;
}
