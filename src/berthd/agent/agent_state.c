/* agent_state: see agent_state.h. */
#include "agent_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"

void copy_exit_path(const ctl *c, int64_t id, char *out, size_t outsz) {
  snprintf(out, outsz, "%.1200s/copies/%lld.exit", c->data_dir, (long long)id);
}

int copy_exit_read(const ctl *c, int64_t id, copy_exit *e) {
  char path[1300];
  copy_exit_path(c, id, path, sizeof path);
  memset(e, 0, sizeof *e);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int n = fscanf(f, "%lld %d %d %lld", &e->status, &e->sig, &e->oom_kills, &e->memory_max_mb);
  fclose(f);
  if (n < 2) return -1;
  if (n < 4) {
    e->oom_kills = 0;
    e->memory_max_mb = 0;
  }
  return 0;
}

static void state_path(const ctl *c, char *out, size_t outsz) {
  snprintf(out, outsz, "%.1200s/copies.json", c->data_dir);
}

void agent_state_save(ctl *c) {
  if (!c->agent_mode) return;
  json_t *list = json_array();
  for (ic *x = c->ics; x; x = x->next)
    for (copy *cp = x->copies; cp; cp = cp->next) {
      if (!cp->pid) continue;
      json_t *devs = ctl_devices_json(&cp->assign);
      json_array_append_new(list, json_pack("{s:I,s:s,s:i,s:i,s:s,s:o,s:i,s:s,s:s}", "id",
                                            (json_int_t)cp->id, "ic", x->name, "pid", cp->pid,
                                            "port", cp->port, "model_dir", cp->model_dir,
                                            "devices", devs, "dev_milli_each",
                                            cp->assign.dev_milli_each, "container",
                                            cp->container, "cpus", cp->cpus));
      json_object_set_new(json_array_get(list, json_array_size(list) - 1), "rev",
                          json_integer(cp->rev));
      /* A frozen copy is thawed by the agent that adopts it (copy_sleep.h). */
      if (cp->frozen)
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "frozen",
                            json_true());
    }
  char path[1300], tmp[1310];
  state_path(c, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (json_dump_file(list, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0)
    berth_log(BERTH_LOG_WARN, "cannot write %s: a restarted agent will not find its copies",
              path);
  json_decref(list);
}

/* Whether pid runs `berthd copy-exec --copy id`. */
static int runs_shim(int pid, int64_t id) {
  char cmd[512];
  size_t n = ctl_read_cmdline(pid, cmd, sizeof cmd);
  char want[64];
  int wl = snprintf(want, sizeof want, "copy-exec%c--copy%c%lld%c", 0, 0, (long long)id, 0);
  for (size_t i = 0; i + (size_t)wl <= n; i++)
    if (memcmp(cmd + i, want, (size_t)wl) == 0) return 1;
  return 0;
}

json_t *agent_state_load(const ctl *c) {
  char path[1300];
  state_path(c, path, sizeof path);
  json_t *list = json_load_file(path, 0, NULL);
  json_t *out = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    int pid = (int)json_integer_value(json_object_get(e, "pid"));
    int64_t id = (int64_t)json_integer_value(json_object_get(e, "id"));
    if (pid > 0 && json_is_string(json_object_get(e, "ic")) && runs_shim(pid, id))
      json_array_append(out, e);
  }
  json_decref(list);
  return out;
}
