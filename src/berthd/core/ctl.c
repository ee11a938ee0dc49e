/* ctl: the shared state's lookups, clocks and names (ctl.h); the
 * reconciler is reconcile.c. */
#include "berth/log.h"
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "shared_count.h"
#include "berth/devices.h"
#include "store.h"


int ctl_set_data_dir(ctl *c, const char *dir) {
  char full[PATH_MAX];
  if (!realpath(dir, full)) {
    berth_log(BERTH_LOG_ERROR, "cannot use the data dir %s: %s", dir, strerror(errno));
    return -1;
  }
  if (strlen(full) >= sizeof c->data_dir - 100) {
    berth_log(BERTH_LOG_ERROR, "the data dir path %s is too long (at most %zu bytes)", full,
            sizeof c->data_dir - 100);
    return -1;
  }
  memcpy(c->data_dir, full, strlen(full) + 1); /* length checked above */
  memcpy(c->shared_dir, full, strlen(full) + 1);
  return 0;
}

void ctl_open_copy_dirs(ctl *c) {
  if (!c->policy.user[0]) return;
  char path[1200], blocked[1200];
  /* Model dirs are under the shared dir (the data dir unless an agent has
   * --shared-dir); an agent's own data dir stays closed. */
  snprintf(path, sizeof path, "%.1100s/artifacts", c->shared_dir);
  const char *dirs[] = {c->shared_dir, path};
  for (size_t i = 0; i < 2; i++) {
    int rc = copy_policy_open_dir(&c->policy, dirs[i]);
    if (rc)
      berth_log(BERTH_LOG_WARN, "cannot make %s traversable for copies (they run as %s): %s",
                dirs[i], c->policy.user, strerror(-rc));
  }
  if (copy_policy_reachable(&c->policy, path, blocked, sizeof blocked))
    berth_log(BERTH_LOG_WARN, "copies run as %s, who cannot enter %s, so they cannot read their "
              "model dirs (SM_MODEL_DIR) under %s: make it traversable (chmod o+x %s) or move "
              "the data dir", c->policy.user, blocked, path, blocked);
}

static const char *const endpoint_status_names[] = {"Creating", "InService", "Updating",
                                                   "Deleting", "Failed"};
static const char *const ic_status_names[] = {"Creating", "InService", "Updating", "Deleting",
                                             "Failed"};

const char *endpoint_status_name(endpoint_status s) {
  return (unsigned)s < 5 ? endpoint_status_names[s] : "Failed";
}

const char *ic_status_name(ic_status s) {
  return (unsigned)s < 5 ? ic_status_names[s] : "Failed";
}

ic_status ic_status_parse(const char *s, ic_status dflt) {
  for (int i = 0; s && i < 5; i++)
    if (strcmp(s, ic_status_names[i]) == 0) return (ic_status)i;
  return dflt;
}

double ctl_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  /* Millisecond precision keeps JSON numbers short and exact enough. */
  return (double)tv.tv_sec + (double)(tv.tv_usec / 1000) / 1000.0;
}

double ctl_clock(void) {
  static double start_wall;
  static uint64_t start_ns;
  if (!start_ns) {
    start_ns = uv_hrtime();
    start_wall = ctl_now();
  }
  return start_wall + (double)(uv_hrtime() - start_ns) / 1e9;
}

void ctl_arn(const ctl *c, const char *kind, const char *name, char *out, size_t outsz) {
  char lower[NAME_MAX_LEN + 1];
  size_t i = 0;
  for (; name[i] && i < NAME_MAX_LEN; i++) lower[i] = (char)tolower((unsigned char)name[i]);
  lower[i] = '\0';
  snprintf(out, outsz, "arn:aws:sagemaker:%s:%s:%s/%s", c->region, c->account, kind, lower);
}

endpoint_config *ctl_find_config(ctl *c, const char *name) {
  for (endpoint_config *x = c->configs; x; x = x->next)
    if (strcmp(x->name, name) == 0) return x;
  return NULL;
}

endpoint *ctl_find_endpoint(ctl *c, const char *name) {
  for (endpoint *x = c->endpoints; x; x = x->next)
    if (strcmp(x->name, name) == 0) return x;
  return NULL;
}

ic *ctl_find_ic(ctl *c, const char *name) {
  for (ic *x = c->ics; x; x = x->next)
    if (strcmp(x->name, name) == 0) return x;
  return NULL;
}

json_t *ctl_find_model(ctl *c, const char *name) {
  return json_object_get(c->models, name);
}

const variant *ctl_endpoint_variant(const endpoint *ep, const char *variant_name) {
  for (int i = 0; i < ep->cfg.n_variants; i++)
    if (strcmp(ep->cfg.variants[i].name, variant_name) == 0) return &ep->cfg.variants[i];
  return NULL;
}

void ctl_kick(ctl *c) {
  if (c->on_kick) c->on_kick(c);
}

int ctl_adopting(ctl *c) {
  if (c->adopt_until == 0) return 0;
  int waiting = c->pool; /* pool agents rejoin unannounced: wait it out */
  for (instance *in = c->instances; in; in = in->next) waiting |= !in->synced;
  if (waiting && ctl_clock() < c->adopt_until) return 1;
  c->adopt_until = 0;
  return 0;
}

/* Copies still running (for shutdown). */
int ctl_running_copies(ctl *c) {
  int n = 0;
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) n++;
  return n;
}

json_t *ctl_devices_json(const sched_assignment *a) {
  json_t *devs = json_array();
  for (int d = 0; d < a->n_devices; d++) json_array_append_new(devs, json_integer(a->devices[d]));
  return devs;
}

void ctl_assignment_parse(json_t *o, sched_assignment *a) {
  size_t k;
  json_t *d;
  a->n_devices = 0;
  json_array_foreach(json_object_get(o, "devices"), k, d) if (k < SCHED_MAX_DEVICES)
    a->devices[a->n_devices++] = (int)json_integer_value(d);
  a->dev_milli_each = (int32_t)json_integer_value(json_object_get(o, "dev_milli_each"));
}

size_t ctl_read_cmdline(int pid, char *buf, size_t bufsz) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, bufsz - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

json_t *copy_doc(const copy *cp) {
  return cp->spec ? cp->spec : cp->owner->doc;
}

void copy_free(copy *cp) {
  json_decref(cp->spec);
  if (cp->load) shared_count_release(cp->load);
  free(cp);
}

sched_instance ctl_instance_capacity(const ctl *c, const berth_instance_type *t) {
  sched_instance s = sched_capacity(t);
  const berth_devices *h = c->host_devices;
  if (!h || h->n == 0 || t->accelerators == 0) return s;
  long smallest = 0;
  for (int i = 0; i < h->n; i++)
    if (smallest == 0 || h->dev[i].memory_mib < smallest) smallest = h->dev[i].memory_mib;
  if (smallest < s.dev_mem_mb) s.dev_mem_mb = smallest;
  return s;
}

void ctl_copy_release(copy *cp) {
  if (!cp->inst) return;
  if (cp->reserved_asleep) {
    sched_need asleep = berth_sleep_need(&cp->need);
    sched_assignment none = cp->assign;
    none.n_devices = 0;
    sched_release(&cp->inst->res, &asleep, &none);
    cp->reserved_asleep = 0;
    return;
  }
  sched_release(&cp->inst->res, &cp->need, &cp->assign);
}
