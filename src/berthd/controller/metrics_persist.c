/* metrics_persist: see metrics_persist.h. */
#include "metrics_persist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "metrics.h"
#include "store.h"

static void key_of(char *out, size_t size, const char *ic_name, double start) {
  snprintf(out, size, "%s@%lld", ic_name, (long long)llround(start));
}

/* Rows found stale while loading, deleted on the first tick: nothing may
 * be queued while the store is still being read (store_each). One
 * controller per process, so one list. */
static char **stale;
static size_t n_stale;

static void delete_stale(ctl *c) {
  for (size_t i = 0; i < n_stale; i++) {
    store_delete(c->db, METRICS_PERSIST_KIND, stale[i]);
    free(stale[i]);
  }
  free(stale);
  stale = NULL;
  n_stale = 0;
}

void metrics_persist_closed(ctl *c, ic *x, int closed) {
  if (!c->db) return;
  if (stale) delete_stale(c);
  if (closed <= 0 || !x->metrics) return;
  const metrics_history *h = metrics_closed(x->metrics);
  char key[300];
  for (size_t i = h->n > (size_t)closed ? h->n - (size_t)closed : 0; i < h->n; i++) {
    const metrics_record *r = metrics_history_at(h, i);
    json_t *doc = metrics_record_json(r);
    key_of(key, sizeof key, x->name, r->start);
    if (store_put(c->db, METRICS_PERSIST_KIND, key, doc) != 0)
      berth_log(BERTH_LOG_WARN, "metrics of %s: the store is full, bucket %s not kept", x->name,
                key);
    json_decref(doc);
    key_of(key, sizeof key, x->name, r->start - METRICS_RETENTION_S - SCALE_BUCKET_S);
    store_delete(c->db, METRICS_PERSIST_KIND, key);
  }
}

typedef struct load_state {
  ctl *c;
  double oldest;
  char **gone;                  /* rows to delete once loading is over */
  size_t n_gone, cap_gone;
  size_t loaded;
} load_state;

static void forget_later(load_state *st, const char *name) {
  if (st->n_gone == st->cap_gone) {
    st->cap_gone = st->cap_gone ? 2 * st->cap_gone : 64;
    st->gone = berth_xrealloc(st->gone, st->cap_gone * sizeof *st->gone);
  }
  st->gone[st->n_gone++] = berth_xstrdup(name);
}

static int load_one(const char *name, json_t *doc, void *ud) {
  load_state *st = ud;
  const char *at = strrchr(name, '@');
  char ic_name[256];
  ic *x = NULL;
  if (at && (size_t)(at - name) < sizeof ic_name) {
    memcpy(ic_name, name, (size_t)(at - name));
    ic_name[at - name] = '\0';
    x = ctl_find_ic(st->c, ic_name);
  }
  metrics_record r;
  if (!x || !x->metrics || metrics_record_parse(doc, &r) != 0 || r.start < st->oldest) {
    forget_later(st, name);
    return 0;
  }
  metrics_history_push(&x->metrics->history, &r);
  st->loaded++;
  return 0;
}

int metrics_persist_load(ctl *c) {
  if (!c->db) return 0;
  load_state st = {c, ctl_clock() - METRICS_RETENTION_S - SCALE_BUCKET_S, NULL, 0, 0, 0};
  int rc = store_each(c->db, METRICS_PERSIST_KIND, load_one, &st);
  stale = st.gone;
  n_stale = st.n_gone;
  if (st.loaded)
    berth_log(BERTH_LOG_INFO, "metrics: %zu buckets of the last 24 hours loaded", st.loaded);
  return rc ? -1 : 0;
}

void metrics_persist_forget(ctl *c, ic *x) {
  if (!c->db || !x->metrics) return;
  const metrics_history *h = metrics_closed(x->metrics);
  char key[300];
  for (size_t i = 0; i < h->n; i++) {
    key_of(key, sizeof key, x->name, metrics_history_at(h, i)->start);
    store_delete(c->db, METRICS_PERSIST_KIND, key);
  }
}
